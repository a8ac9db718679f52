//! Random bytes: RDRAND when the CPU has it, else a SplitMix64 stream seeded from the TSC
//! (not cryptographic; documented in docs/targets/kvm.md).
use core::sync::atomic::{AtomicU64, Ordering};

use crate::port::{cpuid, rdtsc};

static STATE: AtomicU64 = AtomicU64::new(0);

fn rdrand() -> Option<u64> {
    if cpuid(1, 0).2 & (1 << 30) == 0 {
        return None;
    }
    for _ in 0..10 {
        let v: u64;
        let ok: u8;
        // SAFETY: the CPU advertises RDRAND; the instruction only writes the two registers.
        unsafe {
            core::arch::asm!("rdrand {v}", "setc {ok}", v = out(reg) v, ok = out(reg_byte) ok, options(nomem, nostack))
        };
        if ok == 1 {
            return Some(v);
        }
    }
    None
}

fn splitmix() -> u64 {
    let mut s = STATE.load(Ordering::Relaxed);
    if s == 0 {
        s = rdtsc() ^ 0x9e37_79b9_7f4a_7c15;
    }
    s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
    STATE.store(s, Ordering::Relaxed);
    let mut z = s;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fills `buf` with random bytes.
pub fn fill(buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        let v = rdrand().unwrap_or_else(splitmix).to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}
