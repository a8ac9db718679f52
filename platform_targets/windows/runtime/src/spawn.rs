//! vfork-then-exec: `vfork` and `clone(CLONE_VM|CLONE_VFORK)` (posix_spawn, Python's
//! subprocess) with the exec'd program started as a new instance of this artifact.
//!
//! The "child" runs in the parent's address space on the parent's thread, as a vfork child
//! does, while the parent waits: its registers and SSE state at the call, its descriptor table,
//! signal dispositions, cwd and mask are saved. The child's `execve` starts this same
//! executable (CreateProcess) with `LITEBOX_EXEC` naming the program, the execve's argv as its
//! command line and its envp in `LITEBOX_EXEC_ENV`; the child's descriptors 0–2 become the new
//! process's standard handles (the artifact's own standard handles as they are; the library
//! OS's pipes and files through a host pipe and a pump thread here). Then, or when the child calls
//! `_exit`, the parent's state comes back and its vfork returns the new process's id, which
//! `wait4` waits on (a waiter thread records the exit in the core's process table and raises
//! SIGCHLD). Only the vforking thread is the child; the process's other threads go on (and see
//! the child's descriptor changes until it execs).
//!
//! `fork` (and `clone` without CLONE_VM) is served the same way, with the parent's memory kept
//! aside ([`crate::forkmem`]) and put back when the child execs, exits or dies of a signal, so
//! the child's writes never reach the parent; its writes to pipes never wait
//! ([`crate::backlog`]), as it runs to its end before the parent (and so a pipeline's reader)
//! goes on. Forks nest (a subshell that forks again) up to [`MAX_DEPTH`] levels. An execve
//! outside a child runs the program as a new instance and ends as it ends
//! ([`exec_in_place`]); under Wine, a program that must load low starts through the Wine
//! loader ([`crate::wineexec`]).
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, Ordering};

use litebox_libos::errno::*;
use litebox_libos::fd::{FdTable, FileKind, OpenFile};
use litebox_libos::signal::{Actions, UserRegs};
use litebox_libos::sync::SpinMutex;
use litebox_libos::{user, LibOs};

use crate::fastpath::{self, Frame, RETURN_CONTEXT, RETURN_DELIVER};
use crate::host::WinHost;
use crate::win;

const CLONE_VM: usize = 0x100;
const CLONE_VFORK: usize = 0x4000;
const CLONE_THREAD: usize = 0x10000;
const CLONE: usize = 56;
const FORK: usize = 57;
const VFORK: usize = 58;
pub const EXECVE: usize = 59;
const EXIT: usize = 60;
const EXIT_GROUP: usize = 231;

/// How many forked or vforked children may run one inside another.
pub const MAX_DEPTH: usize = 16;

/// Separates the app's environment entries in LITEBOX_EXEC_ENV.
pub const ENV_SEPARATOR: u8 = 1;

/// What the parent resumes with.
struct Parent {
    regs: UserRegs,
    fx: Option<[u8; 512]>,
    fds: FdTable,
    actions: Actions,
    cwd: Vec<u8>,
    sigmask: usize,
    /// The child's stack (clone with a stack), applied once to the child's return.
    child_sp: Option<u64>,
    /// The thread that called vfork (its ThreadData): only its calls are the child's.
    thread: usize,
    umask: u32,
    /// A fork's copy of the parent's memory (None for vfork, whose child shares it).
    memory: Option<crate::forkmem::Snapshot>,
    /// The child's process id (getpid in the child; the fork's result in the parent).
    child_pid: i32,
}

/// The parents waiting for their children, innermost last.
static PARENT: SpinMutex<Vec<Parent>> = SpinMutex::new(Vec::new());
/// Ids for fork and vfork children (the first id a child of this instance gets).
static NEXT_FAKE: AtomicI32 = AtomicI32::new(FIRST_CHILD_ID);
/// The first process id given to a fork child: above Windows process ids as they are in
/// practice, so the ids of children and of exec'd instances started outside a child differ.
const FIRST_CHILD_ID: i32 = 0x40_0000;
/// The environment variable that gives an exec'd instance the process id of the fork child
/// that exec'd (Linux keeps a process's id across execve).
pub const PID_VAR: &[u8] = b"LITEBOX_EXEC_PID";

/// The process id an exec'd instance keeps from the child that exec'd (`LITEBOX_EXEC_PID`),
/// if any; its own children then get ids after it and after its threads' ids (the process id
/// plus a count: fastpath.rs).
pub fn inherited_pid(host_env: &[Vec<u8>]) -> Option<i32> {
    let v = litebox_rt::launch::host_var(host_env, PID_VAR)?;
    let pid: i32 = core::str::from_utf8(v).ok()?.parse().ok().filter(|&p| p > 0)?;
    if pid >= FIRST_CHILD_ID {
        NEXT_FAKE.store(pid.saturating_add(0x1_0000), Ordering::Relaxed);
    }
    Some(pid)
}

/// Whether the call at `f` starts a vfork child (vfork, or clone with CLONE_VM|CLONE_VFORK
/// and without CLONE_THREAD).
pub fn is_vfork(f: &Frame) -> bool {
    f.rax == VFORK || (f.rax == CLONE && f.rdi & (CLONE_VM | CLONE_VFORK | CLONE_THREAD) == CLONE_VM | CLONE_VFORK)
}

/// Whether the call at `f` is a fork (fork, or clone without CLONE_VM and CLONE_THREAD).
pub fn is_fork(f: &Frame) -> bool {
    f.rax == FORK || (f.rax == CLONE && f.rdi & (CLONE_VM | CLONE_THREAD) == 0)
}

/// Whether the calling thread is running a vfork or fork child (its parent waits). Other
/// threads of the process go on as usual.
pub fn in_child() -> bool {
    let me = fastpath::current() as *const fastpath::ThreadData as usize;
    PARENT.lock().last().is_some_and(|p| p.thread == me)
}

/// The process id of the fork or vfork child the calling thread runs, if it runs one (its
/// getpid; the parent's other threads keep the parent's).
pub fn child_pid() -> Option<i32> {
    let me = fastpath::current_addr();
    let parents = PARENT.lock();
    parents.last().filter(|p| me != 0 && p.thread == me).map(|p| p.child_pid)
}

/// Whether the calling thread runs a fork child (not a vfork one).
fn in_fork_child() -> bool {
    let me = fastpath::current() as *const fastpath::ThreadData as usize;
    PARENT.lock().last().is_some_and(|p| p.thread == me && p.memory.is_some())
}

/// Starts the child of a vfork or (`fork`) a fork: saves the parent's state (for a fork its
/// memory too) and returns 0 to the child (through the entry's slow way, which saves the SSE
/// state first: [`take_fx`]). EAGAIN when another thread's child runs or forks nest too deep,
/// ENOMEM when the parent's memory cannot be copied.
pub fn start(os: &LibOs<WinHost>, f: &Frame, fork: bool) -> isize {
    {
        let parents = PARENT.lock();
        let me = fastpath::current() as *const fastpath::ThreadData as usize;
        if parents.len() >= MAX_DEPTH || parents.last().is_some_and(|p| p.thread != me) {
            return -(EAGAIN as isize);
        }
    }
    let memory = if fork {
        match crate::forkmem::Snapshot::take(os, f.app_rsp + 16) {
            Some(m) => Some(m),
            None => return -(ENOMEM as isize),
        }
    } else {
        None
    };
    // The child is a process of the table from its start, under the id getpid gives it and
    // its parent's wait reports; until it execs it shares the signal state it runs on.
    let parent_pid = litebox_libos::Platform::pid(&os.platform);
    let child_pid = NEXT_FAKE.fetch_add(1, Ordering::Relaxed);
    if litebox_libos::proctab::TABLE.lock().fork(parent_pid, child_pid, os.signals.clone()).is_err() {
        return -(EAGAIN as isize);
    }
    let td = fastpath::current();
    let mut regs = crate::signals::interrupted_regs(f);
    regs.rax = 0;
    let child_sp = (f.rax == CLONE && f.rsi != 0).then(|| f.rsi as u64 - 128);
    PARENT.lock().push(Parent {
        regs,
        fx: None,
        fds: os.fds.lock().clone(),
        actions: os.signals.actions.lock().clone(),
        cwd: os.cwd.lock().clone(),
        sigmask: td.sigmask.load(Ordering::Relaxed),
        child_sp,
        thread: td as *const fastpath::ThreadData as usize,
        umask: os.umask.load(Ordering::Relaxed),
        memory,
        child_pid,
    });
    td.resume.store(RETURN_DELIVER, Ordering::Relaxed);
    0
}

/// Called on the slow way with the SSE state just saved: keeps it for the parent, and gives
/// the child its own stack if clone named one.
pub fn take_fx(fx: &[u8; 512], regs: &mut UserRegs) {
    if !in_child() {
        return;
    }
    if let Some(p) = PARENT.lock().last_mut() {
        if p.fx.is_none() {
            p.fx = Some(*fx);
            if let Some(sp) = p.child_sp.take() {
                regs.rsp = sp;
            }
        }
    }
}

/// A call of the child that ends it (execve: a new instance; exit), or a fork child's pipe
/// write ([`crate::backlog`]). None: served as usual.
pub fn child_call(os: &'static LibOs<WinHost>, f: &Frame) -> Option<isize> {
    match f.rax {
        EXECVE => Some(match exec(os, f) {
            Ok(started) => {
                let pid = started.pid;
                watch(started);
                resume_parent(os, pid)
            }
            Err(e) => -(e as isize),
        }),
        EXIT | EXIT_GROUP => Some(end_without_exec(os, ((f.rdi as i32) & 0xff) << 8)),
        nr if in_fork_child() => {
            let r = crate::backlog::child_write(os, nr, f.rdi, f.rsi, f.rdx)?;
            // A write into a pipe without readers raised SIGPIPE: the child may die of it.
            crate::signals::after_call(os);
            Some(r)
        }
        _ => None,
    }
}

/// The child dies of signal `sig` (its action is the default one) before it execs: the
/// parent's wait sees that death, and the parent goes on. The caller returns to the app.
pub fn child_killed(os: &LibOs<WinHost>, sig: i32) {
    end_without_exec(os, sig & 0x7f);
}

/// Records the end of a child that did not exec with wait `status` under its process id, and
/// resumes its parent.
fn end_without_exec(os: &LibOs<WinHost>, status: i32) -> isize {
    let Some(pid) = child_pid() else { return -(EINVAL as isize) };
    litebox_libos::proctab::TABLE.lock().exit(pid, status);
    os.signals.pending.lock().raise(17, litebox_libos::signal::SI_KERNEL, 0);
    resume_parent(os, pid)
}

/// Puts the parent back: its memory (after a fork), descriptors, dispositions, cwd, umask and
/// mask, and its registers with `pid` as the fork's result.
fn resume_parent(os: &LibOs<WinHost>, pid: i32) -> isize {
    let Some(p) = PARENT.lock().pop() else { return -(EINVAL as isize) };
    let td = fastpath::current();
    if let Some(m) = p.memory {
        m.restore(os);
    }
    os.umask.store(p.umask, Ordering::Relaxed);
    *os.fds.lock() = p.fds;
    *os.signals.actions.lock() = p.actions;
    *os.cwd.lock() = p.cwd;
    td.sigmask.store(p.sigmask, Ordering::Relaxed);
    let regs = UserRegs { rax: pid as u64, ..p.regs };
    crate::signals::set_context(td, &regs, p.fx.as_ref());
    td.resume.store(RETURN_CONTEXT, Ordering::Relaxed);
    pid as isize
}

/// A NULL-terminated array of C strings in app memory.
fn strings(mut at: usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if at == 0 {
        return Ok(out);
    }
    loop {
        let p: usize = user::read(at)?;
        if p == 0 {
            return Ok(out);
        }
        out.push(user::cstr(p, 1 << 17)?);
        if out.len() > 1 << 16 {
            return Err(E2BIG);
        }
        at += 8;
    }
}

fn wide(s: &[u8]) -> Vec<u16> {
    core::str::from_utf8(s).map_or_else(|_| s.iter().map(|&b| u16::from(b)).collect(), |t| t.encode_utf16().collect())
}

/// Appends `arg` to a command line quoted as CommandLineToArgvW reads it back.
fn quote(line: &mut Vec<u16>, arg: &[u16]) {
    let (q, bs) = (b'"' as u16, b'\\' as u16);
    line.push(q);
    let mut slashes = 0;
    for &c in arg {
        if c == bs {
            slashes += 1;
        } else {
            if c == q {
                line.extend(core::iter::repeat_n(bs, slashes + 1));
            }
            slashes = 0;
        }
        line.push(c);
    }
    line.extend(core::iter::repeat_n(bs, slashes));
    line.push(q);
}

/// One standard handle of the new process and what must happen to it here afterwards.
struct Std {
    /// Inheritable handle for the child (closed here after CreateProcess).
    child: win::HANDLE,
    /// A pump to start: (the library OS's file, our end of the host pipe, child writes).
    pump: Option<(alloc::sync::Arc<OpenFile>, win::HANDLE, bool)>,
}

fn inheritable(h: win::HANDLE) -> win::HANDLE {
    let mut out = 0usize;
    // SAFETY: duplicates a handle of this process into itself, inheritable.
    let me = unsafe { win::GetCurrentProcess() };
    if h == 0 || unsafe { win::DuplicateHandle(me, h, me, &mut out, 0, 1, 2) } == 0 {
        return 0;
    }
    out
}

fn std_for(os: &LibOs<WinHost>, fd: i32) -> Std {
    let none = Std { child: 0, pump: None };
    let Ok(f) = os.fds.lock().get(fd) else { return none };
    match &f.kind {
        FileKind::Host(h) if (0..3).contains(&h.0) => {
            Std { child: inheritable(os.platform.std[h.0 as usize].load(Ordering::Relaxed)), pump: None }
        }
        // A file of the shared writable layer: the new process gets the file itself (its
        // offset shared with ours, as a Linux open file description is).
        FileKind::Host(h) if crate::winfs::is_file(h.0) => {
            Std { child: crate::winfs::handle(h.0).map_or(0, inheritable), pump: None }
        }
        FileKind::Obj(litebox_libos::kobj::Obj::Pipe(_)) => {
            let child_writes = f.flags() & 3 != 0;
            let (mut r, mut w) = (0usize, 0usize);
            // SAFETY: writes two handles.
            if unsafe { win::CreatePipe(&mut r, &mut w, 0, 0) } == 0 {
                return none;
            }
            let (theirs, ours) = if child_writes { (w, r) } else { (r, w) };
            let child = inheritable(theirs);
            // SAFETY: our copy; the inheritable duplicate goes to the child.
            unsafe { win::CloseHandle(theirs) };
            Std { child, pump: Some((f.clone(), ours, child_writes)) }
        }
        // A file of the image or of the in-memory layer: the new process reads or writes a
        // host pipe that a pump here joins to the file (at its offset, as the shim reads and
        // writes it).
        FileKind::Overlay(_) | FileKind::Image(_) | FileKind::Synth(_) | FileKind::Generated(..) => {
            let child_writes = f.flags() & 3 != 0;
            let (mut r, mut w) = (0usize, 0usize);
            // SAFETY: writes two handles.
            if unsafe { win::CreatePipe(&mut r, &mut w, 0, 0) } == 0 {
                return none;
            }
            let (theirs, ours) = if child_writes { (w, r) } else { (r, w) };
            let child = inheritable(theirs);
            // SAFETY: our copy; the inheritable duplicate goes to the child.
            unsafe { win::CloseHandle(theirs) };
            Std { child, pump: Some((f.clone(), ours, child_writes)) }
        }
        _ => none,
    }
}

/// Reads from the library OS's file behind a pump (a pipe object or a file).
fn file_read(os: &LibOs<WinHost>, f: &OpenFile, buf: &mut [u8]) -> Result<usize, Errno> {
    match &f.kind {
        FileKind::Obj(obj) => obj.read(&os.platform, buf, false),
        _ => litebox_libos::shim::fs::read_file(os, f, buf, None),
    }
}

/// Writes to the library OS's file behind a pump (a pipe object or a file).
fn file_write(os: &LibOs<WinHost>, f: &OpenFile, buf: &[u8]) -> Result<usize, Errno> {
    match &f.kind {
        FileKind::Obj(obj) => obj.write(&os.platform, buf, false, &|| {}),
        _ => litebox_libos::shim::fs::write_file(os, f, buf, None),
    }
}

struct Pump {
    file: alloc::sync::Arc<OpenFile>,
    host: win::HANDLE,
    child_writes: bool,
}

extern "system" fn pump(arg: usize) -> u32 {
    // SAFETY: `arg` is the Box<Pump> leaked for this thread.
    let p = unsafe { Box::from_raw(arg as *mut Pump) };
    fastpath::set_current(fastpath::ThreadData::new(0, 0));
    fastpath::current().sigmask.store(usize::MAX, Ordering::Relaxed);
    let os = crate::os();
    let mut buf = alloc::vec![0u8; 65536];
    loop {
        if p.child_writes {
            let mut n = 0u32;
            // SAFETY: buf is writable for its length.
            if unsafe { win::ReadFile(p.host, buf.as_mut_ptr(), buf.len() as u32, &mut n, 0) } == 0 || n == 0 {
                break;
            }
            let mut done = 0;
            while done < n as usize {
                match file_write(os, &p.file, &buf[done..n as usize]) {
                    Ok(k) if k > 0 => done += k,
                    _ => break,
                }
            }
            if done < n as usize {
                break;
            }
        } else {
            let n = match file_read(os, &p.file, &mut buf) {
                Ok(n) if n > 0 => n,
                _ => break,
            };
            let mut m = 0u32;
            // SAFETY: buf is readable for n bytes.
            if unsafe { win::WriteFile(p.host, buf.as_ptr(), n as u32, &mut m, 0) } == 0 {
                break;
            }
        }
    }
    // SAFETY: our end of the host pipe.
    unsafe { win::CloseHandle(p.host) };
    drop(p);
    litebox_libos::Platform::wake_all(&os.platform);
    0
}

/// A started instance.
struct Started {
    /// Its id in the process table (the fork child's id when a child execs).
    pid: i32,
    /// Its Windows process id, or its Unix pid when `process` is 0.
    host_pid: i32,
    /// Its process handle (0: a Unix process, [`crate::wineexec`]).
    process: win::HANDLE,
    /// The signals the app sends it (its entry in the process table).
    signals: alloc::sync::Arc<litebox_libos::signal::Signals>,
    /// The pumps that carry its output (their threads): its end is reported once they are done,
    /// so a parent that waited for it finds all it wrote.
    outputs: Vec<win::HANDLE>,
}

/// Waits for the output pumps of an instance that has ended.
fn join(outputs: &[win::HANDLE]) {
    for &h in outputs {
        // SAFETY: thread handles we hold.
        unsafe {
            win::WaitForSingleObject(h, win::INFINITE);
            win::CloseHandle(h);
        }
    }
}

struct Waiter {
    started: Started,
    parent: i32,
}

/// Signals whose default action is not to end the process: sent to an exec'd instance, they
/// are dropped (SIGCHLD, SIGCONT, SIGURG, SIGWINCH; the stop signals too: not supported).
const NOT_ENDING: [usize; 8] = [17, 18, 19, 20, 21, 22, 23, 28];

/// How often (ms) the waiter looks for signals the app sent the new process.
const SIGNAL_POLL_MS: u32 = 20;

extern "system" fn waiter(arg: usize) -> u32 {
    // SAFETY: `arg` is the Box<Waiter> leaked for this thread.
    let w = unsafe { Box::from_raw(arg as *mut Waiter) };
    let Waiter { started: Started { pid, host_pid, process, signals, outputs }, parent } = *w;
    let status = if process == 0 {
        crate::wineexec::wait(host_pid, SIGNAL_POLL_MS, || ending_signal(&signals))
    } else {
        let mut code = 0u32;
        // SAFETY: the process handle is ours.
        while unsafe { win::WaitForSingleObject(process, SIGNAL_POLL_MS) } != 0 {
            if let Some(s) = ending_signal(&signals) {
                // The new process's own handlers cannot be reached: the signal ends it, as its
                // default action would.
                // SAFETY: the process handle is ours.
                unsafe { win::TerminateProcess(process, crate::host::signal_exit_code(s as i32)) };
            }
        }
        // SAFETY: the process handle is ours.
        unsafe {
            win::GetExitCodeProcess(process, &mut code);
            win::CloseHandle(process);
        }
        crate::host::wait_status(code)
    };
    join(&outputs);
    let os = crate::os();
    litebox_libos::proctab::TABLE.lock().exit(pid, status);
    // SIGCHLD for a parent that runs on this signal state (the first process, or a fork child
    // that is still running in its place).
    if parent == os.platform.pid || litebox_libos::proctab::TABLE.lock().get(parent).is_some_and(|p| p.status.is_none())
    {
        os.signals.pending.lock().raise(17, litebox_libos::signal::SI_KERNEL, 0);
    }
    litebox_libos::Platform::wake_all(&os.platform);
    0
}

/// A signal the app sent the new process that ends it (one whose default action ends a
/// process), taken from its pending set; others are dropped.
fn ending_signal(signals: &litebox_libos::signal::Signals) -> Option<usize> {
    let mut p = signals.pending.lock();
    let s = p.deliverable(0)?;
    p.take(s);
    (!NOT_ENDING.contains(&s)).then_some(s)
}

fn thread(start: extern "system" fn(usize) -> u32, arg: usize) -> bool {
    // SAFETY: the thread takes ownership of `arg`.
    let h = unsafe { win::CreateThread(0, 256 * 1024, start, arg, 0, core::ptr::null_mut()) };
    if h != 0 {
        // SAFETY: the thread runs on without our handle.
        unsafe { win::CloseHandle(h) };
    }
    h != 0
}

/// An execve outside a vfork or fork child (`exec cmd` in a shell, or a program that execs
/// itself into another): Windows cannot replace a process's program, so the program runs as a
/// new instance and this process waits for it, then ends as it ended (its exit status, or
/// death by the same signal). Returns only when the execve fails (the errno).
pub fn exec_in_place(os: &LibOs<WinHost>, f: &Frame) -> isize {
    let Started { host_pid, process, outputs, .. } = match exec(os, f) {
        Ok(started) => started,
        Err(e) => return -(e as isize),
    };
    let status = if process == 0 {
        crate::wineexec::wait(host_pid, SIGNAL_POLL_MS, || None)
    } else {
        let mut code = 0u32;
        // SAFETY: the process handle is ours.
        unsafe {
            win::WaitForSingleObject(process, win::INFINITE);
            win::GetExitCodeProcess(process, &mut code);
        }
        crate::host::wait_status(code)
    };
    join(&outputs);
    if status & 0x7f != 0 {
        crate::host::exit_by_signal(status & 0x7f)
    }
    crate::host::exit_process(status >> 8)
}

/// Waits on a thread for the exec'd instance `pid` (its `process` handle) to end, then records
/// its end in the process table and raises SIGCHLD.
fn watch(started: Started) {
    let parent = litebox_libos::proctab::TABLE.lock().parent_of(started.pid);
    let arg = Box::into_raw(Box::new(Waiter { started, parent })) as usize;
    if !thread(waiter, arg) {
        // SAFETY: the thread did not start; the box is ours again.
        drop(unsafe { Box::from_raw(arg as *mut Waiter) });
    }
}

/// An execve: a new instance of this artifact for the program, its standard handles passed on
/// (pumps started for the library OS's pipes). Returns its pid, process handle and the signals
/// the app sends it.
fn exec(os: &LibOs<WinHost>, f: &Frame) -> Result<Started, Errno> {
    let mut path = user::cstr(f.rdi, 4095)?;
    let argv = strings(f.rsi)?;
    let env = strings(f.rdx)?;
    let cwd = os.cwd.lock().clone();
    // The program as the library OS's own execve finds it (symlinks, /proc/self/exe followed):
    // the new instance loads that path.
    let r = os.vfs.resolve(&cwd, &path, true)?;
    if r.node.is_none() {
        return Err(ENOENT);
    }
    path = r.path;
    if !path.starts_with(b"/") {
        let mut full = cwd.clone();
        if !full.ends_with(b"/") {
            full.push(b'/');
        }
        full.extend_from_slice(&path);
        path = full;
    }
    let mut exe = [0u16; 1024];
    // SAFETY: exe is writable for its length.
    let n = unsafe { win::GetModuleFileNameW(0, exe.as_mut_ptr(), exe.len() as u32) } as usize;
    if n == 0 || n >= exe.len() {
        return Err(ENOMEM);
    }
    let mut line = Vec::new();
    quote(&mut line, &exe[..n]);
    for a in &argv {
        line.push(b' ' as u16);
        quote(&mut line, &wide(a));
    }
    line.push(0);
    // The new process's environment is this one's (Windows and Wine need theirs: SystemRoot,
    // WINEPREFIX, WINEPRELOADRESERVE...); the app's, from the execve, travels in
    // LITEBOX_EXEC_ENV, its entries separated by U+0001.
    let mut block: Vec<u16> = Vec::new();
    for e in crate::cmdline::env() {
        if !e.is_empty() && !e.starts_with(b"LITEBOX_EXEC") && !e.starts_with(b"LITEBOX_JOB=") {
            block.extend(wide(&e));
            block.push(0);
        }
    }
    let app_env = env.join(&ENV_SEPARATOR);
    if crate::faults::under_wine() && crate::wineexec::needs_low_range(os, &path) {
        let exe = alloc::string::String::from_utf16_lossy(&exe[..n]).into_bytes();
        let mut vars = alloc::vec![
            [&b"LITEBOX_EXEC="[..], &path].concat(),
            [&b"LITEBOX_EXEC_CWD="[..], &cwd].concat(),
            [&b"LITEBOX_EXEC_ENV="[..], &app_env].concat(),
            b"LITEBOX_EXEC_UNIX=1".to_vec(),
        ];
        // The Unix environment it starts from is this process's first one: the shared
        // layer's name is not in it.
        vars.extend(crate::winfs::layer_var());
        vars.extend(child_pid().map(|p| [PID_VAR, b"=", alloc::format!("{p}").as_bytes()].concat()));
        // Not started by CreateProcess, so not in our job object unless it joins it.
        vars.extend(crate::confine::job_var());
        let host_pid = crate::wineexec::start(os, &exe, &argv, &vars)?;
        let (pid, signals) = record_exec(os, host_pid);
        return Ok(Started { pid, host_pid, process: 0, signals, outputs: Vec::new() });
    }
    let pid_var = child_pid().map(|p| alloc::format!("{p}").into_bytes()).unwrap_or_default();
    for (k, v) in [
        (&b"LITEBOX_EXEC="[..], &path),
        (&b"LITEBOX_EXEC_CWD="[..], &cwd),
        (&b"LITEBOX_EXEC_ENV="[..], &app_env),
        (&b"LITEBOX_EXEC_PID="[..], &pid_var),
    ] {
        if v.is_empty() && k.starts_with(PID_VAR) {
            continue;
        }
        block.extend(wide(k));
        block.extend(wide(v));
        block.push(0);
    }
    block.push(0);
    let std = [std_for(os, 0), std_for(os, 1), std_for(os, 2)];
    let mut si = [0u8; 104];
    si[0..4].copy_from_slice(&104u32.to_le_bytes());
    si[60..64].copy_from_slice(&0x100u32.to_le_bytes()); // STARTF_USESTDHANDLES
    for (k, s) in std.iter().enumerate() {
        si[80 + 8 * k..88 + 8 * k].copy_from_slice(&(s.child as u64).to_le_bytes());
    }
    let mut pi = [0usize; 3];
    // SAFETY: every pointer is valid for the call; the handles in si are inheritable.
    let ok = unsafe {
        win::CreateProcessW(
            exe.as_ptr(),
            line.as_mut_ptr(),
            0,
            0,
            1,
            0x400, // CREATE_UNICODE_ENVIRONMENT
            block.as_ptr().cast(),
            core::ptr::null(),
            si.as_ptr(),
            pi.as_mut_ptr().cast(),
        )
    };
    for s in &std {
        if s.child != 0 {
            // SAFETY: the child has its copies now (or none were made).
            unsafe { win::CloseHandle(s.child) };
        }
    }
    if ok == 0 {
        for s in std {
            if let Some((_, h, _)) = s.pump {
                // SAFETY: our end of a pipe nobody uses.
                unsafe { win::CloseHandle(h) };
            }
        }
        return Err(ENOENT);
    }
    let host_pid = pi[2] as u32 as i32;
    // SAFETY: the thread handle is not needed.
    unsafe { win::CloseHandle(pi[1]) };
    let (pid, signals) = record_exec(os, host_pid);
    let mut outputs = Vec::new();
    for s in std {
        if let Some((file, host, child_writes)) = s.pump {
            let arg = Box::into_raw(Box::new(Pump { file, host, child_writes })) as usize;
            // SAFETY: the thread takes ownership of `arg`.
            let h = unsafe { win::CreateThread(0, 256 * 1024, pump, arg, 0, core::ptr::null_mut()) };
            if h == 0 {
                // SAFETY: the thread did not start; the box is ours again.
                drop(unsafe { Box::from_raw(arg as *mut Pump) });
            } else if child_writes {
                outputs.push(h);
            } else {
                // SAFETY: the thread runs on without our handle.
                unsafe { win::CloseHandle(h) };
            }
        }
    }
    Ok(Started { pid, host_pid, process: pi[0], signals, outputs })
}

/// Records a started instance in the process table: a fork child that execs keeps its id
/// (its parent's wait reports it so) and takes the new instance's own signal state; an execve
/// outside a child records the instance as a child under its host id. Returns the id and
/// the signals the app sends it.
fn record_exec(os: &LibOs<WinHost>, host_pid: i32) -> (i32, alloc::sync::Arc<litebox_libos::signal::Signals>) {
    let signals: alloc::sync::Arc<litebox_libos::signal::Signals> = alloc::sync::Arc::new(Default::default());
    let mut t = litebox_libos::proctab::TABLE.lock();
    match child_pid() {
        Some(pid) => {
            t.mark_exec_with(pid, signals.clone());
            (pid, signals)
        }
        None => {
            let _ = t.fork(litebox_libos::Platform::pid(&os.platform), host_pid, signals.clone());
            t.mark_exec(host_pid);
            (host_pid, signals)
        }
    }
}
