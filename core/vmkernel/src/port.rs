//! Port I/O, MSRs, CPUID and the TSC.
use core::arch::asm;

/// Writes a byte to an I/O port.
pub fn outb(port: u16, v: u8) {
    // SAFETY: port I/O has no memory effects; the ports we use are our own devices.
    unsafe { asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack, preserves_flags)) }
}

/// Writes a 32-bit value to an I/O port.
pub fn outl(port: u16, v: u32) {
    // SAFETY: as for `outb`.
    unsafe { asm!("out dx, eax", in("dx") port, in("eax") v, options(nomem, nostack, preserves_flags)) }
}

/// Reads a byte from an I/O port.
pub fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: as for `outb`.
    unsafe { asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack, preserves_flags)) }
    v
}

/// Reads a model-specific register.
pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: we only read architectural MSRs that exist on every x86-64 CPU.
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) }
    (hi as u64) << 32 | lo as u64
}

/// Writes a model-specific register.
///
/// # Safety
/// The MSR and value must be valid and must not break the kernel's own invariants.
pub unsafe fn wrmsr(msr: u32, v: u64) {
    // SAFETY: per the contract.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") v as u32, in("edx") (v >> 32) as u32, options(nostack, preserves_flags))
    }
}

/// CPUID leaf/subleaf: (eax, ebx, ecx, edx).
pub fn cpuid(leaf: u32, sub: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid_count(leaf, sub);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is unprivileged and side-effect free (CR4.TSD is clear).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Extended features (SCE, LME, NXE).
pub const MSR_EFER: u32 = 0xc000_0080;
/// The `syscall`/`sysret` segment selectors.
pub const MSR_STAR: u32 = 0xc000_0081;
/// The `syscall` entry point.
pub const MSR_LSTAR: u32 = 0xc000_0082;
/// RFLAGS bits `syscall` clears.
pub const MSR_SFMASK: u32 = 0xc000_0084;
/// The FS base (the app's TLS).
pub const MSR_FS_BASE: u32 = 0xc000_0100;
/// The GS base.
pub const MSR_GS_BASE: u32 = 0xc000_0101;
