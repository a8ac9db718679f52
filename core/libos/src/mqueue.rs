//! POSIX message queues kept by the library OS, for platforms whose processes it serves itself
//! (kvm, snp): one table of names for the whole app, so every process of the app that opens a
//! name gets the same queue and no one else's exist. Rules follow Linux's mq_overview(7),
//! mq_open(3), mq_send(3), mq_receive(3) and mq_notify(3): messages leave by priority (highest
//! first), in arrival order within one priority; a queue lives while it has a name or an open
//! descriptor; one process at a time may be registered for notification, which fires once,
//! when a message arrives on an empty queue that no receiver is waiting on. Waiting is the
//! caller's: these functions say "would block".
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::errno::*;
use crate::sync::SpinMutex;

/// Linux's defaults for a queue made without attributes (/proc/sys/fs/mqueue/msg_default,
/// msgsize_default) and its hard ceilings (HARD_MSGMAX, HARD_MSGSIZEMAX).
pub const DEFAULT_MAXMSG: usize = 10;
pub const DEFAULT_MSGSIZE: usize = 8192;
pub const HARD_MAXMSG: usize = 65536;
pub const HARD_MSGSIZE: usize = 16 << 20;
/// Priorities run from 0 to MQ_PRIO_MAX - 1.
pub const MQ_PRIO_MAX: u32 = 32768;
/// At most this many named queues (Linux's queues_max default is 256).
const MAX_QUEUES: usize = 256;

/// Who asked to be told of the next message (mq_notify).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notify {
    pub pid: i32,
    /// None: SIGEV_NONE (registered, nothing sent); Some((signal, sigev_value)).
    pub signal: Option<(usize, u64)>,
}

struct State {
    /// (priority, arrival number, bytes), kept sorted: the next message to leave is last.
    msgs: Vec<(u32, u64, Vec<u8>)>,
    arrivals: u64,
    notify: Option<Notify>,
}

/// One queue.
pub struct Queue {
    pub name: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
    pub maxmsg: usize,
    pub msgsize: usize,
    pub ino: u64,
    st: SpinMutex<State>,
    /// Receivers blocked in mq_receive (a notification is not sent while one waits).
    receivers: AtomicUsize,
}

/// What a send did, for the caller to act on.
pub enum Sent {
    /// Queued; `Some` when the registered process must now be signalled.
    Done(Option<Notify>),
    WouldBlock,
}

impl Queue {
    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.st.lock().msgs.len()
    }

    /// Whether no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the queue holds `maxmsg` messages.
    pub fn is_full(&self) -> bool {
        self.len() >= self.maxmsg
    }

    /// Queues `msg` at `prio` unless the queue is full (the caller checked the size and the
    /// priority). Sending to an empty queue uses up a notification registration when no
    /// receiver waits (Linux sends then and forgets the registration).
    pub fn send(&self, msg: &[u8], prio: u32) -> Sent {
        let mut s = self.st.lock();
        if s.msgs.len() >= self.maxmsg {
            return Sent::WouldBlock;
        }
        let was_empty = s.msgs.is_empty();
        s.arrivals += 1;
        let seq = s.arrivals;
        // Sorted ascending by (priority, newest first): the last element leaves first.
        let at = s.msgs.partition_point(|(p, q, _)| *p < prio || (*p == prio && *q > seq));
        s.msgs.insert(at, (prio, seq, msg.to_vec()));
        let fire = if was_empty && self.receivers.load(Ordering::Acquire) == 0 { s.notify.take() } else { None };
        Sent::Done(fire)
    }

    /// Takes the next message (highest priority, oldest first): (bytes, priority), or None
    /// when the queue is empty.
    pub fn receive(&self) -> Option<(Vec<u8>, u32)> {
        self.st.lock().msgs.pop().map(|(p, _, m)| (m, p))
    }

    /// Counts the caller among the waiting receivers while `f` runs.
    pub fn waiting<T>(&self, f: impl FnOnce() -> T) -> T {
        self.receivers.fetch_add(1, Ordering::AcqRel);
        let r = f();
        self.receivers.fetch_sub(1, Ordering::AcqRel);
        r
    }

    /// mq_notify: registers `n` (EBUSY when another registration stands), or with None
    /// removes the registration of process `pid` (a registration of another process stays).
    pub fn set_notify(&self, pid: i32, n: Option<Notify>) -> Result<(), Errno> {
        let mut s = self.st.lock();
        match n {
            Some(_) if s.notify.is_some() => Err(EBUSY),
            Some(n) => {
                s.notify = Some(n);
                Ok(())
            }
            None => {
                if s.notify.is_some_and(|r| r.pid == pid) {
                    s.notify = None;
                }
                Ok(())
            }
        }
    }

    /// The process registered for notification, if any.
    pub fn notify_owner(&self) -> Option<i32> {
        self.st.lock().notify.map(|n| n.pid)
    }

    /// Drops the registration of process `pid`, if it holds it (its last descriptor of the
    /// queue closed, or it exited).
    pub fn forget(&self, pid: i32) {
        let _ = self.set_notify(pid, None);
    }
}

/// The app's named queues.
pub struct Table {
    names: BTreeMap<Vec<u8>, Arc<Queue>>,
}

/// The attributes a new queue is made with.
#[derive(Clone, Copy, Debug)]
pub struct Attr {
    pub maxmsg: usize,
    pub msgsize: usize,
}

impl Table {
    /// mq_open's lookup: the queue called `name`, made (with `attr`, `mode`, owner `uid`) if
    /// `create` and missing. EEXIST for `excl` on an existing name, ENOENT for a missing one
    /// without `create`, ENOSPC past the queue limit.
    pub fn open(
        &mut self,
        name: &[u8],
        create: bool,
        excl: bool,
        attr: Attr,
        mode: u32,
        uid: u32,
    ) -> Result<(Arc<Queue>, bool), Errno> {
        if let Some(q) = self.names.get(name) {
            if create && excl {
                return Err(EEXIST);
            }
            return Ok((q.clone(), false));
        }
        if !create {
            return Err(ENOENT);
        }
        if self.names.len() >= MAX_QUEUES {
            return Err(ENOSPC);
        }
        let q = Arc::new(Queue {
            name: name.to_vec(),
            mode: mode & 0o777,
            uid,
            maxmsg: attr.maxmsg,
            msgsize: attr.msgsize,
            ino: crate::kobj::NEXT_INO.fetch_add(1, Ordering::Relaxed),
            st: SpinMutex::new(State { msgs: Vec::new(), arrivals: 0, notify: None }),
            receivers: AtomicUsize::new(0),
        });
        self.names.insert(name.to_vec(), q.clone());
        Ok((q, true))
    }

    /// mq_unlink: the name goes (ENOENT if there is none); open descriptors keep the queue.
    pub fn unlink(&mut self, name: &[u8]) -> Result<Arc<Queue>, Errno> {
        self.names.remove(name).ok_or(ENOENT)
    }

    /// The queue called `name`, if any.
    pub fn get(&self, name: &[u8]) -> Option<Arc<Queue>> {
        self.names.get(name).cloned()
    }
}

/// The app's queues (every process of the app shares them, as it shares SysV IPC).
pub static QUEUES: SpinMutex<Table> = SpinMutex::new(Table { names: BTreeMap::new() });

/// A message queue descriptor's object: the queue and the access it was opened with.
pub struct MqDesc {
    pub queue: Arc<Queue>,
    pub read: bool,
    pub write: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        Table { names: BTreeMap::new() }
    }

    #[test]
    fn messages_leave_by_priority_then_arrival() {
        let mut t = table();
        let (q, made) = t.open(b"q", true, true, Attr { maxmsg: 4, msgsize: 8 }, 0o600, 0).unwrap();
        assert!(made);
        for (m, p) in [(&b"a"[..], 1), (b"b", 5), (b"c", 1), (b"d", 5)] {
            assert!(matches!(q.send(m, p), Sent::Done(None)));
        }
        assert!(matches!(q.send(b"e", 0), Sent::WouldBlock));
        let order: Vec<(Vec<u8>, u32)> = core::iter::from_fn(|| q.receive()).collect();
        assert_eq!(order, [(b"b".to_vec(), 5), (b"d".to_vec(), 5), (b"a".to_vec(), 1), (b"c".to_vec(), 1)]);
    }

    #[test]
    fn open_rules() {
        let mut t = table();
        let a = Attr { maxmsg: 1, msgsize: 1 };
        assert_eq!(t.open(b"q", false, false, a, 0, 0).err(), Some(ENOENT));
        t.open(b"q", true, false, a, 0, 0).unwrap();
        assert_eq!(t.open(b"q", true, true, a, 0, 0).err(), Some(EEXIST));
        assert!(!t.open(b"q", true, false, a, 0, 0).unwrap().1);
        t.unlink(b"q").unwrap();
        assert_eq!(t.unlink(b"q").err(), Some(ENOENT));
    }

    #[test]
    fn notification_fires_once_on_arrival_to_empty() {
        let mut t = table();
        let (q, _) = t.open(b"q", true, false, Attr { maxmsg: 4, msgsize: 8 }, 0o600, 0).unwrap();
        let n = Notify { pid: 7, signal: Some((10, 0)) };
        q.set_notify(7, Some(n)).unwrap();
        assert_eq!(q.set_notify(8, Some(n)), Err(EBUSY));
        assert!(matches!(q.send(b"x", 0), Sent::Done(Some(r)) if r == n));
        assert!(matches!(q.send(b"y", 0), Sent::Done(None)));
    }
}
