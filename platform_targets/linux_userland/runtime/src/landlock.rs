//! Landlock: the runtime's own file-system reach (and, where the kernel's ABI has them, TCP
//! ports, abstract unix sockets and signals), restricted before the app starts. This is the
//! layer that still holds when app code calls the gate directly with an `openat` of a host
//! path: the kernel answers `EACCES`.
//!
//! Granted (every other path on the host is refused):
//! - the writable layer's directory: read, write, create, remove, rename inside it;
//! - each policy mount: read (and for `rw` mounts write, create, remove, rename);
//! - the artifact file: read;
//! - /dev/null, /dev/zero, /dev/urandom, /dev/tty: read and write (ioctl for /dev/tty);
//! - the sandbox IPC namespace's own mqueue file system (nsroot.rs): make, read, write and
//!   remove queues (mq_open, mq_unlink).
//!
//! Already open descriptors (stdio, the trace and learn files) are not affected. A kernel
//! without Landlock, or one that refuses a step, leaves the runtime running without this layer
//! ([`apply`] says which).
use litebox_confine::landlock::{
    restrict_self_to_scopes, Ruleset, EXECUTE, IOCTL_DEV, MAKE_BLOCK, MAKE_CHAR, READ_DIR, READ_FILE,
    SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL, TRUNCATE, WRITE_FILE,
};
use litebox_image::Mount;

use crate::sys;

/// Landlock rights the shared crate does not name: removing and making regular files.
const REMOVE_FILE: u64 = 1 << 5;
const MAKE_REG: u64 = 1 << 8;

/// What got applied, for the debug log.
pub struct Applied {
    pub abi: i64,
    pub net: bool,
    pub scoped: bool,
}

/// Adds a rule for `path`, opened O_PATH here; a path that does not exist is skipped.
fn add_named(ruleset: &Ruleset, path: &[u8], allowed: u64) -> Result<(), i32> {
    const O_PATH_CLOEXEC: usize = 0o10000000 | 0o2000000;
    let Ok(fd) = sys::open_path(path, O_PATH_CLOEXEC, 0) else { return Ok(()) };
    let r = ruleset.add_path(fd, allowed);
    sys::syscall3(sys::CLOSE, fd as usize, 0, 0);
    r
}

/// Everything the runtime keeps reaching on the host after start-up.
pub struct Reach<'a> {
    /// Descriptor of the writable layer's directory (-1: none) and its path.
    pub upper: (i32, &'a [u8]),
    /// The policy's mounts and their host directory descriptors, in the same order.
    pub mounts: &'a [(Mount<'a>, i32)],
    /// Whether this process's root is the sandbox's private root (supervisor.rs), where no
    /// host path but the layer and the mounts exists.
    pub private_root: bool,
    /// Whether abstract Unix sockets are already scoped by the supervisor's domain
    /// ([`scope_outer`]), which this one nests in: then this domain scopes signals only, so
    /// that the app reaches the Unix sockets the supervisor's net helper makes for it (inside
    /// the supervisor's domain), and still no abstract name outside it.
    pub abstract_scoped_outside: bool,
}

/// The supervisor's own Landlock domain, before it starts the sandbox: it handles no access
/// right and only scopes abstract Unix sockets (ABI 6 and later), so that neither the
/// supervisor nor anything it starts (init, the app's processes, the net helper) can connect
/// or send to an abstract name made outside it (docs/security.md, "The network namespace is
/// made on the first abstract Unix name"). Sets NO_NEW_PRIVS first (the supervisor never calls
/// execve). False where it cannot be made (the sandbox's network namespace is then made by
/// init at every start, as before).
pub fn scope_outer() -> bool {
    crate::seccomp::no_new_privs().is_ok() && restrict_self_to_scopes(sys::syscall6, SCOPE_ABSTRACT_UNIX).is_ok()
}

/// Restricts this process (and every process it forks) to `reach`. Returns what was applied,
/// or the errno of the step that failed (nothing is restricted then; ENOSYS/EOPNOTSUPP: no
/// Landlock on this host).
pub fn apply(reach: &Reach<'_>) -> Result<Applied, i32> {
    let scopes = if reach.abstract_scoped_outside { SCOPE_SIGNAL } else { SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL };
    let ruleset = Ruleset::create_scoping(sys::syscall6, scopes)?;
    let all = ruleset.all;
    let file_rw = all & (READ_FILE | WRITE_FILE | TRUNCATE);
    let dir_rw = all & !(EXECUTE | MAKE_CHAR | MAKE_BLOCK);
    let dir_ro = READ_FILE | READ_DIR;
    let result = (|| {
        // The layer itself, never its parent: the supervisor removes a host layer at the end.
        let (upper_fd, _) = reach.upper;
        if upper_fd >= 0 {
            ruleset.add_path(upper_fd, dir_rw)?;
        }
        for (m, fd) in reach.mounts {
            ruleset.add_path(*fd, if m.writable { dir_rw } else { dir_ro })?;
        }
        // The sandbox's own POSIX message queues (its IPC namespace's mqueue file system, see
        // nsroot.rs): made, opened and removed by mq_open and mq_unlink.
        let mq = crate::nsroot::MQUEUE_DIR.load(core::sync::atomic::Ordering::Relaxed);
        if mq >= 0 {
            ruleset.add_path(mq, all & (READ_FILE | WRITE_FILE | REMOVE_FILE | MAKE_REG))?;
        }
        // Host paths: only without the private root (which holds none of them: nsroot.rs, so
        // looking them up there is five failed opens on the start-up's critical path).
        if !reach.private_root {
            add_named(&ruleset, b"/proc/self/exe", READ_FILE)?;
            for dev in [&b"/dev/null"[..], b"/dev/zero", b"/dev/urandom"] {
                add_named(&ruleset, dev, file_rw)?;
            }
            add_named(&ruleset, b"/dev/tty", file_rw | (all & IOCTL_DEV))?;
        }
        // No TCP port is granted: the supervisor binds and connects the app's sockets (broker.rs),
        // so the sandbox itself never needs to.
        ruleset.restrict()
    })();
    let applied = Applied { abi: ruleset.abi, net: ruleset.net, scoped: ruleset.scoped };
    ruleset.close();
    result.map(|_| applied)
}
