//! Library-OS pipes on a platform with host passthrough (linux-userland), and their promotion
//! to host pipes.
//!
//! While a process has one thread and has not forked, `pipe`/`pipe2` make a pipe of the core
//! (`kobj.rs`) backed by a standby host pipe: reads and writes that need no waiting are served
//! in the library OS, with no host call. The moment anything needs the host object (a second
//! thread, a fork, a poll or epoll on it, a read or write that would wait, a write without a
//! reader, /proc/self/fd/N, SCM_RIGHTS, an ioctl other than FIONREAD/FIONBIO) the pipe is
//! **promoted**: its unread bytes move into the host pipe and every descriptor of it becomes
//! a host descriptor with the same access mode, status flags, close-on-exec flag and fcntl
//! settings. The standby host pipe also answers fstat and /proc/self/fd before promotion, so
//! st_ino and `pipe:[N]` stay the same across it. docs/targets/linux-userland.md has the
//! decision and its limits.
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use crate::abi::O_NONBLOCK;
use crate::errno::*;
use crate::fd::{FileKind, HostFd, OpenFile};
use crate::kernel::LibOs;
use crate::kobj::Obj;
use crate::platform::Platform;

/// `O_DIRECT`: a packet-mode pipe (always a host pipe: the core's pipes are byte streams).
const O_DIRECT: u32 = 0o40000;

/// The backed pipe end behind `f`, if it is one.
pub fn backed(f: &OpenFile) -> Option<&crate::kobj::PipeEnd> {
    match &f.kind {
        FileKind::Obj(Obj::Pipe(e)) if e.backed() => Some(e),
        _ => None,
    }
}

impl<P: Platform> LibOs<P> {
    /// Whether a new pipe with `flags` may be a library-OS pipe now: the platform has host
    /// passthrough, the process has one thread and has not forked, and the pipe is not in
    /// packet mode.
    pub fn local_pipe_allowed(&self, flags: u32) -> bool {
        flags & O_DIRECT == 0
            && self.local_pipes.load(Ordering::Relaxed)
            && self.threads.load(Ordering::Relaxed) == 1
            && self.platform.passthrough().is_some()
    }

    /// Stops making library-OS pipes (a second thread or a fork is coming) and promotes the
    /// ones that exist. While `local_pipes` is clear no library-OS pipe exists (it is cleared
    /// only here, after which every one is promoted), so later calls cost nothing.
    pub fn end_local_pipes(&self) {
        // Read first: a write would dirty this page at every fork (a copy-on-write fault in
        // the parent while the child lives).
        if self.local_pipes.load(Ordering::Relaxed) && self.local_pipes.swap(false, Ordering::Relaxed) {
            self.promote_pipes(None);
        }
    }

    /// Promotes the pipe of `fd` if it is a library-OS pipe; returns whether it was one.
    pub fn promote_fd(&self, fd: i32) -> bool {
        if !self.local_pipes.load(Ordering::Relaxed) {
            return false;
        }
        let key = match self.fds.lock().get(fd) {
            Ok(f) => backed(&f).map(|e| e.key()),
            Err(_) => None,
        };
        if let Some(k) = key {
            self.promote_pipes(Some(k));
        }
        key.is_some()
    }

    /// Promotes the pipe of open file `f` (a backed pipe end) and returns the host open file
    /// that replaced `f` in the descriptor table (EBADF if no descriptor refers to `f`).
    pub fn promote_file(&self, f: &OpenFile) -> Result<Arc<OpenFile>, Errno> {
        let key = backed(f).map(|e| e.key()).ok_or(EBADF)?;
        let old = f as *const OpenFile as usize;
        self.promote_pipes(Some(key)).into_iter().find(|(o, _)| *o == old).map(|(_, n)| n).ok_or(EBADF)
    }

    /// Promotes the library-OS pipes in the descriptor table (only the pipe `only`, a
    /// [`crate::kobj::PipeEnd::key`], when given): moves each one's unread bytes into its host
    /// pipe and replaces every descriptor of it by a host descriptor. Returns (old open file
    /// address, new open file) for each description replaced. Makes no host call that waits
    /// or lets an app signal handler run, so it holds the table throughout.
    pub fn promote_pipes(&self, only: Option<usize>) -> Vec<(usize, Arc<OpenFile>)> {
        let Some(pt) = self.platform.passthrough() else { return Vec::new() };
        let mut t = self.fds.lock();
        // Every (fd, open file, close-on-exec) of a backed pipe end to promote.
        let mut slots: Vec<(i32, Arc<OpenFile>, bool)> = Vec::new();
        for fd in t.open_fds() {
            let Ok(f) = t.get(fd) else { continue };
            if backed(&f).is_some_and(|e| only.is_none() || only == Some(e.key())) {
                slots.push((fd, f, t.cloexec(fd).unwrap_or(false)));
            }
        }
        let mut hosts: Vec<Taken> = Vec::new();
        let mut replaced: Vec<(usize, Arc<OpenFile>)> = Vec::new();
        for (fd, f, cloexec) in slots {
            let old = Arc::as_ptr(&f) as usize;
            if let Some((_, new)) = replaced.iter().find(|(o, _)| *o == old) {
                // A dup of a description already replaced: the same new description.
                let _ = t.install(fd, new.clone(), cloexec);
                continue;
            }
            // (Not `backed`: the other end's promotion may have detached this pipe already.)
            let FileKind::Obj(Obj::Pipe(e)) = &f.kind else { continue };
            let (reads, writes) = e.dirs();
            if reads == writes {
                // Only /proc/self/fd reopens make an end that does both, and they promote
                // the pipe before reopening it.
                continue;
            }
            let key = e.key();
            if !hosts.iter().any(|h| h.key == key) {
                let Some(d) = e.detach() else { continue };
                let (r, w) = d.host;
                // The host pipe takes the pipe's size first (F_SETPIPE_SZ set it, or the
                // default, which the host pipe has already), then its unread bytes.
                if d.size != crate::kobj::PIPE_CAP {
                    let set = crate::shim::fcntl_more::F_SETPIPE_SZ as usize;
                    let _ = pt.fd_call(crate::shim::nr::FCNTL, [w.0 as usize, set, d.size, 0, 0, 0]);
                }
                if d.readers > 0 {
                    move_bytes(self, pt, w.0, &d.bytes);
                }
                hosts.push(Taken { key, fds: [r.0, w.0], ends: [Some(r), Some(w)] });
            }
            let Some(h) = hosts.iter_mut().find(|h| h.key == key) else { continue };
            let i = usize::from(writes);
            let host = match h.ends[i].take() {
                Some(fd) => fd,
                // Another description of the same end (none is made while a pipe is the
                // library OS's; kept for safety): a second host descriptor of it, which
                // shares the first one's status flags on the host.
                None => match self.platform.host_dup(h.fds[i]) {
                    Ok(fd) => HostFd(fd),
                    Err(_) => continue,
                },
            };
            let flags = f.flags();
            // The host pipe was made non-blocking (so the bytes went in without waiting).
            if flags & O_NONBLOCK == 0 {
                let _ = self.platform.host_set_nonblock(host.0, false);
            }
            let new = OpenFile::new(FileKind::Host(host), Vec::new(), flags);
            new.fcntl.copy_from(&f.fcntl);
            let _ = t.install(fd, new.clone(), cloexec);
            replaced.push((old, new));
        }
        drop(t);
        // Ends the app no longer has are closed here (their HostFds drop with `hosts`).
        drop(hosts);
        replaced
    }
}

/// A promoted pipe's host pipe: its key, (read, write) host descriptors, and each end until
/// an open file takes it.
struct Taken {
    key: usize,
    fds: [i32; 2],
    ends: [Option<HostFd>; 2],
}

/// Writes a pipe's unread bytes into its new (empty, non-blocking) host pipe's write end
/// `w`: they fit, the host pipe being as large as the core's, unless the host gave it less
/// room (a user over `/proc/sys/fs/pipe-user-pages-soft`), which is logged.
fn move_bytes<P: Platform>(os: &LibOs<P>, pt: &dyn crate::platform::HostPassthrough, w: i32, bytes: &[u8]) {
    let mut at = 0;
    while at < bytes.len() {
        let left = &bytes[at..];
        match pt.fd_call(crate::shim::nr::WRITE, [w as usize, left.as_ptr() as usize, left.len(), 0, 0, 0]) {
            Ok(n) if n > 0 => at += n,
            _ => {
                os.debug_log(&[b"pipe promotion: the host pipe took fewer bytes than were buffered"]);
                return;
            }
        }
    }
}
