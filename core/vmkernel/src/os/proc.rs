//! The app's processes as the kernel holds them: each has its own library OS instance
//! (descriptor table, cwd, heap, limits, signal state; the file system is shared) and its own
//! address space (`vm.rs`). Who is whose parent, process groups, zombies and the process limit
//! are the library OS's process table (`litebox_libos::proctab`); this file keeps what the
//! kernel owns per pid and frees it when the core reaps a process. fork copies a process; exit
//! closes its descriptors, frees its memory and leaves the zombie to the table. The first
//! process (pid 1) is the app: when it exits the VM ends with its status, whatever other
//! processes still run. A switch between processes swaps in what is per process in the shared
//! file system (/proc/self/exe's target, the process /proc/self shows).
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use litebox_libos::errno::*;
use litebox_libos::proctab::TABLE;
use litebox_libos::signal::SIGCHLD;
use litebox_libos::sync::SpinMutex;
use litebox_libos::{user, LibOs};

use super::platform::{Vm, PID};
use super::signals;
use crate::trap::SyscallFrame;
use crate::vm::SpaceRef;
use crate::{machine, sched, vm};

struct Process {
    pid: i32,
    os: &'static LibOs<Vm>,
    space: SpaceRef,
    /// Its program (/proc/self/exe) while another process runs: the file system, which
    /// answers that link, is shared, so [`activate`] swaps it in and out.
    exe: Vec<u8>,
}

static PROCS: SpinMutex<Vec<Process>> = SpinMutex::new(Vec::new());
static CURRENT: AtomicPtr<LibOs<Vm>> = AtomicPtr::new(core::ptr::null_mut());
/// Whether the process limit is the policy's (for the debug log).
static FROM_POLICY: AtomicBool = AtomicBool::new(false);

/// Registers the first process (pid 1), running in the boot address space.
pub fn init(os: &'static LibOs<Vm>) {
    crate::apic::reserve_mapping();
    crate::sched::set_processes(crate::sched::Processes { activate, exit, futex_wake });
    TABLE.lock().add_first(os.platform.pid, os.signals.clone());
    PROCS.lock().push(Process { pid: os.platform.pid, os, space: vm::boot_space(), exe: Vec::new() });
    CURRENT.store(os as *const LibOs<Vm> as *mut LibOs<Vm>, Ordering::Release);
    os.attach_proc();
}

/// Sets the process limit before the app starts: at most `n` live processes in the VM;
/// `from_policy` tells the policy's limit from the kernel's default.
pub fn set_limit(n: u64, from_policy: bool) {
    TABLE.lock().set_limit(n);
    FROM_POLICY.store(from_policy, Ordering::Relaxed);
}

/// EAGAIN when the app already has as many live processes as the limit allows.
fn check_limit(parent: &LibOs<Vm>) -> Result<(), Errno> {
    if TABLE.lock().check_limit().is_err() {
        parent.debug_log(&[if FROM_POLICY.load(Ordering::Relaxed) {
            b"process limit of the policy reached: fork EAGAIN"
        } else {
            b"default process limit of the VM reached: fork EAGAIN"
        }]);
        return Err(EAGAIN);
    }
    Ok(())
}

/// Wakes one futex waiter on `addr` (a thread's clear_child_tid): Linux's wake is a shared
/// one, and libcs wait on the tid either way, so both tables are asked.
fn futex_wake(addr: usize) {
    let os = current();
    if os.futex.wake(&os.platform, addr, 1) == 0 {
        litebox_libos::futex::SHARED.wake(&os.platform, addr, 1);
    }
}

/// The running process's library OS, if the app has started.
pub fn try_current() -> Option<&'static LibOs<Vm>> {
    let p = CURRENT.load(Ordering::Acquire);
    // SAFETY: set from a leaked LibOs that lives until its process is reaped, which happens
    // only while another process runs.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// The running process's library OS.
pub fn current() -> &'static LibOs<Vm> {
    try_current().unwrap_or_else(|| crate::fatal(125, format_args!("internal error: no process")))
}

/// Makes `pid` the running process: its address space and library OS (called by the
/// scheduler right before it switches to one of its threads).
pub fn activate(pid: i32) {
    let mut procs = PROCS.lock();
    let Some(next) = procs.iter().position(|p| p.pid == pid) else { return };
    let exe = &procs[next].os.vfs.exe_path;
    if let Some(cur) = try_current() {
        let outgoing = cur.platform.pid;
        if let Some(p) = procs.iter_mut().find(|p| p.pid == outgoing) {
            p.exe = exe.lock().clone();
        }
    }
    let p = &procs[next];
    *exe.lock() = p.exe.clone();
    // /proc/self is the running process: its descriptors, cwd and pid.
    p.os.attach_proc();
    CURRENT.store(p.os as *const LibOs<Vm> as *mut LibOs<Vm>, Ordering::Release);
    vm::activate(p.space);
}

/// (virtual size, resident bytes) of process `pid` while it lives, for /proc/PID. The
/// process list stays locked meanwhile, so `release` cannot free that library OS under us.
pub fn memory_of(pid: i32) -> Option<(u64, u64)> {
    let procs = PROCS.lock();
    let p = procs.iter().find(|p| p.pid == pid)?;
    Some(litebox_libos::procfs::sizes(p.os))
}

/// Frees what the kernel holds for process `pid` (its space and library OS), which the core's
/// process table has reaped.
pub fn release(pid: i32) {
    let mut procs = PROCS.lock();
    let Some(i) = procs.iter().position(|p| p.pid == pid) else { return };
    let p = procs.remove(i);
    drop(procs);
    vm::release(p.space);
    sched::forget_cpu(pid);
    // SAFETY: leaked by `fork`; its process has exited and is not running, so nothing
    // refers to it any more. The first process is never released.
    drop(unsafe { Box::from_raw(p.os as *const LibOs<Vm> as *mut LibOs<Vm>) });
    crate::debug_line(format_args!(
        "litebox: process {pid} reaped; {} KiB of memory in use",
        crate::frames::stats().1 * 4
    ));
}

/// Frees the orphans that have exited (never the running process).
fn collect() {
    let gone = TABLE.lock().take_orphan_zombies(sched::current_pid());
    gone.into_iter().for_each(release);
}

/// fork (and vfork, clone of a process): a child whose memory, descriptors, cwd and signal
/// dispositions are copies of the running process's; it resumes after this syscall (`frame`)
/// with rax = 0, on `stack` if not 0. Returns the child's pid.
pub fn fork(frame: &SyscallFrame, flags: u64, stack: usize, ptid: usize, ctid: usize) -> Result<usize, Errno> {
    const CLONE_PARENT_SETTID: u64 = 0x100000;
    const CLONE_CHILD_CLEARTID: u64 = 0x200000;
    const CLONE_CHILD_SETTID: u64 = 0x1000000;
    collect();
    let parent = current();
    // The kernel is not preempted: no other fork can run between this check and the push below.
    check_limit(parent)?;
    let kstack = sched::new_kstack(frame, stack)?;
    let space = vm::fork_current().ok_or(ENOMEM)?;
    let pid = sched::new_id();
    let os: &'static LibOs<Vm> = Box::leak(Box::new(parent.fork(parent.platform.fork(pid))));
    // RLIMIT_CPU is inherited; the child's CPU time starts from 0.
    let cpu = os.limits.lock()[0];
    os.platform.inherit_cpu_limit(cpu.cur, cpu.max);
    if flags & CLONE_CHILD_SETTID != 0 {
        vm::poke(space, ctid, &pid.to_le_bytes());
    }
    if flags & CLONE_PARENT_SETTID != 0 {
        user::write(ptid, &pid)?;
    }
    let exe = parent.vfs.exe_path.lock().clone();
    // A process alone in the table did not fill its record at its program load
    // (`procfs::publish`): the child and the parent become visible to each other now.
    litebox_libos::procfs::publish_to_table(parent);
    TABLE.lock().fork(parent.platform.pid, pid, os.signals.clone())?;
    // The child has the parent's SysV segments attached too (its space maps them shared).
    litebox_libos::sysvshm::SHM.lock().fork(parent.platform.pid, pid);
    PROCS.lock().push(Process { pid, os, space, exe });
    let clear = if flags & CLONE_CHILD_CLEARTID != 0 { ctid } else { 0 };
    sched::spawn_process(kstack, pid, clear);
    Ok(pid as usize)
}

/// Process `pid` no longer has SysV segments attached (exit, execve: its memory is gone);
/// frees the segments that were removed and waited only for it.
pub fn drop_shm(pid: i32) {
    let gone = litebox_libos::sysvshm::SHM.lock().drop_process(pid);
    gone.into_iter().for_each(crate::shm::destroy);
}

/// Ends the running process with wait status `status` (exit code << 8, or the signal number):
/// its other threads stop, its descriptors close (pipe ends included), its memory is freed and
/// it stays a zombie until its parent reaps it. The first process ends the VM instead.
pub fn exit(status: i32) -> ! {
    let Some(os) = try_current() else { machine().exit(if status & 0x7f != 0 { 128 + status } else { status >> 8 }) };
    let me = os.platform.pid;
    if me == PID {
        machine().exit(if status & 0x7f != 0 { 128 + (status & 0x7f) } else { (status >> 8) & 0xff });
    }
    sched::kill_others(me);
    let fds = core::mem::replace(&mut *os.fds.lock(), litebox_libos::fd::FdTable::new(0));
    drop(fds);
    litebox_libos::reclock::TABLE.lock().release_process(me);
    vm::clear_current();
    os.signals.pending.lock().stop_timer();
    // SysV semaphore adjustments of SEM_UNDO operations are undone when a process exits.
    litebox_libos::sysv::IPC.lock().exit(me);
    drop_shm(me);
    let notice = TABLE.lock().exit(me, status);
    if let Some((ppid, parent)) = notice.notify {
        parent.pending.lock().raise(SIGCHLD, if status & 0x7f != 0 { 2 } else { 1 }, 0);
        wake_for_signals(ppid);
    }
    if let Some((heir, adopter)) = notice.adopter {
        adopter.pending.lock().raise(SIGCHLD, 1, 0);
        wake_for_signals(heir);
    }
    sched::end_current()
}

/// A signal from outside the app (the runner's Ctrl-C): to every live process, as a
/// terminal's signal reaches its whole foreground process group. Safe in any context where
/// the process table is not locked (a syscall, the timer interrupt).
pub fn signal_all(sig: usize) {
    let live = TABLE.lock().all_live();
    for (pid, s) in live {
        s.pending.lock().raise(sig, signals::SI_KERNEL, 0);
        wake_for_signals(pid);
    }
}

/// Wakes the sleeping and parked threads of process `pid` when a signal it does not ignore is
/// pending, so a sleep or futex wait ends with EINTR where the signal is deliverable (a thread
/// that blocks it goes back to waiting). Waiters in `wait::wait` look by themselves.
pub fn wake_for_signals(pid: i32) {
    let os = PROCS.lock().iter().find(|p| p.pid == pid).map(|p| p.os);
    if let Some(os) = os {
        let pending = os.signals.pending.lock().any_set();
        let acts = os.signals.actions.lock();
        if (1..=64).any(|s| pending & litebox_libos::signal::bit(s) != 0 && !acts.ignored(s)) {
            drop(acts);
            sched::wake_process(pid);
        }
    }
}
