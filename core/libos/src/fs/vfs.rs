//! Path resolution and the file operations of the merged namespace (image + overlay + synth).
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::Bound;

use litebox_image::{ChunkCache, EntryKind, Image, ImageError};

use crate::abi::{Stat, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG};
use crate::errno::*;
use crate::fs::hostdir::{HostLayer, HostNode, MountPoint, UpperLookup, UpperNegCache};
use crate::fs::node::{DirEntry, Node, NodeKind};
use crate::fs::overlay::{Overlay, OverlayEntry, OverlayFile};
use crate::fs::path;
use crate::fs::synth::{alias_task, IdMap, ProcView, Synth, TABLE as SYNTH_TABLE};
use crate::sync::SpinMutex;

/// Linux's limit on symlinks followed in one resolution.
const MAX_SYMLINKS: u32 = 40;
const O_CREAT_BIT: u32 = 0o100;
const O_EXCL_BIT: u32 = 0o200;
const O_TRUNC_BIT: u32 = 0o1000;
/// O_WRONLY | O_CREAT | O_TRUNC.
const O_CREAT_W: u32 = 0o1 | O_CREAT_BIT | O_TRUNC_BIT;
/// st_dev reported for every file of the namespace.
const DEV: u64 = 0x4c42;

/// The result of resolving a path: the normalized absolute path reached, and its node, or
/// `None` if only the last component is missing (its parent exists and is a directory).
pub struct Resolved {
    pub path: Vec<u8>,
    pub node: Option<Node>,
}

/// The app's file system.
pub struct Vfs {
    pub image: Image<'static>,
    pub cache: ChunkCache,
    pub overlay: SpinMutex<Overlay>,
    /// Where /proc/self/exe points.
    pub exe_path: SpinMutex<Vec<u8>>,
    /// Called when the image turns out to be damaged or tampered with while the app runs.
    pub fatal: fn(ImageError) -> !,
    /// Host directories: the shared writable layer and the policy's mounts (None: the
    /// writable layer stays in memory and there are no mounts).
    pub host: Option<HostLayer>,
    /// The process facts /proc shows (attached by the library OS at start).
    pub proc: SpinMutex<Option<&'static dyn ProcView>>,
    /// The owners stat reports when the policy sets uid/gid (None: as stored).
    pub ids: Option<IdMap>,
    /// Image paths the writable layer neither has nor hides, per layer generation: most
    /// lookups are of image files, and asking the host each time costs ~3 syscalls a component.
    upper_neg: SpinMutex<UpperNegCache>,
    /// Whether /dev/shm is known to exist ([`Vfs::dev_shm`]).
    dev_shm_made: core::sync::atomic::AtomicBool,
}

/// The fallback file at `p` (crate::fs::synth::ETC_FALLBACKS), or /etc itself when the image
/// has no /etc: for lookups that found nothing in the image or the writable layer.
fn etc_fallback(p: &[u8]) -> Option<Node> {
    if p == b"/etc" {
        return Some(Node::OverlayDir { ino: 0xf0ff, mode: 0o755 });
    }
    let i = crate::fs::synth::ETC_FALLBACKS.iter().position(|f| *f == p)?;
    Some(Node::Synth(Synth::EtcFallback(i as u8)))
}

/// st_dev of the files of host directory `dir` (0: the writable layer, else a mount's index).
/// The writable layer is part of the root file system, as an overlay's upper layer is: its
/// files have the image's device (and [`layer_ino`] numbers), so `df FILE`, `find -xdev` and
/// `du -x` see one file system where they see one natively; a mount is a device of its own.
fn host_dir_dev(dir: usize) -> u64 {
    if dir == 0 {
        DEV
    } else {
        DEV + 1 + dir as u64
    }
}

/// The inode number a file of the writable layer shows: the host's, moved above the image's
/// numbers (entry indices, below 2^32), which share its device (tar, cp -a and du take two
/// files with one device and number for hard links of one file).
pub fn layer_ino(host: u64) -> u64 {
    host | 1 << 40
}

/// The directory POSIX shared memory and semaphores live in (glibc's shm_open and sem_open,
/// so Python's multiprocessing locks and queues): every Linux has it, the image cannot (/dev is
/// the runtime's), so it is made in the writable layer, sticky and writable by all as on
/// Linux, the first time a path below it is resolved.
const DEV_SHM: &[u8] = b"/dev/shm";

/// Name prefix of a whiteout in the host writable layer: `.wh.NAME` hides the image's NAME.
const WH: &[u8] = b".wh.";
/// Marker file of an opaque directory of the host writable layer.
const OPQ: &[u8] = b".wh..wh..opq";

/// Where a write to a path goes.
pub enum Place<'a> {
    /// The in-memory overlay.
    Memory,
    /// A host directory: index, relative path, and whether it is the layered upper (dir 0).
    Host(usize, Vec<u8>, bool, &'a HostLayer),
}

fn rel_of(p: &[u8]) -> &[u8] {
    if p.len() <= 1 {
        b""
    } else {
        &p[1..]
    }
}

fn join_rel(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut v = dir.to_vec();
    if !v.is_empty() {
        v.push(b'/');
    }
    v.extend_from_slice(name);
    v
}

fn kind_of_mode(mode: u32) -> NodeKind {
    match mode & 0o170000 {
        0o040000 => NodeKind::Dir,
        0o120000 => NodeKind::Symlink,
        0o100000 => NodeKind::File,
        _ => NodeKind::CharDev,
    }
}

impl Vfs {
    /// A namespace over `image` with an empty writable layer. `fatal` ends the app when the
    /// image turns out damaged or tampered with: a chunk, or a table page the image checks on
    /// first use.
    pub fn new(mut image: Image<'static>, exe_path: Vec<u8>, fatal: fn(ImageError) -> !) -> Self {
        image.set_fatal(fatal);
        let cache = ChunkCache::new(image.header().chunk_count);
        Self {
            image,
            cache,
            overlay: SpinMutex::new(Overlay::new()),
            exe_path: SpinMutex::new(exe_path),
            fatal,
            upper_neg: SpinMutex::new(UpperNegCache::default()),
            dev_shm_made: core::sync::atomic::AtomicBool::new(false),
            host: None,
            proc: SpinMutex::new(None),
            ids: None,
        }
    }

    fn view(&self) -> Option<&'static dyn ProcView> {
        *self.proc.lock()
    }

    /// The synthetic node at `p` (/dev, /proc/self, /proc/<own pid>, /proc/self/fd/N).
    fn synth_at(&self, p: &[u8]) -> Option<Synth> {
        if !(p.starts_with(b"/proc/") || p.starts_with(b"/dev/")) {
            return None;
        }
        if p == b"/proc/self" {
            return Some(Synth::ProcSelfLink);
        }
        let view = self.view();
        let tids = view.map(|v| v.tids()).unwrap_or_default();
        let Some(s) = Synth::find(&alias_task(p, view.map_or(0, |v| v.pid()), &tids)) else {
            return crate::fs::synth::find_other(p, &view?.others());
        };
        if let Synth::ProcFdLink(n) = s {
            view?.fd_target(n)?;
        }
        Some(s)
    }

    /// Adds the synthetic entries of directory `p` to a listing (skipping names already there).
    fn synth_children(&self, p: &[u8], out: &mut Vec<DirEntry>) {
        let view = self.view();
        let pid = view.map_or(0, |v| v.pid());
        let tids = view.map(|v| v.tids()).unwrap_or_default();
        let a = alias_task(p, pid, &tids);
        let add = |out: &mut Vec<DirEntry>, name: &[u8], ino: u64, kind: NodeKind| {
            if !out.iter().any(|d| d.name == name) {
                out.push(DirEntry { name: name.to_vec(), ino, kind });
            }
        };
        for (sp, s) in SYNTH_TABLE {
            if path::parent(sp) == a.as_slice() {
                add(out, path::name(sp), s.ino(), s.kind());
            }
        }
        if a == b"/proc" && pid > 0 {
            let mut buf = [0u8; 20];
            let name = crate::shim::fmt_usize(pid as usize, &mut buf).to_vec();
            add(out, &name, Synth::ProcSelf.ino(), NodeKind::Dir);
        }
        if a == b"/proc" {
            for other in view.map(|v| v.others()).unwrap_or_default() {
                let mut buf = [0u8; 20];
                let name = crate::shim::fmt_usize(other as usize, &mut buf).to_vec();
                add(out, &name, Synth::ProcPid(other).ino(), NodeKind::Dir);
            }
        }
        if let Some(Synth::ProcPid(other)) = view.and_then(|v| crate::fs::synth::find_other(&a, &v.others())) {
            for (i, f) in crate::fs::synth::PID_FILES.iter().enumerate() {
                add(out, f, Synth::ProcPidFile(other, i as u8).ino(), NodeKind::File);
            }
            add(out, b"exe", Synth::ProcPidExe(other).ino(), NodeKind::Symlink);
            add(out, b"task", Synth::ProcPidTask(other).ino(), NodeKind::Dir);
        }
        if let Some(Synth::ProcPidTask(other)) = view.and_then(|v| crate::fs::synth::find_other(&a, &v.others())) {
            let mut buf = [0u8; 20];
            let name = crate::shim::fmt_usize(other as usize, &mut buf).to_vec();
            add(out, &name, Synth::ProcPid(other).ino(), NodeKind::Dir);
        }
        if a == b"/proc/self/task" && pid > 0 {
            for t in tids.iter().copied().chain((tids.is_empty()).then_some(pid)) {
                let mut buf = [0u8; 20];
                let name = crate::shim::fmt_usize(t as usize, &mut buf).to_vec();
                add(
                    out,
                    &name,
                    Synth::ProcSelf.ino() + if t == pid { 0 } else { 0x1000_0000 + t as u32 as u64 },
                    NodeKind::Dir,
                );
            }
        }
        if a == b"/proc/self/fd" {
            for fd in view.map(|v| v.fds()).unwrap_or_default() {
                let mut buf = [0u8; 20];
                let name = crate::shim::fmt_usize(fd as usize, &mut buf).to_vec();
                add(out, &name, Synth::ProcFdLink(fd).ino(), NodeKind::Symlink);
            }
        }
    }

    /// The descriptor a /proc/self/fd/N link stands for when it is not a path of the
    /// namespace (a pipe, a socket, a host stream): opening it reaches that object itself.
    pub fn magic_fd(&self, n: &Node) -> Option<i32> {
        match n {
            Node::Synth(Synth::ProcFdLink(fd)) => match self.view()?.fd_target(*fd) {
                Some((_, false)) => Some(*fd),
                _ => None,
            },
            _ => None,
        }
    }

    /// The mount that `p` lies in (the longest guest prefix), with `p` relative to it.
    fn mount_of<'a>(&'a self, p: &'a [u8]) -> Option<(&'a MountPoint, &'a [u8])> {
        let h = self.host.as_ref()?;
        let m = h.mounts.iter().filter(|m| path::is_within(p, &m.guest)).max_by_key(|m| m.guest.len())?;
        let rest = &p[m.guest.len()..];
        Some((m, rest.strip_prefix(b"/").unwrap_or(rest)))
    }

    /// Where a change to `p` goes; EROFS inside a read-only mount; ENOENT below /proc, which
    /// holds only what the library OS generates (a file, directory, FIFO, symlink or socket
    /// cannot be made there, as in Linux's procfs).
    pub fn place(&self, p: &[u8]) -> Result<Place<'_>, Errno> {
        if path::is_within(p, b"/proc") {
            return Err(ENOENT);
        }
        let Some(h) = self.host.as_ref() else { return Ok(Place::Memory) };
        if let Some((m, rel)) = self.mount_of(p) {
            if !m.writable {
                return Err(EROFS);
            }
            return Ok(Place::Host(m.dir, rel.to_vec(), false, h));
        }
        if h.upper {
            Ok(Place::Host(0, rel_of(p).to_vec(), true, h))
        } else {
            Ok(Place::Memory)
        }
    }

    /// True if the host writable layer hides the image's entry at `p` (a whiteout next to it
    /// or an opaque parent).
    fn upper_hides(h: &HostLayer, p: &[u8]) -> bool {
        if p == b"/" {
            return false;
        }
        let prel = rel_of(path::parent(p));
        let mut wh = WH.to_vec();
        wh.extend_from_slice(path::name(p));
        h.ops.lstat(0, &join_rel(prel, &wh)).is_ok() || h.ops.lstat(0, &join_rel(prel, OPQ)).is_ok()
    }

    /// Makes every ancestor directory of `p` exist in the host writable layer, copying modes
    /// from the image.
    fn upper_parents(&self, h: &HostLayer, p: &[u8]) -> Result<(), Errno> {
        let parent = path::parent(p);
        let mut cur: Vec<u8> = Vec::new();
        for c in path::components(parent) {
            cur = join_rel(&cur, c);
            match h.ops.lstat(0, &cur) {
                Ok(st) if kind_of_mode(st.st_mode) == NodeKind::Dir => continue,
                Ok(_) => return Err(ENOTDIR),
                Err(_) => {}
            }
            let mut abs = b"/".to_vec();
            abs.extend_from_slice(&cur);
            let mode = self.image.lookup(&abs).map(|i| self.image.entry(i).mode).unwrap_or(0o755);
            match h.ops.mkdir(0, &cur, mode & 0o7777) {
                Ok(()) | Err(EEXIST) => {}
                Err(e) => return Err(e),
            }
            let _ = h.ops.chmod(0, &cur, mode & 0o7777);
        }
        Ok(())
    }

    /// Prepares the host writable layer for a new name at `p`: parents exist, a whiteout
    /// there is removed. Returns whether a whiteout was removed (the new node replaces an image
    /// entry the app deleted) or the parent is opaque.
    fn upper_prepare(&self, h: &HostLayer, p: &[u8]) -> Result<bool, Errno> {
        self.upper_parents(h, p)?;
        let prel = rel_of(path::parent(p));
        let mut wh = WH.to_vec();
        wh.extend_from_slice(path::name(p));
        let removed = h.ops.unlink(0, &join_rel(prel, &wh), false).is_ok();
        Ok(removed || h.ops.lstat(0, &join_rel(prel, OPQ)).is_ok())
    }

    /// Records in the host writable layer that the image's `p` was removed, if the image has it.
    fn upper_whiteout(&self, h: &HostLayer, p: &[u8]) -> Result<(), Errno> {
        if self.image.lookup(p).is_none() || Self::upper_hides(h, p) {
            return Ok(());
        }
        self.upper_parents(h, p)?;
        let mut wh = WH.to_vec();
        wh.extend_from_slice(path::name(p));
        let fd = h.ops.open(0, &join_rel(rel_of(path::parent(p)), &wh), O_CREAT_W, 0o600)?;
        h.ops.close(fd);
        Ok(())
    }

    /// Creates (O_EXCL) a regular file at `p` in a host directory and opens it with
    /// `flags`; returns the host descriptor.
    pub fn host_create(&self, p: &[u8], flags: u32, mode: u32) -> Result<i32, Errno> {
        match self.place(p)? {
            Place::Host(dir, rel, upper, h) => {
                if upper {
                    self.upper_prepare(h, p)?;
                }
                let fd = h.ops.open(dir, &rel, (flags & !O_TRUNC_BIT) | O_CREAT_BIT | O_EXCL_BIT, mode)?;
                // The host applies the runtime's own umask; the app's (already applied to
                // `mode`) is the one that counts, so group and other bits are set again.
                if mode & 0o077 != 0 && h.ops.lstat(dir, &rel).is_ok_and(|st| st.st_mode & 0o7777 != mode) {
                    let _ = h.ops.chmod(dir, &rel, mode);
                }
                Ok(fd)
            }
            Place::Memory => Err(EROFS),
        }
    }

    /// Makes [`DEV_SHM`] in the writable layer (mode 1777) unless it exists: before a path
    /// below it is resolved. A failure (a read-only layer) leaves it missing, as before.
    #[cold]
    fn dev_shm(&self) {
        use core::sync::atomic::Ordering::Relaxed;
        if self.dev_shm_made.load(Relaxed) {
            return;
        }
        if self.lookup(DEV_SHM).is_none() {
            match self.host_mkdir(DEV_SHM, 0o1777) {
                Ok(true) => {}
                Ok(false) => self.mkdir(DEV_SHM, 0o1777),
                Err(_) => return,
            }
        }
        self.dev_shm_made.store(true, Relaxed);
    }

    /// An unnamed regular file (O_TMPFILE) on the host, for an O_TMPFILE open in directory `dir`
    /// or a memfd_create (`dir` "/"), opened with `flags` (access mode, O_APPEND, O_NONBLOCK,
    /// O_EXCL) and `mode`: in the host directory that holds `dir` (the writable layer's root for
    /// the layer, the mount's directory for a writable mount), so that, like any host file, it
    /// is one file for every process that inherits the descriptor (an in-memory file is copied
    /// by a fork, and a child's writes were lost to its parent). None when writes go to the
    /// in-memory layer, or the host's file system has no O_TMPFILE (EOPNOTSUPP, or EISDIR from
    /// a kernel that predates it): the caller then makes an in-memory file. EROFS in a read-only
    /// mount.
    pub fn host_tmpfile(&self, dir: &[u8], flags: u32, mode: u32) -> Result<Option<i32>, Errno> {
        const O_TMPFILE: u32 = 0o20200000;
        const KEEP: u32 = 0o3 | 0o2000 | 0o4000 | O_EXCL_BIT; // access mode, O_APPEND, O_NONBLOCK
        let (index, rel, h) = match self.place(dir)? {
            Place::Memory => return Ok(None),
            Place::Host(index, _, true, h) => (index, b".".to_vec(), h),
            Place::Host(index, rel, false, h) => (index, if rel.is_empty() { b".".to_vec() } else { rel }, h),
        };
        match h.ops.open(index, &rel, (flags & KEEP) | O_TMPFILE, mode) {
            Ok(fd) => Ok(Some(fd)),
            Err(EOPNOTSUPP | EISDIR) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens an existing host node with `flags` (O_TRUNC honoured); EROFS for writes in a
    /// read-only mount.
    pub fn host_open(&self, n: &HostNode, p: &[u8], flags: u32) -> Result<i32, Errno> {
        let h = self.host.as_ref().ok_or(ENOENT)?;
        let acc = flags & 3;
        if acc != 0 || flags & O_TRUNC_BIT != 0 {
            self.place(p)?;
        }
        h.ops.open(n.dir, &n.rel, flags & !(O_CREAT_BIT | O_EXCL_BIT), 0)
    }

    /// Copies the image file at `p` into the host writable layer and opens the copy with
    /// `flags`.
    /// [`Vfs::host_copy_up`] for a change made by path afterwards (chmod, times, a link, a
    /// rename or exchange): the copy is made, nothing is kept open.
    pub fn host_copy_up_only(&self, p: &[u8], entry: u32) -> Result<(), Errno> {
        let fd = self.host_copy_up(p, entry, 0)?;
        if let Some(h) = self.host.as_ref() {
            h.ops.close(fd);
        }
        Ok(())
    }

    pub fn host_copy_up(&self, p: &[u8], entry: u32, flags: u32) -> Result<i32, Errno> {
        let Place::Host(_, rel, true, h) = self.place(p)? else { return Err(EROFS) };
        let e = self.image.entry(entry);
        self.upper_prepare(h, p)?;
        let fd = h.ops.open(0, &rel, O_CREAT_W | O_EXCL_BIT, e.mode & 0o7777)?;
        let mut off = 0u64;
        if flags & O_TRUNC_BIT == 0 {
            let mut buf = alloc::vec![0u8; 64 << 10];
            loop {
                let n = self.read_at(&Node::Image(entry), off, &mut buf)?;
                if n == 0 {
                    break;
                }
                let mut done = 0;
                while done < n {
                    match h.ops.pwrite(fd, off + done as u64, &buf[done..n]) {
                        Ok(w) => done += w,
                        Err(err) => {
                            h.ops.close(fd);
                            return Err(err);
                        }
                    }
                }
                off += n as u64;
            }
        }
        h.ops.close(fd);
        h.ops.open(0, &rel, flags & !(O_CREAT_BIT | O_EXCL_BIT | O_TRUNC_BIT), 0)
    }

    /// The node's type.
    pub fn kind(&self, n: &Node) -> NodeKind {
        match n {
            Node::Image(i) => match self.image.entry(*i).kind {
                EntryKind::Dir => NodeKind::Dir,
                EntryKind::File => NodeKind::File,
                EntryKind::Symlink => NodeKind::Symlink,
            },
            Node::OverlayDir { .. } => NodeKind::Dir,
            Node::OverlayFile(_) => NodeKind::File,
            Node::OverlaySymlink { .. } => NodeKind::Symlink,
            Node::Synth(s) => s.kind(),
            Node::Host(h) => kind_of_mode(h.st.st_mode),
        }
    }

    /// True if the image's view of `p` is hidden by the overlay (whiteout, opaque directory or
    /// a non-directory replacing it at `p` or at an ancestor).
    fn image_hidden(ov: &Overlay, p: &[u8]) -> bool {
        let mut a = p.to_vec();
        loop {
            match ov.entries.get(&a) {
                Some(OverlayEntry::Whiteout)
                | Some(OverlayEntry::File(_))
                | Some(OverlayEntry::Symlink { .. })
                | Some(OverlayEntry::Dir { opaque: true, .. }) => return true,
                _ => {}
            }
            if a == b"/" {
                return false;
            }
            path::pop(&mut a);
        }
    }

    /// The image entry visible at `p`, if any.
    fn image_at(&self, ov: &Overlay, p: &[u8]) -> Option<u32> {
        let i = self.image.lookup(p)?;
        if Self::image_hidden(ov, p) {
            None
        } else {
            Some(i)
        }
    }

    fn lookup_exact(&self, ov: &Overlay, p: &[u8]) -> Option<Node> {
        self.lookup_searched(ov, p).ok().flatten()
    }

    /// [`Vfs::lookup_exact`], or EACCES where a host directory on the way cannot be searched
    /// (the app took its search permission away: a sandbox's root has no CAP_DAC_OVERRIDE).
    fn lookup_searched(&self, ov: &Overlay, p: &[u8]) -> Result<Option<Node>, Errno> {
        if let Some(h) = self.host.as_ref() {
            if let Some((m, rel)) = self.mount_of(p) {
                return match h.ops.lstat(m.dir, rel) {
                    Ok(st) => Ok(Some(Node::Host(HostNode { dir: m.dir, rel: rel.to_vec(), st }))),
                    Err(EACCES) => Err(EACCES),
                    Err(_) => Ok(None),
                };
            }
            if h.upper {
                if let Some(s) = self.synth_at(p) {
                    return Ok(Some(Node::Synth(s)));
                }
                if p == b"/" {
                    return Ok(self.image.lookup(p).map(Node::Image));
                }
                let rel = rel_of(p);
                // The generation is read before the host lookup: a change racing with it moves
                // the generation on, and the answer cached under the old one is dropped.
                let generation = h.ops.generation();
                let cached = generation.and_then(|g| self.upper_neg.lock().get(g, rel));
                let was_cached = cached.is_some();
                let found = cached.unwrap_or_else(|| h.ops.lookup_upper(rel));
                return Ok(match found {
                    UpperLookup::Found(st) => Some(Node::Host(HostNode { dir: 0, rel: rel.to_vec(), st })),
                    UpperLookup::Unsearchable => return Err(EACCES),
                    UpperLookup::Hidden | UpperLookup::Absent => {
                        let hidden = matches!(found, UpperLookup::Hidden);
                        if let (Some(g), false) = (generation, was_cached) {
                            self.upper_neg.lock().put(g, rel, hidden);
                        }
                        if hidden {
                            None
                        } else {
                            self.image
                                .lookup(p)
                                .map(Node::Image)
                                .or_else(|| self.mount_parent(p))
                                .or_else(|| etc_fallback(p))
                        }
                    }
                });
            }
        }
        match ov.entries.get(p) {
            Some(OverlayEntry::Whiteout) => return Ok(None),
            Some(OverlayEntry::Dir { ino, mode, .. }) => return Ok(Some(Node::OverlayDir { ino: *ino, mode: *mode })),
            Some(OverlayEntry::File(f)) => return Ok(Some(Node::OverlayFile(f.clone()))),
            Some(OverlayEntry::Symlink { ino, target }) => {
                return Ok(Some(Node::OverlaySymlink { ino: *ino, target: target.clone() }))
            }
            None => {}
        }
        if let Some(s) = self.synth_at(p) {
            return Ok(Some(Node::Synth(s)));
        }
        if Self::image_hidden(ov, p) {
            return Ok(None);
        }
        Ok(self.image_at(ov, p).map(Node::Image).or_else(|| self.mount_parent(p)).or_else(|| etc_fallback(p)))
    }

    /// A directory on the way to a mount's guest path that nothing else provides (a mount at
    /// /data/rw where the image has no /data): the sandbox shows it, as the mount point's
    /// parent must exist on Linux; an empty directory (mode 0755) holding the mount's name.
    fn mount_parent(&self, p: &[u8]) -> Option<Node> {
        let h = self.host.as_ref()?;
        let i = h.mounts.iter().position(|m| m.guest.len() > p.len() && path::is_within(&m.guest, p))?;
        let depth = p.iter().filter(|&&c| c == b'/').count() as u64;
        Some(Node::OverlayDir { ino: 0xfffe_0000 + ((i as u64) << 8) + depth, mode: 0o755 })
    }

    /// The node at normalized absolute path `p`, without following a final symlink.
    pub fn lookup(&self, p: &[u8]) -> Option<Node> {
        let ov = self.overlay.lock();
        self.lookup_exact(&ov, p)
    }

    /// Resolves `p` relative to `cwd` as Linux does: `.`/`..` per component, symlinks followed
    /// (the last one only if `follow_last`), at most 40 links (ELOOP), ENOTDIR when a middle
    /// component is not a directory, ENOENT when a middle component is missing.
    pub fn resolve(&self, cwd: &[u8], p: &[u8], follow_last: bool) -> Result<Resolved, Errno> {
        if p.is_empty() {
            return Err(ENOENT);
        }
        if p.starts_with(b"/dev/shm/") || (p[0] != b'/' && cwd.starts_with(DEV_SHM)) {
            self.dev_shm();
        }
        if p.len() >= 4096 {
            return Err(ENAMETOOLONG);
        }
        let must_be_dir = p.ends_with(b"/");
        let follow_last = follow_last || must_be_dir;
        let mut cur: Vec<u8> = if p[0] == b'/' { b"/".to_vec() } else { cwd.to_vec() };
        let mut pending: Vec<Vec<u8>> = path::components(p).rev().map(|c| c.to_vec()).collect();
        let mut links = 0u32;
        let ov = self.overlay.lock();
        while let Some(comp) = pending.pop() {
            if comp.len() > 255 {
                return Err(ENAMETOOLONG);
            }
            if comp == b".." {
                path::pop(&mut cur);
                continue;
            }
            let last = pending.is_empty();
            let mut cand = cur.clone();
            path::push(&mut cand, &comp);
            match self.lookup_searched(&ov, &cand)? {
                None if last => return Ok(Resolved { path: cand, node: None }),
                None => return Err(ENOENT),
                Some(n) if (!last || follow_last) && self.magic_fd(&n).is_some() => {
                    // /proc/self/fd/N of a pipe or socket: the object itself, not a path.
                    if !last {
                        return Err(ENOTDIR);
                    }
                    return Ok(Resolved { path: cand, node: Some(n) });
                }
                Some(n) => match self.kind(&n) {
                    NodeKind::Symlink if !last || follow_last => {
                        links += 1;
                        if links > MAX_SYMLINKS {
                            return Err(ELOOP);
                        }
                        let target = self.link_target(&n);
                        if target.first() == Some(&b'/') {
                            cur = b"/".to_vec();
                        }
                        pending.extend(path::components(&target).rev().map(|c| c.to_vec()));
                    }
                    NodeKind::Dir => cur = cand,
                    _ if !last => return Err(ENOTDIR),
                    _ => {
                        if must_be_dir {
                            return Err(ENOTDIR);
                        }
                        return Ok(Resolved { path: cand, node: Some(n) });
                    }
                },
            }
        }
        let node = self.lookup_exact(&ov, &cur);
        if node.is_none() {
            return Err(ENOENT);
        }
        Ok(Resolved { path: cur, node })
    }

    /// [`Vfs::resolve`] of absolute path `p` from `/`, following symlinks, answered through the
    /// image's index alone when the walk can only end at that image file: no host layer
    /// (mounts, a writable layer on the host; linux-userland always has one, so it pays one
    /// test), nothing in the in-memory writable layer (as at a VM target's first program load),
    /// `p` outside `/proc/` and `/dev/` (the synthetic nodes), `p` the path of an image file
    /// entry (entry paths are normalized: no `.`, `..`, empty or trailing component), every
    /// ancestor an image directory (no symlink to follow, nothing that is not a directory),
    /// every component at most 255 bytes and `p` shorter than 4096. The walk then finds each
    /// ancestor a directory and goes on, then `p` a file: its answer is this one. None: walk
    /// (`resolve`). A program load on a VM target under TCG saves the walk's code (~100
    /// distinct blocks translated for the load alone).
    #[inline(always)]
    pub fn resolve_image_file(&self, p: &[u8]) -> Option<Resolved> {
        if self.host.is_some() {
            return None;
        }
        self.image_file_at(p)
    }

    /// [`Vfs::resolve_image_file`] without a host layer. Never inlined: linux-userland never
    /// runs it, and its start-up code (startup-order.ld) does not grow by it.
    #[inline(never)]
    fn image_file_at(&self, p: &[u8]) -> Option<Resolved> {
        if p.len() >= 4096 || p.starts_with(b"/proc/") || p.starts_with(b"/dev/") {
            return None;
        }
        // Held to the end, as the walk holds it.
        let ov = self.overlay.lock();
        if !ov.entries.is_empty() {
            return None;
        }
        let i = self.image.lookup(p)?;
        let e = self.image.entry(i);
        if e.kind != EntryKind::File || e.path != p {
            return None;
        }
        // Each ancestor (`p` up to each '/' after the first) an image directory.
        let mut start = 1;
        for at in 1..p.len() {
            if p[at] != b'/' {
                continue;
            }
            let d = self.image.lookup(&p[..at]);
            if at - start > 255 || d.is_none_or(|d| self.image.entry(d).kind != EntryKind::Dir) {
                return None;
            }
            start = at + 1;
        }
        if p.len() - start > 255 {
            return None;
        }
        Some(Resolved { path: p.to_vec(), node: Some(Node::Image(i)) })
    }

    fn link_target(&self, n: &Node) -> Vec<u8> {
        match n {
            Node::Image(i) => self.image.symlink_target(&self.image.entry(*i)).to_vec(),
            Node::OverlaySymlink { target, .. } => target.clone(),
            Node::Synth(Synth::ProcSelfExe) => self.exe_path.lock().clone(),
            Node::Synth(Synth::ProcPidExe(pid)) => self.view().and_then(|v| v.other_exe(*pid)).unwrap_or_default(),
            Node::Synth(Synth::ProcSelfLink) => {
                let mut buf = [0u8; 20];
                let pid = self.view().map_or(0, |v| v.pid());
                crate::shim::fmt_usize(pid.max(0) as usize, &mut buf).to_vec()
            }
            Node::Synth(Synth::ProcSelfCwd) => self.view().map(|v| v.cwd()).unwrap_or_default(),
            Node::Synth(Synth::ProcFdLink(fd)) => {
                self.view().and_then(|v| v.fd_target(*fd)).map(|t| t.0).unwrap_or_default()
            }
            Node::Synth(Synth::DevFd) => b"/proc/self/fd".to_vec(),
            Node::Synth(Synth::DevStd(n)) => {
                let mut v = b"/proc/self/fd/".to_vec();
                v.push(b'0' + n);
                v
            }
            Node::Host(n) => self.host.as_ref().and_then(|h| h.ops.readlink(n.dir, &n.rel).ok()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// readlink("/proc/self/exe") answered without walking the path, when nothing can make the
    /// walk end elsewhere: no host layer (mounts, writable layer; linux-userland always has
    /// one, so it only compares the path and tests `host`), nothing in the writable layer at
    /// `/`, `/proc` or below `/proc/`, the image's `/proc` a directory and the process's pid
    /// not negative. The walk then always goes `/proc` (the image's directory), `/proc/self`
    /// (the link to `<pid>`), `/proc/<pid>` (`/proc/self`), `/proc/<pid>/exe` (the link), whose
    /// target this returns. Every static glibc program reads this link at start-up; the walk
    /// through the synthetic tree is ~150 distinct blocks of code that a VM target under TCG
    /// translates for it alone. None: resolve as usual (`p` is another path, or a condition
    /// fails). Inlined into readlinkat: a function of its own would lie outside linux-userland's
    /// start-up code order (startup-order.ld), one more 64 KiB window of code resident.
    #[inline(always)]
    pub fn self_exe_link(&self, p: &[u8]) -> Option<Vec<u8>> {
        if p != b"/proc/self/exe" || self.host.is_some() || self.view().is_some_and(|v| v.pid() < 0) {
            return None;
        }
        {
            // No `get` here: a third caller would make it a function of its own, and
            // `lookup_exact`'s call to it would leave linux-userland's start-up code order.
            let ov = self.overlay.lock();
            // "/" sorts before every other absolute path; "/proc" and the keys below "/proc/"
            // lie among the keys from "/proc" on that start with "/proc".
            let root = ov.entries.first_key_value().is_some_and(|(k, _)| k.as_slice() == b"/");
            let proc = ov
                .entries
                .range::<[u8], _>((Bound::Included(&b"/proc"[..]), Bound::Unbounded))
                .map(|(k, _)| k)
                .take_while(|k| k.starts_with(b"/proc"))
                .any(|k| k.as_slice() == b"/proc" || k.starts_with(b"/proc/"));
            if root || proc {
                return None;
            }
        }
        let proc_dir = self.image.lookup(b"/proc")?;
        if self.image.entry(proc_dir).kind != EntryKind::Dir {
            return None;
        }
        Some(self.exe_path.lock().to_vec())
    }

    /// readlink: the target of a symlink node, EINVAL for anything else.
    pub fn readlink(&self, n: &Node) -> Result<Vec<u8>, Errno> {
        if self.kind(n) != NodeKind::Symlink {
            return Err(EINVAL);
        }
        Ok(self.link_target(n))
    }

    /// The image's directory at the writable layer's `rel`, if the image has one there (one
    /// that a directory removed and made again in the layer hides counts too: its number is
    /// free to be used again, as Linux's are).
    fn image_dir_under(&self, rel: &[u8]) -> Option<u32> {
        let mut p = Vec::with_capacity(rel.len() + 1);
        p.push(b'/');
        p.extend_from_slice(rel);
        self.image.lookup(&p).filter(|&i| self.image.entry(i).kind == EntryKind::Dir)
    }

    /// Gives the host's stat of the host file at `p` the device and number a stat by path
    /// reports for it ([`host_dir_dev`], [`layer_ino`], as [`Vfs::stat`] of a `Node::Host`), so
    /// that an fstat of the file's descriptor says the same; unchanged where `p` is not in a
    /// host directory.
    pub fn host_ids(&self, p: &[u8], st: &mut Stat) {
        // No path: a host object of its own (a standard stream, a descriptor received with
        // SCM_RIGHTS), whose stat is the host's.
        let (Some(h), false) = (self.host.as_ref(), p.is_empty()) else { return };
        match self.mount_of(p) {
            Some((m, _)) => st.st_dev = host_dir_dev(m.dir),
            None if h.upper => {
                st.st_dev = host_dir_dev(0);
                st.st_ino = layer_ino(st.st_ino);
            }
            None => {}
        }
    }

    /// Shows a host file's owner as the app's ids when it is the host user the runtime runs as
    /// and the policy sets uid/gid.
    pub fn map_ids(&self, st: &mut Stat) {
        if let Some(m) = self.ids {
            if st.st_uid == m.host.0 {
                st.st_uid = m.app.0;
            }
            if st.st_gid == m.host.1 {
                st.st_gid = m.app.1;
            }
        }
    }

    /// A regular file's length (`stat`'s st_size), without building the rest of the record
    /// for an image file: the loader asks it once per program.
    pub fn file_len(&self, n: &Node) -> u64 {
        match n {
            Node::Image(i) => self.image.entry(*i).size,
            _ => self.stat(n).st_size as u64,
        }
    }

    /// stat of a node.
    pub fn stat(&self, n: &Node) -> Stat {
        let mut st = Stat { st_dev: DEV, st_nlink: 1, st_blksize: 4096, ..Default::default() };
        let (mode, size, ino, mtime, uid, gid): (u32, u64, u64, i64, u32, u32) = match n {
            Node::Image(i) => {
                let e = self.image.entry(*i);
                let t = match e.kind {
                    EntryKind::Dir => S_IFDIR,
                    EntryKind::File => S_IFREG,
                    EntryKind::Symlink => S_IFLNK,
                };
                let size = if e.kind == EntryKind::Dir { 4096 } else { e.size };
                (t | e.mode, size, *i as u64 + 2, e.mtime, e.uid, e.gid)
            }
            Node::OverlayDir { ino, mode } => (S_IFDIR | mode, 4096, *ino, 0, 0, 0),
            Node::OverlayFile(f) => {
                let len = f.data.lock().len() as u64;
                let mode = f.mode.load(core::sync::atomic::Ordering::Relaxed);
                st.st_nlink = f.nlink.load(core::sync::atomic::Ordering::Relaxed) as u64;
                let t = if crate::fifo::is_fifo(f.ino) {
                    S_IFIFO
                } else if crate::unixsock::is_socket_inode(f.ino) {
                    crate::abi::S_IFSOCK
                } else {
                    S_IFREG
                };
                (t | mode, len, f.ino, f.mtime() as i64, 0, 0)
            }
            Node::OverlaySymlink { ino, target } => (S_IFLNK | 0o777, target.len() as u64, *ino, 0, 0, 0),
            Node::Host(h) => {
                let mut st = h.st;
                st.st_dev = host_dir_dev(h.dir);
                if h.dir == 0 {
                    st.st_ino = layer_ino(st.st_ino);
                }
                if h.dir == 0 && st.st_mode & crate::abi::S_IFMT == S_IFDIR {
                    if let Some(i) = self.image_dir_under(&h.rel) {
                        // A directory of the image that the writable layer holds too (made
                        // there when the app first wrote below it): the image's device and
                        // number, so it stays the same directory across that copy-up, as on
                        // overlayfs (tar -C DIR checks that DIR was not replaced while it
                        // extracted into it).
                        st.st_dev = DEV;
                        st.st_ino = i as u64 + 2;
                    }
                }
                self.map_ids(&mut st);
                return st;
            }
            Node::Synth(s) => {
                let (maj, min) = s.rdev();
                st.st_rdev = ((maj as u64) << 8) | min as u64;
                let mode = match s.kind() {
                    NodeKind::Dir if *s == Synth::ProcSelfFd => S_IFDIR | 0o500,
                    NodeKind::Dir => S_IFDIR | 0o555,
                    NodeKind::Symlink => S_IFLNK | 0o777,
                    NodeKind::File => S_IFREG | 0o444,
                    _ => S_IFCHR | 0o666,
                };
                // /proc/self belongs to the process, devices to root.
                let (u, g) = match (s.kind(), self.ids) {
                    (NodeKind::CharDev, _) | (_, None) => (0, 0),
                    (_, Some(m)) => m.app,
                };
                (mode, 0, s.ino(), 0, u, g)
            }
        };
        let (uid, gid) = match (n, self.ids) {
            (
                Node::Image(_) | Node::OverlayDir { .. } | Node::OverlayFile(_) | Node::OverlaySymlink { .. },
                Some(m),
            ) => m.app,
            _ => (uid, gid),
        };
        st.st_mode = mode;
        st.st_size = size as i64;
        st.st_ino = ino;
        st.st_uid = uid;
        st.st_gid = gid;
        st.st_mtime = mtime;
        st.st_atime = match n {
            Node::OverlayFile(f) => f.atime.load(core::sync::atomic::Ordering::Relaxed) as i64,
            _ => mtime,
        };
        st.st_ctime = mtime;
        st.st_blocks = size.div_ceil(512) as i64;
        if mode & S_IFDIR == S_IFDIR && mode & 0o170000 == S_IFDIR {
            st.st_nlink = 2;
        }
        st
    }

    /// Tells the chunk cache that the app opened `n`: anything but a file of the image (a
    /// directory, a host file) lets go of the decoded chunks and the decoder's memory
    /// (`ChunkCache::let_go_all`). An app rarely reads a chunk again across such an open (an
    /// importing Python opens a package's directory once, after its first module), so few
    /// chunks are decoded again, and the last one decoded at start-up does not stay resident.
    #[inline(always)]
    pub fn opened(&self, n: &Node) {
        let image_file = matches!(n, Node::Image(i) if self.image.entry(*i).kind == EntryKind::File);
        if !image_file {
            self.cache.let_go_all();
        }
    }

    /// Reads bytes of a file node at `off`. A damaged or tampered chunk ends the process
    /// through `fatal`: altered bytes never reach the app.
    pub fn read_at(&self, n: &Node, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.read_at_maybe_once(n, off, buf, false)
    }

    /// Like [`Vfs::read_at`], for bytes the caller will not read again soon (a program's
    /// segments at load): image chunks the read covers whole are decoded straight into `buf`
    /// rather than kept in the chunk cache (`ChunkCache::read_once`).
    pub fn read_once_at(&self, n: &Node, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.read_at_maybe_once(n, off, buf, true)
    }

    /// The image offset of bytes `[off, off + len)` of an image file when they can be mapped
    /// straight from the image (stored raw, back to back: `Image::raw_span`), after checking
    /// their chunks' digests once (a tampered chunk ends the process through `fatal`, as a
    /// read does). None: copy them instead. Never inlined: with two callers (the loader's
    /// mapping, `read_in_memory`) it would be, and the chunk cache's check would become a
    /// function of its own outside linux-userland's start-up code order (startup-order.ld).
    #[inline(never)]
    pub fn image_span(&self, n: &Node, off: u64, len: u64) -> Option<u64> {
        let Node::Image(i) = n else { return None };
        let e = self.image.entry(*i);
        self.cache.verified_span(&self.image, &e, off, len).unwrap_or_else(|err| (self.fatal)(err))
    }

    /// Reads bytes `[off, off + buf.len())` of image file `n` (clipped to its size) straight
    /// from the image's bytes when the image is held in memory whole (the VM targets) and they
    /// are stored raw: their chunks are checked once as for a mapping ([`Vfs::image_span`]: a
    /// tampered chunk ends the process through `fatal`), then copied, without the chunk
    /// reader. The bytes are the ones the chunk reader would copy. None when this does not
    /// apply (another node, a compressed chunk, an empty range): the caller reads through the
    /// chunk cache. Never inlined: `read_at_maybe_once` runs it only after its one test of
    /// [`Image::reads_in_place`], so a target with a file behind the image (linux-userland)
    /// never runs it and its start-up code (startup-order.ld) does not grow by it.
    #[inline(never)]
    fn read_in_memory(&self, n: &Node, off: u64, buf: &mut [u8]) -> Option<usize> {
        let Node::Image(i) = n else { return None };
        let e = self.image.entry(*i);
        if e.kind != EntryKind::File {
            return None;
        }
        if off >= e.size {
            return Some(0);
        }
        let len = core::cmp::min(buf.len() as u64, e.size - off) as usize;
        let at = self.image_span(n, off, len as u64)?;
        buf[..len].copy_from_slice(self.image.in_place(at, len)?);
        Some(len)
    }

    fn read_at_maybe_once(&self, n: &Node, off: u64, buf: &mut [u8], once: bool) -> Result<usize, Errno> {
        // An image held in memory (the VM targets): file bytes stored raw are copied from it.
        if self.image.reads_in_place() {
            if let Some(got) = self.read_in_memory(n, off, buf) {
                return Ok(got);
            }
        }
        match n {
            Node::Image(i) if once && self.image.entry(*i).kind == EntryKind::File => {
                let e = self.image.entry(*i);
                self.cache.read_once(&self.image, &e, off, buf).map_err(|err| (self.fatal)(err))
            }
            Node::Image(i) => {
                let e = self.image.entry(*i);
                match e.kind {
                    EntryKind::File => self.cache.read(&self.image, &e, off, buf).map_err(|err| (self.fatal)(err)),
                    EntryKind::Dir => Err(EISDIR),
                    EntryKind::Symlink => Err(EINVAL),
                }
            }
            Node::OverlayFile(f) => {
                let data = f.data.lock();
                if off >= data.len() as u64 {
                    return Ok(0);
                }
                let n = core::cmp::min(buf.len(), data.len() - off as usize);
                buf[..n].copy_from_slice(&data[off as usize..off as usize + n]);
                Ok(n)
            }
            Node::OverlayDir { .. } => Err(EISDIR),
            Node::Host(n) => {
                let h = self.host.as_ref().ok_or(EIO)?;
                let fd = h.ops.open(n.dir, &n.rel, 0, 0)?;
                let r = h.ops.pread(fd, off, buf);
                h.ops.close(fd);
                r
            }
            _ => Err(EINVAL),
        }
    }

    /// The whole content of a file node.
    pub fn read_all(&self, n: &Node) -> Result<Vec<u8>, Errno> {
        let size = self.stat(n).st_size as usize;
        let mut v = alloc::vec![0u8; size];
        let got = self.read_at(n, 0, &mut v)?;
        v.truncate(got);
        Ok(v)
    }

    /// The names in directory `p` (its node already resolved to a directory), merged across the
    /// layers and sorted by name. Does not include "." and "..".
    pub fn list(&self, p: &[u8]) -> Vec<DirEntry> {
        self.try_list(p).unwrap_or_default()
    }

    /// [`Vfs::list`], or EACCES when `p` is a host directory the app may not read (it took
    /// the read permission away: a sandbox's root has no CAP_DAC_OVERRIDE).
    pub fn try_list(&self, p: &[u8]) -> Result<Vec<DirEntry>, Errno> {
        let mut v = self.list_here(p)?;
        if p == b"/etc" {
            // The fallback files are names of /etc where nothing else is.
            for f in crate::fs::synth::ETC_FALLBACKS {
                let name = path::name(f);
                if let Some(Node::Synth(s)) = self.lookup(f) {
                    if !v.iter().any(|d| d.name == name) {
                        v.push(DirEntry { name: name.to_vec(), ino: s.ino(), kind: NodeKind::File });
                    }
                }
            }
            v.sort_by(|a, b| a.name.cmp(&b.name));
        }
        // A mount's directory is a name in its parent, whether or not the parent has one.
        if let Some(h) = self.host.as_ref() {
            let mut added = false;
            for m in &h.mounts {
                let name = path::name(&m.guest);
                if m.guest.len() > 1 && path::parent(&m.guest) == p && !v.iter().any(|d| d.name == name) {
                    let ino = h.ops.lstat(m.dir, b"").map_or(0, |st| st.st_ino);
                    v.push(DirEntry { name: name.to_vec(), ino, kind: NodeKind::Dir });
                    added = true;
                }
            }
            if added {
                v.sort_by(|a, b| a.name.cmp(&b.name));
            }
        }
        Ok(v)
    }

    /// [`Vfs::try_list`] without the mounts' own names.
    fn list_here(&self, p: &[u8]) -> Result<Vec<DirEntry>, Errno> {
        let readable = |r: Result<Vec<DirEntry>, Errno>| match r {
            Ok(v) => Ok(v),
            Err(EACCES) => Err(EACCES),
            Err(_) => Ok(Vec::new()),
        };
        if let Some(h) = self.host.as_ref() {
            if let Some((m, rel)) = self.mount_of(p) {
                let mut v = readable(h.ops.list(m.dir, rel))?;
                v.sort_by(|a, b| a.name.cmp(&b.name));
                return Ok(v);
            }
            if h.upper {
                let upper = readable(h.ops.list(0, rel_of(p)))?;
                return Ok(self.list_upper(upper, p));
            }
        }
        let ov = self.overlay.lock();
        let mut out: Vec<DirEntry> = Vec::new();
        if let Some(d) = self.image_at(&ov, p) {
            let e = self.image.entry(d);
            if e.kind == EntryKind::Dir {
                for c in e.data..e.data + e.size {
                    let ce = self.image.entry(c as u32);
                    let mut full = p.to_vec();
                    path::push(&mut full, ce.name());
                    if ov.entries.contains_key(&full) {
                        continue;
                    }
                    let kind = self.kind(&Node::Image(c as u32));
                    out.push(DirEntry { name: ce.name().to_vec(), ino: c + 2, kind });
                }
            }
        }
        for (name, ent) in ov.children(p) {
            let (ino, kind) = match ent {
                OverlayEntry::Whiteout => continue,
                OverlayEntry::Dir { ino, .. } => (*ino, NodeKind::Dir),
                OverlayEntry::File(f) => (f.ino, NodeKind::File),
                OverlayEntry::Symlink { ino, .. } => (*ino, NodeKind::Symlink),
            };
            out.push(DirEntry { name: name.to_vec(), ino, kind });
        }
        self.synth_children(p, &mut out);
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The merged listing of `p`, given the writable layer's entries there.
    fn list_upper(&self, upper: Vec<DirEntry>, p: &[u8]) -> Vec<DirEntry> {
        let opaque = upper.iter().any(|d| d.name == OPQ);
        let hidden = |name: &[u8]| {
            upper.iter().any(|d| d.name == name || (d.name.starts_with(WH) && &d.name[WH.len()..] == name))
        };
        let mut out: Vec<DirEntry> = upper
            .iter()
            .filter(|d| !d.name.starts_with(WH))
            .map(|d| DirEntry { ino: layer_ino(d.ino), ..d.clone() })
            .collect();
        if !opaque {
            if let Some(d) = self.image.lookup(p) {
                let e = self.image.entry(d);
                if e.kind == EntryKind::Dir {
                    for c in e.data..e.data + e.size {
                        let ce = self.image.entry(c as u32);
                        if hidden(ce.name()) {
                            // A directory of both: the layer's, with the image's number, as
                            // its stat says (`Vfs::stat`, merged directories).
                            if ce.kind == EntryKind::Dir {
                                if let Some(d) = out.iter_mut().find(|d| d.name == ce.name() && d.kind == NodeKind::Dir)
                                {
                                    d.ino = c + 2;
                                }
                            }
                            continue;
                        }
                        let kind = self.kind(&Node::Image(c as u32));
                        out.push(DirEntry { name: ce.name().to_vec(), ino: c + 2, kind });
                    }
                }
            }
        }
        self.synth_children(p, &mut out);
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// mkdir at `p` in a host directory (caller checked it does not exist).
    pub fn host_mkdir(&self, p: &[u8], mode: u32) -> Result<bool, Errno> {
        match self.place(p)? {
            Place::Memory => Ok(false),
            Place::Host(dir, rel, upper, h) => {
                let opaque = upper && self.upper_prepare(h, p)?;
                h.ops.mkdir(dir, &rel, mode)?;
                // As in host_create: the app's umask, not the runtime's.
                if mode & 0o077 != 0 && h.ops.lstat(dir, &rel).is_ok_and(|st| st.st_mode & 0o7777 != mode & 0o7777) {
                    let _ = h.ops.chmod(dir, &rel, mode & 0o7777);
                }
                if opaque {
                    let fd = h.ops.open(0, &join_rel(&rel, OPQ), O_CREAT_W, 0o600)?;
                    h.ops.close(fd);
                }
                Ok(true)
            }
        }
    }

    /// A FIFO at `p` in a host directory (caller checked it does not exist); false when `p`
    /// lies in the in-memory layer.
    pub fn host_mkfifo(&self, p: &[u8], mode: u32) -> Result<bool, Errno> {
        self.host_make(p, |h, dir, rel| h.ops.mkfifo(dir, rel, mode))
    }

    /// Makes a node at `p` in a host directory with `make` (given the layer, the directory and
    /// the path in it), the writable layer's parents prepared first; false when `p` lies in
    /// the in-memory layer.
    fn host_make(
        &self,
        p: &[u8],
        make: impl FnOnce(&HostLayer, usize, &[u8]) -> Result<(), Errno>,
    ) -> Result<bool, Errno> {
        match self.place(p)? {
            Place::Memory => Ok(false),
            Place::Host(dir, rel, upper, h) => {
                if upper {
                    self.upper_prepare(h, p)?;
                }
                make(h, dir, &rel).map(|_| true)
            }
        }
    }

    /// A socket node at `p` in a host directory (caller checked it does not exist); false
    /// when `p` lies in the in-memory layer.
    pub fn host_mksock(&self, p: &[u8], mode: u32) -> Result<bool, Errno> {
        self.host_make(p, |h, dir, rel| h.ops.mksock(dir, rel, mode))
    }

    /// statfs of host node `n`'s file system, as the host says it (`struct statfs` as 15
    /// words), with ST_RDONLY in f_flags inside a read-only mount; an image node's is the host
    /// writable layer's; None for any other node or where the host does not say.
    pub fn host_statfs(&self, n: &Node) -> Option<[i64; 15]> {
        const ST_RDONLY: i64 = 1;
        let h = self.host.as_ref()?;
        let hn = match n {
            Node::Host(hn) => hn,
            // A file or directory of the image: writes below it go to the writable layer, so
            // its file system is the layer's.
            Node::Image(_) if h.upper => return h.ops.statfs(0, b"").ok(),
            _ => return None,
        };
        let mut v = h.ops.statfs(hn.dir, &hn.rel).ok()?;
        if h.mounts.iter().any(|m| m.dir == hn.dir && !m.writable) {
            v[10] |= ST_RDONLY;
        }
        Some(v)
    }

    /// Ok if the app may read host directory `n` (the host opens it for reading and closes
    /// it again), else the host's answer (EACCES).
    pub fn host_may_read_dir(&self, n: &HostNode) -> Result<(), Errno> {
        const O_DIRECTORY: u32 = 0o200000;
        let h = self.host.as_ref().ok_or(ENOENT)?;
        let fd = h.ops.open(n.dir, &n.rel, O_DIRECTORY, 0)?;
        h.ops.close(fd);
        Ok(())
    }

    /// Opens the host FIFO `n` (the open waits for the other side as Linux's does).
    pub fn host_open_fifo(&self, n: &HostNode, flags: u32) -> Result<i32, Errno> {
        let h = self.host.as_ref().ok_or(ENOENT)?;
        h.ops.open_fifo(n.dir, &n.rel, flags & !(O_CREAT_BIT | O_EXCL_BIT | O_TRUNC_BIT))
    }

    /// symlink at `p` in a host directory (caller checked it does not exist).
    pub fn host_symlink(&self, p: &[u8], target: &[u8]) -> Result<bool, Errno> {
        match self.place(p)? {
            Place::Memory => Ok(false),
            Place::Host(dir, rel, upper, h) => {
                if upper {
                    self.upper_prepare(h, p)?;
                }
                h.ops.symlink(dir, target, &rel).map(|_| true)
            }
        }
    }

    /// A hard link `to` of the host file `from` (both resolved paths; the caller checked that
    /// `to` does not exist): EXDEV unless both lie in the same host directory (the writable
    /// layer or one mount). `None` when `to` is in the in-memory layer.
    pub fn host_link(&self, from: &[u8], to: &[u8]) -> Result<Option<()>, Errno> {
        let Place::Host(dir, rel, upper, h) = self.place(to)? else { return Ok(None) };
        let Place::Host(fdir, frel, _, _) = self.place(from)? else { return Err(EXDEV) };
        if fdir != dir {
            return Err(EXDEV);
        }
        if upper {
            self.upper_prepare(h, to)?;
        }
        h.ops.link(dir, &frel, &rel).map(Some)
    }

    /// Removes `p` (file, symlink or empty directory: the caller checked which) in a host
    /// directory; in the writable layer, hides the image's entry with a whiteout.
    pub fn host_remove(&self, p: &[u8], is_dir: bool) -> Result<bool, Errno> {
        match self.place(p)? {
            Place::Memory => Ok(false),
            Place::Host(dir, rel, upper, h) => {
                if !upper {
                    return h.ops.unlink(dir, &rel, is_dir).map(|_| true);
                }
                if h.ops.lstat(0, &rel).is_ok() {
                    if is_dir {
                        for d in h.ops.list(0, &rel).unwrap_or_default() {
                            if d.name.starts_with(WH) {
                                h.ops.unlink(0, &join_rel(&rel, &d.name), false)?;
                            }
                        }
                    }
                    h.ops.unlink(0, &rel, is_dir)?;
                }
                self.upper_whiteout(h, p)?;
                Ok(true)
            }
        }
    }

    /// rename in host directories; Ok(false) when the namespace keeps its writable layer in
    /// memory (the caller then uses [`Vfs::rename`]).
    /// renameat2 with RENAME_EXCHANGE of `a` and `b` (both exist) in a host directory;
    /// Ok(false) where they lie in the in-memory layer. An image file at either path is
    /// copied up first; an image directory cannot be exchanged (EXDEV: its tree would have to
    /// be copied up whole), nor paths of two different host directories.
    pub fn host_exchange(&self, a: &[u8], b: &[u8]) -> Result<bool, Errno> {
        let (pa, pb) = (self.place(a)?, self.place(b)?);
        let (Place::Host(da, ra, upper, h), Place::Host(db, rb, _, _)) = (pa, pb) else { return Ok(false) };
        if da != db {
            return Err(EXDEV);
        }
        if path::is_within(a, b) || path::is_within(b, a) {
            return Err(EINVAL);
        }
        if upper {
            for p in [a, b] {
                if let Some(i) = self.image.lookup(p) {
                    match self.lookup(p) {
                        Some(Node::Image(_)) if self.image.entry(i).kind == EntryKind::File => {
                            self.host_copy_up_only(p, i)?;
                        }
                        Some(Node::Image(_)) => return Err(EXDEV),
                        Some(Node::Host(hn)) if hn.st.st_mode & crate::abi::S_IFMT == S_IFDIR => return Err(EXDEV),
                        _ => {}
                    }
                }
            }
        }
        h.ops.exchange(da, &ra, &rb)?;
        Ok(true)
    }

    pub fn host_rename(&self, from: &[u8], to: &[u8]) -> Result<bool, Errno> {
        let (pf, pt) = (self.place(from)?, self.place(to)?);
        let (Place::Host(df, rf, uf, h), Place::Host(dt, rt, _, _)) = (pf, pt) else { return Ok(false) };
        if df != dt {
            return Err(EXDEV);
        }
        if from == to {
            return Ok(true);
        }
        let src = self.lookup(from).ok_or(ENOENT)?;
        let src_kind = self.kind(&src);
        if src_kind == NodeKind::Dir && path::is_within(to, from) {
            return Err(EINVAL);
        }
        let dst = self.lookup(to);
        if let Some(dst) = &dst {
            match (src_kind, self.kind(dst)) {
                (NodeKind::Dir, NodeKind::Dir) if !self.list(to).is_empty() => return Err(ENOTEMPTY),
                (NodeKind::Dir, NodeKind::Dir) => {}
                (NodeKind::Dir, _) => return Err(ENOTDIR),
                (_, NodeKind::Dir) => return Err(EISDIR),
                _ => {}
            }
        }
        if !uf {
            return h.ops.rename(df, &rf, &rt).map(|_| true);
        }
        match &src {
            Node::Image(i) => match self.image.entry(*i).kind {
                EntryKind::File => self.host_copy_up_only(from, *i)?,
                EntryKind::Symlink => {
                    let target = self.link_target(&src);
                    self.upper_prepare(h, from)?;
                    h.ops.symlink(0, &target, &rf)?;
                }
                EntryKind::Dir => return Err(EXDEV),
            },
            Node::Host(_) => {
                if src_kind == NodeKind::Dir && self.image.lookup(from).is_some() && !Self::upper_hides(h, from) {
                    return Err(EXDEV);
                }
            }
            _ => return Err(EXDEV),
        }
        let replacing_image_dir = matches!(&dst, Some(Node::Image(_))) && src_kind == NodeKind::Dir;
        if let Some(Node::Host(_)) = &dst {
            if src_kind == NodeKind::Dir {
                // An empty directory of the upper layer (perhaps holding only whiteouts).
                for d in h.ops.list(0, &rt).unwrap_or_default() {
                    let _ = h.ops.unlink(0, &join_rel(&rt, &d.name), false);
                }
            }
        }
        let opaque = self.upper_prepare(h, to)? || replacing_image_dir;
        h.ops.rename(0, &rf, &rt)?;
        if opaque && src_kind == NodeKind::Dir {
            let fd = h.ops.open(0, &join_rel(&rt, OPQ), O_CREAT_W, 0o600)?;
            h.ops.close(fd);
        }
        self.upper_whiteout(h, from)?;
        Ok(true)
    }

    /// chmod of the host node `n` found at `p`; Ok(false) if `n` is not one. EROFS inside a
    /// read-only mount, as Linux answers for a read-only bind mount.
    pub fn host_chmod(&self, n: &Node, p: &[u8], mode: u32) -> Result<bool, Errno> {
        match (n, self.host.as_ref()) {
            (Node::Host(hn), Some(h)) => {
                self.place(p)?;
                h.ops.chmod(hn.dir, &hn.rel, mode & 0o7777).map(|_| true)
            }
            _ => Ok(false),
        }
    }

    /// Sets the times of a host node (`HostDirOps::utimes`); Ok(false) if `n` is not one.
    pub fn host_utimes(&self, n: &Node, p: &[u8], times: &[crate::abi::Timespec; 2]) -> Result<bool, Errno> {
        match (n, self.host.as_ref()) {
            (Node::Host(hn), Some(h)) => {
                self.place(p)?;
                h.ops.utimes(hn.dir, &hn.rel, times).map(|_| true)
            }
            _ => Ok(false),
        }
    }

    /// EROFS if `p` lies inside a read-only mount: for the metadata calls that change nothing
    /// on the host (chown) but must still refuse there, as Linux does.
    pub fn check_writable(&self, p: &[u8]) -> Result<(), Errno> {
        self.place(p).map(|_| ())
    }

    /// truncate of a host node; Ok(false) if `n` is not one.
    pub fn host_truncate(&self, n: &Node, p: &[u8], len: u64) -> Result<bool, Errno> {
        match (n, self.host.as_ref()) {
            (Node::Host(hn), Some(h)) => {
                self.place(p)?;
                h.ops.truncate(hn.dir, &hn.rel, len).map(|_| true)
            }
            _ => Ok(false),
        }
    }

    /// Whether writes go to host directories (so open files are host descriptors).
    pub fn host_upper(&self) -> bool {
        self.host.as_ref().is_some_and(|h| h.upper)
    }

    /// Creates an empty regular file at `p` in the writable layer (replacing nothing: the caller
    /// checked that `p` does not exist) and returns it.
    pub fn create_file(&self, p: &[u8], mode: u32, now: u64) -> Arc<OverlayFile> {
        let mut ov = self.overlay.lock();
        let f = ov.new_file(mode, Vec::new(), now);
        ov.entries.insert(p.to_vec(), OverlayEntry::File(f.clone()));
        f
    }

    /// A regular file of the writable layer's memory with no name (memfd_create, O_TMPFILE):
    /// it lives as long as a descriptor refers to it.
    pub fn anon_file(&self, mode: u32, now: u64) -> Arc<OverlayFile> {
        self.overlay.lock().new_file(mode, Vec::new(), now)
    }

    /// Copies the image file at `p` into the writable layer (once) and returns the copy.
    pub fn copy_up(&self, p: &[u8], entry: u32, truncate: bool) -> Result<Arc<OverlayFile>, Errno> {
        let data = if truncate { Vec::new() } else { self.read_all(&Node::Image(entry))? };
        let e = self.image.entry(entry);
        let mut ov = self.overlay.lock();
        if let Some(OverlayEntry::File(f)) = ov.entries.get(p) {
            return Ok(f.clone());
        }
        let f = ov.new_file(e.mode, data, e.mtime as u64);
        ov.entries.insert(p.to_vec(), OverlayEntry::File(f.clone()));
        Ok(f)
    }

    /// mkdir at `p` (caller checked it does not exist and the parent is a directory).
    pub fn mkdir(&self, p: &[u8], mode: u32) {
        let mut ov = self.overlay.lock();
        let opaque = matches!(ov.entries.get(p), Some(OverlayEntry::Whiteout));
        let ino = ov.ino();
        ov.entries.insert(p.to_vec(), OverlayEntry::Dir { ino, mode: mode & 0o7777, opaque });
    }

    /// symlink at `p` (caller checked it does not exist).
    pub fn symlink(&self, p: &[u8], target: &[u8]) {
        let mut ov = self.overlay.lock();
        let ino = ov.ino();
        ov.entries.insert(p.to_vec(), OverlayEntry::Symlink { ino, target: target.to_vec() });
    }

    /// A second name `p` for the in-memory file `f` (link(2); the caller checked that `p` does
    /// not exist, that its parent is a directory and that it lies in the in-memory layer).
    pub fn link(&self, f: &Arc<OverlayFile>, p: &[u8]) {
        let mut ov = self.overlay.lock();
        f.nlink.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        ov.entries.insert(p.to_vec(), OverlayEntry::File(f.clone()));
    }

    /// Removes the name `p` (file, symlink or empty directory: the caller checked which).
    pub fn remove(&self, p: &[u8]) {
        let mut ov = self.overlay.lock();
        if let Some(OverlayEntry::File(f)) = ov.entries.get(p) {
            f.nlink.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
        }
        let in_image = self.image.lookup(p).is_some() && !Self::image_hidden_above(&ov, p);
        if in_image {
            ov.entries.insert(p.to_vec(), OverlayEntry::Whiteout);
        } else {
            ov.entries.remove(p);
        }
    }

    /// Like `image_hidden`, but ignoring the overlay entry at `p` itself.
    fn image_hidden_above(ov: &Overlay, p: &[u8]) -> bool {
        if p == b"/" {
            return false;
        }
        Self::image_hidden(ov, path::parent(p))
    }

    /// rename(2) within the namespace. `from` and `to` are resolved paths (the last component
    /// not followed); `to`'s parent exists. Directories that come from the image cannot be
    /// moved (EXDEV, as overlayfs without redirect_dir): callers such as `mv` fall back to copy.
    /// renameat2 with RENAME_EXCHANGE of `a` and `b` (both exist, neither within the other) in
    /// the in-memory layer: an image file is copied up first (an image symlink becomes the
    /// layer's), a directory of the layer takes its entries along; a directory the image has
    /// too is EXDEV (its image part cannot move).
    pub fn exchange(&self, a: &[u8], b: &[u8]) -> Result<(), Errno> {
        if path::is_within(a, b) || path::is_within(b, a) {
            return Err(EINVAL);
        }
        for p in [a, b] {
            match self.lookup(p).ok_or(ENOENT)? {
                Node::Image(i) => match self.image.entry(i).kind {
                    EntryKind::File => {
                        self.copy_up(p, i, false)?;
                    }
                    EntryKind::Symlink => {
                        let target = self.link_target(&Node::Image(i));
                        let mut ov = self.overlay.lock();
                        let ino = ov.ino();
                        ov.entries.insert(p.to_vec(), OverlayEntry::Symlink { ino, target });
                    }
                    EntryKind::Dir => return Err(EXDEV),
                },
                Node::OverlayDir { .. } if self.image_at(&self.overlay.lock(), p).is_some() => return Err(EXDEV),
                Node::Synth(_) | Node::Host(_) => return Err(EXDEV),
                _ => {}
            }
        }
        let mut ov = self.overlay.lock();
        let (ea, eb) = (ov.entries.remove(a).ok_or(ENOENT)?, ov.entries.remove(b).ok_or(ENOENT)?);
        // The entries below each (for directories) change places too.
        let below = |ov: &Overlay, p: &[u8]| -> Vec<Vec<u8>> {
            let mut prefix = p.to_vec();
            prefix.push(b'/');
            ov.entries
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .map(|(k, _)| k.clone())
                .collect()
        };
        let (ka, kb) = (below(&ov, a), below(&ov, b));
        let moved: Vec<(Vec<u8>, OverlayEntry)> = ka
            .iter()
            .map(|k| (b, a, k))
            .chain(kb.iter().map(|k| (a, b, k)))
            .filter_map(|(to, from, k)| {
                let v = ov.entries.remove(k)?;
                let mut nk = to.to_vec();
                nk.extend_from_slice(&k[from.len()..]);
                Some((nk, v))
            })
            .collect();
        ov.entries.extend(moved);
        ov.entries.insert(a.to_vec(), eb);
        ov.entries.insert(b.to_vec(), ea);
        Ok(())
    }

    pub fn rename(&self, from: &[u8], to: &[u8]) -> Result<(), Errno> {
        if from == to {
            return Ok(());
        }
        let src = self.lookup(from).ok_or(ENOENT)?;
        let src_kind = self.kind(&src);
        if src_kind == NodeKind::Dir && path::is_within(to, from) {
            return Err(EINVAL);
        }
        if let Some(dst) = self.lookup(to) {
            let dk = self.kind(&dst);
            match (src_kind, dk) {
                (NodeKind::Dir, NodeKind::Dir) if !self.list(to).is_empty() => return Err(ENOTEMPTY),
                // A directory replaces an empty directory, as on Linux.
                (NodeKind::Dir, NodeKind::Dir) => {}
                (NodeKind::Dir, _) => return Err(ENOTDIR),
                (_, NodeKind::Dir) => return Err(EISDIR),
                _ => {}
            }
        }
        let moved: OverlayEntry = match &src {
            Node::Image(i) => match self.image.entry(*i).kind {
                EntryKind::File => OverlayEntry::File(self.copy_up(from, *i, false)?),
                EntryKind::Symlink => {
                    let target = self.link_target(&src);
                    let ino = self.overlay.lock().ino();
                    OverlayEntry::Symlink { ino, target }
                }
                EntryKind::Dir => return Err(EXDEV),
            },
            Node::OverlayDir { .. } => {
                if self.image_at(&self.overlay.lock(), from).is_some() {
                    return Err(EXDEV);
                }
                let mut ov = self.overlay.lock();
                let mut prefix = from.to_vec();
                prefix.push(b'/');
                let keys: Vec<Vec<u8>> = ov
                    .entries
                    .range(prefix.clone()..)
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in keys {
                    if let Some(v) = ov.entries.remove(&k) {
                        let mut nk = to.to_vec();
                        nk.extend_from_slice(&k[from.len()..]);
                        ov.entries.insert(nk, v);
                    }
                }
                ov.entries.get(from).cloned().ok_or(ENOENT)?
            }
            Node::Synth(_) => return Err(EXDEV),
            _ => self.overlay.lock().entries.get(from).cloned().ok_or(ENOENT)?,
        };
        let replacing_image_dir = src_kind == NodeKind::Dir && self.lookup(to).is_some();
        self.remove(from);
        let mut ov = self.overlay.lock();
        let moved = match moved {
            OverlayEntry::Dir { ino, mode, .. } => OverlayEntry::Dir { ino, mode, opaque: replacing_image_dir },
            other => other,
        };
        ov.entries.insert(to.to_vec(), moved);
        Ok(())
    }
}
