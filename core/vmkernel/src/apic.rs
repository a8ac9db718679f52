//! Preemption: the local APIC timer, periodic (10 ms), started at boot when the runner's
//! control channel is there (its first tick then after 50 ms: [`start_background_tick`]),
//! else when the app gets its second thread or process. Its
//! interrupt arrives in ring 3 (the kernel runs with IF clear) and makes the running thread
//! yield; the one exception is [`idle_until`], which halts with interrupts on until a one-shot
//! deadline. The legacy 8259 PICs are masked so no other interrupt arrives.
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};

use crate::port::{cpuid, outb, rdtsc};
use crate::{clock, paging};

/// The timer's vector.
pub const TIMER_VECTOR: u64 = 0x40;
/// The spurious-interrupt vector.
pub const SPURIOUS_VECTOR: u64 = 0xff;
const APIC_PHYS: usize = 0xfee0_0000;
const APIC_VIRT: usize = 0xffff_c800_0000_0000;
const PERIOD_MS: u64 = 10;
/// The first period of a timer started for background work alone ([`start_background_tick`]).
pub const FIRST_TICK_MS: u64 = 50;

static BASE: AtomicUsize = AtomicUsize::new(0);
static RUNNING: AtomicBool = AtomicBool::new(false);
/// The timer runs its long first period ([`start_background_tick`]); the next tick, or a need
/// for the regular period, ends it.
static FIRST_LONG: AtomicBool = AtomicBool::new(false);
/// Timer counts per millisecond (0 until calibrated).
static PER_MS: AtomicU32 = AtomicU32::new(0);
/// `PER_MS` is the provisional rate [`start_background_tick`] took before the clock's
/// calibration ended: [`per_ms`] replaces it with the calibrated one at its first use.
static PROVISIONAL: AtomicBool = AtomicBool::new(false);

fn reg(off: usize) -> *mut u32 {
    (BASE.load(Ordering::Relaxed) + off) as *mut u32
}

fn write(off: usize, v: u32) {
    // SAFETY: BASE maps the local APIC's registers (uncached); off is a register offset.
    unsafe { reg(off).write_volatile(v) }
}

fn read(off: usize) -> u32 {
    // SAFETY: as in `write`.
    unsafe { reg(off).read_volatile() }
}

/// Masks the 8259 PICs (the firmware may have left them delivering on exception vectors).
pub fn mask_pics() {
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

/// Creates the page tables above the APIC's page now, so every address space made later
/// (which copies the kernel's top-level entries) sees the mapping `start_timer` adds.
pub fn reserve_mapping() {
    let _ = paging::pte(APIC_VIRT, true);
}

/// Maps the local APIC (if the CPU has one), enables it and starts its timer counting down
/// from the top, masked, for the clock's calibration ([`crate::clock::start_calibration`]):
/// [`start_timer`] later takes its rate from the same span as the TSC's. Not at boot under
/// SEV-SNP, where the APIC stays untouched until a timer is needed, as before (its MMIO goes
/// through the hypervisor); the timer then measures its rate against the TSC.
pub fn start_counting() {
    if BASE.load(Ordering::Relaxed) != 0 || cpuid(1, 0).3 & (1 << 9) == 0 {
        return;
    }
    if crate::snp::active() && !RUNNING.load(Ordering::Relaxed) {
        return;
    }
    let Some(e) = paging::pte(APIC_VIRT, true) else { return };
    let nx = if crate::cpu::has_nx() { paging::NX } else { 0 };
    // SAFETY: a fresh kernel page-table entry for the APIC's MMIO page: present, writable,
    // cache-disabled and write-through (PCD | PWT).
    unsafe { e.write_volatile(APIC_PHYS as u64 | paging::P | paging::W | 0x18 | nx) };
    crate::cpu::invlpg(APIC_VIRT);
    BASE.store(APIC_VIRT, Ordering::Relaxed);
    write(0xf0, 0x100 | SPURIOUS_VECTOR as u32); // enable, spurious vector
    write(0x3e0, 0x3); // divide by 16
    write(0x320, 1 << 16); // masked, one-shot
    write(0x380, u32::MAX);
}

/// The APIC timer's current count (0 without an APIC).
pub fn current_count() -> u32 {
    if BASE.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    read(0x390)
}

/// Starts the periodic timer if the CPU has a local APIC (once), at the rate measured with the
/// TSC's calibration; a timer started by [`start_background_tick`] takes its regular period
/// now (a second thread or process, a CPU limit, an interval timer need it from the start).
pub fn start_timer() {
    if RUNNING.swap(true, Ordering::Relaxed) {
        if FIRST_LONG.swap(false, Ordering::Relaxed) {
            periodic(per_ms());
        }
        return;
    }
    start_ticking(PERIOD_MS, false);
}

/// Starts the periodic timer for the kernel's background work alone (the runner's Ctrl-C
/// for an app that never waits): its first tick comes [`FIRST_TICK_MS`] after the start, the
/// rest every 10 ms. A short app (a hello under emulation runs ~10 ms) so ends before any
/// tick, and the boot does not pay for the tick's first run (its code translated under TCG).
/// The first period may use a provisional rate ([`clock::apic_per_ms_now`]), so the boot does
/// not wait for the end of the clock's calibration; the first tick (or an earlier use of the
/// rate) takes the calibrated one. Nothing if the timer already runs.
pub fn start_background_tick() {
    if RUNNING.swap(true, Ordering::Relaxed) {
        return;
    }
    if start_ticking(FIRST_TICK_MS, true) {
        FIRST_LONG.store(true, Ordering::Relaxed);
    }
}

/// At each tick of the timer: after a long first period ([`start_background_tick`]) the
/// regular one follows, at the calibrated rate (the clock's calibration ends here at the
/// latest when the first period ran at a provisional one: 50 ms, well inside the span the PIT
/// channels resolve, `litebox_rt::pit::MAX_SPAN`).
pub fn on_tick() {
    if FIRST_LONG.swap(false, Ordering::Relaxed) {
        periodic(per_ms());
    }
}

/// The timer's counts per millisecond: the calibrated rate (taking it, which ends the clock's
/// calibration, when [`start_background_tick`] started the timer at a provisional one).
fn per_ms() -> u32 {
    if PROVISIONAL.swap(false, Ordering::Relaxed) {
        let n = clock::apic_per_ms();
        if n != 0 {
            PER_MS.store(n, Ordering::Relaxed);
        }
    }
    PER_MS.load(Ordering::Relaxed)
}

/// Maps and calibrates the timer and starts it periodic, its first period `first_ms` long
/// (at a provisional rate when `provisional` and the clock is not calibrated yet); false
/// without a usable APIC.
fn start_ticking(first_ms: u64, provisional: bool) -> bool {
    start_counting();
    if BASE.load(Ordering::Relaxed) == 0 {
        return false;
    }
    let provisional = provisional && !clock::calibrated();
    let rate = if provisional { clock::apic_per_ms_now() } else { clock::apic_per_ms() };
    let per_ms = match rate {
        0 => measure_against_tsc(),
        n => n,
    };
    if per_ms == 0 {
        return false;
    }
    PER_MS.store(per_ms, Ordering::Relaxed);
    PROVISIONAL.store(provisional && !clock::calibrated(), Ordering::Relaxed);
    // Periodic, unmasked; a long first period is cut to the regular one at its tick (`on_tick`).
    write(0x320, (1 << 17) | TIMER_VECTOR as u32);
    write(0x380, per_ms.saturating_mul(first_ms as u32));
    true
}

/// The timer's counts in 1 ms of TSC, counted now (when the calibration could not measure
/// the APIC, e.g. a PIT without channel 1).
fn measure_against_tsc() -> u32 {
    write(0x380, u32::MAX);
    let t0 = rdtsc();
    let tick = clock::tsc_hz() / 1000;
    while rdtsc() - t0 < tick {
        core::hint::spin_loop();
    }
    let per_ms = u32::MAX - read(0x390);
    write(0x380, 0);
    per_ms
}

/// The timer periodic at the regular period (restarting its count).
fn periodic(per_ms: u32) {
    FIRST_LONG.store(false, Ordering::Relaxed);
    write(0x320, (1 << 17) | TIMER_VECTOR as u32); // periodic, unmasked
    write(0x380, per_ms.saturating_mul(PERIOD_MS as u32));
}

/// Idles the CPU until monotonic time `deadline` (ns) or an interrupt, whichever is first:
/// halts with the timer set to fire at the deadline (one-shot), then resumes the periodic
/// tick. An idle VM so leaves its host CPU alone. Without a running timer it spins instead.
pub fn idle_until(deadline: u64) {
    let now = clock::monotonic_ns();
    let per_ms = per_ms();
    if now >= deadline {
        return;
    }
    if !RUNNING.load(Ordering::Relaxed) || per_ms == 0 {
        while clock::monotonic_ns() < deadline {
            core::hint::spin_loop();
        }
        return;
    }
    let ticks = ((deadline - now) as u128 * per_ms as u128 / 1_000_000).clamp(1, u32::MAX as u128) as u32;
    write(0x320, TIMER_VECTOR as u32); // one-shot, unmasked
    write(0x380, ticks);
    // SAFETY: interrupts are enabled only across `hlt` (sti's one-instruction shadow makes an
    // interrupt already pending wake the hlt rather than be taken before it). The interrupt
    // is taken on this kernel stack (IST 0) and only acknowledged there (trap_handler does
    // nothing else for a ring-0 interrupt); the 128 bytes below rsp are stepped over first,
    // since compiled code may keep data in that red zone.
    unsafe { core::arch::asm!("sub rsp, 128", "sti", "hlt", "cli", "add rsp, 128") };
    periodic(per_ms);
}

/// Acknowledges the interrupt being served.
pub fn eoi() {
    if BASE.load(Ordering::Relaxed) != 0 {
        write(0xb0, 0);
    }
}
