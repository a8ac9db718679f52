//! The app's memory with Linux semantics over VirtualAlloc/VirtualFree/VirtualProtect.
//!
//! Windows reserves address space in 64 KiB granules and commits 4 KiB pages; Linux maps pages
//! anywhere. So the app's address space is handled granule by granule: a free granule that a
//! mapping touches is reserved whole, then exactly the mapping's pages are committed. munmap
//! decommits pages (the granule stays reserved, so a later MAP_FIXED there works, and a partial
//! unmap is exact to the page); mprotect is VirtualProtect over the committed pages. Fresh pages
//! read as zero, as Linux promises: a MAP_FIXED over committed pages decommits them first.
use core::sync::atomic::{AtomicUsize, Ordering};

use litebox_libos::errno::{Errno, EINVAL, ENOMEM};

use crate::win;

const PAGE: usize = 4096;
const GRANULE: usize = 64 * 1024;
const MAP_FIXED: u32 = 0x10;
const MAP_FIXED_NOREPLACE: u32 = 0x100000;

/// Ranges the runtime owns (its own image, its heap): the app may not map, unmap or protect
/// inside them.
static OWNED: [(AtomicUsize, AtomicUsize); 4] = [
    (AtomicUsize::new(0), AtomicUsize::new(0)),
    (AtomicUsize::new(0), AtomicUsize::new(0)),
    (AtomicUsize::new(0), AtomicUsize::new(0)),
    (AtomicUsize::new(0), AtomicUsize::new(0)),
];

/// Records `[at, at+len)` as the runtime's own (up to four ranges).
pub fn reserve_owned(at: usize, len: usize) {
    for (lo, hi) in OWNED.iter() {
        if hi.load(Ordering::Relaxed) == 0 {
            lo.store(at, Ordering::Relaxed);
            hi.store(at + len, Ordering::Relaxed);
            return;
        }
    }
}

fn touches_owned(at: usize, len: usize) -> bool {
    OWNED.iter().any(|(lo, hi)| {
        let (lo, hi) = (lo.load(Ordering::Relaxed), hi.load(Ordering::Relaxed));
        hi != 0 && at < hi && lo < at.saturating_add(len)
    })
}

/// Linux PROT_* bits as a Windows page protection.
pub fn page_protection(prot: u32) -> u32 {
    match (prot & 1 != 0, prot & 2 != 0, prot & 4 != 0) {
        (_, _, true) if prot & 2 != 0 => win::PAGE_EXECUTE_READWRITE,
        (true, false, true) => win::PAGE_EXECUTE_READ,
        (false, false, true) => win::PAGE_EXECUTE,
        (_, true, false) => win::PAGE_READWRITE,
        (true, false, false) => win::PAGE_READONLY,
        _ => win::PAGE_NOACCESS,
    }
}

fn query(at: usize) -> Option<win::MemoryBasicInformation> {
    let mut info = win::MemoryBasicInformation::default();
    // SAFETY: info is a writable MEMORY_BASIC_INFORMATION of the size passed.
    let n = unsafe { win::VirtualQuery(at, &mut info, core::mem::size_of::<win::MemoryBasicInformation>()) };
    (n != 0).then_some(info)
}

/// Whether some page of `[at, at+len)` is committed.
fn any_committed(at: usize, len: usize) -> bool {
    let mut p = at;
    while p < at + len {
        match query(p) {
            Some(i) if i.state == win::MEM_COMMIT => return true,
            Some(i) => p = i.base_address + i.region_size,
            None => return false,
        }
    }
    false
}

/// Calls `f(from, to)` for each piece of `[at, at+len)` that lies in one 64 KiB granule.
fn per_granule(at: usize, len: usize, mut f: impl FnMut(usize, usize) -> Result<(), Errno>) -> Result<(), Errno> {
    let end = at + len;
    let mut p = at;
    while p < end {
        let next = ((p / GRANULE) + 1) * GRANULE;
        let to = next.min(end);
        f(p, to)?;
        p = to;
    }
    Ok(())
}

/// Commits `[at, at+len)` (page aligned) as zeroed pages with `prot`, reserving free granules.
fn commit_fixed(at: usize, len: usize, prot: u32) -> Result<(), Errno> {
    per_granule(at, len, |from, to| {
        let granule = from & !(GRANULE - 1);
        if let Some(i) = query(from) {
            if i.state == win::MEM_FREE {
                // SAFETY: reserving free address space has no effect on existing memory.
                let r = unsafe { win::VirtualAlloc(granule, GRANULE, win::MEM_RESERVE, win::PAGE_NOACCESS) };
                if r == 0 {
                    return Err(ENOMEM);
                }
            } else if any_committed(from, to - from) {
                // SAFETY: the pages are the app's (checked against the runtime's ranges).
                unsafe { win::VirtualFree(from, to - from, win::MEM_DECOMMIT) };
            }
        }
        // SAFETY: committing reserved pages of the app's address space.
        let r = unsafe { win::VirtualAlloc(from, to - from, win::MEM_COMMIT, page_protection(prot)) };
        if r == 0 {
            return Err(ENOMEM);
        }
        Ok(())
    })
}

/// mmap of fresh anonymous memory (MAP_FIXED, MAP_FIXED_NOREPLACE or anywhere).
pub fn map_anon(addr: usize, len: usize, prot: u32, flags: u32) -> Result<usize, Errno> {
    if len == 0 || !addr.is_multiple_of(PAGE) {
        return Err(EINVAL);
    }
    let len = len.checked_add(PAGE - 1).ok_or(ENOMEM)? & !(PAGE - 1);
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
        if touches_owned(addr, len) {
            return Err(ENOMEM);
        }
        if flags & MAP_FIXED_NOREPLACE != 0 && any_committed(addr, len) {
            return Err(litebox_libos::errno::EEXIST);
        }
        commit_fixed(addr, len, prot)?;
        return Ok(addr);
    }
    // Anywhere: whole granules, so the neighbours of this mapping never share its reservation.
    let size = len.checked_add(GRANULE - 1).ok_or(ENOMEM)? & !(GRANULE - 1);
    // SAFETY: a new reservation chosen by Windows.
    let at = unsafe { win::VirtualAlloc(0, size, win::MEM_RESERVE, win::PAGE_NOACCESS) };
    if at == 0 {
        return Err(ENOMEM);
    }
    commit_fixed(at, len, prot)?;
    Ok(at)
}

/// munmap: decommits the app's pages in `[addr, addr+len)`; pages never mapped are ignored,
/// as on Linux.
pub fn unmap(addr: usize, len: usize) -> Result<(), Errno> {
    if !addr.is_multiple_of(PAGE) || len == 0 {
        return Err(EINVAL);
    }
    let len = len.checked_add(PAGE - 1).ok_or(EINVAL)? & !(PAGE - 1);
    if touches_owned(addr, len) {
        return Err(EINVAL);
    }
    per_granule(addr, len, |from, to| {
        if any_committed(from, to - from) {
            // SAFETY: the app's own pages (checked above).
            unsafe { win::VirtualFree(from, to - from, win::MEM_DECOMMIT) };
        }
        Ok(())
    })
}

/// mprotect over committed app pages; ENOMEM when part of the range is not mapped, as on Linux.
pub fn protect(addr: usize, len: usize, prot: u32) -> Result<(), Errno> {
    if !addr.is_multiple_of(PAGE) {
        return Err(EINVAL);
    }
    let len = len.checked_add(PAGE - 1).ok_or(ENOMEM)? & !(PAGE - 1);
    if len == 0 {
        return Ok(());
    }
    if touches_owned(addr, len) {
        return Err(ENOMEM);
    }
    per_granule(addr, len, |from, to| {
        let mut old = 0u32;
        // SAFETY: the app's own pages; VirtualProtect fails on pages that are not committed.
        if unsafe { win::VirtualProtect(from, to - from, page_protection(prot), &mut old) } == 0 {
            return Err(ENOMEM);
        }
        Ok(())
    })?;
    if prot & 4 != 0 {
        // SAFETY: flushing the instruction cache has no memory effect.
        unsafe { win::FlushInstructionCache(win::GetCurrentProcess(), addr, len) };
    }
    Ok(())
}

/// The runtime's heap: one reservation, committed as the allocator grows.
pub struct HeapPages;

/// Bytes of address space reserved for the runtime's heap.
pub const HEAP_RESERVE: usize = 1 << 30;

impl HeapPages {
    /// Reserves the heap region; returns (start, len).
    pub fn reserve() -> Option<(usize, usize)> {
        // SAFETY: a new reservation chosen by Windows.
        let at = unsafe { win::VirtualAlloc(0, HEAP_RESERVE, win::MEM_RESERVE, win::PAGE_NOACCESS) };
        (at != 0).then_some((at, HEAP_RESERVE))
    }
}

impl litebox_rt::heap::Backing for HeapPages {
    const GROW_STEP: usize = 4 << 20;

    fn commit(&self, from: usize, to: usize) -> bool {
        // SAFETY: pages of the heap's own reservation.
        unsafe { win::VirtualAlloc(from, to - from, win::MEM_COMMIT, win::PAGE_READWRITE) != 0 }
    }
}
