//! New processes and programs: fork/vfork/clone of a process, execve/execveat of a program
//! inside the image, wait4/waitid on the app's children.
//!
//! The platform makes the child ([`SyscallContext::fork`]) and waits for it
//! ([`Platform::process_call`]). On linux-userland fork is a host fork: the child is a copy of
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
                if let Err(e) = user::slice_mut(a[1], 4) {
                    return Some(Err(e));
                }
            }
            if a[3] != 0 {
                if let Err(e) = user::slice_mut(a[3], 144) {
                    return Some(Err(e));
                }
            }
            let r = os.platform.process_call(WAIT4, *a);
            if let Ok(pid) = r {
                if pid > 0 {
                    os.children.lock().retain(|&c| c != pid as i32);
                }
            }
            r
        }
        WAITID => {
            if a[2] != 0 {
                if let Err(e) = user::slice_mut(a[2], 128) {
                    return Some(Err(e));
                }
            }
            if a[4] != 0 {
                if let Err(e) = user::slice_mut(a[4], 144) {
                    return Some(Err(e));
                }
            }
            os.platform.process_call(WAITID, *a)
        }
        _ => return None,
    })
}

/// fork, remembering the child (the processes this one may signal). The policy's process
/// limit is the platform's to enforce (its fork fails with EAGAIN), since the count is shared
/// by every process of the app.
pub fn fork<P: Platform>(
    os: &LibOs<P>,
    flags: u64,
    stack: usize,
    ptid: usize,
    ctid: usize,
    ctx: &mut dyn SyscallContext,
) -> SysResult {
    let pid = ctx.fork(flags, stack, ptid, ctid)?;
    if pid != 0 {
        os.children.lock().push(pid as i32);
    } else {
        os.children.lock().clear();
        // The child has only the thread that forked.
        os.threads.store(1, core::sync::atomic::Ordering::Relaxed);
    }
    Ok(pid)
}

/// Reads a NULL-terminated array of C strings from app memory.
fn string_array(ptr: usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if ptr == 0 {
        return Ok(out);
    }
    let mut total = 0usize;
    loop {
        if out.len() >= MAX_ARGS {
            return Err(E2BIG);
        }
        let p: usize = user::read(ptr + 8 * out.len())?;
        if p == 0 {
            return Ok(out);
        }
        let s = user::cstr(p, 128 << 10)?;
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
    let path = user::cstr(pathp, 4095)?;
    let mut argv = string_array(argvp)?;
    if argv.is_empty() {
        // As Linux since 5.18: an empty argv becomes one empty argument, so argc is 1.
        argv.push(Vec::new());
    }
    let env = string_array(envp)?;
    let (target, argv) = program(os, dirfd, &path, argv, flags)?;
    // The point of no return.
    os.platform.exec_prepare()?;
    os.signals.actions.lock().reset_for_exec();
    os.mem.lock().clear();
    {
        let mut t = os.fds.lock();
        let doomed: Vec<i32> = t.open_fds().filter(|&fd| t.cloexec(fd).unwrap_or(false)).collect();
        for fd in doomed {
            let _ = t.close(fd);
        }
    }
    *os.vfs.exe_path.lock() = target.clone();
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
