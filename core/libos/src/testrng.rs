//! A small deterministic generator for the library OS's randomized unit tests (the same
//! sequence on every run, so a failure repeats).

/// `next(n)`: a number in `0..n` from an xorshift64 sequence started at `seed` (not zero).
pub fn xorshift(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}
