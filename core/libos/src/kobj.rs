//! Kernel objects written once for every platform: pipes, eventfds, timerfds and epoll
//! instances. They live in the library OS's own descriptor table ([`FileKind::Obj`]); a call
//! that must wait does so through [`Platform::block_until`]. A platform that offers
//! [`crate::platform::HostPassthrough`] gets host objects instead (the shim decides, in
//! `shim/io.rs`), so these are used where the host has none (a VM) or where the platform
//! prefers them.
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use crate::abi::*;
use crate::errno::*;
use crate::fd::{FileKind, OpenFile};
use crate::platform::Platform;
use crate::sync::SpinMutex;

/// A pipe's capacity (Linux's default).
pub const PIPE_CAP: usize = 65536;
/// Writes up to this size are atomic (never interleaved, never partial).
pub const PIPE_BUF: usize = 4096;
const POLLERR: i16 = 0x008;
const POLLHUP: i16 = 0x010;
const CLOCK_MONOTONIC: u32 = 1;
/// epoll_event.events bits the core understands beyond poll's.
const EPOLLONESHOT: u32 = 1 << 30;
/// Marks an EPOLLONESHOT entry that has reported (until EPOLL_CTL_MOD re-arms it).
const DISARMED: u32 = 1 << 27;

pub(crate) static NEXT_INO: AtomicU64 = AtomicU64::new(0x1000);

/// A kernel object behind an app descriptor.
pub enum Obj {
    Pipe(PipeEnd),
    Event(SpinMutex<EventFd>),
    Timer(SpinMutex<TimerFd>),
    Epoll(Epoll),
    /// A signalfd of the core's signals (`crate::sigfd`).
    Signal(crate::sigfd::SignalFd),
    /// A Unix-domain socket of the library OS (`unixsock.rs`).
    Unix(crate::unixsock::UnixFile),
    /// A POSIX message queue descriptor (`crate::mqueue`).
    Mqueue(crate::mqueue::MqDesc),
    /// A TCP socket of the core's network stack (`netstack/tcpsock.rs`).
    #[cfg(feature = "netstack")]
    Tcp(crate::netstack::tcpsock::Socket),
}

struct PipeState {
    buf: VecDeque<u8>,
    readers: usize,
    writers: usize,
    /// The pipe's page buffers as Linux keeps them, (read offset, unread bytes) each, oldest
    /// first: a backed pipe's capacity is `max_pages` of them, not a count of bytes
    /// (`try_write`); a read into a buffer that stops being writable takes whole ones ([`fit`]).
    pages: VecDeque<(usize, usize)>,
    /// How many page buffers the pipe may use: [`PIPE_PAGES`] until F_SETPIPE_SZ changes it
    /// (Linux's pipe max_usage; F_GETPIPE_SZ reports it in bytes, the same for every end).
    max_pages: usize,
}

impl PipeState {
    /// Counts `n` bytes taken from the front out of the page buffers.
    fn take_pages(&mut self, n: usize) {
        let mut left = n;
        while left > 0 {
            let Some(p) = self.pages.front_mut() else { break };
            let k = left.min(p.1);
            (p.0, p.1, left) = (p.0 + k, p.1 - k, left - k);
            if p.1 == 0 {
                self.pages.pop_front();
            }
        }
    }

    /// Counts `n` bytes written into the page buffers: the first `merge` join the newest one
    /// (what [`pipe_merge`] allowed), the rest fill new ones of up to a page each.
    fn add_pages(&mut self, merge: usize, n: usize) {
        if let Some(last) = self.pages.back_mut().filter(|_| merge > 0) {
            last.1 += merge;
        }
        let mut at = merge.min(n);
        while at < n {
            let k = (n - at).min(PAGE);
            self.pages.push_back((0, k));
            at += k;
        }
    }
}

/// A page buffer of a pipe (Linux's pipe_buffer).
const PAGE: usize = 4096;
/// Page buffers of a pipe (Linux's default pipe_max_usage).
const PIPE_PAGES: usize = PIPE_CAP / PAGE;

/// One pipe, shared by its ends.
pub struct Pipe {
    st: SpinMutex<PipeState>,
    ino: u64,
    /// A host pipe (read end, write end) standing by for promotion (linux-userland: see
    /// `crate::pipes`); -1 when there is none or once promotion took it. Closed with the pipe.
    host: [AtomicI32; 2],
}

impl Drop for Pipe {
    fn drop(&mut self) {
        for h in &self.host {
            let fd = h.swap(-1, Ordering::Relaxed);
            if fd >= 0 {
                drop(crate::fd::HostFd(fd));
            }
        }
    }
}

/// What a promotion takes out of a library-OS pipe: the unread bytes, the standby host pipe
/// (read end, write end) and how many read and write ends the library OS still has.
pub struct Detached {
    pub bytes: Vec<u8>,
    pub host: (crate::fd::HostFd, crate::fd::HostFd),
    pub readers: usize,
    pub writers: usize,
    /// The pipe's size in bytes (F_SETPIPE_SZ), for its host pipe.
    pub size: usize,
}

/// An end of a pipe (a read end, a write end, or both when reopened O_RDWR through
/// /proc/self/fd); counts itself among the pipe's readers and writers while it lives.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    read: bool,
    write: bool,
}

impl PipeEnd {
    /// A new pipe: (read end, write end).
    pub fn pair() -> (Obj, Obj) {
        Self::pair_backed((-1, -1))
    }

    /// A new pipe served by the library OS with the host pipe `host` (read, write) standing
    /// by (-1, -1: none): the pipe owns it from now on and hands it over at promotion
    /// (`crate::pipes`).
    pub fn pair_backed(host: (i32, i32)) -> (Obj, Obj) {
        let pipe = Pipe::new(host);
        (Obj::Pipe(Self::new(&pipe, true, false)), Obj::Pipe(Self::new(&pipe, false, true)))
    }

    /// Whether this pipe has a standby host pipe (it is promoted, not waited on, when a call
    /// would block or needs a host object).
    pub fn backed(&self) -> bool {
        self.pipe.host[0].load(Ordering::Relaxed) >= 0
    }

    /// The standby host descriptor of this end (the read end's for an end that reads), for
    /// fstat and /proc/self/fd; -1 without one.
    pub fn host_fd(&self) -> i32 {
        self.pipe.host[usize::from(!self.read)].load(Ordering::Relaxed)
    }

    /// The pipe's identity (shared by its ends).
    pub fn key(&self) -> usize {
        Arc::as_ptr(&self.pipe) as usize
    }

    /// (reads, writes): the directions this end has.
    pub fn dirs(&self) -> (bool, bool) {
        (self.read, self.write)
    }

    /// Takes the unread bytes and the standby host pipe out of a backed pipe (None if it has
    /// none, or another end's promotion took it already). The pipe stays readable and
    /// writable, empty, until its ends are dropped.
    pub fn detach(&self) -> Option<Detached> {
        let mut s = self.pipe.st.lock();
        let r = self.pipe.host[0].swap(-1, Ordering::Relaxed);
        let w = self.pipe.host[1].swap(-1, Ordering::Relaxed);
        if r < 0 || w < 0 {
            for fd in [r, w].into_iter().filter(|&fd| fd >= 0) {
                drop(crate::fd::HostFd(fd));
            }
            return None;
        }
        let bytes: Vec<u8> = s.buf.drain(..).collect();
        s.pages.clear();
        let host = (crate::fd::HostFd(r), crate::fd::HostFd(w));
        Some(Detached { bytes, host, readers: s.readers, writers: s.writers, size: s.max_pages * PAGE })
    }

    /// The pipe's size in bytes (F_GETPIPE_SZ): the same for every end.
    pub fn size(&self) -> usize {
        self.pipe.st.lock().max_pages * PAGE
    }

    /// F_SETPIPE_SZ: the pipe's size becomes `bytes` (a power of two, at least a page: the
    /// caller rounded it as Linux does); EBUSY if its unread bytes use more page buffers than
    /// that, as Linux's pipe_resize_ring.
    pub fn set_size(&self, bytes: usize) -> Result<usize, Errno> {
        let mut s = self.pipe.st.lock();
        let pages = (bytes / PAGE).max(1);
        if s.pages.len() > pages {
            return Err(EBUSY);
        }
        s.max_pages = pages;
        Ok(pages * PAGE)
    }

    /// read(2) of a backed pipe without waiting: `Some` with the bytes read, 0 at end of file
    /// (no writer) or EAGAIN (`nonblock`, empty); `None` when the call would have to wait
    /// (the caller promotes the pipe and reads on the host). Never wakes anyone: a backed pipe
    /// has no waiters.
    pub fn try_read(&self, buf: &mut [u8], nonblock: bool) -> Option<Result<usize, Errno>> {
        self.try_read_in(buf, buf.len(), nonblock)
    }

    /// [`PipeEnd::try_read`] of `want` bytes into a buffer whose first `buf.len()` bytes are
    /// writable (`want` larger: the rest is not), as Linux's pipe_read does it (see [`fit`]).
    pub fn try_read_in(&self, buf: &mut [u8], want: usize, nonblock: bool) -> Option<Result<usize, Errno>> {
        if !self.read {
            return Some(Err(EBADF));
        }
        let mut s = self.pipe.st.lock();
        if !s.buf.is_empty() {
            let n = match fit(&s, buf.len(), want) {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            };
            let (a, b) = s.buf.as_slices();
            let k = n.min(a.len());
            buf[..k].copy_from_slice(&a[..k]);
            buf[k..n].copy_from_slice(&b[..n - k]);
            s.buf.drain(..n);
            s.take_pages(n);
            Some(Ok(n))
        } else {
            empty_read(s.writers, buf.is_empty(), nonblock)
        }
    }

    /// write(2) of a backed pipe without waiting, as Linux's pipe_write counts room: the
    /// first `len % 4096` bytes join the newest page buffer if they fit in it, the rest fill
    /// new page buffers of up to 4096 bytes, at most the pipe's size in use (so a write of up to
    /// PIPE_BUF bytes goes in whole or not at all, and how much a non-blocking write takes is
    /// what it would natively). EAGAIN when nothing fits and `nonblock`. `None` when the call
    /// must wait (blocking, and not all of it fits) or has no reader (EPIPE and SIGPIPE): the
    /// caller promotes the pipe and writes on the host, which does both as natively.
    pub fn try_write(&self, buf: &[u8], nonblock: bool) -> Option<Result<usize, Errno>> {
        if !self.write {
            return Some(Err(EBADF));
        }
        if buf.is_empty() {
            return Some(Ok(0));
        }
        let mut s = self.pipe.st.lock();
        if s.readers == 0 {
            return None;
        }
        let chars = buf.len() % PAGE;
        let merge = match s.pages.back() {
            Some(&(off, len)) if chars != 0 && off + len + chars <= PAGE => chars,
            _ => 0,
        };
        let fits = merge + (buf.len() - merge).min(s.max_pages.saturating_sub(s.pages.len()) * PAGE);
        if fits < buf.len() && !nonblock {
            return None;
        }
        if fits == 0 {
            return Some(Err(EAGAIN));
        }
        s.add_pages(merge, fits);
        s.buf.extend(&buf[..fits]);
        Some(Ok(fits))
    }

    /// [`pipe_merge`] for a write of `len` bytes to this pipe now.
    pub fn merge(&self, len: usize) -> usize {
        newest_merge(&self.pipe.st.lock(), len)
    }

    /// Another end of the same pipe (opening /proc/self/fd/N).
    pub fn reopen(&self, read: bool, write: bool) -> Obj {
        Obj::Pipe(Self::new(&self.pipe, read, write))
    }

    /// A pipe with no ends yet (a FIFO's, `crate::fifo`).
    pub fn unopened() -> Arc<Pipe> {
        Pipe::new((-1, -1))
    }

    /// A new end of `pipe` (opening a FIFO).
    pub fn attach(pipe: &Arc<Pipe>, read: bool, write: bool) -> Obj {
        Obj::Pipe(Self::new(pipe, read, write))
    }

    fn new(pipe: &Arc<Pipe>, read: bool, write: bool) -> Self {
        let mut s = pipe.st.lock();
        s.readers += usize::from(read);
        s.writers += usize::from(write);
        drop(s);
        PipeEnd { pipe: pipe.clone(), read, write }
    }

    fn revents(&self) -> i16 {
        let s = self.pipe.st.lock();
        let mut r = 0;
        if self.read {
            r |= if s.buf.is_empty() { 0 } else { POLLIN } | if s.writers == 0 { POLLHUP } else { 0 };
        }
        if self.write {
            r |= if s.readers == 0 {
                POLLOUT | POLLERR
            } else if (s.max_pages * PAGE).saturating_sub(s.buf.len()) >= PIPE_BUF {
                POLLOUT
            } else {
                0
            };
        }
        r
    }
}

/// How many bytes of a `len`-byte write to a pipe whose first `readable` bytes (fewer than
/// `len`) the app can read Linux's pipe_write takes: the `merge` bytes that join the newest
/// page buffer first (`len % 4096` when they fit there, else 0), then whole pages, stopping
/// before the first copy that runs past `readable`; EFAULT when that is the first.
pub fn pipe_write_fit(readable: usize, merge: usize) -> Result<usize, Errno> {
    if readable < merge {
        return Err(EFAULT);
    }
    let n = merge + (readable - merge) / PAGE * PAGE;
    if n == 0 {
        Err(EFAULT)
    } else {
        Ok(n)
    }
}

/// The bytes of a `len`-byte write that Linux's pipe_write puts into the newest page buffer
/// of a pipe holding `queued` bytes (`newest`: that buffer's end, if the library OS tracks
/// it): `len % 4096` when the pipe is not empty and they fit in that page, else 0. Without
/// `newest` the pipe's bytes count as page buffers filled from the start of each page, as
/// sequential writes leave them.
pub fn pipe_merge(len: usize, queued: usize, newest: Option<usize>) -> usize {
    let chars = len % PAGE;
    let end = newest.unwrap_or(queued % PAGE);
    if chars != 0 && queued != 0 && end != 0 && end + chars <= PAGE {
        chars
    } else {
        0
    }
}

/// [`pipe_merge`] for a write of `len` bytes to pipe state `s`.
fn newest_merge(s: &PipeState, len: usize) -> usize {
    let newest = s.pages.back().map(|&(off, n)| off + n);
    pipe_merge(len, s.buf.len(), newest)
}

/// How many of a pipe's unread bytes (there are some) a read of `want` bytes takes when only
/// the first `room` bytes of its buffer are writable, as Linux's pipe_read copies: one page
/// buffer at a time (its unread bytes, at most what is still wanted), failing a copy that
/// runs past `room` without taking any of it; EFAULT when that is the first. A pipe whose
/// page buffers the library OS does not track (one that is not backed) counts as one buffer,
/// which is what sequential writes of less than a page make natively.
fn fit(s: &PipeState, room: usize, want: usize) -> Result<usize, Errno> {
    let all = s.buf.len().min(want);
    if all <= room {
        return Ok(all);
    }
    let mut got = 0;
    if s.pages.iter().map(|p| p.1).sum::<usize>() == s.buf.len() {
        for &(_, len) in &s.pages {
            let k = len.min(want - got);
            if got + k > room {
                break;
            }
            got += k;
        }
    }
    if got == 0 {
        Err(EFAULT)
    } else {
        Ok(got)
    }
}

impl Pipe {
    /// An empty pipe with no ends yet, with the host pipe `host` (read, write) standing by
    /// (-1, -1: none).
    fn new(host: (i32, i32)) -> Arc<Pipe> {
        Arc::new(Pipe {
            st: SpinMutex::new(PipeState {
                buf: VecDeque::new(),
                readers: 0,
                writers: 0,
                pages: VecDeque::new(),
                max_pages: PIPE_PAGES,
            }),
            ino: NEXT_INO.fetch_add(1, Ordering::Relaxed),
            host: [AtomicI32::new(host.0), AtomicI32::new(host.1)],
        })
    }

    /// (readers, writers) open now.
    pub fn ends(&self) -> (usize, usize) {
        let s = self.st.lock();
        (s.readers, s.writers)
    }

    /// Drops unread bytes when no end is open (a FIFO's data does not outlive its last open).
    pub fn discard_if_closed(&self) {
        let mut s = self.st.lock();
        if s.readers == 0 && s.writers == 0 {
            s.buf.clear();
            s.pages.clear();
        }
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut s = self.pipe.st.lock();
        s.readers -= usize::from(self.read);
        s.writers -= usize::from(self.write);
    }
}

/// An eventfd: the counter and EFD_SEMAPHORE.
pub struct EventFd {
    count: u64,
    semaphore: bool,
}

/// A timerfd: its clock, next expiry (ns of that clock; 0 = disarmed), interval (ns) and the
/// expirations not yet read.
pub struct TimerFd {
    clock: u32,
    at: u64,
    every: u64,
    count: u64,
}

/// An epoll instance's interest list: (descriptor, open file) -> (events, data). An entry
/// whose open file went away (closed everywhere) is dropped, as Linux does.
pub struct Epoll {
    list: SpinMutex<BTreeMap<Key, Interest>>,
}

/// An interest list's key: the descriptor and its open file's address.
type Key = (i32, usize);
/// What an entry watches: the open file (weakly), events, data.
type Interest = (Weak<OpenFile>, u32, u64);
/// A live entry: key, open file, events, data.
type Entry = (Key, Arc<OpenFile>, u32, u64);

impl Default for Epoll {
    fn default() -> Self {
        Epoll { list: SpinMutex::new(BTreeMap::new()) }
    }
}

fn now<P: Platform + ?Sized>(p: &P, clock: u32) -> u64 {
    p.clock_gettime(clock).map_or(0, |t| t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64)
}

/// CLOCK_MONOTONIC now, in ns.
pub fn monotonic<P: Platform + ?Sized>(p: &P) -> u64 {
    now(p, CLOCK_MONOTONIC)
}

/// The monotonic deadline of a poll-style timeout (ms, < 0 forever).
pub fn deadline_ms<P: Platform + ?Sized>(p: &P, ms: i32) -> Option<u64> {
    (ms >= 0).then(|| monotonic(p) + ms as u64 * 1_000_000)
}

/// Waits until `f` gives a result (`Ok(Some)`), `deadline` passes (`Ok(None)`) or a signal
/// interrupts (EINTR). `wake` is the earliest time an object may change by itself (a timer):
/// the wait re-checks then. With the core's network stack, the network is polled before each
/// look (its card raises no interrupts).
pub fn wait<P: Platform + ?Sized, T>(
    p: &P,
    deadline: Option<u64>,
    wake: &dyn Fn() -> Option<u64>,
    mut f: impl FnMut() -> Option<Result<T, Errno>>,
) -> Result<Option<T>, Errno> {
    let mut out = None;
    loop {
        let d = [deadline, wake()].into_iter().flatten().min();
        let r = p.block_until(
            &mut || {
                if out.is_none() {
                    #[cfg(feature = "netstack")]
                    crate::netstack::poll();
                    out = f();
                }
                out.is_some()
            },
            d,
        );
        if let Some(r) = out.take() {
            return r.map(Some);
        }
        r?;
        if deadline.is_some_and(|d| monotonic(p) >= d) {
            return Ok(None);
        }
    }
}

fn tick<P: Platform + ?Sized>(p: &P, t: &mut TimerFd) {
    let now = now(p, t.clock);
    if t.at != 0 && now >= t.at {
        if let Some(periods) = (now - t.at).checked_div(t.every) {
            t.count += periods + 1;
            t.at += (periods + 1) * t.every;
        } else {
            t.count += 1;
            t.at = 0;
        }
    }
}

/// When a timer's next expiry is, on the monotonic clock.
fn timer_wake<P: Platform + ?Sized>(p: &P, t: &TimerFd) -> Option<u64> {
    (t.at != 0).then(|| monotonic(p) + t.at.saturating_sub(now(p, t.clock)))
}

impl Obj {
    /// A new eventfd.
    pub fn eventfd(init: u32, semaphore: bool) -> Self {
        Obj::Event(SpinMutex::new(EventFd { count: init as u64, semaphore }))
    }

    /// A new, disarmed timerfd on `clock`.
    pub fn timerfd(clock: u32) -> Self {
        Obj::Timer(SpinMutex::new(TimerFd { clock, at: 0, every: 0, count: 0 }))
    }

    /// fstat of the object.
    pub fn stat(&self, (uid, gid): (u32, u32)) -> Stat {
        let (mode, ino) = match self {
            Obj::Pipe(e) => (S_IFIFO | 0o600, e.pipe.ino),
            Obj::Unix(u) => return u.sock.stat((uid, gid)),
            #[cfg(feature = "netstack")]
            Obj::Tcp(s) => (S_IFSOCK | 0o777, s.ino),
            _ => (0o600, 1),
        };
        Stat { st_mode: mode, st_ino: ino, st_nlink: 1, st_uid: uid, st_gid: gid, st_blksize: 4096, ..Stat::default() }
    }

    /// What /proc/self/fd/N shows.
    pub fn label(&self) -> Vec<u8> {
        match self {
            Obj::Pipe(e) => alloc::format!("pipe:[{}]", e.pipe.ino).into_bytes(),
            Obj::Event(_) => b"anon_inode:[eventfd]".to_vec(),
            Obj::Timer(_) => b"anon_inode:[timerfd]".to_vec(),
            Obj::Epoll(_) => b"anon_inode:[eventpoll]".to_vec(),
            Obj::Signal(_) => b"anon_inode:[signalfd]".to_vec(),
            Obj::Unix(u) => alloc::format!("socket:[{}]", u.sock.ino).into_bytes(),
            Obj::Mqueue(d) => [&b"/"[..], &d.queue.name].concat(),
            #[cfg(feature = "netstack")]
            Obj::Tcp(s) => alloc::format!("socket:[{}]", s.ino).into_bytes(),
        }
    }

    /// Bytes a read would return at once (FIONREAD), for a pipe.
    pub fn unread(&self) -> Option<usize> {
        match self {
            // Either end of a backed pipe, as a host pipe answers (Linux's pipe_ioctl).
            Obj::Pipe(e) if e.read || e.backed() => Some(e.pipe.st.lock().buf.len()),
            Obj::Unix(u) => Some(u.sock.unread()),
            #[cfg(feature = "netstack")]
            Obj::Tcp(s) => Some(crate::netstack::tcpsock::unread(&s.sock)),
            _ => None,
        }
    }

    /// The next time the object may become ready by itself (a timer's expiry).
    fn wake<P: Platform + ?Sized>(&self, p: &P, depth: u32) -> Option<u64> {
        match self {
            Obj::Timer(t) => timer_wake(p, &t.lock()),
            Obj::Epoll(ep) if depth < 5 => ep
                .entries()
                .iter()
                .filter_map(|(_, f, _, _)| match &f.kind {
                    FileKind::Obj(o) => o.wake(p, depth + 1),
                    _ => None,
                })
                .min(),
            // The card raises no interrupts: a wait looks at the network again after a while.
            #[cfg(feature = "netstack")]
            Obj::Tcp(_) => crate::netstack::present().then(|| monotonic(p) + crate::netstack::poll_interval()),
            _ => None,
        }
    }

    /// poll(2) readiness (POLLIN, POLLOUT, POLLHUP, POLLERR).
    pub fn revents<P: Platform + ?Sized>(&self, p: &P, depth: u32) -> i16 {
        match self {
            Obj::Pipe(e) => e.revents(),
            Obj::Unix(u) => u.sock.revents(),
            Obj::Event(e) => {
                let e = e.lock();
                (if e.count > 0 { POLLIN } else { 0 }) | if e.count < u64::MAX - 1 { POLLOUT } else { 0 }
            }
            Obj::Timer(t) => {
                let mut t = t.lock();
                tick(p, &mut t);
                if t.count > 0 {
                    POLLIN
                } else {
                    0
                }
            }
            Obj::Signal(s) => {
                if s.readable(p.ids().1) {
                    POLLIN
                } else {
                    0
                }
            }
            Obj::Mqueue(d) => {
                (if d.queue.is_empty() { 0 } else { POLLIN }) | if d.queue.is_full() { 0 } else { POLLOUT }
            }
            Obj::Epoll(ep) => {
                if depth < 5 && !ep.ready(p, 1, depth + 1, false).is_empty() {
                    POLLIN
                } else {
                    0
                }
            }
            #[cfg(feature = "netstack")]
            Obj::Tcp(s) => crate::netstack::tcpsock::revents(&s.sock),
        }
    }

    /// read(2); `nonblock` is the description's O_NONBLOCK.
    pub fn read<P: Platform + ?Sized>(&self, p: &P, buf: &mut [u8], nonblock: bool) -> Result<usize, Errno> {
        self.read_in(p, buf, buf.len(), nonblock)
    }

    /// read(2) of `want` bytes into a buffer whose first `buf.len()` bytes are writable (a
    /// larger `want`: the rest is not), failing as Linux does where its copy would fault: a
    /// pipe as pipe_read ([`fit`]), a Unix socket as its recvmsg ([`crate::unixsock`]); any
    /// other object fills what is writable.
    pub fn read_in<P: Platform + ?Sized>(
        &self,
        p: &P,
        buf: &mut [u8],
        want: usize,
        nonblock: bool,
    ) -> Result<usize, Errno> {
        let r = match self {
            #[cfg(feature = "netstack")]
            Obj::Tcp(s) => return crate::netstack::tcpsock::recv(p, &s.sock, buf, 0, nonblock),
            Obj::Unix(u) => return u.sock.recv_in(p, buf, want, false, false, nonblock).map(|r| r.len),
            Obj::Pipe(e) if e.read => wait(p, None, &|| None, || {
                let mut s = e.pipe.st.lock();
                if !s.buf.is_empty() {
                    let n = match fit(&s, buf.len(), want) {
                        Ok(n) => n,
                        Err(e) => return Some(Err(e)),
                    };
                    for (d, b) in buf[..n].iter_mut().zip(s.buf.drain(..n)) {
                        *d = b;
                    }
                    s.take_pages(n);
                    Some(Ok(n))
                } else {
                    empty_read(s.writers, buf.is_empty(), nonblock)
                }
            }),
            Obj::Event(e) => {
                if buf.len() < 8 {
                    return Err(EINVAL);
                }
                wait(p, None, &|| None, || {
                    let mut e = e.lock();
                    if e.count > 0 {
                        let v = if e.semaphore { 1 } else { e.count };
                        e.count -= v;
                        buf[..8].copy_from_slice(&v.to_le_bytes());
                        Some(Ok(8))
                    } else if nonblock {
                        Some(Err(EAGAIN))
                    } else {
                        None
                    }
                })
            }
            Obj::Signal(s) => {
                if buf.len() < 128 {
                    return Err(EINVAL);
                }
                let tid = p.ids().1;
                wait(p, None, &|| None, || match s.take(tid, buf) {
                    0 if nonblock => Some(Err(EAGAIN)),
                    0 => None,
                    n => Some(Ok(n)),
                })
            }
            Obj::Timer(t) => {
                if buf.len() < 8 {
                    return Err(EINVAL);
                }
                wait(p, None, &|| timer_wake(p, &t.lock()), || {
                    let mut t = t.lock();
                    tick(p, &mut t);
                    if t.count > 0 {
                        buf[..8].copy_from_slice(&t.count.to_le_bytes());
                        t.count = 0;
                        Some(Ok(8))
                    } else if nonblock {
                        Some(Err(EAGAIN))
                    } else {
                        None
                    }
                })
            }
            _ => return Err(EINVAL),
        }?;
        p.wake_all();
        Ok(r.unwrap_or(0))
    }

    /// write(2); `nonblock` is the description's O_NONBLOCK. Writing to a pipe without readers
    /// raises SIGPIPE on the calling thread and fails with EPIPE.
    pub fn write<P: Platform + ?Sized>(
        &self,
        p: &P,
        buf: &[u8],
        nonblock: bool,
        sigpipe: &dyn Fn(),
    ) -> Result<usize, Errno> {
        let r = match self {
            #[cfg(feature = "netstack")]
            Obj::Tcp(s) => return crate::netstack::tcpsock::send(p, &s.sock, buf, 0, nonblock, sigpipe),
            Obj::Unix(u) => return u.sock.send(p, buf, Vec::new(), None, nonblock, sigpipe),
            Obj::Pipe(e) if e.write => {
                if buf.is_empty() {
                    return Ok(0);
                }
                let mut done = 0;
                let r = wait(p, None, &|| None, || {
                    let mut s = e.pipe.st.lock();
                    if s.readers == 0 {
                        drop(s);
                        sigpipe();
                        return Some(if done > 0 { Ok(done) } else { Err(EPIPE) });
                    }
                    let free = (s.max_pages * PAGE).saturating_sub(s.buf.len());
                    let left = buf.len() - done;
                    // Up to PIPE_BUF bytes go in whole or not at all.
                    let n = if left <= PIPE_BUF && free < left { 0 } else { left.min(free) };
                    // The first bytes of the write join the newest page buffer when they fit.
                    let merge = if done == 0 { newest_merge(&s, buf.len()).min(n) } else { 0 };
                    s.add_pages(merge, n);
                    s.buf.extend(&buf[done..done + n]);
                    done += n;
                    if done == buf.len() || (nonblock && done > 0) {
                        Some(Ok(done))
                    } else if nonblock {
                        Some(Err(EAGAIN))
                    } else {
                        None
                    }
                });
                match r {
                    Err(e) if done > 0 && crate::errno::interrupted(e) => Ok(Some(done)),
                    r => r,
                }
            }
            Obj::Event(e) => {
                let v: [u8; 8] = buf.get(..8).and_then(|b| b.try_into().ok()).ok_or(EINVAL)?;
                let v = u64::from_le_bytes(v);
                if v == u64::MAX {
                    return Err(EINVAL);
                }
                wait(p, None, &|| None, || {
                    let mut e = e.lock();
                    match e.count.checked_add(v).filter(|&x| x < u64::MAX) {
                        Some(x) => {
                            e.count = x;
                            Some(Ok(8))
                        }
                        None if nonblock => Some(Err(EAGAIN)),
                        None => None,
                    }
                })
            }
            _ => return Err(EINVAL),
        }?;
        p.wake_all();
        Ok(r.unwrap_or(0))
    }

    /// timerfd_settime (`new` Some) and timerfd_gettime: itimerspecs as [interval s, ns,
    /// value s, ns]; returns the old setting.
    pub fn timer_set<P: Platform + ?Sized>(&self, p: &P, flags: u32, new: Option<[i64; 4]>) -> Result<[i64; 4], Errno> {
        let Obj::Timer(t) = self else { return Err(EINVAL) };
        const TFD_TIMER_ABSTIME: u32 = 1;
        if flags & !3 != 0 {
            return Err(EINVAL);
        }
        if let Some(v) = new {
            if v.iter().any(|&x| x < 0) || v[1] >= 1_000_000_000 || v[3] >= 1_000_000_000 {
                return Err(EINVAL);
            }
        }
        let mut t = t.lock();
        tick(p, &mut t);
        let now = now(p, t.clock);
        let left = if t.at != 0 { t.at.saturating_sub(now).max(1) } else { 0 };
        let ts = |ns: u64| [(ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64];
        let (i, l) = (ts(t.every), ts(left));
        if let Some(v) = new {
            let ns = |s: i64, n: i64| (s as u64).saturating_mul(1_000_000_000).saturating_add(n as u64);
            let value = ns(v[2], v[3]);
            t.every = ns(v[0], v[1]);
            t.count = 0;
            t.at = if value == 0 {
                0
            } else if flags & TFD_TIMER_ABSTIME != 0 {
                value.max(1)
            } else {
                now + value
            };
            drop(t);
            p.wake_all();
        }
        Ok([i[0], i[1], l[0], l[1]])
    }
}

/// poll readiness of an open file of the app: kernel objects answer themselves, host
/// descriptors through `Platform::host_poll` (without waiting), everything else is ready.
pub fn file_revents<P: Platform + ?Sized>(p: &P, f: &OpenFile, events: i16, depth: u32) -> i16 {
    let always = events | POLLHUP | POLLERR;
    match &f.kind {
        FileKind::Obj(o) => o.revents(p, depth) & always,
        FileKind::Host(h) => {
            let mut pf = [PollFd { fd: h.0, events, revents: 0 }];
            match p.host_poll(&mut pf, 0) {
                Ok(_) => pf[0].revents,
                Err(_) => POLLERR,
            }
        }
        _ => events & (POLLIN | POLLOUT | 0x40 | 0x100),
    }
}

impl Epoll {
    /// epoll_ctl: `op` 1 ADD, 2 DEL, 3 MOD.
    pub fn ctl(&self, op: usize, fd: i32, f: &Arc<OpenFile>, ev: Option<(u32, u64)>) -> Result<(), Errno> {
        let key = (fd, Arc::as_ptr(f) as usize);
        let mut l = self.list.lock();
        l.retain(|_, (w, _, _)| w.strong_count() > 0);
        match (op, ev) {
            (1, Some((e, d))) => {
                if l.contains_key(&key) {
                    return Err(EEXIST);
                }
                l.insert(key, (Arc::downgrade(f), e, d));
            }
            (3, Some((e, d))) => {
                let ent = l.get_mut(&key).ok_or(ENOENT)?;
                (ent.1, ent.2) = (e, d);
            }
            (2, _) => {
                l.remove(&key).ok_or(ENOENT)?;
            }
            _ => return Err(EINVAL),
        }
        Ok(())
    }

    /// Whether `file` is watched by this epoll instance or, through epoll instances it
    /// watches, below it (at most `depth` levels down: deeper nesting counts as reaching it,
    /// as Linux refuses more than a few levels with ELOOP too).
    pub fn reaches(&self, file: &Arc<OpenFile>, depth: u32) -> bool {
        if depth == 0 {
            return true;
        }
        self.entries().iter().any(|(_, f, _, _)| {
            Arc::ptr_eq(f, file)
                || matches!(&f.kind, FileKind::Obj(Obj::Epoll(inner)) if inner.reaches(file, depth - 1))
        })
    }

    fn entries(&self) -> Vec<Entry> {
        self.list.lock().iter().filter_map(|(&k, (w, e, d))| Some((k, w.upgrade()?, *e, *d))).collect()
    }

    /// Up to `max` ready entries as (events, data); `consume` disarms EPOLLONESHOT entries
    /// it reports.
    fn ready<P: Platform + ?Sized>(&self, p: &P, max: usize, depth: u32, consume: bool) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        for (k, f, ev, data) in self.entries() {
            if out.len() >= max {
                break;
            }
            if ev & DISARMED != 0 {
                continue;
            }
            let got = file_revents(p, &f, ev as u16 as i16, depth);
            if got != 0 {
                out.push((got as u16 as u32, data));
                if consume && ev & EPOLLONESHOT != 0 {
                    if let Some(e) = self.list.lock().get_mut(&k) {
                        e.1 |= DISARMED;
                    }
                }
            }
        }
        out
    }

    /// epoll_wait: the ready entries, waiting up to `timeout_ms` (< 0 forever) for one.
    pub fn wait<P: Platform + ?Sized>(&self, p: &P, max: usize, timeout_ms: i32) -> Result<Vec<(u32, u64)>, Errno> {
        let wake = || {
            self.entries()
                .iter()
                .filter_map(|(_, f, _, _)| match &f.kind {
                    FileKind::Obj(o) => o.wake(p, 1),
                    _ => None,
                })
                .min()
        };
        let r = wait(p, deadline_ms(p, timeout_ms), &wake, || {
            let r = self.ready(p, max, 0, true);
            (!r.is_empty() || timeout_ms == 0).then_some(Ok(r))
        })?;
        Ok(r.unwrap_or_default())
    }
}

/// The earliest self-driven change among `files` (for poll's wait).
pub fn files_wake<P: Platform + ?Sized>(p: &P, files: &[Arc<OpenFile>]) -> Option<u64> {
    files
        .iter()
        .filter_map(|f| match &f.kind {
            FileKind::Obj(o) => o.wake(p, 0),
            _ => None,
        })
        .min()
}

/// read(2) of an empty pipe: end of file (0) when no writer is left or nothing was asked for,
/// EAGAIN when non-blocking, `None` when the reader has to wait.
fn empty_read(writers: usize, nothing_asked: bool, nonblock: bool) -> Option<Result<usize, Errno>> {
    if writers == 0 || nothing_asked {
        Some(Ok(0))
    } else if nonblock {
        Some(Err(EAGAIN))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backed pipe over made-up host descriptors (no close function is registered in unit
    /// tests, so dropping them closes nothing).
    fn backed_pair() -> (Obj, Obj) {
        PipeEnd::pair_backed((1000, 1001))
    }

    fn ends(p: &(Obj, Obj)) -> (&PipeEnd, &PipeEnd) {
        match p {
            (Obj::Pipe(r), Obj::Pipe(w)) => (r, w),
            _ => unreachable!(),
        }
    }

    #[test]
    fn backed_pipe_counts_room_in_page_buffers() {
        let p = backed_pair();
        let (r, w) = ends(&p);
        let big = alloc::vec![7u8; 100_000];
        assert_eq!(w.try_write(&big[..65436], true), Some(Ok(65436)));
        // 100 bytes left in the last page: 200 (<= PIPE_BUF) not at all, 100 whole.
        assert_eq!(w.try_write(&big[..200], true), Some(Err(EAGAIN)));
        assert_eq!(w.try_write(&big[..100], true), Some(Ok(100)));
        assert_eq!(w.try_write(&big[..1], true), Some(Err(EAGAIN)));
        // Reading 100 bytes frees no page: still full.
        let mut buf = alloc::vec![0u8; 100_000];
        assert_eq!(r.try_read(&mut buf[..100], true), Some(Ok(100)));
        assert_eq!(w.try_write(&big[..100], true), Some(Err(EAGAIN)));
        assert_eq!(r.try_read(&mut buf, true), Some(Ok(65436)));
        // 3 bytes, then a big write: 1696 join their page, 15 new pages.
        assert_eq!(w.try_write(b"abc", true), Some(Ok(3)));
        assert_eq!(w.try_write(&big, true), Some(Ok(1696 + 15 * 4096)));
        // A blocking write that does not fit waits (None: the caller promotes).
        assert_eq!(w.try_write(b"x", false), None);
    }

    #[test]
    fn backed_pipe_reads_eof_eagain_and_waits_never() {
        let p = backed_pair();
        let (r, w) = ends(&p);
        let mut buf = [0u8; 8];
        assert_eq!(r.try_read(&mut buf, true), Some(Err(EAGAIN)));
        assert_eq!(r.try_read(&mut buf, false), None);
        assert_eq!(w.try_write(b"abc", false), Some(Ok(3)));
        assert_eq!(r.try_read(&mut buf, false), Some(Ok(3)));
        assert_eq!(&buf[..3], b"abc");
        assert!(r.try_read(&mut buf, false).is_none());
        assert_eq!(r.try_write(b"x", false), Some(Err(EBADF)));
        assert_eq!(w.try_read(&mut buf, false), Some(Err(EBADF)));
        let (r, w) = p;
        drop(w);
        let Obj::Pipe(r) = r else { unreachable!() };
        assert_eq!(r.try_read(&mut buf, false), Some(Ok(0)));
    }

    #[test]
    fn a_read_that_stops_being_writable_takes_whole_page_buffers() {
        let p = backed_pair();
        let (r, w) = ends(&p);
        let mut buf = alloc::vec![0u8; 8192];
        // Two small writes share a page buffer: with 4 of 8 bytes writable, EFAULT, none taken.
        assert_eq!(w.try_write(b"abcd", true), Some(Ok(4)));
        assert_eq!(w.try_write(b"efgh", true), Some(Ok(4)));
        assert_eq!(r.try_read_in(&mut buf[..4], 8, true), Some(Err(EFAULT)));
        // All of it fits: read.
        assert_eq!(r.try_read_in(&mut buf[..8], 16, true), Some(Ok(8)));
        assert_eq!(&buf[..8], b"abcdefgh");
        // A full page buffer, then 8 bytes in the next: 4100 writable takes the first only.
        assert_eq!(w.try_write(&[1u8; 4096], true), Some(Ok(4096)));
        assert_eq!(w.try_write(b"abcdefgh", true), Some(Ok(8)));
        assert_eq!(r.try_read_in(&mut buf[..4100], 8192, true), Some(Ok(4096)));
        assert_eq!(r.try_read_in(&mut buf[..4], 8, true), Some(Err(EFAULT)));
        // Asking for less than the buffer holds: the chunk is what is asked.
        assert_eq!(r.try_read_in(&mut buf[..4], 5, true), Some(Err(EFAULT)));
        assert_eq!(r.try_read(&mut buf[..4], true), Some(Ok(4)));
        assert_eq!(r.try_read_in(&mut buf[..4], 8, true), Some(Ok(4)));
        assert_eq!(&buf[..4], b"efgh");
        // Empty: as any read.
        assert_eq!(r.try_read_in(&mut buf[..4], 8, true), Some(Err(EAGAIN)));
    }

    #[test]
    fn a_pipe_write_from_a_partly_readable_buffer_takes_whole_pages() {
        assert_eq!(pipe_write_fit(4096, 0), Ok(4096));
        assert_eq!(pipe_write_fit(8191, 0), Ok(4096));
        assert_eq!(pipe_write_fit(4, 0), Err(EFAULT));
        assert_eq!(pipe_write_fit(4096, 4), Ok(4));
        assert_eq!(pipe_write_fit(4100, 4), Ok(4100));
        assert_eq!(pipe_write_fit(3, 4), Err(EFAULT));
        // What joins the newest page buffer: len % 4096 when the pipe has bytes and they fit.
        assert_eq!(pipe_merge(8196, 2, None), 4);
        assert_eq!(pipe_merge(8196, 0, None), 0);
        assert_eq!(pipe_merge(8192, 2, None), 0);
        assert_eq!(pipe_merge(4100, 4094, None), 0);
        assert_eq!(pipe_merge(4100, 4096, None), 0);
        assert_eq!(pipe_merge(4100, 4096, Some(10)), 4);
        let p = backed_pair();
        let (_, w) = ends(&p);
        assert_eq!(w.merge(8196), 0);
        w.try_write(b"ab", true);
        assert_eq!(w.merge(8196), 4);
        assert_eq!(w.merge(8192), 0);
    }

    #[test]
    fn a_write_without_reader_is_left_to_the_host() {
        let (r, w) = backed_pair();
        drop(r);
        let Obj::Pipe(w) = w else { unreachable!() };
        assert_eq!(w.try_write(b"", false), Some(Ok(0)));
        assert_eq!(w.try_write(b"x", true), None);
    }

    #[test]
    fn detach_takes_the_bytes_and_the_host_pipe_once() {
        let p = backed_pair();
        let (r, w) = ends(&p);
        assert!(r.backed() && w.backed());
        assert_eq!((r.host_fd(), w.host_fd()), (1000, 1001));
        w.try_write(b"abc", false);
        let d = r.detach().expect("a backed pipe detaches");
        assert_eq!(d.bytes, b"abc");
        assert_eq!((d.host.0 .0, d.host.1 .0, d.readers, d.writers), (1000, 1001, 1, 1));
        assert!(!r.backed() && !w.backed());
        assert!(w.detach().is_none());
        let mut one = [0u8; 1];
        assert_eq!(r.try_read(&mut one, true), Some(Err(EAGAIN)));
    }
}
