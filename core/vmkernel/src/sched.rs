//! The app's threads, of all its processes, on one CPU: a thread runs until it blocks in the kernel (futex wait,
//! sleep), yields (`sched_yield`), exits, or the preemption timer (`apic.rs`) interrupts it in
//! ring 3; then the next runnable thread resumes. Each thread has its own kernel stack: the
//! syscall entry (and a ring-3 interrupt, through TSS RSP0) saves the thread's user registers
//! and SSE state there, so switching threads is switching kernel stacks ([`vmk_switch`]), and
//! switching to a thread of another process also loads that process's address space and
//! library OS (the [`Processes`] hook `activate`). A process blocked in wait4 or on a pipe stays runnable and
//! polls when its turn comes (`wait_event`).
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::arch::global_asm;

use litebox_libos::errno::*;
use litebox_libos::sync::SpinMutex;
use litebox_libos::ThreadSpawn;

use crate::trap::SyscallFrame;
use crate::{clock, port};

/// The process and thread id of the boot thread (the app's first thread).
pub const BOOT_PID: i32 = 1;

/// What the scheduler needs from the process layer above it (the library OS): set once at boot
/// with [`set_processes`], before a second process exists.
#[derive(Clone, Copy)]
pub struct Processes {
    /// Makes process `pid` current (its address space and library OS) before one of its
    /// threads resumes.
    pub activate: fn(pid: i32),
    /// Ends the running process with wait status `status` (its last thread exited).
    pub exit: fn(status: i32) -> !,
    /// Wakes one futex waiter on `addr` in the running process (an exiting thread's
    /// clear_child_tid word).
    pub futex_wake: fn(addr: usize),
}

fn no_activate(_: i32) {}

fn no_futex_wake(_: usize) {}

fn no_exit(status: i32) -> ! {
    crate::machine().exit(status >> 8)
}

static PROCESSES: SpinMutex<Processes> =
    SpinMutex::new(Processes { activate: no_activate, exit: no_exit, futex_wake: no_futex_wake });

/// Registers the process layer's hooks.
pub fn set_processes(p: Processes) {
    *PROCESSES.lock() = p;
}

fn processes() -> Processes {
    *PROCESSES.lock()
}

const KSTACK: usize = 256 * 1024;
const FX: usize = 512;
const ETIMEDOUT: Errno = 110;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Runnable,
    /// Parked (a futex waiter of the library OS), until an optional monotonic deadline (ns).
    Parked(Option<u64>),
    Sleeping(u64),
    Dead,
}

struct Thread {
    tid: i32,
    /// The process it belongs to.
    pid: i32,
    /// The saved kernel stack pointer while switched out.
    ksp: usize,
    /// Top of the kernel stack (the syscall entry's stack for this thread).
    ktop: usize,
    _stack: Option<Box<[u8]>>,
    state: State,
    woke: Result<usize, Errno>,
    fs_base: u64,
    gs_base: u64,
    clear_tid: usize,
    sigmask: u64,
    /// The mask to restore after a signal that ends rt_sigsuspend.
    saved_mask: Option<u64>,
    /// sigaltstack: (base, flags, size) as `stack_t` has them; flags SS_DISABLE when none.
    altstack: [usize; 3],
}

/// The `stack_t` of a thread without an alternate signal stack (SS_DISABLE).
pub const NO_ALTSTACK: [usize; 3] = [0, 2, 0];

struct Sched {
    /// Boxed so a switched-out thread's `ksp` slot stays put when the vector grows.
    #[allow(clippy::vec_box)]
    threads: Vec<Box<Thread>>,
    current: usize,
    next_tid: i32,
    /// When the running thread's current slice began (monotonic ns): the CPU time since is
    /// its process's ([`charge`]).
    since: u64,
    /// CPU time (ns) of each live process whose threads have run, by pid: the time its threads
    /// held the CPU, in the app or in a syscall (user and system time are not told apart).
    cpu: Vec<(i32, u64)>,
}

static SCHED: SpinMutex<Sched> =
    SpinMutex::new(Sched { threads: Vec::new(), current: 0, next_tid: 2, since: 0, cpu: Vec::new() });

/// Adds the running thread's slice so far to its process's CPU time and starts a new slice.
fn charge(s: &mut Sched) {
    let now = clock::monotonic_ns();
    let ran = now.saturating_sub(s.since);
    s.since = now;
    let Some(pid) = s.threads.get(s.current).map(|t| t.pid) else { return };
    match s.cpu.iter_mut().find(|c| c.0 == pid) {
        Some(c) => c.1 += ran,
        None => s.cpu.push((pid, ran)),
    }
}

/// CPU time of process `pid` so far (ns), the running slice included: what its threads ran
/// since it started (a forked child starts from 0, as on Linux).
pub fn cpu_ns(pid: i32) -> u64 {
    let s = SCHED.lock();
    let past = s.cpu.iter().find(|c| c.0 == pid).map_or(0, |c| c.1);
    let running = s.threads.get(s.current).is_some_and(|t| t.pid == pid);
    past + if running { clock::monotonic_ns().saturating_sub(s.since) } else { 0 }
}

/// Forgets the CPU time of process `pid` (reaped).
pub fn forget_cpu(pid: i32) {
    SCHED.lock().cpu.retain(|c| c.0 != pid);
}

extern "C" {
    /// Saves callee-saved registers and the stack pointer in `*from`, switches to `to`.
    fn vmk_switch(from: *mut usize, to: usize);
    /// Where a new thread starts: the return half of the syscall entry.
    fn syscall_return();
}

global_asm!(
    r#"
    .section .text.vmk_switch, "ax"
    .globl vmk_switch
vmk_switch:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rdi], rsp
    mov rsp, rsi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
    "#
);

/// Registers the boot thread (tid 1) running on the boot stack.
pub fn init(ktop: usize) {
    let mut s = SCHED.lock();
    // The boot thread's first slice began at the machine's entry (monotonic 0); reading the
    // clock here would end its calibration before the boot has had time to measure it.
    s.since = 0;
    s.threads.push(Box::new(Thread {
        tid: BOOT_PID,
        pid: BOOT_PID,
        ksp: 0,
        ktop,
        _stack: None,
        state: State::Runnable,
        woke: Ok(0),
        fs_base: 0,
        gs_base: 0,
        clear_tid: 0,
        sigmask: 0,
        saved_mask: None,
        altstack: NO_ALTSTACK,
    }));
}

/// Whether `tid` is a live thread of the running process.
pub fn is_thread(tid: i32) -> bool {
    let s = SCHED.lock();
    let pid = s.threads[s.current].pid;
    s.threads.iter().any(|t| t.tid == tid && t.pid == pid && t.state != State::Dead)
}

/// The running thread's id.
pub fn current_tid() -> i32 {
    let s = SCHED.lock();
    s.threads[s.current].tid
}

/// The running thread's signal mask.
pub fn sigmask() -> u64 {
    let s = SCHED.lock();
    s.threads[s.current].sigmask
}

/// Sets the running thread's signal mask.
pub fn set_sigmask(m: u64) {
    let mut s = SCHED.lock();
    let c = s.current;
    s.threads[c].sigmask = m;
}

/// The running thread's alternate signal stack (base, flags, size).
pub fn altstack() -> [usize; 3] {
    let s = SCHED.lock();
    s.threads[s.current].altstack
}

/// Sets the running thread's alternate signal stack.
pub fn set_altstack(v: [usize; 3]) {
    let mut s = SCHED.lock();
    let c = s.current;
    s.threads[c].altstack = v;
}

/// rt_sigsuspend: the thread waits with `m`; its own mask comes back after the signal.
pub fn suspend_mask(m: u64) {
    let mut s = SCHED.lock();
    let c = s.current;
    let old = s.threads[c].sigmask;
    s.threads[c].saved_mask = Some(old);
    s.threads[c].sigmask = m;
}

/// The mask saved by [`suspend_mask`], if any (taken).
pub fn take_saved_mask() -> Option<u64> {
    let mut s = SCHED.lock();
    let c = s.current;
    s.threads[c].saved_mask.take()
}

/// Records the running thread's FS or GS base (also loaded into the MSR by the caller).
pub fn set_tls(fs: bool, v: u64) {
    let mut s = SCHED.lock();
    let c = s.current;
    if fs {
        s.threads[c].fs_base = v;
    } else {
        s.threads[c].gs_base = v;
    }
}

/// The running thread's FS or GS base.
pub fn tls(fs: bool) -> u64 {
    let s = SCHED.lock();
    let t = &s.threads[s.current];
    if fs {
        t.fs_base
    } else {
        t.gs_base
    }
}

/// set_tid_address: where to clear the tid (and wake a futex) when the thread exits.
pub fn set_clear_tid(addr: usize) -> usize {
    let mut s = SCHED.lock();
    let c = s.current;
    s.threads[c].clear_tid = addr;
    s.threads[c].tid as usize
}

/// Frames (4 MiB) kept free for the kernel itself (its heap, page tables, copy-on-write
/// faults): a new thread or process is refused with ENOMEM rather than take them, so a fork
/// or thread bomb without a policy limit gets an errno instead of ending the VM.
const RESERVE_FRAMES: usize = 1024;

/// A new thread's kernel stack: (stack, top, saved stack pointer).
pub type KStack = (Box<[u8]>, usize, usize);

/// A kernel stack for a new thread that resumes after the syscall of `frame` with rax = 0 and
/// stack pointer `rsp` (the parent's when 0); ENOMEM when memory is tight (see
/// [`RESERVE_FRAMES`]).
pub fn new_kstack(frame: &SyscallFrame, rsp: usize) -> Result<KStack, Errno> {
    let mut v: Vec<u8> = Vec::new();
    v.try_reserve_exact(KSTACK).map_err(|_| ENOMEM)?;
    if crate::frames::free_count() < RESERVE_FRAMES {
        return Err(ENOMEM);
    }
    v.resize(KSTACK, 0);
    let mut stack = v.into_boxed_slice();
    let ktop = (stack.as_mut_ptr() as usize + KSTACK) & !15;
    // The child's kernel stack, top down: its user registers, its SSE state (the parent's),
    // then what vmk_switch pops: six callee-saved registers and the return address.
    let frame_at = ktop - core::mem::size_of::<SyscallFrame>();
    let fx_at = frame_at - FX;
    let ksp = fx_at - 8 - 6 * 8;
    // SAFETY: all three regions lie inside the new stack; the parent's SSE area sits right
    // below its frame on its own kernel stack (syscall entry layout, trap.rs).
    unsafe {
        let child = frame_at as *mut SyscallFrame;
        core::ptr::copy_nonoverlapping(frame as *const SyscallFrame, child, 1);
        (*child).rax = 0;
        if rsp != 0 {
            (*child).rsp = rsp as u64;
        }
        core::ptr::copy_nonoverlapping((frame as *const SyscallFrame as *const u8).sub(FX), fx_at as *mut u8, FX);
        core::ptr::write_bytes(ksp as *mut u8, 0, 6 * 8);
        core::ptr::write((fx_at - 8) as *mut usize, syscall_return as *const () as usize);
    }
    Ok((stack, ktop, ksp))
}

/// Adds a runnable thread `tid` of process `pid` that inherits the running thread's TLS bases
/// (FS replaced by `fs` when given) and signal mask.
fn add_thread(tid: i32, pid: i32, stack: KStack, fs: Option<u64>, clear_tid: usize) {
    let mut s = SCHED.lock();
    reap(&mut s);
    let parent = s.current;
    let (pfs, pgs, pmask) = (s.threads[parent].fs_base, s.threads[parent].gs_base, s.threads[parent].sigmask);
    // A forked process (tid == pid) keeps its parent's alternate signal stack, a new thread
    // has none (as on Linux).
    let altstack = if tid == pid { s.threads[parent].altstack } else { NO_ALTSTACK };
    let (stack, ktop, ksp) = stack;
    s.threads.push(Box::new(Thread {
        tid,
        pid,
        ksp,
        ktop,
        _stack: Some(stack),
        state: State::Runnable,
        woke: Ok(0),
        fs_base: fs.unwrap_or(pfs),
        gs_base: pgs,
        clear_tid,
        sigmask: pmask,
        saved_mask: None,
        altstack,
    }));
}

/// A fresh id for a thread or process (pids and tids share one space, as on Linux).
pub fn new_id() -> i32 {
    let mut s = SCHED.lock();
    let id = s.next_tid;
    s.next_tid += 1;
    id
}

/// The first thread of a forked process `pid` (tid = pid), on `kstack` from [`new_kstack`]
/// (which says where it resumes).
pub fn spawn_process(kstack: KStack, pid: i32, clear_tid: usize) {
    add_thread(pid, pid, kstack, None, clear_tid);
    crate::apic::start_timer();
}

/// Starts a thread that resumes after the parent's syscall (`frame`) with rax = 0.
pub fn spawn(frame: &SyscallFrame, t: &ThreadSpawn) -> Result<usize, Errno> {
    const CLONE_SETTLS: u64 = 0x80000;
    const CLONE_PARENT_SETTID: u64 = 0x100000;
    const CLONE_CHILD_CLEARTID: u64 = 0x200000;
    const CLONE_CHILD_SETTID: u64 = 0x1000000;
    let stack = new_kstack(frame, t.stack)?;
    let tid = new_id();
    let pid = current_pid();
    let fs = (t.flags & CLONE_SETTLS != 0).then_some(t.tls as u64);
    add_thread(tid, pid, stack, fs, if t.flags & CLONE_CHILD_CLEARTID != 0 { t.child_tid } else { 0 });
    crate::apic::start_timer();
    if t.flags & CLONE_PARENT_SETTID != 0 {
        litebox_libos::user::write(t.parent_tid, &tid)?;
    }
    if t.flags & CLONE_CHILD_SETTID != 0 {
        litebox_libos::user::write(t.child_tid, &tid)?;
    }
    Ok(tid as usize)
}

/// The running thread's process id.
pub fn current_pid() -> i32 {
    let s = SCHED.lock();
    s.threads[s.current].pid
}

/// Ends every thread of process `pid` but the running one (exit_group, execve): they never run
/// again; their kernel stacks are freed later.
pub fn kill_others(pid: i32) {
    let mut s = SCHED.lock();
    let me = s.current;
    for (i, t) in s.threads.iter_mut().enumerate() {
        if i != me && t.pid == pid {
            t.state = State::Dead;
        }
    }
}

/// Wakes the sleeping and futex-waiting threads of process `pid` with EINTR (a signal that
/// will end it is pending).
pub fn wake_process(pid: i32) {
    let mut s = SCHED.lock();
    for t in s.threads.iter_mut() {
        if t.pid == pid && matches!(t.state, State::Sleeping(_) | State::Parked(..)) {
            t.state = State::Runnable;
            t.woke = Err(EINTR);
        }
    }
}

/// Ends the running thread for good (its process has exited): runs the others.
pub fn end_current() -> ! {
    let _ = block(State::Dead);
    crate::fatal(crate::EXIT_INTERNAL, format_args!("internal error: an exited thread was resumed"))
}

/// Frees the threads that have exited (their kernel stacks), except the running one: a dead
/// thread never runs again, and this runs on another thread's stack.
fn reap(s: &mut Sched) {
    let me = s.threads[s.current].tid;
    s.threads.retain(|t| t.state != State::Dead || t.tid == me);
    s.current = s.threads.iter().position(|t| t.tid == me).unwrap_or(0);
}

/// Makes the running thread wait in `state`, runs others meanwhile, returns why it woke.
fn block(state: State) -> Result<usize, Errno> {
    let mut s = SCHED.lock();
    let me = s.current;
    let my_tid = s.threads[me].tid;
    s.threads[me].state = state;
    charge(&mut s);
    loop {
        // Threads whose deadline passed run again even while others are always runnable (two
        // threads polling in `wait_event` would otherwise starve a sleeper for good).
        wake_expired(&mut s, clock::monotonic_ns());
        let n = s.threads.len();
        let next = (1..=n).map(|i| (me + i) % n).find(|&i| s.threads[i].state == State::Runnable);
        if let Some(next) = next {
            // The next slice starts now (time spent idle below is nobody's).
            s.since = clock::monotonic_ns();
            if next == me {
                return core::mem::replace(&mut s.threads[me].woke, Ok(0));
            }
            s.current = next;
            let from = &mut s.threads[me].ksp as *mut usize;
            let (to, ktop, fs, gs) =
                (s.threads[next].ksp, s.threads[next].ktop, s.threads[next].fs_base, s.threads[next].gs_base);
            let other = (s.threads[next].pid != s.threads[me].pid).then_some(s.threads[next].pid);
            drop(s);
            if let Some(pid) = other {
                (processes().activate)(pid);
            }
            // SAFETY: the next thread's stack holds a frame vmk_switch (or `spawn`) left; the
            // MSRs get its TLS bases; the syscall entry will use its kernel stack.
            unsafe {
                crate::trap::set_syscall_stack(ktop);
                crate::cpu::set_rsp0(ktop);
                port::wrmsr(port::MSR_FS_BASE, fs);
                port::wrmsr(port::MSR_GS_BASE, gs);
                vmk_switch(from, to);
            }
            s = SCHED.lock();
            // While others ran, threads came and went (`reap` and `add_thread` move the
            // others' indexes): this thread is found again by its tid.
            let at = s.threads.iter().position(|t| t.tid == my_tid).unwrap_or(s.current);
            s.current = at;
            return core::mem::replace(&mut s.threads[at].woke, Ok(0));
        }
        // Nobody can run: wait for the earliest deadline, or give up.
        let deadline = s
            .threads
            .iter()
            .filter_map(|t| match t.state {
                State::Parked(Some(d)) | State::Sleeping(d) => Some(d),
                _ => None,
            })
            .min();
        let Some(deadline) = deadline else {
            drop(s);
            crate::fatal(crate::EXIT_INTERNAL, format_args!("every thread of the app is blocked forever (deadlock)"));
        };
        drop(s);
        idle(deadline);
        s = SCHED.lock();
    }
}

/// Makes runnable the threads whose sleep or park deadline is `now` or past (a parked one
/// wakes with ETIMEDOUT).
fn wake_expired(s: &mut Sched, now: u64) {
    for t in s.threads.iter_mut() {
        match t.state {
            State::Parked(Some(d)) if d <= now => {
                t.state = State::Runnable;
                t.woke = Err(ETIMEDOUT);
            }
            State::Sleeping(d) if d <= now => {
                t.state = State::Runnable;
                t.woke = Ok(0);
            }
            _ => {}
        }
    }
}

/// Idles the CPU until `deadline`, doing the kernel's background work (signals from the runner,
/// the network card, which raise no interrupts) at least every [`background_interval`] on the
/// way: so TCP handshakes and acknowledgements go on while every thread sleeps or waits on a
/// futex. Returns early when a signal from the runner may have woken a thread.
fn idle(deadline: u64) {
    loop {
        let now = clock::monotonic_ns();
        if now >= deadline {
            return;
        }
        crate::apic::idle_until(deadline.min(now.saturating_add(background_interval())));
        let m = crate::machine();
        m.poll_devices();
        if m.poll_events() {
            return;
        }
    }
}

/// How long the CPU may idle before the background work is due again (ns).
fn background_interval() -> u64 {
    crate::machine().poll_interval_ns()
}

/// Waits for something another thread may do, or for `own` (a monotonic deadline of the
/// caller's: a timer, a timeout): runs the others, or sleeps until the earliest deadline; if
/// nothing can ever happen, ends the VM (deadlock).
pub fn wait_event(own: Option<u64>) {
    crate::machine().poll_events();
    let (others_runnable, deadline) = {
        let s = SCHED.lock();
        let me = s.current;
        let others = s.threads.iter().enumerate().filter(|(i, _)| *i != me);
        let mut runnable = false;
        let mut deadline: Option<u64> = None;
        for (_, t) in others {
            match t.state {
                State::Runnable => runnable = true,
                State::Parked(Some(d)) | State::Sleeping(d) => deadline = Some(deadline.map_or(d, |x| x.min(d))),
                _ => {}
            }
        }
        (runnable, [deadline, own].into_iter().flatten().min())
    };
    if others_runnable {
        yield_now();
    } else if let Some(d) = deadline {
        sleep_until(d);
    } else {
        crate::fatal(crate::EXIT_INTERNAL, format_args!("every thread of the app is blocked forever (deadlock)"));
    }
}

/// Lets other runnable threads run first (sched_yield).
pub fn yield_now() {
    let _ = block(State::Runnable);
}

/// Sleeps until monotonic time `deadline` (ns), running other threads meanwhile.
pub fn sleep_until(deadline: u64) {
    let _ = block(State::Sleeping(deadline));
}

/// Parks the running thread until [`unpark`] (0), the deadline passes (ETIMEDOUT) or
/// [`wake_process`] (EINTR).
pub fn park(deadline: Option<u64>) -> Result<usize, Errno> {
    block(State::Parked(deadline))
}

/// Makes parked thread `tid` runnable (it checks why it waits again).
pub fn unpark(tid: i32) {
    let mut s = SCHED.lock();
    if let Some(t) = s.threads.iter_mut().find(|t| t.tid == tid && matches!(t.state, State::Parked(_))) {
        t.state = State::Runnable;
        t.woke = Ok(0);
    }
}

/// Ends the running thread (clearing and waking its tid word); the last one of its process
/// ends the process.
pub fn exit_thread(code: i32) -> ! {
    let (clear, alone) = {
        let s = SCHED.lock();
        let me = &s.threads[s.current];
        let others = s.threads.iter().filter(|t| t.pid == me.pid && t.tid != me.tid && t.state != State::Dead).count();
        (me.clear_tid, others == 0)
    };
    if alone {
        (processes().exit)((code & 0xff) << 8);
    }
    if clear != 0 && litebox_libos::user::write(clear, &0u32).is_ok() {
        (processes().futex_wake)(clear);
    }
    // The dead thread's kernel stack is the one we are on: the next `spawn` frees it.
    let _ = block(State::Dead);
    crate::fatal(crate::EXIT_INTERNAL, format_args!("internal error: an exited thread was resumed"))
}
