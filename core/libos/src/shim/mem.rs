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
    (MREMAP, "where the platform has no mremap (kvm, snp) a mapping that must move is copied: moved MAP_SHARED memory becomes private"),
    (MUNLOCK, "as mlock"),
];

/// Serves `n` if it is a memory syscall.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    Some(match n {
        MMAP => mmap(os, a[0], a[1], a[2] as u32, a[3] as u32, a[4] as i32, a[5]),
        MUNMAP => check_range(a[0], a[1]).and_then(|_| os.unmap(a[0], a[1])).map(|_| 0),
        MPROTECT => mprotect(os, a[0], a[1], a[2] as u32),
        MREMAP => mremap(os, a[0], a[1], a[2], a[3] as u32, a[4]),
        MADVISE => madvise(os, a[0], a[1], a[2] as u32),
        MSYNC => msync(os, a[0], a[1], a[2] as u32),
        MLOCK | MUNLOCK => check_mapped(os, a[0], a[1]).map(|_| 0),
        BRK => Ok(brk(os, a[0])),
        _ => return None,
    })
}

/// The app's mmap of anonymous memory and munmap, served inline in `shim::dispatch` (the
/// rest goes to [`dispatch`]). After the host call that each of them makes, every function
/// return on the way back to the app cost about 10-15 ns on the host measured
/// (bench/RESULTS-issue17-mmap.md: profiles put it on the first instruction after each
/// return, as for a mispredicted return or code the kernel's work evicted), so the pair runs
/// its host call as few frames deep as the shim allows:
/// this function, `LibOs::map_anon_inline`, `LibOs::unmap` and the platform's `munmap` are
/// inlined into the caller.
#[inline(always)]
pub fn hot<P: Platform>(os: &LibOs<P>, n: usize, a: &[usize; 6]) -> Option<SysResult> {
    let flags = a[3] as u32;
    match n {
        MMAP if flags & MAP_ANONYMOUS != 0 => Some(mmap_checks(a[0], a[1], flags, a[5]).and_then(|_| {
            // The rest of `mmap`'s anonymous case, inline.
            os.map_anon_inline(a[0], a[1], a[2] as u32, flags, None)
        })),
        MUNMAP => Some(check_range(a[0], a[1]).and_then(|_| os.unmap(a[0], a[1])).map(|_| 0)),
        _ => dispatch(os, n, a),
    }
}

#[inline(always)]
fn check_range(addr: usize, len: usize) -> Result<(), Errno> {
    if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
        return Err(EINVAL);
    }
    Ok(())
}

/// mprotect(2): EINVAL for an unaligned start or unknown protection bits; a zero length does
/// nothing; the platform says ENOMEM where part of the range is not mapped.
fn mprotect<P: Platform>(os: &LibOs<P>, addr: usize, len: usize, prot: u32) -> SysResult {
    const PROT_GROWSDOWN: u32 = 0x0100_0000;
    const PROT_GROWSUP: u32 = 0x0200_0000;
    if !addr.is_multiple_of(PAGE_SIZE)
        || prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP) != 0
    {
        return Err(EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    os.protect(addr, len, prot).map(|_| 0)
}

/// madvise(2): EINVAL for an unaligned start or an advice Linux does not know; a zero length
/// does nothing; ENOMEM where part of the range is not mapped; else the platform's.
fn madvise<P: Platform>(os: &LibOs<P>, addr: usize, len: usize, advice: u32) -> SysResult {
    if !addr.is_multiple_of(PAGE_SIZE) || !matches!(advice, 0..=4 | 8..=25 | 100 | 101) {
        return Err(EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    check_mapped(os, addr, len)?;
    os.platform.madvise(addr, len, advice).map(|_| 0)
}

/// The range checks of msync, mlock and munlock: EINVAL for an unaligned start, ENOMEM where
/// part of the range is not mapped (a zero length is always fine).
fn check_mapped<P: Platform>(os: &LibOs<P>, addr: usize, len: usize) -> Result<(), Errno> {
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    if len != 0 && !os.mem.lock().fully_mapped(addr, len) {
        return Err(ENOMEM);
    }
    Ok(())
}

/// msync(2): EINVAL for unknown flags or both MS_ASYNC and MS_SYNC, then [`check_mapped`]'s
/// checks; nothing to write back (see PARTIAL).
fn msync<P: Platform>(os: &LibOs<P>, addr: usize, len: usize, flags: u32) -> SysResult {
    const MS_ASYNC: u32 = 1;
    const MS_INVALIDATE: u32 = 2;
    const MS_SYNC: u32 = 4;
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 || flags & (MS_ASYNC | MS_SYNC) == MS_ASYNC | MS_SYNC {
        return Err(EINVAL);
    }
    check_mapped(os, addr, len).map(|_| 0)
}

/// mremap(2): the argument checks, then the platform's mremap, or where the platform has none
/// (ENOSYS) [`remap_by_copy`].
fn mremap<P: Platform>(
    os: &LibOs<P>,
    old: usize,
    old_len: usize,
    new_len: usize,
    flags: u32,
    new_addr: usize,
) -> SysResult {
    if !old.is_multiple_of(PAGE_SIZE)
        || flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0
        || (flags & (MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 && flags & MREMAP_MAYMOVE == 0)
        || new_len == 0
        || (flags & MREMAP_FIXED != 0 && !new_addr.is_multiple_of(PAGE_SIZE))
    {
        return Err(EINVAL);
    }
    match os.remap(old, old_len, new_len, flags, new_addr) {
        Err(ENOSYS) => remap_by_copy(os, old, old_len, new_len, flags, new_addr),
        r => r,
    }
}

const MREMAP_MAYMOVE: u32 = 1;
const MREMAP_FIXED: u32 = 2;
const MREMAP_DONTUNMAP: u32 = 4;

/// mremap on a platform without one: the old range must lie in one private mapping (EFAULT);
/// shrinking unmaps the tail, growing maps the pages right after it if they are free, else
/// (with MREMAP_MAYMOVE) maps a new range, copies the bytes over and unmaps the old one. A
/// moved MAP_SHARED mapping becomes a private copy (docs/syscalls.md).
fn remap_by_copy<P: Platform>(
    os: &LibOs<P>,
    old: usize,
    old_len: usize,
    new_len: usize,
    flags: u32,
    new_addr: usize,
) -> SysResult {
    let (old_pg, new_pg) = (old_len.next_multiple_of(PAGE_SIZE), new_len.next_multiple_of(PAGE_SIZE));
    let (prot, label) = {
        let mem = os.mem.lock();
        let (_, v) = mem.find(old).ok_or(EFAULT)?;
        if old.saturating_add(old_pg) > v.end {
            return Err(EFAULT);
        }
        (v.prot, v.name.clone())
    };
    if old_len == 0 {
        return Err(EINVAL);
    }
    let fixed = flags & MREMAP_FIXED != 0;
    if fixed && new_addr < old + old_pg && old < new_addr + new_pg {
        return Err(EINVAL);
    }
    if !fixed && flags & MREMAP_DONTUNMAP == 0 {
        if new_pg <= old_pg {
            if new_pg < old_pg {
                os.unmap(old + new_pg, old_pg - new_pg)?;
            }
            return Ok(old);
        }
        let tail = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
        match os.map_anon(old + old_pg, new_pg - old_pg, prot, tail, label.clone()) {
            Ok(at) if at == old + old_pg => return Ok(old),
            // A platform that took the address as a hint only: not the room needed.
            Ok(at) => os.unmap(at, new_pg - old_pg)?,
            Err(_) => {}
        }
    }
    if flags & MREMAP_MAYMOVE == 0 {
        return Err(ENOMEM);
    }
    let place = if fixed { MAP_FIXED } else { 0 };
    let at = os.map_anon(
        if fixed { new_addr } else { 0 },
        new_pg,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS | place,
        label,
    )?;
    if prot & PROT_READ == 0 {
        os.protect(old, old_pg, PROT_READ)?;
    }
    let n = old_pg.min(new_pg);
    user::slice_mut_in(&os.mem, at, n)?.copy_from_slice(user::slice_in(&os.mem, old, n)?);
    if prot != PROT_READ | PROT_WRITE {
        os.protect(at, new_pg, prot)?;
    }
    if flags & MREMAP_DONTUNMAP == 0 {
        os.unmap(old, old_pg)?;
    } else if prot & PROT_READ == 0 {
        os.protect(old, old_pg, prot)?;
    }
    Ok(at)
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

/// The checks of mmap(2) before the kind of mapping matters (EINVAL, ENOMEM), and for an
/// anonymous mapping all of them; the mapping's type (MAP_PRIVATE, MAP_SHARED or
/// MAP_SHARED_VALIDATE).
#[inline(always)]
fn mmap_checks(addr: usize, len: usize, flags: u32, off: usize) -> Result<u32, Errno> {
    if len == 0 || !off.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    if len > (1usize << 46) {
        return Err(ENOMEM);
    }
    let typ = flags & MAP_TYPE;
    if typ != MAP_PRIVATE && typ != MAP_SHARED && typ != MAP_SHARED_VALIDATE {
        return Err(EINVAL);
    }
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 && !addr.is_multiple_of(PAGE_SIZE) {
        return Err(EINVAL);
    }
    // MAP_SHARED_VALIDATE is for files: an anonymous mapping is shared or private.
    if flags & MAP_ANONYMOUS != 0 && typ == MAP_SHARED_VALIDATE {
        return Err(EINVAL);
    }
    Ok(typ)
}

fn mmap<P: Platform>(os: &LibOs<P>, addr: usize, len: usize, prot: u32, flags: u32, fd: i32, off: usize) -> SysResult {
    let typ = mmap_checks(addr, len, flags, off)?;
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
        // A host file that came without a path (received with SCM_RIGHTS: Python's
        // multiprocessing passes its shared-memory arenas so): mapped as the host maps it.
        FileKind::Host(h) if os.platform.host_stat(h.0).is_ok_and(|st| st.st_mode & S_IFMT == S_IFREG) => {
            return os.map_host(addr, len, prot, flags & !MAP_ANONYMOUS, h.0, off as u64);
        }
        _ => return Err(ENODEV),
    };
    // The bytes are copied into private memory: a shared writable mapping of a file in the
    // writable layer does not write back (docs/syscalls.md).
    let plain = (flags & !(MAP_TYPE | MAP_ANONYMOUS)) | MAP_PRIVATE | MAP_ANONYMOUS;
    let at = os.map_anon(addr, len, PROT_READ | PROT_WRITE, plain, None)?;
    os.mem.lock().name(at, len, alloc::sync::Arc::new(f.path.clone()), off as u64);
    let mem = user::slice_mut_in(&os.mem, at, len)?;
    // Whole pages of an image file's bytes are mapped from the image where the platform can
    // (shared with the page cache); a partial last page is copied, so past the file's end the
    // mapping reads zeros as on Linux.
    let mut done = 0;
    let size = os.vfs.stat(&node).st_size as usize;
    let whole = if off < size { core::cmp::min(len, size - off) & !(PAGE_SIZE - 1) } else { 0 };
    if whole > 0 {
        if let Some(img) = os.vfs.image_span(&node, off as u64, whole as u64) {
            if os.platform.map_image(at, whole, PROT_READ | PROT_WRITE, img).is_ok() {
                done = whole;
            }
        }
    }
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
