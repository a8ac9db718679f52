//! Host sockets over Winsock for the network policy: AF_INET and AF_INET6, TCP and UDP. The
//! shim (`core/libos/src/shim/net.rs`) has already applied `[policy.network]` (bind and
//! listen need a listen rule, connect and sendto a connect rule) before any call reaches
//! [`net_call`]; this file only translates Linux's calls, structures, options, flags and
//! errors to Winsock's and back. Each socket is a host descriptor of the library OS numbered
//! from [`FIRST_FD`], so read/write/poll/epoll/fcntl(O_NONBLOCK)/close reach it through the
//! platform's host_* calls.
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use litebox_libos::abi::PollFd;
use litebox_libos::errno::*;
use litebox_libos::sync::SpinMutex;
use litebox_libos::user;

/// Host descriptor numbers of sockets start here (0–2 are the standard handles).
pub const FIRST_FD: i32 = 1000;

const LINUX_AF_INET6: u16 = 10;
const WIN_AF_INET6: u16 = 23;
const SOCK_NONBLOCK: usize = 0o4000;
const INVALID_SOCKET: usize = usize::MAX;
const FIONBIO: i32 = 0x8004_667e_u32 as i32;
const FIONREAD: i32 = 0x4004_667f;

/// One socket: the Winsock handle, the Linux family and type, and the options Winsock
/// handles differently (kept and reported as set).
#[derive(Clone, Copy)]
struct Sock {
    s: usize,
    family: u16,
    ty: i32,
    reuse_addr: i32,
}

static TABLE: SpinMutex<Vec<Option<Sock>>> = SpinMutex::new(Vec::new());
/// Sockets open: blocked threads re-check host sockets while there are any.
pub static OPEN: AtomicUsize = AtomicUsize::new(0);
static STARTED: AtomicBool = AtomicBool::new(false);

fn get(fd: i32) -> Result<Sock, Errno> {
    let i = usize::try_from(fd - FIRST_FD).map_err(|_| EBADF)?;
    TABLE.lock().get(i).copied().flatten().ok_or(EBADF)
}

/// Whether host descriptor `fd` is a socket of this table.
pub fn is_socket(fd: i32) -> bool {
    fd >= FIRST_FD && get(fd).is_ok()
}

fn add(sock: Sock) -> i32 {
    let mut t = TABLE.lock();
    OPEN.fetch_add(1, Ordering::Relaxed);
    if let Some(i) = t.iter().position(Option::is_none) {
        t[i] = Some(sock);
        return FIRST_FD + i as i32;
    }
    t.push(Some(sock));
    FIRST_FD + t.len() as i32 - 1
}

/// The Linux errno for Winsock's last error.
fn last_errno() -> Errno {
    // SAFETY: no preconditions.
    let e = unsafe { ws::WSAGetLastError() };
    match e {
        10004 => EINTR,
        10013 => EACCES,
        10014 => EFAULT,
        10022 => EINVAL,
        10024 => EMFILE,
        10035 => EAGAIN,
        10036 => EINPROGRESS,
        10037 => EALREADY,
        10038 => ENOTSOCK,
        10039 => 89, // EDESTADDRREQ
        10040 => EMSGSIZE,
        10041 => 91, // EPROTOTYPE
        10042 => ENOPROTOOPT,
        10043 => EPROTONOSUPPORT,
        10045 => EOPNOTSUPP,
        10047 => EAFNOSUPPORT,
        10048 => EADDRINUSE,
        10049 => EADDRNOTAVAIL,
        10050 => ENETDOWN,
        10051 => ENETUNREACH,
        10053 => 103, // ECONNABORTED
        10054 => ECONNRESET,
        10055 => ENOBUFS,
        10056 => EISCONN,
        10057 => ENOTCONN,
        10058 => EPIPE,
        10060 => ETIMEDOUT,
        10061 => ECONNREFUSED,
        10065 => 113, // EHOSTUNREACH
        _ => EIO,
    }
}

fn check(r: i32) -> Result<usize, Errno> {
    if r < 0 {
        Err(last_errno())
    } else {
        Ok(r as usize)
    }
}

fn start() -> Result<(), Errno> {
    if !STARTED.load(Ordering::Acquire) {
        let mut data = [0u8; 512];
        // SAFETY: WSADATA fits in 512 bytes.
        if unsafe { ws::WSAStartup(0x0202, data.as_mut_ptr()) } != 0 {
            return Err(ENETDOWN);
        }
        STARTED.store(true, Ordering::Release);
    }
    Ok(())
}

/// A Linux sockaddr (app or runtime memory) as Winsock's: the family field differs for IPv6.
fn addr_in(ptr: usize, len: usize) -> Result<Vec<u8>, Errno> {
    let mut b = user::slice(ptr, len.min(128))?.to_vec();
    if b.len() < 2 {
        return Err(EINVAL);
    }
    let fam = u16::from_le_bytes([b[0], b[1]]);
    match fam {
        2 => {}
        LINUX_AF_INET6 => b[0..2].copy_from_slice(&WIN_AF_INET6.to_le_bytes()),
        _ => return Err(EAFNOSUPPORT),
    }
    Ok(b)
}

/// Writes Winsock's address `w` (`wlen` bytes) to the app's `ptr`/`lenp` as Linux does
/// (truncated to the room given, the full length reported).
fn addr_out(w: &mut [u8], wlen: i32, ptr: usize, lenp: usize) -> Result<(), Errno> {
    if ptr == 0 || lenp == 0 {
        return Ok(());
    }
    let wlen = (wlen.max(0) as usize).min(w.len());
    if wlen >= 2 && u16::from_le_bytes([w[0], w[1]]) == WIN_AF_INET6 {
        w[0..2].copy_from_slice(&LINUX_AF_INET6.to_le_bytes());
    }
    let room: u32 = user::read(lenp)?;
    let n = (room as usize).min(wlen);
    user::slice_mut(ptr, n)?.copy_from_slice(&w[..n]);
    user::write(lenp, &(wlen as u32))
}

fn set_nonblock(s: usize, on: bool) -> Result<(), Errno> {
    let mut v: u32 = u32::from(on);
    // SAFETY: FIONBIO reads one u32.
    check(unsafe { ws::ioctlsocket(s, FIONBIO, &mut v) }).map(|_| ())
}

/// Linux send/recv flags Winsock knows (MSG_OOB, MSG_PEEK; MSG_WAITALL moved); the others
/// (MSG_NOSIGNAL: Windows never raises SIGPIPE; MSG_DONTWAIT is refused as EOPNOTSUPP where
/// it matters) are dropped.
fn msg_flags(f: usize) -> Result<i32, Errno> {
    const MSG_DONTWAIT: usize = 0x40;
    const MSG_WAITALL: usize = 0x100;
    let mut w = (f & 0x3) as i32;
    if f & MSG_WAITALL != 0 {
        w |= 0x8;
    }
    if f & MSG_DONTWAIT != 0 {
        return Err(EOPNOTSUPP);
    }
    Ok(w)
}

/// A socket syscall (Linux number `nr`, Linux arguments; `args[0]` the host descriptor for
/// every call on a socket), served by Winsock.
pub fn net_call(nr: usize, a: [usize; 6]) -> Result<usize, Errno> {
    use litebox_libos::shim::nr::*;
    start()?;
    match nr {
        SOCKETPAIR => socketpair(a[0] as u16, a[1], a[3]),
        SOCKET => {
            let (domain, ty) = (a[0] as u16, a[1]);
            let af = match domain {
                // AF_UNIX: the shim refuses every address of it (socketpair is the only way to
                // a connected pair), so a TCP socket stands in, for SO_DOMAIN and close.
                1 => 2,
                2 => 2,
                LINUX_AF_INET6 => WIN_AF_INET6 as i32,
                _ => return Err(EAFNOSUPPORT),
            };
            let kind = (ty & 0xf) as i32;
            // SAFETY: plain socket creation.
            let s = unsafe { ws::socket(af, kind, a[2] as i32) };
            if s == INVALID_SOCKET {
                return Err(last_errno());
            }
            if ty & SOCK_NONBLOCK != 0 {
                set_nonblock(s, true)?;
            }
            Ok(add(Sock { s, family: domain, ty: kind, reuse_addr: 0 }) as usize)
        }
        BIND | CONNECT => {
            let s = get(a[0] as i32)?;
            let w = addr_in(a[1], a[2])?;
            // SAFETY: w holds a Winsock sockaddr of its length.
            let r = unsafe {
                if nr == BIND {
                    ws::bind(s.s, w.as_ptr(), w.len() as i32)
                } else {
                    ws::connect(s.s, w.as_ptr(), w.len() as i32)
                }
            };
            match check(r) {
                Err(e) if e == EAGAIN && nr == CONNECT => Err(EINPROGRESS),
                other => other.map(|_| 0),
            }
        }
        LISTEN => {
            let s = get(a[0] as i32)?;
            // SAFETY: a socket of the table.
            check(unsafe { ws::listen(s.s, (a[1] as i32).clamp(0, 4096)) }).map(|_| 0)
        }
        ACCEPT | ACCEPT4 => {
            let l = get(a[0] as i32)?;
            let mut w = [0u8; 128];
            let mut wlen = w.len() as i32;
            // SAFETY: w has wlen bytes.
            let s = unsafe { ws::accept(l.s, w.as_mut_ptr(), &mut wlen) };
            if s == INVALID_SOCKET {
                return Err(last_errno());
            }
            // A Winsock socket inherits the listener's blocking mode; a Linux one never does.
            let flags = if nr == ACCEPT4 { a[3] } else { 0 };
            let _ = set_nonblock(s, flags & SOCK_NONBLOCK != 0);
            let fd = add(Sock { s, family: l.family, ty: l.ty, reuse_addr: 0 });
            if let Err(e) = addr_out(&mut w, wlen, a[1], a[2]) {
                close(fd);
                return Err(e);
            }
            Ok(fd as usize)
        }
        GETSOCKNAME | GETPEERNAME => {
            let s = get(a[0] as i32)?;
            let mut w = [0u8; 128];
            let mut wlen = w.len() as i32;
            // SAFETY: w has wlen bytes.
            let r = unsafe {
                if nr == GETSOCKNAME {
                    ws::getsockname(s.s, w.as_mut_ptr(), &mut wlen)
                } else {
                    ws::getpeername(s.s, w.as_mut_ptr(), &mut wlen)
                }
            };
            if a[1] == 0 || a[2] == 0 {
                return Err(EFAULT);
            }
            match check(r) {
                // Winsock refuses the name of a socket never bound; Linux gives the wildcard
                // address with port 0.
                Err(EINVAL) if nr == GETSOCKNAME => {
                    w = [0; 128];
                    wlen = if s.family == LINUX_AF_INET6 { 28 } else { 16 };
                    let fam = if s.family == LINUX_AF_INET6 { WIN_AF_INET6 } else { 2 };
                    w[0..2].copy_from_slice(&fam.to_le_bytes());
                }
                other => {
                    other?;
                }
            }
            addr_out(&mut w, wlen, a[1], a[2]).map(|_| 0)
        }
        SENDTO => {
            let s = get(a[0] as i32)?;
            let buf = user::slice(a[1], a[2])?;
            send(s, buf, a[3], a[4], a[5])
        }
        RECVFROM => {
            let s = get(a[0] as i32)?;
            let buf = user::slice_mut(a[1], a[2])?;
            recv(s, buf, a[3], a[4], a[5])
        }
        SENDMSG => {
            let s = get(a[0] as i32)?;
            let m: [usize; 7] = user::read(a[1])?;
            if m[4] != 0 && m[5] != 0 {
                return Err(EOPNOTSUPP); // control messages
            }
            let namelen = m[1] as u32 as usize;
            let mut data = Vec::new();
            for i in 0..m[3].min(1024) {
                let [base, len]: [usize; 2] = user::read(m[2] + 16 * i)?;
                data.extend_from_slice(user::slice(base, len)?);
            }
            send(s, &data, a[2], m[0], namelen)
        }
        RECVMSG => {
            let s = get(a[0] as i32)?;
            let m: [usize; 7] = user::read(a[1])?;
            let mut iov = Vec::new();
            let mut total = 0usize;
            for i in 0..m[3].min(1024) {
                let [base, len]: [usize; 2] = user::read(m[2] + 16 * i)?;
                iov.push((base, len));
                total += len;
            }
            let mut data = alloc::vec![0u8; total.min(1 << 20)];
            let mut namelen = m[1] as u32; // msg_namelen (an int, then padding)
            let lenp = if m[0] != 0 { &mut namelen as *mut u32 as usize } else { 0 };
            let n = recv(s, &mut data, a[2], m[0], lenp)?;
            let mut at = 0;
            for (base, len) in iov {
                let k = len.min(n - at);
                user::slice_mut(base, k)?.copy_from_slice(&data[at..at + k]);
                at += k;
            }
            // msg_namelen, msg_controllen = 0, msg_flags = 0
            user::write(a[1] + 8, &namelen)?;
            user::write(a[1] + 40, &0usize)?;
            user::write(a[1] + 48, &0u32)?;
            Ok(n)
        }
        SHUTDOWN => {
            let s = get(a[0] as i32)?;
            // SAFETY: SD_RECEIVE/SEND/BOTH are SHUT_RD/WR/RDWR.
            check(unsafe { ws::shutdown(s.s, a[1] as i32) }).map(|_| 0)
        }
        SETSOCKOPT => setsockopt(a[0] as i32, a[1], a[2], a[3], a[4]),
        GETSOCKOPT => getsockopt(a[0] as i32, a[1], a[2], a[3], a[4]),
        _ => Err(EOPNOTSUPP),
    }
}

/// socketpair(AF_UNIX, SOCK_STREAM or SOCK_DGRAM): Windows has none, so the pair is two
/// loopback sockets connected to each other (TCP through a listener on 127.0.0.1 port 0 that
/// is closed at once, checking the accepted peer is our own end; UDP bound and connected to
/// each other), reporting AF_UNIX. `sv` is an `int[2]` in runtime memory.
fn socketpair(domain: u16, ty: usize, sv: usize) -> Result<usize, Errno> {
    if domain != 1 {
        return Err(EAFNOSUPPORT);
    }
    let kind = (ty & 0xf) as i32;
    if kind != 1 && kind != 2 {
        return Err(EOPNOTSUPP);
    }
    let loopback: [u8; 16] = [2, 0, 0, 0, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    let new = || -> Result<usize, Errno> {
        // SAFETY: plain socket creation.
        let s = unsafe { ws::socket(2, kind, 0) };
        if s == INVALID_SOCKET {
            Err(last_errno())
        } else {
            Ok(s)
        }
    };
    let name = |s: usize| -> Result<[u8; 16], Errno> {
        let mut w = [0u8; 16];
        let mut n = 16i32;
        // SAFETY: w has n bytes.
        check(unsafe { ws::getsockname(s, w.as_mut_ptr(), &mut n) })?;
        Ok(w)
    };
    let close_all = |v: &[usize]| {
        for s in v {
            // SAFETY: sockets made here.
            unsafe { ws::closesocket(*s) };
        }
    };
    let (x, y) = if kind == 1 {
        let l = new()?;
        let made = (|| {
            // SAFETY: loopback is a sockaddr_in.
            check(unsafe { ws::bind(l, loopback.as_ptr(), 16) })?;
            check(unsafe { ws::listen(l, 1) })?;
            let at = name(l)?;
            let c = new()?;
            // SAFETY: at is a sockaddr_in.
            if let Err(e) = check(unsafe { ws::connect(c, at.as_ptr(), 16) }) {
                close_all(&[c]);
                return Err(e);
            }
            let mut peer = [0u8; 16];
            let mut n = 16i32;
            // SAFETY: peer has n bytes.
            let a = unsafe { ws::accept(l, peer.as_mut_ptr(), &mut n) };
            if a == INVALID_SOCKET {
                close_all(&[c]);
                return Err(last_errno());
            }
            if name(c).ok() != Some(peer) {
                close_all(&[a, c]);
                return Err(EACCES); // someone else connected first
            }
            Ok((a, c))
        })();
        close_all(&[l]);
        made?
    } else {
        let (p, q) = (new()?, new()?);
        let made = (|| {
            // SAFETY: loopback is a sockaddr_in; the names come from getsockname.
            unsafe {
                check(ws::bind(p, loopback.as_ptr(), 16))?;
                check(ws::bind(q, loopback.as_ptr(), 16))?;
                check(ws::connect(p, name(q)?.as_ptr(), 16))?;
                check(ws::connect(q, name(p)?.as_ptr(), 16))?;
            }
            Ok(())
        })();
        if let Err(e) = made {
            close_all(&[p, q]);
            return Err(e);
        }
        (p, q)
    };
    if ty & SOCK_NONBLOCK != 0 {
        let _ = set_nonblock(x, true);
        let _ = set_nonblock(y, true);
    }
    let fds = [
        add(Sock { s: x, family: 1, ty: kind, reuse_addr: 0 }),
        add(Sock { s: y, family: 1, ty: kind, reuse_addr: 0 }),
    ];
    user::write(sv, &fds)?;
    Ok(0)
}

fn send(s: Sock, buf: &[u8], flags: usize, to: usize, tolen: usize) -> Result<usize, Errno> {
    let f = msg_flags(flags)?;
    let len = buf.len().min(i32::MAX as usize) as i32;
    // SAFETY: buf and the address are valid for their lengths.
    let r = unsafe {
        if to == 0 {
            ws::send(s.s, buf.as_ptr(), len, f)
        } else {
            let w = addr_in(to, tolen)?;
            ws::sendto(s.s, buf.as_ptr(), len, f, w.as_ptr(), w.len() as i32)
        }
    };
    check(r)
}

fn recv(s: Sock, buf: &mut [u8], flags: usize, from: usize, fromlen: usize) -> Result<usize, Errno> {
    let f = msg_flags(flags)?;
    let len = buf.len().min(i32::MAX as usize) as i32;
    let mut w = [0u8; 128];
    let mut wlen = w.len() as i32;
    // SAFETY: buf and w are writable for their lengths.
    let r = unsafe {
        if from == 0 {
            ws::recv(s.s, buf.as_mut_ptr(), len, f)
        } else {
            ws::recvfrom(s.s, buf.as_mut_ptr(), len, f, w.as_mut_ptr(), &mut wlen)
        }
    };
    let n = check(r)?;
    if from != 0 {
        addr_out(&mut w, wlen, from, fromlen)?;
    }
    Ok(n)
}

/// (Winsock level, option) for a Linux (level, option) Winsock serves alike with an int.
fn win_opt(level: usize, opt: usize) -> Option<(i32, i32)> {
    const SOL_SOCKET: usize = 1;
    const WIN_SOL_SOCKET: i32 = 0xffff;
    Some(match (level, opt) {
        (SOL_SOCKET, 6) => (WIN_SOL_SOCKET, 0x20),   // SO_BROADCAST
        (SOL_SOCKET, 7) => (WIN_SOL_SOCKET, 0x1001), // SO_SNDBUF
        (SOL_SOCKET, 8) => (WIN_SOL_SOCKET, 0x1002), // SO_RCVBUF
        (SOL_SOCKET, 9) => (WIN_SOL_SOCKET, 0x8),    // SO_KEEPALIVE
        (SOL_SOCKET, 4) => (WIN_SOL_SOCKET, 0x1007), // SO_ERROR
        (SOL_SOCKET, 30) => (WIN_SOL_SOCKET, 0x2),   // SO_ACCEPTCONN
        (6, 1) => (6, 1),                            // TCP_NODELAY
        (0, 2) => (0, 4),                            // IP_TTL
        (41, 26) => (41, 27),                        // IPV6_V6ONLY
        _ => return None,
    })
}

fn setsockopt(fd: i32, level: usize, opt: usize, val: usize, len: usize) -> Result<usize, Errno> {
    let s = get(fd)?;
    let v: i32 = if len >= 4 { user::read(val)? } else { return Err(EINVAL) };
    match (level, opt) {
        // SO_REUSEADDR: Windows' option of that name lets another socket take a port in use,
        // which Linux's never does; Windows already allows what Linux's allows (rebinding a
        // port in TIME_WAIT), so the value is only kept. SO_REUSEPORT likewise.
        // SO_PASSCRED (16) of the AF_UNIX stand-ins: no credentials to pass; accepted.
        (1, 16) if s.family == 1 => Ok(0),
        (1, 2) | (1, 15) => {
            let mut t = TABLE.lock();
            if let Some(Some(e)) = t.get_mut((fd - FIRST_FD) as usize) {
                e.reuse_addr = v;
            }
            Ok(0)
        }
        _ => {
            let (wl, wo) = win_opt(level, opt).ok_or(ENOPROTOOPT)?;
            // SAFETY: an int option.
            check(unsafe { ws::setsockopt(s.s, wl, wo, (&v as *const i32).cast(), 4) }).map(|_| 0)
        }
    }
}

fn getsockopt(fd: i32, level: usize, opt: usize, val: usize, lenp: usize) -> Result<usize, Errno> {
    let s = get(fd)?;
    let v: i32 = match (level, opt) {
        (1, 2) | (1, 15) => s.reuse_addr,
        (1, 3) => s.ty,             // SO_TYPE
        (1, 39) => s.family as i32, // SO_DOMAIN
        (1, 38) => {
            // SO_PROTOCOL
            if s.ty == 1 {
                6
            } else {
                17
            }
        }
        _ => {
            let (wl, wo) = win_opt(level, opt).ok_or(ENOPROTOOPT)?;
            let mut v = 0i32;
            let mut n = 4i32;
            // SAFETY: an int option.
            check(unsafe { ws::getsockopt(s.s, wl, wo, (&mut v as *mut i32).cast(), &mut n) })?;
            if wo == 0x1007 {
                // SO_ERROR: a Winsock error number, as errno.
                v = if v == 0 { 0 } else { wsa_to_errno(v) };
            }
            v
        }
    };
    let room: u32 = user::read(lenp)?;
    let n = (room as usize).min(4);
    user::slice_mut(val, n)?.copy_from_slice(&v.to_le_bytes()[..n]);
    user::write(lenp, &(n as u32)).map(|_| 0)
}

fn wsa_to_errno(e: i32) -> i32 {
    // SAFETY: sets this thread's last error only to map it.
    unsafe { ws::WSASetLastError(e) };
    last_errno()
}

/// read(2) of a socket.
pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    recv(get(fd)?, buf, 0, 0, 0)
}

/// write(2) of a socket.
pub fn write(fd: i32, buf: &[u8]) -> Result<usize, Errno> {
    send(get(fd)?, buf, 0, 0, 0)
}

/// O_NONBLOCK of a socket.
pub fn nonblock(fd: i32, on: bool) -> Result<(), Errno> {
    set_nonblock(get(fd)?.s, on)
}

/// FIONREAD of a socket.
pub fn pending_bytes(fd: i32) -> Result<usize, Errno> {
    let mut v = 0u32;
    // SAFETY: FIONREAD writes one u32.
    check(unsafe { ws::ioctlsocket(get(fd)?.s, FIONREAD, &mut v) })?;
    Ok(v as usize)
}

/// close(2) of a socket.
pub fn close(fd: i32) {
    let mut t = TABLE.lock();
    if let Some(slot) = t.get_mut((fd - FIRST_FD) as usize) {
        if let Some(s) = slot.take() {
            OPEN.fetch_sub(1, Ordering::Relaxed);
            // SAFETY: the socket was ours and is forgotten here.
            unsafe { ws::closesocket(s.s) };
        }
    }
}

/// poll(2) of sockets (entries with other descriptors are left as they are) with WSAPoll.
pub fn poll(fds: &mut [PollFd], timeout_ms: i32) -> Result<usize, Errno> {
    #[repr(C)]
    struct WsaPollFd {
        s: usize,
        events: i16,
        revents: i16,
    }
    let mut w: Vec<WsaPollFd> = Vec::new();
    let mut at: Vec<usize> = Vec::new();
    for (i, p) in fds.iter().enumerate() {
        if let Ok(s) = get(p.fd) {
            // Winsock accepts only POLLRDNORM | POLLRDBAND | POLLWRNORM (POLLIN, POLLOUT).
            let mut ev = 0i16;
            if p.events & 0x001 != 0 {
                ev |= 0x0100;
            }
            if p.events & 0x004 != 0 {
                ev |= 0x0010;
            }
            w.push(WsaPollFd { s: s.s, events: ev, revents: 0 });
            at.push(i);
        }
    }
    if w.is_empty() {
        return Ok(0);
    }
    // SAFETY: w is an array of WSAPOLLFD of its length.
    check(unsafe { ws::WSAPoll(w.as_mut_ptr().cast(), w.len() as u32, timeout_ms) })?;
    let mut n = 0;
    for (p, i) in w.iter().zip(at) {
        let r = p.revents;
        let mut lx = 0i16;
        if r & 0x0300 != 0 {
            lx |= 0x001;
        }
        if r & 0x0010 != 0 {
            lx |= 0x004;
        }
        if r & 0x0001 != 0 {
            lx |= 0x008; // POLLERR
        }
        if r & 0x0002 != 0 {
            lx |= 0x010 | (fds[i].events & 0x001); // POLLHUP (readable: EOF)
        }
        if r & 0x0004 != 0 {
            lx |= 0x020; // POLLNVAL
        }
        fds[i].revents = lx;
        n += usize::from(lx != 0);
    }
    Ok(n)
}

mod ws {
    #![allow(non_snake_case)]
    #[link(name = "ws2_32")]
    extern "system" {
        pub fn WSAStartup(version: u16, data: *mut u8) -> i32;
        pub fn WSAGetLastError() -> i32;
        pub fn WSASetLastError(e: i32);
        pub fn socket(af: i32, ty: i32, proto: i32) -> usize;
        pub fn bind(s: usize, addr: *const u8, len: i32) -> i32;
        pub fn connect(s: usize, addr: *const u8, len: i32) -> i32;
        pub fn listen(s: usize, backlog: i32) -> i32;
        pub fn accept(s: usize, addr: *mut u8, len: *mut i32) -> usize;
        pub fn getsockname(s: usize, addr: *mut u8, len: *mut i32) -> i32;
        pub fn getpeername(s: usize, addr: *mut u8, len: *mut i32) -> i32;
        pub fn send(s: usize, buf: *const u8, len: i32, flags: i32) -> i32;
        pub fn sendto(s: usize, buf: *const u8, len: i32, flags: i32, to: *const u8, tolen: i32) -> i32;
        pub fn recv(s: usize, buf: *mut u8, len: i32, flags: i32) -> i32;
        pub fn recvfrom(s: usize, buf: *mut u8, len: i32, flags: i32, from: *mut u8, fromlen: *mut i32) -> i32;
        pub fn shutdown(s: usize, how: i32) -> i32;
        pub fn setsockopt(s: usize, level: i32, opt: i32, val: *const u8, len: i32) -> i32;
        pub fn getsockopt(s: usize, level: i32, opt: i32, val: *mut u8, len: *mut i32) -> i32;
        pub fn ioctlsocket(s: usize, cmd: i32, arg: *mut u32) -> i32;
        pub fn closesocket(s: usize) -> i32;
        pub fn WSAPoll(fds: *mut u8, n: u32, timeout: i32) -> i32;
    }
}
