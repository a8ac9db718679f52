//! Confining the TA host after set-up, in two layers (docs/security.md, "optee"):
//!
//! 1. **One seccomp filter.** A system call made from inside the TA window traps (SIGSYS) and
//!    is served by the OP-TEE North as a utee call: TA code never reaches Linux directly. A
//!    call made from anywhere else (the host's own code, or TA code that jumped into it) runs
//!    only if it is on [`HOST_CALLS`], the calls this host needs after set-up (the socket it
//!    serves, the storage directory, clocks, random numbers, memory, threads), some with their
//!    arguments held to exact values; any other call fails with `EPERM` (`clone3` with
//!    `ENOSYS`, so threads are made with `clone`, whose flags BPF can check). No `socket`,
//!    `connect`, `bind`, `execve`, `ptrace`, `kill`... A foreign architecture or an x32 number
//!    kills the process.
//! 2. **Landlock** (shared with linux-userland through `litebox-confine`): the file system is
//!    reduced to the storage directory (read, write, create, remove, rename beneath it); no TCP
//!    bind or connect, abstract Unix sockets and signals scoped to the process, where the
//!    kernel's ABI has them. Descriptors opened before (the listening socket, stdio) stay usable.
//!
//! Both are applied by [`lock_down`] once, on the main thread, after the socket is listening
//! and before any TA code runs or any thread starts, so every thread inherits them.
use std::os::fd::AsRawFd;
use std::path::Path;

use litebox_confine::bpf::{
    jump, stmt, Block, SockFilter, SockFprog, To, AUDIT_ARCH_X86_64, DATA_ARCH, DATA_IP_HI, DATA_IP_LO, DATA_NR, JEQ_K,
    JGE_K, LD_W_ABS, RET_ALLOW, RET_ERRNO, RET_K, RET_KILL_PROCESS, RET_TRAP,
};
use litebox_confine::landlock::{Ruleset, EXECUTE, MAKE_BLOCK, MAKE_CHAR};

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;
const SIGSYS: u32 = 31;

/// How one host call's arguments are checked.
#[derive(Clone, Copy)]
enum Check {
    /// Any arguments.
    Any,
    /// A block (given the host's pid) that ends in a return on every path.
    Args(fn(u32) -> Block),
    /// Never run; fail with this errno.
    Fail(u32),
}
use Check::{Any, Args, Fail};

/// Every host call the TA host makes after [`lock_down`] (std, glibc and this crate: found
/// with strace over the examples' command lists and served sessions), with its check.
const HOST_CALLS: &[(u32, Check)] = &[
    (0, Any),                 // read
    (1, Any),                 // write
    (3, Any),                 // close
    (5, Any),                 // fstat
    (7, Any),                 // poll
    (8, Any),                 // lseek
    (9, Any),                 // mmap
    (10, Any),                // mprotect
    (11, Any),                // munmap
    (12, Any),                // brk
    (13, Args(rt_sigaction)), // rt_sigaction: never SIGSYS
    (14, Any),                // rt_sigprocmask
    (15, Any),                // rt_sigreturn
    (17, Any),                // pread64
    (18, Any),                // pwrite64
    (19, Any),                // readv
    (20, Any),                // writev
    (24, Any),                // sched_yield
    (25, Any),                // mremap
    (28, Any),                // madvise
    (35, Any),                // nanosleep (TEE_Wait)
    (39, Any),                // getpid
    (43, Any),                // accept (the listening socket, made before)
    (44, Any),                // sendto (replies on accepted connections)
    (45, Any),                // recvfrom
    (46, Any),                // sendmsg
    (47, Any),                // recvmsg
    (48, Any),                // shutdown
    (51, Any),                // getsockname
    (56, Args(clone)),        // clone: threads, never new namespaces nor CLONE_PARENT
    (60, Any),                // exit
    (72, Args(fcntl)),        // fcntl: descriptor flags only
    (74, Any),                // fsync (storage)
    (75, Any),                // fdatasync
    (77, Any),                // ftruncate
    (82, Any),                // rename (storage, beneath the directory: Landlock)
    (83, Any),                // mkdir
    (86, Any),                // link
    (87, Any),                // unlink
    (96, Any),                // gettimeofday (vDSO fallback)
    (131, Any),               // sigaltstack
    (186, Any),               // gettid
    (201, Any),               // time
    (202, Any),               // futex
    (204, Any),               // sched_getaffinity
    (217, Any),               // getdents64 (storage enumeration)
    (218, Any),               // set_tid_address
    (219, Any),               // restart_syscall
    (228, Any),               // clock_gettime
    (230, Any),               // clock_nanosleep
    (231, Any),               // exit_group
    (234, Args(tgkill)),      // tgkill: this process only (abort)
    (257, Any),               // openat (Landlock: the storage directory only)
    (258, Any),               // mkdirat
    (262, Any),               // newfstatat
    (263, Any),               // unlinkat
    (264, Any),               // renameat
    (265, Any),               // linkat
    (271, Any),               // ppoll
    (273, Any),               // set_robust_list
    (288, Any),               // accept4
    (316, Any),               // renameat2
    (318, Any),               // getrandom
    (332, Any),               // statx
    (334, Any),               // rseq
    (435, Fail(ENOSYS)),      // clone3: its flags are in memory, out of BPF's reach; glibc falls back to clone
];

fn refusing() -> Block {
    Block::refusing_with(RET_ERRNO)
}

fn rt_sigaction(_pid: u32) -> Block {
    let mut b = refusing();
    b.arg(0).jeq(SIGSYS, To::Deny(EPERM), To::Allow);
    b
}

/// CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET and CLONE_PARENT.
const CLONE_REFUSED: u32 =
    0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000 | 0x8000;

fn clone(_pid: u32) -> Block {
    let mut b = refusing();
    b.arg(0).jset(CLONE_REFUSED, To::Deny(EPERM), To::Allow);
    b
}

/// F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC.
fn fcntl(_pid: u32) -> Block {
    let mut b = refusing();
    b.arg(1).one_of(&[0, 1, 2, 3, 4, 1030], To::Allow).ret(To::Deny(EPERM));
    b
}

fn tgkill(pid: u32) -> Block {
    let mut b = refusing();
    b.arg(0).jeq(pid, To::Allow, To::Deny(EPERM));
    b
}

/// The whole BPF program: TA window `[base, base + size)` (base 4 GiB-aligned, size < 4 GiB)
/// traps, everything else is held to [`HOST_CALLS`]; `pid` is this process's id.
fn program(base: u64, size: u64, pid: u32) -> Result<Vec<SockFilter>, String> {
    let mut p = vec![
        stmt(LD_W_ABS, DATA_ARCH),
        jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, DATA_NR),
        jump(JGE_K, 0x4000_0000, 0, 1), // x32 ABI
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, DATA_IP_HI),
        jump(JEQ_K, (base >> 32) as u32, 0, 3), // not the window's 4 GiB: a host call
        stmt(LD_W_ABS, DATA_IP_LO),
        jump(JGE_K, size as u32, 1, 0), // past the window: a host call
        stmt(RET_K, RET_TRAP),          // TA code: a utee call for the North
        stmt(LD_W_ABS, DATA_NR),
    ];
    for &(nr, check) in HOST_CALLS {
        match check {
            Any => {
                p.push(jump(JEQ_K, nr, 0, 1));
                p.push(stmt(RET_K, RET_ALLOW));
            }
            Fail(errno) => {
                p.push(jump(JEQ_K, nr, 0, 1));
                p.push(stmt(RET_K, RET_ERRNO | errno));
            }
            Args(f) => {
                let block = f(pid).build().ok_or("seccomp: a jump of the host filter is out of range")?;
                let len = u8::try_from(block.len()).map_err(|_| "seccomp: a checked call's block is too long")?;
                p.push(jump(JEQ_K, nr, 0, len));
                p.extend_from_slice(&block);
            }
        }
    }
    p.push(stmt(RET_K, RET_ERRNO | EPERM));
    Ok(p)
}

/// A raw host system call through libc, in the kernel's convention (negative errno).
fn host_syscall(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> isize {
    // SAFETY: a plain system call; each caller (litebox-confine's Landlock calls) passes
    // pointers valid for its call.
    let r = unsafe { libc::syscall(nr as libc::c_long, a0, a1, a2, a3, a4, a5) };
    if r == -1 {
        -(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EPERM) as isize)
    } else {
        r as isize
    }
}

/// What [`lock_down`] applied, for the start-up line.
pub struct Applied {
    /// The Landlock ABI in force, or why there is none (the errno).
    pub landlock: Result<i64, i32>,
}

/// Reduces the file system to `storage` (if any) with Landlock, then installs the filter for
/// TA window `[base, base + size)`. Promises: on Ok, every later system call of every thread
/// is held to the two layers (Landlock missing from the kernel is reported, not an error);
/// on Err, a one-line reason (the host must not serve then).
pub fn lock_down(base: u64, size: u64, storage: Option<&Path>) -> Result<Applied, String> {
    // SAFETY: prctl with valid arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(format!("cannot set no_new_privs: {}", std::io::Error::last_os_error()));
    }
    let landlock = landlock(storage)?;
    let prog = program(base, size, std::process::id())?;
    let fprog = SockFprog { len: prog.len() as u16, filter: prog.as_ptr() };
    // SAFETY: prctl with valid arguments; the kernel copies the filter.
    if unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog as *const _ as usize, 0, 0) } != 0 {
        return Err(format!("cannot install the seccomp filter: {}", std::io::Error::last_os_error()));
    }
    Ok(Applied { landlock })
}

/// Landlock: the storage directory only. Ok(ABI) when applied, Ok(Err(errno)) when the kernel
/// has no Landlock (ENOSYS, EOPNOTSUPP); any other failure is an error.
fn landlock(storage: Option<&Path>) -> Result<Result<i64, i32>, String> {
    let ruleset = match Ruleset::create(host_syscall) {
        Ok(r) => r,
        Err(e) if e == libc::ENOSYS || e == libc::EOPNOTSUPP => return Ok(Err(e)),
        Err(e) => return Err(format!("landlock: cannot create a rule set: errno {e}")),
    };
    let dir_rw = ruleset.all & !(EXECUTE | MAKE_CHAR | MAKE_BLOCK);
    let result = (|| {
        if let Some(dir) = storage {
            let f = std::fs::File::open(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            ruleset.add_path(f.as_raw_fd(), dir_rw).map_err(|e| format!("landlock: {}: errno {e}", dir.display()))?;
        }
        ruleset.restrict().map_err(|e| format!("landlock: cannot restrict the TA host: errno {e}"))
    })();
    let abi = ruleset.abi;
    ruleset.close();
    result.map(|_| Ok(abi))
}
