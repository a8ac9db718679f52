//! Stop signals on kvm: the default action of SIGSTOP, SIGTSTP, SIGTTIN and SIGTTOU stops the
//! process until SIGCONT or SIGKILL arrives (other signals stay pending, as on Linux), and its parent learns of both
//! through SIGCHLD (CLD_STOPPED, CLD_CONTINUED; none on stop with SA_NOCLDSTOP) and wait4 with
//! WUNTRACED / WCONTINUED (the process table's reports). Only the thread that takes the signal
//! stops; other threads of the process run on (the VM's processes have one thread each as a
//! rule).
use alloc::sync::Arc;

use litebox_libos::proctab::TABLE;
use litebox_libos::signal::{bit, Signals, SIGCHLD, SIGKILL};

use super::proc;
use crate::{clock, sched};

const SIGCONT: usize = 18;
const CLD_STOPPED: i32 = 5;
const CLD_CONTINUED: i32 = 6;
const SA_NOCLDSTOP: u64 = 1;
/// How often a stopped process looks for SIGCONT (the scheduler has no wait queues).
const LOOK_EVERY_NS: u64 = 10_000_000;

/// Whether `sig` is a stop signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU).
pub fn is_stop(sig: usize) -> bool {
    matches!(sig, 19..=22)
}

fn notify_parent(parent: Option<(i32, Arc<Signals>)>, code: i32) {
    let Some((ppid, s)) = parent else { return };
    let act = s.actions.lock().get(SIGCHLD);
    if act.handler == 1 || (code == CLD_STOPPED && act.flags & SA_NOCLDSTOP != 0) {
        return;
    }
    s.pending.lock().raise(SIGCHLD, code, 0);
    proc::wake_for_signals(ppid);
}

/// Stops process `pid` (the caller) for stop signal `sig` until SIGCONT or SIGKILL is
/// pending; reports the stop and the continue to its parent.
pub fn stop(pid: i32, sig: usize) {
    notify_parent(TABLE.lock().report_change(pid, ((sig as i32) << 8) | 0x7f), CLD_STOPPED);
    let os = proc::current();
    let continued = loop {
        let pending = os.signals.pending.lock().set();
        if pending & bit(SIGCONT) != 0 {
            break true;
        }
        if pending & bit(SIGKILL) != 0 {
            break false;
        }
        sched::wait_event(Some(clock::monotonic_ns().saturating_add(LOOK_EVERY_NS)));
    };
    if continued {
        notify_parent(TABLE.lock().report_change(pid, 0xffff), CLD_CONTINUED);
    }
}
