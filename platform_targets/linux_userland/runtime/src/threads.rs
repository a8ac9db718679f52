//! New app threads. The host clone gets a runtime-owned block as the child's stack: its top
//! holds the address of `litebox_child_entry` (popped by the gate's `ret` in the child) and a
//! copy of the parent's trapped registers. The child makes the block its signal stack, takes
//! the app's signal mask, restores the registers (rax = 0, rsp = the app's new stack) and
//! resumes the app right after its clone syscall.
//!
//! A thread's block is not freed when the thread exits (it is the stack the exiting thread
//! runs on); it stays in the runtime's heap reservation.
use alloc::alloc::{alloc, Layout};
use core::arch::global_asm;

use litebox_libos::errno::{Errno, ENOMEM};
use litebox_libos::ThreadSpawn;

use crate::sys::{self, check};

/// Size of a thread's block (its SIGSYS stack), and its alignment: the handler finds the
/// block, and the thread's data near its top, by masking its stack pointer.
pub const BLOCK: usize = 256 << 10;
/// Layout of a block, from its top down: the thread's [`ThreadData`] and its fast-path data
/// (`fastpath::FastData`) in the top [`TOP_DATA`] bytes, the process's children list when this
/// thread keeps it ([`CHILDREN_AT`]), a new thread's start-up registers below them, then the
/// stacks (the fast path's and the SIGSYS signal stack) from
/// [`STACK_TOP`] down to [`STACK_BASE`]. The data share the top page with the stacks' hottest
/// frames, so a call writes one page of the block, not two (after a fork, each page either
/// process writes costs it a copy-on-write fault). The lowest page is a margin above the
/// previous heap object.
pub const TOP_DATA: usize = 192;
/// Offset of the process's fork state (`host::ForkState`, 64 bytes, 64-aligned) from the
/// block's base, when this thread's block holds it.
pub const FORK_STATE_AT: usize = BLOCK - 64;
/// Offset of [`ThreadData`] from the block's base.
pub const THREAD_DATA_AT: usize = BLOCK - TOP_DATA;
/// Offset from the block's base of the slot for the process's children list
/// (`litebox_libos::children::ChildList`), used when this thread forks while it is its
/// process's only thread: the fork path writes this page in parent and child anyway, so the
/// parent's record of its child costs no copy-on-write fault of the library OS's heap.
pub const CHILDREN_AT: usize = THREAD_DATA_AT - CHILDREN_SLOT;
/// Bytes reserved at [`CHILDREN_AT`].
const CHILDREN_SLOT: usize = 128;
const _: () = assert!(litebox_libos::children::SLOT_SIZE <= CHILDREN_SLOT);
const _: () = assert!(CHILDREN_AT.is_multiple_of(litebox_libos::children::SLOT_ALIGN));
/// Offset from the block's base of the top of its stacks (16-byte aligned), below the data,
/// the children slot and a new thread's start-up registers.
pub const STACK_TOP: usize = BLOCK - 640;
/// Offset from the block's base of the lowest byte of its stacks.
pub const STACK_BASE: usize = 4096;
/// Size of the SIGSYS signal stack, `[block + STACK_BASE, block + STACK_TOP)`.
pub const SIGNAL_STACK_SIZE: usize = STACK_TOP - STACK_BASE;

/// Where the calling thread's block keeps the process's fork state (host.rs). Only valid
/// while running on the thread's block (inside the runtime).
pub fn fork_state_slot() -> usize {
    const _: () = assert!(core::mem::size_of::<crate::host::ForkState>() <= 64);
    (current() as usize & !(BLOCK - 1)) + FORK_STATE_AT
}

/// Where the calling thread's block keeps the process's children list ([`CHILDREN_AT`]). Only
/// valid while running on the thread's block (inside the runtime).
pub fn children_slot() -> usize {
    (current() as usize & !(BLOCK - 1)) + CHILDREN_AT
}

/// Per-thread runtime state, near the top of the thread's block (the runtime has no TLS: FS
/// belongs to the app).
#[repr(C)]
pub struct ThreadData {
    /// The ucontext of the innermost SIGSYS being served on this thread (0 outside one).
    pub uc: usize,
    /// The app's mask from before a wait with a mask of its own (ppoll, pselect6,
    /// epoll_pwait) that the SIGSYS path serves, with the SIGSYS bit as the mark (the app's
    /// masks never have it); 0 otherwise. Put back at the call's exit, after the handlers
    /// the wait let in ran (`signals::Trapped::set_wait_mask`, main.rs `on_sigsys`).
    pub saved_mask: u64,
}
const _: () = assert!(core::mem::size_of::<ThreadData>() <= crate::fastpath::FAST_DATA - THREAD_DATA_AT);

/// The calling thread's data. Only valid while running on the thread's signal stack, that is
/// inside the SIGSYS handler.
pub fn current() -> *mut ThreadData {
    let sp: usize;
    // SAFETY: reads the stack pointer; no memory access.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    ((sp & !(BLOCK - 1)) + THREAD_DATA_AT) as *mut ThreadData
}

/// Whether `[lo, hi)` lies on the calling thread's block at or above its stack pointer: where an
/// app signal handler that interrupted a blocking call runs (the SIGSYS stack), whose frames
/// the app's memory map does not hold. The runtime (SIGSYS handler and fast path alike) always
/// runs on its block, so the stack pointer names it.
pub fn on_signal_stack(lo: usize, hi: usize) -> bool {
    let sp: usize;
    // SAFETY: reads the stack pointer; no memory access.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    let block = sp & !(BLOCK - 1);
    lo < hi && lo >= sp && hi <= block + STACK_TOP
}

/// A new zeroed, BLOCK-aligned block for a thread, or null.
pub fn new_block() -> usize {
    match Layout::from_size_align(BLOCK, BLOCK) {
        // SAFETY: a non-zero-sized layout; a null result is handled by the callers.
        Ok(layout) => {
            let b = unsafe { alloc(layout) } as usize;
            if b != 0 {
                // SAFETY: the block is ours; clear its ThreadData and fast-path data.
                unsafe { core::ptr::write_bytes((b + THREAD_DATA_AT) as *mut u8, 0, TOP_DATA) };
            }
            b
        }
        Err(_) => 0,
    }
}
const NREGS: usize = 23;
const REG_RAX: usize = 13;
const REG_RSP: usize = 15;

global_asm!(
    ".globl litebox_child_entry",
    "litebox_child_entry:",
    "    mov rdi, [rsp]",     // block base
    "    lea rbx, [rsp + 8]", // saved registers, then the app's signal mask
    "    mov rsi, rbx",
    "    and rsp, -16",
    "    call litebox_child_start",
    "    mov rax, rbx",
    "    mov r8,  [rax + 0*8]",
    "    mov r9,  [rax + 1*8]",
    "    mov r10, [rax + 2*8]",
    "    mov r11, [rax + 3*8]",
    "    mov r12, [rax + 4*8]",
    "    mov r13, [rax + 5*8]",
    "    mov r14, [rax + 6*8]",
    "    mov r15, [rax + 7*8]",
    "    mov rdi, [rax + 8*8]",
    "    mov rsi, [rax + 9*8]",
    "    mov rbp, [rax + 10*8]",
    "    mov rbx, [rax + 11*8]",
    "    mov rdx, [rax + 12*8]",
    "    mov rcx, [rax + 14*8]",
    "    mov rsp, [rax + 15*8]",
    // On the app's stack: no call in progress from here (fastpath.rs `call_sp`).
    "    mov qword ptr gs:[{call_sp}], 0",
    "    push qword ptr [rax + 16*8]",
    "    xor eax, eax",
    "    ret",
    call_sp = const crate::fastpath::FAST_DATA_CALL_SP,
);

extern "C" {
    fn litebox_child_entry();
}

/// First Rust code of a new thread: its own signal stack, and the app's signal mask.
#[no_mangle]
extern "C" fn litebox_child_start(block: usize, regs: usize) {
    // Its own GS base first: until then it has its parent's (clone copies it).
    if crate::fastpath::init_thread(block).is_err() {
        crate::fatal(124, b"cannot set up a new thread's fast path");
    }
    if crate::signals::set_altstack(block + STACK_BASE, SIGNAL_STACK_SIZE).is_err() {
        crate::fatal(124, b"cannot set a new thread's signal stack");
    }
    // SAFETY: the parent wrote NREGS registers and then the mask at `regs`.
    let mask = unsafe { core::ptr::read((regs + NREGS * 8) as *const u64) };
    crate::signals::set_thread_mask(mask);
    crate::fastpath::started();
}

/// Starts a thread that resumes the app with the registers `gregs` (a copy of the trapped
/// thread's), rax = 0 and rsp = `t.stack`, and the signal mask `mask`.
pub fn spawn(gregs: &[usize; NREGS], mask: u64, t: &ThreadSpawn) -> Result<usize, Errno> {
    let block = new_block();
    if block == 0 {
        return Err(ENOMEM);
    }
    // The registers lie between the block's data and its stacks, so neither the start-up
    // code's frames nor a signal on the new signal stack overwrites them before they are used.
    let regs_at = block + CHILDREN_AT - 8 * (NREGS + 1) - 64;
    const _: () = assert!(CHILDREN_AT - 8 * (NREGS + 1) - 64 - 16 >= STACK_TOP);
    let sp = regs_at - 16;
    let mut regs = *gregs;
    regs[REG_RAX] = 0;
    regs[REG_RSP] = t.stack;
    // SAFETY: all these words lie inside the block we just allocated and own.
    unsafe {
        core::ptr::copy_nonoverlapping(regs.as_ptr(), regs_at as *mut usize, NREGS);
        core::ptr::write((regs_at + NREGS * 8) as *mut u64, mask);
        core::ptr::write(sp as *mut usize, litebox_child_entry as *const () as usize);
        core::ptr::write((sp + 8) as *mut usize, block);
    }
    // In the process's thread list from now on, inside the runtime until its start-up is done
    // (forkfence.rs: a fork waits for it).
    crate::fastpath::prepare_thread(block, 1, t.stack);
    const CLONE: usize = 56;
    check(sys::syscall6(CLONE, t.flags as usize, sp, t.parent_tid, t.child_tid, t.tls, 0)).inspect_err(|_| {
        // SAFETY: prepared above; blocks are never freed.
        crate::forkfence::retire(unsafe {
            &*((block + crate::fastpath::FAST_DATA) as *const crate::fastpath::FastData)
        })
    })
}
