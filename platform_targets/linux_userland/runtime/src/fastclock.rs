//! The light clock path: a rewritten `clock_gettime` site whose clock the host's vDSO serves
//! and whose buffer is already proven writable app memory is answered by the vDSO writing
//! straight into the app's buffer, without the general fast path's xmm save and restore and
//! without the library OS's dispatch (the entry, fastpath.rs, sends clock_gettime here first).
//!
//! Nothing on this path may touch a vector register: the entry saves only the general
//! registers for it. [`litebox_fastclock`] is loads, compares and a call into the vDSO (kernel
//! code, built without SSE). tests/unit/test_fastclock.py disassembles it in the built runtime
//! and refuses any vector register; tests/e2e/test_e2e_regsave.py checks xmm0-15 and the flags
//! across rewritten clock_gettime calls.
//! Everything else (an unknown clock, a buffer not proven, tracing on, no vDSO) is declined
//! and takes the general path, which answers exactly as before.
use crate::fastpath::{data, enter, leave};

/// What [`litebox_fastclock`] returns when it does not serve the call (clock_gettime itself
/// returns only 0 or a negative errno).
pub const DECLINE: isize = 1;

/// Serves clock_gettime(`clock`, `tp`) from the vDSO if it can: the result for the app's rax,
/// or [`DECLINE`]. App signals wait while the buffer is checked and written, as on the
/// general path (a handler cannot unmap the buffer in between); the entry unblocks the ones
/// deferred meanwhile (`litebox_fastpath_release`, with xmm saved: that host call's code may
/// use them).
#[no_mangle]
extern "C" fn litebox_fastclock(clock: usize, tp: usize) -> isize {
    let Ok(clock) = u32::try_from(clock) else { return DECLINE };
    if crate::trace::tracing() {
        return DECLINE;
    }
    let d = data();
    enter(d);
    let rc = if crate::os().mem.writable_proven(tp, 16) {
        // SAFETY: a current proven window holds [tp, tp + 16) as writable app memory, and app
        // signals are deferred (enter) so no handler of this thread changes the map meanwhile.
        unsafe { crate::vdso::clock_gettime_to(clock, tp) }
    } else {
        None
    };
    leave(d);
    rc.map_or(DECLINE, |rc| rc as isize)
}
