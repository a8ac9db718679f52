//! The runtimes' allocator: power-of-two size classes with free lists, bump-allocated from one
//! region and made usable ("committed") in steps as it grows. One region means the app can be
//! kept away from the runtime's memory with a single range check (linux-userland's guard).
//!
//! Where the region's memory comes from is the runtime's part ([`Backing`]): linux-userland
//! reserves address space with mmap at start and commits with mprotect; the kvm kernel has a
//! fixed virtual range of the upper half and maps frames into it.
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::null_mut;

use litebox_libos::sync::SpinMutex;

const CLASSES: usize = 40;

/// Blocks of this class and above are handed to [`Backing::release`] when freed.
pub const RELEASE_CLASS: usize = 16;

/// Where the heap's memory comes from.
pub trait Backing {
    /// The region is committed in multiples of this many bytes (a multiple of 4096).
    const GROW_STEP: usize;

    /// Makes `[from, to)` readable and writable (page aligned, inside the region, not yet
    /// committed). False when it cannot: the allocation that needed it fails.
    fn commit(&self, from: usize, to: usize) -> bool;

    /// Whether committed memory reads as zero until first written (fresh anonymous pages), so
    /// a zeroed allocation from never-used memory need not write (and so make resident) its
    /// pages. The default does not promise it.
    const COMMITTED_IS_ZERO: bool = false;

    /// A free block of `len` bytes at `at` (class [`RELEASE_CLASS`] or above) whose pages may be
    /// given back; they must read as zero or keep their contents when used again. The default
    /// keeps them.
    fn release(&self, at: usize, len: usize) {
        let _ = (at, len);
    }
}

struct State {
    /// End of the region (0: no region yet).
    limit: usize,
    next: usize,
    committed: usize,
    free: [usize; CLASSES],
}

/// The allocator: use it as the `#[global_allocator]`.
pub struct Heap<B: Backing> {
    backing: B,
    state: SpinMutex<State>,
}

impl<B: Backing> Heap<B> {
    /// A heap with no region yet: allocations fail until [`set_region`](Self::set_region).
    pub const fn new(backing: B) -> Self {
        Self { backing, state: SpinMutex::new(State { limit: 0, next: 0, committed: 0, free: [0; CLASSES] }) }
    }

    /// A heap over the fixed region `[base, base + len)`, none of it committed yet (`base` page
    /// aligned, `len` a multiple of `B::GROW_STEP`).
    pub const fn with_region(backing: B, base: usize, len: usize) -> Self {
        Self {
            backing,
            state: SpinMutex::new(State { limit: base + len, next: base, committed: base, free: [0; CLASSES] }),
        }
    }

    /// Gives the heap its region `[base, base + len)` (`base` page aligned, none of it committed
    /// yet), before the first allocation.
    pub fn set_region(&self, base: usize, len: usize) {
        let mut s = self.state.lock();
        s.limit = base.saturating_add(len);
        s.next = base;
        s.committed = base;
    }

    fn class_of(layout: &Layout) -> Option<usize> {
        let size = layout.size().max(layout.align()).max(16);
        let c = size.next_power_of_two().trailing_zeros() as usize;
        (c < CLASSES).then_some(c)
    }
}

// SAFETY: blocks come from a region only this allocator hands out; each block of class c is
// 2^c bytes and aligned to min(2^c, 4096) (bump pointer aligned per class), or to the layout's
// larger alignment when fresh, which satisfies any layout mapped to that class because
// size >= align.
unsafe impl<B: Backing + Sync> GlobalAlloc for Heap<B> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.alloc_block(layout).0
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let (p, fresh) = self.alloc_block(layout);
        let already_zero = fresh && B::COMMITTED_IS_ZERO;
        if !p.is_null() && !already_zero {
            // SAFETY: p is a block of at least layout.size() bytes, ours to write.
            unsafe { core::ptr::write_bytes(p, 0, layout.size()) };
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(c) = Self::class_of(&layout) else { return };
        if c >= RELEASE_CLASS {
            self.backing.release(ptr as usize, 1 << c);
        }
        let mut s = self.state.lock();
        // SAFETY: the block is ours again and at least 16 bytes: its first word links the list.
        unsafe { *(ptr as *mut usize) = s.free[c] };
        s.free[c] = ptr as usize;
    }
}

/// The class of a block of one page: classes below it share pages, classes from it on have
/// pages of their own (blocks aligned to a page).
const PAGE_CLASS: usize = 12;

impl<B: Backing> Heap<B> {
    /// Puts `[from, to)` (committed, 16-byte aligned, inside one page, handed out never or no
    /// more) on the free lists as the largest blocks aligned to their size that tile it.
    fn free_range(s: &mut State, mut from: usize, to: usize) {
        while from + 16 <= to {
            let c = (from.trailing_zeros() as usize).min((to - from).ilog2() as usize).min(PAGE_CLASS - 1);
            // SAFETY: [from, from + 2^c) is committed memory of the region that no block holds.
            unsafe { *(from as *mut usize) = s.free[c] };
            s.free[c] = from;
            from += 1 << c;
        }
    }

    /// A block for `layout` (null when none), and whether it is fresh: never handed out
    /// before, so never written since it was committed.
    fn alloc_block(&self, layout: Layout) -> (*mut u8, bool) {
        let Some(c) = Self::class_of(&layout) else { return (null_mut(), false) };
        let mut s = self.state.lock();
        let head = s.free[c];
        // Free blocks are only guaranteed page alignment: larger alignments come fresh.
        if head != 0 && layout.align() <= 4096 {
            // SAFETY: a free block stores the next link in its first word.
            s.free[c] = unsafe { *(head as *const usize) };
            return (head as *mut u8, false);
        }
        let size = 1usize << c;
        let align = size.min(4096).max(layout.align());
        let Some(start) = s.next.checked_next_multiple_of(align) else { return (null_mut(), false) };
        let Some(end) = start.checked_add(size) else { return (null_mut(), false) };
        if end > s.limit {
            return (null_mut(), false);
        }
        if end > s.committed {
            let to = end.next_multiple_of(B::GROW_STEP).min(s.limit);
            if !self.backing.commit(s.committed, to) {
                return (null_mut(), false);
            }
            s.committed = to;
        }
        // The padding the alignment skips, as far as the page the bump pointer is in, goes to
        // the free lists instead of being lost: small blocks then fill that page, not new
        // ones (a page more for every fork to copy). Whole pages skipped stay untouched.
        let pad_end = start.min(s.next.next_multiple_of(4096));
        let from = s.next;
        Self::free_range(&mut s, from, pad_end);
        s.next = end;
        (start as *mut u8, true)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        committed: AtomicUsize,
        released: AtomicUsize,
    }

    impl Backing for Counting {
        const GROW_STEP: usize = 64 * 1024;
        fn commit(&self, from: usize, to: usize) -> bool {
            assert!(from & 4095 == 0 && to & 4095 == 0 && from < to);
            self.committed.fetch_add(to - from, Ordering::Relaxed);
            true
        }
        fn release(&self, _at: usize, len: usize) {
            self.released.fetch_add(len, Ordering::Relaxed);
        }
    }

    fn region(len: usize) -> usize {
        let layout = Layout::from_size_align(len, 64 * 1024).unwrap();
        // SAFETY: a non-zero size; the test leaks it.
        unsafe { std::alloc::alloc(layout) as usize }
    }

    #[test]
    fn classes_alignment_reuse_and_limits() {
        let len = 1 << 20;
        let base = region(len);
        let h =
            Heap::with_region(Counting { committed: AtomicUsize::new(0), released: AtomicUsize::new(0) }, base, len);
        let l16 = Layout::from_size_align(10, 8).unwrap();
        // SAFETY: GlobalAlloc's contract: non-zero layouts, blocks freed with their layout.
        unsafe {
            let a = h.alloc(l16);
            let b = h.alloc(l16);
            assert!(!a.is_null() && b as usize == a as usize + 16);
            assert_eq!(h.backing.committed.load(Ordering::Relaxed), 64 * 1024);
            h.dealloc(a, l16);
            assert_eq!(h.alloc(l16), a);
            let big = Layout::from_size_align(100_000, 8192).unwrap();
            let p = h.alloc(big);
            assert!(!p.is_null() && p as usize & 8191 == 0 && p as usize + 131072 <= base + len);
            h.dealloc(p, big);
            assert_eq!(h.backing.released.load(Ordering::Relaxed), 131072);
            // Larger than what is left of the region: null, not an overflow.
            assert!(h.alloc(Layout::from_size_align(1 << 20, 8).unwrap()).is_null());
            assert!(h.alloc(Layout::from_size_align(1 << 39, 8).unwrap()).is_null());
            assert!(h.alloc(Layout::from_size_align(isize::MAX as usize - 4096, 8).unwrap()).is_null());
        }
    }

    /// A backing that says its committed memory reads as zero (the test fills it with 0xaa
    /// instead, to see which blocks `alloc_zeroed` writes).
    struct ZeroPromised;

    impl Backing for ZeroPromised {
        const GROW_STEP: usize = 64 * 1024;
        const COMMITTED_IS_ZERO: bool = true;
        fn commit(&self, _from: usize, _to: usize) -> bool {
            true
        }
    }

    #[test]
    fn zeroed_blocks_are_written_only_when_reused() {
        let len = 1 << 20;
        let base = region(len);
        // SAFETY: the test's own region, len bytes.
        unsafe { core::ptr::write_bytes(base as *mut u8, 0xaa, len) };
        let h = Heap::with_region(ZeroPromised, base, len);
        let l = Layout::from_size_align(100_000, 8).unwrap();
        // SAFETY: GlobalAlloc's contract: non-zero layouts, blocks freed with their layout.
        unsafe {
            let fresh = h.alloc_zeroed(l);
            // Never handed out before: committed memory the backing promises is zero, untouched.
            assert_eq!(*fresh.add(4096 * 5), 0xaa);
            *fresh.add(8) = 7;
            h.dealloc(fresh, l);
            let reused = h.alloc_zeroed(l);
            assert_eq!(reused, fresh);
            let bytes = core::slice::from_raw_parts(reused, l.size());
            assert!(bytes.iter().all(|&b| b == 0), "a reused block is zeroed");
        }
        // The default backing promises nothing: fresh blocks are zeroed too.
        let base = region(len);
        // SAFETY: as above.
        unsafe { core::ptr::write_bytes(base as *mut u8, 0xaa, len) };
        let h =
            Heap::with_region(Counting { committed: AtomicUsize::new(0), released: AtomicUsize::new(0) }, base, len);
        // SAFETY: as above.
        unsafe {
            let p = h.alloc_zeroed(l);
            assert!(core::slice::from_raw_parts(p, l.size()).iter().all(|&b| b == 0));
        }
    }

    #[test]
    fn alignment_padding_within_a_page_is_reused() {
        let len = 1 << 20;
        let base = region(len);
        let h =
            Heap::with_region(Counting { committed: AtomicUsize::new(0), released: AtomicUsize::new(0) }, base, len);
        // SAFETY: GlobalAlloc's contract: non-zero layouts.
        unsafe {
            let a = h.alloc(Layout::from_size_align(16, 8).unwrap()) as usize;
            let b = h.alloc(Layout::from_size_align(4096, 8).unwrap()) as usize;
            assert_eq!((a, b), (base, base + 4096));
            // The page-aligned block skipped [16, 4096) of page 0: small blocks come from there.
            assert_eq!(h.alloc(Layout::from_size_align(32, 8).unwrap()) as usize, base + 32);
            assert_eq!(h.alloc(Layout::from_size_align(2048, 8).unwrap()) as usize, base + 2048);
            assert_eq!(h.alloc(Layout::from_size_align(100, 8).unwrap()) as usize, base + 128);
            // Whole pages skipped for a larger alignment are not: they stay untouched.
            let c = h.alloc(Layout::from_size_align(64 * 1024, 64 * 1024).unwrap()) as usize;
            assert_eq!(c, base + 64 * 1024);
            let d = h.alloc(Layout::from_size_align(4096, 8).unwrap()) as usize;
            assert_eq!(d, c + 64 * 1024);
        }
    }

    #[test]
    fn no_region_no_memory() {
        let h = Heap::new(Counting { committed: AtomicUsize::new(0), released: AtomicUsize::new(0) });
        // SAFETY: a non-zero layout.
        assert!(unsafe { h.alloc(Layout::from_size_align(8, 8).unwrap()) }.is_null());
        let base = region(1 << 16);
        h.set_region(base, 1 << 16);
        // SAFETY: as above.
        assert!(!unsafe { h.alloc(Layout::from_size_align(8, 8).unwrap()) }.is_null());
    }
}
