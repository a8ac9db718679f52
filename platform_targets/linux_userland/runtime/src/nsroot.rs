//! The sandbox's own root directory, made by its init process inside new user and mount
//! namespaces: a private tmpfs that holds only the writable layer (`/upper`) and the policy's
//! mounts (`/m/0`, `/m/1`, ... bind mounts of the host directories; `ro` ones read-only at the
//! mount, so the host kernel itself answers EROFS). The host's root is then detached: no host
//! path exists for the sandbox any more, not even for a `stat`, a `readlink` or a Unix socket
//! `connect`. The tmpfs lives as long as the sandbox's processes: however they end, the layer
//! goes with them. Its size is the policy's memory limit when there is one.
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, Ordering};

use crate::sys::{self, check};

/// An O_PATH descriptor of the root of the sandbox IPC namespace's mqueue file system (-1:
/// none), for the Landlock rule that lets the app's POSIX message queues be made and opened
/// (landlock.rs); the mount itself is detached again.
pub static MQUEUE_DIR: AtomicI32 = AtomicI32::new(-1);

const MOUNT: usize = 165;
const UMOUNT2: usize = 166;
const PIVOT_ROOT: usize = 155;
const CHDIR: usize = 80;
const MKDIRAT: usize = 258;
const MOUNT_SETATTR: usize = 442;

const MS_NOSUID: usize = 2;
const MS_NODEV: usize = 4;
const MS_NOEXEC: usize = 8;
const MS_BIND: usize = 4096;
const MS_REC: usize = 16384;
const MS_PRIVATE: usize = 1 << 18;
const MNT_DETACH: usize = 2;
const AT_RECURSIVE: usize = 0x8000;
const MOUNT_ATTR_RDONLY: u64 = 1;
const MOUNT_ATTR_NOSUID: u64 = 2;
const MOUNT_ATTR_NODEV: u64 = 4;

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

/// Builds the root and moves the calling process into it. `mounts` are the policy's host
/// directories (their paths, as the supervisor opened them at start) with whether each is
/// writable. `size` bounds the tmpfs (bytes; None: the kernel's default, half of RAM).
/// Needs CAP_SYS_ADMIN in the calling process's user namespace, which owns its mount namespace.
pub fn build(mounts: &[(&[u8], bool)], size: Option<u64>) -> Result<Root, i32> {
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
    let mut at: Option<&[u8]> = None;
    let mut last = 2;
    for cand in [&b"/tmp"[..], b"/mnt", b"/dev", b"/"] {
        match mount(b"litebox", cand, b"tmpfs", MS_NOSUID | MS_NODEV, &opts) {
            Ok(()) => {
                at = Some(cand);
                break;
            }
            Err(e) => last = e,
        }
    }
    let at = at.ok_or(last)?;
    let path = |rest: &[u8]| {
        let mut p = at.to_vec();
        if p.last() != Some(&b'/') {
            p.push(b'/');
        }
        p.extend_from_slice(rest);
        p
    };
    mkdir(&path(b"upper"), 0o700)?;
    mkdir(&path(b"m"), 0o755)?;
    // This IPC namespace's message queues, so Landlock can be told about them (optional: a
    // kernel without mqueue leaves the app's mq_open refused).
    let mq = path(b"mq");
    // The app's first process takes it after the pivot (`opened`); init never needs it.
    let _ = mkdir(&mq, 0o700).and_then(|_| mount(b"mqueue", &mq, b"mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, b""));
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
    let dir = c(at);
    check(sys::syscall3(CHDIR, dir.as_ptr() as usize, 0, 0))?;
    check(sys::syscall3(PIVOT_ROOT, c".".as_ptr() as usize, c".".as_ptr() as usize, 0))?;
    // The kernel waits for an RCU grace period before umount2 returns (milliseconds on a busy
    // machine); the app's first process, forked before this, loads the app meanwhile and
    // waits for this to be over before any app code runs (supervisor.rs).
    check(sys::syscall3(UMOUNT2, c".".as_ptr() as usize, MNT_DETACH, 0))?;
    open_root(mounts.len(), false)
}

/// In a process of the sandbox whose root is the private root (init after [`build`], the
/// app's first process after init said the root is ready): moves the working directory to
/// `/` and opens the writable layer and the `count` policy mounts there.
pub fn opened(count: usize) -> Result<Root, i32> {
    open_root(count, true)
}

/// [`opened`]; with `take_mq`, also keeps an O_PATH descriptor of `/mq` (this IPC namespace's
/// mqueue file system, for the Landlock rule: `MQUEUE_DIR`) and detaches it from the tree.
/// Only the app's first process takes it: init opens the root before the app does, and a
/// detach there would leave the app nothing to open.
fn open_root(count: usize, take_mq: bool) -> Result<Root, i32> {
    const O_PATH_DIR: usize = 0o10000000 | 0o200000 | 0o2000000;
    check(sys::syscall3(CHDIR, c"/".as_ptr() as usize, 0, 0))?;
    const O_RDONLY_DIR: usize = 0o200000 | 0o2000000;
    let upper = sys::open_path(b"/upper", O_RDONLY_DIR, 0)?;
    if take_mq {
        if let Ok(fd) = sys::open_path(b"/mq", O_PATH_DIR, 0) {
            MQUEUE_DIR.store(fd, Ordering::Relaxed);
            // Out of the tree: only the descriptor reaches it (a failed detach leaves it
            // mounted, where the app's file calls, served by the library OS, never look).
            let _ = sys::syscall3(UMOUNT2, c"/mq".as_ptr() as usize, MNT_DETACH, 0);
        }
    }
    let mut fds = Vec::new();
    for i in 0..count {
        let mut p = b"/m/".to_vec();
        p.extend_from_slice(&decimal(i as u64));
        fds.push(sys::open_path(&p, O_PATH_DIR, 0)?);
    }
    Ok(Root { upper, mounts: fds })
}
