//! A vector kept in chunks of at most [`CHUNK`] elements, addressed by one index as if it were
//! one `Vec`: for an ordered set that must stay small in code (a few straight loops, no tree)
//! without a flat vector's cost of moving every later element on an insertion or removal
//! ([`crate::vma::MemMap`], whose map may hold tens of thousands of mappings). An insertion or
//! removal moves at most a chunk's elements and walks the chunk list once: O(n / CHUNK +
//! CHUNK) instead of O(n).
use alloc::vec::Vec;

/// The most elements a chunk holds; a chunk that would hold more is cut in two halves.
pub const CHUNK: usize = 256;

/// The elements in order across `chunks`; no chunk is empty and none holds more than [`CHUNK`].
#[derive(Clone, Debug)]
pub struct ChunkVec<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for ChunkVec<T> {
    fn default() -> Self {
        Self { chunks: Vec::new(), len: 0 }
    }
}

impl<T> ChunkVec<T> {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes every element.
    pub fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }

    /// The chunk and the position in it of index `i`; `end` says which of two chunks a
    /// boundary index belongs to: the end of the earlier one (`end`) or the start of the next.
    /// `(chunks.len(), 0)` past the last element when not `end` (or when there is no chunk).
    /// One walk of the chunk list, out of line: the one copy of it.
    #[inline(never)]
    fn locate(&self, mut i: usize, end: bool) -> (usize, usize) {
        for (c, ch) in self.chunks.iter().enumerate() {
            if i < ch.len() || (end && i == ch.len()) {
                return (c, i);
            }
            i -= ch.len();
        }
        (self.chunks.len(), 0)
    }

    /// The index of the first element for which `pred` is false, `pred` being true for a
    /// prefix of the elements and false for the rest (as `slice::partition_point`).
    pub fn partition_point(&self, pred: impl Fn(&T) -> bool) -> usize {
        // A chunk lies wholly in the prefix when its last element does. One walk (the index
        // counts the chunks before anyway), then a bisection in the chunk.
        let mut before = 0;
        for ch in &self.chunks {
            if !ch.last().is_some_and(&pred) {
                return before + ch.partition_point(&pred);
            }
            before += ch.len();
        }
        before
    }

    /// The element at `i`.
    pub fn get(&self, i: usize) -> Option<&T> {
        let (c, j) = self.locate(i, false);
        self.chunks.get(c).and_then(|ch| ch.get(j))
    }

    /// The element at `i`, to change.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        let (c, j) = self.locate(i, false);
        self.chunks.get_mut(c).and_then(|ch| ch.get_mut(j))
    }

    /// Puts `v` at index `i` (`i <= len`), after the elements before it.
    pub fn insert(&mut self, i: usize, v: T) {
        assert!(i <= self.len, "ChunkVec::insert past the end");
        self.len += 1;
        let (c, j) = self.locate(i, true);
        let Some(ch) = self.chunks.get_mut(c) else {
            self.chunks.push(alloc::vec![v]);
            return;
        };
        ch.insert(j, v);
        if ch.len() > CHUNK {
            let tail = ch.split_off(CHUNK / 2);
            self.chunks.insert(c + 1, tail);
        }
    }

    /// Takes the element at `i` (`i < len`) out.
    pub fn remove(&mut self, i: usize) -> T {
        assert!(i < self.len, "ChunkVec::remove past the end");
        self.len -= 1;
        let (c, j) = self.locate(i, false);
        let v = self.chunks[c].remove(j);
        if self.chunks[c].is_empty() {
            self.chunks.remove(c);
        }
        v
    }

    /// Every element in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every operation answers as a `Vec` does, over random changes that make and empty many
    /// chunks.
    #[test]
    fn answers_as_a_vec_does() {
        let mut next = crate::testrng::xorshift(0x2545_f491_4f6c_dd1d);
        let mut c: ChunkVec<u32> = ChunkVec::default();
        let mut v: Vec<u32> = Vec::new();
        for step in 0..20_000 {
            let grow = (step / 2500) % 2 == 0;
            match next(8) {
                0..=3 if grow || v.is_empty() => {
                    let i = next(v.len() + 1);
                    let x = next(1000) as u32;
                    c.insert(i, x);
                    v.insert(i, x);
                }
                0..=4 if !v.is_empty() => {
                    let i = next(v.len());
                    assert_eq!(c.remove(i), v.remove(i));
                }
                5 if !v.is_empty() => {
                    let i = next(v.len());
                    let n = next(2 * CHUNK + 3).min(v.len() - i);
                    for _ in 0..n {
                        c.remove(i);
                    }
                    v.drain(i..i + n);
                }
                6 if !v.is_empty() => {
                    let i = next(v.len());
                    *c.get_mut(i).unwrap() += 1;
                    v[i] += 1;
                }
                7 if next(500) == 0 => {
                    c.clear();
                    v.clear();
                }
                _ => {}
            }
            assert_eq!(c.len(), v.len());
            assert_eq!(c.is_empty(), v.is_empty());
            assert!(c.chunks.iter().all(|ch| !ch.is_empty() && ch.len() <= CHUNK));
            if step % 13 == 0 {
                assert_eq!(c.iter().copied().collect::<Vec<_>>(), v, "step {step}");
                assert!(c.iter().rev().copied().eq(v.iter().rev().copied()));
            }
            let i = next(v.len() + 2);
            assert_eq!(c.get(i), v.get(i));
            // A sorted copy: partition_point at every threshold.
            if step % 97 == 0 {
                let mut s = ChunkVec::default();
                let mut sorted = v.clone();
                sorted.sort_unstable();
                for (k, x) in sorted.iter().enumerate() {
                    s.insert(k, *x);
                }
                for t in [0, 1, 250, 500, 999, 1000, 2000] {
                    assert_eq!(s.partition_point(|x| *x < t), sorted.partition_point(|x| *x < t));
                }
            }
        }
        assert_eq!(c.iter().copied().collect::<Vec<_>>(), v);
    }
}
