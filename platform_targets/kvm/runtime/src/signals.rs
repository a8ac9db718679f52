//! Signals of a process: those it sends itself (kill, tgkill, sigqueue) or another process of
//! the app sends it (kill), SIGPIPE, SIGCHLD, and the real-time interval timer
//! (setitimer ITIMER_REAL, alarm), delivered to the app's handlers the way Linux does on
//! x86-64: when a syscall returns, the first pending unblocked signal with a handler gets an
//! `rt_sigframe` (return address = the sa_restorer, ucontext with the interrupted registers,
//! SSE state and mask, siginfo) on the app's stack; `rt_sigreturn` restores it. A signal with
//! the default action ends the app with 128 + signal (or is dropped if ignored by default).
use litebox_libos::errno::*;
use litebox_libos::sync::SpinMutex;
use litebox_libos::user;

use crate::trap::SyscallFrame;
use crate::{clock, sched, south};

const SA_RESTORER: u64 = 0x0400_0000;
const SA_NODEFER: u64 = 0x4000_0000;
const SA_RESETHAND: u64 = 0x8000_0000;
pub const SI_USER: i32 = 0;
pub const SI_TKILL: i32 = -6;
/// si_code of a signal the kernel sends (a terminal's Ctrl-C, timers).
pub const SI_KERNEL: i32 = 0x80;
const SIGALRM: usize = 14;
const UNBLOCKABLE: u64 = (1 << 8) | (1 << 18); // SIGKILL, SIGSTOP (bit = sig - 1)

#[derive(Clone, Copy, Default)]
struct Info {
    code: i32,
    value: u64,
}

/// One process's pending signals and interval timer (held by its platform, `south::Vm`).
pub struct State {
    pending: u64,
    info: [Info; 65],
    /// ITIMER_REAL: next expiry (monotonic ns, 0 = disarmed) and interval (ns).
    timer_at: u64,
    timer_every: u64,
}

impl State {
    /// Nothing pending, no timer (a new process).
    pub fn new() -> SpinMutex<Self> {
        SpinMutex::new(State { pending: 0, info: [Info { code: 0, value: 0 }; 65], timer_at: 0, timer_every: 0 })
    }

    /// Disarms the interval timer (the process exited).
    pub fn stop_timer(&mut self) {
        self.timer_at = 0;
    }
}

/// The running process's state.
fn state() -> &'static SpinMutex<State> {
    &crate::proc::current().platform.sig
}

fn bit(sig: usize) -> u64 {
    1u64 << (sig - 1)
}

/// Marks `sig` pending for the process (a second one before delivery merges, as Linux does for
/// standard signals).
pub fn raise(sig: usize, code: i32, value: u64) {
    raise_in(&crate::proc::current().platform, sig, code, value)
}

/// Marks `sig` pending for the process whose platform is `vm`.
pub fn raise_in(vm: &south::Vm, sig: usize, code: i32, value: u64) {
    if sig == 0 || sig > 64 {
        return;
    }
    let mut s = vm.sig.lock();
    s.pending |= bit(sig);
    s.info[sig] = Info { code, value };
}

/// The pending set.
pub fn pending() -> u64 {
    state().lock().pending
}

fn fire_timer() {
    let mut s = state().lock();
    if s.timer_at != 0 && clock::monotonic_ns() >= s.timer_at {
        s.timer_at = if s.timer_every != 0 { clock::monotonic_ns() + s.timer_every } else { 0 };
        s.pending |= bit(SIGALRM);
        s.info[SIGALRM] = Info { code: SI_KERNEL, value: 0 };
    }
}

/// The armed timer's expiry (monotonic ns), if any.
pub fn timer_deadline() -> Option<u64> {
    let s = state().lock();
    (s.timer_at != 0).then_some(s.timer_at)
}

/// setitimer(ITIMER_REAL): arms (or with 0 disarms) the timer; returns the old (value, interval).
pub fn set_timer(value_ns: u64, every_ns: u64) -> (u64, u64) {
    let mut s = state().lock();
    let now = clock::monotonic_ns();
    let old = (if s.timer_at != 0 { s.timer_at.saturating_sub(now).max(1) } else { 0 }, s.timer_every);
    s.timer_at = if value_ns != 0 { now + value_ns } else { 0 };
    s.timer_every = every_ns;
    drop(s);
    if value_ns != 0 {
        // The timer interrupt delivers SIGALRM to an app that spins without syscalls.
        crate::apic::start_timer();
    }
    old
}

/// (time left, interval) of ITIMER_REAL, in ns.
pub fn get_timer() -> (u64, u64) {
    let s = state().lock();
    let now = clock::monotonic_ns();
    (if s.timer_at != 0 { s.timer_at.saturating_sub(now).max(1) } else { 0 }, s.timer_every)
}

fn deliverable(mask: u64) -> Option<usize> {
    let p = state().lock().pending & !(mask & !UNBLOCKABLE);
    (p != 0).then(|| p.trailing_zeros() as usize + 1)
}

/// Whether a signal is deliverable to the running thread now (a blocking call returns EINTR).
pub fn interrupted() -> bool {
    fire_timer();
    deliverable(sched::sigmask()).is_some()
}

/// rt_sigsuspend / pause: waits (running other threads) until a signal is deliverable under
/// `mask`; the caller returns EINTR and the delivery restores the thread's own mask afterwards.
pub fn suspend(mask: Option<u64>) -> Errno {
    if let Some(m) = mask {
        sched::suspend_mask(m);
    }
    loop {
        fire_timer();
        if deliverable(sched::sigmask()).is_some() {
            return EINTR;
        }
        // A signal may also come from outside (the runner's Ctrl-C): look for it now and then.
        let outside = crate::control::listening().then(|| crate::clock::monotonic_ns() + crate::control::POLL_NS);
        sched::wait_event([timer_deadline(), outside].into_iter().flatten().min());
    }
}

fn read_u64(b: &[u8; 32], i: usize) -> u64 {
    u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]))
}

/// Whether `sig` sent to `vm`'s process would end it (SIGKILL, or the default action of a
/// signal that terminates by default).
pub fn fatal_for(vm: &south::Vm, sig: usize) -> bool {
    let handler = read_u64(&vm.actions.lock()[sig], 0);
    sig == 9 || (handler == 0 && !matches!(sig, 17 | 18 | 23 | 28))
}

/// Whether a signal that will end the running process is pending and unblocked.
pub fn fatal_pending() -> bool {
    let vm = &crate::proc::current().platform;
    let p = vm.sig.lock().pending & !(sched::sigmask() & !UNBLOCKABLE);
    (1..=64).any(|s| p & bit(s) != 0 && fatal_for(vm, s))
}

/// Delivers pending signals before the thread returns to the app (`f` is its syscall frame).
pub fn deliver(os: &south::Vm, f: &mut SyscallFrame) {
    fire_timer();
    let Some(sig) = deliverable(sched::sigmask()) else { return };
    let info = {
        let mut s = state().lock();
        s.pending &= !bit(sig);
        s.info[sig]
    };
    let act = os.actions.lock()[sig];
    let (handler, flags, restorer, sa_mask) =
        (read_u64(&act, 0), read_u64(&act, 1), read_u64(&act, 2), read_u64(&act, 3));
    if handler == 1 || (handler == 0 && matches!(sig, 17 | 18 | 23 | 28)) {
        return; // ignored
    }
    if handler == 0 || flags & SA_RESTORER == 0 {
        crate::proc::exit(sig as i32);
    }
    // SA_ONSTACK is not honoured: the frame always goes on the app's current stack. Handlers
    // always get (sig, siginfo, ucontext), which is also right for the one-argument kind.
    let old_mask = sched::take_saved_mask().unwrap_or_else(sched::sigmask);
    if push_frame(f, os.pid, sig, info, handler, restorer, old_mask).is_err() {
        crate::proc::exit(11);
    }
    let mut m = old_mask | sa_mask;
    if flags & SA_NODEFER == 0 {
        m |= bit(sig);
    }
    sched::set_sigmask(m & !UNBLOCKABLE);
    if flags & SA_RESETHAND != 0 {
        os.actions.lock()[sig] = [0; 32];
    }
}

// The frame, from the new stack pointer up: return address (8), ucontext (304), siginfo (128),
// then the 512-byte FXSAVE area, 64-aligned.
const UC: usize = 8;
const INFO: usize = UC + 304;
const FRAME: usize = INFO + 128;

#[allow(clippy::too_many_arguments)]
fn push_frame(
    f: &mut SyscallFrame,
    pid: i32,
    sig: usize,
    info: Info,
    handler: u64,
    restorer: u64,
    mask: u64,
) -> Result<(), Errno> {
    let fx_at = ((f.rsp as usize).checked_sub(128 + 512).ok_or(EFAULT)?) & !63;
    let sp = ((fx_at - FRAME) & !15) - 8;
    // SAFETY: the thread's SSE state sits right below its frame on its kernel stack (trap.rs).
    let fx = unsafe { core::slice::from_raw_parts((f as *const SyscallFrame as *const u8).sub(512), 512) };
    user::slice_mut(fx_at, 512)?.copy_from_slice(fx);
    user::write(sp, &restorer)?;
    let mut uc = [0u64; 38];
    // uc_flags, uc_link, uc_stack (3 words), then sigcontext at word 5.
    let regs = [
        f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15, f.rdi, f.rsi, f.rbp, f.rbx, f.rdx, f.rax, f.rcx, f.rsp,
        f.rip, f.rflags,
    ];
    uc[5..23].copy_from_slice(&regs);
    uc[23] = 0x1b_u64 << 48 | 0x23; // cs, gs, fs, ss
    uc[26] = mask; // oldmask (then err, trapno before it stay 0; cr2 after it)
    uc[28] = fx_at as u64; // fpstate
    uc[37] = mask; // uc_sigmask
    user::write(sp + UC, &uc)?;
    let mut si = [0u8; 128];
    si[0..4].copy_from_slice(&(sig as i32).to_le_bytes());
    si[8..12].copy_from_slice(&info.code.to_le_bytes());
    si[16..20].copy_from_slice(&pid.to_le_bytes());
    si[24..32].copy_from_slice(&info.value.to_le_bytes());
    user::write(sp + INFO, &si)?;
    f.rsp = sp as u64;
    f.rip = handler;
    f.rdi = sig as u64;
    f.rsi = (sp + INFO) as u64;
    f.rdx = (sp + UC) as u64;
    f.rax = 0;
    Ok(())
}

/// rt_sigreturn: restores the registers, SSE state and mask saved by [`deliver`]. The frame's
/// ucontext is at the app's stack pointer (the handler's `ret` popped the return address).
pub fn sigreturn(f: &mut SyscallFrame) {
    let uc_at = f.rsp as usize;
    let Ok(uc) = user::read::<[u64; 38]>(uc_at) else { crate::proc::exit(11) };
    let r = &uc[5..23];
    let canonical = |v: u64| v < 0x0000_8000_0000_0000;
    if !canonical(r[16]) || !canonical(r[15]) {
        crate::proc::exit(11);
    }
    (f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15) = (r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    (f.rdi, f.rsi, f.rbp, f.rbx, f.rdx, f.rax, f.rcx, f.rsp) = (r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
    f.rip = r[16];
    // Only the flags an app may set (CF PF AF ZF SF TF DF OF, AC, ID); IF stays set.
    f.rflags = (r[17] & 0x0025_4dd5) | 0x202;
    let fp = uc[28] as usize;
    if fp != 0 {
        if let Ok(mut area) = user::read::<[u8; 512]>(fp) {
            // MXCSR (offset 24) with reserved bits set would fault FXRSTOR in the kernel.
            let mx = u32::from_le_bytes(area[24..28].try_into().unwrap_or([0; 4])) & 0xffbf;
            area[24..28].copy_from_slice(&mx.to_le_bytes());
            // SAFETY: the thread's SSE save area lies right below its frame (trap.rs).
            let dst = unsafe { (f as *mut SyscallFrame as *mut u8).sub(512) };
            // SAFETY: as above; 512 bytes, not overlapping the user copy.
            unsafe { core::ptr::copy_nonoverlapping(area.as_ptr(), dst, 512) };
        }
    }
    sched::set_sigmask(uc[37] & !UNBLOCKABLE);
}
