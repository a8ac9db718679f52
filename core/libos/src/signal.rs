//! Signal state of one process, written once for platforms without host signals: the
//! dispositions (`struct kernel_sigaction`), the pending set with each signal's siginfo, the
//! real-time interval timer (setitimer ITIMER_REAL, alarm), and the x86-64 `rt_sigframe` a
//! handler runs on (return address = the sa_restorer, ucontext with the interrupted registers,
//! the FXSAVE area and the mask, siginfo) with its undoing by `rt_sigreturn`. The platform
//! supplies the interrupted registers ([`UserRegs`] and the 512-byte FXSAVE image), switches
//! the thread to what [`push_frame`] leaves in them, and keeps the thread's mask.
use crate::errno::*;
use crate::user;

pub const SIGKILL: usize = 9;
pub const SIGPIPE: usize = 13;
pub const SIGALRM: usize = 14;
pub const SIGCHLD: usize = 17;
pub const SIGSTOP: usize = 19;
pub const SI_USER: i32 = 0;
pub const SI_TKILL: i32 = -6;
/// si_code of a signal the kernel sends (a terminal's Ctrl-C, timers).
pub const SI_KERNEL: i32 = 0x80;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;
const SIG_DFL: u64 = 0;
const SIG_IGN: u64 = 1;
/// SIGKILL and SIGSTOP (bit = sig - 1): never blocked.
pub const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));

/// The mask bit of `sig` (1..=64).
pub fn bit(sig: usize) -> u64 {
    1u64 << (sig - 1)
}

/// Whether Linux makes call `nr` (arguments `a`) again, rather than failing it with EINTR,
/// when a handler with SA_RESTART interrupted it before it completed (signal(7)): reads and
/// writes (read, write, their vector and positioned forms), ioctl, open and openat (a FIFO's
/// open waits), the waits for a child, the socket calls, flock and fcntl (F_SETLKW), the POSIX
/// message queues, getrandom, and a futex wait without a timeout. Never the waits for events or
/// time (poll, select, epoll_wait, the sleeps, pause, rt_sigsuspend, rt_sigtimedwait, the
/// System V IPC waits, io_getevents), nor a futex wait with a timeout, which end with EINTR
/// after a handler whatever its flags. The platforms that decide this themselves ask here.
pub fn restarted_with_sa_restart(nr: usize, a: &[usize; 6]) -> bool {
    const FUTEX: usize = 202;
    const FUTEX_WAIT: usize = 0;
    const FUTEX_WAIT_BITSET: usize = 9;
    match nr {
        0
        | 1
        | 2
        | 16
        | 17
        | 18
        | 19
        | 20
        | 42..=47
        | 61
        | 72
        | 73
        | 242
        | 243
        | 247
        | 257
        | 288
        | 295
        | 296
        | 299
        | 307
        | 318 => true,
        FUTEX => matches!(a[1] & 0x7f, FUTEX_WAIT | FUTEX_WAIT_BITSET) && a[3] == 0,
        _ => false,
    }
}

/// Whether the default action of `sig` is to ignore it (SIGCHLD, SIGCONT, SIGURG, SIGWINCH).
pub fn ignored_by_default(sig: usize) -> bool {
    matches!(sig, 17 | 18 | 23 | 28)
}

/// One `struct kernel_sigaction` (x86-64: handler, flags, restorer, mask).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// The dispositions of a process, 1..=64.
#[derive(Clone)]
pub struct Actions([SigAction; 65]);

impl Default for Actions {
    fn default() -> Self {
        Actions([SigAction::default(); 65])
    }
}

impl Actions {
    pub fn get(&self, sig: usize) -> SigAction {
        self.0[sig]
    }
    pub fn set(&mut self, sig: usize, a: SigAction) {
        self.0[sig] = a;
    }
    /// rt_sigaction on app memory: `new` and `old` are `struct kernel_sigaction` pointers (0
    /// for none). The shim has checked `sig`.
    pub fn sigaction(&mut self, sig: usize, new: usize, old: usize) -> Result<usize, Errno> {
        if sig == 0 || sig > 64 {
            return Err(EINVAL);
        }
        let incoming: Option<SigAction> = if new != 0 { Some(user::read(new)?) } else { None };
        if old != 0 {
            user::write(old, &self.0[sig])?;
        }
        if let Some(a) = incoming {
            self.0[sig] = a;
        }
        Ok(0)
    }
    /// execve: handlers go back to the default action; ignored signals stay ignored.
    pub fn reset_for_exec(&mut self) {
        for a in self.0.iter_mut() {
            if a.handler != SIG_IGN {
                *a = SigAction::default();
            }
        }
    }
    /// Whether `sig` is ignored (explicitly, or by default).
    pub fn ignored(&self, sig: usize) -> bool {
        let h = self.0[sig].handler;
        h == SIG_IGN || (h == SIG_DFL && ignored_by_default(sig))
    }
    /// Whether `sig` would end the process (SIGKILL, or a default action that terminates).
    pub fn fatal(&self, sig: usize) -> bool {
        sig == SIGKILL || (self.0[sig].handler == SIG_DFL && !ignored_by_default(sig))
    }
}

/// Why a signal is pending: its si_code and sigqueue value.
#[derive(Clone, Copy, Default, Debug)]
pub struct Info {
    pub code: i32,
    pub value: u64,
}

/// The first real-time signal (the kernel's SIGRTMIN; glibc keeps 32 and 33 for itself).
pub const SIGRTMIN: usize = 32;

/// One process's pending signals and interval timer. A standard signal raised again before
/// delivery merges with the pending one; real-time signals queue, one entry per instance,
/// delivered in the order they were sent.
pub struct Pending {
    set: u64,
    info: [Info; 65],
    /// Queued instances of real-time signals, oldest first.
    rt: alloc::collections::VecDeque<(u8, Info)>,
    /// Thread-directed signals (tgkill, tkill, rt_tgsigqueueinfo, SIGEV_THREAD_ID timers):
    /// (tid, signal, info), oldest first. Only that thread takes them.
    directed: alloc::collections::VecDeque<(i32, u8, Info)>,
    /// ITIMER_REAL: next expiry (monotonic ns, 0 = disarmed) and interval (ns).
    timer_at: u64,
    timer_every: u64,
    /// POSIX timers (timer_create).
    pub posix: crate::ptimer::Timers,
}

impl Default for Pending {
    fn default() -> Self {
        Self::new()
    }
}

impl Pending {
    /// Nothing pending, no timer (a new process).
    pub const fn new() -> Self {
        Pending {
            set: 0,
            info: [Info { code: 0, value: 0 }; 65],
            rt: alloc::collections::VecDeque::new(),
            directed: alloc::collections::VecDeque::new(),
            timer_at: 0,
            timer_every: 0,
            posix: crate::ptimer::Timers::new(),
        }
    }
    /// Marks `sig` pending: a standard signal merges with one already pending (which keeps
    /// its info, as Linux drops the second), a real-time signal queues one more instance.
    /// Signal 0 and numbers above 64 are nothing.
    pub fn raise(&mut self, sig: usize, code: i32, value: u64) {
        if sig == 0 || sig > 64 {
            return;
        }
        if sig >= SIGRTMIN {
            self.rt.push_back((sig as u8, Info { code, value }));
        } else if self.set & bit(sig) == 0 {
            self.info[sig] = Info { code, value };
        }
        self.set |= bit(sig);
    }
    /// [`Pending::raise`] for a signal queued with sigqueue (rt_sigqueueinfo): a real-time
    /// signal beyond `limit` queued instances (RLIMIT_SIGPENDING) is refused with EAGAIN, as
    /// Linux refuses it when the queue is full.
    pub fn queue(&mut self, sig: usize, code: i32, value: u64, limit: u64) -> Result<(), Errno> {
        if (SIGRTMIN..=64).contains(&sig) && self.rt.len() as u64 >= limit {
            return Err(EAGAIN);
        }
        self.raise(sig, code, value);
        Ok(())
    }
    /// How many real-time signal instances are queued (process- and thread-directed).
    pub fn queued(&self) -> usize {
        self.rt.len() + self.directed.iter().filter(|&&(_, s, _)| s as usize >= SIGRTMIN).count()
    }
    /// The process-directed pending set.
    pub fn set(&self) -> u64 {
        self.set
    }
    /// Marks `sig` pending for thread `tid` only (tgkill, tkill, SIGEV_THREAD_ID): a standard
    /// signal already pending for that thread merges, a real-time one queues another instance.
    pub fn raise_to(&mut self, tid: i32, sig: usize, code: i32, value: u64) {
        if sig == 0 || sig > 64 {
            return;
        }
        if sig < SIGRTMIN && self.thread_set(tid) & bit(sig) != 0 {
            return;
        }
        self.directed.push_back((tid, sig as u8, Info { code, value }));
    }
    /// [`Pending::raise_to`] for rt_tgsigqueueinfo: EAGAIN past `limit` queued real-time
    /// instances, as [`Pending::queue`].
    pub fn queue_to(&mut self, tid: i32, sig: usize, code: i32, value: u64, limit: u64) -> Result<(), Errno> {
        if (SIGRTMIN..=64).contains(&sig) && self.queued() as u64 >= limit {
            return Err(EAGAIN);
        }
        self.raise_to(tid, sig, code, value);
        Ok(())
    }
    /// Every signal pending in the process: its own and any thread's (whether to wake its
    /// threads).
    pub fn any_set(&self) -> u64 {
        self.directed.iter().fold(self.set, |m, &(_, s, _)| m | bit(s as usize))
    }
    /// The signals pending for thread `tid` alone.
    pub fn thread_set(&self, tid: i32) -> u64 {
        self.directed.iter().filter(|&&(t, _, _)| t == tid).fold(0, |m, &(_, s, _)| m | bit(s as usize))
    }
    /// What thread `tid` sees pending: its own signals and the process's (rt_sigpending).
    pub fn set_for(&self, tid: i32) -> u64 {
        self.set | self.thread_set(tid)
    }
    /// The lowest signal pending for thread `tid` (its own or the process's) not blocked by
    /// `mask`.
    pub fn deliverable_for(&self, tid: i32, mask: u64) -> Option<usize> {
        let p = self.set_for(tid) & !(mask & !UNBLOCKABLE);
        (p != 0).then(|| p.trailing_zeros() as usize + 1)
    }
    /// Takes one instance of `sig` for thread `tid`: from its own signals first, else from
    /// the process's.
    pub fn take_for(&mut self, tid: i32, sig: usize) -> Info {
        if let Some(at) = self.directed.iter().position(|&(t, s, _)| t == tid && s as usize == sig) {
            return self.directed.remove(at).map_or(Info::default(), |(_, _, i)| i);
        }
        self.take(sig)
    }
    /// Drops the signals pending for thread `tid` (it exited; Linux discards them too).
    pub fn forget_thread(&mut self, tid: i32) {
        self.directed.retain(|&(t, _, _)| t != tid);
    }
    /// Raises SIGALRM if the timer expired by `now` (and re-arms an interval timer), and the
    /// signals of the POSIX timers that are due.
    pub fn fire_timer(&mut self, now: u64) {
        if self.timer_at != 0 && now >= self.timer_at {
            self.timer_at = if self.timer_every != 0 { now + self.timer_every } else { 0 };
            self.raise(SIGALRM, SI_KERNEL, 0);
        }
        let directed = &self.directed;
        let set = self.set;
        let pending = |tid: i32, sig: usize| {
            if tid > 0 {
                directed.iter().any(|&(t, s, _)| t == tid && s as usize == sig)
            } else {
                set & bit(sig) != 0
            }
        };
        for (sig, value, tid) in self.posix.fire(now, &pending) {
            if tid > 0 {
                self.raise_to(tid, sig, crate::ptimer::SI_TIMER, value);
            } else {
                self.raise(sig, crate::ptimer::SI_TIMER, value);
            }
        }
    }
    /// The earliest armed timer's expiry (monotonic ns), if any: ITIMER_REAL or a POSIX timer.
    pub fn timer_deadline(&self) -> Option<u64> {
        [(self.timer_at != 0).then_some(self.timer_at), self.posix.next()].into_iter().flatten().min()
    }
    /// Disarms the interval timer and deletes the POSIX timers (the process exited).
    pub fn stop_timer(&mut self) {
        self.timer_at = 0;
        self.posix = crate::ptimer::Timers::new();
    }
    /// setitimer(ITIMER_REAL) at `now`: arms (or with 0 disarms) the timer; returns the old
    /// (value, interval), in ns.
    pub fn set_timer(&mut self, now: u64, value_ns: u64, every_ns: u64) -> (u64, u64) {
        let old = self.get_timer(now);
        self.timer_at = if value_ns != 0 { now.saturating_add(value_ns) } else { 0 };
        self.timer_every = every_ns;
        old
    }
    /// (time left, interval) of ITIMER_REAL at `now`, in ns.
    pub fn get_timer(&self, now: u64) -> (u64, u64) {
        (if self.timer_at != 0 { self.timer_at.saturating_sub(now).max(1) } else { 0 }, self.timer_every)
    }
    /// Nothing pending (for the process or any thread) and no timer exists: no timer can
    /// fire and no signal be taken ([`PendingLock::quiet`]).
    pub fn quiet(&self) -> bool {
        self.set == 0 && self.rt.is_empty() && self.directed.is_empty() && self.timer_at == 0 && self.posix.is_empty()
    }
    /// The lowest pending signal not blocked by `mask`.
    pub fn deliverable(&self, mask: u64) -> Option<usize> {
        let p = self.set & !(mask & !UNBLOCKABLE);
        (p != 0).then(|| p.trailing_zeros() as usize + 1)
    }
    /// Takes (one instance of) `sig` out of the pending set; its info. A real-time signal
    /// stays pending while more instances are queued.
    pub fn take(&mut self, sig: usize) -> Info {
        if (SIGRTMIN..=64).contains(&sig) {
            let at = self.rt.iter().position(|&(s, _)| s as usize == sig);
            let info = at.and_then(|i| self.rt.remove(i)).map_or(Info::default(), |(_, i)| i);
            if !self.rt.iter().any(|&(s, _)| s as usize == sig) {
                self.set &= !bit(sig);
            }
            return info;
        }
        self.set &= !bit(sig);
        self.info[sig]
    }
}

/// alarm(secs) at `now`: what is left of the previous timer in whole seconds (rounded as Linux).
pub fn alarm(p: &mut Pending, now: u64, secs: u64) -> usize {
    let (left, _) = p.set_timer(now, secs.saturating_mul(1_000_000_000), 0);
    let (s, rest) = (left / 1_000_000_000, left % 1_000_000_000);
    (s + u64::from((s == 0 && rest != 0) || rest >= 500_000_000)) as usize
}

/// setitimer (`set`) or getitimer on ITIMER_REAL: `new` and `old` are `struct itimerval`
/// pointers in app memory (0 for none). Returns whether the timer is armed now.
pub fn itimer(p: &mut Pending, now: u64, which: usize, set: bool, new: usize, old: usize) -> Result<bool, Errno> {
    const ITIMER_REAL: usize = 0;
    if which != ITIMER_REAL {
        return Err(EINVAL);
    }
    let prev = if set {
        let tv: [i64; 4] = if new != 0 { user::read(new)? } else { [0; 4] };
        if tv.iter().any(|&v| v < 0) || tv[1] >= 1_000_000 || tv[3] >= 1_000_000 {
            return Err(EINVAL);
        }
        let ns = |s: i64, us: i64| (s as u64).saturating_mul(1_000_000_000).saturating_add(us as u64 * 1000);
        p.set_timer(now, ns(tv[2], tv[3]), ns(tv[0], tv[1]))
    } else {
        p.get_timer(now)
    };
    if old != 0 {
        let tv = |ns: u64| [(ns / 1_000_000_000) as i64, (ns % 1_000_000_000).div_ceil(1000) as i64];
        let (v, i) = (tv(prev.0), tv(prev.1));
        user::write(old, &[i[0], i[1], v[0], v[1]])?;
    }
    Ok(p.timer_at != 0)
}

/// The app's general registers at the point a signal interrupts it, in `struct sigcontext`
/// order.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct UserRegs {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub rflags: u64,
}

impl UserRegs {
    fn words(&self) -> [u64; 18] {
        [
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
            self.rdi,
            self.rsi,
            self.rbp,
            self.rbx,
            self.rdx,
            self.rax,
            self.rcx,
            self.rsp,
            self.rip,
            self.rflags,
        ]
    }
    fn from_words(r: &[u64]) -> Self {
        UserRegs {
            r8: r[0],
            r9: r[1],
            r10: r[2],
            r11: r[3],
            r12: r[4],
            r13: r[5],
            r14: r[6],
            r15: r[7],
            rdi: r[8],
            rsi: r[9],
            rbp: r[10],
            rbx: r[11],
            rdx: r[12],
            rax: r[13],
            rcx: r[14],
            rsp: r[15],
            rip: r[16],
            rflags: r[17],
        }
    }
}

// The frame, from the new stack pointer up: return address (8), ucontext (304), siginfo (128),
// then the 512-byte FXSAVE area, 64-aligned.
const UC: usize = 8;
const INFO: usize = UC + 304;
const FRAME: usize = INFO + 128;
const UC_WORDS: usize = 38;

/// What a handler runs with.
#[derive(Clone, Copy, Debug)]
pub struct Handler {
    pub sig: usize,
    pub info: Info,
    /// The sender's pid (si_pid).
    pub pid: i32,
    pub handler: u64,
    pub restorer: u64,
    /// The mask to restore when the handler returns.
    pub old_mask: u64,
}

/// Builds the `rt_sigframe` for `h` below `regs.rsp` (the FXSAVE image `fx` included) and
/// leaves in `regs` what the thread resumes with: the handler, with (sig, &siginfo, &ucontext)
/// and the frame as its stack. SA_ONSTACK is not honoured: the frame goes on the current stack
/// (see [`push_frame_at`]).
pub fn push_frame(regs: &mut UserRegs, fx: &[u8; 512], h: &Handler) -> Result<(), Errno> {
    let top = regs.rsp;
    push_frame_at(regs, fx, h, top, [0, 2, 0])
}

/// [`push_frame`] with the frame below `top` (the alternate signal stack's end for a
/// SA_ONSTACK handler) and `stack` (base, flags, size) as the ucontext's `uc_stack`.
pub fn push_frame_at(regs: &mut UserRegs, fx: &[u8; 512], h: &Handler, top: u64, stack: [u64; 3]) -> Result<(), Errno> {
    let fx_at = ((top as usize).checked_sub(128 + 512).ok_or(EFAULT)?) & !63;
    let sp = ((fx_at.checked_sub(FRAME).ok_or(EFAULT)?) & !15).checked_sub(8).ok_or(EFAULT)?;
    user::slice_mut(fx_at, 512)?.copy_from_slice(fx);
    user::write(sp, &h.restorer)?;
    let mut uc = [0u64; UC_WORDS];
    // uc_flags, uc_link, uc_stack (3 words), then sigcontext at word 5.
    uc[2..5].copy_from_slice(&stack);
    uc[5..23].copy_from_slice(&regs.words());
    uc[23] = 0x1b_u64 << 48 | 0x23; // cs, gs, fs, ss
    uc[26] = h.old_mask; // oldmask (err and trapno before it stay 0; cr2 after it)
    uc[28] = fx_at as u64; // fpstate
    uc[37] = h.old_mask; // uc_sigmask
    user::write(sp + UC, &uc)?;
    let mut si = [0u8; 128];
    si[0..4].copy_from_slice(&(h.sig as i32).to_le_bytes());
    si[8..12].copy_from_slice(&h.info.code.to_le_bytes());
    si[16..20].copy_from_slice(&h.pid.to_le_bytes());
    si[24..32].copy_from_slice(&h.info.value.to_le_bytes());
    user::write(sp + INFO, &si)?;
    regs.rsp = sp as u64;
    regs.rip = h.handler;
    regs.rdi = h.sig as u64;
    regs.rsi = (sp + INFO) as u64;
    regs.rdx = (sp + UC) as u64;
    regs.rax = 0;
    Ok(())
}

/// rt_sigreturn: restores `regs` and `fx` from the frame whose ucontext is at `regs.rsp` (the
/// handler's `ret` popped the return address); returns the mask to restore. An unreadable
/// frame or a non-canonical stack or instruction pointer is EFAULT (the process gets SIGSEGV).
/// Only the flags an app may set come back (CF PF AF ZF SF TF DF OF, AC, ID; IF stays set), and
/// MXCSR without reserved bits.
pub fn restore_frame(regs: &mut UserRegs, fx: &mut [u8; 512]) -> Result<u64, Errno> {
    let uc: [u64; UC_WORDS] = user::read(regs.rsp as usize)?;
    let r = UserRegs::from_words(&uc[5..23]);
    let canonical = |v: u64| v < 0x0000_8000_0000_0000;
    if !canonical(r.rip) || !canonical(r.rsp) {
        return Err(EFAULT);
    }
    *regs = UserRegs { rflags: (r.rflags & 0x0025_4dd5) | 0x202, ..r };
    let fp = uc[28] as usize;
    if fp != 0 {
        if let Ok(mut area) = user::read::<[u8; 512]>(fp) {
            let mx = u32::from_le_bytes(area[24..28].try_into().unwrap_or([0; 4])) & 0xffbf;
            area[24..28].copy_from_slice(&mx.to_le_bytes());
            *fx = area;
        }
    }
    Ok(uc[37] & !UNBLOCKABLE)
}

/// A process's [`Pending`] behind its lock, with a word readable without the lock: whether
/// nothing is pending (for the process or any thread) and no timer exists (ITIMER_REAL or a
/// POSIX timer). Every change goes through [`PendingLock::lock`], whose guard records the
/// word before it releases the lock; so a thread that reads "quiet" would have found, under
/// the lock, no signal to take and no timer to fire. A VM kernel's every syscall return asks
/// this instead of taking the lock twice (firing timers, looking for a deliverable signal).
pub struct PendingLock {
    m: crate::sync::SpinMutex<Pending>,
    quiet: core::sync::atomic::AtomicBool,
}

/// The guard of a [`PendingLock`]: the pending state, and on drop the lock-free word.
pub struct PendingGuard<'a> {
    g: crate::sync::SpinGuard<'a, Pending>,
    quiet: &'a core::sync::atomic::AtomicBool,
}

impl PendingLock {
    /// `p` behind a new lock.
    pub fn new(p: Pending) -> Self {
        let quiet = p.quiet();
        PendingLock { m: crate::sync::SpinMutex::new(p), quiet: core::sync::atomic::AtomicBool::new(quiet) }
    }
    /// Spins until the lock is free; the guard.
    pub fn lock(&self) -> PendingGuard<'_> {
        PendingGuard { g: self.m.lock(), quiet: &self.quiet }
    }
    /// Whether nothing is pending and no timer exists, as the last guard left it (no lock).
    pub fn quiet(&self) -> bool {
        self.quiet.load(core::sync::atomic::Ordering::Acquire)
    }
}

impl core::ops::Deref for PendingGuard<'_> {
    type Target = Pending;
    fn deref(&self) -> &Pending {
        &self.g
    }
}

impl core::ops::DerefMut for PendingGuard<'_> {
    fn deref_mut(&mut self) -> &mut Pending {
        &mut self.g
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        // Before the lock is released (the guard `g` drops after this).
        self.quiet.store(self.g.quiet(), core::sync::atomic::Ordering::Release);
    }
}

/// The signal state of one process: its dispositions and what is pending for it.
pub struct Signals {
    pub actions: crate::sync::SpinMutex<Actions>,
    pub pending: PendingLock,
}

impl Default for Signals {
    fn default() -> Self {
        Self::new()
    }
}

impl Signals {
    /// Discards the pending signals thread `tid` could take (not blocked by `mask`) that the
    /// process ignores (SIG_IGN, or SIG_DFL with a default action of ignoring), as Linux
    /// discards them: they never interrupt a call. Blocked ones stay pending (a handler may be
    /// set before they are unblocked; sigwait and signalfd take them).
    pub fn drop_ignored(&self, tid: i32, mask: u64) {
        let ignored: u64 = {
            let a = self.actions.lock();
            (1..=64usize).filter(|&s| a.ignored(s)).fold(0, |m, s| m | bit(s))
        };
        let mut p = self.pending.lock();
        let mut drop = p.set_for(tid) & ignored & !(mask & !UNBLOCKABLE);
        while drop != 0 {
            let sig = drop.trailing_zeros() as usize + 1;
            p.take_for(tid, sig);
            if p.set_for(tid) & bit(sig) == 0 {
                drop &= !bit(sig);
            }
        }
    }
    pub fn new() -> Self {
        Signals { actions: crate::sync::SpinMutex::new(Actions::default()), pending: PendingLock::new(Pending::new()) }
    }
    /// A forked child's: the same dispositions, nothing pending, no timer.
    pub fn fork(&self) -> Self {
        Signals {
            actions: crate::sync::SpinMutex::new(self.actions.lock().clone()),
            pending: PendingLock::new(Pending::new()),
        }
    }
}

#[cfg(test)]
mod restart_tests {
    use super::restarted_with_sa_restart;

    #[test]
    fn linux_restarts_reads_waits_and_socket_calls_but_never_polls_or_sleeps() {
        let none = [0usize; 6];
        // read, write, wait4, accept4, recvfrom, flock, openat: made again under SA_RESTART.
        for nr in [0, 1, 61, 288, 45, 73, 257] {
            assert!(restarted_with_sa_restart(nr, &none), "call {nr}");
        }
        // poll, select, pause, nanosleep, rt_sigsuspend, rt_sigtimedwait, epoll_wait, ppoll,
        // pselect6, clock_nanosleep, semop: EINTR whatever the handler's flags.
        for nr in [7, 23, 34, 35, 130, 128, 232, 271, 270, 230, 65] {
            assert!(!restarted_with_sa_restart(nr, &none), "call {nr}");
        }
        // futex: a wait (FUTEX_WAIT, FUTEX_WAIT_BITSET, private or not) without a timeout only.
        assert!(restarted_with_sa_restart(202, &[0x1000, 0x80, 7, 0, 0, 0]));
        assert!(restarted_with_sa_restart(202, &[0x1000, 9, 7, 0, 0, !0]));
        assert!(!restarted_with_sa_restart(202, &[0x1000, 0x80, 7, 0x7fff_0000, 0, 0]));
        assert!(!restarted_with_sa_restart(202, &[0x1000, 1, 1, 0, 0, 0]));
    }
}
