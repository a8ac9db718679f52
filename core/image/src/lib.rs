//! Reader for the LiteBox image format, version 3 (`docs/image-format.md`).
//!
//! The image is hostile input: every offset and length is checked before it is used, the root
//! digest is checked when the image is opened, each page of its tables when first used, and
//! each chunk's digest before the chunk is decompressed. Bad input is an [`ImageError`]; the
//! calls that cannot return one ([`Image::entry`], [`Image::lookup`], [`Image::child`]) hand
//! it to the fatal handler the runtime set ([`Image::set_fatal`]; a panic by default).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod error;
mod format;
mod launch;
mod reader;
pub mod sha256;
mod zstd;

pub use error::{ImageError, ImageErrorKind};
pub use format::{
    Entry, EntryKind, Header, CHUNK_RECORD_SIZE, ENTRY_SIZE, HEADER_SIZE, MAGIC, PAGE_DIGEST_SIZE, TABLE_PAGE, VERSION,
};
pub use launch::{LaunchConfig, Mount, SockAddr, LIMIT_MEMORY, LIMIT_OPEN_FILES, LIMIT_PROCESSES, LIMIT_THREADS};
pub use reader::{CheckHelper, ChunkCache, Claim, Image, StoredReader, KEPT, PIECE_KEPT, SMALL_READ};
