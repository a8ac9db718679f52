//! Talking to the hypervisor: the GHCB MSR protocol (before the GHCB page exists, and for
//! termination) and exits through the shared GHCB page. One CPU, interrupts off in the kernel:
//! one exit at a time, and nothing that runs during an exit causes another.
use core::arch::asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use litebox_snp_sev::ghcb::{off, Ghcb};
use litebox_snp_sev::msr_protocol::{self as msrp, Reason};

use crate::layout::{phys_to_virt, KERNEL_VMA};
use crate::port::{rdmsr, wrmsr};

#[repr(C, align(4096))]
struct Page([u8; 4096]);

/// The GHCB: a page of the kernel image (validated by the launch) made shared at boot.
static mut GHCB_PAGE: Page = Page([0; 4096]);

/// Physical address of the GHCB (0 until [`setup`]).
static GHCB_PA: AtomicUsize = AtomicUsize::new(0);

/// VMGEXIT (`rep vmmcall`): hands control to the hypervisor, which reads the GHCB MSR.
fn vmgexit() {
    // SAFETY: VMGEXIT has no effect on guest memory the compiler knows of; the hypervisor
    // writes only the GHCB (a shared page read through volatile accesses) and the GHCB MSR.
    unsafe { asm!(".byte 0xf3, 0x0f, 0x01, 0xd9", options(nostack)) };
}

/// One MSR-protocol request: writes `req` to the GHCB MSR, exits, returns the MSR's response.
/// The MSR is restored to the GHCB's address afterwards when a GHCB is registered.
pub fn msr_call(req: u64) -> u64 {
    // SAFETY: the GHCB MSR is the guest's own mailbox to the hypervisor; no kernel state in it.
    unsafe { wrmsr(msrp::MSR_GHCB, req) };
    vmgexit();
    let v = rdmsr(msrp::MSR_GHCB);
    let pa = GHCB_PA.load(Ordering::Relaxed);
    if pa != 0 {
        // SAFETY: as above.
        unsafe { wrmsr(msrp::MSR_GHCB, pa as u64) };
    }
    v
}

/// Asks the hypervisor to end the guest (reason set 1, LiteBox's reasons); never returns.
pub fn terminate(reason: Reason) -> ! {
    loop {
        // SAFETY: as in `msr_call`.
        unsafe { wrmsr(msrp::MSR_GHCB, msrp::termination_request(msrp::REASON_SET_LITEBOX, reason as u8)) };
        vmgexit();
        // SAFETY: a hypervisor that ignores the request gets a halted CPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Makes the GHCB page shared (rescind its validation, page-state change by the MSR protocol,
/// clear its C-bit in the boot page tables) and registers its address with the hypervisor.
///
/// # Safety
/// Call once, from [`super::early`].
pub unsafe fn setup() {
    let va = (&raw const GHCB_PAGE) as usize;
    let pa = va - KERNEL_VMA;
    // SAFETY: per the contract; the page is the kernel's own static, unused until now.
    unsafe { super::mem::share_page_early(pa) };
    if !msrp::register_ghcb_ok(msr_call(msrp::register_ghcb_request((pa / 4096) as u64)), (pa / 4096) as u64) {
        terminate(Reason::GhcbFailed);
    }
    GHCB_PA.store(pa, Ordering::Relaxed);
    // SAFETY: as in `msr_call`.
    unsafe { wrmsr(msrp::MSR_GHCB, pa as u64) };
}

/// Physical address of the GHCB's shared buffer (`SW_SCRATCH` for exits that use it).
pub fn buffer_pa() -> u64 {
    (GHCB_PA.load(Ordering::Relaxed) + off::SHARED_BUFFER) as u64
}

/// Runs one GHCB exit: `fill` writes the request (the page is cleared first), the exit is
/// taken, `read` sees the hypervisor's answer. Terminates the guest if no GHCB is registered.
pub fn call<R>(fill: impl FnOnce(&mut Ghcb<'_>), read: impl FnOnce(&mut Ghcb<'_>) -> R) -> R {
    let pa = GHCB_PA.load(Ordering::Relaxed);
    if pa == 0 {
        terminate(Reason::GhcbFailed);
    }
    // SAFETY: the GHCB is a shared page mapped (without the C-bit) in the direct map; one exit
    // at a time (one CPU, no exit while another is in flight), so this is the only reference.
    let page = unsafe { &mut *(phys_to_virt(pa) as *mut [u8; 4096]) };
    let mut g = Ghcb::new(page);
    g.clear();
    fill(&mut g);
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
    // SAFETY: as in `msr_call`.
    unsafe { wrmsr(msrp::MSR_GHCB, pa as u64) };
    vmgexit();
    core::sync::atomic::compiler_fence(Ordering::SeqCst);
    read(&mut g)
}

/// A simple exit with `rax` (and `rcx`, `rdx` when given) in, returning the GHCB's RAX, RBX,
/// RCX, RDX after it (each 0 when the hypervisor did not mark it valid); terminates the guest
/// when the hypervisor reports an error.
pub fn exit_regs(code: u64, info1: u64, info2: u64, rax: u64, rcx: Option<u64>, rdx: Option<u64>) -> [u64; 4] {
    call(
        |g| {
            g.set(off::RAX, rax);
            if let Some(v) = rcx {
                g.set(off::RCX, v);
            }
            if let Some(v) = rdx {
                g.set(off::RDX, v);
            }
            g.set_u8(off::CPL, 0);
            g.set_exit(code, info1, info2);
        },
        |g| {
            if g.result().is_err() {
                terminate(Reason::GhcbFailed);
            }
            let get = |g: &Ghcb<'_>, o| if g.is_valid(o) { g.get(o) } else { 0 };
            [get(g, off::RAX), get(g, off::RBX), get(g, off::RCX), get(g, off::RDX)]
        },
    )
}
