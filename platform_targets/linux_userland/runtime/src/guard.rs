//! Memory the app must not map over, unmap or re-protect: the runtime's own executable, its
//! heap, the mapped image and the signal stack. Set once before the app starts.
use core::sync::atomic::{AtomicUsize, Ordering};

const MAX: usize = 8;
static STARTS: [AtomicUsize; MAX] = [const { AtomicUsize::new(0) }; MAX];
static ENDS: [AtomicUsize; MAX] = [const { AtomicUsize::new(0) }; MAX];
static COUNT: AtomicUsize = AtomicUsize::new(0);

/// Records `[start, start+len)` as the runtime's own.
pub fn reserve(start: usize, len: usize) {
    let i = COUNT.fetch_add(1, Ordering::SeqCst);
    if i < MAX {
        STARTS[i].store(start & !4095, Ordering::SeqCst);
        ENDS[i].store((start + len).next_multiple_of(4096), Ordering::SeqCst);
    }
}

/// True if `[start, start+len)` touches any range the runtime owns. Inlined: the app's mmap
/// and munmap check with it after their host call (litebox_libos::shim::mem::hot says why).
#[inline(always)]
pub fn overlaps(start: usize, len: usize) -> bool {
    let end = start.saturating_add(len);
    let n = COUNT.load(Ordering::SeqCst).min(MAX);
    // A plain loop: `(0..n).any(..)` stayed a call of its own (`Iterator::try_fold`).
    let mut i = 0;
    while i < n {
        if start < ENDS[i].load(Ordering::Relaxed) && STARTS[i].load(Ordering::Relaxed) < end {
            return true;
        }
        i += 1;
    }
    false
}

/// Every range the runtime owns, as `(start, end)`.
pub fn ranges() -> alloc::vec::Vec<(usize, usize)> {
    let n = COUNT.load(Ordering::SeqCst).min(MAX);
    (0..n).map(|i| (STARTS[i].load(Ordering::Relaxed), ENDS[i].load(Ordering::Relaxed))).collect()
}
