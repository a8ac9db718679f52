//! Whether the CPU executes the SHA extensions, learned without CPUID.
//!
//! The image's SHA-256 digests (core/image `sha256.rs`) run on the SHA extensions where the CPU
//! has them. Asking CPUID costs a trap to the hypervisor in a virtual machine: 4-9 µs a call on
//! the benchmark VM, three calls in the `sha2` crate's detection, all in the supervisor's start
//! before anything else can run. Instead, the supervisor executes one instruction of each
//! extension the SHA-256 code uses (SSSE3, SSE4.1, SHA) under a SIGILL handler of its own: a CPU
//! without one of them raises SIGILL, the handler moves the saved instruction pointer past the
//! probe, and the answer is "no". About 1 µs: four host calls (SIGILL unblocked and a handler
//! installed, then both restored). Every process of the sandbox inherits the answer through
//! `fork`.
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::signals::{KSigaction, SA_RESTORER, SA_SIGINFO};
use crate::sys;

const SIGILL: usize = 4;
// Written here, not taken from sys.rs: tests/cpuprobe.rs builds this file with a `sys` of its own.
const SIG_UNBLOCK: usize = 1;
const SIG_SETMASK: usize = 2;

/// Where the handler resumes a probe that faulted (the probe's "no" label).
static RESUME: AtomicUsize = AtomicUsize::new(0);

/// Offset of the saved instruction pointer in the `ucontext_t` a SA_SIGINFO handler gets on
/// x86_64: `uc_flags` (8), `uc_link` (8), `uc_stack` (24), then `mcontext_t`'s `gregs`, whose
/// `REG_RIP` is entry 16.
const UC_RIP: usize = 40 + 16 * 8;

/// The probe's SIGILL handler: resumes the probe at its "no" label. A SIGILL that is not the
/// probe's (no label set) gets the default action back, so the faulting instruction, run again
/// on return, ends the process as it would have without the handler (never a loop).
extern "C" fn on_sigill(_sig: i32, _info: usize, uc: usize) {
    let resume = RESUME.load(Ordering::Relaxed);
    if resume == 0 {
        let dfl = KSigaction::default();
        let size = core::mem::size_of::<u64>();
        sys::syscall6(sys::RT_SIGACTION, SIGILL, &dfl as *const KSigaction as usize, 0, size, 0, 0);
        return;
    }
    // SAFETY: `uc` is the kernel's ucontext_t for this signal, on this thread's stack, and the
    // saved RIP lies at UC_RIP in it; rt_sigreturn resumes at what is stored there.
    unsafe { ((uc + UC_RIP) as *mut usize).write(resume) };
}

/// Whether the CPU executes SSSE3, SSE4.1 and the SHA extensions: executes one instruction of
/// each under a SIGILL handler (module docs). Restores the signal's action and the signal mask
/// as they were. Promises: `true` only if all three instructions ran.
pub fn sha_extensions() -> bool {
    runs(Probe::Sha)
}

/// What [`runs`] executes.
#[derive(Clone, Copy)]
enum Probe {
    /// `pshufb`, `pblendw`, `sha256rnds2`.
    Sha,
    /// `ud2`, which no CPU executes (the tests' "no").
    #[cfg_attr(not(test), allow(dead_code))]
    Undefined,
}

/// The probe around the instructions: sets `$ran` (a `usize`) to 1 if they all ran, 0 if one
/// raised SIGILL (the handler resumes at label 2, which RESUME holds before the first of them).
macro_rules! probe_asm {
    ($ran:ident: $($insn:literal),+) => {
        core::arch::asm!(
            "xor {ran:e}, {ran:e}",
            "lea {tmp}, [rip + 2f]",
            "mov [{resume}], {tmp}",
            $($insn,)+
            "mov {ran:e}, 1",
            "2:",
            ran = out(reg) $ran,
            tmp = out(reg) _,
            resume = in(reg) RESUME.as_ptr(),
            out("xmm0") _,
            out("xmm1") _,
            out("xmm2") _,
            options(nostack),
        )
    };
}

/// Executes `probe` under the SIGILL handler: true if it ran without SIGILL.
fn runs(probe: Probe) -> bool {
    let act = KSigaction {
        handler: on_sigill as *const () as usize,
        flags: SA_SIGINFO | SA_RESTORER,
        restorer: sys::litebox_restorer as *const () as usize,
        mask: 0,
    };
    let mut old = KSigaction::default();
    let size = core::mem::size_of::<u64>();
    if sys::check(sys::syscall6(
        sys::RT_SIGACTION,
        SIGILL,
        &act as *const KSigaction as usize,
        &mut old as *mut KSigaction as usize,
        size,
        0,
        0,
    ))
    .is_err()
    {
        return false;
    }
    // A SIGILL raised while blocked would end the process, whatever the handler: unblocked
    // for the probe, and the mask the process started with put back after it.
    let unblock: u64 = 1 << (SIGILL - 1);
    let mut mask: u64 = 0;
    let unblocked = sys::check(sys::syscall6(
        sys::RT_SIGPROCMASK,
        SIG_UNBLOCK,
        &unblock as *const u64 as usize,
        &mut mask as *mut u64 as usize,
        size,
        0,
        0,
    ))
    .is_ok();
    let ran: usize;
    if unblocked {
        // SAFETY: the instructions only read and write xmm0-xmm2 (declared clobbered); a CPU
        // that lacks one raises SIGILL, whose handler (installed above, signal unblocked)
        // resumes at label 2 with `ran` still 0. RESUME is written before the first of them.
        unsafe {
            match probe {
                Probe::Sha => probe_asm!(ran: "pshufb xmm1, xmm2", "pblendw xmm1, xmm2, 0", "sha256rnds2 xmm1, xmm2"),
                Probe::Undefined => probe_asm!(ran: "ud2"),
            }
        }
        RESUME.store(0, Ordering::Relaxed);
        sys::syscall6(sys::RT_SIGPROCMASK, SIG_SETMASK, &mask as *const u64 as usize, 0, size, 0, 0);
    } else {
        ran = 0;
    }
    sys::syscall6(sys::RT_SIGACTION, SIGILL, &old as *const KSigaction as usize, 0, size, 0, 0);
    ran == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;

    /// One test, not two: the probe installs a process-wide handler and uses one resume
    /// label, made for the single-threaded start; the harness would run two tests at once.
    #[test]
    fn absent_instructions_read_as_absent_and_sha_is_found_where_cpuid_reports_it() {
        assert!(!runs(Probe::Undefined));
        // The handler and the mask are put back: a second probe behaves the same.
        assert!(!runs(Probe::Undefined));
        let cpuid = std::is_x86_feature_detected!("sha")
            && std::is_x86_feature_detected!("ssse3")
            && std::is_x86_feature_detected!("sse4.1");
        assert_eq!(sha_extensions(), cpuid);
    }
}
