//! The host descriptors of a VM without a host: only the console streams (0 is stdin, 1 and 2
//! the console). Sockets, pipes, eventfds, timerfds and epoll are the library OS's own kernel
//! objects (core/libos/src/kobj.rs, core/libos/src/netstack/); they wait through [`wait`]
//! (`Platform::block_until`): cooperatively (other threads and processes run, timers fire),
//! interrupted with EINTR when a signal becomes deliverable.
use litebox_libos::abi::PollFd;
use litebox_libos::errno::*;
use litebox_libos::netstack;

use crate::{clock, sched, signals};

const POLLERR: i16 = 0x8;
const POLLHUP: i16 = 0x10;
const POLLNVAL: i16 = 0x20;

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
        // A signal may also come from outside (the runner's Ctrl-C): look for it now and then.
        let outside = crate::control::listening().then(|| clock::monotonic_ns() + crate::control::POLL_NS);
        let d = [deadline, signals::timer_deadline(), poll_at, outside].into_iter().flatten().min();
        sched::wait_event(d);
    }
}

/// A second descriptor for the console stream `fd` (opening /proc/self/fd/N): descriptors 0-2
/// are their own duplicates (closing one of ours closes nothing).
pub fn dup(fd: i32) -> Result<i32, Errno> {
    if (0..3).contains(&fd) {
        Ok(fd)
    } else {
        Err(EBADF)
    }
}

/// poll(2) over the console streams; `console` answers for 0–2.
pub fn poll(fds: &mut [PollFd], timeout_ms: i32, console: &dyn Fn(i32) -> i16) -> Result<usize, Errno> {
    let deadline = (timeout_ms >= 0).then(|| clock::monotonic_ns() + timeout_ms as u64 * 1_000_000);
    let r = wait(deadline, || {
        let mut ready = 0;
        for p in fds.iter_mut() {
            let ev = if (0..3).contains(&p.fd) { console(p.fd) } else { POLLNVAL };
            p.revents = ev & (p.events | POLLHUP | POLLERR | POLLNVAL);
            ready += usize::from(p.revents != 0);
        }
        (ready > 0 || timeout_ms == 0).then_some(Ok(ready))
    })?;
    Ok(r.unwrap_or(0))
}
