//! 16550 UARTs: COM1 (0x3f8) is the app's console (stdout and stderr); COM2 (0x2f8) is the
//! control channel on which the kernel reports the exit status to the runner.
use crate::port::{inb, outb};

/// The console port.
pub const COM1: u16 = 0x3f8;
/// The control port.
pub const COM2: u16 = 0x2f8;

/// Programs a UART for 115200 8N1 with FIFOs, no interrupts.
pub fn init(base: u16) {
    outb(base + 1, 0x00); // no interrupts
    outb(base + 3, 0x80); // DLAB
    outb(base, 0x01); // divisor 1: 115200 baud
    outb(base + 1, 0x00);
    outb(base + 3, 0x03); // 8N1
    outb(base + 2, 0xc7); // FIFO on, cleared
    outb(base + 4, 0x03); // DTR | RTS
}

/// Whether a UART answers at `base` (the line status register of an absent port reads 0xff).
pub fn present(base: u16) -> bool {
    inb(base + 5) != 0xff
}

/// Writes bytes, waiting for the transmitter each time.
pub fn write(base: u16, bytes: &[u8]) {
    for &b in bytes {
        let mut spins = 0u32;
        while inb(base + 5) & 0x20 == 0 && spins < 1_000_000 {
            spins += 1;
            core::hint::spin_loop();
        }
        outb(base, b);
    }
}

/// A `core::fmt::Write` sink on the console.
pub struct Console;

impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        write(COM1, s.as_bytes());
        Ok(())
    }
}
