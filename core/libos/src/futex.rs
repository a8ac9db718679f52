//! futex(2) on app memory, written once for every platform without a host futex: a table of
//! waiters keyed by the word's address (private to the process, as FUTEX_PRIVATE_FLAG says;
//! the library OS is per process). A waiter parks its thread through the platform
//! ([`Platform::park`]) until a wake marks it woken and unparks it ([`Platform::unpark`]),
//! its deadline passes, or a signal that ends the process interrupts it. Platforms with a host
//! kernel serve futex there instead ([`crate::platform::HostPassthrough::futex`]).
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::abi::Timespec;
use crate::errno::*;
use crate::platform::Platform;
use crate::sync::SpinMutex;
use crate::user;

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_REQUEUE: u32 = 3;
const FUTEX_CMP_REQUEUE: u32 = 4;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
const FUTEX_CLOCK_REALTIME: u32 = 256;
const FUTEX_CMD_MASK: u32 = 0x7f;

struct Waiter {
    tid: i32,
    bitset: u32,
    /// The word it waits on (a requeue moves it).
    key: AtomicUsize,
    woken: AtomicBool,
}

/// Waiters on words shared between processes (futex calls without FUTEX_PRIVATE_FLAG, e.g. a
/// process-shared mutex in MAP_SHARED memory that a fork inherited at the same address): one
/// table for every process of the sandbox, keyed by address, as the kernel keys shared futexes
/// by the page they are in. Private calls use the process's own table.
pub static SHARED: Futexes = Futexes::new();

/// The table a futex call with `op` goes to: the process's own (`private`) or [`SHARED`].
pub fn table_for(op: u32, private: &Futexes) -> &Futexes {
    const FUTEX_PRIVATE_FLAG: u32 = 128;
    if op & FUTEX_PRIVATE_FLAG != 0 {
        private
    } else {
        &SHARED
    }
}

/// The waiters of one process, per futex word.
pub struct Futexes {
    queues: SpinMutex<BTreeMap<usize, VecDeque<Arc<Waiter>>>>,
}

fn ns_of(t: &Timespec) -> u64 {
    (t.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec as u64)
}

fn now<P: Platform>(p: &P, clock: u32) -> Result<u64, Errno> {
    p.clock_gettime(clock).map(|t| ns_of(&t))
}

impl Default for Futexes {
    fn default() -> Self {
        Self::new()
    }
}

impl Futexes {
    /// An empty table.
    pub const fn new() -> Self {
        Self { queues: SpinMutex::new(BTreeMap::new()) }
    }

    /// Threads waiting on `addr` (for tests and /proc).
    pub fn waiters(&self, addr: usize) -> usize {
        self.queues.lock().get(&addr).map_or(0, |q| q.len())
    }

    /// futex(uaddr, op, val, timeout/val2, uaddr2, val3), the arguments in Linux order.
    pub fn call<P: Platform>(&self, p: &P, a: &[usize; 6]) -> Result<usize, Errno> {
        let (uaddr, op, val, timeout, uaddr2, val3) = (a[0], a[1] as u32, a[2] as u32, a[3], a[4], a[5] as u32);
        if !uaddr.is_multiple_of(4) {
            return Err(EINVAL);
        }
        let cmd = op & FUTEX_CMD_MASK;
        if op & FUTEX_CLOCK_REALTIME != 0 && cmd != FUTEX_WAIT_BITSET && cmd != FUTEX_WAIT {
            return Err(ENOSYS);
        }
        match cmd {
            FUTEX_WAIT | FUTEX_WAIT_BITSET => {
                let bitset = if cmd == FUTEX_WAIT { u32::MAX } else { val3 };
                if bitset == 0 {
                    return Err(EINVAL);
                }
                let deadline = if timeout == 0 {
                    None
                } else {
                    let t: Timespec = user::read(timeout)?;
                    if t.tv_sec < 0 || !(0..1_000_000_000).contains(&t.tv_nsec) {
                        return Err(EINVAL);
                    }
                    let mono = now(p, 1)?;
                    Some(if cmd == FUTEX_WAIT {
                        mono.saturating_add(ns_of(&t))
                    } else if op & FUTEX_CLOCK_REALTIME != 0 {
                        mono.saturating_add(ns_of(&t).saturating_sub(now(p, 0)?))
                    } else {
                        ns_of(&t)
                    })
                };
                self.wait(p, uaddr, val, bitset, deadline)
            }
            FUTEX_WAKE | FUTEX_WAKE_BITSET => {
                let bitset = if cmd == FUTEX_WAKE { u32::MAX } else { val3 };
                if bitset == 0 {
                    return Err(EINVAL);
                }
                user::read::<u32>(uaddr)?;
                Ok(self.wake_bits(p, uaddr, val as usize, bitset))
            }
            FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
                if !uaddr2.is_multiple_of(4) || (val as i32) < 0 || (timeout as i32) < 0 {
                    return Err(EINVAL);
                }
                let mut woken = Vec::new();
                let n = {
                    let mut q = self.queues.lock();
                    if cmd == FUTEX_CMP_REQUEUE && user::read::<u32>(uaddr)? != val3 {
                        return Err(EAGAIN);
                    }
                    let mut from = q.remove(&uaddr).unwrap_or_default();
                    while woken.len() < val as usize {
                        let Some(w) = from.pop_front() else { break };
                        w.woken.store(true, Ordering::SeqCst);
                        woken.push(w.tid);
                    }
                    let moved = from.len().min(timeout as u32 as usize);
                    if uaddr2 != uaddr {
                        let rest = from.split_off(moved);
                        for w in &from {
                            w.key.store(uaddr2, Ordering::SeqCst);
                        }
                        q.entry(uaddr2).or_default().extend(from);
                        from = rest;
                    }
                    if !from.is_empty() {
                        q.insert(uaddr, from);
                    }
                    woken.len() + moved
                };
                for tid in woken {
                    p.unpark(tid);
                }
                Ok(n)
            }
            _ => Err(ENOSYS),
        }
    }

    /// Waits on `addr` while it holds `val`: 0 when woken, EAGAIN if the word differs,
    /// ETIMEDOUT at `deadline` (monotonic ns), EINTR when the platform interrupts the wait.
    pub fn wait<P: Platform>(
        &self,
        p: &P,
        addr: usize,
        val: u32,
        bitset: u32,
        deadline: Option<u64>,
    ) -> Result<usize, Errno> {
        let w = Arc::new(Waiter { tid: p.ids().1, bitset, key: AtomicUsize::new(addr), woken: AtomicBool::new(false) });
        {
            let mut q = self.queues.lock();
            // Checked under the table's lock, so a wake after the app changed the word finds us.
            if user::read::<u32>(addr)? != val {
                return Err(EAGAIN);
            }
            q.entry(addr).or_default().push_back(w.clone());
        }
        let r = p.park(&mut || w.woken.load(Ordering::SeqCst), deadline);
        let mut q = self.queues.lock();
        if w.woken.load(Ordering::SeqCst) {
            return Ok(0);
        }
        let key = w.key.load(Ordering::SeqCst);
        if let Some(list) = q.get_mut(&key) {
            list.retain(|x| !Arc::ptr_eq(x, &w));
            if list.is_empty() {
                q.remove(&key);
            }
        }
        match r {
            Ok(true) => Ok(0),
            Ok(false) => Err(ETIMEDOUT),
            Err(e) => Err(e),
        }
    }

    /// Enqueues `w` on `addr` if the word holds `val` (checked under the table's lock, as
    /// [`Futexes::wait`] does); EAGAIN if it differs.
    fn enqueue(&self, addr: usize, val: u32, w: &Arc<Waiter>) -> Result<(), Errno> {
        let mut q = self.queues.lock();
        if user::read::<u32>(addr)? != val {
            return Err(EAGAIN);
        }
        q.entry(addr).or_default().push_back(w.clone());
        Ok(())
    }

    /// Takes `w` off the queue it is in now.
    fn dequeue(&self, w: &Arc<Waiter>) {
        let mut q = self.queues.lock();
        let key = w.key.load(Ordering::SeqCst);
        if let Some(list) = q.get_mut(&key) {
            list.retain(|x| !Arc::ptr_eq(x, w));
            if list.is_empty() {
                q.remove(&key);
            }
        }
    }

    /// Wakes up to `n` waiters of `addr`; returns how many.
    pub fn wake<P: Platform>(&self, p: &P, addr: usize, n: usize) -> usize {
        self.wake_bits(p, addr, n, u32::MAX)
    }

    fn wake_bits<P: Platform>(&self, p: &P, addr: usize, n: usize, bitset: u32) -> usize {
        let mut woken = Vec::new();
        {
            let mut q = self.queues.lock();
            let Some(list) = q.get_mut(&addr) else { return 0 };
            list.retain(|w| {
                if woken.len() < n && w.bitset & bitset != 0 {
                    w.woken.store(true, Ordering::SeqCst);
                    woken.push(w.tid);
                    false
                } else {
                    true
                }
            });
            if list.is_empty() {
                q.remove(&addr);
            }
        }
        for &tid in &woken {
            p.unpark(tid);
        }
        woken.len()
    }
}

/// futex_waitv(2): waits on several words at once, each (table, address, expected value), until
/// a wake of any of them: the index of the first woken; EAGAIN if a word differs at the start,
/// ETIMEDOUT at `deadline` (monotonic ns), EINTR when the platform interrupts the wait.
pub fn wait_many<P: Platform>(p: &P, words: &[(&Futexes, usize, u32)], deadline: Option<u64>) -> Result<usize, Errno> {
    let tid = p.ids().1;
    let mut queued: Vec<(&Futexes, Arc<Waiter>)> = Vec::with_capacity(words.len());
    let undo = |queued: &[(&Futexes, Arc<Waiter>)]| {
        for (t, w) in queued {
            t.dequeue(w);
        }
    };
    for &(table, addr, val) in words {
        let w = Arc::new(Waiter { tid, bitset: u32::MAX, key: AtomicUsize::new(addr), woken: AtomicBool::new(false) });
        if let Err(e) = table.enqueue(addr, val, &w) {
            undo(&queued);
            return Err(e);
        }
        queued.push((table, w));
    }
    let first_woken = |q: &[(&Futexes, Arc<Waiter>)]| q.iter().position(|(_, w)| w.woken.load(Ordering::SeqCst));
    let r = p.park(&mut || first_woken(&queued).is_some(), deadline);
    undo(&queued);
    if let Some(i) = first_woken(&queued) {
        return Ok(i);
    }
    match r {
        Ok(_) => Err(ETIMEDOUT),
        Err(e) => Err(e),
    }
}
