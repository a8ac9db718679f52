//! The parent's memory across a `fork` child that runs in its place (`spawn.rs`).
//!
//! A fork child here runs in the parent's address space on the parent's thread until it execs
//! or exits. Before it starts, [`Snapshot::take`] copies every private writable mapping of the
//! app (its data, bss, heap, stacks and anonymous maps) and the library OS's record of the
//! app's memory (the mapping list and the program break); [`Snapshot::restore`] puts all of it
//! back when the child is done, so whatever the child wrote, mapped, unmapped or protected in
//! between is gone for the parent, as if the child had had its own copy. Shared mappings are
//! not copied (the child's writes there are the parent's, as on Linux). Read-only mappings keep
//! their bytes (the child cannot write them without an mprotect); their protection is put back.
use alloc::vec::Vec;

use litebox_libos::abi::{MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE};
use litebox_libos::vma::MemMap;
use litebox_libos::LibOs;

use crate::host::WinHost;
use crate::memory;

/// Bytes below a stack pointer that the x86-64 ABI lets a function use.
const RED_ZONE: usize = 128;
const PAGE: usize = 4096;

/// One private writable mapping's bytes at the fork (from `start` to the mapping's end).
struct Saved {
    start: usize,
    prot: u32,
    bytes: Vec<u8>,
}

/// What the parent's memory was at a fork.
pub struct Snapshot {
    map: MemMap,
    brk: (usize, usize, usize),
    saved: Vec<Saved>,
}

impl Snapshot {
    /// Copies the app's private writable memory and the library OS's memory records; of the
    /// mapping that holds the forking thread's stack pointer `sp`, only what lies above `sp`
    /// (less the red zone): below it the stack holds nothing the parent can use. Returns None
    /// when the copy does not fit in the runtime's heap (the fork then fails with ENOMEM).
    pub fn take(os: &LibOs<WinHost>, sp: usize) -> Option<Snapshot> {
        let mem = os.mem.lock();
        let map: MemMap = (*mem).clone();
        let mut saved = Vec::new();
        for (start, v) in map.ranges() {
            if v.shared || v.prot & PROT_WRITE == 0 || v.prot & PROT_READ == 0 {
                continue;
            }
            let start = if (start..v.end).contains(&sp) {
                (sp.saturating_sub(RED_ZONE) & !(PAGE - 1)).max(start)
            } else {
                start
            };
            let len = v.end - start;
            let mut bytes = Vec::new();
            bytes.try_reserve_exact(len).ok()?;
            // SAFETY: the range is a readable mapping of the app (the map says so, and the map
            // is locked, so no other thread unmaps it meanwhile).
            bytes.extend_from_slice(unsafe { core::slice::from_raw_parts(start as *const u8, len) });
            saved.push(Saved { start, prot: v.prot, bytes });
        }
        drop(mem);
        let b = os.brk.lock();
        let brk = (b.start, b.cur, b.mapped);
        Some(Snapshot { map, brk, saved })
    }

    /// Puts the parent's memory back: the child's new mappings are unmapped, the saved bytes
    /// written back (remapping what the child unmapped), protections and records restored.
    pub fn restore(self, os: &LibOs<WinHost>) {
        let mut mem = os.mem.lock();
        let keep: Vec<(usize, usize)> = self.map.ranges().iter().map(|(s, v)| (*s, v.end)).collect();
        for (s, v) in mem.ranges() {
            for (lo, hi) in outside(s, v.end, &keep) {
                let _ = memory::unmap(lo, hi - lo);
            }
        }
        for (start, v) in self.map.ranges() {
            let len = v.end - start;
            let not_saved = v.shared || v.prot & PROT_WRITE == 0 || v.prot & PROT_READ == 0;
            if not_saved && memory::protect(start, len, v.prot).is_err() {
                let _ = memory::map_anon(start, len, v.prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS);
            }
        }
        for s in &self.saved {
            let len = s.bytes.len();
            let rw = PROT_READ | PROT_WRITE;
            if memory::protect(s.start, len, rw).is_err()
                && memory::map_anon(s.start, len, rw, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS).is_err()
            {
                continue;
            }
            // SAFETY: the range is committed read-write app memory (just made so) of `len` bytes.
            unsafe { core::ptr::copy_nonoverlapping(s.bytes.as_ptr(), s.start as *mut u8, len) };
            if s.prot != rw {
                let _ = memory::protect(s.start, len, s.prot);
            }
        }
        *mem = self.map;
        drop(mem);
        let mut b = os.brk.lock();
        (b.start, b.cur, b.mapped) = self.brk;
    }
}

/// The parts of `[lo, hi)` that no range of `keep` (sorted, disjoint) covers.
fn outside(lo: usize, hi: usize, keep: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = lo;
    for &(s, e) in keep {
        if e <= at || s >= hi {
            continue;
        }
        if s > at {
            out.push((at, s));
        }
        at = at.max(e);
        if at >= hi {
            break;
        }
    }
    if at < hi {
        out.push((at, hi));
    }
    out
}
