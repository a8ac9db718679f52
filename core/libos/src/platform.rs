//! The South interface: what a platform must provide so the library OS can run an app on it.
//! Everything else (files, fds, paths, ELF loading, the Linux shim) comes from the core.
use crate::abi::{Stat, Timespec};
use crate::errno::Errno;

/// Services of one host platform (linux-userland process, ring-0 kernel, ...).
///
/// Memory calls act on the app's address space. The `stdio_*` calls reach the three host
/// streams the app inherits as descriptors 0–2 (the terminal, pipes or files the artifact was
/// started with; a serial console on VM targets).
pub trait Platform: Send + Sync {
    /// Maps fresh zeroed anonymous memory. `flags` uses Linux MAP_* values (MAP_FIXED,
    /// MAP_FIXED_NOREPLACE, MAP_SHARED/PRIVATE, MAP_NORESERVE, ...). Must refuse ranges the
    /// runtime itself owns.
    fn mmap_anon(&self, addr: usize, len: usize, prot: u32, flags: u32) -> Result<usize, Errno>;
    /// Unmaps app memory. Must refuse ranges the runtime owns.
    fn munmap(&self, addr: usize, len: usize) -> Result<(), Errno>;
    /// Changes protection of app memory. Must refuse ranges the runtime owns.
    fn mprotect(&self, addr: usize, len: usize, prot: u32) -> Result<(), Errno>;
    /// Resizes a mapping (mremap semantics); may return ENOSYS.
    fn mremap(&self, old: usize, old_len: usize, new_len: usize, flags: u32, new_addr: usize) -> Result<usize, Errno>;
    /// madvise on app memory.
    fn madvise(&self, addr: usize, len: usize, advice: u32) -> Result<(), Errno>;

    /// Reads from host stream `fd` (0..=2).
    fn stdio_read(&self, fd: i32, buf: &mut [u8]) -> Result<usize, Errno>;
    /// Writes to host stream `fd` (0..=2).
    fn stdio_write(&self, fd: i32, buf: &[u8]) -> Result<usize, Errno>;
    /// fstat of host stream `fd`.
    fn stdio_stat(&self, fd: i32) -> Result<Stat, Errno>;
    /// lseek on host stream `fd` (ESPIPE for pipes and terminals, as natively).
    fn stdio_lseek(&self, fd: i32, off: i64, whence: u32) -> Result<u64, Errno>;
    /// The terminal ioctls the shim allows (TCGETS, TIOCGWINSZ, ...), on host stream `fd`.
    /// `arg` points into app memory.
    fn stdio_ioctl(&self, fd: i32, cmd: u32, arg: usize) -> Result<usize, Errno>;

    /// Current time of `clock` (CLOCK_REALTIME, CLOCK_MONOTONIC, ...).
    fn clock_gettime(&self, clock: u32) -> Result<Timespec, Errno>;
    /// Fills `buf` with random bytes.
    fn random(&self, buf: &mut [u8]);
    /// Sleeps for the given duration (relative).
    fn sleep(&self, dur: &Timespec) -> Result<(), Errno>;
    /// futex(2) on app memory.
    fn futex(&self, uaddr: usize, op: u32, val: u32, timeout: usize, uaddr2: usize, val3: u32) -> Result<usize, Errno>;
    /// Thread registration calls that only touch app memory: set_tid_address, set_robust_list,
    /// rseq. `nr` is the Linux syscall number; the platform serves or refuses it.
    fn thread_call(&self, nr: usize, args: [usize; 6]) -> Result<usize, Errno>;
    /// arch_prctl(code, addr): FS/GS base of the current thread.
    fn arch_prctl(&self, code: u32, addr: usize) -> Result<usize, Errno>;
    /// Process id and thread id as the app should see them.
    fn ids(&self) -> (i32, i32);
    /// Real uid and gid the app sees.
    fn creds(&self) -> (u32, u32);

    /// Installs or queries the app's handler for `sig` (rt_sigaction semantics, raw pointers
    /// into app memory for the `struct sigaction`s).
    fn sigaction(&self, sig: i32, new: usize, old: usize, size: usize) -> Result<usize, Errno>;

    /// Ends the whole process with `code`. Never returns.
    fn exit_group(&self, code: i32) -> !;
    /// Ends the calling thread (the process, if it is the last one) with `code`.
    fn exit_thread(&self, code: i32) -> !;
    /// Writes one diagnostic line (already formatted, without newline) to the runtime's log.
    fn log(&self, line: &[u8]);
}

/// A new thread of the app: it resumes right after the clone syscall with rax = 0, the stack
/// pointer `stack` and, with CLONE_SETTLS, the FS base `tls`. `flags` are Linux CLONE_* flags
/// (already checked to describe a thread).
pub struct ThreadSpawn {
    pub flags: u64,
    pub stack: usize,
    pub parent_tid: usize,
    pub child_tid: usize,
    pub tls: usize,
}

/// The per-call view of the thread that issued a syscall: its number, arguments and the state
/// that the platform restores when the call returns (the signal mask).
pub trait SyscallContext {
    /// The syscall number.
    fn nr(&self) -> usize;
    /// Argument `i` (0..6) in Linux order: rdi, rsi, rdx, r10, r8, r9.
    fn arg(&self, i: usize) -> usize;
    /// The app's signal mask as it will be when the call returns.
    fn sigmask(&self) -> u64;
    /// Replaces the app's signal mask for after the call (the platform keeps its own signals
    /// unblockable).
    fn set_sigmask(&mut self, mask: u64);
    /// Starts a new thread that is a copy of this one at this syscall (see [`ThreadSpawn`]).
    /// Returns the new thread's id.
    fn spawn_thread(&mut self, t: &ThreadSpawn) -> Result<usize, Errno>;
}
