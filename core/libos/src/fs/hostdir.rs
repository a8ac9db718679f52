//! Host directories in the app's namespace: the shared writable layer (dir 0, when the
//! platform has a host file system) and the policy's mounts. The platform serves every call
//! relative to a directory handle it opened itself, and must never let a call leave that
//! directory (no `..`, no symlink followed on the host side: the library OS resolves symlinks
//! itself, inside the app's namespace).
use alloc::vec::Vec;

use crate::abi::Stat;
use crate::errno::Errno;
use crate::fs::node::DirEntry;

/// Operations on the platform's host directories. `dir` is the directory's index (0 = the
/// writable layer, 1.. = mounts in policy order); `rel` is a normalized relative path inside it
/// (empty for the directory itself), never containing `..` or empty components.
pub trait HostDirOps: Send + Sync {
    /// lstat of `rel` (a final symlink is not followed).
    fn lstat(&self, dir: usize, rel: &[u8]) -> Result<Stat, Errno>;
    /// Opens `rel` with Linux open flags (O_NOFOLLOW and O_CLOEXEC are added); returns a host
    /// descriptor. `mode` is used with O_CREAT and O_TMPFILE.
    fn open(&self, dir: usize, rel: &[u8], flags: u32, mode: u32) -> Result<i32, Errno>;
    /// mkdir.
    fn mkdir(&self, dir: usize, rel: &[u8], mode: u32) -> Result<(), Errno>;
    /// mkfifo (mknod with S_IFIFO). Default: this host directory holds no FIFOs (EPERM).
    fn mkfifo(&self, _dir: usize, _rel: &[u8], _mode: u32) -> Result<(), Errno> {
        Err(crate::errno::EPERM)
    }
    /// A socket node (mknod with S_IFSOCK: what `bind` of a path name leaves; nothing is
    /// bound to it on the host). Default: this host directory holds no sockets (EPERM).
    fn mksock(&self, _dir: usize, _rel: &[u8], _mode: u32) -> Result<(), Errno> {
        Err(crate::errno::EPERM)
    }
    /// Opens the FIFO `rel` (as [`HostDirOps::open`]); the open blocks until the other side
    /// opens, as Linux's does, and a signal the app handles interrupts it. Default: `open`.
    fn open_fifo(&self, dir: usize, rel: &[u8], flags: u32) -> Result<i32, Errno> {
        self.open(dir, rel, flags, 0)
    }
    /// symlink `rel` -> `target` (target stored as given).
    fn symlink(&self, dir: usize, target: &[u8], rel: &[u8]) -> Result<(), Errno>;
    /// A hard link `to` of the file `from`, both in directory `dir`, never following a final
    /// symlink (EPERM where the platform has no hard links).
    fn link(&self, _dir: usize, _from: &[u8], _to: &[u8]) -> Result<(), Errno> {
        Err(crate::errno::EPERM)
    }
    /// readlink.
    fn readlink(&self, dir: usize, rel: &[u8]) -> Result<Vec<u8>, Errno>;
    /// unlink (`is_dir`: rmdir).
    fn unlink(&self, dir: usize, rel: &[u8], is_dir: bool) -> Result<(), Errno>;
    /// rename within one directory handle.
    fn rename(&self, dir: usize, from: &[u8], to: &[u8]) -> Result<(), Errno>;
    /// Exchanges `a` and `b` (renameat2 with RENAME_EXCHANGE), both in directory `dir`, both
    /// existing. Default: the platform cannot (EINVAL, as a file system without it).
    fn exchange(&self, _dir: usize, _a: &[u8], _b: &[u8]) -> Result<(), Errno> {
        Err(crate::errno::EINVAL)
    }
    /// The names in directory `rel` (without "." and ".."), unsorted.
    fn list(&self, dir: usize, rel: &[u8]) -> Result<Vec<DirEntry>, Errno>;
    /// chmod (permission bits).
    fn chmod(&self, dir: usize, rel: &[u8], mode: u32) -> Result<(), Errno>;
    /// statfs of the file system `rel` lies on (`struct statfs` as 15 words). Default: the
    /// platform does not say (ENOSYS: the library OS answers for it).
    fn statfs(&self, _dir: usize, _rel: &[u8]) -> Result<[i64; 15], Errno> {
        Err(crate::errno::ENOSYS)
    }
    /// Sets the access and modification times of `rel` itself (a final symlink is not
    /// followed), as utimensat(2): each `tv_nsec` is in 0..1e9, `UTIME_NOW` or `UTIME_OMIT`
    /// (checked by the caller). Default: the platform's host directories keep no times the
    /// app sets (the call is checked and has no effect).
    fn utimes(&self, _dir: usize, _rel: &[u8], _times: &[crate::abi::Timespec; 2]) -> Result<(), Errno> {
        Ok(())
    }
    /// Reads at `off` from host descriptor `fd` (pread).
    fn pread(&self, fd: i32, off: u64, buf: &mut [u8]) -> Result<usize, Errno>;
    /// Writes at `off` to host descriptor `fd` (pwrite).
    fn pwrite(&self, fd: i32, off: u64, buf: &[u8]) -> Result<usize, Errno>;
    /// Closes a host descriptor opened by `open`.
    fn close(&self, fd: i32);
    /// truncate `rel` to `len`.
    fn truncate(&self, dir: usize, rel: &[u8], len: u64) -> Result<(), Errno>;
    /// One lookup of `rel` (not empty) in the writable layer (dir 0), with the overlay rules:
    /// the node if it is there; else whether the image's entry at `rel` is hidden (a
    /// `.wh.NAME` whiteout next to it, or an opaque parent). A parent missing from the layer
    /// answers `Absent` at once: that is the common case for image paths.
    fn lookup_upper(&self, rel: &[u8]) -> UpperLookup;
    /// The writable layer's namespace generation: a counter shared by every process of the
    /// sandbox that changes after each change of which names exist in the layer (create,
    /// mkdir, symlink, unlink, rename, whiteouts). While it stays the same, a name that was
    /// absent or hidden still is, so lookups may be answered from a cache. None: no counter,
    /// never cache.
    fn generation(&self) -> Option<u64> {
        None
    }
}

/// Names of the writable layer found absent or hidden at one [`HostDirOps::generation`].
#[derive(Default)]
pub struct UpperNegCache {
    generation: u64,
    /// rel -> hidden (true) or absent (false).
    names: alloc::collections::BTreeMap<Vec<u8>, bool>,
}

impl UpperNegCache {
    /// Most names kept; past it the cache starts again (a bound on memory, not a policy).
    const MAX: usize = 4096;

    /// The cached answer for `rel` at `generation`, if any.
    pub fn get(&mut self, generation: u64, rel: &[u8]) -> Option<UpperLookup> {
        if generation != self.generation {
            self.names.clear();
            self.generation = generation;
            return None;
        }
        self.names.get(rel).map(|&hidden| if hidden { UpperLookup::Hidden } else { UpperLookup::Absent })
    }

    /// Remembers that `rel` was hidden or absent at `generation` (read before the lookup).
    pub fn put(&mut self, generation: u64, rel: &[u8], hidden: bool) {
        if generation != self.generation || self.names.len() >= Self::MAX {
            self.names.clear();
            self.generation = generation;
        }
        self.names.insert(rel.to_vec(), hidden);
    }
}

/// The answer of [`HostDirOps::lookup_upper`].
pub enum UpperLookup {
    Found(Stat),
    /// Not in the layer, and the image's entry (if any) is hidden.
    Hidden,
    /// Not in the layer; the image decides.
    Absent,
    /// The layer's directory on the way cannot be searched (the app took its search
    /// permission away): nothing is found there now, and the answer must not be cached (a
    /// chmod gives the permission back without changing the generation).
    Unsearchable,
}

/// A host directory made visible at `guest` (a policy mount).
#[derive(Clone, Debug)]
pub struct MountPoint {
    /// Normalized absolute guest path.
    pub guest: Vec<u8>,
    /// Directory index for [`HostDirOps`].
    pub dir: usize,
    pub writable: bool,
}

/// The host directories of a namespace.
pub struct HostLayer {
    pub ops: &'static dyn HostDirOps,
    /// Whether dir 0 holds the writable layer (otherwise it stays in memory).
    pub upper: bool,
    pub mounts: Vec<MountPoint>,
}

/// A node that lives in a host directory.
#[derive(Clone)]
pub struct HostNode {
    pub dir: usize,
    pub rel: Vec<u8>,
    pub st: Stat,
}

#[cfg(test)]
mod tests {
    use super::{UpperLookup, UpperNegCache};

    #[test]
    fn answers_only_at_the_generation_they_were_found() {
        let mut c = UpperNegCache::default();
        assert!(c.get(1, b"app").is_none());
        c.put(1, b"app", false);
        c.put(1, b"etc/gone", true);
        assert!(matches!(c.get(1, b"app"), Some(UpperLookup::Absent)));
        assert!(matches!(c.get(1, b"etc/gone"), Some(UpperLookup::Hidden)));
        // The layer changed: nothing cached before may answer.
        assert!(c.get(2, b"app").is_none());
        assert!(c.get(2, b"etc/gone").is_none());
        // An answer found at an older generation than the cache's starts the cache again.
        c.put(2, b"app", false);
        c.put(1, b"x", false);
        assert!(c.get(1, b"app").is_none());
    }
}
