//! Signal delivery on kvm. The state (dispositions, pending signals with their siginfo, the
//! real-time interval timer) and the `rt_sigframe` are the library OS's
//! (`litebox_libos::signal`, held by each process's `LibOs`); this file supplies what only the
//! kernel can: the interrupted registers and SSE state of the trapped thread, its mask (kept
//! by the scheduler), waiting, and the timer interrupt. When a syscall returns, the first
//! pending unblocked signal (the thread's own, from tgkill/tkill/rt_tgsigqueueinfo/
//! SIGEV_THREAD_ID, or the process's) with a handler gets a frame on the app's stack; `rt_sigreturn`
//! restores it. A signal with the default action ends the app with 128 + signal (or is
//! dropped if ignored by default).
use core::sync::atomic::Ordering;
use litebox_libos::errno::{Errno, EINVAL, ENOMEM, EPERM};
use litebox_libos::signal::{self as core_sig, bit, Handler, UserRegs, SA_NODEFER, SA_RESETHAND, SA_RESTORER};
use litebox_libos::LibOs;

use super::platform::Vm;
use super::proc;
use crate::trap::SyscallFrame;
use crate::{clock, sched};

pub use core_sig::SI_KERNEL;
use core_sig::{SA_RESTART, UNBLOCKABLE};

/// The running process's library OS.
fn os() -> &'static LibOs<Vm> {
    proc::current()
}

fn fire_timer() {
    os().signals.pending.lock().fire_timer(clock::monotonic_ns());
}

/// The armed timer's expiry (monotonic ns), if any.
pub fn timer_deadline() -> Option<u64> {
    os().signals.pending.lock().timer_deadline()
}

/// The lowest signal the running thread may take now: its own (thread-directed) or the
/// process's, not blocked by `mask`.
fn deliverable(mask: u64) -> Option<usize> {
    os().signals.pending.lock().deliverable_for(sched::current_tid(), mask)
}

/// Whether a signal is deliverable to the running thread now (a blocking call returns EINTR);
/// one the process ignores is discarded instead.
pub fn interrupted() -> bool {
    fire_timer();
    let mask = sched::sigmask();
    os().signals.drop_ignored(sched::current_tid(), mask);
    deliverable(mask).is_some()
}

fn regs_of(f: &SyscallFrame) -> UserRegs {
    UserRegs {
        r8: f.r8,
        r9: f.r9,
        r10: f.r10,
        r11: f.r11,
        r12: f.r12,
        r13: f.r13,
        r14: f.r14,
        r15: f.r15,
        rdi: f.rdi,
        rsi: f.rsi,
        rbp: f.rbp,
        rbx: f.rbx,
        rdx: f.rdx,
        rax: f.rax,
        rcx: f.rcx,
        rsp: f.rsp,
        rip: f.rip,
        rflags: f.rflags,
    }
}

fn set_regs(f: &mut SyscallFrame, r: &UserRegs) {
    (f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15) = (r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15);
    (f.rdi, f.rsi, f.rbp, f.rbx, f.rdx, f.rax, f.rcx, f.rsp) = (r.rdi, r.rsi, r.rbp, r.rbx, r.rdx, r.rax, r.rcx, r.rsp);
    (f.rip, f.rflags) = (r.rip, r.rflags);
}

/// The thread's FXSAVE area: it sits right below its frame on its kernel stack (trap.rs).
fn fx_area(f: &mut SyscallFrame) -> &mut [u8; 512] {
    // SAFETY: the syscall entry saves the SSE state in the 512 bytes below the frame.
    unsafe { &mut *((f as *mut SyscallFrame as *mut u8).sub(512) as *mut [u8; 512]) }
}

const SIGKILL: usize = 9;
const SIGXCPU: usize = 24;

/// RLIMIT_CPU: once the process's CPU time reaches the soft limit SIGXCPU is made pending,
/// and again every second after; at the hard limit SIGKILL.
fn check_cpu_limit(vm: &Vm) {
    let lim = &vm.cpu_limit;
    let (next, hard) = (lim.next.load(Ordering::Relaxed), lim.hard.load(Ordering::Relaxed));
    if next == u64::MAX && hard == u64::MAX {
        return;
    }
    let cpu = sched::cpu_ns(vm.pid);
    if cpu >= hard {
        os().signals.pending.lock().raise(SIGKILL, SI_KERNEL, 0);
    } else if cpu >= next {
        lim.next.store(next.saturating_add(1_000_000_000), Ordering::Relaxed);
        os().signals.pending.lock().raise(SIGXCPU, SI_KERNEL, 0);
    }
}

const SA_ONSTACK: u64 = 0x0800_0000;
const SS_ONSTACK: usize = 1;
const SS_DISABLE: usize = 2;
const SS_AUTODISARM: usize = 1 << 31;
const MINSIGSTKSZ: usize = 2048;

/// Whether `sp` lies on the running thread's alternate signal stack.
fn on_stack(sp: usize) -> bool {
    let [base, flags, size] = sched::altstack();
    flags & SS_DISABLE == 0 && sp > base && sp <= base + size
}

/// sigaltstack(2) for the running thread: `new` and `old` are `stack_t` pointers in app memory
/// (0 for none), `sp` the app's stack pointer at the call. EPERM to change it while on it,
/// EINVAL for unknown flags, ENOMEM below MINSIGSTKSZ. SS_AUTODISARM is kept, not acted on.
pub fn sigaltstack(new: usize, old: usize, sp: usize) -> Result<usize, Errno> {
    let incoming: Option<[u64; 3]> = if new != 0 { Some(litebox_libos::user::read(new)?) } else { None };
    let [base, flags, size] = sched::altstack();
    if old != 0 {
        let shown = if on_stack(sp) { SS_ONSTACK } else { flags };
        litebox_libos::user::write(old, &[base as u64, shown as u32 as u64, size as u64])?;
    }
    if let Some([nbase, nflags, nsize]) = incoming {
        let nflags = nflags as u32 as usize;
        if on_stack(sp) {
            return Err(EPERM);
        }
        if nflags & !(SS_DISABLE | SS_AUTODISARM) != 0 {
            return Err(EINVAL);
        }
        if nflags & SS_DISABLE != 0 {
            sched::set_altstack(sched::NO_ALTSTACK);
        } else {
            if (nsize as usize) < MINSIGSTKSZ {
                return Err(ENOMEM);
            }
            sched::set_altstack([nbase as usize, nflags, nsize as usize]);
        }
    }
    Ok(0)
}

/// Delivers pending signals before the thread returns to the app (`f` is its syscall frame).
pub fn deliver(vm: &Vm, f: &mut SyscallFrame) {
    deliver_after_call(vm, f, None);
}

/// [`deliver`] after syscall `call` (its number) returned: if it was interrupted (EINTR) and
/// the handler that runs now has SA_RESTART, the call is made again when the handler returns
/// (its frame goes back to the `syscall` instruction with the number in rax), as Linux does.
pub fn deliver_after_call(vm: &Vm, f: &mut SyscallFrame, call: Option<u64>) {
    check_cpu_limit(vm);
    let os = os();
    if os.signals.pending.quiet() {
        // Nothing pending and no timer (a raise by the CPU limit above included): no timer
        // to fire, no signal to take, without the lock.
        return;
    }
    fire_timer();
    let Some(sig) = deliverable(sched::sigmask()) else { return };
    let info = os.signals.pending.lock().take_for(sched::current_tid(), sig);
    let act = os.signals.actions.lock().get(sig);
    if os.signals.actions.lock().ignored(sig) {
        // Dropped; the next pending one (if any) is looked at now, not at the next call.
        return deliver_after_call(vm, f, call);
    }
    if act.handler == 0 && super::stop::is_stop(sig) {
        // The default action of a stop signal: stopped until SIGCONT, then what woke it.
        super::stop::stop(vm.pid, sig);
        return deliver_after_call(vm, f, call);
    }
    if act.handler == 0 || act.flags & SA_RESTORER == 0 {
        proc::exit(sig as i32);
    }
    let interrupted = f.rax as i64 == -(litebox_libos::errno::EINTR as i64);
    let args = [f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9].map(|v| v as usize);
    let restarts = |n: &u64| litebox_libos::signal::restarted_with_sa_restart(*n as usize, &args);
    if let Some(nr) = call.filter(|n| interrupted && act.flags & SA_RESTART != 0 && restarts(n)) {
        // Back to the 2-byte `syscall` instruction (kvm does not rewrite syscall sites).
        f.rax = nr;
        f.rip -= 2;
    }
    let old_mask = sched::take_saved_mask().unwrap_or_else(sched::sigmask);
    let h = Handler { sig, info, pid: vm.pid, handler: act.handler, restorer: act.restorer, old_mask };
    let mut regs = regs_of(f);
    let fx = *fx_area(f);
    // SA_ONSTACK: the frame goes on the alternate stack, unless the thread is on it already.
    let [base, flags, size] = sched::altstack();
    let top = if act.flags & SA_ONSTACK != 0 && flags & SS_DISABLE == 0 && !on_stack(regs.rsp as usize) {
        (base + size) as u64
    } else {
        regs.rsp
    };
    let stack = [base as u64, (if on_stack(top as usize) { SS_ONSTACK } else { flags }) as u64, size as u64];
    if core_sig::push_frame_at(&mut regs, &fx, &h, top, stack).is_err() {
        proc::exit(11);
    }
    set_regs(f, &regs);
    let mut m = old_mask | act.mask;
    if act.flags & SA_NODEFER == 0 {
        m |= bit(sig);
    }
    sched::set_sigmask(m & !UNBLOCKABLE);
    if act.flags & SA_RESETHAND != 0 {
        os.signals.actions.lock().set(sig, Default::default());
    }
}

/// rt_sigreturn: restores the registers, SSE state and mask saved by [`deliver`].
pub fn sigreturn(f: &mut SyscallFrame) {
    let mut regs = regs_of(f);
    let mut fx = *fx_area(f);
    match core_sig::restore_frame(&mut regs, &mut fx) {
        Ok(mask) => {
            set_regs(f, &regs);
            *fx_area(f) = fx;
            sched::set_sigmask(mask);
        }
        Err(_) => proc::exit(11),
    }
}
