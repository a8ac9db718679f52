//! fcntl record locks (F_GETLK, F_SETLK, F_SETLKW and F_OFD_*) on the files the library OS
//! serves itself, through the shared lock table ([`crate::reclock`]), and their release when a
//! descriptor closes. Where the app's processes are host processes (a platform with
//! [`crate::platform::HostPassthrough`]) each has its own library OS, so nothing is shared to
//! arbitrate: a lock is granted and F_GETLK reports the file unlocked, as before.
use crate::abi::Flock;
use alloc::sync::Arc;

use super::SysResult;
use crate::abi::{O_ACCMODE, O_RDONLY, O_WRONLY};
use crate::errno::*;
use crate::fd::OpenFile;
use crate::kernel::LibOs;
use crate::platform::Platform;
use crate::reclock::{self, FileId, Owner, F_RDLCK, F_UNLCK, F_WRLCK};
use crate::user;

/// Syscalls served with a limitation users should know (docs/syscalls.md is generated from
/// these arrays by scripts/gen_implemented.py).
pub const PARTIAL: &[(usize, &str)] = &[(
    super::nr::FCNTL,
    "record locks: files of host directories locked on the host; image and in-memory files arbitrated between the processes of one library OS (kvm: the whole VM; linux-userland: each process alone); no deadlock detection (EDEADLK)",
)];

const F_GETLK: u32 = 5;
const F_SETLKW: u32 = 7;
const F_OFD_GETLK: u32 = 36;
const F_OFD_SETLK: u32 = 37;
const F_OFD_SETLKW: u32 = 38;

/// The identity of the file `f` refers to, if the library OS serves it (not a pipe or socket).
fn file_id<P: Platform>(os: &LibOs<P>, f: &OpenFile) -> Option<FileId> {
    let st = os.vfs.stat(&os.node_of(f)?);
    Some((st.st_dev, st.st_ino))
}

/// Serves fcntl `cmd` (F_GETLK, F_SETLK, F_SETLKW, F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW)
/// on `f`, a file of the image or the in-memory layer; `arg` points to the app's `struct
/// flock`. F_SETLKW waits until the range is free (EINTR when a handled signal comes).
pub fn record_lock<P: Platform>(os: &LibOs<P>, f: &Arc<OpenFile>, cmd: u32, arg: usize) -> SysResult {
    let mut l: Flock = user::read_in(&os.mem, arg)?;
    let ofd = matches!(cmd, F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW);
    if ofd && l.l_pid != 0 {
        return Err(EINVAL);
    }
    let getlk = cmd == F_GETLK || cmd == F_OFD_GETLK;
    let mode = f.flags() & O_ACCMODE;
    match l.l_type {
        F_RDLCK if !getlk && mode == O_WRONLY => return Err(EBADF),
        F_WRLCK if !getlk && mode == O_RDONLY => return Err(EBADF),
        F_RDLCK | F_WRLCK => {}
        F_UNLCK if !getlk => {}
        _ => return Err(EINVAL),
    }
    let (Some(file), None) = (file_id(os, f), os.platform.passthrough()) else {
        // Nothing shared to arbitrate (see the module's note).
        if getlk {
            l.l_type = F_UNLCK;
            user::write_in(&os.mem, arg, &l)?;
        }
        return Ok(0);
    };
    let base = match l.l_whence {
        0 => 0,
        1 => *f.pos.lock() as i64,
        2 => os.vfs.stat(&os.node_of(f).ok_or(EBADF)?).st_size,
        _ => return Err(EINVAL),
    };
    let (start, end) = reclock::range(base.checked_add(l.l_start).ok_or(EINVAL)?, l.l_len)?;
    let owner = if ofd { reclock::description(f) } else { Owner::Process(os.platform.pid()) };
    if getlk {
        match reclock::TABLE.lock().conflict(file, start, end, l.l_type == F_WRLCK, &owner) {
            Some(c) => {
                l = Flock {
                    l_type: c.l_type,
                    l_whence: 0,
                    l_start: c.start as i64,
                    l_len: c.len as i64,
                    l_pid: c.pid,
                    _pad: 0,
                };
            }
            None => l.l_type = F_UNLCK,
        }
        user::write_in(&os.mem, arg, &l)?;
        return Ok(0);
    }
    let set = || reclock::TABLE.lock().set(file, start, end, l.l_type, owner.clone());
    set_or_wait(os, set, cmd == F_SETLKW || cmd == F_OFD_SETLKW, l.l_type == F_UNLCK)
}

/// Takes a lock with `set` (EAGAIN while another holds what it conflicts with): at once, or
/// with `wait` until it can (EINTR when a handled signal comes); an `unlock` wakes the waiters.
fn set_or_wait<P: Platform>(os: &LibOs<P>, set: impl Fn() -> Result<(), Errno>, wait: bool, unlock: bool) -> SysResult {
    let outcome = if wait {
        let mut outcome = Err(EAGAIN);
        os.platform.block_until(
            &mut || {
                outcome = set();
                outcome != Err(EAGAIN)
            },
            None,
        )?;
        outcome
    } else {
        set()
    };
    if unlock {
        os.platform.wake_all();
    }
    outcome.map(|_| 0)
}

/// flock(2) `op` (LOCK_SH, LOCK_EX or LOCK_UN, with LOCK_NB) on `f`, a file of the image or
/// the in-memory layer, where one library OS serves every process (kvm: the VM): a lock of
/// the open file description on the whole file, in a table of its own beside the record
/// locks (flock and fcntl locks do not see each other, as on Linux). A conflict is
/// EWOULDBLOCK with LOCK_NB, else the call waits (EINTR when a handled signal comes).
/// Elsewhere (each process its own library OS) there is nothing to arbitrate: granted.
pub fn flock<P: Platform>(os: &LibOs<P>, f: &Arc<OpenFile>, op: usize) -> SysResult {
    const LOCK_NB: usize = 4;
    let l_type = match op & !LOCK_NB {
        1 => F_RDLCK,
        2 => F_WRLCK,
        _ => F_UNLCK,
    };
    let (Some((dev, ino)), None) = (file_id(os, f), os.platform.passthrough()) else { return Ok(0) };
    // flock's own namespace in the table.
    let file = (dev | 1 << 63, ino);
    let owner = reclock::description(f);
    let set = || reclock::TABLE.lock().set(file, 0, u64::MAX, l_type, owner.clone());
    set_or_wait(os, set, op & LOCK_NB == 0 && l_type != F_UNLCK, l_type == F_UNLCK)
}

/// After close of a descriptor of `f` by this process: its POSIX locks on the file go (an
/// open file description's go with the description itself), and waiters check again.
pub fn released_on_close<P: Platform>(os: &LibOs<P>, f: &OpenFile) {
    if reclock::TABLE.lock().is_empty() {
        return;
    }
    if let Some(file) = file_id(os, f) {
        reclock::TABLE.lock().release_file(file, os.platform.pid());
        os.platform.wake_all();
    }
}
