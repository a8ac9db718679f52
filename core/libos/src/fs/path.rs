//! Path helpers over byte strings: joining, splitting, normalizing lexically.
use alloc::vec::Vec;

/// Joins `base` (absolute, normalized) and `rel` (any), without resolving symlinks.
pub fn join(base: &[u8], rel: &[u8]) -> Vec<u8> {
    if rel.first() == Some(&b'/') {
        return rel.to_vec();
    }
    let mut out = base.to_vec();
    if out.last() != Some(&b'/') {
        out.push(b'/');
    }
    out.extend_from_slice(rel);
    out
}

/// The components of a path, skipping empty ones and ".".
pub fn components(p: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    p.split(|&c| c == b'/').filter(|c| !c.is_empty() && *c != b".")
}

/// Parent of a normalized absolute path ("/" for top-level names and for "/").
pub fn parent(p: &[u8]) -> &[u8] {
    match p.iter().rposition(|&c| c == b'/') {
        Some(0) | None => b"/",
        Some(i) => &p[..i],
    }
}

/// Last component of a normalized absolute path (empty for "/").
pub fn name(p: &[u8]) -> &[u8] {
    match p.iter().rposition(|&c| c == b'/') {
        Some(i) => &p[i + 1..],
        None => p,
    }
}

/// Appends component `c` to normalized absolute path `p`.
pub fn push(p: &mut Vec<u8>, c: &[u8]) {
    if p.last() != Some(&b'/') {
        p.push(b'/');
    }
    p.extend_from_slice(c);
}

/// Removes the last component of normalized absolute path `p` (stays at "/").
pub fn pop(p: &mut Vec<u8>) {
    let keep = match p.iter().rposition(|&c| c == b'/') {
        Some(0) | None => 1,
        Some(i) => i,
    };
    p.truncate(keep);
    if p.is_empty() {
        p.push(b'/');
    }
}

/// True if `p` is `dir` or lies below it.
pub fn is_within(p: &[u8], dir: &[u8]) -> bool {
    if dir == b"/" {
        return true;
    }
    p.starts_with(dir) && (p.len() == dir.len() || p[dir.len()] == b'/')
}
