//! The sandbox's processes. The process the user starts (the *supervisor*) never runs app
//! code: it starts the sandbox, answers the broker (broker.rs), forwards the signals people
//! send it, and ends the way the app ended (same exit code, or killed by the same signal).
//!
//! With user namespaces (any root launch, and a user launch where the host allows them):
//!
//! ```text
//! supervisor (host namespaces)
//!   └─ init: pid 1 of new user, pid, UTS and cgroup namespaces; forks the app's first
//!      process, then makes the mount and IPC namespaces (which that process joins before it
//!      builds or enters the root) and the sandbox's network namespace (Landlock ABI < 6),
//!      enters the private root, drops every capability
//!      (caps.rs), then reaps (and checks image chunks alongside the app's first process
//!      while it loads: parcheck.rs)
//!        └─ the app's first process (pid 2), and everything it starts; it loads the app
//!           while init makes the network namespace, and joins that namespace before the
//!           app runs. Whichever of the two is free first builds the private root (nsroot.rs)
//! ```
//!
//! When the app's first process ends, init ends, and the kernel kills whatever else is left
//! in the pid namespace: nothing the app started outlives it. Init tells the supervisor how the
//! app ended. If the supervisor is killed, init gets SIGKILL (parent-death signal) and the
//! same follows. The private root is a tmpfs,
//! so the writable layer disappears with the last process.
//!
//! Without user namespaces (refused by the host, e.g. inside a container whose profile forbids
//! them): supervisor └─ app. The writable layer is a directory under /dev/shm (or /tmp) that
//! the supervisor removes when the app ends (and that the next start collects if the
//! supervisor itself was killed); host paths stay visible to `stat` through the gate, and the
//! app's background processes can outlive it. `LITEBOX_LOG=debug` and `litebox targets` say
//! which case applies.
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, Ordering};

use litebox_libos::net::NetPolicy;

use crate::broker::{self, Dir, Server};
use crate::sys::{self, check};
use crate::{caps, hostfs, nsroot};

const CLONE: usize = 56;
const WAIT4: usize = 61;
const KILL: usize = 62;
const PIDFD_OPEN: usize = 434;
const PRLIMIT64: usize = 302;
const PR_SET_PDEATHSIG: usize = 1;
const SIGCHLD: usize = 17;
const SIGKILL: usize = 9;
const SIGPIPE: usize = 13;
const CLONE_NEWNS: usize = 0x0002_0000;
const CLONE_NEWCGROUP: usize = 0x0200_0000;
const CLONE_NEWUTS: usize = 0x0400_0000;
const CLONE_NEWIPC: usize = 0x0800_0000;
const CLONE_NEWUSER: usize = 0x1000_0000;
const CLONE_NEWPID: usize = 0x2000_0000;
const CLONE_NEWNET: usize = 0x4000_0000;
const UNSHARE: usize = 272;
/// The namespaces init is cloned into. The network namespace is not among them: init makes
/// it after forking the app's first process ([`init`]), which joins it before any app code
/// runs ([`Started::await_root`]), so its cost (the loopback device, the per-namespace sysctl
/// tables: about half of the clone's) overlaps the app's loading instead of coming before it.
/// Nor are the mount and IPC namespaces ([`LATER`]).
const NAMESPACES: usize = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWCGROUP;
/// The namespaces init makes right after forking the app's first process (`unshare`), which
/// joins them (`setns`) in [`Started::await_root`] before it builds or enters the private root,
/// long before any app code runs: the copy of the host's mounts and the IPC namespace (with
/// its mqueue mount) are ~70 µs of the clone that then overlap the app's loading instead of
/// coming before the fork (issue 17, start6).
const LATER: usize = CLONE_NEWNS | CLONE_NEWIPC;
const SETNS: usize = 308;
const GETCWD: usize = 79;
const CHDIR: usize = 80;

/// Signals the supervisor and init pass on to the app when a process sent them (a kill, not
/// the terminal: the terminal signals the whole process group, the app included, itself).
const FORWARDED: [usize; 6] = [1, 2, 3, 10, 12, 15]; // HUP INT QUIT USR1 USR2 TERM

/// Where the app's first process stands.
pub struct Started {
    /// Ok: inside the namespaces and the private root. Err(errno): none could be made.
    pub ns: Result<(), i32>,
    /// With `ns` Ok: whether the app's first process is in the sandbox's network namespace
    /// (made by init, joined in `await_root`), or the errno of init's `unshare` or of the
    /// `setns`. With `ns` Err: the same errno (layers.rs tries layer 8).
    pub net: Result<(), i32>,
    /// The writable layer: its directory descriptor and path (None: no host layer, or not
    /// yet: see `root_ready`).
    pub upper: Option<(i32, Vec<u8>)>,
    /// The policy mounts' directory descriptors, in policy order (empty until the root is
    /// ready).
    pub mounts: Vec<i32>,
    /// Inside the namespaces: the socket (a socket pair with init, one message at a time) on
    /// which init first says it has made the mount and IPC namespaces ("N", see `join`), then
    /// that the root is ready and the sandbox's network namespace made ("R", see
    /// [`Started::await_root`]); -1 when there is nothing to wait for.
    root_ready: i32,
    /// Inside the namespaces, until [`Started::await_root`]: what this process needs to build
    /// the private root itself.
    build: Option<Build>,
    /// Inside the namespaces, until [`Started::await_root`]: whether init's "N" on `root_ready`
    /// (the sandbox's mount and IPC namespaces, [`LATER`], are made; with the mqueue mount's
    /// descriptor when there is one) is still to be read, and the namespaces joined.
    join: bool,
}

/// What the app's first process needs to build the private root ([`Started::await_root`]):
/// the policy's host directories (paths, writable), the memory limit (the tmpfs's size), the
/// pipe on which the supervisor says the id maps are written ("G"), and the one on which this
/// process tells init where the root is ("B" and its place) or why it could not build it
/// ("F" and an errno).
struct Build {
    mounts: Vec<(Vec<u8>, bool)>,
    memory: Option<u64>,
    go: i32,
    built: i32,
}

impl Started {
    /// Makes the private root this process's root and working directory (`chroot`), with the
    /// writable layer and the policy mounts (`/upper`, `/m/N`) opened in it (`upper` and
    /// `mounts`), and joins the sandbox's network namespace. The root is built by whichever of
    /// this process and init is free first (`parcheck::claim_root`): this process once it has
    /// loaded the app (then it also hands the supervisor its view of the directories and
    /// tells init where the root is), or init once it has made the network namespace (then
    /// init's "R" says where it is). Until this returns the process may still reach host paths
    /// or the host's network, so the app's code must not run before it. Init forks the app's
    /// first process first thing so that the runtime's own start-up (loading the app) overlaps
    /// init's network namespace, the longest step of a start. If the root cannot be built,
    /// this process ends quietly (the supervisor starts the app again without namespaces).
    /// Idempotent.
    pub fn await_root(&mut self, mount_count: usize) {
        if self.root_ready < 0 {
            return;
        }
        let mut here = false;
        if let Some(b) = self.build.take() {
            if crate::parcheck::claim_root(1) {
                self.join_namespaces(true);
                self.build_root(b, mount_count);
                here = true;
            } else {
                self.join_namespaces(false);
                // Init builds it (its "R" says where) and tells the supervisor.
                close(b.go);
                close(b.built);
            }
        }
        // "R", where the root's tmpfs is mounted, and 0 or the errno of init's network
        // namespace (one write: it arrives whole).
        let mut b = [0u8; 3];
        let got = loop {
            match check(sys::syscall3(sys::READ, self.root_ready as usize, b.as_mut_ptr() as usize, 3)) {
                Err(4) => continue,
                r => break r,
            }
        };
        if got != Ok(3) || b[0] != b'R' {
            sys::exit(0);
        }
        close(self.root_ready);
        self.root_ready = -1;
        // Into init's network namespace (init is pid 1 here). Nothing of this process has
        // made a socket since the fork but the runtime's own before it (the broker's, in the
        // host's namespace on purpose); every socket of the app is made after this.
        // Lazy: this process and the app's stay in the host's namespace, where the gate's Unix
        // sockets can have no name the app could use (Landlock's scope, the broker), and the
        // app's Unix sockets come from the supervisor's net helper (host.rs `net_call`).
        self.net = match b[2] {
            0 => join_net_of_init(),
            NET_LAZY => {
                crate::unixns::LAZY.store(true, Ordering::Relaxed);
                Ok(())
            }
            e => Err(e as i32),
        };
        if here {
            return;
        }
        // Built by init: until here this process's root and working directory were the host's
        // (the ones the artifact was started in): both move into the private root now.
        nsroot::enter(b[1]).unwrap_or_else(|e| {
            crate::fatal(124, alloc::format!("cannot enter the private root (errno {e})").as_bytes())
        });
        let root = nsroot::opened(mount_count).unwrap_or_else(|e| {
            crate::fatal(124, alloc::format!("cannot open the private root (errno {e})").as_bytes())
        });
        if root.mounts.len() != mount_count {
            crate::fatal(124, b"the private root does not hold every policy mount");
        }
        self.upper = Some((root.upper, b"/upper".to_vec()));
        self.mounts = root.mounts;
    }

    /// Into init's mount and IPC namespaces ([`LATER`]) once init says it has made them (it
    /// does so right after the fork, so the word is there long before this process asks). Until
    /// here this process was in the host's mount and IPC namespaces, where it holds no
    /// capability (they are owned by the host's user namespace) and runs only the runtime's
    /// own start-up. `keep_cwd`: this process builds the root, whose policy mounts may be
    /// relative to the directory the artifact was started in (a `setns` into a mount namespace
    /// moves the working directory to its root): the same path is entered again in the new
    /// namespace, a copy of the host's mounts. No word from init (it failed and tells the
    /// supervisor, or it was killed): this process ends quietly, as when the root cannot be
    /// built. A failed `setns` stops the start: no app code runs outside the namespaces.
    fn join_namespaces(&mut self, keep_cwd: bool) {
        if !self.join {
            return;
        }
        self.join = false;
        let mut w = [0u8; 1];
        let got = broker::recv(self.root_ready, &mut w, 0);
        let fds = match got {
            Ok((1, fds)) if w[0] == b'N' => fds,
            _ => sys::exit(0),
        };
        if let Some(&fd) = fds.first() {
            nsroot::MQUEUE_DIR.store(fd, Ordering::Relaxed);
        }
        fds.iter().skip(1).for_each(|&fd| close(fd));
        let mut cwd = [0u8; 4096];
        let cwd_ok = keep_cwd && check(sys::syscall3(GETCWD, cwd.as_mut_ptr() as usize, cwd.len(), 0)).is_ok();
        let joined = check(sys::syscall3(PIDFD_OPEN, 1, 0, 0)).and_then(|pidfd| {
            let r = check(sys::syscall3(SETNS, pidfd, LATER, 0));
            close(pidfd as i32);
            r
        });
        if let Err(e) = joined {
            crate::fatal(
                crate::EXIT_SANDBOX,
                alloc::format!("cannot join the sandbox's mount and IPC namespaces (errno {e})").as_bytes(),
            );
        }
        if cwd_ok {
            // Best effort: a working directory that is gone leaves the namespace's root, and a
            // relative policy mount then fails to open (the start goes on without namespaces).
            sys::syscall3(CHDIR, cwd.as_ptr() as usize, 0, 0);
        }
    }

    /// The private root, built by this process (see [`Started::await_root`]).
    fn build_root(&mut self, b: Build, mount_count: usize) {
        let failed = |e: i32| -> ! {
            let msg = [b'F', e.clamp(1, 255) as u8];
            sys::syscall3(sys::WRITE, b.built as usize, msg.as_ptr() as usize, 2);
            sys::exit(0)
        };
        let mounts: Vec<(&[u8], bool)> = b.mounts.iter().map(|(p, w)| (p.as_slice(), *w)).collect();
        // Until here this process's root and working directory were the host's (the ones the
        // artifact was started in): both move into the private root now.
        let (root, at) = build_root_when_mapped(&mounts, b.memory, b.go).unwrap_or_else(|e| failed(e));
        if root.mounts.len() != mount_count {
            failed(5);
        }
        sys::syscall3(sys::WRITE, b.built as usize, [b'B', at].as_ptr() as usize, 2);
        close(b.built);
        self.upper = Some((root.upper, b"/upper".to_vec()));
        self.mounts = root.mounts;
    }
}

/// The private root, built by init or the app's first process (whichever claimed it,
/// `parcheck::claim_root`): waits for the supervisor's "G" on `go` (the id maps are written;
/// the root's files need them) and closes `go`, builds the root (nsroot.rs), which becomes the
/// caller's root and working directory, and hands the supervisor its view of the writable
/// layer and the mounts (`broker::set_dirs`, taken once). Returns the root's descriptors and
/// where its tmpfs is; Err(errno) of the build or the hand-over. Ends the caller quietly when
/// the supervisor is gone or could not map the ids (it kills init then; the app's first
/// process ends with the pid namespace).
fn build_root_when_mapped(mounts: &[(&[u8], bool)], memory: Option<u64>, go: i32) -> Result<(nsroot::Root, u8), i32> {
    let mut g = [0u8; 1];
    let got = loop {
        match check(sys::syscall3(sys::READ, go as usize, g.as_mut_ptr() as usize, 1)) {
            Err(4) => continue,
            r => break r,
        }
    };
    if got != Ok(1) {
        sys::exit(0);
    }
    close(go);
    let (root, at) = nsroot::build(mounts, memory)?;
    let mut dirs = alloc::vec![root.upper];
    dirs.extend_from_slice(&root.mounts);
    let mask = mounts.iter().enumerate().fold(1u64, |m, (i, &(_, w))| if w && i < 63 { m | 1 << (i + 1) } else { m });
    broker::set_dirs(&dirs, mask)?;
    Ok((root, at))
}

/// Starts the sandbox. Returns only in the app's first process; the supervisor and init never
/// return. `mounts` are the policy's host directories (O_PATH descriptors) and whether each is
/// writable; `memory` is the policy's memory limit (it bounds the writable layer too).
pub fn start(mounts: &[(i32, bool)], paths: &[(&[u8], bool)], memory: Option<u64>, policy: NetPolicy) -> Started {
    let (server_end, client_end) = broker::seqpacket_pair().unwrap_or_else(|e| {
        crate::fatal(124, alloc::format!("cannot create the broker socket (errno {e})").as_bytes())
    });
    broker::set_client(sys::dup_high(client_end));
    let mut server = Server {
        sock: sys::dup_high(server_end),
        policy,
        dirs: None,
        relays: Default::default(),
        net: Default::default(),
    };
    // Where the supervisor's Landlock domain scopes abstract Unix sockets (ABI >= 6), the
    // sandbox's network namespace is made on the app's first abstract Unix name, by the supervisor's
    // net helper (broker.rs `NetHelper`), not by init at every start.
    LAZY_NET.store(crate::landlock::scope_outer(), Ordering::Relaxed);
    let ns_err = match spawn_init(paths, mounts, memory, server.sock) {
        Spawn::App(started) => return started,
        Spawn::Init { pid, status } => {
            close(broker::client());
            // The supervisor no longer uses the regions the sandbox's processes share (the
            // process table and count, the chunk table): it drops its mapping of them now, while
            // it waits, so that its exit (which the artifact's caller waits for) has less to
            // tear down; the sandbox's processes keep theirs.
            crate::ptable::detach();
            crate::procs::detach();
            crate::parcheck::detach();
            sys::unmap_shared_arena();
            if LAZY_NET.load(Ordering::Relaxed) {
                server.net = broker::NetHelper::Lazy(pid);
            }
            supervise(pid, Some(status), server, None)
        }
        Spawn::Failed(e) => e,
        Spawn::Gone(st) => finish(st, None, None),
    };
    crate::parcheck::no_helper();
    // No namespaces: the layer lives on the host, the supervisor holds its own descriptors.
    hostfs::collect_garbage();
    let upper = hostfs::create_upper().ok();
    const O_PATH_DIR: usize = 0o10000000 | 0o200000 | 0o2000000;
    let mut dirs = alloc::vec![Dir {
        fd: upper.as_ref().and_then(|(_, p)| sys::open_path(p, O_PATH_DIR, 0).ok()).unwrap_or(-1),
        writable: true,
    }];
    dirs.extend(mounts.iter().map(|&(fd, writable)| Dir { fd, writable }));
    server.dirs = Some(dirs);
    match check(sys::syscall6(CLONE, SIGCHLD, 0, 0, 0, 0, 0)) {
        Ok(0) => {
            sys::syscall6(sys::PRCTL, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0, 0);
            close(server.sock);
            Started {
                ns: Err(ns_err),
                net: Err(ns_err),
                upper,
                mounts: mounts.iter().map(|m| m.0).collect(),
                root_ready: -1,
                build: None,
                join: false,
            }
        }
        Ok(pid) => {
            // The layer's lock belongs to the app's processes: while any holds it, it stays.
            let path = upper.map(|(fd, path)| {
                close(fd);
                path
            });
            close(broker::client());
            supervise(pid as i32, None, server, path)
        }
        Err(e) => crate::fatal(124, alloc::format!("cannot start the app's process (errno {e})").as_bytes()),
    }
}

/// Whether the sandbox's network namespace is lazy (set by the supervisor before it starts
/// init, inherited by init and the app's processes): made on the app's first abstract Unix name by
/// the supervisor's net helper, not by init.
static LAZY_NET: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Init's word for "no network namespace made: it is lazy" (where an errno would be).
const NET_LAZY: u8 = 255;

/// Moves this process into the network namespace of the sandbox's init (pid 1 of its pid
/// namespace), through a pidfd (`setns` with a pidfd: Linux 5.8).
fn join_net_of_init() -> Result<(), i32> {
    const SETNS: usize = 308;
    let pidfd = check(sys::syscall3(PIDFD_OPEN, 1, 0, 0))?;
    let r = check(sys::syscall3(SETNS, pidfd, CLONE_NEWNET, 0)).map(|_| ());
    close(pidfd as i32);
    r
}

fn close(fd: i32) {
    if fd >= 0 {
        sys::syscall3(sys::CLOSE, fd as usize, 0, 0);
    }
}

enum Spawn {
    /// This is the app's first process.
    App(Started),
    /// This is the supervisor; init runs as `pid` and reports on `status`.
    Init { pid: i32, status: i32 },
    /// No namespaces (errno).
    Failed(i32),
    /// Init ended before its "R" without saying "F" (killed, or the runtime failed in it): its
    /// wait status. The app is not started again without namespaces then: init writes its
    /// "R" to the app's first process before the supervisor's, so the app may have run.
    Gone(i32),
}

fn pipe() -> Result<(i32, i32), i32> {
    let mut fds = [0i32; 2];
    check(sys::syscall3(sys::PIPE2, fds.as_mut_ptr() as usize, 0o2000000, 0))?;
    Ok((fds[0], fds[1]))
}

/// Writes `data` to the host file `path` (uid_map and friends).
fn write_file(path: &[u8], data: &[u8]) -> Result<(), i32> {
    const O_WRONLY_CLOEXEC: usize = 0o1 | 0o2000000;
    let fd = sys::open_path(path, O_WRONLY_CLOEXEC, 0)?;
    let r = check(sys::syscall3(sys::WRITE, fd as usize, data.as_ptr() as usize, data.len()));
    close(fd);
    r.map(|_| ())
}

fn decimal(n: u64) -> Vec<u8> {
    let mut d = [0u8; 20];
    litebox_libos::shim::fmt_usize(n as usize, &mut d).to_vec()
}

/// Maps ids in init's new user namespace: root keeps every id (and loses every capability in
/// init before the app starts); another user maps only itself, as the kernel allows.
fn map_ids(pid: i32) -> Result<(), i32> {
    let uid = sys::syscall3(sys::GETUID, 0, 0, 0) as u64;
    let gid = sys::syscall3(sys::GETGID, 0, 0, 0) as u64;
    let base = {
        let mut p = b"/proc/".to_vec();
        p.extend_from_slice(&decimal(pid as u64));
        p
    };
    let file = |name: &[u8]| {
        let mut p = base.clone();
        p.extend_from_slice(name);
        p
    };
    let line = |id: u64| {
        let mut l = decimal(id);
        l.push(b' ');
        l.extend_from_slice(&decimal(id));
        l.extend_from_slice(if uid == 0 { b" 4294967295\n" } else { b" 1\n" });
        l
    };
    if uid == 0 {
        write_file(&file(b"/uid_map"), b"0 0 4294967295\n")?;
        write_file(&file(b"/gid_map"), b"0 0 4294967295\n")
    } else {
        write_file(&file(b"/uid_map"), &line(uid))?;
        write_file(&file(b"/setgroups"), b"deny")?;
        write_file(&file(b"/gid_map"), &line(gid))
    }
}

/// Starts init in new namespaces. In init this never returns (it becomes the reaper after
/// forking the app); in the app it returns `App`.
fn spawn_init(mounts: &[(&[u8], bool)], host_fds: &[(i32, bool)], memory: Option<u64>, server: i32) -> Spawn {
    // A socket pair, not a pipe: init may end (its "F") before it reads the "G", and a "G"
    // sent then must come back as EPIPE, not as a SIGPIPE that ends the supervisor.
    let Ok((go_r, go_w)) = broker::seqpacket_pair() else { return Spawn::Failed(24) };
    let Ok((st_r, st_w)) = pipe() else {
        close(go_r);
        close(go_w);
        return Spawn::Failed(24);
    };
    let pid = match check(sys::syscall6(CLONE, NAMESPACES | SIGCHLD, 0, 0, 0, 0, 0)) {
        Ok(pid) => pid as i32,
        Err(e) => {
            [go_r, go_w, st_r, st_w].into_iter().for_each(close);
            return Spawn::Failed(e);
        }
    };
    if pid == 0 {
        sys::syscall6(sys::PRCTL, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0, 0);
        [go_w, st_r, server].into_iter().for_each(close);
        // The supervisor's descriptors of the mounts point into the host's mount namespace.
        host_fds.iter().for_each(|&(fd, _)| close(fd));
        return Spawn::App(init(mounts, memory, st_w, go_r));
    }
    close(go_r);
    close(st_w);
    let report = |r: Result<(), i32>| -> Result<(), i32> {
        r?;
        match broker::send(go_w, b"G", &[], sys::MSG_NOSIGNAL) {
            // EPIPE: init has ended; its word ("F" and an errno, or none) is read below.
            Ok(()) | Err(litebox_libos::errno::EPIPE) => {}
            Err(e) => return Err(e),
        }
        // init answers "R" once the root is built and its network namespace made, or "F" and
        // an errno. Read one byte at a
        // time: an app that ends at once has init's "S" and signal right behind the "R",
        // and they are `finish`'s to read.
        let mut msg = [0u8; 2];
        match check(sys::syscall3(sys::READ, st_r as usize, msg.as_mut_ptr() as usize, 1)) {
            Ok(1) if msg[0] == b'R' => Ok(()),
            Ok(1) if msg[0] == b'F' => {
                match check(sys::syscall3(sys::READ, st_r as usize, msg[1..].as_mut_ptr() as usize, 1)) {
                    Ok(1) => Err(msg[1] as i32),
                    _ => Err(5),
                }
            }
            // No word from init: it ended (or is ending) without "F". Its "R" to the app's
            // first process may have gone out already (it is written before the supervisor's).
            _ => Err(-1),
        }
    };
    let r = report(map_ids(pid));
    close(go_w);
    match r {
        Ok(()) => Spawn::Init { pid, status: st_r },
        Err(-1) => {
            // Init ended on its own, and the kernel ends its pid namespace (the app's first
            // process included) with it: its end is the sandbox's, as after "R".
            let mut st = 0i32;
            while check(sys::syscall6(WAIT4, pid as usize, &mut st as *mut i32 as usize, 0, 0, 0, 0)) == Err(4) {}
            close(st_r);
            Spawn::Gone(st)
        }
        Err(e) => {
            sys::syscall3(KILL, pid as usize, SIGKILL, 0);
            sys::syscall6(WAIT4, pid as usize, 0, 0, 0, 0, 0);
            close(st_r);
            Spawn::Failed(e)
        }
    }
}

/// In init, when the app's first process builds the root: waits for its word on `built`,
/// enters the root and returns where it is. An "F" from it is an Err for the supervisor, as
/// init's own (the start without namespaces follows); if it ended without a word (killed, or
/// failing in the runtime), init stays where it is, still says "R" and then reports how it
/// ended, as after any start (no app code ran).
fn built_by_app(built: i32) -> Result<u8, i32> {
    let mut m = [0u8; 2];
    let word = loop {
        match check(sys::syscall3(sys::READ, built as usize, m.as_mut_ptr() as usize, 2)) {
            Err(4) => continue,
            r => break r,
        }
    };
    close(built);
    match word {
        Ok(2) if m[0] == b'B' => nsroot::enter(m[1]).map(|()| m[1]),
        Ok(2) if m[0] == b'F' => Err(m[1] as i32),
        _ => Ok(0),
    }
}

/// Init: forks the app's first process (which goes on with its start-up and waits for the root
/// and the network namespace in [`Started::await_root`] before any app code runs), makes the
/// network namespace, builds the root unless that process claimed it first (then enters it once
/// that process says where it is), drops every capability and lets the app's first process go
/// on; returns in
/// the app's first process only. Init itself then reaps until the app's first process ends,
/// kills and reaps every other process of the pid namespace (if any is left), tells the
/// supervisor how the app ended, and ends.
fn init(mounts: &[(&[u8], bool)], memory: Option<u64>, status: i32, go: i32) -> Started {
    let fail = |e: i32| -> ! {
        let msg = [b'F', e.clamp(1, 255) as u8];
        sys::syscall3(sys::WRITE, status as usize, msg.as_ptr() as usize, 2);
        sys::exit(0)
    };
    // Init checks image chunks alongside the app's first process while it loads.
    crate::parcheck::expect_helper();
    // Init says on it when the mount and IPC namespaces are made ([`LATER`]), with the mqueue
    // mount for the app's first process ("N"), and later that the root is ready ("R").
    let (ready_w, ready_r) = broker::seqpacket_pair().unwrap_or_else(|e| fail(e));
    let (built_r, built_w) = pipe().unwrap_or_else(|e| fail(e));
    // The fork and the namespaces need no id map; the supervisor writes the maps meanwhile
    // and says "G" before the app's first process makes a file (`Started::await_root`). Neither process has emptied its bounding
    // set yet: each does it where it is off the start-up's critical path (caps.rs
    // `drop_bounding`).
    let app = match check(sys::syscall6(CLONE, SIGCHLD, 0, 0, 0, 0, 0)) {
        Ok(0) => {
            close(ready_w);
            close(built_r);
            // Only init reports to the supervisor (so init's "R" to this process may come
            // before the supervisor's: nothing here can write to that pipe in between).
            close(status);
            // This process's bounding set, inherited full, is emptied now, while init builds
            // the root and the network namespace (init's chain is the longer one), long before
            // any app code runs; `caps::drop_all` (layers.rs) then finds it empty. A failure
            // stops the start: no app code runs with a bounding set left.
            caps::drop_bounding().unwrap_or_else(|e| {
                crate::fatal(
                    crate::EXIT_SANDBOX,
                    alloc::format!("cannot empty the capability bounding set (errno {e})").as_bytes(),
                )
            });
            // `net` is known once init says its network namespace is made (`await_root`); the
            // root is built there too, by this process if init has not claimed it first.
            let build =
                Build { mounts: mounts.iter().map(|&(p, w)| (p.to_vec(), w)).collect(), memory, go, built: built_w };
            return Started {
                ns: Ok(()),
                net: Err(0),
                upper: None,
                mounts: Vec::new(),
                root_ready: ready_r,
                build: Some(build),
                join: true,
            };
        }
        Ok(pid) => pid as i32,
        Err(e) => fail(e),
    };
    close(ready_r);
    close(built_w);
    // The chunks the app's first process would check first, checked here meanwhile.
    crate::parcheck::precheck();
    // The sandbox's mount namespace (a copy of the host's mounts, owned by the sandbox's user
    // namespace) and IPC namespace, made here while the app's first process loads the app; it
    // joins both before it builds or enters the root (`Started::await_root`). A failure is an
    // "F" for the supervisor (the start without namespaces follows); that process, waiting for
    // the word below, ends with the pid namespace or on the socket's end.
    check(sys::syscall3(UNSHARE, LATER, 0, 0)).unwrap_or_else(|e| fail(e));
    // Both hold the mqueue mount (sent below): init's copy is the last one closed.
    nsroot::mqueue();
    let mq = nsroot::MQUEUE_DIR.load(Ordering::Relaxed);
    let mq: &[i32] = if mq >= 0 { &[mq] } else { &[] };
    // The app's first process may be gone already (a forwarded signal): nothing then waits for
    // the word, and init goes on to reap it and report (EPIPE, without SIGPIPE).
    let _ = broker::send(ready_w, b"N", mq, sys::MSG_NOSIGNAL);
    // The sandbox's network namespace, made here while the app's first process loads the app
    // and builds the root (it joins it in `await_root`, before any app code runs). It is owned
    // by the sandbox's user namespace, as one made by init's clone would be. Init itself holds
    // no socket.
    // Where it is lazy (the supervisor's Landlock domain scopes abstract Unix sockets), there is
    // nothing to make here: the supervisor's net helper makes it on the app's first abstract Unix name.
    let net = if LAZY_NET.load(Ordering::Relaxed) {
        NET_LAZY
    } else {
        match check(sys::syscall3(UNSHARE, CLONE_NEWNET, 0, 0)) {
            Ok(_) => 0u8,
            Err(e) => e.clamp(1, 254) as u8,
        }
    };
    // The root: built here if the app's first process is still loading the app (a large app),
    // else by that process (`Started::await_root`), whose word says where.
    let at = if crate::parcheck::claim_root(2) {
        close(built_r);
        let (root, at) = build_root_when_mapped(mounts, memory, go).unwrap_or_else(|e| fail(e));
        close(root.upper);
        root.mounts.iter().for_each(|&fd| close(fd));
        at
    } else {
        close(go);
        built_by_app(built_r).unwrap_or_else(|e| fail(e))
    };
    // NO_NEW_PRIVS, and every capability but CAP_SETPCAP gone: init's bounding set is emptied
    // right after the "R"s below (off the critical path), and CAP_SETPCAP goes with it. What
    // init holds in between acts on init's own credentials only, and with NO_NEW_PRIVS no
    // execve could turn it into a privilege (caps.rs `drop_all_but_setpcap`).
    crate::seccomp::no_new_privs().unwrap_or_else(|e| fail(e));
    caps::drop_all_but_setpcap().unwrap_or_else(|e| fail(e));
    // Forwarding is in place before anyone hears "R": once the app's process has its go-ahead,
    // the app may run and say it is up, and a signal sent to the artifact right then goes
    // supervisor -> init; init, pid 1 of its namespace, would drop it (no handler yet) rather
    // than pass it on. Before the go-ahead, a forwarded signal ends the waiting process as it
    // would end the app.
    FORWARD_TO.store(app, Ordering::Relaxed);
    forward_signals(true);
    // The supervisor may be gone (killed), or the app's process (a forwarded signal): init's
    // "R" or report then meets a closed pipe (EPIPE, not SIGPIPE).
    let ign = crate::signals::KSigaction { handler: 1, ..Default::default() }; // SIG_IGN
    sys::syscall6(sys::RT_SIGACTION, SIGPIPE, &ign as *const _ as usize, 0, 8, 0, 0);
    // The app's first process's go-ahead first, then the supervisor's "R": woken second, the
    // supervisor does not take the CPU the app's process is woken on (the app's first process
    // closed its copy of the status pipe, and init writes nothing else there before this).
    sys::syscall3(sys::WRITE, ready_w as usize, [b'R', at, net].as_ptr() as usize, 3);
    sys::syscall3(sys::WRITE, status as usize, b"R".as_ptr() as usize, 1);
    close(ready_w);
    if caps::drop_all().is_err() {
        // Cannot happen with CAP_SETPCAP held; if it did, nothing of the sandbox goes on.
        sys::syscall3(KILL, usize::MAX, SIGKILL, 0);
        crate::fatal(crate::EXIT_SANDBOX, b"init cannot drop its capabilities");
    }
    const WALL: usize = 0x4000_0000;
    let st = if let Some(st) = crate::parcheck::serve(app) {
        st
    } else {
        loop {
            let mut st = 0i32;
            match check(sys::syscall6(WAIT4, usize::MAX, &mut st as *mut i32 as usize, WALL, 0, 0, 0)) {
                Ok(pid) if pid as i32 == app => break st,
                Ok(_) | Err(4) => {}
                Err(_) => sys::exit(0),
            }
        }
    };
    // Nothing the app started outlives it: every other process of the pid namespace is killed
    // and reaped before the supervisor hears the outcome (the kernel would kill them as init
    // ends, but the supervisor no longer waits for init's own end, which tears down the
    // namespaces: see docs/security.md).
    FORWARD_TO.store(0, Ordering::Relaxed);
    // No child left at all (ECHILD): nothing to kill or reap.
    let left = others_left();
    if left {
        sys::syscall3(KILL, usize::MAX, SIGKILL, 0);
    }
    if left {
        loop {
            let mut s = 0i32;
            match check(sys::syscall6(WAIT4, usize::MAX, &mut s as *mut i32 as usize, WALL, 0, 0, 0)) {
                Ok(_) | Err(4) => {}
                Err(_) => break,
            }
        }
    }
    let sig = st & 0x7f;
    let msg = if crate::parcheck::init_tells_of_bad_chunk() {
        // Init found a damaged chunk (parcheck.rs): the supervisor says so (init's standard
        // streams may be closed) and ends with 122.
        [b'T', 122]
    } else if sig != 0 && sig != 0x7f {
        [b'S', sig as u8]
    } else {
        [b'E', ((st >> 8) & 0xff) as u8]
    };
    sys::syscall3(sys::WRITE, status as usize, msg.as_ptr() as usize, 2);
    sys::exit(if msg[0] == b'S' { 0 } else { msg[1] as i32 })
}

/// In init, once the app's first process is reaped: whether any other process of the pid
/// namespace may be left (then init kills them all with `kill(-1)`, which walks every process
/// of the host to find them). None is left when init has no child, dead or alive: every
/// process of the namespace descends from init (the gate refuses `CLONE_PARENT`; nothing
/// outside enters the namespace), and one whose parent ends is reparented to init or to a
/// subreaper that itself descends from init, so the top of any process's chain of parents is
/// a child of init. The app's first process's own children are init's before it is reaped.
fn others_left() -> bool {
    const WAIT4_WNOHANG_WALL: usize = 1 | 0x4000_0000;
    let mut st = 0i32;
    // Ok(0): children, none ended; Ok(pid): one ended (reaped here; others may be left).
    check(sys::syscall6(WAIT4, usize::MAX, &mut st as *mut i32 as usize, WAIT4_WNOHANG_WALL, 0, 0, 0)) != Err(10)
}

/// The process to pass forwarded signals to (init: the app; supervisor: init or the app).
static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_forwarded(sig: i32, info: usize, _uc: usize) {
    // SAFETY: info is the kernel's siginfo: si_code at 8, si_pid at 16.
    let (code, pid) =
        unsafe { (core::ptr::read((info + 8) as *const i32), core::ptr::read((info + 16) as *const i32)) };
    // Sent by a process (SI_USER, SI_QUEUE, SI_TKILL are <= 0), not by the terminal or the
    // kernel (> 0): those reach the app directly. In init, only what the supervisor sent
    // (its pid is not visible there: 0) is passed on; the app's own signals to pid 1 are not.
    let from_outside = code <= 0 && (FORWARD_FROM_SUPERVISOR_ONLY.load(Ordering::Relaxed) == 0 || pid == 0);
    let to = FORWARD_TO.load(Ordering::Relaxed);
    if from_outside && to > 0 {
        sys::syscall3(KILL, to as usize, sig as usize, 0);
    }
}

static FORWARD_FROM_SUPERVISOR_ONLY: AtomicI32 = AtomicI32::new(0);

fn forward_signals(init: bool) {
    FORWARD_FROM_SUPERVISOR_ONLY.store(init as i32, Ordering::Relaxed);
    for sig in FORWARDED {
        let act = crate::signals::KSigaction {
            handler: on_forwarded as *const () as usize,
            flags: 4 | 0x0400_0000 | 0x1000_0000, // SA_SIGINFO | SA_RESTORER | SA_RESTART
            restorer: sys::litebox_restorer as *const () as usize,
            mask: 0,
        };
        sys::syscall6(sys::RT_SIGACTION, sig, &act as *const _ as usize, 0, 8, 0, 0);
    }
}

/// The supervisor's life: serve the broker and forward signals until `child` (init or the app)
/// ends, remove a host layer, then end as the app ended.
fn supervise(child: i32, status: Option<i32>, mut server: Server, layer: Option<Vec<u8>>) -> ! {
    FORWARD_TO.store(child, Ordering::Relaxed);
    forward_signals(false);
    let pidfd = check(sys::syscall3(PIDFD_OPEN, child as usize, 0, 0)).map(|fd| fd as i32).unwrap_or(-1);
    let mut serving = true;
    // Init reports the app's end on its status pipe as soon as the app's processes are gone;
    // init's own end (the namespaces' teardown, which waits for the kernel) is not waited for.
    let mut report = status.unwrap_or(-1);
    let mut fds = Vec::new();
    loop {
        fds.clear();
        fds.push(litebox_libos::abi::PollFd { fd: pidfd, events: 1, revents: 0 });
        fds.push(litebox_libos::abi::PollFd { fd: if serving { server.sock } else { -1 }, events: 1, revents: 0 });
        fds.push(litebox_libos::abi::PollFd { fd: report, events: 1, revents: 0 });
        server.relays.poll_fds(&mut fds);
        // Without a pidfd (kernels before 5.3), look for the child's end every 50 ms.
        let timeout = if pidfd < 0 { 50 } else { -1isize as usize };
        let r = check(sys::syscall3(sys::POLL, fds.as_mut_ptr() as usize, fds.len(), timeout));
        if r.is_err() {
            continue;
        }
        if fds[2].revents != 0 {
            match app_outcome(report) {
                Some(st) => finish(st, None, layer),
                None => report = -1,
            }
        }
        // The relays first: serving the broker may add one.
        server.relays.serve(&fds[3..], &server.policy);
        if fds[1].revents & 1 != 0 {
            serving = server.serve_one();
        } else if fds[1].revents != 0 {
            serving = false;
        }
        if pidfd < 0 {
            let mut st = 0i32;
            const WNOHANG: usize = 1;
            if check(sys::syscall6(WAIT4, child as usize, &mut st as *mut i32 as usize, WNOHANG, 0, 0, 0))
                == Ok(child as usize)
            {
                finish(st, status, layer);
            }
        } else if fds[0].revents != 0 {
            break;
        }
    }
    let mut st = 0i32;
    while check(sys::syscall6(WAIT4, child as usize, &mut st as *mut i32 as usize, 0, 0, 0, 0)) == Err(4) {}
    finish(st, status, layer)
}

/// The line a failed chunk check prints, for a bad chunk init found (`T` report).
fn tell_bad_chunk() {
    sys::write_all(crate::log_fd(), &litebox_rt::fatal::line(b"tampered image: chunk digest does not match"));
}

/// Reads init's report of the app's end from its status pipe: `E` and the exit code, `S`
/// and the signal that killed it, or `T` and 122 (init found a damaged chunk: said here), as a
/// wait status. None when init ended without one.
fn app_outcome(fd: i32) -> Option<i32> {
    let mut msg = [0u8; 2];
    let n = loop {
        match check(sys::syscall3(sys::READ, fd as usize, msg.as_mut_ptr() as usize, 2)) {
            Err(4) => continue,
            r => break r,
        }
    };
    match (n, msg[0]) {
        (Ok(2), b'E') => Some((msg[1] as i32) << 8),
        (Ok(2), b'S') => Some(msg[1] as i32 & 0x7f),
        (Ok(2), b'T') => {
            tell_bad_chunk();
            Some((msg[1] as i32) << 8)
        }
        _ => None,
    }
}

fn finish(st: i32, status: Option<i32>, layer: Option<Vec<u8>>) -> ! {
    if let Some(path) = layer {
        hostfs::remove_if_unused(&path);
    }
    let mut sig = st & 0x7f;
    let mut code = (st >> 8) & 0xff;
    if let Some(fd) = status {
        // Init reports an app killed by a signal; its own exit code is the app's otherwise.
        let mut msg = [0u8; 2];
        const O_NONBLOCK: usize = 0o4000;
        sys::syscall3(sys::FCNTL, fd as usize, 4, O_NONBLOCK);
        if check(sys::syscall3(sys::READ, fd as usize, msg.as_mut_ptr() as usize, 2)) == Ok(2) {
            if msg[0] == b'S' {
                sig = msg[1] as i32;
                code = 128 + sig;
            } else if msg[0] == b'T' {
                tell_bad_chunk();
            }
        }
    }
    if sig != 0 && sig != 0x7f {
        // Die of the same signal, without a core file of the supervisor.
        let zero = [0u64; 2];
        const RLIMIT_CORE: usize = 4;
        sys::syscall6(PRLIMIT64, 0, RLIMIT_CORE, zero.as_ptr() as usize, 0, 0, 0);
        let dfl = crate::signals::KSigaction::default();
        sys::syscall6(sys::RT_SIGACTION, sig as usize, &dfl as *const _ as usize, 0, 8, 0, 0);
        let set = 1u64 << (sig - 1);
        sys::syscall6(sys::RT_SIGPROCMASK, sys::SIG_UNBLOCK, &set as *const u64 as usize, 0, 8, 0, 0);
        let me = sys::syscall3(sys::GETPID, 0, 0, 0) as usize;
        sys::syscall3(KILL, me, sig as usize, 0);
        sys::exit(128 + sig)
    }
    sys::exit(code)
}
