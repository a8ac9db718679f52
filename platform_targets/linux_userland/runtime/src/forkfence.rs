//! Forks of an app process that has more than one thread.
//!
//! A fork copies the runtime's memory as it is at that instant. A lock that another thread
//! held then (the heap's, the descriptor table's, the memory map's: each a spin lock) stays held
//! in the child, where that thread does not exist, and the child spins forever at its first
//! call that takes it. So the thread that forks first waits until every other thread of the
//! process is out of the runtime's lock-taking code, keeps them out until the host fork has
//! returned, and lets them back in then. A thread is "out" when it runs the app, or when it
//! is blocked in a host call the runtime made with nothing of its own held
//! (`fastpath::open_window`: the windows in which app signals are delivered, whose closures
//! are one host call each). A thread blocked in such a call is not disturbed: it is never
//! interrupted, so no call of the app's sees an EINTR that a native fork would not cause.
//!
//! The protocol, per thread, is a Dekker pair in which the forking side does the waiting:
//! - `FastData::depth` (fastpath.rs) is above 0 while the thread runs runtime code. Every
//!   change from 0 to above 0 (entering the runtime, and coming back from a blocking host call)
//!   is a locked exchange, a full barrier, followed by a read of [`PENDING`]. When a fork is
//!   pending, the thread steps back out (depth 0) and waits on PENDING's futex ([`step_out`]).
//! - The forking thread sets PENDING (from 0 to 1: one fork at a time; a second forker steps
//!   out as any entering thread does), then waits until the depth of each other live thread is
//!   0: a futex wait on that word, which the thread wakes when it drops to 0 while a fork is
//!   pending ([`wake_forker`]), with a 1 ms timeout for a wake that crossed the wait.
//! - Every thread is in the list [`THREADS`] from before its host clone (its parent puts it
//!   there with depth 1: a new thread's start-up is runtime code) until it exits (`live` 0).
//!   Thread blocks are never freed (threads.rs), so the list is safe to walk at any time.
//!
//! A process with one live thread forks as before: one walk of a one-entry list, no write.
//! Entering the runtime costs one locked exchange in place of a plain store; no syscall row
//! measured a difference beyond 3% (bench/RESULTS-forkfence.md).
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};

use litebox_libos::abi::Timespec;

use crate::fastpath::FastData;
use crate::sys::{self, FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE};

/// 1 while a thread of this process forks; the other threads wait outside the runtime.
static PENDING: AtomicU32 = AtomicU32::new(0);
/// The first thread of the process's list (its `FastData`'s address), 0 before the first
/// thread is set up (and in processes that run no app: the supervisor, init).
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// Adds the thread whose fast-path data is `d` to the process's list. Called by the thread
/// that starts it, before its host clone (or for the first thread, before it runs the app).
pub fn register(d: &'static FastData) {
    d.live.store(1, SeqCst);
    let mut head = THREADS.load(SeqCst);
    loop {
        d.next.store(head, SeqCst);
        match THREADS.compare_exchange(head, d as *const FastData as usize, SeqCst, SeqCst) {
            Ok(_) => return,
            Err(now) => head = now,
        }
    }
}

/// Takes the thread of `d` off the list's live threads: its clone failed, or it is about to
/// exit (called last, with nothing of the runtime held).
pub fn retire(d: &FastData) {
    d.depth.store(0, SeqCst);
    d.live.store(0, SeqCst);
    if pending() {
        wake_forker(d);
    }
}

/// Whether a fork of this process is waiting for its other threads (or under way).
#[inline(always)]
pub fn pending() -> bool {
    PENDING.load(SeqCst) != 0
}

/// Whether this process has set up its thread list (an app process, after its first thread's
/// fast path): before that, and in the supervisor and init, there is nothing to fence.
#[inline(always)]
pub fn active() -> bool {
    THREADS.load(core::sync::atomic::Ordering::Relaxed) != 0
}

/// Wakes a forker that may be waiting for the thread of `d` (whose depth has just dropped to 0).
#[cold]
#[inline(never)]
pub fn wake_forker(d: &FastData) {
    sys::raw6(sys::FUTEX, d.depth.as_ptr() as usize, FUTEX_WAKE_PRIVATE, 1, 0, 0, 0);
}

/// For a thread that has just raised its depth from 0 to `level` and found a fork pending:
/// steps back out (depth 0) until no fork is pending, then raises it to `level` again. App
/// signals are delivered while it waits, as in any blocking host call.
#[cold]
#[inline(never)]
pub fn step_out(d: &FastData, level: usize) {
    loop {
        d.depth.store(0, SeqCst);
        wake_forker(d);
        // Returns at once when PENDING is 0 by now (the futex compares it), and on a signal.
        sys::raw6(sys::FUTEX, PENDING.as_ptr() as usize, FUTEX_WAIT_PRIVATE, 1, 0, 0, 0);
        d.depth.swap(level, SeqCst);
        if !pending() {
            return;
        }
    }
}

/// The other threads, held out of the runtime for one fork: made by [`hold_out`], ended by
/// [`Held::parent`] or [`Held::child`] once the host fork has returned.
pub struct Held(());

/// Before a host fork by the calling thread (whose fast-path data is `me`, inside the runtime
/// with nothing held): when the process has other live threads, waits until each is out of
/// the runtime and keeps them out ([`Held`]); `None` when it has none (nothing to hold, and
/// nothing is written). Threads that have exited are dropped from the list here, while no
/// other thread can change it.
pub fn hold_out(me: &FastData) -> Option<Held> {
    if !active() {
        return None;
    }
    let mine = me as *const FastData as usize;
    if alone(mine) {
        prune(mine);
        return None;
    }
    loop {
        if PENDING.compare_exchange(0, 1, SeqCst, SeqCst).is_ok() {
            break;
        }
        // Another thread is forking: wait as any thread entering the runtime does.
        step_out(me, me.depth.load(SeqCst));
    }
    each(|t| {
        if t as *const FastData as usize != mine {
            wait_until_out(t);
        }
    });
    prune(mine);
    Some(Held(()))
}

impl Held {
    /// In the parent after the fork (made or failed): lets the other threads back in.
    pub fn parent(self) {
        PENDING.store(0, SeqCst);
        sys::raw6(sys::FUTEX, PENDING.as_ptr() as usize, FUTEX_WAKE_PRIVATE, i32::MAX as usize, 0, 0, 0);
    }

    /// In the child: it has only the thread that forked (`me`), and no fork is pending in it.
    pub fn child(self, me: &FastData) {
        me.next.store(0, SeqCst);
        THREADS.store(me as *const FastData as usize, SeqCst);
        PENDING.store(0, SeqCst);
    }
}

/// Calls `f` on every thread in the list, live or not.
fn each(mut f: impl FnMut(&FastData)) {
    let mut at = THREADS.load(SeqCst);
    while at != 0 {
        // SAFETY: the list holds only FastData of thread blocks, which are never freed.
        let t = unsafe { &*(at as *const FastData) };
        f(t);
        at = t.next.load(SeqCst);
    }
}

/// Whether the thread at `mine` is the process's only live thread.
fn alone(mine: usize) -> bool {
    let mut others = false;
    each(|t| others |= t as *const FastData as usize != mine && t.live.load(SeqCst) != 0);
    !others
}

/// Drops exited threads from the list. Only while no other thread can add one: the caller is
/// the only live thread, or holds the others out (new threads are added by a thread inside
/// the runtime).
fn prune(mine: usize) {
    let mut dead = false;
    each(|t| dead |= t.live.load(SeqCst) == 0);
    if !dead {
        return;
    }
    let mut prev: Option<&FastData> = None;
    let mut at = THREADS.load(SeqCst);
    while at != 0 {
        // SAFETY: as in `each`.
        let t = unsafe { &*(at as *const FastData) };
        let next = t.next.load(SeqCst);
        if t.live.load(SeqCst) == 0 && at != mine {
            match prev {
                Some(p) => p.next.store(next, SeqCst),
                None => THREADS.store(next, SeqCst),
            }
        } else {
            prev = Some(t);
        }
        at = next;
    }
}

/// Waits until the thread of `t` is out of the runtime (depth 0) or has exited.
fn wait_until_out(t: &FastData) {
    let ms = Timespec { tv_sec: 0, tv_nsec: 1_000_000 };
    loop {
        let depth = t.depth.load(SeqCst);
        if depth == 0 || t.live.load(SeqCst) == 0 {
            return;
        }
        sys::raw6(
            sys::FUTEX,
            t.depth.as_ptr() as usize,
            FUTEX_WAIT_PRIVATE,
            depth as u32 as usize,
            &ms as *const Timespec as usize,
            0,
            0,
        );
    }
}
