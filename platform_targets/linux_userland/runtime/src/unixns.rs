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
/// made by the supervisor's net helper (`OP_UNIX_SOCKET`), which makes the namespace on the
/// first one; the gate's own `socket` makes sockets of the host's namespace.
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

/// Whether socket `fd` belongs to the namespace the sandbox makes its sockets in (compared
/// with a fresh socket's, once, after start-up: every process of the app shares it). False
/// when the host cannot say (kernels before 5.14): the send is then refused.
pub fn sandbox_socket(fd: i32) -> bool {
    let mut own = OWN_COOKIE.load(Ordering::Relaxed);
    if own == 0 {
        const SOCK_STREAM_CLOEXEC: usize = 1 | 0o2000000;
        // Lazy: the gate's socket would be of the host's namespace; the helper's is the
        // sandbox's (and makes the namespace if no socket of it was asked for yet).
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
