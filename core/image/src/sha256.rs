//! SHA-256 for the image's digests (the root digest and the table pages), with the compression
//! function chosen without asking CPUID when the runtime already knows the answer.
//!
//! The `sha2` crate picks its SHA-NI code by running CPUID three times on first use. In a
//! virtual machine CPUID traps to the hypervisor: 4-9 µs a call on the benchmark VM, ~21 µs of
//! every linux-userland start, in the supervisor before anything else can run. A runtime that
//! learned by other means whether the CPU executes the SHA extensions (linux-userland executes
//! them once under a SIGILL handler: `cpuprobe.rs`) says so with [`set_sha_ni`]; this module
//! then runs its own SHA-NI compression function, and the `sha2` crate's otherwise (its own
//! detection, its portable code on a CPU without them). A runtime that says nothing keeps the
//! `sha2` crate's behaviour exactly.
use core::sync::atomic::{AtomicBool, Ordering};

/// Whether the runtime said the CPU executes SHA-NI, SSSE3 and SSE4.1. False (not said, or
/// said it does not): the `sha2` crate's compression function, which detects for itself.
static SHA_NI: AtomicBool = AtomicBool::new(false);

/// Tells this module whether the CPU executes the SHA extensions together with SSSE3 and
/// SSE4.1 (the instructions [`compress_ni`] uses). The caller must know: `true` on a CPU
/// without them ends the process with SIGILL at the next digest.
pub fn set_sha_ni(present: bool) {
    SHA_NI.store(present, Ordering::Relaxed);
}

fn compress(state: &mut [u32; 8], blocks: &[[u8; 64]]) {
    #[cfg(target_arch = "x86_64")]
    if SHA_NI.load(Ordering::Relaxed) {
        // SAFETY: the runtime said the CPU executes SHA-NI, SSSE3 and SSE4.1 (set_sha_ni).
        unsafe { compress_ni(state, blocks) };
        return;
    }
    sha2::block_api::compress256(state, blocks);
}

/// An incremental SHA-256 (FIPS 180-4).
#[derive(Clone)]
pub struct Sha256 {
    state: [u32; 8],
    block: [u8; 64],
    filled: usize,
    bytes: u64,
}

const INITIAL: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    /// A hasher over no bytes yet.
    pub fn new() -> Self {
        Self { state: INITIAL, block: [0; 64], filled: 0, bytes: 0 }
    }

    /// Appends `data` to the hashed message.
    pub fn update(&mut self, mut data: &[u8]) {
        self.bytes += data.len() as u64;
        if self.filled > 0 {
            let take = (64 - self.filled).min(data.len());
            self.block[self.filled..self.filled + take].copy_from_slice(&data[..take]);
            self.filled += take;
            data = &data[take..];
            if self.filled < 64 {
                return;
            }
            let block = self.block;
            compress(&mut self.state, &[block]);
            self.filled = 0;
        }
        let (whole, rest) = data.split_at(data.len() / 64 * 64);
        if !whole.is_empty() {
            let (blocks, _) = whole.as_chunks::<64>();
            compress(&mut self.state, blocks);
        }
        self.block[..rest.len()].copy_from_slice(rest);
        self.filled = rest.len();
    }

    /// The digest of everything appended.
    pub fn finalize(mut self) -> [u8; 32] {
        let bits = self.bytes.wrapping_mul(8);
        let mut pad = [0u8; 72];
        pad[0] = 0x80;
        // Pads to 56 mod 64, then the message length in bits, big-endian.
        let zeros = (119 - (self.bytes % 64) as usize) % 64;
        pad[1 + zeros..9 + zeros].copy_from_slice(&bits.to_be_bytes());
        let bytes = self.bytes;
        self.update(&pad[..9 + zeros]);
        debug_assert!(self.filled == 0 && self.bytes == bytes + 9 + zeros as u64);
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }

    /// The digest of `data`.
    pub fn digest(data: &[u8]) -> [u8; 32] {
        let mut h = Self::new();
        h.update(data);
        h.finalize()
    }
}

/// The SHA-256 round constants (FIPS 180-4, 4.2.2).
#[cfg(target_arch = "x86_64")]
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// The compression function on the SHA extensions. The state is kept as the two registers
/// the round instruction works on: (a, b, e, f) and (c, d, g, h), highest lane first; each
/// group of four rounds takes four message words, the first four groups from the block
/// (byte-swapped: SHA-256 words are big-endian), the others from the message schedule
/// instructions (`msg1` adds σ0 of the word 15 back to the word 16 back, the word 7 back comes
/// from a byte shift of the two previous groups, `msg2` adds σ1 of the word 2 back).
///
/// # Safety
/// The CPU must execute SHA-NI, SSSE3 and SSE4.1.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
unsafe fn compress_ni(state: &mut [u32; 8], blocks: &[[u8; 64]]) {
    use core::arch::x86_64::*;
    // SAFETY (the loads and stores below): `state` is 32 bytes, each block 64; unaligned
    // loads and stores read and write only inside them.
    let (abcd, efgh) =
        unsafe { (_mm_loadu_si128(state.as_ptr().cast()), _mm_loadu_si128(state.as_ptr().add(4).cast())) };
    // Lanes (lowest first): abcd = a b c d, efgh = e f g h.
    let badc = _mm_shuffle_epi32(abcd, 0xb1);
    let hgfe = _mm_shuffle_epi32(efgh, 0x1b);
    let mut abef = _mm_alignr_epi8(badc, hgfe, 8); // f e b a
    let mut cdgh = _mm_blend_epi16(hgfe, badc, 0xf0); // h g d c
    let swap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
    for block in blocks {
        let (abef0, cdgh0) = (abef, cdgh);
        let mut w = [_mm_setzero_si128(); 4];
        for g in 0..16 {
            let words = if g < 4 {
                let p = block[16 * g..].as_ptr().cast();
                // SAFETY: 16 bytes at 16 * g < 64 of the block.
                _mm_shuffle_epi8(unsafe { _mm_loadu_si128(p) }, swap)
            } else {
                let (w16, w12, w8, w4) = (w[g % 4], w[(g + 1) % 4], w[(g + 2) % 4], w[(g + 3) % 4]);
                let sum = _mm_add_epi32(_mm_sha256msg1_epu32(w16, w12), _mm_alignr_epi8(w4, w8, 4));
                _mm_sha256msg2_epu32(sum, w4)
            };
            w[g % 4] = words;
            // SAFETY: 4 constants at 4 * g < 64.
            let k = unsafe { _mm_loadu_si128(K[4 * g..].as_ptr().cast()) };
            let wk = _mm_add_epi32(words, k);
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0e));
        }
        abef = _mm_add_epi32(abef, abef0);
        cdgh = _mm_add_epi32(cdgh, cdgh0);
    }
    let abef_rev = _mm_shuffle_epi32(abef, 0x1b); // a b e f
    let ghcd = _mm_shuffle_epi32(cdgh, 0xb1); // g h c d
    let abcd = _mm_blend_epi16(abef_rev, ghcd, 0xf0);
    let efgh = _mm_alignr_epi8(ghcd, abef_rev, 8);
    // SAFETY: see the loads above.
    unsafe {
        _mm_storeu_si128(state.as_mut_ptr().cast(), abcd);
        _mm_storeu_si128(state.as_mut_ptr().add(4).cast(), efgh);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    fn bytes(n: usize, seed: u32) -> alloc::vec::Vec<u8> {
        let mut x = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    fn reference(data: &[u8]) -> [u8; 32] {
        sha2::Sha256::digest(data).into()
    }

    #[test]
    fn known_answers() {
        // FIPS 180-4 examples ("abc" and the 448-bit message) and the empty message.
        let abc = [
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03,
            0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
        ];
        assert_eq!(Sha256::digest(b"abc"), abc);
        let two = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(Sha256::digest(two)[..4], [0x24, 0x8d, 0x6a, 0x61]);
        assert_eq!(Sha256::digest(b"")[..4], [0xe3, 0xb0, 0xc4, 0x42]);
    }

    /// Every backend this CPU has, against the `sha2` crate, over lengths around every block
    /// and padding boundary, fed whole and in uneven pieces.
    #[test]
    fn backends_match_the_sha2_crate() {
        let ni = cfg!(target_arch = "x86_64") && std_detect_sha();
        for backend in [false, ni] {
            set_sha_ni(backend);
            for n in (0..200).chain([255, 256, 257, 4095, 4096, 4097, 65536 + 17]) {
                let data = bytes(n, n as u32);
                let want = reference(&data);
                assert_eq!(Sha256::digest(&data), want, "length {n}, sha-ni {backend}");
                let mut h = Sha256::new();
                for piece in data.chunks(7 + n % 61) {
                    h.update(piece);
                }
                assert_eq!(h.finalize(), want, "length {n} in pieces, sha-ni {backend}");
            }
        }
        SHA_NI.store(false, Ordering::Relaxed);
    }

    /// Whether the test machine has SHA-NI, SSSE3 and SSE4.1 (CPUID, through `std`).
    fn std_detect_sha() -> bool {
        extern crate std;
        #[cfg(target_arch = "x86_64")]
        {
            std::is_x86_feature_detected!("sha")
                && std::is_x86_feature_detected!("ssse3")
                && std::is_x86_feature_detected!("sse4.1")
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    }
}
