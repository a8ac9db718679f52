//! The sandbox's network namespace, made on another CPU while init forks the app's first
//! process and builds the private root (supervisor.rs `init`).
//!
//! Making a network namespace is the costliest step of a start (about 0.4 ms of kernel work:
//! the loopback device, the per-namespace sysctl tables). Init used to make it after the fork,
//! so that it overlapped the app's loading, but it then also came after the fork and the root:
//! the app's first process, loaded, waited for it. Now init's first act is to start a
//! *maker*: a process that shares init's memory (`CLONE_VM`: no page tables to copy, about as
//! cheap as a thread), makes the namespace (`unshare(CLONE_NEWNET)`), reports on a pipe and
//! waits. Init joins the namespace once the root is built ([`Maker::join`]: `setns` through a
//! pidfd), kills the maker and reaps it, all before it lets the app's first process go on; that
//! one joins init's namespace as before. The maker runs no app code, holds nothing but the
//! pipe, and is gone before any app code runs.
//!
//! The maker is pid [`MAKER_PID`] of the sandbox's pid namespace (clone3 `set_tid`), so that
//! the app's first process stays pid 2. Where clone3 or `set_tid` is refused (kernels before
//! 5.5), init makes the namespace itself, as before.
use core::arch::global_asm;

use crate::sys::{self, check};

const CLONE3: usize = 435;
const UNSHARE: usize = 272;
const SETNS: usize = 308;
const PIDFD_OPEN: usize = 434;
const KILL: usize = 62;
const WAIT4: usize = 61;
const PAUSE: usize = 34;
const MUNMAP: usize = 11;
const MADVISE: usize = 28;
const MADV_DONTFORK: usize = 10;
const CLONE_VM: u64 = 0x100;
const CLONE_NEWNET: usize = 0x4000_0000;
const SIGCHLD: u64 = 17;
const SIGKILL: usize = 9;
const WALL: usize = 0x4000_0000;

/// The maker's pid in the sandbox's pid namespace: below every kernel's smallest `pid_max`
/// (301), and never one the sandbox's first processes get (init 1, the app's first process 2).
pub const MAKER_PID: i32 = 300;
/// The maker's stack: it makes three calls, a few hundred bytes deep.
const STACK: usize = 16 << 10;

/// `struct clone_args` (clone3), up to `set_tid_size` (CLONE_ARGS_SIZE_VER1).
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
}

/// A running maker, in init.
pub struct Maker {
    /// Read end of the pipe on which the maker sends 0 or the errno of its `unshare`.
    report: i32,
    /// Its stack (`STACK` bytes), unmapped once it is reaped.
    stack: usize,
}

global_asm!(
    // The maker's first instruction: the gate's `ret` in the new process pops this address
    // from the top of its stack; the word above it is the pipe's write end.
    ".globl litebox_netmaker_entry",
    "litebox_netmaker_entry:",
    "    mov rdi, [rsp]",
    "    and rsp, -16",
    "    call litebox_netmaker_run",
    "    ud2",
);

extern "C" {
    fn litebox_netmaker_entry();
}

/// The maker's life: makes the namespace, says how that went, and waits to be killed. It only
/// uses its own stack and the gate (it shares init's memory: no allocation, no lock).
#[no_mangle]
extern "C" fn litebox_netmaker_run(report: usize) -> ! {
    let r = sys::syscall3(UNSHARE, CLONE_NEWNET, 0, 0);
    let b = [if r < 0 { (-r).clamp(1, 255) as u8 } else { 0 }];
    sys::syscall3(sys::WRITE, report, b.as_ptr() as usize, 1);
    loop {
        sys::syscall3(PAUSE, 0, 0, 0);
    }
}

/// In init, first thing (it needs `CAP_SYS_ADMIN` in the sandbox's user namespace, and no id
/// map): starts the maker. None when it could not be started; init then makes the namespace
/// itself.
pub fn start() -> Option<Maker> {
    const MAP_PRIVATE_ANON: usize = 0x02 | 0x20;
    let mut fds = [0i32; 2];
    check(sys::syscall3(sys::PIPE2, fds.as_mut_ptr() as usize, 0o2000000, 0)).ok()?;
    let [report, tell] = fds;
    let close_all = |stack: Option<usize>| {
        sys::syscall3(sys::CLOSE, report as usize, 0, 0);
        sys::syscall3(sys::CLOSE, tell as usize, 0, 0);
        if let Some(at) = stack {
            sys::syscall3(MUNMAP, at, STACK, 0);
        }
    };
    let Ok(stack) = check(sys::syscall6(sys::MMAP, 0, STACK, 3, MAP_PRIVATE_ANON, usize::MAX, 0)) else {
        close_all(None);
        return None;
    };
    // Not copied into the app's first process; and so never write-protected by its fork,
    // which would leave the maker waiting on a copy-on-write fault while the fork holds init's
    // memory.
    sys::syscall3(MADVISE, stack, STACK, MADV_DONTFORK);
    let top = stack + STACK - 16;
    // SAFETY: `top` and `top + 8` lie in the STACK bytes just mapped read-write, which nothing
    // else uses; the writes also fault in the top page before the maker runs on it.
    unsafe {
        core::ptr::write(top as *mut usize, litebox_netmaker_entry as *const () as usize);
        core::ptr::write((top + 8) as *mut usize, tell as usize);
    }
    let tid = [MAKER_PID];
    let args = CloneArgs {
        flags: CLONE_VM,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: SIGCHLD,
        stack: stack as u64,
        // The new process's stack pointer is stack + stack_size: `top`.
        stack_size: (STACK - 16) as u64,
        tls: 0,
        set_tid: tid.as_ptr() as u64,
        set_tid_size: 1,
    };
    // The maker resumes at `litebox_netmaker_entry` (never here); only init returns.
    match check(sys::syscall3(CLONE3, &args as *const CloneArgs as usize, core::mem::size_of::<CloneArgs>(), 0)) {
        Ok(_) => {
            sys::syscall3(sys::CLOSE, tell as usize, 0, 0);
            Some(Maker { report, stack })
        }
        Err(_) => {
            close_all(Some(stack));
            None
        }
    }
}

impl Maker {
    /// In the app's first process, right after init's fork: drops its copy of the report pipe.
    pub fn forget(&self) {
        sys::syscall3(sys::CLOSE, self.report as usize, 0, 0);
    }

    /// In init, once the root is built: waits for the maker's namespace, moves init into it,
    /// then kills and reaps the maker. Returns 0, or the errno that kept init out of a network
    /// namespace of its own (the maker's `unshare`, or the `setns`).
    pub fn join(self) -> u8 {
        let mut b = [0u8; 1];
        let made = loop {
            match check(sys::syscall3(sys::READ, self.report as usize, b.as_mut_ptr() as usize, 1)) {
                Err(4) => continue,
                Ok(1) => break b[0],
                _ => break 5, // EIO: the maker ended without a word
            }
        };
        let joined = if made != 0 {
            made
        } else {
            match check(sys::syscall3(PIDFD_OPEN, MAKER_PID as usize, 0, 0)) {
                Ok(pidfd) => {
                    let r = check(sys::syscall3(SETNS, pidfd, CLONE_NEWNET, 0));
                    sys::syscall3(sys::CLOSE, pidfd, 0, 0);
                    r.map_or_else(|e| e.clamp(1, 255) as u8, |_| 0)
                }
                Err(e) => e.clamp(1, 255) as u8,
            }
        };
        sys::syscall3(KILL, MAKER_PID as usize, SIGKILL, 0);
        let mut st = 0i32;
        while check(sys::syscall6(WAIT4, MAKER_PID as usize, &mut st as *mut i32 as usize, WALL, 0, 0, 0)) == Err(4) {}
        sys::syscall3(sys::CLOSE, self.report as usize, 0, 0);
        sys::syscall3(MUNMAP, self.stack, STACK, 0);
        joined
    }
}
