//! Descriptor calls beyond plain read and write: vectored I/O at an offset (preadv, pwritev
//! and the v2 forms), close and close_range (with the release of record locks Linux does on
//! every close), flock, fallocate and the unnamed files of memfd_create.
use crate::abi::Flock;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use super::fs::{iovecs, read_file, readv, write_file, writev};
use super::nr::*;
use super::SysResult;
use crate::abi::*;
use crate::errno::*;
use crate::fd::{FileKind, OpenFile};
use crate::kernel::LibOs;
use crate::platform::Platform;
use crate::user;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[
    CLOSE,
    PREADV,
    PWRITEV,
    PREADV2,
    PWRITEV2,
    CLOSE_RANGE,
    FLOCK,
    FALLOCATE,
    MEMFD_CREATE,
    SENDFILE,
    COPY_FILE_RANGE,
];

/// Syscalls served with a limitation users should know, and what it is (docs/syscalls.md is
/// generated from these arrays by scripts/gen_implemented.py).
pub const PARTIAL: &[(usize, &str)] = &[
    (FLOCK, "files of host directories: the host's flock; files of the image and the in-memory layer: arbitrated between the processes of one library OS (kvm: the whole VM; linux-userland: each process alone)"),
    (FALLOCATE, "mode 0 and FALLOC_FL_KEEP_SIZE set the size only (no blocks are reserved); FALLOC_FL_PUNCH_HOLE zeroes in-memory files; other modes EOPNOTSUPP"),
    (MEMFD_CREATE, "an unnamed file: where the writable layer is on the host (linux-userland), a host O_TMPFILE file there, one file for every process that has it (fork, MAP_SHARED); else an in-memory file, of which a MAP_SHARED mapping is a private copy; seals are not kept (F_ADD_SEALS EINVAL)"),
    (PREADV2, "RWF_* flags accepted and ignored (unknown flags EOPNOTSUPP)"),
    (PWRITEV2, "as preadv2"),
];

/// RWF_HIPRI, DSYNC, SYNC, NOWAIT, APPEND, NOAPPEND, ATOMIC, DONTCACHE.
const RWF_VALID: u32 = 0xff;
const LOCK_SH: usize = 1;
const LOCK_EX: usize = 2;
const LOCK_NB: usize = 4;
const LOCK_UN: usize = 8;
const F_SETLK: usize = 6;

/// Serves `n` if it is one of the descriptor calls of this module.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    let fd = a[0] as i32;
    Some(match n {
        CLOSE => close_fd(os, fd).map(|_| 0),
        PREADV => positioned(os, fd, a[1], a[2], a[3] as i64, false),
        PWRITEV => positioned(os, fd, a[1], a[2], a[3] as i64, true),
        PREADV2 | PWRITEV2 => {
            let write = n == PWRITEV2;
            if a[5] as u32 & !RWF_VALID != 0 || a[5] >> 32 != 0 {
                Err(EOPNOTSUPP)
            } else if a[3] as i64 == -1 {
                // Offset -1: the file's own position, as readv/writev.
                if write {
                    writev(os, fd, a[1], a[2])
                } else {
                    readv(os, fd, a[1], a[2])
                }
            } else {
                positioned(os, fd, a[1], a[2], a[3] as i64, write)
            }
        }
        CLOSE_RANGE => close_range(os, a[0] as u32, a[1] as u32, a[2] as u32),
        FLOCK => flock(os, fd, a[1]),
        FALLOCATE => fallocate(os, fd, a[1] as u32, a[2] as i64, a[3] as i64),
        MEMFD_CREATE => memfd_create(os, a[0], a[1] as u32),
        SENDFILE => sendfile(os, fd, a[1] as i32, a[2], a[3]),
        COPY_FILE_RANGE => copy_file_range(os, fd, a[1], a[2] as i32, a[3], a[4], a[5] as u32),
        _ => return None,
    })
}

/// Closes `fd` as close(2) does: the descriptor goes; if the process ever took a record lock,
/// its locks on a host file go too (POSIX locks belong to the process and die with any of its
/// descriptors of the file); a pipe end may wake its peer.
pub fn close_fd<P: Platform>(os: &LibOs<P>, fd: i32) -> Result<(), Errno> {
    let f = os.fds.lock().take(fd)?;
    match &f.kind {
        FileKind::Obj(o) => {
            // Closing a message queue drops the closer's notification registration (Linux).
            if let crate::kobj::Obj::Mqueue(d) = o {
                d.queue.forget(os.platform.pid());
            }
            os.platform.wake_all()
        }
        FileKind::Image(_) | FileKind::Overlay(_) => super::locks::released_on_close(os, &f),
        FileKind::Host(h) if !f.path.is_empty() && os.record_locks.load(Ordering::Relaxed) => {
            if let Some(pt) = os.platform.passthrough() {
                let unlock = Flock { l_type: 2, ..Default::default() };
                let _ = pt.fd_call(FCNTL, [h.0 as usize, F_SETLK, &unlock as *const Flock as usize, 0, 0, 0]);
            }
        }
        _ => {}
    }
    Ok(())
}

fn positioned<P: Platform>(os: &LibOs<P>, fd: i32, iov: usize, cnt: usize, off: i64, write: bool) -> SysResult {
    let f = os.fds.lock().get(fd)?;
    let mut vs = iovecs(&os.mem, iov, cnt)?;
    if off < 0 {
        return Err(EINVAL);
    }
    // Buffers that stop being accessible part of the way: a file reads or writes what it can
    // (a short count), as for pread and pwrite.
    let (room, total) = super::fs::accessible_prefix(os, &mut vs, !write)?;
    if room == 0 && total != 0 {
        return Err(EFAULT);
    }
    let mut total = 0usize;
    for v in vs {
        let at = Some(off as u64 + total as u64);
        let n = if write {
            write_file(os, &f, user::slice_in(&os.mem, v.base, v.len)?, at)?
        } else {
            read_file(os, &f, user::slice_mut_in(&os.mem, v.base, v.len)?, at)?
        };
        total += n;
        if n < v.len {
            break;
        }
    }
    Ok(total)
}

/// sendfile(2) as a copy through the library OS: from `in_fd` (at `*off` when `off` is not
/// NULL, which is then advanced, else at its position) to `out_fd`, in chunks, stopping at
/// the end of the input or at a short write.
fn sendfile<P: Platform>(os: &LibOs<P>, out_fd: i32, in_fd: i32, off: usize, count: usize) -> SysResult {
    let (inp, out) = {
        let t = os.fds.lock();
        (t.get(in_fd)?, t.get(out_fd)?)
    };
    if out.flags() & O_APPEND != 0 {
        return Err(EINVAL);
    }
    let mut at = if off != 0 {
        let v: i64 = user::read_in(&os.mem, off)?;
        if v < 0 {
            return Err(EINVAL);
        }
        Some(v as u64)
    } else {
        None
    };
    let count = count.min(0x7fff_f000);
    let mut buf = alloc::vec![0u8; count.min(1 << 16)];
    let mut done = 0usize;
    while done < count {
        let want = (count - done).min(buf.len());
        let n = match read_file(os, &inp, &mut buf[..want], at) {
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        if n == 0 {
            break;
        }
        let w = match write_file(os, &out, &buf[..n], None) {
            Ok(w) => w,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += w;
        at = at.map(|v| v + w as u64);
        if w < n {
            if at.is_none() {
                // The input moved past what was written: step its position back.
                let mut pos = inp.pos.lock();
                *pos -= (n - w) as u64;
            }
            break;
        }
        if n < want {
            break;
        }
    }
    if let (Some(v), true) = (at, off != 0) {
        user::write_in(&os.mem, off, &(v as i64))?;
    }
    Ok(done)
}

/// True for a regular file (of the image, the in-memory layer or a host directory).
fn regular<P: Platform>(os: &LibOs<P>, f: &OpenFile) -> bool {
    match &f.kind {
        FileKind::Image(_) | FileKind::Overlay(_) => true,
        FileKind::Host(h) if !f.path.is_empty() => {
            os.platform.host_stat(h.0).is_ok_and(|st| st.st_mode & S_IFMT == S_IFREG)
        }
        _ => false,
    }
}

/// copy_file_range(2) as a copy through the library OS, between regular files: each side at
/// its `*off` (advanced) when given, else at its position.
fn copy_file_range<P: Platform>(
    os: &LibOs<P>,
    fd_in: i32,
    off_in: usize,
    fd_out: i32,
    off_out: usize,
    len: usize,
    flags: u32,
) -> SysResult {
    let (inp, out) = {
        let t = os.fds.lock();
        (t.get(fd_in)?, t.get(fd_out)?)
    };
    if flags != 0 {
        return Err(EINVAL);
    }
    if inp.flags() & O_ACCMODE == O_WRONLY || out.flags() & O_ACCMODE == O_RDONLY || out.flags() & O_APPEND != 0 {
        return Err(EBADF);
    }
    if matches!(inp.kind, FileKind::Dir) || matches!(out.kind, FileKind::Dir) {
        return Err(EISDIR);
    }
    if !regular(os, &inp) || !regular(os, &out) {
        return Err(EINVAL);
    }
    let read_off = |p: usize| -> Result<Option<u64>, Errno> {
        if p == 0 {
            return Ok(None);
        }
        let v: i64 = user::read_in(&os.mem, p)?;
        if v < 0 {
            return Err(EINVAL);
        }
        Ok(Some(v as u64))
    };
    let (mut rin, mut rout) = (read_off(off_in)?, read_off(off_out)?);
    let mut buf = alloc::vec![0u8; len.min(1 << 16)];
    let mut done = 0usize;
    while done < len {
        let want = (len - done).min(buf.len());
        // Without an offset: the file's own position (a host file keeps it in the host).
        let host = |f: &OpenFile| matches!(f.kind, FileKind::Host(_));
        let at_in = rin.or_else(|| (!host(&inp)).then(|| *inp.pos.lock()));
        let n = read_file(os, &inp, &mut buf[..want], at_in)?;
        if n == 0 {
            break;
        }
        let at_out = rout.or_else(|| (!host(&out)).then(|| *out.pos.lock()));
        let w = write_file(os, &out, &buf[..n], at_out)?;
        if rin.is_none() && !host(&inp) {
            *inp.pos.lock() += w as u64;
        }
        if rout.is_none() && !host(&out) {
            *out.pos.lock() += w as u64;
        }
        rin = rin.map(|v| v + w as u64);
        rout = rout.map(|v| v + w as u64);
        done += w;
        if w < n {
            break;
        }
    }
    if let Some(v) = rin.filter(|_| off_in != 0) {
        user::write_in(&os.mem, off_in, &(v as i64))?;
    }
    if let Some(v) = rout.filter(|_| off_out != 0) {
        user::write_in(&os.mem, off_out, &(v as i64))?;
    }
    Ok(done)
}

fn close_range<P: Platform>(os: &LibOs<P>, first: u32, last: u32, flags: u32) -> SysResult {
    const UNSHARE: u32 = 2;
    const CLOEXEC: u32 = 4;
    if flags & !(UNSHARE | CLOEXEC) != 0 || first > last {
        return Err(EINVAL);
    }
    let fds: Vec<i32> = os.fds.lock().open_fds().filter(|&fd| fd as u32 >= first && fd as u32 <= last).collect();
    for fd in fds {
        if flags & CLOEXEC != 0 {
            let _ = os.fds.lock().set_cloexec(fd, true);
        } else {
            let _ = close_fd(os, fd);
        }
    }
    Ok(0)
}

fn flock<P: Platform>(os: &LibOs<P>, fd: i32, op: usize) -> SysResult {
    let f = os.fds.lock().get(fd)?;
    if f.flags() & O_PATH != 0 {
        return Err(EBADF);
    }
    if !matches!(op & !LOCK_NB, LOCK_SH | LOCK_EX | LOCK_UN) {
        return Err(EINVAL);
    }
    match (&f.kind, os.platform.passthrough()) {
        // The host's own flock: the same lock every other open of the file sees (in the app's
        // other processes, and on the host for a mounted file), on a descriptor of any access
        // mode, independent of record locks, as Linux's.
        (FileKind::Host(h), Some(pt)) if !f.path.is_empty() => {
            pt.fd_call(FLOCK, [h.0 as usize, op, 0, 0, 0, 0]).map(|_| 0)
        }
        (FileKind::Image(_) | FileKind::Overlay(_), _) => super::locks::flock(os, &f, op),
        _ => Ok(0),
    }
}

fn fallocate<P: Platform>(os: &LibOs<P>, fd: i32, mode: u32, off: i64, len: i64) -> SysResult {
    const KEEP_SIZE: u32 = 1;
    const PUNCH_HOLE: u32 = 2;
    let f = os.fds.lock().get(fd)?;
    if off < 0 || len <= 0 {
        return Err(EINVAL);
    }
    if f.flags() & O_ACCMODE == O_RDONLY || f.flags() & O_PATH != 0 {
        return Err(EBADF);
    }
    let end = off.checked_add(len).ok_or(EFBIG)?;
    match &f.kind {
        FileKind::Obj(_) => Err(ESPIPE),
        FileKind::Host(_) if f.path.is_empty() => Err(ESPIPE),
        FileKind::Dir => Err(EISDIR),
        FileKind::Overlay(o) => match mode {
            0 | KEEP_SIZE => {
                if mode == 0 && end > 1 << 40 {
                    return Err(EFBIG);
                }
                let mut d = o.data.lock();
                if mode == 0 && (d.len() as i64) < end {
                    d.resize(end as usize, 0);
                }
                Ok(0)
            }
            m if m == PUNCH_HOLE | KEEP_SIZE => {
                let mut d = o.data.lock();
                let hi = (end as usize).min(d.len());
                if (off as usize) < hi {
                    d[off as usize..hi].fill(0);
                }
                Ok(0)
            }
            _ => Err(EOPNOTSUPP),
        },
        FileKind::Host(h) => match mode {
            KEEP_SIZE => Ok(0),
            0 => {
                let size = os.platform.host_stat(h.0)?.st_size;
                if size < end {
                    os.platform.host_ftruncate(h.0, end as u64)?;
                }
                Ok(0)
            }
            _ => Err(EOPNOTSUPP),
        },
        _ => Err(ENODEV),
    }
}

fn memfd_create<P: Platform>(os: &LibOs<P>, name_ptr: usize, flags: u32) -> SysResult {
    const CLOEXEC: u32 = 1;
    const VALID: u32 = 0x1f; // CLOEXEC, ALLOW_SEALING, HUGETLB, NOEXEC_SEAL, EXEC
    if flags & !VALID != 0 {
        return Err(EINVAL);
    }
    let n = user::cstr_in(&os.mem, name_ptr, 249).map_err(|e| if e == ENAMETOOLONG { EINVAL } else { e })?;
    let mut path = b"/memfd:".to_vec();
    path.extend_from_slice(&n);
    path.extend_from_slice(b" (deleted)");
    let file = OpenFile::new(unnamed_file(os, b"/", O_RDWR, 0o777)?, path, O_RDWR);
    os.fds.lock().alloc(file, flags & CLOEXEC != 0, 0).map(|fd| fd as usize)
}

/// The file of an O_TMPFILE open in `dir` or of a memfd_create (`dir` "/"): a host O_TMPFILE
/// file where the writable layer is on the host (one file for every process that inherits it,
/// `Vfs::host_tmpfile`), else an in-memory one.
fn unnamed_file<P: Platform>(os: &LibOs<P>, dir: &[u8], flags: u32, mode: u32) -> Result<FileKind, Errno> {
    Ok(match os.vfs.host_tmpfile(dir, flags, mode)? {
        Some(fd) => FileKind::Host(crate::fd::HostFd(fd)),
        None => FileKind::Overlay(os.vfs.anon_file(mode, os.now())),
    })
}

/// An O_TMPFILE open: an unnamed file "in" directory `dir` (`unnamed_file`; EISDIR's sibling
/// checks done by the caller).
pub fn tmpfile<P: Platform>(os: &LibOs<P>, dir: &[u8], flags: u32, mode: u32) -> SysResult {
    let acc = flags & O_ACCMODE;
    if acc != O_WRONLY && acc != O_RDWR {
        return Err(EINVAL);
    }
    let m = mode & !os.umask.load(Ordering::Relaxed) & 0o7777;
    let mut path = dir.to_vec();
    if !path.ends_with(b"/") {
        path.push(b'/');
    }
    path.extend_from_slice(b"#tmpfile (deleted)");
    let keep = flags & !(O_TMPFILE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC);
    let file = OpenFile::new(unnamed_file(os, dir, flags, m)?, path, keep);
    os.fds.lock().alloc(file, flags & O_CLOEXEC != 0, 0).map(|fd| fd as usize)
}
