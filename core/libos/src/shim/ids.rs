//! The process's user view and accounting: get/set of uids, gids and groups (within the
//! sandbox, [`crate::ident`]), nice values, getrusage and times.
use alloc::vec::Vec;

use super::nr::*;
use super::SysResult;
use crate::errno::*;
use crate::kernel::LibOs;
use crate::platform::Platform;
use crate::user;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[
    GETUID,
    GETEUID,
    GETGID,
    GETEGID,
    GETGROUPS,
    GETRESUID,
    GETRESGID,
    SETUID,
    SETGID,
    SETREUID,
    SETREGID,
    SETRESUID,
    SETRESGID,
    SETFSUID,
    SETFSGID,
    SETGROUPS,
    GETPRIORITY,
    SETPRIORITY,
    GETRUSAGE,
    TIMES,
];

/// Syscalls served with a limitation users should know, and what it is (docs/syscalls.md is
/// generated from these arrays by scripts/gen_implemented.py).
pub const PARTIAL: &[(usize, &str)] = &[
    (SETUID, "changes the sandbox's own user view (getuid and /proc report it); host access stays the runtime's"),
    (SETGID, "as setuid"),
    (SETREUID, "as setuid"),
    (SETREGID, "as setuid"),
    (SETRESUID, "as setuid"),
    (SETRESGID, "as setuid"),
    (SETFSUID, "as setuid"),
    (SETFSGID, "as setuid"),
    (SETGROUPS, "as setuid"),
    (GETPRIORITY, "the process's own nice value (who 0 or its own pid, pgid or uid; ESRCH for others); scheduling is the host's"),
    (SETPRIORITY, "as getpriority; lowering the value needs root in the sandbox (EACCES)"),
    (GETRUSAGE, "CPU times from the platform's CPU clock (kvm: time since start), max RSS where the platform knows it; zero for children and for the counters"),
    (TIMES, "as getrusage; ticks of 100 Hz since an arbitrary point"),
];

/// CLK_TCK of x86-64 Linux.
const TICKS_PER_SEC: i64 = 100;

/// Serves `n` if it is an identity or accounting syscall.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    let id = &os.ident;
    Some(match n {
        GETUID => Ok(id.uids().real as usize),
        GETEUID => Ok(id.uids().effective as usize),
        GETGID => Ok(id.gids().real as usize),
        GETEGID => Ok(id.gids().effective as usize),
        GETRESUID | GETRESGID => {
            let s = if n == GETRESUID { id.uids() } else { id.gids() };
            [s.real, s.effective, s.saved]
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| user::write_in(&os.mem, a[i], v))
                .map(|_| 0)
        }
        GETGROUPS => getgroups(os, a[0] as i32, a[1]),
        SETUID | SETGID => id.set_id(a[0] as u32, n == SETGID).map(|_| 0),
        SETREUID | SETREGID => id.set_re(a[0] as u32, a[1] as u32, n == SETREGID).map(|_| 0),
        SETRESUID | SETRESGID => id.set_res(a[0] as u32, a[1] as u32, a[2] as u32, n == SETRESGID).map(|_| 0),
        SETFSUID | SETFSGID => Ok(id.set_fs(a[0] as u32, n == SETFSGID) as usize),
        SETGROUPS => setgroups(os, a[0], a[1]),
        GETPRIORITY => prio_target(os, a[0], a[1] as i32).map(|_| (20 - id.nice()) as usize),
        SETPRIORITY => prio_target(os, a[0], a[1] as i32).and_then(|_| id.set_nice(a[2] as i32).map(|_| 0)),
        GETRUSAGE => getrusage(os, a[0] as i32, a[1]),
        TIMES => times(os, a[0]),
        _ => return None,
    })
}

fn getgroups<P: Platform>(os: &LibOs<P>, size: i32, list: usize) -> SysResult {
    let g = os.ident.groups();
    if size < 0 {
        return Err(EINVAL);
    }
    if size == 0 {
        return Ok(g.len());
    }
    if (size as usize) < g.len() {
        return Err(EINVAL);
    }
    for (i, v) in g.iter().enumerate() {
        user::write_in(&os.mem, list + i * 4, v)?;
    }
    Ok(g.len())
}

fn setgroups<P: Platform>(os: &LibOs<P>, size: usize, list: usize) -> SysResult {
    if size > crate::ident::NGROUPS_MAX {
        return Err(EINVAL);
    }
    let g: Vec<u32> = (0..size).map(|i| user::read_in::<u32>(&os.mem, list + i * 4)).collect::<Result<_, _>>()?;
    os.ident.set_groups(g).map(|_| 0)
}

/// Checks the (which, who) of get/setpriority: the process itself only.
fn prio_target<P: Platform>(os: &LibOs<P>, which: usize, who: i32) -> Result<(), Errno> {
    let own = match which {
        0 | 1 => os.platform.pid(),       // PRIO_PROCESS, PRIO_PGRP
        2 => os.ident.uids().real as i32, // PRIO_USER
        _ => return Err(EINVAL),
    };
    if who == 0 || who == own {
        Ok(())
    } else {
        Err(ESRCH)
    }
}

/// CPU time of the process (clock 2) or the thread (clock 3), as (seconds, microseconds).
fn cpu_time<P: Platform>(os: &LibOs<P>, clock: u32) -> (i64, i64) {
    os.platform.clock_gettime(clock).map(|t| (t.tv_sec, t.tv_nsec / 1000)).unwrap_or((0, 0))
}

fn getrusage<P: Platform>(os: &LibOs<P>, who: i32, buf: usize) -> SysResult {
    // struct rusage: ru_utime, ru_stime (timeval), then 14 longs; ru_maxrss (KiB) is the first.
    let mut r = [0i64; 18];
    match who {
        0 | 1 => {
            let (s, us) = cpu_time(os, if who == 0 { 2 } else { 3 });
            r[0] = s;
            r[1] = us;
            r[4] = os.platform.resident().map_or(0, |b| (b / 1024) as i64);
        }
        -1 => {}
        _ => return Err(EINVAL),
    }
    user::write_in(&os.mem, buf, &r).map(|_| 0)
}

fn times<P: Platform>(os: &LibOs<P>, buf: usize) -> SysResult {
    if buf != 0 {
        let (s, us) = cpu_time(os, 2);
        let ticks = s * TICKS_PER_SEC + us / (1_000_000 / TICKS_PER_SEC);
        user::write_in(&os.mem, buf, &[ticks, 0i64, 0, 0])?;
    }
    let now = os.platform.clock_gettime(1)?;
    Ok((now.tv_sec * TICKS_PER_SEC + now.tv_nsec / (1_000_000_000 / TICKS_PER_SEC)) as usize)
}
