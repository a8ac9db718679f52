//! The app's memory map as the library OS made it: every range it mapped for the app, with its
//! protection and, for file mappings and the loader's segments, the image path it came from.
//! It serves `/proc/self/maps` (without the runtime's own mappings or any host path) and the
//! `[policy.limits] memory` accounting (bytes mapped at once, as RLIMIT_AS counts them).
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::abi::PAGE_SIZE;

/// One mapped range `[start, end)` (the map's key is `start`).
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
#[derive(Clone, Default)]
pub struct MemMap {
    map: BTreeMap<usize, Vma>,
    total: usize,
}

fn page_up(v: usize) -> usize {
    v.saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

impl MemMap {
    /// Bytes mapped now.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Makes `addr` a boundary: a range that spans it is cut in two.
    fn split(&mut self, addr: usize) {
        let Some((&s, v)) = self.map.range(..addr).next_back() else { return };
        if v.end <= addr {
            return;
        }
        let mut hi = v.clone();
        hi.offset += (addr - s) as u64;
        self.map.get_mut(&s).expect("range just found").end = addr;
        self.map.insert(addr, hi);
    }

    /// Whether an access to `[ptr, ptr + len)` certainly faults: part of it lies in a mapping
    /// of the app without the access (`write`: no PROT_WRITE; a read: PROT_NONE, as x86 reads
    /// every other mapping). Memory the map does not know is not judged.
    pub fn denies(&self, ptr: usize, len: usize, write: bool) -> bool {
        if len == 0 {
            return false;
        }
        let end = ptr.saturating_add(len);
        let bad = |v: &Vma| if write { v.prot & crate::abi::PROT_WRITE == 0 } else { v.prot == 0 };
        if let Some((_, v)) = self.map.range(..=ptr).next_back() {
            if v.end > ptr && bad(v) {
                return true;
            }
        }
        self.map.range(ptr.saturating_add(1)..end).any(|(_, v)| bad(v))
    }

    /// Bytes of `[lo, hi)` already mapped.
    pub fn mapped_in(&self, lo: usize, len: usize) -> usize {
        let hi = lo.saturating_add(page_up(len));
        let mut n = 0;
        if let Some((_, v)) = self.map.range(..lo).next_back() {
            if v.end > lo {
                n += v.end.min(hi) - lo;
            }
        }
        for (&s, v) in self.map.range(lo..hi) {
            n += v.end.min(hi) - s;
        }
        n
    }

    /// Forgets `[lo, lo+len)` (munmap); returns the bytes that were mapped there.
    pub fn remove(&mut self, lo: usize, len: usize) -> usize {
        let hi = lo.saturating_add(page_up(len));
        self.split(lo);
        self.split(hi);
        let keys: Vec<usize> = self.map.range(lo..hi).map(|(&s, _)| s).collect();
        let mut n = 0;
        for s in keys {
            if let Some(v) = self.map.remove(&s) {
                n += v.end - s;
            }
        }
        self.total -= n;
        n
    }

    /// Records a new mapping at `[lo, lo+len)`, replacing what was there (MAP_FIXED).
    pub fn insert(&mut self, lo: usize, len: usize, prot: u32, shared: bool, name: Option<Arc<Vec<u8>>>, offset: u64) {
        let end = lo.saturating_add(page_up(len));
        self.remove(lo, len);
        self.map.insert(lo, Vma { end, prot, shared, name, offset });
        self.total += end - lo;
    }

    /// Changes the protection of the mapped parts of `[lo, lo+len)` (mprotect).
    pub fn protect(&mut self, lo: usize, len: usize, prot: u32) {
        let hi = lo.saturating_add(page_up(len));
        self.split(lo);
        self.split(hi);
        for (_, v) in self.map.range_mut(lo..hi) {
            v.prot = prot;
        }
    }

    /// Names the mapped parts of `[lo, lo+len)` (the loader's segments, the stack).
    pub fn name(&mut self, lo: usize, len: usize, name: Arc<Vec<u8>>, offset: u64) {
        let hi = lo.saturating_add(page_up(len));
        self.split(lo);
        self.split(hi);
        for (&s, v) in self.map.range_mut(lo..hi) {
            v.name = Some(name.clone());
            v.offset = offset + (s - lo) as u64;
        }
    }

    /// Forgets everything (execve removed the old program's memory).
    pub fn clear(&mut self) {
        self.map.clear();
        self.total = 0;
    }

    /// The ranges in address order, neighbours with the same attributes merged (as the
    /// kernel merges its VMAs).
    pub fn ranges(&self) -> Vec<(usize, Vma)> {
        let mut out: Vec<(usize, Vma)> = Vec::new();
        for (&s, v) in &self.map {
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
        self.map.range(..=addr).next_back().filter(|(_, v)| v.end > addr).map(|(&s, v)| (s, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
