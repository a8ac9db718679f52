//! The LiteBox x86-64 ring-0 kernel: CPU set-up (GDT, IDT, TSS, syscall MSRs), the exception,
//! interrupt and `syscall` entry, 4-level paging and per-process address spaces, the physical
//! frame allocator and the kernel heap, the local APIC timer and the clocks, and the scheduler
//! of the app's threads, on one CPU.
//!
//! It is generic over one small trait, [`Machine`], which each VM target implements (kvm: PVH
//! start info, 16550 UARTs, isa-debug-exit, virtio-mmio; snp: IGVM, GHCB, PVALIDATE). The
//! machine crate is the executable: it owns the linker script and the boot stub (see
//! [`layout`] for what the stub hands over), registers itself with [`set_machine`], calls
//! [`init`], and defines the two Rust entry points the entry code calls:
//!
//! - `extern "C" fn syscall_handler(f: &mut trap::SyscallFrame) -> bool` (one syscall of the
//!   app; true when the frame must go back register for register, through `iretq`);
//! - `extern "C" fn trap_handler(f: &mut trap::TrapFrame)` (an exception or interrupt).
//!
//! Their bodies are [`os::entry::syscall`] and [`os::entry::trap`]: the OS layer ([`os`]) runs
//! the library OS on this kernel, the same for every VM target.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

pub mod apic;
pub mod clock;
pub mod cpu;
pub mod frames;

pub mod layout;
pub mod machine;
pub mod os;
pub mod paging;
pub mod port;
pub mod rng;
pub mod sched;
pub mod shm;
pub mod snp;
pub mod trap;
pub mod vm;

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

pub use machine::{BootInfo, Machine};

/// The exit status of an internal error (as on linux-userland, docs/image-format.md).
pub const EXIT_INTERNAL: i32 = litebox_rt::exit::INTERNAL;

static mut MACHINE: Option<&'static dyn Machine> = None;
static DEBUG: AtomicBool = AtomicBool::new(false);

/// Registers the machine; the first thing the machine's kernel entry does.
///
/// # Safety
/// Call once, at boot, before anything else of this crate runs (one CPU, interrupts off).
pub unsafe fn set_machine(m: &'static dyn Machine) {
    // SAFETY: per the contract, nothing reads MACHINE concurrently with this write.
    unsafe { MACHINE = Some(m) };
}

/// The machine registered at boot.
pub fn machine() -> &'static dyn Machine {
    // SAFETY: written once by `set_machine` before any reader runs; read-only afterwards.
    match unsafe { MACHINE } {
        Some(m) => m,
        None => halt(),
    }
}

pub(crate) fn halt() -> ! {
    loop {
        // SAFETY: halting with interrupts off stops this CPU for good; nothing is left to run.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// A `core::fmt::Write` sink for the kernel's messages: [`Machine::log_write`].
pub struct Log;

impl Write for Log {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        machine().log_write(s.as_bytes());
        Ok(())
    }
}

/// Turns the kernel's debug lines ([`debug_line`]) on or off (`litebox.debug`).
pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

/// Whether debug lines are on.
pub fn debug() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// Prints a line on the log when debugging is on.
pub fn debug_line(args: core::fmt::Arguments<'_>) {
    if debug() {
        let _ = writeln!(Log, "{args}");
    }
}

/// Prints `litebox: <msg>` on the log and ends the VM with `code`.
pub fn fatal(code: i32, msg: core::fmt::Arguments<'_>) -> ! {
    let _ = writeln!(Log, "litebox: {msg}");
    machine().exit(code)
}

/// Brings the kernel up on the boot stack, after [`set_machine`]: the CPU tables and the
/// syscall entry, the frame allocator over the machine's RAM (less the kernel, the first MiB
/// and the reserved ranges), the page-encryption mask, the boot address space without its
/// identity map, the scheduler's boot thread, the legacy PICs masked, and the clock's
/// calibration started (it ends when the time is first needed, [`clock::tsc_hz`]).
///
/// # Safety
/// Call once, at boot, on the boot stack, interrupts off; the boot stack becomes the syscall
/// stack (nothing on it is needed after [`trap::enter_user`]).
pub unsafe fn init() {
    let m = machine();
    // SAFETY: per the contract: boot, once, interrupts off, on the boot stack.
    unsafe {
        cpu::init(layout::stack_top());
        trap::set_syscall_stack(layout::stack_top());
    }
    paging::set_encryption_mask(m.encryption_mask() | snp::cbit_mask());
    frames::set_fresh_zeroed(m.fresh_ram_zeroed());
    let bi = m.boot_info();
    let mut reserved = [(0usize, 0usize); machine::MAX_RESERVED + 1];
    reserved[0] = (0, layout::kernel_end_phys());
    reserved[1..=bi.reserved().len()].copy_from_slice(bi.reserved());
    if snp::active() {
        // Under SEV-SNP, RAM outside the measured pages is neither private nor validated yet.
        snp::mem::validate_ram(bi.ram(), &reserved[..=bi.reserved().len()]);
    }
    for &(s, e) in bi.ram() {
        frames::add_ram(s, e, &reserved);
    }
    paging::drop_identity_map();
    sched::init(layout::stack_top());
    apic::mask_pics();
    clock::start_calibration();
}
