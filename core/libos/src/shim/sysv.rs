//! SysV IPC: shared memory (shmget, shmat, shmdt, shmctl), semaphores (semget, semop,
//! semtimedop, semctl) and message queues (msgget, msgsnd, msgrcv, msgctl).
//!
//! Scoped to the app, never the host's objects. On linux-userland the app's processes are host
//! processes, so a segment must be memory the host shares between them: the calls go to the
//! host ([`HostPassthrough::ipc_call`]) only where the app has an IPC namespace of its own, which
//! holds exactly the app's objects (docs/security.md); without one they are ENOSYS. Platforms
//! without host processes (kvm) do not serve them yet (ENOSYS).
use super::nr::*;
use super::SysResult;
use crate::errno::*;
use crate::kernel::LibOs;
use crate::platform::{HostPassthrough, Platform};

/// Syscall numbers served here.
pub const HANDLED: &[usize] =
    &[SHMGET, SHMAT, SHMCTL, SHMDT, SEMGET, SEMOP, SEMCTL, SEMTIMEDOP, MSGGET, MSGSND, MSGRCV, MSGCTL];

/// Served with a limitation users should know (docs/syscalls.md).
pub const PARTIAL: &[(usize, &str)] = &[
    (SHMGET, "linux-userland with its IPC namespace (the app's own objects only); without one, and on kvm: ENOSYS"),
    (SEMGET, "as shmget"),
    (MSGGET, "as shmget"),
];

const IPC_STAT: usize = 2;
const SHM_RDONLY: usize = 0o10000;
const SHM_EXEC: usize = 0o100000;
/// Offset of `shm_segsz` in `struct shmid_ds` (after the 48-byte `struct ipc_perm`).
const SHM_SEGSZ: usize = 48;

/// Serves `n` if it is a SysV IPC call.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    if !HANDLED.contains(&n) {
        return None;
    }
    Some(match os.platform.passthrough() {
        Some(h) => host(os, h, n, a),
        None => Err(ENOSYS),
    })
}

fn host<P: Platform>(os: &LibOs<P>, h: &dyn HostPassthrough, n: usize, a: &[usize; 6]) -> SysResult {
    match n {
        SHMAT => {
            let at = h.ipc_call(SHMAT, *a)?;
            // Record the mapping (for /proc/self/maps and the memory count).
            let mut ds = [0u8; 112];
            if h.ipc_call(SHMCTL, [a[0], IPC_STAT, ds.as_mut_ptr() as usize, 0, 0, 0]).is_ok() {
                let len = u64::from_le_bytes(ds[SHM_SEGSZ..SHM_SEGSZ + 8].try_into().unwrap_or([0; 8])) as usize;
                let prot = if a[2] & SHM_RDONLY != 0 { 1 } else { 3 } | if a[2] & SHM_EXEC != 0 { 4 } else { 0 };
                os.mem.lock().insert(at, len, prot, true, None, 0);
            }
            Ok(at)
        }
        SHMDT => {
            h.ipc_call(SHMDT, *a)?;
            let mut mem = os.mem.lock();
            if let Some((start, v)) = mem.find(a[0]).map(|(s, v)| (s, v.end)) {
                mem.remove(start, v - start);
            }
            Ok(0)
        }
        _ => h.ipc_call(n, *a),
    }
}
