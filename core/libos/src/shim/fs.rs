//! File syscalls: open/read/write/stat/getdents/paths/descriptors, over the library OS's own
//! namespace (image + writable layer + /dev) and the three host streams.
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use super::nr::*;
use super::SysResult;
use crate::abi::*;
use crate::errno::*;
use crate::fd::{FdRef, FileKind, HostFd, OpenFile};
use crate::fs::{Node, NodeKind};
use crate::kernel::LibOs;
use crate::kobj::Obj;
use crate::platform::Platform;
use crate::user;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[
    READ,
    WRITE,
    OPEN,
    STAT,
    FSTAT,
    LSTAT,
    LSEEK,
    IOCTL,
    PREAD64,
    PWRITE64,
    READV,
    WRITEV,
    ACCESS,
    DUP,
    DUP2,
    FCNTL,
    FSYNC,
    FDATASYNC,
    TRUNCATE,
    FTRUNCATE,
    GETCWD,
    CHDIR,
    FCHDIR,
    RENAME,
    MKDIR,
    RMDIR,
    CREAT,
    UNLINK,
    SYMLINK,
    LINK,
    LINKAT,
    MKNOD,
    MKNODAT,
    READLINK,
    CHMOD,
    FCHMOD,
    CHOWN,
    FCHOWN,
    LCHOWN,
    UMASK,
    GETDENTS64,
    GETDENTS,
    OPENAT,
    MKDIRAT,
    FCHOWNAT,
    NEWFSTATAT,
    UNLINKAT,
    RENAMEAT,
    SYMLINKAT,
    READLINKAT,
    FCHMODAT,
    FACCESSAT,
    UTIMENSAT,
    UTIME,
    UTIMES,
    FUTIMESAT,
    DUP3,
    RENAMEAT2,
    STATX,
    FACCESSAT2,
    STATFS,
    FSTATFS,
    GETXATTR,
    LGETXATTR,
    FGETXATTR,
    LISTXATTR,
    LLISTXATTR,
    FLISTXATTR,
    SETXATTR,
    LSETXATTR,
    FSETXATTR,
    REMOVEXATTR,
    LREMOVEXATTR,
    FREMOVEXATTR,
];

/// Syscalls served with a limitation users should know, and what it is (docs/syscalls.md is
/// generated from these arrays by scripts/gen_implemented.py).
pub const PARTIAL: &[(usize, &str)] = &[
    (IOCTL, "FIOCLEX, FIONCLEX, FIONREAD, FIONBIO, FIOASYNC (the flag only: no SIGIO); TCGETS, TIOCGWINSZ, TIOCGPGRP, TIOCSPGRP on host descriptors (terminals); the interface queries SIOCGIFCONF, SIOCGIFFLAGS, SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFBRDADDR, SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFINDEX, SIOCGIFNAME on sockets, answered for one loopback interface lo; anything else ENOTTY"),
    (CHOWN, "checks the path, changes nothing (image files have fixed owners); EROFS in a read-only mount"),
    (FCHMOD, "changes a host file by its path: ESTALE once the file was renamed or removed since it was opened"),
    (FCHOWN, "as chown"),
    (LCHOWN, "as chown"),
    (FCHOWNAT, "as chown"),
    (MKNOD, "regular files (as open with O_CREAT|O_EXCL); devices EPERM (no device nodes in the sandbox, as for an unprivileged process); FIFOs in the writable layer (the host's in a host directory); socket nodes in a host directory (the in-memory layer: ENOSYS)"),
    (MKNODAT, "as mknod"),
    (LINK, "files of the image (copied up first) and of the writable layer, to a name in the same layer; files of a rw mount, to a name in that mount; EXDEV between them; no hard links to symlinks (EPERM)"),
    (LINKAT, "as link; AT_EMPTY_PATH names an O_TMPFILE or memfd file of the in-memory layer (one on the host, as other host files: EPERM)"),
    (RENAMEAT2, "RENAME_NOREPLACE; RENAME_EXCHANGE (a directory the image has at either name: EXDEV); RENAME_WHITEOUT: EINVAL"),
    (UTIMENSAT, "the in-memory writable layer (kvm, snp, optee) keeps whole seconds, and the times of regular files only (its directories and symlinks read time 0); windows' host directories keep no times (checked, no effect)"),
    (UTIME, "as utimensat"),
    (UTIMES, "as utimensat"),
    (FUTIMESAT, "as utimensat"),
    (GETXATTR, "no extended attributes: ENODATA"),
    (LGETXATTR, "as getxattr"),
    (FGETXATTR, "as getxattr"),
    (SETXATTR, "EOPNOTSUPP"),
    (LSETXATTR, "EOPNOTSUPP"),
    (FSETXATTR, "EOPNOTSUPP"),
    (REMOVEXATTR, "EOPNOTSUPP"),
    (LREMOVEXATTR, "EOPNOTSUPP"),
    (FREMOVEXATTR, "EOPNOTSUPP"),
];

/// Serves `n` if it is a file syscall.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    let fd = a[0] as i32;
    Some(match n {
        READ => read(os, fd, a[1], a[2]),
        WRITE => write(os, fd, a[1], a[2]),
        OPEN => openat(os, AT_FDCWD, a[0], a[1] as u32, a[2] as u32),
        CREAT => openat(os, AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC, a[1] as u32),
        OPENAT => openat(os, fd, a[1], a[2] as u32, a[3] as u32),
        STAT => fstatat(os, AT_FDCWD, a[0], a[1], 0),
        LSTAT => fstatat(os, AT_FDCWD, a[0], a[1], AT_SYMLINK_NOFOLLOW),
        FSTAT => fstat(os, fd, a[1]),
        NEWFSTATAT => fstatat(os, fd, a[1], a[2], a[3] as u32),
        STATX => statx(os, fd, a[1], a[2] as u32, a[4]),
        LSEEK => lseek(os, fd, a[1] as i64, a[2] as u32),
        IOCTL => ioctl(os, fd, a[1] as u32, a[2]),
        PREAD64 => pread(os, fd, a[1], a[2], a[3] as i64),
        PWRITE64 => pwrite(os, fd, a[1], a[2], a[3] as i64),
        READV => readv(os, fd, a[1], a[2]),
        WRITEV => writev(os, fd, a[1], a[2]),
        ACCESS => faccessat(os, AT_FDCWD, a[0], a[1] as u32, 0),
        FACCESSAT => faccessat(os, fd, a[1], a[2] as u32, 0),
        FACCESSAT2 => faccessat(os, fd, a[1], a[2] as u32, a[3] as u32),
        DUP => dup(os, fd),
        DUP2 => dup2(os, fd, a[1] as i32),
        DUP3 => dup3(os, fd, a[1] as i32, a[2] as u32),
        FCNTL => fcntl(os, fd, a[1] as u32, a[2]),
        // Nothing to flush; a pipe, socket or other kernel object cannot be synced (EINVAL).
        FSYNC | FDATASYNC => os.fds.lock().get(fd).and_then(|f| match &f.kind {
            FileKind::Obj(_) => Err(EINVAL),
            // A host stream (a pipe, a terminal, or a file the app was started with).
            FileKind::Host(h) if f.path.is_empty() => match os.platform.host_stat(h.0) {
                Ok(st) if st.st_mode & S_IFMT == S_IFREG => Ok(0),
                Ok(_) => Err(EINVAL),
                Err(e) => Err(e),
            },
            _ => Ok(0),
        }),
        TRUNCATE => truncate(os, a[0], a[1] as i64),
        FTRUNCATE => ftruncate(os, fd, a[1] as i64),
        GETCWD => getcwd(os, a[0], a[1]),
        CHDIR => chdir(os, a[0]),
        FCHDIR => fchdir(os, fd),
        MKDIR => mkdirat(os, AT_FDCWD, a[0], a[1] as u32),
        MKDIRAT => mkdirat(os, fd, a[1], a[2] as u32),
        RMDIR => unlinkat(os, AT_FDCWD, a[0], AT_REMOVEDIR),
        UNLINK => unlinkat(os, AT_FDCWD, a[0], 0),
        UNLINKAT => unlinkat(os, fd, a[1], a[2] as u32),
        RENAME => renameat2(os, AT_FDCWD, a[0], AT_FDCWD, a[1], 0),
        RENAMEAT => renameat2(os, fd, a[1], a[2] as i32, a[3], 0),
        RENAMEAT2 => renameat2(os, fd, a[1], a[2] as i32, a[3], a[4] as u32),
        SYMLINK => symlinkat(os, a[0], AT_FDCWD, a[1]),
        MKNOD => mknodat(os, AT_FDCWD, a[0], a[1] as u32),
        MKNODAT => mknodat(os, fd, a[1], a[2] as u32),
        LINK => linkat(os, AT_FDCWD, a[0], AT_FDCWD, a[1], 0),
        LINKAT => linkat(os, fd, a[1], a[2] as i32, a[3], a[4] as u32),
        SYMLINKAT => symlinkat(os, a[0], a[1] as i32, a[2]),
        READLINK => readlinkat(os, AT_FDCWD, a[0], a[1], a[2]),
        READLINKAT => readlinkat(os, fd, a[1], a[2], a[3]),
        CHMOD => chmodat(os, AT_FDCWD, a[0], a[1] as u32),
        FCHMODAT => chmodat(os, fd, a[1], a[2] as u32),
        FCHMOD => fchmod(os, fd, a[1] as u32),
        CHOWN | LCHOWN => chownat(os, AT_FDCWD, a[0], n == CHOWN),
        FCHOWNAT => chownat(os, fd, a[1], a[4] as u32 & AT_SYMLINK_NOFOLLOW == 0),
        FCHOWN => fd_metadata(os, fd),
        UTIMENSAT => utimensat(os, fd, a[1], a[2], a[3] as u32),
        UTIME => utime(os, a[0], a[1]),
        UTIMES => futimesat(os, AT_FDCWD, a[0], a[1]),
        FUTIMESAT => futimesat(os, fd, a[1], a[2]),
        UMASK => Ok(os.umask.swap(a[0] as u32 & 0o777, Ordering::Relaxed) as usize),
        GETDENTS64 => getdents(os, fd, a[1], a[2], false),
        GETDENTS => getdents(os, fd, a[1], a[2], true),
        STATFS => lookup_at(os, AT_FDCWD, a[0], true).and_then(|(_, n)| write_statfs(os, a[1], Some(n))),
        FSTATFS => os.fds.lock().get(fd).and_then(|f| {
            let node = match &f.kind {
                FileKind::Host(_) if !f.path.is_empty() => os.vfs.lookup(&f.path),
                _ => os.node_of(&f),
            };
            write_statfs(os, a[1], node)
        }),
        // No file here carries extended attributes, as on a file system where none were set.
        GETXATTR | LISTXATTR => lookup_at(os, AT_FDCWD, a[0], true).and_then(|_| no_xattr(n)),
        LGETXATTR | LLISTXATTR => lookup_at(os, AT_FDCWD, a[0], false).and_then(|_| no_xattr(n)),
        FGETXATTR | FLISTXATTR => os.fds.lock().get(fd).and_then(|_| no_xattr(n)),
        SETXATTR | LSETXATTR | FSETXATTR | REMOVEXATTR | LREMOVEXATTR | FREMOVEXATTR => Err(EOPNOTSUPP),
        _ => return None,
    })
}

/// A path argument: at most PATH_MAX - 1 bytes (ENAMETOOLONG), EFAULT where it is not
/// readable app memory.
fn path_arg<P: Platform>(os: &LibOs<P>, ptr: usize) -> Result<Vec<u8>, Errno> {
    user::cstr_in(&os.mem, ptr, 4095)
}

/// Resolves a path argument of a `*at` call.
fn resolve_at<P: Platform>(
    os: &LibOs<P>,
    dirfd: i32,
    ptr: usize,
    follow: bool,
) -> Result<crate::fs::vfs::Resolved, Errno> {
    resolve_path(os, dirfd, path_arg(os, ptr)?, follow)
}

/// [`resolve_at`] for a path argument already copied in. Inlined into its callers: a function of
/// its own would lie outside linux-userland's start-up code order (startup-order.ld).
#[inline(always)]
fn resolve_path<P: Platform>(
    os: &LibOs<P>,
    dirfd: i32,
    p: Vec<u8>,
    follow: bool,
) -> Result<crate::fs::vfs::Resolved, Errno> {
    if p.is_empty() {
        return Err(ENOENT);
    }
    let base = os.dir_of(dirfd, &p)?;
    os.vfs.resolve(&base, &p, follow).inspect_err(|&e| learn_missing(os, e, &base, &p, b"path"))
}

/// A lookup that failed because a directory on the way is missing: recorded for `--learn` as
/// `kind` (`path`, or `create` when the call was making the last component: mkdir, open with
/// O_CREAT).
fn learn_missing<P: Platform>(os: &LibOs<P>, e: Errno, base: &[u8], p: &[u8], kind: &[u8]) {
    if e == ENOENT {
        os.learn_with(kind, || crate::fs::path::join(base, p));
    }
}

fn lookup_at<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, follow: bool) -> Result<(Vec<u8>, Node), Errno> {
    lookup_path(os, dirfd, path_arg(os, ptr)?, follow)
}

/// [`lookup_at`] for a path argument already copied in. Inlined into its callers: a function of
/// its own would lie outside linux-userland's start-up code order (startup-order.ld).
#[inline(always)]
fn lookup_path<P: Platform>(os: &LibOs<P>, dirfd: i32, p: Vec<u8>, follow: bool) -> Result<(Vec<u8>, Node), Errno> {
    let r = resolve_path(os, dirfd, p, follow)?;
    match r.node {
        Some(n) => Ok((r.path, n)),
        None => {
            os.learn(b"path", &r.path);
            Err(ENOENT)
        }
    }
}

/// Open flags passed on to a host directory's open.
const HOST_OPEN_FLAGS: u32 = O_ACCMODE | O_APPEND | O_TRUNC | O_NONBLOCK;

fn openat<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, flags: u32, mode: u32) -> SysResult {
    let p = path_arg(os, ptr)?;
    if p.is_empty() {
        return Err(ENOENT);
    }
    let base = os.dir_of(dirfd, &p)?;
    if flags & O_TMPFILE == O_TMPFILE {
        let r = os.vfs.resolve(&base, &p, true)?;
        return match r.node {
            None => Err(ENOENT),
            Some(n) if os.vfs.kind(&n) != NodeKind::Dir => Err(ENOTDIR),
            Some(_) => super::fdops::tmpfile(os, &r.path, flags, mode),
        };
    }
    let follow = flags & O_NOFOLLOW == 0;
    let learn_kind: &[u8] = if flags & O_CREAT != 0 { b"create" } else { b"path" };
    let acc = flags & O_ACCMODE;
    let writable = acc == O_WRONLY || acc == O_RDWR;
    // Times another process made the file between this lookup and the create (below).
    let mut lost_races = 0;
    let (opened, kind) = loop {
        let r = os.vfs.resolve(&base, &p, follow).inspect_err(|&e| learn_missing(os, e, &base, &p, learn_kind))?;
        let kind = match r.node {
            None => {
                if flags & O_CREAT == 0 {
                    os.learn(b"path", &r.path);
                    return Err(ENOENT);
                }
                if p.ends_with(b"/") {
                    return Err(EISDIR);
                }
                let m = mode & !os.umask.load(Ordering::Relaxed) & 0o7777;
                let made = match os.vfs.place(&r.path)? {
                    crate::fs::vfs::Place::Memory => Ok(FileKind::Overlay(os.vfs.create_file(&r.path, m, os.now()))),
                    _ => os.vfs.host_create(&r.path, flags & HOST_OPEN_FLAGS, m).map(|h| FileKind::Host(HostFd(h))),
                };
                match made {
                    // Another process made it between the lookup and the create (the host's create
                    // is O_EXCL): without O_EXCL the open takes what is there now, as Linux's
                    // O_CREAT is one step (sqlite's WAL file, flock(1)'s lock file, `>>` from
                    // several shells at once).
                    Err(EEXIST) if flags & O_EXCL == 0 && lost_races < 16 => {
                        lost_races += 1;
                        continue;
                    }
                    made => made?,
                }
            }
            Some(node) => {
                if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL {
                    return Err(EEXIST);
                }
                os.vfs.opened(&node);
                match os.vfs.kind(&node) {
                    NodeKind::Dir => {
                        if writable || flags & O_CREAT != 0 {
                            return Err(EISDIR);
                        }
                        if let Node::Host(hn) = &node {
                            // A directory of a host directory whose mode lacks a read bit:
                            // the host says whether the app may read it (EACCES: the
                            // sandbox's root has no CAP_DAC_OVERRIDE), as opening it natively
                            // would.
                            if flags & O_PATH == 0 && hn.st.st_mode & 0o444 != 0o444 {
                                os.vfs.host_may_read_dir(hn)?;
                            }
                        }
                        FileKind::Dir
                    }
                    NodeKind::Symlink if follow && os.vfs.magic_fd(&node).is_some() => {
                        // Opening /proc/self/fd/N of a pipe, socket or host stream reaches the
                        // object itself, as Linux's magic links do.
                        let fd = os.vfs.magic_fd(&node).ok_or(ENOENT)?;
                        // A library-OS pipe is reopened as the host pipe it becomes.
                        os.promote_fd(fd);
                        let f = os.fds.lock().get(fd)?;
                        match &f.kind {
                            FileKind::Obj(crate::kobj::Obj::Pipe(e)) => {
                                let o = e.reopen(acc != O_WRONLY, acc != O_RDONLY);
                                let file = OpenFile::new(FileKind::Obj(o), Vec::new(), f.flags() & !O_ACCMODE | acc);
                                return os.fds.lock().alloc(file, flags & O_CLOEXEC != 0, 0).map(|fd| fd as usize);
                            }
                            #[cfg(feature = "netstack")]
                            FileKind::Obj(crate::kobj::Obj::Tcp(_)) => return Err(ENXIO), // as a socket on Linux
                            FileKind::Host(h) => {
                                let dup = os.platform.host_dup(h.0)?;
                                let file = OpenFile::new(
                                    FileKind::Host(HostFd(dup)),
                                    Vec::new(),
                                    f.flags() & !O_ACCMODE | acc,
                                );
                                return os.fds.lock().alloc(file, flags & O_CLOEXEC != 0, 0).map(|fd| fd as usize);
                            }
                            _ => return os.fds.lock().alloc(f, flags & O_CLOEXEC != 0, 0).map(|fd| fd as usize),
                        }
                    }
                    NodeKind::Symlink => {
                        if flags & O_PATH == 0 {
                            return Err(ELOOP);
                        }
                        FileKind::Dir
                    }
                    _ if flags & O_DIRECTORY != 0 => return Err(ENOTDIR),
                    NodeKind::CharDev => match node {
                        Node::Host(n) if n.st.st_mode & S_IFMT == S_IFIFO => {
                            FileKind::Host(HostFd(os.vfs.host_open_fifo(&n, flags & HOST_OPEN_FLAGS)?))
                        }
                        Node::Synth(crate::fs::synth::Synth::Tty) => FileKind::Host(HostFd(os.platform.open_tty()?)),
                        Node::Synth(s) => FileKind::Synth(s),
                        _ => return Err(ENXIO),
                    },
                    NodeKind::File => match node {
                        Node::Image(i) if writable && os.vfs.host_upper() => {
                            FileKind::Host(HostFd(os.vfs.host_copy_up(&r.path, i, flags & HOST_OPEN_FLAGS)?))
                        }
                        Node::Image(i) if writable => {
                            FileKind::Overlay(os.vfs.copy_up(&r.path, i, flags & O_TRUNC != 0)?)
                        }
                        Node::Host(n) => {
                            FileKind::Host(HostFd(os.vfs.host_open(&n, &r.path, flags & HOST_OPEN_FLAGS)?))
                        }
                        Node::Image(i) => FileKind::Image(i),
                        Node::Synth(s @ crate::fs::synth::Synth::EtcFallback(_))
                            if writable || flags & O_TRUNC != 0 =>
                        {
                            // A fallback /etc file opened for writing becomes a file of the
                            // writable layer with the content shown, which the open then takes.
                            materialize(os, &r.path, &crate::procfs::render(os, s)?)?;
                            continue;
                        }
                        Node::Synth(s) if s.generated() => {
                            // comm is the one generated file a process may write (its name, as
                            // prctl(PR_SET_NAME) sets it: glibc's pthread_setname_np of another
                            // thread writes /proc/self/task/<tid>/comm).
                            let comm = s == crate::fs::synth::Synth::ProcComm;
                            if (writable || flags & O_TRUNC != 0) && !comm {
                                return Err(EACCES);
                            }
                            FileKind::Generated(s, crate::procfs::render(os, s)?)
                        }
                        Node::OverlayFile(f) if crate::unixsock::is_socket_inode(f.ino) => return Err(ENXIO),
                        Node::OverlayFile(f) if crate::fifo::is_fifo(f.ino) => FileKind::Obj(crate::fifo::open(
                            &os.platform,
                            f.ino,
                            acc != O_WRONLY,
                            acc != O_RDONLY,
                            flags & O_NONBLOCK != 0,
                        )?),
                        Node::OverlayFile(f) => {
                            if writable && flags & O_TRUNC != 0 {
                                f.data.lock().clear();
                            }
                            FileKind::Overlay(f)
                        }
                        _ => return Err(ENXIO),
                    },
                }
            }
        };
        break (r.path, kind);
    };
    let keep = flags & !(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC);
    // A terminal reached through /dev/tty is a host stream, not a file of a host directory.
    let path = if matches!(kind, FileKind::Host(_)) && opened == b"/dev/tty" { Vec::new() } else { opened };
    let file = OpenFile::new(kind, path, keep);
    os.fds.lock().alloc(file, flags & O_CLOEXEC != 0, 0).map(|fd| fd as usize)
}

/// Makes a file of the writable layer at `path` (nothing there yet) holding `data`, mode 0644.
fn materialize<P: Platform>(os: &LibOs<P>, path: &[u8], data: &[u8]) -> Result<(), Errno> {
    match os.vfs.place(path)? {
        crate::fs::vfs::Place::Memory => {
            let f = os.vfs.create_file(path, 0o644, os.now());
            *f.data.lock() = data.to_vec();
        }
        _ => {
            let fd = os.vfs.host_create(path, O_WRONLY, 0o644)?;
            let hl = os.vfs.host.as_ref().ok_or(EROFS)?;
            let wrote = hl.ops.pwrite(fd, 0, data);
            hl.ops.close(fd);
            wrote?;
        }
    }
    Ok(())
}

/// read(2) of an open file at its position, or pread(2) at `at` (ESPIPE where it has none).
pub fn read_file<P: Platform>(os: &LibOs<P>, f: &OpenFile, buf: &mut [u8], at: Option<u64>) -> SysResult {
    if f.flags() & O_ACCMODE == O_WRONLY || f.flags() & O_PATH != 0 {
        return Err(EBADF);
    }
    match &f.kind {
        FileKind::Host(h) => match (at, os.vfs.host.as_ref()) {
            (Some(off), Some(hl)) => hl.ops.pread(h.0, off, buf),
            (Some(_), None) => Err(ESPIPE),
            (None, _) => os.platform.host_read(h.0, buf),
        },
        FileKind::Obj(_) if at.is_some() => Err(ESPIPE),
        FileKind::Obj(Obj::Pipe(e)) if e.backed() => match e.try_read(buf, f.flags() & O_NONBLOCK != 0) {
            Some(r) => r,
            // It would wait: on the host pipe it becomes (signals, EINTR and SA_RESTART as
            // for any host read).
            None => read_file(os, &*os.promote_file(f)?, buf, at),
        },
        FileKind::Obj(o) => o.read(&os.platform, buf, f.flags() & O_NONBLOCK != 0),
        FileKind::Dir => Err(EISDIR),
        FileKind::Synth(s) => {
            use crate::fs::synth::Synth;
            match s {
                Synth::Null => Ok(0),
                Synth::AttestUserData => {
                    let mut pos = f.pos.lock();
                    let n = os.attestation.read_user_data(at.unwrap_or(*pos), buf);
                    if at.is_none() {
                        *pos += n as u64;
                    }
                    Ok(n)
                }
                Synth::Random | Synth::URandom => {
                    os.platform.random(buf);
                    Ok(buf.len())
                }
                _ => {
                    buf.fill(0);
                    Ok(buf.len())
                }
            }
        }
        FileKind::Generated(_, data) => {
            let mut pos = f.pos.lock();
            let off = at.unwrap_or(*pos) as usize;
            let n = data.len().saturating_sub(off).min(buf.len());
            buf[..n].copy_from_slice(&data[off..off + n]);
            if at.is_none() {
                *pos += n as u64;
            }
            Ok(n)
        }
        FileKind::Image(_) | FileKind::Overlay(_) => {
            let node = os.node_of(f).ok_or(EBADF)?;
            match at {
                Some(off) => os.vfs.read_at(&node, off, buf),
                None => {
                    let mut pos = f.pos.lock();
                    let n = os.vfs.read_at(&node, *pos, buf)?;
                    *pos += n as u64;
                    Ok(n)
                }
            }
        }
    }
}

/// write(2) of an open file at its position (O_APPEND: its end), or pwrite(2) at `at`.
pub fn write_file<P: Platform>(os: &LibOs<P>, f: &OpenFile, buf: &[u8], at: Option<u64>) -> SysResult {
    if f.flags() & O_ACCMODE == O_RDONLY || f.flags() & O_PATH != 0 {
        return Err(EBADF);
    }
    match &f.kind {
        FileKind::Host(h) => match (at, os.vfs.host.as_ref()) {
            (Some(off), Some(hl)) => hl.ops.pwrite(h.0, off, buf),
            (Some(_), None) => Err(ESPIPE),
            (None, _) => os.platform.host_write(h.0, buf),
        },
        FileKind::Obj(_) if at.is_some() => Err(ESPIPE),
        FileKind::Obj(Obj::Pipe(e)) if e.backed() => match e.try_write(buf, f.flags() & O_NONBLOCK != 0) {
            Some(r) => r,
            // It would wait, or has no reader (EPIPE and SIGPIPE): on the host pipe.
            None => write_file(os, &*os.promote_file(f)?, buf, at),
        },
        FileKind::Obj(o) => o.write(&os.platform, buf, f.flags() & O_NONBLOCK != 0, &|| os.raise_sigpipe()),
        FileKind::Synth(crate::fs::synth::Synth::Full) => Err(ENOSPC),
        FileKind::Synth(crate::fs::synth::Synth::AttestUserData) => os.attestation.write_user_data(buf),
        FileKind::Synth(_) => Ok(buf.len()),
        // Writing nothing to a regular file changes nothing (not its size, even past the end).
        FileKind::Overlay(_) if buf.is_empty() => Ok(0),
        FileKind::Overlay(o) => {
            let mut pos = f.pos.lock();
            let mut data = o.data.lock();
            let start = match at {
                Some(off) => off as usize,
                None if f.flags() & O_APPEND != 0 => data.len(),
                None => *pos as usize,
            };
            let end = start.checked_add(buf.len()).ok_or(EFBIG)?;
            if end > 1 << 40 {
                return Err(EFBIG);
            }
            if data.len() < end {
                let extra = end - data.len();
                data.try_reserve(extra).map_err(|_| ENOSPC)?;
                data.resize(end, 0);
            }
            data[start..end].copy_from_slice(buf);
            if at.is_none() {
                *pos = end as u64;
            }
            o.mtime.store(os.now(), Ordering::Relaxed);
            Ok(buf.len())
        }
        FileKind::Generated(crate::fs::synth::Synth::ProcComm, _) => {
            // As Linux's comm_write: the first 15 bytes become the name, as given.
            os.ident.set_name(&buf[..buf.len().min(15)]);
            crate::procfs::publish(os);
            Ok(buf.len())
        }
        FileKind::Image(_) | FileKind::Dir | FileKind::Generated(..) => Err(EBADF),
    }
}

/// A read into a buffer the app mapped without write access: Linux fails (EFAULT) only when it
/// has bytes to copy, so at the end of a file such a read still gives 0; the other errors of
/// the descriptor come first.
fn read_denied<P: Platform>(os: &LibOs<P>, f: &OpenFile, len: usize, at: Option<u64>) -> SysResult {
    let stream = matches!(f.kind, FileKind::Obj(_)) || (matches!(f.kind, FileKind::Host(_)) && f.path.is_empty());
    if len == 0 {
        return Ok(0);
    }
    let pos = match (at, &f.kind) {
        _ if stream => return read_file(os, f, &mut [], None).and(Err(EFAULT)),
        (Some(o), _) => o,
        (None, FileKind::Host(h)) => os.platform.host_lseek(h.0, 0, SEEK_CUR)?,
        _ => *f.pos.lock(),
    };
    let mut one = [0u8; 1];
    match read_file(os, f, &mut one, Some(pos))? {
        0 => Ok(0),
        _ => Err(EFAULT),
    }
}

/// Why [`host_rw_checked`] did not make the host call (nothing has had an effect yet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fallback {
    /// A check failed: this is the call's answer ([`dispatch`]'s chain, asked again, gives it).
    Errno(Errno),
    /// read(2) of a buffer the app cannot write at all: the general way decides (`read_denied`:
    /// EFAULT, or 0 at the end of the stream).
    General,
}

/// The host branch of `read` (`write` when `write`) for a host object (a pipe, a socket, a
/// terminal, a host file): the checks ([`host_rw_check`]) and then the host call. Shared by
/// `read`, `write` and [`host_stream_rw`], so the fast path and the chain cannot drift apart;
/// they differ only in what they do with a [`Fallback`].
#[inline(always)]
fn host_rw_checked<P: Platform>(
    os: &LibOs<P>,
    write: bool,
    h: i32,
    flags: u32,
    buf: usize,
    len: usize,
) -> Result<SysResult, Fallback> {
    let n = host_rw_check(os, write, flags, buf, len)?;
    if write {
        // `guard_len` proved these `n` bytes readable.
        let b = user::slice(buf, n).map_err(Fallback::Errno)?;
        if n < len {
            return Ok(host_write_partial(os, h, b, len));
        }
        return Ok(os.platform.host_write(h, b));
    }
    // `guard_len` proved these `n` bytes writable: no second look at the map.
    let b = user::slice_mut(buf, n).map_err(Fallback::Errno)?;
    if n < len {
        return Ok(host_read_partial(os, h, b, len));
    }
    Ok(os.platform.host_read(h, b))
}

/// The checks of a host object's read (write when `write`), in this order, with no effect:
/// read: the buffer's range (EFAULT), then a buffer the app cannot write at all with a
/// non-zero length ([`Fallback::General`]), then the access mode and O_PATH (EBADF), then the
/// writable prefix as a slice; write: the buffer's range, then a buffer the app cannot read at
/// all, or only in part on a descriptor not open for writing (EFAULT), then the access mode
/// and O_PATH (EBADF), then the readable prefix as a slice. Returns how many bytes the host
/// call may move: the readable prefix for write, the writable prefix for read (less than
/// `len` where the buffer stops being accessible: `host_write_partial`, `host_read_partial`).
#[inline(always)]
fn host_rw_check<P: Platform>(
    os: &LibOs<P>,
    write: bool,
    flags: u32,
    buf: usize,
    len: usize,
) -> Result<usize, Fallback> {
    if write {
        let readable = user::guard_len(&os.mem, buf, len, false).map_err(Fallback::Errno)?;
        if readable < len && (readable == 0 || flags & O_ACCMODE == O_RDONLY || flags & O_PATH != 0) {
            return Err(Fallback::Errno(EFAULT));
        }
        if flags & O_ACCMODE == O_RDONLY || flags & O_PATH != 0 {
            return Err(Fallback::Errno(EBADF));
        }
        user::slice(buf, readable).map_err(Fallback::Errno)?;
        return Ok(readable);
    }
    let room = user::guard_len(&os.mem, buf, len, true).map_err(Fallback::Errno)?;
    if room == 0 && len != 0 {
        return Err(Fallback::General);
    }
    if flags & O_ACCMODE == O_WRONLY || flags & O_PATH != 0 {
        return Err(Fallback::Errno(EBADF));
    }
    user::slice_mut(buf, room).map_err(Fallback::Errno)?;
    Ok(room)
}

/// read(2) or write(2) (`n`, arguments `a`) of a host stream or file that the host may be asked
/// exactly as the app asked it, with only the descriptor replaced by the host's: the host
/// descriptor, when the call passes every check of [`host_rw_check`] and the whole buffer
/// is accessible (so the host call moves what the chain's would). None otherwise (another call,
/// a descriptor that is not a host object, a failed check, a buffer accessible only in part): nothing
/// here has an effect, and the caller then asks [`host_stream_rw`] or [`super::dispatch`],
/// which repeat the checks and give the call's answer.
///
/// For a platform entry that makes the host call itself with the app's registers (the
/// linux-userland fast path's pass-through: one function return after a read that blocked
/// instead of three, bench/RESULTS-issue17-ctx5.md). What the host returns is the call's
/// answer, as [`host_stream_rw`] passes it on.
#[inline(always)]
pub fn host_stream_passthrough<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<i32> {
    if n != READ && n != WRITE {
        return None;
    }
    let (h, flags, _) = os.host_fd(a[0] as i32)?;
    match host_rw_check(os, n == WRITE, flags, a[1], a[2]) {
        Ok(k) if k == a[2] => Some(h),
        _ => None,
    }
}

/// read(2) of `want` bytes from host descriptor `h` into `buf`, the writable part (not all)
/// of the app's buffer, failing where Linux's copy would fault: a pipe or a stream socket
/// (pipe_read, unix_stream_read_generic, tcp_recvmsg copy one chunk at a time, a pipe buffer
/// or a message as sent, and fail the chunk that does not fit without taking any of it) fails
/// with EFAULT and takes nothing when more is queued than fits (FIONREAD; the host's chunks
/// cannot be seen, so this assumes the first one is all of it); a datagram socket takes its
/// datagram (what fits is filled) and fails with EFAULT when it does not fit; a regular file
/// or a terminal gives the short count of what fits, as natively (filemap_read). A read that
/// finds nothing queued reads what fits (it may wait; if more than fits comes it gets a
/// short count, see docs/syscalls.md). The host never writes past `buf`.
#[cold]
#[inline(never)]
fn host_read_partial<P: Platform>(os: &LibOs<P>, h: i32, buf: &mut [u8], want: usize) -> SysResult {
    let Ok(st) = os.platform.host_stat(h) else {
        return os.platform.host_read(h, buf);
    };
    let sock = st.st_mode & S_IFMT == S_IFSOCK;
    if st.st_mode & S_IFMT != S_IFIFO && !sock {
        return os.platform.host_read(h, buf);
    }
    let dgram = sock && !host_stream_socket(os, h);
    let queued = if dgram { host_next_datagram(os, h) } else { host_queued(os, h) };
    if queued.min(want) <= buf.len() {
        return os.platform.host_read(h, buf);
    }
    if dgram {
        os.platform.host_read(h, buf)?;
    }
    Err(EFAULT)
}

/// write(2) of `len` bytes to host descriptor `h` from `buf`, the readable part (not all) of
/// the app's buffer, as far as Linux's copy gets before it faults: a pipe as pipe_write
/// ([`crate::kobj::pipe_write_fit`]; whether the first bytes join the newest page buffer is
/// worked out from FIONREAD), a regular file the readable prefix (generic_perform_write);
/// anything else (a socket, a terminal) fails with EFAULT (a socket copies a message at a
/// time, which is larger than what these writes could still send).
#[cold]
#[inline(never)]
fn host_write_partial<P: Platform>(os: &LibOs<P>, h: i32, buf: &[u8], len: usize) -> SysResult {
    let mode = os.platform.host_stat(h).map(|st| st.st_mode & S_IFMT).unwrap_or(0);
    let n = match mode {
        S_IFREG => buf.len(),
        S_IFIFO => crate::kobj::pipe_write_fit(buf.len(), crate::kobj::pipe_merge(len, host_queued(os, h), None))?,
        _ => return Err(EFAULT),
    };
    os.platform.host_write(h, &buf[..n])
}

/// write(2) of `len` bytes of open file `f` from `buf`, the readable part (not all) of the
/// app's buffer: as [`host_write_partial`] for a pipe of the library OS (its page buffers
/// known) or a file of the writable layer; EFAULT for anything else.
#[cold]
#[inline(never)]
fn write_partial<P: Platform>(os: &LibOs<P>, f: &OpenFile, buf: &[u8], len: usize) -> SysResult {
    if f.flags() & O_ACCMODE == O_RDONLY || f.flags() & O_PATH != 0 {
        return Err(EBADF);
    }
    let n = match &f.kind {
        FileKind::Host(h) => return host_write_partial(os, h.0, buf, len),
        FileKind::Obj(Obj::Pipe(e)) => crate::kobj::pipe_write_fit(buf.len(), e.merge(len))?,
        FileKind::Overlay(_) => buf.len(),
        _ => return Err(EFAULT),
    };
    write_file(os, f, &buf[..n], None)
}

/// Bytes queued on host pipe or stream socket `h` (FIONREAD; 0 if the host does not say).
pub(super) fn host_queued<P: Platform>(os: &LibOs<P>, h: i32) -> usize {
    let mut n = [0u8; 8];
    match os.platform.host_ioctl(h, FIONREAD, n.as_mut_ptr() as usize) {
        Ok(_) => i32::from_ne_bytes([n[0], n[1], n[2], n[3]]).max(0) as usize,
        Err(_) => 0,
    }
}

/// The size of the next datagram (or seqpacket message) queued on host socket `h`, 0 if none
/// (recvfrom with MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT into no room: the host copies nothing).
pub(super) fn host_next_datagram<P: Platform>(os: &LibOs<P>, h: i32) -> usize {
    const MSG_PEEK: usize = 2;
    const MSG_TRUNC: usize = 0x20;
    const MSG_DONTWAIT: usize = 0x40;
    let none = [0u8; 0];
    let a = [h as usize, none.as_ptr() as usize, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT, 0, 0];
    os.platform.net_call(RECVFROM, a).unwrap_or(0)
}

/// Whether host socket `h` is a stream socket (SO_TYPE, asked of the host).
pub(super) fn host_stream_socket<P: Platform>(os: &LibOs<P>, h: i32) -> bool {
    const SOL_SOCKET: usize = 1;
    const SO_TYPE: usize = 3;
    let (mut v, mut len) = (0i32, 4u32);
    let (vp, lp) = (&mut v as *mut i32 as usize, &mut len as *mut u32 as usize);
    let r = os.platform.net_call(GETSOCKOPT, [h as usize, SOL_SOCKET, SO_TYPE, vp, lp, 0]);
    r.is_err() || v == 1
}

/// read(2) of `want` bytes of open file `f` into `buf`, the writable part (not all) of the
/// app's buffer: what Linux's read of the object does where its copy faults (a library-OS
/// pipe or Unix socket: `Obj::read_in`; a host pipe or socket: [`host_read_partial`]); a file
/// gives the short count of what fits.
#[cold]
#[inline(never)]
fn read_partial<P: Platform>(os: &LibOs<P>, f: &OpenFile, buf: &mut [u8], want: usize) -> SysResult {
    if f.flags() & O_ACCMODE == O_WRONLY || f.flags() & O_PATH != 0 {
        return Err(EBADF);
    }
    let nonblock = f.flags() & O_NONBLOCK != 0;
    match &f.kind {
        FileKind::Host(h) if f.path.is_empty() => host_read_partial(os, h.0, buf, want),
        FileKind::Obj(Obj::Pipe(e)) if e.backed() => match e.try_read_in(buf, want, nonblock) {
            Some(r) => r,
            None => read_partial(os, &*os.promote_file(f)?, buf, want),
        },
        FileKind::Obj(o @ (Obj::Pipe(_) | Obj::Unix(_))) => o.read_in(&os.platform, buf, want, nonblock),
        _ => read_file(os, f, buf, None),
    }
}

/// read(2) and write(2) of a host stream or file (a pipe, a socket, stdin): what [`dispatch`]
/// answers for them (`read` and `write` below, their host branch, `host_rw_checked`), for a
/// platform's syscall entry to call before [`super::dispatch`] with every step inlined into the
/// caller. None for anything else (another call, a descriptor that is not a host object, a
/// failed check or a buffer the general way must look at: any `Fallback`), which the caller then passes to [`super::dispatch`]: nothing here has an
/// effect before the host call, so that repeats exactly what the chain would have done.
///
/// Why: after a read that blocked, the CPU comes back from a context switch with its return
/// predictions overwritten (the kernel fills the return stack buffer on every switch), so every
/// function return between the host call and the app mispredicts. Served through the chain,
/// that was six returns of the runtime's (gate, `host_read`, `read`, `dispatch`, the entry's
/// Rust half and the entry); this way it is three (bench/RESULTS-issue17-ctx3.md).
#[inline(always)]
pub fn host_stream_rw<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    if n != READ && n != WRITE {
        return None;
    }
    // `host_fd`: `fd_ref`'s host answer without taking a reference (a library-OS pipe or an
    // image file goes to the chain with no reference count touched here).
    let (h, flags, _) = os.host_fd(a[0] as i32)?;
    host_rw_checked(os, n == WRITE, h, flags, a[1], a[2]).ok()
}

fn read<P: Platform>(os: &LibOs<P>, fd: i32, buf: usize, len: usize) -> SysResult {
    let f = match os.fd_ref(fd)? {
        FdRef::File(f) => f,
        // A host stream or file (a pipe, a socket, stdin): what `read_file` does for one,
        // without holding the open file (see `LibOs::fd_ref`). A buffer the app cannot write
        // at all takes the general way below.
        FdRef::Host(h, flags, _) => match host_rw_checked(os, false, h, flags, buf, len) {
            Ok(r) => return r,
            Err(Fallback::Errno(e)) => return Err(e),
            Err(Fallback::General) => os.fds.lock().get(fd)?,
        },
    };
    let room = user::guard_len(&os.mem, buf, len, true)?;
    if room == 0 && len != 0 {
        return read_denied(os, &f, len, None);
    }
    let b = user::slice_mut_in(&os.mem, buf, room)?;
    if room < len {
        // A buffer that stops being writable part of the way: a short count of what fits
        // (a file) or EFAULT where Linux's copy of a chunk would fault (a pipe, a socket).
        return read_partial(os, &f, b, len);
    }
    read_file(os, &f, b, None)
}

fn write<P: Platform>(os: &LibOs<P>, fd: i32, buf: usize, len: usize) -> SysResult {
    let f = match os.fd_ref(fd)? {
        FdRef::File(f) => f,
        // As in `read`: `write_file`'s way for a host object, without holding the file.
        FdRef::Host(h, flags, _) => match host_rw_checked(os, true, h, flags, buf, len) {
            Ok(r) => return r,
            Err(Fallback::Errno(e)) => return Err(e),
            // Not for write (its checks have no such case); the general way would answer it.
            Err(Fallback::General) => os.fds.lock().get(fd)?,
        },
    };
    let readable = user::guard_len(&os.mem, buf, len, false)?;
    if readable < len {
        if readable == 0 {
            return Err(EFAULT);
        }
        return write_partial(os, &f, user::slice_in(&os.mem, buf, readable)?, len);
    }
    let b = user::slice_in(&os.mem, buf, len)?;
    write_file(os, &f, b, None)
}

fn pread<P: Platform>(os: &LibOs<P>, fd: i32, buf: usize, len: usize, off: i64) -> SysResult {
    if off < 0 {
        return Err(EINVAL);
    }
    let f = os.fds.lock().get(fd)?;
    let room = user::guard_len(&os.mem, buf, len, true)?;
    if room == 0 && len != 0 {
        return read_denied(os, &f, len, Some(off as u64));
    }
    let b = user::slice_mut_in(&os.mem, buf, room)?;
    read_file(os, &f, b, Some(off as u64))
}

fn pwrite<P: Platform>(os: &LibOs<P>, fd: i32, buf: usize, len: usize, off: i64) -> SysResult {
    if off < 0 {
        return Err(EINVAL);
    }
    let f = os.fds.lock().get(fd)?;
    // A buffer that stops being readable part of the way: a file takes what can be read
    // (generic_perform_write); pipes and sockets have no offset (ESPIPE).
    let readable = user::guard_len(&os.mem, buf, len, false)?;
    if readable == 0 && len != 0 {
        return Err(EFAULT);
    }
    let b = user::slice_in(&os.mem, buf, readable)?;
    write_file(os, &f, b, Some(off as u64))
}

/// EFAULT when a buffer of `vs` lies in app memory mapped without the access (`write`: the
/// call fills the buffers), see [`user::guard`].
pub(super) fn guard_iov<P: Platform>(os: &LibOs<P>, vs: &[Iovec], write: bool) -> Result<(), Errno> {
    vs.iter().try_for_each(|v| user::guard(&os.mem, v.base, v.len, write))
}

/// The app's iovec array: EINVAL for more than IOV_MAX entries, a negative length or a total
/// past SSIZE_MAX (checked before any buffer is touched, as Linux's import_iovec does).
pub(super) fn iovecs(mem: &crate::memlock::MemLock, ptr: usize, cnt: usize) -> Result<Vec<Iovec>, Errno> {
    if cnt > 1024 {
        return Err(EINVAL);
    }
    let vs: Vec<Iovec> = (0..cnt).map(|i| user::read_in::<Iovec>(mem, ptr + i * 16)).collect::<Result<_, _>>()?;
    let mut total: usize = 0;
    for v in &vs {
        total = total.checked_add(v.len).filter(|&t| t <= isize::MAX as usize).ok_or(EINVAL)?;
    }
    Ok(vs)
}

/// Cuts iovec array `vs` to its accessible prefix (`write`: the call fills the buffers): the
/// buffers up to the first one the app cannot access all of, and that one's accessible start,
/// as one buffer of read(2) or write(2) that stops being accessible part of the way. Returns
/// (bytes left, bytes the vector had); EFAULT for a buffer outside the app's half.
pub(super) fn accessible_prefix<P: Platform>(
    os: &LibOs<P>,
    vs: &mut Vec<Iovec>,
    write: bool,
) -> Result<(usize, usize), Errno> {
    let total = vs.iter().try_fold(0usize, |t, v| t.checked_add(v.len)).ok_or(EINVAL)?;
    let mut room = 0;
    let mut cut = None;
    for (i, v) in vs.iter().enumerate() {
        let k = user::guard_len(&os.mem, v.base, v.len, write)?;
        if cut.is_none() {
            room += k;
            if k < v.len {
                cut = Some((i, k));
            }
        }
    }
    if let Some((i, k)) = cut {
        vs[i].len = k;
        vs.truncate(i + 1);
    }
    Ok((room, total))
}

pub(super) fn readv<P: Platform>(os: &LibOs<P>, fd: i32, iov: usize, cnt: usize) -> SysResult {
    let f = os.fds.lock().get(fd)?;
    let mut vs = iovecs(&os.mem, iov, cnt)?;
    let (room, total) = accessible_prefix(os, &mut vs, true)?;
    if room == 0 && total != 0 {
        return read_denied(os, &f, total, None);
    }
    if matches!(f.kind, FileKind::Host(_) | FileKind::Obj(_)) && f.path.is_empty() {
        // A stream (pipe, socket, terminal): one read for the whole vector, so it does not
        // block for more once some data came, as natively.
        let mut all = alloc::vec![0u8; room.min(1 << 24)];
        let mut n =
            if room < total { read_partial(os, &f, &mut all, total)? } else { read_file(os, &f, &mut all, None)? };
        let mut from = 0;
        for v in &vs {
            let k = n.min(v.len);
            user::slice_mut_in(&os.mem, v.base, k)?.copy_from_slice(&all[from..from + k]);
            from += k;
            n -= k;
        }
        return Ok(from);
    }
    let mut total = 0;
    for v in vs {
        let b = user::slice_mut_in(&os.mem, v.base, v.len)?;
        let n = read_file(os, &f, b, None)?;
        total += n;
        if n < v.len {
            break;
        }
    }
    Ok(total)
}

pub(super) fn writev<P: Platform>(os: &LibOs<P>, fd: i32, iov: usize, cnt: usize) -> SysResult {
    let f = os.fds.lock().get(fd)?;
    let mut vs = iovecs(&os.mem, iov, cnt)?;
    let (readable, total) = accessible_prefix(os, &mut vs, false)?;
    if readable == 0 && total != 0 {
        return Err(EFAULT);
    }
    // One write for the whole vector, so a pipe or terminal sees it as natively (atomically).
    let mut all = Vec::new();
    for v in &vs {
        all.extend_from_slice(user::slice_in(&os.mem, v.base, v.len)?);
    }
    if readable < total {
        // Its tail cannot be read: as write(2) of such a buffer.
        return write_partial(os, &f, &all, total);
    }
    write_file(os, &f, &all, None)
}

fn stat_node<P: Platform>(os: &LibOs<P>, f: &OpenFile) -> Result<Stat, Errno> {
    match &f.kind {
        FileKind::Host(h) => os.platform.host_stat(h.0).map(|mut st| {
            os.vfs.map_ids(&mut st);
            // A file of the writable layer or a mount: the device its stat by path reports
            // (shutil.rmtree and tempfile compare lstat with fstat, `os.path.samestat`).
            os.vfs.host_ids(&f.path, &mut st);
            st
        }),
        // A library-OS pipe: its standby host pipe's (the same after promotion).
        FileKind::Obj(Obj::Pipe(e)) if e.backed() => os.platform.host_stat(e.host_fd()).map(|mut st| {
            os.vfs.map_ids(&mut st);
            st
        }),
        FileKind::Obj(o) => Ok(o.stat(os.platform.creds())),
        _ => os.node_of(f).map(|n| os.vfs.stat(&n)).ok_or(ENOENT),
    }
}

fn fstat<P: Platform>(os: &LibOs<P>, fd: i32, buf: usize) -> SysResult {
    let f = os.fds.lock().get(fd)?;
    user::guard(&os.mem, buf, core::mem::size_of::<Stat>(), true)?;
    let st = stat_node(os, &f)?;
    user::write_in(&os.mem, buf, &st)?;
    Ok(0)
}

fn stat_at<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, flags: u32) -> Result<Stat, Errno> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0 {
        return Err(EINVAL);
    }
    let p = path_arg(os, ptr)?;
    if p.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(ENOENT);
        }
        if dirfd == AT_FDCWD {
            let cwd = os.cwd.lock().clone();
            return os.vfs.lookup(&cwd).map(|n| os.vfs.stat(&n)).ok_or(ENOENT);
        }
        let f = os.fds.lock().get(dirfd)?;
        return stat_node(os, &f);
    }
    let base = os.dir_of(dirfd, &p)?;
    let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
    let r = os.vfs.resolve(&base, &p, follow)?;
    let node = r.node.ok_or(ENOENT)?;
    if let Some(fd) = os.vfs.magic_fd(&node).filter(|_| follow) {
        // /proc/self/fd/N of a pipe or socket: the object's own stat.
        let f = os.fds.lock().get(fd)?;
        return stat_node(os, &f);
    }
    Ok(os.vfs.stat(&node))
}

fn fstatat<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, buf: usize, flags: u32) -> SysResult {
    let st = stat_at(os, dirfd, ptr, flags)?;
    user::guard(&os.mem, buf, core::mem::size_of::<Stat>(), true)?;
    user::write_in(&os.mem, buf, &st)?;
    Ok(0)
}

fn statx<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, flags: u32, buf: usize) -> SysResult {
    let st = stat_at(os, dirfd, ptr, flags)?;
    user::write_in(&os.mem, buf, &statx_from_stat(&st))?;
    Ok(0)
}

fn lseek<P: Platform>(os: &LibOs<P>, fd: i32, off: i64, whence: u32) -> SysResult {
    let f = os.fds.lock().get(fd)?;
    if let FileKind::Host(h) = &f.kind {
        return os.platform.host_lseek(h.0, off, whence).map(|v| v as usize);
    }
    if let FileKind::Obj(_) = f.kind {
        return Err(ESPIPE);
    }
    if let FileKind::Synth(_) = f.kind {
        return Ok(0);
    }
    let size = match &f.kind {
        FileKind::Dir => 0,
        FileKind::Generated(_, d) => d.len() as i64,
        _ => stat_node(os, &f)?.st_size,
    };
    let mut pos = f.pos.lock();
    let new = match whence {
        SEEK_SET => off,
        SEEK_CUR => (*pos as i64).checked_add(off).ok_or(EOVERFLOW)?,
        SEEK_END => size.checked_add(off).ok_or(EOVERFLOW)?,
        3 => {
            // SEEK_DATA
            if off >= size {
                return Err(ENXIO);
            }
            off
        }
        4 => {
            // SEEK_HOLE
            if off >= size {
                return Err(ENXIO);
            }
            size
        }
        _ => return Err(EINVAL),
    };
    if new < 0 {
        return Err(EINVAL);
    }
    *pos = new as u64;
    if let FileKind::Dir = f.kind {
        if new == 0 {
            *f.listing.lock() = None;
        }
    }
    Ok(new as usize)
}

fn ioctl<P: Platform>(os: &LibOs<P>, fd: i32, cmd: u32, arg: usize) -> SysResult {
    let mut f = os.fds.lock().get(fd)?;
    if !matches!(cmd, FIONREAD | FIONBIO | 0x5450..=0x5452) && crate::pipes::backed(&f).is_some() {
        // Any other ioctl asks the host pipe the library-OS pipe becomes.
        f = os.promote_file(&f)?;
    }
    match cmd {
        0x5451 => return os.fds.lock().set_cloexec(fd, true).map(|_| 0), // FIOCLEX
        0x5450 => return os.fds.lock().set_cloexec(fd, false).map(|_| 0), // FIONCLEX
        0x5452 => {
            // FIOASYNC: the O_ASYNC status flag, as fcntl(F_SETFL) sets it (no SIGIO is sent).
            let on = user::read_in::<i32>(&os.mem, arg)? != 0;
            let old = f.flags();
            f.flags.store(if on { old | O_ASYNC } else { old & !O_ASYNC }, Ordering::Relaxed);
            return Ok(0);
        }
        // FIONBIO: the O_NONBLOCK status flag, as Linux's do_vfs_ioctl sets it for every file
        // (CPython's os.set_blocking); a host descriptor's is set on the host too (below).
        FIONBIO if !matches!(f.kind, FileKind::Host(_)) => {
            let on = user::read_in::<i32>(&os.mem, arg)? != 0;
            let old = f.flags();
            f.flags.store(if on { old | O_NONBLOCK } else { old & !O_NONBLOCK }, Ordering::Relaxed);
            return Ok(0);
        }
        _ => {}
    }
    if super::ifaces::is_interface_query(cmd) {
        // On any socket, as Linux answers them (ENOTTY on anything else).
        return match stat_node(os, &f) {
            Ok(st) if st.st_mode & S_IFMT == crate::abi::S_IFSOCK => {
                let unix = match &f.kind {
                    FileKind::Obj(Obj::Unix(_)) => true,
                    FileKind::Host(_) => super::net::unix_socket(os, fd).unwrap_or(false),
                    _ => false,
                };
                super::ifaces::query(os, cmd, arg, !unix)
            }
            _ => Err(refused_ioctl(os, fd, cmd, b"file")),
        };
    }
    match &f.kind {
        FileKind::Host(h) => match cmd {
            TCGETS | TIOCGWINSZ | FIONREAD => os.platform.host_ioctl(h.0, cmd, arg),
            TIOCGPGRP => {
                let r = os.platform.host_ioctl(h.0, cmd, arg)?;
                // A foreground group led outside the app's pid namespace (the group the app
                // started in) reads as 1, as getpgrp() does there (shim/process.rs).
                if os.platform.passthrough().is_some() && user::read_in::<i32>(&os.mem, arg)? == 0 {
                    user::write_in(&os.mem, arg, &1i32)?;
                }
                Ok(r)
            }
            // Job control: make one of the app's process groups the terminal's foreground
            // group (the host resolves the group in the app's pid namespace, within the
            // terminal's session).
            TIOCSPGRP => os.platform.host_ioctl(h.0, cmd, arg),
            FIONBIO => {
                // The same status flag as fcntl(F_SETFL, O_NONBLOCK) (CPython sets it this way).
                let on = user::read_in::<i32>(&os.mem, arg)? != 0;
                os.platform.host_set_nonblock(h.0, on)?;
                let old = f.flags();
                f.flags.store(if on { old | O_NONBLOCK } else { old & !O_NONBLOCK }, Ordering::Relaxed);
                Ok(0)
            }
            _ => Err(refused_ioctl(os, fd, cmd, b"host")),
        },
        FileKind::Obj(o) => match cmd {
            FIONREAD => {
                let n = o.unread().ok_or(ENOTTY)?;
                user::write_in(&os.mem, arg, &(n as i32))?;
                Ok(0)
            }
            _ => Err(refused_ioctl(os, fd, cmd, b"object")),
        },
        FileKind::Image(_) | FileKind::Overlay(_) if cmd == FIONREAD => {
            let size = stat_node(os, &f)?.st_size as u64;
            let left = size.saturating_sub(*f.pos.lock()) as i32;
            user::write_in(&os.mem, arg, &left)?;
            Ok(0)
        }
        _ => Err(refused_ioctl(os, fd, cmd, b"file")),
    }
}

/// ENOTTY for an ioctl the shim does not serve on this kind of descriptor (`what`: `host`,
/// `object` or `file`), recorded for `litebox run --learn` as `ioctl` `CMD FD WHAT` (CMD in
/// hex). Terminal queries on a descriptor that is no terminal are not recorded: Linux answers
/// them ENOTTY too (isatty on a pipe or file).
fn refused_ioctl<P: Platform>(os: &LibOs<P>, fd: i32, cmd: u32, what: &[u8]) -> Errno {
    let terminal_query = matches!(cmd, TCGETS | TIOCGWINSZ | TIOCGPGRP);
    if !(terminal_query && what != b"host") {
        os.learn_with(b"ioctl", || {
            let mut v = Vec::with_capacity(32);
            v.extend_from_slice(b"0x");
            for sh in (0..8).rev() {
                v.push(b"0123456789abcdef"[((cmd >> (sh * 4)) & 15) as usize]);
            }
            v.push(b' ');
            let mut num = [0u8; 20];
            v.extend_from_slice(super::fmt_usize(fd as u32 as usize, &mut num));
            v.push(b' ');
            v.extend_from_slice(what);
            v
        });
    }
    ENOTTY
}

fn faccessat<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, mode: u32, flags: u32) -> SysResult {
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let (_, node) = lookup_at(os, dirfd, ptr, flags & AT_SYMLINK_NOFOLLOW == 0)?;
    if mode == F_OK {
        return Ok(0);
    }
    let st = os.vfs.stat(&node);
    let perm = st.st_mode & 0o777;
    let uid = os.ident.uids().effective;
    if uid == 0 {
        // root: read and write always, execute if any x bit is set (or a directory).
        if mode & X_OK != 0 && perm & 0o111 == 0 && st.st_mode & S_IFMT != S_IFDIR {
            return Err(EACCES);
        }
        return Ok(0);
    }
    let has = |bit: u32| perm & (bit * 0o111) != 0;
    if (mode & R_OK != 0 && !has(4)) || (mode & W_OK != 0 && !has(2)) || (mode & X_OK != 0 && !has(1)) {
        return Err(EACCES);
    }
    Ok(0)
}

fn dup<P: Platform>(os: &LibOs<P>, fd: i32) -> SysResult {
    let mut t = os.fds.lock();
    let f = t.get(fd)?;
    t.alloc(f, false, 0).map(|v| v as usize)
}

fn dup2<P: Platform>(os: &LibOs<P>, old: i32, new: i32) -> SysResult {
    let mut t = os.fds.lock();
    let f = t.get(old)?;
    if old == new {
        return Ok(new as usize);
    }
    t.install(new, f, false)?;
    Ok(new as usize)
}

fn dup3<P: Platform>(os: &LibOs<P>, old: i32, new: i32, flags: u32) -> SysResult {
    if old == new || flags & !O_CLOEXEC != 0 {
        return Err(EINVAL);
    }
    let mut t = os.fds.lock();
    let f = t.get(old)?;
    t.install(new, f, flags & O_CLOEXEC != 0)?;
    Ok(new as usize)
}

fn fcntl<P: Platform>(os: &LibOs<P>, fd: i32, cmd: u32, arg: usize) -> SysResult {
    let mut t = os.fds.lock();
    let f = t.get(fd)?;
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            if arg >= t.limit {
                return Err(EINVAL);
            }
            t.alloc(f, cmd == F_DUPFD_CLOEXEC, arg).map(|v| v as usize)
        }
        F_GETFD => t.cloexec(fd).map(|c| if c { FD_CLOEXEC as usize } else { 0 }),
        F_SETFD => t.set_cloexec(fd, arg as u32 & FD_CLOEXEC != 0).map(|_| 0),
        F_GETFL => Ok(f.flags() as usize),
        F_SETFL => {
            let changeable = O_APPEND | O_NONBLOCK | O_ASYNC;
            let old = f.flags();
            let new = (old & !changeable) | (arg as u32 & changeable);
            if let FileKind::Host(h) = &f.kind {
                if (old ^ new) & O_NONBLOCK != 0 {
                    drop(t);
                    os.platform.host_set_nonblock(h.0, new & O_NONBLOCK != 0)?;
                }
            }
            f.flags.store(new, Ordering::Relaxed);
            Ok(0)
        }
        5 | 6 | 7 | 36 | 37 | 38
            if matches!(f.kind, FileKind::Host(_)) && !f.path.is_empty() && os.platform.passthrough().is_some() =>
        {
            // Record locks on a file of a host directory: the host arbitrates between the
            // app's processes (a platform without passthrough keeps them in the core's table).
            drop(t);
            let FileKind::Host(h) = &f.kind else { return Err(EBADF) };
            user::slice_mut_in(&os.mem, arg, 32)?;
            if cmd == 6 || cmd == 7 {
                os.record_locks.store(true, Ordering::Relaxed);
            }
            os.platform.passthrough().ok_or(ENOSYS)?.fd_call(FCNTL, [h.0 as usize, cmd as usize, arg, 0, 0, 0])
        }
        5 | 6 | 7 | 36 | 37 | 38 => {
            drop(t);
            super::locks::record_lock(os, &f, cmd, arg)
        }
        _ => {
            drop(t);
            super::fcntl_more::fcntl(os, &f, cmd, arg)
        }
    }
}

fn resize_overlay(f: &crate::fs::overlay::OverlayFile, len: i64) -> SysResult {
    if len < 0 {
        return Err(EINVAL);
    }
    if len > 1 << 40 {
        return Err(EFBIG);
    }
    f.data.lock().resize(len as usize, 0);
    Ok(0)
}

fn truncate<P: Platform>(os: &LibOs<P>, ptr: usize, len: i64) -> SysResult {
    let (path, node) = lookup_at(os, AT_FDCWD, ptr, true)?;
    if len < 0 {
        return Err(EINVAL);
    }
    if os.vfs.kind(&node) == NodeKind::File && os.vfs.host_truncate(&node, &path, len as u64)? {
        return Ok(0);
    }
    match node {
        Node::OverlayFile(f) => resize_overlay(&f, len),
        Node::Image(i) if os.vfs.kind(&node) == NodeKind::File && os.vfs.host_upper() => {
            let fd = os.vfs.host_copy_up(&path, i, O_WRONLY)?;
            let r = os.platform.host_ftruncate(fd, len as u64);
            os.platform.host_close(fd);
            r.map(|_| 0)
        }
        Node::Image(i) if os.vfs.kind(&node) == NodeKind::File => {
            resize_overlay(&*os.vfs.copy_up(&path, i, false)?, len)
        }
        _ if os.vfs.kind(&node) == NodeKind::Dir => Err(EISDIR),
        _ => Err(EINVAL),
    }
}

fn ftruncate<P: Platform>(os: &LibOs<P>, fd: i32, len: i64) -> SysResult {
    let f = os.fds.lock().get(fd)?;
    if f.flags() & O_ACCMODE == O_RDONLY {
        return Err(EINVAL);
    }
    match &f.kind {
        FileKind::Overlay(o) => resize_overlay(o, len),
        FileKind::Host(h) if len >= 0 => os.platform.host_ftruncate(h.0, len as u64).map(|_| 0),
        _ => Err(EINVAL),
    }
}

fn getcwd<P: Platform>(os: &LibOs<P>, buf: usize, size: usize) -> SysResult {
    let cwd = os.cwd.lock().clone();
    // A working directory that was removed has no name any more (ENOENT, as on Linux).
    if os.vfs.lookup(&cwd).is_none() {
        return Err(ENOENT);
    }
    if size < cwd.len() + 1 {
        return Err(ERANGE);
    }
    let out = user::slice_mut_in(&os.mem, buf, cwd.len() + 1)?;
    out[..cwd.len()].copy_from_slice(&cwd);
    out[cwd.len()] = 0;
    Ok(cwd.len() + 1)
}

fn chdir<P: Platform>(os: &LibOs<P>, ptr: usize) -> SysResult {
    let (path, node) = lookup_at(os, AT_FDCWD, ptr, true)?;
    if os.vfs.kind(&node) != NodeKind::Dir {
        return Err(ENOTDIR);
    }
    *os.cwd.lock() = path;
    Ok(0)
}

fn fchdir<P: Platform>(os: &LibOs<P>, fd: i32) -> SysResult {
    let f = os.fds.lock().get(fd)?;
    match f.kind {
        FileKind::Dir => {
            *os.cwd.lock() = f.path.clone();
            Ok(0)
        }
        _ => Err(ENOTDIR),
    }
}

fn mkdirat<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, mode: u32) -> SysResult {
    let p = path_arg(os, ptr)?;
    if p.is_empty() {
        return Err(ENOENT);
    }
    let base = os.dir_of(dirfd, &p)?;
    let r = os.vfs.resolve(&base, &p, false).inspect_err(|&e| learn_missing(os, e, &base, &p, b"create"))?;
    if r.node.is_some() {
        return Err(EEXIST);
    }
    let m = mode & !os.umask.load(Ordering::Relaxed) & 0o7777;
    if !os.vfs.host_mkdir(&r.path, m)? {
        os.vfs.mkdir(&r.path, m);
    }
    Ok(0)
}

fn unlinkat<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, flags: u32) -> SysResult {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(EINVAL);
    }
    if flags & AT_REMOVEDIR != 0 {
        // rmdir of a path that ends in "." is EINVAL, in ".." ENOTEMPTY, as on Linux.
        let raw = user::cstr_in(&os.mem, ptr, 4096)?;
        match raw.rsplit(|&c| c == b'/').find(|c| !c.is_empty()) {
            Some(b".") => return Err(EINVAL),
            Some(b"..") => return Err(ENOTEMPTY),
            _ => {}
        }
    }
    let (path, node) = lookup_at(os, dirfd, ptr, false)?;
    let kind = os.vfs.kind(&node);
    if let Node::Synth(_) = node {
        return Err(EPERM);
    }
    if flags & AT_REMOVEDIR != 0 {
        if kind != NodeKind::Dir {
            return Err(ENOTDIR);
        }
        if path == b"/" {
            return Err(EBUSY);
        }
        if !os.vfs.list(&path).is_empty() {
            return Err(ENOTEMPTY);
        }
    } else if kind == NodeKind::Dir {
        return Err(EISDIR);
    }
    if !os.vfs.host_remove(&path, kind == NodeKind::Dir)? {
        os.vfs.remove(&path);
    }
    Ok(0)
}

fn renameat2<P: Platform>(os: &LibOs<P>, ofd: i32, optr: usize, nfd: i32, nptr: usize, flags: u32) -> SysResult {
    const RENAME_NOREPLACE: u32 = 1;
    const RENAME_EXCHANGE: u32 = 2;
    if flags == RENAME_EXCHANGE {
        // Both names must exist; each then names what the other did.
        let (a, _) = lookup_at(os, ofd, optr, false)?;
        let (b, _) = lookup_at(os, nfd, nptr, false)?;
        if a == b {
            return Ok(0);
        }
        if os.vfs.host_exchange(&a, &b)? {
            return Ok(0);
        }
        return os.vfs.exchange(&a, &b).map(|_| 0);
    }
    if flags & !RENAME_NOREPLACE != 0 {
        return Err(EINVAL);
    }
    let (from, _) = lookup_at(os, ofd, optr, false)?;
    let to = resolve_at(os, nfd, nptr, false)?;
    if to.node.is_some() && flags & RENAME_NOREPLACE != 0 {
        return Err(EEXIST);
    }
    if os.vfs.host_rename(&from, &to.path)? {
        return Ok(0);
    }
    os.vfs.rename(&from, &to.path).map(|_| 0)
}

fn symlinkat<P: Platform>(os: &LibOs<P>, tptr: usize, dirfd: i32, lptr: usize) -> SysResult {
    let target = path_arg(os, tptr)?;
    if target.is_empty() {
        return Err(ENOENT);
    }
    let r = resolve_at(os, dirfd, lptr, false)?;
    if r.node.is_some() {
        return Err(EEXIST);
    }
    if !os.vfs.host_symlink(&r.path, &target)? {
        os.vfs.symlink(&r.path, &target);
    }
    Ok(0)
}

/// mknod(2)/mknodat(2): a regular file is created as open(O_CREAT|O_EXCL) would, a FIFO as
/// mkfifo(3) makes it; device nodes are refused as Linux refuses them to an unprivileged
/// process (EPERM); a socket node is made in a host directory (the in-memory layer: ENOSYS).
fn mknodat<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, mode: u32) -> SysResult {
    const S_IFBLK: u32 = 0o060000;
    match mode & S_IFMT {
        0 | S_IFREG => {
            let fd = openat(os, dirfd, ptr, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode & 0o7777)?;
            super::fdops::close_fd(os, fd as i32).map(|_| 0)
        }
        S_IFCHR | S_IFBLK => {
            resolve_at(os, dirfd, ptr, false)?;
            os.debug_log(&[b"denied: mknod of a device node -> EPERM (rule: no devices in the sandbox)"]);
            Err(EPERM)
        }
        S_IFIFO => mkfifoat(os, dirfd, ptr, mode & 0o7777),
        S_IFSOCK => {
            // A socket node nothing is bound to: in a host directory the host's (connecting
            // to it is refused, as natively); the in-memory layer makes them only by bind.
            let r = resolve_at(os, dirfd, ptr, false)?;
            if r.node.is_some() {
                return Err(EEXIST);
            }
            let m = mode & 0o7777 & !os.umask.load(Ordering::Relaxed);
            if os.vfs.host_mksock(&r.path, m)? {
                Ok(0)
            } else {
                Err(ENOSYS)
            }
        }
        _ => Err(EINVAL),
    }
}

/// A FIFO at the path (fifo(7)): the host's in a host directory, else one of the in-memory
/// layer (`crate::fifo`), with the app's umask applied.
fn mkfifoat<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, mode: u32) -> SysResult {
    let r = resolve_at(os, dirfd, ptr, false)?;
    if r.node.is_some() {
        return Err(EEXIST);
    }
    let m = mode & !os.umask.load(Ordering::Relaxed);
    if !os.vfs.host_mkfifo(&r.path, m)? {
        crate::fifo::register(os.vfs.create_file(&r.path, m, os.now()).ino);
    }
    Ok(0)
}

/// link(2)/linkat(2): a second name for a file of the in-memory layer (an image file is copied
/// up first); files of host directories and /proc or /dev nodes cannot get one (EPERM, as a
/// file system without hard links answers). AT_EMPTY_PATH links the descriptor's own file (an
/// O_TMPFILE or memfd file gets its name this way).
fn linkat<P: Platform>(os: &LibOs<P>, ofd: i32, optr: usize, nfd: i32, nptr: usize, flags: u32) -> SysResult {
    const AT_SYMLINK_FOLLOW: u32 = 0x400;
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let old = path_arg(os, optr)?;
    let n = resolve_at(os, nfd, nptr, false)?;
    if n.node.is_some() {
        return Err(EEXIST);
    }
    let file = if old.is_empty() && flags & AT_EMPTY_PATH != 0 {
        let f = os.fds.lock().get(ofd)?;
        match &f.kind {
            FileKind::Overlay(o) => o.clone(),
            FileKind::Dir => return Err(EPERM),
            _ => return Err(EPERM),
        }
    } else {
        let r = resolve_at(os, ofd, optr, flags & AT_SYMLINK_FOLLOW != 0)?;
        match r.node {
            None => return Err(ENOENT),
            Some(Node::OverlayFile(f)) => f,
            Some(Node::Image(i)) if os.vfs.kind(&Node::Image(i)) == NodeKind::File && !os.vfs.host_upper() => {
                os.vfs.copy_up(&r.path, i, false)?
            }
            // An image file, where the writable layer is the host's: copied up first (as
            // overlayfs does), then linked there like any file of the layer.
            Some(Node::Image(i)) if os.vfs.kind(&Node::Image(i)) == NodeKind::File => {
                if !matches!(os.vfs.place(&n.path)?, crate::fs::vfs::Place::Host(_, _, true, _)) {
                    return Err(EXDEV);
                }
                os.vfs.host_copy_up_only(&r.path, i)?;
                return os.vfs.host_link(&r.path, &n.path)?.map(|_| 0).ok_or(EXDEV);
            }
            Some(node) if os.vfs.kind(&node) == NodeKind::Dir => return Err(EPERM),
            Some(Node::Host(_)) => {
                return os.vfs.host_link(&r.path, &n.path)?.map(|_| 0).ok_or(EXDEV);
            }
            Some(_) => return Err(EPERM),
        }
    };
    match os.vfs.place(&n.path)? {
        crate::fs::vfs::Place::Memory => {
            os.vfs.link(&file, &n.path);
            Ok(0)
        }
        _ => Err(EXDEV),
    }
}

fn readlinkat<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, buf: usize, size: usize) -> SysResult {
    if size as isize <= 0 {
        return Err(EINVAL);
    }
    let p = path_arg(os, ptr)?;
    // Every static glibc program's start-up: answered without the walk when that gives the
    // same answer (`Vfs::self_exe_link`).
    let target = match os.vfs.self_exe_link(&p) {
        Some(target) => target,
        None => {
            let (_, node) = lookup_path(os, dirfd, p, false)?;
            os.vfs.readlink(&node)?
        }
    };
    let n = core::cmp::min(size, target.len());
    user::slice_mut_in(&os.mem, buf, n)?.copy_from_slice(&target[..n]);
    Ok(n)
}

fn set_mode(node: &Node, mode: u32) -> Option<Arc<crate::fs::overlay::OverlayFile>> {
    if let Node::OverlayFile(f) = node {
        f.mode.store(mode & 0o7777, Ordering::Relaxed);
        return Some(f.clone());
    }
    None
}

fn chmodat<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, mode: u32) -> SysResult {
    let (path, node) = lookup_at(os, dirfd, ptr, true)?;
    chmod_node(os, &path, node, mode)
}

/// chmod of `node`, found at `path`: a host node by its path (EROFS inside a read-only
/// mount), an image file by copying it up, a writable-layer node in memory.
fn chmod_node<P: Platform>(os: &LibOs<P>, path: &[u8], node: Node, mode: u32) -> SysResult {
    if os.vfs.host_chmod(&node, path, mode)? {
        return Ok(0);
    }
    if let Node::Image(i) = node {
        if os.vfs.kind(&node) == NodeKind::File && os.vfs.host_upper() {
            os.vfs.host_copy_up_only(path, i)?;
            let n = os.vfs.lookup(path).ok_or(ENOENT)?;
            os.vfs.host_chmod(&n, path, mode)?;
        } else if os.vfs.kind(&node) == NodeKind::File {
            let f = os.vfs.copy_up(path, i, false)?;
            f.mode.store(mode & 0o7777, Ordering::Relaxed);
        }
        return Ok(0);
    }
    set_mode(&node, mode);
    Ok(0)
}

/// fchmod. A descriptor of a host file (the writable layer, a mount) or a directory is
/// changed through its path (`f.path`), never through the host descriptor, so the runtime
/// needs no fchmod on the host; inside a read-only mount the answer is EROFS. A host file
/// whose path now leads elsewhere (renamed or removed since it was opened) cannot be reached
/// by path: ESTALE.
fn fchmod<P: Platform>(os: &LibOs<P>, fd: i32, mode: u32) -> SysResult {
    let f = os.fds.lock().get(fd)?;
    match &f.kind {
        FileKind::Overlay(o) => {
            o.mode.store(mode & 0o7777, Ordering::Relaxed);
            Ok(0)
        }
        FileKind::Host(_) | FileKind::Dir | FileKind::Obj(_) if f.path.is_empty() => Ok(0),
        FileKind::Host(h) => {
            os.vfs.check_writable(&f.path)?;
            // A synthetic node backed by a host descriptor (/dev/tty): nothing to change.
            let node = same_host_file(os, &f.path, h.0)?;
            os.vfs.host_chmod(&node, &f.path, mode).map(|_| 0)
        }
        FileKind::Dir => {
            let node = os.vfs.lookup(&f.path).ok_or(ESTALE)?;
            chmod_node(os, &f.path, node, mode)
        }
        _ => Ok(0),
    }
}

/// chown, lchown, fchownat: the path must resolve; EROFS inside a read-only mount; nothing
/// changes (image files have fixed owners).
fn chownat<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, follow: bool) -> SysResult {
    let (path, _) = lookup_at(os, dirfd, ptr, follow)?;
    os.vfs.check_writable(&path)?;
    Ok(0)
}

/// The descriptor forms (fchown, futimens): a valid descriptor; EROFS for a file of a
/// read-only mount.
fn fd_metadata<P: Platform>(os: &LibOs<P>, fd: i32) -> SysResult {
    let f = os.fds.lock().get(fd)?;
    if !f.path.is_empty() {
        os.vfs.check_writable(&f.path)?;
    }
    Ok(0)
}

const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;

/// utimensat(2): EINVAL for unknown flags or a time whose tv_nsec is neither in 0..1e9 nor
/// UTIME_NOW/UTIME_OMIT; then as [`set_times`].
fn utimensat<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, times: usize, flags: u32) -> SysResult {
    const AT_EMPTY_PATH: u32 = 0x1000;
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(EINVAL);
    }
    let t: Option<[Timespec; 2]> = if times == 0 { None } else { Some(user::read_in(&os.mem, times)?) };
    if let Some(t) = &t {
        if t.iter()
            .any(|x| !(0..1_000_000_000).contains(&x.tv_nsec) && x.tv_nsec != UTIME_NOW && x.tv_nsec != UTIME_OMIT)
        {
            return Err(EINVAL);
        }
    }
    set_times(os, dirfd, ptr, t, flags & AT_SYMLINK_NOFOLLOW == 0)
}

/// utimes(2) and futimesat(2): times as two `struct timeval` (EINVAL for a tv_usec outside
/// 0..1e6), or the current time for a null pointer; then as [`set_times`].
fn futimesat<P: Platform>(os: &LibOs<P>, dirfd: i32, ptr: usize, times: usize) -> SysResult {
    let t = if times == 0 {
        None
    } else {
        let tv: [[i64; 2]; 2] = user::read_in(&os.mem, times)?;
        if tv.iter().any(|x| !(0..1_000_000).contains(&x[1])) {
            return Err(EINVAL);
        }
        Some(tv.map(|x| Timespec { tv_sec: x[0], tv_nsec: x[1] * 1000 }))
    };
    set_times(os, dirfd, ptr, t, true)
}

/// utime(2): times as `struct utimbuf` (access, modification; whole seconds), or the current
/// time for a null pointer; then as [`set_times`].
fn utime<P: Platform>(os: &LibOs<P>, ptr: usize, times: usize) -> SysResult {
    let t = if times == 0 {
        None
    } else {
        let b: [i64; 2] = user::read_in(&os.mem, times)?;
        Some(b.map(|s| Timespec { tv_sec: s, tv_nsec: 0 }))
    };
    set_times(os, AT_FDCWD, ptr, t, true)
}

/// Sets the times of the file at `ptr` (relative to `dirfd`; a null `ptr` names the
/// descriptor `dirfd` itself, as futimens) to `times` (checked; None: both now): a host file
/// (the writable layer, a `rw` mount) on the host, by its path (`HostDirOps::utimes`; a
/// descriptor whose path now leads to another file: ESTALE, as fchmod), an image file by
/// copying it up first when the writable layer is the host's, a file of the in-memory layer
/// in whole seconds; EROFS inside a read-only mount. Other files (the runtime's synthetic
/// ones, image directories) only get the checks.
fn set_times<P: Platform>(
    os: &LibOs<P>,
    dirfd: i32,
    ptr: usize,
    times: Option<[Timespec; 2]>,
    follow: bool,
) -> SysResult {
    let now = Timespec { tv_sec: 0, tv_nsec: UTIME_NOW };
    let t = times.unwrap_or([now, now]);
    let (path, node) = if ptr == 0 {
        // futimens(fd, ...): the descriptor must be valid.
        fd_metadata(os, dirfd)?;
        let f = os.fds.lock().get(dirfd)?;
        let node = match &f.kind {
            FileKind::Host(h) if !f.path.is_empty() => Some(same_host_file(os, &f.path, h.0)?),
            _ => os.node_of(&f),
        };
        (f.path.clone(), node)
    } else {
        chownat(os, dirfd, ptr, follow)?;
        let (path, node) = lookup_at(os, dirfd, ptr, follow)?;
        (path, Some(node))
    };
    let node = match node {
        Some(Node::Image(i)) if os.vfs.kind(&Node::Image(i)) == NodeKind::File && os.vfs.host_upper() => {
            os.vfs.host_copy_up_only(&path, i)?;
            os.vfs.lookup(&path)
        }
        n => n,
    };
    match node {
        Some(n @ Node::Host(_)) => {
            os.vfs.host_utimes(&n, &path, &t)?;
        }
        Some(Node::OverlayFile(f)) => {
            let now = os.now();
            let pick = |x: &Timespec| match x.tv_nsec {
                UTIME_NOW => Some(now),
                UTIME_OMIT => None,
                _ => Some(x.tv_sec as u64),
            };
            if let Some(a) = pick(&t[0]) {
                f.atime.store(a, Ordering::Relaxed);
            }
            if let Some(m) = pick(&t[1]) {
                f.mtime.store(m, Ordering::Relaxed);
            }
        }
        _ => {}
    }
    Ok(0)
}

/// The node at `path`, which a descriptor of host file `h` was opened at, if it is still
/// that file (or a synthetic node backed by a host descriptor, /dev/tty); ESTALE if the path
/// now leads elsewhere (renamed or removed since it was opened).
fn same_host_file<P: Platform>(os: &LibOs<P>, path: &[u8], h: i32) -> Result<Node, Errno> {
    let node = os.vfs.lookup(path).ok_or(ESTALE)?;
    match &node {
        Node::Host(hn) => {
            let st = os.platform.host_stat(h)?;
            if (st.st_dev, st.st_ino) != (hn.st.st_dev, hn.st.st_ino) {
                return Err(ESTALE);
            }
        }
        Node::Synth(_) => {}
        _ => return Err(ESTALE),
    }
    Ok(node)
}

/// getdents64(2), or with `legacy` the old getdents(2) layout (`struct linux_dirent`: the name
/// at byte 18 and the type in the record's last byte).
fn getdents<P: Platform>(os: &LibOs<P>, fd: i32, buf: usize, count: usize, legacy: bool) -> SysResult {
    let f = os.fds.lock().get(fd)?;
    if !matches!(f.kind, FileKind::Dir) {
        return Err(ENOTDIR);
    }
    let mut listing = f.listing.lock();
    if listing.is_none() {
        let node = os.vfs.lookup(&f.path).ok_or(ENOENT)?;
        let ino = os.vfs.stat(&node).st_ino;
        let parent = crate::fs::path::parent(&f.path);
        let pino = os.vfs.lookup(parent).map(|n| os.vfs.stat(&n).st_ino).unwrap_or(ino);
        let mut all = alloc::vec![
            crate::fs::DirEntry { name: b".".to_vec(), ino, kind: NodeKind::Dir },
            crate::fs::DirEntry { name: b"..".to_vec(), ino: pino, kind: NodeKind::Dir },
        ];
        all.extend(os.vfs.try_list(&f.path)?);
        *listing = Some(all);
    }
    let entries = listing.as_ref().map(|v| v.as_slice()).unwrap_or(&[]);
    user::guard(&os.mem, buf, count, true)?;
    let mut pos = f.pos.lock();
    let out = user::slice_mut_in(&os.mem, buf, count)?;
    let mut used = 0usize;
    while (*pos as usize) < entries.len() {
        let e = &entries[*pos as usize];
        let name_at = if legacy { 18 } else { 19 };
        let reclen = (name_at + e.name.len() + if legacy { 2 } else { 1 }).next_multiple_of(8);
        if used + reclen > out.len() {
            if used == 0 {
                return Err(EINVAL);
            }
            break;
        }
        let rec = &mut out[used..used + reclen];
        rec.fill(0);
        rec[0..8].copy_from_slice(&e.ino.to_le_bytes());
        rec[8..16].copy_from_slice(&(*pos as i64 + 1).to_le_bytes());
        rec[16..18].copy_from_slice(&(reclen as u16).to_le_bytes());
        let dtype = match e.kind {
            NodeKind::Dir => 4,
            NodeKind::File => 8,
            NodeKind::Symlink => 10,
            NodeKind::CharDev => 2,
        };
        rec[if legacy { reclen - 1 } else { 18 }] = dtype;
        rec[name_at..name_at + e.name.len()].copy_from_slice(&e.name);
        used += reclen;
        *pos += 1;
    }
    Ok(used)
}

fn no_xattr(n: usize) -> SysResult {
    match n {
        LISTXATTR | LLISTXATTR | FLISTXATTR => Ok(0),
        _ => Err(ENODATA),
    }
}

/// `struct statfs` for the namespace: a tmpfs-like file system (the writable layer lives in
/// memory), with made-up but consistent sizes.
/// statfs(2) of the file system node `n` lies on: the host's for a file of a host directory
/// (the writable layer, a mount: `Vfs::host_statfs`, ST_RDONLY in a read-only mount) and the
/// writable layer's for the image where that layer is the host's, else a tmpfs-like answer
/// (the in-memory layer, /proc, /dev).
fn write_statfs<P: Platform>(os: &LibOs<P>, buf: usize, n: Option<Node>) -> SysResult {
    if let Some(v) = n.as_ref().and_then(|n| os.vfs.host_statfs(n)) {
        user::write_in(&os.mem, buf, &v)?;
        return Ok(0);
    }
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let mut v = [0i64; 15];
    v[0] = TMPFS_MAGIC; // f_type
    v[1] = 4096; // f_bsize
    v[2] = 1 << 20; // f_blocks
    v[3] = 1 << 19; // f_bfree
    v[4] = 1 << 19; // f_bavail
    v[5] = 1 << 20; // f_files
    v[6] = 1 << 19; // f_ffree
    v[8] = 255; // f_namelen
    v[9] = 4096; // f_frsize
    user::write_in(&os.mem, buf, &v)?;
    Ok(0)
}
