//! Reader for the LiteBox image format, version 1 (`docs/image-format.md`).
//!
//! The image is hostile input: every offset and length is checked before it is used, the root
//! digest is checked when the image is opened, and each chunk's digest is checked before the
//! chunk is decompressed. Nothing here panics on bad input; everything returns [`ImageError`].
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod error;
mod format;
mod launch;
mod reader;
mod zstd;

pub use error::{ImageError, ImageErrorKind};
pub use format::{Entry, EntryKind, Header, CHUNK_RECORD_SIZE, ENTRY_SIZE, HEADER_SIZE, MAGIC, VERSION};
pub use launch::{LaunchConfig, Mount, SockAddr, LIMIT_MEMORY, LIMIT_OPEN_FILES, LIMIT_PROCESSES, LIMIT_THREADS};
pub use reader::{ChunkCache, Image};
