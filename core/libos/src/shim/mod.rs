//! The Linux x86-64 syscall shim: one module per family (as gVisor's `sys_*.go`), and
//! [`dispatch`], which the platform calls for every syscall the app makes.
pub mod cmsg;
pub mod denied;
pub mod exec;
pub mod fcntl_more;
pub mod fdops;
pub mod fs;
pub mod futexv;
pub mod ids;
pub mod ifaces;
pub mod io;
pub mod locks;
pub mod mem;
pub mod misc;
pub mod mqueue;
pub mod net;
pub mod nr;
pub mod process;
pub mod signal;
pub mod sigwait;
pub mod sysv;
pub mod sysvshm;
pub mod time;
pub mod timers;
pub mod unixcalls;
pub mod unixpath;

use crate::errno::{Errno, ENOSYS};
use crate::kernel::LibOs;
use crate::platform::{HostPassthrough, Platform, SyscallContext};

/// The result of a syscall handler: the value for rax, or an errno.
pub type SysResult = Result<usize, Errno>;

/// Serves one syscall of the app and returns what rax must hold afterwards (a value, or
/// `-errno`). `exit` and `exit_group` do not return.
// A fork child returns to the app through here and comes back for its `exit_group`; fork
// copies no page-table entries of the runtime's file-backed code, so each 64 KiB window of
// code the child runs costs it a fault. On Linux hosts it goes to the plain `.text` input
// section, which the runtime's link order (runtime/startup-order.ld) puts first, next to the
// syscall entry and exit and the fork path (`exec::fork`).
#[cfg_attr(target_os = "linux", link_section = ".text")]
pub fn dispatch<P: Platform>(os: &LibOs<P>, ctx: &mut dyn SyscallContext) -> isize {
    let n = ctx.nr();
    let a = ctx.args();
    // Each family's answer returns at once: carried through a chain of `or_else`s, the
    // result went through stack slots of mismatched widths (store-forwarding stalls, ~4 ns
    // a call).
    macro_rules! answer {
        ($family:expr) => {
            if let Some(r) = $family {
                return rax(r);
            }
        };
    }
    // The hot calls that only a family late in the chain serves go straight to it rather than
    // through the families before it (each of those looks and says None): futex and the
    // clocks to `time`, the socket calls to `net`, the memory-map calls to `mem`, close to
    // `fdops`' close and poll to `io`'s poll (see `direct`). The process calls go to
    // `process`, so that a fork child's calls (glibc's `set_robust_list`, then `exit_group`)
    // run no family's code outside the window of code it faulted in for its return.
    match direct(n) {
        Direct::Time => answer!(time::dispatch(os, n, &a)),
        Direct::Net => answer!(net::hot(os, n, &a)),
        Direct::Mem => answer!(mem::hot(os, n, &a)),
        Direct::Close => return rax(fdops::close_fd(os, a[0] as i32).map(|_| 0)),
        Direct::Poll => return rax(io::poll_call(os, &a)),
        Direct::Process => answer!(process::dispatch(os, n, &a, ctx)),
        Direct::Chain => {}
    }
    answer!(fs::dispatch(os, n, &a));
    answer!(fdops::dispatch(os, n, &a));
    if let Err(e) = signal::wait_mask(os, n, &a, ctx) {
        return rax(Err(e));
    }
    answer!(io::dispatch(os, n, &a));
    answer!(mem::dispatch(os, n, &a));
    answer!(exec::dispatch(os, n, &a, ctx));
    answer!(process::dispatch(os, n, &a, ctx));
    answer!(ids::dispatch(os, n, &a));
    answer!(misc::dispatch(os, n, &a));
    answer!(signal::dispatch(os, n, &a, ctx));
    answer!(sigwait::dispatch(os, n, &a, ctx));
    answer!(timers::dispatch(os, n, &a));
    answer!(sysv::dispatch(os, n, &a));
    answer!(mqueue::dispatch(os, n, &a));
    answer!(futexv::dispatch(os, n, &a));
    answer!(time::dispatch(os, n, &a));
    answer!(net::dispatch(os, n, &a));
    let r = denied::dispatch(os, n);
    match r {
        Some(r) => rax(r),
        None => {
            log_unimplemented(os, n);
            // For `litebox run --learn`: `enosys` with the syscall number in decimal.
            os.learn_with(b"enosys", || {
                let mut num = [0u8; 20];
                fmt_usize(n, &mut num).to_vec()
            });
            -(ENOSYS as isize)
        }
    }
}

/// What rax holds after a call with result `r`: the value, or `-errno`.
fn rax(r: SysResult) -> isize {
    match r {
        Ok(v) => v as isize,
        Err(e) => -(e as isize),
    }
}

/// Where [`dispatch`] sends a call before (or instead of) the chain of families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direct {
    /// `time`: futex and the clocks an app reads in its loops.
    Time,
    /// `net`: every socket call (net::HANDLED).
    Net,
    /// `mem`: mmap, munmap and the other memory-map calls (mem::HANDLED).
    Mem,
    /// `fdops`: close (the chain's answer: `fdops::close_fd`).
    Close,
    /// `io`: poll (the chain's answer on every platform: `io::poll`).
    Poll,
    /// `process`: every call it lists (process::HANDLED), among them the calls of a fork
    /// child on its way out (`set_robust_list`, `exit_group`), which then run none of the
    /// families before `process`: their code lies in other 64 KiB windows, each one a page
    /// fault in a child, which gets no page tables for the runtime's code.
    Process,
    /// The chain in its order.
    Chain,
}

/// Which family serves `n` first, for the calls where that is known to be a late one: only
/// `time` lists futex and the clocks, only `net` the socket calls, only `mem` the memory-map
/// calls, only `fdops` close, only `io` poll and only `process` its calls (a test checks that
/// no other family's HANDLED list names them), so going there directly gives the chain's answer.
fn direct(n: usize) -> Direct {
    // One load from a table made at compile time (compares, or a `match` that became a jump
    // table, cost every other call a few branches).
    if n < DIRECT.len() {
        DIRECT[n]
    } else {
        Direct::Chain
    }
}

/// [`direct`]'s answer per syscall number. A `static`, so that it has a section of its own
/// (`.rodata.<its mangled name>`): the linux-userland runtime's link order puts it, with the
/// jump tables of [`dispatch`] and `process::dispatch`, next to the syscall entry, where a
/// fork child reads it without faulting in a window of the runtime's read-only data
/// (bench/runtime_order.py, `FORK_TABLES`).
static DIRECT: [Direct; 512] = {
    let mut t = [Direct::Chain; 512];
    t[nr::FUTEX] = Direct::Time;
    t[nr::CLOCK_GETTIME] = Direct::Time;
    t[nr::GETTIMEOFDAY] = Direct::Time;
    let mut i = nr::SOCKET;
    while i <= nr::GETSOCKOPT {
        t[i] = Direct::Net;
        i += 1;
    }
    t[nr::CLOSE] = Direct::Close;
    t[nr::POLL] = Direct::Poll;
    let mut k = 0;
    while k < process::HANDLED.len() {
        t[process::HANDLED[k]] = Direct::Process;
        k += 1;
    }
    t[nr::ACCEPT4] = Direct::Net;
    t[nr::RECVMMSG] = Direct::Net;
    t[nr::SENDMMSG] = Direct::Net;
    let mem = [nr::MMAP, nr::MUNMAP, nr::MPROTECT, nr::MREMAP, nr::MADVISE, nr::BRK, nr::MSYNC, nr::MLOCK, nr::MUNLOCK];
    let mut j = 0;
    while j < mem.len() {
        t[mem[j]] = Direct::Mem;
        j += 1;
    }
    t
};

/// A family's handler when the platform passes the call to the host (linux-userland).
pub(crate) type HostArm<P> = fn(&LibOs<P>, &dyn HostPassthrough, usize, &[usize; 6]) -> SysResult;
/// A family's handler when the library OS serves the call itself (kvm, snp, windows).
pub(crate) type OwnArm<P> = fn(&LibOs<P>, usize, &[usize; 6]) -> SysResult;

/// Serves `n` if `handled` lists it: with `host` where the platform has host passthrough, else
/// with `own`. The shared dispatch of the families that have both arms (timers, SysV IPC,
/// message queues).
pub(crate) fn host_or_own<P: Platform>(
    os: &LibOs<P>,
    n: usize,
    a: &[usize; 6],
    handled: &[usize],
    host: HostArm<P>,
    own: OwnArm<P>,
) -> Option<SysResult> {
    if !handled.contains(&n) {
        return None;
    }
    Some(match os.platform.passthrough() {
        Some(h) => host(os, h, n, a),
        None => own(os, n, a),
    })
}

fn log_unimplemented<P: Platform>(os: &LibOs<P>, n: usize) {
    let mut num = [0u8; 20];
    let s = fmt_usize(n, &mut num);
    os.debug_log(&[b"unimplemented syscall ", nr::name(n).as_bytes(), b" (", s, b") -> ENOSYS"]);
}

/// Formats `v` in decimal into `buf`, returning the digits.
pub fn fmt_usize(mut v: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Syscalls the shim serves, for `docs/syscalls.md` and `litebox inspect`: (number, status).
pub fn implemented(n: usize) -> bool {
    fs::HANDLED.contains(&n)
        || fdops::HANDLED.contains(&n)
        || exec::HANDLED.contains(&n)
        || ids::HANDLED.contains(&n)
        || misc::HANDLED.contains(&n)
        || io::HANDLED.contains(&n)
        || mem::HANDLED.contains(&n)
        || net::HANDLED.contains(&n)
        || process::HANDLED.contains(&n)
        || signal::HANDLED.contains(&n)
        || time::HANDLED.contains(&n)
        || sigwait::HANDLED.contains(&n)
        || timers::HANDLED.contains(&n)
        || sysv::HANDLED.contains(&n)
        || mqueue::HANDLED.contains(&n)
        || futexv::HANDLED.contains(&n)
}

#[cfg(test)]
mod direct_tests {
    use super::*;
    use alloc::vec::Vec;

    /// Every family's HANDLED list, in the chain's order, with the family's name.
    fn families() -> [(&'static str, &'static [usize]); 16] {
        [
            ("fs", fs::HANDLED),
            ("fdops", fdops::HANDLED),
            ("io", io::HANDLED),
            ("mem", mem::HANDLED),
            ("exec", exec::HANDLED),
            ("process", process::HANDLED),
            ("ids", ids::HANDLED),
            ("misc", misc::HANDLED),
            ("signal", signal::HANDLED),
            ("sigwait", sigwait::HANDLED),
            ("timers", timers::HANDLED),
            ("sysv", sysv::HANDLED),
            ("mqueue", mqueue::HANDLED),
            ("futexv", futexv::HANDLED),
            ("time", time::HANDLED),
            ("net", net::HANDLED),
        ]
    }

    #[test]
    fn syscall_names_by_number() {
        // nr.rs keeps the names as one string and where each ends (no pointer per name).
        assert_eq!(nr::name(nr::READ), "read");
        assert_eq!(nr::name(nr::WRITE), "write");
        assert_eq!(nr::name(nr::PIDFD_SEND_SIGNAL), "pidfd_send_signal");
        assert_eq!(nr::name(nr::SET_MEMPOLICY_HOME_NODE), "set_mempolicy_home_node");
        assert_eq!(nr::name(335), "?", "unassigned");
        assert_eq!(nr::name(100_000), "?");
        let named = (0..1024).filter(|&n| nr::name(n) != "?").count();
        assert_eq!(named, 362);
    }

    #[test]
    fn direct_routes_only_to_the_one_family_that_lists_the_call() {
        for n in 0..1024 {
            let want = match direct(n) {
                Direct::Time => "time",
                Direct::Net => "net",
                Direct::Mem => "mem",
                Direct::Close => "fdops",
                Direct::Poll => "io",
                Direct::Process => "process",
                Direct::Chain => continue,
            };
            let listed: Vec<&str> = families().iter().filter(|(_, h)| h.contains(&n)).map(|(f, _)| *f).collect();
            assert_eq!(listed, [want], "syscall {n} ({}) is routed to {want}", nr::name(n));
        }
    }

    #[test]
    fn every_socket_call_goes_to_net_directly() {
        for &n in net::HANDLED {
            assert_eq!(direct(n), Direct::Net, "{}", nr::name(n));
        }
        for &n in mem::HANDLED {
            assert_eq!(direct(n), Direct::Mem, "{}", nr::name(n));
        }
        assert_eq!(direct(nr::CLOCK_GETTIME), Direct::Time);
        assert_eq!(direct(nr::CLOSE), Direct::Close);
        assert_eq!(direct(nr::POLL), Direct::Poll);
        assert_eq!(direct(nr::PPOLL), Direct::Chain);
        for &n in process::HANDLED {
            assert_eq!(direct(n), Direct::Process, "{}", nr::name(n));
        }
        assert_eq!(direct(nr::READ), Direct::Chain);
    }
}
