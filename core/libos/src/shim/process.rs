//! Process and thread identity, limits, uname, randomness, exit, and the thread registration
//! calls glibc makes at start-up.
use super::nr::*;
use super::SysResult;
use crate::abi::{Rlimit, Utsname};
use crate::errno::*;
use crate::kernel::{LibOs, RLIM_NLIMITS};
use crate::platform::{Platform, SyscallContext, ThreadSpawn};
use crate::user;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[
    GETPID,
    GETTID,
    GETPPID,
    EXIT,
    EXIT_GROUP,
    UNAME,
    SYSINFO,
    PRLIMIT64,
    GETRLIMIT,
    SETRLIMIT,
    SET_TID_ADDRESS,
    SET_ROBUST_LIST,
    RSEQ,
    ARCH_PRCTL,
    GETRANDOM,
    SCHED_YIELD,
    SCHED_GETAFFINITY,
    GETPGRP,
    GETPGID,
    GETSID,
    SETPGID,
    SETSID,
    CLONE,
    CLONE3,
];

/// Syscalls served with a limitation users should know, and what it is (docs/syscalls.md is
/// generated from these arrays by scripts/gen_implemented.py).
pub const PARTIAL: &[(usize, &str)] = &[
    (RSEQ, "ENOSYS (glibc then runs without restartable sequences)"),
    (SCHED_GETAFFINITY, "reports the CPUs the platform has (linux-userland: the host's affinity at start), or the mask sched_setaffinity last set for the process"),
    (CLONE, "threads (CLONE_VM|CLONE_THREAD) and processes (run as fork); CLONE_SETTLS ignored for a new process; CLONE_PARENT accepted but the child stays the caller's; namespace flags refused; EAGAIN beyond [policy.limits] threads/processes"),
    (CLONE3, "as clone"),
];

/// Serves `n` if it is a process syscall.
// A fork child's `exit_group` comes through here: in the plain `.text` input section with
// `clone` (see there).
#[cfg_attr(target_os = "linux", link_section = ".text")]
pub fn dispatch<P: Platform>(
    os: &LibOs<P>,
    n: usize,
    a: &[usize; 6],
    ctx: &mut dyn SyscallContext,
) -> Option<SysResult> {
    let p = &os.platform;
    Some(match n {
        CLONE => clone(os, a[0] as u64, a[1], a[2], a[3], a[4], ctx),
        CLONE3 => clone3(os, a[0], a[1], ctx),
        GETPID => Ok(p.pid() as usize),
        GETPGRP | GETPGID | GETSID | SETPGID | SETSID => groups(os, n, a),
        GETTID => Ok(p.ids().1 as usize),
        GETPPID => Ok(os.ppid() as usize),
        EXIT => {
            // The last thread's exit ends the process with its code, as exit_group would.
            let me = p.ids().1;
            os.tids.lock().retain(|&t| t != me);
            if os.threads.fetch_sub(1, core::sync::atomic::Ordering::SeqCst) <= 1 {
                log_chunks_read(os);
                p.exit_group(a[0] as i32 & 0xff)
            }
            p.exit_thread(a[0] as i32 & 0xff)
        }
        EXIT_GROUP => {
            log_chunks_read(os);
            p.exit_group(a[0] as i32 & 0xff)
        }
        UNAME => uname(os, a[0]),
        SYSINFO => sysinfo(os, a[0]),
        PRLIMIT64 => prlimit(os, a[0] as i32, a[1], a[2], a[3]),
        GETRLIMIT => prlimit(os, 0, a[0], 0, a[1]),
        SETRLIMIT => prlimit(os, 0, a[0], a[1], 0),
        SET_TID_ADDRESS => p.set_tid_address(a[0]),
        SET_ROBUST_LIST => {
            // sizeof(struct robust_list_head)
            if a[1] != 24 {
                Err(EINVAL)
            } else {
                p.set_robust_list(a[0], a[1])
            }
        }
        // Refused on every platform (glibc copes): a registered rseq area would outlive the
        // program that registered it across execve, which replaces programs in place.
        RSEQ => Err(ENOSYS),
        ARCH_PRCTL => p.arch_prctl(a[0] as u32, a[1]),
        GETRANDOM => {
            const GRND_RANDOM: usize = 2;
            const GRND_INSECURE: usize = 4;
            if a[2] & !7 != 0 || a[2] & (GRND_RANDOM | GRND_INSECURE) == GRND_RANDOM | GRND_INSECURE {
                Err(EINVAL)
            } else {
                user::slice_mut_in(&os.mem, a[0], a[1]).map(|b| {
                    p.random(b);
                    b.len()
                })
            }
        }
        SCHED_YIELD => Ok(0),
        SCHED_GETAFFINITY => {
            // CPUs 0..n-1, n as the platform reports (app threads are host threads).
            let n = p.cpu_count().clamp(1, 1024);
            let bytes = n.div_ceil(64) * 8;
            if a[1] < bytes || !a[1].is_multiple_of(8) {
                Err(EINVAL)
            } else if ![0, p.pid(), p.ids().1].contains(&(a[0] as i32)) {
                // Only the process itself and its thread are answered for (as sched_getparam).
                Err(ESRCH)
            } else {
                // What sched_setaffinity kept, else every CPU.
                let kept = os.affinity.load(core::sync::atomic::Ordering::Relaxed);
                user::slice_mut_in(&os.mem, a[2], bytes).map(|m| {
                    m.fill(0);
                    for i in (0..n).filter(|&i| kept == 0 || (i < 64 && kept & 1 << i != 0)) {
                        m[i / 8] |= 1 << (i % 8);
                    }
                    bytes
                })
            }
        }
        _ => return None,
    })
}

fn fill(dst: &mut [u8; 65], s: &[u8]) {
    let n = core::cmp::min(64, s.len());
    dst[..n].copy_from_slice(&s[..n]);
}

fn uname<P: Platform>(os: &LibOs<P>, buf: usize) -> SysResult {
    let mut u = Utsname {
        sysname: [0; 65],
        nodename: [0; 65],
        release: [0; 65],
        version: [0; 65],
        machine: [0; 65],
        domainname: [0; 65],
    };
    fill(&mut u.sysname, b"Linux");
    fill(&mut u.nodename, &os.hostname);
    fill(&mut u.release, b"6.12.0-litebox");
    fill(&mut u.version, b"#1 SMP LiteBox");
    fill(&mut u.machine, b"x86_64");
    fill(&mut u.domainname, b"(none)");
    user::write_in(&os.mem, buf, &u)?;
    Ok(0)
}

/// The `struct sysinfo` of x86-64 Linux (mem_unit 1).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SysInfo {
    uptime: i64,
    loads: [u64; 3],
    totalram: u64,
    freeram: u64,
    sharedram: u64,
    bufferram: u64,
    totalswap: u64,
    freeswap: u64,
    procs: u16,
    _pad: u16,
    totalhigh: u64,
    freehigh: u64,
    mem_unit: u32,
    _tail: [u8; 4],
}

/// sysinfo(2): uptime from the monotonic clock, memory as /proc/meminfo reports it (the
/// policy's limit when set), no load, no swap, one process.
fn sysinfo<P: Platform>(os: &LibOs<P>, buf: usize) -> SysResult {
    const CLOCK_BOOTTIME: u32 = 7;
    let up = os.platform.clock_gettime(CLOCK_BOOTTIME).map(|t| t.tv_sec).unwrap_or(0);
    let (total, free) = crate::procfs::memory(os);
    let info = SysInfo { uptime: up, totalram: total, freeram: free, procs: 1, mem_unit: 1, ..Default::default() };
    user::write_in(&os.mem, buf, &info).map(|_| 0)
}

/// With LITEBOX_LOG=debug: how much of the image this process read (it is read on demand).
// Inline: every exit runs the test, and only a debug run the line's code, which then sits
// out of the way (a fork child's exit otherwise faults in another 64 KiB window of runtime
// code for a function that returns at once: tests/e2e/test_e2e_fork_faults.py).
#[inline(always)]
fn log_chunks_read<P: Platform>(os: &LibOs<P>) {
    if os.debug.load(core::sync::atomic::Ordering::Relaxed) {
        write_chunks_read(os);
    }
}

#[cold]
#[inline(never)]
fn write_chunks_read<P: Platform>(os: &LibOs<P>) {
    let (read, total) = os.vfs.cache.read_count();
    let (mut a, mut b, mut c, mut d) = ([0u8; 20], [0u8; 20], [0u8; 20], [0u8; 20]);
    os.debug_log(&[
        b"image: ",
        super::fmt_usize(read, &mut a),
        b" of ",
        super::fmt_usize(total, &mut b),
        b" chunks read, ",
        super::fmt_usize(os.vfs.cache.kept_count(), &mut c),
        b" kept decompressed (",
        super::fmt_usize(os.vfs.cache.decode_count(), &mut d),
        b" decodes)",
    ]);
}

/// RLIMIT_CPU's index: seconds of CPU time (the platform enforces it, [`Platform::set_cpu_limit`]).
const RLIMIT_CPU: usize = 0;

/// prlimit64(2) (and setrlimit/getrlimit through it) on the calling process: the core's table
/// of limits; a new RLIMIT_CPU is handed to the platform to enforce.
fn prlimit<P: Platform>(os: &LibOs<P>, pid: i32, res: usize, new: usize, old: usize) -> SysResult {
    if pid != 0 && pid != os.platform.pid() {
        return Err(ESRCH);
    }
    if res >= RLIM_NLIMITS {
        return Err(EINVAL);
    }
    let mut lim = os.limits.lock();
    let cur = lim[res];
    if new != 0 {
        let n: Rlimit = user::read_in(&os.mem, new)?;
        if n.cur > n.max {
            return Err(EINVAL);
        }
        if n.max > cur.max {
            return Err(EPERM);
        }
        if res == RLIMIT_CPU {
            os.platform.set_cpu_limit(n.cur, n.max)?;
        }
        lim[res] = n;
        if res == 7 {
            os.fds.lock().limit = core::cmp::min(n.cur, 1 << 20) as usize;
        }
    }
    if old != 0 {
        user::write_in(&os.mem, old, &cur)?;
    }
    Ok(0)
}

const CLONE_VM: u64 = 0x100;
const CLONE_FS: u64 = 0x200;
const CLONE_FILES: u64 = 0x400;
const CLONE_SIGHAND: u64 = 0x800;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_THREAD: u64 = 0x10000;
const CLONE_SYSVSEM: u64 = 0x40000;
const CLONE_SETTLS: u64 = 0x80000;
const CLONE_PARENT_SETTID: u64 = 0x100000;
const CLONE_CHILD_CLEARTID: u64 = 0x200000;
const CLONE_DETACHED: u64 = 0x400000;
const CLONE_CHILD_SETTID: u64 = 0x1000000;
/// CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME.
const CLONE_NEW_ANY: u64 =
    0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000 | 0x80;

/// Threads are served; new processes (no CLONE_VM, or vfork) are not yet (ENOSYS); new
/// namespaces are refused (EPERM) as for an unprivileged process.
// A fork child runs this on its way back to the app; fork copies no page-table entries of
// the runtime's file-backed code, so each 64 KiB window of code the child runs costs it a
// fault. On Linux hosts it goes to the plain `.text` input section, which the runtime's
// link order (runtime/startup-order.ld) puts first, next to the syscall entry and exit.
#[cfg_attr(target_os = "linux", link_section = ".text")]
fn clone<P: Platform>(
    os: &LibOs<P>,
    flags: u64,
    stack: usize,
    ptid: usize,
    ctid: usize,
    tls: usize,
    ctx: &mut dyn SyscallContext,
) -> SysResult {
    if flags & CLONE_NEW_ANY != 0 {
        os.debug_log(&[b"clone with new namespaces denied: EPERM"]);
        return Err(EPERM);
    }
    let thread = CLONE_VM | CLONE_THREAD | CLONE_SIGHAND;
    if flags & CLONE_THREAD == 0 {
        // A new process (fork, vfork, posix_spawn's CLONE_VM|CLONE_VFORK): a host fork; the
        // child gets its own copy of memory even when CLONE_VM asks to share it.
        const CSIGNAL: u64 = 0xff;
        let keep = CSIGNAL | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID;
        // CLONE_PARENT is accepted and not passed on: the child is the caller's own (its
        // parent's other children are not the library OS's to hand over).
        const CLONE_PARENT: u64 = 0x8000;
        let others = flags
            & !(keep
                | CLONE_VM
                | CLONE_VFORK
                | CLONE_FS
                | CLONE_FILES
                | CLONE_SIGHAND
                | CLONE_SYSVSEM
                | CLONE_SETTLS
                | CLONE_PARENT);
        if others != 0 || flags & CSIGNAL > 64 {
            return Err(EINVAL);
        }
        return super::exec::fork(os, flags & keep, stack, ptid, ctid, ctx);
    }
    if flags & thread != thread || flags & CLONE_VFORK != 0 {
        return Err(EINVAL);
    }
    let allowed = thread
        | CLONE_FS
        | CLONE_FILES
        | CLONE_SYSVSEM
        | CLONE_SETTLS
        | CLONE_PARENT_SETTID
        | CLONE_CHILD_CLEARTID
        | CLONE_DETACHED
        | CLONE_CHILD_SETTID;
    if flags & !allowed != 0 || stack == 0 {
        return Err(EINVAL);
    }
    use core::sync::atomic::Ordering::SeqCst;
    // Threads share pipes through the host: the library OS's become host pipes first.
    os.end_local_pipes();
    let limit = os.thread_limit.load(SeqCst);
    if os.threads.fetch_add(1, SeqCst) >= limit {
        os.threads.fetch_sub(1, SeqCst);
        os.debug_log(&[b"thread limit of the policy reached: clone EAGAIN"]);
        return Err(EAGAIN);
    }
    ctx.spawn_thread(&ThreadSpawn { flags, stack, parent_tid: ptid, child_tid: ctid, tls })
        .inspect(|&tid| os.tids.lock().push(tid as i32))
        .inspect_err(|_| {
            os.threads.fetch_sub(1, SeqCst);
        })
}

fn clone3<P: Platform>(os: &LibOs<P>, args: usize, size: usize, ctx: &mut dyn SyscallContext) -> SysResult {
    if !(64..=4096).contains(&size) {
        return Err(EINVAL);
    }
    let w: [u64; 8] = user::read_in(&os.mem, args)?;
    let (flags, _pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls) =
        (w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]);
    if exit_signal != 0 && flags & CLONE_THREAD != 0 {
        return Err(EINVAL);
    }
    if exit_signal > 64 || flags & 0xff != 0 {
        return Err(EINVAL);
    }
    if flags & CLONE_THREAD == 0 && stack == 0 {
        return clone(os, flags | exit_signal, 0, parent_tid as usize, child_tid as usize, tls as usize, ctx);
    }
    if stack == 0 || stack_size == 0 {
        return Err(EINVAL);
    }
    let top = stack.checked_add(stack_size).ok_or(EINVAL)? as usize;
    clone(os, flags | exit_signal, top, parent_tid as usize, child_tid as usize, tls as usize, ctx)
}

/// Process groups and sessions: the host's where processes are host processes, else the core's
/// process table's. On the host, the group and session the app started in are led by a process
/// outside the app's pid namespace (the host answers 0): they read as 1, the sandbox's first
/// process, as in a container.
fn groups<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> SysResult {
    let (n, a) = if n == GETPGRP { (GETPGID, [0; 6]) } else { (n, *a) };
    if let Some(h) = os.platform.passthrough() {
        // setpgid into group 1 of a process whose group is that outside group (it reads as 1):
        // it is there already, which Linux answers with success (posix_spawn's setpgroup with
        // the parent's group does this in every child).
        if n == SETPGID && a[1] == 1 && h.process_call(GETPGID, [a[0], 0, 0, 0, 0, 0]) == Ok(0) {
            return Ok(0);
        }
        let r = h.process_call(n, a)?;
        return Ok(if r == 0 && matches!(n, GETPGID | GETSID) { 1 } else { r });
    }
    let me = os.platform.pid();
    let mut t = crate::proctab::TABLE.lock();
    match n {
        GETPGID => t.getpgid(me, a[0] as i32).map(|g| g as usize),
        GETSID => t.getsid(me, a[0] as i32).map(|g| g as usize),
        SETPGID => t.setpgid(me, a[0] as i32, a[1] as i32).map(|_| 0),
        _ => t.setsid(me).map(|g| g as usize),
    }
}
