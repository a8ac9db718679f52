//! The OP-TEE North: what an OP-TEE Trusted Application (TA) sees of the TEE, as a second ABI
//! shim beside the Linux one, over the same platform primitives.
//!
//! * [`abi`]: the utee system-call ABI for x86-64 TAs (numbers, the registers that carry the
//!   arguments, `struct utee_params`, result codes and origins), binary compatible with OP-TEE's
//!   libutee and with microsoft/litebox's `litebox_common_optee`.
//! * [`tahead`]: finding and decoding a TA image's `.ta_head` (UUID, stack size, flags, entry).
//! * [`params`]: the four client parameters, copied into the TA's memory before an entry point
//!   runs and copied back out after it returns.
//! * [`session`]: the session table and the entry points (open session, invoke command, close
//!   session); a TA that panics is dead and every later call gets `TEE_ERROR_TARGET_DEAD`.
//! * [`crypto`]: digests, MACs, AES modes and ECDSA behind GP algorithm identifiers.
//! * [`storage`]: persistent objects sealed (encrypted and integrity-protected) for a host
//!   directory; a tampered object reads as `TEE_ERROR_CORRUPT_OBJECT`.
//!
//! Nothing here panics on input from a TA or a client; everything returns a [`abi::TeeResult`].
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

pub mod abi;
pub mod crypto;
pub mod params;
pub mod rsaes;
pub mod session;
pub mod storage;
pub mod sys;
pub mod tahead;
pub mod uuid;
