//! `LITEBOX_TRACE` (one line per app syscall: name, decoded arguments, result) and
//! `LITEBOX_LEARN` (records of what the app needed and was not given), both set up at start.
//! Formats: docs/targets/linux-userland.md, "Trace and learn".
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, Ordering};

use litebox_libos::shim::nr;

use crate::sys;

static TRACE_FD: AtomicI32 = AtomicI32::new(-1);
static LEARN_FD: AtomicI32 = AtomicI32::new(-1);

fn open_append(path: &[u8]) -> i32 {
    const FLAGS: usize = 0o1 | 0o100 | 0o2000 | 0o2000000; // O_WRONLY|O_CREAT|O_APPEND|O_CLOEXEC
    sys::open_path(path, FLAGS, 0o600).map(sys::dup_high).unwrap_or(-1)
}

/// Reads LITEBOX_TRACE (`1` = the runtime's log, i.e. stderr; an absolute path = that file)
/// and LITEBOX_LEARN (a file to append records to).
pub fn init(trace: Option<&[u8]>, learn: Option<&[u8]>) {
    match trace {
        Some(b"1") => TRACE_FD.store(crate::log_fd(), Ordering::Relaxed),
        Some(p) if p.first() == Some(&b'/') => TRACE_FD.store(open_append(p), Ordering::Relaxed),
        _ => {}
    }
    if let Some(p) = learn.filter(|p| p.first() == Some(&b'/')) {
        LEARN_FD.store(open_append(p), Ordering::Relaxed);
    }
}

/// Whether tracing is on.
pub fn tracing() -> bool {
    TRACE_FD.load(Ordering::Relaxed) >= 0
}

/// Whether a learn file is open.
pub fn learning() -> bool {
    LEARN_FD.load(Ordering::Relaxed) >= 0
}

/// Appends `kind` TAB `value` NL to the learn file.
pub fn learn(kind: &[u8], value: &[u8]) {
    let fd = LEARN_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let mut line = Vec::with_capacity(kind.len() + value.len() + 2);
    line.extend_from_slice(kind);
    line.push(b'\t');
    let valid = core::str::from_utf8(value).is_ok();
    for &b in value {
        match b {
            b'\\' => line.extend_from_slice(b"\\\\"),
            b'\t' => line.extend_from_slice(b"\\t"),
            b'\n' => line.extend_from_slice(b"\\n"),
            b'\r' => line.extend_from_slice(b"\\r"),
            b if b < 0x20 || b == 0x7f || (b >= 0x80 && !valid) => {
                line.extend_from_slice(b"\\x");
                line.push(b"0123456789abcdef"[(b >> 4) as usize]);
                line.push(b"0123456789abcdef"[(b & 15) as usize]);
            }
            b => line.push(b),
        }
    }
    line.push(b'\n');
    sys::write_all(fd, &line);
}

fn num(v: &mut Vec<u8>, n: usize) {
    let mut b = [0u8; 20];
    v.extend_from_slice(litebox_libos::shim::fmt_usize(n, &mut b));
}

/// Which argument of `n` is a path (decoded as a string in the trace).
fn path_arg(n: usize) -> Option<usize> {
    match n {
        nr::OPEN
        | nr::STAT
        | nr::LSTAT
        | nr::ACCESS
        | nr::EXECVE
        | nr::CHDIR
        | nr::MKDIR
        | nr::RMDIR
        | nr::UNLINK
        | nr::READLINK
        | nr::TRUNCATE
        | nr::CHMOD => Some(0),
        nr::OPENAT
        | nr::NEWFSTATAT
        | nr::FACCESSAT
        | nr::FACCESSAT2
        | nr::MKDIRAT
        | nr::UNLINKAT
        | nr::READLINKAT
        | nr::STATX
        | nr::EXECVEAT
        | nr::FCHMODAT => Some(1),
        _ => None,
    }
}

/// Which argument of `n` is a socket address, and which one holds its length.
fn sockaddr_arg(n: usize) -> Option<(usize, usize)> {
    match n {
        nr::BIND | nr::CONNECT => Some((1, 2)),
        nr::SENDTO => Some((4, 5)),
        _ => None,
    }
}

/// Writes the trace line of one served syscall.
pub fn line(n: usize, a: &[usize; 6], result: isize) {
    let fd = TRACE_FD.load(Ordering::Relaxed);
    if fd < 0 {
        return;
    }
    let mut v: Vec<u8> = Vec::with_capacity(128);
    v.push(b'[');
    num(&mut v, sys::syscall3(sys::GETPID, 0, 0, 0) as usize);
    v.extend_from_slice(b"] ");
    let name = nr::name(n);
    if name.is_empty() {
        v.extend_from_slice(b"syscall_");
        num(&mut v, n);
    } else {
        v.extend_from_slice(name.as_bytes());
    }
    v.push(b'(');
    // After an execve that succeeded the old program's memory, where its pointers pointed, is
    // gone: its arguments are shown as numbers.
    let replaced = matches!(n, nr::EXECVE | nr::EXECVEAT) && result >= 0;
    let p = path_arg(n).filter(|_| !replaced);
    let sa = sockaddr_arg(n).and_then(|(i, l)| Some((i, litebox_libos::net::describe(a[i], a[l])?)));
    for (i, &x) in a.iter().enumerate() {
        if i > 0 {
            v.extend_from_slice(b", ");
        }
        if let Some((_, text)) = sa.as_ref().filter(|(at, _)| *at == i) {
            v.extend_from_slice(text);
        } else if Some(i) == p {
            match litebox_libos::user::cstr(x, 256) {
                Ok(s) => {
                    v.push(b'"');
                    v.extend_from_slice(&s);
                    v.push(b'"');
                }
                Err(_) => v.extend_from_slice(b"<bad address>"),
            }
        } else if i == 0 && (x as i32) == -100 && p == Some(1) {
            v.extend_from_slice(b"AT_FDCWD");
        } else {
            v.extend_from_slice(b"0x");
            let mut started = false;
            for sh in (0..16).rev() {
                let d = (x >> (sh * 4)) & 15;
                if d != 0 || started || sh == 0 {
                    started = true;
                    v.push(b"0123456789abcdef"[d]);
                }
            }
        }
    }
    v.extend_from_slice(b") = ");
    if (-4095..0).contains(&result) {
        v.push(b'-');
        num(&mut v, (-result) as usize);
        v.extend_from_slice(b" (");
        v.extend_from_slice(litebox_libos::errno::name((-result) as i32).as_bytes());
        v.push(b')');
    } else {
        num(&mut v, result as usize);
    }
    v.push(b'\n');
    sys::write_all(fd, &v);
}
