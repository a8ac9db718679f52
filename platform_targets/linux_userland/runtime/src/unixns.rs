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
        let Ok(probe) = check(sys::syscall3(sys::SOCKET, AF_UNIX, SOCK_STREAM_CLOEXEC, 0)) else {
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
