//! The socket calls on the library OS's own Unix-domain sockets (`crate::unixsock`), for a
//! platform without host sockets (the VM kernel: `Platform::core_unix_sockets`): socket and socketpair with AF_UNIX, and every
//! socket call on a descriptor that holds one. Addresses (`struct sockaddr_un`), messages
//! (`struct msghdr`, SCM_RIGHTS) and options are decoded here; read, write, readv, writev,
//! poll, select and epoll reach the socket through [`crate::kobj::Obj::Unix`].
//!
//! A path name is a node of the in-memory layer (S_IFSOCK for stat; the mode is 0777 less the
//! umask); binding in a host directory is refused (EACCES: the host's file system cannot hold
//! a socket of the VM).
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use super::nr::{
    ACCEPT, ACCEPT4, BIND, CONNECT, GETPEERNAME, GETSOCKNAME, GETSOCKOPT, LISTEN, RECVFROM, RECVMMSG, RECVMSG,
    SENDMMSG, SENDMSG, SENDTO, SETSOCKOPT, SHUTDOWN, SOCKET, SOCKETPAIR,
};
use super::SysResult;
use crate::abi::{AT_FDCWD, O_NONBLOCK, O_RDWR};
use crate::errno::*;
use crate::fd::{FileKind, OpenFile};
use crate::fs::node::Node;
use crate::fs::vfs::Place;
use crate::kernel::LibOs;
use crate::kobj::Obj;
use crate::platform::Platform;
use crate::unixsock::{Cred, Sock, UnixFile, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM};
use crate::user;

const AF_UNSPEC: u16 = 0;
const AF_UNIX: u16 = 1;
const SOCK_RAW: u32 = 3;
const SOCK_NONBLOCK: u32 = 0o4000;
const SOCK_CLOEXEC: u32 = 0o2000000;
/// sizeof(struct sockaddr_un).
const SUN_LEN: usize = 110;
const MSG_OOB: usize = 0x1;
const MSG_PEEK: usize = 0x2;
const MSG_CTRUNC: i32 = 0x8;
const MSG_TRUNC: usize = 0x20;
const MSG_DONTWAIT: usize = 0x40;
const MSG_WAITALL: usize = 0x100;
const MSG_NOSIGNAL: usize = 0x4000;
const MSG_CMSG_CLOEXEC: usize = 0x4000_0000;
const SOL_SOCKET: usize = 1;
const SCM_RIGHTS: i32 = 1;
const SCM_CREDENTIALS: i32 = 2;
/// SCM_MAX_FD: the most descriptors one SCM_RIGHTS message carries.
const SCM_MAX_FD: usize = 253;
const MSGHDR: usize = 56;
const MMSGHDR: usize = 64;

const SO_TYPE: usize = 3;
const SO_ERROR: usize = 4;
const SO_SNDBUF: usize = 7;
const SO_RCVBUF: usize = 8;
const SO_PEERCRED: usize = 17;
const SO_RCVTIMEO: usize = 20;
const SO_SNDTIMEO: usize = 21;
const SO_ACCEPTCONN: usize = 30;
const SO_PROTOCOL: usize = 38;
const SO_DOMAIN: usize = 39;
/// Options kept as set and reported back: SO_DEBUG, SO_REUSEADDR, SO_DONTROUTE, SO_BROADCAST,
/// SO_KEEPALIVE, SO_OOBINLINE, SO_NO_CHECK, SO_PRIORITY, SO_PASSCRED, SO_RCVLOWAT,
/// SO_SNDLOWAT, SO_TIMESTAMP, SO_REUSEPORT, SO_PASSSEC.
const KEPT_OPTS: &[usize] = &[1, 2, 5, 6, 9, 10, 11, 12, 16, 18, 19, 29, 15, 34];
/// SO_LINGER: a struct linger, kept as set.
const SO_LINGER: usize = 13;

/// Serves `n` if it is AF_UNIX socket/socketpair on a platform whose Unix sockets are the
/// library OS's own ([`Platform::core_unix_sockets`]: the VM kernel), or a
/// socket call on a descriptor holding one of the library OS's Unix sockets.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    match n {
        SOCKET | SOCKETPAIR if a[0] as u32 != AF_UNIX as u32 || !os.platform.core_unix_sockets() => None,
        SOCKET => Some(socket(os, a[1] as u32, a[2] as u32).and_then(|s| install(os, s, a[1] as u32))),
        SOCKETPAIR => Some(socketpair(os, a[1] as u32, a[2] as u32, a[3])),
        _ => {
            let f = os.fds.lock().get(a[0] as i32).ok()?;
            let FileKind::Obj(Obj::Unix(u)) = &f.kind else { return None };
            let s = u.sock.clone();
            Some(call(os, &f, &s, n, a))
        }
    }
}

fn call<P: Platform>(os: &LibOs<P>, f: &OpenFile, s: &Arc<Sock>, n: usize, a: &[usize; 6]) -> SysResult {
    let nonblock = f.flags() & O_NONBLOCK != 0;
    match n {
        BIND => bind(os, s, a[1], a[2]),
        LISTEN => {
            if !s.is_bound() && s.ty != SOCK_DGRAM {
                return Err(EINVAL);
            }
            s.listen(a[1] as i32 as isize as usize, cred(os)).map(|_| 0)
        }
        ACCEPT => accept(os, s, a[1], a[2], 0, nonblock),
        ACCEPT4 => accept(os, s, a[1], a[2], a[3] as u32, nonblock),
        CONNECT => connect(os, s, a[1], a[2], nonblock),
        SHUTDOWN => s.shutdown(&os.platform, a[1]).map(|_| 0),
        GETSOCKNAME => put_name(&os.mem, a[1], a[2], s.name().as_deref()).map(|_| 0),
        GETPEERNAME => put_name(&os.mem, a[1], a[2], s.peer_name()?.as_deref()).map(|_| 0),
        GETSOCKOPT => getsockopt(&os.mem, s, a[1], a[2], a[3], a[4]),
        SETSOCKOPT => setsockopt(&os.mem, s, a[1], a[2], a[3], a[4]),
        SENDTO => {
            let data = user::slice_in(&os.mem, a[1], a[2])?;
            let to = if a[4] != 0 { Some(target(os, &parse_addr(&os.mem, a[4], a[5])?)?) } else { None };
            send(os, s, data, Vec::new(), to, a[3], nonblock)
        }
        RECVFROM => {
            // A buffer that stops being writable part of the way: what fits, or EFAULT where
            // Linux's copy would fault (`Sock::recv_in`).
            let room = user::guard_len(&os.mem, a[1], a[2], true)?;
            if room == 0 && a[2] != 0 {
                return Err(EFAULT);
            }
            let buf = user::slice_mut_in(&os.mem, a[1], room)?;
            let got = recv(os, s, buf, a[2], a[3], nonblock)?;
            if a[4] != 0 {
                put_from(&os.mem, a[4], a[5], got.from.as_deref())?;
            }
            drop_fds(got.fds);
            Ok(if a[3] & MSG_TRUNC != 0 && s.ty != SOCK_STREAM { got.full } else { got.len })
        }
        SENDMSG => sendmsg(os, s, a[1], a[2], nonblock),
        RECVMSG => recvmsg(os, s, a[1], a[2], nonblock),
        SENDMMSG => {
            let mut sent = 0;
            for i in 0..a[2].min(1024) {
                match sendmsg(os, s, a[1] + i * MMSGHDR, a[3], nonblock || sent > 0) {
                    Ok(len) => user::write_in(&os.mem, a[1] + i * MMSGHDR + MSGHDR, &(len as u32))?,
                    Err(e) if sent == 0 => return Err(e),
                    Err(_) => break,
                }
                sent += 1;
            }
            Ok(sent)
        }
        RECVMMSG => {
            let mut got = 0;
            for i in 0..a[2].min(1024) {
                let flags = if got > 0 { a[3] | MSG_DONTWAIT } else { a[3] };
                match recvmsg(os, s, a[1] + i * MMSGHDR, flags, nonblock) {
                    Ok(len) => user::write_in(&os.mem, a[1] + i * MMSGHDR + MSGHDR, &(len as u32))?,
                    Err(e) if got == 0 => return Err(e),
                    Err(_) => break,
                }
                got += 1;
            }
            Ok(got)
        }
        _ => Err(ENOTSOCK),
    }
}

/// The calling process's credentials, as SO_PEERCRED gives them to the other end.
fn cred<P: Platform>(os: &LibOs<P>) -> Cred {
    Cred { pid: os.platform.pid(), uid: os.ident.uids().effective, gid: os.ident.gids().effective }
}

/// A new socket of the type in `ty` (SOCK_RAW is a datagram socket, as on Linux).
fn socket<P: Platform>(_os: &LibOs<P>, ty: u32, proto: u32) -> Result<Arc<Sock>, Errno> {
    if ty & !0xf & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(EINVAL);
    }
    if proto != 0 && proto != 1 {
        return Err(EPROTONOSUPPORT);
    }
    match ty & 0xf {
        SOCK_STREAM => Ok(Sock::new(SOCK_STREAM)),
        SOCK_DGRAM | SOCK_RAW => Ok(Sock::new(SOCK_DGRAM)),
        SOCK_SEQPACKET => Ok(Sock::new(SOCK_SEQPACKET)),
        _ => Err(ESOCKTNOSUPPORT),
    }
}

/// Installs `sock` as an app descriptor (`flags`: SOCK_NONBLOCK, SOCK_CLOEXEC).
fn install<P: Platform>(os: &LibOs<P>, sock: Arc<Sock>, flags: u32) -> SysResult {
    let file = OpenFile::new(FileKind::Obj(Obj::Unix(UnixFile { sock })), Vec::new(), O_RDWR | (flags & O_NONBLOCK));
    os.fds.lock().alloc(file, flags & SOCK_CLOEXEC != 0, 0).map(|v| v as usize)
}

fn socketpair<P: Platform>(os: &LibOs<P>, ty: u32, proto: u32, sv: usize) -> SysResult {
    let probe = socket(os, ty, proto)?;
    user::slice_mut_in(&os.mem, sv, 8)?;
    let (a, b) = Sock::pair(probe.ty, cred(os));
    let fa = install(os, a, ty)?;
    let fb = match install(os, b, ty) {
        Ok(fb) => fb,
        Err(e) => {
            let _ = os.fds.lock().close(fa as i32);
            return Err(e);
        }
    };
    user::write_in(&os.mem, sv, &[fa as i32, fb as i32])?;
    Ok(0)
}

/// A Unix socket address as the app gave it.
enum Addr {
    /// Only the family (bind: pick an abstract name).
    Unnamed,
    /// AF_UNSPEC (connect of a datagram socket: disconnect).
    Unspec,
    Path(Vec<u8>),
    /// The name with its leading NUL.
    Abstract(Vec<u8>),
}

/// Decodes a `struct sockaddr_un` of `len` bytes (EINVAL if it is not one).
fn parse_addr(mem: &crate::memlock::MemLock, ptr: usize, len: usize) -> Result<Addr, Errno> {
    if !(2..=SUN_LEN).contains(&len) {
        return Err(EINVAL);
    }
    let b = user::slice_in(mem, ptr, len)?;
    match u16::from_le_bytes([b[0], b[1]]) {
        AF_UNIX => {}
        AF_UNSPEC => return Ok(Addr::Unspec),
        _ => return Err(EINVAL),
    }
    let rest = &b[2..];
    Ok(match rest.first() {
        None => Addr::Unnamed,
        Some(0) => Addr::Abstract(rest.to_vec()),
        Some(_) => Addr::Path(rest.iter().take_while(|&&c| c != 0).copied().collect()),
    })
}

/// Writes the address of a socket named `name` (None: unnamed) to the app's buffer `ptr` with
/// its in/out length at `lenp`, cut to the room given, as Linux does.
fn put_name(mem: &crate::memlock::MemLock, ptr: usize, lenp: usize, name: Option<&[u8]>) -> Result<(), Errno> {
    if ptr == 0 {
        return Ok(());
    }
    let room = user::read_in::<i32>(mem, lenp)?;
    if room < 0 {
        return Err(EINVAL);
    }
    let mut sa = Vec::from(AF_UNIX.to_le_bytes());
    if let Some(n) = name {
        sa.extend_from_slice(n);
        if n.first() != Some(&0) {
            sa.push(0);
        }
    }
    let k = sa.len().min(room as usize);
    user::slice_mut_in(mem, ptr, k)?.copy_from_slice(&sa[..k]);
    user::write_in(mem, lenp, &(sa.len() as u32))
}

/// Writes where a received message came from, as [`put_name`], except that an unnamed sender
/// gives a length of 0 (Linux copies no address then).
fn put_from(mem: &crate::memlock::MemLock, ptr: usize, lenp: usize, from: Option<&[u8]>) -> Result<(), Errno> {
    match from {
        Some(_) => put_name(mem, ptr, lenp, from),
        None => user::write_in(mem, lenp, &0u32),
    }
}

/// Resolves a path of the app (relative to its working directory).
fn resolve<P: Platform>(os: &LibOs<P>, p: &[u8], follow: bool) -> Result<crate::fs::vfs::Resolved, Errno> {
    let base = os.dir_of(AT_FDCWD, p)?;
    os.vfs.resolve(&base, p, follow)
}

/// The socket an address names: ENOENT for a missing path, ECONNREFUSED when nothing is bound
/// there (any more).
fn target<P: Platform>(os: &LibOs<P>, addr: &Addr) -> Result<Arc<Sock>, Errno> {
    match addr {
        Addr::Path(p) if p.is_empty() => Err(ENOENT),
        Addr::Path(p) => match resolve(os, p, true)?.node {
            None => Err(ENOENT),
            Some(Node::OverlayFile(f)) => crate::unixsock::bound_at_inode(f.ino).ok_or(ECONNREFUSED),
            Some(_) => Err(ECONNREFUSED),
        },
        Addr::Abstract(n) => crate::unixsock::bound_abstract(n).ok_or(ECONNREFUSED),
        Addr::Unnamed | Addr::Unspec => Err(EINVAL),
    }
}

static AUTOBIND: AtomicU64 = AtomicU64::new(1);

fn bind<P: Platform>(os: &LibOs<P>, s: &Arc<Sock>, ptr: usize, len: usize) -> SysResult {
    let addr = parse_addr(&os.mem, ptr, len)?;
    if s.is_bound() {
        return Err(EINVAL);
    }
    match addr {
        Addr::Unspec => Err(EINVAL),
        Addr::Unnamed => loop {
            let n = AUTOBIND.fetch_add(1, Ordering::Relaxed);
            match s.bind_abstract(&crate::unixsock::autobind_name(n & 0xfffff)) {
                Err(EADDRINUSE) if n < 0x100000 => continue,
                r => return r.map(|_| 0),
            }
        },
        Addr::Abstract(n) => s.bind_abstract(&n).map(|_| 0),
        Addr::Path(p) if p.is_empty() => Err(ENOENT),
        Addr::Path(p) => {
            let r = resolve(os, &p, false)?;
            if r.node.is_some() {
                return Err(EADDRINUSE);
            }
            if !matches!(os.vfs.place(&r.path)?, Place::Memory) {
                os.debug_log(&[b"unix socket: bind in a host directory is not served -> EACCES"]);
                return Err(EACCES);
            }
            let mode = 0o777 & !os.umask.load(Ordering::Relaxed);
            let node = os.vfs.create_file(&r.path, mode, os.now());
            s.bind_path(node.ino, &p).map(|_| 0)
        }
    }
}

fn connect<P: Platform>(os: &LibOs<P>, s: &Arc<Sock>, ptr: usize, len: usize, nonblock: bool) -> SysResult {
    let addr = parse_addr(&os.mem, ptr, len)?;
    if s.ty == SOCK_DGRAM {
        if let Addr::Unspec = addr {
            return s.disconnect().map(|_| 0);
        }
        let t = target(os, &addr)?;
        return s.connect_dgram(&t, cred(os)).map(|_| 0);
    }
    let t = target(os, &addr)?;
    s.connect_stream(&os.platform, &t, cred(os), nonblock).map(|_| 0)
}

fn accept<P: Platform>(
    os: &LibOs<P>,
    s: &Arc<Sock>,
    addr: usize,
    lenp: usize,
    flags: u32,
    nonblock: bool,
) -> SysResult {
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(EINVAL);
    }
    if s.ty == SOCK_DGRAM {
        return Err(EOPNOTSUPP);
    }
    let conn = s.accept(&os.platform, nonblock)?;
    let peer = conn.peer_name().ok().flatten();
    let fd = install(os, conn, flags)?;
    if let Err(e) = put_name(&os.mem, addr, lenp, peer.as_deref()) {
        let _ = os.fds.lock().close(fd as i32);
        return Err(e);
    }
    Ok(fd)
}

fn send<P: Platform>(
    os: &LibOs<P>,
    s: &Arc<Sock>,
    data: &[u8],
    fds: Vec<Arc<OpenFile>>,
    to: Option<Arc<Sock>>,
    flags: usize,
    nonblock: bool,
) -> SysResult {
    if flags & MSG_OOB != 0 {
        return Err(EOPNOTSUPP);
    }
    let nonblock = nonblock || flags & MSG_DONTWAIT != 0;
    let quiet = flags & MSG_NOSIGNAL != 0;
    s.send(&os.platform, data, fds, to, nonblock, &|| {
        if !quiet {
            os.raise_sigpipe();
        }
    })
}

/// Receives `want` bytes into `buf`, the writable part of the app's buffer (all of it, or a
/// prefix: see `Sock::recv_in`).
fn recv<P: Platform>(
    os: &LibOs<P>,
    s: &Arc<Sock>,
    buf: &mut [u8],
    want: usize,
    flags: usize,
    nonblock: bool,
) -> Result<crate::unixsock::Received, Errno> {
    if flags & MSG_OOB != 0 {
        return Err(EOPNOTSUPP);
    }
    let nonblock = nonblock || flags & MSG_DONTWAIT != 0;
    s.recv_in(&os.platform, buf, want, flags & MSG_PEEK != 0, flags & MSG_WAITALL != 0, nonblock)
}

/// Descriptors received where the call has no room for them are closed (their last reference
/// here goes).
fn drop_fds(fds: Vec<Arc<OpenFile>>) {
    drop(fds);
}

fn usize_at(b: &[u8], at: usize) -> usize {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    usize::from_le_bytes(w)
}

fn sendmsg<P: Platform>(os: &LibOs<P>, s: &Arc<Sock>, msg: usize, flags: usize, nonblock: bool) -> SysResult {
    let mut hdr = [0u8; MSGHDR];
    hdr.copy_from_slice(user::slice_in(&os.mem, msg, MSGHDR)?);
    let (name, namelen) = (usize_at(&hdr, 0), u32::from_le_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]) as usize);
    let vs = super::fs::iovecs(&os.mem, usize_at(&hdr, 16), usize_at(&hdr, 24))?;
    super::fs::guard_iov(os, &vs, false)?;
    let mut data = Vec::new();
    for v in &vs {
        data.extend_from_slice(user::slice_in(&os.mem, v.base, v.len)?);
    }
    let fds = control_fds(os, usize_at(&hdr, 32), usize_at(&hdr, 40))?;
    let to = if name != 0 && namelen != 0 { Some(target(os, &parse_addr(&os.mem, name, namelen)?)?) } else { None };
    send(os, s, &data, fds, to, flags, nonblock)
}

/// The descriptors of the SCM_RIGHTS messages in a control buffer (EBADF for a closed one,
/// EINVAL for a malformed header or a control message of another kind than SCM_RIGHTS or
/// SCM_CREDENTIALS; credentials are not passed on).
fn control_fds<P: Platform>(os: &LibOs<P>, ptr: usize, len: usize) -> Result<Vec<Arc<OpenFile>>, Errno> {
    let mut fds = Vec::new();
    if ptr == 0 || len < 16 {
        return Ok(fds);
    }
    let buf = user::slice_in(&os.mem, ptr, len.min(1 << 16))?;
    let mut at = 0;
    while at + 16 <= buf.len() {
        let clen = usize_at(buf, at);
        let level = i32::from_le_bytes([buf[at + 8], buf[at + 9], buf[at + 10], buf[at + 11]]);
        let ty = i32::from_le_bytes([buf[at + 12], buf[at + 13], buf[at + 14], buf[at + 15]]);
        if clen < 16 || at + clen > buf.len() {
            return Err(EINVAL);
        }
        match (level as usize, ty) {
            (SOL_SOCKET, SCM_RIGHTS) => {
                let n = (clen - 16) / 4;
                if fds.len() + n > SCM_MAX_FD {
                    return Err(EINVAL);
                }
                for i in 0..n {
                    let o = at + 16 + 4 * i;
                    let fd = i32::from_le_bytes([buf[o], buf[o + 1], buf[o + 2], buf[o + 3]]);
                    fds.push(os.fds.lock().get(fd)?);
                }
            }
            (SOL_SOCKET, SCM_CREDENTIALS) => {}
            _ => return Err(EINVAL),
        }
        at += (clen + 7) & !7;
    }
    Ok(fds)
}

fn recvmsg<P: Platform>(os: &LibOs<P>, s: &Arc<Sock>, msg: usize, flags: usize, nonblock: bool) -> SysResult {
    let mut hdr = [0u8; MSGHDR];
    hdr.copy_from_slice(user::slice_in(&os.mem, msg, MSGHDR)?);
    let mut vs = super::fs::iovecs(&os.mem, usize_at(&hdr, 16), usize_at(&hdr, 24))?;
    // Buffers that stop being writable part of the way: their writable prefix, and what Linux
    // does where its copy would fault (`Sock::recv_in`).
    let (room, total) = super::fs::accessible_prefix(os, &mut vs, true)?;
    if room == 0 && total != 0 {
        return Err(EFAULT);
    }
    let mut buf = alloc::vec![0u8; room.min(1 << 24)];
    let want = if room < total { total } else { buf.len() };
    let got = recv(os, s, &mut buf, want, flags, nonblock)?;
    let mut from = 0;
    for v in &vs {
        let k = (got.len - from).min(v.len);
        user::slice_mut_in(&os.mem, v.base, k)?.copy_from_slice(&buf[from..from + k]);
        from += k;
    }
    let mut mflags = 0i32;
    if got.full > got.len && s.ty != SOCK_STREAM {
        mflags |= MSG_TRUNC as i32;
    }
    let (name, namelen) = (usize_at(&hdr, 0), msg + 8);
    if name != 0 {
        put_from(&os.mem, name, namelen, got.from.as_deref())?;
    } else {
        user::write_in(&os.mem, namelen, &0u32)?;
    }
    let (cptr, clen) = (usize_at(&hdr, 32), usize_at(&hdr, 40));
    let mut used = 0;
    if !got.fds.is_empty() {
        let room = if cptr == 0 { 0 } else { clen.saturating_sub(16) / 4 };
        let fit = room.min(got.fds.len());
        if fit < got.fds.len() {
            mflags |= MSG_CTRUNC;
        }
        if fit > 0 {
            let mut c = Vec::with_capacity(16 + 4 * fit);
            c.extend_from_slice(&(16 + 4 * fit).to_le_bytes());
            c.extend_from_slice(&(SOL_SOCKET as i32).to_le_bytes());
            c.extend_from_slice(&SCM_RIGHTS.to_le_bytes());
            let cloexec = flags & MSG_CMSG_CLOEXEC != 0;
            for f in got.fds.into_iter().take(fit) {
                let fd = os.fds.lock().alloc(f, cloexec, 0)?;
                c.extend_from_slice(&fd.to_le_bytes());
            }
            user::slice_mut_in(&os.mem, cptr, c.len())?.copy_from_slice(&c);
            used = ((c.len() + 7) & !7).min(clen);
        }
    }
    user::write_in(&os.mem, msg + 40, &used)?;
    user::write_in(&os.mem, msg + 48, &mflags)?;
    Ok(if flags & MSG_TRUNC != 0 && s.ty != SOCK_STREAM { got.full } else { got.len })
}

/// Reads an int option value (EINVAL if shorter than an int).
fn opt_int(mem: &crate::memlock::MemLock, ptr: usize, len: usize) -> Result<i32, Errno> {
    if len < 4 {
        return Err(EINVAL);
    }
    user::read_in::<i32>(mem, ptr)
}

/// A struct timeval option as ns (EDOM past range, EINVAL if too short).
fn opt_timeval(mem: &crate::memlock::MemLock, ptr: usize, len: usize) -> Result<u64, Errno> {
    if len < 16 {
        return Err(EINVAL);
    }
    let tv = user::read_in::<[i64; 2]>(mem, ptr)?;
    if tv[1] < 0 || tv[1] >= 1_000_000 {
        return Err(EDOM);
    }
    if tv[0] < 0 {
        return Ok(0);
    }
    Ok((tv[0] as u64).saturating_mul(1_000_000_000).saturating_add(tv[1] as u64 * 1000))
}

fn setsockopt(
    mem: &crate::memlock::MemLock,
    s: &Arc<Sock>,
    level: usize,
    opt: usize,
    ptr: usize,
    len: usize,
) -> SysResult {
    if level as i32 != SOL_SOCKET as i32 {
        return Err(EOPNOTSUPP);
    }
    let opt = opt as i32 as isize as usize;
    match opt {
        SO_SNDBUF | SO_RCVBUF => {
            // As Linux: the value is doubled (bookkeeping), with a floor.
            let v = (opt_int(mem, ptr, len)?.max(0) as usize).min(i32::MAX as usize / 2) * 2;
            s.with_opts(|o| {
                if opt == SO_SNDBUF {
                    o.sndbuf = v.max(4608);
                } else {
                    o.rcvbuf = v.max(2304);
                }
            });
        }
        SO_RCVTIMEO | SO_SNDTIMEO => {
            let ns = opt_timeval(mem, ptr, len)?;
            s.with_opts(|o| {
                if opt == SO_RCVTIMEO {
                    o.rcv_timeout = ns;
                } else {
                    o.snd_timeout = ns;
                }
            });
        }
        SO_LINGER => {
            if len < 8 {
                return Err(EINVAL);
            }
            let v = user::read_in::<[i32; 2]>(mem, ptr)?;
            s.with_opts(|o| {
                o.flags.insert(SO_LINGER, v[0]);
                o.flags.insert(SO_LINGER | 0x1000, v[1]);
            });
        }
        o if KEPT_OPTS.contains(&o) => {
            let v = opt_int(mem, ptr, len)?;
            s.with_opts(|x| x.flags.insert(o, v));
        }
        _ => return Err(ENOPROTOOPT),
    }
    Ok(0)
}

fn getsockopt(
    mem: &crate::memlock::MemLock,
    s: &Arc<Sock>,
    level: usize,
    opt: usize,
    ptr: usize,
    lenp: usize,
) -> SysResult {
    if level as i32 != SOL_SOCKET as i32 {
        return Err(EOPNOTSUPP);
    }
    let room = user::read_in::<i32>(mem, lenp)?;
    if room < 0 {
        return Err(EINVAL);
    }
    let int = |v: i64| -> Vec<u8> { (v as i32).to_le_bytes().to_vec() };
    let tv = |ns: u64| -> Vec<u8> {
        let mut b = ((ns / 1_000_000_000) as i64).to_le_bytes().to_vec();
        b.extend_from_slice(&(((ns % 1_000_000_000) / 1000) as i64).to_le_bytes());
        b
    };
    let val = match opt as i32 as isize as usize {
        SO_TYPE => int(s.ty as i64),
        SO_ERROR => int(s.take_error().unwrap_or(0) as i64),
        SO_DOMAIN => int(AF_UNIX as i64),
        SO_PROTOCOL => int(0),
        SO_ACCEPTCONN => int(s.is_listening() as i64),
        SO_SNDBUF => int(s.with_opts(|o| o.sndbuf) as i64),
        SO_RCVBUF => int(s.with_opts(|o| o.rcvbuf) as i64),
        SO_RCVTIMEO => tv(s.with_opts(|o| o.rcv_timeout)),
        SO_SNDTIMEO => tv(s.with_opts(|o| o.snd_timeout)),
        SO_PEERCRED => {
            let c = s.peer_cred();
            let mut b = c.pid.to_le_bytes().to_vec();
            b.extend_from_slice(&c.uid.to_le_bytes());
            b.extend_from_slice(&c.gid.to_le_bytes());
            b
        }
        SO_LINGER => s.with_opts(|o| {
            let mut b = o.flags.get(&SO_LINGER).copied().unwrap_or(0).to_le_bytes().to_vec();
            b.extend_from_slice(&o.flags.get(&(SO_LINGER | 0x1000)).copied().unwrap_or(0).to_le_bytes());
            b
        }),
        o if KEPT_OPTS.contains(&o) => int(s.with_opts(|x| x.flags.get(&o).copied().unwrap_or(0)) as i64),
        _ => return Err(ENOPROTOOPT),
    };
    let k = val.len().min(room as usize);
    user::slice_mut_in(mem, ptr, k)?.copy_from_slice(&val[..k]);
    user::write_in(mem, lenp, &(k as u32))?;
    Ok(0)
}
