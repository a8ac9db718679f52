//! SysV IPC: shared memory (shmget, shmat, shmdt, shmctl), semaphores (semget, semop,
//! semtimedop, semctl) and message queues (msgget, msgsnd, msgrcv, msgctl).
//!
//! Scoped to the app, never the host's objects. On linux-userland the app's processes are host
//! processes, so a segment must be memory the host shares between them: the calls go to the
//! host ([`HostPassthrough::ipc_call`]) only where the app has an IPC namespace of its own, which
//! holds exactly the app's objects (docs/security.md); without one they are ENOSYS. Platforms
//! without host processes (kvm) get the library OS's own semaphores and message queues
//! ([`crate::sysv`]) and shared memory ([`super::sysvshm`]: segments of the library OS over
//! shared objects of the platform).
use super::nr::*;
use super::SysResult;
use crate::errno::*;
use crate::kernel::LibOs;
use crate::platform::{HostPassthrough, Platform};
use crate::sysv::{Outcome, SemOp, IPC};
use crate::user;
use alloc::vec::Vec;

/// Syscall numbers served here.
pub const HANDLED: &[usize] =
    &[SHMGET, SHMAT, SHMCTL, SHMDT, SEMGET, SEMOP, SEMCTL, SEMTIMEDOP, MSGGET, MSGSND, MSGRCV, MSGCTL];

/// Served with a limitation users should know (docs/syscalls.md).
pub const PARTIAL: &[(usize, &str)] = &[
    (SHMGET, "linux-userland with its IPC namespace (the app's own objects only), without one ENOSYS; kvm: the library OS's own segments (no permission checks; at most 1 GiB each, memory given at shmget)"),
    (SHMAT, "as shmget"),
    (SHMDT, "as shmget"),
    (SHMCTL, "IPC_STAT, IPC_SET (kvm: the mode only), IPC_RMID, SHM_LOCK/SHM_UNLOCK (kvm: accepted, nothing to lock); kvm: no IPC_INFO, SHM_INFO, SHM_STAT"),
    (SEMGET, "linux-userland: as shmget; kvm: the library OS's own sets (no permission checks)"),
    (SEMCTL, "IPC_STAT, IPC_SET (accepted, ignored on kvm), IPC_RMID, GETVAL, SETVAL, GETALL, SETALL, GETPID, GETNCNT, GETZCNT"),
    (MSGGET, "linux-userland: as shmget; kvm: the library OS's own queues (no permission checks)"),
    (MSGCTL, "IPC_STAT, IPC_SET (accepted, ignored on kvm), IPC_RMID"),
];

const IPC_STAT: usize = 2;
const SHM_RDONLY: usize = 0o10000;
const SHM_EXEC: usize = 0o100000;
/// Offset of `shm_segsz` in `struct shmid_ds` (after the 48-byte `struct ipc_perm`).
const SHM_SEGSZ: usize = 48;

/// Serves `n` if it is a SysV IPC call.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    super::host_or_own(os, n, a, HANDLED, host, own)
}

fn host<P: Platform>(os: &LibOs<P>, h: &dyn HostPassthrough, n: usize, a: &[usize; 6]) -> SysResult {
    match n {
        SHMAT => {
            let at = h.ipc_call(SHMAT, *a)?;
            // Record the mapping (for /proc/self/maps and the memory count).
            let mut ds = [0u8; 112];
            if h.ipc_call(SHMCTL, [a[0], IPC_STAT, ds.as_mut_ptr() as usize, 0, 0, 0]).is_ok() {
                let len = u64::from_le_bytes(ds[SHM_SEGSZ..SHM_SEGSZ + 8].try_into().unwrap_or([0; 8])) as usize;
                let prot = if a[2] & SHM_RDONLY != 0 { 1 } else { 3 } | if a[2] & SHM_EXEC != 0 { 4 } else { 0 };
                os.mem.lock().insert(at, len, prot, true, None, 0);
            }
            Ok(at)
        }
        SHMDT => {
            h.ipc_call(SHMDT, *a)?;
            let mut mem = os.mem.lock();
            if let Some((start, v)) = mem.find(a[0]).map(|(s, v)| (s, v.end)) {
                mem.remove(start, v - start);
            }
            Ok(0)
        }
        _ => h.ipc_call(n, *a),
    }
}

/// `cmd` without IPC_64 (glibc may add it; the layouts are the 64-bit ones either way).
pub(super) fn cmd_of(c: usize) -> usize {
    c & !0x100
}

const IPC_RMID: usize = 0;
const IPC_SET: usize = 1;
const GETPID: usize = 11;
const GETVAL: usize = 12;
const GETALL: usize = 13;
const GETNCNT: usize = 14;
const GETZCNT: usize = 15;
const SETVAL: usize = 16;
const SETALL: usize = 17;
const MSG_NOERROR: usize = 0o10000;
const MSG_EXCEPT: usize = 0o20000;

/// A 48-byte `struct ipc_perm` for an object of the app (owned by the app's ids).
pub(super) fn ipc_perm<P: Platform>(os: &LibOs<P>, key: i32, mode: u32, id: i32) -> [u8; 48] {
    let (uid, gid) = os.platform.creds();
    let mut p = [0u8; 48];
    p[0..4].copy_from_slice(&key.to_le_bytes());
    for (at, v) in [(4, uid), (8, gid), (12, uid), (16, gid)] {
        p[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    p[20..22].copy_from_slice(&(mode as u16).to_le_bytes());
    p[24..26].copy_from_slice(&((id as u32 >> 15) as u16).to_le_bytes());
    p
}

/// Waits until `ready` holds or `deadline` passes (EAGAIN) or a handled signal comes (EINTR).
fn wait<P: Platform>(os: &LibOs<P>, ready: &mut dyn FnMut() -> bool, deadline: Option<u64>) -> Result<(), Errno> {
    match os.platform.block_until(ready, deadline)? {
        true => Ok(()),
        false => Err(EAGAIN),
    }
}

/// The library OS's own semaphores and message queues ([`crate::sysv`]).
fn own<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> SysResult {
    let now = os.now();
    let me = os.platform.pid();
    let id = a[0] as i32;
    match n {
        SEMGET => IPC.lock().semget(a[0] as i32, a[1] as i32, a[2] as u32, now).map(|v| v as usize),
        SEMOP | SEMTIMEDOP => {
            let nops = a[2];
            if nops == 0 {
                return Err(EINVAL);
            }
            if nops > crate::sysv::SEMOPM {
                return Err(E2BIG);
            }
            let raw = user::slice_in(&os.mem, a[1], nops * 6)?;
            let ops: Vec<SemOp> = raw
                .chunks_exact(6)
                .map(|c| SemOp {
                    num: u16::from_le_bytes([c[0], c[1]]),
                    op: i16::from_le_bytes([c[2], c[3]]),
                    flg: i16::from_le_bytes([c[4], c[5]]),
                })
                .collect();
            let deadline = if n == SEMTIMEDOP && a[3] != 0 {
                let [s, ns]: [i64; 2] = user::read_in(&os.mem, a[3])?;
                if s < 0 || !(0..1_000_000_000).contains(&ns) {
                    return Err(EINVAL);
                }
                Some(os.monotonic_ns().saturating_add((s as u64).saturating_mul(1_000_000_000) + ns as u64))
            } else {
                None
            };
            let mut waited = false;
            loop {
                match IPC.lock().semop(me, id, &ops, now) {
                    Ok(Outcome::Done(())) => {
                        os.platform.wake_all();
                        return Ok(0);
                    }
                    Ok(Outcome::WouldBlock) => {}
                    Err(EINVAL) if waited => return Err(EIDRM),
                    Err(e) => return Err(e),
                }
                wait(os, &mut || IPC.lock().sem_ready(id, &ops), deadline)?;
                waited = true;
            }
        }
        SEMCTL => {
            let mut t = IPC.lock();
            match cmd_of(a[2]) {
                IPC_RMID => {
                    t.semrm(id)?;
                    drop(t);
                    os.platform.wake_all();
                    Ok(0)
                }
                IPC_STAT => {
                    let s = t.sem(id)?;
                    let mut ds = [0u8; 104];
                    ds[0..48].copy_from_slice(&ipc_perm(os, s.key, s.mode, s.id));
                    ds[48..56].copy_from_slice(&s.otime.to_le_bytes());
                    ds[64..72].copy_from_slice(&s.ctime.to_le_bytes());
                    ds[80..88].copy_from_slice(&(s.vals.len() as u64).to_le_bytes());
                    drop(t);
                    user::slice_mut_in(&os.mem, a[3], 104)?.copy_from_slice(&ds);
                    Ok(0)
                }
                IPC_SET => t.sem(id).map(|_| 0),
                GETVAL | GETPID | GETNCNT | GETZCNT => {
                    let s = t.sem(id)?;
                    let i = a[1];
                    if i >= s.vals.len() {
                        return Err(EINVAL);
                    }
                    Ok(match cmd_of(a[2]) {
                        GETVAL => s.vals[i] as usize,
                        GETPID => s.pids[i] as usize,
                        _ => 0,
                    })
                }
                GETALL => {
                    let vals = t.sem(id)?.vals.clone();
                    drop(t);
                    let out = user::slice_mut_in(&os.mem, a[3], vals.len() * 2)?;
                    for (i, v) in vals.iter().enumerate() {
                        out[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
                    }
                    Ok(0)
                }
                SETVAL => {
                    t.semset(id, a[1], &[a[3] as i32], now)?;
                    drop(t);
                    os.platform.wake_all();
                    Ok(0)
                }
                SETALL => {
                    let len = t.sem(id)?.vals.len();
                    let raw = user::slice_in(&os.mem, a[3], len * 2)?;
                    let vals: Vec<i32> =
                        raw.chunks_exact(2).map(|c| i32::from(u16::from_le_bytes([c[0], c[1]]))).collect();
                    t.semset(id, 0, &vals, now)?;
                    drop(t);
                    os.platform.wake_all();
                    Ok(0)
                }
                _ => Err(EINVAL),
            }
        }
        MSGGET => IPC.lock().msgget(a[0] as i32, a[1] as u32, now).map(|v| v as usize),
        MSGSND => {
            let (size, flags) = (a[2], a[3]);
            if (size as isize) < 0 || size > crate::sysv::MSGMAX {
                return Err(EINVAL);
            }
            let mtype: i64 = user::read_in(&os.mem, a[1])?;
            if mtype <= 0 {
                return Err(EINVAL);
            }
            let text = user::slice_in(&os.mem, a[1] + 8, size)?.to_vec();
            let mut waited = false;
            loop {
                match IPC.lock().msgsnd(me, id, mtype, &text, now) {
                    Ok(Outcome::Done(())) => {
                        os.platform.wake_all();
                        return Ok(0);
                    }
                    Ok(Outcome::WouldBlock) if flags & crate::sysv::IPC_NOWAIT as usize != 0 => return Err(EAGAIN),
                    Ok(Outcome::WouldBlock) => {}
                    Err(EINVAL) if waited => return Err(EIDRM),
                    Err(e) => return Err(e),
                }
                wait(os, &mut || IPC.lock().msg_ready(id, text.len(), None), None)?;
                waited = true;
            }
        }
        MSGRCV => {
            let (size, mtype, flags) = (a[2], a[3] as i64, a[4]);
            if (size as isize) < 0 {
                return Err(EINVAL);
            }
            user::slice_mut_in(&os.mem, a[1], 8)?;
            let except = flags & MSG_EXCEPT != 0;
            let mut waited = false;
            loop {
                let got = IPC.lock().msgrcv(me, id, (mtype, except), size, flags & MSG_NOERROR != 0, now);
                match got {
                    Ok(Outcome::Done((t, text))) => {
                        os.platform.wake_all();
                        user::write_in(&os.mem, a[1], &t)?;
                        user::slice_mut_in(&os.mem, a[1] + 8, text.len())?.copy_from_slice(&text);
                        return Ok(text.len());
                    }
                    Ok(Outcome::WouldBlock) if flags & crate::sysv::IPC_NOWAIT as usize != 0 => return Err(ENOMSG),
                    Ok(Outcome::WouldBlock) => {}
                    Err(EINVAL) if waited => return Err(EIDRM),
                    Err(e) => return Err(e),
                }
                wait(os, &mut || IPC.lock().msg_ready(id, 0, Some((mtype, except))), None)?;
                waited = true;
            }
        }
        MSGCTL => {
            let mut t = IPC.lock();
            match cmd_of(a[1]) {
                IPC_RMID => {
                    t.msgrm(id)?;
                    drop(t);
                    os.platform.wake_all();
                    Ok(0)
                }
                IPC_STAT => {
                    let q = t.queue(id)?;
                    let mut ds = [0u8; 120];
                    ds[0..48].copy_from_slice(&ipc_perm(os, q.key, q.mode, q.id));
                    for (at, v) in [
                        (48, q.stime),
                        (56, q.rtime),
                        (64, q.ctime),
                        (72, q.bytes as u64),
                        (80, q.msgs.len() as u64),
                        (88, q.qbytes as u64),
                    ] {
                        ds[at..at + 8].copy_from_slice(&v.to_le_bytes());
                    }
                    ds[96..100].copy_from_slice(&q.lspid.to_le_bytes());
                    ds[100..104].copy_from_slice(&q.lrpid.to_le_bytes());
                    drop(t);
                    user::slice_mut_in(&os.mem, a[2], 120)?.copy_from_slice(&ds);
                    Ok(0)
                }
                IPC_SET => t.queue(id).map(|_| 0),
                _ => Err(EINVAL),
            }
        }
        SHMGET | SHMAT | SHMDT | SHMCTL => super::sysvshm::own(os, n, a),
        _ => Err(ENOSYS),
    }
}
