//! The LiteBox library OS ("North"): everything a Linux x86-64 program sees, served from the
//! packed image and an in-memory writable layer, on top of a small [`Platform`] trait that each
//! South platform (linux-userland, kvm, ...) implements.
//!
//! `no_std` + `alloc`: the kernel-mode targets reuse it as is. Nothing here uses thread-local
//! storage (the app owns FS on x86-64) and nothing allocates in a way that needs a host libc.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod abi;
pub mod attestation;
pub mod children;
pub mod chunkvec;
pub mod errno;
pub mod fd;
pub mod fifo;
pub mod fs;
pub mod futex;
pub mod ident;
pub mod kernel;
pub mod kobj;
pub mod loader;
pub mod memlock;
pub mod mqueue;
pub mod net;
#[cfg(feature = "netstack")]
pub mod netstack;
pub mod pipes;
pub mod platform;
pub mod procfs;
pub mod proctab;
pub mod ptimer;
pub mod reclock;
pub mod shim;
pub mod sigfd;
pub mod signal;
pub mod sync;
pub mod sysv;
pub mod sysvshm;
#[cfg(test)]
mod testrng;
pub mod unixsock;
pub mod user;
pub mod vma;

pub use kernel::LibOs;
pub use platform::{Platform, SyscallContext, ThreadSpawn};
