//! A process's unreaped children: the pids it may wait for and signal.
//!
//! The first [`INLINE`] pids are stored in the list itself, so the lock that guards it
//! (`LibOs::children`) and the pids share one page. A fork's parent records its child right
//! after the host fork, when each page it writes costs a copy-on-write fault (and a TLB flush):
//! with the pids in a heap buffer that was one fault more per fork.
use alloc::vec::Vec;

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

#[cfg(test)]
mod tests {
    use super::*;

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
