//! The SEV-SNP machine layer's pure logic: everything the kernel's SNP code (in
//! `core/vmkernel/src/snp`) computes without touching the machine, kept here so the host's
//! `cargo test` checks it. Nothing in this crate executes a privileged instruction.
//!
//! - [`msr_protocol`]: the GHCB MSR protocol's requests and responses (GHCB spec v2, 2.3.1);
//! - [`ghcb`]: the GHCB page layout, its valid bitmap, the exit codes and the IOIO exit info;
//! - [`psc`]: page-state-change entries (the GHCB `SNP_PAGE_STATE_CHANGE` buffer);
//! - [`pte`]: page-table entries with the C-bit (private) or without it (shared);
//! - [`cpuid_page`]: answering CPUID from the SNP CPUID page;
//! - [`vc_decode`]: the instructions the #VC handler emulates (port I/O, MMIO moves, MSR, CPUID,
//!   RDTSC) and their operands;
//! - [`host_rules`]: which host inputs the kernel accepts under SNP;
//! - [`ranges`]: which RAM still needs PVALIDATE once the launch-validated ranges are taken out.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cpuid_page;
pub mod ghcb;
pub mod host_rules;
pub mod msr_protocol;
pub mod psc;
pub mod pte;
pub mod ranges;
pub mod vc_decode;

/// The page size SNP validates and shares in (4 KiB).
pub const PAGE: u64 = 4096;
/// A 2 MiB page.
pub const PAGE_2M: u64 = 2 * 1024 * 1024;
