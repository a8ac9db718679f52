//! POSIX per-process timers: timer_create(2), timer_settime(2), timer_gettime(2),
//! timer_getoverrun(2), timer_delete(2).
//!
//! With the host's signals ([`HostPassthrough`], linux-userland) the host's timers serve them:
//! the shim checks the `struct sigevent` and hands the host its own copy, so a timer can never
//! send the runtime's signal (SIGSYS) or name a clock of a process outside the app. With the
//! core's signals (kvm) they are [`crate::ptimer`] timers on the monotonic clock, fired through
//! the platform's timer interrupt like ITIMER_REAL.
use super::nr::*;
use super::SysResult;
use crate::errno::*;
use crate::kernel::LibOs;
use crate::platform::{HostPassthrough, Platform};
use crate::ptimer::{SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD_ID};
use crate::user;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[TIMER_CREATE, TIMER_SETTIME, TIMER_GETTIME, TIMER_GETOVERRUN, TIMER_DELETE];

/// Served with a limitation users should know (docs/syscalls.md).
pub const PARTIAL: &[(usize, &str)] = &[(
    TIMER_CREATE,
    "clocks REALTIME, MONOTONIC, BOOTTIME and the CPU clocks of the process itself (no CPU clock of another process: EINVAL); SIGSYS refused (EPERM); kvm: CPU-time clocks count elapsed time and SIGEV_THREAD_ID signals the chosen thread",
)];

const SIGSYS: usize = 31;
const TIMER_ABSTIME: usize = 1;
const CLOCK_REALTIME: usize = 0;
const CLOCK_BOOTTIME: usize = 7;
const SIGALRM: usize = 14;

/// Serves `n` if it is a POSIX timer call.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    super::host_or_own(os, n, a, HANDLED, host, own)
}

/// The checked `struct sigevent` of timer_create: (notify, signal, value, tid); a null pointer
/// is SIGEV_SIGNAL with SIGALRM and the timer id as value (the value is filled in later).
fn sigevent<P: Platform>(os: &LibOs<P>, ptr: usize) -> Result<Option<(i32, usize, u64, i32)>, Errno> {
    if ptr == 0 {
        return Ok(None);
    }
    let raw: [u8; 20] = user::read_in(&os.mem, ptr)?;
    let value = u64::from_le_bytes(raw[0..8].try_into().unwrap_or([0; 8]));
    let signo = i32::from_le_bytes(raw[8..12].try_into().unwrap_or([0; 4]));
    let notify = i32::from_le_bytes(raw[12..16].try_into().unwrap_or([0; 4]));
    let tid = i32::from_le_bytes(raw[16..20].try_into().unwrap_or([0; 4]));
    match notify {
        SIGEV_NONE => Ok(Some((notify, 0, value, 0))),
        SIGEV_SIGNAL | SIGEV_THREAD_ID => {
            if !(1..=64).contains(&signo) {
                return Err(EINVAL);
            }
            if signo as usize == SIGSYS {
                os.debug_log(&[b"denied: a timer signalling SIGSYS (reserved by the runtime) -> EPERM"]);
                return Err(EPERM);
            }
            Ok(Some((notify, signo as usize, value, tid)))
        }
        _ => Err(EINVAL),
    }
}

/// The clocks a timer may count: CLOCK_REALTIME, MONOTONIC, PROCESS/THREAD_CPUTIME_ID,
/// BOOTTIME, and the CPU clocks of the calling process or thread (pid/tid 0, as glibc passes
/// for the CPUTIME ids); EINVAL for the rest, and for CPU clocks of other processes.
fn check_clock(clock: usize) -> Result<(), Errno> {
    let c = clock as i32;
    if clock >> 32 != 0 && clock >> 32 != 0xffff_ffff {
        return Err(EINVAL);
    }
    if (0..=3).contains(&c) || c == CLOCK_BOOTTIME as i32 || (-8..0).contains(&c) {
        Ok(())
    } else {
        Err(EINVAL)
    }
}

fn host<P: Platform>(os: &LibOs<P>, h: &dyn HostPassthrough, n: usize, a: &[usize; 6]) -> SysResult {
    match n {
        TIMER_CREATE => {
            check_clock(a[0])?;
            let ev = sigevent(os, a[1])?;
            user::slice_mut_in(&os.mem, a[2], 4)?;
            // The host reads the runtime's checked copy, not app memory the app could change.
            let mut copy = [0u8; 64];
            let evp = match ev {
                Some((notify, signo, value, tid)) => {
                    copy[0..8].copy_from_slice(&value.to_le_bytes());
                    copy[8..12].copy_from_slice(&(signo as i32).to_le_bytes());
                    copy[12..16].copy_from_slice(&notify.to_le_bytes());
                    copy[16..20].copy_from_slice(&tid.to_le_bytes());
                    copy.as_ptr() as usize
                }
                None => 0,
            };
            h.signal_call(TIMER_CREATE, [a[0], evp, a[2], 0, 0, 0])
        }
        TIMER_SETTIME => {
            user::slice_in(&os.mem, a[2], 32)?;
            if a[3] != 0 {
                user::slice_mut_in(&os.mem, a[3], 32)?;
            }
            h.signal_call(TIMER_SETTIME, [a[0], a[1], a[2], a[3], 0, 0])
        }
        TIMER_GETTIME => {
            user::slice_mut_in(&os.mem, a[1], 32)?;
            h.signal_call(TIMER_GETTIME, [a[0], a[1], 0, 0, 0, 0])
        }
        _ => h.signal_call(n, [a[0], 0, 0, 0, 0, 0]),
    }
}

/// An `struct itimerspec` in ns: (interval, value); EINVAL for a negative or non-normalized one.
fn read_itimerspec(mem: &crate::memlock::MemLock, ptr: usize) -> Result<(u64, u64), Errno> {
    let v: [i64; 4] = user::read_in(mem, ptr)?;
    if v.iter().any(|&x| x < 0) || v[1] >= 1_000_000_000 || v[3] >= 1_000_000_000 {
        return Err(EINVAL);
    }
    let ns = |s: i64, n: i64| (s as u64).saturating_mul(1_000_000_000).saturating_add(n as u64);
    Ok((ns(v[0], v[1]), ns(v[2], v[3])))
}

fn write_itimerspec(mem: &crate::memlock::MemLock, ptr: usize, every: u64, left: u64) -> Result<(), Errno> {
    let ts = |ns: u64| [(ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64];
    let (i, v) = (ts(every), ts(left));
    user::write_in(mem, ptr, &[i[0], i[1], v[0], v[1]])
}

fn own<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> SysResult {
    let id = a[0] as i32;
    match n {
        TIMER_CREATE => {
            check_clock(a[0])?;
            let ev = sigevent(os, a[1])?;
            if let Some((SIGEV_THREAD_ID, _, _, tid)) = ev {
                if tid <= 0 || !os.platform.has_thread(tid) {
                    return Err(EINVAL);
                }
            }
            user::slice_mut_in(&os.mem, a[2], 4)?;
            let mut p = os.signals.pending.lock();
            let (notify, signo, value) = ev.map_or((SIGEV_SIGNAL, SIGALRM, None), |e| (e.0, e.1, Some(e.2)));
            let id = p.posix.create(notify, signo, 0).ok_or(EAGAIN)?;
            if let Some(t) = p.posix.get_mut(id) {
                t.clock = a[0];
                // Without a sigevent the signal carries the timer id.
                t.value = value.unwrap_or(id as u64);
                // SIGEV_THREAD_ID: the signal goes to that thread alone.
                if let Some((SIGEV_THREAD_ID, _, _, tid)) = ev {
                    t.tid = tid;
                }
            }
            drop(p);
            user::write_in(&os.mem, a[2], &id).map(|_| 0)
        }
        TIMER_SETTIME => {
            let (every, value) = read_itimerspec(&os.mem, a[2])?;
            if a[1] & !TIMER_ABSTIME != 0 {
                return Err(EINVAL);
            }
            let now = os.monotonic_ns();
            // An absolute time is on the timer's clock; REALTIME is turned into a delay from now.
            let clock = os.signals.pending.lock().posix.get_mut(id).ok_or(EINVAL)?.clock;
            let delay = if a[1] & TIMER_ABSTIME != 0 && value != 0 {
                // A CPU clock's absolute time is turned into a delay from its reading now.
                let clock_now = match clock {
                    CLOCK_REALTIME | 2 | 3 => os.platform.clock_gettime(clock as u32).map_or(0, |t| {
                        (t.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec as u64)
                    }),
                    _ => now,
                };
                value.saturating_sub(clock_now).max(1)
            } else {
                value
            };
            let mut p = os.signals.pending.lock();
            let t = p.posix.get_mut(id).ok_or(EINVAL)?;
            let old = (t.every, if t.at != 0 { t.at.saturating_sub(now).max(1) } else { 0 });
            t.at = if value != 0 { now.saturating_add(delay) } else { 0 };
            t.every = every;
            let at = p.timer_deadline();
            drop(p);
            os.platform.arm_timer(at);
            if a[3] != 0 {
                write_itimerspec(&os.mem, a[3], old.0, old.1)?;
            }
            Ok(0)
        }
        TIMER_GETTIME => {
            let now = os.monotonic_ns();
            let mut p = os.signals.pending.lock();
            let t = p.posix.get_mut(id).ok_or(EINVAL)?;
            let (every, left) = (t.every, if t.at != 0 { t.at.saturating_sub(now).max(1) } else { 0 });
            drop(p);
            write_itimerspec(&os.mem, a[1], every, left).map(|_| 0)
        }
        TIMER_GETOVERRUN => {
            let mut p = os.signals.pending.lock();
            let pending = p.set();
            p.posix.get_mut(id).map(|t| t.overrun_count(pending) as usize).ok_or(EINVAL)
        }
        _ => {
            let mut p = os.signals.pending.lock();
            if !p.posix.delete(id) {
                return Err(EINVAL);
            }
            let at = p.timer_deadline();
            drop(p);
            os.platform.arm_timer(at);
            Ok(0)
        }
    }
}
