//! Physical page frames: the RAM the machine reported (its boot information), below the 1 GiB the direct
//! map covers, minus what is in use at boot (the kernel, the image, the boot modules).
use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use litebox_libos::sync::SpinMutex;

use crate::layout::phys_to_virt;

/// The size of a frame (a 4 KiB page).
pub const FRAME: usize = 4096;
/// The direct map covers this much physical memory; frames come from below it.
pub const PHYS_LIMIT: usize = 1 << 30;
const MAX_RANGES: usize = 32;
/// The top of each RAM range that is zeroed on first use even when the VMM hands RAM over
/// zeroed: firmware (SeaBIOS under `-M pc`) keeps its tables there without reserving them in
/// the memory map the kernel reads.
const FIRMWARE_TOP: usize = 16 << 20;

struct Frames {
    ranges: [(usize, usize); MAX_RANGES],
    /// Per range: below this address, never-used frames hold zeros (see [`set_fresh_zeroed`]).
    zeroed_below: [usize; MAX_RANGES],
    count: usize,
    /// Freed frames, linked through their first word (a physical address, 0 ends the list).
    free: usize,
    total: usize,
    used: usize,
}

static FRAMES: SpinMutex<Frames> = SpinMutex::new(Frames {
    ranges: [(0, 0); MAX_RANGES],
    zeroed_below: [0; MAX_RANGES],
    count: 0,
    free: 0,
    total: 0,
    used: 0,
});

/// Adds RAM `[start, end)` minus the `reserved` ranges to the pool.
pub fn add_ram(start: usize, end: usize, reserved: &[(usize, usize)]) {
    let start = start.max(1 << 20).next_multiple_of(FRAME);
    let end = end.min(PHYS_LIMIT) & !(FRAME - 1);
    if start >= end {
        return;
    }
    // Cut the reserved ranges out: find the first reserved range that overlaps and recurse.
    for &(rs, re) in reserved {
        let (rs, re) = (rs & !(FRAME - 1), re.next_multiple_of(FRAME));
        if rs < end && re > start {
            add_ram(start, rs, reserved);
            add_ram(re, end, reserved);
            return;
        }
    }
    let mut f = FRAMES.lock();
    if f.count < MAX_RANGES {
        let i = f.count;
        f.ranges[i] = (start, end);
        f.zeroed_below[i] = if FRESH_ZEROED.load(Ordering::Relaxed) { end.saturating_sub(FIRMWARE_TOP) } else { 0 };
        f.count += 1;
        f.total += (end - start) / FRAME;
    }
}

/// Whether never-used RAM holds zeros (set by [`crate::init`] from the machine, before
/// [`add_ram`]).
static FRESH_ZEROED: AtomicBool = AtomicBool::new(false);

/// Tells the pool that the VMM hands RAM over zeroed (QEMU's guest RAM is fresh anonymous
/// memory), so a never-used frame needs no zeroing before its first use; call before
/// [`add_ram`]. Not for SNP: its private pages are not promised to read as zeros.
pub fn set_fresh_zeroed(zeroed: bool) {
    FRESH_ZEROED.store(zeroed, Ordering::Relaxed);
}

/// A frame (physical address), not zeroed; None when memory is exhausted.
pub fn alloc() -> Option<usize> {
    take().map(|(pa, _)| pa)
}

/// A frame and whether it is known to hold zeros (never used, in RAM the VMM zeroed).
fn take() -> Option<(usize, bool)> {
    let mut f = FRAMES.lock();
    if f.free != 0 {
        let pa = f.free;
        // SAFETY: a freed frame is ours and holds the next link in its first word.
        f.free = unsafe { core::ptr::read(phys_to_virt(pa) as *const usize) };
        f.used += 1;
        return Some((pa, false));
    }
    for i in 0..f.count {
        let (s, e) = f.ranges[i];
        if s < e {
            f.ranges[i].0 = s + FRAME;
            f.used += 1;
            return Some((s, s + FRAME <= f.zeroed_below[i]));
        }
    }
    None
}

/// `n` physically consecutive frames (the first one's address), not zeroed, taken from the
/// never-used part of a RAM range (device rings need them); None when no range has `n` left.
pub fn alloc_contiguous(n: usize) -> Option<usize> {
    let mut f = FRAMES.lock();
    for i in 0..f.count {
        let (s, e) = f.ranges[i];
        if e.saturating_sub(s) >= n * FRAME {
            f.ranges[i].0 = s + n * FRAME;
            f.used += n;
            return Some(s);
        }
    }
    None
}

/// A zeroed frame (written with zeros unless it is known to hold them already).
pub fn alloc_zeroed() -> Option<usize> {
    let (pa, zeroed) = take()?;
    if !zeroed {
        // SAFETY: the frame was just handed to us and is mapped through the direct map.
        unsafe { core::ptr::write_bytes(phys_to_virt(pa) as *mut u8, 0, FRAME) };
    }
    Some(pa)
}

/// Frames (1 MiB) that only the kernel may take: an app page (a first touch, a copy-on-write
/// copy) is refused below this, so the kernel's own allocations (its heap, page tables) still
/// succeed after the app has used up the rest.
const KERNEL_RESERVE: usize = 256;

/// A zeroed frame for an app page; None when only the kernel's reserve is left.
pub fn alloc_zeroed_for_app() -> Option<usize> {
    (free_count() > KERNEL_RESERVE).then(alloc_zeroed).flatten()
}

/// A frame (not zeroed) for an app page; None when only the kernel's reserve is left.
pub fn alloc_for_app() -> Option<usize> {
    (free_count() > KERNEL_RESERVE).then(alloc).flatten()
}

/// Returns a frame to the pool.
pub fn free(pa: usize) {
    let mut f = FRAMES.lock();
    // SAFETY: the caller gives the frame back; we store the list link in it.
    unsafe { core::ptr::write(phys_to_virt(pa) as *mut usize, f.free) };
    f.free = pa;
    f.used -= 1;
}

/// Frames not in use.
pub fn free_count() -> usize {
    let f = FRAMES.lock();
    f.total - f.used
}

/// (total, used) frames.
pub fn stats() -> (usize, usize) {
    let f = FRAMES.lock();
    (f.total, f.used)
}

/// App frames shared copy-on-write between processes: frame -> how many more address spaces
/// than one map it. A frame not listed has one owner.
static SHARED: SpinMutex<BTreeMap<usize, u32>> = SpinMutex::new(BTreeMap::new());

/// Frames outside the pool that app pages map in place (the packed image), `[start, end)`.
static PINNED_START: AtomicUsize = AtomicUsize::new(0);
static PINNED_END: AtomicUsize = AtomicUsize::new(0);

/// Lets app pages map the frames of `[start, end)` (page-aligned, reserved: the packed image)
/// in place, read-only: they count as shared by everyone (a write copies the page first) and
/// are never freed. Called once, before the app runs.
pub fn pin(start: usize, end: usize) {
    PINNED_START.store(start, Ordering::Relaxed);
    PINNED_END.store(end, Ordering::Relaxed);
}

/// Whether frame `pa` lies in the pinned range ([`pin`]).
pub fn is_pinned(pa: usize) -> bool {
    (PINNED_START.load(Ordering::Relaxed)..PINNED_END.load(Ordering::Relaxed)).contains(&pa)
}

/// One more address space maps app frame `pa` (fork).
pub fn share(pa: usize) {
    if is_pinned(pa) {
        return;
    }
    *SHARED.lock().entry(pa).or_insert(0) += 1;
}

/// Whether app frame `pa` is mapped by more than one address space (a pinned frame always is).
pub fn is_shared(pa: usize) -> bool {
    is_pinned(pa) || SHARED.lock().contains_key(&pa)
}

/// An address space stops mapping app frame `pa`: frees it when it was the last (never a
/// pinned one).
pub fn release(pa: usize) {
    if is_pinned(pa) {
        return;
    }
    let mut s = SHARED.lock();
    match s.get_mut(&pa) {
        Some(n) if *n > 1 => *n -= 1,
        Some(_) => {
            s.remove(&pa);
        }
        None => {
            drop(s);
            free(pa);
        }
    }
}
