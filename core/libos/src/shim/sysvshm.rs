//! SysV shared memory served by the library OS (shmget, shmat, shmdt, shmctl) where the
//! platform has no host processes (kvm): the segment table is [`crate::sysvshm`], the memory a
//! shared object of the platform ([`Platform::shm_create`], [`Platform::shm_attach`]) mapped
//! into each process that attaches it, recorded in the process's memory map (`os.mem`) so the
//! EFAULT guard accepts it.
use super::nr::*;
use super::sysv::{cmd_of, ipc_perm};
use super::SysResult;
use crate::errno::*;
use crate::kernel::LibOs;
use crate::platform::Platform;
use crate::sysvshm::{Lookup, SHM, SHM_DEST};
use crate::user;

const IPC_RMID: usize = 0;
const IPC_SET: usize = 1;
const IPC_STAT: usize = 2;
const SHM_LOCK: usize = 11;
const SHM_UNLOCK: usize = 12;
const SHM_RDONLY: usize = 0o10000;
const SHM_RND: usize = 0o20000;
const SHM_REMAP: usize = 0o40000;
const SHM_EXEC: usize = 0o100000;
const PAGE: usize = 4096;
/// `struct shmid_ds`'s size on x86-64.
const SHMID_DS: usize = 112;

/// Serves shmget, shmat, shmdt and shmctl (`n`, arguments `a`).
pub fn own<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> SysResult {
    match n {
        SHMGET => shmget(os, a[0] as i32, a[1], a[2] as u32),
        SHMAT => shmat(os, a[0] as i32, a[1], a[2]),
        SHMDT => shmdt(os, a[0]),
        SHMCTL => shmctl(os, a[0] as i32, cmd_of(a[1]), a[2]),
        _ => Err(ENOSYS),
    }
}

fn shmget<P: Platform>(os: &LibOs<P>, key: i32, size: usize, flags: u32) -> SysResult {
    if let Lookup::Found(id) = SHM.lock().lookup(key, size, flags)? {
        return Ok(id as usize);
    }
    // The object is made outside the table's lock (it takes memory); a racing shmget of the
    // same key cannot run meanwhile (the kernel is not preempted in a syscall).
    let handle = os.platform.shm_create(size.next_multiple_of(PAGE))?;
    let now = os.now();
    Ok(SHM.lock().insert(key, size, flags, handle, os.platform.pid(), now) as usize)
}

fn shmat<P: Platform>(os: &LibOs<P>, id: i32, addr: usize, flags: usize) -> SysResult {
    let mut at = addr;
    if at != 0 && flags & SHM_RND != 0 {
        at &= !(PAGE - 1);
    }
    if !at.is_multiple_of(PAGE) || (at == 0 && flags & SHM_REMAP != 0) {
        return Err(EINVAL);
    }
    let (handle, len) = {
        let mut t = SHM.lock();
        let s = t.seg(id)?;
        (s.handle, s.size.next_multiple_of(PAGE))
    };
    let prot = if flags & SHM_RDONLY != 0 { 1 } else { 3 } | if flags & SHM_EXEC != 0 { 4 } else { 0 };
    // Without SHM_REMAP an attach address already in use is EINVAL.
    let at = match os.platform.shm_attach(handle, at, len, prot, flags & SHM_REMAP != 0) {
        Err(EEXIST) => return Err(EINVAL),
        r => r?,
    };
    os.mem.lock().insert(at, len, prot, true, None, 0);
    let now = os.now();
    SHM.lock().attach(os.platform.pid(), id, at, len, now);
    Ok(at)
}

fn shmdt<P: Platform>(os: &LibOs<P>, addr: usize) -> SysResult {
    let now = os.now();
    let (att, gone) = SHM.lock().detach(os.platform.pid(), addr, now)?;
    os.platform.munmap(att.addr, att.len)?;
    os.mem.lock().remove(att.addr, att.len);
    for h in gone {
        os.platform.shm_destroy(h);
    }
    Ok(0)
}

fn shmctl<P: Platform>(os: &LibOs<P>, id: i32, cmd: usize, buf: usize) -> SysResult {
    match cmd {
        IPC_RMID => {
            let gone = SHM.lock().remove(id, os.now())?;
            for h in gone {
                os.platform.shm_destroy(h);
            }
            Ok(0)
        }
        IPC_STAT => {
            let mut ds = [0u8; SHMID_DS];
            {
                let mut t = SHM.lock();
                let nattch = t.nattch(id) as u64;
                let s = t.seg(id)?;
                let mode = s.mode | if s.removed { SHM_DEST } else { 0 };
                ds[0..48].copy_from_slice(&ipc_perm(os, s.key, mode, s.id));
                for (at, v) in [(48, s.size as u64), (56, s.atime), (64, s.dtime), (72, s.ctime), (88, nattch)] {
                    ds[at..at + 8].copy_from_slice(&v.to_le_bytes());
                }
                ds[80..84].copy_from_slice(&s.cpid.to_le_bytes());
                ds[84..88].copy_from_slice(&s.lpid.to_le_bytes());
            }
            user::write_in(&os.mem, buf, &ds)?;
            Ok(0)
        }
        IPC_SET => {
            // The ids cannot change (every process of the app has the same); the mode's
            // permission bits can.
            let ds: [u8; SHMID_DS] = user::read_in(&os.mem, buf)?;
            let mode = u32::from(u16::from_le_bytes([ds[20], ds[21]])) & 0o777;
            let now = os.now();
            let mut t = SHM.lock();
            let s = t.seg(id)?;
            s.mode = mode;
            s.ctime = now;
            Ok(0)
        }
        SHM_LOCK | SHM_UNLOCK => SHM.lock().seg(id).map(|_| 0),
        _ => Err(EINVAL),
    }
}
