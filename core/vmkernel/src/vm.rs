//! The app's address spaces, one per process: a sorted list of areas (start, end, prot) and
//! lazily filled page tables under the process's own PML4. A page gets a zeroed frame on its
//! first touch (the page-fault handler); protection changes rewrite the entries already
//! present; PROT_NONE pages keep their frame. fork shares every page the parent has with the
//! child copy-on-write (both lose write access; the first write fault copies the page unless
//! the other process has dropped it already); execve and exit release them. The calls below act on the running process's
//! space ([`activate`] makes one current).
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicPtr, Ordering};

use litebox_libos::abi::{MAP_FIXED, MAP_FIXED_NOREPLACE, PROT_EXEC, PROT_READ, PROT_WRITE};
use litebox_libos::errno::*;
use litebox_libos::sync::SpinMutex;

use crate::paging::{self, ADDR, COW, KEPT, NX, P, U, W};
use crate::{cpu, frames};

const PAGE: usize = 4096;
/// The lowest address the app may map (as Linux's default vm.mmap_min_addr).
pub const USER_MIN: usize = 0x10000;
/// The end of the app's half.
pub const USER_TOP: usize = 0x0000_7fff_ffff_f000;
/// Where top-down placement of mappings without an address starts.
const MMAP_TOP: usize = 0x0000_7fff_f000_0000;

#[derive(Clone, Copy)]
struct Area {
    start: usize,
    end: usize,
    prot: u32,
    /// MAP_SHARED: a fork shares its frames writable with the child instead of copy-on-write.
    shared: bool,
}

/// One process's address space.
pub struct Space {
    areas: Vec<Area>,
    /// Its PML4 (physical).
    root: usize,
}

/// The boot process's space (the boot PML4).
static BOOT_SPACE: SpinMutex<Space> = SpinMutex::new(Space { areas: Vec::new(), root: 0 });
/// The running process's space (null: the boot space).
static CURRENT: AtomicPtr<SpinMutex<Space>> = AtomicPtr::new(core::ptr::null_mut());

/// A process's space: owned by the process table, freed by [`release`].
pub type SpaceRef = &'static SpinMutex<Space>;

fn space() -> SpaceRef {
    let p = CURRENT.load(Ordering::Relaxed);
    if p.is_null() {
        &BOOT_SPACE
    } else {
        // SAFETY: set by `activate` from a live SpaceRef.
        unsafe { &*p }
    }
}

/// The boot process's space (the one the first program runs in).
pub fn boot_space() -> SpaceRef {
    let mut b = BOOT_SPACE.lock();
    if b.root == 0 {
        b.root = crate::layout::pml4_phys();
    }
    &BOOT_SPACE
}

/// Makes `sp` the running process's space (loads its PML4).
pub fn activate(sp: SpaceRef) {
    CURRENT.store(sp as *const SpinMutex<Space> as *mut SpinMutex<Space>, Ordering::Relaxed);
    paging::switch_to(sp.lock().root);
}

/// fork: a copy of the running process's space: its areas, every private page shared
/// copy-on-write, and every page of a MAP_SHARED area shared as it is (both processes then
/// write the same frame; its pages are all given frames first, so none is left to be filled
/// separately on each side). None when memory ran out.
pub fn fork_current() -> Option<SpaceRef> {
    let sp = space().lock();
    for a in sp.areas.iter().filter(|a| a.shared) {
        populate(a)?;
    }
    let root = paging::new_root()?;
    let copy = Space { areas: sp.areas.clone(), root };
    let areas = &sp.areas;
    let shared = |va: usize| {
        let i = areas.partition_point(|a| a.end <= va);
        areas.get(i).is_some_and(|a| a.start <= va && a.shared)
    };
    let ok = paging::share_user(sp.root, root, &shared);
    cpu::flush_tlb();
    if !ok {
        drop(sp);
        paging::free_user(root);
        frames::free(root);
        return None;
    }
    Some(Box::leak(Box::new(SpinMutex::new(copy))))
}

/// execve and exit: frees every page and area of the running process's space.
pub fn clear_current() {
    let mut sp = space().lock();
    sp.areas.clear();
    paging::free_user(sp.root);
    cpu::flush_tlb();
}

/// Frees a space that is not loaded (its process has exited and was switched away from).
pub fn release(sp: SpaceRef) {
    let root = sp.lock().root;
    if core::ptr::eq(sp, &BOOT_SPACE) || root == paging::current_root() {
        return;
    }
    paging::free_user(root);
    frames::free(root);
    // SAFETY: made by `fork_current` with Box::leak; its process is gone, so nothing refers to it.
    drop(unsafe { Box::from_raw(sp as *const SpinMutex<Space> as *mut SpinMutex<Space>) });
}

/// Writes `bytes` at `va` of the (not loaded) space `sp`, through its page tables: for the
/// child's tid word at fork. Pages not present, or not writable, are skipped.
pub fn poke(sp: SpaceRef, va: usize, bytes: &[u8]) {
    let space = sp.lock();
    for (i, b) in bytes.iter().enumerate() {
        let a = va + i;
        if space.area_at(a).is_none_or(|ar| ar.prot & PROT_WRITE == 0) {
            continue;
        }
        if let Some(e) = paging::pte_in(space.root, a, false) {
            // SAFETY: e is a level-1 entry of that space.
            let mut v = unsafe { e.read_volatile() };
            if v & COW != 0 {
                // SAFETY: as above; the entry is marked COW.
                let Some(nv) = (unsafe { paging::unshare(e) }) else { continue };
                v = nv | W;
                // SAFETY: as above; the page is this space's own now and its area writable.
                unsafe { e.write_volatile(v) };
            }
            if v & P != 0 {
                let at = crate::layout::phys_to_virt(paging::frame_of(v)) + (a & (PAGE - 1));
                // SAFETY: inside a frame owned by that space, through the direct map.
                unsafe { (at as *mut u8).write(*b) };
            }
        }
    }
}

fn page_up(x: usize) -> usize {
    x.next_multiple_of(PAGE)
}

fn pte_flags(prot: u32) -> u64 {
    let mut f = if prot & (PROT_READ | PROT_WRITE | PROT_EXEC) == 0 { KEPT } else { P | U };
    if prot & PROT_WRITE != 0 {
        f |= W;
    }
    if prot & PROT_EXEC == 0 && cpu::has_nx() {
        f |= NX;
    }
    f
}

impl Space {
    fn overlaps(&self, s: usize, e: usize) -> bool {
        self.areas.iter().any(|a| a.start < e && a.end > s)
    }

    fn insert(&mut self, s: usize, e: usize, prot: u32, shared: bool) {
        let i = self.areas.partition_point(|a| a.start < s);
        self.areas.insert(i, Area { start: s, end: e, prot, shared });
    }

    /// Removes [s, e) from the area list (splitting areas), without touching page tables.
    fn cut(&mut self, s: usize, e: usize) {
        let mut out = Vec::with_capacity(self.areas.len() + 1);
        for a in self.areas.drain(..) {
            if a.end <= s || a.start >= e {
                out.push(a);
                continue;
            }
            if a.start < s {
                out.push(Area { end: s, ..a });
            }
            if a.end > e {
                out.push(Area { start: e, ..a });
            }
        }
        self.areas = out;
    }

    fn find_free(&self, len: usize) -> Option<usize> {
        let mut top = MMAP_TOP;
        for a in self.areas.iter().rev() {
            if a.start >= top {
                continue;
            }
            if a.end <= top && top - a.end >= len {
                return Some(top - len);
            }
            top = top.min(a.start);
        }
        (top >= USER_MIN + len).then(|| top - len)
    }

    fn area_at(&self, va: usize) -> Option<Area> {
        let i = self.areas.partition_point(|a| a.end <= va);
        self.areas.get(i).copied().filter(|a| a.start <= va)
    }
}

/// Frees the frames of [s, e) and clears their entries.
fn drop_pages(s: usize, e: usize) {
    let mut va = s;
    while va < e {
        let Some(p) = paging::pte(va, false) else {
            va = next_table(va);
            continue;
        };
        // SAFETY: p is the level-1 entry of an app page.
        let v = unsafe { p.read_volatile() };
        if v & (P | KEPT) != 0 {
            // SAFETY: as above.
            unsafe { p.write_volatile(0) };
            cpu::invlpg(va);
            frames::release(paging::frame_of(v));
        }
        va += PAGE;
    }
}

/// What one level-1 table maps.
const TABLE_SPAN: usize = 512 * PAGE;

/// Where a walk over app pages goes on when `va` has no level-1 table (`paging::pte` found
/// none on the way down: the app's half has no huge pages): the next table's first page, since
/// nothing of `va`'s 2 MiB is mapped. (Under emulation, stepping over a large unmapped range
/// page by page cost thousands of dispatches per program load.)
fn next_table(va: usize) -> usize {
    (va | (TABLE_SPAN - 1)).saturating_add(1)
}

fn in_user(s: usize, len: usize) -> Option<usize> {
    let e = s.checked_add(len)?;
    (s >= USER_MIN && e <= USER_TOP).then_some(e)
}

/// mmap of anonymous memory: returns the address.
pub fn map(addr: usize, len: usize, prot: u32, flags: u32) -> Result<usize, Errno> {
    if len == 0 {
        return Err(EINVAL);
    }
    let len = page_up(len);
    let mut sp = space().lock();
    let at = if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
        if !addr.is_multiple_of(PAGE) {
            return Err(EINVAL);
        }
        let e = in_user(addr, len).ok_or(ENOMEM)?;
        if sp.overlaps(addr, e) {
            if flags & MAP_FIXED_NOREPLACE != 0 {
                return Err(EEXIST);
            }
            sp.cut(addr, e);
            drop_pages(addr, e);
        }
        addr
    } else {
        let hint = addr & !(PAGE - 1);
        match in_user(hint, len) {
            Some(e) if hint != 0 && !sp.overlaps(hint, e) => hint,
            _ => sp.find_free(len).ok_or(ENOMEM)?,
        }
    };
    // MAP_SHARED or MAP_SHARED_VALIDATE (MAP_PRIVATE is 2).
    sp.insert(at, at + len, prot & 7, matches!(flags & 3, 1 | 3));
    Ok(at)
}

/// Maps `frames` (app frames owned elsewhere: a SysV segment, `shm.rs`) at `addr` (or, for 0,
/// where there is room) of the running process, as a MAP_SHARED area with `prot`: each frame
/// gets one more owner (this space; munmap, exit and execve release it) and fork shares it.
/// An `addr` in use is replaced only with `replace` (else EEXIST). Returns the address.
pub fn map_frames(addr: usize, frames: &[usize], prot: u32, replace: bool) -> Result<usize, Errno> {
    const MAP_SHARED: u32 = 1;
    let how = MAP_SHARED
        | if addr == 0 {
            0
        } else if replace {
            MAP_FIXED
        } else {
            MAP_FIXED_NOREPLACE
        };
    let len = frames.len() * PAGE;
    let at = map(addr, len, prot, how)?;
    let guard = space().lock();
    for (i, &pa) in frames.iter().enumerate() {
        let Some(p) = paging::pte(at + i * PAGE, true) else {
            drop(guard);
            let _ = unmap(at, len);
            return Err(ENOMEM);
        };
        frames::share(pa);
        // SAFETY: p is the level-1 entry of a page of the area just made (empty: a fixed
        // address was cut and its pages dropped by `map`); the frame is an app frame.
        unsafe { p.write_volatile(pa as u64 | paging::enc() | pte_flags(prot & 7)) };
        cpu::invlpg(at + i * PAGE);
    }
    Ok(at)
}

/// Maps the pinned frames from `pa` (the packed image, [`frames::pin`]) at `addr` for `len`
/// bytes of the running process, replacing whatever pages are there, with `prot` (the pages
/// and their areas, as mprotect would leave them): each page is read-only and copy-on-write (a write gives it a private copy, a fork shares it, exit
/// and execve drop it; the frame itself stays). `addr` must already be mapped (an area), and
/// `addr`, `len` and `pa` page-aligned, `[pa, pa + len)` pinned; else EINVAL.
pub fn map_pinned(addr: usize, len: usize, prot: u32, pa: usize) -> Result<usize, Errno> {
    let aligned = addr.is_multiple_of(PAGE) && len.is_multiple_of(PAGE) && pa.is_multiple_of(PAGE);
    if !aligned || len == 0 || !frames::is_pinned(pa) || !frames::is_pinned(pa + len - 1) {
        return Err(EINVAL);
    }
    let e = in_user(addr, len).ok_or(EINVAL)?;
    let mut sp = space().lock();
    let mut va = addr;
    let mut pieces = Vec::new();
    while va < e {
        let a = sp.area_at(va).ok_or(EINVAL)?;
        if a.prot != prot & 7 {
            pieces.push((va, a.end.min(e), a.shared));
        }
        va = a.end;
    }
    // The areas get `prot` too (a write fault decides by the area's protection): the pages
    // end with `prot` as an mprotect would leave them.
    for (s, pe, shared) in pieces {
        sp.cut(s, pe);
        sp.insert(s, pe, prot & 7, shared);
    }
    drop_pages(addr, e);
    let flags = (pte_flags(prot & 7) | COW) & !W;
    for i in 0..len / PAGE {
        let Some(p) = paging::pte(addr + i * PAGE, true) else { return Err(ENOMEM) };
        // SAFETY: p is the level-1 entry of a page of this process's area, emptied above; the
        // frame is pinned (never freed), mapped read-only and marked COW.
        unsafe { p.write_volatile((pa + i * PAGE) as u64 | paging::enc() | flags) };
    }
    Ok(addr)
}

/// munmap.
pub fn unmap(addr: usize, len: usize) -> Result<(), Errno> {
    if !addr.is_multiple_of(PAGE) || len == 0 {
        return Err(EINVAL);
    }
    let e = in_user(addr, page_up(len)).ok_or(EINVAL)?;
    let mut sp = space().lock();
    sp.cut(addr, e);
    drop_pages(addr, e);
    Ok(())
}

/// mprotect: every page of the range must be mapped.
pub fn protect(addr: usize, len: usize, prot: u32) -> Result<(), Errno> {
    if !addr.is_multiple_of(PAGE) {
        return Err(EINVAL);
    }
    if len == 0 {
        return Ok(());
    }
    let e = in_user(addr, page_up(len)).ok_or(ENOMEM)?;
    let mut sp = space().lock();
    let mut va = addr;
    let mut pieces = Vec::new();
    while va < e {
        let a = sp.area_at(va).ok_or(ENOMEM)?;
        pieces.push((va, a.end.min(e), a.shared));
        va = a.end;
    }
    sp.cut(addr, e);
    for (s, e, shared) in pieces {
        sp.insert(s, e, prot & 7, shared);
    }
    let flags = pte_flags(prot & 7);
    let mut va = addr;
    while va < e {
        let Some(p) = paging::pte(va, false) else {
            va = next_table(va);
            continue;
        };
        // SAFETY: p is the level-1 entry of an app page.
        let v = unsafe { p.read_volatile() };
        if v & (P | KEPT) != 0 {
            // A shared frame stays read-only until its first write (`fault`).
            let nv = if v & COW != 0 { ((v & ADDR) | flags | COW) & !W } else { (v & ADDR) | flags };
            // SAFETY: as above; same frame, new rights.
            unsafe { p.write_volatile(nv) };
            cpu::invlpg(va);
        }
        va += PAGE;
    }
    Ok(())
}

/// madvise(MADV_DONTNEED): the pages read as zero afterwards.
pub fn discard(addr: usize, len: usize) -> Result<(), Errno> {
    if !addr.is_multiple_of(PAGE) {
        return Err(EINVAL);
    }
    let e = in_user(addr, page_up(len)).ok_or(EINVAL)?;
    let _sp = space().lock();
    drop_pages(addr, e);
    Ok(())
}

/// Gives every page of area `a` (of the loaded space) a frame, zeroed, with the area's rights;
/// None when memory ran out.
fn populate(a: &Area) -> Option<()> {
    let mut va = a.start;
    while va < a.end {
        let p = paging::pte(va, true)?;
        // SAFETY: p is the level-1 entry of an app page; the caller holds the space lock.
        let v = unsafe { p.read_volatile() };
        if v & (P | KEPT) == 0 {
            let pa = frames::alloc_zeroed_for_app()?;
            // SAFETY: as above; a fresh frame of this process.
            unsafe { p.write_volatile(pa as u64 | paging::enc() | pte_flags(a.prot)) };
        }
        va += PAGE;
    }
    Some(())
}

/// What [`fault`] did.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The page is now mapped with the needed rights.
    Mapped,
    /// No mapping allows the access (SIGSEGV).
    Denied,
    /// A page was due but memory is exhausted (the kernel's reserve excepted): the process
    /// is ended as Linux's OOM killer would end it.
    NoMemory,
}

/// Serves a page fault at `va`.
pub fn fault(va: usize, write: bool, exec: bool) -> Fault {
    if va >= USER_TOP {
        return Fault::Denied;
    }
    // No code that holds this lock touches app memory, so a fault never finds it taken.
    let sp = space().lock();
    let Some(a) = sp.area_at(va) else { return Fault::Denied };
    let ok = if write {
        a.prot & PROT_WRITE != 0
    } else if exec {
        a.prot & PROT_EXEC != 0
    } else {
        a.prot != 0
    };
    if !ok {
        return Fault::Denied;
    }
    let page = va & !(PAGE - 1);
    let Some(p) = paging::pte(page, true) else { return Fault::NoMemory };
    // SAFETY: p is the level-1 entry of this app page; we hold the space lock.
    let mut v = unsafe { p.read_volatile() };
    if v & COW != 0 && !write {
        // A read of a shared page that was PROT_NONE: map it read-only, still shared.
        // SAFETY: as above.
        unsafe { p.write_volatile(((v & ADDR) | pte_flags(a.prot) | COW) & !W) };
        cpu::invlpg(page);
        return Fault::Mapped;
    }
    if v & COW != 0 {
        // SAFETY: p is this page's level-1 entry, marked COW.
        match unsafe { paging::unshare(p) } {
            Some(nv) => v = nv,
            None => return Fault::NoMemory,
        }
    }
    let frame = if v & (P | KEPT) != 0 {
        v & ADDR
    } else {
        match frames::alloc_zeroed_for_app() {
            Some(pa) => pa as u64 | paging::enc(),
            None => return Fault::NoMemory,
        }
    };
    // SAFETY: as above.
    unsafe { p.write_volatile(frame | pte_flags(a.prot)) };
    cpu::invlpg(page);
    Fault::Mapped
}
