//! The process's own user view: real, effective, saved and file-system ids, supplementary
//! groups and the nice value. Changes stay inside the sandbox (nothing reaches the host): they
//! follow the rules Linux applies, with root in the sandbox (effective uid 0) holding
//! CAP_SETUID/CAP_SETGID and an unprivileged user limited to its own ids.
use alloc::vec::Vec;

use crate::errno::{Errno, EINVAL, EPERM};
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use crate::sync::SpinMutex;

/// Ids of one kind (uids or gids): real, effective, saved, file system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdSet {
    pub real: u32,
    pub effective: u32,
    pub saved: u32,
    pub fs: u32,
}

impl IdSet {
    fn all(v: u32) -> Self {
        Self { real: v, effective: v, saved: v, fs: v }
    }

    fn holds(&self, v: u32) -> bool {
        v == self.real || v == self.effective || v == self.saved
    }
}

/// The identity state of one process (copied on fork, kept across execve).
///
/// The uids and gids are also published, lock-free, in [`Published`]: getuid and friends, and
/// every permission check that reads them, never take the lock.
pub struct Identity {
    inner: SpinMutex<Inner>,
    ids: Published,
}

/// The uids and gids behind a sequence counter (odd while the one writer, which holds the
/// identity's lock, stores them).
#[derive(Default)]
struct Published {
    seq: AtomicU64,
    /// uids then gids, each as (real, effective, saved, fs).
    words: [AtomicU32; 8],
}

impl Published {
    fn store(&self, i: &Inner) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        for (k, v) in [i.uids, i.gids].iter().flat_map(|s| [s.real, s.effective, s.saved, s.fs]).enumerate() {
            self.words[k].store(v, Ordering::Relaxed);
        }
        self.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// The uids (`gid` false) or gids, once no writer was in the middle of a change.
    fn load(&self, gid: bool) -> IdSet {
        let base = if gid { 4 } else { 0 };
        loop {
            let seq = self.seq.load(Ordering::Acquire);
            if seq & 1 == 0 {
                let w = |k: usize| self.words[base + k].load(Ordering::Relaxed);
                let set = IdSet { real: w(0), effective: w(1), saved: w(2), fs: w(3) };
                fence(Ordering::Acquire);
                if self.seq.load(Ordering::Relaxed) == seq {
                    return set;
                }
            }
            core::hint::spin_loop();
        }
    }
}

#[derive(Clone)]
struct Inner {
    uids: IdSet,
    gids: IdSet,
    groups: Vec<u32>,
    nice: i32,
    /// prctl(PR_SET_NAME): the name /proc/self/comm and stat show instead of the program's.
    name: Option<Vec<u8>>,
    /// Attributes kept and reported: PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS,
    /// PR_SET_CHILD_SUBREAPER, the I/O priority (0: the default) and the personality.
    prctl: [usize; 6],
}

/// "Leave unchanged" in setre*id/setres*id.
const KEEP: u32 = u32::MAX;
/// NGROUPS_MAX of Linux.
pub const NGROUPS_MAX: usize = 65536;

impl Identity {
    /// Every id equal to the platform's (uid, gid), no supplementary groups, nice 0.
    pub fn new(creds: (u32, u32)) -> Self {
        Self::with(Inner {
            uids: IdSet::all(creds.0),
            gids: IdSet::all(creds.1),
            groups: Vec::new(),
            nice: 0,
            name: None,
            prctl: [0, 1, 0, 0, 0, 0],
        })
    }

    fn with(inner: Inner) -> Self {
        let ids = Published::default();
        ids.store(&inner);
        Self { inner: SpinMutex::new(inner), ids }
    }

    /// A copy for a forked child.
    pub fn fork(&self) -> Self {
        Self::with(self.inner.lock().clone())
    }

    /// The user ids (lock-free).
    pub fn uids(&self) -> IdSet {
        self.ids.load(false)
    }

    /// The group ids (lock-free).
    pub fn gids(&self) -> IdSet {
        self.ids.load(true)
    }

    /// The supplementary groups.
    pub fn groups(&self) -> Vec<u32> {
        self.inner.lock().groups.clone()
    }

    fn privileged(i: &Inner) -> bool {
        i.uids.effective == 0
    }

    /// setuid(2) (`gid` false) or setgid(2): root sets all three, others only the effective
    /// id to one of their own (EPERM otherwise).
    pub fn set_id(&self, id: u32, gid: bool) -> Result<(), Errno> {
        if id == KEEP {
            return Err(EINVAL);
        }
        let mut i = self.inner.lock();
        let privileged = Self::privileged(&i);
        let set = if gid { &mut i.gids } else { &mut i.uids };
        if privileged {
            *set = IdSet::all(id);
        } else if set.holds(id) {
            set.effective = id;
            set.fs = id;
        } else {
            return Err(EPERM);
        }
        self.ids.store(&i);
        Ok(())
    }

    /// setreuid(2)/setregid(2): -1 keeps a value. An unprivileged caller may set the real id
    /// to its real or effective id and the effective id to any of its three; the saved id
    /// follows the new effective id when the real id is set or the effective id changes away
    /// from the real one.
    pub fn set_re(&self, r: u32, e: u32, gid: bool) -> Result<(), Errno> {
        let mut i = self.inner.lock();
        let privileged = Self::privileged(&i);
        let set = if gid { &mut i.gids } else { &mut i.uids };
        let old = *set;
        if !privileged && ((r != KEEP && r != old.real && r != old.effective) || (e != KEEP && !old.holds(e))) {
            return Err(EPERM);
        }
        if r != KEEP {
            set.real = r;
        }
        if e != KEEP {
            set.effective = e;
        }
        if r != KEEP || (e != KEEP && e != old.real) {
            set.saved = set.effective;
        }
        set.fs = set.effective;
        self.ids.store(&i);
        Ok(())
    }

    /// setresuid(2)/setresgid(2): -1 keeps a value; an unprivileged caller may only use ids it
    /// already holds.
    pub fn set_res(&self, r: u32, e: u32, s: u32, gid: bool) -> Result<(), Errno> {
        let mut i = self.inner.lock();
        let privileged = Self::privileged(&i);
        let set = if gid { &mut i.gids } else { &mut i.uids };
        if !privileged && [r, e, s].iter().any(|&v| v != KEEP && !set.holds(v)) {
            return Err(EPERM);
        }
        if r != KEEP {
            set.real = r;
        }
        if e != KEEP {
            set.effective = e;
        }
        if s != KEEP {
            set.saved = s;
        }
        set.fs = set.effective;
        self.ids.store(&i);
        Ok(())
    }

    /// setfsuid(2)/setfsgid(2): always returns the previous fs id; changes it only to an id
    /// the caller holds (or anything for root).
    pub fn set_fs(&self, id: u32, gid: bool) -> u32 {
        let mut i = self.inner.lock();
        let privileged = Self::privileged(&i);
        let set = if gid { &mut i.gids } else { &mut i.uids };
        let old = set.fs;
        if id != KEEP && (privileged || set.holds(id) || id == set.fs) {
            set.fs = id;
        }
        self.ids.store(&i);
        old
    }

    /// setgroups(2): root only (EPERM otherwise), at most NGROUPS_MAX (EINVAL).
    pub fn set_groups(&self, groups: Vec<u32>) -> Result<(), Errno> {
        if groups.len() > NGROUPS_MAX {
            return Err(EINVAL);
        }
        let mut i = self.inner.lock();
        if !Self::privileged(&i) {
            return Err(EPERM);
        }
        i.groups = groups;
        Ok(())
    }

    /// The name set by prctl(PR_SET_NAME), if any.
    pub fn name(&self) -> Option<Vec<u8>> {
        self.inner.lock().name.clone()
    }

    /// Sets the name (at most 15 bytes kept, as Linux's TASK_COMM_LEN).
    pub fn set_name(&self, n: &[u8]) {
        self.inner.lock().name = Some(n[..n.len().min(15)].to_vec());
    }

    /// Forgets the prctl name (execve starts with the new program's).
    pub fn clear_name(&self) {
        self.inner.lock().name = None;
    }

    /// Attribute `i`: 0 PDEATHSIG, 1 DUMPABLE, 2 NO_NEW_PRIVS, 3 CHILD_SUBREAPER, 4 ioprio, 5 personality.
    pub fn prctl_get(&self, i: usize) -> usize {
        self.inner.lock().prctl[i]
    }

    /// Sets prctl attribute `i` (numbered as in [`Identity::prctl_get`]).
    pub fn prctl_set(&self, i: usize, v: usize) {
        self.inner.lock().prctl[i] = v;
    }

    /// The nice value (-20..=19).
    pub fn nice(&self) -> i32 {
        self.inner.lock().nice
    }

    /// Sets the nice value, clamped to -20..=19; lowering it needs root (EACCES), as with
    /// RLIMIT_NICE 0.
    pub fn set_nice(&self, v: i32) -> Result<(), Errno> {
        let v = v.clamp(-20, 19);
        let mut i = self.inner.lock();
        if v < i.nice && !Self::privileged(&i) {
            return Err(crate::errno::EACCES);
        }
        i.nice = v;
        Ok(())
    }
}
