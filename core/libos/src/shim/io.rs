//! Pipes, readiness and event descriptors: pipe2, poll/ppoll, select/pselect6, epoll_*,
//! eventfd2 and timerfd_*. The objects are the core's own (`kobj.rs`), or host objects when
//! the platform offers [`HostPassthrough`] (the library OS owns the host descriptors and hands
//! the app its own numbers; descriptor arguments are translated). A file of the image or the
//! writable layer is always ready, as a regular file is on Linux.
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::nr::*;
use super::SysResult;
use crate::abi::*;
use crate::errno::*;
use crate::fd::{FileKind, HostFd, OpenFile};
use crate::kernel::LibOs;
use crate::kobj::{Epoll, Obj, PipeEnd};
use crate::platform::{HostPassthrough, Platform};
use crate::user;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[
    PIPE,
    PIPE2,
    POLL,
    PPOLL,
    SELECT,
    PSELECT6,
    EPOLL_CREATE,
    EPOLL_CREATE1,
    EPOLL_CTL,
    EPOLL_WAIT,
    EPOLL_PWAIT,
    EPOLL_PWAIT2,
    EVENTFD,
    EVENTFD2,
    TIMERFD_CREATE,
    TIMERFD_SETTIME,
    TIMERFD_GETTIME,
];

const CLOEXEC: u32 = O_CLOEXEC;
const POLLPRI: i16 = 0x002;
const POLLERR: i16 = 0x008;
const POLLHUP: i16 = 0x010;
const POLLRDNORM: i16 = 0x040;
const POLLWRNORM: i16 = 0x100;

/// Serves `n` if it is a pipe or readiness syscall: on host objects when the platform offers
/// [`HostPassthrough`], on the core's kernel objects (`kobj.rs`) otherwise.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    if !HANDLED.contains(&n) {
        return None;
    }
    if let Some(pt) = os.platform.passthrough() {
        return host::dispatch(os, pt, n, a);
    }
    Some(match n {
        PIPE => pipe2(os, a[0], 0),
        PIPE2 => pipe2(os, a[0], a[1] as u32),
        POLL => poll(os, a[0], a[1], a[2] as i32),
        PPOLL => ppoll(os, a[0], a[1], a[2]),
        SELECT => select(os, a[0] as i32, a[1], a[2], a[3], timeval_ms(&os.mem, a[4])),
        PSELECT6 => select(os, a[0] as i32, a[1], a[2], a[3], timespec_ms(&os.mem, a[4])),
        EPOLL_CREATE if (a[0] as i32) <= 0 => Err(EINVAL),
        EPOLL_CREATE => new_obj(os, Obj::Epoll(Epoll::default()), CLOEXEC),
        EPOLL_CREATE1 if a[0] as u32 & !CLOEXEC != 0 || a[0] >> 32 != 0 => Err(EINVAL),
        EPOLL_CREATE1 => new_obj(os, Obj::Epoll(Epoll::default()), a[0] as u32),
        EPOLL_CTL => epoll_ctl(os, a[0] as i32, a[1], a[2] as i32, a[3]),
        EPOLL_WAIT | EPOLL_PWAIT => epoll_wait(os, a[0] as i32, a[1], a[2] as i32, a[3] as i32),
        EPOLL_PWAIT2 => timespec_ms(&os.mem, a[3]).and_then(|ms| epoll_wait(os, a[0] as i32, a[1], a[2] as i32, ms)),
        EVENTFD => new_obj(os, Obj::eventfd(a[0] as u32, false), 0),
        EVENTFD2 => {
            const EFD_SEMAPHORE: u32 = 1;
            let flags = a[1] as u32;
            if flags & !(CLOEXEC | O_NONBLOCK | EFD_SEMAPHORE) != 0 {
                Err(EINVAL)
            } else {
                new_obj(os, Obj::eventfd(a[0] as u32, flags & EFD_SEMAPHORE != 0), flags)
            }
        }
        TIMERFD_CREATE => {
            let flags = a[1] as u32;
            if !matches!(a[0], 0 | 1 | 7 | 8 | 9) || flags & !(CLOEXEC | O_NONBLOCK) != 0 {
                Err(EINVAL)
            } else {
                new_obj(os, Obj::timerfd(a[0] as u32), flags)
            }
        }
        TIMERFD_SETTIME => timer_settime(os, a[0] as i32, a[1] as u32, a[2], a[3]),
        TIMERFD_GETTIME => timer_settime(os, a[0] as i32, 0, 0, a[1]),
        _ => return None,
    })
}

/// The same calls on host objects (the platform's [`HostPassthrough`]).
mod host {
    use super::*;

    pub fn dispatch<P: Platform>(
        os: &LibOs<P>,
        pt: &dyn HostPassthrough,
        n: usize,
        a: &[usize; 6],
    ) -> Option<SysResult> {
        Some(match n {
            PIPE => pipe2(os, pt, a[0], 0),
            PIPE2 => pipe2(os, pt, a[0], a[1] as u32),
            POLL => poll(os, a[0], a[1], a[2] as i32),
            PPOLL => ppoll(os, a[0], a[1], a[2]),
            SELECT => select(os, a[0] as i32, a[1], a[2], a[3], timeval_ms(&os.mem, a[4])),
            PSELECT6 => select(os, a[0] as i32, a[1], a[2], a[3], timespec_ms(&os.mem, a[4])),
            EPOLL_CREATE => {
                if (a[0] as i32) <= 0 {
                    Err(EINVAL)
                } else {
                    new_host(os, pt, EPOLL_CREATE1, [CLOEXEC as usize, 0, 0, 0, 0, 0], 0)
                }
            }
            EPOLL_CREATE1 if a[0] as u32 & !CLOEXEC != 0 || a[0] >> 32 != 0 => Err(EINVAL),
            EPOLL_CREATE1 => new_host(os, pt, EPOLL_CREATE1, [CLOEXEC as usize, 0, 0, 0, 0, 0], a[0] as u32),
            EPOLL_CTL => epoll_ctl(os, pt, a[0] as i32, a[1], a[2] as i32, a[3]),
            EPOLL_WAIT => {
                host_of(os, a[0] as i32).and_then(|ep| pt.fd_call(EPOLL_WAIT, [ep.0 as usize, a[1], a[2], a[3], 0, 0]))
            }
            EPOLL_PWAIT => {
                host_of(os, a[0] as i32).and_then(|ep| pt.fd_call(EPOLL_PWAIT, [ep.0 as usize, a[1], a[2], a[3], 0, 0]))
            }
            EPOLL_PWAIT2 => timespec_ms(&os.mem, a[3]).and_then(|ms| {
                host_of(os, a[0] as i32)
                    .and_then(|ep| pt.fd_call(EPOLL_PWAIT, [ep.0 as usize, a[1], a[2], ms as usize, 0, 0]))
            }),
            EVENTFD => new_host(os, pt, EVENTFD2, [a[0], CLOEXEC as usize, 0, 0, 0, 0], 0),
            EVENTFD2 => {
                let flags = a[1] as u32;
                new_host(os, pt, EVENTFD2, [a[0], (flags | CLOEXEC) as usize, 0, 0, 0, 0], flags)
            }
            TIMERFD_CREATE => {
                let flags = a[1] as u32;
                new_host(os, pt, TIMERFD_CREATE, [a[0], (flags | CLOEXEC) as usize, 0, 0, 0, 0], flags)
            }
            TIMERFD_SETTIME => host_of(os, a[0] as i32)
                .and_then(|t| pt.fd_call(TIMERFD_SETTIME, [t.0 as usize, a[1], a[2], a[3], 0, 0])),
            TIMERFD_GETTIME => {
                host_of(os, a[0] as i32).and_then(|t| pt.fd_call(TIMERFD_GETTIME, [t.0 as usize, a[1], 0, 0, 0, 0]))
            }
            _ => return None,
        })
    }

    /// The host descriptor behind app descriptor `fd` (EINVAL if it is not a host object).
    fn host_of<P: Platform>(os: &LibOs<P>, fd: i32) -> Result<HostRef, Errno> {
        let f = os.fds.lock().get(fd)?;
        match &f.kind {
            FileKind::Host(h) => Ok(HostRef(h.0, f.clone())),
            _ => Err(EINVAL),
        }
    }

    /// A host descriptor number, kept open by holding its open file.
    struct HostRef(i32, #[allow(dead_code)] Arc<OpenFile>);

    /// Installs a new host object (from syscall `nr`) as an app descriptor; `flags` may carry
    /// O_CLOEXEC and O_NONBLOCK as the app asked.
    fn new_host<P: Platform>(
        os: &LibOs<P>,
        pt: &dyn HostPassthrough,
        nr: usize,
        args: [usize; 6],
        flags: u32,
    ) -> SysResult {
        let fd = pt.fd_call(nr, args)? as i32;
        let file = OpenFile::new(FileKind::Host(HostFd(fd)), Vec::new(), O_RDWR | (flags & O_NONBLOCK));
        os.fds.lock().alloc(file, flags & CLOEXEC != 0, 0).map(|v| v as usize)
    }

    fn pipe2<P: Platform>(os: &LibOs<P>, pt: &dyn HostPassthrough, fds_ptr: usize, flags: u32) -> SysResult {
        if flags & !(O_CLOEXEC | O_NONBLOCK | 0o40000/* O_DIRECT */) != 0 {
            return Err(EINVAL);
        }
        user::guard(&os.mem, fds_ptr, 8, true)?;
        if os.local_pipe_allowed(flags) {
            // A library-OS pipe with a host pipe standing by (`crate::pipes`): made
            // non-blocking so that a promotion can move the bytes in without waiting.
            let (r, w) = PipeEnd::pair_backed(pt.pipe(O_NONBLOCK)?);
            let rf = OpenFile::new(FileKind::Obj(r), Vec::new(), O_RDONLY | (flags & O_NONBLOCK));
            let wf = OpenFile::new(FileKind::Obj(w), Vec::new(), O_WRONLY | (flags & O_NONBLOCK));
            return install_pair(os, fds_ptr, rf, wf, flags);
        }
        let (r, w) = pt.pipe(flags & !O_CLOEXEC)?;
        let rf = OpenFile::new(FileKind::Host(HostFd(r)), Vec::new(), O_RDONLY | (flags & O_NONBLOCK));
        let wf = OpenFile::new(FileKind::Host(HostFd(w)), Vec::new(), O_WRONLY | (flags & O_NONBLOCK));
        install_pair(os, fds_ptr, rf, wf, flags)
    }

    fn epoll_ctl<P: Platform>(
        os: &LibOs<P>,
        pt: &dyn HostPassthrough,
        epfd: i32,
        op: usize,
        fd: i32,
        event: usize,
    ) -> SysResult {
        if o_path(os, epfd) || o_path(os, fd) {
            return Err(EBADF);
        }
        // A library-OS pipe is watched as the host pipe it becomes.
        os.promote_fd(fd);
        let ep = host_of(os, epfd)?;
        let target = match host_of(os, fd) {
            Ok(t) => t,
            // Regular files cannot be watched by epoll, as on Linux.
            Err(EINVAL) => return Err(EPERM),
            Err(e) => return Err(e),
        };
        pt.fd_call(EPOLL_CTL, [ep.0 as usize, op, target.0 as usize, event, 0, 0])
    }
}

/// True when `fd` is an O_PATH descriptor (which epoll and I/O calls refuse with EBADF).
fn o_path<P: Platform>(os: &LibOs<P>, fd: i32) -> bool {
    os.fds.lock().get(fd).is_ok_and(|f| f.flags() & O_PATH != 0)
}

/// Installs a new kernel object as an app descriptor; `flags` may carry O_CLOEXEC and
/// O_NONBLOCK as the app asked.
fn new_obj<P: Platform>(os: &LibOs<P>, o: Obj, flags: u32) -> SysResult {
    let file = OpenFile::new(FileKind::Obj(o), Vec::new(), O_RDWR | (flags & O_NONBLOCK));
    os.fds.lock().alloc(file, flags & CLOEXEC != 0, 0).map(|v| v as usize)
}

fn install_pair<P: Platform>(
    os: &LibOs<P>,
    fds_ptr: usize,
    rf: Arc<OpenFile>,
    wf: Arc<OpenFile>,
    flags: u32,
) -> SysResult {
    let mut t = os.fds.lock();
    let a = t.alloc(rf, flags & O_CLOEXEC != 0, 0)?;
    let b = match t.alloc(wf, flags & O_CLOEXEC != 0, 0) {
        Ok(b) => b,
        Err(e) => {
            let _ = t.close(a);
            return Err(e);
        }
    };
    drop(t);
    user::write_in(&os.mem, fds_ptr, &[a, b])?;
    Ok(0)
}

fn pipe2<P: Platform>(os: &LibOs<P>, fds_ptr: usize, flags: u32) -> SysResult {
    if flags & !(O_CLOEXEC | O_NONBLOCK | 0o40000/* O_DIRECT */) != 0 {
        return Err(EINVAL);
    }
    user::guard(&os.mem, fds_ptr, 8, true)?;
    let (r, w) = PipeEnd::pair();
    let rf = OpenFile::new(FileKind::Obj(r), Vec::new(), O_RDONLY | (flags & O_NONBLOCK));
    let wf = OpenFile::new(FileKind::Obj(w), Vec::new(), O_WRONLY | (flags & O_NONBLOCK));
    install_pair(os, fds_ptr, rf, wf, flags)
}

fn epoll_of<P: Platform>(os: &LibOs<P>, epfd: i32) -> Result<Arc<OpenFile>, Errno> {
    let f = os.fds.lock().get(epfd)?;
    match f.kind {
        FileKind::Obj(Obj::Epoll(_)) => Ok(f),
        _ => Err(EINVAL),
    }
}

fn epoll_ctl<P: Platform>(os: &LibOs<P>, epfd: i32, op: usize, fd: i32, event: usize) -> SysResult {
    let ep = epoll_of(os, epfd)?;
    let FileKind::Obj(Obj::Epoll(list)) = &ep.kind else { return Err(EINVAL) };
    let target = os.fds.lock().get(fd)?;
    if target.flags() & O_PATH != 0 {
        return Err(EBADF);
    }
    if Arc::ptr_eq(&ep, &target) {
        return Err(EINVAL);
    }
    if !matches!(target.kind, FileKind::Host(_) | FileKind::Obj(_)) {
        // Regular files cannot be watched by epoll, as on Linux.
        return Err(EPERM);
    }
    // An epoll instance added to one that it watches (directly or below) would make a cycle.
    if let (1, FileKind::Obj(Obj::Epoll(inner))) = (op, &target.kind) {
        if inner.reaches(&ep, 5) {
            return Err(ELOOP);
        }
    }
    let ev = if op == 2 {
        None
    } else {
        let raw: [u8; 12] = user::read_in(&os.mem, event)?;
        let events = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let mut data = [0u8; 8];
        data.copy_from_slice(&raw[4..12]);
        Some((events, u64::from_le_bytes(data)))
    };
    list.ctl(op, fd, &target, ev)?;
    os.platform.wake_all();
    Ok(0)
}

fn epoll_wait<P: Platform>(os: &LibOs<P>, epfd: i32, out: usize, max: i32, timeout_ms: i32) -> SysResult {
    let ep = epoll_of(os, epfd)?;
    let FileKind::Obj(Obj::Epoll(list)) = &ep.kind else { return Err(EINVAL) };
    if max <= 0 || max as usize > (i32::MAX as usize) / 12 {
        return Err(EINVAL);
    }
    user::slice_mut_in(&os.mem, out, 12 * max as usize)?;
    let got = list.wait(&os.platform, max as usize, timeout_ms)?;
    for (i, (events, data)) in got.iter().enumerate() {
        let mut rec = [0u8; 12];
        rec[0..4].copy_from_slice(&events.to_le_bytes());
        rec[4..12].copy_from_slice(&data.to_le_bytes());
        user::write_in(&os.mem, out + 12 * i, &rec)?;
    }
    Ok(got.len())
}

fn timer_settime<P: Platform>(os: &LibOs<P>, fd: i32, flags: u32, new: usize, old: usize) -> SysResult {
    let f = os.fds.lock().get(fd)?;
    let FileKind::Obj(o @ Obj::Timer(_)) = &f.kind else { return Err(EINVAL) };
    let new = if new != 0 { Some(user::read_in::<[i64; 4]>(&os.mem, new)?) } else { None };
    if old != 0 {
        user::slice_mut_in(&os.mem, old, 32)?;
    }
    let prev = o.timer_set(&os.platform, flags, new)?;
    if old != 0 {
        user::write_in(&os.mem, old, &prev)?;
    }
    Ok(0)
}

fn timeval_ms(mem: &crate::memlock::MemLock, p: usize) -> Result<i32, Errno> {
    if p == 0 {
        return Ok(-1);
    }
    let t: [i64; 2] = user::read_in(mem, p)?;
    if t[0] < 0 || !(0..1_000_000).contains(&t[1]) {
        return Err(EINVAL);
    }
    Ok((t[0].saturating_mul(1000) + (t[1] + 999) / 1000).min(i32::MAX as i64) as i32)
}

fn timespec_ms(mem: &crate::memlock::MemLock, p: usize) -> Result<i32, Errno> {
    if p == 0 {
        return Ok(-1);
    }
    let t: Timespec = user::read_in(mem, p)?;
    if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
        return Err(EINVAL);
    }
    Ok((t.tv_sec.saturating_mul(1000) + (t.tv_nsec + 999_999) / 1_000_000).min(i32::MAX as i64) as i32)
}

/// Polls app descriptors: kernel objects answer themselves, host objects through the host,
/// everything else is ready at once.
/// Inlined, with [`poll_host_by_number`] and the platform's `host_poll` (linux-userland),
/// so that a poll of host descriptors returns from its host call through `poll` alone (see
/// `shim::mem::hot` for why returns after a host call matter); the rest is
/// [`poll_fds_general`], out of line.
#[inline(always)]
fn poll_fds<P: Platform>(os: &LibOs<P>, pfds: &mut [PollFd], timeout_ms: i32) -> SysResult {
    if let Some(r) = poll_host_by_number(os, pfds, timeout_ms) {
        return r;
    }
    poll_fds_general(os, pfds, timeout_ms)
}

/// [`poll_fds`] where [`poll_host_by_number`] does not apply.
#[inline(never)]
fn poll_fds_general<P: Platform>(os: &LibOs<P>, pfds: &mut [PollFd], timeout_ms: i32) -> SysResult {
    if os.platform.passthrough().is_some() {
        // Library-OS pipes are polled as the host pipes they become (`crate::pipes`).
        for p in pfds.iter() {
            os.promote_fd(p.fd);
        }
    }
    let mut host: Vec<PollFd> = Vec::new();
    let mut slots: Vec<(usize, Arc<OpenFile>)> = Vec::new();
    let mut objs: Vec<(usize, Arc<OpenFile>)> = Vec::new();
    let mut fixed = 0usize;
    for (i, p) in pfds.iter_mut().enumerate() {
        p.revents = 0;
        if p.fd < 0 {
            continue;
        }
        match os.fds.lock().get(p.fd) {
            Err(_) => {
                p.revents = POLLNVAL;
                fixed += 1;
            }
            Ok(f) => match &f.kind {
                FileKind::Host(h) => {
                    host.push(PollFd { fd: h.0, events: p.events, revents: 0 });
                    slots.push((i, f.clone()));
                }
                FileKind::Obj(_) => objs.push((i, f.clone())),
                _ => {
                    p.revents = p.events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
                    if p.revents != 0 {
                        fixed += 1;
                    }
                }
            },
        }
    }
    if objs.is_empty() {
        // Host objects only: the host waits (the passthrough path, as fast as natively).
        let mut ready = fixed;
        if !host.is_empty() || ready == 0 {
            let t = if ready > 0 { 0 } else { timeout_ms };
            os.platform.host_poll(&mut host, t)?;
            for (h, (i, _)) in host.iter().zip(slots.iter()) {
                pfds[*i].revents = h.revents;
                ready += usize::from(h.revents != 0);
            }
        }
        return Ok(ready);
    }
    let files: Vec<Arc<OpenFile>> = objs.iter().map(|(_, f)| f.clone()).collect();
    let p = &os.platform;
    let r =
        crate::kobj::wait(p, crate::kobj::deadline_ms(p, timeout_ms), &|| crate::kobj::files_wake(p, &files), || {
            let mut ready = fixed;
            for (i, f) in &objs {
                let ev = crate::kobj::file_revents(p, f, pfds[*i].events, 0);
                pfds[*i].revents = ev;
                ready += usize::from(ev != 0);
            }
            if !host.is_empty() {
                if let Err(e) = p.host_poll(&mut host, 0) {
                    return Some(Err(e));
                }
                for (h, (i, _)) in host.iter().zip(slots.iter()) {
                    pfds[*i].revents = h.revents;
                    ready += usize::from(h.revents != 0);
                }
            }
            (ready > 0 || timeout_ms == 0).then_some(Ok(ready))
        })?;
    Ok(r.unwrap_or(0))
}

/// At most this many descriptors are polled from a buffer on the stack (no allocation).
const POLL_INLINE: usize = 8;

/// [`poll_fds`] for a few descriptors that are all host objects (or negative), when the
/// descriptor table gives them by number (`LibOs::fd_ref`: one app thread on linux-userland):
/// one host poll from a buffer on the stack, with no lock, reference count or allocation.
/// None when that does not apply (more than [`POLL_INLINE`] entries, a descriptor that is not
/// open or not a host object, or a table that gives open files): the caller takes the general
/// way. A host call is made only when every entry qualifies, so the answer is the general
/// way's: negative descriptors are skipped (revents 0), the rest polled as the host says.
#[inline(always)]
fn poll_host_by_number<P: Platform>(os: &LibOs<P>, pfds: &mut [PollFd], timeout_ms: i32) -> Option<SysResult> {
    if pfds.len() > POLL_INLINE || os.platform.passthrough().is_none() {
        return None;
    }
    let mut host = [PollFd { fd: -1, events: 0, revents: 0 }; POLL_INLINE];
    for (h, p) in host.iter_mut().zip(pfds.iter()) {
        if p.fd >= 0 {
            match os.host_fd(p.fd) {
                Some((fd, _, _)) => *h = PollFd { fd, events: p.events, revents: 0 },
                None => return None,
            }
        }
    }
    let host = &mut host[..pfds.len()];
    if let Err(e) = os.platform.host_poll(host, timeout_ms) {
        return Some(Err(e));
    }
    let mut ready = 0;
    for (p, h) in pfds.iter_mut().zip(host.iter()) {
        p.revents = h.revents;
        ready += usize::from(h.revents != 0);
    }
    Some(Ok(ready))
}

/// poll(2) with the app's arguments, as [`dispatch`] serves it on every platform (with and
/// without host passthrough): for `shim::dispatch`, which sends poll here directly.
pub(super) fn poll_call<P: Platform>(os: &LibOs<P>, a: &[usize; 6]) -> SysResult {
    poll(os, a[0], a[1], a[2] as i32)
}

/// poll(2): the array is read from the app (EFAULT if it cannot be read), polled, and written
/// back with each entry's revents (EFAULT if it cannot be written).
fn poll<P: Platform>(os: &LibOs<P>, ptr: usize, n: usize, timeout_ms: i32) -> SysResult {
    if n > 4096 {
        return Err(EINVAL);
    }
    let mut inline = [PollFd::default(); POLL_INLINE];
    let mut heap: Vec<PollFd> = Vec::new();
    let pfds: &mut [PollFd] = if n <= POLL_INLINE {
        &mut inline[..n]
    } else {
        heap.resize(n, PollFd::default());
        &mut heap
    };
    user::guard(&os.mem, ptr, 8 * n, false)?;
    for (i, p) in pfds.iter_mut().enumerate() {
        *p = user::read::<PollFd>(ptr + 8 * i)?;
    }
    let r = poll_fds(os, pfds, timeout_ms)?;
    user::guard(&os.mem, ptr, 8 * n, true)?;
    for (i, p) in pfds.iter().enumerate() {
        user::write(ptr + 8 * i, p)?;
    }
    Ok(r)
}

fn ppoll<P: Platform>(os: &LibOs<P>, ptr: usize, n: usize, ts: usize) -> SysResult {
    let ms = timespec_ms(&os.mem, ts)?;
    poll(os, ptr, n, ms)
}

fn select<P: Platform>(
    os: &LibOs<P>,
    nfds: i32,
    rd: usize,
    wr: usize,
    ex: usize,
    timeout: Result<i32, Errno>,
) -> SysResult {
    let timeout = timeout?;
    if !(0..=1024).contains(&nfds) {
        return Err(EINVAL);
    }
    let words = (nfds as usize).div_ceil(64);
    let load = |p: usize| -> Result<Vec<u64>, Errno> {
        if p == 0 {
            Ok(alloc::vec![0; words])
        } else {
            (0..words).map(|i| user::read_in::<u64>(&os.mem, p + 8 * i)).collect()
        }
    };
    let (r, w, e) = (load(rd)?, load(wr)?, load(ex)?);
    let bit = |v: &[u64], fd: usize| v[fd / 64] >> (fd % 64) & 1 == 1;
    let mut pfds = Vec::new();
    for fd in 0..nfds as usize {
        let mut ev = 0i16;
        if bit(&r, fd) {
            ev |= POLLIN;
        }
        if bit(&w, fd) {
            ev |= POLLOUT;
        }
        if bit(&e, fd) {
            ev |= POLLPRI;
        }
        if ev != 0 {
            pfds.push(PollFd { fd: fd as i32, events: ev, revents: 0 });
        }
    }
    poll_fds(os, &mut pfds, timeout)?;
    if pfds.iter().any(|p| p.revents & POLLNVAL != 0) {
        return Err(EBADF);
    }
    let (mut ro, mut wo, mut eo) = (alloc::vec![0u64; words], alloc::vec![0u64; words], alloc::vec![0u64; words]);
    let mut count = 0;
    for p in &pfds {
        let (i, b) = (p.fd as usize / 64, 1u64 << (p.fd as usize % 64));
        if p.events & POLLIN != 0 && p.revents & (POLLIN | POLLHUP | POLLERR) != 0 {
            ro[i] |= b;
            count += 1;
        }
        if p.events & POLLOUT != 0 && p.revents & (POLLOUT | POLLERR) != 0 {
            wo[i] |= b;
            count += 1;
        }
        if p.events & POLLPRI != 0 && p.revents & POLLPRI != 0 {
            eo[i] |= b;
            count += 1;
        }
    }
    for (p, v) in [(rd, &ro), (wr, &wo), (ex, &eo)] {
        if p != 0 {
            for (i, x) in v.iter().enumerate() {
                user::write_in(&os.mem, p + 8 * i, x)?;
            }
        }
    }
    Ok(count)
}
