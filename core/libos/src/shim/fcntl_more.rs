//! The fcntl commands beyond descriptors, status flags and record locks: owner and signal for
//! SIGIO (F_SETOWN, F_SETOWN_EX, F_SETSIG), leases, the pipe buffer size and seals. The values
//! are kept and reported as Linux would; no SIGIO or lease-break signal is ever sent.
use core::sync::atomic::Ordering;

use super::SysResult;
use crate::abi::*;
use crate::errno::*;
use crate::fd::{FileKind, OpenFile};
use crate::kernel::LibOs;
use crate::platform::Platform;
use crate::user;

const F_SETOWN: u32 = 8;
const F_GETOWN: u32 = 9;
const F_SETSIG: u32 = 10;
const F_GETSIG: u32 = 11;
const F_SETOWN_EX: u32 = 15;
const F_GETOWN_EX: u32 = 16;
const F_SETLEASE: u32 = 1024;
const F_GETLEASE: u32 = 1025;
const F_NOTIFY: u32 = 1026;
/// fcntl's F_SETPIPE_SZ (also the promotion's host call, `crate::pipes`).
pub const F_SETPIPE_SZ: u32 = 1031;
const F_GETPIPE_SZ: u32 = 1032;
const F_ADD_SEALS: u32 = 1033;
const F_GET_SEALS: u32 = 1034;
/// /proc/sys/fs/pipe-max-size.
pub const PIPE_MAX_SIZE: usize = 1 << 20;
const F_OWNER_PID: u32 = 1;
const F_OWNER_PGRP: u32 = 2;

/// Serves fcntl `cmd` on `f` for the commands above; EINVAL for any other, as Linux.
pub fn fcntl<P: Platform>(os: &LibOs<P>, f: &OpenFile, cmd: u32, arg: usize) -> SysResult {
    let st = &f.fcntl;
    match cmd {
        F_SETOWN => {
            let pid = arg as i32;
            let (ty, id) = if pid < 0 { (F_OWNER_PGRP, pid.unsigned_abs()) } else { (F_OWNER_PID, pid as u32) };
            st.owner.store(((ty as u64) << 32) | id as u64, Ordering::Relaxed);
            Ok(0)
        }
        F_GETOWN => {
            let v = st.owner.load(Ordering::Relaxed);
            let id = v as u32 as i32;
            Ok(if (v >> 32) as u32 == F_OWNER_PGRP { -id } else { id } as isize as usize)
        }
        F_SETOWN_EX => {
            let [ty, pid]: [i32; 2] = user::read_in(&os.mem, arg)?;
            if !(0..=2).contains(&ty) || pid < 0 {
                return Err(EINVAL);
            }
            st.owner.store(((ty as u64) << 32) | pid as u32 as u64, Ordering::Relaxed);
            Ok(0)
        }
        F_GETOWN_EX => {
            let v = st.owner.load(Ordering::Relaxed);
            user::write_in(&os.mem, arg, &[(v >> 32) as u32, v as u32]).map(|_| 0)
        }
        F_SETSIG => {
            if arg > 64 {
                return Err(EINVAL);
            }
            st.sig.store(arg as u32, Ordering::Relaxed);
            Ok(0)
        }
        F_GETSIG => Ok(st.sig.load(Ordering::Relaxed) as usize),
        F_SETLEASE => {
            if !regular(os, f) {
                return Err(EINVAL);
            }
            match arg {
                // A read lease needs a descriptor opened read-only.
                0 if f.flags() & O_ACCMODE != O_RDONLY => Err(EAGAIN),
                0..=2 => {
                    st.lease.store(arg as u32, Ordering::Relaxed);
                    Ok(0)
                }
                _ => Err(EINVAL),
            }
        }
        F_GETLEASE => Ok(st.lease.load(Ordering::Relaxed) as usize),
        F_NOTIFY => Err(EINVAL),
        // The size is the pipe's, the same through every end: a library pipe's own, a host
        // pipe's the host's (a promoted pipe's host pipe got the library pipe's size).
        F_GETPIPE_SZ | F_SETPIPE_SZ => {
            if !pipe(os, f) {
                return Err(EBADF);
            }
            let size = if cmd == F_SETPIPE_SZ {
                if arg > PIPE_MAX_SIZE && os.ident.uids().effective != 0 {
                    return Err(EPERM);
                }
                if arg > i32::MAX as usize {
                    return Err(EINVAL);
                }
                arg.max(PAGE_SIZE).next_power_of_two()
            } else {
                0
            };
            match &f.kind {
                FileKind::Obj(crate::kobj::Obj::Pipe(e)) if cmd == F_GETPIPE_SZ => Ok(e.size()),
                FileKind::Obj(crate::kobj::Obj::Pipe(e)) => e.set_size(size),
                FileKind::Host(h) => {
                    let pt = os.platform.passthrough().ok_or(EBADF)?;
                    pt.fd_call(crate::shim::nr::FCNTL, [h.0 as usize, cmd as usize, size, 0, 0, 0])
                }
                _ => Err(EBADF),
            }
        }
        F_ADD_SEALS => Err(EINVAL),
        F_GET_SEALS => Err(EINVAL),
        _ => Err(EINVAL),
    }
}

fn regular<P: Platform>(os: &LibOs<P>, f: &OpenFile) -> bool {
    match &f.kind {
        FileKind::Image(_) | FileKind::Overlay(_) => true,
        FileKind::Host(h) if !f.path.is_empty() => {
            os.platform.host_stat(h.0).is_ok_and(|st| st.st_mode & S_IFMT == S_IFREG)
        }
        _ => false,
    }
}

fn pipe<P: Platform>(os: &LibOs<P>, f: &OpenFile) -> bool {
    match &f.kind {
        FileKind::Obj(crate::kobj::Obj::Pipe(_)) => true,
        FileKind::Host(h) => os.platform.host_stat(h.0).is_ok_and(|st| st.st_mode & S_IFMT == S_IFIFO),
        _ => false,
    }
}
