//! Signal syscalls. Handlers are installed through the platform (which keeps its own signals
//! out of the app's reach); the signal mask is the one the platform restores when the call
//! returns, so it is changed through the [`SyscallContext`].
use super::nr::*;
use super::SysResult;
use crate::errno::*;
use crate::kernel::LibOs;
use crate::platform::{Platform, SyscallContext};
use crate::user;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[RT_SIGACTION, RT_SIGPROCMASK];

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
                os.platform.sigaction(sig as i32, a[1], a[2], a[3])
            }
        }
        RT_SIGPROCMASK => sigprocmask(a[0], a[1], a[2], a[3], ctx),
        _ => return None,
    })
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
