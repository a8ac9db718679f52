//! The generated files of /proc (maps, status, cmdline, comm, cpuinfo, meminfo) and the
//! process view /proc/self/fd needs. Everything comes from the library OS's own state and
//! CPUID: no host path, no runtime mapping, no host serial number or CPU model reaches the app.
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::Ordering;

use crate::abi::{PROT_EXEC, PROT_READ, PROT_WRITE, S_IFCHR, S_IFIFO, S_IFMT, S_IFSOCK};
use crate::errno::Errno;
use crate::fd::FileKind;
use crate::fs::synth::{ProcView, Synth};
use crate::kernel::LibOs;
use crate::platform::Platform;

impl<P: Platform> ProcView for LibOs<P> {
    fn pid(&self) -> i32 {
        self.platform.pid()
    }

    fn fds(&self) -> Vec<i32> {
        self.fds.lock().open_fds().collect()
    }

    fn fd_target(&self, fd: i32) -> Option<(Vec<u8>, bool)> {
        let f = self.fds.lock().get(fd).ok()?;
        if !f.path.is_empty() {
            return Some((f.path.clone(), true));
        }
        // A library-OS pipe shows its standby host pipe (as it will after promotion).
        let host = match &f.kind {
            FileKind::Obj(crate::kobj::Obj::Pipe(e)) if e.backed() => e.host_fd(),
            FileKind::Obj(o) => return Some((o.label(), false)),
            FileKind::Host(h) => h.0,
            _ => return Some((b"anon_inode:[litebox]".to_vec(), false)),
        };
        let st = self.platform.host_stat(host).ok()?;
        Some((host_label(st.st_mode, st.st_ino, st.st_rdev).into_bytes(), false))
    }

    fn cwd(&self) -> Vec<u8> {
        self.cwd.lock().clone()
    }

    fn others(&self) -> Vec<i32> {
        other_pids(self)
    }

    fn other_exe(&self, pid: i32) -> Option<Vec<u8>> {
        record(self, pid).map(|r| r.exe).filter(|e| !e.is_empty())
    }

    fn tids(&self) -> Vec<i32> {
        let pid = self.pid();
        let mut v: Vec<i32> =
            core::iter::once(pid).chain(self.tids.lock().iter().copied().filter(|&t| t != pid)).collect();
        v.sort_unstable();
        v
    }
}

/// What /proc/self/fd/N shows for a host object that has no path in the namespace: the
/// Linux notation for pipes and sockets, the usual name of common character devices, and a
/// neutral label for anything else (a host file the artifact's stdio was redirected to keeps
/// its host path to itself).
fn host_label(mode: u32, ino: u64, rdev: u64) -> String {
    let (maj, min) = (((rdev >> 8) & 0xfff) as u32, ((rdev & 0xff) | ((rdev >> 12) & !0xff)) as u32);
    match mode & S_IFMT {
        S_IFIFO => alloc::format!("pipe:[{ino}]"),
        S_IFSOCK => alloc::format!("socket:[{ino}]"),
        S_IFCHR => match (maj, min) {
            (1, 3) => "/dev/null".into(),
            (1, 5) => "/dev/zero".into(),
            (1, 9) => "/dev/urandom".into(),
            (5, 0) => "/dev/tty".into(),
            (136..=143, m) => alloc::format!("/dev/pts/{}", (maj - 136) * 256 + m),
            (4, m) => alloc::format!("/dev/tty{m}"),
            _ => alloc::format!("/dev/char/{maj}:{min}"),
        },
        0 => "anon_inode:[litebox]".into(),
        _ => alloc::format!("host:[{ino}]"),
    }
}

/// The content of generated file `s`, made when it is opened.
pub fn render<P: Platform>(os: &LibOs<P>, s: Synth) -> Result<Vec<u8>, Errno> {
    Ok(match s {
        Synth::ProcMaps => maps(os).into_bytes(),
        Synth::ProcStatus => status(os).into_bytes(),
        Synth::ProcCmdline | Synth::ProcEnviron => {
            let mut v = Vec::new();
            let list = if s == Synth::ProcCmdline { os.cmdline.lock() } else { os.environ.lock() };
            for a in list.iter() {
                v.extend_from_slice(a);
                v.push(0);
            }
            v
        }
        Synth::ProcLimits => limits(os).into_bytes(),
        Synth::EtcFallback(i) => etc_fallback(os, i).into_bytes(),
        Synth::ProcComm => {
            let mut v = comm(os);
            v.push(b'\n');
            v
        }
        Synth::ProcCpuinfo => cpuinfo(os.platform.cpu_count()).into_bytes(),
        Synth::ProcMeminfo => meminfo(os).into_bytes(),
        Synth::ProcSysStat => sys_stat(os).into_bytes(),
        Synth::ProcUptime => uptime(os).into_bytes(),
        Synth::ProcLoadavg => loadavg(),
        Synth::ProcStat => stat(os).into_bytes(),
        Synth::ProcStatm => statm(os).into_bytes(),
        Synth::ProcMounts => mounts(os, false),
        Synth::ProcMountinfo => mounts(os, true),
        Synth::ProcSysValue(i) => sys_value(os, i),
        Synth::ProcPidFile(pid, file) => other(os, pid, file)?,
        Synth::AttestType => crate::attestation::type_file(os.platform.attestation_type()),
        Synth::AttestReport => os.platform.attestation_report(&os.attestation.user_data())?,
        _ => return Err(crate::errno::EINVAL),
    })
}

/// The program's name as Linux keeps it: the executable's file name, at most 15 bytes.
fn comm<P: Platform>(os: &LibOs<P>) -> Vec<u8> {
    if let Some(n) = os.ident.name() {
        return n;
    }
    let exe = os.vfs.exe_path.lock().clone();
    let name = crate::fs::path::name(&exe);
    name[..name.len().min(15)].to_vec()
}

fn maps<P: Platform>(os: &LibOs<P>) -> String {
    let ranges = os.mem.lock().ranges();
    let mut out = String::new();
    for (lo, v) in ranges {
        let flag = |bit: u32, c: char| if v.prot & bit != 0 { c } else { '-' };
        let (dev, ino) = match &v.name {
            Some(n) if !n.starts_with(b"[") => {
                let ino = os.vfs.lookup(n).map(|node| os.vfs.stat(&node).st_ino).unwrap_or(0);
                ("00:4c", ino)
            }
            _ => ("00:00", 0),
        };
        let line_start = out.len();
        let _ = write!(
            out,
            "{lo:08x}-{:08x} {}{}{}{} {:08x} {dev} {ino}",
            v.end,
            flag(PROT_READ, 'r'),
            flag(PROT_WRITE, 'w'),
            flag(PROT_EXEC, 'x'),
            if v.shared { 's' } else { 'p' },
            if v.name.as_ref().is_some_and(|n| !n.starts_with(b"[")) { v.offset } else { 0 },
        );
        if let Some(n) = &v.name {
            while out.len() - line_start < 73 {
                out.push(' ');
            }
            out.push_str(&String::from_utf8_lossy(n));
        }
        out.push('\n');
    }
    out
}

fn status<P: Platform>(os: &LibOs<P>) -> String {
    let pid = os.platform.pid();
    let ppid = os.ppid();
    let (u, g) = (os.ident.uids(), os.ident.gids());
    let (size, accessible) = {
        let m = os.mem.lock();
        let acc: usize = m.ranges().iter().filter(|(_, v)| v.prot != 0).map(|(s, v)| v.end - s).sum();
        (m.total() as u64, acc as u64)
    };
    let rss = os.platform.resident().unwrap_or(accessible).min(size);
    let fdsize = os.fds.lock().open_fds().last().map_or(64, |f| ((f as usize + 64) / 64) * 64);
    let threads = os.threads.load(Ordering::Relaxed).max(1);
    let cpus = os.platform.cpu_count();
    let mut out = String::new();
    let _ = write!(
        out,
        "Name:\t{}\nUmask:\t{:04o}\nState:\tR (running)\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\nPPid:\t{ppid}\n\
         TracerPid:\t0\nUid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nFDSize:\t{fdsize}\n\
         Groups:\t\nVmPeak:\t{:8} kB\nVmSize:\t{:8} kB\nVmLck:\t{:8} kB\nVmRSS:\t{:8} kB\nThreads:\t{threads}\n\
         Cpus_allowed_list:\t0-{}\nvoluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n",
        String::from_utf8_lossy(&comm(os)),
        os.umask.load(Ordering::Relaxed),
        u.real,
        u.effective,
        u.saved,
        u.fs,
        g.real,
        g.effective,
        g.saved,
        g.fs,
        size / 1024,
        size / 1024,
        0,
        rss / 1024,
        cpus.saturating_sub(1),
    );
    out
}

/// What /proc/mounts lists: the sandbox's own file systems (no host path or device): (source,
/// mount point, type, options).
const MOUNTS: [(&str, &str, &str, &str); 3] = [
    ("litebox", "/", "litebox", "rw,relatime"),
    ("proc", "/proc", "proc", "rw,nosuid,nodev,noexec,relatime"),
    ("devtmpfs", "/dev", "devtmpfs", "rw,nosuid,relatime"),
];

/// /proc/self/mounts, or with `info` /proc/self/mountinfo: the sandbox's own file systems,
/// then the policy's mounts at their guest paths (source `litebox-mount`, the host file
/// system's type by its magic number, `ro` for a read-only one; no host path). mountinfo's
/// device numbers are what stat reports for their files (`st_dev`), so `df FILE` finds its
/// mount.
fn mounts<P: Platform>(os: &LibOs<P>, info: bool) -> Vec<u8> {
    use core::fmt::Write;
    let mut out = alloc::string::String::new();
    let mut line = |id: usize, dev: u64, src: &str, at: &[u8], ty: &str, opts: &str| {
        let at = alloc::string::String::from_utf8_lossy(at);
        let _ = if info {
            let parent = if id == 1 { 0 } else { 1 };
            // The super block's options: rw or ro, as the mount's first option.
            let sb = opts.split(',').next().unwrap_or("rw");
            writeln!(out, "{id} {parent} {}:{} / {at} {opts} - {ty} {src} {sb}", dev >> 8, dev & 0xff)
        } else {
            writeln!(out, "{src} {at} {ty} {opts} 0 0")
        };
    };
    for (i, (src, at, ty, opts)) in MOUNTS.iter().enumerate() {
        let dev = if i == 0 { os.vfs.stat(&crate::fs::Node::Image(0)).st_dev } else { 0x20 + i as u64 };
        line(i + 1, dev, src, at.as_bytes(), ty, opts);
    }
    if let Some(h) = os.vfs.host.as_ref() {
        for (i, m) in h.mounts.iter().enumerate() {
            let st = os.vfs.lookup(&m.guest).map(|n| (os.vfs.stat(&n).st_dev, os.vfs.host_statfs(&n)));
            let (dev, fs) = st.unwrap_or((0, None));
            let ty = fs_type(fs.map_or(0, |v| v[0]));
            let opts = if m.writable { "rw,relatime" } else { "ro,relatime" };
            line(MOUNTS.len() + 1 + i, dev, "litebox-mount", &m.guest, ty, opts);
        }
    }
    out.into_bytes()
}

/// The content of fallback file `i` of [`crate::fs::synth::ETC_FALLBACKS`]: the loopback names
/// and the sandbox's host name; root, and the app's own user and group when they are not root.
fn etc_fallback<P: Platform>(os: &LibOs<P>, i: u8) -> alloc::string::String {
    let (uid, gid) = os.platform.creds();
    match i {
        0 => alloc::format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{}\n",
            alloc::string::String::from_utf8_lossy(&os.hostname)
        ),
        1 if uid != 0 => alloc::format!("root:x:0:0:root:/root:/bin/sh\nuser:x:{uid}:{gid}:user:/:/bin/sh\n"),
        1 => alloc::string::String::from("root:x:0:0:root:/root:/bin/sh\n"),
        _ if gid != 0 => alloc::format!("root:x:0:\nuser:x:{gid}:\n"),
        _ => alloc::string::String::from("root:x:0:\n"),
    }
}

/// /proc/self/limits: the process's limits (`prlimit64`'s table) in Linux's layout.
fn limits<P: Platform>(os: &LibOs<P>) -> alloc::string::String {
    use core::fmt::Write;
    const ROWS: [(&str, &str); 16] = [
        ("Max cpu time", "seconds"),
        ("Max file size", "bytes"),
        ("Max data size", "bytes"),
        ("Max stack size", "bytes"),
        ("Max core file size", "bytes"),
        ("Max resident set", "bytes"),
        ("Max processes", "processes"),
        ("Max open files", "files"),
        ("Max locked memory", "bytes"),
        ("Max address space", "bytes"),
        ("Max file locks", "locks"),
        ("Max pending signals", "signals"),
        ("Max msgqueue size", "bytes"),
        ("Max nice priority", ""),
        ("Max realtime priority", ""),
        ("Max realtime timeout", "us"),
    ];
    let lim = *os.limits.lock();
    let show = |v: u64| if v == u64::MAX { alloc::string::String::from("unlimited") } else { alloc::format!("{v}") };
    let mut out = alloc::format!("{:<25} {:<20} {:<20} {:<10}\n", "Limit", "Soft Limit", "Hard Limit", "Units");
    for (i, (name, unit)) in ROWS.iter().enumerate() {
        let l = lim.get(i).copied().unwrap_or_default();
        let _ = writeln!(out, "{name:<25} {:<20} {:<20} {unit:<10}", show(l.cur), show(l.max));
    }
    out
}

/// The name of a file system type by its statfs magic number (`hostfs` when not one of the
/// common ones).
fn fs_type(magic: i64) -> &'static str {
    match magic {
        0xEF53 => "ext4",
        0x5846_5342 => "xfs",
        0x9123_683E => "btrfs",
        0x0102_1994 => "tmpfs",
        0x794C_7630 => "overlay",
        0x6969 => "nfs",
        0x6573_5546 => "fuse",
        0x2FC1_2FC1 => "zfs",
        _ => "hostfs",
    }
}

/// The content of /proc/sys value `i` (see `SYS_VALUES` in fs/synth.rs).
fn sys_value<P: Platform>(os: &LibOs<P>, i: u8) -> Vec<u8> {
    let mut v = match i {
        0 => b"4194304".to_vec(),
        1 => b"0".to_vec(),
        2 => b"core".to_vec(),
        3 => os.hostname.clone(),
        _ => alloc::format!("{}", crate::shim::fcntl_more::PIPE_MAX_SIZE).into_bytes(),
    };
    v.push(b'\n');
    v
}

/// (virtual size, resident bytes) as /proc/self/status reports them.
pub fn sizes<P: Platform>(os: &LibOs<P>) -> (u64, u64) {
    let m = os.mem.lock();
    let acc: usize = m.ranges().iter().filter(|(_, v)| v.prot != 0).map(|(s, v)| v.end - s).sum();
    let size = m.total() as u64;
    drop(m);
    (size, os.platform.resident().unwrap_or(acc as u64).min(size))
}

/// What /proc/PID shows of one process of the app.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcRecord {
    pub pid: i32,
    /// 0 for the first process and orphans.
    pub ppid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// `R` (running), `S` (sleeping), `T` (stopped) or `Z` (exited, not yet reaped).
    pub state: u8,
    /// The name, at most 15 bytes.
    pub comm: Vec<u8>,
    /// The arguments, each ended by a NUL.
    pub cmdline: Vec<u8>,
    /// The program's path as the app sees it (/proc/PID/exe; empty where unknown).
    pub exe: Vec<u8>,
    /// Virtual size and resident bytes (0 where unknown).
    pub vsize: u64,
    pub rss: u64,
    pub threads: u32,
}

/// This process as /proc shows it (state `R`: it is the one asking).
/// The process's arguments as /proc/PID/cmdline shows them: each ended by a NUL.
fn cmdline<P: Platform>(os: &LibOs<P>) -> Vec<u8> {
    let mut out = Vec::new();
    for a in os.cmdline.lock().iter() {
        out.extend_from_slice(a);
        out.push(0);
    }
    out
}

pub fn own_record<P: Platform>(os: &LibOs<P>) -> ProcRecord {
    let (pgid, sid) = os.pgid_sid();
    let (vsize, rss) = sizes(os);
    ProcRecord {
        pid: os.platform.pid(),
        ppid: os.ppid(),
        pgid,
        sid,
        state: b'R',
        comm: comm(os),
        cmdline: cmdline(os),
        exe: os.vfs.exe_path.lock().clone(),
        vsize,
        rss,
        threads: os.threads.load(Ordering::Relaxed).max(1) as u32,
    }
}

/// Makes what /proc shows of this process visible to the app's other processes: the core's
/// process table, or the platform's shared table where processes are host processes. Called
/// at each program load and PR_SET_NAME.
///
/// In the core's table a process alone there (a VM's first process before its first fork) is
/// left as it is: the table's records are read only by the app's other processes
/// ([`record`]), and the only way to another one is the VM kernel's fork, which calls
/// [`publish_to_table`] for the parent first. This keeps the gathering below off a VM's boot
/// path, where its first run costs emulation time.
pub fn publish<P: Platform>(os: &LibOs<P>) {
    if os.platform.passthrough().is_some() {
        os.platform.publish_process(&own_record(os));
    } else if !crate::proctab::TABLE.lock().alone(os.platform.pid()) {
        publish_to_table(os);
    }
}

/// Records this process's name, arguments and program path in the core's process table (the
/// rest of /proc/PID is read live), whether or not it is alone there: what [`publish`] does
/// for a process with others, and what the VM kernel does for a parent before it forks.
pub fn publish_to_table<P: Platform>(os: &LibOs<P>) {
    let (pid, comm, cmdline, exe) = (os.platform.pid(), comm(os), cmdline(os), os.vfs.exe_path.lock().clone());
    let mut t = crate::proctab::TABLE.lock();
    t.publish(pid, &comm, &cmdline);
    t.set_exe(pid, &exe);
}

/// The pids of the app's other processes (live and zombies), in increasing order.
pub fn other_pids<P: Platform>(os: &LibOs<P>) -> Vec<i32> {
    let me = os.platform.pid();
    let mut v: Vec<i32> = if os.platform.passthrough().is_some() {
        os.platform.app_processes().iter().map(|r| r.pid).collect()
    } else {
        crate::proctab::TABLE.lock().pids()
    };
    v.retain(|&p| p != me && p > 0);
    v.sort_unstable();
    v.dedup();
    v
}

/// Another process of the app as /proc/PID shows it; None if the app has no such process.
pub fn record<P: Platform>(os: &LibOs<P>, pid: i32) -> Option<ProcRecord> {
    if let Some(h) = os.platform.passthrough() {
        // The host knows every group and session of the app's pid namespace (a parent's
        // setpgid of its child included); one led from outside it reads as 1, as getpgid does.
        let mut r = os.platform.app_processes().into_iter().find(|r| r.pid == pid)?;
        if r.state != b'Z' {
            use crate::shim::nr::{GETPGID, GETSID};
            let ask =
                |n| h.process_call(n, [pid as usize, 0, 0, 0, 0, 0]).ok().map(|v| if v == 0 { 1 } else { v as i32 });
            r.pgid = ask(GETPGID).unwrap_or(r.pgid);
            r.sid = ask(GETSID).unwrap_or(r.sid);
        }
        return Some(r);
    }
    let me = os.platform.pid();
    let (vsize, rss) = os.platform.process_memory(pid).unwrap_or((0, 0));
    let t = crate::proctab::TABLE.lock();
    let p = t.get(pid)?;
    let state = match () {
        _ if p.status.is_some() => b'Z',
        _ if p.stopped => b'T',
        _ if pid == me => b'R',
        _ => b'S',
    };
    Some(ProcRecord {
        pid,
        ppid: p.ppid,
        pgid: p.pgid,
        sid: p.sid,
        state,
        comm: p.comm.clone(),
        cmdline: if p.status.is_some() { Vec::new() } else { p.cmdline.clone() },
        exe: if p.status.is_some() { Vec::new() } else { p.exe.clone() },
        vsize,
        rss,
        threads: 1,
    })
}

/// The 52 fields of proc(5)'s /proc/PID/stat for `r`; `utime` in ticks of 100 Hz.
fn stat_line(r: &ProcRecord, utime: u64, nice: i32) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({}) {} {} {} {} 0 -1 4194304 0 0 0 0 {utime} 0 0 0 {} {nice} {} 0 0 {} {} \
         18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
        r.pid,
        String::from_utf8_lossy(&r.comm),
        r.state as char,
        r.ppid,
        r.pgid,
        r.sid,
        20 + nice,
        r.threads,
        r.vsize,
        r.rss / 4096,
    );
    out
}

/// /proc/self/stat: from the library OS's own state (times in ticks of 100 Hz from the
/// process CPU clock).
fn stat<P: Platform>(os: &LibOs<P>) -> String {
    stat_line(&own_record(os), clock_ticks(os, CLOCK_PROCESS_CPUTIME_ID), os.ident.nice())
}

/// Ticks of 100 Hz (Linux's USER_HZ) of `clock`, 0 when the platform cannot read it.
fn clock_ticks<P: Platform>(os: &LibOs<P>, clock: u32) -> u64 {
    os.platform.clock_gettime(clock).map_or(0, |t| t.tv_sec as u64 * 100 + t.tv_nsec as u64 / 10_000_000)
}

const CLOCK_REALTIME: u32 = 0;
const CLOCK_PROCESS_CPUTIME_ID: u32 = 2;
const CLOCK_BOOTTIME: u32 = 7;

/// What /proc/stat and /proc/uptime report of the machine, in ticks: (CPUs the app may run
/// on, time since boot, this process's CPU time, idle time of all those CPUs but for it).
fn machine_times<P: Platform>(os: &LibOs<P>) -> (u64, u64, u64, u64) {
    let n = os.platform.cpu_count().max(1) as u64;
    let up = clock_ticks(os, CLOCK_BOOTTIME);
    let user = clock_ticks(os, CLOCK_PROCESS_CPUTIME_ID);
    (n, up, user, (up * n).saturating_sub(user))
}

/// /proc/stat: one `cpu` line and one `cpuN` line per CPU the app may run on (what Boehm GC
/// and glibc's `get_nprocs` count), the boot time and process counts. Nothing is the host's
/// beyond what the clocks already tell the app: the time since boot counts as idle, but for
/// this process's own CPU time (as user time); interrupts, switches and the other times read 0.
fn sys_stat<P: Platform>(os: &LibOs<P>) -> String {
    let (n, up, user, idle) = machine_times(os);
    let mut out = alloc::format!("cpu  {user} 0 0 {idle} 0 0 0 0 0 0\n");
    for i in 0..n {
        let _ = writeln!(out, "cpu{i} {} 0 0 {} 0 0 0 0 0 0", user / n, idle / n);
    }
    let boot = (clock_ticks(os, CLOCK_REALTIME) / 100).saturating_sub(up / 100);
    let processes = crate::proctab::TABLE.lock().pids().len().max(1);
    let _ = write!(
        out,
        "intr 0\nctxt 0\nbtime {boot}\nprocesses {processes}\nprocs_running 1\nprocs_blocked 0\n\
         softirq 0 0 0 0 0 0 0 0 0 0 0\n"
    );
    out
}

/// /proc/uptime: the time since boot (as CLOCK_BOOTTIME tells the app) and the idle time of
/// [`sys_stat`], in seconds with two decimals.
fn uptime<P: Platform>(os: &LibOs<P>) -> String {
    let (_, up, _, idle) = machine_times(os);
    alloc::format!("{}.{:02} {}.{:02}\n", up / 100, up % 100, idle / 100, idle % 100)
}

/// /proc/loadavg: no load, as sysinfo(2) reports it (procps's `uptime` and `top` read this
/// file; glibc's `getloadavg` asks sysinfo); one running of one, the last pid 1.
fn loadavg() -> Vec<u8> {
    b"0.00 0.00 0.00 1/1 1\n".to_vec()
}

/// /proc/PID/statm of `r`: size, resident, shared, text, lib, data, dt in pages.
fn statm_line(r: &ProcRecord) -> String {
    alloc::format!("{} {} 0 0 0 {} 0\n", r.vsize / 4096, r.rss / 4096, r.vsize / 4096)
}

/// /proc/self/statm.
fn statm<P: Platform>(os: &LibOs<P>) -> String {
    statm_line(&own_record(os))
}

/// /proc/PID/status of another process `r` (the ids are the app's one user view).
fn status_of<P: Platform>(os: &LibOs<P>, r: &ProcRecord) -> String {
    let (u, g) = (os.ident.uids(), os.ident.gids());
    let state = match r.state {
        b'Z' => "Z (zombie)",
        b'T' => "T (stopped)",
        b'R' => "R (running)",
        _ => "S (sleeping)",
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "Name:\t{}\nState:\t{state}\nTgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t0\n\
         Uid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\nGroups:\t\n",
        String::from_utf8_lossy(&r.comm),
        r.pid,
        r.pid,
        r.ppid,
        u.real,
        u.effective,
        u.saved,
        u.fs,
        g.real,
        g.effective,
        g.saved,
        g.fs,
    );
    if r.state != b'Z' {
        let _ = write!(
            out,
            "VmPeak:\t{:8} kB\nVmSize:\t{:8} kB\nVmLck:\t{:8} kB\nVmRSS:\t{:8} kB\n",
            r.vsize / 1024,
            r.vsize / 1024,
            0,
            r.rss / 1024
        );
    }
    let _ = writeln!(out, "Threads:\t{}", r.threads);
    out
}

/// The content of /proc/PID/<file> of another process of the app (`file` indexes
/// [`crate::fs::synth::PID_FILES`]): ENOENT once the process is gone.
fn other<P: Platform>(os: &LibOs<P>, pid: i32, file: u8) -> Result<Vec<u8>, Errno> {
    let r = record(os, pid).ok_or(crate::errno::ENOENT)?;
    Ok(match file {
        0 => stat_line(&r, 0, 0).into_bytes(),
        1 => statm_line(&r).into_bytes(),
        2 => status_of(os, &r).into_bytes(),
        3 => r.cmdline,
        _ => {
            let mut v = r.comm;
            v.push(b'\n');
            v
        }
    })
}

/// (total, free) bytes of memory as the app sees them: the policy's memory limit when set,
/// else the machine's memory; free is what the app has not mapped yet. /proc/meminfo and
/// sysinfo(2) both report these.
pub fn memory<P: Platform>(os: &LibOs<P>) -> (u64, u64) {
    let limit = os.mem_limit.load(Ordering::Relaxed);
    let total = if limit != u64::MAX { limit } else { os.platform.mem_total() };
    let used = (os.mem.lock().total() as u64).min(total);
    (total, total - used)
}

fn meminfo<P: Platform>(os: &LibOs<P>) -> String {
    let (total, free) = memory(os);
    let used = total - free;
    let mut out = String::new();
    let kb = |v: u64| v / 1024;
    let _ = write!(
        out,
        "MemTotal:       {:8} kB\nMemFree:        {:8} kB\nMemAvailable:   {:8} kB\nBuffers:        {:8} kB\n\
         Cached:         {:8} kB\nSwapCached:     {:8} kB\nSwapTotal:      {:8} kB\nSwapFree:       {:8} kB\n\
         Shmem:          {:8} kB\nCommitLimit:    {:8} kB\nCommitted_AS:   {:8} kB\nHugePages_Total:   0\n\
         HugePages_Free:    0\nHugepagesize:       2048 kB\n",
        kb(total),
        kb(free),
        kb(free),
        0,
        0,
        0,
        0,
        0,
        0,
        kb(total),
        kb(used),
    );
    out
}

/// CPUID leaf/subleaf.
#[cfg(target_arch = "x86_64")]
fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    let r = core::arch::x86_64::__cpuid_count(leaf, sub);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// A CPUID feature flag: register index in [eax, ebx, ecx, edx], bit and name. The name is
/// held inline, not as a `&str`: a pointer per flag would be one the linux-userland runtime (a
/// static PIE) relocates at every start, 3.5 KiB of its `.data.rel.ro` written and copied
/// into every process for a table read only by /proc/cpuinfo.
struct Flag {
    reg: u8,
    bit: u8,
    len: u8,
    name: [u8; FLAG_NAME_MAX],
}

const FLAG_NAME_MAX: usize = 19;

/// A [`Flag`] (a name longer than `FLAG_NAME_MAX` fails the build).
const fn f(reg: usize, bit: u32, name: &str) -> Flag {
    let b = name.as_bytes();
    let mut out = [0u8; FLAG_NAME_MAX];
    let mut i = 0;
    while i < b.len() {
        out[i] = b[i];
        i += 1;
    }
    Flag { reg: reg as u8, bit: bit as u8, len: b.len() as u8, name: out }
}

impl Flag {
    fn name(&'static self) -> &'static str {
        core::str::from_utf8(&self.name[..usize::from(self.len)]).unwrap_or("?")
    }
}

/// The flags per CPUID leaf, in /proc/cpuinfo order.
const LEAF1: &[Flag] = &[
    f(3, 0, "fpu"),
    f(3, 1, "vme"),
    f(3, 2, "de"),
    f(3, 3, "pse"),
    f(3, 4, "tsc"),
    f(3, 5, "msr"),
    f(3, 6, "pae"),
    f(3, 7, "mce"),
    f(3, 8, "cx8"),
    f(3, 9, "apic"),
    f(3, 11, "sep"),
    f(3, 12, "mtrr"),
    f(3, 13, "pge"),
    f(3, 14, "mca"),
    f(3, 15, "cmov"),
    f(3, 16, "pat"),
    f(3, 17, "pse36"),
    f(3, 19, "clflush"),
    f(3, 21, "dts"),
    f(3, 22, "acpi"),
    f(3, 23, "mmx"),
    f(3, 24, "fxsr"),
    f(3, 25, "sse"),
    f(3, 26, "sse2"),
    f(3, 27, "ss"),
    f(3, 28, "ht"),
    f(3, 29, "tm"),
    f(3, 31, "pbe"),
];
const EXT1_EDX: &[Flag] = &[
    f(3, 11, "syscall"),
    f(3, 20, "nx"),
    f(3, 22, "mmxext"),
    f(3, 25, "fxsr_opt"),
    f(3, 26, "pdpe1gb"),
    f(3, 27, "rdtscp"),
    f(3, 29, "lm"),
];
const LEAF1_ECX: &[Flag] = &[
    f(2, 0, "pni"),
    f(2, 1, "pclmulqdq"),
    f(2, 2, "dtes64"),
    f(2, 3, "monitor"),
    f(2, 4, "ds_cpl"),
    f(2, 5, "vmx"),
    f(2, 6, "smx"),
    f(2, 7, "est"),
    f(2, 8, "tm2"),
    f(2, 9, "ssse3"),
    f(2, 11, "sdbg"),
    f(2, 12, "fma"),
    f(2, 13, "cx16"),
    f(2, 14, "xtpr"),
    f(2, 15, "pdcm"),
    f(2, 17, "pcid"),
    f(2, 18, "dca"),
    f(2, 19, "sse4_1"),
    f(2, 20, "sse4_2"),
    f(2, 21, "x2apic"),
    f(2, 22, "movbe"),
    f(2, 23, "popcnt"),
    f(2, 24, "tsc_deadline_timer"),
    f(2, 25, "aes"),
    f(2, 26, "xsave"),
    f(2, 28, "avx"),
    f(2, 29, "f16c"),
    f(2, 30, "rdrand"),
    f(2, 31, "hypervisor"),
];
const EXT1_ECX: &[Flag] = &[
    f(2, 0, "lahf_lm"),
    f(2, 1, "cmp_legacy"),
    f(2, 2, "svm"),
    f(2, 3, "extapic"),
    f(2, 4, "cr8_legacy"),
    f(2, 5, "abm"),
    f(2, 6, "sse4a"),
    f(2, 7, "misalignsse"),
    f(2, 8, "3dnowprefetch"),
    f(2, 9, "osvw"),
    f(2, 10, "ibs"),
    f(2, 11, "xop"),
    f(2, 16, "fma4"),
    f(2, 21, "tbm"),
    f(2, 22, "topoext"),
    f(2, 29, "mwaitx"),
];
const LEAF7: &[Flag] = &[
    f(1, 0, "fsgsbase"),
    f(1, 1, "tsc_adjust"),
    f(1, 3, "bmi1"),
    f(1, 4, "hle"),
    f(1, 5, "avx2"),
    f(1, 7, "smep"),
    f(1, 8, "bmi2"),
    f(1, 9, "erms"),
    f(1, 10, "invpcid"),
    f(1, 11, "rtm"),
    f(1, 16, "avx512f"),
    f(1, 17, "avx512dq"),
    f(1, 18, "rdseed"),
    f(1, 19, "adx"),
    f(1, 20, "smap"),
    f(1, 21, "avx512ifma"),
    f(1, 23, "clflushopt"),
    f(1, 24, "clwb"),
    f(1, 28, "avx512cd"),
    f(1, 29, "sha_ni"),
    f(1, 30, "avx512bw"),
    f(1, 31, "avx512vl"),
    f(2, 1, "avx512vbmi"),
    f(2, 2, "umip"),
    f(2, 3, "pku"),
    f(2, 4, "ospke"),
    f(2, 5, "waitpkg"),
    f(2, 6, "avx512_vbmi2"),
    f(2, 8, "gfni"),
    f(2, 9, "vaes"),
    f(2, 10, "vpclmulqdq"),
    f(2, 11, "avx512_vnni"),
    f(2, 12, "avx512_bitalg"),
    f(2, 14, "avx512_vpopcntdq"),
    f(2, 22, "rdpid"),
    f(2, 27, "movdiri"),
    f(2, 28, "movdir64b"),
    f(3, 4, "fsrm"),
    f(3, 8, "avx512_vp2intersect"),
    f(3, 10, "md_clear"),
    f(3, 14, "serialize"),
    f(3, 23, "avx512_fp16"),
    f(3, 24, "amx_tile"),
    f(3, 22, "amx_bf16"),
    f(3, 25, "amx_int8"),
];
const LEAF_D1: &[Flag] = &[f(0, 0, "xsaveopt"), f(0, 1, "xsavec"), f(0, 2, "xgetbv1"), f(0, 3, "xsaves")];

#[cfg(target_arch = "x86_64")]
fn cpu_facts() -> (String, u32, String, u32) {
    let v = cpuid(0, 0);
    let max = v[0];
    let mut vendor = Vec::new();
    for r in [v[1], v[3], v[2]] {
        vendor.extend_from_slice(&r.to_le_bytes());
    }
    let l1 = cpuid(1, 0);
    let fam = (l1[0] >> 8) & 0xf;
    let family = if fam == 0xf { fam + ((l1[0] >> 20) & 0xff) } else { fam };
    let mut flags: Vec<&str> = Vec::new();
    let add = |regs: [u32; 4], table: &'static [Flag], flags: &mut Vec<&'static str>| {
        for flag in table {
            if regs[usize::from(flag.reg)] & (1 << flag.bit) != 0 {
                flags.push(flag.name());
            }
        }
    };
    add(l1, LEAF1, &mut flags);
    let maxext = cpuid(0x8000_0000, 0)[0];
    let e1 = if maxext >= 0x8000_0001 { cpuid(0x8000_0001, 0) } else { [0; 4] };
    add(e1, EXT1_EDX, &mut flags);
    add(l1, LEAF1_ECX, &mut flags);
    add(e1, EXT1_ECX, &mut flags);
    if max >= 7 {
        add(cpuid(7, 0), LEAF7, &mut flags);
    }
    if max >= 0xd {
        add(cpuid(0xd, 1), LEAF_D1, &mut flags);
    }
    let bits = if maxext >= 0x8000_0008 { cpuid(0x8000_0008, 0)[0] } else { 0x3028 };
    let sizes = alloc::format!("{} bits physical, {} bits virtual", bits & 0xff, (bits >> 8) & 0xff);
    let mut f = String::new();
    for (i, n) in flags.iter().enumerate() {
        if i > 0 {
            f.push(' ');
        }
        f.push_str(n);
    }
    (String::from_utf8_lossy(&vendor).into_owned(), family, f + "\n" + &sizes, max)
}

#[cfg(not(target_arch = "x86_64"))]
fn cpu_facts() -> (String, u32, String, u32) {
    (String::from("unknown"), 0, String::from("\n0 bits physical, 0 bits virtual"), 0)
}

/// /proc/cpuinfo for `n` CPUs: the vendor, family and feature flags are the real CPU's (so
/// programs choose their code paths as natively); the model, stepping, name, frequency,
/// microcode and serial are not reported.
pub fn cpuinfo(n: usize) -> String {
    let (vendor, family, flags_sizes, level) = cpu_facts();
    let (flags, sizes) = flags_sizes.split_once('\n').unwrap_or((&flags_sizes, ""));
    let mut out = String::new();
    for i in 0..n.max(1) {
        let _ = write!(
            out,
            "processor\t: {i}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: 0\n\
             model name\t: LiteBox virtual CPU\nstepping\t: 0\nphysical id\t: 0\nsiblings\t: {n}\n\
             core id\t\t: {i}\ncpu cores\t: {n}\napicid\t\t: {i}\ninitial apicid\t: {i}\nfpu\t\t: yes\n\
             fpu_exception\t: yes\ncpuid level\t: {level}\nwp\t\t: yes\nflags\t\t: {flags}\n\
             clflush size\t: 64\ncache_alignment\t: 64\naddress sizes\t: {sizes}\npower management:\n\n"
        );
    }
    out
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_names_the_flags_of_this_cpu() {
        let info = cpuinfo(2);
        let line = info.lines().find_map(|l| l.strip_prefix("flags\t\t: ")).expect("a flags line");
        let flags: Vec<&str> = line.split(' ').collect();
        // Every x86-64 CPU has these (CPUID 1 EDX bits 0 and 26, 0x8000_0001 EDX bit 29).
        assert_eq!(flags[0], "fpu");
        assert!(flags.contains(&"sse2") && flags.contains(&"lm"), "{flags:?}");
        for table in [LEAF1, EXT1_EDX, LEAF1_ECX, EXT1_ECX, LEAF7, LEAF_D1] {
            for flag in table {
                let name = flag.name();
                assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "{name:?}");
                assert!(flag.reg < 4 && flag.bit < 32, "{name}");
            }
        }
    }
}
