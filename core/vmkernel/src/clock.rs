//! Time without a host: the TSC, calibrated against the PIT, and the CMOS real-time clock read
//! at first use for the wall-clock epoch.
//!
//! The calibration overlaps the boot instead of waiting for it: [`start_pit`] (the machine's first
//! code, outside SEV-SNP) starts PIT channels 0 and 1 counting with different periods and records
//! the TSC; [`start_calibration`] (the end of [`crate::init`], or both halves there when
//! `start_pit` did not run) starts the local APIC timer counting down. The first call of [`tsc_hz`]
//! (the first use of the time: a clock read, a sleep, a timer, the debug line, the background
//! tick's first interrupt; before the app's first instruction only without that tick or under
//! SEV-SNP) reads them again and divides over the whole span, which `litebox_rt::pit` resolves
//! exactly up to 56 s however often the 16-bit channels wrapped. It waits only for what is missing
//! of [`WINDOW`]: under emulation the boot from the machine's first code usually takes longer, so
//! nothing is waited for. The APIC timer's rate comes from the same span, or from the TSC's ticks
//! since it started when it started after the PIT ([`apic_per_ms`]), or up to the moment the
//! background tick took it over ([`apic_per_ms_now`]). A PIT whose channel 1 does not count
//! alongside channel 0 gets the former measurement: channel 0 alone, read without pause for the
//! whole window.
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use litebox_rt::pit::{self, Counts, PIT_HZ};

use crate::port::{inb, outb, rdtsc};

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static APIC_PER_MS: AtomicU32 = AtomicU32::new(0);
static EPOCH_NS: AtomicU64 = AtomicU64::new(0);
static EPOCH_TSC: AtomicU64 = AtomicU64::new(0);
/// The calibration's start: the TSC, and both channels' counts with the APIC's (packed).
static START_TSC: AtomicU64 = AtomicU64::new(0);
static START_COUNTS: AtomicU64 = AtomicU64::new(0);
static TWO_CHANNELS: AtomicBool = AtomicBool::new(false);
/// The APIC timer's start (TSC, count) when it started after the PIT ([`start_pit`]); TSC 0:
/// it started with the PIT, its count is in `START_COUNTS`.
static APIC_START_TSC: AtomicU64 = AtomicU64::new(0);
static APIC_START_COUNT: AtomicU32 = AtomicU32::new(0);
/// The APIC timer's counts and the TSC's ticks since its start, taken when the timer was taken
/// over before the calibration ended ([`apic_per_ms_now`]); TSC ticks 0: not taken over.
static APIC_FROZEN_COUNTS: AtomicU64 = AtomicU64::new(0);
static APIC_FROZEN_TSC: AtomicU64 = AtomicU64::new(0);
/// What the debug line reports: when the calibration ended (TSC), over how many PIT counts,
/// and how many of them were waited for.
static DONE_TSC: AtomicU64 = AtomicU64::new(0);
static SPAN_COUNTS: AtomicU64 = AtomicU64::new(0);
static WAITED_COUNTS: AtomicU64 = AtomicU64::new(0);

/// The shortest span the TSC is measured over (PIT counts: 10 ms).
pub const WINDOW: u64 = PIT_HZ / 100;
/// The most TSC ticks one reading (TSC, latch, APIC, TSC) may take before it is taken again:
/// a reading stretched by a host that descheduled the VM pairs the TSC with the wrong count.
const READ_TICKS: u64 = 50_000;
/// The frequency assumed when no PIT answers.
const FALLBACK_HZ: u64 = 2_000_000_000;
/// Readings before the measurement gives up on the PIT (a few seconds under emulation).
const MAX_SPINS: u64 = 20_000_000;

/// One reading: the TSC (the middle of the reading), both PIT channels, the APIC timer.
#[derive(Clone, Copy)]
struct Reading {
    tsc: u64,
    counts: Counts,
    apic: u32,
}

/// Latches channels 0 and 1 with one read-back command and reads them with the TSC and the
/// APIC timer's current count; taken again (up to 8 times, keeping the quickest) while a
/// reading takes longer than [`READ_TICKS`].
fn read() -> Reading {
    let mut best = read_once();
    for _ in 1..8 {
        if best.1 <= READ_TICKS {
            break;
        }
        let r = read_once();
        if r.1 < best.1 {
            best = r;
        }
    }
    best.0
}

/// One reading and the TSC ticks it took.
fn read_once() -> (Reading, u64) {
    let t0 = rdtsc();
    outb(0x43, 0xd6); // read-back: latch the counts (not the status) of channels 0 and 1
    let apic = crate::apic::current_count();
    let t1 = rdtsc();
    let ch0 = inb(0x40) as u16 | (inb(0x40) as u16) << 8;
    let ch1 = inb(0x41) as u16 | (inb(0x41) as u16) << 8;
    let took = t1.wrapping_sub(t0);
    (Reading { tsc: t0.wrapping_add(took / 2), counts: Counts { ch0, ch1 }, apic }, took)
}

/// Starts the calibration: PIT channels 0 and 1 counting (mode 2, binary; reloads 65536 and
/// `pit::CH1_RELOAD`), the APIC timer counting down (masked), and the TSC noted. Called once at
/// boot, after the IDT exists (under SEV-SNP port I/O and RDTSC raise #VC) and the frame
/// allocator works (the APIC's page is mapped). When [`start_pit`] ran earlier, only the APIC
/// timer starts here: its start is noted with the TSC, and its rate is measured against the
/// TSC over the rest of the span ([`over_boot`]).
pub fn start_calibration() {
    crate::apic::start_counting();
    if START_TSC.load(Ordering::Relaxed) == 0 {
        start_pit();
        return;
    }
    let r = read();
    APIC_START_COUNT.store(r.apic, Ordering::Relaxed);
    APIC_START_TSC.store(r.tsc.max(1), Ordering::Relaxed);
}

/// Starts the PIT half of the calibration (channels 0 and 1 counting, the TSC noted) before
/// the rest of the machine's set-up, so that the window ([`WINDOW`]) the boot must span starts
/// as early as it can: the machine's first code calls it where port I/O and RDTSC need no
/// exception handler (not under SEV-SNP); [`start_calibration`] then starts only the APIC
/// timer. Without this call, [`start_calibration`] starts both together, as before.
pub fn start_pit() {
    outb(0x43, 0x34); // channel 0, lobyte/hibyte, mode 2
    outb(0x40, 0);
    outb(0x40, 0);
    outb(0x43, 0x74); // channel 1, lobyte/hibyte, mode 2
    outb(0x41, pit::CH1_RELOAD as u8);
    outb(0x41, (pit::CH1_RELOAD >> 8) as u8);
    let a = read();
    // Channel 1 must count with channel 0: wait until channel 0 moved 64 counts (54 us) and
    // check that channel 1 agrees; some PITs leave it gated off.
    let mut b = read();
    let mut spins = 0;
    while a.counts.ch0.wrapping_sub(b.counts.ch0) < 64 && spins < 100_000 {
        b = read();
        spins += 1;
    }
    let moved = a.counts.ch0.wrapping_sub(b.counts.ch0);
    TWO_CHANNELS.store(moved >= 64 && pit::elapsed(a.counts, b.counts) == Some(moved as u64), Ordering::Relaxed);
    START_COUNTS.store(pack(a), Ordering::Relaxed);
    START_TSC.store(a.tsc.max(1), Ordering::Relaxed);
}

fn pack(r: Reading) -> u64 {
    (r.counts.ch0 as u64) | (r.counts.ch1 as u64) << 16 | (r.apic as u64) << 32
}

/// TSC ticks per second, measured against the PIT over the span since [`start_calibration`]
/// (at least [`WINDOW`]) the first time it is asked; 2 GHz if no PIT answers.
pub fn tsc_hz() -> u64 {
    let hz = TSC_HZ.load(Ordering::Relaxed);
    if hz != 0 {
        return hz;
    }
    calibrate()
}

/// Local APIC timer counts per millisecond (divide by 16), from the same span as [`tsc_hz`];
/// 0 when the APIC timer did not count.
pub fn apic_per_ms() -> u32 {
    tsc_hz();
    APIC_PER_MS.load(Ordering::Relaxed)
}

fn calibrate() -> u64 {
    if START_TSC.load(Ordering::Relaxed) == 0 {
        start_calibration();
    }
    let packed = START_COUNTS.load(Ordering::Relaxed);
    let start = Reading {
        tsc: START_TSC.load(Ordering::Relaxed),
        counts: Counts { ch0: packed as u16, ch1: (packed >> 16) as u16 },
        apic: (packed >> 32) as u32,
    };
    let (hz, apic) = if TWO_CHANNELS.load(Ordering::Relaxed) { over_boot(start) } else { (channel0_alone(), 0) };
    let hz = if hz < 10_000_000 { FALLBACK_HZ } else { hz };
    APIC_PER_MS.store(apic, Ordering::Relaxed);
    TSC_HZ.store(hz, Ordering::Relaxed);
    DONE_TSC.store(rdtsc(), Ordering::Relaxed);
    hz
}

/// (TSC Hz, APIC counts per ms) over the span since `start`, waiting until it is [`WINDOW`].
fn over_boot(start: Reading) -> (u64, u32) {
    let mut first: Option<u64> = None;
    for _ in 0..MAX_SPINS {
        let now = read();
        let Some(span) = pit::elapsed(start.counts, now.counts) else { continue };
        let first = *first.get_or_insert(span);
        if span < WINDOW {
            continue;
        }
        SPAN_COUNTS.store(span, Ordering::Relaxed);
        WAITED_COUNTS.store(span - first.min(span), Ordering::Relaxed);
        let hz = (now.tsc.wrapping_sub(start.tsc) as u128 * PIT_HZ as u128 / span as u128) as u64;
        let apic_tsc = APIC_START_TSC.load(Ordering::Relaxed);
        let frozen_tsc = APIC_FROZEN_TSC.load(Ordering::Relaxed);
        let apic = if frozen_tsc != 0 {
            // The timer was taken over before this reading: its counts over the TSC's ticks up
            // to then.
            APIC_FROZEN_COUNTS.load(Ordering::Relaxed) as u128 * hz as u128 / (frozen_tsc as u128 * 1000)
        } else if apic_tsc == 0 {
            let ticks = if now.apic != 0 { start.apic.saturating_sub(now.apic) as u128 } else { 0 };
            ticks * PIT_HZ as u128 / (span as u128 * 1000)
        } else {
            // The APIC timer started after the PIT: its counts over the TSC's ticks since then.
            let ticks =
                if now.apic != 0 { APIC_START_COUNT.load(Ordering::Relaxed).saturating_sub(now.apic) } else { 0 };
            let tsc = now.tsc.saturating_sub(apic_tsc).max(1);
            ticks as u128 * hz as u128 / (tsc as u128 * 1000)
        };
        return (hz, apic.min(u32::MAX as u128) as u32);
    }
    (0, 0)
}

/// The shortest span (PIT counts: 2 ms) over which [`apic_per_ms_now`] takes a provisional rate.
const PROVISIONAL_SPAN: u64 = PIT_HZ / 500;

/// Whether the calibration ended ([`tsc_hz`] was asked).
pub fn calibrated() -> bool {
    TSC_HZ.load(Ordering::Relaxed) != 0
}

/// The APIC timer's counts per millisecond for a caller about to reprogram the timer (which
/// restarts its count) that can do with a provisional rate: once calibrated, [`apic_per_ms`].
/// Before the calibration's window ended, instead of waiting for it: the timer's counts and
/// the TSC's ticks since the timer started are kept (the calibration later takes the timer's
/// rate from them and the TSC's final rate), and the rate is returned over the PIT span so
/// far (at least [`PROVISIONAL_SPAN`]; the error is that of the TSC's rate over that span,
/// about one PIT count in it, so under 0.1% at 2 ms unless the host descheduled a reading).
/// When the span is shorter, or the channels or the timer cannot give it, [`apic_per_ms`].
pub fn apic_per_ms_now() -> u32 {
    if calibrated() || !TWO_CHANNELS.load(Ordering::Relaxed) {
        return apic_per_ms();
    }
    let packed = START_COUNTS.load(Ordering::Relaxed);
    let start_tsc = START_TSC.load(Ordering::Relaxed);
    let start = Counts { ch0: packed as u16, ch1: (packed >> 16) as u16 };
    let now = read();
    let span = match pit::elapsed(start, now.counts) {
        Some(span) if span >= PROVISIONAL_SPAN && now.apic != 0 => span,
        _ => return apic_per_ms(),
    };
    let apic_tsc = APIC_START_TSC.load(Ordering::Relaxed);
    let (counts, tsc) = if apic_tsc == 0 {
        ((packed >> 32) as u32, start_tsc)
    } else {
        (APIC_START_COUNT.load(Ordering::Relaxed), apic_tsc)
    };
    let counts = counts.saturating_sub(now.apic) as u64;
    let tsc = now.tsc.saturating_sub(tsc).max(1);
    APIC_FROZEN_COUNTS.store(counts, Ordering::Relaxed);
    APIC_FROZEN_TSC.store(tsc, Ordering::Relaxed);
    let hz = now.tsc.wrapping_sub(start_tsc) as u128 * PIT_HZ as u128 / span as u128;
    (counts as u128 * hz / (tsc as u128 * 1000)).min(u32::MAX as u128) as u32
}

fn pit_count() -> u16 {
    outb(0x43, 0x00); // latch channel 0
    let lo = inb(0x40) as u16;
    let hi = inb(0x40) as u16;
    hi << 8 | lo
}

/// The former measurement: channel 0 alone, reprogrammed and read without pause for
/// [`WINDOW`] (0 when it does not count).
fn channel0_alone() -> u64 {
    outb(0x43, 0x34); // channel 0, lobyte/hibyte, mode 2 (rate generator), binary
    outb(0x40, 0xff);
    outb(0x40, 0xff);
    let mut last = pit_count();
    let t0 = rdtsc();
    let mut elapsed = 0u64;
    let mut spins = 0u64;
    while elapsed < WINDOW && spins < MAX_SPINS {
        let c = pit_count();
        elapsed += last.wrapping_sub(c) as u64;
        last = c;
        spins += 1;
    }
    let t1 = rdtsc();
    SPAN_COUNTS.store(elapsed, Ordering::Relaxed);
    WAITED_COUNTS.store(elapsed, Ordering::Relaxed);
    if elapsed >= WINDOW {
        ((t1 - t0) as u128 * PIT_HZ as u128 / elapsed as u128) as u64
    } else {
        0
    }
}

/// For the boot's debug line: (µs from the machine's entry to the end of the calibration,
/// µs it measured over, µs of it waited for), once calibrated.
pub fn calibration_report() -> Option<(u64, u64, u64)> {
    let done = DONE_TSC.load(Ordering::Relaxed);
    if done == 0 {
        return None;
    }
    let at = ticks_to_ns(done.saturating_sub(crate::layout::boot_tsc())) / 1000;
    let span = pit::counts_to_ns(SPAN_COUNTS.load(Ordering::Relaxed)) / 1000;
    Some((at, span, pit::counts_to_ns(WAITED_COUNTS.load(Ordering::Relaxed)) / 1000))
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
