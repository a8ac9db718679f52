//! Sockets: socket, socketpair, bind, listen, accept(4), connect, get{sock,peer}name,
//! {set,get}sockopt, send/recv (to/from, msg, mmsg), shutdown.
//!
//! An allowed socket is a host socket held as a host descriptor ([`FileKind::Host`]), so
//! read/write/poll/epoll/fcntl/dup/close and fork inheritance work through the usual paths.
//! On a platform that started the core's network stack (`netstack::init`, a VM), an allowed
//! socket is instead a TCP socket of that stack, a kernel object ([`crate::kobj::Obj::Tcp`]).
//! The `[policy.network]` rules are checked here, before any host call, on a copy of the
//! address in runtime memory (the app cannot change it between the check and the host call):
//! `bind` (and `listen` on an unbound socket, which binds the wildcard address) needs a
//! `listen` rule, `connect`/`sendto`/`sendmsg`/`sendmmsg` to an address need a `connect` rule;
//! Unix-domain names of host sockets, abstract names (and autobind) and path names, only where
//! the platform says the sandbox has a network namespace of its own
//! (`HostPassthrough::private_net`), where they reach only the app's own sockets: a path name
//! is a socket file with an abstract stand-in (`unixpath.rs`), turned back into the path
//! wherever the host gives a name back (`with_names`); where `Platform::core_unix_sockets` says so (the VM), AF_UNIX sockets are
//! the library OS's own (`unixcalls.rs`, `crate::unixsock`) and their names stay inside it.
//! Descriptors passed with SCM_RIGHTS are translated by [`cmsg`] (sendmsg, sendmmsg, recvmsg;
//! recvmmsg does not translate them).
//! Each denial is EACCES, logged with the rule under `LITEBOX_LOG=debug` and recorded for
//! `--learn`. getsockname on a TCP socket accepted from a listener this library OS bound to a
//! specific address and port is answered without a host call (`fixed_name`: that name can
//! never change, on Linux); every other getsockname is the host's. Decisions and their reasons: docs/config.md, `[policy.network]`.
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::nr::*;
use super::{cmsg, SysResult};
use crate::abi::{O_NONBLOCK, O_PATH, O_RDWR};
use crate::errno::*;
use crate::fd::{FdRef, FileKind, FixedName, HostFd, OpenFile, SockName};
use crate::kernel::LibOs;
use crate::net::{decode, Endpoint, Target};
use crate::platform::Platform;
use crate::user;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[
    SOCKET,
    CONNECT,
    ACCEPT,
    SENDTO,
    RECVFROM,
    SENDMSG,
    RECVMSG,
    SHUTDOWN,
    BIND,
    LISTEN,
    GETSOCKNAME,
    GETPEERNAME,
    SOCKETPAIR,
    SETSOCKOPT,
    GETSOCKOPT,
    ACCEPT4,
    RECVMMSG,
    SENDMMSG,
];

/// Syscalls served with a limitation users should know, and what it is (docs/syscalls.md is
/// generated from these arrays by scripts/gen_implemented.py).
pub const PARTIAL: &[(usize, &str)] = &[
    (
        SOCKET,
        "AF_UNIX, AF_INET, AF_INET6 only (others EAFNOSUPPORT; raw and packet sockets EPERM); host sockets; on kvm and snp AF_UNIX sockets are the library OS's own",
    ),
    (
        BIND,
        "only to an address of [policy.network].listen, else EACCES before any host call; Unix path names and abstract names only with the sandbox's own network namespace (linux-userland: a path name is a socket file in the writable layer or a rw mount with an abstract stand-in, see docs/targets/linux-userland.md; the library OS's own Unix sockets bind, not in host directories)",
    ),
    (LISTEN, "on an unbound socket only with a wildcard port-0 listen rule (Linux binds the wildcard address)"),
    (
        CONNECT,
        "only to an address of [policy.network].connect, else EACCES before any host call; Unix path names (sockets the app bound) and abstract names only with the sandbox's own network namespace (linux-userland; the library OS's own Unix sockets connect)",
    ),
    (SENDTO, "a destination address needs a connect rule, as connect"),
    (
        SENDMSG,
        "a destination address needs a connect rule; SCM_RIGHTS only for host descriptors (pipes, sockets) on host sockets, any descriptor on the library OS's own Unix sockets",
    ),
    (SENDMMSG, "as sendmsg"),
    (RECVMMSG, "received descriptors (SCM_RIGHTS) are not translated"),
    (
        SETSOCKOPT,
        "SO_BINDTODEVICE, SO_MARK, IP(V6)_TRANSPARENT, BPF attachments and SO_PASSCRED on Unix sockets: EPERM",
    ),
];

const SOCK_STREAM: u32 = 1;
const SOCK_DGRAM: u32 = 2;
const SOCK_RAW: u32 = 3;
const SOCK_PACKET: u32 = 10;
const SOCK_NONBLOCK: u32 = 0o4000;
const SOCK_CLOEXEC: u32 = 0o2000000;
const IPPROTO_ICMP: u32 = 1;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;
const IPPROTO_ICMPV6: u32 = 58;
const MSG_CMSG_CLOEXEC: usize = 0x4000_0000;
const MSG_CTRUNC: i32 = 0x8;
/// sizeof(struct sockaddr_storage): the kernel refuses longer addresses (EINVAL).
const SOCKADDR_MAX: usize = 128;
/// UIO_MAXIOV: sendmmsg/recvmmsg handle at most this many messages per call.
const MMSG_MAX: usize = 1024;
const MSGHDR: usize = 56;
const MMSGHDR: usize = 64;

/// Serves `n` if it is a socket syscall.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    if name_slot(n, a).is_some() {
        let mut served = None;
        let r = with_names(os, n, a, || {
            served = dispatch_calls(os, n, a);
            served.unwrap_or(Ok(0))
        });
        return served.map(|_| r);
    }
    dispatch_calls(os, n, a)
}

/// [`dispatch`], before the names the host gave back are turned back into paths.
fn dispatch_calls<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    let fd = a[0] as i32;
    if let Err(e) = check_app_ptrs(&os.mem, n, a) {
        return Some(Err(e));
    }
    // Whether the table's one look below found a host object: then `fd` is not one of the
    // library OS's own Unix sockets, and `unixcalls::dispatch` (which would take the table's
    // lock and a reference to the open file only to find that out) is skipped. A host object
    // comes by number only where nothing else can change the table meanwhile
    // (`LibOs::fd_ref`), so the answer still holds when the call below looks `fd` up again.
    let mut host = false;
    if n != SOCKET && n != SOCKETPAIR && HANDLED.contains(&n) {
        // One look at the descriptor table. A host socket of a single-threaded process comes
        // by number (`LibOs::fd_ref`): the calls that need nothing but the number go straight
        // to the host, with no lock and no reference count taken.
        let flags = match os.fd_ref(fd) {
            Ok(FdRef::Host(h, flags, named))
                if flags & O_PATH == 0 && !(named && matches!(n, GETSOCKNAME | ACCEPT | ACCEPT4)) =>
            {
                match host_by_number(os, n, h, a) {
                    Some(r) => return Some(r),
                    None => {
                        host = true;
                        flags
                    }
                }
            }
            Ok(FdRef::Host(_, flags, _)) => {
                host = true;
                flags
            }
            Ok(FdRef::File(f)) => f.flags(),
            Err(_) => 0, // EBADF, from the call's own lookup below
        };
        if flags & O_PATH != 0 {
            // An O_PATH descriptor serves no I/O, sockets included (Linux: EBADF).
            return Some(Err(EBADF));
        }
    }
    if !host {
        if let Some(r) = super::unixcalls::dispatch(os, n, a) {
            return Some(r); // the library OS's own Unix sockets (no host passthrough)
        }
    }
    Some(match n {
        SOCKET => socket(os, a[0] as u32, a[1] as u32, a[2] as u32),
        SOCKETPAIR => socketpair(os, a[0] as u32, a[1] as u32, a[2] as u32, a[3]),
        BIND => bind(os, fd, a[1], a[2]),
        LISTEN => listen(os, fd, a[1]),
        ACCEPT => accept(os, fd, a[1], a[2], 0),
        ACCEPT4 => accept(os, fd, a[1], a[2], a[3] as u32),
        CONNECT => connect(os, fd, a[1], a[2]),
        SENDTO => sendto(os, fd, a),
        SENDMSG => sendmsg(os, fd, a[1], a[2]),
        SENDMMSG => sendmmsg(os, fd, a[1], a[2], a[3]),
        RECVMSG => recvmsg(os, fd, a[1], a[2]),
        RECVMMSG => recvmmsg(os, fd, a),
        SETSOCKOPT => setsockopt(os, fd, a),
        GETSOCKNAME => getsockname(os, fd, a[1], a[2]),
        GETPEERNAME | SHUTDOWN | GETSOCKOPT | RECVFROM => pass(os, n, fd, [a[1], a[2], a[3], a[4], a[5]]),
        _ => return None,
    })
}

/// The socket calls that reach the host by number with nothing but the number (recvfrom,
/// sendto without an address, shutdown, getpeername, getsockopt, and getsockname on a
/// socket whose name the library OS does not keep: [`host_by_number`]'s; getsockname of an
/// accepted socket's fixed name is answered here too, by number, as [`getsockname`] answers
/// it), served inline in `shim::dispatch`; every other call, and these on any other
/// descriptor, go to [`dispatch`]. As for the anonymous mmap (`shim::mem::hot`): after the
/// host call each function return on the way back to the app cost about 10-15 ns on the host
/// measured (bench/RESULTS-issue17-mmap.md, -http3.md), so these run their host call with
/// this function, `LibOs::host_fd` (`LibOs::fd_ref`'s by-number answer) and the platform's
/// `net_hot` inlined into the caller. The same checks in the same order as [`dispatch`] and
/// [`host_by_number`]: the app's pointers (EFAULT), then the descriptor (by number only when
/// [`dispatch`] would take it by number, not O_PATH), then the host call.
#[inline(always)]
pub fn hot<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    let by_number = match n {
        RECVFROM | SHUTDOWN | GETPEERNAME | GETSOCKOPT | GETSOCKNAME => true,
        SENDTO => a[4] == 0,
        _ => false,
    };
    if by_number {
        if let Err(e) = check_app_ptrs(&os.mem, n, a) {
            if n == RECVFROM && e == EFAULT {
                if let Some(r) = recvfrom_partial(os, a) {
                    return Some(r);
                }
            }
            return Some(Err(e));
        }
        if let Some((h, flags, named)) = os.host_fd(a[0] as i32) {
            if flags & O_PATH == 0 && !(named && n == GETSOCKNAME) {
                let mut args = *a;
                args[0] = h as usize;
                if n == SENDTO {
                    (args[4], args[5]) = (0, 0);
                    return Some(os.platform.net_hot(n, args));
                }
                return Some(with_names(os, n, a, || os.platform.net_hot(n, args)));
            }
            if flags & O_PATH == 0 && n == GETSOCKNAME {
                // An accepted socket's fixed name (http.server asks once a request), answered as
                // `getsockname` answers it, without its lock of the table and `Arc`.
                if let Some(known) = os.fixed_name(a[0] as i32) {
                    return Some(write_fixed_name(os, &known, a[1], a[2]));
                }
            }
        }
    }
    dispatch(os, n, a)
}

/// recv(from) and send(to) without an address, and shutdown, of a host socket, that the host
/// may be asked exactly as the app asked it, with only the descriptor replaced by the host's
/// (`n`, arguments `a`): the host descriptor, when [`hot`] would make this call on the host by
/// number with the app's other arguments unchanged, after the same checks in the same order
/// (the app's pointers: the whole buffer accessible; then the descriptor, by number, not
/// O_PATH). None otherwise (another call, an address given, a buffer accessible only in part
/// (`recvfrom_partial`), a descriptor that is not a host object or comes only with the
/// table's lock): nothing here has an effect, and the caller then asks [`super::dispatch`],
/// which repeats the checks and gives the call's answer.
///
/// Without an address Linux reads neither the address length (sendto's r9) nor the length
/// pointer (recvfrom's r9), so the app's registers are the call [`hot`] makes (which clears
/// sendto's). For a platform entry that makes the host call itself with the app's registers
/// (the linux-userland fast path's pass-through, as `fs::host_stream_passthrough` for read and
/// write). What the host returns is the call's answer, as [`hot`] passes it on.
#[inline(always)]
pub fn host_socket_passthrough<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<i32> {
    match n {
        RECVFROM | SENDTO if a[4] == 0 => {}
        SHUTDOWN => {}
        _ => return None,
    }
    check_app_ptrs(&os.mem, n, a).ok()?;
    let (h, flags, _) = os.host_fd(a[0] as i32)?;
    (flags & O_PATH == 0).then_some(h)
}

/// recvfrom on a host socket into a buffer that stops being writable part of the way (None
/// for anything else: the EFAULT of [`check_app_ptrs`] stands), as Linux's copy would fault:
/// a stream socket fails with EFAULT and takes nothing when more is queued than fits (FIONREAD;
/// the host's messages cannot be seen, so this assumes the first is all of it), a datagram
/// socket takes its datagram (what fits is filled; not with MSG_PEEK) and fails with EFAULT
/// when it does not fit; either reads what fits when it does, or when nothing is queued yet
/// (it may wait: see docs/syscalls.md). The host writes only the writable prefix.
#[cold]
#[inline(never)]
fn recvfrom_partial<P: Platform>(os: &LibOs<P>, a: &[usize; 6]) -> Option<SysResult> {
    const MSG_PEEK: usize = 2;
    let (buf, len, flags) = (a[1], a[2], a[3]);
    let room = user::guard_len(&os.mem, buf, len, true).ok()?;
    if room == 0 || room >= len {
        return None;
    }
    // The address buffer's checks, as `check_app_ptrs` makes them.
    check_app_ptrs(&os.mem, GETSOCKNAME, &[a[0], a[4], a[5], 0, 0, 0]).ok()?;
    let Some((h, _, _)) = os.host_fd(a[0] as i32).filter(|&(_, fl, _)| fl & O_PATH == 0) else {
        // A Unix socket of the library OS checks its buffers itself; a descriptor that is no
        // socket is ENOTSOCK before its buffer is looked at, as natively.
        if let Some(r) = super::unixcalls::dispatch(os, RECVFROM, a) {
            return Some(r);
        }
        let f = os.fds.lock().get(a[0] as i32).ok()?;
        let sock = match &f.kind {
            #[cfg(feature = "netstack")]
            FileKind::Obj(crate::kobj::Obj::Tcp(_)) => true,
            _ => false,
        };
        return (!sock).then_some(Err(ENOTSOCK));
    };
    const S_IFSOCK: u32 = 0o140000;
    if os.platform.host_stat(h).is_ok_and(|st| st.st_mode & 0o170000 != S_IFSOCK) {
        return Some(Err(ENOTSOCK));
    }
    let dgram = !super::fs::host_stream_socket(os, h);
    let queued = if dgram { super::fs::host_next_datagram(os, h) } else { super::fs::host_queued(os, h) };
    if queued.min(len) <= room {
        return Some(os.platform.net_hot(RECVFROM, [h as usize, buf, room, flags, a[4], a[5]]));
    }
    if dgram && flags & MSG_PEEK == 0 {
        if let Err(e) = os.platform.net_hot(RECVFROM, [h as usize, buf, room, flags, 0, 0]) {
            return Some(Err(e));
        }
    }
    Some(Err(EFAULT))
}

/// Checks that the pointers the app gives to calls handed to the platform as they are lie in
/// the app's half (EFAULT otherwise, without touching the memory). The platform may then tell
/// them from the library OS's own buffers by address: the kvm kernel shares the app's address
/// space, where a kernel address from the app would otherwise be written to.
fn check_app_ptrs(mem: &crate::memlock::MemLock, n: usize, a: &[usize; 6]) -> Result<(), Errno> {
    // An address buffer and its in/out length.
    let addr_buf = |p: usize, lp: usize| -> Result<(), Errno> {
        if p == 0 {
            return Ok(());
        }
        let room = user::read_in::<u32>(mem, lp)? as usize;
        user::guard(mem, p, room.min(SOCKADDR_MAX), true)
    };
    match n {
        ACCEPT | ACCEPT4 | GETSOCKNAME | GETPEERNAME => addr_buf(a[1], a[2]),
        RECVFROM => user::guard(mem, a[1], a[2], true).and_then(|_| addr_buf(a[4], a[5])),
        GETSOCKOPT if a[3] != 0 => {
            let room = user::read_in::<u32>(mem, a[4])? as usize;
            user::guard(mem, a[3], room.min(4096), true)
        }
        SETSOCKOPT => user::guard(mem, a[3], a[4], false),
        SENDTO => user::guard(mem, a[1], a[2], false),
        _ => Ok(()),
    }
}

/// Where call `n` (arguments `a`) writes a socket address back: the app's buffer and its in/out
/// length, if it gave both.
#[inline(always)]
fn name_slot(n: usize, a: &[usize; 6]) -> Option<(usize, usize)> {
    let (p, lp) = match n {
        ACCEPT | ACCEPT4 | GETSOCKNAME | GETPEERNAME => (a[1], a[2]),
        RECVFROM => (a[4], a[5]),
        _ => return None,
    };
    (p != 0 && lp != 0).then_some((p, lp))
}

/// Makes socket call `n` (the app's arguments `a`) with `call`, then gives the app the path
/// of a Unix path name the host wrote back as its abstract stand-in (`unixpath`).
#[inline(always)]
fn with_names<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6], call: impl FnOnce() -> SysResult) -> SysResult {
    let Some((p, lp)) = name_slot(n, a) else { return call() };
    let room = user::read_in::<i32>(&os.mem, lp).unwrap_or(-1);
    let r = call()?;
    if room > 2 {
        name_back(os, p, lp, room as usize);
    }
    Ok(r)
}

/// After the host wrote a socket address into the app's buffer `p` (room `room`) and its full
/// length at `lp`: a Unix path name's abstract stand-in becomes the path again, cut to the
/// room as the host cuts, with the path name's length. When the host had to cut the stand-in
/// itself (a buffer shorter than it: never with `struct sockaddr_un` or
/// `sockaddr_storage`), the path's last bytes are lost.
fn name_back<P: Platform>(os: &LibOs<P>, p: usize, lp: usize, room: usize) {
    let Ok(got) = user::read_in::<u32>(&os.mem, lp) else { return };
    if let Some(full) = name_back_len(os, p, room, got as usize) {
        let _ = user::write_in(&os.mem, lp, &(full as u32));
    }
}

/// [`name_back`] of a name whose full length `got` the host reported elsewhere: the new full
/// length, if the name was a stand-in.
fn name_back_len<P: Platform>(os: &LibOs<P>, p: usize, room: usize, got: usize) -> Option<usize> {
    let n = room.min(got).min(SOCKADDR_MAX);
    let mut buf = [0u8; SOCKADDR_MAX];
    match user::slice_in(&os.mem, p, n) {
        Ok(b) if n > 2 && b[0] == 1 && b[1] == 0 && b[2] == 0 => buf[..n].copy_from_slice(b),
        _ => return None,
    }
    let mut len = n;
    if !super::unixpath::name_out(&mut buf[..n], &mut len) {
        // A buffer too short to show the tag: if what shows is the start of one, the length
        // is the path name's (a caller that asks for the size first gets the right one).
        return super::unixpath::may_be_tagged(&buf[..n], got).then(|| got - super::unixpath::SHORTER);
    }
    let mut full = got - super::unixpath::SHORTER;
    // Bound by a relative path here: that path, as getsockname gives it natively.
    if len == full {
        if let Some(given) = super::unixpath::as_bound(os, &buf[2..len - 1]).filter(|g| g.len() + 3 <= SOCKADDR_MAX) {
            buf[2..2 + given.len()].copy_from_slice(&given);
            buf[2 + given.len()] = 0;
            (len, full) = (given.len() + 3, given.len() + 3);
        }
    }
    let w = len.min(room);
    user::slice_mut_in(&os.mem, p, w).ok()?.copy_from_slice(&buf[..w]);
    Some(full)
}

/// The socket behind app descriptor `fd`, kept open while the reference lives: a host socket,
/// or a TCP socket of the core's network stack (`netstack/`) on a platform that has one
/// (ENOTSOCK for a file of the image or the writable layer; the host says ENOTSOCK for pipes).
struct Sock(Arc<OpenFile>);

fn sock_of<P: Platform>(os: &LibOs<P>, fd: i32) -> Result<Sock, Errno> {
    let f = os.fds.lock().get(fd)?;
    match &f.kind {
        FileKind::Host(_) => Ok(Sock(f)),
        #[cfg(feature = "netstack")]
        FileKind::Obj(crate::kobj::Obj::Tcp(_)) => Ok(Sock(f)),
        _ => Err(ENOTSOCK),
    }
}

impl Sock {
    /// Socket call `n` with Linux's arguments, `a[0]` (the descriptor) filled in: to the host
    /// (`HostPassthrough::net_call`) or to the core's stack.
    fn call<P: Platform>(&self, os: &LibOs<P>, n: usize, mut a: [usize; 6]) -> SysResult {
        match &self.0.kind {
            FileKind::Host(h) => {
                a[0] = h.0 as usize;
                host_net(os, n, a)
            }
            #[cfg(feature = "netstack")]
            FileKind::Obj(crate::kobj::Obj::Tcp(t)) => {
                let nonblock = self.0.flags() & O_NONBLOCK != 0;
                crate::netstack::tcpsock::call(&os.platform, &t.sock, n, a, nonblock, &|| os.raise_sigpipe())
            }
            _ => Err(ENOTSOCK),
        }
    }
}

/// A socket call with the descriptor translated and every other argument as the app gave it.
fn pass<P: Platform>(os: &LibOs<P>, n: usize, fd: i32, rest: [usize; 5]) -> SysResult {
    let s = sock_of(os, fd)?;
    s.call(os, n, [0, rest[0], rest[1], rest[2], rest[3], rest[4]])
}

/// The socket calls served with the host descriptor `h` alone (the app's `fd` given by number,
/// see `LibOs::fd_ref`), as [`pass`], [`sendto`] without an address and [`accept`] serve a host
/// socket: the same checks in the same order, the same host call. None for every other call
/// (they take the general way, which holds the open file). A socket with a [`SockName`] comes
/// by number too, marked (`FdRef::Host`'s third field): its getsockname, accept and accept4 take
/// the general way, which reads or passes on the name; its other calls stay here.
fn host_by_number<P: Platform>(os: &LibOs<P>, n: usize, h: i32, a: &[usize; 6]) -> Option<SysResult> {
    let h = h as usize;
    Some(match n {
        GETSOCKNAME | GETPEERNAME | SHUTDOWN | GETSOCKOPT | RECVFROM => {
            host_net(os, n, [h, a[1], a[2], a[3], a[4], a[5]])
        }
        SENDTO if a[4] == 0 => host_net(os, SENDTO, [h, a[1], a[2], a[3], 0, 0]),
        ACCEPT | ACCEPT4 => {
            let flags = if n == ACCEPT4 { a[3] as u32 } else { 0 };
            if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
                return Some(Err(EINVAL));
            }
            host_net(os, ACCEPT4, [h, a[1], a[2], (flags | SOCK_CLOEXEC) as usize, 0, 0])
                .and_then(|host| install(os, host as i32, flags))
        }
        _ => return None,
    })
}

/// Installs a TCP socket of the core's stack as an app descriptor (`flags`: SOCK_NONBLOCK,
/// SOCK_CLOEXEC).
#[cfg(feature = "netstack")]
fn install_tcp<P: Platform>(os: &LibOs<P>, sock: crate::netstack::tcpsock::SockRef, flags: u32) -> SysResult {
    let obj = crate::kobj::Obj::Tcp(crate::netstack::tcpsock::Socket::new(sock));
    let file = OpenFile::new(FileKind::Obj(obj), Vec::new(), O_RDWR | (flags & O_NONBLOCK));
    os.fds.lock().alloc(file, flags & SOCK_CLOEXEC != 0, 0).map(|v| v as usize)
}

/// Installs a new host socket as an app descriptor (`flags`: SOCK_NONBLOCK, SOCK_CLOEXEC);
/// closes it on the host if the table is full.
fn install<P: Platform>(os: &LibOs<P>, host: i32, flags: u32) -> SysResult {
    install_named(os, host, flags, None)
}

/// [`install`], with what is known of the socket's local address.
fn install_named<P: Platform>(os: &LibOs<P>, host: i32, flags: u32, local: Option<SockName>) -> SysResult {
    let file = OpenFile::new(FileKind::Host(HostFd(host)), Vec::new(), O_RDWR | (flags & O_NONBLOCK));
    if let Some(local) = local {
        file.set_sock_name(local);
    }
    os.fds.lock().alloc(file, flags & SOCK_CLOEXEC != 0, 0).map(|v| v as usize)
}

fn log_socket_denied<P: Platform>(os: &LibOs<P>, what: &[u8], rule: &[u8], e: Errno) -> Errno {
    os.debug_log(&[b"network: socket(", what, b") denied (", rule, b") -> ", crate::errno::name(e).as_bytes()]);
    e
}

fn socket<P: Platform>(os: &LibOs<P>, domain: u32, ty: u32, proto: u32) -> SysResult {
    let (kind, flags) = (ty & 0xf, ty & !0xf);
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(EINVAL);
    }
    match domain {
        1 if proto != 0 && proto != 1 => return Err(EPROTONOSUPPORT), // AF_UNIX has one protocol
        1 => {} // AF_UNIX: harmless until bound or connected, which are checked
        2 | 10 => match (kind, proto) {
            (SOCK_STREAM, 0 | IPPROTO_TCP) | (SOCK_DGRAM, 0 | IPPROTO_UDP) => {}
            (SOCK_RAW | SOCK_PACKET, _) => {
                return Err(log_socket_denied(os, b"SOCK_RAW", b"raw and packet sockets are never allowed", EPERM));
            }
            (SOCK_DGRAM, IPPROTO_ICMP | IPPROTO_ICMPV6) => {
                // ICMP "ping" sockets: refused as by Linux's default net.ipv4.ping_group_range.
                return Err(log_socket_denied(os, b"IPPROTO_ICMP", b"ping sockets are never allowed", EACCES));
            }
            _ => {
                return Err(log_socket_denied(os, b"protocol", b"only TCP and UDP over IP", EPROTONOSUPPORT));
            }
        },
        _ => {
            let mut b = [0u8; 20];
            let num = super::fmt_usize(domain as usize, &mut b);
            os.debug_log(&[
                b"network: socket(family ",
                num,
                b") denied (only AF_UNIX, AF_INET, AF_INET6) -> EAFNOSUPPORT",
            ]);
            return Err(EAFNOSUPPORT);
        }
    }
    #[cfg(feature = "netstack")]
    if crate::netstack::enabled() {
        let s = crate::netstack::tcpsock::socket(domain as usize, ty as usize, proto as usize)?;
        return install_tcp(os, s, flags);
    }
    let args = [domain as usize, (ty | SOCK_CLOEXEC) as usize, proto as usize, 0, 0, 0];
    let host = host_net(os, SOCKET, args)?;
    install(os, host as i32, flags)
}

fn socketpair<P: Platform>(os: &LibOs<P>, domain: u32, ty: u32, proto: u32, sv: usize) -> SysResult {
    let flags = ty & !0xf;
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(EINVAL);
    }
    match domain {
        1 if proto != 0 && proto != 1 => return Err(EPROTONOSUPPORT),
        1 => {}
        2 | 10 => return Err(EOPNOTSUPP), // as Linux: IP sockets do not come in pairs
        _ => return Err(EAFNOSUPPORT),
    }
    #[cfg(feature = "netstack")]
    if crate::netstack::enabled() {
        return Err(EAFNOSUPPORT); // the core's stack has no Unix sockets
    }
    user::slice_mut_in(&os.mem, sv, 8)?;
    let mut pair = [0i32; 2];
    let p = pair.as_mut_ptr() as usize;
    host_net(os, SOCKETPAIR, [domain as usize, (ty | SOCK_CLOEXEC) as usize, proto as usize, p, 0, 0])?;
    let a = match install(os, pair[0], flags) {
        Ok(a) => a,
        Err(e) => {
            drop(HostFd(pair[1]));
            return Err(e);
        }
    };
    let b = match install(os, pair[1], flags) {
        Ok(b) => b,
        Err(e) => {
            let _ = os.fds.lock().close(a as i32);
            return Err(e);
        }
    };
    user::write_in(&os.mem, sv, &[a as i32, b as i32])?;
    Ok(0)
}

/// Copies a socket address of `len` bytes from the app (EINVAL past sockaddr_storage).
fn copy_addr(mem: &crate::memlock::MemLock, ptr: usize, len: usize) -> Result<Vec<u8>, Errno> {
    if len > SOCKADDR_MAX {
        return Err(EINVAL);
    }
    Ok(user::slice_in(mem, ptr, len)?.to_vec())
}

/// What the app tries to do with an address, for the rule, the log line and the learn record.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Bind,
    Listen,
    Connect,
    Send(&'static [u8]),
}

impl Op {
    fn name(self) -> &'static [u8] {
        match self {
            Op::Bind => b"bind",
            Op::Listen => b"listen",
            Op::Connect => b"connect",
            Op::Send(n) => n,
        }
    }

    fn rule(self) -> &'static [u8] {
        match self {
            Op::Bind | Op::Listen => b"listen",
            _ => b"connect",
        }
    }
}

/// Decides whether `op` may use the address `sa` (copied from the app): Ok, or the errno for
/// the app after logging the denial and recording it for `--learn`. A destination (connect,
/// sends) at the unspecified address is where Linux sends it, this host's loopback: it is
/// checked as, and rewritten in `sa` to, the loopback address (`net::loopback_of`), so the
/// host is handed exactly the destination the rule allowed.
fn check<P: Platform>(os: &LibOs<P>, op: Op, sa: &mut Vec<u8>) -> Result<(), Errno> {
    let private_net = || os.platform.passthrough().is_some_and(|p| p.private_net());
    match decode(sa, op != Op::Connect)? {
        Target::Disconnect => Ok(()),
        Target::Unix if unix_abstract(sa) && private_net() => Ok(()),
        // A path name: its abstract stand-in in the sandbox's own namespace (`unixpath`); bind
        // makes its socket file first (`bind`).
        Target::Unix if private_net() && op != Op::Bind => {
            *sa = super::unixpath::peer_name(os, sa)?;
            Ok(())
        }
        Target::Unix => {
            let why: &[u8] = if unix_abstract(sa) {
                b" to an abstract unix-domain name denied (the sandbox has no network namespace of its own) -> EACCES"
            } else {
                b" to a unix-domain path denied (the sandbox has no network namespace of its own) -> EACCES"
            };
            os.debug_log(&[b"network: ", op.name(), why]);
            Err(EACCES)
        }
        Target::Ip(e) => match crate::net::loopback_of(&e) {
            Some(lo) if matches!(op, Op::Connect | Op::Send(_)) => {
                check_destination(os, op, &e, &lo)?;
                crate::net::loopback_destination(sa);
                Ok(())
            }
            _ => check_ip(os, op, &e),
        },
    }
}

/// The check of a destination `e` at the unspecified address, which reaches `lo`, this host's
/// loopback: allowed when a rule covers `lo`. A refusal is logged and recorded for `--learn`
/// with the address the app gave (`learn` names what it reaches).
fn check_destination<P: Platform>(os: &LibOs<P>, op: Op, e: &Endpoint, lo: &Endpoint) -> Result<(), Errno> {
    if os.net.may_connect(lo) {
        return Ok(());
    }
    let (text, reaches) = (e.text(), lo.text());
    os.debug_log(&[
        b"network: ",
        op.name(),
        b" ",
        &text,
        b" (this host: ",
        &reaches,
        b") denied: no [policy.network] connect rule allows ",
        &reaches,
        b" -> EACCES",
    ]);
    os.learn(op.rule(), &text);
    Err(EACCES)
}

/// Whether Unix address `sa` is an abstract name (`sun_path[0] == 0`) or only the family
/// (autobind, which picks an abstract name): names of the network namespace, not of a file.
fn unix_abstract(sa: &[u8]) -> bool {
    sa.len() == 2 || sa.get(2) == Some(&0)
}

fn check_ip<P: Platform>(os: &LibOs<P>, op: Op, e: &Endpoint) -> Result<(), Errno> {
    let net = &os.net;
    let ok = match op {
        Op::Bind | Op::Listen => net.may_bind(e),
        _ => net.may_connect(e),
    };
    if ok {
        return Ok(());
    }
    let text = e.text();
    os.debug_log(&[
        b"network: ",
        op.name(),
        b" ",
        &text,
        b" denied: no [policy.network] ",
        op.rule(),
        b" rule allows it -> EACCES",
    ]);
    os.learn(op.rule(), &text);
    Err(EACCES)
}

fn bind<P: Platform>(os: &LibOs<P>, fd: i32, addr: usize, len: usize) -> SysResult {
    let s = sock_of(os, fd)?;
    let mut sa = copy_addr(&os.mem, addr, len)?;
    let path_name = matches!(decode(&sa, true), Ok(Target::Unix)) && !unix_abstract(&sa);
    let mut made = None;
    if path_name && os.platform.passthrough().is_some_and(|p| p.private_net()) {
        // The socket file first, then its abstract stand-in (`unixpath`).
        let (stand_in, path) = super::unixpath::bind_name(os, &sa)?;
        (sa, made) = (stand_in, Some(path));
    } else {
        check(os, Op::Bind, &mut sa)?;
    }
    let r = s.call(os, BIND, [0, sa.as_ptr() as usize, sa.len(), 0, 0, 0]);
    if let (Err(_), Some(path)) = (&r, &made) {
        super::unixpath::unbind(os, path);
    }
    let r = r?;
    if let (FileKind::Host(_), Some(mut bound)) = (&s.0.kind, fixed_name(&sa)) {
        if tcp_stream(os, &s) {
            if let Some(len_first) = len_stored_first(os, &s, bound.len) {
                bound.len_first = len_first;
                s.0.set_sock_name(SockName::Bound(bound));
            }
        }
    }
    Ok(r)
}

/// The name getsockname gives a TCP socket that `bind` put at address `sa` (as the app gave it,
/// the bind having succeeded), if that name can never change, nor differ for the connections
/// it accepts: an IPv4 or IPv6 address that is not the wildcard, at a port that is not 0.
///
/// Linux (`inet_bind`, `inet6_bind`) then sets SOCK_BINDADDR_LOCK and SOCK_BINDPORT_LOCK: no
/// later disconnect (`connect(AF_UNSPEC)`, `shutdown` of a listener, a reset) resets the
/// address or gives up the port, a socket is bound at most once, and an accepted socket is a
/// copy of its listener with those locks (`sk_clone_lock`) whose local address is the one the
/// connection was made to, which the listener's lookup matched exactly: the listener's.
/// Left to the host: IPv4-mapped IPv6 addresses (`::ffff:0.0.0.0` binds the IPv4 wildcard),
/// multicast and broadcast addresses (`inet_bind` keeps no source address for them, so a
/// connect picks one), and link-local IPv6 addresses (their scope id is the interface the
/// connection came in on). Not covered: a host that steers connections with a BPF `sk_lookup`
/// program or TPROXY rule to a listener bound to another address (neither can be set up from
/// inside the sandbox: both need CAP_NET_ADMIN in the host's network namespace).
fn fixed_name(sa: &[u8]) -> Option<FixedName> {
    const AF_INET: u16 = 2;
    const AF_INET6: u16 = 10;
    let family = u16::from_le_bytes([*sa.first()?, *sa.get(1)?]);
    let port = [*sa.get(2)?, *sa.get(3)?];
    if port == [0, 0] {
        return None;
    }
    let mut bytes = [0u8; 28];
    bytes[0..2].copy_from_slice(&family.to_le_bytes());
    bytes[2..4].copy_from_slice(&port);
    match family {
        AF_INET if sa.len() >= 16 => {
            let ip = &sa[4..8];
            let (any, bcast, mcast) = (ip == [0; 4], ip == [255; 4], ip[0] & 0xf0 == 0xe0);
            if any || bcast || mcast {
                return None;
            }
            bytes[4..8].copy_from_slice(ip);
            Some(FixedName { len: 16, bytes, len_first: false })
        }
        AF_INET6 if sa.len() >= 24 => {
            let ip = &sa[8..24];
            let any = ip == [0; 16];
            let mapped = ip[..10] == [0; 10] && ip[10..12] == [0xff, 0xff];
            let (link_local, mcast) = (ip[0] == 0xfe && ip[1] & 0xc0 == 0x80, ip[0] == 0xff);
            if any || mapped || link_local || mcast {
                return None;
            }
            bytes[8..24].copy_from_slice(ip); // flow info and scope id 0, as getsockname gives them
            Some(FixedName { len: 28, bytes, len_first: false })
        }
        _ => None,
    }
}

/// In which order the host's getsockname stores the length and copies the name (see
/// [`FixedName::len_first`]), seen on socket `s` whose name is `klen` bytes long: asked with a
/// null buffer and room for 1 byte, which faults (EFAULT) after the length is stored on Linux
/// 6.13 and later, before it is stored on older kernels. None if the host answers otherwise.
fn len_stored_first<P: Platform>(os: &LibOs<P>, s: &Sock, klen: u8) -> Option<bool> {
    let mut len: u32 = 1;
    let lp = &mut len as *mut u32 as usize;
    match s.call(os, GETSOCKNAME, [0, 0, lp, 0, 0, 0]) {
        Err(EFAULT) if len == u32::from(klen) => Some(true),
        Err(EFAULT) if len == 1 => Some(false),
        _ => None,
    }
}

/// Whether a host socket is a TCP stream socket (SO_TYPE and SO_PROTOCOL, asked of the host).
fn tcp_stream<P: Platform>(os: &LibOs<P>, s: &Sock) -> bool {
    let opt = |o: usize| -> Option<i32> {
        let (mut v, mut len) = (0i32, 4u32);
        let (vp, lp) = (&mut v as *mut i32 as usize, &mut len as *mut u32 as usize);
        s.call(os, GETSOCKOPT, [0, SOL_SOCKET as usize, o, vp, lp, 0]).ok().map(|_| v)
    };
    opt(SO_TYPE) == Some(SOCK_STREAM as i32) && opt(SO_PROTOCOL) == Some(IPPROTO_TCP as i32)
}

/// getsockname: answered from the socket's [`SockName::Fixed`] as the host's
/// `move_addr_to_user` does (the name cut to the room given, the full length stored, in the
/// host kernel's order; EINVAL for a negative room, EFAULT for an unwritable buffer or
/// length), otherwise by the host.
fn getsockname<P: Platform>(os: &LibOs<P>, fd: i32, addr: usize, len: usize) -> SysResult {
    let s = sock_of(os, fd)?;
    let known = match (&s.0.kind, *s.0.sock_name.lock()) {
        (FileKind::Host(_), Some(SockName::Fixed(fixed))) => fixed,
        _ => return s.call(os, GETSOCKNAME, [0, addr, len, 0, 0, 0]),
    };
    write_fixed_name(os, &known, addr, len)
}

/// getsockname's answer from a socket's fixed name (`SockName::Fixed`) into the app's `addr`
/// and `len`, in the order the host kernel writes them (`FixedName::len_first`).
fn write_fixed_name<P: Platform>(os: &LibOs<P>, known: &FixedName, addr: usize, len: usize) -> SysResult {
    let room = user::read_in::<i32>(&os.mem, len)?.min(i32::from(known.len));
    if known.len_first && room >= 0 {
        user::write_in(&os.mem, len, &u32::from(known.len))?;
    }
    if room < 0 {
        return Err(EINVAL);
    }
    if room > 0 {
        user::slice_mut_in(&os.mem, addr, room as usize)?.copy_from_slice(&known.bytes[..room as usize]);
    }
    if !known.len_first {
        user::write_in(&os.mem, len, &u32::from(known.len))?;
    }
    Ok(0)
}

/// listen on an IP socket that was never bound binds the wildcard address at an ephemeral
/// port: that needs the rule `0.0.0.0:0` (or `[::]:0`).
fn listen<P: Platform>(os: &LibOs<P>, fd: i32, backlog: usize) -> SysResult {
    let s = sock_of(os, fd)?;
    let mut name = [0u8; SOCKADDR_MAX];
    let mut len: u32 = SOCKADDR_MAX as u32;
    let (np, lp) = (name.as_mut_ptr() as usize, &mut len as *mut u32 as usize);
    s.call(os, GETSOCKNAME, [0, np, lp, 0, 0, 0])?;
    let got = &name[..(len as usize).min(SOCKADDR_MAX)];
    if let Ok(Target::Ip(e)) = decode(got, false) {
        if e.port == 0 {
            check_ip(os, Op::Listen, &e)?;
        }
    }
    s.call(os, LISTEN, [0, backlog, 0, 0, 0, 0])
}

fn accept<P: Platform>(os: &LibOs<P>, fd: i32, addr: usize, len: usize, flags: u32) -> SysResult {
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(EINVAL);
    }
    let s = sock_of(os, fd)?;
    #[cfg(feature = "netstack")]
    if let FileKind::Obj(crate::kobj::Obj::Tcp(t)) = &s.0.kind {
        let nonblock = s.0.flags() & O_NONBLOCK != 0;
        let conn = crate::netstack::tcpsock::accept(&os.platform, &t.sock, addr, len, nonblock)?;
        return install_tcp(os, conn, flags);
    }
    let host = s.call(os, ACCEPT4, [0, addr, len, (flags | SOCK_CLOEXEC) as usize, 0, 0])?;
    let local = match *s.0.sock_name.lock() {
        Some(SockName::Bound(bound)) => Some(SockName::Fixed(bound)),
        _ => None,
    };
    install_named(os, host as i32, flags, local)
}

fn connect<P: Platform>(os: &LibOs<P>, fd: i32, addr: usize, len: usize) -> SysResult {
    let s = sock_of(os, fd)?;
    let mut sa = copy_addr(&os.mem, addr, len)?;
    check(os, Op::Connect, &mut sa)?;
    s.call(os, CONNECT, [0, sa.as_ptr() as usize, sa.len(), 0, 0, 0])
}

fn sendto<P: Platform>(os: &LibOs<P>, fd: i32, a: &[usize; 6]) -> SysResult {
    let s = sock_of(os, fd)?;
    if a[4] == 0 {
        return s.call(os, SENDTO, [0, a[1], a[2], a[3], 0, 0]);
    }
    let mut sa = copy_addr(&os.mem, a[4], a[5])?;
    if !sa.is_empty() {
        check(os, Op::Send(b"sendto"), &mut sa)?;
    }
    // An empty address is passed as one (the kernel reads nothing from it).
    let empty = [0u8; 0];
    let p = if sa.is_empty() { empty.as_ptr() as usize } else { sa.as_ptr() as usize };
    s.call(os, SENDTO, [0, a[1], a[2], a[3], p, sa.len()])
}

/// A `struct msghdr` copied from the app, with its destination (if any) checked and copied
/// into runtime memory, so the host reads only what was checked.
struct Msg {
    hdr: [u8; MSGHDR],
    #[allow(dead_code)]
    name: Vec<u8>,
    #[allow(dead_code)]
    control: Option<cmsg::Outgoing>,
}

fn usize_at(b: &[u8], at: usize) -> usize {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    usize::from_le_bytes(w)
}

const SOL_SOCKET: i32 = 1;

fn msg_in<P: Platform>(os: &LibOs<P>, ptr: usize, op: Op) -> Result<Msg, Errno> {
    let mut hdr = [0u8; MSGHDR];
    hdr.copy_from_slice(user::slice_in(&os.mem, ptr, MSGHDR)?);
    let (name_ptr, name_len) = (usize_at(&hdr, 0), u32::from_le_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]) as usize);
    if name_len > i32::MAX as usize {
        return Err(EINVAL);
    }
    let mut name = Vec::new();
    if name_ptr != 0 && name_len != 0 {
        // As the kernel does for msghdr: a longer name is cut to sockaddr_storage.
        name = copy_addr(&os.mem, name_ptr, name_len.min(SOCKADDR_MAX))?;
        check(os, op, &mut name)?;
        hdr[8..12].copy_from_slice(&(name.len() as u32).to_le_bytes());
        hdr[0..8].copy_from_slice(&(name.as_ptr() as usize).to_le_bytes());
    } else {
        // The kernel ignores a name of length 0; drop a dangling pointer with it.
        hdr[0..8].copy_from_slice(&0usize.to_le_bytes());
        hdr[8..12].copy_from_slice(&0u32.to_le_bytes());
    }
    let (cptr, clen) = (usize_at(&hdr, 32), usize_at(&hdr, 40));
    let mut control = None;
    if cptr != 0 && clen != 0 {
        let c = cmsg::outgoing(os, cptr, clen)?;
        hdr[32..40].copy_from_slice(&(c.buf.as_ptr() as usize).to_le_bytes());
        control = Some(c);
    }
    Ok(Msg { hdr, name, control })
}

/// recvmsg: the host fills a runtime copy of the control buffer, whose SCM_RIGHTS
/// descriptors are installed in the app's table before it is copied out; the name and the
/// data go straight to the app's buffers.
fn recvmsg<P: Platform>(os: &LibOs<P>, fd: i32, msg: usize, flags: usize) -> SysResult {
    let s = sock_of(os, fd)?;
    let mut hdr = [0u8; MSGHDR];
    hdr.copy_from_slice(user::slice_in(&os.mem, msg, MSGHDR)?);
    let (cptr, clen) = (usize_at(&hdr, 32), usize_at(&hdr, 40));
    let clen = if cptr == 0 { 0 } else { clen.min(cmsg::CONTROL_MAX) };
    user::slice_mut_in(&os.mem, cptr, clen)?;
    let mut control = alloc::vec![0u8; clen];
    hdr[32..40].copy_from_slice(&(if clen == 0 { 0 } else { control.as_mut_ptr() as usize }).to_le_bytes());
    hdr[40..48].copy_from_slice(&clen.to_le_bytes());
    let hp = hdr.as_mut_ptr() as usize;
    let room = u32::from_le_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]);
    let r = s.call(os, RECVMSG, [0, hp, flags | MSG_CMSG_CLOEXEC, 0, 0, 0])?;
    let name_ptr = usize_at(&hdr, 0);
    if name_ptr != 0 && room > 2 {
        let got = u32::from_le_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]) as usize;
        if let Some(full) = name_back_len(os, name_ptr, room as usize, got) {
            hdr[8..12].copy_from_slice(&(full as u32).to_le_bytes());
        }
    }
    let got = usize_at(&hdr, 40).min(clen);
    let mut mflags = i32::from_le_bytes([hdr[48], hdr[49], hdr[50], hdr[51]]);
    if cmsg::incoming(os, &mut control[..got], flags & MSG_CMSG_CLOEXEC != 0) {
        mflags |= MSG_CTRUNC;
    }
    if flags & MSG_CMSG_CLOEXEC == 0 {
        // Linux echoes the flag in msg_flags; the app did not ask for it.
        mflags &= !(MSG_CMSG_CLOEXEC as i32);
    }
    user::slice_mut_in(&os.mem, cptr, got)?.copy_from_slice(&control[..got]);
    user::write_in(&os.mem, msg + 8, &u32::from_le_bytes([hdr[8], hdr[9], hdr[10], hdr[11]]))?;
    user::write_in(&os.mem, msg + 40, &got)?;
    user::write_in(&os.mem, msg + 48, &mflags)?;
    Ok(r)
}

/// recvmmsg: as the host makes it, then each message's name as [`name_back`] gives it back.
fn recvmmsg<P: Platform>(os: &LibOs<P>, fd: i32, a: &[usize; 6]) -> SysResult {
    let (vec, vlen) = (a[1], a[2].min(MMSG_MAX));
    let room = |i: usize| -> Option<(usize, u32)> {
        let p = user::read_in::<usize>(&os.mem, vec + i * MMSGHDR).ok()?;
        let room = user::read_in::<u32>(&os.mem, vec + i * MMSGHDR + 8).ok()?;
        (p != 0 && room > 2).then_some((p, room))
    };
    let rooms: Vec<Option<(usize, u32)>> = (0..vlen).map(room).collect();
    let r = pass(os, RECVMMSG, fd, [a[1], a[2], a[3] | MSG_CMSG_CLOEXEC, a[4], 0])?;
    for (i, slot) in rooms.iter().enumerate().take(r) {
        if let Some((p, room)) = *slot {
            name_back(os, p, vec + i * MMSGHDR + 8, room as usize);
        }
    }
    Ok(r)
}

fn sendmsg<P: Platform>(os: &LibOs<P>, fd: i32, msg: usize, flags: usize) -> SysResult {
    let s = sock_of(os, fd)?;
    let m = msg_in(os, msg, Op::Send(b"sendmsg"))?;
    s.call(os, SENDMSG, [0, m.hdr.as_ptr() as usize, flags, 0, 0, 0])
}

/// sendmmsg: every destination is checked first; the call sends the messages before the first
/// denied one (EACCES if that is the first), as Linux stops at the first failing message.
fn sendmmsg<P: Platform>(os: &LibOs<P>, fd: i32, vec: usize, vlen: usize, flags: usize) -> SysResult {
    let s = sock_of(os, fd)?;
    let vlen = vlen.min(MMSG_MAX);
    let mut msgs: Vec<Msg> = Vec::with_capacity(vlen);
    for i in 0..vlen {
        match msg_in(os, vec + i * MMSGHDR, Op::Send(b"sendmmsg")) {
            Ok(m) => msgs.push(m),
            Err(e) if i == 0 => return Err(e),
            Err(_) => break,
        }
    }
    let mut flat = alloc::vec![0u8; msgs.len() * MMSGHDR];
    for (i, m) in msgs.iter().enumerate() {
        flat[i * MMSGHDR..i * MMSGHDR + MSGHDR].copy_from_slice(&m.hdr);
    }
    let sent = s.call(os, SENDMMSG, [0, flat.as_mut_ptr() as usize, msgs.len(), flags, 0, 0])?;
    for i in 0..sent.min(msgs.len()) {
        let at = i * MMSGHDR + MSGHDR;
        let len = u32::from_le_bytes([flat[at], flat[at + 1], flat[at + 2], flat[at + 3]]);
        user::write_in(&os.mem, vec + at, &len)?;
    }
    Ok(sent)
}

const SOL_IP: usize = 0;
const SOL_IPV6: usize = 41;
const SO_BINDTODEVICE: usize = 25;
const SO_MARK: usize = 36;
const SO_ATTACH_BPF: usize = 50;
const SO_ATTACH_REUSEPORT_EBPF: usize = 52;
const SO_PASSCRED: usize = 16;
const SO_DOMAIN: usize = 39;
const SO_TYPE: usize = 3;
const SO_PROTOCOL: usize = 38;
const SO_PASSPIDFD: usize = 76;
const IP_TRANSPARENT: usize = 19;
const IPV6_TRANSPARENT: usize = 75;

/// setsockopt, except the options that reach past the app's own sockets: device binding,
/// packet marks, transparent proxying, eBPF programs given by descriptor (EPERM, as for an
/// unprivileged process), and credential passing on Unix sockets (EPERM, see below).
fn setsockopt<P: Platform>(os: &LibOs<P>, fd: i32, a: &[usize; 6]) -> SysResult {
    let (level, opt) = (a[1] as i32 as isize as usize, a[2] as i32 as isize as usize);
    let refused = match level {
        l if l == SOL_SOCKET as usize => {
            matches!(opt, SO_BINDTODEVICE | SO_MARK | SO_ATTACH_BPF | SO_ATTACH_REUSEPORT_EBPF)
        }
        SOL_IP => opt == IP_TRANSPARENT,
        SOL_IPV6 => opt == IPV6_TRANSPARENT,
        _ => false,
    };
    if refused {
        os.debug_log(&[b"network: setsockopt of a host-wide option denied -> EPERM"]);
        return Err(EPERM);
    }
    let enables = || a[4] >= 4 && user::read_in::<i32>(&os.mem, a[3]).is_ok_and(|v| v != 0);
    if level == SOL_SOCKET as usize && matches!(opt, SO_PASSCRED | SO_PASSPIDFD) && enables() && unix_socket(os, fd)? {
        // On a Unix socket without a name these make the next send bind an abstract name,
        // which any process of the host could then reach.
        os.debug_log(&[b"network: SO_PASSCRED on a unix socket denied (it would bind an abstract name) -> EPERM"]);
        return Err(EPERM);
    }
    pass(os, SETSOCKOPT, fd, [a[1], a[2], a[3], a[4], 0])
}

/// Whether app descriptor `fd` is a Unix-domain socket (asked of the host: SO_DOMAIN).
pub(crate) fn unix_socket<P: Platform>(os: &LibOs<P>, fd: i32) -> Result<bool, Errno> {
    let s = sock_of(os, fd)?;
    let (mut domain, mut len) = (0i32, 4u32);
    let (dp, lp) = (&mut domain as *mut i32 as usize, &mut len as *mut u32 as usize);
    s.call(os, GETSOCKOPT, [0, SOL_SOCKET as usize, SO_DOMAIN, dp, lp, 0])?;
    Ok(domain == 1)
}

/// A socket call on the host ([`crate::platform::Platform::net_call`]); a platform without
/// host sockets has no host network (EAFNOSUPPORT).
fn host_net<P: Platform>(os: &LibOs<P>, n: usize, a: [usize; 6]) -> SysResult {
    os.platform.net_call(n, a)
}

#[cfg(test)]
mod tests {
    use super::fixed_name;

    fn v4(ip: [u8; 4], port: u16) -> [u8; 16] {
        let mut sa = [0xee; 16]; // sin_zero as the app may leave it
        sa[0..2].copy_from_slice(&2u16.to_le_bytes());
        sa[2..4].copy_from_slice(&port.to_be_bytes());
        sa[4..8].copy_from_slice(&ip);
        sa
    }

    fn v6(ip: [u8; 16], port: u16, scope: u32) -> [u8; 28] {
        let mut sa = [0; 28];
        sa[0..2].copy_from_slice(&10u16.to_le_bytes());
        sa[2..4].copy_from_slice(&port.to_be_bytes());
        sa[4..8].copy_from_slice(&7u32.to_ne_bytes()); // flow info: getsockname gives 0
        sa[8..24].copy_from_slice(&ip);
        sa[24..28].copy_from_slice(&scope.to_ne_bytes());
        sa
    }

    #[test]
    fn a_specific_address_and_port_is_a_fixed_name_as_getsockname_gives_it() {
        let n = fixed_name(&v4([127, 0, 0, 1], 8080)).unwrap();
        assert_eq!(n.len, 16);
        assert_eq!(&n.bytes[..16], &[2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        let mut one = [0u8; 16];
        one[15] = 1;
        let n = fixed_name(&v6(one, 8080, 0)).unwrap();
        assert_eq!(n.len, 28);
        assert_eq!(&n.bytes[..8], &[10, 0, 0x1f, 0x90, 0, 0, 0, 0]);
        assert_eq!(&n.bytes[8..24], &one);
        assert_eq!(&n.bytes[24..28], &[0; 4]);
    }

    #[test]
    fn names_that_can_change_or_differ_per_connection_are_left_to_the_host() {
        assert!(fixed_name(&v4([0; 4], 8080)).is_none(), "wildcard");
        assert!(fixed_name(&v4([127, 0, 0, 1], 0)).is_none(), "port 0");
        assert!(fixed_name(&v4([224, 0, 0, 1], 80)).is_none(), "multicast");
        assert!(fixed_name(&v4([255; 4], 80)).is_none(), "broadcast");
        assert!(fixed_name(&v4([127, 0, 0, 1], 80)[..15]).is_none(), "short");
        assert!(fixed_name(&v6([0; 16], 80, 0)).is_none(), "IPv6 wildcard");
        let mut mapped = [0u8; 16];
        mapped[10..12].copy_from_slice(&[0xff, 0xff]);
        assert!(fixed_name(&v6(mapped, 80, 0)).is_none(), "::ffff:0.0.0.0");
        mapped[12..].copy_from_slice(&[127, 0, 0, 1]);
        assert!(fixed_name(&v6(mapped, 80, 0)).is_none(), "::ffff:127.0.0.1");
        let mut ll = [0u8; 16];
        ll[0..2].copy_from_slice(&[0xfe, 0x80]);
        ll[15] = 1;
        assert!(fixed_name(&v6(ll, 80, 2)).is_none(), "link-local");
        let mut mc = [0u8; 16];
        mc[0] = 0xff;
        assert!(fixed_name(&v6(mc, 80, 0)).is_none(), "IPv6 multicast");
        assert!(fixed_name(&[1, 0, b'/', b'x']).is_none(), "AF_UNIX");
    }
}
