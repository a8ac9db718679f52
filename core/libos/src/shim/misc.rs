//! Small calls programs make in passing: prctl's common options, the scheduling policy
//! queries (SCHED_OTHER only), getcpu, membarrier's query, sync, cache advice, memory locking,
//! capabilities (none: an unprivileged process in a container) and mincore.
use super::nr::*;
use super::SysResult;
use crate::abi::PAGE_SIZE;
use crate::errno::*;
use crate::kernel::LibOs;
use crate::platform::Platform;
use crate::user;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[
    PRCTL,
    SCHED_GETSCHEDULER,
    SCHED_SETSCHEDULER,
    SCHED_GETPARAM,
    SCHED_SETPARAM,
    SCHED_GET_PRIORITY_MAX,
    SCHED_GET_PRIORITY_MIN,
    SCHED_RR_GET_INTERVAL,
    GETCPU,
    MEMBARRIER,
    SYNC,
    SYNCFS,
    FADVISE64,
    READAHEAD,
    MLOCKALL,
    MUNLOCKALL,
    CAPGET,
    CAPSET,
    MINCORE,
    SCHED_SETAFFINITY,
    IOPRIO_GET,
    IOPRIO_SET,
    PERSONALITY,
];

/// Syscalls served with a limitation users should know, and what it is (docs/syscalls.md is
/// generated from these arrays by scripts/gen_implemented.py).
pub const PARTIAL: &[(usize, &str)] = &[
    (PRCTL, "PR_SET_NAME/PR_GET_NAME, PR_SET/GET_PDEATHSIG, PR_SET/GET_DUMPABLE, PR_SET/GET_NO_NEW_PRIVS, PR_SET/GET_CHILD_SUBREAPER, PR_CAPBSET_READ (nothing), PR_GET_SECCOMP (0), PR_GET_TIMERSLACK (50 µs; setting it changes nothing) kept and reported (no death signal is sent); others EINVAL"),
    (SCHED_SETSCHEDULER, "SCHED_OTHER, SCHED_BATCH and SCHED_IDLE with priority 0 accepted; real-time policies EPERM (unprivileged)"),
    (SCHED_SETPARAM, "priority 0 only (EINVAL otherwise, as for SCHED_OTHER)"),
    (GETCPU, "always CPU 0, node 0"),
    (MEMBARRIER, "MEMBARRIER_CMD_QUERY answers no supported command; others EINVAL"),
    (MLOCKALL, "accepted, locks nothing"),
    (CAPGET, "no capabilities (an unprivileged process in a container)"),
    (CAPSET, "only the empty set (EPERM otherwise)"),
    (MINCORE, "every page of a mapping of the library OS reported resident; ENOMEM outside them"),
    (FADVISE64, "advice checked and ignored"),
    (READAHEAD, "checked and ignored"),
    (SCHED_SETAFFINITY, "a mask with at least one of the platform's CPUs is accepted and reported by sched_getaffinity (one mask per process); threads run where the host puts them"),
    (IOPRIO_GET, "the process and its threads only; best effort, level 4 unless set"),
    (IOPRIO_SET, "as ioprio_get; the class and level are kept, not applied"),
    (PERSONALITY, "the value is kept and reported; no personality flag changes behaviour"),
];

const PR_SET_PDEATHSIG: usize = 1;
const PR_GET_PDEATHSIG: usize = 2;
const PR_GET_DUMPABLE: usize = 3;
const PR_SET_DUMPABLE: usize = 4;
const PR_SET_NAME: usize = 15;
const PR_GET_NAME: usize = 16;
const PR_GET_SECCOMP: usize = 21;
const PR_CAPBSET_READ: usize = 23;
const PR_SET_CHILD_SUBREAPER: usize = 36;
const PR_SET_TIMERSLACK: usize = 29;
const PR_GET_TIMERSLACK: usize = 30;
const PR_GET_CHILD_SUBREAPER: usize = 37;
const PR_SET_NO_NEW_PRIVS: usize = 38;
const PR_GET_NO_NEW_PRIVS: usize = 39;

/// Serves `n` if it is one of the calls of this module.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    HANDLED.contains(&n).then(|| serve(os, n, a))
}

fn serve<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> SysResult {
    match n {
        PRCTL => prctl(os, a),
        SCHED_GETSCHEDULER | SCHED_GETPARAM | SCHED_SETPARAM | SCHED_SETSCHEDULER | SCHED_RR_GET_INTERVAL => {
            sched(os, n, a)
        }
        // SCHED_OTHER, SCHED_BATCH, SCHED_IDLE: 0; SCHED_FIFO, SCHED_RR, SCHED_DEADLINE: 99 / 1.
        SCHED_GET_PRIORITY_MAX => match a[0] {
            0 | 3 | 5 | 6 => Ok(0),
            1 | 2 => Ok(99),
            _ => Err(EINVAL),
        },
        SCHED_GET_PRIORITY_MIN => match a[0] {
            0 | 3 | 5 | 6 => Ok(0),
            1 | 2 => Ok(1),
            _ => Err(EINVAL),
        },
        GETCPU => {
            for p in [a[0], a[1]] {
                if p != 0 {
                    user::write_in(&os.mem, p, &0u32)?;
                }
            }
            Ok(0)
        }
        MEMBARRIER => match (a[0], a[1]) {
            (0, 0) => Ok(0), // MEMBARRIER_CMD_QUERY: no command supported
            _ => Err(EINVAL),
        },
        SYNC => Ok(0),
        SYNCFS => os.fds.lock().get(a[0] as i32).map(|_| 0),
        FADVISE64 => {
            let f = os.fds.lock().get(a[0] as i32)?;
            if matches!(f.kind, crate::fd::FileKind::Obj(_))
                || (matches!(f.kind, crate::fd::FileKind::Host(_)) && f.path.is_empty())
            {
                Err(ESPIPE)
            } else if a[3] > 5 || (a[2] as i64) < 0 {
                Err(EINVAL)
            } else {
                Ok(0)
            }
        }
        READAHEAD => os.fds.lock().get(a[0] as i32).map(|_| 0),
        MLOCKALL => {
            // MCL_CURRENT, MCL_FUTURE, MCL_ONFAULT; one of the first two is needed.
            if a[0] & !7 != 0 || a[0] & 3 == 0 {
                Err(EINVAL)
            } else {
                Ok(0)
            }
        }
        MUNLOCKALL => Ok(0),
        CAPGET => capget(&os.mem, a[0], a[1]),
        CAPSET => {
            capget(&os.mem, a[0], 0)?;
            let d: [u32; 6] = user::read_in(&os.mem, a[1])?;
            if d.iter().any(|&v| v != 0) {
                Err(EPERM)
            } else {
                Ok(0)
            }
        }
        MINCORE => mincore(os, a[0], a[1], a[2]),
        SCHED_SETAFFINITY => {
            own(os, a[0])?;
            let n = os.platform.cpu_count().clamp(1, 1024);
            let mask = user::slice_in(&os.mem, a[2], a[1].min(128))?;
            let on = |i: usize| i / 8 < mask.len() && mask[i / 8] & (1 << (i % 8)) != 0;
            if !(0..n).any(on) {
                return Err(EINVAL);
            }
            // Kept for sched_getaffinity (the first 64 CPUs; all of them: 0).
            let kept = (0..n.min(64)).filter(|&i| on(i)).fold(0u64, |m, i| m | 1 << i);
            let all = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
            os.affinity.store(if kept == all || n > 64 { 0 } else { kept }, core::sync::atomic::Ordering::Relaxed);
            Ok(0)
        }
        IOPRIO_GET | IOPRIO_SET => ioprio(os, n, a),
        PERSONALITY => {
            // As Linux: any value is kept (0xffffffff only asks); the previous one is returned.
            let old = os.ident.prctl_get(5);
            if a[0] as u32 != u32::MAX {
                os.ident.prctl_set(5, a[0] as u32 as usize);
            }
            Ok(old)
        }
        _ => Err(ENOSYS),
    }
}

fn prctl<P: Platform>(os: &LibOs<P>, a: &[usize; 6]) -> SysResult {
    let id = &os.ident;
    match a[0] {
        PR_SET_NAME => {
            let n = user::cstr_in(&os.mem, a[1], 4095).or_else(|e| {
                if e == ENAMETOOLONG {
                    Ok(alloc::vec::Vec::new())
                } else {
                    Err(e)
                }
            })?;
            id.set_name(&n);
            crate::procfs::publish(os);
            Ok(0)
        }
        PR_GET_NAME => {
            let mut buf = [0u8; 16];
            let n = id.name().unwrap_or_else(|| {
                let exe = os.vfs.exe_path.lock().clone();
                let base = crate::fs::path::name(&exe);
                base[..base.len().min(15)].to_vec()
            });
            buf[..n.len()].copy_from_slice(&n);
            user::write_in(&os.mem, a[1], &buf).map(|_| 0)
        }
        PR_SET_PDEATHSIG => {
            if a[1] > 64 {
                return Err(EINVAL);
            }
            id.prctl_set(0, a[1]);
            Ok(0)
        }
        PR_GET_PDEATHSIG => user::write_in(&os.mem, a[1], &(id.prctl_get(0) as i32)).map(|_| 0),
        PR_GET_DUMPABLE => Ok(id.prctl_get(1)),
        PR_SET_DUMPABLE => {
            if a[1] > 1 {
                return Err(EINVAL);
            }
            id.prctl_set(1, a[1]);
            Ok(0)
        }
        PR_SET_NO_NEW_PRIVS => {
            if a[1] != 1 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
                return Err(EINVAL);
            }
            id.prctl_set(2, 1);
            Ok(0)
        }
        PR_GET_NO_NEW_PRIVS => Ok(id.prctl_get(2)),
        PR_SET_CHILD_SUBREAPER => {
            // Orphans go to the subreaper: the host's, where the app's processes are host
            // processes; else those of the library OS's process table.
            match os.platform.passthrough() {
                Some(h) => match h.process_call(PRCTL, [PR_SET_CHILD_SUBREAPER, a[1], 0, 0, 0, 0]) {
                    // A host without it (Windows): kept only, as before.
                    Ok(_) | Err(ENOSYS) => {}
                    Err(e) => return Err(e),
                },
                None => crate::proctab::TABLE.lock().set_subreaper(os.platform.pid(), a[1] != 0),
            }
            id.prctl_set(3, (a[1] != 0) as usize);
            Ok(0)
        }
        PR_GET_CHILD_SUBREAPER => user::write_in(&os.mem, a[1], &(id.prctl_get(3) as i32)).map(|_| 0),
        PR_GET_SECCOMP => Ok(0),
        // The default timer slack (50 µs); setting it is accepted and changes nothing.
        PR_GET_TIMERSLACK => Ok(50_000),
        PR_SET_TIMERSLACK => Ok(0),
        PR_CAPBSET_READ => {
            if a[1] > 40 {
                Err(EINVAL)
            } else {
                Ok(0)
            }
        }
        _ => Err(EINVAL),
    }
}

/// ioprio_get/ioprio_set for IOPRIO_WHO_PROCESS (1) of the process or a thread of it: the
/// value is kept per process in the identity (attribute 4).
fn ioprio<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> SysResult {
    const BE_4: usize = (2 << 13) | 4; // IOPRIO_CLASS_BE, level 4: what Linux reports by default
    match a[0] {
        1 => own(os, a[1])?,
        2 | 3 => {} // IOPRIO_WHO_PGRP, IOPRIO_WHO_USER: this process stands for them
        _ => return Err(EINVAL),
    }
    if n == IOPRIO_GET {
        let v = os.ident.prctl_get(4);
        return Ok(if v == 0 { BE_4 } else { v });
    }
    let (class, level) = (a[2] >> 13, a[2] & 0x1fff);
    match class {
        0 => os.ident.prctl_set(4, 0),
        1 => return Err(EPERM), // IOPRIO_CLASS_RT needs CAP_SYS_ADMIN
        2 if level < 8 => os.ident.prctl_set(4, a[2]),
        3 => os.ident.prctl_set(4, a[2]),
        _ => return Err(EINVAL),
    }
    Ok(0)
}

/// The process itself (pid 0 or its own) or ESRCH; EINVAL for a negative pid.
fn own<P: Platform>(os: &LibOs<P>, pid: usize) -> Result<(), Errno> {
    let pid = pid as i32;
    if pid < 0 {
        Err(EINVAL)
    } else if pid == 0 || pid == os.platform.pid() || pid == os.platform.ids().1 {
        Ok(())
    } else {
        Err(ESRCH)
    }
}

/// Whether `pid` (not negative) names a process of the app this one may ask about: itself,
/// its parent and its children; and any process of the app where the app's processes are
/// all the pid namespace holds (linux-userland with its own pid namespace: the host answers
/// getpgid only for them) or are the library OS's own (its process table).
fn app_process<P: Platform>(os: &LibOs<P>, pid: i32) -> bool {
    if pid == os.platform.pid() || pid == os.ppid() || os.children.lock().contains(pid) {
        return true;
    }
    match os.platform.passthrough() {
        Some(h) => h.private_pids() && h.process_call(GETPGID, [pid as usize, 0, 0, 0, 0, 0]).is_ok(),
        None => crate::proctab::TABLE.lock().get(pid).is_some(),
    }
}

/// The scheduling calls: every process of the app runs under SCHED_OTHER at priority 0, which
/// the queries report for any process of the app (`app_process`); the changes are the
/// process's own (another's: ESRCH, as before), and only to what it has already.
fn sched<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> SysResult {
    let query = matches!(n, SCHED_GETSCHEDULER | SCHED_GETPARAM | SCHED_RR_GET_INTERVAL);
    if !(query && (a[0] as i32) > 0 && app_process(os, a[0] as i32)) {
        own(os, a[0])?;
    }
    match n {
        SCHED_GETSCHEDULER => Ok(0),
        SCHED_GETPARAM => user::write_in(&os.mem, a[1], &0i32).map(|_| 0),
        SCHED_SETPARAM => {
            let prio: i32 = user::read_in(&os.mem, a[1])?;
            if prio != 0 {
                Err(EINVAL)
            } else {
                Ok(0)
            }
        }
        SCHED_SETSCHEDULER => {
            let policy = a[1] & !0x4000_0000; // SCHED_RESET_ON_FORK
            let prio: i32 = user::read_in(&os.mem, a[2])?;
            match policy {
                0 | 3 | 5 if prio == 0 => Ok(0),
                0 | 3 | 5 => Err(EINVAL),
                1 | 2 if (1..=99).contains(&prio) => Err(EPERM),
                _ => Err(EINVAL),
            }
        }
        _ => user::write_in(&os.mem, a[1], &[0i64, 100_000_000]).map(|_| 0), // SCHED_RR_GET_INTERVAL
    }
}

/// capget: version 3 (0x20080522) or 2; any other version is answered with the preferred one
/// written back and EINVAL; the data (when asked) is empty.
fn capget(mem: &crate::memlock::MemLock, hdr: usize, data: usize) -> SysResult {
    const V3: u32 = 0x2008_0522;
    const V2: u32 = 0x2007_1026;
    const V1: u32 = 0x1998_0330;
    let h: [u32; 2] = user::read_in(mem, hdr)?;
    if h[0] != V3 && h[0] != V2 && h[0] != V1 {
        user::write_in(mem, hdr, &[V3, h[1]])?;
        return if data == 0 { Ok(0) } else { Err(EINVAL) };
    }
    if (h[1] as i32) < 0 {
        return Err(EINVAL);
    }
    if data != 0 {
        let words = if h[0] == V1 { 3 } else { 6 };
        for i in 0..words {
            user::write_in(mem, data + i * 4, &0u32)?;
        }
    }
    Ok(0)
}

fn mincore<P: Platform>(os: &LibOs<P>, addr: usize, len: usize, vec: usize) -> SysResult {
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    let pages = len.div_ceil(PAGE_SIZE);
    let out = user::slice_mut_in(&os.mem, vec, pages)?;
    let mem = os.mem.lock();
    for (i, b) in out.iter_mut().enumerate() {
        if mem.find(addr + i * PAGE_SIZE).is_none() {
            return Err(ENOMEM);
        }
        *b = 1;
    }
    Ok(0)
}
