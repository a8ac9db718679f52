//! The policy's process limit (`[policy.limits] processes`), shared by every process of the
//! app. The app's processes are host processes and we run as root (RLIMIT_NPROC does not
//! bind root), so the count lives in a `MAP_SHARED` anonymous page made at start and
//! inherited by every fork: one live-process counter for the whole tree.
//!
//! Exit paths: a process takes itself off the count when it ends by `exit_group`, by the exit
//! of its last thread or by a runtime error ([`release`], once per process). A process killed
//! by a signal cannot; its parent does it when `wait4`/`waitid` reaps it and reports the
//! signal ([`reaped`]). A process killed by a signal whose parent never reaps it stays counted.
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use litebox_libos::errno::{Errno, EAGAIN};

use crate::sys;

/// Address of the shared counter (0: no process limit).
static COUNTER: AtomicUsize = AtomicUsize::new(0);
/// The limit.
static LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

fn counter() -> Option<&'static AtomicU64> {
    let at = COUNTER.load(Ordering::Relaxed);
    // SAFETY: a non-zero COUNTER is the start of the shared page mapped in `init`, never
    // unmapped while COUNTER is set (the supervisor clears it first: detach) and guarded from
    // the app; AtomicU64 has the alignment of the page start.
    (at != 0).then(|| unsafe { &*(at as *const AtomicU64) })
}

/// In the supervisor, before it unmaps the shared arena (`sys::unmap_shared_arena`): this
/// process no longer has the counter (it no longer counts as one of the app's processes).
pub fn detach() {
    COUNTER.store(0, Ordering::SeqCst);
}

/// Sets up the shared counter for a limit of `limit` processes (this one counts as the
/// first). Returns the page's address for the guard, or an errno.
pub fn init(limit: u64) -> Result<(usize, usize), i32> {
    let at = sys::map_shared_page()?;
    // SAFETY: the page was just mapped shared, read-write, zeroed.
    unsafe { (*(at as *const AtomicU64)).store(1, Ordering::SeqCst) };
    COUNTER.store(at, Ordering::SeqCst);
    LIMIT.store(limit, Ordering::SeqCst);
    Ok((at, 4096))
}

/// Takes a place for a new process (before the host fork); EAGAIN when the app's tree is at
/// its limit.
pub fn acquire() -> Result<(), Errno> {
    let Some(c) = counter() else { return Ok(()) };
    let limit = LIMIT.load(Ordering::Relaxed);
    let mut cur = c.load(Ordering::SeqCst);
    loop {
        if cur >= limit {
            crate::os().debug_log(&[b"process limit of the policy reached: fork EAGAIN"]);
            return Err(EAGAIN);
        }
        match c.compare_exchange(cur, cur + 1, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return Ok(()),
            Err(now) => cur = now,
        }
    }
}

/// Gives back a place taken by [`acquire`] for a fork that failed.
pub fn undo() {
    if let Some(c) = counter() {
        c.fetch_sub(1, Ordering::SeqCst);
    }
}

/// In a new child: it has not released its place yet (the parent's flag was copied).
pub fn child_started() {
    crate::host::fork_state().released.store(false, Ordering::SeqCst);
}

/// This process is ending: off the count (once).
// In `.text` with the fork path: a fork child's exit runs it (test_e2e_fork_faults.py).
#[link_section = ".text"]
pub fn release() {
    if let Some(c) = counter() {
        if !crate::host::fork_state().released.swap(true, Ordering::SeqCst) {
            c.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The parent reaped a child that a signal killed (it could not release itself).
pub fn reaped_by_signal() {
    undo();
}

/// Decodes a wait4 status: true if the child was killed by a signal.
pub fn status_killed(status: i32) -> bool {
    let sig = status & 0x7f;
    sig != 0 && sig != 0x7f
}
