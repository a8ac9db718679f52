//! Entry code: the 32 exception vectors (each on an IST stack), the `syscall` entry (LSTAR) and
//! the first switch to ring 3. Every entry saves the interrupted SSE state with `fxsave64`,
//! because the kernel's Rust code (and the prebuilt `core`) uses SSE registers.
use core::arch::global_asm;

// trap_common loads SS with this selector as a literal.
const _: () = assert!(crate::cpu::KERNEL_SS == 0x10);

/// Registers of an app thread stopped in a syscall: the same layout as an exception frame
/// (the entry pushes an interrupt-style frame, with zero vector and error code), so one type
/// serves both and either return path (sysret or iret) can end a syscall.
pub type SyscallFrame = TrapFrame;

/// Registers at an exception or interrupt, as the vector stubs and the CPU push them (and as the
/// syscall entry pushes them).
#[repr(C)]
pub struct TrapFrame {
    /// The saved `r15`.
    pub r15: u64,
    /// The saved `r14`.
    pub r14: u64,
    /// The saved `r13`.
    pub r13: u64,
    /// The saved `r12`.
    pub r12: u64,
    /// The saved `r11`.
    pub r11: u64,
    /// The saved `r10`.
    pub r10: u64,
    /// The saved `r9`.
    pub r9: u64,
    /// The saved `r8`.
    pub r8: u64,
    /// The saved `rbp`.
    pub rbp: u64,
    /// The saved `rdi`.
    pub rdi: u64,
    /// The saved `rsi`.
    pub rsi: u64,
    /// The saved `rdx`.
    pub rdx: u64,
    /// The saved `rcx`.
    pub rcx: u64,
    /// The saved `rbx`.
    pub rbx: u64,
    /// The saved `rax`.
    pub rax: u64,
    /// The vector number (0 for a syscall).
    pub vector: u64,
    /// The error code (0 when the vector has none).
    pub error: u64,
    /// The interrupted instruction.
    pub rip: u64,
    /// The interrupted code segment (its low bits: the ring).
    pub cs: u64,
    /// The interrupted RFLAGS.
    pub rflags: u64,
    /// The interrupted stack pointer.
    pub rsp: u64,
    /// The interrupted stack segment.
    pub ss: u64,
}

/// The kernel stack `syscall` switches to (set once before the app starts).
#[no_mangle]
static mut SYSCALL_STACK_TOP: u64 = 0;
/// Scratch slot for the app's stack pointer during the switch (one CPU, interrupts off).
#[no_mangle]
static mut SYSCALL_USER_RSP: u64 = 0;

/// Sets the stack the syscall entry runs on.
///
/// # Safety
/// `top` must be the top of a stack no one else uses while the app runs.
pub unsafe fn set_syscall_stack(top: usize) {
    // SAFETY: written before the app starts; only the entry code reads it afterwards.
    unsafe { core::ptr::write_volatile(&raw mut SYSCALL_STACK_TOP, top as u64) };
}

extern "C" {
    /// Enters ring 3 at `entry` with stack `sp`, all general registers zero, interrupts on (only
    /// the preemption timer is ever unmasked, and only once the app has a second thread).
    pub fn enter_user(entry: usize, sp: usize) -> !;
}

global_asm!(
    r#"
    .section .text.traps, "ax"
    .irp n, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
trap_vec_\n:
    push 0
    push \n
    jmp trap_common
    .endr
    .irp n, 8,10,11,12,13,14,17,21,29,30
trap_vec_\n:
    push \n
    jmp trap_common
    .endr

trap_common:
    push rax
    /* SS = the kernel's (cpu::KERNEL_SS), as `syscall` and the boot load it: a trap from
       ring 3 leaves a null SS, and QEMU (TCG) keys translated code on SS's 32-bit flag, so
       every kernel block run both after a syscall and after a trap (page faults, ticks)
       was translated twice. iretq loads the interrupted SS back from the frame. */
    mov eax, 0x10
    mov ss, eax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    sub rsp, 512
    fxsave64 [rsp]
    lea rdi, [rsp + 512]
    cld
    call trap_handler
    fxrstor64 [rsp]
    add rsp, 512
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq

    .globl syscall_entry
syscall_entry:
    mov [rip + SYSCALL_USER_RSP], rsp
    mov rsp, [rip + SYSCALL_STACK_TOP]
    push 0x1b
    push qword ptr [rip + SYSCALL_USER_RSP]
    push r11
    push 0x23
    push rcx
    push 0
    push 0
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    sub rsp, 512
    fxsave64 [rsp]
    lea rdi, [rsp + 512]
    cld
    call syscall_handler
    /* a new thread starts here too, on a stack sched.rs built in this layout; al != 0 asks
       for every register back exactly (iretq), else sysretq (rcx and r11 are the syscall's) */
    .globl syscall_return
syscall_return:
    test al, al
    fxrstor64 [rsp]
    lea rsp, [rsp + 512]
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    lea rsp, [rsp + 16]
    jnz 1f
    pop rcx
    lea rsp, [rsp + 8]
    pop r11
    pop rsp
    sysretq
1:
    iretq

    .globl enter_user
enter_user:
    push 0x1b
    push rsi
    push 0x202
    push 0x23
    push rdi
    xor eax, eax
    xor ebx, ebx
    xor ecx, ecx
    xor edx, edx
    xor esi, esi
    xor edi, edi
    xor ebp, ebp
    xor r8d, r8d
    xor r9d, r9d
    xor r10d, r10d
    xor r11d, r11d
    xor r12d, r12d
    xor r13d, r13d
    xor r14d, r14d
    xor r15d, r15d
    iretq

    /* vectors 32..256: push 0, push vector (imm32), jmp; 16 bytes apart */
    .balign 16
    .globl irq_stubs
irq_stubs:
    .set vec, 32
    .rept 224
    .balign 16
    push 0
    .byte 0x68
    .long vec
    jmp trap_common
    .set vec, vec + 1
    .endr

    .section .rodata.trap_vectors, "a"
    .balign 8
    .globl trap_vectors
trap_vectors:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad trap_vec_\n
    .endr
    "#
);
