//! Helpers shared by core/libos's integration tests: the image vector the Python writer made
//! (scripts/gen_image_vectors.py, also read by core/image's tests), the namespace over it, and
//! the mock platform ([`mock`]) that lets a test drive the syscall shim without a runtime.
//!
//! Each test binary uses only part of this module, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod mock;

use litebox_image::{Image, ImageError};
use litebox_libos::fs::Vfs;

/// The shared image vector: /app/{hello.txt, copy.txt, big.bin, empty, link -> hello.txt,
/// abs-link -> /app/sub, sub/deeper/file}, /tmp (1777), /dev, /proc, /a-b.
pub const IMG: &[u8] = include_bytes!("../../../image/tests/vectors/basic.img");

/// Where /proc/self/exe points in these tests.
pub const EXE: &[u8] = b"/app/big.bin";

pub fn fatal(e: ImageError) -> ! {
    panic!("image error: {e}")
}

/// The namespace over [`IMG`] with an empty in-memory writable layer.
pub fn vfs() -> Vfs {
    Vfs::new(Image::open(IMG).unwrap(), EXE.to_vec(), fatal)
}
