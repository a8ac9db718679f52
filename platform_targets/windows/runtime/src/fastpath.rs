//! Entering the runtime from the app: rewritten syscall sites (packager/image/rewrite.py) call
//! [`litebox_win_fastpath`] instead of executing `syscall`, which Windows does not serve.
//!
//! The app owns FS (its TLS, set with arch_prctl); Windows code under Wine and the runtime
//! need the host's FS back. So the entry saves the app's FS base (`rdfsbase`), loads the
//! host's (`wrfsbase`), switches to the thread's Windows stack (inside the limits the TEB
//! names), saves what the Win64 ABI lets a callee clobber (rdx, rsi... of the Linux syscall ABI
//! and xmm0–5), serves the call through `litebox_libos::shim::dispatch`, and on the way back
//! restores the app's FS (possibly changed by the call) and every register but rax (the
//! result), rcx (1: served) and r11, as `syscall` itself does.
//!
//! One app thread is served (the artifact's main thread); clone of a thread fails with ENOSYS.
use core::arch::global_asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use litebox_libos::errno::{Errno, ENOSYS};
use litebox_libos::{SyscallContext, ThreadSpawn};

/// Per-thread switching state, read by the entry at fixed offsets.
#[repr(C)]
pub struct ThreadData {
    /// The host's FS base (offset 0).
    pub host_fs: AtomicUsize,
    /// The app's FS base (offset 8).
    pub app_fs: AtomicUsize,
    /// Top of the runtime stack for calls from the app (offset 16).
    pub host_sp: AtomicUsize,
    /// The app's signal mask.
    pub sigmask: AtomicUsize,
}

/// The main thread's state.
#[no_mangle]
pub static LITEBOX_MAIN_THREAD: ThreadData = ThreadData {
    host_fs: AtomicUsize::new(0),
    app_fs: AtomicUsize::new(0),
    host_sp: AtomicUsize::new(0),
    sigmask: AtomicUsize::new(0),
};

/// The entry's address, for the packer (section `.lbxfp`: 8 bytes). The image base is fixed,
/// so the value the linker writes is final.
#[used]
#[link_section = ".lbxfp"]
static FASTPATH_ENTRY: unsafe extern "C" fn() = litebox_win_fastpath;

/// The entry address as the packer read it (reading it here also keeps the section linked in).
pub fn entry_address() -> usize {
    // SAFETY: a plain read of an initialized static.
    unsafe { core::ptr::read_volatile(&FASTPATH_ENTRY) as usize }
}

extern "C" {
    fn litebox_win_fastpath();
    /// Saves the host's stack and FS base, sets FS to 0 and jumps to `entry` on `sp` with
    /// clean registers.
    pub fn litebox_win_enter(entry: usize, sp: usize) -> !;
}

global_asm!(
    ".globl litebox_win_fastpath",
    "litebox_win_fastpath:",
    "    pushfq",
    "    cld",
    "    mov r11, rsp",
    "    lea rcx, [rip + LITEBOX_MAIN_THREAD]",
    "    mov rsp, qword ptr [rcx + 16]",
    "    push r11",
    "    push r9",
    "    push r8",
    "    push r10",
    "    push rdx",
    "    push rsi",
    "    push rdi",
    "    push rax",
    "    sub rsp, 96",
    "    movups [rsp + 0*16], xmm0",
    "    movups [rsp + 1*16], xmm1",
    "    movups [rsp + 2*16], xmm2",
    "    movups [rsp + 3*16], xmm3",
    "    movups [rsp + 4*16], xmm4",
    "    movups [rsp + 5*16], xmm5",
    "    rdfsbase rax",
    "    mov qword ptr [rcx + 8], rax",
    "    mov rax, qword ptr [rcx]",
    "    wrfsbase rax",
    "    lea rcx, [rsp + 96]",
    "    sub rsp, 32",
    "    call litebox_win_syscall",
    "    add rsp, 32",
    "    lea rcx, [rip + LITEBOX_MAIN_THREAD]",
    "    mov rdx, qword ptr [rcx + 8]",
    "    wrfsbase rdx",
    "    movups xmm0, [rsp + 0*16]",
    "    movups xmm1, [rsp + 1*16]",
    "    movups xmm2, [rsp + 2*16]",
    "    movups xmm3, [rsp + 3*16]",
    "    movups xmm4, [rsp + 4*16]",
    "    movups xmm5, [rsp + 5*16]",
    "    add rsp, 104",
    "    pop rdi",
    "    pop rsi",
    "    pop rdx",
    "    pop r10",
    "    pop r8",
    "    pop r9",
    "    pop r11",
    "    mov rsp, r11",
    "    popfq",
    "    mov ecx, 1",
    "    ret",
    ".globl litebox_win_enter",
    "litebox_win_enter:",
    "    lea rax, [rip + LITEBOX_MAIN_THREAD]",
    "    lea r8, [rsp - 4096]",
    "    and r8, -16",
    "    mov qword ptr [rax + 16], r8",
    "    rdfsbase r8",
    "    mov qword ptr [rax], r8",
    "    mov r8, qword ptr [rax + 8]",
    "    wrfsbase r8",
    "    mov rsp, rdx",
    "    push rcx",
    "    xor eax, eax",
    "    xor ebx, ebx",
    "    xor ecx, ecx",
    "    xor edx, edx",
    "    xor esi, esi",
    "    xor edi, edi",
    "    xor ebp, ebp",
    "    xor r8d, r8d",
    "    xor r9d, r9d",
    "    xor r10d, r10d",
    "    xor r11d, r11d",
    "    xor r12d, r12d",
    "    xor r13d, r13d",
    "    xor r14d, r14d",
    "    xor r15d, r15d",
    "    ret",
);

/// The registers the entry saved, in Linux syscall order (rax = number).
#[repr(C)]
struct Frame {
    rax: usize,
    rdi: usize,
    rsi: usize,
    rdx: usize,
    r10: usize,
    r8: usize,
    r9: usize,
    /// The app's stack pointer after the trampoline's call and the entry's pushfq.
    app_rsp: usize,
}

struct Call<'a> {
    frame: &'a Frame,
}

impl SyscallContext for Call<'_> {
    fn nr(&self) -> usize {
        self.frame.rax
    }
    fn arg(&self, i: usize) -> usize {
        let f = self.frame;
        [f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9].get(i).copied().unwrap_or(0)
    }
    fn sigmask(&self) -> u64 {
        LITEBOX_MAIN_THREAD.sigmask.load(Ordering::Relaxed) as u64
    }
    fn set_sigmask(&mut self, mask: u64) {
        LITEBOX_MAIN_THREAD.sigmask.store(mask as usize, Ordering::Relaxed);
    }
    fn spawn_thread(&mut self, _t: &ThreadSpawn) -> Result<usize, Errno> {
        Err(ENOSYS)
    }
    fn stack_pointer(&self) -> usize {
        // pushfq (8), the trampoline's return address (8) and the red zone it stepped over.
        self.frame.app_rsp + 16 + 128
    }
}

/// One app syscall, called by the entry with the host's FS and stack (Win64 ABI).
#[no_mangle]
extern "win64" fn litebox_win_syscall(frame: &Frame) -> isize {
    let mut call = Call { frame };
    litebox_libos::shim::dispatch(crate::os(), &mut call)
}

/// Sets the FS base the app gets back when the current call returns (arch_prctl).
pub fn set_app_fs(v: usize) {
    LITEBOX_MAIN_THREAD.app_fs.store(v, Ordering::Relaxed);
}

/// The app's FS base.
pub fn app_fs() -> usize {
    LITEBOX_MAIN_THREAD.app_fs.load(Ordering::Relaxed)
}

/// Puts the host's FS base back (before the process ends from inside a call; it is already
/// there on the entry's path, this makes exits from anywhere safe).
pub fn host_fs() {
    let v = LITEBOX_MAIN_THREAD.host_fs.load(Ordering::Relaxed);
    if v != 0 {
        // SAFETY: restoring the FS base Windows code ran with.
        unsafe { core::arch::asm!("wrfsbase {}", in(reg) v, options(nostack)) };
    }
}
