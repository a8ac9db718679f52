//! Synthetic nodes: the device files every program expects, and the parts of /proc that
//! programs read about themselves and the machine. Nothing here reflects the host: the /proc
//! files are generated from the library OS's own state (`crate::procfs`).
use alloc::vec::Vec;

use crate::fs::node::NodeKind;

/// A synthetic node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synth {
    Null,
    Zero,
    Full,
    Random,
    URandom,
    /// /dev/tty: the terminal the artifact was started on, if any (ENXIO otherwise).
    Tty,
    /// /dev/fd: a symlink to /proc/self/fd.
    DevFd,
    /// /dev/stdin, /dev/stdout, /dev/stderr: symlinks to /proc/self/fd/0..2.
    DevStd(u8),
    /// /proc/<pid> of the app's own pid: a directory.
    ProcSelf,
    /// /proc/self: a symlink to `<pid>`, as on Linux.
    ProcSelfLink,
    /// /proc/self/exe: a symlink to the entry program.
    ProcSelfExe,
    /// /proc/self/cwd: a symlink to the working directory.
    ProcSelfCwd,
    /// /proc/self/fd: a directory with one symlink per open descriptor.
    ProcSelfFd,
    /// /proc/self/fd/N.
    ProcFdLink(i32),
    /// Generated files (read-only text, content made at open).
    ProcMaps,
    ProcStatus,
    ProcCmdline,
    /// /proc/self/environ: the environment the program started with, as cmdline holds argv.
    ProcEnviron,
    /// /proc/self/limits: the process's resource limits, Linux's table.
    ProcLimits,
    ProcComm,
    ProcCpuinfo,
    ProcMeminfo,
    /// /proc/stat (the machine's CPU lines, boot time, process counts), /proc/uptime and
    /// /proc/loadavg.
    ProcSysStat,
    ProcUptime,
    ProcLoadavg,
    /// /proc/self/stat and /proc/self/statm (what `ps` reads).
    ProcStat,
    ProcStatm,
    /// /proc/mounts and /proc/self/mounts.
    ProcMounts,
    /// /proc/self/mountinfo (what `df` and `findmnt` read).
    ProcMountinfo,
    /// /proc/self/task: a directory with the process's own entry (`/proc/self/task/<pid>` is
    /// `/proc/self`, see [`alias`]).
    ProcTask,
    /// /proc/sys (0), /proc/sys/kernel (1), /proc/sys/fs (2).
    ProcSysDir(u8),
    /// The /proc/sys values of [`SYS_VALUES`], by index.
    ProcSysValue(u8),
    /// /etc/hosts (0), /etc/passwd (1), /etc/group (2) where the image and the writable layer
    /// have none ([`ETC_FALLBACKS`]).
    EtcFallback(u8),
    /// /proc/<pid> of another process of the app: a directory of [`PID_FILES`].
    ProcPid(i32),
    /// /proc/<pid>/<file> of another process of the app (`file` indexes [`PID_FILES`]).
    ProcPidFile(i32, u8),
    /// /proc/<pid>/exe of another process of the app: a symlink to its program.
    ProcPidExe(i32),
    /// /proc/<pid>/task of another process of the app: a directory with its own entry.
    ProcPidTask(i32),
    /// /dev/attestation (`crate::attestation`): the directory.
    AttestDir,
    /// /dev/attestation/attestation_type: generated ("sev-snp" or "none").
    AttestType,
    /// /dev/attestation/report: generated at open from the report data (ENODEV without one).
    AttestReport,
    /// /dev/attestation/user_report_data: 64 bytes the app writes and reads back.
    AttestUserData,
}

/// The files of /proc/sys served (read-only, as to an unprivileged process), in
/// [`Synth::ProcSysValue`] order.
pub const SYS_VALUES: &[&[u8]] = &[
    b"/proc/sys/kernel/pid_max",
    b"/proc/sys/kernel/tainted",
    b"/proc/sys/kernel/core_pattern",
    b"/proc/sys/kernel/hostname",
    b"/proc/sys/fs/pipe-max-size",
];

/// The files of /proc/<pid> for another process of the app, in [`Synth::ProcPidFile`] order.
pub const PID_FILES: &[&[u8]] = &[b"stat", b"statm", b"status", b"cmdline", b"comm"];

/// The node of `/proc/<pid>` or `/proc/<pid>/<file>` when `pid` is one of `others` (the
/// app's other processes); None for any other path.
pub fn find_other(path: &[u8], others: &[i32]) -> Option<Synth> {
    let rest = path.strip_prefix(b"/proc/")?;
    let end = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
    let pid = parse_i32(&rest[..end])?;
    if !others.contains(&pid) {
        return None;
    }
    let mut file = rest[end..].strip_prefix(b"/");
    // /proc/<pid>/task/<pid>[/...]: the one entry of its task directory is the process itself.
    if let Some(t) = file.and_then(|f| f.strip_prefix(b"task/")) {
        let e = t.iter().position(|&c| c == b'/').unwrap_or(t.len());
        if parse_i32(&t[..e]) != Some(pid) {
            return None;
        }
        file = t[e..].strip_prefix(b"/");
    }
    match file {
        None => Some(Synth::ProcPid(pid)),
        Some(b"exe") => Some(Synth::ProcPidExe(pid)),
        Some(b"task") => Some(Synth::ProcPidTask(pid)),
        Some(f) => PID_FILES.iter().position(|n| *n == f).map(|i| Synth::ProcPidFile(pid, i as u8)),
    }
}

/// (path, node) for every synthetic path with a fixed name. `/proc/self` links to `<pid>`;
/// `/proc/<pid>/X` is found here as `/proc/self/X` (see [`alias`]); `/proc/self/fd/N` exists
/// for each open descriptor.
pub const TABLE: &[(&[u8], Synth)] = &[
    (b"/dev/attestation", Synth::AttestDir),
    (b"/dev/attestation/attestation_type", Synth::AttestType),
    (b"/dev/attestation/report", Synth::AttestReport),
    (b"/dev/attestation/user_report_data", Synth::AttestUserData),
    (b"/dev/fd", Synth::DevFd),
    (b"/dev/full", Synth::Full),
    (b"/dev/null", Synth::Null),
    (b"/dev/random", Synth::Random),
    (b"/dev/stderr", Synth::DevStd(2)),
    (b"/dev/stdin", Synth::DevStd(0)),
    (b"/dev/stdout", Synth::DevStd(1)),
    (b"/dev/tty", Synth::Tty),
    (b"/dev/urandom", Synth::URandom),
    (b"/dev/zero", Synth::Zero),
    (b"/proc/cpuinfo", Synth::ProcCpuinfo),
    (b"/proc/meminfo", Synth::ProcMeminfo),
    (b"/proc/stat", Synth::ProcSysStat),
    (b"/proc/uptime", Synth::ProcUptime),
    (b"/proc/loadavg", Synth::ProcLoadavg),
    (b"/proc/self", Synth::ProcSelfLink),
    (b"/proc/self/cmdline", Synth::ProcCmdline),
    (b"/proc/self/environ", Synth::ProcEnviron),
    (b"/proc/self/limits", Synth::ProcLimits),
    (b"/proc/self/comm", Synth::ProcComm),
    (b"/proc/self/cwd", Synth::ProcSelfCwd),
    (b"/proc/self/exe", Synth::ProcSelfExe),
    (b"/proc/self/fd", Synth::ProcSelfFd),
    (b"/proc/self/maps", Synth::ProcMaps),
    (b"/proc/self/status", Synth::ProcStatus),
    (b"/proc/self/stat", Synth::ProcStat),
    (b"/proc/self/statm", Synth::ProcStatm),
    (b"/proc/self/mounts", Synth::ProcMounts),
    (b"/proc/mounts", Synth::ProcMounts),
    (b"/proc/self/mountinfo", Synth::ProcMountinfo),
    (b"/proc/self/task", Synth::ProcTask),
    (b"/proc/sys", Synth::ProcSysDir(0)),
    (b"/proc/sys/kernel", Synth::ProcSysDir(1)),
    (b"/proc/sys/fs", Synth::ProcSysDir(2)),
    (b"/proc/sys/kernel/pid_max", Synth::ProcSysValue(0)),
    (b"/proc/sys/kernel/tainted", Synth::ProcSysValue(1)),
    (b"/proc/sys/kernel/core_pattern", Synth::ProcSysValue(2)),
    (b"/proc/sys/kernel/hostname", Synth::ProcSysValue(3)),
    (b"/proc/sys/fs/pipe-max-size", Synth::ProcSysValue(4)),
];

/// The files every Linux system has that a program needs to resolve `localhost` and its own
/// host name and to name its user (glibc's `getaddrinfo`, `getpwuid`), shown where the image
/// (quick mode packs none of them) and the writable layer have none: `Vfs` falls back to them
/// after both, so an image's own always wins and the app may replace one (a copy in the
/// layer). Indices of [`Synth::EtcFallback`].
pub const ETC_FALLBACKS: [&[u8]; 3] = [b"/etc/hosts", b"/etc/passwd", b"/etc/group"];

/// `/proc/<pid>` and what lies below it, rewritten to the table's `/proc/self...` keys when
/// `pid` is the app's own (`/proc/self` itself, the symlink, is looked up before this); other
/// paths unchanged.
pub fn alias(path: &[u8], pid: i32) -> Vec<u8> {
    if let Some(rest) = path.strip_prefix(b"/proc/") {
        let end = rest.iter().position(|&c| c == b'/').unwrap_or(rest.len());
        let digits = &rest[..end];
        if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) && parse_i32(digits) == Some(pid) {
            let mut v = b"/proc/self".to_vec();
            v.extend_from_slice(&rest[end..]);
            return alias(&v, pid);
        }
        // /proc/self/task/<pid>: the one thread group leader entry is the process itself.
        if let Some(t) = rest.strip_prefix(b"self/task/") {
            let end = t.iter().position(|&c| c == b'/').unwrap_or(t.len());
            if parse_i32(&t[..end]) == Some(pid) {
                let mut v = b"/proc/self".to_vec();
                v.extend_from_slice(&t[end..]);
                return v;
            }
        }
    }
    path.to_vec()
}

/// [`alias`], and /proc/self/task/<tid> for any thread `tids` holds (besides the first) made
/// /proc/self too: each thread's entry shows its process's files.
pub fn alias_task(path: &[u8], pid: i32, tids: &[i32]) -> Vec<u8> {
    let a = alias(path, pid);
    if let Some(t) = a.strip_prefix(b"/proc/self/task/") {
        let end = t.iter().position(|&c| c == b'/').unwrap_or(t.len());
        if parse_i32(&t[..end]).is_some_and(|n| tids.contains(&n)) {
            let mut v = b"/proc/self".to_vec();
            v.extend_from_slice(&t[end..]);
            return v;
        }
    }
    a
}

/// A decimal number without sign, if it fits.
pub fn parse_i32(d: &[u8]) -> Option<i32> {
    if d.is_empty() || d.len() > 10 || (d.len() > 1 && d[0] == b'0') {
        return None;
    }
    let mut v: i64 = 0;
    for &c in d {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as i64;
    }
    i32::try_from(v).ok()
}

impl Synth {
    /// Looks up a synthetic path with a fixed name (already aliased, see [`alias`]).
    pub fn find(path: &[u8]) -> Option<Synth> {
        if path == b"/proc/self" {
            return Some(Synth::ProcSelf);
        }
        if let Some(n) = path.strip_prefix(b"/proc/self/fd/") {
            return parse_i32(n).map(Synth::ProcFdLink);
        }
        TABLE.iter().find(|(p, _)| *p == path).map(|(_, s)| *s)
    }

    /// The type stat reports.
    pub fn kind(self) -> NodeKind {
        match self {
            Synth::ProcSelf
            | Synth::ProcSelfFd
            | Synth::ProcTask
            | Synth::ProcSysDir(_)
            | Synth::ProcPid(_)
            | Synth::ProcPidTask(_)
            | Synth::AttestDir => NodeKind::Dir,
            Synth::ProcSelfLink
            | Synth::ProcSelfExe
            | Synth::ProcSelfCwd
            | Synth::ProcFdLink(_)
            | Synth::ProcPidExe(_)
            | Synth::DevFd
            | Synth::DevStd(_) => NodeKind::Symlink,
            Synth::ProcMaps
            | Synth::ProcStatus
            | Synth::ProcCmdline
            | Synth::ProcEnviron
            | Synth::ProcLimits
            | Synth::ProcComm
            | Synth::ProcCpuinfo
            | Synth::ProcMeminfo
            | Synth::ProcSysStat
            | Synth::ProcUptime
            | Synth::ProcLoadavg
            | Synth::ProcStat
            | Synth::ProcStatm
            | Synth::ProcMounts
            | Synth::ProcMountinfo
            | Synth::ProcSysValue(_)
            | Synth::EtcFallback(_)
            | Synth::ProcPidFile(..)
            | Synth::AttestType
            | Synth::AttestReport => NodeKind::File,
            _ => NodeKind::CharDev,
        }
    }

    /// True for the generated /proc files.
    pub fn generated(self) -> bool {
        self.kind() == NodeKind::File
    }

    /// (major, minor) of a device node, as on Linux.
    pub fn rdev(self) -> (u32, u32) {
        match self {
            Synth::Null => (1, 3),
            Synth::Zero => (1, 5),
            Synth::Full => (1, 7),
            Synth::Random => (1, 8),
            Synth::URandom => (1, 9),
            Synth::Tty => (5, 0),
            _ => (0, 0),
        }
    }

    /// A stable inode number.
    pub fn ino(self) -> u64 {
        let i = match self {
            Synth::ProcFdLink(n) => return 0xfff0_0000 + n as u32 as u64,
            Synth::DevStd(n) => 100 + n as u64,
            Synth::ProcSelf => 200,
            // Below the descriptor links: 16 inodes per other pid.
            Synth::ProcPid(p) => return 0x1_0000_0000 + (p as u32 as u64) * 16,
            Synth::ProcPidFile(p, f) => return 0x1_0000_0000 + (p as u32 as u64) * 16 + 1 + f as u64,
            Synth::ProcPidExe(p) => return 0x1_0000_0000 + (p as u32 as u64) * 16 + 12,
            Synth::ProcPidTask(p) => return 0x1_0000_0000 + (p as u32 as u64) * 16 + 13,
            Synth::EtcFallback(i) => 0xf000 + i as u64,
            _ => TABLE.iter().position(|(_, s)| *s == self).unwrap_or(0) as u64,
        };
        0xffff_0000 + i
    }
}

/// What /proc needs to know about the process that the file system itself does not hold: the
/// library OS implements it and attaches itself to the [`crate::fs::Vfs`] at start.
pub trait ProcView: Send + Sync {
    /// The app's pid.
    fn pid(&self) -> i32;
    /// Open descriptors, in increasing order.
    fn fds(&self) -> Vec<i32>;
    /// What /proc/self/fd/N links to, and whether that is a path of the namespace (a file or
    /// directory opened by path) rather than a description like `pipe:[N]`. None: not open.
    fn fd_target(&self, fd: i32) -> Option<(Vec<u8>, bool)>;
    /// The working directory.
    fn cwd(&self) -> Vec<u8>;
    /// The pids of the app's other processes (live and zombies), for /proc/<pid>.
    fn others(&self) -> Vec<i32> {
        Vec::new()
    }
    /// The program path of the app's other process `pid` (/proc/<pid>/exe), if known.
    fn other_exe(&self, _pid: i32) -> Option<Vec<u8>> {
        None
    }
    /// The thread ids of the process's live threads, the first (the pid) included, in
    /// increasing order: the entries of /proc/self/task.
    fn tids(&self) -> Vec<i32> {
        alloc::vec![self.pid()]
    }
}

/// How the ids the app sees differ from the host's: files the host says belong to `host`
/// (uid, gid) and every image file are shown as owned by `app`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdMap {
    pub host: (u32, u32),
    pub app: (u32, u32),
}
