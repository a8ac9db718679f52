//! POSIX message queues: mq_open, mq_unlink, mq_timedsend, mq_timedreceive, mq_notify and
//! mq_getsetattr.
//!
//! Scoped to the app, never the host's queues. On linux-userland the app's processes are host
//! processes and its signals the host's, so the calls go to the host
//! ([`HostPassthrough::ipc_call`]) only where the app has an IPC namespace of its own (whose
//! queues are exactly the app's, docs/security.md): a queue descriptor is then a host
//! descriptor, shared across fork and ready in poll like any other. Platforms without host
//! processes (kvm) get the library OS's own queues ([`crate::mqueue`]).
use super::nr::{MQ_GETSETATTR, MQ_NOTIFY, MQ_OPEN, MQ_TIMEDRECEIVE, MQ_TIMEDSEND, MQ_UNLINK};
use super::SysResult;
use crate::abi::{O_NONBLOCK, O_RDWR};
use crate::errno::*;
use crate::fd::{FileKind, HostFd, OpenFile};
use crate::kernel::LibOs;
use crate::kobj::Obj;
use crate::mqueue::{Attr, MqDesc, Notify, Sent, QUEUES};
use crate::platform::{HostPassthrough, Platform};
use crate::user;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[MQ_OPEN, MQ_UNLINK, MQ_TIMEDSEND, MQ_TIMEDRECEIVE, MQ_NOTIFY, MQ_GETSETATTR];

/// Served with a limitation users should know (docs/syscalls.md).
pub const PARTIAL: &[(usize, &str)] = &[
    (MQ_OPEN, "linux-userland with its IPC namespace (the app's own queues only), without one ENOSYS; kvm: the library OS's own queues"),
    (MQ_NOTIFY, "SIGEV_SIGNAL and SIGEV_NONE; SIGEV_THREAD (a netlink socket underneath) is EINVAL; linux-userland: never SIGSYS (EPERM)"),
];

const O_CREAT: usize = 0o100;
const O_EXCL: usize = 0o200;
const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGSYS: i32 = 31;
/// si_code of a message queue notification.
const SI_MESGQ: i32 = -3;
const NAME_MAX: usize = 255;
/// Limits for a process without CAP_SYS_RESOURCE (/proc/sys/fs/mqueue/msg_max, msgsize_max).
const USER_MAXMSG: usize = 10;
const USER_MSGSIZE: usize = 8192;

/// Serves `n` if it is a message queue call.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    super::host_or_own(os, n, a, HANDLED, host, own)
}

/// The host descriptor behind app descriptor `fd` (EBADF if it is not a host object).
fn host_fd<P: Platform>(os: &LibOs<P>, fd: i32) -> Result<(usize, Arc<OpenFile>), Errno> {
    let f = os.fds.lock().get(fd)?;
    match &f.kind {
        FileKind::Host(h) => Ok((h.0 as usize, f.clone())),
        _ => Err(EBADF),
    }
}

fn host<P: Platform>(os: &LibOs<P>, h: &dyn HostPassthrough, n: usize, a: &[usize; 6]) -> SysResult {
    match n {
        MQ_OPEN => {
            let fd = h.ipc_call(MQ_OPEN, *a)? as i32;
            // Linux makes every queue descriptor close-on-exec; so does the host's, so the app's is.
            let file = OpenFile::new(FileKind::Host(HostFd(fd)), Vec::new(), O_RDWR | (a[1] as u32 & O_NONBLOCK));
            os.fds.lock().alloc(file, true, 0).map(|v| v as usize)
        }
        MQ_UNLINK => h.ipc_call(MQ_UNLINK, *a),
        MQ_NOTIFY => {
            let (hfd, _keep) = host_fd(os, a[0] as i32)?;
            if a[1] == 0 {
                return h.ipc_call(MQ_NOTIFY, [hfd, 0, 0, 0, 0, 0]);
            }
            // The host gets a copy it cannot be raced on: no SIGSYS (the runtime's), no
            // SIGEV_THREAD (its netlink socket is not the app's to have).
            let ev: [u8; 64] = user::read_in(&os.mem, a[1])?;
            let (signo, how) = sigev(&ev);
            match how {
                SIGEV_SIGNAL if signo == SIGSYS => Err(EPERM),
                SIGEV_SIGNAL | SIGEV_NONE => h.ipc_call(MQ_NOTIFY, [hfd, ev.as_ptr() as usize, 0, 0, 0, 0]),
                _ => Err(EINVAL),
            }
        }
        _ => {
            let (hfd, _keep) = host_fd(os, a[0] as i32)?;
            h.ipc_call(n, [hfd, a[1], a[2], a[3], a[4], 0])
        }
    }
}

/// (sigev_signo, sigev_notify) of a 64-byte `struct sigevent`.
fn sigev(ev: &[u8; 64]) -> (i32, i32) {
    let word = |at: usize| i32::from_le_bytes([ev[at], ev[at + 1], ev[at + 2], ev[at + 3]]);
    (word(8), word(12))
}

/// The queue descriptor `fd` (EBADF for anything else).
fn desc<P: Platform>(os: &LibOs<P>, fd: i32) -> Result<Arc<OpenFile>, Errno> {
    let f = os.fds.lock().get(fd)?;
    match &f.kind {
        FileKind::Obj(Obj::Mqueue(_)) => Ok(f),
        _ => Err(EBADF),
    }
}

fn mq_of(f: &OpenFile) -> &MqDesc {
    match &f.kind {
        FileKind::Obj(Obj::Mqueue(d)) => d,
        _ => unreachable!("desc() returned a message queue"),
    }
}

/// A queue name from the app: what follows the leading '/' the C library strips (ENOENT when
/// empty, EACCES with a '/' inside, ENAMETOOLONG past NAME_MAX).
fn name_in<P: Platform>(os: &LibOs<P>, ptr: usize) -> Result<Vec<u8>, Errno> {
    let name = user::cstr_in(&os.mem, ptr, NAME_MAX)?;
    if name.is_empty() || name == b"." || name == b".." {
        return Err(ENOENT);
    }
    if name.contains(&b'/') {
        return Err(EACCES);
    }
    Ok(name)
}

/// An absolute CLOCK_REALTIME timeout as a deadline of the monotonic clock (None: none);
/// EINVAL for a non-normalized one, as Linux checks before anything else.
fn deadline<P: Platform>(os: &LibOs<P>, ptr: usize) -> Result<Option<u64>, Errno> {
    if ptr == 0 {
        return Ok(None);
    }
    let [s, ns]: [i64; 2] = user::read_in(&os.mem, ptr)?;
    if s < 0 || !(0..1_000_000_000).contains(&ns) {
        return Err(EINVAL);
    }
    let at = (s as u64).saturating_mul(1_000_000_000).saturating_add(ns as u64);
    let now = os.platform.clock_gettime(0)?;
    let now = (now.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(now.tv_nsec as u64);
    Ok(Some(os.monotonic_ns().saturating_add(at.saturating_sub(now))))
}

/// Whether the app's effective user may open a queue of `mode` owned by `uid` for `want`
/// (4 read, 2 write, 6 both); root always may.
fn permitted<P: Platform>(os: &LibOs<P>, mode: u32, uid: u32, want: u32) -> bool {
    let me = os.ident.uids().effective;
    let bits = if me == uid { mode >> 6 } else { mode } & 7;
    me == 0 || bits & want == want
}

/// The library OS's own queues ([`crate::mqueue`]).
fn own<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> SysResult {
    match n {
        MQ_OPEN => open(os, a[0], a[1], a[2] as u32, a[3]),
        MQ_UNLINK => {
            let name = name_in(os, a[0])?;
            QUEUES.lock().unlink(&name).map(|_| 0)
        }
        MQ_TIMEDSEND => send(os, a[0] as i32, a[1], a[2], a[3], a[4]),
        MQ_TIMEDRECEIVE => receive(os, a[0] as i32, a[1], a[2], a[3], a[4]),
        MQ_NOTIFY => notify(os, a[0] as i32, a[1]),
        _ => getsetattr(os, a[0] as i32, a[1], a[2]),
    }
}

fn open<P: Platform>(os: &LibOs<P>, name: usize, oflag: usize, mode: u32, attr: usize) -> SysResult {
    let name = name_in(os, name)?;
    let (read, write) = match oflag & 3 {
        0 => (true, false),
        1 => (false, true),
        2 => (true, true),
        _ => return Err(EINVAL),
    };
    let root = os.ident.uids().effective == 0;
    let attr = if oflag & O_CREAT != 0 && attr != 0 {
        let [_, maxmsg, msgsize, _]: [i64; 4] = user::read_in(&os.mem, attr)?;
        let (lim_n, lim_s) =
            if root { (crate::mqueue::HARD_MAXMSG, crate::mqueue::HARD_MSGSIZE) } else { (USER_MAXMSG, USER_MSGSIZE) };
        if maxmsg <= 0 || msgsize <= 0 || maxmsg as u64 > lim_n as u64 || msgsize as u64 > lim_s as u64 {
            return Err(EINVAL);
        }
        Attr { maxmsg: maxmsg as usize, msgsize: msgsize as usize }
    } else {
        Attr { maxmsg: crate::mqueue::DEFAULT_MAXMSG, msgsize: crate::mqueue::DEFAULT_MSGSIZE }
    };
    let umask = os.umask.load(core::sync::atomic::Ordering::Relaxed);
    let uid = os.ident.uids().effective;
    let (queue, made) =
        QUEUES.lock().open(&name, oflag & O_CREAT != 0, oflag & O_EXCL != 0, attr, mode & !umask, uid)?;
    let want = if read { 4 } else { 0 } | if write { 2 } else { 0 };
    if !made && !permitted(os, queue.mode, queue.uid, want) {
        return Err(EACCES);
    }
    let access = if read && write {
        O_RDWR
    } else if write {
        1
    } else {
        0
    };
    let file = OpenFile::new(
        FileKind::Obj(Obj::Mqueue(MqDesc { queue, read, write })),
        Vec::new(),
        access | (oflag as u32 & O_NONBLOCK),
    );
    os.fds.lock().alloc(file, true, 0).map(|v| v as usize)
}

fn nonblock(f: &OpenFile) -> bool {
    f.flags.load(core::sync::atomic::Ordering::Relaxed) & O_NONBLOCK != 0
}

fn send<P: Platform>(os: &LibOs<P>, fd: i32, ptr: usize, len: usize, prio: usize, timeout: usize) -> SysResult {
    let f = desc(os, fd)?;
    let d = mq_of(&f);
    if !d.write {
        return Err(EBADF);
    }
    if len > d.queue.msgsize {
        return Err(EMSGSIZE);
    }
    if prio >= crate::mqueue::MQ_PRIO_MAX as usize {
        return Err(EINVAL);
    }
    let msg = user::slice_in(&os.mem, ptr, len)?.to_vec();
    let until = deadline(os, timeout)?;
    let nb = nonblock(&f);
    let sent = crate::kobj::wait(&os.platform, until, &|| None, || match d.queue.send(&msg, prio as u32) {
        Sent::Done(fire) => Some(Ok(fire)),
        Sent::WouldBlock if nb => Some(Err(EAGAIN)),
        Sent::WouldBlock => None,
    })?;
    let Some(fire) = sent else { return Err(ETIMEDOUT) };
    if let Some(Notify { pid, signal: Some((sig, value)) }) = fire {
        if let Ok(targets) = crate::proctab::TABLE.lock().kill_targets(os.platform.pid(), pid) {
            for (p, s) in targets {
                s.pending.lock().raise(sig, SI_MESGQ, value);
                os.platform.notify_signal(p);
            }
        }
    }
    os.platform.wake_all();
    Ok(0)
}

fn receive<P: Platform>(os: &LibOs<P>, fd: i32, ptr: usize, len: usize, prio: usize, timeout: usize) -> SysResult {
    let f = desc(os, fd)?;
    let d = mq_of(&f);
    if !d.read {
        return Err(EBADF);
    }
    if len < d.queue.msgsize {
        return Err(EMSGSIZE);
    }
    user::guard(&os.mem, ptr, len, true)?;
    if prio != 0 {
        user::guard(&os.mem, prio, 4, true)?;
    }
    let until = deadline(os, timeout)?;
    let nb = nonblock(&f);
    let got = d.queue.waiting(|| {
        crate::kobj::wait(&os.platform, until, &|| None, || match d.queue.receive() {
            Some(m) => Some(Ok(m)),
            None if nb => Some(Err(EAGAIN)),
            None => None,
        })
    })?;
    let Some((msg, p)) = got else { return Err(ETIMEDOUT) };
    user::slice_mut_in(&os.mem, ptr, msg.len())?.copy_from_slice(&msg);
    if prio != 0 {
        user::write_in(&os.mem, prio, &p)?;
    }
    os.platform.wake_all();
    Ok(msg.len())
}

fn notify<P: Platform>(os: &LibOs<P>, fd: i32, sevp: usize) -> SysResult {
    let f = desc(os, fd)?;
    let q = &mq_of(&f).queue;
    let me = os.platform.pid();
    if sevp == 0 {
        return q.set_notify(me, None).map(|_| 0);
    }
    // A registration ends with its process (Linux drops it when the process closes the queue,
    // which exiting does).
    if let Some(owner) = q.notify_owner() {
        if owner != me && crate::proctab::TABLE.lock().get(owner).is_none_or(|p| p.status.is_some()) {
            q.forget(owner);
        }
    }
    let ev: [u8; 64] = user::read_in(&os.mem, sevp)?;
    let (signo, how) = sigev(&ev);
    let signal = match how {
        SIGEV_NONE => None,
        SIGEV_SIGNAL if (1..=64).contains(&signo) => {
            Some((signo as usize, u64::from_le_bytes(ev[0..8].try_into().unwrap_or([0; 8]))))
        }
        _ => return Err(EINVAL),
    };
    q.set_notify(me, Some(Notify { pid: me, signal })).map(|_| 0)
}

fn getsetattr<P: Platform>(os: &LibOs<P>, fd: i32, new: usize, old: usize) -> SysResult {
    let f = desc(os, fd)?;
    let q = &mq_of(&f).queue;
    let set = if new != 0 {
        let [flags, ..]: [i64; 8] = user::read_in(&os.mem, new)?;
        if flags & !(O_NONBLOCK as i64) != 0 {
            return Err(EINVAL);
        }
        Some(flags as u32)
    } else {
        None
    };
    if old != 0 {
        let flags = f.flags.load(core::sync::atomic::Ordering::Relaxed) & O_NONBLOCK;
        let attr: [i64; 8] = [flags as i64, q.maxmsg as i64, q.msgsize as i64, q.len() as i64, 0, 0, 0, 0];
        user::write_in(&os.mem, old, &attr)?;
    }
    if let Some(v) = set {
        let flags = &f.flags;
        let cur = flags.load(core::sync::atomic::Ordering::Relaxed);
        flags.store((cur & !O_NONBLOCK) | v, core::sync::atomic::Ordering::Relaxed);
    }
    Ok(0)
}
