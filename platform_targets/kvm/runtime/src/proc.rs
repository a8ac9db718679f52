//! The app's processes: each has its own library OS instance (descriptor table, cwd, heap,
//! limits; the file system is shared), its own platform (`south::Vm`: pid, signals) and its own
//! address space (`vm.rs`). fork copies all three; exit closes the descriptors, frees the
//! memory and leaves a zombie holding the wait status until the parent reaps it with wait4 or
//! waitid. The first process (pid 1) is the app: when it exits the VM ends with its status,
//! whatever other processes still run. Orphans are reaped by the kernel. The file system is
//! shared: a switch between processes swaps in what is per process there (/proc/self/exe's
//! target, the process /proc/self shows).
//!
//! `[policy.limits] processes` is counted here, over the whole VM: a fork is refused with
//! EAGAIN while that many processes of the app are alive (the first included; zombies, which
//! hold no memory but their wait status, do not count).
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use litebox_libos::errno::*;
use litebox_libos::sync::SpinMutex;
use litebox_libos::{user, LibOs};

use crate::south::Vm;
use crate::trap::SyscallFrame;
use crate::vm::SpaceRef;
use crate::{exit, sched, signals, vm};

struct Process {
    pid: i32,
    /// 0 once orphaned (the kernel reaps it).
    ppid: i32,
    os: &'static LibOs<Vm>,
    space: SpaceRef,
    /// The wait status once it has exited (a zombie).
    status: Option<i32>,
    /// Its program (/proc/self/exe) while another process runs: the file system, which
    /// answers that link, is shared, so [`activate`] swaps it in and out.
    exe: Vec<u8>,
}

static PROCS: SpinMutex<Vec<Process>> = SpinMutex::new(Vec::new());
static CURRENT: AtomicPtr<LibOs<Vm>> = AtomicPtr::new(core::ptr::null_mut());
/// Live processes allowed: `[policy.limits] processes`, or the kernel's default (u64::MAX
/// until the app starts).
static LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);
/// Whether [`LIMIT`] is the policy's (for the debug log).
static FROM_POLICY: AtomicBool = AtomicBool::new(false);

const SIGCHLD: usize = 17;
const WNOHANG: u32 = 1;
const WEXITED: u32 = 4;
const WNOWAIT: u32 = 0x0100_0000;
const WSTOPPED: u32 = 2;
const WCONTINUED: u32 = 8;

/// Registers the first process (pid 1), running in the boot address space.
pub fn init(os: &'static LibOs<Vm>) {
    crate::apic::reserve_mapping();
    crate::sched::set_processes(crate::sched::Processes { activate, exit, futex_wake });
    PROCS.lock().push(Process {
        pid: os.platform.pid,
        ppid: 0,
        os,
        space: vm::boot_space(),
        status: None,
        exe: Vec::new(),
    });
    CURRENT.store(os as *const LibOs<Vm> as *mut LibOs<Vm>, Ordering::Release);
    os.attach_proc();
}

/// Sets the process limit before the app starts: at most `n` live processes in the VM;
/// `from_policy` tells the policy's limit from the kernel's default.
pub fn set_limit(n: u64, from_policy: bool) {
    LIMIT.store(n, Ordering::Relaxed);
    FROM_POLICY.store(from_policy, Ordering::Relaxed);
}

/// EAGAIN when the app already has as many live processes as the limit allows.
fn check_limit(parent: &LibOs<Vm>) -> Result<(), Errno> {
    let limit = LIMIT.load(Ordering::Relaxed);
    let live = PROCS.lock().iter().filter(|p| p.status.is_none()).count() as u64;
    if live >= limit {
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

/// getppid of process `pid` (0 for the first process and orphans).
pub fn parent_of(pid: i32) -> i32 {
    PROCS.lock().iter().find(|p| p.pid == pid).map_or(0, |p| p.ppid)
}

/// Frees a reaped process's space and library OS.
fn release(p: Process) {
    let pid = p.pid;
    vm::release(p.space);
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
    let me = sched::current_pid();
    let mut procs = PROCS.lock();
    let mut gone = Vec::new();
    let mut i = 0;
    while i < procs.len() {
        if procs[i].ppid == 0 && procs[i].status.is_some() && procs[i].pid != me {
            gone.push(procs.remove(i));
        } else {
            i += 1;
        }
    }
    drop(procs);
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
    if flags & CLONE_CHILD_SETTID != 0 {
        vm::poke(space, ctid, &pid.to_le_bytes());
    }
    if flags & CLONE_PARENT_SETTID != 0 {
        user::write(ptid, &pid)?;
    }
    let exe = parent.vfs.exe_path.lock().clone();
    PROCS.lock().push(Process { pid, ppid: parent.platform.pid, os, space, status: None, exe });
    let clear = if flags & CLONE_CHILD_CLEARTID != 0 { ctid } else { 0 };
    sched::spawn_process(kstack, pid, clear);
    Ok(pid as usize)
}

/// Ends the running process with wait status `status` (exit code << 8, or the signal number):
/// its other threads stop, its descriptors close (pipe ends included), its memory is freed and
/// it stays a zombie until its parent reaps it. The first process ends the VM instead.
pub fn exit(status: i32) -> ! {
    let Some(os) = try_current() else { exit::exit_vm(if status & 0x7f != 0 { 128 + status } else { status >> 8 }) };
    let me = os.platform.pid;
    if me == crate::south::PID {
        exit::exit_vm(if status & 0x7f != 0 { 128 + (status & 0x7f) } else { (status >> 8) & 0xff });
    }
    sched::kill_others(me);
    let fds = core::mem::replace(&mut *os.fds.lock(), litebox_libos::fd::FdTable::new(0));
    drop(fds);
    vm::clear_current();
    os.signals.pending.lock().stop_timer();
    let mut procs = PROCS.lock();
    let ppid = procs.iter().find(|p| p.pid == me).map_or(0, |p| p.ppid);
    for p in procs.iter_mut() {
        if p.ppid == me {
            p.ppid = 0;
        }
        if p.pid == me {
            p.status = Some(status);
        }
    }
    let parent = procs.iter().find(|p| p.pid == ppid && p.status.is_none()).map(|p| p.os);
    match parent {
        Some(pos) => {
            // A parent that ignores SIGCHLD leaves no zombie (as Linux does).
            let ignored = pos.signals.actions.lock().get(SIGCHLD).handler == 1;
            if ignored {
                if let Some(p) = procs.iter_mut().find(|p| p.pid == me) {
                    p.ppid = 0;
                }
            } else {
                signals::raise_in(pos, SIGCHLD, if status & 0x7f != 0 { 2 } else { 1 }, 0);
            }
        }
        None => {
            if let Some(p) = procs.iter_mut().find(|p| p.pid == me) {
                p.ppid = 0;
            }
        }
    }
    drop(procs);
    sched::end_current()
}

/// kill(pid, sig) from the running process: to itself, or to another live process of the app
/// (ESRCH otherwise). Signal 0 only checks. A signal that will end the target wakes it.
pub fn kill(pid: i32, sig: usize) -> Result<usize, Errno> {
    let me = current();
    let target = if pid == me.platform.pid {
        me
    } else {
        PROCS.lock().iter().find(|p| p.pid == pid && p.status.is_none()).map(|p| p.os).ok_or(ESRCH)?
    };
    if sig == 0 {
        return Ok(0);
    }
    signals::raise_in(target, sig, signals::SI_USER, 0);
    if target.platform.pid != me.platform.pid && signals::fatal_for(target, sig) {
        sched::wake_process(pid);
    }
    Ok(0)
}

/// A signal from outside the app (the runner's Ctrl-C): to every live process, as a
/// terminal's signal reaches its whole foreground process group. Safe in any context where
/// the process table is not locked (a syscall, the timer interrupt).
pub fn signal_all(sig: usize) {
    let live: Vec<(i32, &'static LibOs<Vm>)> =
        PROCS.lock().iter().filter(|p| p.status.is_none()).map(|p| (p.pid, p.os)).collect();
    for (pid, os) in live {
        signals::raise_in(os, sig, signals::SI_KERNEL, 0);
        if signals::fatal_for(os, sig) {
            sched::wake_process(pid);
        }
    }
}

/// Waits for a child of the running process chosen by `pick` to have exited: (pid, status),
/// reaped unless `keep`; None with WNOHANG when none has yet. ECHILD when there is no such
/// child; EINTR when a signal becomes deliverable.
fn wait_child(pick: &dyn Fn(i32) -> bool, options: u32, keep: bool) -> Result<Option<(i32, i32)>, Errno> {
    loop {
        collect();
        let me = current().platform.pid;
        let mut procs = PROCS.lock();
        let mut any = false;
        let mut found = None;
        for (i, p) in procs.iter().enumerate() {
            if p.ppid == me && pick(p.pid) {
                any = true;
                if p.status.is_some() {
                    found = Some(i);
                    break;
                }
            }
        }
        if let Some(i) = found {
            let (pid, status) = (procs[i].pid, procs[i].status.unwrap_or(0));
            if !keep {
                let p = procs.remove(i);
                drop(procs);
                release(p);
            }
            return Ok(Some((pid, status)));
        }
        drop(procs);
        if !any {
            return Err(ECHILD);
        }
        if options & WNOHANG != 0 {
            return Ok(None);
        }
        if signals::interrupted() {
            return Err(EINTR);
        }
        sched::wait_event(signals::timer_deadline());
    }
}

/// wait4(pid, wstatus, options, rusage): pid > 0 one child, otherwise any (process groups are
/// not distinguished: every process of the app is in one); the rusage is all zero. The shim
/// has checked the pointers.
pub fn wait4(pid: i32, wstatus: usize, options: u32, rusage: usize) -> Result<usize, Errno> {
    const WALL: u32 = 0x4000_0000;
    const WCLONE: u32 = 0x8000_0000;
    const WNOTHREAD: u32 = 0x2000_0000;
    if options & !(WNOHANG | WSTOPPED | WCONTINUED | WALL | WCLONE | WNOTHREAD) != 0 {
        return Err(EINVAL);
    }
    let pick = move |p: i32| pid <= 0 || p == pid;
    match wait_child(&pick, options, false)? {
        Some((child, status)) => {
            if wstatus != 0 {
                user::write(wstatus, &status)?;
            }
            if rusage != 0 {
                user::write(rusage, &[0u64; 18])?;
            }
            Ok(child as usize)
        }
        None => Ok(0),
    }
}

/// waitid(idtype, id, infop, options): P_ALL, P_PID, P_PGID (any child); WEXITED must be
/// asked for; WNOWAIT leaves the child a zombie.
pub fn waitid(idtype: u32, id: i32, infop: usize, options: u32) -> Result<usize, Errno> {
    const P_ALL: u32 = 0;
    const P_PID: u32 = 1;
    const P_PGID: u32 = 2;
    if options & !(WNOHANG | WEXITED | WSTOPPED | WCONTINUED | WNOWAIT) != 0 || options & WEXITED == 0 {
        return Err(EINVAL);
    }
    let pick: &dyn Fn(i32) -> bool = match idtype {
        P_ALL | P_PGID => &|_| true,
        P_PID if id > 0 => &move |p| p == id,
        _ => return Err(EINVAL),
    };
    let got = wait_child(pick, options, options & WNOWAIT != 0)?;
    if infop != 0 {
        let mut si = [0u8; 128];
        if let Some((child, status)) = got {
            let (code, value) = if status & 0x7f != 0 { (2i32, status & 0x7f) } else { (1, (status >> 8) & 0xff) };
            si[0..4].copy_from_slice(&(SIGCHLD as i32).to_le_bytes());
            si[8..12].copy_from_slice(&code.to_le_bytes());
            si[16..20].copy_from_slice(&child.to_le_bytes());
            si[20..24].copy_from_slice(&current().platform.uid.to_le_bytes());
            si[24..28].copy_from_slice(&value.to_le_bytes());
        }
        user::write(infop, &si)?;
    }
    Ok(0)
}
