//! The library OS instance: one per process, shared by the app's threads.
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crate::abi::{Rlimit, PAGE_SIZE};
use crate::errno::*;
use crate::fd::FdTable;
use crate::fs::{Node, Vfs};
use crate::platform::Platform;
use crate::sync::SpinMutex;
use crate::vma::MemMap;

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
    /// The CPU mask sched_setaffinity last set for the process (bit i: CPU i, of the first
    /// 64), 0 for all of the platform's: what sched_getaffinity reports (threads still run
    /// where the host puts them). One per process, inherited by fork, as a thread's mask is.
    pub affinity: AtomicU64,
    pub hostname: Vec<u8>,
    /// `LITEBOX_LOG=debug`: one log line per unimplemented or denied call.
    pub debug: AtomicBool,
    /// Pids of this process's children not yet reaped (the processes it may signal).
    pub children: crate::children::ChildList,
    /// Threads waiting in futex(2) (unused where the platform passes futex through).
    pub futex: crate::futex::Futexes,
    /// Signal dispositions, pending signals and the interval timer (unused where the platform
    /// passes signals through to the host).
    pub signals: Arc<crate::signal::Signals>,
    /// `[policy.network]`: what the app may bind and connect to (default: nothing).
    pub net: crate::net::NetPolicy,
    /// The app's mappings (for /proc/self/maps and the memory limit).
    pub mem: crate::memlock::MemLock,
    /// `[policy.limits] memory` in bytes (u64::MAX: not limited).
    pub mem_limit: AtomicU64,
    /// `[policy.limits] threads` (usize::MAX: not limited).
    pub thread_limit: AtomicUsize,
    /// Live threads of this process.
    pub threads: AtomicUsize,
    /// Thread ids of the live threads other than the first (for /proc/self/task).
    pub tids: SpinMutex<Vec<i32>>,
    /// The argv of the running program (for /proc/self/cmdline and status).
    pub cmdline: SpinMutex<Vec<Vec<u8>>>,
    /// The environment the running program started with (for /proc/self/environ).
    pub environ: SpinMutex<Vec<Vec<u8>>>,
    /// Unix path names this process (or its parent before a fork) bound in another form than
    /// their canonical one (a relative path): canonical -> as given, so the names the host
    /// gives back read as bound (`shim::unixpath`).
    pub unix_names: SpinMutex<alloc::collections::BTreeMap<Vec<u8>, Vec<u8>>>,
    /// The ids and nice value the app sees (setuid and friends change them in the sandbox).
    pub ident: crate::ident::Identity,
    /// Set once the process takes a record lock on a host file: from then on closing any
    /// descriptor of a file releases the process's locks on it, as on Linux.
    pub record_locks: AtomicBool,
    /// `/dev/attestation`: the app's report data.
    pub attestation: crate::attestation::Attestation,
    /// Whether new pipes may be the library OS's (`crate::pipes`): until the process has a
    /// second thread or forks; again after an execve with one thread.
    pub local_pipes: AtomicBool,
}

/// The policy's resource limits (`[policy.limits]`, LaunchConfig.limits); `None` is unlimited.
#[derive(Clone, Copy, Debug, Default)]
pub struct PolicyLimits {
    pub memory: Option<u64>,
    pub open_files: Option<u64>,
    pub threads: Option<u64>,
    pub processes: Option<u64>,
}

/// RLIMIT_* indices used here.
const RLIMIT_NPROC: usize = 6;
const RLIMIT_NOFILE: usize = 7;
const RLIMIT_AS: usize = 9;

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
        limits[13] = Rlimit { cur: 0, max: 0 }; // RLIMIT_NICE (Linux's default)
        limits[14] = Rlimit { cur: 0, max: 0 }; // RLIMIT_RTPRIO (Linux's default)
        let mut fds = FdTable::new(limits[7].cur as usize);
        for fd in 0..3 {
            let flags = if fd == 0 { crate::abi::O_RDONLY } else { crate::abi::O_WRONLY };
            // The table is empty, so these cannot fail.
            let _ =
                fds.alloc(OpenFile::new(FileKind::Host(crate::fd::HostFd(fd)), Vec::new(), flags), false, fd as usize);
        }
        let ident = crate::ident::Identity::new(platform.creds());
        Self {
            platform,
            vfs: Arc::new(vfs),
            fds: SpinMutex::new(fds),
            cwd: SpinMutex::new(cwd.to_vec()),
            brk: SpinMutex::new(Brk::default()),
            limits: SpinMutex::new(limits),
            umask: AtomicU32::new(0o022),
            affinity: AtomicU64::new(0),
            hostname: hostname.to_vec(),
            debug: AtomicBool::new(debug),
            children: crate::children::ChildList::default(),
            futex: crate::futex::Futexes::new(),
            signals: Arc::new(crate::signal::Signals::new()),
            net: crate::net::NetPolicy::default(),
            mem: crate::memlock::MemLock::new(MemMap::default()),
            mem_limit: AtomicU64::new(u64::MAX),
            thread_limit: AtomicUsize::new(usize::MAX),
            threads: AtomicUsize::new(1),
            tids: SpinMutex::new(Vec::new()),
            cmdline: SpinMutex::new(Vec::new()),
            environ: SpinMutex::new(Vec::new()),
            unix_names: SpinMutex::new(alloc::collections::BTreeMap::new()),
            ident,
            record_locks: AtomicBool::new(false),
            attestation: crate::attestation::Attestation::default(),
            local_pipes: AtomicBool::new(true),
        }
    }

    /// Applies the policy's limits before the app starts: the descriptor table's size and
    /// RLIMIT_NOFILE, RLIMIT_AS for memory, RLIMIT_NPROC for processes, and the thread cap.
    pub fn apply_limits(&self, l: &PolicyLimits) {
        let mut lim = self.limits.lock();
        if let Some(n) = l.open_files {
            let n = n.min(1 << 20);
            lim[RLIMIT_NOFILE] = Rlimit { cur: n, max: n };
            self.fds.lock().limit = n as usize;
        }
        if let Some(m) = l.memory {
            lim[RLIMIT_AS] = Rlimit { cur: m, max: m };
            self.mem_limit.store(m, Ordering::Relaxed);
        }
        if let Some(p) = l.processes {
            lim[RLIMIT_NPROC] = Rlimit { cur: p, max: p };
        }
        if let Some(t) = l.threads {
            self.thread_limit.store(t.min(usize::MAX as u64) as usize, Ordering::Relaxed);
        }
    }

    /// Lets /proc see this process (its pid, descriptors and cwd); called once at start.
    pub fn attach_proc(&'static self)
    where
        P: 'static,
    {
        *self.vfs.proc.lock() = Some(self);
    }

    /// Checks that `grow` more bytes of mappings fit the memory limit (ENOMEM if not). What
    /// the app stored in the platform's writable layer counts too, where the platform keeps
    /// it in memory ([`Platform::storage_used`]).
    fn mem_room(&self, mem: &MemMap, grow: usize) -> Result<(), Errno> {
        let limit = self.mem_limit.load(Ordering::Relaxed);
        if limit == u64::MAX {
            return Ok(());
        }
        let used = (mem.total() as u64).saturating_add(self.platform.storage_used());
        if used.saturating_add(grow as u64) > limit {
            self.debug_log(&[b"memory limit of the policy reached: ENOMEM"]);
            return Err(ENOMEM);
        }
        Ok(())
    }

    /// The app's memory map, locked. With one app thread on a platform where nothing else
    /// runs library OS code ([`Platform::single_thread_exclusive`]), as for
    /// [`LibOs::fd_ref`], the lock is marked held with plain stores, no locked instruction
    /// (two of them were about 13 ns of an mmap + munmap pair of ~1.1 µs).
    ///
    /// A second thread cannot appear while the guard lives: only this thread could start it
    /// (clone counts it in `threads` before the host thread exists, and clone never runs with
    /// the map held), and a thread that leaves has left the library OS's code that uses the
    /// map by the time `threads` drops back to one (exit counts itself out and makes no
    /// further call but the host's exit). A fork child has the one thread that forked.
    /// Always inlined: `shim::dispatch` (mmap's way, `shim::mem::hot`) stopped inlining it
    /// once it went to the plain `.text` section with more arms, and the out-of-line copy lay
    /// in a window of code start-up did not otherwise run (tests/e2e/test_e2e_resident.py).
    #[inline(always)]
    pub fn mem_lock(&self) -> crate::memlock::MemGuard<'_> {
        if self.platform.single_thread_exclusive() && self.threads.load(Ordering::Acquire) == 1 {
            // SAFETY: one app thread, and no other code that runs the library OS at the same
            // time (the platform's promise); code on this thread that interrupts the caller
            // (an app signal handler inside a blocking host call) runs nested calls whose
            // guards are dropped before they return. The count only grows through this
            // thread's own clone, after the guard is gone (see above).
            if let Some(g) = unsafe { self.mem.lock_alone() } {
                return g;
            }
        }
        self.mem.lock()
    }

    /// Maps anonymous memory for the app (through the platform), within the memory limit,
    /// and records it under `name` (an image path, `[heap]`, `[stack]`) if given. Never
    /// inlined: its callers other than the app's anonymous mmap (the loader, mremap, file
    /// mmaps) keep one copy of it (inlined, it tripled `shim::mem::dispatch` and moved the
    /// code a fork child runs into one more 64 KiB window: tests/e2e/test_e2e_fork_faults.py).
    #[inline(never)]
    pub fn map_anon(
        &self,
        addr: usize,
        len: usize,
        prot: u32,
        flags: u32,
        name: Option<Arc<Vec<u8>>>,
    ) -> Result<usize, Errno> {
        self.map_anon_inline(addr, len, prot, flags, name)
    }

    /// [`LibOs::map_anon`], inlined into its caller: for the app's mmap (`shim::mem::hot`),
    /// where every function return after the host call costs (see `shim::mem::hot`).
    #[inline(always)]
    pub(crate) fn map_anon_inline(
        &self,
        addr: usize,
        len: usize,
        prot: u32,
        flags: u32,
        name: Option<Arc<Vec<u8>>>,
    ) -> Result<usize, Errno> {
        use crate::abi::{MAP_FIXED, MAP_SHARED};
        let mut mem = self.mem_lock();
        let grow =
            if flags & MAP_FIXED != 0 { len.next_multiple_of(PAGE_SIZE) - mem.mapped_in(addr, len) } else { len };
        self.mem_room(&mem, grow)?;
        let at = self.platform.mmap_anon(addr, len, prot, flags)?;
        mem.insert_inline(at, len, prot, flags & 0x0f == MAP_SHARED, name, 0);
        Ok(at)
    }

    /// Records `len` bytes at `at` that the platform already mapped for the app
    /// ([`Platform::take_stack_slot`]) as private anonymous memory with `prot`, within the
    /// memory limit.
    pub fn adopt_anon(&self, at: usize, len: usize, prot: u32) -> Result<(), Errno> {
        let mut mem = self.mem_lock();
        self.mem_room(&mem, len)?;
        mem.insert(at, len, prot, false, None, 0);
        Ok(())
    }

    /// mmap of a host file (a file of a host directory), within the memory limit (the caller
    /// names the range).
    pub fn map_host(&self, addr: usize, len: usize, prot: u32, flags: u32, fd: i32, off: u64) -> Result<usize, Errno> {
        use crate::abi::{MAP_FIXED, MAP_SHARED};
        let mut mem = self.mem_lock();
        let grow =
            if flags & MAP_FIXED != 0 { len.next_multiple_of(PAGE_SIZE) - mem.mapped_in(addr, len) } else { len };
        self.mem_room(&mem, grow)?;
        let at = self.platform.host_mmap(addr, len, prot, flags, fd, off)?;
        mem.insert(at, len, prot, flags & 0x0f == MAP_SHARED, None, off);
        Ok(at)
    }

    /// munmap of app memory (inlined: see `shim::mem::hot`).
    #[inline(always)]
    pub fn unmap(&self, addr: usize, len: usize) -> Result<(), Errno> {
        let mut mem = self.mem_lock();
        self.platform.munmap(addr, len)?;
        mem.remove_inline(addr, len);
        Ok(())
    }

    /// mprotect of app memory.
    pub fn protect(&self, addr: usize, len: usize, prot: u32) -> Result<(), Errno> {
        let mut mem = self.mem_lock();
        self.platform.mprotect(addr, len, prot)?;
        mem.protect(addr, len, prot);
        Ok(())
    }

    /// mremap of app memory; growth counts against the memory limit (ENOMEM).
    pub fn remap(
        &self,
        old: usize,
        old_len: usize,
        new_len: usize,
        flags: u32,
        new_addr: usize,
    ) -> Result<usize, Errno> {
        const MREMAP_DONTUNMAP: u32 = 4;
        let mut mem = self.mem_lock();
        let old_len_pg = old_len.next_multiple_of(PAGE_SIZE);
        let new_len_pg = new_len.next_multiple_of(PAGE_SIZE);
        let keep_old = flags & MREMAP_DONTUNMAP != 0;
        let grow = if keep_old { new_len_pg } else { new_len_pg.saturating_sub(old_len_pg) };
        self.mem_room(&mem, grow)?;
        let at = self.platform.mremap(old, old_len, new_len, flags, new_addr)?;
        let attrs = mem.find(old).map(|(s, v)| (v.prot, v.shared, v.name.clone(), v.offset + (old - s) as u64));
        if !keep_old {
            mem.remove(old, old_len);
        }
        let (prot, shared, name, off) = attrs.unwrap_or((3, false, None, 0));
        mem.insert(at, new_len, prot, shared, name, off);
        Ok(at)
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
            affinity: AtomicU64::new(self.affinity.load(Ordering::Relaxed)),
            hostname: self.hostname.clone(),
            debug: AtomicBool::new(self.debug.load(Ordering::Relaxed)),
            children: crate::children::ChildList::default(),
            futex: crate::futex::Futexes::new(),
            signals: Arc::new(self.signals.fork()),
            net: self.net.clone(),
            mem: crate::memlock::MemLock::new(self.mem.lock().clone()),
            mem_limit: AtomicU64::new(self.mem_limit.load(Ordering::Relaxed)),
            thread_limit: AtomicUsize::new(self.thread_limit.load(Ordering::Relaxed)),
            threads: AtomicUsize::new(1),
            tids: SpinMutex::new(Vec::new()),
            cmdline: SpinMutex::new(self.cmdline.lock().clone()),
            environ: SpinMutex::new(self.environ.lock().clone()),
            unix_names: SpinMutex::new(self.unix_names.lock().clone()),
            ident: self.ident.fork(),
            record_locks: AtomicBool::new(self.record_locks.load(Ordering::Relaxed)),
            attestation: self.attestation.fork(),
            local_pipes: AtomicBool::new(self.local_pipes.load(Ordering::Relaxed)),
        }
    }

    /// Records, for `litebox run --learn`, something the app needed that it was not given
    /// (`kind` is `path`, `exec`, `connect`, `listen`, `ioctl` or `enosys`; see
    /// docs/targets/linux-userland.md).
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

    /// getppid as the app sees it: the host's answer where processes are host processes
    /// ([`crate::platform::HostPassthrough`]), else the core's process table.
    pub fn ppid(&self) -> i32 {
        if self.platform.passthrough().is_some() {
            self.platform.ids_parent()
        } else {
            crate::proctab::TABLE.lock().parent_of(self.platform.pid())
        }
    }

    /// Raises SIGPIPE on the calling thread (a write to a pipe or socket with no reader) in
    /// the core's signal state. Host pipes and sockets raise it on the host themselves.
    pub fn raise_sigpipe(&self) {
        self.signals.pending.lock().raise(crate::signal::SIGPIPE, crate::signal::SI_USER, 0);
    }

    /// (process group, session) of this process as the app sees them (/proc/self/stat): the
    /// host's where processes are host processes (a group or session led outside the app's
    /// pid namespace reads as 1, as getpgrp does), else the core's process table's.
    pub fn pgid_sid(&self) -> (i32, i32) {
        use crate::shim::nr::{GETPGID, GETSID};
        let me = self.platform.pid();
        match self.platform.passthrough() {
            Some(h) => {
                let ask = |n| h.process_call(n, [0; 6]).map_or(me, |v| if v == 0 { 1 } else { v as i32 });
                (ask(GETPGID), ask(GETSID))
            }
            None => {
                let t = crate::proctab::TABLE.lock();
                (t.getpgid(me, 0).unwrap_or(me), t.getsid(me, 0).unwrap_or(me))
            }
        }
    }

    /// The current CLOCK_MONOTONIC time in ns (0 if the platform has none).
    pub fn monotonic_ns(&self) -> u64 {
        self.platform
            .clock_gettime(crate::abi::CLOCK_MONOTONIC)
            .map_or(0, |t| (t.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(t.tv_nsec as u64))
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

    /// What app descriptor `fd` names, for read and write ([`crate::fd::FdTable::fd_ref`]).
    /// With one app thread on a platform where nothing else runs library OS code
    /// ([`Platform::single_thread_exclusive`]), the table is read without its lock and a host
    /// object is given by its number, with no reference to its open file: no locked
    /// instruction at all (three of them were a tenth of a packed pipe round trip); another
    /// file costs one (the reference count). Otherwise, under the lock, every file comes as
    /// its open file, which keeps a host descriptor open while another thread closes `fd`.
    ///
    /// A host object given by number: a host call made with it after an app signal handler
    /// closed `fd` (a blocking call the handler interrupted, then restarted) reaches whatever
    /// the number names on the host by then, as a restarted call natively reaches whatever
    /// `fd` names by then. Use it only where that is all the call needs.
    pub fn fd_ref(&self, fd: i32) -> Result<crate::fd::FdRef, Errno> {
        // SAFETY: the reference ends with this lookup, which makes no host call.
        if let Some(t) = unsafe { self.fds_unlocked() } {
            return t.fd_ref(fd, true);
        }
        self.fds.lock().fd_ref(fd, false)
    }

    /// The descriptor table read without its lock, where nothing else can take the lock: one
    /// app thread, and no other code that runs the library OS at the same time (the platform's
    /// promise, [`Platform::single_thread_exclusive`]); the only other taker could be app code
    /// on this thread, which runs inside a call only in a blocking host call's window. None
    /// otherwise, or while the table is locked. [`LibOs::fd_ref`]'s and [`LibOs::host_fd`]'s.
    ///
    /// # Safety
    /// The caller's use of the reference ends before any blocking host call (one lookup).
    #[inline(always)]
    unsafe fn fds_unlocked(&self) -> Option<&crate::fd::FdTable> {
        if self.platform.single_thread_exclusive() && self.threads.load(Ordering::Relaxed) == 1 {
            // SAFETY: as above; the caller keeps the reference no longer than `peek` allows.
            return unsafe { self.fds.peek() };
        }
        None
    }

    /// [`LibOs::fd_ref`]'s answer where it gives a host object by number (host descriptor,
    /// status flags, `named`), without the rest: None wherever `fd_ref` would give anything
    /// else (the table read under its lock, `fd` not open, not a host object); the caller then
    /// takes the general way. The same conditions and the same promise as `fd_ref`'s.
    #[inline(always)]
    pub fn host_fd(&self, fd: i32) -> Option<(i32, u32, bool)> {
        // SAFETY: the reference ends with this lookup, which makes no host call.
        unsafe { self.fds_unlocked() }?.host_fd(fd)
    }

    /// [`crate::fd::FdTable::fixed_name`] of `fd` where [`LibOs::host_fd`] would answer by
    /// number (the table read without its lock); None otherwise, and the caller takes the
    /// general way.
    #[inline]
    pub fn fixed_name(&self, fd: i32) -> Option<crate::fd::FixedName> {
        // SAFETY: the reference ends with this lookup, which makes no host call.
        unsafe { self.fds_unlocked() }?.fixed_name(fd)
    }

    /// The node an open file refers to now (for fstat and friends).
    pub fn node_of(&self, f: &crate::fd::OpenFile) -> Option<Node> {
        use crate::fd::FileKind;
        match &f.kind {
            FileKind::Image(i) => Some(Node::Image(*i)),
            FileKind::Overlay(o) => Some(Node::OverlayFile(o.clone())),
            FileKind::Synth(s) | FileKind::Generated(s, _) => Some(Node::Synth(*s)),
            FileKind::Dir => self.vfs.lookup(&f.path),
            FileKind::Host(_) | FileKind::Obj(_) => None,
        }
    }

    /// Seconds since the epoch, for timestamps of new files.
    pub fn now(&self) -> u64 {
        self.platform.clock_gettime(0).map(|t| t.tv_sec as u64).unwrap_or(0)
    }
}
