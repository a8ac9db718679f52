//! What a resolved path refers to.
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::fs::hostdir::HostNode;
use crate::fs::overlay::OverlayFile;
use crate::fs::synth::Synth;

/// The file type, as stat reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Dir,
    File,
    Symlink,
    CharDev,
}

/// A resolved node. Image nodes are entry indices; overlay files are shared so an unlinked
/// file stays readable through its open descriptors.
#[derive(Clone)]
pub enum Node {
    Image(u32),
    OverlayDir {
        ino: u64,
        mode: u32,
    },
    OverlayFile(Arc<OverlayFile>),
    OverlaySymlink {
        ino: u64,
        target: Vec<u8>,
    },
    Synth(Synth),
    /// A file, directory or symlink in a host directory (the writable layer or a mount).
    Host(HostNode),
}

/// One name in a directory listing.
#[derive(Clone, Debug)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub kind: NodeKind,
}
