//! Waiting, and the host descriptors of a VM without a host: only the console streams (0 is stdin, 1 and 2
//! the console). Sockets, pipes, eventfds, timerfds and epoll are the library OS's own kernel
//! objects (core/libos/src/kobj.rs, core/libos/src/netstack/); they wait through [`wait`]
//! (`Platform::block_until`): cooperatively (other threads and processes run, timers fire),
//! interrupted with EINTR when a signal becomes deliverable.
use litebox_libos::abi::PollFd;
use litebox_libos::errno::*;

use super::signals;
use crate::{clock, machine, sched};

const POLLERR: i16 = 0x8;
const POLLHUP: i16 = 0x10;
const POLLNVAL: i16 = 0x20;

/// Waits until `ready` gives a result, or the deadline passes (`Ok(None)`), or a signal
/// interrupts (EINTR). The machine's devices (a network card raises no interrupts) and events
/// (the runner's Ctrl-C) are polled before each look and at least every
/// [`crate::Machine::poll_interval_ns`].
pub fn wait<T>(deadline: Option<u64>, mut ready: impl FnMut() -> Option<Result<T, Errno>>) -> Result<Option<T>, Errno> {
    let m = machine();
    loop {
        m.poll_devices();
        if let Some(r) = ready() {
            return r.map(Some);
        }
        if signals::interrupted() {
            return Err(EINTR);
        }
        if deadline.is_some_and(|d| clock::monotonic_ns() >= d) {
            return Ok(None);
        }
        let every = m.poll_interval_ns();
        let poll_at = (every != u64::MAX).then(|| clock::monotonic_ns().saturating_add(every));
        let d = [deadline, signals::timer_deadline(), poll_at].into_iter().flatten().min();
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
