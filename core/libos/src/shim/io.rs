//! Pipes, readiness and event descriptors: pipe2, poll/ppoll, select/pselect6, epoll_*,
//! eventfd2 and timerfd_*. These objects live on the host (the library OS owns the host
//! descriptors and hands the app its own numbers); descriptor arguments are translated, and a
//! file of the image or the writable layer is always ready, as a regular file is on Linux.
use alloc::vec::Vec;

use super::nr::*;
use super::SysResult;
use crate::abi::*;
use crate::errno::*;
use crate::fd::{FileKind, HostFd, OpenFile};
use crate::kernel::LibOs;
use crate::platform::Platform;
use crate::user;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[
    PIPE, PIPE2, POLL, PPOLL, SELECT, PSELECT6, EPOLL_CREATE, EPOLL_CREATE1, EPOLL_CTL, EPOLL_WAIT, EPOLL_PWAIT,
    EVENTFD, EVENTFD2, TIMERFD_CREATE, TIMERFD_SETTIME, TIMERFD_GETTIME,
];

const CLOEXEC: u32 = O_CLOEXEC;
const POLLPRI: i16 = 0x002;
const POLLERR: i16 = 0x008;
const POLLHUP: i16 = 0x010;
const POLLRDNORM: i16 = 0x040;
const POLLWRNORM: i16 = 0x100;

/// Serves `n` if it is a pipe or readiness syscall.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    Some(match n {
        PIPE => pipe2(os, a[0], 0),
        PIPE2 => pipe2(os, a[0], a[1] as u32),
        POLL => poll(os, a[0], a[1], a[2] as i32),
        PPOLL => ppoll(os, a[0], a[1], a[2]),
        SELECT => select(os, a[0] as i32, a[1], a[2], a[3], timeval_ms(a[4])),
        PSELECT6 => select(os, a[0] as i32, a[1], a[2], a[3], timespec_ms(a[4])),
        EPOLL_CREATE => {
            if (a[0] as i32) <= 0 {
                Err(EINVAL)
            } else {
                new_host(os, EPOLL_CREATE1, [CLOEXEC as usize, 0, 0, 0, 0, 0], 0)
            }
        }
        EPOLL_CREATE1 => new_host(os, EPOLL_CREATE1, [CLOEXEC as usize, 0, 0, 0, 0, 0], a[0] as u32),
        EPOLL_CTL => epoll_ctl(os, a[0] as i32, a[1], a[2] as i32, a[3]),
        EPOLL_WAIT => host_of(os, a[0] as i32)
            .and_then(|ep| os.platform.host_fd_call(EPOLL_WAIT, [ep.0 as usize, a[1], a[2], a[3], 0, 0])),
        EPOLL_PWAIT => host_of(os, a[0] as i32).and_then(|ep| {
            os.platform.host_fd_call(EPOLL_PWAIT, [ep.0 as usize, a[1], a[2], a[3], 0, 0])
        }),
        EVENTFD => new_host(os, EVENTFD2, [a[0], CLOEXEC as usize, 0, 0, 0, 0], 0),
        EVENTFD2 => {
            let flags = a[1] as u32;
            new_host(os, EVENTFD2, [a[0], (flags | CLOEXEC) as usize, 0, 0, 0, 0], flags)
        }
        TIMERFD_CREATE => {
            let flags = a[1] as u32;
            new_host(os, TIMERFD_CREATE, [a[0], (flags | CLOEXEC) as usize, 0, 0, 0, 0], flags)
        }
        TIMERFD_SETTIME => host_of(os, a[0] as i32)
            .and_then(|t| os.platform.host_fd_call(TIMERFD_SETTIME, [t.0 as usize, a[1], a[2], a[3], 0, 0])),
        TIMERFD_GETTIME => host_of(os, a[0] as i32)
            .and_then(|t| os.platform.host_fd_call(TIMERFD_GETTIME, [t.0 as usize, a[1], 0, 0, 0, 0])),
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
struct HostRef(i32, #[allow(dead_code)] alloc::sync::Arc<OpenFile>);

/// Installs a new host object (from syscall `nr`) as an app descriptor; `flags` may carry
/// O_CLOEXEC and O_NONBLOCK as the app asked.
fn new_host<P: Platform>(os: &LibOs<P>, nr: usize, args: [usize; 6], flags: u32) -> SysResult {
    let fd = os.platform.host_fd_call(nr, args)? as i32;
    let file = OpenFile::new(FileKind::Host(HostFd(fd)), Vec::new(), O_RDWR | (flags & O_NONBLOCK));
    os.fds.lock().alloc(file, flags & CLOEXEC != 0, 0).map(|v| v as usize)
}

fn pipe2<P: Platform>(os: &LibOs<P>, fds_ptr: usize, flags: u32) -> SysResult {
    if flags & !(O_CLOEXEC | O_NONBLOCK | 0o40000 /* O_DIRECT */) != 0 {
        return Err(EINVAL);
    }
    user::slice_mut(fds_ptr, 8)?;
    let (r, w) = os.platform.host_pipe(flags & !O_CLOEXEC)?;
    let rf = OpenFile::new(FileKind::Host(HostFd(r)), Vec::new(), O_RDONLY | (flags & O_NONBLOCK));
    let wf = OpenFile::new(FileKind::Host(HostFd(w)), Vec::new(), O_WRONLY | (flags & O_NONBLOCK));
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
    user::write(fds_ptr, &[a, b])?;
    Ok(0)
}

fn epoll_ctl<P: Platform>(os: &LibOs<P>, epfd: i32, op: usize, fd: i32, event: usize) -> SysResult {
    let ep = host_of(os, epfd)?;
    let target = match host_of(os, fd) {
        Ok(t) => t,
        // Regular files cannot be watched by epoll, as on Linux.
        Err(EINVAL) => return Err(EPERM),
        Err(e) => return Err(e),
    };
    os.platform.host_fd_call(EPOLL_CTL, [ep.0 as usize, op, target.0 as usize, event, 0, 0])
}

fn timeval_ms(p: usize) -> Result<i32, Errno> {
    if p == 0 {
        return Ok(-1);
    }
    let t: [i64; 2] = user::read(p)?;
    if t[0] < 0 || !(0..1_000_000).contains(&t[1]) {
        return Err(EINVAL);
    }
    Ok((t[0].saturating_mul(1000) + (t[1] + 999) / 1000).min(i32::MAX as i64) as i32)
}

fn timespec_ms(p: usize) -> Result<i32, Errno> {
    if p == 0 {
        return Ok(-1);
    }
    let t: Timespec = user::read(p)?;
    if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
        return Err(EINVAL);
    }
    Ok((t.tv_sec.saturating_mul(1000) + (t.tv_nsec + 999_999) / 1_000_000).min(i32::MAX as i64) as i32)
}

/// Polls app descriptors: host objects through the host, everything else ready at once.
fn poll_fds<P: Platform>(os: &LibOs<P>, pfds: &mut [PollFd], timeout_ms: i32) -> SysResult {
    let mut host: Vec<PollFd> = Vec::new();
    let mut slots: Vec<(usize, HostRef)> = Vec::new();
    let mut ready = 0usize;
    for (i, p) in pfds.iter_mut().enumerate() {
        p.revents = 0;
        if p.fd < 0 {
            continue;
        }
        match os.fds.lock().get(p.fd) {
            Err(_) => {
                p.revents = POLLNVAL;
                ready += 1;
            }
            Ok(f) => match &f.kind {
                FileKind::Host(h) => {
                    host.push(PollFd { fd: h.0, events: p.events, revents: 0 });
                    slots.push((i, HostRef(h.0, f.clone())));
                }
                _ => {
                    p.revents = p.events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM);
                    if p.revents != 0 {
                        ready += 1;
                    }
                }
            },
        }
    }
    if !host.is_empty() || ready == 0 {
        let t = if ready > 0 { 0 } else { timeout_ms };
        os.platform.host_poll(&mut host, t)?;
        for (h, (i, _)) in host.iter().zip(slots.iter()) {
            pfds[*i].revents = h.revents;
            if h.revents != 0 {
                ready += 1;
            }
        }
    }
    Ok(ready)
}

fn poll<P: Platform>(os: &LibOs<P>, ptr: usize, n: usize, timeout_ms: i32) -> SysResult {
    if n > 4096 {
        return Err(EINVAL);
    }
    let mut pfds: Vec<PollFd> = (0..n).map(|i| user::read::<PollFd>(ptr + 8 * i)).collect::<Result<_, _>>()?;
    let r = poll_fds(os, &mut pfds, timeout_ms)?;
    for (i, p) in pfds.iter().enumerate() {
        user::write(ptr + 8 * i, p)?;
    }
    Ok(r)
}

fn ppoll<P: Platform>(os: &LibOs<P>, ptr: usize, n: usize, ts: usize) -> SysResult {
    let ms = timespec_ms(ts)?;
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
            (0..words).map(|i| user::read::<u64>(p + 8 * i)).collect()
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
                user::write(p + 8 * i, x)?;
            }
        }
    }
    Ok(count)
}
