//! New processes and programs: fork/vfork/clone of a process, execve/execveat of a program
//! inside the image, wait4/waitid on the app's children.
//!
//! The platform makes the child ([`SyscallContext::fork`]); waiting is the host's where processes
//! are host processes ([`crate::platform::HostPassthrough::process_call`]), else the core's
//! process table's ([`crate::proctab`]). On linux-userland fork is a host fork: the child is a copy of
//! the whole process, runtime included, and shares the host writable layer with its parent. On
//! kvm the kernel makes a new process with its own address space (copy-on-write) and its own
//! library OS instance ([`LibOs::fork`]) over the shared file system. vfork is served as fork
//! (the parent does not wait for the child's execve; the child has its own copy of memory).
//! execve replaces the program inside the same process: the old program's memory is unmapped
//! and the new one is loaded from the image, exactly as at start; only programs of the app's
//! namespace can be executed.
use alloc::vec::Vec;

use super::nr::*;
use super::SysResult;
use crate::errno::*;
use crate::fs::NodeKind;
use crate::kernel::LibOs;
use crate::platform::{Platform, SyscallContext};
use crate::proctab::{WaitFor, Waitable, TABLE};
use crate::user;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[FORK, VFORK, EXECVE, EXECVEAT, WAIT4, WAITID];

/// Syscalls served with a limitation users should know, and what it is (docs/syscalls.md is
/// generated from these arrays by scripts/gen_implemented.py).
pub const PARTIAL: &[(usize, &str)] = &[
    (FORK, "a host process; the child keeps the parent's FS base"),
    (VFORK, "runs as fork: the parent is not suspended until the child execs or exits"),
    (EXECVE, "only programs inside the image (or a policy mount), never host paths; #! scripts; other threads of the process are not stopped first"),
    (EXECVEAT, "as execve"),
    (WAIT4, "children only; rusage is the host's"),
];

const SIGCHLD: u64 = 17;
const MAX_ARGS: usize = 1 << 16;

/// Serves `n` if it is a process-creation or exec syscall.
pub fn dispatch<P: Platform>(
    os: &LibOs<P>,
    n: usize,
    a: &[usize; 6],
    ctx: &mut dyn SyscallContext,
) -> Option<SysResult> {
    Some(match n {
        FORK | VFORK => fork(os, SIGCHLD, 0, 0, 0, ctx),
        EXECVE => execve(os, crate::abi::AT_FDCWD, a[0], a[1], a[2], 0, ctx),
        EXECVEAT => execve(os, a[0] as i32, a[1], a[2], a[3], a[4] as u32, ctx),
        WAIT4 => {
            if a[1] != 0 {
                if let Err(e) = user::slice_mut_in(&os.mem, a[1], 4) {
                    return Some(Err(e));
                }
            }
            if a[3] != 0 {
                if let Err(e) = user::slice_mut_in(&os.mem, a[3], 144) {
                    return Some(Err(e));
                }
            }
            let r = match os.platform.passthrough() {
                Some(h) => h.process_call(WAIT4, *a),
                None => wait4(os, a[0] as i32, a[1], a[2] as u32, a[3]),
            };
            if let Ok(pid) = r {
                if pid > 0 {
                    os.children.lock().retain(|c| c != pid as i32);
                }
            }
            r
        }
        WAITID => {
            if a[2] != 0 {
                if let Err(e) = user::slice_mut_in(&os.mem, a[2], 128) {
                    return Some(Err(e));
                }
            }
            if a[4] != 0 {
                if let Err(e) = user::slice_mut_in(&os.mem, a[4], 144) {
                    return Some(Err(e));
                }
            }
            match os.platform.passthrough() {
                Some(h) => h.process_call(WAITID, *a),
                None => waitid(os, a[0] as u32, a[1] as i32, a[2], a[3] as u32),
            }
        }
        _ => return None,
    })
}

/// fork, remembering the child (the processes this one may signal). The policy's process
/// limit is the platform's to enforce (its fork fails with EAGAIN), since the count is shared
/// by every process of the app.
// A fork child runs this on its way back to the app; fork copies no page-table entries of
// the runtime's file-backed code, so each 64 KiB window of code the child runs costs it a
// fault. On Linux hosts it goes to the plain `.text` input section, which the runtime's
// link order (runtime/startup-order.ld) puts first, next to the syscall entry and exit.
#[cfg_attr(target_os = "linux", link_section = ".text")]
pub fn fork<P: Platform>(
    os: &LibOs<P>,
    flags: u64,
    stack: usize,
    ptid: usize,
    ctid: usize,
    ctx: &mut dyn SyscallContext,
) -> SysResult {
    // Parent and child must share each pipe: the library OS's become host pipes first.
    os.end_local_pipes();
    keep_children_where_fork_writes(os);
    let pid = ctx.fork(flags, stack, ptid, ctid)?;
    if pid != 0 {
        os.children.lock().push(pid as i32);
    } else if !child_state_is_fresh(os) {
        os.children.lock().clear();
        // The child has only the thread that forked.
        os.threads.store(1, core::sync::atomic::Ordering::Relaxed);
        os.tids.lock().clear();
    }
    Ok(pid)
}

/// Before a fork of a single-threaded process: moves its children list to the platform's slot
/// (see [`crate::children::ChildList`]), so that recording the new child and reaping it write
/// no page of the heap that the fork made copy-on-write.
fn keep_children_where_fork_writes<P: Platform>(os: &LibOs<P>) {
    if !os.platform.single_thread_exclusive() || os.threads.load(core::sync::atomic::Ordering::Relaxed) != 1 {
        return;
    }
    if let Some(slot) = os.platform.children_slot() {
        // SAFETY: this is the process's only thread and nothing else runs library OS code
        // (`single_thread_exclusive`); the platform promises the slot per `children_slot`.
        unsafe { os.children.move_to(slot) };
    }
}

/// In a fork child: whether it already has no children, one thread and no other thread ids
/// (a single-threaded parent without children), so that nothing needs writing. Each page a
/// fork child writes costs it a copy-on-write fault; taking the locks would write this one.
fn child_state_is_fresh<P: Platform>(os: &LibOs<P>) -> bool {
    if !os.platform.single_thread_exclusive() || os.threads.load(core::sync::atomic::Ordering::Relaxed) != 1 {
        return false;
    }
    // SAFETY: a fork child has only the thread that forked, and on such a platform nothing
    // else runs library OS code; the references end with these reads.
    unsafe { os.children.peek().is_some_and(|c| c.is_empty()) && os.tids.peek().is_some_and(|t| t.is_empty()) }
}

/// Reads a NULL-terminated array of C strings from app memory.
fn string_array(mem: &crate::memlock::MemLock, ptr: usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if ptr == 0 {
        return Ok(out);
    }
    let mut total = 0usize;
    loop {
        if out.len() >= MAX_ARGS {
            return Err(E2BIG);
        }
        let p: usize = user::read_in(mem, ptr + 8 * out.len())?;
        if p == 0 {
            return Ok(out);
        }
        let s = user::cstr_in(mem, p, 128 << 10)?;
        total += s.len() + 1;
        if total > 2 << 20 {
            return Err(E2BIG);
        }
        out.push(s);
    }
}

/// What execve will start: the program's path and its argv after `#!` handling.
fn program<P: Platform>(
    os: &LibOs<P>,
    dirfd: i32,
    path: &[u8],
    mut argv: Vec<Vec<u8>>,
    flags: u32,
) -> Result<(Vec<u8>, Vec<Vec<u8>>), Errno> {
    const AT_EMPTY_PATH: u32 = 0x1000;
    const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(EINVAL);
    }
    let mut target = if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(ENOENT);
        }
        os.fds.lock().get(dirfd)?.path.clone()
    } else {
        let base = os.dir_of(dirfd, path)?;
        let r = os.vfs.resolve(&base, path, flags & AT_SYMLINK_NOFOLLOW == 0).inspect_err(|&e| {
            if e == ENOENT {
                os.learn_with(b"exec", || crate::fs::path::join(&base, path));
            }
        })?;
        if r.node.is_none() {
            os.learn(b"exec", &r.path);
            return Err(ENOENT);
        }
        r.path
    };
    for depth in 0..4 {
        let node = os.vfs.resolve(b"/", &target, true)?.node.ok_or(ENOENT)?;
        if os.vfs.kind(&node) != NodeKind::File {
            return Err(EACCES);
        }
        if os.vfs.stat(&node).st_mode & 0o111 == 0 {
            return Err(EACCES);
        }
        let mut head = [0u8; 256];
        let got = os.vfs.read_at(&node, 0, &mut head)?;
        let head = &head[..got];
        if head.starts_with(b"\x7fELF") {
            return Ok((target, argv));
        }
        if !head.starts_with(b"#!") || depth == 3 {
            return Err(ENOEXEC);
        }
        // "#!interpreter [one argument]": argv becomes interpreter, [argument], script, argv[1..].
        let line_end = head.iter().position(|&b| b == b'\n').ok_or(ENOEXEC)?;
        let line = &head[2..line_end];
        let line: &[u8] = trim(line);
        let (interp, arg) = match line.iter().position(|&b| b == b' ' || b == b'\t') {
            Some(i) => (&line[..i], Some(trim(&line[i..]))),
            None => (line, None),
        };
        if interp.is_empty() {
            return Err(ENOEXEC);
        }
        let mut new = alloc::vec![interp.to_vec()];
        if let Some(a) = arg.filter(|a| !a.is_empty()) {
            new.push(a.to_vec());
        }
        new.push(target.clone());
        new.extend(argv.into_iter().skip(1));
        argv = new;
        target = os.vfs.resolve(b"/", interp, true)?.path;
    }
    Err(ELOOP)
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = s {
        s = rest;
    }
    s
}

fn execve<P: Platform>(
    os: &LibOs<P>,
    dirfd: i32,
    pathp: usize,
    argvp: usize,
    envp: usize,
    flags: u32,
    ctx: &mut dyn SyscallContext,
) -> SysResult {
    let path = user::cstr_in(&os.mem, pathp, 4095)?;
    let mut argv = string_array(&os.mem, argvp)?;
    if argv.is_empty() {
        // As Linux since 5.18: an empty argv becomes one empty argument, so argc is 1.
        argv.push(Vec::new());
    }
    let env = string_array(&os.mem, envp)?;
    let (target, argv) = program(os, dirfd, &path, argv, flags)?;
    // The point of no return.
    os.platform.exec_prepare()?;
    if os.platform.passthrough().is_none() {
        TABLE.lock().mark_exec(os.platform.pid());
    }
    os.signals.actions.lock().reset_for_exec();
    // POSIX timers do not survive execve (ITIMER_REAL does).
    os.signals.pending.lock().posix = crate::ptimer::Timers::new();
    os.mem.lock().clear();
    {
        let mut t = os.fds.lock();
        let doomed: Vec<i32> = t.open_fds().filter(|&fd| t.cloexec(fd).unwrap_or(false)).collect();
        for fd in doomed {
            let _ = t.close(fd);
        }
    }
    *os.vfs.exe_path.lock() = target.clone();
    // The new program starts with one thread and no children of its own making.
    if os.threads.load(core::sync::atomic::Ordering::Relaxed) == 1 {
        os.local_pipes.store(true, core::sync::atomic::Ordering::Relaxed);
    }
    let aux = os.platform.host_aux();
    match crate::loader::load(os, &target, &argv, &env, &aux) {
        Ok(l) => {
            ctx.set_entry(l.entry, l.sp);
            Ok(0)
        }
        Err(_) => {
            os.debug_log(&[b"execve: loading ", &target, b" failed after the old program was gone; exit 127"]);
            os.platform.exit_group(127)
        }
    }
}

const WNOHANG: u32 = 1;
const WSTOPPED: u32 = 2;
const WEXITED: u32 = 4;
const WCONTINUED: u32 = 8;
const WNOWAIT: u32 = 0x0100_0000;

/// Waits, with the core's process table, for a child chosen by `which` to have exited:
/// (pid, wait status), reaped (and freed by the platform) unless `keep`; None with WNOHANG
/// when none has yet. ECHILD when no child matches; EINTR when a handled signal arrives.
fn wait_child<P: Platform>(
    os: &LibOs<P>,
    which: WaitFor,
    options: u32,
    keep: bool,
) -> Result<Option<(i32, i32)>, Errno> {
    let me = os.platform.pid();
    let (stopped, continued) = (options & WSTOPPED != 0, options & WCONTINUED != 0);
    // Without WEXITED (waitid asking for stops or continues only) an exited child is not
    // reported, and is not reaped.
    let exited = options & WEXITED != 0;
    let look = move |reap: bool| match TABLE.lock().find_exited(me, which, reap && exited) {
        Waitable::Exited(..) if !exited => Waitable::NotYet,
        w => w,
    };
    let changed = |keep: bool| {
        (stopped || continued).then(|| TABLE.lock().find_changed(me, which, stopped, continued, keep)).flatten()
    };
    loop {
        let orphans = TABLE.lock().take_orphan_zombies(me);
        orphans.into_iter().for_each(|pid| os.platform.release_process(pid));
        if let Some(c) = changed(keep) {
            return Ok(Some(c));
        }
        let found = look(!keep);
        match found {
            Waitable::Exited(pid, status) => {
                if !keep {
                    os.platform.release_process(pid);
                }
                return Ok(Some((pid, status)));
            }
            Waitable::NoChild => return Err(ECHILD),
            Waitable::NotYet if options & WNOHANG != 0 => return Ok(None),
            Waitable::NotYet => {
                os.platform
                    .block_until(&mut || !matches!(look(false), Waitable::NotYet) || changed(true).is_some(), None)?;
            }
        }
    }
}

/// wait4(pid, wstatus, options, rusage) with the core's process table: pid > 0 that child,
/// -1 any, 0 any in the caller's group, < -1 any in group -pid. The rusage is all zero.
fn wait4<P: Platform>(os: &LibOs<P>, pid: i32, wstatus: usize, options: u32, rusage: usize) -> SysResult {
    const WALL: u32 = 0x4000_0000;
    const WCLONE: u32 = 0x8000_0000;
    const WNOTHREAD: u32 = 0x2000_0000;
    if options & !(WNOHANG | WSTOPPED | WCONTINUED | WALL | WCLONE | WNOTHREAD) != 0 || pid == i32::MIN {
        return Err(EINVAL);
    }
    let which = match pid {
        -1 => WaitFor::Any,
        0 => WaitFor::Group(TABLE.lock().pgid_of(os.platform.pid()).unwrap_or(0)),
        p if p < 0 => WaitFor::Group(-p),
        p => WaitFor::Pid(p),
    };
    match wait_child(os, which, options | WEXITED, false)? {
        Some((child, status)) => {
            if wstatus != 0 {
                user::write_in(&os.mem, wstatus, &status)?;
            }
            if rusage != 0 {
                user::write_in(&os.mem, rusage, &[0u64; 18])?;
            }
            Ok(child as usize)
        }
        None => Ok(0),
    }
}

/// waitid(idtype, id, infop, options) with the core's process table: P_ALL, P_PID, P_PGID
/// (id 0: the caller's group); WEXITED, WSTOPPED and WCONTINUED choose what is reported (at
/// least one); WNOWAIT leaves the child waitable.
fn waitid<P: Platform>(os: &LibOs<P>, idtype: u32, id: i32, infop: usize, options: u32) -> SysResult {
    const P_ALL: u32 = 0;
    const P_PID: u32 = 1;
    const P_PGID: u32 = 2;
    if options & !(WNOHANG | WEXITED | WSTOPPED | WCONTINUED | WNOWAIT) != 0
        || options & (WEXITED | WSTOPPED | WCONTINUED) == 0
    {
        return Err(EINVAL);
    }
    let which = match idtype {
        P_ALL => WaitFor::Any,
        P_PID if id > 0 => WaitFor::Pid(id),
        P_PGID if id == 0 => WaitFor::Group(TABLE.lock().pgid_of(os.platform.pid()).unwrap_or(0)),
        P_PGID if id > 0 => WaitFor::Group(id),
        _ => return Err(EINVAL),
    };
    let got = wait_child(os, which, options, options & WNOWAIT != 0)?;
    if infop != 0 {
        let mut si = [0u8; 128];
        if let Some((child, status)) = got {
            // CLD_CONTINUED (SIGCONT), CLD_STOPPED (the stop signal), CLD_KILLED, CLD_EXITED.
            let (code, value) = match status {
                0xffff => (6i32, 18),
                s if s & 0xff == 0x7f => (5, (s >> 8) & 0xff),
                s if s & 0x7f != 0 => (2, s & 0x7f),
                s => (1, (s >> 8) & 0xff),
            };
            si[0..4].copy_from_slice(&(SIGCHLD as i32).to_le_bytes());
            si[8..12].copy_from_slice(&code.to_le_bytes());
            si[16..20].copy_from_slice(&child.to_le_bytes());
            si[20..24].copy_from_slice(&os.platform.creds().0.to_le_bytes());
            si[24..28].copy_from_slice(&value.to_le_bytes());
        }
        user::write_in(&os.mem, infop, &si)?;
    }
    Ok(0)
}
