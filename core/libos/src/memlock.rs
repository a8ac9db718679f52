//! The app's memory map behind its lock, with a lock-free answer for the common question of
//! the calls that move data through app buffers: "may this buffer be read (or written)?".
//!
//! Every change to the map goes through [`MemLock::lock`] and a mutable borrow, which bumps a
//! generation counter. [`MemLock::denies`] keeps a few windows `[lo, hi)` it has already
//! proven accessible (a run of adjacent mappings with the same access each, with whether it is
//! writable), stamped with the
//! generation they were proven at, each in a seqlock slot. A buffer inside a window whose stamp
//! is the current generation is answered with two loads and a few compares, without the lock
//! or a search of the map; anything else takes the lock, asks [`MemMap::denies`], and refreshes
//! a window. The answer is the one the locked check would give at some instant during the call,
//! which is all the locked check promised too (the copy itself happens after either).
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{compiler_fence, fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::sync::{SpinGuard, SpinMutex};
use crate::vma::MemMap;

/// A platform's answer for memory the map does not hold but the app's code legitimately uses:
/// the runtime stack an app signal handler runs on when it interrupts a blocking call
/// (linux-userland), so a handler's own buffers (a `waitpid` status, a `sigset_t`) are not
/// refused with EFAULT. Called with `[lo, hi)` only when the map says no.
static SIGNAL_STACK: SpinMutex<Option<StackCheck>> = SpinMutex::new(None);

/// Whether `[lo, hi)` is on the stack an app signal handler runs on (see [`SIGNAL_STACK`]).
pub type StackCheck = fn(usize, usize) -> bool;

/// Sets the check of [`SIGNAL_STACK`] (once, at start, by a platform that needs it).
pub fn set_signal_stack_check(f: StackCheck) {
    *SIGNAL_STACK.lock() = Some(f);
}

/// Windows kept. A buffer's window may sit in either of two slots chosen by the buffer's
/// address (its 2 MiB region, [`slots_of`]) so that a stack buffer and heap buffers do not evict
/// each other. A request of Python's http.server touches buffers in about five mappings (stack,
/// brk heap, allocator arenas); with 4 windows some of them collided on every request and took
/// the lock and two B-tree searches (~0.4% of the server's CPU). With 16 slots and one slot per
/// region, two of the five regions still shared a slot in about half of the server's starts
/// (the host places the mappings at random; two per request there, one for poll's descriptor
/// array and one for recvfrom's buffer in the brk heap, evicted each other on every request):
/// with a second choice of slot they stay proven.
const SLOTS: usize = 16;

/// One proven window, behind a sequence counter (odd while a writer fills it; writers hold
/// the map's lock, so there is at most one).
#[derive(Default)]
struct Slot {
    seq: AtomicU64,
    generation: AtomicU64,
    lo: AtomicUsize,
    hi: AtomicUsize,
    writable: AtomicBool,
    /// When the slot was last filled ([`MemLock::fills`] then): of a region's two slots, both
    /// current, the one filled longer ago is refilled. Read and written under the map's lock.
    filled: AtomicU64,
}

/// The app's memory map ([`MemMap`]) with its lock and the lock-free window cache.
pub struct MemLock {
    map: SpinMutex<MemMap>,
    generation: AtomicU64,
    slots: [Slot; SLOTS],
    /// Windows filled so far (a clock for [`Slot::filled`]); under the map's lock.
    fills: AtomicU64,
}

/// Holding the map's lock; a mutable borrow marks the map changed (see the module docs).
pub struct MemGuard<'a> {
    owner: &'a MemLock,
    map: SpinGuard<'a, MemMap>,
}

impl Deref for MemGuard<'_> {
    type Target = MemMap;
    fn deref(&self) -> &MemMap {
        &self.map
    }
}

impl DerefMut for MemGuard<'_> {
    fn deref_mut(&mut self) -> &mut MemMap {
        // Before the change: a reader that sees the old generation answered before it. Only
        // the lock's holder writes the counter, so a plain load and store bump it (a `lock`ed
        // add cost about 10 ns here, two per mmap + munmap pair). Lock-free readers never
        // read the map itself, only windows, which are filled under the lock (`fill`) and
        // stamped with the generation then: a window can only be newer than its stamp.
        let g = self.owner.generation.load(Ordering::Relaxed);
        self.owner.generation.store(g.wrapping_add(1), Ordering::Release);
        compiler_fence(Ordering::SeqCst);
        &mut self.map
    }
}

/// The two slots a window for a buffer at `ptr` may sit in: by the low bits of its 2 MiB
/// region, and by a multiplicative hash of all of them (so two regions that share the first
/// slot rarely share the second; the two may be the same slot).
fn slots_of(ptr: usize) -> (usize, usize) {
    let region = (ptr >> 21) as u64;
    let second = region.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 60;
    (region as usize % SLOTS, second as usize % SLOTS)
}

impl MemLock {
    /// A lock around `map` with no proven windows.
    pub fn new(map: MemMap) -> Self {
        Self {
            map: SpinMutex::new(map),
            generation: AtomicU64::new(0),
            slots: Default::default(),
            fills: AtomicU64::new(0),
        }
    }

    /// Takes the lock (spinning); every mutable use of the guard invalidates the windows.
    pub fn lock(&self) -> MemGuard<'_> {
        MemGuard { owner: self, map: self.map.lock() }
    }

    /// [`MemLock::lock`] without a locked instruction ([`SpinMutex::lock_alone`]), or None
    /// while a guard exists (take [`MemLock::lock`] then). The lock-free readers of the
    /// windows need no change: a guard bumps the generation the same way.
    ///
    /// # Safety
    /// As [`SpinMutex::lock_alone`]: no other thread may use this lock (nor the windows)
    /// while the guard lives; see `LibOs::mem_lock`.
    pub unsafe fn lock_alone(&self) -> Option<MemGuard<'_>> {
        // SAFETY: the caller's promise is the one `lock_alone` asks for.
        unsafe { self.map.lock_alone() }.map(|map| MemGuard { owner: self, map })
    }

    /// How many bytes from `ptr` (at most `len`) the app may access, as
    /// [`MemMap::accessible`] answers: lock-free when a current window holds the buffer, else
    /// under the lock (refreshing a window when one mapping holds the whole buffer).
    pub fn accessible(&self, ptr: usize, len: usize, write: bool) -> usize {
        let Some(end) = ptr.checked_add(len) else { return self.lock().accessible(ptr, len, write) };
        if len == 0 {
            return 0;
        }
        if self.proven(ptr, end, write) {
            return len;
        }
        self.accessible_locked(ptr, len, end, write)
    }

    /// [`MemLock::accessible`] when no current window holds the buffer: under the lock. Kept
    /// out of line so that the lock-free answer stays a short function (its callers run it on
    /// every buffer).
    #[inline(never)]
    fn accessible_locked(&self, ptr: usize, len: usize, end: usize, write: bool) -> usize {
        let map = self.map.lock();
        // The run of adjacent mappings of one access around `ptr` answers most misses by
        // itself: when it holds the buffer with the access, every byte is accessible (what
        // `MemMap::accessible` would count, without its search) and it is the window to keep;
        // it spans adjacent mappings (a heap grown by brk in steps, allocator arenas the host
        // placed side by side), so a buffer that crosses from one into the next is proven too
        // instead of taking the lock on every call.
        if let Some((lo, hi, writable)) = map.run_around(ptr) {
            if lo <= ptr && end <= hi && (writable || !write) {
                // The lock is held: no change and no other writer of a slot can run now.
                self.fill(ptr, lo, hi, writable);
                return len;
            }
        }
        let n = map.accessible(ptr, len, write);
        if n == len {
            return n;
        }
        drop(map);
        let on_signal_stack = *SIGNAL_STACK.lock();
        if on_signal_stack.is_some_and(|f| f(ptr, end)) {
            return len;
        }
        n
    }

    /// Whether a window proven at the current generation holds `[ptr, ptr + len)` with write
    /// access: the lock-free half of [`MemLock::accessible`] only (never takes the lock, never
    /// searches the map, touches no vector register). `false` means "not known here": ask
    /// [`MemLock::accessible`]. For a path that must stay this light (the fast clock path).
    pub fn writable_proven(&self, ptr: usize, len: usize) -> bool {
        len != 0 && ptr.checked_add(len).is_some_and(|end| self.proven(ptr, end, true))
    }

    /// Whether an access to `[ptr, ptr + len)` faults somewhere (see [`MemLock::accessible`]).
    pub fn denies(&self, ptr: usize, len: usize, write: bool) -> bool {
        len != 0 && self.accessible(ptr, len, write) < len
    }

    /// Whether a window current at this generation, in either of the buffer's slots, holds
    /// `[ptr, end)` with the access.
    fn proven(&self, ptr: usize, end: usize, write: bool) -> bool {
        let now = self.generation.load(Ordering::Acquire);
        let (first, second) = slots_of(ptr);
        self.proven_in(first, now, ptr, end, write) || (second != first && self.proven_in(second, now, ptr, end, write))
    }

    /// Whether slot `i` holds a window stamped `now` that holds `[ptr, end)` with the access.
    fn proven_in(&self, i: usize, now: u64, ptr: usize, end: usize, write: bool) -> bool {
        let s = &self.slots[i];
        let seq = s.seq.load(Ordering::Acquire);
        if seq & 1 != 0 {
            return false;
        }
        let (g, lo, hi, w) = (
            s.generation.load(Ordering::Relaxed),
            s.lo.load(Ordering::Relaxed),
            s.hi.load(Ordering::Relaxed),
            s.writable.load(Ordering::Relaxed),
        );
        fence(Ordering::Acquire);
        s.seq.load(Ordering::Relaxed) == seq && g == now && lo <= ptr && end <= hi && (w || !write)
    }

    /// Records `[lo, hi)` as accessible (writable or only readable) at the current generation,
    /// in the one of `ptr`'s two slots whose window is not current, else in the one filled
    /// longer ago. The caller holds the map's lock.
    fn fill(&self, ptr: usize, lo: usize, hi: usize, writable: bool) {
        let now = self.generation.load(Ordering::Acquire);
        let (first, second) = slots_of(ptr);
        let current = |i: usize| {
            self.slots[i].generation.load(Ordering::Relaxed) == now && self.slots[i].hi.load(Ordering::Relaxed) != 0
        };
        let filled = |i: usize| self.slots[i].filled.load(Ordering::Relaxed);
        let i = if !current(first) || first == second {
            first
        } else if !current(second) || filled(second) < filled(first) {
            second
        } else {
            first
        };
        let s = &self.slots[i];
        let tick = self.fills.load(Ordering::Relaxed).wrapping_add(1);
        self.fills.store(tick, Ordering::Relaxed);
        s.filled.store(tick, Ordering::Relaxed);
        let seq = s.seq.load(Ordering::Relaxed);
        s.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        s.generation.store(now, Ordering::Relaxed);
        s.lo.store(lo, Ordering::Relaxed);
        s.hi.store(hi, Ordering::Relaxed);
        s.writable.store(writable, Ordering::Relaxed);
        s.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: u32 = 3;
    const R: u32 = 1;

    #[test]
    fn windows_follow_every_change_of_the_map() {
        let m = MemLock::new(MemMap::default());
        m.lock().insert(0x10000, 0x4000, RW, false, None, 0);
        assert!(!m.denies(0x10010, 16, true));
        // Proven now: answered from the window, and still right.
        assert!(m.proven(0x10010, 0x10020, true));
        assert!(!m.denies(0x11000, 16, true));
        // A change to the map drops every window.
        m.lock().protect(0x11000, 0x1000, R);
        assert!(!m.proven(0x10010, 0x10020, true));
        assert!(m.denies(0x11000, 16, true));
        assert!(!m.denies(0x11000, 16, false));
        // A read-only window proves reads only.
        assert!(m.proven(0x11000, 0x11010, false));
        assert!(!m.proven(0x11000, 0x11010, true));
        assert!(m.denies(0x11000, 16, true));
        m.lock().protect(0x10000, 0x4000, 0);
        assert!(m.denies(0x10010, 1, false));
        m.lock().remove(0x10000, 0x4000);
        assert!(!m.denies(0x10010, 1, false), "memory the map does not know is not judged");
        assert!(!m.proven(0x10010, 0x10011, false));
    }

    #[test]
    fn writable_proven_answers_only_from_current_writable_windows() {
        let m = MemLock::new(MemMap::default());
        m.lock().insert(0x10000, 0x2000, RW, false, None, 0);
        m.lock().insert(0x20000, 0x1000, R, false, None, 0);
        // Nothing proven yet: not known here (the caller asks `accessible`).
        assert!(!m.writable_proven(0x10010, 16));
        assert!(!m.denies(0x10010, 16, true));
        assert!(m.writable_proven(0x10010, 16));
        assert!(!m.writable_proven(0x11ff8, 16), "runs past the window's end");
        assert!(!m.writable_proven(0x10010, 0));
        assert!(!m.writable_proven(usize::MAX - 4, 16));
        // A read-only window never vouches for a write.
        assert!(!m.denies(0x20000, 16, false));
        assert!(!m.writable_proven(0x20000, 16));
        // Any change to the map (an unmap elsewhere) drops it.
        m.lock().remove(0x20000, 0x1000);
        assert!(!m.writable_proven(0x10010, 16));
    }

    #[test]
    fn buffers_in_sixteen_regions_stay_proven_together() {
        let m = MemLock::new(MemMap::default());
        let region = |i: usize| 0x1000_0000 + i * (2 << 20);
        for i in 0..16 {
            m.lock().insert(region(i), 0x1000, RW, false, None, 0);
        }
        for i in 0..16 {
            assert!(!m.denies(region(i) + 16, 16, true));
        }
        for i in 0..16 {
            assert!(m.proven(region(i) + 16, region(i) + 32, true), "region {i} was evicted");
        }
    }

    #[test]
    fn regions_that_share_a_slot_stay_proven_together() {
        // The addresses of the server where this was seen: poll's descriptor array on an
        // anonymous mapping and recvfrom's buffer in the brk heap, one slot by their low
        // region bits.
        let (a, b) = (0x7f7b_50c3_c000usize, 0xcc_0000usize);
        assert_eq!(slots_of(a).0, slots_of(b).0);
        assert_ne!(slots_of(a).1, slots_of(b).1);
        let m = MemLock::new(MemMap::default());
        m.lock().insert(a, 0x1000, R, false, None, 0);
        m.lock().insert(b, 0x4000, RW, false, None, 0);
        for _ in 0..3 {
            assert!(!m.denies(a + 0x6e0, 8, false));
            assert!(!m.denies(b + 0x1c30, 0x2000, true));
        }
        assert!(m.proven(a + 0x6e0, a + 0x6e8, false), "the first region was evicted");
        assert!(m.proven(b + 0x1c30, b + 0x3c30, true), "the second region was evicted");
        // A third region on the first's slot takes the slot filled longer ago of its two.
        let c = (1..4096usize)
            .map(|i| a + i * (SLOTS << 21))
            .find(|&c| {
                slots_of(c).0 == slots_of(a).0 && slots_of(c).1 != slots_of(b).1 && slots_of(c).1 != slots_of(a).1
            })
            .expect("a region with another second slot");
        m.lock().insert(c, 0x1000, RW, false, None, 0);
        assert!(!m.denies(a + 0x6e0, 8, false));
        assert!(!m.denies(b + 0x1c30, 0x2000, true));
        assert!(!m.denies(c + 16, 16, true));
        assert!(m.proven(c + 16, c + 32, true));
        assert!(m.proven(b + 0x1c30, b + 0x3c30, true), "b sits in its second slot, which c does not use");
    }

    #[test]
    fn a_buffer_across_two_mappings_is_checked_under_the_lock() {
        let m = MemLock::new(MemMap::default());
        m.lock().insert(0x10000, 0x1000, RW, false, None, 0);
        m.lock().insert(0x11000, 0x1000, R, false, None, 0);
        assert!(m.denies(0x10ff0, 0x20, true));
        assert!(!m.denies(0x10ff0, 0x20, false));
        assert!(!m.proven(0x10ff0, 0x11010, false));
    }

    #[test]
    fn a_miss_answers_as_the_map_does_whether_or_not_a_run_holds_the_buffer() {
        // Before the program is loaded, memory the map does not know is not judged.
        let m = MemLock::new(MemMap::default());
        m.lock().insert(0x10000, 0x1000, R, false, None, 0);
        assert_eq!(m.accessible(0x20000, 16, true), 16);
        assert!(!m.proven(0x20000, 0x20010, false), "no mapping holds it: no window");
        m.lock().set_complete();
        // A read-only run of two adjacent mappings: reads are proven, writes refused.
        m.lock().insert(0x11000, 0x1000, R, false, None, 0);
        m.lock().insert(0x12000, 0x1000, RW, false, None, 0);
        assert_eq!(m.accessible(0x10ff0, 0x20, true), 0);
        assert!(!m.proven(0x10ff0, 0x11010, false));
        assert_eq!(m.accessible(0x10ff0, 0x20, false), 0x20);
        assert!(m.proven(0x10000, 0x12000, false), "the read-only run is one window");
        assert!(!m.proven(0x10000, 0x12000, true));
        // A read across the run's end into a writable mapping: accessible, counted by the map.
        assert_eq!(m.accessible(0x11ff0, 0x20, false), 0x20);
        assert!(!m.proven(0x11ff0, 0x12010, false));
        // A write that starts in the writable mapping and runs past the map's end.
        assert_eq!(m.accessible(0x12ff0, 0x20, true), 0x10);
        assert!(m.denies(0x12ff0, 0x20, true));
        assert_eq!(m.accessible(0x12000, 0x1000, true), 0x1000);
        assert!(m.proven(0x12000, 0x13000, true));
    }

    #[test]
    fn a_buffer_across_adjacent_mappings_with_one_access_stays_proven() {
        let m = MemLock::new(MemMap::default());
        m.lock().set_complete();
        // A heap grown in three steps, then an unmapped page, then more memory.
        m.lock().insert(0x10000, 0x1000, RW, false, None, 0);
        m.lock().insert(0x11000, 0x1000, RW, false, None, 0);
        m.lock().insert(0x12000, 0x1000, RW, false, None, 0);
        m.lock().insert(0x14000, 0x1000, RW, false, None, 0);
        assert!(!m.denies(0x10ff0, 0x1020, true));
        assert!(m.proven(0x10ff0, 0x12010, true), "the run of three mappings is one window");
        assert!(m.proven(0x10000, 0x13000, true));
        assert!(!m.proven(0x12ff0, 0x13010, false), "the window ends at the hole");
        assert!(m.denies(0x12ff0, 0x20, false));
        // A change inside the run drops the window, and the run now ends at the change.
        m.lock().protect(0x12000, 0x1000, R);
        assert!(!m.proven(0x10ff0, 0x11010, true));
        assert!(!m.denies(0x10ff0, 0x20, true));
        assert!(m.proven(0x10000, 0x12000, true));
        assert!(!m.proven(0x11ff0, 0x12010, false));
        assert!(m.denies(0x11ff0, 0x20, true));
    }
}
