//! Time and waiting: clocks, sleeps and futex.
use super::nr::*;
use super::SysResult;
use crate::abi::Timespec;
use crate::errno::*;
use crate::kernel::LibOs;
use crate::platform::Platform;
use crate::user;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[CLOCK_GETTIME, CLOCK_GETRES, GETTIMEOFDAY, TIME, NANOSLEEP, CLOCK_NANOSLEEP, FUTEX];

/// Syscalls served with a limitation users should know, and what it is (docs/syscalls.md is
/// generated from these arrays by scripts/gen_implemented.py).
pub const PARTIAL: &[(usize, &str)] = &[(FUTEX, "WAIT, WAKE, REQUEUE, CMP_REQUEUE and their BITSET forms, private to the process (linux-userland: the host futex, private and shared ops)")];

/// Serves `n` if it is a time syscall.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    let p = &os.platform;
    Some(match n {
        CLOCK_GETTIME => p.clock_gettime(a[0] as u32).and_then(|t| user::write_in(&os.mem, a[1], &t)).map(|_| 0),
        CLOCK_GETRES => {
            if a[0] > 11 {
                Err(EINVAL)
            } else if a[1] != 0 {
                user::write_in(&os.mem, a[1], &Timespec { tv_sec: 0, tv_nsec: 1 }).map(|_| 0)
            } else {
                Ok(0)
            }
        }
        GETTIMEOFDAY => {
            if a[0] == 0 {
                Ok(0)
            } else {
                p.clock_gettime(0).and_then(|t| user::write_in(&os.mem, a[0], &[t.tv_sec, t.tv_nsec / 1000])).map(|_| 0)
            }
        }
        TIME => p.clock_gettime(0).and_then(|t| {
            if a[0] != 0 {
                user::write_in(&os.mem, a[0], &t.tv_sec)?;
            }
            Ok(t.tv_sec as usize)
        }),
        NANOSLEEP => sleep_rel(os, a[0], a[1]),
        // Setting a clock is refused (EPERM, shim/denied.rs); a clock that cannot be set is
        // EINVAL first, as on Linux.
        CLOCK_SETTIME if a[0] != 0 => Err(EINVAL),
        CLOCK_NANOSLEEP => {
            // Linux sleeps on these clocks; the other valid ones cannot sleep (EOPNOTSUPP).
            match a[0] as i32 {
                0 | 1 | 2 | 7 | 8 | 9 | 11 => {}
                4..=6 => return Some(Err(EOPNOTSUPP)),
                _ => return Some(Err(EINVAL)),
            }
            if a[1] & 1 != 0 {
                // TIMER_ABSTIME: sleep until the clock reaches the given time.
                user::read_in::<Timespec>(&os.mem, a[2]).and_then(|until| {
                    let now = p.clock_gettime(a[0] as u32)?;
                    let mut d = Timespec { tv_sec: until.tv_sec - now.tv_sec, tv_nsec: until.tv_nsec - now.tv_nsec };
                    if d.tv_nsec < 0 {
                        d.tv_nsec += 1_000_000_000;
                        d.tv_sec -= 1;
                    }
                    if d.tv_sec >= 0 {
                        p.sleep(&d)?;
                    }
                    Ok(0)
                })
            } else {
                sleep_rel(os, a[2], a[3])
            }
        }
        FUTEX => match p.passthrough() {
            Some(h) => h.futex(a[0], a[1] as u32, a[2] as u32, a[3], a[4], a[5] as u32),
            None => futex_own(os, a),
        },
        _ => return None,
    })
}

/// futex(2) with the core's table; a wait's word and timeout must be app memory (EFAULT, as
/// Linux, rather than a fault in the core). A wake does not touch the word (Linux neither, for
/// a private futex), so it is not checked.
fn futex_own<P: Platform>(os: &LibOs<P>, a: &[usize; 6]) -> SysResult {
    let cmd = a[1] as u32 & 0x7f;
    if cmd == 0 || cmd == 9 {
        user::guard(&os.mem, a[0], 4, false)?;
        if a[3] != 0 {
            user::guard(&os.mem, a[3], 16, false)?;
        }
    }
    crate::futex::table_for(a[1] as u32, &os.futex).call(&os.platform, a)
}

/// A relative sleep; when a signal handler interrupts it (EINTR), the time left is written to
/// `rem` (if not NULL), measured on the monotonic clock, as Linux does.
fn sleep_rel<P: Platform>(os: &LibOs<P>, req: usize, rem: usize) -> SysResult {
    let t: Timespec = user::read_in(&os.mem, req)?;
    if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
        return Err(EINVAL);
    }
    let start = os.platform.clock_gettime(1).ok();
    match os.platform.sleep(&t) {
        Err(EINTR) => {
            if rem != 0 {
                let left = match (start, os.platform.clock_gettime(1).ok()) {
                    (Some(s), Some(e)) => remaining(&t, &s, &e),
                    _ => t,
                };
                user::write_in(&os.mem, rem, &left)?;
            }
            Err(EINTR)
        }
        r => r.map(|_| 0),
    }
}

/// `total - (end - start)`, at least zero.
fn remaining(total: &Timespec, start: &Timespec, end: &Timespec) -> Timespec {
    let ns = |t: &Timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
    let left = (ns(total) - (ns(end) - ns(start))).max(0);
    Timespec { tv_sec: (left / 1_000_000_000) as i64, tv_nsec: (left % 1_000_000_000) as i64 }
}
