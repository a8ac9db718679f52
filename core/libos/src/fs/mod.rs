//! The file system the app sees: the read-only image, an in-memory writable layer over it
//! (overlay semantics: copy-up on write, whiteouts on delete), and a few synthetic nodes in
//! /dev and /proc. Paths are resolved only inside this namespace, so no path can name a host
//! file: the host file system is simply not reachable from here.
pub mod hostdir;
pub mod node;
pub mod overlay;
pub mod path;
pub mod synth;
pub mod vfs;

pub use node::{DirEntry, Node, NodeKind};
pub use vfs::Vfs;
