//! The sandbox's own root directory, made by the app's first process or by init (whichever
//! is free first; before any app code runs) inside the sandbox's new user and mount namespaces: a private tmpfs that holds only the writable layer (`/upper`) and the policy's
//! mounts (`/m/0`, `/m/1`, ... bind mounts of the host directories; `ro` ones read-only at the
//! mount, so the host kernel itself answers EROFS). Every process of the sandbox then has it as
//! its root (`chroot`) and working directory: no host path exists for the sandbox any more, not
//! even for a `stat`, a `readlink` or a Unix socket `connect`, and `..` stops at its root. The
//! host's mounts stay in the sandbox's private mount namespace (the copy the kernel made for
//! it), out of every process's reach, and go with the namespace when the sandbox ends; they are
//! not detached at start, because a detach (`umount2(MNT_DETACH)`) waits for an RCU grace
//! period (0.1 to several ms) that every start paid before the app could run (see
//! docs/security.md, layer 4). The tmpfs lives as long as the sandbox's processes: however
//! they end, the layer goes with them. Its size is the policy's memory limit when there is one.
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, Ordering};

use crate::sys::{self, check};

/// A descriptor of the root of the sandbox IPC namespace's mqueue file system (-1: none), for
/// the Landlock rule that lets the app's POSIX message queues be made and opened
/// (landlock.rs). It is a detached mount ([`mqueue`]): in no directory tree at all.
pub static MQUEUE_DIR: AtomicI32 = AtomicI32::new(-1);

const MOUNT: usize = 165;
const CHROOT: usize = 161;
const CHDIR: usize = 80;
const FSOPEN: usize = 430;
const FSCONFIG: usize = 431;
const FSMOUNT: usize = 432;
const MKDIRAT: usize = 258;
const MOUNT_SETATTR: usize = 442;

const MS_NOSUID: usize = 2;
const MS_NODEV: usize = 4;
const MS_BIND: usize = 4096;
const MS_REC: usize = 16384;
const MS_PRIVATE: usize = 1 << 18;
const AT_RECURSIVE: usize = 0x8000;
const MOUNT_ATTR_RDONLY: u64 = 1;
const MOUNT_ATTR_NOSUID: u64 = 2;
const MOUNT_ATTR_NODEV: u64 = 4;
const MOUNT_ATTR_NOEXEC: u64 = 8;

/// The host directories the tmpfs may be mounted on (in the sandbox's own mount namespace):
/// the first that exists and takes it. Its index is what the process that built the root
/// tells the other ([`enter`]).
const MOUNT_POINTS: [&[u8]; 3] = [b"/tmp", b"/mnt", b"/dev"];

/// What the new root holds, as descriptors opened inside it.
pub struct Root {
    /// The writable layer's directory (`/upper`), opened for reading (as `hostfs` expects).
    pub upper: i32,
    /// Each policy mount's directory (`/m/N`), O_PATH, in policy order.
    pub mounts: Vec<i32>,
}

fn c(p: &[u8]) -> Vec<u8> {
    let mut v = p.to_vec();
    v.push(0);
    v
}

fn mount(src: &[u8], target: &[u8], fstype: &[u8], flags: usize, data: &[u8]) -> Result<(), i32> {
    let (s, t, f, d) = (c(src), c(target), c(fstype), c(data));
    let ptr = |v: &Vec<u8>, empty: bool| if empty { 0 } else { v.as_ptr() as usize };
    check(sys::syscall6(
        MOUNT,
        ptr(&s, src.is_empty()),
        t.as_ptr() as usize,
        ptr(&f, fstype.is_empty()),
        flags,
        ptr(&d, data.is_empty()),
        0,
    ))
    .map(|_| ())
}

fn mkdir(path: &[u8], mode: usize) -> Result<(), i32> {
    let p = c(path);
    check(sys::syscall3(MKDIRAT, sys::AT_FDCWD, p.as_ptr() as usize, mode)).map(|_| ())
}

fn setattr(path: &[u8], set: u64) -> Result<(), i32> {
    #[repr(C)]
    struct MountAttr {
        set: u64,
        clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr { set, clr: 0, propagation: 0, userns_fd: 0 };
    let p = c(path);
    check(sys::syscall6(
        MOUNT_SETATTR,
        sys::AT_FDCWD,
        p.as_ptr() as usize,
        AT_RECURSIVE,
        &attr as *const MountAttr as usize,
        32,
        0,
    ))
    .map(|_| ())
}

fn decimal(n: u64) -> Vec<u8> {
    let mut d = [0u8; 20];
    litebox_libos::shim::fmt_usize(n as usize, &mut d).to_vec()
}

/// Mounts this IPC namespace's mqueue file system as a detached mount and keeps its
/// descriptor in [`MQUEUE_DIR`] (for Landlock). Init calls this before it forks the app's first
/// process, which inherits the descriptor, and keeps its own copy open until it ends: the last
/// close of a detached mount dissolves it, which waits for an RCU grace period, and init's end
/// is the one no one waits for. A kernel without `fsopen` (before 5.2) or without mqueue leaves
/// the app's `mq_open` refused.
pub fn mqueue() {
    const FSOPEN_CLOEXEC: usize = 1;
    const FSCONFIG_CMD_CREATE: usize = 6;
    const FSMOUNT_CLOEXEC: usize = 1;
    let Ok(fs) = check(sys::syscall3(FSOPEN, c"mqueue".as_ptr() as usize, FSOPEN_CLOEXEC, 0)) else { return };
    let attrs = (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC) as usize;
    let fd = check(sys::syscall6(FSCONFIG, fs, FSCONFIG_CMD_CREATE, 0, 0, 0, 0))
        .and_then(|_| check(sys::syscall3(FSMOUNT, fs, FSMOUNT_CLOEXEC, attrs)));
    sys::syscall3(sys::CLOSE, fs, 0, 0);
    if let Ok(fd) = fd {
        MQUEUE_DIR.store(fd as i32, Ordering::Relaxed);
    }
}

/// Builds the root and moves the calling process into it. `mounts` are the policy's host
/// directories (their paths, as the supervisor opened them at start) with whether each is
/// writable. `size` bounds the tmpfs (bytes; None: the kernel's default, half of RAM).
/// Returns the root's descriptors and where the tmpfs is mounted (for [`enter`]).
/// Needs CAP_SYS_ADMIN in the calling process's user namespace, which owns its mount namespace.
pub fn build(mounts: &[(&[u8], bool)], size: Option<u64>) -> Result<(Root, u8), i32> {
    mount(b"", b"/", b"", MS_REC | MS_PRIVATE, b"")?;
    // The sources are opened again here, in this mount namespace (a bind mount takes its source
    // from the caller's namespace), and before the tmpfs covers anything.
    const O_PATH_DIR: usize = 0o10000000 | 0o200000 | 0o2000000;
    let mut sources = Vec::new();
    for &(host, writable) in mounts {
        sources.push((sys::open_path(host, O_PATH_DIR, 0)?, writable));
    }
    let mut opts = b"mode=0755".to_vec();
    if let Some(bytes) = size {
        opts.extend_from_slice(b",size=");
        opts.extend_from_slice(&decimal(bytes.max(4096)));
    }
    // Any existing directory serves as the mount point; the tmpfs becomes the root below.
    let mut at = None;
    let mut last = 2;
    for (i, cand) in MOUNT_POINTS.iter().enumerate() {
        match mount(b"litebox", cand, b"tmpfs", MS_NOSUID | MS_NODEV, &opts) {
            Ok(()) => {
                at = Some(i as u8);
                break;
            }
            Err(e) => last = e,
        }
    }
    let at = at.ok_or(last)?;
    let path = |rest: &[u8]| {
        let mut p = MOUNT_POINTS[at as usize].to_vec();
        p.push(b'/');
        p.extend_from_slice(rest);
        p
    };
    mkdir(&path(b"upper"), 0o700)?;
    mkdir(&path(b"m"), 0o755)?;
    for (i, &(fd, writable)) in sources.iter().enumerate() {
        let mut rel = b"m/".to_vec();
        rel.extend_from_slice(&decimal(i as u64));
        let target = path(&rel);
        mkdir(&target, 0o755)?;
        let mut src = b"/proc/self/fd/".to_vec();
        src.extend_from_slice(&decimal(fd as u64));
        mount(&src, &target, b"", MS_BIND | MS_REC, b"")?;
        let attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | if writable { 0 } else { MOUNT_ATTR_RDONLY };
        setattr(&target, attrs)?;
        sys::syscall3(sys::CLOSE, fd as usize, 0, 0);
    }
    enter(at)?;
    Ok((open_root(mounts.len())?, at))
}

/// Makes the tmpfs [`build`] mounted at `MOUNT_POINTS[at]` the calling process's root and
/// working directory (`chroot`; needs CAP_SYS_CHROOT in the sandbox's user namespace, which
/// init and the app's first process hold until they drop every capability). From then on no
/// path the process names leads out of it: `..` stops at its root, and nothing is mounted on
/// top of it.
pub fn enter(at: u8) -> Result<(), i32> {
    let dir = c(MOUNT_POINTS.get(at as usize).ok_or(22)?);
    check(sys::syscall3(CHDIR, dir.as_ptr() as usize, 0, 0))?;
    check(sys::syscall3(CHROOT, c".".as_ptr() as usize, 0, 0))?;
    check(sys::syscall3(CHDIR, c"/".as_ptr() as usize, 0, 0)).map(|_| ())
}

/// In a process of the sandbox whose root is the private root (the app's first process after
/// [`enter`], when init built the root): opens the writable layer and the `count` policy
/// mounts there.
pub fn opened(count: usize) -> Result<Root, i32> {
    open_root(count)
}

fn open_root(count: usize) -> Result<Root, i32> {
    const O_PATH_DIR: usize = 0o10000000 | 0o200000 | 0o2000000;
    const O_RDONLY_DIR: usize = 0o200000 | 0o2000000;
    let upper = sys::open_path(b"/upper", O_RDONLY_DIR, 0)?;
    let mut fds = Vec::new();
    for i in 0..count {
        let mut p = b"/m/".to_vec();
        p.extend_from_slice(&decimal(i as u64));
        fds.push(sys::open_path(&p, O_PATH_DIR, 0)?);
    }
    Ok(Root { upper, mounts: fds })
}
