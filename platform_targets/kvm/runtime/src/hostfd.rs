//! The "host" descriptors of a VM without a host: pipes, eventfds, timerfds, epoll instances
//! and TCP sockets (`tcpsock.rs`) are kernel objects here, numbered from 3 (0 is stdin, 1 and 2
//! the console). The library OS holds them as host descriptors, exactly as it holds real ones
//! on linux-userland. All processes of the app share them (a forked child's descriptors refer
//! to the same objects). A call that would block (reading an empty pipe, writing a full one)
//! waits cooperatively (other threads and processes run, timers fire) and is interrupted with
//! EINTR when a signal becomes deliverable.
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;

use litebox_libos::abi::PollFd;
use litebox_libos::errno::*;
use litebox_libos::sync::SpinMutex;
use litebox_libos::user;

use crate::{clock, netstack, sched, signals, tcpsock};

const POLLIN: i16 = 0x1;
const POLLOUT: i16 = 0x4;
const POLLERR: i16 = 0x8;
const POLLHUP: i16 = 0x10;
const POLLNVAL: i16 = 0x20;
const O_NONBLOCK: u32 = 0o4000;
const EFD_SEMAPHORE: usize = 1;
const SIGPIPE: usize = 13;
/// A pipe's capacity (Linux's default): a writer that finds it full waits for a reader.
const PIPE_CAP: usize = 65536;

#[derive(Default)]
struct Pipe {
    buf: VecDeque<u8>,
    readers: usize,
    writers: usize,
}

struct Timer {
    /// Next expiry (monotonic ns; 0 = disarmed), interval (ns), expirations not yet read.
    at: u64,
    every: u64,
    count: u64,
}

#[derive(Clone)]
enum Obj {
    PipeRead(Arc<SpinMutex<Pipe>>),
    PipeWrite(Arc<SpinMutex<Pipe>>),
    Event(Arc<SpinMutex<(u64, bool)>>),
    Timer(Arc<SpinMutex<Timer>>),
    /// Interest list: host fd -> (events, data).
    Epoll(Arc<SpinMutex<BTreeMap<i32, (u32, u64)>>>),
    Tcp(tcpsock::SockRef),
}

struct Table {
    next: i32,
    objs: BTreeMap<i32, (Obj, bool)>,
}

static TABLE: SpinMutex<Table> = SpinMutex::new(Table { next: 3, objs: BTreeMap::new() });

fn add(obj: Obj, nonblock: bool) -> i32 {
    let mut t = TABLE.lock();
    let fd = t.next;
    t.next += 1;
    t.objs.insert(fd, (obj, nonblock));
    fd
}

fn get(fd: i32) -> Result<(Obj, bool), Errno> {
    TABLE.lock().objs.get(&fd).cloned().ok_or(EBADF)
}

/// Waits until `ready` gives a result, or the deadline passes (`Ok(None)`), or a signal
/// interrupts (EINTR). With a network card, the network is polled before each look and at
/// least every [`netstack::poll_interval`] (the card raises no interrupts).
pub fn wait<T>(deadline: Option<u64>, mut ready: impl FnMut() -> Option<Result<T, Errno>>) -> Result<Option<T>, Errno> {
    let net = netstack::present();
    loop {
        if net {
            netstack::poll();
        }
        if let Some(r) = ready() {
            return r.map(Some);
        }
        if signals::interrupted() {
            return Err(EINTR);
        }
        if deadline.is_some_and(|d| clock::monotonic_ns() >= d) {
            return Ok(None);
        }
        let poll_at = net.then(|| clock::monotonic_ns() + netstack::poll_interval());
        let d = [deadline, signals::timer_deadline(), timers_deadline(), poll_at].into_iter().flatten().min();
        sched::wait_event(d);
    }
}

fn timers_deadline() -> Option<u64> {
    let t = TABLE.lock();
    t.objs
        .values()
        .filter_map(|(o, _)| match o {
            Obj::Timer(tm) => {
                let tm = tm.lock();
                (tm.at != 0).then_some(tm.at)
            }
            _ => None,
        })
        .min()
}

fn tick(tm: &mut Timer) {
    let now = clock::monotonic_ns();
    if tm.at != 0 && now >= tm.at {
        if let Some(periods) = (now - tm.at).checked_div(tm.every) {
            tm.count += periods + 1;
            tm.at += (periods + 1) * tm.every;
        } else {
            tm.count += 1;
            tm.at = 0;
        }
    }
}

/// A new pipe: (read end, write end).
pub fn pipe(flags: u32) -> (i32, i32) {
    let p = Arc::new(SpinMutex::new(Pipe { readers: 1, writers: 1, ..Pipe::default() }));
    let nb = flags & O_NONBLOCK != 0;
    (add(Obj::PipeRead(p.clone()), nb), add(Obj::PipeWrite(p), nb))
}

/// Closes a kernel descriptor (the last reference of the library OS went away).
pub fn close(fd: i32) {
    let Some((obj, _)) = TABLE.lock().objs.remove(&fd) else { return };
    match obj {
        Obj::PipeRead(p) => p.lock().readers -= 1,
        Obj::PipeWrite(p) => p.lock().writers -= 1,
        Obj::Tcp(s) => tcpsock::close(&s),
        _ => {}
    }
}

/// A second descriptor for the object behind `fd` (opening /proc/self/fd/N): a pipe end
/// counts one more reader or writer; eventfds, timerfds and epoll instances are shared; a
/// socket cannot be reopened (ENXIO, as on Linux). Descriptors 0-2 (the console) are their
/// own duplicates: closing one of ours closes nothing.
pub fn dup(fd: i32) -> Result<i32, Errno> {
    if (0..3).contains(&fd) {
        return Ok(fd);
    }
    let (obj, nb) = get(fd)?;
    match &obj {
        Obj::PipeRead(p) => p.lock().readers += 1,
        Obj::PipeWrite(p) => p.lock().writers += 1,
        Obj::Tcp(_) => return Err(ENXIO),
        Obj::Event(_) | Obj::Timer(_) | Obj::Epoll(_) => {}
    }
    Ok(add(obj, nb))
}

/// Sets O_NONBLOCK.
pub fn set_nonblock(fd: i32, on: bool) -> Result<(), Errno> {
    let mut t = TABLE.lock();
    let e = t.objs.get_mut(&fd).ok_or(EBADF)?;
    e.1 = on;
    Ok(())
}

/// What a descriptor of ours is, for fstat.
pub enum Kind {
    Pipe,
    Socket,
    /// eventfd, timerfd, epoll: anonymous inodes.
    Other,
}

/// The kind of `fd`, or None if it is not one of ours.
pub fn kind(fd: i32) -> Option<Kind> {
    get(fd).ok().map(|(o, _)| match o {
        Obj::PipeRead(_) | Obj::PipeWrite(_) => Kind::Pipe,
        Obj::Tcp(_) => Kind::Socket,
        _ => Kind::Other,
    })
}

/// read(2).
pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    let (obj, nb) = get(fd)?;
    let r = match obj {
        Obj::PipeRead(p) => wait(None, || {
            let mut p = p.lock();
            if !p.buf.is_empty() {
                let n = buf.len().min(p.buf.len());
                for b in buf[..n].iter_mut() {
                    *b = p.buf.pop_front().unwrap_or(0);
                }
                Some(Ok(n))
            } else if p.writers == 0 || buf.is_empty() {
                Some(Ok(0))
            } else if nb {
                Some(Err(EAGAIN))
            } else {
                None
            }
        }),
        Obj::Event(e) => {
            if buf.len() < 8 {
                return Err(EINVAL);
            }
            wait(None, || {
                let mut e = e.lock();
                if e.0 > 0 {
                    let v = if e.1 { 1 } else { e.0 };
                    e.0 -= v;
                    buf[..8].copy_from_slice(&v.to_le_bytes());
                    Some(Ok(8))
                } else if nb {
                    Some(Err(EAGAIN))
                } else {
                    None
                }
            })
        }
        Obj::Timer(tm) => {
            if buf.len() < 8 {
                return Err(EINVAL);
            }
            wait(None, || {
                let mut tm = tm.lock();
                tick(&mut tm);
                if tm.count > 0 {
                    buf[..8].copy_from_slice(&tm.count.to_le_bytes());
                    tm.count = 0;
                    Some(Ok(8))
                } else if nb {
                    Some(Err(EAGAIN))
                } else {
                    None
                }
            })
        }
        Obj::Tcp(s) => return tcpsock::recv(&s, buf, 0, nb),
        Obj::PipeWrite(_) | Obj::Epoll(_) => return Err(EBADF),
    }?;
    Ok(r.unwrap_or(0))
}

/// write(2).
pub fn write(fd: i32, buf: &[u8]) -> Result<usize, Errno> {
    let (obj, nb) = get(fd)?;
    match obj {
        Obj::PipeWrite(p) => {
            let mut done = 0;
            let r = wait(None, || {
                let mut p = p.lock();
                if p.readers == 0 {
                    drop(p);
                    signals::raise(SIGPIPE, signals::SI_USER, 0);
                    return Some(if done > 0 { Ok(done) } else { Err(EPIPE) });
                }
                let n = (buf.len() - done).min(PIPE_CAP - p.buf.len());
                p.buf.extend(buf[done..done + n].iter().copied());
                done += n;
                if done == buf.len() || (nb && done > 0) {
                    Some(Ok(done))
                } else if nb {
                    Some(Err(EAGAIN))
                } else {
                    None
                }
            });
            match r {
                Err(EINTR) if done > 0 => Ok(done),
                r => r.map(|n| n.unwrap_or(done)),
            }
        }
        Obj::Event(e) => {
            let v: [u8; 8] = buf.get(..8).and_then(|b| b.try_into().ok()).ok_or(EINVAL)?;
            let v = u64::from_le_bytes(v);
            if v == u64::MAX {
                return Err(EINVAL);
            }
            let mut e = e.lock();
            e.0 = e.0.checked_add(v).filter(|&x| x < u64::MAX).ok_or(EAGAIN)?;
            Ok(8)
        }
        Obj::Tcp(s) => tcpsock::send(&s, buf, 0, nb),
        _ => Err(EBADF),
    }
}

fn revents(fd: i32, console: &dyn Fn(i32) -> i16) -> i16 {
    if (0..3).contains(&fd) {
        return console(fd);
    }
    let Ok((obj, _)) = get(fd) else { return POLLNVAL };
    match obj {
        Obj::PipeRead(p) => {
            let p = p.lock();
            (if p.buf.is_empty() { 0 } else { POLLIN }) | if p.writers == 0 { POLLHUP } else { 0 }
        }
        Obj::PipeWrite(p) => {
            let p = p.lock();
            if p.readers == 0 {
                POLLOUT | POLLERR
            } else if p.buf.len() < PIPE_CAP {
                POLLOUT
            } else {
                0
            }
        }
        Obj::Event(e) => POLLOUT | if e.lock().0 > 0 { POLLIN } else { 0 },
        Obj::Timer(tm) => {
            let mut tm = tm.lock();
            tick(&mut tm);
            if tm.count > 0 {
                POLLIN
            } else {
                0
            }
        }
        Obj::Tcp(s) => tcpsock::revents(&s),
        Obj::Epoll(i) => {
            let list: Vec<(i32, u32)> = i.lock().iter().map(|(&f, &(ev, _))| (f, ev)).collect();
            if list.iter().any(|&(f, ev)| revents(f, console) & (ev as i16 | POLLHUP | POLLERR) != 0) {
                POLLIN
            } else {
                0
            }
        }
    }
}

fn deadline_ms(timeout_ms: i32) -> Option<u64> {
    (timeout_ms >= 0).then(|| clock::monotonic_ns() + timeout_ms as u64 * 1_000_000)
}

/// poll(2) over host descriptors; `console` answers for 0–2.
pub fn poll(fds: &mut [PollFd], timeout_ms: i32, console: &dyn Fn(i32) -> i16) -> Result<usize, Errno> {
    let r = wait(deadline_ms(timeout_ms), || {
        let mut ready = 0;
        for p in fds.iter_mut() {
            p.revents = revents(p.fd, console) & (p.events | POLLHUP | POLLERR | POLLNVAL);
            ready += usize::from(p.revents != 0);
        }
        (ready > 0 || timeout_ms == 0).then_some(Ok(ready))
    })?;
    Ok(r.unwrap_or(0))
}

/// FIONREAD of a socket: bytes ready to read; None if `fd` is not a socket of ours.
pub fn socket_unread(fd: i32) -> Option<usize> {
    match get(fd).ok()?.0 {
        Obj::Tcp(s) => Some(tcpsock::unread(&s)),
        _ => None,
    }
}

/// The socket calls: socket creates one, accept4 adds the connection as a new descriptor,
/// the others act on the socket behind `a[0]` (arguments as the shim passes them).
pub fn net_call(nr: usize, a: [usize; 6]) -> Result<usize, Errno> {
    use litebox_libos::shim::nr::*;
    const SOCK_NONBLOCK: usize = 0o4000;
    match nr {
        SOCKET => {
            let s = tcpsock::socket(a[0], a[1], a[2])?;
            Ok(add(Obj::Tcp(s), a[1] & SOCK_NONBLOCK != 0) as usize)
        }
        SOCKETPAIR => Err(EAFNOSUPPORT), // no Unix sockets in the VM (docs/targets/kvm.md)
        _ => {
            let (obj, nb) = get(a[0] as i32)?;
            let Obj::Tcp(s) = obj else { return Err(ENOTSOCK) };
            if nr == ACCEPT4 || nr == ACCEPT {
                let flags = if nr == ACCEPT4 { a[3] } else { 0 };
                let conn = tcpsock::accept(&s, a[1], a[2], nb)?;
                return Ok(add(Obj::Tcp(conn), flags & SOCK_NONBLOCK != 0) as usize);
            }
            tcpsock::call(&s, nr, a, nb)
        }
    }
}

/// eventfd2, timerfd_*, epoll_*: `nr` and arguments as the shim passes them.
pub fn call(nr: usize, a: [usize; 6], console: &dyn Fn(i32) -> i16) -> Result<usize, Errno> {
    use litebox_libos::shim::nr::*;
    let nb = a[1] as u32 & O_NONBLOCK != 0;
    match nr {
        EVENTFD2 => Ok(add(Obj::Event(Arc::new(SpinMutex::new((a[0] as u32 as u64, a[1] & EFD_SEMAPHORE != 0)))), nb)
            as usize),
        TIMERFD_CREATE => {
            if !matches!(a[0], 0 | 1 | 7) {
                return Err(EINVAL);
            }
            Ok(add(Obj::Timer(Arc::new(SpinMutex::new(Timer { at: 0, every: 0, count: 0 }))), nb) as usize)
        }
        TIMERFD_SETTIME | TIMERFD_GETTIME => {
            let Obj::Timer(tm) = get(a[0] as i32)?.0 else { return Err(EINVAL) };
            let (new, old) = if nr == TIMERFD_SETTIME { (a[2], a[3]) } else { (0, a[1]) };
            let incoming: Option<[i64; 4]> = if new != 0 { Some(user::read(new)?) } else { None };
            let mut tm = tm.lock();
            tick(&mut tm);
            let now = clock::monotonic_ns();
            if old != 0 {
                let left = if tm.at != 0 { tm.at.saturating_sub(now).max(1) } else { 0 };
                let ts = |ns: u64| [(ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64];
                let (i, v) = (ts(tm.every), ts(left));
                user::write(old, &[i[0], i[1], v[0], v[1]])?;
            }
            if let Some(v) = incoming {
                if v.iter().any(|&x| x < 0) || v[1] >= 1_000_000_000 || v[3] >= 1_000_000_000 {
                    return Err(EINVAL);
                }
                let ns = |s: i64, n: i64| s as u64 * 1_000_000_000 + n as u64;
                let value = ns(v[2], v[3]);
                const TFD_TIMER_ABSTIME: usize = 1;
                tm.every = ns(v[0], v[1]);
                tm.count = 0;
                tm.at = if value == 0 {
                    0
                } else if a[1] & TFD_TIMER_ABSTIME != 0 {
                    value.max(1)
                } else {
                    now + value
                };
            }
            Ok(0)
        }
        EPOLL_CREATE1 => Ok(add(Obj::Epoll(Arc::new(SpinMutex::new(BTreeMap::new()))), false) as usize),
        EPOLL_CTL => {
            let Obj::Epoll(list) = get(a[0] as i32)?.0 else { return Err(EINVAL) };
            let (op, target) = (a[1], a[2] as i32);
            if target == a[0] as i32 {
                return Err(EINVAL);
            }
            let ev: Option<(u32, u64)> = if op == 2 {
                None
            } else {
                let raw: [u8; 12] = user::read(a[3])?;
                let events = u32::from_le_bytes(raw[0..4].try_into().unwrap_or([0; 4]));
                Some((events, u64::from_le_bytes(raw[4..12].try_into().unwrap_or([0; 8]))))
            };
            let mut l = list.lock();
            match (op, ev) {
                (1, Some(e)) => {
                    if l.contains_key(&target) {
                        return Err(EEXIST);
                    }
                    l.insert(target, e);
                }
                (3, Some(e)) => *l.get_mut(&target).ok_or(ENOENT)? = e,
                (2, None) => {
                    l.remove(&target).ok_or(ENOENT)?;
                }
                _ => return Err(EINVAL),
            }
            Ok(0)
        }
        EPOLL_WAIT | EPOLL_PWAIT => {
            let Obj::Epoll(list) = get(a[0] as i32)?.0 else { return Err(EINVAL) };
            let max = a[2] as i32;
            if max <= 0 {
                return Err(EINVAL);
            }
            let out = a[1];
            user::slice_mut(out, 12 * max as usize)?;
            let r = wait(deadline_ms(a[3] as i32), || {
                let items: Vec<(i32, u32, u64)> = list.lock().iter().map(|(&f, &(e, d))| (f, e, d)).collect();
                let mut n = 0usize;
                for (f, ev, data) in items {
                    if n >= max as usize {
                        break;
                    }
                    let got = revents(f, console) & (ev as i16 | POLLHUP | POLLERR);
                    if got != 0 {
                        let mut rec = [0u8; 12];
                        rec[0..4].copy_from_slice(&(got as u16 as u32).to_le_bytes());
                        rec[4..12].copy_from_slice(&data.to_le_bytes());
                        if let Err(e) = user::write(out + 12 * n, &rec) {
                            return Some(Err(e));
                        }
                        n += 1;
                    }
                }
                (n > 0 || a[3] as i32 == 0).then_some(Ok(n))
            })?;
            Ok(r.unwrap_or(0))
        }
        _ => Err(ENOSYS),
    }
}
