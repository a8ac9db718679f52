//! The light clock path: a rewritten `clock_gettime`, `gettimeofday` or `time` site whose
//! clock the host's vDSO serves and whose buffer (if any) is already proven writable app
//! memory is answered by the vDSO, without the general fast path's xmm save and restore and
//! without the library OS's dispatch (the entry, fastpath.rs, sends those three calls here
//! first).
//!
//! Nothing on this path may touch a vector register: the entry saves only the general
//! registers for it. [`litebox_fastclock`] is loads, compares, single-word stores and a call
//! into the vDSO (kernel code, built without SSE). tests/unit/test_fastclock.py disassembles it
//! in the built runtime and refuses any vector register; tests/e2e/test_e2e_regsave.py checks
//! xmm0-15 and the flags across rewritten calls. Everything else (an unknown clock, a buffer
//! not proven, tracing on, no vDSO) is declined and takes the general path, which answers
//! exactly as before.
use core::mem::MaybeUninit;
use core::ptr::{read_volatile, write_volatile};

use litebox_libos::abi::Timespec;

use crate::fastpath::{data, enter_lock_free, leave};

/// What [`litebox_fastclock`] returns when it does not serve the call: none of the three
/// returns it (they return 0, a negative errno of -1..-4095, or a time in seconds >= 0).
pub const DECLINE: isize = -4096;
/// Syscall numbers of the two other calls served here (clock_gettime is `sys::CLOCK_GETTIME`).
pub const GETTIMEOFDAY: usize = 96;
pub const TIME: usize = 201;
const CLOCK_REALTIME: u32 = 0;

/// Serves syscall `nr` (clock_gettime, gettimeofday or time; arguments `a0`, `a1`) from the
/// vDSO if it can: the result for the app's rax, or [`DECLINE`]. App signals wait while the
/// buffer is checked and written, as on the general path (a handler cannot unmap the buffer in
/// between); the entry unblocks the ones deferred meanwhile (`litebox_fastpath_release`, with
/// xmm saved: that host call's code may use them).
#[no_mangle]
extern "C" fn litebox_fastclock(a0: usize, a1: usize, nr: usize) -> isize {
    if crate::trace::tracing() {
        return DECLINE;
    }
    let d = data();
    // Takes no lock (forkfence.rs): no exchange.
    enter_lock_free(d);
    let r = match nr {
        crate::sys::CLOCK_GETTIME => clock_gettime(a0, a1),
        GETTIMEOFDAY => gettimeofday(a0),
        TIME => time(a0),
        _ => DECLINE,
    };
    leave(d);
    r
}

/// Whether the app's `[p, p + len)` is writable by a current proven window.
fn proven(p: usize, len: usize) -> bool {
    crate::os().mem.writable_proven(p, len)
}

fn clock_gettime(clock: usize, tp: usize) -> isize {
    let Ok(clock) = u32::try_from(clock) else { return DECLINE };
    if !proven(tp, 16) {
        return DECLINE;
    }
    // SAFETY: a current proven window holds [tp, tp + 16) as writable app memory, and app
    // signals are deferred (`enter_lock_free`) so no handler of this thread changes the map meanwhile.
    unsafe { crate::vdso::clock_gettime_to(clock, tp) }.map_or(DECLINE, |rc| rc as isize)
}

/// CLOCK_REALTIME as (seconds, nanoseconds), or None when the vDSO cannot read it. The local
/// is left uninitialised and read a word at a time: zeroing or copying a 16-byte struct is
/// what the compiler does with xmm0.
fn realtime() -> Option<(i64, i64)> {
    let mut t = MaybeUninit::<Timespec>::uninit();
    let p = t.as_mut_ptr();
    // SAFETY: `t` is this frame's own 16 bytes, written by the vDSO when it returns 0.
    match unsafe { crate::vdso::clock_gettime_to(CLOCK_REALTIME, p as usize) } {
        // SAFETY: both fields were written (rc 0).
        Some(0) => Some(unsafe { (read_volatile(&raw const (*p).tv_sec), read_volatile(&raw const (*p).tv_nsec)) }),
        _ => None,
    }
}

/// gettimeofday(tv, tz): tz is not written, as on the general path (time.rs).
fn gettimeofday(tv: usize) -> isize {
    if tv != 0 && !proven(tv, 16) {
        return DECLINE;
    }
    let Some((sec, nsec)) = realtime() else { return DECLINE };
    if tv != 0 {
        // SAFETY: as in `clock_gettime`; one word at a time (no vector store).
        unsafe {
            write_volatile(tv as *mut i64, sec);
            write_volatile((tv + 8) as *mut i64, nsec / 1000);
        }
    }
    0
}

fn time(tloc: usize) -> isize {
    if tloc != 0 && !proven(tloc, 8) {
        return DECLINE;
    }
    let Some((sec, _)) = realtime() else { return DECLINE };
    if tloc != 0 {
        // SAFETY: as in `clock_gettime`.
        unsafe { write_volatile(tloc as *mut i64, sec) };
    }
    sec as isize
}
