//! Landlock: the runtime's own file-system reach (and, where the kernel's ABI has them, TCP
//! ports, abstract unix sockets and signals), restricted before the app starts. This is the
//! layer that still holds when app code calls the gate directly with an `openat` of a host
//! path: the kernel answers `EACCES`.
//!
//! Granted (every other path on the host is refused):
//! - the writable layer's directory: read, write, create, remove, rename inside it;
//! - each policy mount: read (and for `rw` mounts write, create, remove, rename);
//! - the artifact file: read;
//! - /dev/null, /dev/zero, /dev/urandom, /dev/tty: read and write (ioctl for /dev/tty).
//!
//! Already open descriptors (stdio, the trace and learn files) are not affected. A kernel
//! without Landlock, or one that refuses a step, leaves the runtime running without this layer
//! ([`apply`] says which).
use litebox_image::Mount;

use crate::sys::{self, check};

const CREATE_RULESET: usize = 444;
const ADD_RULE: usize = 445;
const RESTRICT_SELF: usize = 446;
const CREATE_RULESET_VERSION: usize = 1;
const RULE_PATH_BENEATH: usize = 1;

const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
// Bit 4 REMOVE_DIR, 5 REMOVE_FILE, 7 MAKE_DIR, 8 MAKE_REG, 9 MAKE_SOCK, 10 MAKE_FIFO, 12 MAKE_SYM: granted
// only as part of "everything but" sets below.
const MAKE_CHAR: u64 = 1 << 6;
const MAKE_BLOCK: u64 = 1 << 11;
const REFER: u64 = 1 << 13;
const TRUNCATE: u64 = 1 << 14;
const IOCTL_DEV: u64 = 1 << 15;

const NET_BIND_TCP: u64 = 1;
const NET_CONNECT_TCP: u64 = 2;
const SCOPE_ABSTRACT_UNIX: u64 = 1;
const SCOPE_SIGNAL: u64 = 2;

/// File-system rights this ABI knows (all of them are handled, i.e. denied unless granted).
fn fs_rights(abi: i64) -> u64 {
    let mut r = (1 << 13) - 1;
    if abi >= 2 {
        r |= REFER;
    }
    if abi >= 3 {
        r |= TRUNCATE;
    }
    if abi >= 5 {
        r |= IOCTL_DEV;
    }
    r
}

/// What got applied, for the debug log.
pub struct Applied {
    pub abi: i64,
    pub net: bool,
    pub scoped: bool,
}

/// The kernel's Landlock ABI version, or the negative errno (ENOSYS: not built in;
/// EOPNOTSUPP: not enabled at boot).
pub fn abi() -> i64 {
    sys::syscall6(CREATE_RULESET, 0, 0, CREATE_RULESET_VERSION, 0, 0, 0) as i64
}

#[repr(C, packed)]
struct PathBeneath {
    allowed: u64,
    parent_fd: i32,
}

fn add_path(ruleset: usize, fd: i32, allowed: u64) -> Result<(), i32> {
    let rule = PathBeneath { allowed, parent_fd: fd };
    check(sys::syscall6(ADD_RULE, ruleset, RULE_PATH_BENEATH, &rule as *const PathBeneath as usize, 0, 0, 0))
        .map(|_| ())
}

/// Adds a rule for `path`, opened O_PATH here; a path that does not exist is skipped.
fn add_named(ruleset: usize, path: &[u8], allowed: u64) -> Result<(), i32> {
    const O_PATH_CLOEXEC: usize = 0o10000000 | 0o2000000;
    let Ok(fd) = sys::open_path(path, O_PATH_CLOEXEC, 0) else { return Ok(()) };
    let r = add_path(ruleset, fd, allowed);
    sys::syscall3(sys::CLOSE, fd as usize, 0, 0);
    r
}

/// Everything the runtime keeps reaching on the host after start-up.
pub struct Reach<'a> {
    /// Descriptor of the writable layer's directory (-1: none) and its path.
    pub upper: (i32, &'a [u8]),
    /// The policy's mounts and their host directory descriptors, in the same order.
    pub mounts: &'a [(Mount<'a>, i32)],
}

/// Restricts this process (and every process it forks) to `reach`. Returns what was applied,
/// or the errno of the step that failed (nothing is restricted then; ENOSYS/EOPNOTSUPP: no
/// Landlock on this host).
pub fn apply(reach: &Reach<'_>) -> Result<Applied, i32> {
    let abi = abi();
    if abi < 1 {
        return Err(-abi as i32);
    }
    let all = fs_rights(abi);
    let file_rw = all & (READ_FILE | WRITE_FILE | TRUNCATE);
    let dir_rw = all & !(EXECUTE | MAKE_CHAR | MAKE_BLOCK);
    let dir_ro = READ_FILE | READ_DIR;
    #[repr(C)]
    struct Attr {
        fs: u64,
        net: u64,
        scoped: u64,
    }
    let net = abi >= 4;
    let scoped = abi >= 6;
    let attr = Attr {
        fs: all,
        net: if net { NET_BIND_TCP | NET_CONNECT_TCP } else { 0 },
        scoped: if scoped { SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL } else { 0 },
    };
    let size = if scoped {
        24
    } else if net {
        16
    } else {
        8
    };
    let ruleset = check(sys::syscall3(CREATE_RULESET, &attr as *const Attr as usize, size, 0))?;
    let result = (|| {
        // The layer itself, never its parent: the supervisor removes a host layer at the end.
        let (upper_fd, _) = reach.upper;
        if upper_fd >= 0 {
            add_path(ruleset, upper_fd, dir_rw)?;
        }
        for (m, fd) in reach.mounts {
            add_path(ruleset, *fd, if m.writable { dir_rw } else { dir_ro })?;
        }
        add_named(ruleset, b"/proc/self/exe", READ_FILE)?;
        for dev in [&b"/dev/null"[..], b"/dev/zero", b"/dev/urandom"] {
            add_named(ruleset, dev, file_rw)?;
        }
        add_named(ruleset, b"/dev/tty", file_rw | (all & IOCTL_DEV))?;
        // No TCP port is granted: the supervisor binds and connects the app's sockets (broker.rs),
        // so the sandbox itself never needs to.
        check(sys::syscall3(RESTRICT_SELF, ruleset, 0, 0)).map(|_| ())
    })();
    sys::syscall3(sys::CLOSE, ruleset, 0, 0);
    result.map(|_| Applied { abi, net, scoped })
}
