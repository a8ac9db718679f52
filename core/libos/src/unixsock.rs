//! Unix-domain sockets of the library OS (unix(7)) for platforms without host sockets (the
//! VM kernel of kvm and snp): SOCK_STREAM, SOCK_DGRAM and SOCK_SEQPACKET, as pairs
//! (socketpair) or through names (bind/listen/accept/connect) in the file system (an S_IFSOCK
//! node of the in-memory layer) or in the abstract namespace (a name with a leading NUL).
//!
//! Each socket is a [`Sock`]; a connected socket holds its peer, and what is sent goes into
//! the peer's receive queue (bounded: a full queue blocks the writer, or EAGAIN). Only one
//! socket's lock is ever held at a time, so two sockets sending to each other cannot
//! deadlock. A wait goes through [`crate::kobj::wait`] like a pipe's, so a handled signal
//! interrupts it (EINTR, restarted by the platform under SA_RESTART) and a fatal one kills the
//! process. The tables of names are shared by every process the library OS serves (kvm's
//! processes share one kernel), as the open sockets are after fork.
//!
//! The system calls (argument decoding, descriptors, addresses) are in `shim/unixcalls.rs`.
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::abi::{Stat, S_IFSOCK};
use crate::errno::*;
use crate::fd::OpenFile;
use crate::kobj::{monotonic, wait, NEXT_INO};
use crate::platform::Platform;
use crate::sync::SpinMutex;

pub const SOCK_STREAM: u32 = 1;
pub const SOCK_DGRAM: u32 = 2;
pub const SOCK_SEQPACKET: u32 = 5;

/// Bytes a socket's receive queue holds before writers wait (Linux's default socket buffer).
pub const QUEUE_CAP: usize = 212_992;
/// What a datagram costs in the queue beyond its bytes (so many small ones fill it too).
const DGRAM_OVERHEAD: usize = 512;
/// The largest pending-connection queue of a listening socket (SOMAXCONN).
const MAX_BACKLOG: usize = 4096;

const POLLIN: i16 = 0x001;
const POLLOUT: i16 = 0x004;
const POLLERR: i16 = 0x008;
const POLLHUP: i16 = 0x010;
const POLLRDHUP: i16 = 0x2000;

/// The credentials SO_PEERCRED reports: the peer's process and effective ids at connect time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

/// One message in a receive queue: its bytes, descriptors passed with SCM_RIGHTS, and the
/// sender's name (datagrams).
pub struct Packet {
    data: Vec<u8>,
    at: usize,
    pub fds: Vec<Arc<OpenFile>>,
    from: Option<Vec<u8>>,
}

/// What one receive took: bytes copied, the message's full length (for MSG_TRUNC), the
/// descriptors it carried and the sender's name.
pub struct Received {
    pub len: usize,
    pub full: usize,
    pub fds: Vec<Arc<OpenFile>>,
    pub from: Option<Vec<u8>>,
}

#[derive(Default)]
struct State {
    /// The bound name: a path (no NUL) or an abstract name (leading NUL).
    name: Option<Vec<u8>>,
    peer: Option<Arc<Sock>>,
    peer_cred: Option<Cred>,
    /// listen() was called: connections wait in `pending` for accept().
    listening: bool,
    backlog: usize,
    pending: VecDeque<Arc<Sock>>,
    /// The credentials of the process that called listen (an accepted socket's peer sees them).
    listen_cred: Cred,
    rx: VecDeque<Packet>,
    rx_bytes: usize,
    /// No more data comes in (own SHUT_RD, the peer's SHUT_WR or close): reads see EOF once
    /// the queue is empty.
    shut_rcv: bool,
    /// No more data goes out (own SHUT_WR, the peer's SHUT_RD or close): writes fail EPIPE.
    shut_snd: bool,
    /// The last descriptor of this socket went away.
    closed: bool,
    /// The pending error (SO_ERROR).
    error: Option<Errno>,
    opts: Opts,
}

/// A Unix-domain socket.
pub struct Sock {
    pub ty: u32,
    pub ino: u64,
    st: SpinMutex<State>,
}

/// A socket as the descriptor table holds it ([`crate::kobj::Obj::Unix`]): the socket closes
/// when the last open file referring to it goes away.
pub struct UnixFile {
    pub sock: Arc<Sock>,
}

impl Drop for UnixFile {
    fn drop(&mut self) {
        self.sock.close();
    }
}

/// Bound sockets of the file system by inode number of their node (the node stays a socket,
/// as on Linux, after its socket is closed: connect then gives ECONNREFUSED).
static PATHS: SpinMutex<BTreeMap<u64, Weak<Sock>>> = SpinMutex::new(BTreeMap::new());
/// Bound sockets of the abstract namespace (a name is free again once its socket is closed).
static ABSTRACT: SpinMutex<BTreeMap<Vec<u8>, Weak<Sock>>> = SpinMutex::new(BTreeMap::new());

/// Whether the in-memory file with inode `ino` is a socket node (for stat: S_IFSOCK).
pub fn is_socket_inode(ino: u64) -> bool {
    PATHS.lock().contains_key(&ino)
}

/// The live socket bound at file-system node `ino`, if any.
pub fn bound_at_inode(ino: u64) -> Option<Arc<Sock>> {
    PATHS.lock().get(&ino).and_then(Weak::upgrade)
}

/// The live socket bound to abstract name `name` (leading NUL included), if any.
pub fn bound_abstract(name: &[u8]) -> Option<Arc<Sock>> {
    ABSTRACT.lock().get(name).and_then(Weak::upgrade)
}

impl Sock {
    /// A new, unbound, unconnected socket of type `ty` (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET).
    pub fn new(ty: u32) -> Arc<Sock> {
        let opts = Opts { sndbuf: QUEUE_CAP, rcvbuf: QUEUE_CAP, ..Opts::default() };
        let st = State { opts, ..State::default() };
        Arc::new(Sock { ty, ino: NEXT_INO.fetch_add(1, Ordering::Relaxed), st: SpinMutex::new(st) })
    }

    /// A connected pair (socketpair): each end's peer credentials are `cred`.
    pub fn pair(ty: u32, cred: Cred) -> (Arc<Sock>, Arc<Sock>) {
        let (a, b) = (Sock::new(ty), Sock::new(ty));
        a.connect_to(&b, cred);
        b.connect_to(&a, cred);
        (a, b)
    }

    fn connect_to(&self, peer: &Arc<Sock>, cred: Cred) {
        let mut s = self.st.lock();
        s.peer = Some(peer.clone());
        s.peer_cred = Some(cred);
    }

    fn connection_oriented(&self) -> bool {
        self.ty != SOCK_DGRAM
    }

    /// The bound name, if any.
    pub fn name(&self) -> Option<Vec<u8>> {
        self.st.lock().name.clone()
    }

    /// The connected peer's name: Ok(None) for an unnamed peer, ENOTCONN without a peer.
    pub fn peer_name(&self) -> Result<Option<Vec<u8>>, Errno> {
        let peer = self.st.lock().peer.clone().ok_or(ENOTCONN)?;
        Ok(peer.name())
    }

    /// SO_PEERCRED: the peer's credentials (Linux reports pid 0 and uid/gid -1 without one).
    pub fn peer_cred(&self) -> Cred {
        self.st.lock().peer_cred.unwrap_or(Cred { pid: 0, uid: u32::MAX, gid: u32::MAX })
    }

    /// Runs `f` on the options part of the state.
    pub fn with_opts<T>(&self, f: impl FnOnce(&mut Opts) -> T) -> T {
        f(&mut self.st.lock().opts)
    }

    /// SO_ERROR: the pending error, cleared.
    pub fn take_error(&self) -> Option<Errno> {
        self.st.lock().error.take()
    }

    /// Whether listen() was called (SO_ACCEPTCONN).
    pub fn is_listening(&self) -> bool {
        self.st.lock().listening
    }

    /// Binds the socket to the file-system node `ino` named `path` (the caller created the
    /// node). EINVAL if it already has a name.
    pub fn bind_path(self: &Arc<Self>, ino: u64, path: &[u8]) -> Result<(), Errno> {
        let mut s = self.st.lock();
        if s.name.is_some() {
            return Err(EINVAL);
        }
        s.name = Some(path.to_vec());
        PATHS.lock().insert(ino, Arc::downgrade(self));
        Ok(())
    }

    /// Whether the socket has a name (bind then gives EINVAL).
    pub fn is_bound(&self) -> bool {
        self.st.lock().name.is_some()
    }

    /// Binds the socket to abstract name `name` (leading NUL): EADDRINUSE if a live socket
    /// has it, EINVAL if this one already has a name.
    pub fn bind_abstract(self: &Arc<Self>, name: &[u8]) -> Result<(), Errno> {
        let mut s = self.st.lock();
        if s.name.is_some() {
            return Err(EINVAL);
        }
        let mut t = ABSTRACT.lock();
        if t.get(name).is_some_and(|w| w.strong_count() > 0) {
            return Err(EADDRINUSE);
        }
        t.retain(|_, w| w.strong_count() > 0);
        t.insert(name.to_vec(), Arc::downgrade(self));
        s.name = Some(name.to_vec());
        Ok(())
    }

    /// listen(2): EOPNOTSUPP on a datagram socket, EINVAL on a connected one (the caller
    /// refuses an unbound one with EINVAL, as Linux). A second listen changes the backlog.
    pub fn listen(&self, backlog: usize, cred: Cred) -> Result<(), Errno> {
        if !self.connection_oriented() {
            return Err(EOPNOTSUPP);
        }
        let mut s = self.st.lock();
        if s.peer.is_some() {
            return Err(EINVAL);
        }
        s.listening = true;
        s.backlog = backlog.clamp(1, MAX_BACKLOG);
        s.listen_cred = cred;
        Ok(())
    }

    /// connect(2) of a stream or seqpacket socket to `target`: queues a new server-side socket
    /// for the target's accept() and connects this one to it. ECONNREFUSED if the target does
    /// not listen, EPROTOTYPE for another socket type, EISCONN if already connected, EAGAIN
    /// (non-blocking) when the backlog is full; a blocking call waits for room.
    pub fn connect_stream<P: Platform + ?Sized>(
        self: &Arc<Self>,
        p: &P,
        target: &Arc<Sock>,
        cred: Cred,
        nonblock: bool,
    ) -> Result<(), Errno> {
        if target.ty != self.ty {
            return Err(EPROTOTYPE);
        }
        {
            let s = self.st.lock();
            if s.peer.is_some() {
                return Err(EISCONN);
            }
            if s.listening {
                return Err(EINVAL);
            }
        }
        let server = Sock::new(self.ty);
        let r = wait(p, None, &|| None, || {
            let mut t = target.st.lock();
            if !t.listening || t.closed {
                return Some(Err(ECONNREFUSED));
            }
            if t.pending.len() >= t.backlog {
                return nonblock.then_some(Err(EAGAIN));
            }
            {
                let mut sv = server.st.lock();
                sv.name = t.name.clone();
                sv.peer = Some(self.clone());
                sv.peer_cred = Some(cred);
                sv.opts.sndbuf = t.opts.sndbuf;
                sv.opts.rcvbuf = t.opts.rcvbuf;
            }
            let listen_cred = t.listen_cred;
            t.pending.push_back(server.clone());
            Some(Ok(listen_cred))
        })?;
        let listen_cred = r.ok_or(EINTR)?;
        self.connect_to(&server, listen_cred);
        p.wake_all();
        Ok(())
    }

    /// connect(AF_UNSPEC) of a datagram socket: forgets the peer.
    pub fn disconnect(&self) -> Result<(), Errno> {
        self.st.lock().peer = None;
        Ok(())
    }

    /// connect(2) of a datagram socket: sends without an address go to `target`, and only its
    /// datagrams are received. EPROTOTYPE for another socket type.
    pub fn connect_dgram(&self, target: &Arc<Sock>, cred: Cred) -> Result<(), Errno> {
        if target.ty != self.ty {
            return Err(EPROTOTYPE);
        }
        self.connect_to(target, cred);
        Ok(())
    }

    /// accept(2): the next pending connection, waiting for one unless `nonblock` (EAGAIN);
    /// EINVAL if the socket does not listen.
    pub fn accept<P: Platform + ?Sized>(&self, p: &P, nonblock: bool) -> Result<Arc<Sock>, Errno> {
        let r = wait(p, None, &|| None, || {
            let mut s = self.st.lock();
            if !s.listening {
                return Some(Err(EINVAL));
            }
            match s.pending.pop_front() {
                Some(c) => Some(Ok(c)),
                None if nonblock => Some(Err(EAGAIN)),
                None => None,
            }
        })?;
        p.wake_all();
        r.ok_or(EINTR)
    }

    /// shutdown(2) with `how` 0 (SHUT_RD), 1 (SHUT_WR) or 2 (SHUT_RDWR); a connected stream
    /// or seqpacket peer sees the mirror (our SHUT_WR is its EOF). Linux allows it on an
    /// unconnected socket too.
    pub fn shutdown<P: Platform + ?Sized>(&self, p: &P, how: usize) -> Result<(), Errno> {
        let (rd, wr) = match how {
            0 => (true, false),
            1 => (false, true),
            2 => (true, true),
            _ => return Err(EINVAL),
        };
        let peer = {
            let mut s = self.st.lock();
            s.shut_rcv |= rd;
            s.shut_snd |= wr;
            s.peer.clone()
        };
        if let Some(peer) = peer.filter(|_| self.connection_oriented()) {
            let mut o = peer.st.lock();
            o.shut_snd |= rd;
            o.shut_rcv |= wr;
        }
        p.wake_all();
        Ok(())
    }

    /// The last descriptor went away: peers see EOF (and ECONNRESET if data we never read was
    /// lost), connections still waiting for accept are closed, the abstract name is freed.
    fn close(&self) {
        let (peer, pending, unread, lost) = {
            let mut s = self.st.lock();
            s.closed = true;
            s.shut_rcv = true;
            s.shut_snd = true;
            let unread = !s.rx.is_empty();
            s.rx_bytes = 0;
            // Dropped after the lock: a descriptor in flight may be this socket's own.
            let lost = core::mem::take(&mut s.rx);
            (s.peer.take(), core::mem::take(&mut s.pending), unread, lost)
        };
        if let Some(peer) = peer {
            if self.connection_oriented() {
                let mut o = peer.st.lock();
                o.shut_rcv = true;
                o.shut_snd = true;
                if unread {
                    o.error = Some(ECONNRESET);
                }
            }
        }
        for c in pending {
            c.close();
        }
        drop(lost);
    }

    /// Bytes a read would see now (FIONREAD): the whole queue of a stream, the next message
    /// of a datagram or seqpacket socket.
    pub fn unread(&self) -> usize {
        let s = self.st.lock();
        if self.ty == SOCK_STREAM {
            s.rx_bytes
        } else {
            s.rx.front().map_or(0, |m| m.data.len())
        }
    }

    /// poll(2) readiness: POLLIN with data, a pending connection or EOF; POLLOUT while the
    /// peer's queue has room; POLLRDHUP once no more data comes in; POLLHUP when shut both
    /// ways (or an unconnected stream socket); POLLERR with a pending error.
    pub fn revents(&self) -> i16 {
        let (peer, mut r) = {
            let s = self.st.lock();
            if s.listening {
                return if s.pending.is_empty() { 0 } else { POLLIN };
            }
            let mut r = 0;
            if !s.rx.is_empty() || s.shut_rcv {
                r |= POLLIN;
            }
            if s.shut_rcv {
                r |= POLLRDHUP;
            }
            if s.shut_rcv && s.shut_snd {
                r |= POLLHUP;
            }
            if s.error.is_some() {
                r |= POLLERR;
            }
            if s.peer.is_none() && self.connection_oriented() {
                r |= POLLHUP;
            }
            (s.peer.clone(), r)
        };
        let writable = match peer {
            Some(peer) => {
                let o = peer.st.lock();
                o.closed || o.shut_rcv || o.rx_bytes < QUEUE_CAP
            }
            None => true,
        };
        if writable {
            r |= POLLOUT;
        }
        r
    }

    /// Sends `data` (with descriptors `fds` for SCM_RIGHTS) to the connected peer, or to `to`
    /// (an unconnected datagram socket's destination). `sigpipe` is called before a stream
    /// socket's EPIPE.
    /// Stream data may go in parts (a blocking call waits until all is queued); a datagram or
    /// seqpacket message goes whole (EMSGSIZE past the queue's size).
    pub fn send<P: Platform + ?Sized>(
        &self,
        p: &P,
        data: &[u8],
        fds: Vec<Arc<OpenFile>>,
        to: Option<Arc<Sock>>,
        nonblock: bool,
        sigpipe: &dyn Fn(),
    ) -> Result<usize, Errno> {
        let (peer, from, timeout) = {
            let s = self.st.lock();
            if s.shut_snd {
                drop(s);
                if self.ty == SOCK_STREAM {
                    sigpipe();
                }
                return Err(EPIPE);
            }
            let peer = match (&to, &s.peer) {
                (Some(_), Some(_)) if self.connection_oriented() => return Err(EISCONN),
                (Some(_), None) if self.connection_oriented() => return Err(EOPNOTSUPP),
                (Some(t), _) => t.clone(),
                (None, Some(p)) => p.clone(),
                (None, None) => return Err(ENOTCONN),
            };
            (peer, s.name.clone(), s.opts.snd_timeout)
        };
        if !self.connection_oriented() {
            if peer.ty != self.ty {
                return Err(EPROTOTYPE);
            }
            if data.len() + DGRAM_OVERHEAD > QUEUE_CAP {
                return Err(EMSGSIZE);
            }
        } else if self.ty == SOCK_SEQPACKET && data.len() + DGRAM_OVERHEAD > QUEUE_CAP {
            return Err(EMSGSIZE);
        }
        if data.is_empty() && self.ty == SOCK_STREAM {
            return Ok(0); // nothing is queued (as Linux, descriptors with it are not passed)
        }
        let deadline = (timeout != 0).then(|| monotonic(p) + timeout);
        let mut done = 0;
        let mut fds = Some(fds);
        let me: *const Sock = self;
        let r = wait(p, deadline, &|| None, || {
            let mut o = peer.st.lock();
            if self.connection_oriented() && (o.closed || o.shut_rcv) {
                drop(o);
                if done > 0 {
                    return Some(Ok(done));
                }
                if self.ty == SOCK_STREAM {
                    sigpipe(); // Linux raises it for stream sockets only
                }
                return Some(Err(EPIPE));
            }
            if !self.connection_oriented() {
                if o.closed {
                    return Some(Err(ECONNREFUSED));
                }
                // A datagram socket connected elsewhere takes nothing from us (Linux: EPERM).
                if o.peer.as_ref().is_some_and(|q| !core::ptr::eq(Arc::as_ptr(q), me)) {
                    return Some(Err(EPERM));
                }
            }
            let free = QUEUE_CAP.saturating_sub(o.rx_bytes);
            if self.ty == SOCK_STREAM {
                let n = (data.len() - done).min(free);
                if n > 0 {
                    let pk_fds = fds.take().unwrap_or_default();
                    push_stream(&mut o, &data[done..done + n], pk_fds);
                    done += n;
                }
                if done == data.len() {
                    return Some(Ok(done));
                }
            } else {
                let cost = data.len() + DGRAM_OVERHEAD;
                if cost <= free {
                    o.rx.push_back(Packet {
                        data: data.to_vec(),
                        at: 0,
                        fds: fds.take().unwrap_or_default(),
                        from: from.clone(),
                    });
                    o.rx_bytes += cost;
                    return Some(Ok(data.len()));
                }
            }
            if nonblock {
                return Some(if done > 0 { Ok(done) } else { Err(EAGAIN) });
            }
            None
        });
        let r = match r {
            Err(e) if done > 0 && crate::errno::interrupted(e) => Ok(Some(done)),
            r => r,
        };
        if done > 0 || matches!(r, Ok(Some(_))) {
            p.wake_all();
        }
        match r? {
            Some(n) => Ok(n),
            None if done > 0 => Ok(done),
            None => Err(EAGAIN),
        }
    }

    /// Receives into `buf`: a stream reads across queued writes (up to a message carrying
    /// descriptors), a datagram or seqpacket socket reads one message (the rest of it is
    /// lost unless `peek`). EOF (0) once nothing more can come; EAGAIN when `nonblock` and
    /// nothing is there; `waitall` keeps a stream read going until `buf` is full.
    pub fn recv<P: Platform + ?Sized>(
        &self,
        p: &P,
        buf: &mut [u8],
        peek: bool,
        waitall: bool,
        nonblock: bool,
    ) -> Result<Received, Errno> {
        self.recv_in(p, buf, buf.len(), peek, waitall, nonblock)
    }

    /// [`Sock::recv`] of `want` bytes into a buffer whose first `buf.len()` bytes are writable
    /// (a larger `want`: the rest is not), failing as Linux's copy would: a stream takes the
    /// whole messages (as sent) that fit, EFAULT if the first does not, taking nothing of it
    /// (unix_stream_read_generic); a datagram is taken (its writable part filled) and the call
    /// fails with EFAULT if it does not fit (unix_dgram_recvmsg).
    pub fn recv_in<P: Platform + ?Sized>(
        &self,
        p: &P,
        buf: &mut [u8],
        want: usize,
        peek: bool,
        waitall: bool,
        nonblock: bool,
    ) -> Result<Received, Errno> {
        let timeout = {
            let s = self.st.lock();
            if self.connection_oriented() && s.peer.is_none() && !s.shut_rcv {
                return Err(if s.listening || self.ty == SOCK_STREAM { EINVAL } else { ENOTCONN });
            }
            s.opts.rcv_timeout
        };
        let deadline = (timeout != 0).then(|| monotonic(p) + timeout);
        let mut got = Received { len: 0, full: 0, fds: Vec::new(), from: None };
        let r = wait(p, deadline, &|| None, || {
            let mut s = self.st.lock();
            if s.rx.is_empty() {
                if got.len > 0 {
                    return Some(Ok(()));
                }
                if let Some(e) = s.error.take() {
                    return Some(Err(e));
                }
                if s.shut_rcv || buf.is_empty() && self.ty == SOCK_STREAM {
                    return Some(Ok(()));
                }
                return nonblock.then_some(Err(EAGAIN));
            }
            if self.ty == SOCK_STREAM {
                let room = stream_fit(&s, buf.len(), want);
                if room == 0 {
                    return Some(Err(EFAULT));
                }
                take_stream(&mut s, &mut buf[..room], &mut got, peek);
                let more = waitall && !peek && got.len < buf.len() && got.fds.is_empty();
                if more && !nonblock && !s.shut_rcv {
                    return None;
                }
                Some(Ok(()))
            } else {
                let m = if peek { s.rx.front().map(clone_packet) } else { s.rx.pop_front() };
                let m = m.expect("queue checked non-empty");
                if !peek {
                    s.rx_bytes -= m.data.len() + DGRAM_OVERHEAD;
                }
                let n = buf.len().min(m.data.len());
                buf[..n].copy_from_slice(&m.data[..n]);
                if m.data.len().min(want) > buf.len() {
                    return Some(Err(EFAULT));
                }
                got = Received { len: n, full: m.data.len(), fds: m.fds, from: m.from };
                Some(Ok(()))
            }
        });
        match r {
            Err(e) if got.len > 0 && crate::errno::interrupted(e) => {}
            Err(e) => return Err(e),
            Ok(None) if got.len > 0 => {}
            Ok(None) => return Err(EAGAIN),
            Ok(Some(())) => {}
        }
        if got.len > 0 || !got.fds.is_empty() {
            p.wake_all();
        }
        Ok(got)
    }

    /// fstat of the socket.
    pub fn stat(&self, (uid, gid): (u32, u32)) -> Stat {
        Stat {
            st_mode: S_IFSOCK | 0o777,
            st_ino: self.ino,
            st_nlink: 1,
            st_uid: uid,
            st_gid: gid,
            st_blksize: 4096,
            ..Stat::default()
        }
    }
}

/// The options of a socket as setsockopt/getsockopt see them: SO_SNDBUF and SO_RCVBUF (as
/// Linux reports them, doubled; the queue's size does not follow them), SO_RCVTIMEO and
/// SO_SNDTIMEO (ns, 0 = none), and other options kept as set (SO_REUSEADDR, SO_PASSCRED, ...).
#[derive(Default)]
pub struct Opts {
    pub sndbuf: usize,
    pub rcvbuf: usize,
    pub rcv_timeout: u64,
    pub snd_timeout: u64,
    pub flags: BTreeMap<usize, i32>,
}

/// Appends stream bytes to a queue, joining them to the last write when neither carries
/// descriptors.
fn push_stream(o: &mut State, data: &[u8], fds: Vec<Arc<OpenFile>>) {
    o.rx_bytes += data.len();
    if fds.is_empty() {
        if let Some(last) = o.rx.back_mut().filter(|m| m.fds.is_empty()) {
            last.data.extend_from_slice(data);
            return;
        }
    }
    o.rx.push_back(Packet { data: data.to_vec(), at: 0, fds, from: None });
}

/// Takes stream bytes from the queue into `buf[got.len..]`, stopping after a write that
/// carried descriptors (their delivery marks a boundary, as on Linux).
/// How much of a stream socket's queue (not empty) a read of `want` bytes may take when only
/// the first `room` bytes of its buffer are writable: Linux copies one message (as sent) at a
/// time, at most what is still wanted, and stops at the first copy that runs past `room`
/// (0: the first does).
fn stream_fit(s: &State, room: usize, want: usize) -> usize {
    if want <= room {
        return room;
    }
    let mut got = 0;
    for m in &s.rx {
        let k = (m.data.len() - m.at).min(want - got);
        if got + k > room {
            break;
        }
        got += k;
        if got == want || !m.fds.is_empty() {
            break;
        }
    }
    got
}

fn take_stream(s: &mut State, buf: &mut [u8], got: &mut Received, peek: bool) {
    let mut i = 0;
    let mut skip = 0;
    while got.len < buf.len() && i < s.rx.len() {
        let m = &mut s.rx[i];
        let avail = &m.data[m.at + skip..];
        let n = avail.len().min(buf.len() - got.len);
        buf[got.len..got.len + n].copy_from_slice(&avail[..n]);
        got.len += n;
        let had_fds = !m.fds.is_empty();
        if had_fds && got.fds.is_empty() {
            got.fds = if peek { m.fds.clone() } else { core::mem::take(&mut m.fds) };
        }
        if peek {
            if m.at + skip + n == m.data.len() {
                i += 1;
                skip = 0;
            } else {
                skip += n;
            }
        } else {
            m.at += n;
            s.rx_bytes -= n;
            if m.at == m.data.len() {
                s.rx.pop_front();
            }
        }
        if had_fds {
            break;
        }
    }
    got.full = got.len;
}

fn clone_packet(m: &Packet) -> Packet {
    Packet { data: m.data[m.at..].to_vec(), at: 0, fds: m.fds.clone(), from: m.from.clone() }
}

/// Formats an autobind name: a NUL and five hex digits, as Linux picks.
pub fn autobind_name(n: u64) -> Vec<u8> {
    let mut v = alloc::vec![0u8];
    for shift in (0..5).rev() {
        v.push(b"0123456789abcdef"[((n >> (shift * 4)) & 0xf) as usize]);
    }
    v
}
