//! The kernel's virtual memory layout, and what the machine's boot stub hands over.
//!
//! The boot stub (per machine: the PVH entry for kvm) must, before it calls the machine's
//! kernel entry on the boot stack in long mode:
//! - define `boot_pml4`, a PML4 that maps physical 0..[`PHYS_LIMIT`](crate::frames::PHYS_LIMIT)
//!   three times: identity (slot 0, dropped by [`crate::init`]), at [`DIRECT_MAP`] (slot 256)
//!   and at [`KERNEL_VMA`] (slot 511, the kernel image), with CR3 pointing at it;
//! - define `boot_stack_top`, the top of a [`BOOT_STACK_SIZE`] stack it runs the entry on;
//! - store the TSC at its first instruction in [`BOOT_TSC`] (in `.data`: `.bss` is zeroed later);
//! - zero `.bss`, enable SSE, PAE, long mode and EFER.SCE/NXE as needed.
//!
//! The linker script defines `__kernel_end` (the end of the image, kernel-virtual).

/// Where the kernel is linked: virtual = KERNEL_VMA + physical.
pub const KERNEL_VMA: usize = 0xffff_ffff_8000_0000;
/// Physical memory 0..1 GiB is mapped here (PML4 slot 256).
pub const DIRECT_MAP: usize = 0xffff_8000_0000_0000;
/// The boot stack (also the syscall stack once the app runs). 64 KiB: the deepest use seen is
/// ~15 KiB (hello-static, python-app, http-service on kvm: `litebox.timing`'s exit line), and the kvm boot
/// stub puts an unmapped guard page below it (an overflow faults). Small, so that a small app's
/// boot stays inside one 2 MiB page of guest RAM (docs/targets/kvm.md).
pub const BOOT_STACK_SIZE: usize = 64 * 1024;

/// The kernel-virtual address of physical address `pa` (below 1 GiB).
pub fn phys_to_virt(pa: usize) -> usize {
    DIRECT_MAP + pa
}

extern "C" {
    static boot_pml4: u8;
    static boot_stack_top: u8;
    static __kernel_end: u8;
}

/// The TSC value at the first instruction of the boot stub (which writes it; in .data: .bss is
/// zeroed later).
#[no_mangle]
#[link_section = ".data.boot_tsc"]
pub static mut BOOT_TSC: u64 = 0;

/// TSC at the machine's entry.
pub fn boot_tsc() -> u64 {
    // SAFETY: written once by the boot stub before any Rust code runs; read-only afterwards.
    unsafe { core::ptr::read_volatile(&raw const BOOT_TSC) }
}

/// Physical address of the boot PML4 (the boot process's address space: kernel upper half,
/// app lower).
pub fn pml4_phys() -> usize {
    // SAFETY: taking the address of a linker-placed symbol.
    unsafe { &boot_pml4 as *const u8 as usize - KERNEL_VMA }
}

/// Top of the boot stack, reused as the syscall stack.
pub fn stack_top() -> usize {
    // SAFETY: taking the address of a linker-placed symbol.
    unsafe { &boot_stack_top as *const u8 as usize }
}

/// Physical end of the kernel image (everything below it is the kernel's or firmware's).
pub fn kernel_end_phys() -> usize {
    // SAFETY: a linker symbol; only its address is taken.
    unsafe { &__kernel_end as *const u8 as usize - KERNEL_VMA }
}
