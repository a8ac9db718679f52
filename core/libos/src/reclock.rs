//! Record locks (fcntl F_SETLK, F_SETLKW, F_GETLK and the open-file-description forms) on the
//! files the library OS serves itself (the image and the in-memory layer), arbitrated between
//! every process this library OS serves: on kvm all the VM's processes share one table. A
//! process's locks (POSIX) go when it closes any descriptor of the file or exits; an open file
//! description's (OFD) locks go when its last descriptor closes. Files of host directories are
//! locked on the host instead (see shim/fs.rs).
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use crate::errno::{Errno, EAGAIN, EINVAL};
use crate::fd::OpenFile;
use crate::sync::SpinMutex;

pub const F_RDLCK: i16 = 0;
pub const F_WRLCK: i16 = 1;
pub const F_UNLCK: i16 = 2;

/// Who holds a lock.
#[derive(Clone, Debug)]
pub enum Owner {
    /// A process (classic POSIX record locks), by pid.
    Process(i32),
    /// An open file description (F_OFD_*); the lock goes when the description does.
    Description(Weak<OpenFile>),
}

impl Owner {
    fn same(&self, other: &Owner) -> bool {
        match (self, other) {
            (Owner::Process(a), Owner::Process(b)) => a == b,
            (Owner::Description(a), Owner::Description(b)) => a.ptr_eq(b),
            _ => false,
        }
    }
    fn alive(&self) -> bool {
        match self {
            Owner::Process(_) => true,
            Owner::Description(d) => d.strong_count() > 0,
        }
    }
    /// l_pid as F_GETLK reports it (-1 for an open-file-description lock).
    fn pid(&self) -> i32 {
        match self {
            Owner::Process(p) => *p,
            Owner::Description(_) => -1,
        }
    }
}

/// The file a lock is on: (st_dev, st_ino).
pub type FileId = (u64, u64);

/// One lock: bytes `[start, end)` of `file` (`end` u64::MAX: to the end of any file).
#[derive(Clone, Debug)]
struct Lock {
    file: FileId,
    start: u64,
    end: u64,
    write: bool,
    owner: Owner,
}

/// A lock another owner holds that a request conflicts with: (type, start, len, pid), the
/// fields F_GETLK reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub l_type: i16,
    pub start: u64,
    pub len: u64,
    pub pid: i32,
}

/// Every record lock the library OS holds.
pub struct Table {
    locks: Vec<Lock>,
}

/// The table shared by the processes of this library OS.
pub static TABLE: SpinMutex<Table> = SpinMutex::new(Table { locks: Vec::new() });

/// `[start, end)` of a request for `len` bytes from `start` (len 0: to the end; a negative len
/// covers the bytes before `start`), EINVAL for a range before byte 0 or past i64::MAX.
pub fn range(start: i64, len: i64) -> Result<(u64, u64), Errno> {
    let (lo, hi) = if len > 0 {
        (start, start.checked_add(len).ok_or(EINVAL)?)
    } else if len < 0 {
        (start.checked_add(len).ok_or(EINVAL)?, start)
    } else {
        return if start < 0 { Err(EINVAL) } else { Ok((start as u64, u64::MAX)) };
    };
    if lo < 0 {
        return Err(EINVAL);
    }
    Ok((lo as u64, hi as u64))
}

impl Table {
    fn prune(&mut self) {
        self.locks.retain(|l| l.owner.alive());
    }

    /// The first lock of another owner that a `write` (or read) lock of `[start, end)` of
    /// `file` by `owner` would conflict with.
    pub fn conflict(&mut self, file: FileId, start: u64, end: u64, write: bool, owner: &Owner) -> Option<Conflict> {
        self.prune();
        self.locks
            .iter()
            .find(|l| l.file == file && l.start < end && start < l.end && (write || l.write) && !l.owner.same(owner))
            .map(|l| Conflict {
                l_type: if l.write { F_WRLCK } else { F_RDLCK },
                start: l.start,
                len: if l.end == u64::MAX { 0 } else { l.end - l.start },
                pid: l.owner.pid(),
            })
    }

    /// Takes (`l_type` F_RDLCK/F_WRLCK) or releases (F_UNLCK) `[start, end)` of `file` for
    /// `owner`; EAGAIN when another owner's lock conflicts. The owner's own locks in the range
    /// are replaced (split where the range cuts them), as Linux converts them.
    pub fn set(&mut self, file: FileId, start: u64, end: u64, l_type: i16, owner: Owner) -> Result<(), Errno> {
        let write = match l_type {
            F_RDLCK => false,
            F_WRLCK => true,
            F_UNLCK => {
                self.cut(file, start, end, &owner);
                return Ok(());
            }
            _ => return Err(EINVAL),
        };
        if self.conflict(file, start, end, write, &owner).is_some() {
            return Err(EAGAIN);
        }
        self.cut(file, start, end, &owner);
        self.locks.push(Lock { file, start, end, write, owner });
        Ok(())
    }

    /// Removes `owner`'s locks of `file` within `[start, end)`, keeping the parts outside.
    fn cut(&mut self, file: FileId, start: u64, end: u64, owner: &Owner) {
        let mut kept = Vec::with_capacity(self.locks.len());
        for l in self.locks.drain(..) {
            if l.file != file || !l.owner.same(owner) || l.end <= start || end <= l.start {
                kept.push(l);
                continue;
            }
            if l.start < start {
                kept.push(Lock { end: start, ..l.clone() });
            }
            if end < l.end {
                kept.push(Lock { start: end, ..l });
            }
        }
        self.locks = kept;
    }

    /// Releases every lock process `pid` holds on `file` (it closed a descriptor of it).
    pub fn release_file(&mut self, file: FileId, pid: i32) {
        self.locks.retain(|l| !(l.file == file && l.owner.same(&Owner::Process(pid))));
        self.prune();
    }

    /// Releases every lock process `pid` holds (it exited).
    pub fn release_process(&mut self, pid: i32) {
        self.locks.retain(|l| !l.owner.same(&Owner::Process(pid)));
        self.prune();
    }

    /// Whether any lock is held (so close can skip the table when none is).
    pub fn is_empty(&self) -> bool {
        self.locks.is_empty()
    }
}

/// The owner an OFD lock request on `f` has.
pub fn description(f: &Arc<OpenFile>) -> Owner {
    Owner::Description(Arc::downgrade(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_splits_and_release() {
        let mut t = Table { locks: Vec::new() };
        let f = (1, 2);
        assert_eq!(t.set(f, 0, 10, F_RDLCK, Owner::Process(5)), Ok(()));
        assert_eq!(t.set(f, 5, 6, F_RDLCK, Owner::Process(6)), Ok(()), "readers share");
        assert_eq!(t.set(f, 5, 6, F_WRLCK, Owner::Process(7)), Err(EAGAIN));
        let c = t.conflict(f, 9, u64::MAX, true, &Owner::Process(7)).expect("held");
        assert_eq!(c, Conflict { l_type: F_RDLCK, start: 0, len: 10, pid: 5 });
        // Unlocking the middle of process 5's lock keeps both ends.
        assert_eq!(t.set(f, 3, 7, F_UNLCK, Owner::Process(5)), Ok(()));
        t.release_process(6);
        assert!(t.conflict(f, 3, 7, true, &Owner::Process(7)).is_none());
        assert!(t.conflict(f, 7, 8, true, &Owner::Process(7)).is_some());
        t.release_file(f, 5);
        assert!(t.is_empty());
        assert_eq!(range(10, -5), Ok((5, 10)));
        assert_eq!(range(-1, 0), Err(EINVAL));
        assert_eq!(range(4, 0), Ok((4, u64::MAX)));
    }
}
