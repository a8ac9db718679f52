//! SysV semaphores and message queues kept by the library OS, for platforms whose processes it
//! serves itself (kvm, snp): one table for the whole app, so the app's processes share its
//! objects and no one else's exist. Rules follow Linux's semget(2), semop(2), semctl(2),
//! msgget(2), msgsnd(2), msgrcv(2) and msgctl(2): keys and IPC_PRIVATE, IPC_CREAT/IPC_EXCL,
//! atomic semaphore operation arrays, IPC_NOWAIT (EAGAIN, ENOMSG), SEM_UNDO undone when the
//! process exits, message types (0, a type, MSG_EXCEPT, the lowest type up to |t|), MSG_NOERROR,
//! and EIDRM for a waiter whose object is removed. Permissions are not checked (every process
//! of the app has the same ids). Waiting is the caller's: these functions say "would block".
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::errno::*;
use crate::sync::SpinMutex;

pub const IPC_PRIVATE: i32 = 0;
pub const IPC_CREAT: u32 = 0o1000;
pub const IPC_EXCL: u32 = 0o2000;
pub const IPC_NOWAIT: i16 = 0o4000;
pub const SEM_UNDO: i16 = 0x1000;
/// Linux's limits: SEMMSL, SEMVMX, SEMOPM, MSGMAX, MSGMNB.
pub const SEMMSL: usize = 32000;
pub const SEMVMX: i32 = 32767;
pub const SEMOPM: usize = 500;
pub const MSGMAX: usize = 8192;
pub const MSGMNB: usize = 16384;
/// At most this many sets and queues (each; Linux's SEMMNI/MSGMNI are 32000).
const MAX_OBJECTS: usize = 32000;

/// One semaphore set.
pub struct SemSet {
    pub id: i32,
    pub key: i32,
    pub mode: u32,
    pub vals: Vec<u16>,
    /// Pid of the last process that operated on each semaphore.
    pub pids: Vec<i32>,
    pub otime: u64,
    pub ctime: u64,
}

/// One message queue.
pub struct MsgQueue {
    pub id: i32,
    pub key: i32,
    pub mode: u32,
    pub msgs: VecDeque<(i64, Vec<u8>)>,
    pub bytes: usize,
    pub qbytes: usize,
    pub lspid: i32,
    pub lrpid: i32,
    pub stime: u64,
    pub rtime: u64,
    pub ctime: u64,
}

/// One semaphore operation (`struct sembuf`).
#[derive(Clone, Copy, Debug)]
pub struct SemOp {
    pub num: u16,
    pub op: i16,
    pub flg: i16,
}

/// What a semop or message call could not do at once.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome<T> {
    Done(T),
    /// It must wait (the caller blocks and retries, or answers EAGAIN/ENOMSG for IPC_NOWAIT).
    WouldBlock,
}

/// The app's SysV objects.
pub struct Ipc {
    sems: Vec<SemSet>,
    queues: Vec<MsgQueue>,
    /// (pid, set id, semaphore, adjustment) to apply when pid exits (SEM_UNDO).
    undo: Vec<(i32, i32, u16, i32)>,
    next_id: i32,
}

/// The app's SysV semaphores and message queues.
pub static IPC: SpinMutex<Ipc> = SpinMutex::new(Ipc::new());

impl Default for Ipc {
    fn default() -> Self {
        Self::new()
    }
}

impl Ipc {
    /// No objects.
    pub const fn new() -> Self {
        Ipc { sems: Vec::new(), queues: Vec::new(), undo: Vec::new(), next_id: 0 }
    }

    fn new_id(&mut self) -> i32 {
        let id = self.next_id;
        self.next_id = (self.next_id + 1) & 0x7fff_ffff;
        id
    }

    /// semget(2) at time `now`: the set's id.
    pub fn semget(&mut self, key: i32, nsems: i32, flags: u32, now: u64) -> Result<i32, Errno> {
        if nsems < 0 || nsems as usize > SEMMSL {
            return Err(EINVAL);
        }
        if key != IPC_PRIVATE {
            if let Some(s) = self.sems.iter().find(|s| s.key == key) {
                if flags & (IPC_CREAT | IPC_EXCL) == IPC_CREAT | IPC_EXCL {
                    return Err(EEXIST);
                }
                if nsems as usize > s.vals.len() {
                    return Err(EINVAL);
                }
                return Ok(s.id);
            }
            if flags & IPC_CREAT == 0 {
                return Err(ENOENT);
            }
        }
        if nsems == 0 {
            return Err(EINVAL);
        }
        if self.sems.len() >= MAX_OBJECTS {
            return Err(ENOSPC);
        }
        let id = self.new_id();
        let n = nsems as usize;
        self.sems.push(SemSet {
            id,
            key,
            mode: flags & 0o777,
            vals: alloc::vec![0; n],
            pids: alloc::vec![0; n],
            otime: 0,
            ctime: now,
        });
        Ok(id)
    }

    /// The set `id` (EINVAL if there is none, as Linux answers for a removed id).
    pub fn sem(&mut self, id: i32) -> Result<&mut SemSet, Errno> {
        self.sems.iter_mut().find(|s| s.id == id).ok_or(EINVAL)
    }

    /// The values `ops` would leave in set `id`, None if they must wait. EFBIG for a semaphore
    /// number out of range, ERANGE above SEMVMX, EAGAIN when one would wait with IPC_NOWAIT.
    fn try_ops(&self, id: i32, ops: &[SemOp]) -> Result<Option<Vec<u16>>, Errno> {
        let set = self.sems.iter().find(|s| s.id == id).ok_or(EINVAL)?;
        let mut vals = set.vals.clone();
        for o in ops {
            let v = vals.get_mut(o.num as usize).ok_or(EFBIG)?;
            let cur = i32::from(*v);
            let next = cur + i32::from(o.op);
            if (o.op == 0 && cur != 0) || next < 0 {
                return if o.flg & IPC_NOWAIT != 0 { Err(EAGAIN) } else { Ok(None) };
            }
            if next > SEMVMX {
                return Err(ERANGE);
            }
            *v = next as u16;
        }
        Ok(Some(vals))
    }

    /// Whether a semop of `ops` on `id` that had to wait can stop waiting (it would go
    /// through, or fail, or the set is gone).
    pub fn sem_ready(&self, id: i32, ops: &[SemOp]) -> bool {
        !matches!(self.try_ops(id, ops), Ok(None))
    }

    /// semop(2) by `pid`: applies every operation or none (errors as `try_ops`).
    pub fn semop(&mut self, pid: i32, id: i32, ops: &[SemOp], now: u64) -> Result<Outcome<()>, Errno> {
        let Some(vals) = self.try_ops(id, ops)? else { return Ok(Outcome::WouldBlock) };
        let set = self.sem(id)?;
        set.vals = vals;
        set.otime = now;
        for o in ops {
            set.pids[o.num as usize] = pid;
        }
        for o in ops.iter().filter(|o| o.flg & SEM_UNDO != 0 && o.op != 0) {
            match self.undo.iter_mut().find(|u| u.0 == pid && u.1 == id && u.2 == o.num) {
                Some(u) => u.3 -= i32::from(o.op),
                None => self.undo.push((pid, id, o.num, -i32::from(o.op))),
            }
        }
        Ok(Outcome::Done(()))
    }

    /// SETVAL/SETALL: sets values (each 0..=SEMVMX, else ERANGE) and drops the undo entries of
    /// the semaphores set, as Linux does.
    pub fn semset(&mut self, id: i32, first: usize, vals: &[i32], now: u64) -> Result<(), Errno> {
        let set = self.sem(id)?;
        if first + vals.len() > set.vals.len() {
            return Err(EINVAL);
        }
        if vals.iter().any(|&v| !(0..=SEMVMX).contains(&v)) {
            return Err(ERANGE);
        }
        for (i, &v) in vals.iter().enumerate() {
            set.vals[first + i] = v as u16;
        }
        set.ctime = now;
        let range = first as u16..(first + vals.len()) as u16;
        self.undo.retain(|u| u.1 != id || !range.contains(&u.2));
        Ok(())
    }

    /// IPC_RMID of semaphore set `id`.
    pub fn semrm(&mut self, id: i32) -> Result<(), Errno> {
        let n = self.sems.len();
        self.sems.retain(|s| s.id != id);
        if self.sems.len() == n {
            return Err(EINVAL);
        }
        self.undo.retain(|u| u.1 != id);
        Ok(())
    }

    /// Applies and forgets `pid`'s SEM_UNDO adjustments (it exited); values stay in
    /// 0..=SEMVMX, as Linux clamps them.
    pub fn exit(&mut self, pid: i32) {
        let mine: Vec<_> = self.undo.iter().filter(|u| u.0 == pid).copied().collect();
        self.undo.retain(|u| u.0 != pid);
        for (_, id, num, adj) in mine {
            if let Ok(set) = self.sem(id) {
                if let Some(v) = set.vals.get_mut(num as usize) {
                    *v = (i32::from(*v) + adj).clamp(0, SEMVMX) as u16;
                }
            }
        }
    }

    /// msgget(2) at time `now`: the queue's id.
    pub fn msgget(&mut self, key: i32, flags: u32, now: u64) -> Result<i32, Errno> {
        if key != IPC_PRIVATE {
            if let Some(q) = self.queues.iter().find(|q| q.key == key) {
                if flags & (IPC_CREAT | IPC_EXCL) == IPC_CREAT | IPC_EXCL {
                    return Err(EEXIST);
                }
                return Ok(q.id);
            }
            if flags & IPC_CREAT == 0 {
                return Err(ENOENT);
            }
        }
        if self.queues.len() >= MAX_OBJECTS {
            return Err(ENOSPC);
        }
        let id = self.new_id();
        self.queues.push(MsgQueue {
            id,
            key,
            mode: flags & 0o777,
            msgs: VecDeque::new(),
            bytes: 0,
            qbytes: MSGMNB,
            lspid: 0,
            lrpid: 0,
            stime: 0,
            rtime: 0,
            ctime: now,
        });
        Ok(id)
    }

    /// The queue `id` (EINVAL if there is none).
    pub fn queue(&mut self, id: i32) -> Result<&mut MsgQueue, Errno> {
        self.queues.iter_mut().find(|q| q.id == id).ok_or(EINVAL)
    }

    /// msgsnd(2) by `pid` of a message of type `mtype` (checked > 0 by the caller).
    pub fn msgsnd(&mut self, pid: i32, id: i32, mtype: i64, text: &[u8], now: u64) -> Result<Outcome<()>, Errno> {
        let q = self.queue(id)?;
        if q.bytes + text.len() > q.qbytes {
            return Ok(Outcome::WouldBlock);
        }
        q.bytes += text.len();
        q.msgs.push_back((mtype, text.to_vec()));
        q.lspid = pid;
        q.stime = now;
        Ok(Outcome::Done(()))
    }

    /// msgrcv(2) by `pid`: the message chosen by `mtype` (0: the first; > 0: the first of that
    /// type, or with `except` of another type; < 0: the lowest type up to |mtype|), at most
    /// `max` bytes of text (longer: E2BIG, or cut with `truncate`).
    pub fn msgrcv(
        &mut self,
        pid: i32,
        id: i32,
        (mtype, except): (i64, bool),
        max: usize,
        truncate: bool,
        now: u64,
    ) -> Result<Outcome<(i64, Vec<u8>)>, Errno> {
        let q = self.queue(id)?;
        let at = match mtype {
            0 => (!q.msgs.is_empty()).then_some(0),
            t if t > 0 => q.msgs.iter().position(|m| (m.0 == t) != except),
            t => {
                let lim = t.unsigned_abs();
                let mut best: Option<(usize, i64)> = None;
                for (i, m) in q.msgs.iter().enumerate() {
                    if m.0.unsigned_abs() <= lim && best.is_none_or(|b| m.0 < b.1) {
                        best = Some((i, m.0));
                    }
                }
                best.map(|b| b.0)
            }
        };
        let Some(i) = at else { return Ok(Outcome::WouldBlock) };
        if q.msgs[i].1.len() > max && !truncate {
            return Err(E2BIG);
        }
        let (t, mut text) = q.msgs.remove(i).unwrap_or_default();
        q.bytes -= text.len();
        text.truncate(max);
        q.lrpid = pid;
        q.rtime = now;
        Ok(Outcome::Done((t, text)))
    }

    /// Whether a msgsnd of `len` bytes or a msgrcv of `recv` = (mtype, except) on `id` that had
    /// to wait can stop waiting (room or a message now, or the queue is gone).
    pub fn msg_ready(&self, id: i32, len: usize, recv: Option<(i64, bool)>) -> bool {
        let Some(q) = self.queues.iter().find(|q| q.id == id) else { return true };
        match recv {
            None => q.bytes + len <= q.qbytes,
            Some((0, _)) => !q.msgs.is_empty(),
            Some((t, except)) if t > 0 => q.msgs.iter().any(|m| (m.0 == t) != except),
            Some((t, _)) => q.msgs.iter().any(|m| m.0.unsigned_abs() <= t.unsigned_abs()),
        }
    }

    /// IPC_RMID of queue `id`.
    pub fn msgrm(&mut self, id: i32) -> Result<(), Errno> {
        let n = self.queues.len();
        self.queues.retain(|q| q.id != id);
        if self.queues.len() == n {
            Err(EINVAL)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(num: u16, op: i16, flg: i16) -> SemOp {
        SemOp { num, op, flg }
    }

    #[test]
    fn semget_keys_private_excl_and_missing() {
        let mut t = Ipc::new();
        let a = t.semget(5, 2, IPC_CREAT | 0o600, 0).unwrap();
        assert_eq!(t.semget(5, 0, 0, 0), Ok(a));
        assert_eq!(t.semget(5, 1, IPC_CREAT | IPC_EXCL, 0), Err(EEXIST));
        assert_eq!(t.semget(6, 1, 0, 0), Err(ENOENT));
        assert_ne!(t.semget(IPC_PRIVATE, 1, 0, 0).unwrap(), t.semget(IPC_PRIVATE, 1, 0, 0).unwrap());
    }

    #[test]
    fn semop_is_all_or_nothing_and_nowait_is_eagain() {
        let mut t = Ipc::new();
        let s = t.semget(0, 2, 0, 0).unwrap();
        assert_eq!(t.semop(1, s, &[op(0, 1, 0), op(1, -1, 0)], 0), Ok(Outcome::WouldBlock));
        assert_eq!(t.sem(s).unwrap().vals, [0, 0]);
        assert_eq!(t.semop(1, s, &[op(1, -1, IPC_NOWAIT)], 0), Err(EAGAIN));
        assert_eq!(t.semop(1, s, &[op(2, 1, 0)], 0), Err(EFBIG));
        assert_eq!(t.semop(1, s, &[op(0, 2, 0)], 0), Ok(Outcome::Done(())));
        assert_eq!(t.semop(1, s, &[op(0, 0, IPC_NOWAIT)], 0), Err(EAGAIN));
    }

    #[test]
    fn sem_undo_is_applied_at_exit() {
        let mut t = Ipc::new();
        let s = t.semget(0, 1, 0, 0).unwrap();
        t.semop(7, s, &[op(0, 3, SEM_UNDO)], 0).unwrap();
        t.semop(8, s, &[op(0, 1, 0)], 0).unwrap();
        t.exit(7);
        assert_eq!(t.sem(s).unwrap().vals, [1]);
    }

    #[test]
    fn msgrcv_by_type_except_and_lowest() {
        let mut t = Ipc::new();
        let q = t.msgget(0, 0, 0).unwrap();
        for (ty, s) in [(3, "c"), (1, "a"), (2, "b")] {
            t.msgsnd(1, q, ty, s.as_bytes(), 0).unwrap();
        }
        assert_eq!(t.msgrcv(1, q, (2, false), 8, false, 0), Ok(Outcome::Done((2, b"b".to_vec()))));
        assert_eq!(t.msgrcv(1, q, (-3, false), 8, false, 0), Ok(Outcome::Done((1, b"a".to_vec()))));
        assert_eq!(t.msgrcv(1, q, (3, true), 8, false, 0), Ok(Outcome::WouldBlock));
        assert_eq!(t.msgrcv(1, q, (0, false), 0, false, 0), Err(E2BIG));
        assert_eq!(t.msgrcv(1, q, (0, false), 0, true, 0), Ok(Outcome::Done((3, Vec::new()))));
        assert_eq!(t.msgrcv(1, q, (0, false), 8, false, 0), Ok(Outcome::WouldBlock));
    }

    #[test]
    fn a_full_queue_blocks_and_removed_ids_are_einval() {
        let mut t = Ipc::new();
        let q = t.msgget(0, 0, 0).unwrap();
        let big = alloc::vec![0u8; MSGMAX];
        assert_eq!(t.msgsnd(1, q, 1, &big, 0), Ok(Outcome::Done(())));
        assert_eq!(t.msgsnd(1, q, 1, &big, 0), Ok(Outcome::Done(())));
        assert_eq!(t.msgsnd(1, q, 1, &big, 0), Ok(Outcome::WouldBlock));
        t.msgrm(q).unwrap();
        assert_eq!(t.msgsnd(1, q, 1, b"x", 0), Err(EINVAL));
    }
}
