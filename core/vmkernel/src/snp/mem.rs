//! Memory under SEV-SNP: PVALIDATE of the RAM the kernel will use, page-state changes, and the
//! C-bit of the direct map's entries for the pages deliberately shared with the host (the GHCB,
//! device rings and bounce buffers). Every other entry the kernel writes carries the C-bit
//! ([`crate::paging::enc`], set from [`super::cbit_mask`]).
use core::arch::asm;

use litebox_snp_sev::ghcb::EXIT_PSC;
use litebox_snp_sev::msr_protocol::{self as msrp, PageOp, Reason};
use litebox_snp_sev::{psc, ranges, PAGE, PAGE_2M};

use super::ghcb::{self, terminate};
use crate::layout::{phys_to_virt, pml4_phys, DIRECT_MAP};

/// PVALIDATE return codes.
const PVALIDATE_FAIL_SIZEMISMATCH: u32 = 6;

#[repr(C, align(4096))]
struct Table([u64; 512]);

/// The page table that splits the direct map's 2 MiB page holding the GHCB (before the frame
/// allocator exists).
static mut EARLY_PT: Table = Table([0; 512]);

/// PVALIDATE the page at `pa` (2 MiB when `huge`): `validate` true to validate, false to
/// rescind. Returns (status, changed): status 0 is success; `changed` is false when the page
/// already was in that state.
fn pvalidate(pa: usize, huge: bool, validate: bool) -> (u32, bool) {
    let va = phys_to_virt(pa);
    let status: usize;
    let unchanged: u8;
    // SAFETY: PVALIDATE changes only the RMP's validated bit of the page (no memory the
    // compiler tracks); `va` maps `pa` through the direct map.
    unsafe {
        asm!(
            ".byte 0xf2, 0x0f, 0x01, 0xff",
            "setc {cf}",
            inout("rax") va => status,
            in("ecx") huge as u32,
            in("edx") validate as u32,
            cf = out(reg_byte) unchanged,
            options(nostack),
        )
    };
    (status as u32, unchanged == 0)
}

/// Validates `[start, end)` (page-aligned), in 2 MiB pages where aligned (4 KiB where the RMP
/// says the page is smaller). Terminates the guest when a page cannot be validated or was
/// validated already (a host that replays a page).
fn validate_range(start: u64, end: u64) {
    let mut at = start;
    while at < end {
        let huge = at.is_multiple_of(PAGE_2M) && end - at >= PAGE_2M;
        let (status, changed) = pvalidate(at as usize, huge, true);
        if huge && status == PVALIDATE_FAIL_SIZEMISMATCH {
            for p in (at..at + PAGE_2M).step_by(PAGE as usize) {
                validate_range(p, p + PAGE);
            }
        } else if status != 0 || !changed {
            terminate(Reason::Validation);
        }
        at += if huge { PAGE_2M } else { PAGE };
    }
}

/// Most exits one page-state-change descriptor may take (the hypervisor may process it in
/// parts; one that never finishes ends the guest).
const PSC_MAX_EXITS: usize = 1024;

/// Changes the state of `[start, end)` through GHCB page-state-change exits: each descriptor
/// is resubmitted until the hypervisor has processed every entry (`SW_EXITINFO2` 0 each time).
fn change_state(start: u64, end: u64, op: PageOp) {
    let mut at = start;
    while at < end {
        let mut next = at;
        for exit in 0.. {
            if exit == PSC_MAX_EXITS {
                terminate(Reason::Validation);
            }
            let (failed, done) = ghcb::call(
                |g| {
                    if exit == 0 {
                        (next, _) = psc::fill(g.buffer(), at, end, op);
                    }
                    g.set(litebox_snp_sev::ghcb::off::SW_SCRATCH, ghcb::buffer_pa());
                    g.set_exit(EXIT_PSC, 0, 0);
                },
                |g| (g.result() != Ok(0), psc::done(g.buffer())),
            );
            if failed {
                terminate(Reason::Validation);
            }
            if done {
                break;
            }
        }
        at = next;
    }
}

/// Makes the RAM the kernel will hand out private and validated: every `ram` range less the
/// `reserved` ranges (the kernel, the image, the boot area: measured pages the launch already
/// validated, which must not be validated twice). Terminates the guest when the IGVM memory
/// map the host wrote does not cover that RAM.
pub fn validate_ram(ram: &[(usize, usize)], reserved: &[(usize, usize)]) {
    let mut map = [(0u64, 0u64); 32];
    let n = super::host_memory_map(&mut map);
    let mut holes = [(0u64, 0u64); crate::machine::MAX_RESERVED + 1];
    for (h, &(s, e)) in holes.iter_mut().zip(reserved) {
        *h = (s as u64, e as u64);
    }
    let holes = &holes[..reserved.len().min(holes.len())];
    for &(s, e) in ram {
        if !ranges::covered(s as u64, e as u64, &map[..n]) {
            terminate(Reason::MemoryMap);
        }
        ranges::subtract(s as u64, e as u64, holes, &mut |a, b| {
            change_state(a, b, PageOp::Private);
            validate_range(a, b);
        });
    }
}

/// The level-2 entry of the direct map for `pa` (a 2 MiB page of the boot tables, or a table).
fn direct_pde(pa: usize) -> *mut u64 {
    let va = DIRECT_MAP + pa;
    let c = super::cbit_mask();
    let mut t = phys_to_virt(pml4_phys()) as *mut u64;
    for level in [39u32, 30] {
        // SAFETY: the boot tables map the whole direct map with present tables down to level 2.
        let e = unsafe { t.add((va >> level) & 511).read_volatile() };
        t = phys_to_virt((e & crate::paging::ADDR & !c) as usize) as *mut u64;
    }
    // SAFETY: t is the level-2 table; the index is < 512.
    unsafe { t.add((va >> 21) & 511) }
}

/// Sets or clears the C-bit of the direct map's entry for the 4 KiB page at `pa`, splitting its
/// 2 MiB page into a table (`pt_pa`, used only if a split is needed) first.
fn set_private_mapping(pa: usize, private: bool, pt_pa: impl FnOnce() -> usize) {
    let c = super::cbit_mask();
    let pde = direct_pde(pa);
    // SAFETY: the level-2 entry of the direct map (one CPU, interrupts off).
    let v = unsafe { pde.read_volatile() };
    let pt = if v & crate::paging::PS != 0 {
        let pt = pt_pa();
        let base = (v & crate::paging::ADDR & !c) & !(PAGE_2M - 1);
        let flags = v & (crate::paging::P | crate::paging::W | crate::paging::NX);
        let t = phys_to_virt(pt) as *mut u64;
        for i in 0..512u64 {
            // SAFETY: `pt` is a fresh private page for this table; i < 512.
            unsafe { t.add(i as usize).write_volatile((base + i * PAGE) | c | flags) };
        }
        // SAFETY: replaces the 2 MiB mapping with a table mapping the same frames the same way.
        unsafe { pde.write_volatile(pt as u64 | c | crate::paging::P | crate::paging::W) };
        pt
    } else {
        (v & crate::paging::ADDR & !c) as usize
    };
    let e = (phys_to_virt(pt) as *mut u64).wrapping_add((pa >> 12) & 511);
    // SAFETY: the level-1 entry of the page in the table above.
    unsafe {
        let old = e.read_volatile();
        e.write_volatile(if private { old | c } else { old & !c });
    }
    crate::cpu::flush_tlb();
}

/// Shares the kernel page at `pa` before the frame allocator exists (the GHCB): rescind its
/// validation, change it to shared with the MSR protocol, clear its C-bit.
///
/// # Safety
/// Boot only, once: the early table is used for the split.
pub unsafe fn share_page_early(pa: usize) {
    let (status, _) = pvalidate(pa, false, false);
    if status != 0 {
        terminate(Reason::Validation);
    }
    let r = ghcb::msr_call(msrp::psc_request((pa / 4096) as u64, PageOp::Shared));
    if msrp::parse_psc_response(r) != Some(0) {
        terminate(Reason::Validation);
    }
    let early = (&raw const EARLY_PT) as usize - crate::layout::KERNEL_VMA;
    set_private_mapping(pa, false, || early);
    // SAFETY: the page is now shared and mapped without the C-bit; zero what the host sees.
    unsafe { core::ptr::write_bytes(phys_to_virt(pa) as *mut u8, 0, 4096) };
}

/// Makes `[pa, pa + len)` shared with the host (device rings, bounce buffers): its previous
/// contents are wiped first (so no private data leaks), then the validation is rescinded, the
/// pages changed to shared and mapped without the C-bit.
pub fn make_shared(pa: usize, len: usize) {
    let (start, end) = (pa & !4095, (pa + len).div_ceil(4096) * 4096);
    // SAFETY: the caller owns these frames (fresh from the allocator).
    unsafe { core::ptr::write_bytes(phys_to_virt(start) as *mut u8, 0, end - start) };
    for p in (start..end).step_by(4096) {
        if pvalidate(p, false, false).0 != 0 {
            terminate(Reason::Validation);
        }
    }
    change_state(start as u64, end as u64, PageOp::Shared);
    for p in (start..end).step_by(4096) {
        set_private_mapping(p, false, || {
            crate::frames::alloc_zeroed().unwrap_or_else(|| terminate(Reason::Validation))
        });
    }
}

/// Makes shared pages private again before they are reused.
pub fn make_private(pa: usize, len: usize) {
    let (start, end) = (pa & !4095, (pa + len).div_ceil(4096) * 4096);
    for p in (start..end).step_by(4096) {
        set_private_mapping(p, true, || crate::frames::alloc_zeroed().unwrap_or_else(|| terminate(Reason::Validation)));
    }
    change_state(start as u64, end as u64, PageOp::Private);
    validate_range(start as u64, end as u64);
}

/// The physical address `va` maps to in the current address space (None if unmapped).
pub fn virt_to_phys(va: usize) -> Option<usize> {
    let c = super::cbit_mask();
    let root = if va < 0x0000_8000_0000_0000 { crate::paging::current_root() } else { pml4_phys() };
    let mut t = phys_to_virt(root) as *const u64;
    for (level, size) in [(39u32, 0usize), (30, 1 << 30), (21, 1 << 21), (12, 1 << 12)] {
        // SAFETY: a page-table page through the direct map; the index is < 512.
        let e = unsafe { t.add((va >> level) & 511).read_volatile() };
        if e & crate::paging::P == 0 {
            return None;
        }
        let frame = (e & crate::paging::ADDR & !c) as usize;
        if level == 12 || (size != 0 && e & crate::paging::PS != 0) {
            let size = if level == 12 { 1 << 12 } else { size };
            return Some((frame & !(size - 1)) + (va & (size - 1)));
        }
        t = phys_to_virt(frame) as *const u64;
    }
    None
}
