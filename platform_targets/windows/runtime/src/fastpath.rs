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
//! When a signal handler is due at the end of a call, or the call is rt_sigreturn, the entry
//! leaves through its slow way: every register, the flags and the SSE state come from the
//! thread's [`crate::signals::Context`] (see signals.rs).
use core::arch::global_asm;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicUsize, Ordering};

use litebox_libos::errno::{Errno, EAGAIN};
use litebox_libos::{SyscallContext, ThreadSpawn};

use crate::win;

/// Per-thread switching state, read by the entry at fixed offsets; the thread's TLS slot
/// [`TLS_INDEX`] points at it.
#[repr(C)]
pub struct ThreadData {
    /// The host's FS base (offset 0).
    pub host_fs: AtomicUsize,
    /// The app's FS base (offset 8).
    pub app_fs: AtomicUsize,
    /// Top of the runtime stack for calls from the app (offset 16).
    pub host_sp: AtomicUsize,
    /// How the current call returns to the app (offset 24): [`RETURN_PLAIN`],
    /// [`RETURN_DELIVER`] or [`RETURN_CONTEXT`].
    pub resume: AtomicUsize,
    /// The full context the call returns to when `resume` says so (offset 32).
    pub ctx: &'static crate::signals::Context,
    /// The app's signal mask.
    pub sigmask: AtomicUsize,
    /// The mask rt_sigsuspend replaced, restored by the handler that ends it (u64::MAX: none).
    pub saved_mask: core::sync::atomic::AtomicU64,
    /// The thread's alternate signal stack (sigaltstack).
    pub altstack: crate::signals::AltStack,
    /// The thread id the app sees.
    pub tid: i32,
    /// CLONE_CHILD_CLEARTID / set_tid_address: written 0 and woken when the thread exits.
    pub clear_tid: AtomicUsize,
}

impl ThreadData {
    /// A thread's data, leaked: it lives as long as the thread may run.
    pub fn new(tid: i32, app_fs: usize) -> &'static ThreadData {
        alloc::boxed::Box::leak(alloc::boxed::Box::new(ThreadData {
            host_fs: AtomicUsize::new(0),
            app_fs: AtomicUsize::new(app_fs),
            host_sp: AtomicUsize::new(0),
            resume: AtomicUsize::new(RETURN_PLAIN),
            ctx: crate::signals::Context::new_leaked(),
            sigmask: AtomicUsize::new(0),
            saved_mask: core::sync::atomic::AtomicU64::new(u64::MAX),
            altstack: crate::signals::AltStack::default(),
            tid,
            clear_tid: AtomicUsize::new(0),
        }))
    }
}

/// The call returns to the app as `syscall` does (the usual path).
pub const RETURN_PLAIN: usize = 0;
/// A signal handler is due: the entry saves the app's SSE state in `ctx` and calls
/// [`crate::signals::litebox_win_deliver`], then resumes as for [`RETURN_CONTEXT`].
pub const RETURN_DELIVER: usize = 1;
/// The call resumes the app with every register (and the SSE state) from `ctx`
/// (rt_sigreturn, a handler's entry).
pub const RETURN_CONTEXT: usize = 2;

/// The TLS slot (TlsAlloc; below 64, so in the TEB's own array at gs:[0x1480]) that holds each
/// thread's [`ThreadData`].
#[no_mangle]
pub static LITEBOX_TLS_INDEX: AtomicU32 = AtomicU32::new(0);

static INITIALIZED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Allocates the TLS slot and makes `td` the calling thread's data.
pub fn init_main(td: &'static ThreadData) -> Result<(), &'static str> {
    // SAFETY: TlsAlloc has no preconditions.
    let idx = unsafe { win::TlsAlloc() };
    if idx >= 64 {
        return Err("no TLS slot below 64 for the fast path");
    }
    LITEBOX_TLS_INDEX.store(idx, Ordering::Relaxed);
    set_current(td);
    INITIALIZED.store(true, Ordering::Relaxed);
    Ok(())
}

/// Makes `td` the calling thread's data.
pub fn set_current(td: &'static ThreadData) {
    // SAFETY: the slot was allocated by init_main.
    unsafe { win::TlsSetValue(LITEBOX_TLS_INDEX.load(Ordering::Relaxed), td as *const ThreadData as usize) };
}

/// The calling thread's data.
pub fn current() -> &'static ThreadData {
    // SAFETY: every thread that runs app code has its slot set to a leaked ThreadData.
    unsafe { &*(win::TlsGetValue(LITEBOX_TLS_INDEX.load(Ordering::Relaxed)) as *const ThreadData) }
}

/// The calling thread's ThreadData address, or 0 on a thread that has none (a Windows thread
/// of the runtime's own, or one Wine started).
pub fn current_addr() -> usize {
    // SAFETY: TlsGetValue has no preconditions; a slot never set reads 0.
    unsafe { win::TlsGetValue(LITEBOX_TLS_INDEX.load(Ordering::Relaxed)) }
}

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
    /// Saves the host's stack and FS base in `td`, sets FS to the app's (`td.app_fs`) and
    /// jumps to `entry` on `sp` with clean registers.
    pub fn litebox_win_enter(entry: usize, sp: usize, td: &'static ThreadData) -> !;
    /// Like litebox_win_enter for a new thread: records the host's stack and FS base in `td`,
    /// sets FS to `td.app_fs`, loads the registers of `regs` (a [`Frame`]), rax = 0, rcx = 1,
    /// and returns to `ret` with rsp = `sp` (the trampoline's view after its call).
    fn litebox_win_resume(regs: &Frame, ret: usize, sp: usize, td: &'static ThreadData) -> !;
}

global_asm!(
    ".globl litebox_win_fastpath",
    "litebox_win_fastpath:",
    "    pushfq",
    "    cld",
    "    mov r11, rsp",
    "    mov ecx, dword ptr [rip + LITEBOX_TLS_INDEX]",
    "    mov rcx, qword ptr gs:[0x1480 + rcx*8]",
    "    mov rsp, qword ptr [rcx + 16]",
    "    push rcx",
    "    push r11",
    "    push r15",
    "    push r14",
    "    push r13",
    "    push r12",
    "    push rbp",
    "    push rbx",
    "    push r9",
    "    push r8",
    "    push r10",
    "    push rdx",
    "    push rsi",
    "    push rdi",
    "    push rax",
    "    sub rsp, 104",
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
    "    lea rcx, [rsp + 104]",
    "    sub rsp, 32",
    "    call litebox_win_syscall",
    "    add rsp, 32",
    "    mov rcx, qword ptr [rsp + 104 + 14*8]",
    "    cmp qword ptr [rcx + 24], 0",
    "    jne 2f",
    "    mov rdx, qword ptr [rcx + 8]",
    "    wrfsbase rdx",
    "    movups xmm0, [rsp + 0*16]",
    "    movups xmm1, [rsp + 1*16]",
    "    movups xmm2, [rsp + 2*16]",
    "    movups xmm3, [rsp + 3*16]",
    "    movups xmm4, [rsp + 4*16]",
    "    movups xmm5, [rsp + 5*16]",
    "    add rsp, 112",
    "    pop rdi",
    "    pop rsi",
    "    pop rdx",
    "    pop r10",
    "    pop r8",
    "    pop r9",
    "    pop rbx",
    "    pop rbp",
    "    pop r12",
    "    pop r13",
    "    pop r14",
    "    pop r15",
    "    pop r11",
    "    add rsp, 8",
    "    mov rsp, r11",
    "    popfq",
    "    mov ecx, 1",
    "    ret",
    // The slow way back: a signal handler is due (resume = 1) or the whole context comes
    // from td.ctx (resume = 2). rcx = td, rax = the call's result.
    "2:",
    "    mov qword ptr [rsp + 104], rax",
    "    cmp qword ptr [rcx + 24], 1",
    "    jne 3f",
    "    movups xmm0, [rsp + 0*16]",
    "    movups xmm1, [rsp + 1*16]",
    "    movups xmm2, [rsp + 2*16]",
    "    movups xmm3, [rsp + 3*16]",
    "    movups xmm4, [rsp + 4*16]",
    "    movups xmm5, [rsp + 5*16]",
    "    mov rdx, qword ptr [rcx + 32]",
    "    fxsave64 [rdx]",
    "    lea rcx, [rsp + 104]",
    "    sub rsp, 32",
    "    call litebox_win_deliver",
    "    add rsp, 32",
    "    mov rcx, qword ptr [rsp + 104 + 14*8]",
    "3:",
    "    mov qword ptr [rcx + 24], 0",
    "    mov rax, qword ptr [rcx + 8]",
    "    wrfsbase rax",
    "    mov rax, qword ptr [rcx + 32]",
    "    fxrstor64 [rax]",
    // The instruction pointer goes through the TEB's ArbitraryUserPointer (gs:[0x28]): no
    // register is left free once the app's are loaded.
    "    mov rdx, qword ptr [rax + 512 + 16*8]",
    "    mov qword ptr gs:[0x28], rdx",
    "    push qword ptr [rax + 512 + 17*8]",
    "    popfq",
    "    mov r8, qword ptr [rax + 512 + 0*8]",
    "    mov r9, qword ptr [rax + 512 + 1*8]",
    "    mov r10, qword ptr [rax + 512 + 2*8]",
    "    mov r11, qword ptr [rax + 512 + 3*8]",
    "    mov r12, qword ptr [rax + 512 + 4*8]",
    "    mov r13, qword ptr [rax + 512 + 5*8]",
    "    mov r14, qword ptr [rax + 512 + 6*8]",
    "    mov r15, qword ptr [rax + 512 + 7*8]",
    "    mov rdi, qword ptr [rax + 512 + 8*8]",
    "    mov rsi, qword ptr [rax + 512 + 9*8]",
    "    mov rbp, qword ptr [rax + 512 + 10*8]",
    "    mov rbx, qword ptr [rax + 512 + 11*8]",
    "    mov rdx, qword ptr [rax + 512 + 12*8]",
    "    mov rcx, qword ptr [rax + 512 + 14*8]",
    "    mov rsp, qword ptr [rax + 512 + 15*8]",
    "    mov rax, qword ptr [rax + 512 + 13*8]",
    "    jmp qword ptr gs:[0x28]",
    ".globl litebox_win_enter",
    "litebox_win_enter:",
    "    mov rax, r8",
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
    ".globl litebox_win_resume",
    "litebox_win_resume:",
    // rcx = regs, rdx = ret, r8 = sp, r9 = td
    "    lea rax, [rsp - 4096]",
    "    and rax, -16",
    "    mov qword ptr [r9 + 16], rax",
    "    rdfsbase rax",
    "    mov qword ptr [r9], rax",
    "    mov rax, qword ptr [r9 + 8]",
    "    wrfsbase rax",
    "    mov qword ptr [r8 - 8], rdx",
    "    lea rsp, [r8 - 8]",
    "    mov rdi, qword ptr [rcx + 8]",
    "    mov rsi, qword ptr [rcx + 16]",
    "    mov rdx, qword ptr [rcx + 24]",
    "    mov r10, qword ptr [rcx + 32]",
    "    mov r8, qword ptr [rcx + 40]",
    "    mov r9, qword ptr [rcx + 48]",
    "    mov rbx, qword ptr [rcx + 56]",
    "    mov rbp, qword ptr [rcx + 64]",
    "    mov r12, qword ptr [rcx + 72]",
    "    mov r13, qword ptr [rcx + 80]",
    "    mov r14, qword ptr [rcx + 88]",
    "    mov r15, qword ptr [rcx + 96]",
    "    xor eax, eax",
    "    xor r11d, r11d",
    "    mov ecx, 1",
    "    ret",
);

/// The registers the entry saved, in Linux syscall order (rax = number), then the app's
/// callee-saved registers (a new thread starts with them).
#[repr(C)]
pub struct Frame {
    pub rax: usize,
    pub rdi: usize,
    pub rsi: usize,
    pub rdx: usize,
    pub r10: usize,
    pub r8: usize,
    pub r9: usize,
    pub rbx: usize,
    pub rbp: usize,
    pub r12: usize,
    pub r13: usize,
    pub r14: usize,
    pub r15: usize,
    /// The app's stack pointer after the trampoline's call and the entry's pushfq.
    pub app_rsp: usize,
    /// The calling thread's data.
    pub td: usize,
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
        current().sigmask.load(Ordering::Relaxed) as u64
    }
    fn set_sigmask(&mut self, mask: u64) {
        current().sigmask.store(mask as usize, Ordering::Relaxed);
    }
    fn suspend_mask(&mut self, mask: u64) {
        let td = current();
        td.saved_mask.store(td.sigmask.load(Ordering::Relaxed) as u64, Ordering::Relaxed);
        td.sigmask.store(mask as usize, Ordering::Relaxed);
    }
    fn set_wait_mask(&mut self, mask: u64) {
        // As rt_sigsuspend's: a handler delivered at the call's exit takes the thread's own
        // mask for its frame; otherwise `litebox_win_syscall` puts it back.
        self.suspend_mask(mask);
    }
    fn spawn_thread(&mut self, t: &ThreadSpawn) -> Result<usize, Errno> {
        spawn(self.frame, t)
    }
    fn stack_pointer(&self) -> usize {
        // pushfq (8), the trampoline's return address (8) and the red zone it stepped over.
        self.frame.app_rsp + 16 + 128
    }
}

/// Thread ids after the process id: the main thread's id is the pid, as on Linux.
static NEXT_TID: AtomicI32 = AtomicI32::new(0);

/// What a new thread needs to start: a copy of the parent's registers at the call.
struct Start {
    regs: Frame,
    ret: usize,
    sp: usize,
    td: &'static ThreadData,
}

const CLONE_SETTLS: u64 = 0x80000;
const CLONE_PARENT_SETTID: u64 = 0x100000;
const CLONE_CHILD_CLEARTID: u64 = 0x200000;
const CLONE_CHILD_SETTID: u64 = 0x1000000;

fn spawn(frame: &Frame, t: &ThreadSpawn) -> Result<usize, Errno> {
    let pid = crate::os().platform.pid;
    let tid = pid + NEXT_TID.fetch_add(1, Ordering::Relaxed) + 1;
    let fs = if t.flags & CLONE_SETTLS != 0 { t.tls } else { current().app_fs.load(Ordering::Relaxed) };
    let td = ThreadData::new(tid, fs);
    // A new thread starts with its creator's mask (and no alternate stack).
    td.sigmask.store(current().sigmask.load(Ordering::Relaxed), Ordering::Relaxed);
    if t.flags & CLONE_CHILD_CLEARTID != 0 {
        td.clear_tid.store(t.child_tid, Ordering::Relaxed);
    }
    if t.flags & CLONE_PARENT_SETTID != 0 {
        litebox_libos::user::write(t.parent_tid, &tid).map_err(|_| litebox_libos::errno::EFAULT)?;
    }
    if t.flags & CLONE_CHILD_SETTID != 0 {
        litebox_libos::user::write(t.child_tid, &tid).map_err(|_| litebox_libos::errno::EFAULT)?;
    }
    // SAFETY: app_rsp + 8 holds the trampoline's return address (pushed by its call).
    let ret = unsafe { core::ptr::read((frame.app_rsp + 8) as *const usize) };
    let regs = Frame { rax: 0, app_rsp: 0, td: 0, ..*frame };
    let start = alloc::boxed::Box::new(Start { regs, ret, sp: t.stack - 128, td });
    let arg = alloc::boxed::Box::into_raw(start) as usize;
    // SAFETY: thread_start takes ownership of `arg`.
    let h = unsafe { win::CreateThread(0, 256 * 1024, thread_start, arg, 0, core::ptr::null_mut()) };
    if h == 0 {
        // SAFETY: the thread was not created, so the box is still ours.
        drop(unsafe { alloc::boxed::Box::from_raw(arg as *mut Start) });
        return Err(EAGAIN);
    }
    // SAFETY: the thread keeps running without our handle.
    unsafe { win::CloseHandle(h) };
    Ok(tid as usize)
}

extern "system" fn thread_start(arg: usize) -> u32 {
    // SAFETY: `arg` is the Box<Start> spawn leaked for this thread.
    let start = unsafe { alloc::boxed::Box::from_raw(arg as *mut Start) };
    set_current(start.td);
    let start: &'static Start = alloc::boxed::Box::leak(start);
    // SAFETY: the registers, return address and stack are the parent's at its clone call.
    unsafe { litebox_win_resume(&start.regs, start.ret, start.sp, start.td) }
}

/// Ends the calling app thread: its clear-tid word is zeroed and woken (pthread_join). (The
/// shim ends the process instead when this is its last thread.)
pub fn exit_thread(code: i32) -> ! {
    let td = current();
    let at = td.clear_tid.load(Ordering::Relaxed);
    let os = crate::os();
    if at != 0 && litebox_libos::user::write(at, &0u32).is_ok() {
        os.futex.wake(&os.platform, at, 1);
        litebox_libos::futex::SHARED.wake(&os.platform, at, 1);
    }
    host_fs();
    // SAFETY: ends this Windows thread; its stack is not app memory.
    unsafe { win::ExitThread(code as u32) }
}

/// LITEBOX_TRACE is set: every call is logged with its result.
pub static TRACE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// One app syscall, called by the entry with the host's FS and stack (Win64 ABI).
#[no_mangle]
extern "win64" fn litebox_win_syscall(frame: &Frame) -> isize {
    const RT_SIGRETURN: usize = 15;
    let os = crate::os();
    if frame.rax == RT_SIGRETURN {
        return crate::signals::sigreturn(frame);
    }
    if crate::spawn::in_child() {
        if let Some(r) = crate::spawn::child_call(os, frame) {
            return r;
        }
    }
    if frame.rax == crate::spawn::EXECVE {
        return crate::spawn::exec_in_place(os, frame);
    }
    if crate::spawn::is_vfork(frame) {
        return crate::spawn::start(os, frame, false);
    }
    if crate::spawn::is_fork(frame) {
        return crate::spawn::start(os, frame, true);
    }
    let mut call = Call { frame };
    let r = litebox_libos::shim::dispatch(os, &mut call);
    crate::signals::after_call(os);
    // A wait's temporary mask (ppoll, pselect6, epoll_pwait) that no handler's frame takes:
    // the thread's own mask is back.
    let td = current();
    if td.saved_mask.load(Ordering::Relaxed) != u64::MAX && td.resume.load(Ordering::Relaxed) != RETURN_DELIVER {
        let saved = td.saved_mask.swap(u64::MAX, Ordering::Relaxed);
        td.sigmask.store(saved as usize, Ordering::Relaxed);
    }
    if TRACE.load(Ordering::Relaxed) {
        let line = alloc::format!(
            "[{}] syscall {} ({:#x}, {:#x}, {:#x}) = {}",
            current().tid,
            frame.rax,
            frame.rdi,
            frame.rsi,
            frame.rdx,
            r
        );
        os.debug_log(&[line.as_bytes()]);
    }
    r
}

/// Sets the FS base the app gets back when the current call returns (arch_prctl).
pub fn set_app_fs(v: usize) {
    current().app_fs.store(v, Ordering::Relaxed);
}

/// The app's FS base.
pub fn app_fs() -> usize {
    current().app_fs.load(Ordering::Relaxed)
}

/// Puts the host's FS base back (before the process ends from inside a call; it is already
/// there on the entry's path, this makes exits from anywhere safe).
pub fn host_fs() {
    // SAFETY: TlsGetValue of our slot: 0 on a thread that never ran app code.
    let td = unsafe { win::TlsGetValue(LITEBOX_TLS_INDEX.load(Ordering::Relaxed)) } as *const ThreadData;
    if td.is_null() || LITEBOX_TLS_INDEX.load(Ordering::Relaxed) == 0 && !INITIALIZED.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: a non-null slot holds a leaked ThreadData.
    let v = unsafe { &*td }.host_fs.load(Ordering::Relaxed);
    if v != 0 {
        // SAFETY: restoring the FS base Windows code ran with.
        unsafe { core::arch::asm!("wrfsbase {}", in(reg) v, options(nostack)) };
    }
}
