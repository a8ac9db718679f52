//! 4-level page tables. Every process has its own PML4: the lower half (slots 0..256) is its
//! app's, the upper half (direct map, heap, kernel image) is the boot PML4's entries, copied
//! when the PML4 is made, so every address space shares the kernel's lower-level tables (the
//! heap's slot exists before the first fork).
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::frames;
use crate::layout::{phys_to_virt, pml4_phys};

/// Present.
pub const P: u64 = 1;
/// Writable.
pub const W: u64 = 1 << 1;
/// User (ring 3) accessible.
pub const U: u64 = 1 << 2;
/// A large page (in a level-2 or level-3 entry).
pub const PS: u64 = 1 << 7;
/// Software bit: the frame is kept but the page is inaccessible (PROT_NONE).
pub const KEPT: u64 = 1 << 9;
/// Software bit: the frame may be shared with another process (after fork); the entry is
/// read-only and the first write copies it (`vm::fault`).
pub const COW: u64 = 1 << 10;
/// Not executable.
pub const NX: u64 = 1 << 63;
/// The address field of an entry (with the encryption bit, when the machine has one).
pub const ADDR: u64 = 0x000f_ffff_ffff_f000;

/// The machine's page-encryption mask ([`crate::Machine::encryption_mask`]).
static ENC: AtomicU64 = AtomicU64::new(0);

/// Sets the bits every entry that maps private RAM carries (at boot, before any mapping).
pub fn set_encryption_mask(mask: u64) {
    ENC.store(mask, Ordering::Relaxed);
}

/// The page-encryption mask: OR it into an entry that maps private RAM (not into MMIO or
/// shared pages).
#[inline]
pub fn enc() -> u64 {
    ENC.load(Ordering::Relaxed)
}

/// The physical frame an entry maps (its address field without the encryption bit).
#[inline]
pub fn frame_of(v: u64) -> usize {
    (v & ADDR & !enc()) as usize
}

/// The PML4 in CR3 (physical; 0 until the first switch: the boot PML4).
static CURRENT: AtomicUsize = AtomicUsize::new(0);

fn table(pa: u64) -> *mut u64 {
    phys_to_virt(frame_of(pa)) as *mut u64
}

/// The PML4 of the running process.
pub fn current_root() -> usize {
    match CURRENT.load(Ordering::Relaxed) {
        0 => pml4_phys(),
        r => r,
    }
}

/// Loads `root` into CR3 (flushing the app's TLB entries).
pub fn switch_to(root: usize) {
    if root == current_root() {
        return;
    }
    CURRENT.store(root, Ordering::Relaxed);
    // SAFETY: `root` is a PML4 made by `new_root` (or the boot one): its upper half maps the
    // kernel exactly as every other address space does, so the code and stack stay mapped.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) root as u64, options(nostack, preserves_flags)) }
}

/// A new PML4 with an empty lower half and the kernel's upper half; None when out of memory.
pub fn new_root() -> Option<usize> {
    let pa = frames::alloc_zeroed()?;
    let (src, dst) = (table(pml4_phys() as u64), table(pa as u64));
    for i in 256..512 {
        // SAFETY: both are PML4 pages reached through the direct map; i < 512.
        unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
    }
    Some(pa)
}

/// The level-1 entry for `va` in the tables rooted at `root`, creating intermediate tables
/// when `create` (user tables when `va` is in the lower half). None if a table is missing
/// (and not created) or out of memory.
pub fn pte_in(root: usize, va: usize, create: bool) -> Option<*mut u64> {
    let user = va < 0x0000_8000_0000_0000;
    let mut t = phys_to_virt(root) as *mut u64;
    for level in [39u32, 30, 21] {
        let idx = (va >> level) & 511;
        // SAFETY: t is a page table page reached through the direct map; idx < 512.
        let e = unsafe { t.add(idx) };
        // SAFETY: as above.
        let mut v = unsafe { e.read_volatile() };
        if v & P == 0 {
            if !create {
                return None;
            }
            let pa = frames::alloc_zeroed()? as u64;
            v = pa | enc() | P | W | if user { U } else { 0 };
            // SAFETY: as above; installing a fresh zeroed table.
            unsafe { e.write_volatile(v) };
        } else if v & PS != 0 {
            return None;
        }
        t = table(v);
    }
    // SAFETY: t is a level-1 table page.
    Some(unsafe { t.add((va >> 12) & 511) })
}

/// The level-1 entry for `va`: the running process's tables for the app's half, the boot
/// tables (shared by all) for the kernel's.
pub fn pte(va: usize, create: bool) -> Option<*mut u64> {
    let root = if va < 0x0000_8000_0000_0000 { current_root() } else { pml4_phys() };
    pte_in(root, va, create)
}

/// Calls `leaf(va, entry)` for every level-1 entry of the lower half of `root` that holds a
/// frame (present or kept), and `table(pa)` for every lower-half table page below the PML4,
/// children before their parent.
fn walk_user(root: usize, leaf: &mut dyn FnMut(usize, *mut u64), tables: &mut dyn FnMut(usize)) {
    let l4 = table(root as u64);
    for i4 in 0..256usize {
        // SAFETY: page table pages through the direct map, indices < 512 (also the reads below).
        let e4 = unsafe { l4.add(i4).read_volatile() };
        if e4 & P == 0 {
            continue;
        }
        let l3 = table(e4);
        for i3 in 0..512usize {
            // SAFETY: as above.
            let e3 = unsafe { l3.add(i3).read_volatile() };
            if e3 & P == 0 || e3 & PS != 0 {
                continue;
            }
            let l2 = table(e3);
            for i2 in 0..512usize {
                // SAFETY: as above.
                let e2 = unsafe { l2.add(i2).read_volatile() };
                if e2 & P == 0 || e2 & PS != 0 {
                    continue;
                }
                let l1 = table(e2);
                for i1 in 0..512usize {
                    // SAFETY: as above.
                    let e = unsafe { l1.add(i1) };
                    // SAFETY: as above.
                    if unsafe { e.read_volatile() } & (P | KEPT) != 0 {
                        leaf((i4 << 39) | (i3 << 30) | (i2 << 21) | (i1 << 12), e);
                    }
                }
                tables(frame_of(e2));
            }
            tables(frame_of(e3));
        }
        tables(frame_of(e4));
    }
}

/// Maps every app page of `from` at the same address in `to`, sharing the frame: pages for
/// which `shared(va)` holds (MAP_SHARED) as they are, every other page copy-on-write (both
/// entries lose their write right and get [`COW`]) (fork). False when memory for `to`'s
/// tables ran out (`to` then holds a partial copy, for [`free_user`]). The caller flushes
/// `from`'s TLB if it is loaded.
pub fn share_user(from: usize, to: usize, shared: &dyn Fn(usize) -> bool) -> bool {
    let mut ok = true;
    walk_user(
        from,
        &mut |va, e| {
            if !ok {
                return;
            }
            let Some(dst) = pte_in(to, va, true) else {
                ok = false;
                return;
            };
            // SAFETY: e is a level-1 entry of `from`, dst the one of `to` for the same page.
            unsafe {
                let v = e.read_volatile();
                if shared(va) {
                    dst.write_volatile(v);
                } else {
                    let v = (v & !W) | COW;
                    e.write_volatile(v);
                    dst.write_volatile(v);
                }
            }
        },
        &mut |_| {},
    );
    // Share after the walk: a failed copy releases only what it mapped.
    walk_user(
        to,
        &mut |_, e| {
            frames::share(
                // SAFETY: e is a level-1 entry of `to`.
                frame_of(unsafe { e.read_volatile() }),
            )
        },
        &mut |_| {},
    );
    ok
}

/// Gives the page of entry `e` a frame of its own (copying a shared one): returns the entry
/// value without [`COW`], still read-only; None when memory is exhausted.
///
/// # Safety
/// `e` must be the level-1 entry (from [`pte_in`] or [`pte`]) of an app page marked [`COW`].
pub unsafe fn unshare(e: *mut u64) -> Option<u64> {
    // SAFETY: per the contract, e is a level-1 entry of an app page.
    let v = unsafe { e.read_volatile() };
    let pa = frame_of(v);
    let own = if frames::is_shared(pa) {
        let new = frames::alloc_for_app()?;
        // SAFETY: whole frames through the direct map; the new one is ours alone.
        unsafe {
            core::ptr::copy_nonoverlapping(phys_to_virt(pa) as *const u8, phys_to_virt(new) as *mut u8, frames::FRAME)
        };
        frames::release(pa);
        new
    } else {
        pa
    };
    let nv = own as u64 | enc() | (v & !ADDR & !COW);
    // SAFETY: as above.
    unsafe { e.write_volatile(nv) };
    Some(nv)
}

/// Frees every app frame and lower-half table of `root` and empties its lower half (the PML4
/// page itself stays). The caller flushes the TLB if `root` is loaded.
pub fn free_user(root: usize) {
    walk_user(
        root,
        &mut |_, e| {
            // SAFETY: e is a level-1 entry of `root`; its frame is released once.
            let v = unsafe { e.read_volatile() };
            frames::release(frame_of(v));
        },
        &mut |pa| frames::free(pa),
    );
    let l4 = table(root as u64);
    for i in 0..256 {
        // SAFETY: the PML4 page through the direct map; its lower-half tables were just freed.
        unsafe { l4.add(i).write_volatile(0) };
    }
}

/// Clears the boot identity map of low memory (PML4 slot 0), so the lower half is the app's.
pub fn drop_identity_map() {
    let t = phys_to_virt(pml4_phys()) as *mut u64;
    // SAFETY: slot 0 held the boot identity map, which nothing uses once we run in the upper half.
    unsafe { t.write_volatile(0) };
    crate::cpu::flush_tlb();
}

/// Where the kernel heap lives: a virtual region of the upper half (slot 384 of the PML4).
pub const HEAP_BASE: usize = 0xffff_c000_0000_0000;
/// The kernel heap's size limit.
pub const HEAP_MAX: usize = 1 << 30;

/// The kernel heap's memory (`litebox_rt::heap`): fresh frames mapped into
/// [`HEAP_BASE`]..+[`HEAP_MAX`] in 64 KiB steps as it grows; never given back.
pub struct HeapFrames;

impl litebox_rt::heap::Backing for HeapFrames {
    const GROW_STEP: usize = 64 * 1024;

    fn commit(&self, from: usize, to: usize) -> bool {
        let mut va = from;
        while va < to {
            let Some(pa) = frames::alloc() else { return false };
            let Some(e) = pte(va, true) else { return false };
            let nx = if crate::cpu::has_nx() { NX } else { 0 };
            // SAFETY: e is the level-1 entry of a fresh heap page nobody maps yet.
            unsafe { e.write_volatile(pa as u64 | enc() | P | W | nx) };
            va += frames::FRAME;
        }
        true
    }
}
