//! Host directories for the library OS ([`HostDirOps`]): the shared writable layer and the
//! policy's mounts. The layer is `/upper` in the sandbox's private tmpfs root (nsroot.rs) or,
//! without namespaces, a private directory `.litebox-upper-PID-RANDOM` under /dev/shm or /tmp
//! that the supervisor creates at start and removes when the app ends.
//!
//! Every call is made relative to a directory descriptor opened at start, and every
//! intermediate directory is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so a
//! symlink or a rename race on the host side can never lead a call out of the directory: the
//! library OS resolves symlinks itself, inside the app's namespace.
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use litebox_libos::abi::Stat;
use litebox_libos::errno::*;
use litebox_libos::fs::hostdir::{HostDirOps, UpperLookup};
use litebox_libos::fs::{DirEntry, NodeKind};

use crate::sys::{self, check};

const OPENAT: usize = 257;
const MKDIRAT: usize = 258;
const NEWFSTATAT: usize = 262;
const UNLINKAT: usize = 263;
const RENAMEAT: usize = 264;
const SYMLINKAT: usize = 266;
const LINKAT: usize = 265;
const READLINKAT: usize = 267;
const GETDENTS64: usize = 217;
const FTRUNCATE: usize = 77;
const PREAD64: usize = 17;
const PWRITE64: usize = 18;
const OPENAT2: usize = 437;
const FLOCK: usize = 73;
const LOCK_SH: usize = 1;
const LOCK_EX: usize = 2;
const LOCK_NB: usize = 4;
/// Name prefix of writable-layer directories. Only directories with this exact prefix are
/// ever collected, so other tools' `litebox-*` temp directories are never touched.
const PREFIX: &[u8] = b"/.litebox-upper-";

const O_RDONLY: u32 = 0;
const O_DIRECTORY: u32 = 0o200000;
const O_NOFOLLOW: u32 = 0o400000;
const O_CLOEXEC: u32 = 0o2000000;
const O_PATH: u32 = 0o10000000;
const AT_SYMLINK_NOFOLLOW: usize = 0x100;
const AT_REMOVEDIR: usize = 0x200;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;

/// Host descriptors of the directories, by index (0 = writable layer, 1.. = mounts); -1 when
/// absent.
pub struct HostDirs {
    pub dirs: Vec<AtomicI32>,
    /// Address of the writable layer's namespace generation: a u64 in a `MAP_SHARED` page made
    /// by the first process and inherited by every fork, so all the sandbox's processes see
    /// each other's changes (0: none, lookups are never cached).
    pub generation: usize,
    /// Whether the writable layer was empty when `generation` was made: the private tmpfs
    /// init mounts for this sandbox alone (supervisor.rs, nsroot.rs), not a host directory.
    /// Every change of which names the layer holds goes through these ops, which move the
    /// generation on ([`HostDirs::changed`]); while it is still 0 the layer holds nothing,
    /// and a lookup in it finds nothing without asking the host (python3 -c pass: 48 host
    /// calls, every one failing, on the app's start-up path).
    pub fresh: bool,
}

/// Maps the shared page that holds the writable layer's namespace generation; returns its
/// address (for [`HostDirs::generation`] and the guard), or 0.
pub fn generation_page() -> usize {
    sys::map_shared_page().unwrap_or(0)
}

impl HostDirs {
    /// After a change of which names exist in a host directory: cached lookups are stale.
    fn changed(&self) {
        if self.generation != 0 {
            // SAFETY: a non-zero `generation` is the shared page mapped by `generation_page`,
            // never unmapped (the guard keeps the app off it); the u64 is page-aligned.
            unsafe { &*(self.generation as *const AtomicU64) }.fetch_add(1, Ordering::SeqCst);
        }
    }
}

fn r(v: isize) -> Result<usize, Errno> {
    check(v)
}

/// A NUL-terminated copy of `p` ("." for the empty path).
fn cpath(p: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(p.len() + 1);
    v.extend_from_slice(if p.is_empty() { b"." } else { p });
    v.push(0);
    v
}

/// The mode bits the sandbox may give a host file or directory: never set-user-ID or
/// set-group-ID, which would outlive the sandbox as a privilege on the host (a `rw` mount is
/// a host directory that host users may run programs from). The sticky bit stays.
pub const HOST_MODE_BITS: u32 = 0o1777;

/// openat2 beneath `dirfd` with no symlink followed anywhere.
pub fn open_beneath(dirfd: i32, rel: &[u8], flags: u32, mode: u32) -> Result<i32, Errno> {
    open_beneath_by(dirfd, rel, flags, mode, sys::syscall6)
}

/// [`open_beneath`] whose host call is `call` (`sys::window_syscall6` for an open that may
/// wait, in a blocking call's window).
fn open_beneath_by(
    dirfd: i32,
    rel: &[u8],
    flags: u32,
    mode: u32,
    call: fn(usize, usize, usize, usize, usize, usize, usize) -> isize,
) -> Result<i32, Errno> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let c = cpath(rel);
    let how = OpenHow {
        flags: (flags | O_NOFOLLOW | O_CLOEXEC) as u64,
        // O_CREAT or O_TMPFILE (whose __O_TMPFILE bit): the host takes a mode only with these.
        mode: if flags & (0o100 | 0o20000000) != 0 { (mode & HOST_MODE_BITS) as u64 } else { 0 },
        resolve: RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    r(call(OPENAT2, dirfd as usize, c.as_ptr() as usize, &how as *const OpenHow as usize, 24, 0, 0)).map(|fd| fd as i32)
}

fn close(fd: i32) {
    sys::syscall3(sys::CLOSE, fd as usize, 0, 0);
}

/// The parent directory of `rel` opened beneath `dirfd` (or `dirfd` itself), and the last
/// component. The caller closes the descriptor if it differs from `dirfd`.
/// The parent directory of a path opened beneath a directory, and the last name (NUL-ended).
pub struct Parent {
    pub fd: i32,
    owned: bool,
    pub name: Vec<u8>,
}

impl Drop for Parent {
    fn drop(&mut self) {
        if self.owned {
            close(self.fd);
        }
    }
}

/// A rename or link into another directory that the host refused with EXDEV: Landlock's
/// REFER, which the supervisor's scope-only domain denies to every process nested in it
/// (docs/targets/linux-userland.md, "Limits"). Asked of the supervisor (broker.rs
/// `OP_RENAME`/`OP_LINK`), which makes it by path beneath its own descriptor of the same
/// directory; any other error stands.
fn reparented(e: Errno, op: u32, dir: usize, from: &[u8], to: &[u8]) -> Result<(), Errno> {
    fn dir_of(p: &[u8]) -> &[u8] {
        p.iter().rposition(|&b| b == b'/').map_or(&[], |i| &p[..i])
    }
    if e != EXDEV || dir_of(from) == dir_of(to) {
        return Err(e);
    }
    let mut data = Vec::with_capacity(from.len() + 1 + to.len());
    data.extend_from_slice(from);
    data.push(0);
    data.extend_from_slice(to);
    crate::broker::request(op, [dir as u64, 0, 0], &data, None).map(|_| ())
}

/// [`Parent`] of `rel` beneath `dirfd`: each directory on the way opened with
/// `RESOLVE_BENEATH` and no symlinks (`dirfd` itself for a single name).
pub fn parent(dirfd: i32, rel: &[u8]) -> Result<Parent, Errno> {
    if rel.is_empty() {
        return Err(EINVAL);
    }
    match rel.iter().rposition(|&b| b == b'/') {
        None => Ok(Parent { fd: dirfd, owned: false, name: cpath(rel) }),
        Some(i) => {
            let fd = open_beneath(dirfd, &rel[..i], O_PATH | O_DIRECTORY, 0)?;
            Ok(Parent { fd, owned: true, name: cpath(&rel[i + 1..]) })
        }
    }
}

impl HostDirs {
    /// Host call `nr` (renameat, renameat2 or linkat, with `flags`) from `from` to `to`, each
    /// named by its parent opened beneath directory `dir`; a refusal with EXDEV between two
    /// parents goes to the supervisor as request `op` ([`reparented`]). The layer's names
    /// changed either way.
    fn two_names(&self, dir: usize, from: &[u8], to: &[u8], nr: usize, flags: usize, op: u32) -> Result<(), Errno> {
        let d = self.fd(dir)?;
        let (a, b) = (parent(d, from)?, parent(d, to)?);
        let (an, bn) = (a.name.as_ptr() as usize, b.name.as_ptr() as usize);
        let res = r(sys::syscall6(nr, a.fd as usize, an, b.fd as usize, bn, flags, 0))
            .map(|_| ())
            .or_else(|e| reparented(e, op, dir, from, to));
        self.changed();
        res
    }

    /// mknodat of `rel` with `mode` (a FIFO or a socket node: the gate allows no other type).
    fn mknod(&self, dir: usize, rel: &[u8], mode: u32) -> Result<(), Errno> {
        const MKNODAT: usize = 259;
        let p = parent(self.fd(dir)?, rel)?;
        let res =
            r(sys::syscall6(MKNODAT, p.fd as usize, p.name.as_ptr() as usize, mode as usize, 0, 0, 0)).map(|_| ());
        self.changed();
        res
    }

    /// Whether the writable layer is known to hold nothing: made empty for this sandbox
    /// ([`HostDirs::fresh`]) and not changed since (its generation is still 0).
    fn still_empty(&self) -> bool {
        self.fresh && self.generation() == Some(0)
    }

    fn fd(&self, dir: usize) -> Result<i32, Errno> {
        match self.dirs.get(dir).map(|d| d.load(Ordering::Relaxed)) {
            Some(fd) if fd >= 0 => Ok(fd),
            _ => Err(ENOENT),
        }
    }
}

impl HostDirOps for HostDirs {
    fn lstat(&self, dir: usize, rel: &[u8]) -> Result<Stat, Errno> {
        let d = self.fd(dir)?;
        let mut st = Stat::default();
        if rel.is_empty() {
            r(sys::syscall3(sys::FSTAT, d as usize, &mut st as *mut Stat as usize, 0))?;
            return Ok(st);
        }
        let p = parent(d, rel)?;
        r(sys::syscall6(
            NEWFSTATAT,
            p.fd as usize,
            p.name.as_ptr() as usize,
            &mut st as *mut Stat as usize,
            AT_SYMLINK_NOFOLLOW,
            0,
            0,
        ))?;
        Ok(st)
    }

    fn open(&self, dir: usize, rel: &[u8], flags: u32, mode: u32) -> Result<i32, Errno> {
        const O_CREAT: u32 = 0o100;
        let res = open_beneath(self.fd(dir)?, rel, flags, mode);
        if flags & O_CREAT != 0 {
            self.changed();
        }
        res
    }

    fn mkdir(&self, dir: usize, rel: &[u8], mode: u32) -> Result<(), Errno> {
        let p = parent(self.fd(dir)?, rel)?;
        let res = r(sys::syscall3(MKDIRAT, p.fd as usize, p.name.as_ptr() as usize, (mode & HOST_MODE_BITS) as usize))
            .map(|_| ());
        self.changed();
        res
    }

    fn mkfifo(&self, dir: usize, rel: &[u8], mode: u32) -> Result<(), Errno> {
        const S_IFIFO: u32 = 0o010000;
        self.mknod(dir, rel, S_IFIFO | (mode & HOST_MODE_BITS))
    }

    fn mksock(&self, dir: usize, rel: &[u8], mode: u32) -> Result<(), Errno> {
        const S_IFSOCK: u32 = 0o140000;
        self.mknod(dir, rel, S_IFSOCK | (mode & HOST_MODE_BITS))
    }

    fn open_fifo(&self, dir: usize, rel: &[u8], flags: u32) -> Result<i32, Errno> {
        let dirfd = self.fd(dir)?;
        crate::signals::blocking(|| open_beneath_by(dirfd, rel, flags, 0, sys::window_syscall6))
    }

    fn symlink(&self, dir: usize, target: &[u8], rel: &[u8]) -> Result<(), Errno> {
        let p = parent(self.fd(dir)?, rel)?;
        let t = cpath(target);
        let res = r(sys::syscall3(SYMLINKAT, t.as_ptr() as usize, p.fd as usize, p.name.as_ptr() as usize)).map(|_| ());
        self.changed();
        res
    }

    fn link(&self, dir: usize, from: &[u8], to: &[u8]) -> Result<(), Errno> {
        // Flags 0: a final symlink is linked itself, never followed.
        self.two_names(dir, from, to, LINKAT, 0, crate::broker::OP_LINK)
    }

    fn readlink(&self, dir: usize, rel: &[u8]) -> Result<Vec<u8>, Errno> {
        let p = parent(self.fd(dir)?, rel)?;
        let mut buf = alloc::vec![0u8; 4096];
        let n = r(sys::syscall6(
            READLINKAT,
            p.fd as usize,
            p.name.as_ptr() as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            0,
            0,
        ))?;
        buf.truncate(n);
        Ok(buf)
    }

    fn unlink(&self, dir: usize, rel: &[u8], is_dir: bool) -> Result<(), Errno> {
        let p = parent(self.fd(dir)?, rel)?;
        let fl = if is_dir { AT_REMOVEDIR } else { 0 };
        let res = r(sys::syscall3(UNLINKAT, p.fd as usize, p.name.as_ptr() as usize, fl)).map(|_| ());
        self.changed();
        res
    }

    fn rename(&self, dir: usize, from: &[u8], to: &[u8]) -> Result<(), Errno> {
        self.two_names(dir, from, to, RENAMEAT, 0, crate::broker::OP_RENAME)
    }

    fn exchange(&self, dir: usize, a: &[u8], b: &[u8]) -> Result<(), Errno> {
        const RENAMEAT2: usize = 316;
        self.two_names(dir, a, b, RENAMEAT2, crate::broker::RENAME_EXCHANGE as usize, crate::broker::OP_EXCHANGE)
    }

    fn list(&self, dir: usize, rel: &[u8]) -> Result<Vec<DirEntry>, Errno> {
        let d = self.fd(dir)?;
        if dir == 0 && self.still_empty() {
            // The empty layer: its top directory lists nothing, and nothing lies below it.
            return if rel.is_empty() { Ok(Vec::new()) } else { Err(ENOENT) };
        }
        let fd = open_beneath(d, rel, O_RDONLY | O_DIRECTORY, 0)?;
        let out = read_dir(fd);
        close(fd);
        out
    }

    fn chmod(&self, dir: usize, rel: &[u8], mode: u32) -> Result<(), Errno> {
        // By the supervisor, by path beneath its own descriptor of the directory (broker.rs):
        // fchmod is not on the gate allow-list.
        let _ = self.fd(dir)?;
        crate::broker::request(crate::broker::OP_CHMOD, [dir as u64, mode as u64, 0], rel, None).map(|_| ())
    }

    fn utimes(&self, dir: usize, rel: &[u8], times: &[litebox_libos::abi::Timespec; 2]) -> Result<(), Errno> {
        // By the supervisor, as chmod: utimensat is not on the gate allow-list.
        let _ = self.fd(dir)?;
        let mut data = Vec::with_capacity(crate::broker::UTIMES_TIMES + rel.len());
        for t in times {
            data.extend_from_slice(&t.tv_sec.to_le_bytes());
            data.extend_from_slice(&t.tv_nsec.to_le_bytes());
        }
        data.extend_from_slice(rel);
        crate::broker::request(crate::broker::OP_UTIMES, [dir as u64, 0, 0], &data, None).map(|_| ())
    }

    fn statfs(&self, dir: usize, rel: &[u8]) -> Result<[i64; 15], Errno> {
        const FSTATFS: usize = 138;
        let fd = open_beneath(self.fd(dir)?, if rel.is_empty() { b"." } else { rel }, O_PATH, 0)?;
        let mut v = [0i64; 15];
        let res = r(sys::syscall3(FSTATFS, fd as usize, v.as_mut_ptr() as usize, 0)).map(|_| v);
        close(fd);
        res
    }

    fn pread(&self, fd: i32, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        crate::signals::blocking(|| {
            r(sys::window_syscall6(PREAD64, fd as usize, buf.as_mut_ptr() as usize, buf.len(), off as usize, 0, 0))
        })
    }

    fn pwrite(&self, fd: i32, off: u64, buf: &[u8]) -> Result<usize, Errno> {
        crate::signals::blocking(|| {
            r(sys::window_syscall6(PWRITE64, fd as usize, buf.as_ptr() as usize, buf.len(), off as usize, 0, 0))
        })
    }

    fn close(&self, fd: i32) {
        close(fd);
    }

    fn generation(&self) -> Option<u64> {
        // SAFETY: as in `changed`.
        (self.generation != 0).then(|| unsafe { &*(self.generation as *const AtomicU64) }.load(Ordering::SeqCst))
    }

    fn lookup_upper(&self, rel: &[u8]) -> UpperLookup {
        if self.still_empty() {
            return UpperLookup::Absent;
        }
        let Ok(d) = self.fd(0) else { return UpperLookup::Absent };
        // Only "no such name" is an absence; a directory of the layer without search
        // permission (EACCES) hides what is below it for now.
        let missing =
            |e: Errno| if e == ENOENT || e == ENOTDIR { UpperLookup::Absent } else { UpperLookup::Unsearchable };
        let p = match parent(d, rel) {
            Ok(p) => p,
            Err(e) => return missing(e),
        };
        let stat_at = |name: &[u8]| -> Result<Stat, Errno> {
            let mut st = Stat::default();
            r(sys::syscall6(
                NEWFSTATAT,
                p.fd as usize,
                name.as_ptr() as usize,
                &mut st as *mut Stat as usize,
                AT_SYMLINK_NOFOLLOW,
                0,
                0,
            ))
            .map(|_| st)
        };
        match stat_at(&p.name) {
            Ok(st) => return UpperLookup::Found(st),
            Err(e) if e != ENOENT => return missing(e),
            Err(_) => {}
        }
        let mut wh = b".wh.".to_vec();
        wh.extend_from_slice(&p.name);
        if stat_at(&wh).is_ok() || stat_at(b".wh..wh..opq\0").is_ok() {
            UpperLookup::Hidden
        } else {
            UpperLookup::Absent
        }
    }

    fn truncate(&self, dir: usize, rel: &[u8], len: u64) -> Result<(), Errno> {
        let fd = open_beneath(self.fd(dir)?, rel, 1, 0)?;
        let res = r(sys::syscall3(FTRUNCATE, fd as usize, len as usize, 0)).map(|_| ());
        close(fd);
        res
    }
}

/// All entries of an open directory (without "." and "..").
fn read_dir(fd: i32) -> Result<Vec<DirEntry>, Errno> {
    let mut out = Vec::new();
    let mut buf = alloc::vec![0u8; 16 << 10];
    loop {
        let n = r(sys::syscall3(GETDENTS64, fd as usize, buf.as_mut_ptr() as usize, buf.len()))?;
        if n == 0 {
            return Ok(out);
        }
        let mut i = 0;
        while i + 19 <= n {
            let ino = u64::from_le_bytes(buf[i..i + 8].try_into().unwrap_or([0; 8]));
            let reclen = u16::from_le_bytes([buf[i + 16], buf[i + 17]]) as usize;
            if reclen == 0 || i + reclen > n {
                return Err(EIO);
            }
            let typ = buf[i + 18];
            let name_area = &buf[i + 19..i + reclen];
            let len = name_area.iter().position(|&b| b == 0).unwrap_or(name_area.len());
            let name = &name_area[..len];
            if name != b"." && name != b".." {
                let kind = match typ {
                    4 => NodeKind::Dir,
                    10 => NodeKind::Symlink,
                    8 => NodeKind::File,
                    _ => NodeKind::CharDev,
                };
                out.push(DirEntry { name: name.to_vec(), ino, kind });
            }
            i += reclen;
        }
    }
}

/// Creates the private writable-layer directory: `/dev/shm/.litebox-upper-PID-RANDOM` (or under
/// /tmp when /dev/shm is missing), mode 0700. Returns its descriptor (O_PATH) and its path.
pub fn create_upper() -> Result<(i32, Vec<u8>), Errno> {
    let pid = sys::syscall3(sys::GETPID, 0, 0, 0) as u64;
    let mut rnd = [0u8; 8];
    sys::syscall3(sys::GETRANDOM, rnd.as_mut_ptr() as usize, 8, 0);
    let mut last = ENOENT;
    for base in [&b"/dev/shm"[..], &b"/tmp"[..]] {
        let mut p = base.to_vec();
        p.extend_from_slice(PREFIX);
        let mut digits = [0u8; 20];
        p.extend_from_slice(litebox_libos::shim::fmt_usize(pid as usize, &mut digits));
        p.push(b'-');
        for b in rnd {
            p.push(b"0123456789abcdef"[(b >> 4) as usize]);
            p.push(b"0123456789abcdef"[(b & 15) as usize]);
        }
        let c = cpath(&p);
        match r(sys::syscall3(MKDIRAT, sys::AT_FDCWD, c.as_ptr() as usize, 0o700)) {
            Ok(_) => {
                let fd = r(sys::syscall6(
                    OPENAT,
                    sys::AT_FDCWD,
                    c.as_ptr() as usize,
                    (O_RDONLY | O_DIRECTORY | O_CLOEXEC) as usize,
                    0,
                    0,
                    0,
                ))?;
                // Every process of the app shares this open file description (fork, exec), so
                // the shared lock lasts while any of them lives: see `collect_garbage`.
                sys::syscall3(FLOCK, fd, LOCK_SH, 0);
                return Ok((fd as i32, p));
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Removes everything below `rel` in `dirfd` (best effort; used at exit).
pub fn remove_tree(dirfd: i32, rel: &[u8]) {
    let Ok(fd) = open_beneath(dirfd, rel, O_RDONLY | O_DIRECTORY, 0) else { return };
    let entries = read_dir(fd).unwrap_or_default();
    for e in entries {
        let name = cpath(&e.name);
        if e.kind == NodeKind::Dir {
            remove_tree(fd, &e.name);
            sys::syscall3(UNLINKAT, fd as usize, name.as_ptr() as usize, AT_REMOVEDIR);
        } else {
            sys::syscall3(UNLINKAT, fd as usize, name.as_ptr() as usize, 0);
        }
    }
    close(fd);
}

/// Removes the writable-layer directory at absolute `path` if no process of any app still
/// holds it (its shared lock is gone). Returns whether it was removed.
pub fn remove_if_unused(path: &[u8]) -> bool {
    let c = cpath(path);
    let Ok(fd) = r(sys::syscall6(
        OPENAT,
        sys::AT_FDCWD,
        c.as_ptr() as usize,
        (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) as usize,
        0,
        0,
        0,
    )) else {
        return false;
    };
    let fd = fd as i32;
    if r(sys::syscall3(FLOCK, fd as usize, LOCK_EX | LOCK_NB, 0)).is_err() {
        close(fd);
        return false;
    }
    remove_tree(fd, b"");
    close(fd);
    r(sys::syscall3(UNLINKAT, sys::AT_FDCWD, c.as_ptr() as usize, AT_REMOVEDIR)).is_ok()
}

/// Removes writable layers left behind by apps that died without cleaning up (killed by a
/// signal): every `.litebox-upper-*` directory under /dev/shm and /tmp that no process holds.
pub fn collect_garbage() {
    for base in [&b"/dev/shm"[..], &b"/tmp"[..]] {
        let c = cpath(base);
        let Ok(fd) = r(sys::syscall6(
            OPENAT,
            sys::AT_FDCWD,
            c.as_ptr() as usize,
            (O_RDONLY | O_DIRECTORY | O_CLOEXEC) as usize,
            0,
            0,
            0,
        )) else {
            continue;
        };
        let entries = read_dir(fd as i32).unwrap_or_default();
        close(fd as i32);
        for e in entries {
            if e.kind == NodeKind::Dir && e.name.starts_with(&PREFIX[1..]) {
                let mut p = base.to_vec();
                p.push(b'/');
                p.extend_from_slice(&e.name);
                remove_if_unused(&p);
            }
        }
    }
}
