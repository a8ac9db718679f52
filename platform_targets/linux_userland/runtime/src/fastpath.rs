//! The fast path: syscall sites rewritten at pack time (packager/image/rewrite.py) call
//! [`litebox_fastpath`] directly instead of trapping through seccomp and SIGSYS.
//!
//! The entry saves rflags, the argument registers and xmm0–15, switches to the thread's
//! runtime stack (its block, found through GS: the runtime sets each thread's GS base to the
//! thread's [`FastData`], FS belongs to the app), and serves the call through
//! `litebox_libos::shim::dispatch` exactly as `on_sigsys` does. It returns rcx != 0 when it
//! served the call (rax = result), or rcx = 0 with every register as it was to decline: the
//! trampoline then executes the original `syscall`, which seccomp traps (see [`fast`] for the
//! calls that take that way).
//!
//! Signals: the app's handlers are installed on the host behind [`litebox_signal_wrapper`].
//! While the thread is inside the runtime through the fast path (`depth > 0`), a signal for an
//! app handler is deferred: blocked, queued again to this thread with its siginfo, and
//! unblocked (so delivered) when the call leaves the runtime. Blocking host calls
//! (`signals::blocking`) open a window, outside the runtime for a fork's sake, in which such a
//! signal is deferred too and ends the host call ([`window_open`]), as the SIGSYS path's do.
use core::arch::global_asm;
use core::sync::atomic::{compiler_fence, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use litebox_libos::errno::{Errno, ENOSYS};

use crate::sys;
use crate::threads::BLOCK;

/// Where a thread's [`FastData`] lives inside its block: right after its ThreadData, in the
/// block's top page with the top of the fast-path stack (threads.rs describes the layout).
pub const FAST_DATA: usize = crate::threads::THREAD_DATA_AT + 16;
const _: () = assert!(FAST_DATA + core::mem::size_of::<FastData>() <= crate::threads::FORK_STATE_AT);
const _: () = assert!(crate::threads::STACK_TOP.is_multiple_of(16));

/// Offset of [`FastData::call_sp`] from the GS base (for the assembly that sets and clears it).
pub const FAST_DATA_CALL_SP: usize = core::mem::offset_of!(FastData, call_sp);
/// Offset of [`FastData::window`] from the GS base (for the window gate, sys.rs).
pub const FAST_DATA_WINDOW: usize = core::mem::offset_of!(FastData, window);
/// [`FastData::window`]: no window open.
pub const WINDOW_NONE: u32 = 0;
/// [`FastData::window`]: a blocking call's window is open; its host call may wait.
pub const WINDOW_OPEN: u32 = 1;
/// [`FastData::window`]: a signal for an app handler came while the window was open (or
/// before it, in its call): its host call must not wait, and ends (`sys::window_syscall6`).
pub const WINDOW_CUT: u32 = 2;

/// Per-thread fast-path state; the thread's GS base points at it.
#[repr(C)]
pub struct FastData {
    /// Address of this struct (read as `gs:[0]`).
    pub self_addr: usize,
    /// Base of the thread's block (`gs:[8]`).
    pub block: usize,
    /// Top of the fast-path stack (`gs:[16]`); lower while an app handler runs on the app's
    /// stack with runtime frames in use above it ([`run_nested_on_app_stack`]).
    pub top: AtomicUsize,
    /// Nesting depth inside the runtime through the fast path; app signals wait while > 0.
    pub depth: AtomicUsize,
    /// Signals deferred while inside (bit sig-1), unblocked at exit.
    pub deferred: AtomicUsize,
    /// The entry's address (`gs:[40]`): the packer's trampolines call through it
    /// ([`ENTRY_SLOT`]). Set with the GS base; a fork child inherits it with the block, and an
    /// execve keeps the process's blocks and GS base.
    pub entry: usize,
    /// The app's alternate signal stack for this thread (sigaltstack): base, size, flags.
    pub alt_sp: AtomicUsize,
    pub alt_size: AtomicUsize,
    pub alt_flags: AtomicUsize,
    /// The next thread's FastData in the process's thread list (forkfence.rs), 0 at its end.
    pub next: AtomicUsize,
    /// 1 from before the thread's host clone until it exits (forkfence.rs).
    pub live: AtomicUsize,
    /// The app's stack pointer at the call this thread is serving, from the moment the
    /// runtime takes the call until it is back on the app's stack: the fast-path entry stores
    /// it before its stack switch and its exit clears it after the switch back, the SIGSYS
    /// path sets it with [`call_begin`], and a new thread's start-up has its first stack. 0
    /// while app code runs. Where an app handler for a signal that interrupts the runtime
    /// runs ([`run_on_app_stack`]). A nested entry (an app handler running on the block)
    /// keeps the outer call's.
    pub call_sp: AtomicUsize,
    /// While a host `rt_sigsuspend` for the app waits: the mask it put in force, with the
    /// SIGSYS bit as the mark (the app's masks never have it); 0 otherwise. The ucontext of a
    /// signal that ends the wait holds the mask from before the call, not this one
    /// ([`handler_mask`]).
    pub suspend_mask: AtomicU64,
    /// Whether a blocking call's window is open ([`WINDOW_OPEN`]) or was cut by a signal
    /// for an app handler ([`WINDOW_CUT`]), [`WINDOW_NONE`] otherwise (read by the window
    /// gate, sys.rs). No app handler runs while a window is open: a signal for one is deferred
    /// as inside the runtime, and the window's host call ends, so that the handler runs at the
    /// call's exit, when the runtime holds nothing for the call ([`window_open`]).
    pub window: AtomicU32,
}

global_asm!(
    // The app's xmm0-15 saved on (and restored from) 256 bytes below the stack pointer, and
    // the frame of general registers both paths build (r11: the app's stack pointer).
    ".macro litebox_save_xmm",
    "    sub rsp, 256",
    "    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
    "    movaps [rsp + \\n*16], xmm\\n",
    "    .endr",
    ".endm",
    ".macro litebox_restore_xmm",
    "    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
    "    movaps xmm\\n, [rsp + \\n*16]",
    "    .endr",
    "    add rsp, 256",
    ".endm",
    ".macro litebox_push_frame",
    "    .irp r, r11,r9,r8,r10,rdx,rsi,rdi,rax",
    "    push \\r",
    "    .endr",
    ".endm",
    ".macro litebox_pop_frame",
    "    .irp r, rax,rdi,rsi,rdx,r10,r8,r9,r11",
    "    pop \\r",
    "    .endr",
    ".endm",
    // The app's flags, restored without popfq (about 20 ns, as much as the rest of the exit):
    // rdi and rax are free until the frame's pops. DF comes back with std (the entry cleared
    // it), OF with an add that overflows exactly when OF was set, and SF, ZF, AF, PF and CF
    // with sahf. The other bits (TF, AC, IF, ...) are not changed by the runtime.
    ".macro litebox_restore_flags",
    "    mov rdi, qword ptr [rsp + 56]",
    "    mov rdi, qword ptr [rdi]",
    "    bt edi, 10",
    "    jnc 4f",
    "    std",
    "4:  mov eax, edi",
    "    shl eax, 8",
    "    bt edi, 11",
    "    setc al",
    "    add al, 0x7f",
    "    sahf",
    ".endm",
    ".globl litebox_fastpath",
    ".type litebox_fastpath,@function",
    "litebox_fastpath:",
    "    pushfq",
    "    cld",
    // clock_gettime, gettimeofday and time first try the light path (6: below, fastclock.rs).
    "    cmp rax, {clock_gettime}",
    "    je 6f",
    "    cmp rax, {gettimeofday}",
    "    je 6f",
    "    cmp rax, {time}",
    "    je 6f",
    "5:  mov rcx, rsp",
    "    sub rcx, qword ptr gs:[8]",
    "    cmp rcx, {block}",
    "    jb 2f",
    "    mov rcx, qword ptr gs:[16]",
    // The app's callee-saved registers, stored below its stack pointer (free: the trampoline
    // stepped over the red zone) where an app handler that interrupts the runtime finds them
    // on the app's stack, as natively in its signal frame: a conservative garbage collector
    // scans from its handler's stack up (run_for_call). The runtime keeps them by the ABI.
    "    mov qword ptr [rsp - 8], rbx",
    "    mov qword ptr [rsp - 16], rbp",
    "    mov qword ptr [rsp - 24], r12",
    "    mov qword ptr [rsp - 32], r13",
    "    mov qword ptr [rsp - 40], r14",
    "    mov qword ptr [rsp - 48], r15",
    // The app's stack pointer, recorded while still on it (FastData::call_sp): from here until
    // the exit is back on the app's stack, an app handler that interrupts the runtime runs
    // on the app's stacks (run_on_app_stack).
    "    mov qword ptr gs:[{call_sp}], rsp",
    "    jmp 3f",
    // Already on this thread's block (an app handler running nested inside the runtime):
    // continue below the current frame.
    "2:  lea rcx, [rsp - 256]",
    "    and rcx, -16",
    "3:  mov r11, rsp",
    "    mov rsp, rcx",
    "    litebox_push_frame",
    "    litebox_save_xmm",
    "    lea rdi, [rsp + 256]",
    "    call litebox_fastpath_dispatch",
    "    mov rcx, rax",
    "    litebox_restore_xmm",
    "    cmp rcx, {pass}",
    "    jae 10f",
    // A nested entry (2: above) recorded no call and clears none (rdi is free until the pops).
    "    lea rdi, [rsp + {frame}]",
    "    cmp rdi, qword ptr gs:[16]",
    "    jne 12f",
    // The exit, shared with the light path (rcx != 0: served; the frame holds rax). The call's
    // record is cleared once back on the app's stack (a store: the flags are the app's).
    "7:  litebox_restore_flags",
    "    litebox_pop_frame",
    "    lea rsp, [r11 + 8]",
    "    mov qword ptr gs:[{call_sp}], 0",
    "    ret",
    "12: litebox_restore_flags",
    "    litebox_pop_frame",
    "    lea rsp, [r11 + 8]",
    "    ret",
    // The pass-through (rcx >= PASS: litebox_fastpath_dispatch checked a read or write of a
    // host stream, or a recv(from)/send(to) without an address or a shutdown of a host socket,
    // and left the runtime; rcx - PASS is the host descriptor): the app's own
    // registers, flags and stack, its descriptor register swapped for the host's around the
    // gate's syscall, so that after a call that blocked two returns mispredict (the gate's
    // and this one), not three (bench/RESULTS-issue17-ctx5.md). The app's rdi waits on its
    // stack below the return address (the trampoline stepped over the red zone). After the
    // syscall rcx is its return address (non-zero: served) and rax the host's answer.
    "10: sub rcx, {pass}",
    "    litebox_restore_flags",
    "    litebox_pop_frame",
    "    lea rsp, [r11 + 8]",
    "    mov qword ptr gs:[{call_sp}], 0",
    "    push rdi",
    "    mov rdi, rcx",
    "    call litebox_gate_syscall",
    "    pop rdi",
    "    ret",
    // The light clock path: the same frame of general registers on the thread's runtime
    // stack, but no xmm save (litebox_fastclock and the vDSO it calls use no vector register;
    // tests/unit/test_fastclock.py checks its code, tests/e2e/test_e2e_regsave.py the
    // registers). Nested calls (already on the block) and everything litebox_fastclock
    // declines (it returns DECLINE) take the general path above with every register as the
    // app left it.
    "6:  mov rcx, rsp",
    "    sub rcx, qword ptr gs:[8]",
    "    cmp rcx, {block}",
    "    jb 5b",
    "    mov r11, rsp",
    "    mov qword ptr gs:[{call_sp}], rsp",
    "    mov rsp, qword ptr gs:[16]",
    "    litebox_push_frame",
    "    mov rdx, rax",
    "    call litebox_fastclock",
    "    cmp rax, {decline}",
    "    je 8f",
    "    mov qword ptr [rsp], rax",
    // Signals deferred during the call (FastData.deferred): unblocking them runs Rust code
    // that may use xmm, so that rare tail saves them as the general path does.
    "    cmp qword ptr gs:[{deferred}], 0",
    "    jne 9f",
    "    mov ecx, 1",
    "    jmp 7b",
    "9:  litebox_save_xmm",
    "    call litebox_fastpath_release",
    "    litebox_restore_xmm",
    "    mov ecx, 1",
    "    jmp 7b",
    "8:  litebox_pop_frame",
    "    mov rsp, r11",
    "    jmp 5b",
    block = const BLOCK,
    clock_gettime = const crate::sys::CLOCK_GETTIME,
    gettimeofday = const crate::fastclock::GETTIMEOFDAY,
    time = const crate::fastclock::TIME,
    decline = const crate::fastclock::DECLINE,
    deferred = const core::mem::offset_of!(FastData, deferred),
    pass = const PASS,
    call_sp = const FAST_DATA_CALL_SP,
    frame = const FRAME_BYTES,
);

/// The light clock path's tail when signals were deferred during its call: unblocks them (the
/// entry saved xmm0-15 around this, see fastclock.rs).
#[no_mangle]
extern "C" fn litebox_fastpath_release() {
    release_deferred(data());
}

extern "C" {
    /// The fast-path entry the packer's trampolines call (through the thread's
    /// [`FastData::entry`], `call qword ptr gs:[40]`).
    pub fn litebox_fastpath();
}

/// What the packer's trampolines call, in a section of its own that survives stripping: the
/// runtime is a static PIE placed at a random address, so the trampolines do not embed the
/// entry's address but call through the thread's [`FastData::entry`] (`call qword ptr
/// gs:[ENTRY_SLOT]`). Bit 63 marks a GS slot (no user-space address has it); the low 32 bits
/// are the slot's offset from the GS base (packager/image/rewrite.py, `fastpath_entry`). A
/// constant: nothing here is relocated.
pub const ENTRY_SLOT: usize = core::mem::offset_of!(FastData, entry);
const _: () = assert!(ENTRY_SLOT == 40);
#[used]
#[link_section = ".litebox.fastpath"]
static FASTPATH_ENTRY: u64 = (1 << 63) | ENTRY_SLOT as u64;

// Where the entry is in the file, for tools that read its code (tests/unit/test_fastclock.py,
// the runtime being stripped): its distance from this word, resolved at link time (no
// run-time relocation).
global_asm!(
    ".pushsection .litebox.fastpath_at,\"aR\",@progbits",
    ".balign 8",
    "    .quad litebox_fastpath - .",
    ".popsection",
);

/// The registers the entry saved, in push order (lowest address first).
#[repr(C)]
struct Regs {
    rax: usize,
    rdi: usize,
    rsi: usize,
    rdx: usize,
    r10: usize,
    r8: usize,
    r9: usize,
}

/// Syscalls the fast path declines (they take the SIGSYS path, which has the app's full
/// register context and signal frame): signal masks and waits, signals sent to self, the
/// thread life cycle (clone of a thread, clone3, exit), execve, execveat, and rt_sigreturn.
/// Numbers beyond the table are declined too. rt_sigaction is served here: it changes the action
/// table and the host handler only, never what is deliverable now (python3 sets 64 actions at
/// start: 64 SIGSYS traps before). New processes that resume where the parent is
/// (fork, vfork, and clone without CLONE_THREAD and without a new stack, which the library OS
/// runs as a fork) are served here: the child returns through the same fast-path exit on its
/// copy of the parent's stack. The waits that may take a signal mask (pselect6, ppoll,
/// epoll_pwait, epoll_pwait2) are served here only without one ([`served`]).
pub fn fast(nr: usize) -> bool {
    !matches!(
        nr,
        14 | 15
            | 34
            | 56
            | 59
            | 60
            | 62
            | 127
            | 128
            | 129
            | 130
            | 131
            | 200
            | 234
            | 270
            | 271
            | 281
            | 297
            | 322
            | 435
            | 441
    ) && nr < 512
}

/// Whether the fast path serves this call, given its registers: [`fast`]; a wait that may
/// take a signal mask when it has none (with one, the SIGSYS path puts it in force and the
/// app's back at the exit, `Trapped::set_wait_mask`); and clone (56) only when it asks for a
/// new process on the caller's stack (no CLONE_THREAD, stack 0). The checks past [`fast`]
/// cost only the calls it declines.
#[inline(always)]
fn served(nr: usize, r: &Regs) -> bool {
    const CLONE: usize = 56;
    const CLONE_THREAD: usize = 0x10000;
    fast(nr)
        || match nr {
            271 => r.r10 == 0,      // ppoll's sigmask
            270 => r.r9 == 0,       // pselect6's { sigmask, size }
            281 | 441 => r.r8 == 0, // epoll_pwait(2)'s sigmask
            CLONE => r.rdi & CLONE_THREAD == 0 && r.rsi == 0,
            _ => false,
        }
}

pub(crate) fn data() -> &'static FastData {
    let p: usize;
    // SAFETY: reads gs:[0], the thread's FastData self pointer; every runtime-started thread
    // sets its GS base (init_thread) before app code runs, and the app may not change it.
    unsafe { core::arch::asm!("mov {}, qword ptr gs:[0]", out(reg) p, options(nostack, readonly, preserves_flags)) };
    // SAFETY: FastData lives in the thread's block, which is never freed.
    unsafe { &*(p as *const FastData) }
}

/// Sets up `block`'s FastData for a thread and adds it to the process's thread list
/// (forkfence.rs), with `depth` as its nesting depth: 1 for a thread not started yet (its
/// start-up is runtime code, ended by [`started`]), 0 for the first thread; `app_sp` is the
/// stack the new thread starts the app on (0 for the first thread: no app handler exists
/// before the app starts). Its GS base is set by [`init_thread`].
pub fn prepare_thread(block: usize, depth: usize, app_sp: usize) {
    let at = block + FAST_DATA;
    // SAFETY: the top data of a block are the runtime's; FAST_DATA leaves room for ThreadData.
    unsafe {
        core::ptr::write(
            at as *mut FastData,
            FastData {
                self_addr: at,
                block,
                top: AtomicUsize::new(block + crate::threads::STACK_TOP),
                depth: AtomicUsize::new(depth),
                deferred: AtomicUsize::new(0),
                entry: litebox_fastpath as *const () as usize,
                alt_sp: AtomicUsize::new(0),
                alt_size: AtomicUsize::new(0),
                alt_flags: AtomicUsize::new(SS_DISABLE),
                next: AtomicUsize::new(0),
                live: AtomicUsize::new(0),
                call_sp: AtomicUsize::new(app_sp),
                suspend_mask: AtomicU64::new(0),
                window: AtomicU32::new(WINDOW_NONE),
            },
        )
    };
    // SAFETY: just written; blocks are never freed.
    crate::forkfence::register(unsafe { &*(at as *const FastData) });
}

/// Points the calling thread's GS base at `block`'s FastData ([`prepare_thread`]).
pub fn init_thread(block: usize) -> Result<(), i32> {
    const ARCH_SET_GS: usize = 0x1001;
    sys::check(sys::syscall3(sys::ARCH_PRCTL, ARCH_SET_GS, block + FAST_DATA, 0)).map(|_| ())
}

/// The end of a new thread's start-up: it leaves the runtime for the app (the depth of 1 that
/// [`prepare_thread`] gave it).
pub fn started() {
    let d = data();
    leave(d);
    release_deferred(d);
}

struct Fast {
    regs: *mut Regs,
}

impl Regs {
    /// The call's six arguments.
    #[inline(always)]
    fn args(&self) -> [usize; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }
}

impl Fast {
    fn regs(&self) -> &Regs {
        // SAFETY: regs points at the frame the entry pushed, live for this call.
        unsafe { &*self.regs }
    }
}

fn host_mask() -> u64 {
    let mut old = 0u64;
    sys::syscall6(sys::RT_SIGPROCMASK, sys::SIG_BLOCK, 0, &mut old as *mut u64 as usize, 8, 0, 0);
    old
}

impl litebox_libos::SyscallContext for Fast {
    // `nr` and `args` are called through the trait object by `shim::dispatch`, also on a
    // fork child's way out (`exit_group`): in the plain `.text` input section with it.
    #[link_section = ".text"]
    fn nr(&self) -> usize {
        self.regs().rax
    }
    fn arg(&self, i: usize) -> usize {
        self.args()[i]
    }
    #[link_section = ".text"]
    fn args(&self) -> [usize; 6] {
        self.regs().args()
    }
    fn sigmask(&self) -> u64 {
        host_mask() & !(data().deferred.load(Ordering::Relaxed) as u64)
    }
    fn set_sigmask(&mut self, mask: u64) {
        // A deferred signal the app now blocks itself is the app's: it stays pending, blocked
        // by the app's own mask, and the exit's release must not unblock it.
        let d = data();
        crate::signals::set_thread_mask(mask | give_deferred_to_app(d, mask));
    }
    fn spawn_thread(&mut self, _t: &litebox_libos::ThreadSpawn) -> Result<usize, Errno> {
        // clone of a thread and clone3 are declined by `served`; they never get here.
        Err(ENOSYS)
    }
    // A fork child returns through here: in the window of code it faults in first, with
    // `host_fork` (`litebox_libos::shim::exec::fork` says why).
    #[link_section = ".text"]
    fn fork(&mut self, flags: u64, stack: usize, ptid: usize, ctid: usize) -> Result<usize, Errno> {
        if stack != 0 {
            // `served` lets no new stack through; the SIGSYS path moves the child to one.
            return Err(ENOSYS);
        }
        crate::signals::host_fork(flags, ptid, ctid)
    }
}

// Every call a fork child makes comes through here: in the plain `.text` input section with
// the fork path (`litebox_libos::shim::exec::fork` says why).
#[no_mangle]
#[link_section = ".text"]
extern "C" fn litebox_fastpath_dispatch(regs: *mut Regs) -> usize {
    let mut ctx = Fast { regs };
    let nr = ctx.regs().rax;
    if !served(nr, ctx.regs()) {
        return 0;
    }
    let d = data();
    enter(d);
    let traced = crate::trace::tracing().then(|| {
        use litebox_libos::SyscallContext;
        [ctx.arg(0), ctx.arg(1), ctx.arg(2), ctx.arg(3), ctx.arg(4), ctx.arg(5)]
    });
    // read and write of a host stream, and the by-number socket calls of a request (recv,
    // send, shutdown), first, inlined here: after a call that blocked, each return between
    // the host call and the app mispredicts (`shim::fs::host_stream_rw`).
    let os = crate::os();
    if traced.is_none() {
        if let Some(h) = pass_through(os, d, regs, nr) {
            return PASS + h as usize;
        }
    }
    let r = loop {
        let r = match traced {
            None => match litebox_libos::shim::fs::host_stream_rw(os, nr, &ctx.regs().args()) {
                Some(r) => r.map_or_else(|e| -(e as isize), |v| v as isize),
                None => litebox_libos::shim::dispatch(os, &mut ctx),
            },
            Some(_) => litebox_libos::shim::dispatch(os, &mut ctx),
        };
        // Cut short by a signal for an app handler before its host call had any effect: the
        // handler runs now, and the call is served again (window_open).
        if r != RESTART {
            break r;
        }
        if !restart_after_handlers(d, None, nr, &ctx.regs().args()) {
            break -(litebox_libos::errno::EINTR as isize);
        }
    };
    if let Some(a) = traced {
        crate::trace::line(nr, &a, r);
    }
    // SAFETY: as in `regs`; the entry pops rax from this slot.
    unsafe { (*regs).rax = r as usize };
    leave(d);
    release_deferred(d);
    1
}

/// A call's result when a signal cut it short before its host call had any effect.
pub(crate) const RESTART: isize = -(litebox_libos::errno::ERESTARTSYS as isize);

/// What [`litebox_fastpath_dispatch`] returns, plus the host descriptor (`i32`, not negative),
/// for a call the entry passes to the host itself (`pass_through`); 0 declines, 1 served.
const PASS: usize = 2;

/// Size of the frame of general registers the entry pushes (`litebox_push_frame`).
const FRAME_BYTES: usize = 8 * 8;

/// A read or write of a host stream, or a recv(from) or send(to) without an address or a
/// shutdown of a host socket, that the entry may make on the host itself, with the app's
/// registers and the host descriptor in rdi (`shim::fs::host_stream_passthrough`,
/// `shim::net::host_socket_passthrough`: every check of the served way passed, the whole
/// buffer, no effect yet; the host sees the app's r10, r8 and r9, which are the served
/// way's arguments for these calls): the host descriptor,
/// after leaving the runtime as the served path does after its host call (`leave`, the
/// deferred signals released) and passing the effect gate (`parcheck::gate`, which
/// `sys::syscall6` applies to every host call). Only for a call that entered at the top of
/// the thread's block (not nested in an app handler running inside the runtime), outside a
/// trapped syscall (whose blocking calls put the app's mask in force), with no signal deferred
/// yet, and not for the UDP relay's descriptors. The host call then runs from the app's stack,
/// outside the runtime (depth 0, no window), so that an app signal is delivered during it as
/// natively (the handler runs on the app's stack, and the call restarts under SA_RESTART or
/// fails with EINTR), with nothing of the runtime's held.
#[inline(always)]
fn pass_through(
    os: &'static litebox_libos::LibOs<crate::host::LinuxHost>,
    d: &FastData,
    regs: *mut Regs,
    nr: usize,
) -> Option<i32> {
    if regs as usize + FRAME_BYTES != d.top.load(Ordering::Relaxed)
        || d.deferred.load(Ordering::Relaxed) != 0
        || d.depth.load(Ordering::Relaxed) != 1
    {
        return None;
    }
    // SAFETY: called from syscall handling, so we run on this thread's block.
    if unsafe { (*crate::threads::current()).uc } != 0 {
        return None;
    }
    // SAFETY: regs points at the frame the entry pushed, live for this call.
    let a = unsafe { (*regs).args() };
    let h = match nr {
        sys::READ | sys::WRITE => litebox_libos::shim::fs::host_stream_passthrough(os, nr, &a)?,
        _ => litebox_libos::shim::net::host_socket_passthrough(os, nr, &a)?,
    };
    if h < 0 || crate::udpapp::is_relay(h) {
        return None;
    }
    leave(d);
    release_deferred(d);
    crate::parcheck::gate(nr, [h as usize, a[1], a[2], a[3], a[4], a[5]]);
    Some(h)
}

// `depth` and `deferred` belong to one thread: only that thread (in its own flow or in a
// signal handler that interrupts it) writes them, so they need no locked read-modify-write
// (each `lock`ed instruction costs about 10 ns, and the fast path made three per call). The one
// locked instruction left is the exchange that takes `depth` from 0 to above 0: a thread that
// forks reads every other thread's `depth`, and that exchange is the full barrier between this
// thread's store and its read of the pending fork (forkfence.rs). A handler that runs between a
// load and its store below leaves `depth` as it found it (its own entries and exits pair up)
// and never clears `deferred`.

/// Marks the calling thread as inside the runtime (app signals wait from here on). Coming in
/// from the app (depth 0), it waits outside while another thread of the process forks
/// (forkfence.rs): the exchange is the full barrier that protocol needs.
#[inline(always)]
pub(crate) fn enter(d: &FastData) {
    let depth = d.depth.load(Ordering::Relaxed);
    if depth == 0 {
        d.depth.swap(1, Ordering::SeqCst);
        if crate::forkfence::pending() {
            crate::forkfence::step_out(d, 1);
        }
    } else {
        d.depth.store(depth + 1, Ordering::Relaxed);
    }
    compiler_fence(Ordering::SeqCst);
}

/// [`enter`] for code that takes no lock of the runtime's (the light clock path, which reads
/// the vDSO and the memory map's lock-free windows): a plain store, without the exchange. A
/// fork may copy the process while this thread is in such code: the child misses nothing.
#[inline(always)]
pub(crate) fn enter_lock_free(d: &FastData) {
    d.depth.store(d.depth.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    compiler_fence(Ordering::SeqCst);
}

/// Undoes [`enter`]; back at depth 0 it wakes a forker that waits for this thread.
#[inline(always)]
pub(crate) fn leave(d: &FastData) {
    compiler_fence(Ordering::SeqCst);
    let depth = d.depth.load(Ordering::Relaxed) - 1;
    d.depth.store(depth, Ordering::Relaxed);
    compiler_fence(Ordering::SeqCst);
    if depth == 0 && crate::forkfence::pending() {
        crate::forkfence::wake_forker(d);
    }
}

/// The app's new signal mask `mask` makes the deferred signals it blocks the app's own: they
/// stay pending, blocked by that mask, and no release unblocks them. Returns the signals still
/// deferred. The locked and-not only when `mask` blocks one (a handler that interrupts may
/// defer another meanwhile, so not a load and a store).
pub(crate) fn give_deferred_to_app(d: &FastData, mask: u64) -> u64 {
    let deferred = d.deferred.load(Ordering::Relaxed) as u64;
    if deferred & mask == 0 {
        return deferred;
    }
    d.deferred.fetch_and(!(mask as usize), Ordering::Relaxed) as u64 & !mask
}

/// Unblocks the signals deferred while the thread was inside. Called after [`leave`]: a
/// signal that arrives after the load sees the thread outside and is delivered at once, not
/// deferred, so a zero load needs no swap. One that arrives between the swap and the unblock
/// runs the app's handler with the released signals still blocked in the mask its frame
/// restores; the unblock here comes after that return.
#[inline(always)]
pub(crate) fn release_deferred(d: &FastData) {
    if d.deferred.load(Ordering::Relaxed) != 0 {
        release_deferred_now(d);
    }
}

/// The rare half of [`release_deferred`], out of line: every blocking call's window inlines
/// the check.
#[cold]
#[inline(never)]
fn release_deferred_now(d: &FastData) {
    let pending = d.deferred.swap(0, Ordering::Relaxed) as u64;
    if pending != 0 {
        // The deferred signals are pending on this thread again; unblocking delivers them
        // here, outside the runtime's critical work, before the syscall returns to the app.
        sys::syscall6(sys::RT_SIGPROCMASK, sys::SIG_UNBLOCK, &pending as *const u64 as usize, 0, 8, 0, 0);
    }
}

/// Records `app_sp` as the app's stack pointer at the call this thread starts serving
/// ([`FastData::call_sp`]); returns the outer record, for [`call_end`]. The SIGSYS path calls
/// it before [`enter`] and [`call_end`] after its deferred signals are released (the fast
/// path's entry and exit do the same in assembly), so that an app handler let in anywhere in
/// between (a blocking call's window, a fork's wait, the release) runs on the app's stack of
/// this call.
#[inline(always)]
pub(crate) fn call_begin(d: &FastData, app_sp: usize) -> usize {
    let outer = d.call_sp.load(Ordering::Relaxed);
    d.call_sp.store(app_sp, Ordering::Relaxed);
    outer
}

/// Puts back the record [`call_begin`] returned.
#[inline(always)]
pub(crate) fn call_end(d: &FastData, outer: usize) {
    d.call_sp.store(outer, Ordering::Relaxed);
}

/// Runs `f` (a host call that may block) with app signals deliverable, as the SIGSYS path's
/// `blocking` does: the fast-path depth is cleared for its duration.
#[inline(always)]
pub fn open_window<R>(f: impl FnOnce() -> R) -> R {
    let saved = window_open();
    let r = f();
    window_close(saved);
    r
}

/// The first half of [`open_window`]: opens the window ([`FastData::window`]), clears the
/// fast-path depth and returns what it was, for [`window_close`] after the host call.
///
/// The kernel's order, not a handler inside the call: an app handler never runs while the
/// window is open. A signal for one that comes now is deferred (the wrapper treats an open
/// window as inside the runtime) and cuts the window: its host call, made through the window
/// gate (`sys::window_syscall6`), ends at once (-ERESTARTSYS before it had any effect; EINTR,
/// or -ERESTARTSYS where the host would restart it, once it waited). The call then unwinds
/// with what it holds, and its exit runs the handler and then serves the call again or
/// returns EINTR, by the kernel's rule for a call that finds a signal pending
/// ([`restart_after_handlers`], [`restarts`]). A handler that leaves by `siglongjmp` so
/// abandons no reference or lock of the call, as natively (docs/targets/linux-userland.md).
/// Signals deferred earlier in the call cut the window as it opens: the host call must not
/// wait while a signal for the app is pending (one its handler answers would never come).
#[inline(always)]
pub fn window_open() -> usize {
    let d = data();
    // Open before the depth is cleared: a signal in between is deferred, not run here.
    d.window.store(WINDOW_OPEN, Ordering::Relaxed);
    compiler_fence(Ordering::SeqCst);
    let saved = d.depth.load(Ordering::Relaxed);
    d.depth.store(0, Ordering::Relaxed);
    compiler_fence(Ordering::SeqCst);
    if saved != 0 && crate::forkfence::pending() {
        crate::forkfence::wake_forker(d);
    }
    if d.deferred.load(Ordering::Relaxed) != 0 {
        d.window.store(WINDOW_CUT, Ordering::Relaxed);
    }
    saved
}

/// The second half of [`open_window`]: puts back the depth [`window_open`] returned, after
/// waiting outside while another thread of the process forks (as [`enter`]), then closes the
/// window (a signal during that wait is deferred too).
#[inline(always)]
pub fn window_close(saved: usize) {
    compiler_fence(Ordering::SeqCst);
    let d = data();
    if saved != 0 {
        d.depth.swap(saved, Ordering::SeqCst);
        if crate::forkfence::pending() {
            crate::forkfence::step_out(d, saved);
        }
    }
    compiler_fence(Ordering::SeqCst);
    d.window.store(WINDOW_NONE, Ordering::Relaxed);
}

/// After a call that a signal for an app handler cut short (-ERESTARTSYS, [`window_open`]):
/// leaves the runtime, runs the deferred handlers (their release, as at the call's exit: on
/// the app's stack of this call; for the SIGSYS path, `trapped` is the trapped call's mask,
/// [`release_trapped`]), and comes back in. Returns whether the caller serves the app's call
/// `nr` (arguments `args`) again, by the kernel's rule for a call a signal interrupts before it
/// completes ([`restarts`]); false, and nothing done, for a call nested in runtime work (depth
/// above 1: the outer call releases its signals). A false answer ends the call with EINTR.
#[cold]
#[inline(never)]
pub(crate) fn restart_after_handlers(d: &FastData, trapped: Option<u64>, nr: usize, args: &[usize; 6]) -> bool {
    if d.depth.load(Ordering::Relaxed) != 1 {
        return false;
    }
    let again = restarts(nr, args, d.deferred.load(Ordering::Relaxed) as u64);
    leave(d);
    match trapped {
        Some(app_mask) => release_trapped(d, app_mask),
        None => release_deferred(d),
    }
    enter(d);
    again
}

/// Signals whose app handler asked for SA_RESTART (bit sig-1).
static RESTART_SIGS: AtomicU64 = AtomicU64::new(0);

/// Records whether the app's handler for `sig` has SA_RESTART.
pub fn set_restart(sig: i32, on: bool) {
    set_signal_bit(&RESTART_SIGS, sig, on);
}

/// Sets or clears `sig`'s bit (sig-1) in `set`.
fn set_signal_bit(set: &AtomicU64, sig: i32, on: bool) {
    let bit = 1u64 << ((sig - 1) & 63);
    if on {
        set.fetch_or(bit, Ordering::SeqCst);
    } else {
        set.fetch_and(!bit, Ordering::SeqCst);
    }
}

/// Whether the app's call `nr` (arguments `args`), which a signal cut before it completed (the
/// window gate's skip: its host call not made, or rewound by the host to be restarted), is
/// served again once the handlers of `sigs` (the signals deferred, bit sig-1) ran: when every
/// one has SA_RESTART and Linux restarts the call (the library OS's rule,
/// `litebox_libos::signal::restarted_with_sa_restart`, which kvm's kernel follows too).
fn restarts(nr: usize, args: &[usize; 6], sigs: u64) -> bool {
    sigs & !RESTART_SIGS.load(Ordering::Relaxed) == 0 && litebox_libos::signal::restarted_with_sa_restart(nr, args)
}

/// [`release_deferred`] for the SIGSYS path: the handlers it lets in run with `app_mask` (the
/// trapped call's mask, or the mask of the app's `rt_sigsuspend` it served, which
/// [`suspended_with`] leaves recorded when a signal cut its wait) as the mask they
/// interrupted, not the SIGSYS handler's (every signal blocked).
pub(crate) fn release_trapped(d: &FastData, app_mask: u64) {
    if d.deferred.load(Ordering::Relaxed) != 0 {
        if d.suspend_mask.load(Ordering::Relaxed) & crate::signals::SIGSYS_BIT == 0 {
            d.suspend_mask.store(app_mask | crate::signals::SIGSYS_BIT, Ordering::Relaxed);
        }
        compiler_fence(Ordering::SeqCst);
        release_deferred_now(d);
        compiler_fence(Ordering::SeqCst);
    }
    d.suspend_mask.store(0, Ordering::Relaxed);
}

const SS_ONSTACK: usize = 1;
const SS_DISABLE: usize = 2;
const SS_AUTODISARM: usize = 1 << 31;
/// The smallest alternate stack Linux accepts (MINSIGSTKSZ).
const MINSIGSTKSZ: usize = 2048;

/// Signals whose app handler asked for SA_ONSTACK (bit sig-1).
static ONSTACK: AtomicU64 = AtomicU64::new(0);

/// Records whether the app's handler for `sig` runs on the alternate stack.
pub fn set_onstack(sig: i32, on: bool) {
    set_signal_bit(&ONSTACK, sig, on);
}

/// execve: the new program starts without an alternate signal stack.
pub fn clear_altstack() {
    let d = data();
    d.alt_sp.store(0, Ordering::Relaxed);
    d.alt_size.store(0, Ordering::Relaxed);
    d.alt_flags.store(SS_DISABLE, Ordering::Relaxed);
}

/// The calling thread's app alternate stack, if enabled: (base, size).
fn altstack(d: &FastData) -> Option<(usize, usize)> {
    (d.alt_flags.load(Ordering::Relaxed) & SS_DISABLE == 0)
        .then(|| (d.alt_sp.load(Ordering::Relaxed), d.alt_size.load(Ordering::Relaxed)))
}

fn on_stack(alt: Option<(usize, usize)>, sp: usize) -> bool {
    alt.is_some_and(|(base, size)| sp > base && sp - base <= size)
}

/// sigaltstack(2) for the app's calling thread; `sp` is the app's stack pointer at the call.
/// The runtime's own signal stack (where SIGSYS is served) is not touched: this is the stack
/// the app's SA_ONSTACK handlers run on (see [`litebox_signal_wrapper`]).
pub fn app_sigaltstack(new: usize, old: usize, sp: usize) -> Result<usize, Errno> {
    use litebox_libos::errno::{EINVAL, ENOMEM, EPERM};
    let d = data();
    let alt = altstack(d);
    let on = on_stack(alt, sp);
    let ss: Option<[usize; 3]> = if new != 0 { Some(litebox_libos::user::read(new)?) } else { None };
    let prev = [
        d.alt_sp.load(Ordering::Relaxed),
        if alt.is_none() {
            SS_DISABLE
        } else {
            (if on { SS_ONSTACK } else { 0 }) | (d.alt_flags.load(Ordering::Relaxed) & SS_AUTODISARM)
        },
        d.alt_size.load(Ordering::Relaxed),
    ];
    if old != 0 {
        litebox_libos::user::slice_mut(old, 24)?;
    }
    if let Some([base, flags, size]) = ss {
        let flags = flags & 0xffff_ffff;
        if on {
            return Err(EPERM);
        }
        let mode = flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_ONSTACK && mode != SS_DISABLE {
            return Err(EINVAL);
        }
        if mode == SS_DISABLE {
            d.alt_sp.store(0, Ordering::Relaxed);
            d.alt_size.store(0, Ordering::Relaxed);
            d.alt_flags.store(SS_DISABLE, Ordering::Relaxed);
        } else {
            if size < MINSIGSTKSZ {
                return Err(ENOMEM);
            }
            d.alt_sp.store(base, Ordering::Relaxed);
            d.alt_size.store(size, Ordering::Relaxed);
            d.alt_flags.store(flags & SS_AUTODISARM, Ordering::Relaxed);
        }
    }
    if old != 0 {
        litebox_libos::user::write(old, &prev)?;
    }
    Ok(0)
}

/// Size of the kernel's `struct rt_sigframe` on x86-64: the return address, the ucontext
/// (304 bytes) and the siginfo (128 bytes). The FPU/xsave area lies above it.
const FRAME: usize = 8 + 304 + 128;
/// Offsets in the ucontext: the saved rsp, and the pointer to the FPU state.
const UC_RSP: usize = 40 + 15 * 8;
const UC_RIP: usize = 40 + 16 * 8;
const UC_FPSTATE: usize = 40 + 23 * 8;

/// Bytes of the FPU/xsave area at `fp` (the kernel records its extended size in the fxsave
/// area's software-reserved bytes).
///
/// # Safety
/// `fp` must point to the kernel-written FPU state of a signal frame.
unsafe fn fpstate_size(fp: usize) -> usize {
    // SAFETY: per the contract; the fxsave area is 512 bytes.
    let (magic, ext) =
        unsafe { (core::ptr::read((fp + 464) as *const u32), core::ptr::read((fp + 468) as *const u32)) };
    if magic == 0x4650_5853 && (512..=1 << 20).contains(&(ext as usize)) {
        ext as usize
    } else {
        512
    }
}

core::arch::global_asm!(
    // The two ways an app handler is started, with the host calls they make on the app's
    // stack (straight to the gate's syscall: the seccomp filter lets it through; rcx and r11
    // are lost). litebox_set_mask PTR: rt_sigprocmask(SIG_SETMASK, PTR, NULL, 8).
    // litebox_set_sigstack PTR: sigaltstack(PTR, NULL).
    ".macro litebox_set_mask ptr",
    "    mov eax, {sigprocmask}",
    "    mov edi, {setmask}",
    "    lea rsi, \\ptr",
    "    xor edx, edx",
    "    mov r10d, 8",
    "    call litebox_gate_syscall",
    ".endm",
    ".macro litebox_set_sigstack ptr",
    "    mov eax, {sigaltstack}",
    "    lea rdi, \\ptr",
    "    xor esi, esi",
    "    call litebox_gate_syscall",
    ".endm",
    // litebox_onstack_call(handler, sig, info, uc, frame): runs the app's handler with the
    // stack pointer at `frame`, whose first word (the restorer) is its return address, after
    // putting in force, once on that stack, the mask written at `frame - 16` (until then
    // every signal is blocked: a second one now comes below this frame). Every register may
    // change: the handler's return does rt_sigreturn from the frame.
    ".globl litebox_onstack_call",
    "litebox_onstack_call:",
    "    mov r12, rdi",
    "    mov r13d, esi",
    "    mov r14, rdx",
    "    mov r15, rcx",
    "    mov rsp, r8",
    "    litebox_set_mask [rsp - 16]",
    "    mov edi, r13d",
    "    mov rsi, r14",
    "    mov rdx, r15",
    "    jmp r12",
    // litebox_nested_call(handler, sig, info, uc, sp, call: *const NestedCall): on the app's
    // stack at `sp`, cuts the host signal stack (sigaltstack may not be changed while on it,
    // hence here: a SIGSYS or app signal that comes while the handler runs then goes below the
    // runtime's frames in use), puts the handler's mask in force, calls the handler, blocks
    // every signal but SIGSYS again, gives the host signal stack back, and returns on the
    // runtime's stack.
    ".globl litebox_nested_call",
    "litebox_nested_call:",
    "    push rbp",
    "    push rbx",
    "    push r12",
    "    push r13",
    "    push r14",
    "    push r15",
    "    mov rbx, rsp",
    "    mov r12, rdi",
    "    mov r13, rsi",
    "    mov r14, rdx",
    "    mov r15, rcx",
    "    mov rbp, r9",
    "    and r8, -16",
    "    mov rsp, r8",
    "    litebox_set_sigstack [rbp]",
    "    litebox_set_mask [rbp + 48]",
    "    mov edi, r13d",
    "    mov rsi, r14",
    "    mov rdx, r15",
    "    call r12",
    "    litebox_set_mask [rbp + 56]",
    "    litebox_set_sigstack [rbp + 24]",
    "    mov rsp, rbx",
    "    pop r15",
    "    pop r14",
    "    pop r13",
    "    pop r12",
    "    pop rbx",
    "    pop rbp",
    "    ret",
    sigaltstack = const sys::SIGALTSTACK,
    sigprocmask = const sys::RT_SIGPROCMASK,
    setmask = const sys::SIG_SETMASK,
);

extern "C" {
    fn litebox_onstack_call(handler: usize, sig: i32, info: usize, uc: usize, frame: usize) -> !;
}

/// Moves the signal frame the kernel built on the runtime's signal stack to the app's
/// alternate stack (or, without one, to the interrupted app stack) and runs the app's SA_ONSTACK
/// handler there; its return does rt_sigreturn from the moved frame. For a signal that
/// interrupted app code ([`run_for_call`] runs one that interrupted the runtime).
///
/// # Safety
/// `uc` must be the kernel's ucontext of this signal's handler, which interrupted app code,
/// and `h` the app's handler for it.
unsafe fn run_on_app_stack(d: &FastData, h: usize, sig: i32, uc: usize) {
    // SAFETY: uc is the kernel's ucontext for this signal.
    let sp = unsafe { core::ptr::read((uc + UC_RSP) as *const usize) };
    let alt = altstack(d);
    let top = match alt {
        Some((base, size)) if !on_stack(alt, sp) => base + size,
        _ => sp - 128,
    };
    let frame = uc - 8;
    // SAFETY: the frame and its FPU area are the kernel's, live for this handler; the target
    // is the app's own stack memory (a fault there is the app's, as natively).
    unsafe {
        let fp = core::ptr::read((uc + UC_FPSTATE) as *const usize);
        let fpsize = fpstate_size(fp);
        let new_fp = (top - fpsize) & !63;
        let new_frame = ((new_fp - FRAME) & !15) - 8;
        core::ptr::copy(fp as *const u8, new_fp as *mut u8, fpsize);
        core::ptr::copy(frame as *const u8, new_frame as *mut u8, FRAME);
        core::ptr::write((new_frame + 8 + UC_FPSTATE) as *mut usize, new_fp);
        // The handler's mask, put in force by the assembly once on the app's stack.
        core::ptr::write((new_frame - 16) as *mut u64, handler_mask(d, sig, uc, false));
        litebox_onstack_call(h, sig, new_frame + 8 + 304, new_frame + 8, new_frame)
    }
}

/// Whether the signal whose ucontext is `uc` interrupted the runtime (its stack pointer is in
/// the thread's block), not app code.
///
/// # Safety
/// `uc` must be the kernel's ucontext of the signal being handled.
unsafe fn interrupted_runtime(d: &FastData, uc: usize) -> bool {
    // SAFETY: per the contract.
    let sp = unsafe { core::ptr::read((uc + UC_RSP) as *const usize) };
    sp.wrapping_sub(d.block) < BLOCK
}

/// Runs the app's handler for a signal that interrupted the runtime during the app's call
/// recorded in [`FastData::call_sp`], where the kernel would run it for a thread in that
/// call: on the app's alternate stack (`onstack`, SA_ONSTACK, when enabled and not in use),
/// else below the call's stack pointer (past the red zone), on the thread's own stack, and
/// returns when the handler returns ([`run_nested_on_app_stack`]).
///
/// The runtime lets app signals in only where it holds nothing for the call: a fork's wait
/// at its start, the release of deferred signals at its exit, and the fast path's entry and
/// exit around them; for the app the thread is then in a system call. Go relies on the
/// alternate stack: its handlers check that they run on the signal stack it gave the thread,
/// and otherwise wait forever for a thread record a static Go program does not have. A garbage collector that
/// finds a thread's stack from its handler's stack pointer (Boehm's, Mono's) relies on the
/// thread's own stack. Without a recorded call (an entry nested in a handler that runs on the
/// block) the handler runs where the kernel put it.
///
/// # Safety
/// `info` and `uc` must be the kernel's arguments to this signal's handler, which interrupted
/// the runtime, and `h` the app's handler for it.
unsafe fn run_for_call(d: &FastData, h: usize, sig: i32, info: usize, uc: usize, onstack: bool) {
    // The app's stack pointer at the call, when it is one of the app's (not the block: an
    // entry nested in a handler that runs there).
    let call = d.call_sp.load(Ordering::Relaxed);
    match (call >= 1 << 16 && call.wrapping_sub(d.block) >= BLOCK).then_some(call) {
        Some(app_sp) => {
            let alt = if onstack { altstack(d) } else { None };
            let top = match alt {
                Some((base, size)) if !on_stack(alt, app_sp) => base + size,
                _ => below_trapped_registers(app_sp - 128, app_sp),
            };
            // SAFETY: the kernel's arguments and the app's handler (the caller's contract);
            // `top` is app stack memory below any frame of the app in use.
            unsafe { run_nested_on_app_stack(d, h, sig, info, uc, top) };
        }
        // SAFETY: the caller's contract.
        None => unsafe { run_here(d, h, sig, info, uc) },
    }
}

/// Where a handler runs below `below` on the app's stack of the call at `app_sp`: there, for
/// a trapped call, with the app's callee-saved registers at the trap copied just below
/// `below` first (the fast path's entry stores them below its call's stack pointer), so that
/// they are on the app's stack above the handler's frames, as natively in its signal frame.
fn below_trapped_registers(below: usize, app_sp: usize) -> usize {
    // SAFETY: only called while running on this thread's block (a signal that interrupted
    // the runtime), whose ThreadData records the trapped syscall being served, if any.
    let uc = unsafe { (*crate::threads::current()).uc };
    if uc == 0 {
        return below;
    }
    // SAFETY: a non-zero `uc` is the ucontext of the SIGSYS being served on this thread.
    let t = unsafe { crate::signals::Trapped::new(uc) };
    {
        use litebox_libos::SyscallContext;
        if t.stack_pointer() != app_sp {
            return below;
        }
    }
    let regs = t.callee_saved();
    // SAFETY: app stack memory below the red zone of the trapped call, not in use (the
    // kernel would put a signal frame there).
    unsafe { core::ptr::copy_nonoverlapping(regs.as_ptr(), (below - 48) as *mut usize, 6) };
    below - 64
}

/// What [`litebox_nested_call`] needs besides the handler's arguments (its offsets are the
/// assembly's): the runtime's host signal stack cut to end below the frames in use, and as it
/// was; the signal mask for the handler; the mask with every signal but SIGSYS blocked.
#[repr(C)]
struct NestedCall {
    small: [usize; 3],
    full: [usize; 3],
    mask: u64,
    all: u64,
}
const _: () = assert!(core::mem::offset_of!(NestedCall, full) == 24);
const _: () = assert!(core::mem::offset_of!(NestedCall, mask) == 48);
const _: () = assert!(core::mem::offset_of!(NestedCall, all) == 56);

extern "C" {
    fn litebox_nested_call(handler: usize, sig: i32, info: usize, uc: usize, sp: usize, call: *const NestedCall);
}

/// What [`run_nested_on_app_stack`] leaves of the runtime's stack below a cut, at least: the
/// fast path and the SIGSYS path serve the handler's calls there (the deepest call path uses
/// a few KiB). A thread whose handlers left by longjmp often enough to use up the rest runs
/// its later such handlers where the kernel put them.
const NESTED_RESERVE: usize = 64 << 10;

/// Runs the app's handler `h` with its stack pointer at `top` (app stack memory) for a signal
/// that interrupted the runtime, and returns here when it returns; the wrapper's return then
/// resumes the runtime (rt_sigreturn of the kernel's frame, whose mask and host signal stack
/// come back with it). The runtime's frames in use stay where they are: while the handler
/// runs, the fast path's top (`gs:[16]`) and the host signal stack end below this frame, so
/// that the handler's own syscalls (fast path or SIGSYS) and signals nest below them, and no
/// call is recorded ([`FastData::call_sp`]), so that its own calls record theirs. The handler
/// gets the kernel's `info` and `uc` (which describe the interrupted runtime). A handler that
/// leaves by longjmp leaves the fast path's top and the host signal stack lower by the frames
/// it abandoned; a thread that does so over and over runs later such handlers where the
/// kernel put them, once [`NESTED_RESERVE`] is all that is left (docs/targets/linux-userland.md).
///
/// # Safety
/// `info` and `uc` must be the kernel's arguments to this signal's handler, `h` the app's
/// handler for it, and `top` app stack memory not in use.
#[inline(never)]
unsafe fn run_nested_on_app_stack(d: &FastData, h: usize, sig: i32, info: usize, uc: usize, top: usize) {
    let here: usize;
    // SAFETY: reads the stack pointer; no memory access.
    unsafe { core::arch::asm!("mov {}, rsp", out(reg) here, options(nomem, nostack, preserves_flags)) };
    // Below this frame and the assembly's (56 bytes), with a margin.
    let floor = (here - 512) & !15;
    let mut host = [0usize; 3];
    sys::syscall6(sys::SIGALTSTACK, 0, host.as_mut_ptr() as usize, 0, 0, 0, 0);
    if floor < host[0] + NESTED_RESERVE || floor > host[0] + host[2] {
        // Too little room left below for the runtime's own work (or not on the host signal
        // stack): run it here, without a cut.
        // SAFETY: the caller's contract.
        unsafe { run_here(d, h, sig, info, uc) };
        return;
    }
    // Every signal but SIGSYS is blocked until the assembly puts the handler's mask in force
    // (the host's mask for an SA_ONSTACK handler, signals.rs `app_sigaction`).
    let call = NestedCall {
        small: [host[0], 0, floor - host[0]],
        full: [host[0], 0, host[2]],
        // SAFETY: the caller's contract.
        mask: unsafe { handler_mask(d, sig, uc, true) },
        all: !crate::signals::SIGSYS_BIT,
    };
    let old_top = d.top.swap(floor, Ordering::Relaxed);
    let old_call = d.call_sp.swap(0, Ordering::Relaxed);
    let old_suspend = d.suspend_mask.swap(0, Ordering::Relaxed);
    // The handler's own calls are not the trapped call being served (if any): their windows
    // keep the mask in force, the handler's, and the mask that call puts back at its exit is
    // not theirs to put back.
    let td = crate::threads::current();
    // SAFETY: running on this thread's block, whose ThreadData this is.
    let (old_uc, old_saved) =
        unsafe { (core::mem::replace(&mut (*td).uc, 0), core::mem::replace(&mut (*td).saved_mask, 0)) };
    compiler_fence(Ordering::SeqCst);
    // SAFETY: per the contract; `call` lives in this frame, above the cut stacks.
    unsafe { litebox_nested_call(h, sig, info, uc, top, &call) };
    compiler_fence(Ordering::SeqCst);
    // SAFETY: as above.
    unsafe { ((*td).uc, (*td).saved_mask) = (old_uc, old_saved) };
    d.suspend_mask.store(old_suspend, Ordering::Relaxed);
    d.call_sp.store(old_call, Ordering::Relaxed);
    d.top.store(old_top, Ordering::Relaxed);
}

/// The app's handler per signal (1..=64), called by [`litebox_signal_wrapper`].
static APP_HANDLERS: [AtomicUsize; 65] = [const { AtomicUsize::new(0) }; 65];
/// The signals the app's handler for each signal blocks besides the interrupted mask (its
/// `sa_mask`, and the signal itself without SA_NODEFER; never SIGSYS).
static APP_HANDLER_MASKS: [AtomicU64; 65] = [const { AtomicU64::new(0) }; 65];

/// Records the app's handler for `sig` and the signals it blocks (`mask`, see
/// [`APP_HANDLER_MASKS`]); returns the handler to install on the host.
pub fn wrap_handler(sig: i32, handler: usize, mask: u64) -> usize {
    APP_HANDLER_MASKS[sig as usize].store(mask, Ordering::SeqCst);
    APP_HANDLERS[sig as usize].store(handler, Ordering::SeqCst);
    litebox_signal_wrapper as *const () as usize
}

/// Offset of the signal mask in the ucontext.
const UC_SIGMASK: usize = crate::signals::SIGMASK;

/// The mask the app's handler for `sig` runs with, as the kernel computes it: the mask in
/// force when the signal came and the handler's own (the host blocks every signal while an
/// SA_ONSTACK handler's frame is being moved, see signals.rs `app_sigaction`, so the wrapper
/// puts it in force itself). The mask in force is the kernel's ucontext's, except during the
/// app's `rt_sigsuspend` ([`FastData::suspend_mask`]) when `in_runtime`.
///
/// # Safety
/// `uc` must be the kernel's ucontext of the signal being handled.
unsafe fn handler_mask(d: &FastData, sig: i32, uc: usize, in_runtime: bool) -> u64 {
    let suspended = d.suspend_mask.load(Ordering::Relaxed);
    let interrupted = if in_runtime && suspended & crate::signals::SIGSYS_BIT != 0 {
        suspended
    } else {
        // SAFETY: per the contract.
        unsafe { core::ptr::read((uc + UC_SIGMASK) as *const u64) }
    };
    (interrupted | APP_HANDLER_MASKS[sig as usize].load(Ordering::Relaxed)) & !crate::signals::SIGSYS_BIT
}

/// Runs `f`, the host `rt_sigsuspend` of the app's call with `mask` (which it puts in force),
/// recorded for [`handler_mask`].
pub fn suspended_with<R>(mask: u64, f: impl FnOnce() -> R) -> R {
    let d = data();
    let outer = d.suspend_mask.swap(mask | crate::signals::SIGSYS_BIT, Ordering::Relaxed);
    compiler_fence(Ordering::SeqCst);
    let r = f();
    compiler_fence(Ordering::SeqCst);
    // A signal that ended the wait runs its handler at the call's exit, with this mask as the
    // one it interrupted ([`release_trapped`] clears it).
    if d.window.load(Ordering::Relaxed) != WINDOW_CUT {
        d.suspend_mask.store(outer, Ordering::Relaxed);
    }
    r
}

/// Calls the app's handler `h` where the wrapper runs, with the handler's mask in force (the
/// kernel put the host's in force: every signal blocked, for an SA_ONSTACK handler); the
/// wrapper's return puts the interrupted mask back.
///
/// # Safety
/// As [`run_on_app_stack`]'s.
unsafe fn run_here(d: &FastData, h: usize, sig: i32, info: usize, uc: usize) {
    // SAFETY: the caller's contract.
    let mask = unsafe { handler_mask(d, sig, uc, true) };
    sys::syscall6(sys::RT_SIGPROCMASK, sys::SIG_SETMASK, &mask as *const u64 as usize, 0, 8, 0, 0);
    // SAFETY: as in the wrapper's direct call.
    let f: extern "C" fn(i32, usize, usize) = unsafe { core::mem::transmute(h) };
    f(sig, info, uc);
}

/// Before an app handler runs at depth 0 while signals deferred by the call it interrupts are
/// still blocked (the few instructions between the call's [`leave`] and its release): takes
/// them over from that call, and returns them. They are cleared from the mask the interrupted
/// frame restores and so from the handler's mask, which the paths that run an SA_ONSTACK
/// handler put in force from `uc` (the direct call unblocks them itself): they are delivered
/// now, nested, as the kernel delivers every pending signal at once. Left to the call, the
/// handler's own calls would release them, and the interrupted frame's return then block them
/// again for good: pending, blocked, and no longer anyone's to release.
///
/// # Safety
/// `uc` must be the kernel's ucontext of the signal being handled.
unsafe fn adopt_deferred(d: &FastData, uc: usize) -> u64 {
    if d.deferred.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    let adopted = d.deferred.swap(0, Ordering::Relaxed) as u64;
    // SAFETY: per the contract.
    unsafe {
        let m = (uc + UC_SIGMASK) as *mut u64;
        core::ptr::write(m, core::ptr::read(m) & !adopted);
    }
    adopted
}

/// Marks the open window cut ([`WINDOW_CUT`]): its host call must end (`sys::window_syscall6`).
/// A thread this signal stopped inside the window gate before the host call (between its
/// check and the gate's `syscall`, or at that instruction: not yet executed, or rewound by the
/// kernel to restart the call it interrupted) resumes at the gate's skip, which returns
/// -ERESTARTSYS: the call is made again after the handler, as the kernel restarts one. A call
/// the signal interrupted while it waited has ended by the host's rule (EINTR without
/// SA_RESTART); one that completed keeps its result.
///
/// # Safety
/// `uc` must be the kernel's ucontext of the signal being handled, which interrupted this
/// thread inside a window.
unsafe fn cut_window(d: &FastData, uc: usize) {
    d.window.store(WINDOW_CUT, Ordering::Relaxed);
    let (check, after) =
        (sys::litebox_window_check as *const () as usize, sys::litebox_window_after as *const () as usize);
    let skip = sys::litebox_window_skip as *const () as usize;
    // SAFETY: the ucontext is the kernel's (the contract); a stack pointer at the gate's
    // syscall is the runtime's own stack, whose top word is the return address of its call.
    unsafe {
        let rip = core::ptr::read((uc + UC_RIP) as *const usize);
        if (check..after).contains(&rip) {
            core::ptr::write((uc + UC_RIP) as *mut usize, skip);
        } else if rip == sys::litebox_gate_syscall as *const () as usize {
            let sp = core::ptr::read((uc + UC_RSP) as *const usize);
            if core::ptr::read(sp as *const usize) == after {
                core::ptr::write((uc + UC_RIP) as *mut usize, skip);
                core::ptr::write((uc + UC_RSP) as *mut usize, sp + 8);
            }
        }
    }
}

/// Host handler for every signal the app handles: calls the app's handler, or defers the
/// signal while this thread is inside the runtime through the fast path or in a blocking
/// call's window (which it cuts: [`window_open`]).
extern "C" fn litebox_signal_wrapper(sig: i32, info: usize, uc: usize) {
    let d = data();
    let bit = 1u64 << ((sig - 1) & 63);
    let window = d.window.load(Ordering::Relaxed);
    if d.depth.load(Ordering::Relaxed) > 0 || window != WINDOW_NONE {
        // Keep it blocked from now until the fast path leaves the runtime, and queue it again
        // (to this thread, same siginfo) so it is pending then.
        sys::syscall6(sys::RT_SIGPROCMASK, sys::SIG_BLOCK, &bit as *const u64 as usize, 0, 8, 0, 0);
        // SAFETY: uc is the kernel's ucontext for this handler.
        unsafe {
            let m = (uc + UC_SIGMASK) as *mut u64;
            core::ptr::write(m, core::ptr::read(m) | bit);
        }
        d.deferred.fetch_or(bit as usize, Ordering::Relaxed);
        let (pid, tid) = (sys::syscall3(sys::GETPID, 0, 0, 0), sys::syscall3(sys::GETTID, 0, 0, 0));
        const RT_TGSIGQUEUEINFO: usize = 297;
        sys::syscall6(RT_TGSIGQUEUEINFO, pid as usize, tid as usize, sig as usize, info, 0, 0);
        if window != WINDOW_NONE {
            // SAFETY: uc is the kernel's ucontext for this handler.
            unsafe { cut_window(d, uc) };
        }
        return;
    }
    let h = APP_HANDLERS.get(sig as usize).map_or(0, |h| h.load(Ordering::SeqCst));
    if h <= 1 {
        return;
    }
    // SAFETY: uc is the kernel's ucontext for this handler.
    let adopted = unsafe { adopt_deferred(d, uc) };
    let onstack = ONSTACK.load(Ordering::Relaxed) & bit != 0;
    // SAFETY: uc is the kernel's ucontext for this handler.
    if unsafe { interrupted_runtime(d, uc) } {
        // Not on the runtime's stack: on the app's, as for a thread in the call.
        // SAFETY: the kernel's arguments and the app's handler for this signal.
        unsafe { run_for_call(d, h, sig, info, uc, onstack) };
        return;
    }
    if onstack {
        // SAFETY: the kernel's arguments and the app's handler for this signal.
        unsafe { run_on_app_stack(d, h, sig, uc) };
        return;
    }
    if adopted != 0 {
        sys::syscall6(sys::RT_SIGPROCMASK, sys::SIG_UNBLOCK, &adopted as *const u64 as usize, 0, 8, 0, 0);
    }
    // SAFETY: the app installed this address as its handler for `sig`; it gets the
    // arguments the kernel gave us, on the stack the kernel chose, as it would natively.
    let f: extern "C" fn(i32, usize, usize) = unsafe { core::mem::transmute(h) };
    f(sig, info, uc);
}
