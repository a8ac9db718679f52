//! The app's TCP sockets, kernel objects of the descriptor table ([`crate::kobj::Obj::Tcp`]) on
//! the stack of `netstack/mod.rs`: poll, select and epoll see their readiness directly.
//!
//! To make the VM's network behave as linux-userland's (where the sandbox shares the host's
//! loopback), 127.0.0.0/8 inside the VM stands for the host's loopback:
//! - a socket bound to 127.0.0.1:P (or the wildcard) listens on port P of the card; the runner
//!   forwards the host's 127.0.0.1:P there (one forward per `[policy.network].listen` rule);
//! - connect to 127.x.y.z:P goes to 10.0.2.2:P, the host's 127.0.0.1:P;
//! - a peer at 10.0.2.2 is reported as 127.0.0.1 (getpeername, accept).
//!
//! The library OS checks the policy before any of this (core/libos/src/shim/net.rs).
//!
//! Only TCP over IPv4: UDP and IPv6 sockets are refused at socket() (EPROTONOSUPPORT,
//! EAFNOSUPPORT), Unix sockets too (EAFNOSUPPORT).
//!
//! A listening socket's connections wait in its port's pool in the stack (`netstack/mod.rs`)
//! until accept() takes them.
use alloc::sync::Arc;
use alloc::vec::Vec;

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;
use smoltcp::time::Duration;
use smoltcp::wire::IpAddress;

use super::{monotonic_ns, with_stack, GUEST_IP, HOST_ALIAS, SOCK_BUF};
use crate::errno::*;
use crate::platform::Platform;
use crate::sync::SpinMutex;
use crate::user;

const LOOPBACK: [u8; 4] = [127, 0, 0, 1];
/// The most connections waiting for accept() on one port.
const MAX_BACKLOG: usize = 128;
/// How long a closed connection may wait for its peer before it is dropped.
const ORPHAN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a connect() may go unanswered (Linux gives up after about two minutes of SYN
/// retries too): then ETIMEDOUT.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(120);

const AF_INET: u16 = 2;
const SOL_SOCKET: usize = 1;
const IPPROTO_TCP: usize = 6;
const MSG_PEEK: usize = 0x2;
const MSG_DONTWAIT: usize = 0x40;
const MSG_WAITALL: usize = 0x100;
const MSG_NOSIGNAL: usize = 0x4000;
const POLLIN: i16 = 0x1;
const POLLOUT: i16 = 0x4;
const POLLERR: i16 = 0x8;
const POLLHUP: i16 = 0x10;
/// Where the kernel's half of the address space begins: a pointer at or above it was made by
/// the library OS (it checks every pointer of the app it passes on, see shim/net.rs).
const KERNEL_HALF: usize = 0xffff_8000_0000_0000;

enum State {
    /// Created, maybe bound.
    Idle,
    /// listen() was called: the port's pool of sockets is in [`Stack::listeners`].
    Listening,
    /// A connection (accepted, or connecting/connected by connect()).
    Stream(SocketHandle),
    /// A connection attempt failed; the error waits for SO_ERROR or the next call.
    Failed,
}

/// One app socket (a TCP socket over IPv4).
pub struct Sock {
    state: State,
    /// The address and port it is bound to (as the app named it), if bound.
    local: Option<([u8; 4], u16)>,
    /// Whether this socket holds its port in [`Stack::bound`].
    owns_port: bool,
    /// The pending error for SO_ERROR.
    error: Option<Errno>,
    /// A connect() is under way (its outcome not yet seen), and when it started (monotonic ns).
    connecting: bool,
    connect_start: u64,
    read_shut: bool,
    reuse_addr: bool,
    keep_alive: bool,
    no_delay: bool,
    /// SO_RCVTIMEO and SO_SNDTIMEO (ns; 0 = none).
    rcv_timeout: u64,
    snd_timeout: u64,
}

/// The shared handle of a socket.
pub type SockRef = Arc<SpinMutex<Sock>>;

/// A socket as the descriptor table holds it ([`crate::kobj::Obj::Tcp`]): closed when the last
/// open file referring to it goes away.
pub struct Socket {
    pub sock: SockRef,
    /// Its inode number (fstat, /proc/self/fd).
    pub ino: u64,
}

impl Socket {
    pub fn new(sock: SockRef) -> Self {
        Socket { sock, ino: crate::kobj::NEXT_INO.fetch_add(1, core::sync::atomic::Ordering::Relaxed) }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        close(&self.sock);
    }
}

/// socket(AF_INET, SOCK_STREAM, 0|IPPROTO_TCP); other kinds are refused with Linux's errno for
/// a protocol the kernel lacks.
pub fn socket(domain: usize, ty: usize, proto: usize) -> Result<SockRef, Errno> {
    const SOCK_STREAM: usize = 1;
    if domain != AF_INET as usize {
        return Err(EAFNOSUPPORT);
    }
    if ty & 0xf != SOCK_STREAM || !matches!(proto, 0 | IPPROTO_TCP) {
        return Err(EPROTONOSUPPORT);
    }
    Ok(Arc::new(SpinMutex::new(Sock::new(None))))
}

impl Sock {
    fn new(local: Option<([u8; 4], u16)>) -> Self {
        Sock {
            state: State::Idle,
            local,
            owns_port: false,
            error: None,
            connecting: false,
            connect_start: 0,
            read_shut: false,
            reuse_addr: false,
            keep_alive: false,
            no_delay: false,
            rcv_timeout: 0,
            snd_timeout: 0,
        }
    }
}

/// Reads `len` bytes at `ptr`: the app's memory (checked) or the library OS's own buffer.
fn mem(ptr: usize, len: usize) -> Result<&'static [u8], Errno> {
    if ptr < KERNEL_HALF {
        return user::slice(ptr, len);
    }
    // SAFETY: only the library OS passes kernel-half pointers (it refuses the app's, see
    // KERNEL_HALF); they point at its buffers of at least `len` bytes, live during the call.
    Ok(unsafe { core::slice::from_raw_parts(ptr as *const u8, len) })
}

/// Writable `len` bytes at `ptr`, as [`mem`].
fn mem_mut(ptr: usize, len: usize) -> Result<&'static mut [u8], Errno> {
    if ptr < KERNEL_HALF {
        return user::slice_mut(ptr, len);
    }
    // SAFETY: as in `mem`.
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr as *mut u8, len) })
}

fn read_u32(ptr: usize) -> Result<u32, Errno> {
    let b = mem(ptr, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Decodes a sockaddr_in of `len` bytes at `ptr`.
fn sockaddr_in(ptr: usize, len: usize) -> Result<([u8; 4], u16), Errno> {
    if len < 16 {
        return Err(EINVAL);
    }
    let b = mem(ptr, 16)?;
    if u16::from_le_bytes([b[0], b[1]]) != AF_INET {
        return Err(EAFNOSUPPORT);
    }
    Ok(([b[4], b[5], b[6], b[7]], u16::from_be_bytes([b[2], b[3]])))
}

/// Writes a sockaddr_in to (`ptr`, `len_ptr`) as getsockname does: cut to the room given, the
/// full length stored. Nothing when `ptr` is null.
fn put_sockaddr(ptr: usize, len_ptr: usize, (ip, port): ([u8; 4], u16)) -> Result<(), Errno> {
    if ptr == 0 {
        return Ok(());
    }
    let room = read_u32(len_ptr)? as i32;
    if room < 0 {
        return Err(EINVAL);
    }
    let mut sa = [0u8; 16];
    sa[0..2].copy_from_slice(&AF_INET.to_le_bytes());
    sa[2..4].copy_from_slice(&port.to_be_bytes());
    sa[4..8].copy_from_slice(&ip);
    let n = (room as usize).min(16);
    mem_mut(ptr, n)?.copy_from_slice(&sa[..n]);
    mem_mut(len_ptr, 4)?.copy_from_slice(&16u32.to_le_bytes());
    Ok(())
}

fn v4(e: IpAddress) -> [u8; 4] {
    match e {
        IpAddress::Ipv4(a) => a.octets(),
    }
}

/// The address the app sees for a peer: the host's loopback alias is 127.0.0.1.
fn app_view(ip: [u8; 4]) -> [u8; 4] {
    if ip == HOST_ALIAS {
        LOOPBACK
    } else {
        ip
    }
}

fn deadline<P: Platform + ?Sized>(p: &P, timeout: u64) -> Option<u64> {
    (timeout != 0).then(|| crate::kobj::monotonic(p) + timeout)
}

/// Waits as [`crate::kobj::wait`] does (which polls the network before each look), looking
/// again at least every [`super::poll_interval`].
fn wait<P: Platform + ?Sized, T>(
    p: &P,
    deadline: Option<u64>,
    ready: impl FnMut() -> Option<Result<T, Errno>>,
) -> Result<Option<T>, Errno> {
    let wake = || super::present().then(|| crate::kobj::monotonic(p) + super::poll_interval());
    crate::kobj::wait(p, deadline, &wake, ready)
}

/// bind(2) to an IPv4 address of the VM (any, 127.x, 10.0.2.15); port 0 picks a free one.
fn bind(s: &mut Sock, ip: [u8; 4], port: u16) -> Result<usize, Errno> {
    if s.local.is_some() || !matches!(s.state, State::Idle) {
        return Err(EINVAL);
    }
    if !(ip == [0; 4] || ip[0] == 127 || ip == GUEST_IP) {
        return Err(EADDRNOTAVAIL);
    }
    with_stack(|st| {
        let port = if port == 0 { st.free_port()? } else { port };
        if !st.bound.insert(port) {
            return Err(EADDRINUSE);
        }
        s.local = Some((ip, port));
        s.owns_port = true;
        Ok(0)
    })
}

fn listen(s: &mut Sock, backlog: usize) -> Result<usize, Errno> {
    let backlog = (backlog as i32).clamp(1, MAX_BACKLOG as i32) as usize;
    match s.state {
        State::Listening | State::Idle => {}
        _ => return Err(EINVAL),
    }
    if s.local.is_none() {
        bind(s, [0; 4], 0)?;
    }
    let port = s.local.map_or(0, |l| l.1);
    with_stack(|st| {
        st.listen(port, backlog)?;
        s.state = State::Listening;
        Ok(0)
    })
}

/// accept4(2): the next connection as a new socket, and its peer's address written to
/// (`addr`, `len`) if given.
pub fn accept<P: Platform + ?Sized>(
    p: &P,
    sock: &SockRef,
    addr: usize,
    len: usize,
    nonblock: bool,
) -> Result<SockRef, Errno> {
    let local = {
        let s = sock.lock();
        match s.state {
            State::Listening => s.local.unwrap_or(([0; 4], 0)),
            _ => return Err(EINVAL),
        }
    };
    let timeout = deadline(p, sock.lock().rcv_timeout);
    let got = wait(p, timeout, || {
        if !matches!(sock.lock().state, State::Listening) {
            return Some(Err(EINVAL));
        }
        let r = with_stack(|st| Ok(st.take_connection(local.1)));
        match r {
            Ok(Some(h)) => Some(Ok(h)),
            Ok(None) if nonblock => Some(Err(EAGAIN)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    })?;
    let h = got.ok_or(EAGAIN)?;
    let (peer, here) = with_stack(|st| {
        let t = st.tcp(h);
        t.set_nagle_enabled(!sock.lock().no_delay);
        let peer = t.remote_endpoint().map_or(([0; 4], 0), |e| (app_view(v4(e.addr)), e.port));
        let here = t.local_endpoint().map_or(GUEST_IP, |e| v4(e.addr));
        Ok((peer, here))
    })?;
    let mut new = Sock::new(Some((if local.0 == [0; 4] { here } else { local.0 }, local.1)));
    new.state = State::Stream(h);
    put_sockaddr(addr, len, peer)?;
    Ok(Arc::new(SpinMutex::new(new)))
}

fn connect<P: Platform + ?Sized>(
    p: &P,
    sock: &SockRef,
    ip: [u8; 4],
    port: u16,
    nonblock: bool,
) -> Result<usize, Errno> {
    {
        let mut s = sock.lock();
        match s.state {
            State::Idle | State::Failed => {}
            State::Stream(h) => {
                let st = with_stack(|st| Ok(st.tcp(h).state()))?;
                return Err(if st == tcp::State::SynSent { EALREADY } else { EISCONN });
            }
            State::Listening => return Err(EISCONN),
        }
        if port == 0 || ip == [0; 4] {
            return Err(ECONNREFUSED);
        }
        let remote = if ip[0] == 127 { HOST_ALIAS } else { ip };
        let h = with_stack(|st| {
            let local_port = match s.local {
                Some((_, p)) => p,
                None => st.free_port()?,
            };
            let h = st.new_socket();
            let [a, b, c, d] = remote;
            let cx = st.iface.context();
            let r = st.sockets.get_mut::<tcp::Socket>(h).connect(cx, (IpAddress::v4(a, b, c, d), port), local_port);
            if r.is_err() {
                st.sockets.remove(h);
                return Err(ENETUNREACH);
            }
            st.tcp(h).set_nagle_enabled(!s.no_delay);
            st.tcp(h).set_timeout(Some(CONNECT_TIMEOUT));
            st.poll();
            Ok(h)
        })?;
        s.state = State::Stream(h);
        s.error = None;
        s.connecting = true;
        s.connect_start = monotonic_ns();
        if nonblock {
            return Err(EINPROGRESS);
        }
    }
    let timeout = deadline(p, sock.lock().snd_timeout);
    let r = wait(p, timeout, || match progress(&mut sock.lock()) {
        Ok(true) => Some(Ok(0)),
        Ok(false) => None,
        Err(e) => Some(Err(e)),
    })?;
    r.ok_or(ETIMEDOUT)
}

/// Whether a connect() finished (true), is under way (false), or failed (its error; the
/// socket may connect again).
fn progress(s: &mut Sock) -> Result<bool, Errno> {
    let State::Stream(h) = s.state else {
        return Err(s.error.take().unwrap_or(ECONNREFUSED));
    };
    if !s.connecting {
        return Ok(true);
    }
    match with_stack(|st| Ok(st.tcp(h).state()))? {
        tcp::State::SynSent | tcp::State::SynReceived => Ok(false),
        tcp::State::Closed => {
            let _ = with_stack(|st| {
                st.sockets.remove(h);
                Ok(())
            });
            s.state = State::Failed;
            s.connecting = false;
            // A reset answers at once; only the timeout takes this long.
            let waited = monotonic_ns().saturating_sub(s.connect_start);
            Err(if waited >= CONNECT_TIMEOUT.total_micros() * 1000 { ETIMEDOUT } else { ECONNREFUSED })
        }
        _ => {
            s.connecting = false;
            // Established: no timeout while idle (the ORPHAN_TIMEOUT applies after close).
            let _ = with_stack(|st| {
                st.tcp(h).set_timeout(None);
                Ok(())
            });
            Ok(true)
        }
    }
}

impl Sock {
    /// The connection's handle, or the errno of a data call on a socket without one.
    fn stream(&self) -> Result<SocketHandle, Errno> {
        match self.state {
            State::Stream(h) => Ok(h),
            State::Failed => Err(ECONNREFUSED),
            _ => Err(ENOTCONN),
        }
    }
}

/// The result of a data call that moved `done` bytes before `r` ended its wait: what was
/// moved counts over an interruption or a deadline.
fn partial(r: Result<Option<usize>, Errno>, done: usize) -> Result<usize, Errno> {
    match r {
        Err(e) if done > 0 && crate::errno::interrupted(e) => Ok(done),
        Ok(None) if done > 0 => Ok(done),
        Ok(None) => Err(EAGAIN),
        r => r.map(|n| n.unwrap_or(done)),
    }
}

/// Receives into `buf` (recv flags: MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL); 0 at end of stream.
pub fn recv<P: Platform + ?Sized>(
    p: &P,
    sock: &SockRef,
    buf: &mut [u8],
    flags: usize,
    nonblock: bool,
) -> Result<usize, Errno> {
    let nb = nonblock || flags & MSG_DONTWAIT != 0;
    let timeout = deadline(p, sock.lock().rcv_timeout);
    let mut done = 0usize;
    let r = wait(p, timeout, || {
        let s = sock.lock();
        let h = match s.stream() {
            Ok(h) => h,
            Err(e) => return Some(Err(e)),
        };
        if s.read_shut || buf.is_empty() {
            return Some(Ok(done));
        }
        let r = with_stack(|st| {
            let t = st.tcp(h);
            if t.state() == tcp::State::SynSent {
                return Ok(None);
            }
            let got =
                if flags & MSG_PEEK != 0 { t.peek_slice(&mut buf[done..]) } else { t.recv_slice(&mut buf[done..]) };
            let r = match got {
                Ok(0) => None,
                Ok(n) => {
                    done += n;
                    (done == buf.len() || flags & MSG_WAITALL == 0 || flags & MSG_PEEK != 0).then_some(done)
                }
                Err(tcp::RecvError::Finished) => Some(done),
                Err(tcp::RecvError::InvalidState) if done > 0 => Some(done),
                Err(tcp::RecvError::InvalidState) => return Err(ECONNRESET),
            };
            st.poll(); // a window update may go out
            Ok(r)
        });
        match r {
            Ok(Some(n)) => Some(Ok(n)),
            Ok(None) if nb => Some(if done > 0 { Ok(done) } else { Err(EAGAIN) }),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    });
    partial(r, done)
}

/// Sends `buf` (send flags: MSG_DONTWAIT, MSG_NOSIGNAL); a blocking socket sends all of it.
/// Writing to a connection whose sending side is closed: EPIPE and SIGPIPE (unless
/// MSG_NOSIGNAL).
pub fn send<P: Platform + ?Sized>(
    p: &P,
    sock: &SockRef,
    buf: &[u8],
    flags: usize,
    nonblock: bool,
    sigpipe: &dyn Fn(),
) -> Result<usize, Errno> {
    let nb = nonblock || flags & MSG_DONTWAIT != 0;
    let timeout = deadline(p, sock.lock().snd_timeout);
    let mut done = 0usize;
    let r = wait(p, timeout, || {
        let h = match sock.lock().stream() {
            Ok(h) => h,
            Err(e) => return Some(Err(e)),
        };
        let r = with_stack(|st| {
            let t = st.tcp(h);
            if matches!(t.state(), tcp::State::SynSent | tcp::State::SynReceived) {
                return Ok(None);
            }
            if !t.may_send() {
                return Err(EPIPE);
            }
            let n = t.send_slice(&buf[done..]).unwrap_or(0);
            done += n;
            if n > 0 {
                st.poll();
            }
            Ok((done == buf.len() || (nb && done > 0)).then_some(done))
        });
        match r {
            Ok(Some(n)) => Some(Ok(n)),
            Ok(None) if nb => Some(Err(EAGAIN)),
            Ok(None) => None,
            Err(EPIPE) if done > 0 => Some(Ok(done)),
            Err(e) => Some(Err(e)),
        }
    });
    match r {
        Err(EPIPE) => {
            if flags & MSG_NOSIGNAL == 0 {
                sigpipe();
            }
            Err(EPIPE)
        }
        r => partial(r, done),
    }
}

/// FIONREAD: bytes received and not yet read.
pub fn unread(sock: &SockRef) -> usize {
    let State::Stream(h) = sock.lock().state else { return 0 };
    with_stack(|st| Ok(st.tcp(h).recv_queue())).unwrap_or(0)
}

/// poll(2) readiness.
pub fn revents(sock: &SockRef) -> i16 {
    let mut s = sock.lock();
    let (read_shut, port) = (s.read_shut, s.local.map_or(0, |l| l.1));
    let state = match &mut s.state {
        State::Idle => return POLLOUT | POLLHUP, // as Linux: an unconnected stream socket
        State::Failed => return POLLOUT | POLLERR | POLLHUP,
        State::Listening => {
            let ready = with_stack(|st| Ok(st.has_connection(port)));
            return if ready.unwrap_or(false) { POLLIN } else { 0 };
        }
        State::Stream(h) => *h,
    };
    let r = with_stack(|st| {
        let t = st.tcp(state);
        Ok(match t.state() {
            tcp::State::SynSent | tcp::State::SynReceived => 0,
            tcp::State::Closed if !t.can_recv() => POLLIN | POLLOUT | POLLHUP | POLLERR,
            _ => {
                let mut ev = 0;
                if t.can_recv() || !t.may_recv() || read_shut {
                    ev |= POLLIN;
                }
                if t.can_send() || !t.may_send() {
                    ev |= POLLOUT;
                }
                if !t.may_send() && !t.may_recv() {
                    ev |= POLLHUP;
                }
                ev
            }
        })
    });
    r.unwrap_or(POLLERR)
}

/// The last reference to the socket went away: a connection is closed (FIN after what is
/// queued) and freed once that is done; a listening socket's waiting connections are reset.
pub fn close(sock: &SockRef) {
    let mut s = sock.lock();
    let state = core::mem::replace(&mut s.state, State::Idle);
    let (owns, port) = (s.owns_port, s.local.map(|l| l.1));
    drop(s);
    let _ = with_stack(|st| {
        match state {
            State::Stream(h) => {
                let t = st.tcp(h);
                t.close();
                t.set_timeout(Some(ORPHAN_TIMEOUT));
                st.orphans.push(h);
            }
            State::Listening => {
                if let Some(p) = port {
                    st.unlisten(p);
                }
            }
            State::Idle | State::Failed => {}
        }
        if let (true, Some(p)) = (owns, port) {
            st.bound.remove(&p);
        }
        st.poll();
        Ok(())
    });
}

fn shutdown(s: &mut Sock, how: usize) -> Result<usize, Errno> {
    if how > 2 {
        return Err(EINVAL);
    }
    let State::Stream(h) = s.state else { return Err(ENOTCONN) };
    if how != 1 {
        s.read_shut = true;
    }
    if how != 0 {
        with_stack(|st| {
            st.tcp(h).close();
            st.poll();
            Ok(())
        })?;
    }
    Ok(0)
}

fn local_name(s: &Sock) -> ([u8; 4], u16) {
    match (s.local, &s.state) {
        (Some(l), _) => l,
        (None, State::Stream(h)) => {
            let h = *h;
            with_stack(|st| Ok(st.tcp(h).local_endpoint().map_or(([0; 4], 0), |e| (v4(e.addr), e.port))))
                .unwrap_or(([0; 4], 0))
        }
        _ => ([0; 4], 0),
    }
}

fn peer_name(s: &Sock) -> Result<([u8; 4], u16), Errno> {
    let State::Stream(h) = s.state else { return Err(ENOTCONN) };
    with_stack(|st| {
        let t = st.tcp(h);
        if matches!(t.state(), tcp::State::SynSent | tcp::State::Closed) {
            return Err(ENOTCONN);
        }
        t.remote_endpoint().map(|e| (app_view(v4(e.addr)), e.port)).ok_or(ENOTCONN)
    })
}

/// Socket options: SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, buffer sizes and SO_LINGER
/// (accepted; the buffers stay 64 KiB), SO_RCVTIMEO/SO_SNDTIMEO, TCP_NODELAY and the
/// keep-alive timings (accepted); others ENOPROTOOPT.
fn setsockopt(s: &mut Sock, level: usize, opt: usize, val: usize, len: usize) -> Result<usize, Errno> {
    let int = || -> Result<i32, Errno> {
        if len < 4 {
            return Err(EINVAL);
        }
        Ok(read_u32(val)? as i32)
    };
    match (level, opt) {
        (SOL_SOCKET, 2) => s.reuse_addr = int()? != 0,
        (SOL_SOCKET, 9) => s.keep_alive = int()? != 0,
        (SOL_SOCKET, 7 | 8 | 15 | 32 | 33) => {
            int()?;
        }
        (SOL_SOCKET, 13) => {
            if len < 8 {
                return Err(EINVAL);
            }
        }
        (SOL_SOCKET, 20 | 21) => {
            if len < 16 {
                return Err(EINVAL);
            }
            let b = mem(val, 16)?;
            let (sec, usec) = (
                i64::from_le_bytes(b[0..8].try_into().unwrap_or([0; 8])),
                i64::from_le_bytes(b[8..16].try_into().unwrap_or([0; 8])),
            );
            if sec < 0 || !(0..1_000_000).contains(&usec) {
                return Err(EDOM);
            }
            let ns = (sec as u64).saturating_mul(1_000_000_000).saturating_add(usec as u64 * 1000);
            if opt == 20 {
                s.rcv_timeout = ns;
            } else {
                s.snd_timeout = ns;
            }
        }
        (IPPROTO_TCP, 1) => {
            s.no_delay = int()? != 0;
            if let State::Stream(h) = s.state {
                let on = s.no_delay;
                with_stack(|st| {
                    st.tcp(h).set_nagle_enabled(!on);
                    Ok(())
                })?;
            }
        }
        (IPPROTO_TCP, 4..=6) => {
            int()?;
        }
        _ => return Err(ENOPROTOOPT),
    }
    Ok(0)
}

fn getsockopt(s: &mut Sock, level: usize, opt: usize, val: usize, len_ptr: usize) -> Result<usize, Errno> {
    let v: i32 = match (level, opt) {
        (SOL_SOCKET, 3) => 1,               // SO_TYPE: SOCK_STREAM
        (SOL_SOCKET, 39) => AF_INET as i32, // SO_DOMAIN
        (SOL_SOCKET, 38) => IPPROTO_TCP as i32,
        (SOL_SOCKET, 4) => match (s.connecting, s.error.take()) {
            // SO_ERROR: a failed connect's error, once
            (true, _) => progress(s).err().unwrap_or(0),
            (false, e) => e.unwrap_or(0),
        },
        (SOL_SOCKET, 30) => i32::from(matches!(s.state, State::Listening)),
        (SOL_SOCKET, 2) => i32::from(s.reuse_addr),
        (SOL_SOCKET, 9) => i32::from(s.keep_alive),
        (SOL_SOCKET, 7 | 8) => SOCK_BUF as i32,
        (IPPROTO_TCP, 1) => i32::from(s.no_delay),
        _ => return Err(ENOPROTOOPT),
    };
    let room = read_u32(len_ptr)? as i32;
    if room < 0 {
        return Err(EINVAL);
    }
    let n = (room as usize).min(4);
    mem_mut(val, n)?.copy_from_slice(&v.to_le_bytes()[..n]);
    mem_mut(len_ptr, 4)?.copy_from_slice(&(n as u32).to_le_bytes());
    Ok(0)
}

/// The iovecs of a msghdr (56 bytes at `hdr`, the library OS's copy): (base, len) pairs in the
/// app's memory.
fn iovecs(hdr: &[u8]) -> Result<Vec<(usize, usize)>, Errno> {
    let word = |at: usize| usize::from_le_bytes(hdr[at..at + 8].try_into().unwrap_or([0; 8]));
    let (iov, n) = (word(16), word(24));
    if n > 1024 {
        return Err(EMSGSIZE);
    }
    let raw = user::slice(iov, n * 16)?;
    Ok(raw
        .chunks(16)
        .map(|c| {
            (
                usize::from_le_bytes(c[0..8].try_into().unwrap_or([0; 8])),
                usize::from_le_bytes(c[8..16].try_into().unwrap_or([0; 8])),
            )
        })
        .collect())
}

/// The socket calls the library OS passes on (shim/net.rs), other than socket and accept4,
/// with Linux's arguments; `nonblock` is the descriptor's O_NONBLOCK.
pub fn call<P: Platform + ?Sized>(
    p: &P,
    sock: &SockRef,
    nr: usize,
    a: [usize; 6],
    nonblock: bool,
    sigpipe: &dyn Fn(),
) -> Result<usize, Errno> {
    use crate::shim::nr::*;
    match nr {
        BIND => {
            let (ip, port) = sockaddr_in(a[1], a[2])?;
            bind(&mut sock.lock(), ip, port)
        }
        LISTEN => listen(&mut sock.lock(), a[1]),
        CONNECT => {
            let (ip, port) = sockaddr_in(a[1], a[2])?;
            connect(p, sock, ip, port, nonblock)
        }
        GETSOCKNAME => {
            let name = local_name(&sock.lock());
            put_sockaddr(a[1], a[2], name).map(|_| 0)
        }
        GETPEERNAME => {
            let name = peer_name(&sock.lock())?;
            put_sockaddr(a[1], a[2], name).map(|_| 0)
        }
        SHUTDOWN => shutdown(&mut sock.lock(), a[1]),
        SETSOCKOPT => setsockopt(&mut sock.lock(), a[1], a[2], a[3], a[4]),
        GETSOCKOPT => getsockopt(&mut sock.lock(), a[1], a[2], a[3], a[4]),
        SENDTO => {
            // A destination on a stream socket is ignored, as Linux does for TCP.
            let buf = user::slice(a[1], a[2])?;
            send(p, sock, buf, a[3], nonblock, sigpipe)
        }
        RECVFROM => {
            let buf = user::slice_mut(a[1], a[2])?;
            let n = recv(p, sock, buf, a[3], nonblock)?;
            if a[4] != 0 {
                let peer = peer_name(&sock.lock())?;
                put_sockaddr(a[4], a[5], peer)?;
            }
            Ok(n)
        }
        SENDMSG => {
            let hdr = mem(a[1], 56)?;
            let mut data = Vec::new();
            for (base, len) in iovecs(hdr)? {
                data.extend_from_slice(user::slice(base, len)?);
            }
            send(p, sock, &data, a[2], nonblock, sigpipe)
        }
        RECVMSG => {
            let hdr = mem_mut(a[1], 56)?;
            let iov = iovecs(hdr)?;
            let total = iov.iter().map(|&(_, l)| l).sum::<usize>().min(SOCK_BUF);
            let mut data = alloc::vec![0u8; total];
            let n = recv(p, sock, &mut data, a[2], nonblock)?;
            let mut at = 0;
            for (base, len) in iov {
                let k = len.min(n - at);
                user::slice_mut(base, k)?.copy_from_slice(&data[at..at + k]);
                at += k;
            }
            let name = usize::from_le_bytes(hdr[0..8].try_into().unwrap_or([0; 8]));
            if name != 0 {
                let peer = peer_name(&sock.lock())?;
                let room = u32::from_le_bytes(hdr[8..12].try_into().unwrap_or([0; 4])) as usize;
                let mut sa = [0u8; 16];
                sa[0..2].copy_from_slice(&AF_INET.to_le_bytes());
                sa[2..4].copy_from_slice(&peer.1.to_be_bytes());
                sa[4..8].copy_from_slice(&peer.0);
                let k = room.min(16);
                user::slice_mut(name, k)?.copy_from_slice(&sa[..k]);
                hdr[8..12].copy_from_slice(&16u32.to_le_bytes());
            }
            hdr[40..48].copy_from_slice(&0usize.to_le_bytes()); // no control messages
            hdr[48..52].copy_from_slice(&0i32.to_le_bytes());
            Ok(n)
        }
        _ => Err(EOPNOTSUPP),
    }
}
