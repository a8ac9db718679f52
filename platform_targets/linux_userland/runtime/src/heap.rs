//! The runtime's allocator: power-of-two size classes with free lists, carved from one large
//! region reserved at start (PROT_NONE, committed as it grows). One region means the app can be
//! kept away from the runtime's memory with a single range check (see `guard.rs`).
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::null_mut;

use litebox_libos::sync::SpinMutex;

use crate::sys;

/// Address space reserved for the runtime's heap.
pub const HEAP_RESERVE: usize = 64 << 30;
const GROW_STEP: usize = 4 << 20;
const CLASSES: usize = 40;

struct State {
    base: usize,
    next: usize,
    committed: usize,
    free: [usize; CLASSES],
}

/// The global allocator.
pub struct Heap {
    state: SpinMutex<State>,
}

impl Heap {
    /// An allocator with no region yet (`init` must run before the first allocation).
    pub const fn new() -> Self {
        Self { state: SpinMutex::new(State { base: 0, next: 0, committed: 0, free: [0; CLASSES] }) }
    }

    /// Reserves the region. Returns (start, len) of the reservation.
    pub fn init(&self) -> Result<(usize, usize), i32> {
        const MAP_PRIVATE_ANON_NORESERVE: usize = 0x02 | 0x20 | 0x4000;
        let at = sys::check(sys::syscall6(sys::MMAP, 0, HEAP_RESERVE, 0, MAP_PRIVATE_ANON_NORESERVE, usize::MAX, 0))?;
        let mut s = self.state.lock();
        s.base = at;
        s.next = at;
        s.committed = at;
        Ok((at, HEAP_RESERVE))
    }

    fn class_of(layout: &Layout) -> Option<usize> {
        let size = layout.size().max(layout.align()).max(16);
        let c = size.next_power_of_two().trailing_zeros() as usize;
        (c < CLASSES).then_some(c)
    }
}

impl Default for Heap {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks come from a region only this allocator hands out; each block of class c is
// 2^c bytes and aligned to min(2^c, 4096) (bump pointer aligned per class), which satisfies any
// layout mapped to that class because size >= align.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(c) = Self::class_of(&layout) else { return null_mut() };
        let mut s = self.state.lock();
        if s.base == 0 {
            return null_mut();
        }
        let head = s.free[c];
        // Free blocks are only guaranteed page alignment: larger alignments come fresh.
        if head != 0 && layout.align() <= 4096 {
            // SAFETY: free blocks store the next pointer in their first word.
            s.free[c] = unsafe { *(head as *const usize) };
            return head as *mut u8;
        }
        let size = 1usize << c;
        let align = size.min(4096).max(layout.align());
        let start = s.next.next_multiple_of(align);
        let Some(end) = start.checked_add(size) else { return null_mut() };
        if end > s.base + HEAP_RESERVE {
            return null_mut();
        }
        if end > s.committed {
            let new_committed = end.next_multiple_of(GROW_STEP).min(s.base + HEAP_RESERVE);
            let r = sys::syscall3(sys::MPROTECT, s.committed, new_committed - s.committed, 3);
            if r < 0 {
                return null_mut();
            }
            s.committed = new_committed;
        }
        s.next = end;
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(c) = Self::class_of(&layout) else { return };
        if c >= 16 {
            // Give the pages of large blocks back to the host; they read as zero when reused.
            sys::syscall3(sys::MADVISE, ptr as usize, 1 << c, 4 /* MADV_DONTNEED */);
        }
        let mut s = self.state.lock();
        // SAFETY: the block is ours again and at least 16 bytes: its first word links the list.
        unsafe { *(ptr as *mut usize) = s.free[c] };
        s.free[c] = ptr as usize;
    }
}
