//! The app's memory map as the library OS made it: every range it mapped for the app, with its
//! protection and, for file mappings and the loader's segments, the image path it came from.
//! It serves `/proc/self/maps` (without the runtime's own mappings or any host path) and the
//! `[policy.limits] memory` accounting (bytes mapped at once, as RLIMIT_AS counts them).
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::abi::PAGE_SIZE;
use crate::chunkvec::ChunkVec;

/// One mapped range `[start, end)` (`start` is kept beside it in the map).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    pub end: usize,
    /// PROT_* bits.
    pub prot: u32,
    pub shared: bool,
    /// Image path (or `[heap]`, `[stack]`) and the file offset of `start`.
    pub name: Option<Arc<Vec<u8>>>,
    pub offset: u64,
}

/// The set of the app's mappings, non-overlapping.
///
/// The mappings are a vector sorted by start address, highest first, searched by bisection
/// (`partition_point`): a few straight instructions where a `BTreeMap`'s search, insertion and
/// range walks were inlined into every method (under emulation each copy of code is
/// translated once, so code size is boot time). The vector is kept in chunks
/// ([`ChunkVec`]) so that a change moves at most a chunk's entries however many mappings
/// there are (a flat vector made an munmap + mmap 3.5x dearer at 5,000 mappings and 10x at
/// 20,000: bench/RESULTS-issue17-kvm14.md). Highest first because the host (and the kvm
/// kernel) place new mappings top-down, below the ones before them: an insertion then
/// lands in the last chunk.
///
/// The newest mapping is kept beside the vector (`fresh`) until the next change of the map: an
/// mmap followed by the munmap of the same range (a malloc's large block, a scratch buffer)
/// then costs one search instead of a search, an insertion and a removal. Every reader
/// below sees `fresh` as one of the map's entries; every other change puts it into the vector
/// first ([`MemMap::settle`]).
#[derive(Clone, Default)]
pub struct MemMap {
    /// `(start, mapping)`, sorted by `start` in decreasing order, non-overlapping.
    map: ChunkVec<(usize, Vma)>,
    /// A recorded mapping not (yet) in `map`, overlapping none of `map`'s.
    fresh: Option<(usize, Vma)>,
    /// `[lo, hi)` that no mapping of `map` meets, as the last overlap check of
    /// [`MemMap::insert`] proved (empty: nothing proven). Only an insertion into `map` can
    /// make it wrong (a removal or a split leaves it free), so [`MemMap::settle`] forgets it.
    /// An mmap where the last one was (the mmap + munmap pair, a malloc's large block again)
    /// then costs no search at all.
    free: (usize, usize),
    total: usize,
    /// Whether the map holds all of the app's memory (the library OS loaded the program), so
    /// memory it does not know was never mapped; otherwise such memory is not judged.
    complete: bool,
}

/// How many neighbouring mappings [`MemMap::run_around`] looks at on each side (it runs under
/// the map's lock: a bound on the walk, not on what the map may hold).
pub const RUN_STEPS: usize = 8;

fn page_up(v: usize) -> usize {
    v.saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

impl MemMap {
    /// Declares that the map holds every mapping of the app (the loader calls it before it maps
    /// a program): from then on [`MemMap::accessible`] treats unknown memory as never mapped.
    pub fn set_complete(&mut self) {
        self.complete = true;
    }

    /// Bytes mapped now.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The index in `map` of the entry with the greatest start at or below `x` (`map.len()`:
    /// none); every entry before it starts above `x`. The one search of the map, kept out of
    /// line so that its code is one copy (see the type's docs).
    #[inline(never)]
    fn at_or_below(&self, x: usize) -> usize {
        self.map.partition_point(|e| e.0 > x)
    }

    /// The index in `map` of the entry with the greatest start below `x` (`map.len()`: none);
    /// every entry before it starts at or above `x`.
    fn below(&self, x: usize) -> usize {
        match x.checked_sub(1) {
            Some(y) => self.at_or_below(y),
            None => self.map.len(),
        }
    }

    /// Puts `(s, v)` at index `i` of `map` (the caller found where the order wants it); one
    /// copy of the vector's insertion.
    #[inline(never)]
    fn put(&mut self, i: usize, s: usize, v: Vma) {
        self.map.insert(i, (s, v));
    }

    /// The indices in `map` of the entries that start in `[lo, hi)` (highest first, as stored).
    fn within(&self, lo: usize, hi: usize) -> core::ops::Range<usize> {
        let a = self.below(hi);
        a..self.below(lo).max(a)
    }

    /// Puts the mapping kept beside the vector into it (see the type's docs); the map holds the
    /// same ranges before and after.
    fn settle(&mut self) {
        if let Some((s, v)) = self.fresh.take() {
            // `fresh` overlaps no entry, so none starts at `s`: the order stays strict.
            let i = self.at_or_below(s);
            self.put(i, s, v);
            self.free = (0, 0);
        }
    }

    /// The recorded mapping with the greatest start at or below `x`.
    fn last_from_or_below(&self, x: usize) -> Option<(usize, &Vma)> {
        let tree = self.map.get(self.at_or_below(x)).map(|(s, v)| (*s, v));
        match (&self.fresh, tree) {
            (Some((fs, fv)), t) if *fs <= x && t.is_none_or(|(ts, _)| ts < *fs) => Some((*fs, fv)),
            (_, t) => t,
        }
    }

    /// The recorded mappings that start in `[lo, hi)` (`lo <= hi`), in address order.
    fn starting_in(&self, lo: usize, hi: usize) -> impl Iterator<Item = (usize, &Vma)> {
        let mut fresh = self.fresh.as_ref().filter(|(s, _)| lo <= *s && *s < hi).map(|(s, v)| (*s, v));
        // Indices from the end of the span down: addresses upwards.
        let r = self.within(lo, hi);
        let mut i = r.end;
        let mut tree = core::iter::from_fn(move || {
            i = i.checked_sub(1).filter(|&i| i >= r.start)?;
            self.map.get(i).map(|(s, v)| (*s, v))
        })
        .peekable();
        core::iter::from_fn(move || match (fresh, tree.peek()) {
            (Some(f), Some(&(ts, _))) if f.0 < ts => fresh.take(),
            (Some(_), None) => fresh.take(),
            _ => tree.next(),
        })
    }

    /// Makes `addr` a boundary: a range that spans it is cut in two. The caller settled.
    /// Out of line: each of its six callers' two copies would be code of its own.
    #[inline(never)]
    fn split(&mut self, addr: usize) {
        let i = self.below(addr);
        let Some((s, v)) = self.map.get_mut(i) else { return };
        if v.end <= addr {
            return;
        }
        let mut hi = v.clone();
        hi.offset += (addr - *s) as u64;
        v.end = addr;
        // Entries before `i` start at or above `addr` (none at it: `v` spans it).
        self.put(i, addr, hi);
    }

    /// How many bytes from `ptr` (at most `len`) the app may access as the call needs
    /// (`write`: the call writes them, so PROT_WRITE; a read: any protection but PROT_NONE, as
    /// x86 reads every other mapping): the mapped prefix of `[ptr, ptr + len)` whose mappings
    /// allow it. Memory the app never mapped (or unmapped) ends the prefix, as it faults, once
    /// the map is complete ([`MemMap::set_complete`]); before, only known mappings are judged.
    pub fn accessible(&self, ptr: usize, len: usize, write: bool) -> usize {
        if len == 0 {
            return 0;
        }
        let end = ptr.saturating_add(len);
        let ok = |v: &Vma| if write { v.prot & crate::abi::PROT_WRITE != 0 } else { v.prot != 0 };
        let mut at = ptr;
        if let Some((_, first)) = self.last_from_or_below(ptr).filter(|(_, v)| v.end > ptr) {
            if !ok(first) {
                return 0;
            }
            at = first.end.min(end);
        } else if self.complete {
            return 0;
        }
        for (s, v) in self.starting_in(ptr.saturating_add(1), end) {
            if s > at && self.complete {
                break;
            }
            if !ok(v) {
                at = at.max(s);
                break;
            }
            at = v.end.min(end);
        }
        if at >= end || (!self.complete && self.starting_in(at, end).next().is_none()) {
            return len;
        }
        at - ptr
    }

    /// Whether an access to `[ptr, ptr + len)` faults somewhere: part of it lies in memory the
    /// app never mapped, or in a mapping without the access (see [`MemMap::accessible`]).
    pub fn denies(&self, ptr: usize, len: usize, write: bool) -> bool {
        len != 0 && self.accessible(ptr, len, write) < len
    }

    /// Bytes of `[lo, hi)` already mapped.
    pub fn mapped_in(&self, lo: usize, len: usize) -> usize {
        let hi = lo.saturating_add(page_up(len));
        let mut n = 0;
        if let Some((_, v)) = self.last_from_or_below(lo.saturating_sub(1)).filter(|&(s, _)| s < lo) {
            if v.end > lo {
                n += v.end.min(hi) - lo;
            }
        }
        for (s, v) in self.starting_in(lo, hi) {
            n += v.end.min(hi) - s;
        }
        n
    }

    /// Whether every page of `[lo, lo+len)` is mapped, as far as the map can tell: always true
    /// before the map is complete ([`MemMap::set_complete`]).
    pub fn fully_mapped(&self, lo: usize, len: usize) -> bool {
        !self.complete || self.mapped_in(lo, len) == page_up(len)
    }

    /// [`MemMap::remove`] with its most common case inline: the munmap of the newest mapping,
    /// whole (for the app's munmap, whose code after the host call is kept in one function:
    /// `shim::mem::hot`).
    #[inline(always)]
    pub fn remove_inline(&mut self, lo: usize, len: usize) -> usize {
        let hi = lo.saturating_add(page_up(len));
        match self.take_fresh(lo, hi) {
            Some(n) => n,
            None => self.remove_settled(lo, hi),
        }
    }

    /// The munmap of the newest mapping, whole: forgets it (nothing in the vector changes) and
    /// returns its bytes; None for any other range.
    #[inline(always)]
    fn take_fresh(&mut self, lo: usize, hi: usize) -> Option<usize> {
        match &self.fresh {
            Some((s, v)) if *s == lo && v.end == hi && lo < hi => {
                self.fresh = None;
                self.total -= hi - lo;
                Some(hi - lo)
            }
            _ => None,
        }
    }

    /// Forgets `[lo, lo+len)` (munmap); returns the bytes that were mapped there.
    pub fn remove(&mut self, lo: usize, len: usize) -> usize {
        let hi = lo.saturating_add(page_up(len));
        match self.take_fresh(lo, hi) {
            Some(n) => n,
            None => self.remove_settled(lo, hi),
        }
    }

    /// [`MemMap::remove`] of `[lo, hi)` (page-aligned end) once [`MemMap::take_fresh`] said
    /// it is not the newest mapping, whole.
    fn remove_settled(&mut self, lo: usize, hi: usize) -> usize {
        self.settle();
        // The common munmap: exactly one recorded mapping, from its start to its end (mappings
        // do not overlap, so nothing else meets the range): one search.
        if lo < hi {
            let i = self.at_or_below(lo);
            if self.map.get(i).is_some_and(|(s, v)| *s == lo && v.end == hi) {
                self.map.remove(i);
                self.total -= hi - lo;
                return hi - lo;
            }
        }
        if !self.overlaps(lo, hi) {
            return 0;
        }
        self.split(lo);
        self.split(hi);
        // After the splits the entries that start in the range lie wholly inside it.
        let r = self.within(lo, hi);
        let mut n = 0;
        for _ in r.clone() {
            let (s, v) = self.map.remove(r.start);
            n += v.end - s;
        }
        self.total -= n;
        n
    }

    /// Whether any recorded mapping meets `[lo, hi)`: one search (the last mapping that starts
    /// below `hi`, since mappings do not overlap). A new mapping where the host found room,
    /// the common case of mmap, meets none and needs no splitting.
    fn overlaps(&self, lo: usize, hi: usize) -> bool {
        lo < hi
            && (self.map.get(self.below(hi)).is_some_and(|(_, v)| v.end > lo)
                || self.fresh.as_ref().is_some_and(|(s, v)| *s < hi && v.end > lo))
    }

    /// [`MemMap::overlaps`] for [`MemMap::insert`] (the caller settled, so `fresh` is empty):
    /// answered without a lookup inside the range `free` holds, which a lookup
    /// that finds no overlap renews: no mapping of the vector starting below `hi` reaches past
    /// the end of the last one that does.
    fn meets(&mut self, lo: usize, hi: usize) -> bool {
        debug_assert!(self.fresh.is_none());
        if lo >= hi {
            return false;
        }
        if self.free.0 <= lo && hi <= self.free.1 {
            return false;
        }
        let below = self.map.get(self.below(hi)).map_or(0, |(_, v)| v.end);
        if below > lo {
            return true;
        }
        self.free = (below, hi);
        false
    }

    /// [`MemMap::insert`] with its most common case inline: a mapping where the last one was
    /// (in the range `free` holds) while no other waits beside the vector (for the app's mmap:
    /// `shim::mem::hot`).
    #[inline(always)]
    pub fn insert_inline(
        &mut self,
        lo: usize,
        len: usize,
        prot: u32,
        shared: bool,
        name: Option<Arc<Vec<u8>>>,
        offset: u64,
    ) {
        let end = lo.saturating_add(page_up(len));
        if self.fresh.is_none() && lo < end && self.free.0 <= lo && end <= self.free.1 {
            self.fresh = Some((lo, Vma { end, prot, shared, name, offset }));
            self.total += end - lo;
            return;
        }
        self.insert(lo, len, prot, shared, name, offset)
    }

    /// Records a new mapping at `[lo, lo+len)`, replacing what was there (MAP_FIXED).
    pub fn insert(&mut self, lo: usize, len: usize, prot: u32, shared: bool, name: Option<Arc<Vec<u8>>>, offset: u64) {
        let end = lo.saturating_add(page_up(len));
        self.settle();
        // A new mapping where the host found room (the common mmap) meets nothing: one lookup
        // (or none, in the range the last one proved free) says so, and nothing needs removing.
        if self.meets(lo, end) {
            self.remove(lo, len);
        }
        if lo < end {
            self.fresh = Some((lo, Vma { end, prot, shared, name, offset }));
        }
        self.total += end - lo;
    }

    /// Changes the protection of the mapped parts of `[lo, lo+len)` (mprotect).
    pub fn protect(&mut self, lo: usize, len: usize, prot: u32) {
        let hi = lo.saturating_add(page_up(len));
        self.settle();
        self.split(lo);
        self.split(hi);
        let r = self.within(lo, hi);
        for i in r {
            if let Some((_, v)) = self.map.get_mut(i) {
                v.prot = prot;
            }
        }
    }

    /// Names the mapped parts of `[lo, lo+len)` (the loader's segments, the stack).
    pub fn name(&mut self, lo: usize, len: usize, name: Arc<Vec<u8>>, offset: u64) {
        let hi = lo.saturating_add(page_up(len));
        self.settle();
        self.split(lo);
        self.split(hi);
        let r = self.within(lo, hi);
        for i in r {
            if let Some((s, v)) = self.map.get_mut(i) {
                v.name = Some(name.clone());
                v.offset = offset + (*s - lo) as u64;
            }
        }
    }

    /// Forgets everything (execve removed the old program's memory).
    pub fn clear(&mut self) {
        self.map.clear();
        self.fresh = None;
        self.total = 0;
    }

    /// The ranges in address order, neighbours with the same attributes merged (as the
    /// kernel merges its VMAs).
    pub fn ranges(&self) -> Vec<(usize, Vma)> {
        let mut out: Vec<(usize, Vma)> = Vec::new();
        for (s, v) in self.starting_in(0, usize::MAX) {
            if let Some((ps, pv)) = out.last_mut() {
                let contiguous_offset = pv.name.is_none() || pv.offset + (pv.end - *ps) as u64 == v.offset;
                if pv.end == s && pv.prot == v.prot && pv.shared == v.shared && pv.name == v.name && contiguous_offset {
                    pv.end = v.end;
                    continue;
                }
            }
            out.push((s, v.clone()));
        }
        out
    }

    /// The range that contains `addr`, if any.
    pub fn find(&self, addr: usize) -> Option<(usize, &Vma)> {
        self.last_from_or_below(addr).filter(|(_, v)| v.end > addr)
    }

    /// The widest range `[lo, hi)` around `addr` made of adjacent mappings (each starting where
    /// the one before ends, at most [`RUN_STEPS`] on either side of `addr`'s) that all grant
    /// the access `addr`'s mapping grants, and whether that is write: `(lo, hi, writable)`.
    /// None when no mapping holds `addr` or it grants none (PROT_NONE). Every byte of the
    /// range may be read, and written when `writable`, as [`MemMap::accessible`] judges.
    pub fn run_around(&self, addr: usize) -> Option<(usize, usize, bool)> {
        let (start, first) = self.find(addr)?;
        if first.prot == 0 {
            return None;
        }
        let writable = first.prot & crate::abi::PROT_WRITE != 0;
        let same = |v: &Vma| v.prot != 0 && (v.prot & crate::abi::PROT_WRITE != 0) == writable;
        let mut lo = start;
        // The entries below `start`, nearest first; then those from `first.end` up.
        let below = self.below(start);
        for (s, v) in (below..below.saturating_add(RUN_STEPS)).map_while(|i| self.map.get(i)) {
            if v.end != lo || !same(v) {
                break;
            }
            lo = *s;
        }
        let mut hi = first.end;
        let above = self.below(first.end);
        for (s, v) in (above.saturating_sub(RUN_STEPS)..above).rev().filter_map(|i| self.map.get(i)) {
            if *s != hi || !same(v) {
                break;
            }
            hi = v.end;
        }
        Some((lo, hi, writable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_around_joins_adjacent_mappings_of_one_access_only() {
        let mut m = MemMap::default();
        assert_eq!(m.run_around(0x10000), None);
        m.insert(0x10000, 0x1000, 1, false, None, 0); // read-only
        m.insert(0x11000, 0x1000, 3, false, None, 0); // read-write, three of them
        m.insert(0x12000, 0x1000, 3, false, None, 0);
        m.insert(0x13000, 0x1000, 3, false, None, 0);
        m.insert(0x15000, 0x1000, 3, false, None, 0); // after a hole
        m.insert(0x16000, 0x1000, 0, false, None, 0); // PROT_NONE
        assert_eq!(m.run_around(0x12800), Some((0x11000, 0x14000, true)));
        assert_eq!(m.run_around(0x10000), Some((0x10000, 0x11000, false)));
        assert_eq!(m.run_around(0x15fff), Some((0x15000, 0x16000, true)));
        assert_eq!(m.run_around(0x16000), None);
        assert_eq!(m.run_around(0x14000), None);
    }

    #[test]
    fn run_around_walks_a_bounded_number_of_neighbours() {
        let mut m = MemMap::default();
        let n = 2 * RUN_STEPS + 5;
        for i in 0..n {
            m.insert(0x100000 + i * 0x1000, 0x1000, 3, false, None, 0);
        }
        let mid = 0x100000 + (RUN_STEPS + 2) * 0x1000;
        let (lo, hi, w) = m.run_around(mid).unwrap();
        assert!(w);
        assert_eq!(lo, mid - RUN_STEPS * 0x1000);
        assert_eq!(hi, mid + (RUN_STEPS + 1) * 0x1000);
    }

    #[test]
    fn insert_remove_protect_account_bytes() {
        let mut m = MemMap::default();
        m.insert(0x10000, 0x4000, 3, false, None, 0);
        assert_eq!(m.total(), 0x4000);
        m.protect(0x11000, 0x1000, 5);
        assert_eq!(m.ranges().len(), 3);
        assert_eq!(m.remove(0x13000, 0x10000), 0x1000);
        assert_eq!(m.total(), 0x3000);
        m.insert(0x10000, 0x1000, 3, false, None, 0);
        assert_eq!(m.total(), 0x3000);
        assert_eq!(m.mapped_in(0xf000, 0x3000), 0x2000);
        m.protect(0x11000, 0x1000, 3);
        assert_eq!(m.ranges().len(), 1);
        assert!(m.find(0x12fff).is_some());
        assert!(m.find(0x13000).is_none());
    }

    #[test]
    fn removing_exactly_one_mapping_leaves_its_neighbours() {
        let mut m = MemMap::default();
        m.insert(0x10000, 0x1000, 3, false, None, 0);
        m.insert(0x11000, 0x2000, 1, false, None, 0);
        m.insert(0x13000, 0x1000, 3, false, None, 0);
        // The whole middle mapping, with its length not a page multiple (munmap rounds up).
        assert_eq!(m.remove(0x11000, 0x1001), 0x2000);
        assert_eq!(m.total(), 0x2000);
        assert!(m.find(0x10fff).is_some_and(|(s, v)| s == 0x10000 && v.end == 0x11000));
        assert!(m.find(0x11000).is_none() && m.find(0x12fff).is_none());
        assert!(m.find(0x13000).is_some_and(|(s, v)| s == 0x13000 && v.end == 0x14000));
        // A start that is a mapping's but a shorter length still cuts it.
        assert_eq!(m.remove(0x10000, 0), 0);
        m.insert(0x20000, 0x3000, 3, false, None, 0);
        assert_eq!(m.remove(0x20000, 0x1000), 0x1000);
        assert!(m.find(0x21000).is_some_and(|(s, v)| s == 0x21000 && v.end == 0x23000));
        assert_eq!(m.total(), 0x4000);
    }

    #[test]
    fn a_range_from_a_mappings_start_past_its_end_and_a_fixed_insert_over_mappings() {
        let mut m = MemMap::default();
        m.insert(0x10000, 0x1000, 3, false, None, 0);
        m.insert(0x11000, 0x2000, 1, false, None, 0);
        // From the first mapping's start over the whole of both: neither is put back.
        assert_eq!(m.remove(0x10000, 0x3000), 0x3000);
        assert_eq!((m.total(), m.ranges().len()), (0, 0));
        // A MAP_FIXED insert over the tail of one mapping and the head of the next replaces
        // exactly that part.
        m.insert(0x20000, 0x2000, 3, false, None, 0);
        m.insert(0x22000, 0x2000, 3, false, None, 0);
        m.insert(0x21000, 0x2000, 1, false, None, 0);
        assert_eq!(m.total(), 0x4000);
        assert!(m.find(0x20000).is_some_and(|(s, v)| s == 0x20000 && v.end == 0x21000 && v.prot == 3));
        assert!(m.find(0x22fff).is_some_and(|(s, v)| s == 0x21000 && v.end == 0x23000 && v.prot == 1));
        assert!(m.find(0x23000).is_some_and(|(s, v)| s == 0x23000 && v.end == 0x24000 && v.prot == 3));
        // The same range again: an exact replacement.
        m.insert(0x21000, 0x2000, 3, false, None, 0);
        assert_eq!(m.total(), 0x4000);
        assert_eq!(m.ranges().len(), 1);
    }

    #[test]
    fn accessible_stops_at_holes_and_missing_access() {
        let mut m = MemMap::default();
        m.set_complete();
        m.insert(0x10000, 0x2000, 3, false, None, 0);
        m.insert(0x12000, 0x1000, 1, false, None, 0);
        m.insert(0x14000, 0x1000, 3, false, None, 0);
        assert_eq!(m.accessible(0x10800, 0x1000, true), 0x1000);
        assert_eq!(m.accessible(0x11000, 0x2000, true), 0x1000);
        assert_eq!(m.accessible(0x11000, 0x2000, false), 0x2000);
        assert_eq!(m.accessible(0x12800, 0x2000, false), 0x800);
        assert_eq!(m.accessible(0x13000, 0x10, false), 0);
        assert_eq!(m.accessible(0xf000, 0x10, false), 0);
        assert!(m.denies(0x13ff0, 0x20, false));
        assert!(!m.denies(0x14000, 0x1000, true));
        assert!(!m.denies(0x13000, 0, true));
        m.protect(0x10000, 0x1000, 0);
        assert!(m.denies(0x10000, 1, false));
    }

    #[test]
    fn before_the_program_is_loaded_unknown_memory_is_not_judged() {
        let mut m = MemMap::default();
        m.insert(0x10000, 0x1000, 0, false, None, 0);
        m.insert(0x12000, 0x1000, 1, false, None, 0);
        assert_eq!(m.accessible(0x8000, 0x1000, true), 0x1000);
        assert_eq!(m.accessible(0xf000, 0x2000, false), 0x1000);
        assert_eq!(m.accessible(0x11000, 0x2000, false), 0x2000);
        assert_eq!(m.accessible(0x11000, 0x2000, true), 0x1000);
        assert!(!m.denies(0x11000, 0x1000, true));
    }

    /// Page-level model of a memory map: each of 64 pages unmapped (None) or with its
    /// protection; the map must answer every question as the model does, whichever mapping is
    /// the one kept beside the vector.
    #[test]
    fn every_answer_matches_a_page_model_across_random_changes() {
        const PAGES: usize = 64;
        const BASE: usize = 0x40_0000;
        let page = |i: usize| BASE + i * PAGE_SIZE;
        let mut next = crate::testrng::xorshift(0x9e37_79b9_7f4a_7c15);
        let mut m = MemMap::default();
        m.set_complete();
        let mut model: [Option<u32>; PAGES] = [None; PAGES];
        for step in 0..4000 {
            let lo = next(PAGES);
            let n = 1 + next((PAGES - lo).min(6));
            let prot = [0, 1, 3, 5][next(4)];
            match next(5) {
                0 | 1 => {
                    m.insert(page(lo), n * PAGE_SIZE, prot, false, None, 0);
                    model[lo..lo + n].fill(Some(prot));
                }
                2 => {
                    let had = model[lo..lo + n].iter().filter(|p| p.is_some()).count();
                    assert_eq!(m.remove(page(lo), n * PAGE_SIZE), had * PAGE_SIZE, "step {step}");
                    model[lo..lo + n].fill(None);
                }
                3 => {
                    m.protect(page(lo), n * PAGE_SIZE, prot);
                    for p in model[lo..lo + n].iter_mut().flatten() {
                        *p = prot;
                    }
                }
                _ => {
                    // Whole pages exactly as natively: a munmap of one whole mapping just made.
                    m.insert(page(lo), n * PAGE_SIZE, prot, false, None, 0);
                    assert_eq!(m.remove(page(lo), n * PAGE_SIZE), n * PAGE_SIZE, "step {step}");
                    model[lo..lo + n].fill(None);
                }
            }
            let mapped = model.iter().filter(|p| p.is_some()).count();
            assert_eq!(m.total(), mapped * PAGE_SIZE, "step {step}");
            let (a, len) = (next(PAGES), 1 + next(8));
            let len = len.min(PAGES - a);
            let in_model = model[a..a + len].iter().filter(|p| p.is_some()).count();
            assert_eq!(m.mapped_in(page(a), len * PAGE_SIZE), in_model * PAGE_SIZE, "step {step}");
            assert_eq!(m.find(page(a) + 8).map(|(_, v)| v.prot), model[a], "step {step}");
            for write in [false, true] {
                let ok = |p: &Option<u32>| p.is_some_and(|p| if write { p & 2 != 0 } else { p != 0 });
                let want = model[a..a + len].iter().take_while(|p| ok(p)).count() * PAGE_SIZE;
                assert_eq!(m.accessible(page(a), len * PAGE_SIZE, write), want, "step {step} write {write}");
            }
            let pages_in_ranges: usize = m.ranges().iter().map(|(s, v)| (v.end - s) / PAGE_SIZE).sum();
            assert_eq!(pages_in_ranges, mapped, "step {step}");
            // The vector stays sorted, highest first, without overlaps (and so without a
            // duplicate start), and the mapping beside it meets none of its entries.
            let all: Vec<_> = m.map.iter().collect();
            assert!(all.windows(2).all(|w| w[1].0 < w[1].1.end && w[1].1.end <= w[0].0), "step {step}");
            if let Some((s, v)) = &m.fresh {
                assert!(all.iter().all(|(t, w)| w.end <= *s || v.end <= *t), "step {step}");
            }
            for (s, v) in m.ranges() {
                let (i, j) = ((s - BASE) / PAGE_SIZE, (v.end - BASE) / PAGE_SIZE);
                assert!(model[i..j].iter().all(|p| *p == Some(v.prot)), "step {step}");
            }
        }
    }

    #[test]
    fn mappings_made_top_down_bottom_up_or_scattered_read_back_in_address_order() {
        const N: usize = 300;
        let at = |i: usize| 0x1000_0000 + i * 0x3000;
        let orders: [&dyn Fn(usize) -> usize; 3] = [&|k| N - 1 - k, &|k| k, &|k| (k * 7919) % N];
        for order in orders {
            let mut m = MemMap::default();
            m.set_complete();
            for k in 0..N {
                let i = order(k);
                m.insert(at(i), 0x2000, if i % 2 == 0 { 3 } else { 1 }, false, None, 0);
            }
            assert_eq!(m.total(), N * 0x2000);
            let r = m.ranges();
            assert_eq!(r.len(), N);
            assert!(r.iter().enumerate().all(|(i, (s, v))| *s == at(i) && v.end == at(i) + 0x2000));
            for i in 0..N {
                assert_eq!(m.find(at(i) + 0x1fff).map(|(s, _)| s), Some(at(i)));
                assert!(m.find(at(i) + 0x2000).is_none());
                assert_eq!(m.accessible(at(i), 0x3000, false), 0x2000);
            }
            // Every other one unmapped (whole), then a munmap over several at once.
            for i in (0..N).step_by(2) {
                assert_eq!(m.remove(at(i), 0x2000), 0x2000);
            }
            assert_eq!(m.remove(at(11), 4 * 0x3000), 2 * 0x2000);
            assert_eq!(m.total(), (N / 2 - 2) * 0x2000);
            assert!(m.find(at(11)).is_none() && m.find(at(13)).is_none() && m.find(at(15)).is_some());
            assert_eq!(m.accessible(at(9), 0x4000, true), 0);
            assert_eq!(m.run_around(at(15)), Some((at(15), at(15) + 0x2000, false)));
        }
    }

    #[test]
    fn the_newest_mapping_is_seen_before_it_enters_the_vector() {
        let mut m = MemMap::default();
        m.set_complete();
        m.insert(0x10000, 0x1000, 3, false, None, 0);
        m.insert(0x12000, 0x1000, 1, false, None, 0);
        // 0x12000 is the newest: every reader sees it, and a munmap of part of it splits it.
        assert_eq!(m.find(0x12000).map(|(s, v)| (s, v.end, v.prot)), Some((0x12000, 0x13000, 1)));
        assert_eq!(m.ranges().len(), 2);
        assert_eq!(m.accessible(0x12000, 0x1000, false), 0x1000);
        assert_eq!(m.accessible(0x12000, 0x1000, true), 0);
        assert_eq!(m.mapped_in(0x10000, 0x3000), 0x2000);
        m.insert(0x11000, 0x1000, 3, false, None, 0);
        assert_eq!(m.ranges().len(), 2, "0x10000 and 0x11000 merge as neighbours");
        assert_eq!(m.remove(0x11000, 0x2000), 0x2000);
        assert_eq!(m.total(), 0x1000);
        assert_eq!(m.ranges(), [(0x10000, Vma { end: 0x11000, prot: 3, shared: false, name: None, offset: 0 })]);
    }

    #[test]
    fn a_range_proven_free_is_forgotten_when_the_vector_gains_a_mapping() {
        let rw = |s: usize, e: usize| (s, Vma { end: e, prot: 3, shared: false, name: None, offset: 0 });
        let mut m = MemMap::default();
        m.insert(0x10000, 0x1000, 3, false, None, 0);
        m.insert(0x20000, 0x1000, 3, false, None, 0);
        // The mmap + munmap pair below 0x20000: proven free once, then answered from that.
        for _ in 0..3 {
            m.insert(0x1f000, 0x1000, 3, false, None, 0);
            assert_eq!(m.remove(0x1f000, 0x1000), 0x1000);
        }
        m.insert(0x1e000, 0x1000, 3, false, None, 0);
        assert_eq!(m.ranges(), [rw(0x10000, 0x11000), rw(0x1e000, 0x1f000), rw(0x20000, 0x21000)]);
        // 0x1e000 enters the vector when the next mapping is recorded: a MAP_FIXED over
        // 0x1d000-0x1f800, inside the range proven free before, must replace it, not sit
        // beside it.
        m.insert(0x1d000, 0x2800, 1, false, None, 0);
        m.insert(0x30000, 0x1000, 3, false, None, 0);
        assert_eq!(m.total(), 0x6000);
        assert_eq!(m.mapped_in(0x1d000, 0x3000), 0x3000);
        assert_eq!(m.find(0x1e800).map(|(s, v)| (s, v.end, v.prot)), Some((0x1d000, 0x20000, 1)));
        assert_eq!(m.remove(0x1d000, 0x3000), 0x3000);
        assert_eq!(m.ranges(), [rw(0x10000, 0x11000), rw(0x20000, 0x21000), rw(0x30000, 0x31000)]);
    }
}
