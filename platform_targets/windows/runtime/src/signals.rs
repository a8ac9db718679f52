//! Signal delivery on Windows. The state (dispositions, pending signals with their siginfo,
//! the real-time interval timer) and the x86-64 `rt_sigframe` are the library OS's
//! (`litebox_libos::signal`); this file supplies what the platform must: the interrupted
//! registers and SSE state of the thread at the end of a call, its mask, its alternate stack,
//! and the switch to a handler and back.
//!
//! A signal reaches a thread when one of its calls returns (the rewritten site's return path)
//! or interrupts a blocking call (EINTR). Then the first pending unblocked signal with a
//! handler gets a frame on the app's stack (or its alternate stack with SA_ONSTACK) and the
//! entry resumes the thread in the handler; the handler's `rt_sigreturn` (glibc's restorer, a
//! rewritten site too) puts every register back. A signal whose action is the default one
//! ends the process with 128 + N (as a shell reports a death by signal N); an ignored one is
//! dropped. A thread that makes no call is not interrupted (no asynchronous delivery).
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use litebox_libos::errno::{Errno, EINVAL, ENOMEM, EPERM};
use litebox_libos::signal::{self as core_sig, bit, Handler, UserRegs, SA_NODEFER, SA_RESETHAND, SA_RESTORER};
use litebox_libos::LibOs;

use crate::fastpath::{self, Frame, RETURN_CONTEXT, RETURN_DELIVER};
use crate::host::WinHost;

const SA_ONSTACK: u64 = 0x0800_0000;
const SS_ONSTACK: i32 = 1;
const SS_DISABLE: i32 = 2;
const SS_AUTODISARM: i32 = 1 << 31;
const MINSIGSTKSZ: usize = 2048;

/// The full context a thread resumes with on the entry's slow way: the FXSAVE image at offset
/// 0, then the registers (`UserRegs`, sigcontext order) at offset 512.
#[repr(C, align(64))]
pub struct Context {
    fx: core::cell::UnsafeCell<[u8; 512]>,
    regs: core::cell::UnsafeCell<UserRegs>,
}

// SAFETY: a Context belongs to one thread (its ThreadData) and only that thread touches it.
unsafe impl Sync for Context {}

impl Context {
    /// A new context for one thread, leaked: it lives as long as the thread may run.
    pub fn new_leaked() -> &'static Context {
        alloc::boxed::Box::leak(alloc::boxed::Box::new(Context {
            fx: core::cell::UnsafeCell::new([0; 512]),
            regs: core::cell::UnsafeCell::new(UserRegs::default()),
        }))
    }
    fn fx(&self) -> [u8; 512] {
        // SAFETY: only the owning thread uses its context, never reentrantly.
        unsafe { *self.fx.get() }
    }
    fn set_fx(&self, fx: &[u8; 512]) {
        // SAFETY: as for fx.
        unsafe { *self.fx.get() = *fx }
    }
    fn set_regs(&self, regs: &UserRegs) {
        // SAFETY: as for fx.
        unsafe { *self.regs.get() = *regs }
    }
}

/// One thread's sigaltstack: base, size and flags (SS_DISABLE when none).
#[repr(C)]
pub struct AltStack {
    sp: AtomicUsize,
    size: AtomicUsize,
    flags: AtomicU32,
}

impl Default for AltStack {
    fn default() -> Self {
        AltStack { sp: AtomicUsize::new(0), size: AtomicUsize::new(0), flags: AtomicU32::new(SS_DISABLE as u32) }
    }
}

impl AltStack {
    fn on(&self, sp: usize) -> bool {
        let (base, size) = (self.sp.load(Ordering::Relaxed), self.size.load(Ordering::Relaxed));
        self.flags.load(Ordering::Relaxed) as i32 & SS_DISABLE == 0 && sp > base && sp <= base + size
    }
}

/// sigaltstack(2) for the calling thread (`new`, `old`: `stack_t` pointers in app memory or
/// 0; `sp`: the app's stack pointer at the call).
pub fn sigaltstack(new: usize, old: usize, sp: usize) -> Result<usize, Errno> {
    let alt = &fastpath::current().altstack;
    let on = alt.on(sp);
    let incoming: Option<[u64; 3]> = if new != 0 { Some(litebox_libos::user::read(new)?) } else { None };
    if old != 0 {
        let flags = if on { SS_ONSTACK } else { alt.flags.load(Ordering::Relaxed) as i32 };
        let cur = [alt.sp.load(Ordering::Relaxed) as u64, flags as u32 as u64, alt.size.load(Ordering::Relaxed) as u64];
        litebox_libos::user::write(old, &cur)?;
    }
    if let Some([base, flags, size]) = incoming {
        let flags = flags as u32 as i32;
        if on {
            return Err(EPERM);
        }
        if flags & !(SS_DISABLE | SS_AUTODISARM) != 0 {
            return Err(EINVAL);
        }
        if flags & SS_DISABLE != 0 {
            alt.flags.store(SS_DISABLE as u32, Ordering::Relaxed);
            alt.sp.store(0, Ordering::Relaxed);
            alt.size.store(0, Ordering::Relaxed);
        } else {
            if (size as usize) < MINSIGSTKSZ {
                return Err(ENOMEM);
            }
            alt.sp.store(base as usize, Ordering::Relaxed);
            alt.size.store(size as usize, Ordering::Relaxed);
            alt.flags.store(flags as u32, Ordering::Relaxed);
        }
    }
    Ok(0)
}

/// The calling thread's mask.
fn mask() -> u64 {
    fastpath::current().sigmask.load(Ordering::Relaxed) as u64
}

/// The calling thread's id: signals sent to it (tgkill, raise, SIGEV_THREAD_ID timers) are
/// pending for it alone, beside the process's (`Pending::deliverable_for`).
fn tid() -> i32 {
    fastpath::current().tid
}

/// Whether a signal that is neither blocked nor ignored is pending for the calling thread
/// (the interval timer fired first if due): a blocking call then ends with EINTR.
pub fn interrupted(os: &LibOs<WinHost>) -> bool {
    os.signals.pending.lock().fire_timer(os.monotonic_ns());
    let mask = mask();
    os.signals.drop_ignored(tid(), mask);
    os.signals.pending.lock().deliverable_for(tid(), mask).is_some()
}

/// The interval timer's expiry (monotonic ns), if armed: blocking calls wake then.
pub fn timer_deadline(os: &LibOs<WinHost>) -> Option<u64> {
    os.signals.pending.lock().timer_deadline()
}

/// At the end of every call but rt_sigreturn: ignored pending signals are dropped, one with
/// the default action ends the process, and one with a handler makes the call return through
/// [`litebox_win_deliver`].
pub fn after_call(os: &LibOs<WinHost>) {
    if !interrupted(os) {
        return;
    }
    let Some(sig) = os.signals.pending.lock().deliverable_for(tid(), mask()) else { return };
    let act = os.signals.actions.lock().get(sig);
    if act.handler == 0 || act.flags & SA_RESTORER == 0 {
        os.signals.pending.lock().take_for(tid(), sig);
        if crate::spawn::in_child() {
            // A child running in its parent's place dies alone.
            crate::spawn::child_killed(os, sig as i32);
            return;
        }
        crate::host::exit_by_signal(sig as i32);
    }
    fastpath::current().resume.store(RETURN_DELIVER, Ordering::Relaxed);
}

/// The app's registers as they are when the call at `f` returns with `f.rax`: the
/// trampoline's return address and stack, rcx = 1 (served) and r11 = the flags, as after
/// `syscall`.
pub fn interrupted_regs(f: &Frame) -> UserRegs {
    // SAFETY: the entry's pushfq left the flags at app_rsp and the trampoline's call its
    // return address above them, on the app's stack.
    let (flags, rip) = unsafe { (*(f.app_rsp as *const u64), *((f.app_rsp + 8) as *const u64)) };
    UserRegs {
        r8: f.r8 as u64,
        r9: f.r9 as u64,
        r10: f.r10 as u64,
        r11: flags,
        r12: f.r12 as u64,
        r13: f.r13 as u64,
        r14: f.r14 as u64,
        r15: f.r15 as u64,
        rdi: f.rdi as u64,
        rsi: f.rsi as u64,
        rbp: f.rbp as u64,
        rbx: f.rbx as u64,
        rdx: f.rdx as u64,
        rax: f.rax as u64,
        rcx: 1,
        rsp: (f.app_rsp + 16) as u64,
        rip,
        rflags: flags,
    }
}

/// Called by the entry's slow way (Win64 ABI, host FS) with the call's frame (its rax is the
/// result) after it saved the app's SSE state in the thread's context: builds the handler's
/// frame and leaves the handler's registers in the context. If the signal went to another
/// thread meanwhile, the context is the plain return.
#[no_mangle]
extern "win64" fn litebox_win_deliver(f: &Frame) {
    let os = crate::os();
    let td = fastpath::current();
    let mut regs = interrupted_regs(f);
    crate::spawn::take_fx(&td.ctx.fx(), &mut regs);
    td.ctx.set_regs(&regs);
    let Some(sig) = os.signals.pending.lock().deliverable_for(tid(), mask()) else { return };
    let info = os.signals.pending.lock().take_for(tid(), sig);
    let act = os.signals.actions.lock().get(sig);
    if act.handler == 0 || act.flags & SA_RESTORER == 0 {
        if crate::spawn::in_child() {
            crate::spawn::child_killed(os, sig as i32);
            return;
        }
        crate::host::exit_by_signal(sig as i32);
    }
    let saved = td.saved_mask.swap(u64::MAX, Ordering::Relaxed);
    let old_mask = if saved != u64::MAX { saved } else { mask() };
    let h = Handler { sig, info, pid: os.platform.pid, handler: act.handler, restorer: act.restorer, old_mask };
    if enter_handler(os, td, &act, &h, &mut regs, &td.ctx.fx()).is_err() {
        // No room for the frame: Linux kills the process with SIGSEGV.
        crate::host::exit_by_signal(11);
    }
    td.ctx.set_regs(&regs);
}

/// Builds the `rt_sigframe` of `h` for the thread `td` interrupted with `regs` and `fx` (on
/// its alternate stack when the action says SA_ONSTACK and one is set), leaves the handler's
/// registers in `regs`, and sets the thread's mask (and resets the action with SA_RESETHAND),
/// as Linux does when it delivers. Returns the address of the frame's siginfo.
fn enter_handler(
    os: &LibOs<WinHost>,
    td: &fastpath::ThreadData,
    act: &core_sig::SigAction,
    h: &Handler,
    regs: &mut UserRegs,
    fx: &[u8; 512],
) -> Result<usize, Errno> {
    let alt = &td.altstack;
    let interrupted_sp = regs.rsp;
    let to_alt = act.flags & SA_ONSTACK != 0
        && alt.flags.load(Ordering::Relaxed) as i32 & SS_DISABLE == 0
        && !alt.on(regs.rsp as usize);
    if to_alt {
        regs.rsp = (alt.sp.load(Ordering::Relaxed) + alt.size.load(Ordering::Relaxed)) as u64;
    }
    core_sig::push_frame(regs, fx, h)?;
    if to_alt {
        // The frame went on the alternate stack: its ucontext must still name the stack the
        // thread was interrupted on (uc_mcontext.rsp, ucontext offset 40 + 15 * 8), and
        // uc_stack the alternate stack (offset 16), as Linux writes them.
        let uc = regs.rsp as usize + 8;
        litebox_libos::user::write(uc + 40 + 15 * 8, &interrupted_sp)?;
        let stack = [alt.sp.load(Ordering::Relaxed) as u64, 0, alt.size.load(Ordering::Relaxed) as u64];
        litebox_libos::user::write(uc + 16, &stack)?;
    }
    // The handler starts with the direction flag clear, as on Linux.
    regs.rflags &= !0x400;
    let mut m = h.old_mask | act.mask;
    if act.flags & SA_NODEFER == 0 {
        m |= bit(h.sig);
    }
    td.sigmask.store((m & !core_sig::UNBLOCKABLE) as usize, Ordering::Relaxed);
    if act.flags & SA_RESETHAND != 0 {
        os.signals.actions.lock().set(h.sig, Default::default());
    }
    Ok(regs.rsi as usize)
}

/// A fault of the app's code (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP) on thread `td`, with
/// the interrupted `regs` and `fx` and the 128-byte `siginfo` Linux would give (si_code,
/// si_addr): when the app handles `sig` and does not block it, the handler's frame is built
/// and `regs` become the handler's (true); otherwise the fault is fatal (false), as Linux
/// forces the default action of a blocked or ignored synchronous signal.
pub fn fault_to_handler(
    td: &fastpath::ThreadData,
    sig: usize,
    siginfo: &[u8; 128],
    regs: &mut UserRegs,
    fx: &[u8; 512],
) -> bool {
    let Some(os) = crate::try_os() else { return false };
    let act = os.signals.actions.lock().get(sig);
    let old_mask = td.sigmask.load(Ordering::Relaxed) as u64;
    if act.handler <= 1 || act.flags & SA_RESTORER == 0 || old_mask & bit(sig) != 0 {
        return false;
    }
    let code = i32::from_le_bytes([siginfo[8], siginfo[9], siginfo[10], siginfo[11]]);
    let info = core_sig::Info { code, value: 0 };
    let h = Handler { sig, info, pid: os.platform.pid, handler: act.handler, restorer: act.restorer, old_mask };
    match enter_handler(os, td, &act, &h, regs, fx) {
        Ok(at) => litebox_libos::user::write(at, siginfo).is_ok(),
        Err(_) => false,
    }
}

/// rt_sigreturn from a handler's restorer (a rewritten site): the registers, SSE state and
/// mask saved by [`litebox_win_deliver`] come back, and the call returns through the context.
/// The handler's `ret` popped the restorer's address; the trampoline stepped over the red
/// zone, so the ucontext is at the app's stack pointer before the trampoline.
pub fn sigreturn(f: &Frame) -> isize {
    let td = fastpath::current();
    let mut regs = UserRegs { rsp: (f.app_rsp + 16 + 128) as u64, ..UserRegs::default() };
    let mut fx = td.ctx.fx();
    match core_sig::restore_frame(&mut regs, &mut fx) {
        Ok(mask) => {
            td.ctx.set_regs(&regs);
            td.ctx.set_fx(&fx);
            td.sigmask.store(mask as usize, Ordering::Relaxed);
            td.resume.store(RETURN_CONTEXT, Ordering::Relaxed);
            regs.rax as isize
        }
        Err(_) => crate::host::exit_by_signal(11),
    }
}

/// Ctrl-C and Ctrl-Break on the console (or, under Wine, SIGINT sent to the process) are the
/// app's SIGINT; closing the console its SIGHUP. Runs on a thread Windows starts for it: the
/// signal is made pending and blocked threads wake to take it; a signal whose action is the
/// default one ends the process at once with 128 + N (the app may be blocked in a call that
/// never returns).
extern "system" fn on_console_ctrl(kind: u32) -> i32 {
    let Some(os) = crate::try_os() else { return 0 };
    let sig = match kind {
        0 | 1 => 2, // CTRL_C_EVENT, CTRL_BREAK_EVENT: SIGINT
        2 => 1,     // CTRL_CLOSE_EVENT: SIGHUP
        _ => return 0,
    };
    if os.signals.actions.lock().fatal(sig) {
        crate::host::exit_by_signal(sig as i32);
    }
    os.signals.pending.lock().raise(sig, core_sig::SI_KERNEL, 0);
    litebox_libos::Platform::wake_all(&os.platform);
    1
}

/// Routes console control events to [`on_console_ctrl`].
pub fn install_console_ctrl() {
    // SAFETY: the handler has the PHANDLER_ROUTINE signature and lives forever.
    unsafe { crate::win::SetConsoleCtrlHandler(on_console_ctrl, 1) };
}

/// Makes `regs` (and `fx`, if given) the context the current call returns to.
pub fn set_context(td: &fastpath::ThreadData, regs: &UserRegs, fx: Option<&[u8; 512]>) {
    td.ctx.set_regs(regs);
    if let Some(fx) = fx {
        td.ctx.set_fx(fx);
    }
}
