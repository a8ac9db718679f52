//! The seccomp filter, in two layers evaluated by one BPF program:
//!
//! 1. **Interception.** A syscall whose instruction pointer is not the gate's (every syscall of
//!    the app and its libraries) is not executed: it traps (SIGSYS, `SECCOMP_RET_DATA` 0) into
//!    the library OS.
//! 2. **The gate allow-list.** A syscall issued from the gate is executed only if it is one the
//!    runtime itself needs ([`ALLOWED`]), and for a few with the arguments checked
//!    ([`checked`]). Anything else traps with a non-zero rule number in `SECCOMP_RET_DATA`; the
//!    SIGSYS handler then answers `EPERM` without serving it and logs the rule
//!    ([`rule_name`]). App code that jumps to the gate's `syscall` instruction is therefore held
//!    to the same list as the runtime.
//!
//! A foreign architecture or an x32 number kills the process. Both layers are in one program
//! (one filter run per syscall instead of two) installed as the very last step before the app
//! starts, after the runtime opened everything it needs; fork children inherit it, and execve is
//! emulated in place, so it is never installed twice.
use crate::sys::{self, check};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

/// Rule numbers carried in `SECCOMP_RET_DATA` (and so in the SIGSYS `si_errno`) when a gate
/// call is refused. 0 means "an app syscall to serve".
pub const RULE_NOT_LISTED: u32 = 1;
pub const RULE_CLONE_NS: u32 = 2;
pub const RULE_SOCKET_DOMAIN: u32 = 3;
pub const RULE_IOCTL: u32 = 4;
pub const RULE_OPEN_WRITE: u32 = 5;
pub const RULE_ARCH_PRCTL: u32 = 6;

/// The rule a refused gate call broke, for the debug log.
pub fn rule_name(rule: u32) -> &'static [u8] {
    match rule {
        RULE_NOT_LISTED => b"gate allow-list: syscall not needed by the runtime",
        RULE_CLONE_NS => b"gate allow-list: clone with CLONE_NEW* flags",
        RULE_SOCKET_DOMAIN => b"gate allow-list: socket domain other than AF_UNIX",
        RULE_IOCTL => b"gate allow-list: terminal ioctl (TIOCSTI/TIOCLINUX/TIOCCONS/TIOCSETD)",
        RULE_OPEN_WRITE => b"gate allow-list: openat for writing or creating",
        RULE_ARCH_PRCTL => b"gate allow-list: arch_prctl code",
        _ => b"gate allow-list",
    }
}

#[repr(C)]
#[derive(Clone, Copy)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

const fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter { code, jt: 0, jf: 0, k }
}
const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}
/// Loads the low 32 bits of syscall argument `i` (`struct seccomp_data`: args at 16).
const fn ld_arg(i: u32) -> SockFilter {
    stmt(LD_W_ABS, 16 + 8 * i)
}
const fn deny(rule: u32) -> SockFilter {
    stmt(RET_K, RET_TRAP | rule)
}

/// Host syscalls the runtime issues from the gate after start-up, without argument checks,
/// the most frequent first (the filter tests them in order). Forwarded calls of the app
/// (host.rs: `host_fd_call`, `signal_call`, `process_call`, `thread_call`) are exactly the
/// numbers those functions match; socket calls are for the network policy.
pub const ALLOWED: &[u32] = &[
    202, // futex
    14,  // rt_sigprocmask
    0,   // read
    1,   // write
    15,  // rt_sigreturn (the restorer)
    39,  // getpid
    186, // gettid
    9,   // mmap
    11,  // munmap
    10,  // mprotect
    228, // clock_gettime
    17,  // pread64
    18,  // pwrite64
    3,   // close
    5,   // fstat
    8,   // lseek
    7,   // poll
    72,  // fcntl
    13,  // rt_sigaction
    131, // sigaltstack
    25,  // mremap
    28,  // madvise
    35,  // nanosleep
    219, // restart_syscall (an interrupted nanosleep/futex restarted by the kernel)
    318, // getrandom
    437, // openat2 (writable layer and mounts, RESOLVE_BENEATH)
    258, // mkdirat
    262, // newfstatat
    263, // unlinkat
    264, // renameat
    266, // symlinkat
    267, // readlinkat
    217, // getdents64
    73,  // flock
    74,  // fsync
    75,  // fdatasync
    77,  // ftruncate
    91,  // fchmod
    293, // pipe2
    291, // epoll_create1
    233, // epoll_ctl
    232, // epoll_wait
    290, // eventfd2
    283, // timerfd_create
    286, // timerfd_settime
    287, // timerfd_gettime
    61,  // wait4
    247, // waitid
    62,  // kill (Landlock's signal scope keeps it inside the app, where available)
    234, // tgkill
    129, // rt_sigqueueinfo
    297, // rt_tgsigqueueinfo
    127, // rt_sigpending
    130, // rt_sigsuspend
    34,  // pause
    37,  // alarm
    36,  // getitimer
    38,  // setitimer
    218, // set_tid_address
    273, // set_robust_list
    110, // getppid
    102, // getuid
    104, // getgid
    60,  // exit
    231, // exit_group
    // Sockets: the calls on sockets the sandbox holds. connect, bind and listen are not here:
    // the supervisor makes them (broker.rs), after checking the policy.
    43,  // accept
    288, // accept4
    44,  // sendto
    45,  // recvfrom
    46,  // sendmsg
    47,  // recvmsg
    299, // recvmmsg
    307, // sendmmsg
    48,  // shutdown
    51,  // getsockname
    52,  // getpeername
    54,  // setsockopt
    55,  // getsockopt
];

/// Flags that ask clone for new namespaces (NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
/// NEWNET); the kernel reads only the low 32 bits of clone's flags.
const CLONE_NEW_MASK: u32 = 0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;
/// O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | __O_TMPFILE: after start-up the runtime
/// opens host paths with openat only to read (the writable layer goes through openat2).
const OPEN_WRITE_MASK: u32 = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000 | 0o20000000;
/// Terminal ioctls that reach beyond the process: TIOCSTI (push input into the terminal),
/// TIOCCONS, TIOCLINUX, TIOCSETD.
const IOCTL_DENIED: [u32; 4] = [0x5412, 0x541d, 0x541c, 0x5423];

/// Syscalls allowed from the gate only with their arguments checked: `(nr, block)` where the
/// block starts with the argument in A unloaded and ends in a return on every path.
fn checked() -> [(u32, alloc::vec::Vec<SockFilter>); 6] {
    use alloc::vec;
    let allow = stmt(RET_K, RET_ALLOW);
    let mut ioctl = vec![ld_arg(1)];
    let m = IOCTL_DENIED.len() as u8;
    for (i, &cmd) in IOCTL_DENIED.iter().enumerate() {
        // From block position i+1, the deny is at m+2: skip (m+2) - (i+1) - 1.
        ioctl.push(jump(JEQ_K, cmd, m - i as u8, 0));
    }
    ioctl.push(allow);
    ioctl.push(deny(RULE_IOCTL));
    [
        // clone (56): threads and forks, never new namespaces. clone3 is not on the list at all
        // (its flags are in memory, out of BPF's reach; the runtime does not use it).
        (56, vec![ld_arg(0), jump(JSET_K, CLONE_NEW_MASK, 0, 1), deny(RULE_CLONE_NS), allow]),
        // socket (41): AF_UNIX only. Every IP socket is made by the supervisor (broker.rs),
        // and a UDP one is never handed over at all (udprelay.rs).
        (41, vec![ld_arg(0), jump(JEQ_K, 1, 1, 0), deny(RULE_SOCKET_DOMAIN), allow]),
        // socketpair (53): AF_UNIX only.
        (53, vec![ld_arg(0), jump(JEQ_K, 1, 1, 0), deny(RULE_SOCKET_DOMAIN), allow]),
        (16, ioctl),
        // openat (257): read-only opens (the writable layer's GC and removal at exit).
        (257, vec![ld_arg(2), jump(JSET_K, OPEN_WRITE_MASK, 0, 1), deny(RULE_OPEN_WRITE), allow]),
        // arch_prctl (158): ARCH_SET_GS (the runtime's per-thread data), ARCH_SET_FS and
        // ARCH_GET_FS (the app's TLS); never ARCH_MAP_VDSO_*, ARCH_SET_CPUID, ...
        (158, vec![ld_arg(0), jump(JEQ_K, 0x1001, 3, 0), jump(JEQ_K, 0x1002, 2, 0), jump(JEQ_K, 0x1003, 1, 0), deny(RULE_ARCH_PRCTL), allow]),
    ]
}

/// The whole BPF program for a gate whose return address is `gate`.
fn program(gate: u64) -> alloc::vec::Vec<SockFilter> {
    let mut p = alloc::vec![
        stmt(LD_W_ABS, 4),                          // arch
        jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, 0),                          // nr
        jump(JGE_K, 0x4000_0000, 0, 1),             // x32 ABI
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, 8),                          // instruction_pointer, low word
        jump(JEQ_K, gate as u32, 1, 0),
        stmt(RET_K, RET_TRAP),                      // layer 1: the app's syscall, emulated
        stmt(LD_W_ABS, 12),                         // high word
        jump(JEQ_K, (gate >> 32) as u32, 1, 0),
        stmt(RET_K, RET_TRAP),
        stmt(LD_W_ABS, 0),                          // layer 2: the gate's allow-list
    ];
    for &nr in ALLOWED {
        p.push(jump(JEQ_K, nr, 0, 1));
        p.push(stmt(RET_K, RET_ALLOW));
    }
    for (nr, block) in checked() {
        p.push(jump(JEQ_K, nr, 0, block.len() as u8));
        p.extend_from_slice(&block);
    }
    p.push(deny(RULE_NOT_LISTED));
    p
}

/// Sets PR_SET_NO_NEW_PRIVS (needed by the filter and by Landlock).
pub fn no_new_privs() -> Result<(), i32> {
    const PR_SET_NO_NEW_PRIVS: usize = 38;
    check(sys::syscall6(sys::PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0)).map(|_| ())
}

/// Installs the filter (after PR_SET_NO_NEW_PRIVS). From here on only the gate reaches the
/// host, and only with the calls on its allow-list.
pub fn install() -> Result<(), i32> {
    let gate = sys::litebox_gate_ret as *const () as usize as u64;
    let prog = program(gate);
    let fprog = SockFprog { len: prog.len() as u16, filter: prog.as_ptr() };
    no_new_privs()?;
    const SECCOMP_SET_MODE_FILTER: usize = 1;
    // SPEC_ALLOW: on hosts whose spec_store_bypass_disable mode is `seccomp`, installing a
    // filter would also turn on the Speculative Store Bypass mitigation for the whole process,
    // slowing the app's own code. It protects nothing here: the app and the runtime share one
    // address space, which the app can read architecturally anyway.
    const SECCOMP_FILTER_FLAG_SPEC_ALLOW: usize = 1 << 2;
    let fp = &fprog as *const SockFprog as usize;
    check(sys::syscall3(sys::SECCOMP, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, fp))
        .or_else(|_| check(sys::syscall3(sys::SECCOMP, SECCOMP_SET_MODE_FILTER, 0, fp)))
        .map(|_| ())
}
