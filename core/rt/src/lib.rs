//! What every LiteBox runtime binary (linux-userland, kvm) needs once:
//!
//! - [`mem`]: the memory and string functions the compiler and libzstd expect from a libc,
//!   exported by the runtime with [`libc_functions!`];
//! - [`heap`]: the allocator (power-of-two size classes over one region), generic over where
//!   the region's memory comes from ([`heap::Backing`]);
//! - [`exit`] and [`fatal`]: the runtime's own exit codes (docs/image-format.md) and the one
//!   line it prints before it stops;
//! - [`launch`]: the app's argv and environment from the launch config and the host's;
//! - [`pit`]: elapsed time from two 8254 PIT channels (the VM kernels' clock calibration).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]

extern crate alloc;

pub mod exit;
pub mod fatal;
pub mod heap;
pub mod launch;
pub mod mem;
pub mod pit;
