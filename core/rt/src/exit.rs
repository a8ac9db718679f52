//! Exit codes of the runtime itself, the same on every target (docs/image-format.md). 121 and
//! 122 (damaged, tampered image) come from [`litebox_image::ImageError::exit_code`].

/// No image: the artifact carries none, or it cannot be read.
pub const NO_IMAGE: i32 = 120;
/// The entry program cannot be loaded (missing, not an x86-64 ELF, bad program headers).
pub const LOAD: i32 = 123;
/// The sandbox (or the VM) could not be set up.
pub const SETUP: i32 = 124;
/// An internal error of the runtime (a panic, a broken invariant).
pub const INTERNAL: i32 = 125;
