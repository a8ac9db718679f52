//! The in-memory writable layer: files, directories and symlinks created by the app, copies of
//! image files the app opened for writing, and whiteouts for image paths it removed.
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::sync::SpinMutex;

/// A regular file of the writable layer.
pub struct OverlayFile {
    pub ino: u64,
    pub mode: AtomicU32,
    pub data: SpinMutex<Vec<u8>>,
    pub mtime: AtomicU64,
    /// Last access time in seconds as utimensat set it (reads do not update it).
    pub atime: AtomicU64,
    /// Names the file has in the namespace (hard links).
    pub nlink: AtomicU32,
}

/// One path of the writable layer.
#[derive(Clone)]
pub enum OverlayEntry {
    /// A directory; `opaque` hides whatever the image has below the same path.
    Dir {
        ino: u64,
        mode: u32,
        opaque: bool,
    },
    File(Arc<OverlayFile>),
    Symlink {
        ino: u64,
        target: Vec<u8>,
    },
    /// The image's entry at this path was removed.
    Whiteout,
}

/// All overlay paths, keyed by normalized absolute path.
pub struct Overlay {
    pub entries: BTreeMap<Vec<u8>, OverlayEntry>,
    next_ino: u64,
}

impl Default for Overlay {
    fn default() -> Self {
        Self::new()
    }
}

impl Overlay {
    /// An empty writable layer.
    pub fn new() -> Self {
        Self { entries: BTreeMap::new(), next_ino: 1 << 32 }
    }

    /// A fresh inode number for a new node.
    pub fn ino(&mut self) -> u64 {
        self.next_ino += 1;
        self.next_ino
    }

    /// A new empty file (not yet linked under a path).
    pub fn new_file(&mut self, mode: u32, data: Vec<u8>, mtime: u64) -> Arc<OverlayFile> {
        Arc::new(OverlayFile {
            ino: self.ino(),
            mode: AtomicU32::new(mode & 0o7777),
            data: SpinMutex::new(data),
            mtime: AtomicU64::new(mtime),
            atime: AtomicU64::new(mtime),
            nlink: AtomicU32::new(1),
        })
    }

    /// Overlay entries directly below `dir`, in name order.
    pub fn children<'a>(&'a self, dir: &'a [u8]) -> impl Iterator<Item = (&'a [u8], &'a OverlayEntry)> + 'a {
        let mut prefix = dir.to_vec();
        if prefix.last() != Some(&b'/') {
            prefix.push(b'/');
        }
        let plen = prefix.len();
        self.entries
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .filter(move |(k, _)| !k[plen..].contains(&b'/'))
            .map(move |(k, v)| (&k[plen..], v))
    }
}

impl OverlayFile {
    /// Current modification time in seconds.
    pub fn mtime(&self) -> u64 {
        self.mtime.load(Ordering::Relaxed)
    }
}
