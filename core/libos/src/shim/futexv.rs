//! futex_waitv(2): waiting on up to 128 futex words at once (Wine/Proton's and some thread
//! libraries' "wait for any"). The host's on linux-userland (its futexes are the host's), the
//! core's futex tables elsewhere ([`crate::futex::wait_many`]).
use super::nr::*;
use super::SysResult;
use crate::errno::*;
use crate::kernel::LibOs;
use crate::platform::Platform;
use crate::user;
use alloc::vec::Vec;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[FUTEX_WAITV];

const FUTEX_32: u32 = 2;
const FUTEX_PRIVATE_FLAG: u32 = 128;
const FUTEX_WAITV_MAX: usize = 128;
const CLOCK_REALTIME: usize = 0;
const CLOCK_MONOTONIC: usize = 1;

/// Serves futex_waitv.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    (n == FUTEX_WAITV).then(|| futex_waitv(os, a))
}

/// The checked `struct futex_waitv` array: (address, expected value, private) per word.
/// EINVAL for flags other than FUTEX_32 (+ FUTEX_PRIVATE_FLAG), a reserved field, a value
/// wider than 32 bits, a count of 0 or above 128, or call flags; EFAULT for a bad pointer.
fn words(
    mem: &crate::memlock::MemLock,
    ptr: usize,
    count: usize,
    flags: usize,
) -> Result<Vec<(usize, u32, bool)>, Errno> {
    if flags != 0 || count == 0 || count > FUTEX_WAITV_MAX {
        return Err(EINVAL);
    }
    let raw = user::slice_in(mem, ptr, count * 24)?;
    raw.chunks_exact(24)
        .map(|c| {
            let val = u64::from_le_bytes(c[0..8].try_into().unwrap_or([0; 8]));
            let addr = u64::from_le_bytes(c[8..16].try_into().unwrap_or([0; 8])) as usize;
            let fl = u32::from_le_bytes(c[16..20].try_into().unwrap_or([0; 4]));
            let reserved = u32::from_le_bytes(c[20..24].try_into().unwrap_or([0; 4]));
            if fl & !(FUTEX_32 | FUTEX_PRIVATE_FLAG) != 0 || fl & FUTEX_32 == 0 || reserved != 0 || val >> 32 != 0 {
                return Err(EINVAL);
            }
            if !addr.is_multiple_of(4) {
                return Err(EINVAL);
            }
            Ok((addr, val as u32, fl & FUTEX_PRIVATE_FLAG != 0))
        })
        .collect()
}

fn futex_waitv<P: Platform>(os: &LibOs<P>, a: &[usize; 6]) -> SysResult {
    let list = words(&os.mem, a[0], a[1], a[2])?;
    // An absolute timeout on CLOCK_MONOTONIC or CLOCK_REALTIME (EINVAL for another clock).
    let deadline = if a[3] != 0 {
        if a[4] != CLOCK_MONOTONIC && a[4] != CLOCK_REALTIME {
            return Err(EINVAL);
        }
        let [s, ns]: [i64; 2] = user::read_in(&os.mem, a[3])?;
        if s < 0 || !(0..1_000_000_000).contains(&ns) {
            return Err(EINVAL);
        }
        Some((s as u64).saturating_mul(1_000_000_000).saturating_add(ns as u64))
    } else {
        None
    };
    if let Some(h) = os.platform.passthrough() {
        return h.futex_waitv([a[0], a[1], 0, a[3], a[4], 0]);
    }
    // The core keeps deadlines on the monotonic clock.
    let deadline = deadline.map(|d| {
        if a[4] == CLOCK_REALTIME {
            let now = os
                .platform
                .clock_gettime(0)
                .map_or(0, |t| (t.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec as u64));
            os.monotonic_ns().saturating_add(d.saturating_sub(now))
        } else {
            d
        }
    });
    let tables: Vec<(&crate::futex::Futexes, usize, u32)> = list
        .iter()
        .map(|&(addr, val, private)| (if private { &os.futex } else { &crate::futex::SHARED }, addr, val))
        .collect();
    crate::futex::wait_many(&os.platform, &tables, deadline)
}
