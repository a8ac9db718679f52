//! Which Unix sockets may use abstract names: those of the sandbox's own network namespace
//! (docs/security.md, "Abstract Unix names"). The supervisor checks bind, listen and connect
//! itself (broker.rs); sends to an abstract name go through the gate, so the sandbox checks
//! them here, for hosts whose Landlock does not scope abstract sockets (ABI < 6).
use core::sync::atomic::{AtomicU64, Ordering};

use crate::sys::{self, check};

const AF_UNIX: usize = 1;
const SOL_SOCKET: usize = 1;
const SO_NETNS_COOKIE: usize = 71;

/// The network-namespace cookie of the sandbox's own sockets (0 until first asked).
static OWN_COOKIE: AtomicU64 = AtomicU64::new(0);

/// Whether the sandbox's network namespace is lazy (supervisor.rs): the app's Unix sockets are
/// of the host's namespace until their first abstract name, when [`into_sandbox_namespace`]
/// replaces them by sockets the supervisor's net helper makes (`OP_UNIX_SOCKET`; the helper
/// makes the namespace on the first one).
pub static LAZY: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// A Unix socket of the sandbox's namespace where it is lazy, from the supervisor's net
/// helper (type with flags, protocol). Err: the helper could not make it (the caller makes
/// one of the host's namespace instead, whose names are refused).
pub fn lazy_socket(ty: usize, proto: usize) -> Result<i32, litebox_libos::errno::Errno> {
    use crate::broker::{request, OP_UNIX_SOCKET};
    let (_, fd) = request(OP_UNIX_SOCKET, [ty as u64, proto as u64, 0], &[], None)?;
    if fd < 0 {
        return Err(litebox_libos::errno::EIO);
    }
    if OWN_COOKIE.load(Ordering::Relaxed) == 0 {
        if let Some(c) = cookie(fd) {
            OWN_COOKIE.store(c, Ordering::Relaxed);
        }
    }
    Ok(fd)
}

/// Whether Unix address `sa` is an abstract name (`sun_path[0] == 0`) or only the family.
pub fn abstract_unix(sa: &[u8]) -> bool {
    sa.len() >= 2 && u16::from_le_bytes([sa[0], sa[1]]) == AF_UNIX as u16 && (sa.len() == 2 || sa[2] == 0)
}

/// The network-namespace cookie of socket `fd` (SO_NETNS_COOKIE, Linux 5.14).
fn cookie(fd: i32) -> Option<u64> {
    let (mut v, mut len) = (0u64, 8u32);
    let (vp, lp) = (&mut v as *mut u64 as usize, &mut len as *mut u32 as usize);
    check(sys::syscall6(sys::GETSOCKOPT, fd as usize, SOL_SOCKET, SO_NETNS_COOKIE, vp, lp, 0)).ok()?;
    Some(v)
}

/// The network-namespace cookie of the host's namespace (that of the broker's socket, made
/// before the sandbox started), 0 until first asked.
static HOST_COOKIE: AtomicU64 = AtomicU64::new(0);

fn host_cookie() -> Option<u64> {
    let c = HOST_COOKIE.load(Ordering::Relaxed);
    if c != 0 {
        return Some(c);
    }
    let c = cookie(crate::broker::client())?;
    HOST_COOKIE.store(c, Ordering::Relaxed);
    Some(c)
}

/// Where the namespace is lazy: before Unix socket `fd` is first given or sent to an abstract
/// name, a socket of the host's namespace that has no name and no peer yet is replaced, under
/// the same descriptor number, by a socket of the sandbox's namespace of the same type from
/// the supervisor's net helper (which makes the namespace on the first such request), with
/// `O_NONBLOCK` and the options below carried over. Ok: `fd` is not of the
/// host's namespace (any more). Err: it stays the host's (named or connected already, or the
/// namespace cannot be made), and its names are refused as before.
pub fn into_sandbox_namespace(fd: i32) -> Result<(), litebox_libos::errno::Errno> {
    use litebox_libos::errno::{EACCES, ENOTCONN};
    const GETSOCKNAME: usize = 51;
    const GETPEERNAME: usize = 52;
    const SETSOCKOPT: usize = 54;
    const DUP3: usize = 292;
    const O_CLOEXEC: usize = 0o2000000;
    const F_GETFL: usize = 3;
    const O_NONBLOCK: usize = 0o4000;
    const SOCK_NONBLOCK: usize = 0o4000;
    const SO_TYPE: usize = 3;
    if cookie(fd).is_none_or(|c| Some(c) != host_cookie()) {
        return Ok(());
    }
    // No name (only the family) and no peer: nothing of its state but options to carry over.
    let mut sa = [0u8; 112];
    let mut len = sa.len() as u32;
    let (sp, lp) = (sa.as_mut_ptr() as usize, &mut len as *mut u32 as usize);
    check(sys::syscall3(GETSOCKNAME, fd as usize, sp, lp))?;
    if len > 2 {
        return Err(EACCES);
    }
    let mut peer = [0u8; 112];
    let mut plen = peer.len() as u32;
    let (pp, plp) = (peer.as_mut_ptr() as usize, &mut plen as *mut u32 as usize);
    if check(sys::syscall3(GETPEERNAME, fd as usize, pp, plp)) != Err(ENOTCONN) {
        return Err(EACCES);
    }
    let opt = |s: i32, name: usize, buf: &mut [u8; 16]| -> Option<u32> {
        let mut l = 16u32;
        let (vp, lp) = (buf.as_mut_ptr() as usize, &mut l as *mut u32 as usize);
        check(sys::syscall6(sys::GETSOCKOPT, s as usize, SOL_SOCKET, name, vp, lp, 0)).ok().map(|_| l)
    };
    let mut t = [0u8; 16];
    opt(fd, SO_TYPE, &mut t).ok_or(EACCES)?;
    let ty = u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize;
    let nonblock = check(sys::syscall3(sys::FCNTL, fd as usize, F_GETFL, 0)).is_ok_and(|f| f & O_NONBLOCK != 0);
    let new = lazy_socket(ty | if nonblock { SOCK_NONBLOCK } else { 0 }, 0)?;
    // The options an app sets before it names a socket: credentials passing, buffer sizes (the
    // kernel doubles what is set: half of what it reports), timeouts, the peek offset.
    const SO_SNDBUF: usize = 7;
    const SO_RCVBUF: usize = 8;
    const SO_PASSCRED: usize = 16;
    const SO_RCVTIMEO: usize = 20;
    const SO_SNDTIMEO: usize = 21;
    const SO_PASSSEC: usize = 34;
    const SO_PEEK_OFF: usize = 42;
    for name in [SO_PASSCRED, SO_PASSSEC, SO_RCVTIMEO, SO_SNDTIMEO, SO_PEEK_OFF, SO_SNDBUF, SO_RCVBUF] {
        let mut v = [0u8; 16];
        if let Some(l) = opt(fd, name, &mut v) {
            if matches!(name, SO_SNDBUF | SO_RCVBUF) {
                let half = u32::from_le_bytes([v[0], v[1], v[2], v[3]]) / 2;
                v[..4].copy_from_slice(&half.to_le_bytes());
            }
            sys::syscall6(SETSOCKOPT, new as usize, SOL_SOCKET, name, v.as_ptr() as usize, l as usize, 0);
        }
    }
    // dup3 replaces the number's socket in one step: no other thread can take the number in
    // between, and a call another thread has in flight on the old socket ends on it. The
    // runtime never calls the host's execve: close-on-exec, as every host descriptor of the
    // runtime's own, changes nothing for the app.
    let r = check(sys::syscall3(DUP3, new as usize, fd as usize, O_CLOEXEC));
    sys::syscall3(sys::CLOSE, new as usize, 0, 0);
    r.map(|_| ())
}

/// Whether socket `fd` belongs to the namespace the sandbox makes its sockets in (compared
/// with a fresh socket's, once, after start-up: every process of the app shares it). False
/// when the host cannot say (kernels before 5.14): the send is then refused.
pub fn sandbox_socket(fd: i32) -> bool {
    let mut own = OWN_COOKIE.load(Ordering::Relaxed);
    if own == 0 {
        const SOCK_STREAM_CLOEXEC: usize = 1 | 0o2000000;
        // Lazy: the gate's socket would be of the host's namespace; the helper's is the
        // sandbox's (and makes the namespace if no socket of it was asked for yet: not for a
        // socket of the host's, which is refused without it).
        if LAZY.load(Ordering::Relaxed) && cookie(fd).is_none_or(|c| Some(c) == host_cookie()) {
            return false;
        }
        let probe = if LAZY.load(Ordering::Relaxed) {
            lazy_socket(SOCK_STREAM_CLOEXEC, 0).map(|fd| fd as usize)
        } else {
            check(sys::syscall3(sys::SOCKET, AF_UNIX, SOCK_STREAM_CLOEXEC, 0))
        };
        let Ok(probe) = probe else {
            return false;
        };
        own = cookie(probe as i32).unwrap_or(0);
        sys::syscall3(sys::CLOSE, probe, 0, 0);
        if own == 0 {
            return false;
        }
        OWN_COOKIE.store(own, Ordering::Relaxed);
    }
    cookie(fd) == Some(own)
}
