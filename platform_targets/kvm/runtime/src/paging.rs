//! 4-level page tables of the one address space: the app in the lower half (PML4 slots
//! 0..256), the kernel in the upper half (direct map, heap, kernel image).
use crate::boot::{phys_to_virt, pml4_phys};
use crate::frames;

pub const P: u64 = 1;
pub const W: u64 = 1 << 1;
pub const U: u64 = 1 << 2;
pub const PS: u64 = 1 << 7;
/// Software bit: the frame is kept but the page is inaccessible (PROT_NONE).
pub const KEPT: u64 = 1 << 9;
pub const NX: u64 = 1 << 63;
pub const ADDR: u64 = 0x000f_ffff_ffff_f000;

fn table(pa: u64) -> *mut u64 {
    phys_to_virt((pa & ADDR) as usize) as *mut u64
}

/// The level-1 entry for `va`, creating intermediate tables when `create` (user tables when
/// `va` is in the lower half). None if a table is missing (and not created) or out of memory.
pub fn pte(va: usize, create: bool) -> Option<*mut u64> {
    let user = va < 0x0000_8000_0000_0000;
    let mut t = phys_to_virt(pml4_phys()) as *mut u64;
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
            v = pa | P | W | if user { U } else { 0 };
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

/// Clears the boot identity map of low memory (PML4 slot 0), so the lower half is the app's.
pub fn drop_identity_map() {
    let t = phys_to_virt(pml4_phys()) as *mut u64;
    // SAFETY: slot 0 held the boot identity map, which nothing uses once we run in the upper half.
    unsafe { t.write_volatile(0) };
    crate::cpu::flush_tlb();
}
