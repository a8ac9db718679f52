//! SysV shared memory segments kept by the library OS, for platforms whose processes it serves
//! itself (kvm, snp): one table for the whole app. Rules follow Linux's shmget(2), shmat(2),
//! shmdt(2) and shmctl(2): keys and IPC_PRIVATE, IPC_CREAT/IPC_EXCL, a segment removed with
//! IPC_RMID lives on (SHM_DEST, no longer found by its key) until its last attachment goes,
//! attachments are counted per process and copied by fork. The memory itself is the platform's
//! (a shared object it maps into several processes, [`crate::Platform::shm_create`]); this
//! table knows only handles. Permissions are not checked (every process of the app has the
//! same ids).
use alloc::vec::Vec;

use crate::errno::*;
use crate::sync::SpinMutex;
use crate::sysv::{IPC_CREAT, IPC_EXCL, IPC_PRIVATE};

/// Linux's SHMMIN, and the largest segment served here (Linux's SHMMAX is larger; a segment's
/// pages are all given memory at once here).
pub const SHMMIN: usize = 1;
pub const SHMMAX: usize = 1 << 30;
/// At most this many segments (Linux's SHMMNI is 4096).
const SHMMNI: usize = 4096;
/// `shm_perm.mode` bit of a segment removed while still attached.
pub const SHM_DEST: u32 = 0o1000;

/// One segment.
pub struct Segment {
    pub id: i32,
    /// IPC_PRIVATE once removed (a removed segment is not found by its key).
    pub key: i32,
    pub mode: u32,
    /// The size asked for (the platform's object is whole pages).
    pub size: usize,
    /// The platform's shared object.
    pub handle: u64,
    pub cpid: i32,
    pub lpid: i32,
    pub atime: u64,
    pub dtime: u64,
    pub ctime: u64,
    /// IPC_RMID was asked: the segment goes with its last attachment.
    pub removed: bool,
}

/// One attachment: process, address, segment id, length mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub pid: i32,
    pub addr: usize,
    pub id: i32,
    pub len: usize,
}

/// The app's segments and who has them attached.
pub struct ShmTable {
    segs: Vec<Segment>,
    attached: Vec<Attachment>,
    next_id: i32,
}

/// The app's SysV shared memory.
pub static SHM: SpinMutex<ShmTable> = SpinMutex::new(ShmTable::new());

impl Default for ShmTable {
    fn default() -> Self {
        Self::new()
    }
}

/// What shmget must do after looking the key up.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The segment exists: its id.
    Found(i32),
    /// A new segment of this size must be made ([`ShmTable::insert`]).
    Create,
}

impl ShmTable {
    /// No segments.
    pub const fn new() -> Self {
        ShmTable { segs: Vec::new(), attached: Vec::new(), next_id: 0 }
    }

    /// shmget(2)'s checks: the id of the segment `key` names, or that one must be made.
    pub fn lookup(&self, key: i32, size: usize, flags: u32) -> Result<Lookup, Errno> {
        if key != IPC_PRIVATE {
            if let Some(s) = self.segs.iter().find(|s| s.key == key && !s.removed) {
                if flags & (IPC_CREAT | IPC_EXCL) == IPC_CREAT | IPC_EXCL {
                    return Err(EEXIST);
                }
                if size > s.size {
                    return Err(EINVAL);
                }
                return Ok(Lookup::Found(s.id));
            }
            if flags & IPC_CREAT == 0 {
                return Err(ENOENT);
            }
        }
        if !(SHMMIN..=SHMMAX).contains(&size) {
            return Err(EINVAL);
        }
        if self.segs.len() >= SHMMNI {
            return Err(ENOSPC);
        }
        Ok(Lookup::Create)
    }

    /// Records a new segment over the platform's object `handle`; its id.
    pub fn insert(&mut self, key: i32, size: usize, flags: u32, handle: u64, pid: i32, now: u64) -> i32 {
        let id = self.next_id;
        self.next_id = (self.next_id + 1) & 0x7fff_ffff;
        self.segs.push(Segment {
            id,
            key,
            mode: flags & 0o777,
            size,
            handle,
            cpid: pid,
            lpid: 0,
            atime: 0,
            dtime: 0,
            ctime: now,
            removed: false,
        });
        id
    }

    /// The segment `id` (EINVAL if there is none).
    pub fn seg(&mut self, id: i32) -> Result<&mut Segment, Errno> {
        self.segs.iter_mut().find(|s| s.id == id).ok_or(EINVAL)
    }

    /// How many attachments segment `id` has (all processes).
    pub fn nattch(&self, id: i32) -> usize {
        self.attached.iter().filter(|a| a.id == id).count()
    }

    /// Records that `pid` attached segment `id` at `addr` (`len` bytes mapped) at `now`.
    pub fn attach(&mut self, pid: i32, id: i32, addr: usize, len: usize, now: u64) {
        // SHM_REMAP over an earlier attachment of the same process replaces it.
        self.attached.retain(|a| !(a.pid == pid && a.addr == addr));
        self.attached.push(Attachment { pid, addr, id, len });
        if let Ok(s) = self.seg(id) {
            s.lpid = pid;
            s.atime = now;
        }
    }

    /// shmdt(2) of `addr` by `pid`: the attachment (EINVAL if `addr` is none of its attach
    /// addresses) and the handles of segments that are now gone (for the platform to free).
    pub fn detach(&mut self, pid: i32, addr: usize, now: u64) -> Result<(Attachment, Vec<u64>), Errno> {
        let i = self.attached.iter().position(|a| a.pid == pid && a.addr == addr).ok_or(EINVAL)?;
        let a = self.attached.remove(i);
        if let Ok(s) = self.seg(a.id) {
            s.lpid = pid;
            s.dtime = now;
        }
        Ok((a, self.collect()))
    }

    /// IPC_RMID: the segment goes now if nothing has it attached, else with its last
    /// attachment; the handles of segments gone.
    pub fn remove(&mut self, id: i32, now: u64) -> Result<Vec<u64>, Errno> {
        let s = self.seg(id)?;
        s.removed = true;
        s.key = IPC_PRIVATE;
        s.ctime = now;
        Ok(self.collect())
    }

    /// fork: the child `child` has every attachment of `parent` too.
    pub fn fork(&mut self, parent: i32, child: i32) {
        let copies: Vec<Attachment> =
            self.attached.iter().filter(|a| a.pid == parent).map(|a| Attachment { pid: child, ..*a }).collect();
        self.attached.extend(copies);
    }

    /// exit and execve: `pid` has nothing attached any more (its memory is gone); the handles
    /// of segments gone.
    pub fn drop_process(&mut self, pid: i32) -> Vec<u64> {
        self.attached.retain(|a| a.pid != pid);
        self.collect()
    }

    /// Forgets removed segments without attachments; their handles.
    fn collect(&mut self) -> Vec<u64> {
        let attached = &self.attached;
        let mut gone = Vec::new();
        self.segs.retain(|s| {
            let keep = !s.removed || attached.iter().any(|a| a.id == s.id);
            if !keep {
                gone.push(s.handle);
            }
            keep
        });
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_segment_lives_until_its_last_detach() {
        let mut t = ShmTable::new();
        assert_eq!(t.lookup(7, 100, IPC_CREAT), Ok(Lookup::Create));
        let id = t.insert(7, 100, IPC_CREAT | 0o600, 42, 1, 0);
        assert_eq!(t.lookup(7, 0, 0), Ok(Lookup::Found(id)));
        assert_eq!(t.lookup(7, 100, IPC_CREAT | IPC_EXCL), Err(EEXIST));
        assert_eq!(t.lookup(7, 200, 0), Err(EINVAL));
        t.attach(1, id, 0x1000, 4096, 1);
        t.fork(1, 2);
        assert_eq!(t.nattch(id), 2);
        assert_eq!(t.remove(id, 2), Ok(Vec::new()));
        assert_eq!(t.lookup(7, 0, 0), Err(ENOENT));
        assert_eq!(t.detach(1, 0x1000, 3).map(|r| r.1), Ok(Vec::new()));
        assert_eq!(t.detach(1, 0x1000, 3).map(|r| r.1), Err(EINVAL));
        assert_eq!(t.drop_process(2), alloc::vec![42]);
        assert!(t.seg(id).is_err());
    }

    #[test]
    fn sizes_out_of_range_are_einval() {
        let t = ShmTable::new();
        assert_eq!(t.lookup(IPC_PRIVATE, 0, IPC_CREAT), Err(EINVAL));
        assert_eq!(t.lookup(IPC_PRIVATE, SHMMAX + 1, IPC_CREAT), Err(EINVAL));
        assert_eq!(t.lookup(IPC_PRIVATE, 1, 0), Ok(Lookup::Create));
    }
}
