//! One zstd frame decoder: the reference C implementation (libzstd, vendored and compiled by
//! the `zstd-sys` crate), used freestanding. Only its single-shot decompression path is called,
//! on a decompression context placed in memory we allocate (`ZSTD_initStaticDCtx`), so libzstd
//! never calls malloc; it needs only memcpy, memmove and memset, which every runtime provides.
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ffi::c_void;

// The crate is linked only for the C library it builds; the few functions used are declared
// below (ZSTD_initStaticDCtx is in libzstd's static-linking-only API, absent from the bindings).
use zstd_sys as _;

#[allow(non_camel_case_types)]
#[repr(C)]
struct ZSTD_DCtx {
    _opaque: [u8; 0],
}

extern "C" {
    fn ZSTD_estimateDCtxSize() -> usize;
    fn ZSTD_initStaticDCtx(workspace: *mut c_void, size: usize) -> *mut ZSTD_DCtx;
    fn ZSTD_decompressDCtx(
        dctx: *mut ZSTD_DCtx,
        dst: *mut c_void,
        dst_capacity: usize,
        src: *const c_void,
        src_size: usize,
    ) -> usize;
    fn ZSTD_isError(code: usize) -> u32;
}

/// libzstd's tracing hook, which it declares weak and calls when defined. Defined here (as "no
/// trace") because a static, non-PIE runtime linked far from address 0 cannot resolve a call
/// to an undefined weak function. Promises: returns 0, so libzstd skips the matching end hook.
#[no_mangle]
pub extern "C" fn ZSTD_trace_decompress_begin(_dctx: *const c_void) -> u64 {
    0
}

/// libzstd's end-of-frame tracing hook (see [`ZSTD_trace_decompress_begin`]): never called,
/// since every trace context is 0; it only has to exist.
#[no_mangle]
pub extern "C" fn ZSTD_trace_decompress_end(_ctx: u64, _trace: *const c_void) {}

/// The fewest bytes a decoder's workspace takes (see [`Decoder::new`]).
const WORKSPACE_MIN: usize = 64 << 10;

/// A reusable zstd decoder that owns its context's memory: a context of ~31 KiB with the 1 KiB
/// literal buffer `.cargo/config.toml` builds libzstd with (~94 KiB with libzstd's default
/// 64 KiB), in a workspace of at least [`WORKSPACE_MIN`] bytes of which only what libzstd
/// writes is ever resident.
pub struct Decoder {
    /// The context's memory, only reached through `dctx`; `u64` elements give the 8-byte
    /// alignment libzstd requires.
    _workspace: Vec<u64>,
    dctx: *mut ZSTD_DCtx,
}

// SAFETY: the context lives in `workspace`, which the decoder owns exclusively; libzstd keeps no
// thread-local or global state for it, so moving the decoder to another thread is sound.
unsafe impl Send for Decoder {}

impl Decoder {
    /// A decoder with a fresh context. Promises: decoding never allocates inside libzstd.
    pub fn new() -> Self {
        // SAFETY: a pure size computation with no arguments.
        let size = unsafe { ZSTD_estimateDCtxSize() };
        // Uninitialised (libzstd initialises what it reads), so only the pages libzstd writes
        // become resident, and at least 64 KiB: the runtimes' heap hands the pages of blocks
        // that large back to the host when they are freed (litebox_rt::heap::RELEASE_CLASS),
        // so a decoder dropped between reads (`ChunkCache::let_go_all`) holds none.
        let mut workspace: Vec<u64> = Vec::with_capacity(size.max(WORKSPACE_MIN).div_ceil(8));
        // SAFETY: the workspace is 8-byte aligned, at least `size` bytes long (its capacity),
        // and outlives the context (both are owned by the returned decoder; a Vec's buffer
        // never moves unless the Vec grows, and this one never does). Only libzstd reads or
        // writes it, through the context.
        let dctx = unsafe { ZSTD_initStaticDCtx(workspace.as_mut_ptr().cast(), workspace.capacity() * 8) };
        assert!(!dctx.is_null(), "zstd rejected a workspace of its own estimated size");
        Self { _workspace: workspace, dctx }
    }

    /// Decodes the zstd frame(s) in `src`. Promises: `Some` with exactly `size` bytes when the
    /// input is well-formed and its content is exactly `size` bytes long, `None` for anything
    /// else: malformed, truncated, shorter or longer content (libzstd checks every bound).
    pub fn decompress(&mut self, src: &[u8], size: usize) -> Option<Vec<u8>> {
        let mut out: Vec<u8> = Vec::with_capacity(size);
        // SAFETY: `out` has room for `size` bytes (its capacity).
        let ok = unsafe { self.decode_raw(src, out.as_mut_ptr(), size) };
        if !ok {
            return None;
        }
        // SAFETY: decode_raw succeeded, so all `size` bytes from the start are initialised.
        unsafe { out.set_len(size) };
        Some(out)
    }

    /// Decodes the zstd frame(s) in `src` straight into a new shared buffer of `size` bytes:
    /// what [`Decoder::decompress`] promises, without the second buffer and copy that turning
    /// a `Vec` into an `Arc<[u8]>` costs (one chunk's worth of heap made resident on every
    /// decode, freed only after the copy).
    pub fn decompress_shared(&mut self, src: &[u8], size: usize) -> Option<Arc<[u8]>> {
        let mut out: Arc<[core::mem::MaybeUninit<u8>]> = Arc::new_uninit_slice(size);
        let dst = Arc::get_mut(&mut out)?;
        // SAFETY: `dst` is valid for writes of `size` bytes (a fresh, unshared allocation).
        if !unsafe { self.decode_raw(src, dst.as_mut_ptr().cast(), size) } {
            return None;
        }
        // SAFETY: decode_raw succeeded, so all `size` bytes are initialised.
        Some(unsafe { out.assume_init() })
    }

    /// Decodes the zstd frame(s) in `src` straight into `dst`. Promises: `true` when the
    /// content is well-formed and exactly `dst.len()` bytes long, all of `dst` then holding it;
    /// `false` otherwise, with `dst` in an unspecified state.
    pub fn decompress_into(&mut self, src: &[u8], dst: &mut [u8]) -> bool {
        // SAFETY: `dst` is valid for writes of its length.
        unsafe { self.decode_raw(src, dst.as_mut_ptr(), dst.len()) }
    }

    /// Decodes `src` into `size` bytes at `dst`; true when exactly `size` bytes came out.
    ///
    /// # Safety
    /// `dst` must be valid for writes of `size` bytes (it may be uninitialised).
    unsafe fn decode_raw(&mut self, src: &[u8], dst: *mut u8, size: usize) -> bool {
        // SAFETY: `dctx` was initialised on our own workspace; `dst` has room for `size` bytes
        // by contract and `src` is a valid slice; libzstd writes only within the capacity it is
        // given and fails rather than write past it.
        let n = unsafe { ZSTD_decompressDCtx(self.dctx, dst.cast(), size, src.as_ptr().cast(), src.len()) };
        // SAFETY: a pure check of a return code.
        let failed = unsafe { ZSTD_isError(n) } != 0;
        !failed && n == size
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Decoder;
    use alloc::vec::Vec;

    /// A level-19 frame written by the packer's compressor (python-zstandard) over `lines()`.
    const FRAME: &[u8] = include_bytes!("../tests/vectors/lines.zst");
    /// A level-19 frame (python-zstandard) of 40,000 letters drawn from 16 (xorshift32), with little to match: mostly
    /// literals, more than the context's literal buffer holds.
    const LITERALS: &[u8] = include_bytes!("../tests/vectors/literals.zst");

    fn lines() -> Vec<u8> {
        (0..400).flat_map(|i| alloc::format!("line {} of the litebox decoder test\n", i % 37).into_bytes()).collect()
    }

    #[test]
    fn decodes_a_frame_the_packer_wrote() {
        let want = lines();
        let mut d = Decoder::new();
        assert_eq!(d.decompress(FRAME, want.len()).as_deref(), Some(&want[..]));
        // The same context decodes again (it is reused for every chunk).
        assert_eq!(d.decompress(FRAME, want.len()).as_deref(), Some(&want[..]));
    }

    #[test]
    fn context_keeps_no_large_literal_buffer() {
        // .cargo/config.toml builds libzstd with a 1 KiB internal literal buffer: a context of
        // ~31 KiB, where the default (64 KiB) makes it ~94 KiB.
        // SAFETY: a pure size computation with no arguments.
        let size = unsafe { super::ZSTD_estimateDCtxSize() };
        assert!(size <= 32 << 10, "zstd context {size} bytes: built without ZSTD_DECODER_INTERNAL_BUFFER?");
    }

    #[test]
    fn decodes_a_frame_with_large_literal_blocks() {
        // Literals longer than the context's 1 KiB buffer are split between it and the output.
        let mut x: u32 = 0x1234_5678;
        let want: Vec<u8> = (0..40_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                b'a' + (x >> 28) as u8
            })
            .collect();
        let mut d = Decoder::new();
        assert_eq!(d.decompress_shared(LITERALS, want.len()).as_deref(), Some(&want[..]));
        let mut buf = alloc::vec![0u8; want.len()];
        assert!(d.decompress_into(LITERALS, &mut buf));
        assert_eq!(buf, want);
    }

    #[test]
    fn decodes_into_a_shared_buffer_all_or_nothing() {
        let want = lines();
        let mut d = Decoder::new();
        assert_eq!(d.decompress_shared(FRAME, want.len()).as_deref(), Some(&want[..]));
        assert!(d.decompress_shared(FRAME, want.len() - 1).is_none());
        assert!(d.decompress_shared(FRAME, want.len() + 1).is_none());
        assert!(d.decompress_shared(&FRAME[..FRAME.len() - 1], want.len()).is_none());
        assert_eq!(d.decompress_shared(FRAME, want.len()).as_deref(), Some(&want[..]), "usable after errors");
    }

    #[test]
    fn refuses_content_of_another_size() {
        let n = lines().len();
        let mut d = Decoder::new();
        assert_eq!(d.decompress(FRAME, n - 1), None);
        assert_eq!(d.decompress(FRAME, n + 1), None);
        assert_eq!(d.decompress(FRAME, 0), None);
    }

    #[test]
    fn refuses_truncated_and_foreign_input_and_recovers() {
        let want = lines();
        let mut d = Decoder::new();
        for len in 0..FRAME.len() {
            assert_eq!(d.decompress(&FRAME[..len], want.len()), None, "truncated to {len}");
        }
        assert_eq!(d.decompress(b"not a zstd frame at all", want.len()), None);
        let mut bad = FRAME.to_vec();
        bad[0] ^= 0xff; // the frame magic
        assert_eq!(d.decompress(&bad, want.len()), None);
        assert_eq!(d.decompress(FRAME, want.len()).as_deref(), Some(&want[..]), "usable after errors");
    }

    #[test]
    fn decodes_into_a_buffer_of_exactly_the_content_size() {
        let want = lines();
        let mut d = Decoder::new();
        let mut buf = alloc::vec![0xaau8; want.len()];
        assert!(d.decompress_into(FRAME, &mut buf));
        assert_eq!(buf, want);
        assert!(!d.decompress_into(FRAME, &mut buf[..want.len() - 1]));
        let mut longer = alloc::vec![0u8; want.len() + 1];
        assert!(!d.decompress_into(FRAME, &mut longer));
        assert!(!d.decompress_into(&FRAME[..FRAME.len() - 1], &mut buf));
    }

    #[test]
    fn any_single_byte_change_gives_an_error_or_exactly_size_bytes() {
        // The digest normally keeps altered frames away from the decoder; if one got through,
        // libzstd must still stay inside its buffers and answer with all or nothing.
        let n = lines().len();
        let mut d = Decoder::new();
        let mut m = FRAME.to_vec();
        let mut refused = 0;
        for pos in 0..m.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                m[pos] ^= flip;
                match d.decompress(&m, n) {
                    Some(out) => assert_eq!(out.len(), n),
                    None => refused += 1,
                }
                m[pos] ^= flip;
            }
        }
        assert!(refused > 0);
    }
}
