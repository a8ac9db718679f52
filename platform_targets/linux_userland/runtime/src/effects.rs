//! Which host calls can have no effect outside the sandbox's own memory: the short list the
//! effect gate (parcheck.rs, [`crate::parcheck::gate`]) lets through while deferred chunk
//! checks are still open. Everything not on it is gated: a call this file does not know is
//! treated as one with an effect (docs/targets/linux-userland.md, "Deferred checks of mapped
//! code and the effect gate").

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

const STAT: usize = 4;
const FSTAT: usize = 5;
const LSTAT: usize = 6;
const POLL: usize = 7;
const LSEEK: usize = 8;
const MMAP: usize = 9;
const MPROTECT: usize = 10;
const MUNMAP: usize = 11;
const BRK: usize = 12;
const RT_SIGACTION: usize = 13;
const RT_SIGPROCMASK: usize = 14;
const RT_SIGRETURN: usize = 15;
const IOCTL: usize = 16;
const PREAD64: usize = 17;
const ACCESS: usize = 21;
const SELECT: usize = 23;
const SCHED_YIELD: usize = 24;
const MREMAP: usize = 25;
const MINCORE: usize = 27;
const MADVISE: usize = 28;
const DUP: usize = 32;
const NANOSLEEP: usize = 35;
const GETPID: usize = 39;
const SOCKET: usize = 41;
const GETSOCKNAME: usize = 51;
const GETPEERNAME: usize = 52;
const SOCKETPAIR: usize = 53;
const GETSOCKOPT: usize = 55;
const WAIT4: usize = 61;
const KILL: usize = 62;
const UNAME: usize = 63;
const FCNTL: usize = 72;
const GETCWD: usize = 79;
const READLINK: usize = 89;
const GETTIMEOFDAY: usize = 96;
const GETRLIMIT: usize = 97;
const GETRUSAGE: usize = 98;
const SYSINFO: usize = 99;
const TIMES: usize = 100;
const GETUID: usize = 102;
const GETGID: usize = 104;
const GETEUID: usize = 107;
const GETEGID: usize = 108;
const GETPPID: usize = 110;
const GETPGRP: usize = 111;
const GETGROUPS: usize = 115;
const GETRESUID: usize = 118;
const GETRESGID: usize = 120;
const GETPGID: usize = 121;
const GETSID: usize = 124;
const CAPGET: usize = 125;
const RT_SIGPENDING: usize = 127;
const RT_SIGTIMEDWAIT: usize = 128;
const RT_SIGSUSPEND: usize = 130;
const SIGALTSTACK: usize = 131;
const STATFS: usize = 137;
const FSTATFS: usize = 138;
const GETPRIORITY: usize = 140;
const ARCH_PRCTL: usize = 158;
const GETTID: usize = 186;
const TIME: usize = 201;
const FUTEX: usize = 202;
const SCHED_GETAFFINITY: usize = 204;
const SET_TID_ADDRESS: usize = 218;
const CLOCK_GETTIME: usize = 228;
const CLOCK_GETRES: usize = 229;
const CLOCK_NANOSLEEP: usize = 230;
const EPOLL_WAIT: usize = 232;
const TGKILL: usize = 234;
const WAITID: usize = 247;
const OPENAT: usize = 257;
const NEWFSTATAT: usize = 262;
const READLINKAT: usize = 267;
const FACCESSAT: usize = 269;
const PSELECT6: usize = 270;
const PPOLL: usize = 271;
const SET_ROBUST_LIST: usize = 273;
const EPOLL_PWAIT: usize = 281;
const EVENTFD2: usize = 290;
const EPOLL_CREATE1: usize = 291;
const PIPE2: usize = 293;
const PREADV: usize = 295;
const PRLIMIT64: usize = 302;
const GETCPU: usize = 309;
const GETRANDOM: usize = 318;
const MEMFD_CREATE: usize = 319;
const MEMBARRIER: usize = 324;
const PREADV2: usize = 327;
const STATX: usize = 332;
const RSEQ: usize = 334;
const OPENAT2: usize = 437;
const FACCESSAT2: usize = 439;
const EPOLL_PWAIT2: usize = 441;
const FUTEX_WAITV: usize = 449;

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
