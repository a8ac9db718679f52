//! Signal syscalls. Handlers are the core's dispositions (`signal.rs`), or the host's through
//! the platform's passthrough (which keeps its own signals out of the app's reach); the signal mask is the one the platform restores when the call
//! returns, so it is changed through the [`SyscallContext`].
use super::nr::*;
use super::SysResult;
use crate::errno::*;
use crate::kernel::LibOs;
use crate::platform::{HostPassthrough, Platform, SyscallContext};
use crate::user;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[
    RT_SIGACTION,
    RT_SIGPROCMASK,
    KILL,
    TKILL,
    TGKILL,
    ALARM,
    SETITIMER,
    GETITIMER,
    RT_SIGPENDING,
    RT_SIGSUSPEND,
    PAUSE,
    RT_SIGQUEUEINFO,
    RT_TGSIGQUEUEINFO,
    SIGALTSTACK,
];

/// Syscalls every platform serves itself, before the shim sees them (they need the trapped
/// register frame): the return from an app signal handler.
pub const SERVED_BY_PLATFORM: &[usize] = &[RT_SIGRETURN];

/// Syscalls served with a limitation users should know, and what it is (docs/syscalls.md is
/// generated from these arrays by scripts/gen_implemented.py).
pub const PARTIAL: &[(usize, &str)] = &[
    (RT_SIGRETURN, "app handlers return through the platform's own restorer; a call outside a handler frame is not supported"),
    (KILL, "processes of the app only; linux-userland without a pid namespace of its own: only the process itself and its children"),
    (TGKILL, "threads of the process itself only"),
    (RT_SIGQUEUEINFO, "RLIMIT_SIGPENDING counts the process's own queued real-time signals (Linux: the user's); linux-userland: the host queues them, the app's limit applies only when it is 0"),
    (RT_TGSIGQUEUEINFO, "as rt_sigqueueinfo"),
    (SIGALTSTACK, "SS_AUTODISARM accepted but does not disarm; a handler interrupting the runtime itself runs where the runtime was"),
];

const SIGSYS: usize = 31;
/// RLIMIT_SIGPENDING's index: how many real-time signals may be queued.
const RLIMIT_SIGPENDING: usize = 11;

const SIGKILL: usize = 9;
const SIGSTOP: usize = 19;

/// Serves `n` if it is a signal syscall.
pub fn dispatch<P: Platform>(
    os: &LibOs<P>,
    n: usize,
    a: &[usize; 6],
    ctx: &mut dyn SyscallContext,
) -> Option<SysResult> {
    Some(match n {
        RT_SIGACTION => {
            let sig = a[0];
            if a[3] != 8 || sig == 0 || sig > 64 || ((sig == SIGKILL || sig == SIGSTOP) && a[1] != 0) {
                Err(EINVAL)
            } else if let Err(e) =
                guard_opt(os, a[1], SIGACTION_SIZE, false).and(guard_opt(os, a[2], SIGACTION_SIZE, true))
            {
                Err(e)
            } else {
                match os.platform.passthrough() {
                    Some(h) => h.sigaction(sig as i32, a[1], a[2], a[3]),
                    None => os.signals.actions.lock().sigaction(sig, a[1], a[2]),
                }
            }
        }
        RT_SIGPROCMASK => sigprocmask(&os.mem, a[0], a[1], a[2], a[3], ctx),
        SIGALTSTACK => guard_opt(os, a[0], STACK_T_SIZE, false)
            .and(guard_opt(os, a[1], STACK_T_SIZE, true))
            .and_then(|_| os.platform.sigaltstack(a[0], a[1], ctx.stack_pointer())),
        _ if !HANDLED.contains(&n) => return None,
        _ => match os.platform.passthrough() {
            Some(h) => host_signal(os, h, n, a),
            None => own_signal(os, n, a, ctx),
        },
    })
}

/// The signal a sending call (kill, tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo) sends,
/// checked: EINVAL above 64; EPERM for SIGSYS, which belongs to the runtime (logged). 0 for the
/// calls that send none.
fn signal_sent<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Result<usize, Errno> {
    let sig = match n {
        KILL | TKILL | RT_SIGQUEUEINFO => a[1],
        TGKILL | RT_TGSIGQUEUEINFO => a[2],
        _ => return Ok(0),
    };
    if sig > 64 {
        return Err(EINVAL);
    }
    if sig == SIGSYS {
        os.debug_log(&[b"denied: sending SIGSYS (reserved by the runtime) -> EPERM"]);
        return Err(EPERM);
    }
    Ok(sig)
}

/// The signal calls with the host's signals (linux-userland). The app may reach itself, its
/// children and, where its processes have their own pid namespace, any process of the app;
/// never the runtime's own signal (SIGSYS) or a process outside the app.
fn host_signal<P: Platform>(os: &LibOs<P>, h: &dyn HostPassthrough, n: usize, a: &[usize; 6]) -> SysResult {
    let me = os.platform.pid() as isize;
    signal_sent(os, n, a)?;
    match n {
        KILL => {
            let pid = a[0] as i32 as isize;
            // A group whose leader the namespace cannot see (the one the app started in) may
            // hold processes outside the app: then only the process and its children.
            let own_group = || h.process_call(GETPGID, [0; 6]).is_ok_and(|g| g != 0);
            if h.private_pids() && (pid != 0 || own_group()) {
                h.signal_call(KILL, *a)
            } else if h.private_pids() {
                // kill(0) in the group the app started in: every process of the app that
                // stayed in it is in the pid namespace, so kill(-1) (all of them but the
                // caller) and then the caller.
                h.signal_call(KILL, [usize::MAX, a[1], 0, 0, 0, 0])
                    .or_else(|e| if e == ESRCH { Ok(0) } else { Err(e) })?;
                h.signal_call(KILL, [me as usize, a[1], 0, 0, 0, 0])
            } else if pid == me || pid == -me {
                h.signal_call(KILL, [me as usize, a[1], 0, 0, 0, 0])
            } else if pid == 0 || pid == -1 {
                for c in os.children.lock().to_vec() {
                    let _ = h.signal_call(KILL, [c as usize, a[1], 0, 0, 0, 0]);
                }
                h.signal_call(KILL, [me as usize, a[1], 0, 0, 0, 0])
            } else if pid > 0 && os.children.lock().contains(pid as i32) {
                h.signal_call(KILL, [pid as usize, a[1], 0, 0, 0, 0])
            } else {
                Err(ESRCH)
            }
        }
        TGKILL => {
            if (a[0] as i32) <= 0 || (a[1] as i32) <= 0 {
                Err(EINVAL)
            } else if a[0] as i32 as isize != me {
                Err(ESRCH)
            } else {
                h.signal_call(TGKILL, [a[0], a[1], a[2], 0, 0, 0])
            }
        }
        TKILL => {
            if (a[0] as i32) <= 0 {
                Err(EINVAL)
            } else {
                // The host refuses a tid outside this process only if it does not exist, so
                // go through tgkill with our own pid.
                h.signal_call(TGKILL, [me as usize, a[0], a[1], 0, 0, 0])
            }
        }
        RT_SIGQUEUEINFO | RT_TGSIGQUEUEINFO => {
            let sig = signal_sent(os, n, a)?;
            if a[0] as i32 as isize != me {
                Err(ESRCH)
            } else if sig >= crate::signal::SIGRTMIN && os.limits.lock()[RLIMIT_SIGPENDING].cur == 0 {
                // The host queues the signals and counts them against its own per-user
                // limit; an app limit of 0 (no queued signal at all) is applied here.
                Err(EAGAIN)
            } else {
                h.signal_call(n, *a)
            }
        }
        RT_SIGSUSPEND if a[1] != 8 => Err(EINVAL),
        RT_SIGPENDING if a[1] <= 8 => guard_opt(os, a[0], a[1], true).and_then(|_| h.signal_call(n, *a)),
        _ => h.signal_call(n, *a),
    }
}

/// The signal calls with the core's own signal state ([`crate::signal`]) and process table
/// ([`crate::proctab`]): kvm and every platform without host processes.
fn own_signal<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6], ctx: &mut dyn SyscallContext) -> SysResult {
    use crate::signal::{SI_TKILL, SI_USER, UNBLOCKABLE};
    let me = os.platform.pid();
    let sig = signal_sent(os, n, a)?;
    match n {
        KILL => {
            let targets = crate::proctab::TABLE.lock().kill_targets(me, a[0] as i32)?;
            if sig != 0 {
                for (pid, s) in targets {
                    let mut p = s.pending.lock();
                    // SIGCONT discards pending stop signals, a stop signal a pending SIGCONT.
                    match sig {
                        18 => (19..=22).for_each(|st| {
                            let _ = p.take(st);
                        }),
                        19..=22 => {
                            let _ = p.take(18);
                        }
                        _ => {}
                    }
                    p.raise(sig, SI_USER, 0);
                    drop(p);
                    os.platform.notify_signal(pid);
                }
            }
            Ok(0)
        }
        TGKILL | TKILL => {
            let (tgid, tid) = if n == TGKILL { (a[0] as i32, a[1] as i32) } else { (me, a[0] as i32) };
            if tgid <= 0 || tid <= 0 {
                return Err(EINVAL);
            }
            if tgid != me || !os.platform.has_thread(tid) {
                return Err(ESRCH);
            }
            if sig != 0 {
                os.signals.pending.lock().raise_to(tid, sig, SI_TKILL, 0);
            }
            os.platform.notify_signal(me);
            Ok(0)
        }
        RT_SIGQUEUEINFO | RT_TGSIGQUEUEINFO => {
            let info = if n == RT_SIGQUEUEINFO { a[2] } else { a[3] };
            let si: [u8; 32] = user::read_in(&os.mem, info)?;
            let code = i32::from_le_bytes([si[8], si[9], si[10], si[11]]);
            if code >= 0 || code == SI_TKILL {
                return Err(EPERM);
            }
            if a[0] as i32 != me || (n == RT_TGSIGQUEUEINFO && !os.platform.has_thread(a[1] as i32)) {
                return Err(ESRCH);
            }
            let value = u64::from_le_bytes(si[24..32].try_into().unwrap_or([0; 8]));
            if sig != 0 {
                let limit = os.limits.lock()[RLIMIT_SIGPENDING].cur;
                let mut p = os.signals.pending.lock();
                if n == RT_TGSIGQUEUEINFO {
                    p.queue_to(a[1] as i32, sig, code, value, limit)?;
                } else {
                    p.queue(sig, code, value, limit)?;
                }
            }
            os.platform.notify_signal(me);
            Ok(0)
        }
        RT_SIGPENDING => {
            if a[1] > 8 {
                return Err(EINVAL);
            }
            let set = os.signals.pending.lock().set_for(os.platform.ids().1) & ctx.sigmask();
            user::slice_mut_in(&os.mem, a[0], a[1])?.copy_from_slice(&set.to_le_bytes()[..a[1]]);
            Ok(0)
        }
        RT_SIGSUSPEND => {
            if a[1] != 8 {
                return Err(EINVAL);
            }
            let mask: u64 = user::read_in(&os.mem, a[0])?;
            ctx.suspend_mask(mask & !UNBLOCKABLE);
            Err(wait_for_signal(os))
        }
        PAUSE => Err(wait_for_signal(os)),
        ALARM => {
            let now = os.monotonic_ns();
            let mut p = os.signals.pending.lock();
            let left = crate::signal::alarm(&mut p, now, a[0] as u32 as u64);
            let at = p.timer_deadline();
            drop(p);
            os.platform.arm_timer(at);
            Ok(left)
        }
        SETITIMER | GETITIMER => {
            let now = os.monotonic_ns();
            let (set, new, old) = if n == SETITIMER { (true, a[1], a[2]) } else { (false, 0, a[1]) };
            guard_opt(os, new, ITIMERVAL_SIZE, false)?;
            guard_opt(os, old, ITIMERVAL_SIZE, true)?;
            let mut p = os.signals.pending.lock();
            crate::signal::itimer(&mut p, now, a[0], set, new, old)?;
            let at = p.timer_deadline();
            drop(p);
            if set {
                os.platform.arm_timer(at);
            }
            Ok(0)
        }
        _ => Err(ENOSYS),
    }
}

/// Waits until a signal the app handles is deliverable (rt_sigsuspend, pause); returns the
/// error the call ends with (EINTR).
fn wait_for_signal<P: Platform>(os: &LibOs<P>) -> Errno {
    loop {
        match os.platform.block_until(&mut || false, None) {
            Ok(_) => continue,
            Err(e) => return e,
        }
    }
}

/// The signal mask argument of ppoll, pselect6, epoll_pwait and epoll_pwait2 (for any other
/// call `n`, or with none given, nothing): read and checked (EINVAL for a set size other than
/// 8, EFAULT), SIGKILL and SIGSTOP taken out, and put in force for the wait by the platform
/// ([`SyscallContext::set_wait_mask`]), before the call is served.
pub fn wait_mask<P: Platform>(
    os: &LibOs<P>,
    n: usize,
    a: &[usize; 6],
    ctx: &mut dyn SyscallContext,
) -> Result<(), Errno> {
    let (set, size) = match n {
        PPOLL => (a[3], a[4]),
        EPOLL_PWAIT | EPOLL_PWAIT2 => (a[4], a[5]),
        // pselect6's sixth argument points at { const sigset_t *ss; size_t ss_len }.
        PSELECT6 if a[5] != 0 => {
            let d: [usize; 2] = user::read_in(&os.mem, a[5])?;
            (d[0], d[1])
        }
        _ => return Ok(()),
    };
    if set == 0 {
        return Ok(());
    }
    if size != 8 {
        return Err(EINVAL);
    }
    let m: u64 = user::read_in(&os.mem, set)?;
    ctx.set_wait_mask(m & !crate::signal::UNBLOCKABLE);
    Ok(())
}

/// Sizes of `struct kernel_sigaction` and `stack_t`.
const SIGACTION_SIZE: usize = 32;
const STACK_T_SIZE: usize = 24;
const ITIMERVAL_SIZE: usize = 32;

/// EFAULT when the optional (non-null) struct pointer `ptr` of `len` bytes is not memory the
/// app may read (or, with `write`, write), checked before the platform copies it.
fn guard_opt<P: Platform>(os: &LibOs<P>, ptr: usize, len: usize, write: bool) -> Result<(), Errno> {
    if ptr == 0 {
        return Ok(());
    }
    user::guard(&os.mem, ptr, len, write)
}

fn sigprocmask(
    mem: &crate::memlock::MemLock,
    how: usize,
    set: usize,
    oset: usize,
    size: usize,
    ctx: &mut dyn SyscallContext,
) -> SysResult {
    if size != 8 {
        return Err(EINVAL);
    }
    let old = ctx.sigmask();
    let new = if set != 0 {
        let s: u64 = user::read_in(mem, set)?;
        let m = match how {
            0 => old | s,
            1 => old & !s,
            2 => s,
            _ => return Err(EINVAL),
        };
        Some(m & !((1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))))
    } else {
        None
    };
    if oset != 0 {
        user::write_in(mem, oset, &old)?;
    }
    if let Some(m) = new {
        ctx.set_sigmask(m);
    }
    Ok(0)
}
