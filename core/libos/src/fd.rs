//! Open files and the descriptor table. Descriptors are the library OS's own numbers; the host
//! never sees them, so an app that closes or dup2s over 0–2 changes only its own table.
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::errno::*;
use crate::fs::overlay::OverlayFile;
use crate::fs::synth::Synth;
use crate::fs::DirEntry;
use crate::sync::SpinMutex;

/// How host descriptors are closed when the last open file referring to them goes away; set
/// once by the platform before the app starts.
static HOST_CLOSE: SpinMutex<Option<fn(i32)>> = SpinMutex::new(None);

/// Registers the function that closes a host descriptor.
pub fn set_host_close(f: fn(i32)) {
    *HOST_CLOSE.lock() = Some(f);
}

/// A host descriptor owned by the library OS (a stream the artifact was started with, a pipe,
/// an eventfd, ...). Closed on the host when dropped.
pub struct HostFd(pub i32);

impl Drop for HostFd {
    fn drop(&mut self) {
        let close = *HOST_CLOSE.lock();
        if let Some(close) = close {
            close(self.0);
        }
    }
}

/// What an open file reads from and writes to.
pub enum FileKind {
    /// A host descriptor: the streams the artifact was started with (0, 1, 2), pipes, ...
    Host(HostFd),
    /// A read-only file of the image.
    Image(u32),
    /// A file of the writable layer.
    Overlay(Arc<OverlayFile>),
    /// A directory (any layer), listed on first getdents.
    Dir,
    /// A device node of /dev.
    Synth(Synth),
    /// A generated /proc file and its content, made at open.
    Generated(Synth, Vec<u8>),
    /// A kernel object of the library OS (pipe, eventfd, timerfd, epoll).
    Obj(crate::kobj::Obj),
}

/// An open file description (shared by dup'd descriptors: one offset, one set of flags).
pub struct OpenFile {
    pub kind: FileKind,
    /// The normalized path it was opened by (for fchdir, *at calls and /proc/self/fd).
    pub path: Vec<u8>,
    /// Access mode and status flags (O_APPEND, O_NONBLOCK, ...).
    pub flags: AtomicU32,
    pub pos: SpinMutex<u64>,
    /// The directory listing, taken at the first getdents (so concurrent changes do not make
    /// the app see names twice).
    pub listing: SpinMutex<Option<Vec<DirEntry>>>,
    /// What fcntl sets and reports beyond the flags (owner, signal, lease, pipe size).
    pub fcntl: FcntlState,
    /// What the library OS knows of a host TCP socket's local address (`shim::net`): getsockname
    /// answers from it without a host call where it can never change.
    pub sock_name: SpinMutex<Option<SockName>>,
    /// Whether `sock_name` was ever set: such a socket is handed out by number marked
    /// (`FdRef::Host`), so the calls that read or pass on its name take the general way.
    pub named: AtomicBool,
}

/// A socket's local address as getsockname returns it (a sockaddr_in or sockaddr_in6, `len`
/// bytes of `bytes` used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedName {
    pub len: u8,
    pub bytes: [u8; 28],
    /// Whether the host kernel stores the length before it copies the name (Linux 6.13 and
    /// later: a fault on the buffer leaves the length stored, one on the length the buffer
    /// untouched), or after (before 6.13).
    pub len_first: bool,
}

/// What is known of a host TCP socket's local address (see `shim::net`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockName {
    /// Bound by this library OS to this specific address and nonzero port: the address every
    /// connection it accepts has as its local address (not answered for the socket itself).
    Bound(FixedName),
    /// Accepted from a `Bound` listener: its local address, fixed for its lifetime.
    Fixed(FixedName),
}

/// The fcntl settings of an open file description that the library OS keeps and reports
/// (F_SETOWN/F_SETOWN_EX, F_SETSIG, F_SETLEASE, F_SETPIPE_SZ); no SIGIO is sent.
#[derive(Debug)]
pub struct FcntlState {
    /// F_OWNER_* type in the high half, pid in the low half.
    pub owner: core::sync::atomic::AtomicU64,
    pub sig: AtomicU32,
    /// F_RDLCK, F_WRLCK or F_UNLCK (2, the default).
    pub lease: AtomicU32,
}

impl FcntlState {
    /// Takes over `other`'s settings (a description that replaces another, e.g. a pipe end
    /// promoted to a host pipe).
    pub fn copy_from(&self, other: &FcntlState) {
        self.owner.store(other.owner.load(Ordering::Relaxed), Ordering::Relaxed);
        self.sig.store(other.sig.load(Ordering::Relaxed), Ordering::Relaxed);
        self.lease.store(other.lease.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

impl Default for FcntlState {
    fn default() -> Self {
        Self { owner: core::sync::atomic::AtomicU64::new(0), sig: AtomicU32::new(0), lease: AtomicU32::new(2) }
    }
}

impl OpenFile {
    /// A new description with offset 0.
    pub fn new(kind: FileKind, path: Vec<u8>, flags: u32) -> Arc<Self> {
        Arc::new(Self {
            kind,
            path,
            flags: AtomicU32::new(flags),
            pos: SpinMutex::new(0),
            listing: SpinMutex::new(None),
            fcntl: FcntlState::default(),
            sock_name: SpinMutex::new(None),
            named: AtomicBool::new(false),
        })
    }

    /// Records what is known of a host socket's local address (see [`SockName`]).
    pub fn set_sock_name(&self, name: SockName) {
        *self.sock_name.lock() = Some(name);
        self.named.store(true, Ordering::Release);
    }

    /// The open(2) flags it was opened with (status flags may have changed by F_SETFL).
    pub fn flags(&self) -> u32 {
        self.flags.load(Ordering::Relaxed)
    }
}

/// An open descriptor as [`FdTable::fd_ref`] gives it.
pub enum FdRef {
    /// A host object: its host descriptor, the open file's status flags, and whether the
    /// library OS keeps the socket's local name (`OpenFile::named`: getsockname, accept and
    /// accept4 must then take the general way, which reads or passes the name on).
    Host(i32, u32, bool),
    /// Any other open file.
    File(Arc<OpenFile>),
}

#[derive(Clone)]
struct Slot {
    file: Arc<OpenFile>,
    cloexec: bool,
}

/// The descriptor table (a clone shares the open file descriptions, as fork does).
#[derive(Clone)]
pub struct FdTable {
    slots: Vec<Option<Slot>>,
    /// RLIMIT_NOFILE: descriptors must stay below it (EMFILE).
    pub limit: usize,
}

impl FdTable {
    /// An empty table with room for `limit` descriptors.
    pub fn new(limit: usize) -> Self {
        Self { slots: Vec::new(), limit }
    }

    /// Installs `file` at the lowest free descriptor ≥ `min` (EMFILE past the limit).
    pub fn alloc(&mut self, file: Arc<OpenFile>, cloexec: bool, min: usize) -> Result<i32, Errno> {
        let mut fd = min;
        while fd < self.slots.len() && self.slots[fd].is_some() {
            fd += 1;
        }
        if fd >= self.limit {
            return Err(EMFILE);
        }
        if fd >= self.slots.len() {
            self.slots.resize(fd + 1, None);
        }
        self.slots[fd] = Some(Slot { file, cloexec });
        Ok(fd as i32)
    }

    /// Puts `file` at exactly `fd`, closing what was there.
    pub fn install(&mut self, fd: i32, file: Arc<OpenFile>, cloexec: bool) -> Result<(), Errno> {
        if fd < 0 || fd as usize >= self.limit {
            return Err(EBADF);
        }
        let fd = fd as usize;
        if fd >= self.slots.len() {
            self.slots.resize(fd + 1, None);
        }
        self.slots[fd] = Some(Slot { file, cloexec });
        Ok(())
    }

    /// The open file behind `fd` (EBADF if none).
    pub fn get(&self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        if fd < 0 {
            return Err(EBADF);
        }
        self.slots.get(fd as usize).and_then(|s| s.as_ref()).map(|s| s.file.clone()).ok_or(EBADF)
    }

    /// What `fd` names for read and write: with `host_by_number`, a host object as its host
    /// descriptor and status flags, with no reference to the open file taken (see
    /// `LibOs::fd_ref`); anything else (and every file without it) as its open file; EBADF if
    /// `fd` is not open.
    pub fn fd_ref(&self, fd: i32, host_by_number: bool) -> Result<FdRef, Errno> {
        let slot = usize::try_from(fd).ok().and_then(|i| self.slots.get(i)).and_then(|s| s.as_ref()).ok_or(EBADF)?;
        Ok(match &slot.file.kind {
            FileKind::Host(h) if host_by_number => {
                FdRef::Host(h.0, slot.file.flags(), slot.file.named.load(Ordering::Relaxed))
            }
            _ => FdRef::File(slot.file.clone()),
        })
    }

    /// What [`FdTable::fd_ref`] gives with `host_by_number` for a host object (its host
    /// descriptor, status flags and `named`), or None for anything else (`fd` not open, not a
    /// host object): a look that takes no reference and leaves nothing to drop, inlined into
    /// the hot paths that use it (`shim::net::hot`, poll of host descriptors).
    #[inline(always)]
    pub fn host_fd(&self, fd: i32) -> Option<(i32, u32, bool)> {
        let slot = usize::try_from(fd).ok().and_then(|i| self.slots.get(i))?.as_ref()?;
        match &slot.file.kind {
            FileKind::Host(h) => Some((h.0, slot.file.flags(), slot.file.named.load(Ordering::Relaxed))),
            _ => None,
        }
    }

    /// The fixed local name of host socket `fd` (`SockName::Fixed`: accepted from a listener
    /// this library OS bound), or None for anything else (`fd` not open, not a host object, no
    /// name or another kind): a look that takes no reference, for getsockname by number
    /// (`shim::net::hot`).
    #[inline]
    pub fn fixed_name(&self, fd: i32) -> Option<FixedName> {
        let slot = usize::try_from(fd).ok().and_then(|i| self.slots.get(i))?.as_ref()?;
        match (&slot.file.kind, *slot.file.sock_name.lock()) {
            (FileKind::Host(_), Some(SockName::Fixed(fixed))) => Some(fixed),
            _ => None,
        }
    }

    /// Closes `fd` and hands back its open file (EBADF if it was not open): what `close`
    /// does, with the table's reference moved out rather than cloned and dropped.
    pub fn take(&mut self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        let slot = usize::try_from(fd).ok().and_then(|i| self.slots.get_mut(i)).ok_or(EBADF)?;
        slot.take().map(|s| s.file).ok_or(EBADF)
    }

    /// Closes `fd` (EBADF if it was not open).
    pub fn close(&mut self, fd: i32) -> Result<(), Errno> {
        if fd < 0 {
            return Err(EBADF);
        }
        match self.slots.get_mut(fd as usize) {
            Some(s @ Some(_)) => {
                *s = None;
                Ok(())
            }
            _ => Err(EBADF),
        }
    }

    /// The close-on-exec flag of `fd`.
    pub fn cloexec(&self, fd: i32) -> Result<bool, Errno> {
        if fd < 0 {
            return Err(EBADF);
        }
        self.slots.get(fd as usize).and_then(|s| s.as_ref()).map(|s| s.cloexec).ok_or(EBADF)
    }

    /// Sets the close-on-exec flag of `fd`.
    pub fn set_cloexec(&mut self, fd: i32, v: bool) -> Result<(), Errno> {
        if fd < 0 {
            return Err(EBADF);
        }
        match self.slots.get_mut(fd as usize).and_then(|s| s.as_mut()) {
            Some(s) => {
                s.cloexec = v;
                Ok(())
            }
            None => Err(EBADF),
        }
    }

    /// Open descriptors in increasing order.
    pub fn open_fds(&self) -> impl Iterator<Item = i32> + '_ {
        self.slots.iter().enumerate().filter(|(_, s)| s.is_some()).map(|(i, _)| i as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_ref_gives_host_objects_by_number_and_others_by_file() {
        let mut t = FdTable::new(64);
        let host = t.alloc(OpenFile::new(FileKind::Host(HostFd(41)), Vec::new(), 0o4001), false, 0).unwrap();
        let dir = t.alloc(OpenFile::new(FileKind::Dir, b"/".to_vec(), 0), false, 0).unwrap();
        assert!(matches!(t.fd_ref(host, true), Ok(FdRef::Host(41, 0o4001, false))));
        assert!(matches!(t.fd_ref(host, false), Ok(FdRef::File(f)) if matches!(f.kind, FileKind::Host(HostFd(41)))));
        assert!(matches!(t.fd_ref(dir, true), Ok(FdRef::File(f)) if matches!(f.kind, FileKind::Dir)));
        assert!(matches!(t.fd_ref(-1, true), Err(EBADF)));
        assert!(matches!(t.fd_ref(63, true), Err(EBADF)));
        t.close(host).unwrap();
        assert!(matches!(t.fd_ref(host, true), Err(EBADF)));
    }

    #[test]
    fn fixed_name_only_for_a_host_socket_with_a_fixed_name() {
        let name = FixedName { len: 16, bytes: [7; 28], len_first: true };
        let mut t = FdTable::new(64);
        let accepted = t.alloc(OpenFile::new(FileKind::Host(HostFd(41)), Vec::new(), 2), false, 0).unwrap();
        t.get(accepted).unwrap().set_sock_name(SockName::Fixed(name));
        let listener = t.alloc(OpenFile::new(FileKind::Host(HostFd(42)), Vec::new(), 2), false, 0).unwrap();
        t.get(listener).unwrap().set_sock_name(SockName::Bound(name));
        let plain = t.alloc(OpenFile::new(FileKind::Host(HostFd(43)), Vec::new(), 2), false, 0).unwrap();
        let dir = t.alloc(OpenFile::new(FileKind::Dir, b"/".to_vec(), 0), false, 0).unwrap();
        assert_eq!(t.fixed_name(accepted), Some(name));
        assert_eq!(t.fixed_name(listener), None, "a listener's own name is the host's to answer");
        assert_eq!(t.fixed_name(plain), None);
        assert_eq!(t.fixed_name(dir), None);
        assert_eq!(t.fixed_name(-1), None);
        assert_eq!(t.fixed_name(63), None);
        t.close(accepted).unwrap();
        assert_eq!(t.fixed_name(accepted), None);
    }

    #[test]
    fn take_closes_the_descriptor_and_hands_back_the_only_reference() {
        let mut t = FdTable::new(64);
        let dir = t.alloc(OpenFile::new(FileKind::Dir, b"/d".to_vec(), 0), false, 0).unwrap();
        let f = t.take(dir).unwrap();
        assert_eq!(f.path, b"/d");
        assert_eq!(Arc::strong_count(&f), 1, "the table kept no reference");
        assert!(matches!(t.get(dir), Err(EBADF)));
        assert!(matches!(t.take(dir), Err(EBADF)));
        assert!(matches!(t.take(-1), Err(EBADF)));
        assert!(matches!(t.take(63), Err(EBADF)));
        assert_eq!(
            t.alloc(OpenFile::new(FileKind::Dir, Vec::new(), 0), false, 0).unwrap(),
            dir,
            "the number is free again"
        );
    }
}
