//! The kernel heap: power-of-two size classes with free lists, bump-allocated from a virtual
//! region of the upper half and backed by frames as it grows.
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::null_mut;

use litebox_libos::sync::SpinMutex;

use crate::{frames, paging};

const HEAP_BASE: usize = 0xffff_c000_0000_0000;
const HEAP_MAX: usize = 1 << 30;
const CLASSES: usize = 40;

struct State {
    next: usize,
    committed: usize,
    free: [usize; CLASSES],
}

/// The global allocator.
pub struct Heap {
    state: SpinMutex<State>,
}

impl Default for Heap {
    fn default() -> Self {
        Self::new()
    }
}

impl Heap {
    /// An empty heap.
    pub const fn new() -> Self {
        Self { state: SpinMutex::new(State { next: HEAP_BASE, committed: HEAP_BASE, free: [0; CLASSES] }) }
    }

    fn class_of(layout: &Layout) -> Option<usize> {
        let size = layout.size().max(layout.align()).max(16);
        let c = size.next_power_of_two().trailing_zeros() as usize;
        (c < CLASSES).then_some(c)
    }
}

fn commit(from: usize, to: usize) -> bool {
    let mut va = from;
    while va < to {
        let Some(pa) = frames::alloc() else { return false };
        let Some(e) = paging::pte(va, true) else { return false };
        let nx = if crate::cpu::has_nx() { paging::NX } else { 0 };
        // SAFETY: e is the level-1 entry of a fresh heap page nobody maps yet.
        unsafe { e.write_volatile(pa as u64 | paging::enc() | paging::P | paging::W | nx) };
        va += frames::FRAME;
    }
    true
}

// SAFETY: blocks of class c are 2^c bytes, aligned to min(2^c, 4096) (or the layout's larger
// alignment when fresh), carved from a region only this allocator hands out.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(c) = Self::class_of(&layout) else { return null_mut() };
        let mut s = self.state.lock();
        let head = s.free[c];
        if head != 0 && layout.align() <= 4096 {
            // SAFETY: a free block stores the next link in its first word.
            s.free[c] = unsafe { *(head as *const usize) };
            return head as *mut u8;
        }
        let size = 1usize << c;
        let align = size.min(4096).max(layout.align());
        let start = s.next.next_multiple_of(align);
        let end = start + size;
        if end > HEAP_BASE + HEAP_MAX {
            return null_mut();
        }
        if end > s.committed {
            let to = end.next_multiple_of(64 * 1024);
            if !commit(s.committed, to) {
                return null_mut();
            }
            s.committed = to;
        }
        s.next = end;
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(c) = Self::class_of(&layout) else { return };
        let mut s = self.state.lock();
        // SAFETY: the block is ours again and at least 16 bytes.
        unsafe { *(ptr as *mut usize) = s.free[c] };
        s.free[c] = ptr as usize;
    }
}
