//! Which host calls can have no effect outside the sandbox's own memory: the short list the
//! effect gate (parcheck.rs, [`crate::parcheck::gate`]) lets through while deferred chunk
//! checks are still open. Everything not on it is gated: a call this file does not know is
//! treated as one with an effect (docs/targets/linux-userland.md, "Deferred checks of mapped
//! code and the effect gate").

use litebox_libos::shim::nr::*;

/// Whether host syscall `nr` with arguments `a` can have no effect that another process, a
/// file or the network outside the sandbox could see: memory management of the process's
/// own (private or anonymous) memory, clocks and sleeps, answers about the process itself,
/// metadata lookups, reads that consume nothing (`pread`), waits, and signal-mask handling.
/// False for every write, send, receive from a pipe or socket, open of anything but a
/// directory or an `O_PATH` handle, change of a shared file offset or status flag, signal to
/// any process (signal 0, a probe, excepted), process creation, execve and exit.
pub fn effect_free(nr: usize, a: &[usize; 6]) -> bool {
    match nr {
        // Memory: the process's own. A shared mapping of a file is writable memory whose
        // stores reach the file: gated.
        MMAP => a[3] & MAP_ANONYMOUS != 0 || a[3] & MAP_TYPE == MAP_PRIVATE,
        MPROTECT | MUNMAP | MREMAP | MADVISE | BRK | MINCORE | MEMBARRIER | RSEQ => true,
        // Clocks, sleeps and yields.
        CLOCK_GETTIME | CLOCK_GETRES | GETTIMEOFDAY | TIME | NANOSLEEP | CLOCK_NANOSLEEP | SCHED_YIELD => true,
        // Answers about the process and the machine.
        GETPID | GETTID | GETPPID | GETUID | GETGID | GETEUID | GETEGID | GETRESUID | GETRESGID | GETGROUPS
        | GETPGRP | GETPGID | GETSID | GETRLIMIT | GETRUSAGE | SYSINFO | TIMES | UNAME | GETCWD | GETPRIORITY
        | SCHED_GETAFFINITY | GETCPU | CAPGET | GETRANDOM => true,
        PRLIMIT64 => a[2] == 0,
        // Thread and signal state of this process.
        RT_SIGACTION | RT_SIGPROCMASK | RT_SIGRETURN | RT_SIGPENDING | RT_SIGSUSPEND | RT_SIGTIMEDWAIT
        | SIGALTSTACK | SET_TID_ADDRESS | SET_ROBUST_LIST | ARCH_PRCTL => true,
        // Waits: on memory (futexes) or for readiness, consuming nothing; reaping children
        // (they are the sandbox's).
        FUTEX | FUTEX_WAITV | POLL | PPOLL | SELECT | PSELECT6 | EPOLL_WAIT | EPOLL_PWAIT | EPOLL_PWAIT2 | WAIT4
        | WAITID => true,
        // Reads that consume nothing: positional reads (files only: a pipe or socket refuses
        // them) — the image's chunks are read this way — and metadata.
        PREAD64 | PREADV | PREADV2 => true,
        FSTAT | STAT | LSTAT | NEWFSTATAT | STATX | STATFS | FSTATFS | READLINK | READLINKAT | ACCESS | FACCESSAT
        | FACCESSAT2 | GETSOCKNAME | GETPEERNAME | GETSOCKOPT => true,
        // The position asked for, not changed.
        LSEEK => a[1] == 0 && a[2] == SEEK_CUR,
        // Descriptor flags read, or a new descriptor of an object already open.
        FCNTL => matches!(a[1], F_GETFD | F_GETFL | F_DUPFD | F_DUPFD_CLOEXEC),
        DUP => true,
        // Terminal and socket queries.
        IOCTL => matches!(a[1] as u32, TCGETS | TIOCGWINSZ | TIOCGPGRP | FIONREAD),
        // New objects of the process's own, connected to nothing yet.
        PIPE2 | SOCKET | SOCKETPAIR | EVENTFD2 | EPOLL_CREATE1 | MEMFD_CREATE => true,
        // A directory or a path handle: opening neither reads, writes nor wakes anyone (an
        // O_TMPFILE open carries O_DIRECTORY but makes a file).
        OPENAT => opens_nothing(a[2]),
        OPENAT2 => {
            // SAFETY: the runtime passes openat2 a valid `struct open_how` (flags first, u64).
            a[2] != 0 && opens_nothing(unsafe { core::ptr::read(a[2] as *const u64) } as usize)
        }
        // A probe for a process's existence (signal 0) sends nothing.
        KILL => a[1] == 0,
        TGKILL => a[2] == 0,
        _ => false,
    }
}

/// Whether open flags `flags` open a directory or a path handle only, creating and
/// truncating nothing.
fn opens_nothing(flags: usize) -> bool {
    let handle = flags & (O_PATH | O_DIRECTORY) != 0;
    let changes = flags & (O_ACCMODE | O_CREAT | O_TRUNC | O_TMPFILE_ONLY) != 0;
    handle && !changes
}

const MAP_ANONYMOUS: usize = 0x20;
const MAP_TYPE: usize = 0x0f;
const MAP_PRIVATE: usize = 0x02;
const SEEK_CUR: usize = 1;
const F_DUPFD: usize = 0;
const F_GETFD: usize = 1;
const F_GETFL: usize = 3;
const F_DUPFD_CLOEXEC: usize = 1030;
const TCGETS: u32 = 0x5401;
const TIOCGPGRP: u32 = 0x540f;
const TIOCGWINSZ: u32 = 0x5413;
const FIONREAD: u32 = 0x541b;
const O_ACCMODE: usize = 0o3;
const O_CREAT: usize = 0o100;
const O_TRUNC: usize = 0o1000;
const O_DIRECTORY: usize = 0o200000;
const O_PATH: usize = 0o10000000;
/// O_TMPFILE's own bit (O_TMPFILE is this with O_DIRECTORY).
const O_TMPFILE_ONLY: usize = 0o20000000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_exits_forks_signals_and_unknown_calls_are_gated() {
        for nr in [
            0, /* read */
            1, /* write */
            3, /* close */
            44, 46, 56, 57, 59, 60, 231, 82, 87, 263, 435, 999,
        ] {
            assert!(!effect_free(nr, &[0; 6]), "{nr}");
        }
        assert!(!effect_free(KILL, &[2, 9, 0, 0, 0, 0]));
        assert!(!effect_free(TGKILL, &[2, 2, 11, 0, 0, 0]));
        assert!(!effect_free(OPENAT, &[0, 0, 0o1101, 0, 0, 0]), "O_WRONLY|O_CREAT|O_TRUNC");
        assert!(!effect_free(OPENAT, &[0, 0, 0, 0, 0, 0]), "a plain read-only open may be a FIFO");
        assert!(!effect_free(OPENAT, &[0, 0, O_TMPFILE_ONLY | O_DIRECTORY | 2, 0, 0, 0]));
        assert!(!effect_free(MMAP, &[0, 4096, 3, 0x01, 5, 0]), "MAP_SHARED of a file");
        assert!(!effect_free(LSEEK, &[1, 10, 0, 0, 0, 0]));
        assert!(!effect_free(FCNTL, &[1, 4 /* F_SETFL */, 0, 0, 0, 0]));
        assert!(!effect_free(IOCTL, &[1, 0x5402 /* TCSETS */, 0, 0, 0, 0]));
    }

    #[test]
    fn memory_clocks_queries_and_lookups_pass() {
        assert!(effect_free(MMAP, &[0, 4096, 3, 0x22, usize::MAX, 0]));
        assert!(effect_free(MMAP, &[0, 4096, 5, 0x02, 7, 0]), "a private file mapping");
        assert!(effect_free(PREAD64, &[7, 0, 4096, 0, 0, 0]));
        assert!(effect_free(LSEEK, &[1, 0, SEEK_CUR, 0, 0, 0]));
        assert!(effect_free(KILL, &[2, 0, 0, 0, 0, 0]));
        assert!(effect_free(OPENAT, &[0, 0, O_PATH | 0o2000000, 0, 0, 0]));
        let how = [(O_DIRECTORY | 0o2000000) as u64, 0, 0];
        assert!(effect_free(OPENAT2, &[3, 0, how.as_ptr() as usize, 24, 0, 0]));
        let how = [0o101u64, 0o644, 0];
        assert!(!effect_free(OPENAT2, &[3, 0, how.as_ptr() as usize, 24, 0, 0]));
    }
}
