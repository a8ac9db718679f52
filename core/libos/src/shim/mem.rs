//! Memory syscalls: mmap (anonymous, and file mappings copied out of the namespace), munmap,
//! mprotect, mremap, madvise, brk.
use super::nr::*;
use super::SysResult;
use crate::abi::*;
use crate::errno::*;
use crate::fd::FileKind;
use crate::kernel::{LibOs, BRK_MAX};
use crate::platform::Platform;
use crate::user;

/// Syscall numbers served here.
pub const HANDLED: &[usize] = &[MMAP, MUNMAP, MPROTECT, MREMAP, MADVISE, BRK, MSYNC, MLOCK, MUNLOCK];

/// Syscalls served with a limitation users should know, and what it is (docs/syscalls.md is
/// generated from these arrays by scripts/gen_implemented.py).
pub const PARTIAL: &[(usize, &str)] = &[
    (MSYNC, "checks the range; image-backed mappings are private copies"),
    (MLOCK, "checks the range, locks nothing"),
    (MUNLOCK, "as mlock"),
];

/// Serves `n` if it is a memory syscall.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    Some(match n {
        MMAP => mmap(os, a[0], a[1], a[2] as u32, a[3] as u32, a[4] as i32, a[5]),
        MUNMAP => check_range(a[0], a[1]).and_then(|_| os.unmap(a[0], a[1])).map(|_| 0),
        MPROTECT => check_range(a[0], a[1]).and_then(|_| os.protect(a[0], a[1], a[2] as u32)).map(|_| 0),
        MREMAP => os.remap(a[0], a[1], a[2], a[3] as u32, a[4]),
        MADVISE => os.platform.madvise(a[0], a[1], a[2] as u32).map(|_| 0),
        MSYNC | MLOCK | MUNLOCK => check_range(a[0], a[1]).map(|_| 0),
        BRK => Ok(brk(os, a[0])),
        _ => return None,
    })
}

fn check_range(addr: usize, len: usize) -> Result<(), Errno> {
    if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
        return Err(EINVAL);
    }
    Ok(())
}

/// The flags MAP_SHARED_VALIDATE accepts on a file (Linux's LEGACY_MAP_MASK with the huge
/// page size bits, and MAP_FIXED_NOREPLACE); MAP_SYNC and anything unknown is EOPNOTSUPP.
const MAP_VALIDATE_KNOWN: u32 = 0x0f
    | 0x10
    | 0x20
    | 0x40
    | 0x100
    | 0x800
    | 0x1000
    | 0x2000
    | 0x4000
    | 0x8000
    | 0x10000
    | 0x20000
    | 0x40000
    | 0x100000
    | 0x400_0000
    | (0x3f << 26);

fn mmap<P: Platform>(os: &LibOs<P>, addr: usize, len: usize, prot: u32, flags: u32, fd: i32, off: usize) -> SysResult {
    if len == 0 || !off.is_multiple_of(PAGE_SIZE) || len > (1usize << 46) {
        return Err(EINVAL);
    }
    let typ = flags & MAP_TYPE;
    if typ != MAP_PRIVATE && typ != MAP_SHARED && typ != MAP_SHARED_VALIDATE {
        return Err(EINVAL);
    }
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 && !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    if flags & MAP_ANONYMOUS != 0 {
        return os.map_anon(addr, len, prot, flags, None);
    }
    let f = os.fds.lock().get(fd)?;
    if typ == MAP_SHARED_VALIDATE && flags & !MAP_VALIDATE_KNOWN != 0 {
        return Err(EOPNOTSUPP);
    }
    if f.flags() & O_PATH != 0 {
        return Err(EBADF);
    }
    let acc = f.flags() & O_ACCMODE;
    if acc == O_WRONLY || (typ != MAP_PRIVATE && prot & PROT_WRITE != 0 && acc != O_RDWR) {
        return Err(EACCES);
    }
    let node = match &f.kind {
        FileKind::Synth(crate::fs::synth::Synth::Zero) => {
            return os.map_anon(addr, len, prot, (flags & !MAP_TYPE) | MAP_PRIVATE | MAP_ANONYMOUS, None)
        }
        FileKind::Image(_) | FileKind::Overlay(_) => os.node_of(&f).ok_or(EBADF)?,
        FileKind::Host(h) if !f.path.is_empty() => {
            let at = os.map_host(addr, len, prot, flags & !MAP_ANONYMOUS, h.0, off as u64)?;
            os.mem.lock().name(at, len, alloc::sync::Arc::new(f.path.clone()), off as u64);
            return Ok(at);
        }
        _ => return Err(ENODEV),
    };
    // The bytes are copied into private memory: a shared writable mapping of a file in the
    // writable layer does not write back (docs/syscalls.md).
    let plain = (flags & !(MAP_TYPE | MAP_ANONYMOUS)) | MAP_PRIVATE | MAP_ANONYMOUS;
    let at = os.map_anon(addr, len, PROT_READ | PROT_WRITE, plain, None)?;
    os.mem.lock().name(at, len, alloc::sync::Arc::new(f.path.clone()), off as u64);
    let mem = user::slice_mut_in(&os.mem, at, len)?;
    let mut done = 0;
    while done < len {
        let n = os.vfs.read_at(&node, (off + done) as u64, &mut mem[done..])?;
        if n == 0 {
            break;
        }
        done += n;
    }
    if prot != PROT_READ | PROT_WRITE {
        os.protect(at, len.next_multiple_of(PAGE_SIZE), prot)?;
    }
    Ok(at)
}

fn brk<P: Platform>(os: &LibOs<P>, addr: usize) -> usize {
    let mut b = os.brk.lock();
    if addr < b.start || addr - b.start > BRK_MAX {
        return b.cur;
    }
    let want = addr.next_multiple_of(PAGE_SIZE);
    if want > b.mapped {
        let flags = MAP_PRIVATE | MAP_FIXED_NOREPLACE;
        let heap = Some(alloc::sync::Arc::new(b"[heap]".to_vec()));
        match os.map_anon(b.mapped, want - b.mapped, PROT_READ | PROT_WRITE, flags, heap) {
            Ok(_) => b.mapped = want,
            Err(_) => return b.cur,
        }
    } else if want < b.mapped && os.unmap(want, b.mapped - want).is_ok() {
        b.mapped = want;
    }
    b.cur = addr;
    addr
}
