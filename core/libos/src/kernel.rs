//! The library OS instance: one per process, shared by the app's threads.
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::abi::{Rlimit, PAGE_SIZE};
use crate::errno::*;
use crate::fd::FdTable;
use crate::fs::{Node, Vfs};
use crate::platform::Platform;
use crate::sync::SpinMutex;

/// The app's program break.
#[derive(Default)]
pub struct Brk {
    pub start: usize,
    pub cur: usize,
    /// End of what is mapped for the heap (page aligned).
    pub mapped: usize,
}

/// How far the heap may grow: a break further than this from its start gets ENOMEM.
pub const BRK_MAX: usize = 1 << 36;

/// Number of RLIMIT_* resources Linux has.
pub const RLIM_NLIMITS: usize = 16;

/// The library OS: file system, descriptors, cwd, heap and limits of one app process.
pub struct LibOs<P: Platform> {
    pub platform: P,
    /// Shared by every process of the app on targets that run several in one library OS
    /// (kvm); one per process where a host fork copies the whole runtime (linux-userland).
    pub vfs: Arc<Vfs>,
    pub fds: SpinMutex<FdTable>,
    pub cwd: SpinMutex<Vec<u8>>,
    pub brk: SpinMutex<Brk>,
    pub limits: SpinMutex<[Rlimit; RLIM_NLIMITS]>,
    pub umask: AtomicU32,
    pub hostname: Vec<u8>,
    /// `LITEBOX_LOG=debug`: one log line per unimplemented or denied call.
    pub debug: AtomicBool,
    /// Pids of this process's children not yet reaped (the processes it may signal).
    pub children: SpinMutex<Vec<i32>>,
}

impl<P: Platform> LibOs<P> {
    /// A library OS over `vfs` with the host streams as descriptors 0–2 and cwd `cwd`.
    pub fn new(platform: P, vfs: Vfs, cwd: &[u8], hostname: &[u8], debug: bool) -> Self {
        use crate::fd::{FileKind, OpenFile};
        let mut limits = [Rlimit { cur: u64::MAX, max: u64::MAX }; RLIM_NLIMITS];
        limits[3] = Rlimit { cur: 8 << 20, max: u64::MAX }; // RLIMIT_STACK
        limits[4] = Rlimit { cur: 0, max: u64::MAX }; // RLIMIT_CORE
        limits[7] = Rlimit { cur: 1024, max: 4096 }; // RLIMIT_NOFILE
        limits[8] = Rlimit { cur: 8 << 20, max: 8 << 20 }; // RLIMIT_MEMLOCK
        limits[6] = Rlimit { cur: 4096, max: 4096 }; // RLIMIT_NPROC
        limits[11] = Rlimit { cur: 4096, max: 4096 }; // RLIMIT_SIGPENDING
        limits[12] = Rlimit { cur: 819200, max: 819200 }; // RLIMIT_MSGQUEUE
        let mut fds = FdTable::new(limits[7].cur as usize);
        for fd in 0..3 {
            let flags = if fd == 0 { crate::abi::O_RDONLY } else { crate::abi::O_WRONLY };
            // The table is empty, so these cannot fail.
            let _ = fds.alloc(OpenFile::new(FileKind::Host(crate::fd::HostFd(fd)), Vec::new(), flags), false, fd as usize);
        }
        Self {
            platform,
            vfs: Arc::new(vfs),
            fds: SpinMutex::new(fds),
            cwd: SpinMutex::new(cwd.to_vec()),
            brk: SpinMutex::new(Brk::default()),
            limits: SpinMutex::new(limits),
            umask: AtomicU32::new(0o022),
            hostname: hostname.to_vec(),
            debug: AtomicBool::new(debug),
            children: SpinMutex::new(Vec::new()),
        }
    }

    /// The library OS of a forked child served by the same kernel: the same file system, a copy
    /// of the descriptor table (sharing the open file descriptions), cwd, heap bounds, limits
    /// and umask; no children yet.
    pub fn fork(&self, platform: P) -> Self {
        let b = self.brk.lock();
        let brk = Brk { start: b.start, cur: b.cur, mapped: b.mapped };
        drop(b);
        Self {
            platform,
            vfs: self.vfs.clone(),
            fds: SpinMutex::new(self.fds.lock().clone()),
            cwd: SpinMutex::new(self.cwd.lock().clone()),
            brk: SpinMutex::new(brk),
            limits: SpinMutex::new(*self.limits.lock()),
            umask: AtomicU32::new(self.umask.load(Ordering::Relaxed)),
            hostname: self.hostname.clone(),
            debug: AtomicBool::new(self.debug.load(Ordering::Relaxed)),
            children: SpinMutex::new(Vec::new()),
        }
    }

    /// Records, for `litebox run --learn`, something the app needed that it was not given
    /// (`kind` is `path`, `exec`, `connect` or `listen`; see docs/runtime.md).
    pub fn learn(&self, kind: &[u8], value: &[u8]) {
        if self.platform.learning() {
            self.platform.learn(kind, value);
        }
    }

    /// Like [`LibOs::learn`] for a value that costs something to build (a joined path): it is
    /// built only when learning is on.
    pub fn learn_with(&self, kind: &[u8], value: impl FnOnce() -> Vec<u8>) {
        if self.platform.learning() {
            self.platform.learn(kind, &value());
        }
    }

    /// Logs a line when debug logging is on.
    pub fn debug_log(&self, parts: &[&[u8]]) {
        if self.debug.load(Ordering::Relaxed) {
            let mut line = Vec::with_capacity(128);
            line.extend_from_slice(b"litebox: ");
            for p in parts {
                line.extend_from_slice(p);
            }
            self.platform.log(&line);
        }
    }

    /// Sets where the program break starts (right after the main program's highest segment).
    pub fn set_brk_start(&self, start: usize) {
        let start = start.next_multiple_of(PAGE_SIZE);
        *self.brk.lock() = Brk { start, cur: start, mapped: start };
    }

    /// The directory that a `*at` call's `dirfd` designates, as a normalized absolute path.
    pub fn dir_of(&self, dirfd: i32, p: &[u8]) -> Result<Vec<u8>, Errno> {
        if p.first() == Some(&b'/') || dirfd == crate::abi::AT_FDCWD {
            return Ok(self.cwd.lock().clone());
        }
        let f = self.fds.lock().get(dirfd)?;
        match f.kind {
            crate::fd::FileKind::Dir => Ok(f.path.clone()),
            _ if p.is_empty() => Ok(f.path.clone()),
            _ => Err(ENOTDIR),
        }
    }

    /// The node an open file refers to now (for fstat and friends).
    pub fn node_of(&self, f: &crate::fd::OpenFile) -> Option<Node> {
        use crate::fd::FileKind;
        match &f.kind {
            FileKind::Image(i) => Some(Node::Image(*i)),
            FileKind::Overlay(o) => Some(Node::OverlayFile(o.clone())),
            FileKind::Synth(s) => Some(Node::Synth(*s)),
            FileKind::Dir => self.vfs.lookup(&f.path),
            FileKind::Host(_) => None,
        }
    }

    /// Seconds since the epoch, for timestamps of new files.
    pub fn now(&self) -> u64 {
        self.platform.clock_gettime(0).map(|t| t.tv_sec as u64).unwrap_or(0)
    }
}
