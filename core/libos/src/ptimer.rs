//! POSIX per-process timers (timer_create(2) and the rest) in the core's signal state, for
//! platforms without the host's signals (kvm, snp). Each timer keeps its expiry on the
//! monotonic clock; the platform's one timer interrupt ([`crate::Platform::arm_timer`]) is armed
//! for the earliest of them and of ITIMER_REAL, and [`crate::signal::Pending::fire_timer`] fires
//! what is due. Expiries that fall while the timer's signal is still pending count as overruns.
use alloc::vec::Vec;

/// si_code of a timer's signal.
pub const SI_TIMER: i32 = -2;
/// sigev_notify values.
pub const SIGEV_SIGNAL: i32 = 0;
pub const SIGEV_NONE: i32 = 1;
pub const SIGEV_THREAD_ID: i32 = 4;
/// At most this many timers per process (Linux's default RLIMIT_SIGPENDING order is larger;
/// this bounds the kernel's memory).
pub const MAX_TIMERS: usize = 4096;

/// One timer.
#[derive(Clone, Debug)]
pub struct Timer {
    pub id: i32,
    /// The clock it counts (CLOCK_*); the expiry is kept on the monotonic clock.
    pub clock: usize,
    /// SIGEV_SIGNAL, SIGEV_NONE or SIGEV_THREAD_ID.
    pub notify: i32,
    pub signo: usize,
    pub value: u64,
    /// SIGEV_THREAD_ID: the thread its signal goes to (0: the process).
    pub tid: i32,
    /// Next expiry, monotonic ns (0: disarmed).
    pub at: u64,
    /// Interval, ns (0: one-shot).
    pub every: u64,
    /// Expiries since the signal was queued, and the count timer_getoverrun reports.
    overrun_acc: i32,
    pub overrun: i32,
}

impl Timer {
    /// timer_getoverrun(2): once the timer's signal was taken (`pending` no longer holds it),
    /// the expiries that fell while it was pending count too, as Linux counts them up to the
    /// delivery; before that, the count of the signal raised last.
    pub fn overrun_count(&self, pending: u64) -> i32 {
        if pending & crate::signal::bit(self.signo) == 0 {
            self.overrun.saturating_add(self.overrun_acc)
        } else {
            self.overrun
        }
    }
}

/// A process's timers.
#[derive(Default, Debug)]
pub struct Timers {
    list: Vec<Timer>,
    next_id: i32,
}

impl Timers {
    /// No timers.
    pub const fn new() -> Self {
        Timers { list: Vec::new(), next_id: 0 }
    }

    /// No timer exists (armed or not).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Adds a disarmed timer; its id, or None at [`MAX_TIMERS`].
    pub fn create(&mut self, notify: i32, signo: usize, value: u64) -> Option<i32> {
        if self.list.len() >= MAX_TIMERS {
            return None;
        }
        while self.list.iter().any(|t| t.id == self.next_id) {
            self.next_id = self.next_id.wrapping_add(1) & i32::MAX;
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1) & i32::MAX;
        self.list.push(Timer {
            id,
            clock: 1,
            notify,
            signo,
            value,
            tid: 0,
            at: 0,
            every: 0,
            overrun_acc: 0,
            overrun: 0,
        });
        Some(id)
    }

    /// The timer `id`, if it exists.
    pub fn get_mut(&mut self, id: i32) -> Option<&mut Timer> {
        self.list.iter_mut().find(|t| t.id == id)
    }

    /// Removes timer `id`; whether it existed.
    pub fn delete(&mut self, id: i32) -> bool {
        let n = self.list.len();
        self.list.retain(|t| t.id != id);
        self.list.len() != n
    }

    /// The earliest armed expiry.
    pub fn next(&self) -> Option<u64> {
        self.list.iter().filter(|t| t.at != 0).map(|t| t.at).min()
    }

    /// Fires what is due at `now`: re-arms interval timers (counting missed periods as
    /// overruns) and returns the (signal, value, target tid or 0) to raise; a timer whose
    /// signal is still pending for its target (`pending(tid, signal)`) counts an overrun
    /// instead of raising it again.
    pub fn fire(&mut self, now: u64, pending: &dyn Fn(i32, usize) -> bool) -> Vec<(usize, u64, i32)> {
        let mut out = Vec::new();
        for t in self.list.iter_mut().filter(|t| t.at != 0 && now >= t.at) {
            let missed = (now - t.at).checked_div(t.every).unwrap_or(0);
            t.at = if t.every != 0 { t.at.saturating_add((missed + 1).saturating_mul(t.every)) } else { 0 };
            let missed = i32::try_from(missed).unwrap_or(i32::MAX);
            if t.notify == SIGEV_NONE {
                continue;
            }
            if pending(t.tid, t.signo) {
                t.overrun_acc = t.overrun_acc.saturating_add(missed.saturating_add(1));
            } else {
                t.overrun = t.overrun_acc.saturating_add(missed);
                t.overrun_acc = 0;
                out.push((t.signo, t.value, t.tid));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_fires_once_and_disarms() {
        let mut t = Timers::new();
        let id = t.create(SIGEV_SIGNAL, 10, 7).unwrap();
        t.get_mut(id).unwrap().at = 100;
        assert!(t.fire(99, &|_, _| false).is_empty());
        assert_eq!(t.fire(100, &|_, _| false), alloc::vec![(10, 7, 0)]);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn interval_counts_missed_periods_and_pending_as_overruns() {
        let mut t = Timers::new();
        let id = t.create(SIGEV_SIGNAL, 10, 0).unwrap();
        {
            let x = t.get_mut(id).unwrap();
            x.at = 100;
            x.every = 10;
        }
        assert_eq!(t.fire(125, &|_, _| false).len(), 1);
        assert_eq!(t.get_mut(id).unwrap().overrun, 2);
        assert_eq!(t.next(), Some(130));
        assert!(t.fire(130, &|_, s| s == 10).is_empty());
        // Taken after the expiry at 130: that one counts too; still pending: it does not yet.
        assert_eq!(t.get_mut(id).unwrap().overrun_count(0), 3);
        assert_eq!(t.get_mut(id).unwrap().overrun_count(crate::signal::bit(10)), 2);
        assert_eq!(t.fire(140, &|_, _| false).len(), 1);
        assert_eq!(t.get_mut(id).unwrap().overrun, 1);
    }

    #[test]
    fn ids_are_reused_only_after_delete_and_sigev_none_raises_nothing() {
        let mut t = Timers::new();
        let a = t.create(SIGEV_NONE, 0, 0).unwrap();
        let b = t.create(SIGEV_SIGNAL, 14, 0).unwrap();
        assert_ne!(a, b);
        t.get_mut(a).unwrap().at = 5;
        assert!(t.fire(6, &|_, _| false).is_empty());
        assert!(t.delete(a));
        assert!(!t.delete(a));
    }
}
