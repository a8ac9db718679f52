//! The linux-userland South platform: the library OS's [`Platform`] served by host syscalls
//! through the gate, refusing any memory operation that would touch the runtime's own ranges.
use litebox_libos::abi::{Stat, Timespec, MAP_FIXED, MAP_FIXED_NOREPLACE};
use litebox_libos::errno::*;
use litebox_libos::platform::HostPassthrough;
use litebox_libos::Platform;

use crate::sys::{self, check};
use crate::{guard, signals, udpapp};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

/// Closes a host descriptor the library OS owned.
pub fn close_host_fd(fd: i32) {
    crate::udpapp::forget(fd);
    sys::syscall3(sys::CLOSE, fd as usize, 0, 0);
}

/// Whether host descriptor `fd` has O_NONBLOCK set.
fn nonblocking(fd: i32) -> bool {
    const F_GETFL: usize = 3;
    const O_NONBLOCK: usize = 0o4000;
    r(sys::syscall3(sys::FCNTL, fd as usize, F_GETFL, 0)).is_ok_and(|fl| fl & O_NONBLOCK != 0)
}

/// The rest of a blocking connect that the supervisor started without blocking: wait until
/// the socket is writable (the app's handled signals interrupt this, as natively), then its
/// outcome.
fn finish_connect(fd: i32) -> Result<usize, Errno> {
    const POLLOUT: i16 = 4;
    let mut p = [litebox_libos::abi::PollFd { fd, events: POLLOUT, revents: 0 }];
    // The connect is under way: a signal that cuts the wait before the poll gives EINTR, as
    // natively, not a second connect (which would give EALREADY).
    signals::blocking(|| r(sys::window_syscall3(sys::POLL, p.as_mut_ptr() as usize, 1, -1isize as usize)))
        .map_err(|e| if litebox_libos::errno::interrupted(e) { EINTR } else { e })?;
    let mut err = 0i32;
    let mut len = 4u32;
    const GETSOCKOPT: usize = 55;
    const SOL_SOCKET: usize = 1;
    const SO_ERROR: usize = 4;
    let (ep, lp) = (&mut err as *mut i32 as usize, &mut len as *mut u32 as usize);
    r(sys::syscall6(GETSOCKOPT, fd as usize, SOL_SOCKET, SO_ERROR, ep, lp, 0))?;
    if err != 0 {
        Err(err)
    } else {
        Ok(0)
    }
}

/// The host process as a platform.
pub struct LinuxHost {
    /// The ids the app sees (the policy's, else the host's).
    pub uid: u32,
    pub gid: u32,
    /// CPUs this process may run on, and the machine's memory, read at start.
    pub cpus: usize,
    pub mem_total: u64,
    /// A runtime-owned duplicate of the terminal among the artifact's stdin/stdout/stderr
    /// (-1: none), for /dev/tty.
    pub tty: i32,
    /// Whether the writable layer is the sandbox's private tmpfs (counted as app memory).
    pub layer_in_memory: bool,
}

fn r(v: isize) -> Result<usize, Errno> {
    check(v)
}

/// The statics a fork child writes (its pid, that it is not the first process, its place in
/// the process count), together in one 64-byte-aligned block so that they share a page: after
/// a fork, each page a process writes costs it a copy-on-write fault.
#[repr(C, align(64))]
pub struct ForkState {
    /// This process's host pid once asked for (0: not yet; a fork child sets its own).
    pub pid: AtomicI32,
    /// Whether this is the app's first process (cleared in every fork child, signals.rs
    /// `host_fork`): only its parent never changes, so only its getppid is kept ([`PPID`]).
    pub first_process: AtomicBool,
    /// Whether this process already took itself off the process count (procs.rs).
    pub released: AtomicBool,
}

/// This process's [`ForkState`] until [`fork_state_here`] moves it into a thread's block.
static FORK_STATE: ForkState =
    ForkState { pid: AtomicI32::new(0), first_process: AtomicBool::new(true), released: AtomicBool::new(false) };
/// Where this process's [`ForkState`] is (0: [`FORK_STATE`]): in the top page of the block of
/// the thread that forks, which the fork path writes in both processes anyway (its stack and
/// fast-path data), so a fork child records its pid without a copy-on-write fault of its own.
static FORK_STATE_AT: AtomicUsize = AtomicUsize::new(0);

/// This process's [`ForkState`].
pub fn fork_state() -> &'static ForkState {
    match FORK_STATE_AT.load(Ordering::Acquire) {
        0 => &FORK_STATE,
        // SAFETY: set by `fork_state_here` to a ForkState inside a thread block, which is
        // never freed.
        at => unsafe { &*(at as *const ForkState) },
    }
}

/// Makes the calling thread's block hold this process's [`ForkState`] (a copy of it), when
/// `alone` (this is the process's only thread, so nothing changes the state meanwhile).
/// Called before a fork, while every page write is still free; a fork child calls it too
/// (then alone), where it writes only if a thread other than its process's first forked.
pub fn fork_state_here(alone: bool) {
    let here = crate::threads::fork_state_slot();
    if !alone || FORK_STATE_AT.load(Ordering::Relaxed) == here {
        return;
    }
    let old = fork_state();
    // SAFETY: the slot is this thread's, in its block's top data (threads.rs), reserved for it.
    unsafe {
        core::ptr::write(
            here as *mut ForkState,
            ForkState {
                pid: AtomicI32::new(old.pid.load(Ordering::Relaxed)),
                first_process: AtomicBool::new(old.first_process.load(Ordering::Relaxed)),
                released: AtomicBool::new(old.released.load(Ordering::SeqCst)),
            },
        )
    };
    FORK_STATE_AT.store(here, Ordering::Release);
}
/// The first process's host getppid once asked for (0: not yet).
static PPID: AtomicI32 = AtomicI32::new(0);

/// This process's host pid, asked of the host once per process (see [`ForkState::pid`]).
// `.text`, with the fork path: a fork child's exit asks it (test_e2e_fork_faults.py).
#[link_section = ".text"]
pub fn cached_pid() -> i32 {
    match fork_state().pid.load(Ordering::Relaxed) {
        0 => {
            let pid = sys::syscall3(sys::GETPID, 0, 0, 0) as i32;
            fork_state().pid.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// prlimit64's number and RLIMIT_CPU: the one resource the app's limit reaches the host for
/// (the gate allows exactly this pair, on the calling process only: gatefilter.rs `prlimit64`).
const PRLIMIT64: usize = 302;
const RLIMIT_CPU: usize = 0;

impl Platform for LinuxHost {
    fn single_thread_exclusive(&self) -> bool {
        // The runtime starts no threads of its own (app threads only, threads.rs), and app
        // signal handlers run inside a call only in `signals::blocking`'s window.
        true
    }
    fn children_slot(&self) -> Option<usize> {
        // The top page of the calling thread's block, which a fork writes in both processes
        // (its stack, fast-path data and fork state); blocks are never freed (threads.rs).
        Some(crate::threads::children_slot())
    }

    fn set_cpu_limit(&self, cur: u64, max: u64) -> Result<(), Errno> {
        // The app and the runtime are one host process: the host kernel counts its CPU time
        // and sends SIGXCPU and SIGKILL itself. Never above the host's own hard limit (the
        // sandbox has no CAP_SYS_RESOURCE, so the host would refuse that anyway).
        let mut host = [0u64; 2];
        r(sys::syscall6(PRLIMIT64, 0, RLIMIT_CPU, 0, host.as_mut_ptr() as usize, 0, 0))?;
        let new = [cur.min(host[1]), max.min(host[1])];
        r(sys::syscall6(PRLIMIT64, 0, RLIMIT_CPU, new.as_ptr() as usize, 0, 0, 0)).map(|_| ())
    }

    fn take_stack_slot(&self, len: usize, guard: usize) -> Option<usize> {
        sys::take_stack_slot(len, guard)
    }

    // Inlined into the shim's mmap (litebox_libos::shim::mem::hot says why).
    #[inline(always)]
    fn mmap_anon(&self, addr: usize, len: usize, prot: u32, flags: u32) -> Result<usize, Errno> {
        const ALLOWED: u32 = 0x03
            | MAP_FIXED
            | 0x20
            | 0x100
            | 0x800
            | 0x2000
            | 0x4000
            | 0x8000
            | 0x10000
            | 0x20000
            | MAP_FIXED_NOREPLACE;
        let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        let mut hint = addr;
        // A hint of 0 (the common mmap) stays the hint whatever the guard says.
        if (fixed || addr != 0) && guard::overlaps(addr, len) {
            if fixed {
                return Err(if flags & MAP_FIXED_NOREPLACE != 0 { EEXIST } else { ENOMEM });
            }
            hint = 0;
        }
        let flags = (flags & ALLOWED) | 0x20; // always anonymous
        let prot = prot & 7;
        let at = r(sys::syscall6(sys::MMAP, hint, len, prot as usize, flags as usize, usize::MAX, 0))?;
        if guard::overlaps(at, len) {
            // Cannot happen (the kernel does not hand out mapped ranges), but never keep it.
            sys::syscall3(sys::MUNMAP, at, len, 0);
            return Err(ENOMEM);
        }
        Ok(at)
    }

    // Inlined into the shim's by-number socket calls (litebox_libos::shim::net::hot says
    // why): `HostPassthrough::net_call`'s answer for them, its other arms left out (a relay's
    // socket and any other call go to it). A sendto without an address names no abstract
    // Unix destination, so it blocks as `net_call`'s does, with no look at the address.
    #[inline(always)]
    fn net_hot(&self, nr: usize, a: [usize; 6]) -> Result<usize, Errno> {
        use litebox_libos::shim::nr;
        if udpapp::is_relay(a[0] as i32) {
            return HostPassthrough::net_call(self, nr, a);
        }
        match nr {
            nr::GETSOCKNAME | nr::GETPEERNAME | nr::GETSOCKOPT | nr::SHUTDOWN => {
                r(sys::syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]))
            }
            nr::RECVFROM => r(signals::blocking_syscall6(nr, a)),
            nr::SENDTO if a[4] == 0 => r(signals::blocking_syscall6(nr, a)),
            _ => HostPassthrough::net_call(self, nr, a),
        }
    }

    // Inlined into the shim's munmap (litebox_libos::shim::mem::hot says why).
    #[inline(always)]
    fn munmap(&self, addr: usize, len: usize) -> Result<(), Errno> {
        if guard::overlaps(addr, len) {
            return Err(EINVAL);
        }
        r(sys::syscall3(sys::MUNMAP, addr, len, 0)).map(|_| ())
    }

    fn mprotect(&self, addr: usize, len: usize, prot: u32) -> Result<(), Errno> {
        if guard::overlaps(addr, len) {
            return Err(EACCES);
        }
        r(sys::syscall3(sys::MPROTECT, addr, len, (prot & 7) as usize)).map(|_| ())
    }

    fn mremap(&self, old: usize, old_len: usize, new_len: usize, flags: u32, new_addr: usize) -> Result<usize, Errno> {
        const MREMAP_FIXED: u32 = 2;
        if guard::overlaps(old, old_len) || (flags & MREMAP_FIXED != 0 && guard::overlaps(new_addr, new_len)) {
            return Err(EINVAL);
        }
        let at = r(sys::syscall6(sys::MREMAP, old, old_len, new_len, flags as usize, new_addr, 0))?;
        if guard::overlaps(at, new_len) {
            return Err(ENOMEM);
        }
        Ok(at)
    }

    fn madvise(&self, addr: usize, len: usize, advice: u32) -> Result<(), Errno> {
        if guard::overlaps(addr, len) {
            return Err(EINVAL);
        }
        r(sys::syscall3(sys::MADVISE, addr, len, advice as usize)).map(|_| ())
    }

    // Inlined into the fast path's read and write of a host stream (fastpath.rs), and written
    // without a closure (`blocking_syscall6`), which stayed out of line: one more return
    // after the host call, which mispredicts after a read that blocked.
    #[inline(always)]
    fn host_read(&self, fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
        if udpapp::is_relay(fd) {
            return udpapp::read(fd, buf);
        }
        r(signals::blocking_syscall6(sys::READ, [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0]))
    }

    // As `host_read`.
    #[inline(always)]
    fn host_write(&self, fd: i32, buf: &[u8]) -> Result<usize, Errno> {
        if udpapp::is_relay(fd) {
            return udpapp::write(fd, buf);
        }
        r(signals::blocking_syscall6(sys::WRITE, [fd as usize, buf.as_ptr() as usize, buf.len(), 0, 0, 0]))
    }

    fn host_stat(&self, fd: i32) -> Result<Stat, Errno> {
        let mut st = Stat::default();
        r(sys::syscall3(sys::FSTAT, fd as usize, &mut st as *mut Stat as usize, 0))?;
        Ok(st)
    }

    fn host_lseek(&self, fd: i32, off: i64, whence: u32) -> Result<u64, Errno> {
        r(sys::syscall3(sys::LSEEK, fd as usize, off as usize, whence as usize)).map(|v| v as u64)
    }

    fn host_ioctl(&self, fd: i32, cmd: u32, arg: usize) -> Result<usize, Errno> {
        // Only what the shim forwards: the read-only queries (TCGETS, TIOCGWINSZ, TIOCGPGRP,
        // FIONREAD) and, for job control, TIOCSPGRP (the kernel accepts only a process group
        // of the terminal's session, named in the app's pid namespace: one of the app's own).
        // Never one that injects input, hangs up or reconfigures the terminal or the host.
        use litebox_libos::abi::{FIONREAD, TCGETS, TIOCGPGRP, TIOCGWINSZ, TIOCSPGRP};
        if !matches!(cmd, TCGETS | TIOCGWINSZ | TIOCGPGRP | TIOCSPGRP | FIONREAD) {
            return Err(ENOTTY);
        }
        if cmd == TIOCSPGRP && !crate::seccomp::PRIVATE_ROOT.load(Ordering::Relaxed) {
            // Without the app's own pid namespace a group number could name a host group.
            return Err(EPERM);
        }
        litebox_libos::user::slice_mut(arg, 8)?;
        let v = r(sys::syscall3(sys::IOCTL, fd as usize, cmd as usize, arg))?;
        if cmd == FIONREAD && udpapp::is_relay(fd) {
            let n: i32 = litebox_libos::user::read(arg)?;
            litebox_libos::user::write(arg, &(udpapp::pending(n.max(0) as usize) as i32))?;
        }
        Ok(v)
    }

    fn host_close(&self, fd: i32) {
        close_host_fd(fd);
    }

    fn host_set_nonblock(&self, fd: i32, on: bool) -> Result<(), Errno> {
        const F_GETFL: usize = 3;
        const F_SETFL: usize = 4;
        const O_NONBLOCK: usize = 0o4000;
        let fl = r(sys::syscall3(sys::FCNTL, fd as usize, F_GETFL, 0))?;
        let fl = if on { fl | O_NONBLOCK } else { fl & !O_NONBLOCK };
        r(sys::syscall3(sys::FCNTL, fd as usize, F_SETFL, fl)).map(|_| ())
    }

    fn passthrough(&self) -> Option<&dyn HostPassthrough> {
        Some(self)
    }

    fn block_until(&self, ready: &mut dyn FnMut() -> bool, deadline: Option<u64>) -> Result<bool, Errno> {
        // Pipes, eventfds, timerfds and epoll are host objects here (`passthrough`), so the
        // core's kernel objects are unused; this serves them anyway, on one futex word.
        loop {
            let seq = WAKE_SEQ.load(Ordering::SeqCst);
            if ready() {
                return Ok(true);
            }
            let now = self.clock_gettime(1).map_or(0, |t| t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64);
            if deadline.is_some_and(|d| now >= d) {
                return Ok(false);
            }
            let rel = deadline.map(|d| {
                let ns = d - now;
                Timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 }
            });
            let ts = rel.as_ref().map_or(0, |t| t as *const Timespec as usize);
            let word = WAKE_SEQ.as_ptr() as usize;
            WAITERS.fetch_add(1, Ordering::SeqCst);
            let w = signals::blocking(|| {
                r(sys::window_syscall6(sys::FUTEX, word, sys::FUTEX_WAIT_PRIVATE, seq as usize, ts, 0, 0))
            });
            WAITERS.fetch_sub(1, Ordering::SeqCst);
            if let Err(e) = w {
                if litebox_libos::errno::interrupted(e) {
                    return Err(e);
                }
            }
        }
    }

    fn wake_all(&self) {
        WAKE_SEQ.fetch_add(1, Ordering::SeqCst);
        if WAITERS.load(Ordering::SeqCst) == 0 {
            return;
        }
        r(sys::syscall6(sys::FUTEX, WAKE_SEQ.as_ptr() as usize, sys::FUTEX_WAKE_PRIVATE, i32::MAX as usize, 0, 0, 0))
            .ok();
    }

    // Inlined into the shim's poll of host descriptors (litebox_libos::shim::io::poll_fds).
    #[inline(always)]
    fn host_poll(&self, fds: &mut [litebox_libos::abi::PollFd], timeout_ms: i32) -> Result<usize, Errno> {
        let a = [fds.as_mut_ptr() as usize, fds.len(), timeout_ms as isize as usize, 0, 0, 0];
        r(signals::blocking_syscall6(sys::POLL, a))
    }

    fn map_image(&self, addr: usize, len: usize, prot: u32, image_off: u64) -> Result<usize, Errno> {
        if guard::overlaps(addr, len) {
            return Err(ENOMEM);
        }
        crate::selfimage::map_at(addr, len, prot, image_off)
    }

    fn host_mmap(&self, addr: usize, len: usize, prot: u32, flags: u32, fd: i32, off: u64) -> Result<usize, Errno> {
        let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        let mut hint = addr;
        // A hint of 0 (the common mmap) stays the hint whatever the guard says.
        if (fixed || addr != 0) && guard::overlaps(addr, len) {
            if fixed {
                return Err(if flags & MAP_FIXED_NOREPLACE != 0 { EEXIST } else { ENOMEM });
            }
            hint = 0;
        }
        const ALLOWED: u32 = 0x03 | MAP_FIXED | 0x100 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | MAP_FIXED_NOREPLACE;
        let at = r(sys::syscall6(
            sys::MMAP,
            hint,
            len,
            (prot & 7) as usize,
            (flags & ALLOWED) as usize,
            fd as usize,
            off as usize,
        ))?;
        if guard::overlaps(at, len) {
            sys::syscall3(sys::MUNMAP, at, len, 0);
            return Err(ENOMEM);
        }
        Ok(at)
    }

    fn clock_gettime(&self, clock: u32) -> Result<Timespec, Errno> {
        // The clocks the vDSO serves are read there, without a host call (vdso.rs).
        if let Some(res) = crate::vdso::clock_gettime(clock) {
            return res;
        }
        let mut t = Timespec::default();
        r(sys::syscall3(sys::CLOCK_GETTIME, clock as usize, &mut t as *mut Timespec as usize, 0))?;
        Ok(t)
    }

    fn random(&self, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let p = buf[done..].as_mut_ptr() as usize;
            match check(sys::syscall3(sys::GETRANDOM, p, buf.len() - done, 0)) {
                Ok(n) => done += n,
                Err(EINTR) => {}
                Err(_) => crate::fatal(124, b"getrandom failed"),
            }
        }
    }

    fn sleep(&self, dur: &Timespec) -> Result<(), Errno> {
        signals::blocking(|| r(sys::window_syscall3(sys::NANOSLEEP, dur as *const Timespec as usize, 0, 0)).map(|_| ()))
    }

    fn set_tid_address(&self, addr: usize) -> Result<usize, Errno> {
        r(sys::syscall6(sys::SET_TID_ADDRESS, addr, 0, 0, 0, 0, 0))
    }

    fn set_robust_list(&self, head: usize, len: usize) -> Result<usize, Errno> {
        r(sys::syscall6(sys::SET_ROBUST_LIST, head, len, 0, 0, 0, 0))
    }

    fn arch_prctl(&self, code: u32, addr: usize) -> Result<usize, Errno> {
        match code {
            // GS belongs to the runtime (each thread's fast-path data): the app's GS base
            // reads as 0 and cannot be set.
            0x1001 => Err(litebox_libos::errno::EPERM),
            0x1004 => litebox_libos::user::write(addr, &0usize).map(|_| 0),
            0x1002..=0x1003 => r(sys::syscall3(sys::ARCH_PRCTL, code as usize, addr, 0)),
            _ => Err(EINVAL),
        }
    }

    fn ids(&self) -> (i32, i32) {
        (self.pid(), sys::syscall3(sys::GETTID, 0, 0, 0) as i32)
    }

    // `.text`, with the fork path: a fork child's exit asks it (test_e2e_fork_faults.py).
    #[link_section = ".text"]
    fn pid(&self) -> i32 {
        // The pid changes only in a fork child, which sets the cache (signals.rs, `host_fork`).
        cached_pid()
    }

    fn creds(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }

    fn cpu_count(&self) -> usize {
        self.cpus
    }

    fn mem_total(&self) -> u64 {
        self.mem_total
    }

    fn resident(&self) -> Option<u64> {
        // statm's second field: resident pages of the whole process (the app and the
        // runtime's few pages).
        let fd = sys::open_path(b"/proc/self/statm", 0o2000000, 0).ok()?;
        let mut buf = [0u8; 128];
        let n = check(sys::syscall3(sys::READ, fd as usize, buf.as_mut_ptr() as usize, buf.len()));
        sys::syscall3(sys::CLOSE, fd as usize, 0, 0);
        let text = &buf[..n.ok()?];
        let field = text.split(|&c| c == b' ').nth(1)?;
        let pages = field.iter().try_fold(0u64, |v, &c| c.is_ascii_digit().then(|| v * 10 + (c - b'0') as u64))?;
        Some(pages * 4096)
    }

    fn storage_used(&self) -> u64 {
        // The layer is a private tmpfs only inside the sandbox's namespaces; without them it
        // shares /dev/shm with the host, whose usage is not the app's.
        if !self.layer_in_memory {
            return 0;
        }
        let mut st = [0u64; 15];
        const FSTATFS: usize = 138;
        let fd = crate::UPPER.load(Ordering::Relaxed);
        if check(sys::syscall3(FSTATFS, fd as usize, st.as_mut_ptr() as usize, 0)).is_err() {
            return 0;
        }
        // struct statfs: f_type, f_bsize, f_blocks, f_bfree, ...
        st[2].saturating_sub(st[3]).saturating_mul(st[1])
    }

    fn open_tty(&self) -> Result<i32, Errno> {
        if self.tty < 0 {
            return Err(ENXIO);
        }
        self.host_dup(self.tty)
    }

    fn host_dup(&self, fd: i32) -> Result<i32, Errno> {
        const F_DUPFD_CLOEXEC: usize = 1030;
        let new = r(sys::syscall3(sys::FCNTL, fd as usize, F_DUPFD_CLOEXEC, 0))? as i32;
        if udpapp::is_relay(fd) && !udpapp::add(new) {
            close_host_fd(new);
            return Err(EMFILE);
        }
        Ok(new)
    }

    fn sigaltstack(&self, new: usize, old: usize, sp: usize) -> Result<usize, Errno> {
        crate::fastpath::app_sigaltstack(new, old, sp)
    }

    fn exec_prepare(&self) -> Result<(), Errno> {
        crate::exec::unmap_app();
        signals::reset_for_exec();
        crate::fastpath::clear_altstack();
        sys::syscall3(sys::SET_ROBUST_LIST, 0, 24, 0);
        Ok(())
    }

    fn host_aux(&self) -> alloc::vec::Vec<(usize, usize)> {
        crate::HOST_AUX.lock().clone()
    }

    fn publish_process(&self, rec: &litebox_libos::procfs::ProcRecord) {
        crate::ptable::publish(rec);
    }

    fn app_processes(&self) -> alloc::vec::Vec<litebox_libos::procfs::ProcRecord> {
        crate::ptable::all()
    }

    fn ids_parent(&self) -> i32 {
        // The app's first process keeps its parent for life (the sandbox's init, or the
        // supervisor, which reaps it and whose death kills it: supervisor.rs), so its answer
        // is asked once. A fork child's parent can exit and leave it to init: asked each time.
        if !fork_state().first_process.load(Ordering::Relaxed) {
            return sys::syscall3(110, 0, 0, 0) as i32;
        }
        match PPID.load(Ordering::Relaxed) {
            0 => {
                let ppid = sys::syscall3(110, 0, 0, 0) as i32;
                PPID.store(ppid, Ordering::Relaxed);
                ppid
            }
            ppid => ppid,
        }
    }

    fn learning(&self) -> bool {
        crate::trace::learning()
    }

    fn learn(&self, kind: &[u8], value: &[u8]) {
        crate::trace::learn(kind, value);
    }

    // In the plain `.text` input section, laid out first with the fork path (startup-order.ld):
    // a fork child's exit then faults in no window of runtime code of its own for it
    // (tests/e2e/test_e2e_fork_faults.py).
    #[link_section = ".text"]
    fn exit_group(&self, code: i32) -> ! {
        crate::ptable::exiting(self.pid());
        crate::procs::release();
        sys::exit(code)
    }

    fn exit_thread(&self, code: i32) -> ! {
        // Nothing of the runtime is held from here: a fork need not wait for this thread.
        crate::forkfence::retire(crate::fastpath::data());
        loop {
            sys::syscall3(sys::EXIT, code as usize, 0, 0);
        }
    }

    fn log(&self, line: &[u8]) {
        let mut buf = alloc::vec::Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        sys::write_all(crate::log_fd(), &buf);
    }
}

/// Bumped by `wake_all`; `block_until` sleeps on it.
static WAKE_SEQ: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
/// Threads in `block_until`'s futex wait (`wake_all` makes no syscall without any).
static WAITERS: AtomicI32 = AtomicI32::new(0);

/// The app's futex calls that are not wakes and are running in the host right now (waits,
/// locks, requeues; futex_waitv), counted across every thread that shares this address space
/// (and so this variable, and the kernel's private futexes). While it is zero no app thread of
/// this address space is, or is about to be, blocked on a private futex in the host.
static APP_FUTEX_WAITERS: AtomicUsize = AtomicUsize::new(0);

/// Counts one app futex call that is not a plain wake in [`APP_FUTEX_WAITERS`] while it runs.
struct PrivateWaiter(bool);

impl PrivateWaiter {
    fn enter(op: u32) -> Self {
        let wake = matches!(op & 0x7f, FUTEX_WAKE | FUTEX_WAKE_BITSET);
        if !wake {
            // A full barrier before the host reads the word: see `idle_private_wake`.
            APP_FUTEX_WAITERS.fetch_add(1, Ordering::SeqCst);
        }
        Self(!wake)
    }
}

impl Drop for PrivateWaiter {
    fn drop(&mut self) {
        if self.0 {
            APP_FUTEX_WAITERS.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

const FUTEX_WAKE: u32 = 1;
const FUTEX_WAKE_BITSET: u32 = 10;
const FUTEX_PRIVATE_FLAG: u32 = 128;

/// Whether the futex call (`uaddr`, `op`, `val3`) is a private wake the host would answer with 0
/// because nobody waits: FUTEX_WAKE or FUTEX_WAKE_BITSET (bitset not 0) with
/// FUTEX_PRIVATE_FLAG and no other flag, on an aligned word, while no app futex call is in the
/// host. Then the host call is skipped (Linux's own futex_wake returns 0 there without reading
/// the word). Everything else, errors included, is left to the host.
///
/// No wake is lost: a waiter counts itself (a locked add, a full barrier) before the host
/// compares its word, and this check runs a full barrier after the app's store to the word and
/// before reading the count. So either the waker sees the count, or the host's compare sees the
/// new value and the wait returns EAGAIN, as a wait that came after the wake would.
fn idle_private_wake(uaddr: usize, op: u32, val3: u32) -> bool {
    let plain = op == FUTEX_WAKE | FUTEX_PRIVATE_FLAG || (op == FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG && val3 != 0);
    // `fetch_add(0)` is the barrier and the load in one locked instruction.
    plain && uaddr.is_multiple_of(4) && APP_FUTEX_WAITERS.fetch_add(0, Ordering::SeqCst) == 0
}

/// Pipes, eventfds, timerfds and epoll are the host's own: the app's processes and the host
/// children they start share them, and they cost no more than natively.
impl HostPassthrough for LinuxHost {
    fn sigaction(&self, sig: i32, new: usize, old: usize, size: usize) -> Result<usize, Errno> {
        signals::app_sigaction(sig, new, old, size)
    }

    fn futex(&self, uaddr: usize, op: u32, val: u32, timeout: usize, uaddr2: usize, val3: u32) -> Result<usize, Errno> {
        litebox_libos::user::slice(uaddr, 4)?;
        if idle_private_wake(uaddr, op, val3) {
            return Ok(0);
        }
        let a = [uaddr, op as usize, val as usize, timeout, uaddr2, val3 as usize];
        // Every other operation may leave a waiter in the host (WAIT, LOCK_PI, WAIT_BITSET,
        // WAIT_REQUEUE_PI, LOCK_PI2 block; a requeue moves waiters): counted while it runs.
        let _w = PrivateWaiter::enter(op);
        match op & 0x7f {
            0 | 6 | 9 | 11 | 13 => {
                signals::blocking(|| r(sys::window_syscall6(sys::FUTEX, a[0], a[1], a[2], a[3], a[4], a[5])))
            }
            _ => r(sys::syscall6(sys::FUTEX, a[0], a[1], a[2], a[3], a[4], a[5])),
        }
    }

    fn futex_waitv(&self, a: [usize; 6]) -> Result<usize, Errno> {
        const FUTEX_WAITV: usize = 449;
        let _w = PrivateWaiter::enter(0);
        signals::blocking(|| r(sys::window_syscall6(FUTEX_WAITV, a[0], a[1], a[2], a[3], a[4], 0)))
    }

    fn pipe(&self, flags: u32) -> Result<(i32, i32), Errno> {
        let mut fds = [0i32; 2];
        const O_CLOEXEC: usize = 0o2000000;
        r(sys::syscall3(sys::PIPE2, fds.as_mut_ptr() as usize, flags as usize | O_CLOEXEC, 0))?;
        Ok((fds[0], fds[1]))
    }

    fn fd_call(&self, nr: usize, a: [usize; 6]) -> Result<usize, Errno> {
        use litebox_libos::shim::nr;
        match nr {
            nr::FTRUNCATE | nr::FCHMOD | nr::FSYNC | nr::FDATASYNC => r(sys::syscall6(nr, a[0], a[1], 0, 0, 0, 0)),
            // A write that does not wait (a pipe's promotion moves its bytes into a new,
            // non-blocking host pipe): no window for app signal handlers.
            nr::WRITE => r(sys::syscall6(nr, a[0], a[1], a[2], 0, 0, 0)),
            // A host pipe's size (F_SETPIPE_SZ, F_GETPIPE_SZ): answered at once.
            nr::FCNTL if matches!(a[1], 1031 | 1032) => r(sys::syscall6(nr, a[0], a[1], a[2], 0, 0, 0)),
            // Record locks only (F_GETLK/F_SETLK/F_SETLKW and the OFD forms): never F_SETOWN,
            // F_SETSIG, F_SETLEASE or F_NOTIFY, which would aim signals at host processes.
            nr::FCNTL if !matches!(a[1], 5 | 6 | 7 | 36 | 37 | 38) => Err(EINVAL),
            nr::FCNTL => signals::blocking(|| r(sys::window_syscall6(nr, a[0], a[1], a[2], 0, 0, 0))),
            // flock of a file the app holds; LOCK_EX/LOCK_SH without LOCK_NB waits.
            nr::FLOCK => signals::blocking(|| r(sys::window_syscall6(nr, a[0], a[1], 0, 0, 0, 0))),
            nr::EPOLL_CREATE1
            | nr::EPOLL_CTL
            | nr::EVENTFD2
            | nr::TIMERFD_CREATE
            | nr::TIMERFD_SETTIME
            | nr::TIMERFD_GETTIME => r(sys::syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])),
            // The shim took SIGSYS out of the mask.
            nr::SIGNALFD4 => r(sys::syscall6(nr, a[0], a[1], 8, a[3], 0, 0)),
            nr::EPOLL_WAIT | nr::EPOLL_PWAIT => {
                signals::blocking(|| r(sys::window_syscall6(nr::EPOLL_WAIT, a[0], a[1], a[2], a[3], 0, 0)))
            }
            _ => Err(ENOSYS),
        }
    }

    fn signal_call(&self, nr: usize, a: [usize; 6]) -> Result<usize, Errno> {
        use litebox_libos::shim::nr;
        match nr {
            nr::KILL | nr::TGKILL | nr::ALARM | nr::SETITIMER | nr::GETITIMER => {
                let v = r(sys::syscall6(nr, a[0], a[1], a[2], 0, 0, 0))?;
                // A stopped process continued (for /proc/PID/stat; SIGCONT = 18).
                if nr == nr::KILL && a[1] == 18 && (a[0] as i32) > 0 {
                    crate::ptable::set_state(a[0] as i32, b'S');
                }
                Ok(v)
            }
            nr::RT_SIGQUEUEINFO | nr::RT_TGSIGQUEUEINFO => {
                // The siginfo is copied by the host kernel from app memory; check it is there.
                let info = if nr == nr::RT_SIGQUEUEINFO { a[2] } else { a[3] };
                litebox_libos::user::slice(info, 128)?;
                r(sys::syscall6(nr, a[0], a[1], a[2], a[3], 0, 0))
            }
            nr::RT_SIGPENDING => {
                let mut set = 0u64;
                r(sys::syscall3(nr, &mut set as *mut u64 as usize, 8, 0))?;
                set &= !(1u64 << (signals::SIGSYS - 1));
                litebox_libos::user::write(a[0], &set).map(|_| 0)
            }
            nr::RT_SIGSUSPEND => {
                let mask: u64 = litebox_libos::user::read(a[0])?;
                let mask = mask & !(1u64 << (signals::SIGSYS - 1));
                // With the thread outside the runtime (depth 0), as every call in which app
                // signals are delivered: inside, the wrapper would defer the very signal this
                // call waits for.
                // The mask is recorded: a handler the call lets in runs with it (fastpath.rs
                // `handler_mask`).
                crate::fastpath::open_window(|| {
                    crate::fastpath::suspended_with(mask, || {
                        r(sys::window_syscall3(nr, &mask as *const u64 as usize, 8, 0))
                    })
                })
            }
            nr::PAUSE => signals::blocking(|| r(sys::window_syscall3(nr, 0, 0, 0))),
            // The shim took SIGSYS out of the set and checked the timeout.
            nr::RT_SIGTIMEDWAIT => signals::blocking(|| r(sys::window_syscall6(nr, a[0], a[1], a[2], 8, 0, 0))),
            // The sigevent is the shim's checked copy (never SIGSYS, clocks of the app only).
            nr::TIMER_CREATE | nr::TIMER_SETTIME | nr::TIMER_GETTIME | nr::TIMER_GETOVERRUN | nr::TIMER_DELETE => {
                r(sys::syscall6(nr, a[0], a[1], a[2], a[3], 0, 0))
            }
            _ => Err(ENOSYS),
        }
    }

    fn process_call(&self, nr: usize, a: [usize; 6]) -> Result<usize, Errno> {
        use litebox_libos::shim::nr;
        match nr {
            nr::WAIT4 => {
                // The status goes through a local so the runtime sees how the child ended
                // even when the app passes NULL (a child killed by a signal is taken off the
                // process count here).
                let mut status = 0i32;
                let st = &mut status as *mut i32 as usize;
                if a[1] != 0 {
                    litebox_libos::user::slice_mut(a[1], 4)?;
                }
                let pid = signals::blocking(|| r(sys::window_syscall6(nr, a[0], st, a[2], a[3], 0, 0)))?;
                const WNOWAIT: usize = 0x0100_0000;
                if pid != 0 && a[2] & WNOWAIT == 0 && crate::procs::status_killed(status) {
                    crate::procs::reaped_by_signal();
                }
                match status {
                    0xffff => crate::ptable::set_state(pid as i32, b'S'),
                    s if s & 0xff == 0x7f => crate::ptable::set_state(pid as i32, b'T'),
                    _ => {}
                }
                // Exited or killed (not a stop or continue report): reaped.
                if pid != 0 && a[2] & WNOWAIT == 0 && (status & 0x7f == 0 || crate::procs::status_killed(status)) {
                    crate::ptable::gone(pid as i32);
                }
                if a[1] != 0 {
                    litebox_libos::user::write(a[1], &status)?;
                }
                Ok(pid)
            }
            nr::WAITID => {
                let mut info = [0u8; 128];
                if a[2] != 0 {
                    litebox_libos::user::slice_mut(a[2], 128)?;
                }
                let ip = info.as_mut_ptr() as usize;
                let v = signals::blocking(|| r(sys::window_syscall6(nr, a[0], a[1], ip, a[3], a[4], 0)))?;
                // siginfo: si_code at 8 (CLD_KILLED 2, CLD_DUMPED 3), si_pid at 16.
                let code = i32::from_ne_bytes([info[8], info[9], info[10], info[11]]);
                let pid = i32::from_ne_bytes([info[16], info[17], info[18], info[19]]);
                const WNOWAIT: usize = 0x0100_0000;
                if pid != 0 && a[3] & WNOWAIT == 0 && (code == 2 || code == 3) {
                    crate::procs::reaped_by_signal();
                }
                // CLD_STOPPED, CLD_TRAPPED, CLD_CONTINUED.
                match code {
                    4 | 5 => crate::ptable::set_state(pid, b'T'),
                    6 => crate::ptable::set_state(pid, b'S'),
                    _ => {}
                }
                // CLD_EXITED, CLD_KILLED, CLD_DUMPED: reaped.
                if pid != 0 && a[3] & WNOWAIT == 0 && (1..=3).contains(&code) {
                    crate::ptable::gone(pid);
                }
                if a[2] != 0 {
                    litebox_libos::user::slice_mut(a[2], 128)?.copy_from_slice(&info);
                }
                Ok(v)
            }
            // Process groups and sessions: inside the app's pid namespace they name only the
            // app's processes; without one they act on the app's own processes only.
            nr::SETPGID | nr::GETPGID | nr::GETSID => r(sys::syscall3(nr, a[0], a[1], 0)),
            nr::SETSID => r(sys::syscall3(nr, 0, 0, 0)),
            // PR_SET_CHILD_SUBREAPER (the gate allows no other prctl): the app's orphaned
            // descendants come back to this process.
            nr::PRCTL if a[0] == 36 => r(sys::syscall3(nr, 36, usize::from(a[1] != 0), 0)),
            _ => Err(ENOSYS),
        }
    }

    fn ipc_call(&self, nr: usize, a: [usize; 6]) -> Result<usize, Errno> {
        use litebox_libos::shim::nr;
        // Only inside the app's own IPC namespace (part of the private root): never the
        // host's SysV objects. The gate lets these calls through only then too.
        if !crate::seccomp::PRIVATE_ROOT.load(Ordering::Relaxed) {
            return Err(ENOSYS);
        }
        match nr {
            nr::SEMOP | nr::SEMTIMEDOP | nr::MSGSND | nr::MSGRCV | nr::MQ_TIMEDSEND | nr::MQ_TIMEDRECEIVE => {
                signals::blocking(|| r(sys::window_syscall6(nr, a[0], a[1], a[2], a[3], a[4], 0)))
            }
            nr::SHMGET | nr::SHMAT | nr::SHMCTL | nr::SHMDT | nr::SEMGET | nr::SEMCTL | nr::MSGGET | nr::MSGCTL => {
                r(sys::syscall6(nr, a[0], a[1], a[2], a[3], 0, 0))
            }
            // POSIX message queues of the same namespace; the shim checked mq_notify's
            // sigevent (a copy in runtime memory) and gives host descriptors.
            nr::MQ_OPEN | nr::MQ_UNLINK | nr::MQ_NOTIFY | nr::MQ_GETSETATTR => {
                r(sys::syscall6(nr, a[0], a[1], a[2], a[3], 0, 0))
            }
            _ => Err(ENOSYS),
        }
    }

    fn private_pids(&self) -> bool {
        crate::seccomp::PRIVATE_ROOT.load(Ordering::Relaxed)
    }

    fn private_net(&self) -> bool {
        crate::layers::PRIVATE_NET.load(Ordering::Relaxed)
    }

    fn net_call(&self, nr: usize, a: [usize; 6]) -> Result<usize, Errno> {
        use crate::broker::{request, OP_SOCKET};
        use litebox_libos::shim::nr;
        // The app's end of a UDP relay: the data calls are translated (udpapp.rs); bind,
        // listen and connect go to the supervisor as for any IP socket, which acts on the
        // relay's socket.
        if !matches!(nr, nr::SOCKET | nr::SOCKETPAIR) && udpapp::is_relay(a[0] as i32) {
            if let Some(res) = udpapp::net_call(nr, a) {
                return res;
            }
        }
        match nr {
            // Unix sockets are made here (they reach only the sandbox's own paths); IP sockets,
            // and every bind, listen and connect, by the supervisor (broker.rs).
            nr::SOCKET | nr::SOCKETPAIR if a[0] == 1 => {
                // Without a private root a Unix datagram socket could send to host paths:
                // a seqpacket one keeps the message boundaries and reaches no path.
                let mut a = a;
                let private = crate::seccomp::PRIVATE_ROOT.load(Ordering::Relaxed);
                const SOCK_DGRAM: usize = 2;
                const SOCK_SEQPACKET: usize = 5;
                if !private && a[1] & 0xf == SOCK_DGRAM {
                    a[1] = (a[1] & !0xf) | SOCK_SEQPACKET;
                }
                // Where the sandbox's network namespace is lazy, this is a socket of the host's
                // namespace until it is first given or sent to an abstract name (unixns.rs
                // `into_sandbox_namespace`, below).
                r(sys::syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]))
            }
            nr::SOCKET => {
                let (relay, fd) = request(OP_SOCKET, [a[0] as u64, a[1] as u64, a[2] as u64], &[], None)?;
                // A UDP socket is the app's end of the supervisor's relay (udprelay.rs).
                if relay == 1 && !udpapp::add(fd) {
                    close_host_fd(fd);
                    return Err(EMFILE);
                }
                Ok(fd as usize)
            }
            nr::BIND | nr::CONNECT | nr::SENDTO | nr::SENDMSG | nr::SENDMMSG => {
                // Where the namespace is lazy, a Unix socket of the host's namespace moves into
                // the sandbox's before its first abstract name. If it cannot (the namespace
                // cannot be made: said in the debug log; or the socket is named or connected
                // already), the host's socket goes on to the broker's or the runtime's refusal
                // (EACCES) below.
                let abstract_name = names_abstract(nr, a);
                if abstract_name && crate::unixns::LAZY.load(Ordering::Relaxed) {
                    let _ = crate::unixns::into_sandbox_namespace(a[0] as i32);
                }
                self.net_call_named(nr, a, abstract_name)
            }
            _ => self.net_call_rest(nr, a),
        }
    }
}

impl LinuxHost {
    /// [`HostPassthrough::net_call`] for the calls that name an address, once a socket that
    /// uses an abstract name is of the sandbox's namespace where it can be; `abstract_name`:
    /// the call names an abstract Unix address ([`names_abstract`], worked out once).
    fn net_call_named(&self, nr: usize, a: [usize; 6], abstract_name: bool) -> Result<usize, Errno> {
        use crate::broker::{request, OP_BIND, OP_CONNECT};
        use litebox_libos::shim::nr;
        // The address the shim checked, in runtime memory.
        let addr = || litebox_libos::user::slice(a[1], a[2]);
        match nr {
            nr::BIND => request(OP_BIND, [0; 3], addr()?, Some(a[0] as i32)).map(|(v, _)| v),
            nr::CONNECT => match request(OP_CONNECT, [0; 3], addr()?, Some(a[0] as i32)) {
                Err(EINPROGRESS) if !nonblocking(a[0] as i32) => finish_connect(a[0] as i32),
                res => res.map(|(v, _)| v),
            },
            nr::SENDTO | nr::SENDMSG | nr::SENDMMSG if abstract_name && !crate::unixns::sandbox_socket(a[0] as i32) => {
                Err(EACCES)
            }
            nr::SENDTO | nr::SENDMSG | nr::SENDMMSG => {
                signals::blocking(|| r(sys::window_syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])))
            }
            _ => self.net_call_rest(nr, a),
        }
    }

    /// [`HostPassthrough::net_call`] for the calls that name no address.
    fn net_call_rest(&self, nr: usize, a: [usize; 6]) -> Result<usize, Errno> {
        use crate::broker::{request, OP_LISTEN};
        use litebox_libos::shim::nr;
        let call = || r(sys::syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]));
        match nr {
            nr::LISTEN => request(OP_LISTEN, [a[1] as u64, 0, 0], &[], Some(a[0] as i32)).map(|(v, _)| v),
            nr::SOCKETPAIR => Err(EAFNOSUPPORT),
            nr::GETSOCKNAME | nr::GETPEERNAME | nr::SETSOCKOPT | nr::GETSOCKOPT | nr::SHUTDOWN => call(),
            nr::ACCEPT4 | nr::RECVFROM | nr::RECVMSG | nr::RECVMMSG => {
                signals::blocking(|| r(sys::window_syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])))
            }
            _ => Err(ENOSYS),
        }
    }
}

/// Whether call `nr` (bind, connect, sendto, sendmsg, sendmmsg; addresses are the shim's copies
/// in runtime memory) names an abstract Unix address (or, for bind, only the family: autobind).
fn names_abstract(nr: usize, a: [usize; 6]) -> bool {
    use litebox_libos::shim::nr;
    match nr {
        nr::BIND | nr::CONNECT => litebox_libos::user::slice(a[1], a[2]).is_ok_and(crate::unixns::abstract_unix),
        _ => sends_to_abstract(nr, a),
    }
}

/// Whether send call `nr` (sendto, sendmsg, sendmmsg; addresses are the shim's copies in
/// runtime memory) names an abstract Unix destination.
fn sends_to_abstract(nr: usize, a: [usize; 6]) -> bool {
    use litebox_libos::shim::nr;
    let named = |ptr: usize, len: usize| {
        ptr != 0 && litebox_libos::user::slice(ptr, len).is_ok_and(crate::unixns::abstract_unix)
    };
    // struct msghdr: msg_name at 0, msg_namelen (u32) at 8.
    let in_msghdr = |at: usize| {
        litebox_libos::user::slice(at, 12).is_ok_and(|h| {
            let ptr = usize::from_le_bytes(h[0..8].try_into().unwrap_or([0; 8]));
            named(ptr, u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize)
        })
    };
    match nr {
        nr::SENDTO => named(a[4], a[5]),
        nr::SENDMSG => in_msghdr(a[1]),
        nr::SENDMMSG => (0..a[2]).any(|i| in_msghdr(a[1] + i * 64)),
        _ => false,
    }
}
