//! Leaving the VM with the app's exit status.
//!
//! The status goes out twice: as a line `litebox-exit <code>` on the control UART (COM2, when
//! present), which carries all 8 bits, and as a write of the code to QEMU's `isa-debug-exit`
//! device (I/O port 0xf4), which ends QEMU with status `(code << 1) | 1` (7 bits survive the
//! host's 8-bit exit status). Without either device (another VMM), the kernel asks the i8042
//! for a reset and halts.
use crate::port::{outb, outl};
use crate::serial;

/// The isa-debug-exit port.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Ends the VM reporting `code` (0..=255).
pub fn exit_vm(code: i32) -> ! {
    let code = code & 0xff;
    if serial::present(serial::COM2) {
        let mut buf = [0u8; 20];
        let digits = litebox_libos::shim::fmt_usize(code as usize, &mut buf);
        serial::write(serial::COM2, b"litebox-exit ");
        serial::write(serial::COM2, digits);
        serial::write(serial::COM2, b"\n");
    }
    outl(DEBUG_EXIT_PORT, code as u32);
    outb(0x64, 0xfe);
    loop {
        // SAFETY: halting with interrupts off stops this CPU for good; nothing is left to run.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) };
    }
}
