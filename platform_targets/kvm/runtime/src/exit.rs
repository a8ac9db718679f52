//! Leaving the VM with the app's exit status.
//!
//! The status goes out twice: as a line `litebox-exit <code>` on the control UART (COM2, when
//! present), which carries all 8 bits, and as a write of the code to QEMU's `isa-debug-exit`
//! device (I/O port 0xf4), which ends QEMU with status `(code << 1) | 1` (7 bits survive the
//! host's 8-bit exit status). Without that device (another VMM, or QEMU without it) the kernel
//! asks the i8042 for a reset, then forces a triple fault: either resets the machine, which a
//! VMM started with `-no-reboot` (QEMU) or Firecracker/cloud-hypervisor turn into an exit.
use crate::port::{outb, outl};
use crate::serial;

/// The isa-debug-exit port.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// How much of the boot stack (the boot thread's syscall stack) was ever written: it starts
/// zeroed (`.bootstrap` is no-load memory the VMM hands over zeroed), so the lowest word that
/// is not zero marks the deepest use (a frame's zero words below it would hide a little more;
/// size the stack with a margin). Only for the debug line.
fn boot_stack_used() -> usize {
    use litebox_vmkernel::layout::{stack_top, BOOT_STACK_SIZE};
    let bottom = stack_top() - BOOT_STACK_SIZE;
    let words = BOOT_STACK_SIZE / 8;
    let mut i = 0;
    // SAFETY: `bottom..stack_top()` is the boot stack, mapped for the kernel's lifetime and
    // 8-byte aligned (`.balign 16`); volatile reads of words the compiler knows nothing about.
    while i < words && unsafe { core::ptr::read_volatile((bottom as *const u64).add(i)) } == 0 {
        i += 1;
    }
    BOOT_STACK_SIZE - i * 8
}

/// Ends the VM reporting `code` (0..=255).
pub fn exit_vm(code: i32) -> ! {
    let code = code & 0xff;
    // With litebox.debug, when the VM ends (for the boot's cost: docs/targets/kvm.md).
    if litebox_vmkernel::debug() {
        litebox_vmkernel::debug_line(format_args!(
            "litebox: exit: {} us after the machine's entry; boot stack high-water {} of {} bytes",
            litebox_vmkernel::clock::monotonic_ns() / 1000,
            boot_stack_used(),
            litebox_vmkernel::layout::BOOT_STACK_SIZE
        ));
    }
    if serial::present(serial::COM2) {
        let mut buf = [0u8; 20];
        let digits = litebox_libos::shim::fmt_usize(code as usize, &mut buf);
        serial::write(serial::COM2, b"litebox-exit ");
        serial::write(serial::COM2, digits);
        serial::write(serial::COM2, b"\n");
    }
    outl(DEBUG_EXIT_PORT, code as u32);
    if litebox_vmkernel::snp::active() {
        // Under SEV-SNP a VMM without the exit port gets the GHCB termination request.
        litebox_vmkernel::snp::terminate_exit();
    }
    outb(0x64, 0xfe);
    let empty = [0u64; 2];
    // SAFETY: loading an empty IDT and raising an exception triple-faults the CPU on purpose:
    // the machine resets; nothing of this kernel runs afterwards.
    unsafe {
        core::arch::asm!("lidt [{}]", "int3", in(reg) empty.as_ptr(), options(nostack));
    }
    loop {
        // SAFETY: halting with interrupts off stops this CPU for good; nothing is left to run.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}
