//! The SEV-SNP machine layer: what the kernel does differently when it runs as an SNP guest.
//! Everything here is behind one run-time switch, [`active`], which only the SNP VP context of
//! the IGVM file turns on (its measured VMSA hands the boot stub a marker and the C-bit
//! position, see [`early`]); on the native platform and on kvm none of it runs.
//!
//! - [`ghcb`]: the GHCB MSR protocol (set-up, termination) and the shared GHCB page (exits);
//! - [`mem`]: PVALIDATE, page-state changes, the C-bit in the direct map, shared pages;
//! - [`vc`]: the #VC handler (vector 29): CPUID from the CPUID page, port I/O, MMIO, MSRs and
//!   the TSC through GHCB exits;
//! - [`attest`]: attestation reports through SNP_GUEST_REQUEST.
//!
//! The pure logic (encodings, decoder, lookups) is the host-tested `litebox-snp-sev` crate.
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use litebox_snp_sev::msr_protocol::{self as msrp, Reason};
use litebox_snp_sev::{cpuid_page, pte};

use crate::layout::phys_to_virt;
use crate::port::rdmsr;

pub mod attest;
pub mod ghcb;
pub mod mem;
pub mod vc;

/// The marker the SNP VMSA puts in EDI ("SNP1"): the boot stub then reads EBP as the C-bit
/// position the measured boot page tables use.
pub const VMSA_MARKER: u32 = u32::from_le_bytes(*b"SNP1");

/// Offsets in the boot area (the page the start info is in; `platform_targets/snp/layout.py`).
const MEMMAP_OFFSET: usize = 0x2000;
const SECRETS_OFFSET: usize = 0x3000;
const CPUID_OFFSET: usize = 0x4000;
/// Pages of the boot area (start info, parameter areas, secrets, CPUID, VMSA, module list).
const BOOT_AREA_PAGES: usize = 7;

static ACTIVE: AtomicBool = AtomicBool::new(false);
static CBIT_MASK: AtomicU64 = AtomicU64::new(0);
static BOOT_AREA: AtomicUsize = AtomicUsize::new(0);

/// Whether the kernel runs as an SEV-SNP guest.
#[inline]
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// The C-bit mask (0 when not under SNP).
pub fn cbit_mask() -> u64 {
    CBIT_MASK.load(Ordering::Relaxed)
}

/// The CPUID page (measured by the launch; read-only).
pub fn cpuid_page() -> &'static [u8; 4096] {
    // SAFETY: a page of the boot area, mapped in the direct map, never written by the kernel.
    unsafe { &*(phys_to_virt(BOOT_AREA.load(Ordering::Relaxed) + CPUID_OFFSET) as *const [u8; 4096]) }
}

/// The secrets page (filled by the security processor at launch).
pub fn secrets_page() -> &'static [u8; 4096] {
    // SAFETY: as for `cpuid_page`.
    unsafe { &*(phys_to_virt(BOOT_AREA.load(Ordering::Relaxed) + SECRETS_OFFSET) as *const [u8; 4096]) }
}

/// The IGVM memory map the loader wrote (parameter area 1): (start, end) RAM ranges, up to 32.
pub fn host_memory_map(out: &mut [(u64, u64); 32]) -> usize {
    let base = phys_to_virt(BOOT_AREA.load(Ordering::Relaxed) + MEMMAP_OFFSET) as *const u8;
    let mut n = 0;
    for i in 0..(4096 / 24) {
        // SAFETY: a page of the boot area (an unmeasured parameter page the launch validated).
        let e = unsafe { core::slice::from_raw_parts(base.add(24 * i), 24) };
        let word = |at: usize| u64::from_le_bytes(e[at..at + 8].try_into().unwrap_or([0; 8]));
        let (page, pages, kind) = (word(0), word(8), u16::from_le_bytes([e[16], e[17]]));
        if pages == 0 || n == out.len() {
            break;
        }
        // IGVM_MEMORY_MAP_ENTRY_TYPE_MEMORY.
        if kind == 0 {
            out[n] = (page.saturating_mul(4096), page.saturating_add(pages).saturating_mul(4096));
            n += 1;
        }
    }
    n
}

/// Brings the SNP machine layer up, first thing at the kernel's entry, when the boot stub saw
/// the SNP VMSA's marker (`cbit_hi`: the C-bit mask's high 32 bits the stub put in the boot
/// page tables). Checks that SEV-SNP is really active (the SEV_STATUS MSR) and that the C-bit
/// the CPUID page reports is the one the page tables were built with, negotiates the GHCB
/// protocol, and shares and registers the GHCB page. Terminates the guest (GHCB termination
/// request) on any mismatch. Does nothing when `cbit_hi` is 0 (native boot).
///
/// # Safety
/// Call once, at boot, before anything executes an instruction SNP intercepts (port I/O,
/// CPUID, MSRs other than the GHCB's and SEV_STATUS), with the boot page tables loaded.
pub unsafe fn early(start_info: usize, cbit_hi: u32) {
    if cbit_hi == 0 {
        return;
    }
    let mask = (cbit_hi as u64) << 32;
    // SEV_STATUS is readable without a #VC under SEV-ES and SNP.
    if rdmsr(msrp::MSR_SEV_STATUS) & msrp::SEV_STATUS_SNP == 0 {
        // The SNP VP context started without SNP: nobody to ask for termination; stop here.
        crate::halt();
    }
    CBIT_MASK.store(mask, Ordering::Relaxed);
    BOOT_AREA.store(start_info, Ordering::Relaxed);
    ACTIVE.store(true, Ordering::Relaxed);
    let from_cpuid = cpuid_page::lookup(cpuid_page(), pte::CPUID_SEV_LEAF, 0, 1, 0)
        .ok()
        .and_then(|r| pte::cbit_from_cpuid(r.1))
        .map(pte::cbit_mask);
    if from_cpuid != Some(mask) {
        ghcb::terminate(Reason::CBitMismatch);
    }
    let info = msrp::parse_sev_info(ghcb::msr_call(msrp::sev_info_request()));
    if !info.is_some_and(|i| i.supports_v2() && pte::cbit_mask(i.cbit) == mask) {
        ghcb::terminate(Reason::Protocol);
    }
    let features = msrp::parse_hv_features(ghcb::msr_call(msrp::hv_features_request()));
    if features.is_none_or(|f| f & msrp::HV_FEATURE_SNP == 0) {
        ghcb::terminate(Reason::Protocol);
    }
    // SAFETY: boot, once, one CPU; the GHCB page is a kernel static nothing else uses. Then
    // the CPU tables, so the #VC handler is in place before the first intercepted instruction
    // (`crate::init` does not load them again).
    unsafe {
        ghcb::setup();
        crate::cpu::init(crate::layout::stack_top());
    }
}

/// The boot area under SNP, `[start, end)`: the machine must reserve it (the launch validated
/// it; the VMSA page in it is not even the guest's to touch). None on any other boot.
pub fn boot_area() -> Option<(usize, usize)> {
    let s = BOOT_AREA.load(Ordering::Relaxed);
    active().then_some((s, s + BOOT_AREA_PAGES * 4096))
}

/// The host inputs the kernel accepts (`litebox_snp_sev::host_rules` bits) when the SNP rules
/// apply (under SNP, or when the command line asked for them on another boot: `asked`, see
/// `litebox_snp_sev::host_rules::TOKEN`); None when they do not.
/// The record comes from the measured start-info page at `start_info`.
pub fn host_rules(start_info: usize, asked: bool) -> Option<u32> {
    if !litebox_snp_sev::host_rules::apply(active(), asked) {
        return None;
    }
    // SAFETY: the start info is a page of the boot area (reserved, in the direct map).
    let page = unsafe { core::slice::from_raw_parts(phys_to_virt(start_info) as *const u8, 4096) };
    Some(litebox_snp_sev::host_rules::parse(page))
}

/// Ends the guest through the GHCB termination request (what [`crate::Machine::exit`] falls
/// back to under SNP when the VMM ignored the exit port).
pub fn terminate_exit() -> ! {
    ghcb::terminate(Reason::Exit)
}
