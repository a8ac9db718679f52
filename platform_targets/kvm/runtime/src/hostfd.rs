//! The "host" descriptors of a VM without a host: TCP sockets (`tcpsock.rs`), numbered from 3
//! (0 is stdin, 1 and 2 the console). Pipes, eventfds, timerfds and epoll are the library OS's
//! own kernel objects (core/libos/src/kobj.rs); they and the sockets wait through [`wait`]
//! (`Platform::block_until`): cooperatively (other threads and processes run, timers fire),
//! interrupted with EINTR when a signal becomes deliverable. All processes of the app share
//! the sockets (a forked child's descriptors refer to the same objects).
use alloc::collections::BTreeMap;

use litebox_libos::abi::PollFd;
use litebox_libos::errno::*;
use litebox_libos::sync::SpinMutex;

use crate::{clock, netstack, sched, signals, tcpsock};

const POLLERR: i16 = 0x8;
const POLLHUP: i16 = 0x10;
const POLLNVAL: i16 = 0x20;
#[derive(Clone)]
enum Obj {
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
        let d = [deadline, signals::timer_deadline(), poll_at].into_iter().flatten().min();
        sched::wait_event(d);
    }
}

/// Closes a kernel descriptor (the last reference of the library OS went away).
pub fn close(fd: i32) {
    let Some((obj, _)) = TABLE.lock().objs.remove(&fd) else { return };
    let Obj::Tcp(s) = obj;
    tcpsock::close(&s);
}

/// A second descriptor for the object behind `fd` (opening /proc/self/fd/N): a socket cannot
/// be reopened (ENXIO, as on Linux). Descriptors 0-2 (the console) are their own duplicates:
/// closing one of ours closes nothing.
pub fn dup(fd: i32) -> Result<i32, Errno> {
    if (0..3).contains(&fd) {
        return Ok(fd);
    }
    get(fd)?;
    Err(ENXIO)
}

/// Sets O_NONBLOCK.
pub fn set_nonblock(fd: i32, on: bool) -> Result<(), Errno> {
    let mut t = TABLE.lock();
    let e = t.objs.get_mut(&fd).ok_or(EBADF)?;
    e.1 = on;
    Ok(())
}

/// Whether `fd` is one of ours (a socket).
pub fn is_socket(fd: i32) -> bool {
    get(fd).is_ok()
}

/// read(2).
pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    let (Obj::Tcp(s), nb) = get(fd)?;
    tcpsock::recv(&s, buf, 0, nb)
}

/// write(2).
pub fn write(fd: i32, buf: &[u8]) -> Result<usize, Errno> {
    let (Obj::Tcp(s), nb) = get(fd)?;
    tcpsock::send(&s, buf, 0, nb)
}

fn revents(fd: i32, console: &dyn Fn(i32) -> i16) -> i16 {
    if (0..3).contains(&fd) {
        return console(fd);
    }
    let Ok((Obj::Tcp(s), _)) = get(fd) else { return POLLNVAL };
    tcpsock::revents(&s)
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
    let (Obj::Tcp(s), _) = get(fd).ok()?;
    Some(tcpsock::unread(&s))
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
            let (Obj::Tcp(s), nb) = get(a[0] as i32)?;
            if nr == ACCEPT4 || nr == ACCEPT {
                let flags = if nr == ACCEPT4 { a[3] } else { 0 };
                let conn = tcpsock::accept(&s, a[1], a[2], nb)?;
                return Ok(add(Obj::Tcp(conn), flags & SOCK_NONBLOCK != 0) as usize);
            }
            tcpsock::call(&s, nr, a, nb)
        }
    }
}
