//! The library OS's [`Platform`] inside a VM, for every VM target. There is no host to forward
//! to: memory is the VM's own (`vm.rs`); descriptors 0–2 are the stdin bytes the loader passed
//! and the machine's console ([`crate::Machine::console_write`] for stdout,
//! [`crate::Machine::log_write`] for stderr); TCP sockets, pipes, eventfds, timerfds and epoll
//! are the library OS's own kernel objects (waiting through `block_until`, `wait.rs`); time is
//! the TSC. Each process of the app has its own `Vm` (its pid) inside its own library OS
//! (`proc.rs`); their threads share one CPU (`sched.rs`, preempted by `apic.rs`); signals are
//! delivered by `signals.rs`.
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use litebox_libos::abi::{PollFd, Stat, Timespec, S_IFCHR, S_IFIFO};
use litebox_libos::errno::*;
use litebox_libos::sync::SpinMutex;
use litebox_libos::Platform;

use super::{proc, signals, wait};
use crate::{clock, machine, port, rng, sched, vm};

/// The process id (and thread id) of the app's first process.
pub const PID: i32 = 1;

/// The VM as the platform of one process.
pub struct Vm {
    /// The process's id.
    pub pid: i32,
    /// The bytes the runner passed as stdin (PVH module 0), or empty.
    pub stdin: &'static [u8],
    /// How far stdin was read (shared by all processes: one open file description).
    pub stdin_pos: Arc<SpinMutex<usize>>,
    /// The app's uid and gid (the policy's, or root).
    pub uid: u32,
    /// See `uid`.
    pub gid: u32,
    /// RLIMIT_CPU, enforced by `signals::check_cpu_limit`.
    pub cpu_limit: CpuLimit,
}

/// A process's RLIMIT_CPU in CPU-time nanoseconds (`u64::MAX`: none): SIGXCPU when its CPU
/// time reaches `next` (the soft limit, then one more second each time), SIGKILL at `hard`.
#[derive(Default)]
pub struct CpuLimit {
    /// When the next SIGXCPU is due.
    pub next: AtomicU64,
    /// When SIGKILL is due.
    pub hard: AtomicU64,
}

impl CpuLimit {
    /// No limit.
    fn none() -> Self {
        Self { next: AtomicU64::new(u64::MAX), hard: AtomicU64::new(u64::MAX) }
    }

    /// Soft `cur` and hard `max` seconds, counted from a CPU time of 0 (a forked child's).
    fn set(&self, cur: u64, max: u64) {
        self.next.store(cur.saturating_mul(1_000_000_000), Ordering::Relaxed);
        self.hard.store(max.saturating_mul(1_000_000_000), Ordering::Relaxed);
    }
}

impl Vm {
    /// The first process's platform, serving `stdin` as descriptor 0.
    pub fn new(stdin: &'static [u8], uid: u32, gid: u32) -> Self {
        Self { pid: PID, stdin, stdin_pos: Arc::new(SpinMutex::new(0)), uid, gid, cpu_limit: CpuLimit::none() }
    }

    /// The platform of a forked child `pid`: the same dispositions, nothing pending, no timer.
    pub fn fork(&self, pid: i32) -> Self {
        Self {
            pid,
            stdin: self.stdin,
            stdin_pos: self.stdin_pos.clone(),
            uid: self.uid,
            gid: self.gid,
            cpu_limit: CpuLimit::none(),
        }
    }

    /// Hands the parent's RLIMIT_CPU (`cur`, `max` seconds) to this forked child, whose CPU
    /// time starts from 0.
    pub fn inherit_cpu_limit(&self, cur: u64, max: u64) {
        self.cpu_limit.set(cur, max);
    }

    /// poll readiness of descriptors 0–2: stdin readable (and hung up once drained), the
    /// console always writable.
    fn console_revents(&self, fd: i32) -> i16 {
        const POLLIN: i16 = 1;
        const POLLOUT: i16 = 4;
        const POLLHUP: i16 = 0x10;
        match fd {
            0 => POLLIN | if *self.stdin_pos.lock() >= self.stdin.len() { POLLHUP } else { 0 },
            _ => POLLOUT,
        }
    }
}

fn ns_of(t: &Timespec) -> u64 {
    (t.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec as u64)
}

fn console_stat() -> Stat {
    Stat { st_mode: S_IFCHR | 0o620, st_rdev: (4 << 8) | 64, st_blksize: 1024, st_nlink: 1, ..Stat::default() }
}

impl Platform for Vm {
    fn core_unix_sockets(&self) -> bool {
        true // the VM has no host sockets: the library OS's own (core/libos/src/unixsock.rs)
    }

    fn process_memory(&self, pid: i32) -> Option<(u64, u64)> {
        super::proc::memory_of(pid)
    }

    fn mmap_anon(&self, addr: usize, len: usize, prot: u32, flags: u32) -> Result<usize, Errno> {
        vm::map(addr, len, prot, flags)
    }

    fn munmap(&self, addr: usize, len: usize) -> Result<(), Errno> {
        vm::unmap(addr, len)
    }

    /// The image's pages in guest RAM, mapped in place copy-on-write (`vm::map_pinned`);
    /// EINVAL (the library OS copies instead) when the image is not page-aligned in RAM.
    fn map_image(&self, addr: usize, len: usize, prot: u32, image_off: u64) -> Result<usize, Errno> {
        let pa = super::image_phys().ok_or(EINVAL)?;
        vm::map_pinned(addr, len, prot, pa.checked_add(image_off as usize).ok_or(EINVAL)?)
    }

    fn mprotect(&self, addr: usize, len: usize, prot: u32) -> Result<(), Errno> {
        vm::protect(addr, len, prot)
    }

    fn mremap(
        &self,
        _old: usize,
        _old_len: usize,
        _new_len: usize,
        _flags: u32,
        _new_addr: usize,
    ) -> Result<usize, Errno> {
        // glibc falls back to malloc + copy + free.
        Err(ENOSYS)
    }

    fn madvise(&self, addr: usize, len: usize, advice: u32) -> Result<(), Errno> {
        const MADV_DONTNEED: u32 = 4;
        if advice == MADV_DONTNEED {
            vm::discard(addr, len)
        } else {
            Ok(())
        }
    }

    fn host_read(&self, fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
        match fd {
            0 => {
                let mut pos = self.stdin_pos.lock();
                let n = buf.len().min(self.stdin.len() - *pos);
                buf[..n].copy_from_slice(&self.stdin[*pos..*pos + n]);
                *pos += n;
                Ok(n)
            }
            1 | 2 => Err(EBADF),
            _ => Err(EBADF),
        }
    }

    fn host_write(&self, fd: i32, buf: &[u8]) -> Result<usize, Errno> {
        match fd {
            1 => {
                machine().console_write(buf);
                Ok(buf.len())
            }
            2 => {
                machine().log_write(buf);
                Ok(buf.len())
            }
            0 => Err(EBADF),
            _ => Err(EBADF),
        }
    }

    fn host_stat(&self, fd: i32) -> Result<Stat, Errno> {
        let fifo = Stat { st_mode: S_IFIFO | 0o600, st_nlink: 1, st_blksize: 4096, ..Stat::default() };
        match fd {
            0 => Ok(fifo),
            1 | 2 => Ok(console_stat()),
            _ => Err(EBADF),
        }
    }

    fn host_lseek(&self, _fd: i32, _off: i64, _whence: u32) -> Result<u64, Errno> {
        Err(ESPIPE)
    }

    fn host_ioctl(&self, fd: i32, cmd: u32, arg: usize) -> Result<usize, Errno> {
        const FIONREAD: u32 = 0x541b;
        if fd == 0 && cmd == FIONREAD {
            let left = (self.stdin.len() - *self.stdin_pos.lock()) as i32;
            return litebox_libos::user::write(arg, &left).map(|_| 0);
        }
        // Not a terminal: programs see a pipe-like stream (fully buffered stdio).
        Err(ENOTTY)
    }

    fn host_close(&self, _fd: i32) {}

    fn host_set_nonblock(&self, fd: i32, _on: bool) -> Result<(), Errno> {
        if (0..3).contains(&fd) {
            Ok(())
        } else {
            Err(EBADF)
        }
    }

    fn host_poll(&self, fds: &mut [PollFd], timeout_ms: i32) -> Result<usize, Errno> {
        wait::poll(fds, timeout_ms, &|fd| self.console_revents(fd))
    }

    fn block_until(&self, ready: &mut dyn FnMut() -> bool, deadline: Option<u64>) -> Result<bool, Errno> {
        // The scheduler has no wait queues: a waiter re-checks whenever it runs, so wake_all
        // has nothing to do.
        wait::wait(deadline, || ready().then_some(Ok(()))).map(|r| r.is_some())
    }

    fn host_dup(&self, fd: i32) -> Result<i32, Errno> {
        wait::dup(fd)
    }

    fn clock_gettime(&self, clock_id: u32) -> Result<Timespec, Errno> {
        let ns = match clock_id {
            0 | 5 | 8 | 11 => clock::realtime_ns(),     // REALTIME, _COARSE, _ALARM, TAI
            1 | 4 | 6 | 7 | 9 => clock::monotonic_ns(), // MONOTONIC*, BOOTTIME*
            // PROCESS_CPUTIME, THREAD_CPUTIME: the process's CPU time (threads not told apart).
            2 | 3 => sched::cpu_ns(self.pid),
            _ => return Err(EINVAL),
        };
        Ok(Timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 })
    }

    fn random(&self, buf: &mut [u8]) {
        rng::fill(buf)
    }

    fn sleep(&self, dur: &Timespec) -> Result<(), Errno> {
        if dur.tv_sec < 0 || !(0..1_000_000_000).contains(&dur.tv_nsec) {
            return Err(EINVAL);
        }
        let deadline = clock::monotonic_ns().saturating_add(ns_of(dur));
        loop {
            // A signal the thread takes (a handler, or one that ends the process) interrupts
            // the sleep, as on Linux: the process's own interval timer wakes it when it fires,
            // another thread or process wakes it when it sends one (`proc::wake_for_signals`).
            if signals::interrupted() {
                return Err(EINTR);
            }
            if clock::monotonic_ns() >= deadline {
                return Ok(());
            }
            let until = signals::timer_deadline().map_or(deadline, |t| t.min(deadline));
            sched::sleep_until(until);
        }
    }

    fn park(&self, woken: &mut dyn FnMut() -> bool, deadline: Option<u64>) -> Result<bool, Errno> {
        loop {
            if woken() {
                return Ok(true);
            }
            if deadline.is_some_and(|d| clock::monotonic_ns() >= d) {
                return Ok(false);
            }
            match sched::park(deadline) {
                Ok(_) => {}
                Err(ETIMEDOUT) => return Ok(woken()),
                Err(e) => return Err(e),
            }
        }
    }

    fn unpark(&self, tid: i32) {
        sched::unpark(tid)
    }

    fn set_tid_address(&self, addr: usize) -> Result<usize, Errno> {
        Ok(sched::set_clear_tid(addr))
    }

    fn arch_prctl(&self, code: u32, addr: usize) -> Result<usize, Errno> {
        const ARCH_SET_GS: u32 = 0x1001;
        const ARCH_SET_FS: u32 = 0x1002;
        const ARCH_GET_FS: u32 = 0x1003;
        const ARCH_GET_GS: u32 = 0x1004;
        match code {
            ARCH_SET_FS | ARCH_SET_GS => {
                if addr >= vm::USER_TOP {
                    return Err(EPERM);
                }
                let msr = if code == ARCH_SET_FS { port::MSR_FS_BASE } else { port::MSR_GS_BASE };
                // SAFETY: a canonical user address; the kernel never uses FS or GS itself.
                unsafe { port::wrmsr(msr, addr as u64) };
                sched::set_tls(code == ARCH_SET_FS, addr as u64);
                Ok(0)
            }
            ARCH_GET_FS | ARCH_GET_GS => {
                let v = sched::tls(code == ARCH_GET_FS);
                litebox_libos::user::write(addr, &v).map(|_| 0)
            }
            _ => Err(EINVAL),
        }
    }

    fn ids(&self) -> (i32, i32) {
        (self.pid, sched::current_tid())
    }

    fn pid(&self) -> i32 {
        self.pid
    }

    fn sigaltstack(&self, new: usize, old: usize, sp: usize) -> Result<usize, Errno> {
        super::signals::sigaltstack(new, old, sp)
    }

    fn exec_prepare(&self) -> Result<(), Errno> {
        sched::kill_others(self.pid);
        // execve leaves no alternate signal stack (the memory it named is gone).
        sched::set_altstack(sched::NO_ALTSTACK);
        vm::clear_current();
        // execve detaches every SysV segment.
        super::proc::drop_shm(self.pid);
        Ok(())
    }

    fn host_aux(&self) -> Vec<(usize, usize)> {
        super::aux().to_vec()
    }

    fn creds(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }

    fn notify_signal(&self, pid: i32) {
        proc::wake_for_signals(pid)
    }

    fn set_cpu_limit(&self, cur: u64, max: u64) -> Result<(), Errno> {
        // The limit counts from the process's start: a soft limit already passed signals at
        // the next check, as Linux does.
        self.cpu_limit.set(cur, max);
        if cur != u64::MAX || max != u64::MAX {
            // The tick lets the check run while the app spins without syscalls.
            crate::apic::start_timer();
        }
        Ok(())
    }

    fn shm_create(&self, len: usize) -> Result<u64, Errno> {
        crate::shm::create(len)
    }

    fn shm_attach(&self, handle: u64, addr: usize, len: usize, prot: u32, replace: bool) -> Result<usize, Errno> {
        crate::shm::attach(handle, addr, len, prot, replace)
    }

    fn shm_destroy(&self, handle: u64) {
        crate::shm::destroy(handle)
    }

    fn arm_timer(&self, deadline: Option<u64>) {
        // The timer interrupt lets SIGALRM reach an app that spins without syscalls.
        if deadline.is_some() {
            crate::apic::start_timer();
        }
    }

    fn has_thread(&self, tid: i32) -> bool {
        sched::is_thread(tid)
    }

    fn release_process(&self, pid: i32) {
        proc::release(pid)
    }

    fn exit_group(&self, code: i32) -> ! {
        proc::exit((code & 0xff) << 8)
    }

    fn exit_thread(&self, code: i32) -> ! {
        // Signals directed at this thread die with it, as on Linux.
        proc::current().signals.pending.lock().forget_thread(sched::current_tid());
        sched::exit_thread(code)
    }

    fn attestation_type(&self) -> &'static str {
        if crate::snp::active() {
            "sev-snp"
        } else {
            "none"
        }
    }

    fn attestation_report(&self, report_data: &[u8; 64]) -> Result<alloc::vec::Vec<u8>, Errno> {
        use crate::snp::attest::Error;
        crate::snp::attest::report(report_data).map_err(|e| match e {
            Error::NoDevice => litebox_libos::errno::ENODEV,
            Error::NoMemory => litebox_libos::errno::ENOMEM,
            Error::Failed => litebox_libos::errno::EIO,
        })
    }

    fn log(&self, line: &[u8]) {
        machine().log_write(line);
        machine().log_write(b"\n");
    }
}
