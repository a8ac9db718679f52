//! A process's unreaped children: the pids it may wait for and signal.
//!
//! The first [`INLINE`] pids are stored in the list itself, so the lock that guards it
//! (`LibOs::children`) and the pids share one page. A fork's parent records its child right
//! after the host fork, when each page it writes costs a copy-on-write fault (and a TLB flush):
//! with the pids in a heap buffer that was one fault more per fork.
//!
//! [`ChildList`] goes one step further: a platform may offer a place in memory that a fork
//! writes in both processes anyway ([`crate::platform::Platform::children_slot`]: on
//! linux-userland the top page of the forking thread's runtime stack). While the process has
//! one thread the list moves there before a fork, so the parent's record of its new child and
//! its later reaping write no page of the library OS's heap: one copy-on-write fault (a page
//! allocation, a copy and a TLB flush) less per fork.
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::sync::{SpinGuard, SpinMutex};

/// How many pids live inline before the rest go to the heap.
pub const INLINE: usize = 14;

/// The pids of a process's unreaped children, in no particular order.
#[derive(Clone, Default)]
pub struct Children {
    inline: [i32; INLINE],
    len: usize,
    more: Vec<i32>,
}

impl Children {
    /// Records a new child.
    pub fn push(&mut self, pid: i32) {
        if self.len < INLINE {
            self.inline[self.len] = pid;
            self.len += 1;
        } else {
            self.more.push(pid);
        }
    }

    /// Keeps only the pids for which `keep` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(i32) -> bool) {
        let mut n = 0;
        for i in 0..self.len {
            if keep(self.inline[i]) {
                self.inline[n] = self.inline[i];
                n += 1;
            }
        }
        self.len = n;
        self.more.retain(|&p| keep(p));
        // Refill the inline part from the heap part.
        while self.len < INLINE {
            let Some(p) = self.more.pop() else { break };
            self.inline[self.len] = p;
            self.len += 1;
        }
    }

    /// Forgets every child (a fork child starts with none).
    pub fn clear(&mut self) {
        self.len = 0;
        self.more.clear();
    }

    /// Whether `pid` is a child.
    pub fn contains(&self, pid: i32) -> bool {
        self.iter().any(|p| p == pid)
    }

    /// Whether there is no child.
    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.more.is_empty()
    }

    /// Every child's pid.
    pub fn iter(&self) -> impl Iterator<Item = i32> + '_ {
        self.inline[..self.len].iter().chain(self.more.iter()).copied()
    }

    /// Every child's pid, copied out (to act on them without holding the lock).
    pub fn to_vec(&self) -> Vec<i32> {
        self.iter().collect()
    }
}

/// Bytes a platform's children slot must hold (see [`ChildList::move_to`]).
pub const SLOT_SIZE: usize = core::mem::size_of::<SpinMutex<Children>>();
/// Alignment a platform's children slot must have.
pub const SLOT_ALIGN: usize = core::mem::align_of::<SpinMutex<Children>>();

/// A process's [`Children`] behind their lock, kept either here or in a slot the platform
/// offers (see the module's documentation).
pub struct ChildList {
    own: SpinMutex<Children>,
    /// Address of the `SpinMutex<Children>` in use when it is not `own` (0: `own`).
    at: AtomicUsize,
}

impl Default for ChildList {
    fn default() -> Self {
        Self { own: SpinMutex::new(Children::default()), at: AtomicUsize::new(0) }
    }
}

impl ChildList {
    fn home(&self) -> &SpinMutex<Children> {
        match self.at.load(Ordering::Acquire) {
            0 => &self.own,
            // SAFETY: `move_to` stored the address of an initialised mutex in a slot that its
            // caller promised stays valid and unused by anything else for the process's life.
            at => unsafe { &*(at as *const SpinMutex<Children>) },
        }
    }

    /// Takes the lock on the list.
    pub fn lock(&self) -> SpinGuard<'_, Children> {
        self.home().lock()
    }

    /// The list without taking the lock, or None while it is locked.
    ///
    /// # Safety
    /// As [`SpinMutex::peek`]: no thread, this one included, may take the lock meanwhile.
    pub unsafe fn peek(&self) -> Option<&Children> {
        // SAFETY: the caller's promise is the one `peek` needs.
        unsafe { self.home().peek() }
    }

    /// Where the list is now (its mutex's address).
    pub fn address(&self) -> usize {
        self.home() as *const SpinMutex<Children> as usize
    }

    /// Moves the list into `slot` (the address of [`SLOT_SIZE`] bytes aligned to
    /// [`SLOT_ALIGN`]); nothing happens if it is there already.
    ///
    /// # Safety
    /// The caller is the process's only thread, nothing else holds or takes the list's lock
    /// meanwhile, and the slot is memory nothing else uses and that stays mapped and unused
    /// by anything else for the rest of the process's life (a fork child included).
    pub unsafe fn move_to(&self, slot: usize) {
        if slot == self.address() || slot == 0 || !slot.is_multiple_of(SLOT_ALIGN) {
            return;
        }
        let list = core::mem::take(&mut *self.lock());
        // SAFETY: the caller gives the slot to this list alone; it is large and aligned enough.
        unsafe { core::ptr::write(slot as *mut SpinMutex<Children>, SpinMutex::new(list)) };
        self.at.store(slot, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moved_list_keeps_its_pids_and_serves_from_the_slot() {
        let list = ChildList::default();
        for pid in 10..10 + INLINE as i32 + 3 {
            list.lock().push(pid);
        }
        let mut slot = core::mem::MaybeUninit::<SpinMutex<Children>>::uninit();
        let at = slot.as_mut_ptr() as usize;
        // SAFETY: one thread; the slot outlives the list's use below and is used by nothing else.
        unsafe { list.move_to(at) };
        assert_eq!(list.address(), at);
        assert!(list.own.lock().is_empty(), "the old home is left empty");
        assert_eq!(list.lock().iter().count(), INLINE + 3);
        assert!(list.lock().contains(10) && list.lock().contains(10 + INLINE as i32 + 2));
        list.lock().retain(|p| p != 10);
        list.lock().push(99);
        // SAFETY: nothing holds the lock.
        let seen = unsafe { list.peek() }.map(|c| c.contains(99) && !c.contains(10));
        assert_eq!(seen, Some(true));
        // SAFETY: as above; moving to where it is already changes nothing.
        unsafe { list.move_to(at) };
        assert_eq!(list.lock().iter().count(), INLINE + 3);
        list.lock().clear();
        // SAFETY: the slot holds an initialised mutex, dropped once here (frees the heap part).
        unsafe { core::ptr::drop_in_place(slot.as_mut_ptr()) };
    }

    #[test]
    fn pids_beyond_the_inline_part_are_kept_and_removed() {
        let mut c = Children::default();
        assert!(c.is_empty());
        for pid in 100..100 + INLINE as i32 + 5 {
            c.push(pid);
        }
        assert_eq!(c.iter().count(), INLINE + 5);
        assert!(c.contains(100) && c.contains(100 + INLINE as i32 + 4) && !c.contains(99));
        c.retain(|p| p % 2 == 0);
        let mut left = c.to_vec();
        left.sort_unstable();
        assert_eq!(left, (100..100 + INLINE as i32 + 5).filter(|p| p % 2 == 0).collect::<Vec<_>>());
        c.retain(|p| p != 100);
        assert!(!c.contains(100) && c.contains(102));
        c.clear();
        assert!(c.is_empty() && !c.contains(102));
    }
}
