//! The runner's control channel, COM2: the kernel reports the app's exit status there
//! (`exit.rs`), and the runner forwards the signals its user sends (Ctrl-C...) as one byte
//! each: `I` SIGINT, `T` SIGTERM, `H` SIGHUP, `Q` SIGQUIT; other bytes are ignored. The kernel
//! looks for them whenever a thread waits (`Machine::poll_events`) and at each preemption-timer
//! tick, which runs for every app when the channel is there; the signal then goes to every
//! process of the app (see `proc::signal_all`).
use core::sync::atomic::{AtomicBool, Ordering};

use litebox_vmkernel::os::proc;

use crate::serial;

/// How often a thread that waits only for a signal looks at the channel.
pub const POLL_NS: u64 = 10_000_000;

static LISTENING: AtomicBool = AtomicBool::new(false);

/// Enables the channel if the VM has COM2 (and starts the timer that lets a busy app notice
/// it); says whether it did.
pub fn init() -> bool {
    let on = serial::present(serial::COM2);
    LISTENING.store(on, Ordering::Relaxed);
    on
}

/// Whether signals can arrive from the runner.
pub fn listening() -> bool {
    LISTENING.load(Ordering::Relaxed)
}

/// Takes the bytes waiting on the channel and raises their signals; says whether it raised any.
pub fn poll() -> bool {
    let mut raised = false;
    if !listening() {
        return raised;
    }
    while let Some(b) = serial::read_byte(serial::COM2) {
        let sig = match b {
            b'I' => 2,
            b'T' => 15,
            b'H' => 1,
            b'Q' => 3,
            _ => continue,
        };
        crate::debug_line(format_args!("litebox: control: signal {sig} from the runner"));
        proc::signal_all(sig);
        raised = true;
    }
    raised
}
