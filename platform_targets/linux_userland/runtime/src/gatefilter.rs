//! The gate's seccomp program, generated from the allow-list [`GATE`]: a pure function of the
//! gate's address and the sandbox's shape, with no system calls, so that it can be tested on its
//! own (tests/gate_filter.rs evaluates it against a linear reading of the same list) and reused
//! by any host that installs the same gate.
//!
//! Layout of the program, in the order the kernel runs it:
//!
//! 0. a load of the instruction pointer that decides nothing: it stops the kernel's
//!    install-time emulation of the program at once ([`program`]);
//! 1. the architecture (anything but x86-64 kills the process) and the x32 bit (kills);
//! 2. the instruction pointer: a call not issued from the gate (the app's own) traps
//!    (`SECCOMP_RET_DATA` 0) into the library OS, after four loads and compares;
//! 3. the gate's allow-list, by windows of 32 syscall numbers ([`search`]): X is set to
//!    `1 << (nr % 32)` once, a balanced binary search on the number picks the window (a stretch
//!    of windows with nothing listed is one not-listed return), the window's checked numbers
//!    jump to their argument blocks, and one `jset` of X against the window's mask allows
//!    every call of the window that is listed with any arguments. The argument blocks follow
//!    the search, one per distinct block (socket and socketpair share theirs, sendto and
//!    sendmmsg too), and every path ends in one of the program's shared returns (one `allow`,
//!    one trap per rule, one kill): the kernel checks and JIT-compiles the program at every
//!    start in time linear in its length (about 0.1-0.2 µs an instruction here), and every
//!    host call of the runtime runs it.
//!
//! A call the list does not name, or whose arguments break its rule, traps with the rule number
//! in `SECCOMP_RET_DATA` (see seccomp.rs for what the SIGSYS handler does with it).
use alloc::vec::Vec;

pub use litebox_confine::bpf::{
    stmt, Block, SockFilter, To, AND_K, AUDIT_ARCH_X86_64, JGE_K, LD_W_ABS, RET_K, RET_KILL_PROCESS,
};

/// A generated program that cannot be expressed (a jump too long for BPF): a bug in the tables.
pub type FilterError = &'static [u8];

/// Rule numbers carried in `SECCOMP_RET_DATA` (and so in the SIGSYS `si_errno`) when a gate
/// call is refused. 0 means "an app syscall to serve".
pub const RULE_NOT_LISTED: u32 = 1;
pub const RULE_CLONE_NS: u32 = 2;
pub const RULE_SOCKET: u32 = 3;
pub const RULE_IOCTL: u32 = 4;
pub const RULE_OPEN_WRITE: u32 = 5;
pub const RULE_ARCH_PRCTL: u32 = 6;
pub const RULE_FCNTL: u32 = 7;
pub const RULE_SIGACTION: u32 = 8;
pub const RULE_CLONE_PARENT: u32 = 9;
pub const RULE_FASTOPEN: u32 = 10;
pub const RULE_MKNOD: u32 = 11;
pub const RULE_PRLIMIT: u32 = 12;
pub const RULE_PRCTL: u32 = 13;

/// The rule a refused gate call broke, for the debug log.
pub fn rule_name(rule: u32) -> &'static [u8] {
    match rule {
        RULE_NOT_LISTED => b"gate allow-list: syscall not needed by the runtime",
        RULE_CLONE_NS => b"gate allow-list: clone with CLONE_NEW* flags",
        RULE_SOCKET => b"gate allow-list: socket other than AF_UNIX stream/seqpacket (datagram with a private root)",
        RULE_IOCTL => b"gate allow-list: ioctl command other than TCGETS/TIOCGWINSZ/TIOCGPGRP/TIOCSPGRP/FIONREAD",
        RULE_OPEN_WRITE => b"gate allow-list: openat for writing or creating",
        RULE_ARCH_PRCTL => b"gate allow-list: arch_prctl code",
        RULE_FCNTL => {
            b"gate allow-list: fcntl command other than F_DUPFD_CLOEXEC/F_GETFL/F_SETFL/record locks/pipe size"
        }
        RULE_SIGACTION => b"gate allow-list: rt_sigaction of the runtime's own signal (SIGSYS)",
        RULE_CLONE_PARENT => b"gate allow-list: clone with CLONE_PARENT",
        RULE_FASTOPEN => b"gate allow-list: send with MSG_FASTOPEN",
        RULE_MKNOD => b"gate allow-list: mknodat of anything but a FIFO or a socket node",
        RULE_PRLIMIT => b"gate allow-list: prlimit64 of another process or a resource other than RLIMIT_CPU",
        RULE_PRCTL => b"gate allow-list: prctl option other than PR_SET_CHILD_SUBREAPER",
        _ => b"gate allow-list",
    }
}

/// The gate's blocks end with [`Block::build`]; a jump that does not fit in a u8 is an error
/// (a bug in the tables).
pub trait Finish {
    /// The block's instructions, or the error naming the gate filter.
    fn finish(self) -> Result<Vec<SockFilter>, FilterError>;
}

impl Finish for Block {
    fn finish(self) -> Result<Vec<SockFilter>, FilterError> {
        self.build().ok_or(b"seccomp: a jump of the gate filter is out of range".as_slice())
    }
}

/// How the gate checks one syscall's arguments.
#[derive(Clone, Copy)]
pub enum Check {
    /// Any arguments.
    Any,
    /// A BPF block that starts with nothing loaded and ends in a return on every path.
    Args(fn(Shape) -> Block),
}
use Check::{Any, Args};

/// Every host syscall the runtime issues from the gate after start-up, with how its arguments
/// are checked (in any order: [`program`] sorts them into a search tree). The list is what
/// `grep` finds in the runtime; forwarded calls of the app (host.rs: `HostPassthrough::fd_call`,
/// `HostPassthrough::signal_call`, `process_call`, `set_tid_address`, `set_robust_list`, `host_ioctl`,
/// `net_call`) are exactly the numbers and commands those functions use. Where BPF can check an argument (it sees
/// registers only, never memory), the check is an allow-list of exact values.
pub const GATE: &[(u32, Check)] = &[
    (202, Any),               // futex
    (14, Any),                // rt_sigprocmask
    (0, Any),                 // read
    (1, Any),                 // write
    (15, Any),                // rt_sigreturn (the restorer)
    (39, Any),                // getpid
    (186, Any),               // gettid
    (9, Any),                 // mmap
    (11, Any),                // munmap
    (10, Any),                // mprotect
    (228, Any),               // clock_gettime
    (17, Any),                // pread64
    (18, Any),                // pwrite64
    (3, Any),                 // close
    (5, Any),                 // fstat
    (8, Any),                 // lseek
    (7, Any),                 // poll
    (72, Args(fcntl)),        // fcntl
    (13, Args(rt_sigaction)), // rt_sigaction
    (44, Args(sendto)),       // sendto
    (45, Any),                // recvfrom
    (46, Args(sendmsg)),      // sendmsg
    (47, Any),                // recvmsg
    (16, Args(ioctl)),        // ioctl
    (131, Any),               // sigaltstack
    (25, Any),                // mremap
    (28, Any),                // madvise
    (35, Any),                // nanosleep
    (219, Any),               // restart_syscall (an interrupted nanosleep/futex restarted by the kernel)
    (318, Any),               // getrandom
    (437, Any),               // openat2 (writable layer and mounts, RESOLVE_BENEATH)
    (258, Any),               // mkdirat
    (262, Any),               // newfstatat
    (263, Any),               // unlinkat
    (264, Any),               // renameat
    (316, Any),               // renameat2 (RENAME_EXCHANGE in the writable layer and rw mounts)
    (266, Any),               // symlinkat
    (259, Args(mknodat)),     // mknodat (FIFOs in the writable layer and rw mounts)
    (265, Any),               // linkat (hard links in the writable layer and rw mounts)
    (267, Any),               // readlinkat
    (217, Any),               // getdents64
    (138, Any),               // fstatfs (the writable layer's size, counted against the memory limit)
    (74, Any),                // fsync
    (75, Any),                // fdatasync
    (77, Any),                // ftruncate
    (73, Any),                // flock (the app's flock on a file of the layer or a mount it holds open)
    (293, Any),               // pipe2
    (291, Any),               // epoll_create1
    (233, Any),               // epoll_ctl
    (232, Any),               // epoll_wait
    (290, Any),               // eventfd2
    (283, Any),               // timerfd_create
    (286, Any),               // timerfd_settime
    (287, Any),               // timerfd_gettime
    (56, Args(clone)),        // clone
    (61, Any),                // wait4
    (247, Any),               // waitid
    (62, Any),                // kill (Landlock's signal scope keeps it inside the app, where available)
    (234, Any),               // tgkill
    (129, Any),               // rt_sigqueueinfo
    (297, Any),               // rt_tgsigqueueinfo
    (127, Any),               // rt_sigpending
    (130, Any),               // rt_sigsuspend
    (34, Any),                // pause
    (37, Any),                // alarm
    (36, Any),                // getitimer
    (38, Any),                // setitimer
    (218, Any),               // set_tid_address
    (273, Any),               // set_robust_list
    (110, Any),               // getppid
    (109, Any),               // setpgid (the app's own processes: in its pid namespace, or itself and its children)
    (112, Any),               // setsid
    (121, Any),               // getpgid
    (124, Any),               // getsid
    (102, Any),               // getuid
    (104, Any),               // getgid
    (60, Any),                // exit
    (231, Any),               // exit_group
    (257, Args(openat)),      // openat
    (158, Args(arch_prctl)),  // arch_prctl
    // Sockets the sandbox holds. connect, bind and listen are not here: the supervisor makes
    // them (broker.rs) after checking the policy, so a socket cannot be re-aimed at the gate.
    (41, Args(socket)),     // socket
    (53, Args(socketpair)), // socketpair
    (43, Any),              // accept
    (288, Any),             // accept4
    (299, Any),             // recvmmsg
    (307, Args(sendmmsg)),  // sendmmsg
    (48, Any),              // shutdown
    (51, Any),              // getsockname
    (52, Any),              // getpeername
    (54, Any),              // setsockopt
    (55, Any),              // getsockopt
    (292, Any),             // dup3 (unixns.rs: a Unix socket replaced under its number, atomically)
    // Waiting for signals and POSIX timers of the app's own process (the shim takes the
    // runtime's SIGSYS out of every set and sigevent: docs/security.md).
    (128, Any), // rt_sigtimedwait
    (289, Any), // signalfd4
    (222, Any), // timer_create
    (223, Any), // timer_settime
    (224, Any), // timer_gettime
    (225, Any), // timer_getoverrun
    (226, Any), // timer_delete
    (449, Any), // futex_waitv (the host's futexes, as futex: words in the process's memory)
    // The app's RLIMIT_CPU, enforced by the host on the one process app and runtime share.
    (302, Args(prlimit64)), // prlimit64
    // The app's PR_SET_CHILD_SUBREAPER: orphans of its own descendants come back to it.
    (157, Args(prctl)), // prctl
];

/// SysV IPC and POSIX message queues (host.rs `ipc_call`): allowed only with the private root,
/// whose IPC namespace holds the app's objects and nothing of the host's (docs/security.md).
pub const GATE_IPC: &[u32] = &[
    29,  // shmget
    30,  // shmat
    31,  // shmctl
    67,  // shmdt
    64,  // semget
    65,  // semop
    66,  // semctl
    220, // semtimedop
    68,  // msgget
    69,  // msgsnd
    70,  // msgrcv
    71,  // msgctl
    240, // mq_open
    241, // mq_unlink
    242, // mq_timedsend
    243, // mq_timedreceive
    244, // mq_notify
    245, // mq_getsetattr
];

/// The whole allow-list for a sandbox of this `shape`: [`GATE`], and [`GATE_IPC`] when the
/// sandbox has its private root (its own IPC namespace).
pub fn gate_list(shape: Shape) -> Vec<(u32, Check)> {
    let mut v: Vec<(u32, Check)> = GATE.to_vec();
    if shape.private_root {
        v.extend(GATE_IPC.iter().map(|&nr| (nr, Any)));
    }
    v
}

/// ioctl (16): the terminal calls host.rs `host_ioctl` forwards (TCGETS, TIOCGWINSZ,
/// TIOCGPGRP, TIOCSPGRP, FIONREAD) and nothing else (no TIOCSTI, TIOCVHANGUP, FS_IOC_*, SIOCS*, ...).
fn ioctl(_: Shape) -> Block {
    let mut b = Block::new();
    b.arg(1).one_of(&[0x5401, 0x5413, 0x540f, 0x5410, 0x541b], To::Allow).ret(To::Deny(RULE_IOCTL));
    b
}

/// fcntl (72): F_DUPFD_CLOEXEC (sys.rs, host.rs), F_GETFL/F_SETFL (host.rs `host_set_nonblock`),
/// the record locks host.rs forwards (F_GETLK/F_SETLK/F_SETLKW, F_OFD_*) and a pipe's size
/// (F_SETPIPE_SZ/F_GETPIPE_SZ: the app's own pipes, within the host's per-user pipe limits);
/// never F_SETOWN, F_SETSIG, F_SETLEASE, F_NOTIFY, F_SETOWN_EX (they aim signals at host
/// processes), ...
fn fcntl(_: Shape) -> Block {
    let mut b = Block::new();
    b.arg(1).one_of(&[1030, 3, 4, 5, 6, 7, 36, 37, 38, 1031, 1032], To::Allow).ret(To::Deny(RULE_FCNTL));
    b
}

/// The runtime's own signal: SIGSYS serves every trapped syscall. It is installed once, before
/// the filter (signals.rs), and never again.
const SIGSYS: u32 = 31;

/// rt_sigaction (13): any signal but SIGSYS (an app that ignored or blocked it through the
/// gate would be killed by its next trapped syscall; one that replaced the handler would
/// escape interception).
fn rt_sigaction(_: Shape) -> Block {
    let mut b = Block::new();
    b.arg(0).jeq(SIGSYS, To::Deny(RULE_SIGACTION), To::Allow);
    b
}

/// Flags that ask clone for new namespaces (NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
/// NEWNET); the kernel reads only the low 32 bits of clone's flags.
const CLONE_NEW_MASK: u32 =
    0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;
/// CLONE_PARENT: the child would be the artifact's parent's child (the shell's), outliving it.
const CLONE_PARENT: u32 = 0x8000;

/// clone (56): threads and forks (threads.rs, signals.rs), never new namespaces nor
/// CLONE_PARENT. clone3 is not on the list at all (its flags are in memory, out of BPF's
/// reach; the runtime does not use it).
fn clone(_: Shape) -> Block {
    let mut b = Block::new();
    b.arg(0).jset(CLONE_NEW_MASK, To::Deny(RULE_CLONE_NS), To::Next).jset(
        CLONE_PARENT,
        To::Deny(RULE_CLONE_PARENT),
        To::Allow,
    );
    b
}

/// MSG_FASTOPEN: a TCP Fast Open send connects a fresh socket without connect().
const MSG_FASTOPEN: u32 = 0x2000_0000;

/// A send whose flags (argument `i`) must not hold MSG_FASTOPEN.
fn send_flags(i: u32) -> Block {
    let mut b = Block::new();
    b.arg(i).jset(MSG_FASTOPEN, To::Deny(RULE_FASTOPEN), To::Allow);
    b
}

/// sendto (44): flags in argument 3.
fn sendto(_: Shape) -> Block {
    send_flags(3)
}

/// sendmsg (46): flags in argument 2.
fn sendmsg(_: Shape) -> Block {
    send_flags(2)
}

/// sendmmsg (307): flags in argument 3.
fn sendmmsg(_: Shape) -> Block {
    send_flags(3)
}

const AF_UNIX: u32 = 1;
const SOCK_STREAM: u32 = 1;
const SOCK_DGRAM: u32 = 2;
const SOCK_SEQPACKET: u32 = 5;
/// The type bits that are flags, not the type: SOCK_NONBLOCK, SOCK_CLOEXEC.
const SOCK_FLAGS: u32 = 0o4000 | 0o2000000;

/// Appends the AF_UNIX rule (type stream or seqpacket, and datagram with a private root (see
/// [`Shape::private_root`]);
/// protocol 0); A holds nothing.
fn unix_socket(b: &mut Block, shape: Shape) {
    let proto = b.label();
    let types: &[u32] =
        if shape.private_root { &[SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET] } else { &[SOCK_STREAM, SOCK_SEQPACKET] };
    b.arg(1).and(!SOCK_FLAGS).one_of(types, proto).ret(To::Deny(RULE_SOCKET));
    b.place(proto).arg(2).jeq(0, To::Allow, To::Deny(RULE_SOCKET));
}

/// socket (41): AF_UNIX only, exact type and protocol. The sandbox makes no IP socket itself:
/// the supervisor makes them (broker.rs). Never SOCK_RAW, SOCK_PACKET, netlink, vsock, ...
fn socket(shape: Shape) -> Block {
    let mut b = Block::new();
    b.arg(0).jeq(AF_UNIX, To::Next, To::Deny(RULE_SOCKET));
    unix_socket(&mut b, shape);
    b
}

/// socketpair (53): AF_UNIX only, as socket's AF_UNIX rule.
fn socketpair(shape: Shape) -> Block {
    let mut b = Block::new();
    b.arg(0).jeq(AF_UNIX, To::Next, To::Deny(RULE_SOCKET));
    unix_socket(&mut b, shape);
    b
}

/// O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | __O_TMPFILE: after start-up the runtime
/// opens host paths with openat only to read (the writable layer goes through openat2).
const OPEN_WRITE_MASK: u32 = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000 | 0o20000000;

/// openat (257): read-only opens (the writable layer's GC and removal at exit).
fn openat(_: Shape) -> Block {
    let mut b = Block::new();
    b.arg(2).jset(OPEN_WRITE_MASK, To::Deny(RULE_OPEN_WRITE), To::Allow);
    b
}

/// mknodat (259): FIFOs and socket nodes only (`S_IFIFO` or `S_IFSOCK` in the mode: hostfs.rs
/// `mkfifo`, and `mksock` for `bind` of a path name, shim/unixpath.rs); never a device or
/// regular file node. A socket node has nothing bound to it: connecting to one is refused.
fn mknodat(_: Shape) -> Block {
    const S_IFMT: u32 = 0o170000;
    const S_IFIFO: u32 = 0o010000;
    const S_IFSOCK: u32 = 0o140000;
    let mut b = Block::new();
    b.arg(2).and(S_IFMT).jeq(S_IFIFO, To::Allow, To::Next);
    b.jeq(S_IFSOCK, To::Allow, To::Next).ret(To::Deny(RULE_MKNOD));
    b
}

/// RLIMIT_CPU: the only resource prlimit64 may read or set through the gate.
const RLIMIT_CPU: u32 = 0;

/// prlimit64 (302): the calling process only (pid 0) and RLIMIT_CPU only (host.rs
/// `set_cpu_limit`): never another process's limits, never RLIMIT_NOFILE, RLIMIT_NPROC,
/// RLIMIT_AS, ... (the host's limits of the sandbox stay as the runtime set them). The hard
/// limit cannot be raised: the sandbox holds no CAP_SYS_RESOURCE.
fn prlimit64(_: Shape) -> Block {
    let mut b = Block::new();
    b.arg(0).jeq(0, To::Next, To::Deny(RULE_PRLIMIT));
    b.arg(1).jeq(RLIMIT_CPU, To::Allow, To::Deny(RULE_PRLIMIT));
    b
}

/// prctl (157): PR_SET_CHILD_SUBREAPER only (host.rs `process_call`), which makes the calling
/// process the reaper of its own orphaned descendants (all of them the app's); never
/// PR_SET_SECCOMP, PR_SET_DUMPABLE, PR_SET_MM, PR_SET_PDEATHSIG, PR_CAP_AMBIENT, ...
fn prctl(_: Shape) -> Block {
    const PR_SET_CHILD_SUBREAPER: u32 = 36;
    let mut b = Block::new();
    b.arg(0).jeq(PR_SET_CHILD_SUBREAPER, To::Allow, To::Deny(RULE_PRCTL));
    b
}

/// arch_prctl (158): ARCH_SET_GS (the runtime's per-thread data), ARCH_SET_FS and
/// ARCH_GET_FS (the app's TLS); never ARCH_MAP_VDSO_*, ARCH_SET_CPUID, ...
fn arch_prctl(_: Shape) -> Block {
    let mut b = Block::new();
    b.arg(0).one_of(&[0x1001, 0x1002, 0x1003], To::Allow).ret(To::Deny(RULE_ARCH_PRCTL));
    b
}

/// What about the sandbox changes the allow-list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Whether the sandbox has its private root (supervisor.rs): only then does a Unix
    /// datagram socket reach nothing but the sandbox's own paths. Without it, `sendto` with a
    /// path on a datagram socket would reach host sockets (/dev/log, ...), so datagram sockets
    /// are not allowed and the platform uses seqpacket ones (host.rs).
    pub private_root: bool,
}

/// BPF_LD | BPF_IMM: A = k.
pub const LD_IMM: u16 = 0x00;
/// BPF_ALU | BPF_LSH | BPF_X: A <<= X.
pub const LSH_X: u16 = 0x6c;
/// BPF_MISC | BPF_TAX: X = A.
pub const TAX: u16 = 0x07;
/// BPF_MISC | BPF_TXA: A = X.
pub const TXA: u16 = 0x87;

/// Syscall numbers per window of the search: one 32-bit mask holds a window's calls allowed
/// with any arguments.
const WINDOW: u32 = 32;

/// One piece of the number line the search splits: `start..` up to the next segment's start.
struct Segment {
    start: u32,
    /// The window's calls allowed with any arguments, bit `nr % 32` (0: an empty stretch).
    any: u32,
    /// The window's checked calls: number and the label of its block.
    checked: Vec<(u32, To)>,
}

impl Segment {
    fn is_empty(&self) -> bool {
        self.any == 0 && self.checked.is_empty()
    }
}

/// `segments` (contiguous, together covering every number from the first's start up), with
/// the number in A and `1 << (nr % 32)` in X: a balanced search on the segment starts, then
/// the window's own test. Every path ends in a jump to a return (no fall-through).
fn search(b: &mut Block, segments: &[Segment]) {
    if let [seg] = segments {
        window(b, seg);
        return;
    }
    let mid = segments.len() / 2;
    let (left, right) = segments.split_at(mid);
    // An empty stretch on either side is the not-listed return itself.
    match (left, right) {
        (_, [r]) if r.is_empty() => {
            b.cond(JGE_K, r.start, To::Deny(RULE_NOT_LISTED), To::Next);
            search(b, left);
        }
        ([l], _) if l.is_empty() => {
            b.cond(JGE_K, right[0].start, To::Next, To::Deny(RULE_NOT_LISTED));
            search(b, right);
        }
        _ => {
            let r = b.label();
            b.cond(JGE_K, right[0].start, r, To::Next);
            search(b, left);
            b.place(r);
            search(b, right);
        }
    }
}

/// One window (the number in A, its bit in X): each checked number jumps to its block, then
/// the window's mask decides the rest (allow, or [`RULE_NOT_LISTED`]).
fn window(b: &mut Block, seg: &Segment) {
    if seg.is_empty() {
        b.ret(To::Deny(RULE_NOT_LISTED));
        return;
    }
    for (i, &(nr, block)) in seg.checked.iter().enumerate() {
        let miss = if seg.any == 0 && i + 1 == seg.checked.len() { To::Deny(RULE_NOT_LISTED) } else { To::Next };
        b.jeq(nr, block, miss);
    }
    if seg.any != 0 {
        b.stmt(stmt(TXA, 0)).jset(seg.any, To::Allow, To::Deny(RULE_NOT_LISTED));
    }
}

/// The gate's allow-list sorted by syscall number, for [`search`]. Two entries for one
/// number would make the list ambiguous: an error.
fn sorted_gate(shape: Shape) -> Result<Vec<(u32, Check)>, FilterError> {
    let mut v = gate_list(shape);
    v.sort_by_key(|e| e.0);
    if v.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(b"seccomp: a syscall is listed twice in the gate allow-list");
    }
    Ok(v)
}

/// A distinct argument block of the program and its label.
type ArgBlock = (Block, To);

/// The whole BPF program for a gate whose `syscall` instruction returns to `gate`, in a
/// sandbox of this `shape`. Promises: a call from anywhere but the gate traps with data 0;
/// from the gate, the calls of [`GATE`] run when their argument rule holds and every other
/// call traps with a non-zero rule number; a foreign architecture or an x32 number kills.
pub fn program(gate: u64, shape: Shape) -> Result<Vec<SockFilter>, FilterError> {
    let list = sorted_gate(shape)?;
    let mut b = Block::new();
    let kill = b.label();
    // A load of the instruction pointer first, whose value the next load replaces: it decides
    // nothing, but the kernel, when it installs a filter, emulates it for every syscall number
    // of each architecture (~900 runs) to find the calls it always allows, and stops at the
    // first load of anything but the number or the architecture. The gate's program allows
    // nothing without the pointer, so the answer is "none" either way; stopping at the first
    // instruction instead of the fifth takes ~3.4 of ~37 us off every install (the app's
    // first process, on the start's critical path; bench/RESULTS-issue17-hs11.md).
    b.stmt(stmt(LD_W_ABS, 8))
        .stmt(stmt(LD_W_ABS, 4)) // arch
        .jeq(AUDIT_ARCH_X86_64, To::Next, kill)
        .stmt(stmt(LD_W_ABS, 0)) // nr
        .cond(JGE_K, 0x4000_0000, kill, To::Next) // x32 ABI
        .stmt(stmt(LD_W_ABS, 8)) // instruction_pointer, low word
        .jeq(gate as u32, To::Next, To::Deny(0)) // layer 1: the app's syscall, emulated
        .stmt(stmt(LD_W_ABS, 12)) // high word
        .jeq((gate >> 32) as u32, To::Next, To::Deny(0))
        // Layer 2, the gate's allow-list: X = 1 << (nr % 32), A = nr.
        .stmt(stmt(LD_W_ABS, 0))
        .stmt(stmt(AND_K, WINDOW - 1))
        .stmt(stmt(TAX, 0))
        .stmt(stmt(LD_IMM, 1))
        .stmt(stmt(LSH_X, 0))
        .stmt(stmt(TAX, 0))
        .stmt(stmt(LD_W_ABS, 0));
    // The checked calls' blocks, one per distinct block (socket and socketpair, sendto and
    // sendmmsg check the same), placed after the search.
    let mut blocks: Vec<ArgBlock> = Vec::new();
    let mut segments: Vec<Segment> = Vec::new();
    for &(nr, check) in &list {
        let start = nr - nr % WINDOW;
        if segments.last().is_none_or(|s| s.start != start) {
            if let Some(last) = segments.last() {
                if last.start + WINDOW != start {
                    segments.push(Segment { start: last.start + WINDOW, any: 0, checked: Vec::new() });
                }
            } else if start != 0 {
                segments.push(Segment { start: 0, any: 0, checked: Vec::new() });
            }
            segments.push(Segment { start, any: 0, checked: Vec::new() });
        }
        let seg = segments.last_mut().ok_or(b"seccomp: no segment".as_slice())?;
        match check {
            Any => seg.any |= 1 << (nr % WINDOW),
            Args(f) => {
                // Built once; a block equal to one already kept shares its label.
                let block = f(shape);
                let label = match blocks.iter().find(|(kept, _)| *kept == block) {
                    Some(&(_, l)) => l,
                    None => {
                        let l = b.label();
                        blocks.push((block, l));
                        l
                    }
                };
                seg.checked.push((nr, label));
            }
        }
    }
    let end = segments.last().map_or(0, |s| s.start + WINDOW);
    segments.push(Segment { start: end, any: 0, checked: Vec::new() });
    search(&mut b, &segments);
    for (block, label) in blocks {
        b.place(label).splice(block);
    }
    b.place(kill).stmt(stmt(RET_K, RET_KILL_PROCESS));
    b.finish()
}
