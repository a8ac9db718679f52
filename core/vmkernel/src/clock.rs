//! Time without a host: the TSC, calibrated once against the PIT (channel 2), and the CMOS
//! real-time clock read at first use for the wall-clock epoch.
use core::sync::atomic::{AtomicU64, Ordering};

use crate::port::{inb, outb, rdtsc};

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static EPOCH_NS: AtomicU64 = AtomicU64::new(0);
static EPOCH_TSC: AtomicU64 = AtomicU64::new(0);

fn pit_count() -> u16 {
    outb(0x43, 0x00); // latch channel 0
    let lo = inb(0x40) as u16;
    let hi = inb(0x40) as u16;
    hi << 8 | lo
}

/// TSC ticks per second, measured against the PIT (channel 0, read back by latching) over
/// 10 ms the first time it is asked; 2 GHz if no PIT answers.
pub fn tsc_hz() -> u64 {
    let hz = TSC_HZ.load(Ordering::Relaxed);
    if hz != 0 {
        return hz;
    }
    const PIT_HZ: u64 = 1_193_182;
    const WANT: u64 = PIT_HZ / 100; // 10 ms of PIT counts
    outb(0x43, 0x34); // channel 0, lobyte/hibyte, mode 2 (rate generator), binary
    outb(0x40, 0xff);
    outb(0x40, 0xff);
    let mut last = pit_count();
    let t0 = rdtsc();
    let mut elapsed = 0u64;
    let mut spins = 0u64;
    while elapsed < WANT && spins < 20_000_000 {
        let c = pit_count();
        elapsed += last.wrapping_sub(c) as u64;
        last = c;
        spins += 1;
    }
    let t1 = rdtsc();
    let hz = if elapsed >= WANT { ((t1 - t0) as u128 * PIT_HZ as u128 / elapsed as u128) as u64 } else { 0 };
    let hz = if hz < 10_000_000 { 2_000_000_000 } else { hz };
    TSC_HZ.store(hz, Ordering::Relaxed);
    hz
}

/// Nanoseconds for `ticks` TSC ticks.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    (ticks as u128 * 1_000_000_000 / tsc_hz() as u128) as u64
}

/// Nanoseconds since the machine entry (the boot stub).
pub fn monotonic_ns() -> u64 {
    ticks_to_ns(rdtsc().saturating_sub(crate::layout::boot_tsc()))
}

fn cmos(reg: u8) -> u8 {
    outb(0x70, reg);
    inb(0x71)
}

fn bcd(v: u8, binary: bool) -> u64 {
    if binary {
        v as u64
    } else {
        ((v >> 4) * 10 + (v & 0xf)) as u64
    }
}

fn days_from_civil(y: i64, m: u64, d: u64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy as i64;
    era * 146_097 + doe - 719_468
}

/// Nanoseconds since the Unix epoch (CMOS RTC at first use, then the TSC).
pub fn realtime_ns() -> u64 {
    if EPOCH_TSC.load(Ordering::Relaxed) == 0 {
        while cmos(0x0a) & 0x80 != 0 {
            core::hint::spin_loop();
        }
        let fmt = cmos(0x0b);
        let binary = fmt & 0x04 != 0;
        let (s, mi, h) = (bcd(cmos(0x00), binary), bcd(cmos(0x02), binary), bcd(cmos(0x04) & 0x7f, binary));
        let (d, mo, y) = (bcd(cmos(0x07), binary), bcd(cmos(0x08), binary), bcd(cmos(0x09), binary));
        let secs = if mo == 0 || mo > 12 || d == 0 {
            0
        } else {
            let days = days_from_civil(2000 + y as i64, mo, d);
            (days * 86_400 + (h * 3600 + mi * 60 + s) as i64).max(0) as u64
        };
        EPOCH_NS.store(secs * 1_000_000_000, Ordering::Relaxed);
        EPOCH_TSC.store(rdtsc().max(1), Ordering::Relaxed);
    }
    let since = ticks_to_ns(rdtsc().saturating_sub(EPOCH_TSC.load(Ordering::Relaxed)));
    EPOCH_NS.load(Ordering::Relaxed) + since
}
