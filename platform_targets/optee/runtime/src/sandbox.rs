//! Running TA code in this process: the signal handlers that serve the TA's system calls (each
//! one made from inside the TA window traps, see confine.rs) through the
//! OP-TEE North (and turn a TA's fault into a panic), and the small assembly trampoline that
//! enters the TA's entry point on its own stack and comes back when the TA calls
//! `_utee_return` / `_utee_panic` (which never return to the TA).

use std::cell::Cell;

use litebox_optee::sys::Outcome;

/// How an entry ended (the trampoline's return value: kind << 32 | code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Returned(u32),
    Panicked(u32),
    Faulted(u32),
}

const KIND_RETURN: u64 = 0;
const KIND_PANIC: u64 = 1;
const KIND_FAULT: u64 = 2;

/// What the signal handler serves a system call with; set by [`enter`] for its duration.
pub trait SyscallServer {
    /// Serves call `nr` with argument registers `args`.
    fn serve(&mut self, nr: u64, args: [u64; 8]) -> Outcome;
}

/// Callee-saved registers and the stack pointer of the host at entry (the trampoline's layout).
#[repr(C)]
#[derive(Default)]
struct Saved {
    regs: [u64; 7],
}

thread_local! {
    static CURRENT: Cell<Option<(*mut dyn SyscallServer, *mut Saved)>> = const { Cell::new(None) };
    static ALT_STACK: Cell<bool> = const { Cell::new(false) };
    /// Set while the SIGSYS handler serves a TA call (host code the host is responsible for).
    static SERVING: Cell<bool> = const { Cell::new(false) };
}

static mut WINDOW_BASE: u64 = 0;
static mut WINDOW_END: u64 = 0;

unsafe extern "C" {
    fn litebox_optee_enter(
        entry: u64,
        func: u64,
        session: u64,
        params: u64,
        cmd: u64,
        stack: u64,
        saved: *mut Saved,
    ) -> u64;
    fn litebox_optee_resume(saved: *mut Saved, outcome: u64) -> !;
}

core::arch::global_asm!(
    ".globl litebox_optee_enter",
    ".type litebox_optee_enter,@function",
    "litebox_optee_enter:",
    "mov rax, [rsp + 8]",
    "mov [rax + 0], rbx",
    "mov [rax + 8], rbp",
    "mov [rax + 16], r12",
    "mov [rax + 24], r13",
    "mov [rax + 32], r14",
    "mov [rax + 40], r15",
    "mov [rax + 48], rsp",
    "mov r11, rdi",
    "mov rsp, r9",
    "mov rbx, rax",
    "mov rdi, rsi",
    "mov rsi, rdx",
    "mov rdx, rcx",
    "mov rcx, r8",
    "xor ebp, ebp",
    "xor r8d, r8d",
    "xor r9d, r9d",
    "xor r10d, r10d",
    "xor r12d, r12d",
    "xor r13d, r13d",
    "xor r14d, r14d",
    "xor r15d, r15d",
    "call r11",
    // The entry function returned instead of calling _utee_return: its value is the result.
    "mov rdi, rbx",
    "mov esi, eax",
    "jmp litebox_optee_resume",
    ".globl litebox_optee_resume",
    ".type litebox_optee_resume,@function",
    "litebox_optee_resume:",
    "mov rbx, [rdi + 0]",
    "mov rbp, [rdi + 8]",
    "mov r12, [rdi + 16]",
    "mov r13, [rdi + 24]",
    "mov r14, [rdi + 32]",
    "mov r15, [rdi + 40]",
    "mov rsp, [rdi + 48]",
    "mov rax, rsi",
    "cld",
    "ret",
);

fn in_window(ip: u64) -> bool {
    // SAFETY: written once in `install` before any TA code runs, read-only afterwards.
    let (lo, hi) = unsafe { (WINDOW_BASE, WINDOW_END) };
    ip >= lo && ip < hi
}

/// Redirects the interrupted context to the trampoline's resume path with `outcome`.
///
/// # Safety
/// `uc` is the kernel's ucontext of a signal taken while TA code ran on this thread.
unsafe fn leave_ta(uc: *mut libc::ucontext_t, saved: *mut Saved, outcome: u64) {
    // SAFETY: the caller passes the live ucontext of this signal.
    let gregs = unsafe { &mut (*uc).uc_mcontext.gregs };
    gregs[libc::REG_RIP as usize] = litebox_optee_resume as *const () as usize as i64;
    gregs[libc::REG_RDI as usize] = saved as i64;
    gregs[libc::REG_RSI as usize] = outcome as i64;
}

extern "C" fn on_sigsys(_sig: i32, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let uc = ctx as *mut libc::ucontext_t;
    let Some((server, saved)) = CURRENT.with(Cell::get) else {
        // A trapped call with no TA running cannot happen; end the process rather than guess.
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(70) };
    };
    // SAFETY: `uc` is the ucontext the kernel passed to this handler.
    let gregs = unsafe { &mut (*uc).uc_mcontext.gregs };
    let r = |reg: i32| gregs[reg as usize] as u64;
    let nr = r(libc::REG_RAX);
    let args = [
        r(libc::REG_RDI),
        r(libc::REG_RSI),
        r(libc::REG_RDX),
        r(libc::REG_R10),
        r(libc::REG_R8),
        r(libc::REG_R9),
        r(libc::REG_R12),
        r(libc::REG_R13),
    ];
    SERVING.with(|c| c.set(true));
    // SAFETY: `server` was set by `enter` on this thread from a live &mut for the duration of
    // the TA call, and the TA (the only code running on this thread meanwhile) is stopped here.
    let outcome = unsafe { (*server).serve(nr, args) };
    SERVING.with(|c| c.set(false));
    match outcome {
        Outcome::Value(v) => gregs[libc::REG_RAX as usize] = v as i64,
        // SAFETY: the same ucontext, of a signal taken in TA code on this thread.
        Outcome::Return(code) => unsafe { leave_ta(uc, saved, (KIND_RETURN << 32) | u64::from(code)) },
        // SAFETY: as above.
        Outcome::Panic(code) => unsafe { leave_ta(uc, saved, (KIND_PANIC << 32) | u64::from(code)) },
    }
}

extern "C" fn on_fault(sig: i32, _info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let uc = ctx as *mut libc::ucontext_t;
    // SAFETY: `uc` is the ucontext the kernel passed to this handler.
    let ip = unsafe { (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] } as u64;
    // A fault while a TA entry runs on this thread and the host is not serving one of its
    // calls is the TA's: in its own code, or in host code it jumped into (or at an address it
    // made up). A fault while serving is the host's own.
    let ta_running = !SERVING.with(Cell::get) || in_window(ip);
    match CURRENT.with(Cell::get) {
        // SAFETY: a fault of the TA on this thread while `enter` runs: leave the TA.
        Some((_, saved)) if ta_running => unsafe { leave_ta(uc, saved, (KIND_FAULT << 32) | sig as u64) },
        _ => {
            // A fault in the host itself: die of it as if no handler were installed.
            // SAFETY: resetting the disposition and re-raising are async-signal-safe.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                libc::raise(sig);
            }
        }
    }
}

fn handler(sig: i32, f: extern "C" fn(i32, *mut libc::siginfo_t, *mut libc::c_void)) -> Result<(), String> {
    // SAFETY: a zeroed sigaction is a valid starting point; the fields are then set.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = f as usize;
    sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: installs a handler that only touches this thread's TA state.
    if unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) } != 0 {
        return Err(format!("cannot install a signal handler: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// Installs the signal handlers for TA window `[base, base + size)`: SIGSYS serves the TA's
/// system calls (trapped by the filter confine.rs installs), faults in the window end the TA.
/// Call once, before any thread that runs TA code starts.
pub fn install(base: u64, size: u64) -> Result<(), String> {
    // SAFETY: single-threaded start-up; nothing reads these before TA code runs.
    unsafe {
        WINDOW_BASE = base;
        WINDOW_END = base + size;
    }
    handler(libc::SIGSYS, on_sigsys)?;
    for sig in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGTRAP] {
        handler(sig, on_fault)?;
    }
    Ok(())
}

fn ensure_alt_stack() -> Result<(), String> {
    if ALT_STACK.with(Cell::get) {
        return Ok(());
    }
    const SIZE: usize = 1 << 20;
    // SAFETY: a fresh anonymous mapping, kept for the thread's life as its signal stack.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            SIZE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err("cannot map a signal stack".into());
    }
    let ss = libc::stack_t { ss_sp: p, ss_flags: 0, ss_size: SIZE };
    // SAFETY: `ss` describes the mapping just made.
    if unsafe { libc::sigaltstack(&ss, std::ptr::null_mut()) } != 0 {
        return Err(format!("cannot set the signal stack: {}", std::io::Error::last_os_error()));
    }
    ALT_STACK.with(|c| c.set(true));
    Ok(())
}

/// Runs the TA's entry point `entry(func, session, params, cmd)` on `stack` until it returns,
/// panics or faults; its system calls are served by `server` meanwhile.
pub fn enter(server: &mut dyn SyscallServer, entry: u64, args: [u64; 4], stack: u64) -> Result<Exit, String> {
    ensure_alt_stack()?;
    let mut saved = Saved::default();
    // SAFETY: erasing the lifetime; the pointer is cleared below before `server` goes away.
    let server: *mut (dyn SyscallServer + 'static) = unsafe { std::mem::transmute(server as *mut dyn SyscallServer) };
    CURRENT.with(|c| c.set(Some((server, &mut saved as *mut Saved))));
    // SAFETY: `entry` and `stack` come from the loader (inside the TA window, mapped); the
    // trampoline saves and restores every callee-saved register and the stack pointer.
    let raw = unsafe { litebox_optee_enter(entry, args[0], args[1], args[2], args[3], stack, &mut saved) };
    CURRENT.with(|c| c.set(None));
    let code = raw as u32;
    Ok(match raw >> 32 {
        KIND_RETURN => Exit::Returned(code),
        KIND_PANIC => Exit::Panicked(code),
        _ => Exit::Faulted(code),
    })
}
