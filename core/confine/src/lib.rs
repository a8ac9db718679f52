//! litebox-confine: the pieces of host confinement that more than one runtime uses.
//!
//! - [`bpf`]: seccomp BPF instructions and a block builder with symbolic jump targets (moved
//!   here from the linux-userland runtime's gate filter);
//! - [`landlock`]: the Landlock ABI (rights, rule sets, restricting the process), with every
//!   system call made through a function the runtime gives ([`Syscall6`]), so a libc-free
//!   runtime passes its gate and a std runtime passes `libc::syscall`.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod bpf;
pub mod landlock;

/// A raw host system call: number and six arguments, the raw result (negative errno on
/// failure).
pub type Syscall6 = fn(usize, usize, usize, usize, usize, usize, usize) -> isize;

/// Converts a raw result into `Result<usize, errno>`.
#[inline]
pub fn check(r: isize) -> Result<usize, i32> {
    if (-4095..0).contains(&r) {
        Err(-r as i32)
    } else {
        Ok(r as usize)
    }
}
