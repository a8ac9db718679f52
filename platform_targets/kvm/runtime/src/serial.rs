//! 16550 UARTs: COM1 (0x3f8) carries the app's stdout; COM3 (0x3e8), when the VM has one,
//! its stderr and the kernel's own messages (else they share COM1); COM2 (0x2f8) is the
//! control channel with the runner (`control.rs`: signals in, the exit status out).
use core::sync::atomic::{AtomicU16, Ordering};

use crate::port::{inb, outb};

/// The console port (stdout).
pub const COM1: u16 = 0x3f8;
/// The control port.
pub const COM2: u16 = 0x2f8;
/// The error port (stderr), if present.
pub const COM3: u16 = 0x3e8;

static ERR_PORT: AtomicU16 = AtomicU16::new(COM1);

/// Sets up the ports the VM has: COM1 always, COM2 and COM3 when present.
pub fn init_all() {
    init(COM1);
    for port in [COM2, COM3] {
        if present(port) {
            init(port);
        }
    }
    if present(COM3) {
        ERR_PORT.store(COM3, Ordering::Relaxed);
    }
}

/// Where stderr goes: COM3 if the VM has it, else COM1.
pub fn err_port() -> u16 {
    ERR_PORT.load(Ordering::Relaxed)
}

/// The next byte received on `base`, if one is waiting.
pub fn read_byte(base: u16) -> Option<u8> {
    (inb(base + 5) & 1 != 0).then(|| inb(base))
}

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
