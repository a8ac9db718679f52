//! Signals: the SIGSYS handler that receives every trapped app syscall, and the app's own
//! handlers, installed on the host with the runtime's restorer so their rt_sigreturn goes
//! through the gate. The app never gets SIGSYS: it cannot install a handler for it (the request
//! is kept virtually) nor block it.

use litebox_libos::errno::Errno;
use litebox_libos::signal::SA_RESTART;
use litebox_libos::sync::SpinMutex;
use litebox_libos::user;

use crate::sys::{self, check};

pub const SIGSYS: i32 = 31;
pub(crate) const SA_SIGINFO: u64 = 4;
const SA_ONSTACK: u64 = 0x0800_0000;
pub(crate) const SA_RESTORER: u64 = 0x0400_0000;
const SA_NODEFER: u64 = 0x4000_0000;
pub(crate) const SIGSYS_BIT: u64 = 1 << (SIGSYS - 1);

/// The kernel's `struct sigaction` on x86-64.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct KSigaction {
    pub handler: usize,
    pub flags: u64,
    pub restorer: usize,
    pub mask: u64,
}

/// What the app asked for, per signal (1..=64), as it should read it back.
static APP_ACTIONS: SpinMutex<[KSigaction; 65]> =
    SpinMutex::new([KSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 }; 65]);

type Handler = extern "C" fn(i32, usize, usize);
static SIGSYS_HANDLER: SpinMutex<usize> = SpinMutex::new(0);

fn install(sig: i32, act: &KSigaction, old: Option<&mut KSigaction>) -> Result<(), i32> {
    let oldp = old.map(|o| o as *mut KSigaction as usize).unwrap_or(0);
    check(sys::syscall6(sys::RT_SIGACTION, sig as usize, act as *const KSigaction as usize, oldp, 8, 0, 0)).map(|_| ())
}

/// Installs the SIGSYS handler, once, before the seccomp filter: the filter then refuses
/// rt_sigaction of SIGSYS from the gate, so neither the runtime nor app code that jumps to the
/// gate can change it afterwards. Its mask is fixed accordingly: every other signal stays
/// blocked while a trapped syscall is served, so no app handler runs nested inside the runtime
/// (a signal with a default action takes effect when the call returns); blocking calls let
/// the app's signals in (see [`blocking`]).
fn install_sigsys() -> Result<(), i32> {
    let act = KSigaction {
        handler: *SIGSYS_HANDLER.lock(),
        // SA_NODEFER: an app handler that runs during a blocking call (see `blocking`) may make
        // syscalls of its own, which trap here again, nested.
        flags: SA_SIGINFO | SA_ONSTACK | SA_RESTORER | SA_NODEFER,
        restorer: sys::litebox_restorer as *const () as usize,
        mask: !SIGSYS_BIT,
    };
    install(SIGSYS, &act, None)
}

/// Makes `[stack, stack+size)` the calling thread's signal stack (where SIGSYS is handled).
pub fn set_altstack(stack: usize, size: usize) -> Result<(), i32> {
    #[repr(C)]
    struct StackT {
        sp: usize,
        flags: i32,
        size: usize,
    }
    let ss = StackT { sp: stack, flags: 0, size };
    check(sys::syscall3(sys::SIGALTSTACK, &ss as *const StackT as usize, 0, 0)).map(|_| ())
}

/// Sets the calling thread's host signal mask to the app's `mask`, SIGSYS always open.
pub fn set_thread_mask(mask: u64) {
    let m = mask & !SIGSYS_BIT;
    sys::syscall6(sys::RT_SIGPROCMASK, sys::SIG_SETMASK, &m as *const u64 as usize, 0, 8, 0, 0);
}

/// Installs `handler` for SIGSYS on an alternate stack at `[stack, stack+size)`.
pub fn init_sigsys(handler: Handler, stack: usize, size: usize) -> Result<(), i32> {
    set_altstack(stack, size)?;
    *SIGSYS_HANDLER.lock() = handler as usize;
    install_sigsys()
}

/// rt_sigaction for the app.
pub fn app_sigaction(sig: i32, new: usize, old: usize, _size: usize) -> Result<usize, Errno> {
    let new_act: Option<KSigaction> = if new != 0 { Some(user::read(new)?) } else { None };
    let mut table = APP_ACTIONS.lock();
    let prev = table[sig as usize];
    if let Some(a) = new_act {
        if sig != SIGSYS {
            let custom = a.handler > 1;
            // A custom handler is reached through the fast path's wrapper, which defers the
            // signal while the thread is inside the runtime (fastpath.rs); it needs the siginfo.
            // SA_ONSTACK: the host delivers on the runtime's signal stack (so a frame can be
            // built even when the app's stack overflowed) and the wrapper moves the frame to
            // the app's alternate stack (fastpath.rs). Every other signal stays blocked until
            // the frame is in place and the handler's own mask is put in force there, so that
            // a second signal's frame goes below it, as natively.
            let onstack = custom && a.flags & SA_ONSTACK != 0;
            crate::fastpath::set_onstack(sig, onstack);
            crate::fastpath::set_restart(sig, custom && a.flags & SA_RESTART != 0);
            let own = if a.flags & SA_NODEFER == 0 { 1u64 << (sig - 1) } else { 0 };
            let handler_mask = (a.mask | own) & !SIGSYS_BIT;
            let host = KSigaction {
                handler: if custom { crate::fastpath::wrap_handler(sig, a.handler, handler_mask) } else { a.handler },
                flags: ((a.flags | if custom { SA_RESTORER | SA_SIGINFO } else { 0 }) & !SA_ONSTACK)
                    | if onstack { SA_ONSTACK } else { 0 },
                restorer: if custom { sys::litebox_restorer as *const () as usize } else { 0 },
                mask: if onstack { !SIGSYS_BIT } else { a.mask & !SIGSYS_BIT },
            };
            install(sig, &host, None)?;
        }
        table[sig as usize] = a;
    }
    drop(table);
    if old != 0 {
        user::write(old, &prev)?;
    }
    Ok(0)
}

/// execve: handlers the app installed go back to the default action (ignored signals stay
/// ignored), as Linux does.
pub fn reset_for_exec() {
    let mut table = APP_ACTIONS.lock();
    for sig in 1..=64i32 {
        if sig == SIGSYS || sig == 9 || sig == 19 {
            continue;
        }
        if table[sig as usize].handler > 1 {
            crate::fastpath::set_onstack(sig, false);
            let _ = install(sig, &KSigaction::default(), None);
            table[sig as usize] = KSigaction::default();
        }
    }
    drop(table);
}

/// Runs a host call that may block (made with `sys::window_syscall6`) in a window, with the
/// app's own signal mask, so that a signal the app handles interrupts it as it would natively:
/// the host call ends (EINTR, or -ERESTARTSYS for one the kernel would restart or that had not
/// started), the call unwinds, and its exit runs the app's handler, then serves the call again
/// or returns EINTR by Linux's rule (fastpath.rs `window_open`, `restart_after_handlers`). Outside a blocking call every signal stays
/// blocked while a trapped syscall is served (the SIGSYS handler's fixed mask).
///
/// Inlined into its callers: the fast path's case (no trapped syscall) is a few loads and
/// stores around the call, and out of line it was one more function return after the host
/// call on the way back to the app (bench/RESULTS-issue17-http3.md). The trapped case sets
/// and restores the mask with [`app_mask_in`] and [`mask_back`] (one copy each, not one per
/// caller).
#[inline(always)]
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    // SAFETY: called from syscall handling, so we run on this thread's block.
    let uc = unsafe { (*crate::threads::current()).uc };
    // Inside a fast-path call, app signals are deferred; a blocking call lets them in.
    if uc == 0 {
        // Not inside a trapped syscall (the fast path): the mask in force is the app's.
        return crate::fastpath::open_window(f);
    }
    // The window opens before the app's mask is put in force: a signal pending and unblocked
    // by it is delivered inside that host call, and must find the thread outside the runtime
    // (depth 0; the SIGSYS path counts as inside since the fork fence), as the host call
    // itself does, or it would be deferred and the call would block without it.
    let saved = crate::fastpath::window_open();
    let old = app_mask_in(uc);
    let r = f();
    mask_back(old);
    crate::fastpath::window_close(saved);
    r
}

/// [`blocking`] of host syscall `nr` with arguments `a` (`sys::syscall6`), written without a
/// closure: the closure of a `blocking(|| ...)` stayed out of line (`FnOnce::call_once`), one
/// more function return after the host call. For the shim's inlined socket calls
/// (`LinuxHost::net_hot`).
#[inline(always)]
pub fn blocking_syscall6(nr: usize, a: [usize; 6]) -> isize {
    // SAFETY: called from syscall handling, so we run on this thread's block.
    let uc = unsafe { (*crate::threads::current()).uc };
    // The window opens first, as in `blocking`.
    let saved = crate::fastpath::window_open();
    let old = if uc == 0 { None } else { Some(app_mask_in(uc)) };
    let r = sys::window_syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    if let Some(old) = old {
        mask_back(old);
    }
    crate::fastpath::window_close(saved);
    r
}

/// Puts the app's signal mask (of the SIGSYS being served, whose ucontext is at `uc`; SIGSYS
/// itself stays blocked) in force for a blocking host call; returns the mask it replaced.
#[inline(never)]
fn app_mask_in(uc: usize) -> u64 {
    // SAFETY: uc is the ucontext of the SIGSYS being served on this thread.
    let app = unsafe { core::ptr::read((uc + SIGMASK) as *const u64) } & !SIGSYS_BIT;
    let mut old = 0u64;
    sys::syscall6(
        sys::RT_SIGPROCMASK,
        sys::SIG_SETMASK,
        &app as *const u64 as usize,
        &mut old as *mut u64 as usize,
        8,
        0,
        0,
    );
    old
}

/// Restores the mask [`app_mask_in`] replaced.
#[inline(never)]
fn mask_back(old: u64) {
    sys::syscall6(sys::RT_SIGPROCMASK, sys::SIG_SETMASK, &old as *const u64 as usize, 0, 8, 0, 0);
}

/// Offsets into the kernel's `ucontext` on x86-64.
const GREGS: usize = 40;
const REG_RDI: usize = 8;
const REG_RSI: usize = 9;
const REG_RDX: usize = 12;
const REG_RAX: usize = 13;
const REG_R10: usize = 2;
const REG_R8: usize = 0;
const REG_R9: usize = 1;
const REG_RSP: usize = 15;
const REG_RIP: usize = 16;
pub(crate) const SIGMASK: usize = 296;

/// The trapped syscall, seen through the signal frame the kernel built.
pub struct Trapped {
    uc: usize,
}

impl Trapped {
    /// # Safety
    /// `uc` must be the ucontext pointer the kernel passed to the SIGSYS handler.
    pub unsafe fn new(uc: usize) -> Self {
        Self { uc }
    }

    /// The app's callee-saved registers at the trap: rbx, rbp, r12, r13, r14, r15.
    pub fn callee_saved(&self) -> [usize; 6] {
        const REG_RBX: usize = 11;
        const REG_RBP: usize = 10;
        const REG_R12: usize = 4;
        [REG_RBX, REG_RBP, REG_R12, REG_R12 + 1, REG_R12 + 2, REG_R12 + 3].map(|r| self.reg(r))
    }

    fn reg(&self, i: usize) -> usize {
        // SAFETY: the kernel's ucontext is valid for the whole handler; gregs has 23 entries.
        unsafe { core::ptr::read((self.uc + GREGS + 8 * i) as *const usize) }
    }

    /// Serves the trapped call if it is the vDSO's fallback syscall made for the runtime's own
    /// clock read (vdso.rs), which is made on the host as is; false for every app call.
    pub fn vdso_fallback(&mut self) -> bool {
        let here = crate::threads::current() as usize & !(crate::threads::BLOCK - 1);
        let on_block = self.reg(REG_RSP).wrapping_sub(here) < crate::threads::BLOCK;
        let args = [self.reg(REG_RDI), self.reg(REG_RSI)];
        match crate::vdso::serve_fallback(self.reg(REG_RAX), self.reg(REG_RIP), on_block, args) {
            Some(v) => {
                self.set_result(v);
                true
            }
            None => false,
        }
    }

    /// Sets the value rax holds when the app resumes.
    pub fn set_result(&mut self, v: isize) {
        // SAFETY: as in `reg`; sigreturn restores rax from this slot.
        unsafe { core::ptr::write((self.uc + GREGS + 8 * REG_RAX) as *mut isize, v) }
    }
}

/// A new host process that is a copy of this one (clone with `flags`, which hold no CLONE_VM
/// nor CLONE_THREAD by the time they get here), with the runtime's per-process state set up in
/// the child: the child's pid (0 here), the parent's pid (the first process's cached parent
/// no longer applies), its place in the process limit, its slot in the process table. Returns
/// the child's pid in the parent and 0 in the child, which resumes on the same stack, in the
/// same registers, as the parent (the SIGSYS path and the fast path both use it).
// With the syscall entry and exit, in the window of code a fork child faults in first
// (`shim::exec::fork` says why).
#[link_section = ".text"]
pub fn host_fork(flags: u64, ptid: usize, ctid: usize) -> Result<usize, Errno> {
    const CLONE: usize = 56;
    crate::procs::acquire()?;
    let parent = crate::host::cached_pid();
    // The process's statics into this thread's block while writes are free (host.rs).
    crate::host::fork_state_here(crate::os().threads.load(core::sync::atomic::Ordering::Relaxed) == 1);
    // The process's other threads wait outside the runtime until the fork is made, so that
    // the child gets no lock one of them held (forkfence.rs).
    let me = crate::fastpath::data();
    let held = crate::forkfence::hold_out(me);
    let made = check(sys::syscall6(CLONE, flags as usize, 0, ptid, ctid, 0, 0));
    if let Some(held) = held {
        match made {
            Ok(0) => held.child(me),
            _ => held.parent(),
        }
    }
    let pid = made.inspect_err(|_| crate::procs::undo())?;
    if pid == 0 {
        // The statics written here are in this thread's block's top page, which the fork path
        // writes anyway (host.rs `ForkState`); the process table copy allocates nothing
        // (ptable.rs `copy_slot`): fewer copy-on-write faults.
        let me = sys::syscall3(sys::GETPID, 0, 0, 0) as i32;
        crate::host::fork_state_here(true);
        let state = crate::host::fork_state();
        state.pid.store(me, core::sync::atomic::Ordering::Relaxed);
        state.first_process.store(false, core::sync::atomic::Ordering::Relaxed);
        crate::procs::child_started();
        crate::ptable::forked_child(parent, me);
    } else {
        crate::ptable::forked_parent(parent, pid as i32);
    }
    Ok(pid)
}

impl litebox_libos::SyscallContext for Trapped {
    fn spawn_thread(&mut self, t: &litebox_libos::ThreadSpawn) -> Result<usize, Errno> {
        let mut gregs = [0usize; 23];
        for (i, g) in gregs.iter_mut().enumerate() {
            *g = self.reg(i);
        }
        crate::threads::spawn(&gregs, self.sigmask(), t)
    }

    fn nr(&self) -> usize {
        self.reg(REG_RAX)
    }
    // A fork child returns through here: in the window of code it faults in first, with
    // `host_fork` (`litebox_libos::shim::exec::fork` says why).
    #[link_section = ".text"]
    fn fork(&mut self, flags: u64, stack: usize, ptid: usize, ctid: usize) -> Result<usize, Errno> {
        let pid = host_fork(flags, ptid, ctid)?;
        if pid == 0 && stack != 0 {
            // SAFETY: as in `reg`; sigreturn restores rsp from this slot.
            unsafe { core::ptr::write((self.uc + GREGS + 8 * REG_RSP) as *mut usize, stack) }
        }
        Ok(pid)
    }
    fn set_entry(&mut self, entry: usize, sp: usize) {
        for i in 0..=REG_RIP {
            let v = match i {
                REG_RSP => sp,
                REG_RIP => entry,
                _ => 0,
            };
            // SAFETY: as in `reg`; sigreturn loads these registers.
            unsafe { core::ptr::write((self.uc + GREGS + 8 * i) as *mut usize, v) }
        }
    }
    fn stack_pointer(&self) -> usize {
        self.reg(REG_RSP)
    }
    fn arg(&self, i: usize) -> usize {
        self.reg([REG_RDI, REG_RSI, REG_RDX, REG_R10, REG_R8, REG_R9][i])
    }
    fn sigmask(&self) -> u64 {
        // SAFETY: uc_sigmask is inside the ucontext the kernel gave us.
        unsafe { core::ptr::read((self.uc + SIGMASK) as *const u64) }
    }
    fn set_sigmask(&mut self, mask: u64) {
        // A deferred signal the app now blocks is the app's (as in the fast path's).
        crate::fastpath::give_deferred_to_app(crate::fastpath::data(), mask);
        // SAFETY: as above; sigreturn installs this mask. SIGSYS stays deliverable.
        unsafe { core::ptr::write((self.uc + SIGMASK) as *mut u64, mask & !SIGSYS_BIT) }
    }
    fn set_wait_mask(&mut self, mask: u64) {
        // The wait's window puts the ucontext's mask in force (`blocking`); the app's own is
        // put back at the call's exit, after the handlers the wait let in ran with this one
        // (main.rs `on_sigsys`). Kept once: a call served again keeps the first.
        let td = crate::threads::current();
        // SAFETY: uc_sigmask is inside the ucontext the kernel gave us; the SIGSYS handler
        // runs on this thread's block, which holds its ThreadData.
        unsafe {
            let m = (self.uc + SIGMASK) as *mut u64;
            if (*td).saved_mask == 0 {
                (*td).saved_mask = core::ptr::read(m) | SIGSYS_BIT;
            }
            core::ptr::write(m, mask & !SIGSYS_BIT);
        }
    }
}
