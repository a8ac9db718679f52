//! Waiting for signals synchronously: rt_sigtimedwait(2) (sigwaitinfo, sigtimedwait, sigwait)
//! and signalfd(2)/signalfd4(2).
//!
//! With the host's signals ([`HostPassthrough`], linux-userland) both go to the host with the
//! runtime's own signal (SIGSYS) taken out of the set, so the app can neither wait for it nor
//! read it from a descriptor. With the core's signals (kvm) rt_sigtimedwait takes the signal
//! from the process's pending set, and a signalfd is a kernel object of the core
//! ([`crate::sigfd`]).
use super::nr::*;
use super::SysResult;
use crate::errno::*;
use crate::fd::{FileKind, HostFd, OpenFile};
use crate::kernel::LibOs;
use crate::platform::{HostPassthrough, Platform, SyscallContext};
use crate::user;
use alloc::vec::Vec;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[RT_SIGTIMEDWAIT, SIGNALFD, SIGNALFD4];

/// Served with a limitation users should know (docs/syscalls.md).
pub const PARTIAL: &[(usize, &str)] = &[
    (SIGNALFD, "linux-userland: the host's (without the runtime's SIGSYS); kvm: a forked child reading an inherited signalfd reads its parent's signals"),
    (SIGNALFD4, "as signalfd"),
];

/// The runtime's own signal on linux-userland: never waited for or read by the app.
const SIGSYS_BIT: u64 = 1 << (31 - 1);
const SFD_CLOEXEC: u32 = 0o2000000;
const SFD_NONBLOCK: u32 = 0o4000;

/// Serves `n` if it waits for signals.
pub fn dispatch<P: Platform>(
    os: &LibOs<P>,
    n: usize,
    a: &[usize; 6],
    ctx: &mut dyn SyscallContext,
) -> Option<SysResult> {
    if !HANDLED.contains(&n) {
        return None;
    }
    Some(match (n, os.platform.passthrough()) {
        (RT_SIGTIMEDWAIT, Some(h)) => host_timedwait(&os.mem, h, a),
        (RT_SIGTIMEDWAIT, None) => own_timedwait(os, a, ctx),
        (SIGNALFD, Some(h)) => host_signalfd(os, h, a[0] as i32, a[1], a[2], 0),
        (SIGNALFD4, Some(h)) => host_signalfd(os, h, a[0] as i32, a[1], a[2], a[3] as u32),
        (SIGNALFD, None) => own_signalfd(os, a[0] as i32, a[1], a[2], 0),
        (_, None) => own_signalfd(os, a[0] as i32, a[1], a[2], a[3] as u32),
        _ => Err(ENOSYS),
    })
}

/// Reads a `sigset_t` of `size` bytes (only 8 is valid, as on Linux).
fn read_set(mem: &crate::memlock::MemLock, ptr: usize, size: usize) -> Result<u64, Errno> {
    if size != 8 {
        return Err(EINVAL);
    }
    user::read_in(mem, ptr)
}

/// Checks a `struct timespec` timeout (EINVAL for a negative or non-normalized one); its
/// length in ns, None for no timeout (a null pointer).
fn timeout_ns(mem: &crate::memlock::MemLock, ptr: usize) -> Result<Option<u64>, Errno> {
    if ptr == 0 {
        return Ok(None);
    }
    let [s, ns]: [i64; 2] = user::read_in(mem, ptr)?;
    if s < 0 || !(0..1_000_000_000).contains(&ns) {
        return Err(EINVAL);
    }
    Ok(Some((s as u64).saturating_mul(1_000_000_000).saturating_add(ns as u64)))
}

fn host_timedwait(mem: &crate::memlock::MemLock, h: &dyn HostPassthrough, a: &[usize; 6]) -> SysResult {
    let set = read_set(mem, a[0], a[3])? & !SIGSYS_BIT;
    if a[1] != 0 {
        user::slice_mut_in(mem, a[1], 128)?;
    }
    timeout_ns(mem, a[2])?;
    h.signal_call(RT_SIGTIMEDWAIT, [&set as *const u64 as usize, a[1], a[2], 8, 0, 0])
}

fn host_signalfd<P: Platform>(
    os: &LibOs<P>,
    h: &dyn HostPassthrough,
    fd: i32,
    mask: usize,
    size: usize,
    flags: u32,
) -> SysResult {
    if flags & !(SFD_CLOEXEC | SFD_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let set = read_set(&os.mem, mask, size)? & !SIGSYS_BIT;
    let setp = &set as *const u64 as usize;
    if fd == -1 {
        let host = h.fd_call(SIGNALFD4, [usize::MAX, setp, 8, (flags | SFD_CLOEXEC) as usize, 0, 0])? as i32;
        let file =
            OpenFile::new(FileKind::Host(HostFd(host)), Vec::new(), crate::abi::O_RDONLY | (flags & SFD_NONBLOCK));
        return os.fds.lock().alloc(file, flags & SFD_CLOEXEC != 0, 0).map(|v| v as usize);
    }
    // An existing signalfd: its mask changes (the host answers EINVAL for any other kind).
    let f = os.fds.lock().get(fd)?;
    match &f.kind {
        FileKind::Host(hf) => h.fd_call(SIGNALFD4, [hf.0 as usize, setp, 8, 0, 0, 0]).map(|_| fd as usize),
        _ => Err(EINVAL),
    }
}

/// signalfd/signalfd4 with the core's signals: a new [`crate::sigfd::SignalFd`] (fd -1) or a
/// new mask for an existing one (EINVAL for any other descriptor).
fn own_signalfd<P: Platform>(os: &LibOs<P>, fd: i32, mask: usize, size: usize, flags: u32) -> SysResult {
    use crate::kobj::Obj;
    if flags & !(SFD_CLOEXEC | SFD_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let set = read_set(&os.mem, mask, size)?;
    if fd == -1 {
        let o = Obj::Signal(crate::sigfd::SignalFd::new(os.signals.clone(), os.platform.pid(), set));
        let file = OpenFile::new(FileKind::Obj(o), Vec::new(), crate::abi::O_RDONLY | (flags & SFD_NONBLOCK));
        return os.fds.lock().alloc(file, flags & SFD_CLOEXEC != 0, 0).map(|v| v as usize);
    }
    let f = os.fds.lock().get(fd)?;
    match &f.kind {
        FileKind::Obj(Obj::Signal(s)) => {
            s.set_mask(set);
            Ok(fd as usize)
        }
        _ => Err(EINVAL),
    }
}

/// rt_sigtimedwait with the core's signals: takes the lowest pending signal of the set (with
/// its siginfo), else waits for one until the timeout (EAGAIN) or until a handled signal
/// outside the set interrupts (EINTR).
fn own_timedwait<P: Platform>(os: &LibOs<P>, a: &[usize; 6], ctx: &mut dyn SyscallContext) -> SysResult {
    use crate::signal::UNBLOCKABLE;
    let set = read_set(&os.mem, a[0], a[3])? & !UNBLOCKABLE;
    let timeout = timeout_ns(&os.mem, a[2])?;
    if a[1] != 0 {
        user::slice_mut_in(&os.mem, a[1], 128)?;
    }
    let deadline = timeout.map(|t| os.monotonic_ns().saturating_add(t));
    let _ = ctx;
    let tid = os.platform.ids().1;
    loop {
        let taken = {
            let mut p = os.signals.pending.lock();
            let ready = p.set_for(tid) & set;
            (ready != 0).then(|| {
                let sig = ready.trailing_zeros() as usize + 1;
                (sig, p.take_for(tid, sig))
            })
        };
        if let Some((sig, info)) = taken {
            if a[1] != 0 {
                user::write_in(&os.mem, a[1], &siginfo(sig, info))?;
            }
            return Ok(sig);
        }
        if deadline.is_some_and(|d| os.monotonic_ns() >= d) {
            return Err(EAGAIN);
        }
        let ready = &mut || os.signals.pending.lock().set_for(tid) & set != 0;
        match os.platform.block_until(ready, deadline) {
            Ok(true) => continue,
            Ok(false) => return Err(EAGAIN),
            Err(e) => return Err(e),
        }
    }
}

/// A 128-byte `siginfo_t` for `sig` with `info`'s code and value (si_value at offset 24).
pub fn siginfo(sig: usize, info: crate::signal::Info) -> [u8; 128] {
    let mut si = [0u8; 128];
    si[0..4].copy_from_slice(&(sig as i32).to_le_bytes());
    si[8..12].copy_from_slice(&info.code.to_le_bytes());
    si[24..32].copy_from_slice(&info.value.to_le_bytes());
    si
}
