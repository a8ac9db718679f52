//! The PVH entry: the VMM starts us in 32-bit protected mode, paging off, at the physical
//! address named by the Xen ELF note `XEN_ELFNOTE_PHYS32_ENTRY` (18), with `%ebx` holding the
//! physical address of the `hvm_start_info` structure.
//!
//! The stub records the TSC, builds boot page tables (phys 0..1 GiB mapped three times: identity
//! for the switch, the direct map at `DIRECT_MAP`, and the kernel image at `KERNEL_VMA`), enables
//! SSE, PAE, long mode, NX-capable EFER and paging, then jumps to the higher half and calls
//! [`crate::kernel_main`] on the boot stack. Booted from the SEV-SNP VMSA of the snp target's
//! IGVM file (marker in `%edi`, C-bit position in `%ebp`), it puts the C-bit in every boot
//! page-table entry and leaves EFER and the TSC alone (`litebox_vmkernel::snp`). (The stub stays with the machine: it is PVH-specific
//! and its placement depends on this crate's linker script.)
use core::arch::global_asm;

pub use litebox_vmkernel::layout::{boot_tsc, phys_to_virt, BOOT_STACK_SIZE};

// What the stub hands over to the kernel (`litebox_vmkernel::layout`): `boot_pml4` and
// `boot_stack_top` (defined below), the TSC at entry in `BOOT_TSC` (defined by the kernel
// crate), and the start info address in the first argument of `kernel_main`.

// The PVH note: namesz 4 ("Xen\0"), descsz 4, type 18, desc = 32-bit physical entry.
global_asm!(
    r#"
    .section .note.Xen, "a", @note
    .balign 4
    .long 4
    .long 4
    .long 18
    .asciz "Xen"
    .long pvh_start - 0xffffffff80000000
    .balign 4
    "#,
    options(att_syntax)
);

global_asm!(
    r#"
    .set KVMA, 0xffffffff80000000

    .section .bootstrap, "aw", @nobits
    .balign 4096
    .globl boot_pml4
boot_pml4:      .skip 4096
boot_pdpt_low:  .skip 4096
boot_pdpt_high: .skip 4096
boot_pd:        .skip 4096
boot_pt:        .skip 4096
    /* Not mapped (boot_pt's entry for it is cleared): a boot stack overflow faults, and the
       fault's frame push a double fault taken on its own stack (cpu::FAULT2_STACK), instead
       of running into the boot tables above. */
boot_stack_guard: .skip 4096
boot_stack:     .skip {stack}
    .globl boot_stack_top
boot_stack_top:

    .section .rodata.boot_gdt, "a"
    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
boot_gdt_end:
boot_gdtr:
    .word boot_gdt_end - boot_gdt - 1
    .long boot_gdt - KVMA

    .section .boot.text, "ax"
    .code32
    .globl pvh_start
pvh_start:
    cli
    cld
    mov %ebx, %esi
    /* The SEV-SNP VMSA sets %edi to "SNP1" and %ebp to the C-bit position its page tables
       assume: keep the C-bit mask's high half in %ebp (0 on every other boot). Under SNP,
       RDTSC and EFER may be intercepted (a #VC with no handler yet): the VMSA's EFER
       already has LME and SCE. */
    cmp ${snp_marker}, %edi
    jne 3f
    lea -32(%ebp), %ecx
    mov $1, %ebp
    shl %cl, %ebp
    jmp 4f
3:
    xor %ebp, %ebp
    rdtsc
    mov %eax, (BOOT_TSC - KVMA)
    mov %edx, (BOOT_TSC - KVMA + 4)
4:

    /* zero the four boot tables */
    mov $(boot_pml4 - KVMA), %edi
    xor %eax, %eax
    mov $4096, %ecx
    rep stosl

    /* fill_table STEP: 512 entries from %edi on, the first %eax (address | flags), each next
       one STEP further; the high half of each is %ebp (the SNP C-bit, else 0) */
    .macro fill_table step
    mov $512, %ecx
1:
    mov %eax, (%edi)
    mov %ebp, 4(%edi)
    add $\step, %eax
    add $8, %edi
    loop 1b
    .endm

    /* boot_pd: 512 x 2 MiB pages, phys 0..1 GiB, present | writable | large */
    mov $(boot_pd - KVMA), %edi
    mov $0x83, %eax
    fill_table 0x200000

    /* boot_pt: the 2 MiB that hold the boot stack in 4 KiB pages (present | writable), in
       boot_pd's entry for them, with the guard page below the stack left out */
    mov $(boot_stack_guard - KVMA), %edx
    and $0xffe00000, %edx
    mov $(boot_pt - KVMA), %edi
    lea 3(%edx), %eax
    fill_table 0x1000
    mov $(boot_stack_guard - KVMA), %eax
    shr $12, %eax
    and $0x1ff, %eax
    movl $0, (boot_pt - KVMA)(,%eax,8)
    movl $0, (boot_pt - KVMA + 4)(,%eax,8)
    shr $21, %edx
    mov $(boot_pt - KVMA + 3), %eax
    mov %eax, (boot_pd - KVMA)(,%edx,8)
    mov %ebp, (boot_pd - KVMA + 4)(,%edx,8)

    mov $(boot_pd - KVMA + 3), %eax
    mov %eax, (boot_pdpt_low - KVMA)
    mov %eax, (boot_pdpt_high - KVMA + 510 * 8)
    mov $(boot_pdpt_low - KVMA + 3), %eax
    mov %eax, (boot_pml4 - KVMA)
    mov %eax, (boot_pml4 - KVMA + 256 * 8)
    mov $(boot_pdpt_high - KVMA + 3), %eax
    mov %eax, (boot_pml4 - KVMA + 511 * 8)
    mov %ebp, (boot_pdpt_low - KVMA + 4)
    mov %ebp, (boot_pdpt_high - KVMA + 510 * 8 + 4)
    mov %ebp, (boot_pml4 - KVMA + 4)
    mov %ebp, (boot_pml4 - KVMA + 256 * 8 + 4)
    mov %ebp, (boot_pml4 - KVMA + 511 * 8 + 4)

    /* CR4: PAE | OSFXSR | OSXMMEXCPT */
    mov %cr4, %eax
    or $0x620, %eax
    mov %eax, %cr4
    mov $(boot_pml4 - KVMA), %eax
    mov %eax, %cr3
    /* EFER: SCE | LME (under SNP the VMSA set them) */
    test %ebp, %ebp
    jnz 5f
    mov $0xc0000080, %ecx
    rdmsr
    or $0x101, %eax
    wrmsr
5:
    /* CR0: PG | WP | NE | MP | PE, EM and TS clear */
    mov %cr0, %eax
    and $0xfffffff3, %eax
    or $0x80010023, %eax
    mov %eax, %cr0
    lgdt (boot_gdtr - KVMA)
    ljmp $0x08, $(pvh_long - KVMA)

    .code64
pvh_long:
    mov $0x10, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    movabs $pvh_high, %rax
    jmp *%rax

    .section .text.pvh_high, "ax"
pvh_high:
    movabs $boot_stack_top, %rsp
    /* zero .bss (the boot tables and stack live in .bootstrap, outside it), 8 bytes a step:
       under TCG each iteration of a rep prefix is one dispatch (link.ld aligns both ends);
       %ebp carries the SNP marker to kernel_main, so it is left alone here */
    movabs $__bss_start, %rdi
    movabs $__bss_end, %rcx
    sub %rdi, %rcx
    shr $3, %rcx
    xor %eax, %eax
    rep stosq
    mov %esi, %edi
    mov %ebp, %esi
    xor %ebp, %ebp
    call kernel_main
2:
    hlt
    jmp 2b
    "#,
    stack = const BOOT_STACK_SIZE,
    snp_marker = const litebox_vmkernel::snp::VMSA_MARKER,
    options(att_syntax)
);
