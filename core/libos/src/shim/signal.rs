//! Signal syscalls. Handlers are the core's dispositions (`signal.rs`), or the host's through
//! the platform's passthrough (which keeps its own signals out of the app's reach); the signal mask is the one the platform restores when the call
//! returns, so it is changed through the [`SyscallContext`].
use super::nr::*;
use super::SysResult;
use crate::errno::*;
use crate::kernel::LibOs;
use crate::platform::{Platform, SyscallContext};
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
    (KILL, "only the process itself, its process group (itself and its children) and its unreaped children; any other pid ESRCH"),
    (TGKILL, "threads of the process itself only"),
    (SIGALTSTACK, "SS_AUTODISARM accepted but does not disarm; a handler interrupting the runtime itself runs where the runtime was"),
];

const SIGSYS: usize = 31;

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
            } else {
                match os.platform.passthrough() {
                    Some(h) => h.sigaction(sig as i32, a[1], a[2], a[3]),
                    None => os.signals.actions.lock().sigaction(sig, a[1], a[2]),
                }
            }
        }
        RT_SIGPROCMASK => sigprocmask(a[0], a[1], a[2], a[3], ctx),
        SIGALTSTACK => os.platform.sigaltstack(a[0], a[1], ctx.stack_pointer()),
        KILL => {
            // Only this process exists for the app: itself (its pid, 0 = its group, -1 = every
            // process it may signal). Any other pid is a process it cannot see.
            let me = os.platform.pid() as isize;
            let pid = a[0] as i32 as isize;
            if a[1] > 64 {
                Err(EINVAL)
            } else if pid == me || pid == -me {
                send(os, KILL, [me as usize, a[1], 0, 0, 0, 0])
            } else if pid == 0 || pid == -1 {
                // Its process group: itself and its children (never every process of the host).
                for c in os.children.lock().clone() {
                    let _ = send(os, KILL, [c as usize, a[1], 0, 0, 0, 0]);
                }
                send(os, KILL, [me as usize, a[1], 0, 0, 0, 0])
            } else if pid > 0 && os.children.lock().contains(&(pid as i32)) {
                send(os, KILL, [pid as usize, a[1], 0, 0, 0, 0])
            } else {
                Err(ESRCH)
            }
        }
        TGKILL => {
            let me = os.platform.pid() as isize;
            if a[2] > 64 || (a[0] as i32) <= 0 || (a[1] as i32) <= 0 {
                Err(EINVAL)
            } else if a[0] as i32 as isize != me {
                Err(ESRCH)
            } else {
                send(os, TGKILL, [a[0], a[1], a[2], 0, 0, 0])
            }
        }
        TKILL => {
            if a[1] > 64 || (a[0] as i32) <= 0 {
                Err(EINVAL)
            } else {
                // The host refuses a tid outside this process only if it does not exist, so
                // go through tgkill with our own pid.
                let me = os.platform.pid() as usize;
                send(os, TGKILL, [me, a[0], a[1], 0, 0, 0])
            }
        }
        RT_SIGQUEUEINFO | RT_TGSIGQUEUEINFO => {
            let me = os.platform.pid() as usize;
            let sig = if n == RT_SIGQUEUEINFO { a[1] } else { a[2] };
            if sig > 64 {
                Err(EINVAL)
            } else if a[0] as i32 as isize != me as isize {
                Err(ESRCH)
            } else if sig == SIGSYS {
                send(os, KILL, [me, sig, 0, 0, 0, 0])
            } else {
                os.platform.signal_call(n, *a)
            }
        }
        ALARM | SETITIMER | GETITIMER | RT_SIGPENDING | PAUSE => os.platform.signal_call(n, *a),
        RT_SIGSUSPEND => {
            if a[1] != 8 {
                Err(EINVAL)
            } else {
                os.platform.signal_call(n, *a)
            }
        }
        _ => return None,
    })
}

/// Sends a signal to this process through the platform. SIGSYS belongs to the runtime: the app
/// may not send it (EPERM, logged).
fn send<P: Platform>(os: &LibOs<P>, n: usize, args: [usize; 6]) -> SysResult {
    let sig = if n == KILL { args[1] } else { args[2] };
    if sig == SIGSYS {
        os.debug_log(&[b"denied: sending SIGSYS (reserved by the runtime) -> EPERM"]);
        return Err(EPERM);
    }
    os.platform.signal_call(n, args)
}

fn sigprocmask(how: usize, set: usize, oset: usize, size: usize, ctx: &mut dyn SyscallContext) -> SysResult {
    if size != 8 {
        return Err(EINVAL);
    }
    let old = ctx.sigmask();
    let new = if set != 0 {
        let s: u64 = user::read(set)?;
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
        user::write(oset, &old)?;
    }
    if let Some(m) = new {
        ctx.set_sigmask(m);
    }
    Ok(0)
}
