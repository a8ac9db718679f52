//! The broker: the few host operations the sandbox may not perform itself, asked of the
//! supervisor process (which runs no app code and holds the policy in memory the app cannot
//! reach) over a `SOCK_SEQPACKET` socket, and checked there again.
//!
//! - `socket`, `bind`, `listen`, `connect` of IP sockets: the supervisor creates the socket in
//!   the host's network namespace (the sandbox's own has no interface but a loopback that is
//!   down), checks every address against `[policy.network]`, and hands the descriptor back.
//!   `connect`, `bind` and `listen` are not on the sandbox's gate allow-list at all, so an app
//!   that calls the gate directly cannot aim a socket anywhere the policy does not name.
//! - UDP: the supervisor keeps the socket and relays its datagrams (udprelay.rs); the sandbox
//!   gets one end of a `SOCK_SEQPACKET` pair, and `OP_SOCKCALL` runs getsockname,
//!   getpeername, getsockopt, setsockopt and shutdown on the real socket behind it.
//! - `bind`, `listen`, `connect` of the sandbox's Unix sockets to abstract names (and
//!   autobind), only for a socket of a network namespace other than the host's: a socket's
//!   abstract names are those of the namespace it was made in, so they reach only the app's
//!   own sockets. Path names are refused here (the supervisor sees the host's files).
//! - `chmod` of a file in the writable layer or a `rw` mount: by path beneath the directory the
//!   supervisor holds, never by descriptor (`fchmod` is not on the gate allow-list: a
//!   descriptor opened read-only, the artifact or a standard stream, could otherwise change
//!   modes on the host).
//!
//! A request is one message: a fixed header (op, three numbers, data length) and the data (a
//! socket address or a path), with `SCM_RIGHTS` carrying the reply socket and, for socket ops,
//! the socket. The reply is one message on the reply socket: the result (a negative errno on
//! failure), the data of an `OP_SOCKCALL` answer, and, for `socket`, the new descriptor (the
//! result 1 says it is a UDP relay). A fresh reply socket per request keeps
//! concurrent requests of the sandbox's threads and processes apart.
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, Ordering};

use litebox_libos::errno::*;
use litebox_libos::net::{decode, NetPolicy, Target};

use crate::sys::{self, check};
use crate::udprelay::Relays;

pub const OP_SOCKET: u32 = 1;
pub const OP_BIND: u32 = 2;
pub const OP_LISTEN: u32 = 3;
pub const OP_CONNECT: u32 = 4;
pub const OP_CHMOD: u32 = 5;
/// Sent once by the sandbox's init before any app code runs: the descriptors of the writable
/// layer and the mounts as the sandbox sees them (private mount namespace). Later ones are
/// refused.
pub const OP_SET_DIRS: u32 = 6;
/// getsockname, getpeername, getsockopt, setsockopt or shutdown (numbers: the syscall and its
/// two integer arguments; data: the option value to set, or the u32 room of the answer) on
/// the UDP socket behind a relay.
pub const OP_SOCKCALL: u32 = 7;
/// After the app sent datagrams on a UDP relay: the supervisor sends everything queued on
/// every relay and passes on everything received before it answers, so that, as on a native
/// loopback, a datagram sent between the app's own sockets is there once the send returns.
pub const OP_UDP_SYNC: u32 = 8;
/// A Unix socket of the sandbox's network namespace where that namespace is lazy (numbers: the
/// type with its flags, the protocol): made by the supervisor's net helper, which makes the
/// namespace on the first such request ([`NetHelper`]; docs/security.md, "The network
/// namespace is made on the first abstract Unix name").
pub const OP_UNIX_SOCKET: u32 = 9;
/// rename or hard link of a file into another directory of the writable layer or a `rw`
/// mount (numbers: the directory's index; data: the two paths beneath it, NUL between them),
/// where the sandbox's own host call was refused with EXDEV: Landlock's REFER, which the
/// supervisor's scope-only domain denies to every process nested in it
/// (docs/targets/linux-userland.md, "Limits"). Made by path beneath the supervisor's
/// descriptor of the directory, as chmod.
pub const OP_RENAME: u32 = 10;
pub const OP_LINK: u32 = 11;
/// renameat2 with RENAME_EXCHANGE of two paths in different directories of the writable layer
/// or a `rw` mount, refused to the sandbox with EXDEV as [`OP_RENAME`] (same numbers and data).
pub const OP_EXCHANGE: u32 = 13;
/// renameat2's flag that swaps the two names.
pub const RENAME_EXCHANGE: u32 = 2;
/// utimensat of a file of the writable layer or a `rw` mount (numbers: the directory's index;
/// data: the two `struct timespec` as utimensat takes them, then the path beneath the
/// directory), the file itself (a final symlink is not followed). The gate has no utimensat
/// (docs/security.md): made by path beneath the supervisor's descriptor of the directory, as
/// chmod.
pub const OP_UTIMES: u32 = 12;
/// Bytes of the two `struct timespec` that begin an [`OP_UTIMES`] request's data.
pub const UTIMES_TIMES: usize = 32;
/// Most bytes of data in an answer (a socket address or an option value).
pub const ANSWER_MAX: usize = 256;

const HEADER: usize = 32;
/// Most data bytes in one request (a path or a socket address).
const DATA_MAX: usize = 4096;
/// Most descriptors accepted in one request (the layer and up to 62 mounts).
const FDS_MAX: usize = 64;

const CHMOD: usize = 90;
const AF_UNIX: usize = 1;
const SOCK_SEQPACKET: usize = 5;
const SOCK_CLOEXEC: usize = 0o2000000;
const SOCK_NONBLOCK: usize = 0o4000;
const MSG_CMSG_CLOEXEC: usize = 0x4000_0000;
const MSG_DONTWAIT: usize = 0x40;
const SOL_SOCKET: i32 = 1;
const SCM_RIGHTS: i32 = 1;

/// The sandbox's end of the broker socket (-1: no broker, every request fails with EACCES).
static CLIENT: AtomicI32 = AtomicI32::new(-1);

/// Makes `fd` the sandbox's end of the broker socket.
pub fn set_client(fd: i32) {
    CLIENT.store(fd, Ordering::Relaxed);
}

/// The sandbox's end of the broker socket (-1: none).
pub fn client() -> i32 {
    CLIENT.load(Ordering::Relaxed)
}

/// A new connected `SOCK_SEQPACKET` pair, close-on-exec: (one end, other end).
pub fn seqpacket_pair() -> Result<(i32, i32), Errno> {
    let mut fds = [0i32; 2];
    check(sys::syscall6(sys::SOCKETPAIR, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds.as_mut_ptr() as usize, 0, 0))?;
    Ok((fds[0], fds[1]))
}

fn close(fd: i32) {
    sys::syscall3(sys::CLOSE, fd as usize, 0, 0);
}

#[repr(C)]
struct Iovec {
    base: usize,
    len: usize,
}

#[repr(C)]
struct Msghdr {
    name: usize,
    namelen: u32,
    iov: *const Iovec,
    iovlen: usize,
    control: usize,
    controllen: usize,
    flags: i32,
}

/// Control buffer for up to FDS_MAX descriptors (cmsghdr: len u64, level i32, type i32).
#[repr(C, align(8))]
struct Control([u8; 16 + 4 * FDS_MAX]);

/// Sends `data` with `fds` attached on `sock` (`flags`: MSG_DONTWAIT for the supervisor's
/// replies, which must never block it).
pub(crate) fn send(sock: i32, data: &[u8], fds: &[i32], flags: usize) -> Result<(), Errno> {
    let iov = Iovec { base: data.as_ptr() as usize, len: data.len() };
    let mut ctl = Control([0; 16 + 4 * FDS_MAX]);
    let clen = if fds.is_empty() { 0 } else { 16 + 4 * fds.len() };
    if !fds.is_empty() {
        ctl.0[..8].copy_from_slice(&(clen as u64).to_le_bytes());
        ctl.0[8..12].copy_from_slice(&SOL_SOCKET.to_le_bytes());
        ctl.0[12..16].copy_from_slice(&SCM_RIGHTS.to_le_bytes());
        for (i, fd) in fds.iter().enumerate() {
            ctl.0[16 + 4 * i..20 + 4 * i].copy_from_slice(&fd.to_le_bytes());
        }
    }
    let msg = Msghdr {
        name: 0,
        namelen: 0,
        iov: &iov,
        iovlen: 1,
        control: if clen == 0 { 0 } else { ctl.0.as_ptr() as usize },
        controllen: clen,
        flags: 0,
    };
    loop {
        match check(sys::syscall3(sys::SENDMSG, sock as usize, &msg as *const Msghdr as usize, flags)) {
            Err(EINTR) => continue,
            r => return r.map(|_| ()),
        }
    }
}

/// Receives one message into `buf`; returns its length and the descriptors that came with it
/// (close-on-exec). Descriptors beyond FDS_MAX are dropped by the kernel.
pub(crate) fn recv(sock: i32, buf: &mut [u8], flags: usize) -> Result<(usize, Vec<i32>), Errno> {
    let iov = Iovec { base: buf.as_mut_ptr() as usize, len: buf.len() };
    let mut ctl = Control([0; 16 + 4 * FDS_MAX]);
    let mut msg = Msghdr {
        name: 0,
        namelen: 0,
        iov: &iov,
        iovlen: 1,
        control: ctl.0.as_mut_ptr() as usize,
        controllen: ctl.0.len(),
        flags: 0,
    };
    let n = loop {
        match check(sys::syscall3(
            sys::RECVMSG,
            sock as usize,
            &mut msg as *mut Msghdr as usize,
            flags | MSG_CMSG_CLOEXEC,
        )) {
            Err(EINTR) => continue,
            r => break r?,
        }
    };
    let mut fds = Vec::new();
    let clen = msg.controllen.min(ctl.0.len());
    let mut at = 0;
    while at + 16 <= clen {
        let len = u64::from_le_bytes(ctl.0[at..at + 8].try_into().unwrap_or([0; 8])) as usize;
        let level = i32::from_le_bytes(ctl.0[at + 8..at + 12].try_into().unwrap_or([0; 4]));
        let kind = i32::from_le_bytes(ctl.0[at + 12..at + 16].try_into().unwrap_or([0; 4]));
        if len < 16 || at + len > clen {
            break;
        }
        if level == SOL_SOCKET && kind == SCM_RIGHTS {
            for c in ctl.0[at + 16..at + len].chunks_exact(4) {
                fds.push(i32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            }
        }
        at += (len + 7) & !7;
    }
    Ok((n, fds))
}

fn header(op: u32, a: [u64; 3], data_len: usize) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[0..4].copy_from_slice(&op.to_le_bytes());
    h[4..8].copy_from_slice(&(data_len as u32).to_le_bytes());
    for (i, v) in a.iter().enumerate() {
        h[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_le_bytes());
    }
    h
}

/// Asks the supervisor for `op`; returns the result and the descriptor that came back with it
/// (-1 if none). Waits for the answer; the app's signals stay held meanwhile (a request takes
/// microseconds: the supervisor never blocks on the network for it).
pub fn request(op: u32, a: [u64; 3], data: &[u8], target: Option<i32>) -> Result<(usize, i32), Errno> {
    request_data(op, a, data, target, &mut []).map(|(v, fd, _)| (v, fd))
}

/// [`request`], with the answer's data copied to `out`: (result, descriptor, data length).
pub fn request_data(
    op: u32,
    a: [u64; 3],
    data: &[u8],
    target: Option<i32>,
    out: &mut [u8],
) -> Result<(usize, i32, usize), Errno> {
    let broker = CLIENT.load(Ordering::Relaxed);
    if broker < 0 {
        return Err(EACCES);
    }
    if data.len() > DATA_MAX {
        return Err(ENAMETOOLONG);
    }
    let (mine, theirs) = seqpacket_pair()?;
    let mut msg = Vec::with_capacity(HEADER + data.len());
    msg.extend_from_slice(&header(op, a, data.len()));
    msg.extend_from_slice(data);
    let mut fds = alloc::vec![theirs];
    fds.extend(target);
    let sent = send(broker, &msg, &fds, 0);
    close(theirs);
    if let Err(e) = sent {
        close(mine);
        return Err(if e == EPIPE || e == ECONNREFUSED { EACCES } else { e });
    }
    let mut reply = [0u8; 8 + ANSWER_MAX];
    let got = recv(mine, &mut reply, 0);
    close(mine);
    let (n, fds) = got?;
    let fd = fds.first().copied().unwrap_or(-1);
    for &extra in fds.iter().skip(1) {
        close(extra);
    }
    if n < 8 {
        if fd >= 0 {
            close(fd);
        }
        return Err(EIO);
    }
    let v = i64::from_le_bytes(reply[..8].try_into().unwrap_or([0; 8]));
    let extra = (n - 8).min(out.len());
    out[..extra].copy_from_slice(&reply[8..8 + extra]);
    if v < 0 {
        if fd >= 0 {
            close(fd);
        }
        return Err((-v) as Errno);
    }
    Ok((v as usize, fd, extra))
}

/// Sends the sandbox's view of its host directories (the app's first process, once, before any app code runs).
pub fn set_dirs(dirs: &[i32], writable_mask: u64) -> Result<(), Errno> {
    let broker = CLIENT.load(Ordering::Relaxed);
    let msg = header(OP_SET_DIRS, [writable_mask, dirs.len() as u64, 0], 0);
    send(broker, &msg, dirs, 0)
}

/// A host directory the supervisor may chmod beneath: descriptor and whether it is writable.
#[derive(Clone, Copy)]
pub struct Dir {
    pub fd: i32,
    pub writable: bool,
}

/// The supervisor's side: the policy and the directories, and whether the sandbox still sent
/// its directories (namespaces) or they are the supervisor's own (no namespaces).
pub struct Server {
    pub sock: i32,
    pub policy: NetPolicy,
    pub dirs: Option<Vec<Dir>>,
    /// The UDP sockets relayed for the sandbox.
    pub relays: Relays,
    /// Where the sandbox's network namespace is lazy: the helper that makes its Unix sockets.
    pub net: NetHelper,
}

/// The supervisor's net helper, where the sandbox's network namespace is made when the app first
/// uses an abstract Unix name (the runtime then asks for a socket of it, `OP_UNIX_SOCKET`,
/// unixns.rs `into_sandbox_namespace`): a process forked from the supervisor that
/// joins the sandbox's user namespace (`setns` through a pidfd of init), makes the network
/// namespace there (`unshare(CLONE_NEWNET)`: owned by the sandbox's user namespace, as init's
/// was), drops every capability, and from then on only makes `AF_UNIX` sockets of the types the
/// supervisor asks for and hands them back (`SCM_RIGHTS`). It never hears from the sandbox
/// directly, runs no app code, holds nothing of the host but its end of the pair, and ends with
/// the supervisor (parent-death signal). Being the supervisor's child, it is inside the
/// supervisor's Landlock domain (supervisor.rs `start`): its sockets are within the scope that
/// holds the app's processes, so the app reaches them, and only them, by abstract name.
#[derive(Default)]
pub enum NetHelper {
    /// The namespace is made by init (or there is none): `OP_UNIX_SOCKET` is refused.
    #[default]
    Off,
    /// Lazy: no helper yet; init's pid (in the supervisor's pid namespace).
    Lazy(i32),
    /// The helper's end of the pair.
    Ready(i32),
    /// The helper could not make the namespace (said in the debug log): the sandbox's Unix
    /// sockets stay in the host's namespace, where abstract names are refused.
    Failed,
}

impl NetHelper {
    /// One Unix socket of type `ty` (with its flags) in the sandbox's namespace, starting the
    /// helper on the first call.
    fn socket(&mut self, ty: u64) -> Result<i32, Errno> {
        if let NetHelper::Lazy(init) = *self {
            *self = match spawn_net_helper(init) {
                Ok(fd) => NetHelper::Ready(fd),
                Err(e) => {
                    // Said once, with LITEBOX_LOG=debug; every later request gets EACCES.
                    if crate::DEBUG.load(Ordering::Relaxed) {
                        let msg = alloc::format!(
                            "network: cannot make the sandbox's network namespace (errno {e}): abstract Unix names refused (EACCES)"
                        );
                        sys::write_all(crate::log_fd(), &litebox_rt::fatal::line(msg.as_bytes()));
                    }
                    NetHelper::Failed
                }
            };
        }
        match *self {
            NetHelper::Ready(helper) => {
                send(helper, &ty.to_le_bytes(), &[], 0)?;
                let mut answer = [0u8; 8];
                let (n, fds) = recv(helper, &mut answer, 0)?;
                let v = i64::from_le_bytes(answer);
                match (n, fds.first()) {
                    (8, Some(&fd)) if v == 0 => Ok(fd),
                    _ => {
                        fds.iter().for_each(|&f| close(f));
                        Err(if n == 8 && v < 0 { (-v) as Errno } else { EIO })
                    }
                }
            }
            _ => Err(EACCES),
        }
    }
}

/// Forks the net helper ([`NetHelper`]) and waits for its word: its end of the pair, or the
/// errno of the step that failed (the helper has ended then).
fn spawn_net_helper(init: i32) -> Result<i32, Errno> {
    const PIDFD_OPEN: usize = 434;
    const CLONE: usize = 56;
    const SIGCHLD: usize = 17;
    const SETNS: usize = 308;
    const UNSHARE: usize = 272;
    const CLONE_NEWUSER: usize = 0x1000_0000;
    const CLONE_NEWNET: usize = 0x4000_0000;
    const PR_SET_PDEATHSIG: usize = 1;
    const SIGKILL: usize = 9;
    const DUP2: usize = 33;
    const CLOSE_RANGE: usize = 436;
    let pidfd = check(sys::syscall3(PIDFD_OPEN, init as usize, 0, 0))? as i32;
    let (mine, theirs) = match seqpacket_pair() {
        Ok(p) => p,
        Err(e) => {
            close(pidfd);
            return Err(e);
        }
    };
    let parent = sys::syscall3(sys::GETPID, 0, 0, 0);
    match check(sys::syscall6(CLONE, SIGCHLD, 0, 0, 0, 0, 0)) {
        Ok(0) => {
            sys::syscall6(sys::PRCTL, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0, 0);
            const GETPPID: usize = 110;
            if sys::syscall3(GETPPID, 0, 0, 0) != parent {
                sys::exit(0);
            }
            // Nothing of the supervisor's but the pair (as 0) and the pidfd (as 1): not the
            // broker, the relays, the mounts or the standard streams.
            // The supervisor's handlers pass signals a process sent it on to the sandbox: the
            // helper (in the same process group) passes nothing on, and is not ended by them.
            let ign = crate::signals::KSigaction { handler: 1, ..Default::default() }; // SIG_IGN
            for sig in [1usize, 2, 3, 10, 12, 13, 15] {
                sys::syscall6(sys::RT_SIGACTION, sig, &ign as *const _ as usize, 0, 8, 0, 0);
            }
            let (pair, pidfd) = (sys::dup_high(theirs), sys::dup_high(pidfd));
            sys::syscall3(DUP2, pair as usize, 0, 0);
            sys::syscall3(DUP2, pidfd as usize, 1, 0);
            sys::syscall3(CLOSE_RANGE, 2, u32::MAX as usize, 0);
            let made = (|| -> Result<(), Errno> {
                check(sys::syscall3(SETNS, 1, CLONE_NEWUSER, 0))?;
                check(sys::syscall3(UNSHARE, CLONE_NEWNET, 0, 0))?;
                crate::seccomp::no_new_privs()?;
                crate::caps::drop_all()
            })();
            close(1);
            let word = match made {
                Ok(()) => 0i64,
                Err(e) => -(e as i64),
            };
            if send(0, &word.to_le_bytes(), &[], 0).is_err() || word != 0 {
                sys::exit(0);
            }
            net_helper_serve(0)
        }
        Ok(_) => {
            close(pidfd);
            close(theirs);
            let mut word = [0u8; 8];
            match recv(mine, &mut word, 0) {
                Ok((8, _)) if i64::from_le_bytes(word) == 0 => Ok(mine),
                r => {
                    close(mine);
                    Err(match r {
                        Ok((8, _)) => (-i64::from_le_bytes(word)) as Errno,
                        _ => EIO,
                    })
                }
            }
        }
        Err(e) => {
            [pidfd, mine, theirs].into_iter().for_each(close);
            Err(e)
        }
    }
}

/// The net helper's life: one `AF_UNIX` socket per request (the type and its flags, checked
/// again here), handed back; ends when the supervisor's end closes.
fn net_helper_serve(sock: i32) -> ! {
    loop {
        let mut req = [0u8; 8];
        match recv(sock, &mut req, 0) {
            Ok((8, fds)) => {
                fds.iter().for_each(|&f| close(f));
                let ty = u64::from_le_bytes(req);
                let made = match unix_socket_type(ty) {
                    Ok(()) => check(sys::syscall3(sys::SOCKET, AF_UNIX, ty as usize | SOCK_CLOEXEC, 0)),
                    Err(e) => Err(e),
                };
                let (word, fd) = match made {
                    Ok(fd) => (0i64, Some(fd as i32)),
                    Err(e) => (-(e as i64), None),
                };
                let sent = send(sock, &word.to_le_bytes(), fd.as_slice(), 0);
                if let Some(fd) = fd {
                    close(fd);
                }
                if sent.is_err() {
                    sys::exit(0);
                }
            }
            Ok((_, fds)) => fds.iter().for_each(|&f| close(f)),
            Err(_) => sys::exit(0),
        }
    }
}

/// The Unix socket types the sandbox may ask the net helper for: stream, datagram or
/// seqpacket, with only `SOCK_NONBLOCK`/`SOCK_CLOEXEC` (the gate's own rule for `socket`
/// with the private root, gatefilter.rs).
fn unix_socket_type(ty: u64) -> Result<(), Errno> {
    let (kind, flags) = (ty & 0xf, ty & !0xf);
    if flags & !((SOCK_NONBLOCK | SOCK_CLOEXEC) as u64) != 0 {
        return Err(EINVAL);
    }
    if !matches!(kind, 1 | 2 | 5) {
        return Err(EACCES);
    }
    Ok(())
}

impl Server {
    /// Serves one pending request (never blocks: the socket is polled first). Returns false
    /// when the sandbox's side is gone.
    pub fn serve_one(&mut self) -> bool {
        let mut buf = alloc::vec![0u8; HEADER + DATA_MAX];
        let (n, fds) = match recv(self.sock, &mut buf, MSG_DONTWAIT) {
            Ok((0, fds)) => {
                fds.iter().for_each(|&f| close(f));
                return false;
            }
            Ok(x) => x,
            Err(EAGAIN) => return true,
            Err(_) => return false,
        };
        let result = self.handle(&buf[..n], &fds);
        // OP_SET_DIRS carries the directories, not a reply socket: it gets no answer.
        let set_dirs = buf.get(..4).is_some_and(|op| op == OP_SET_DIRS.to_le_bytes());
        if let Some(&reply) = fds.first().filter(|_| !set_dirs) {
            let (v, fd, data) = match result {
                Ok(Answer::Value(v)) => (v as i64, None, Vec::new()),
                Ok(Answer::Fd(fd, v)) => (v as i64, Some(fd), Vec::new()),
                Ok(Answer::Data(v, d)) => (v as i64, None, d),
                Err(e) => (-(e as i64), None, Vec::new()),
            };
            let mut answer = v.to_le_bytes().to_vec();
            answer.extend_from_slice(&data[..data.len().min(ANSWER_MAX)]);
            let _ = send(reply, &answer, fd.as_slice(), MSG_DONTWAIT);
            if let Some(fd) = fd {
                close(fd);
            }
        }
        // The directories of OP_SET_DIRS are kept; everything else that came is closed.
        let kept = match &self.dirs {
            Some(d) => d.iter().map(|d| d.fd).collect::<Vec<_>>(),
            None => Vec::new(),
        };
        for &f in &fds {
            if !kept.contains(&f) {
                close(f);
            }
        }
        true
    }

    fn handle(&mut self, msg: &[u8], fds: &[i32]) -> Result<Answer, Errno> {
        if msg.len() < HEADER {
            return Err(EINVAL);
        }
        let op = u32::from_le_bytes([msg[0], msg[1], msg[2], msg[3]]);
        let len = u32::from_le_bytes([msg[4], msg[5], msg[6], msg[7]]) as usize;
        let num = |i: usize| u64::from_le_bytes(msg[8 + 8 * i..16 + 8 * i].try_into().unwrap_or([0; 8]));
        let data = msg.get(HEADER..HEADER + len).ok_or(EINVAL)?;
        if op == OP_SET_DIRS {
            if self.dirs.is_some() || fds.is_empty() {
                return Err(EPERM);
            }
            let mask = num(0);
            self.dirs = Some(
                fds.iter().enumerate().map(|(i, &fd)| Dir { fd, writable: i < 64 && mask & (1 << i) != 0 }).collect(),
            );
            return Ok(Answer::Value(0));
        }
        // Every other request carries its reply socket first; the app's end of a UDP relay
        // stands for the relay's socket.
        let sent = fds.get(1).copied();
        let relayed = sent.and_then(|fd| self.relays.host_socket(fd));
        let target = relayed.or(sent);
        match op {
            OP_SOCKET => self.socket(num(0), num(1), num(2)),
            OP_SOCKCALL => sockcall(relayed.ok_or(ENOTSOCK)?, num(0) as usize, num(1), num(2), data),
            OP_BIND => self.bind(target.ok_or(EBADF)?, data).map(Answer::Value),
            OP_LISTEN => self.listen(target.ok_or(EBADF)?, num(0)).map(Answer::Value),
            OP_CONNECT => self.connect(target.ok_or(EBADF)?, data).map(Answer::Value),
            OP_CHMOD => self.chmod(num(0), num(1) as u32, data).map(Answer::Value),
            OP_RENAME | OP_LINK | OP_EXCHANGE => self.reparent(op, num(0), data).map(Answer::Value),
            OP_UTIMES => self.utimes(num(0), data).map(Answer::Value),
            OP_UDP_SYNC => {
                self.relays.flush(&self.policy);
                Ok(Answer::Value(0))
            }
            OP_UNIX_SOCKET => {
                // Protocol 0 only, as at the gate; the type is checked here and in the helper.
                if num(1) != 0 {
                    return Err(EPROTONOSUPPORT);
                }
                unix_socket_type(num(0))?;
                self.net.socket(num(0)).map(|fd| Answer::Fd(fd, 0))
            }
            _ => Err(EINVAL),
        }
    }

    /// An IP socket in the host's network namespace: TCP or UDP over IPv4 or IPv6 only. A
    /// UDP socket stays here: the sandbox gets the app's end of its relay.
    fn socket(&mut self, domain: u64, ty: u64, proto: u64) -> Result<Answer, Errno> {
        const SOCK_STREAM: u64 = 1;
        const SOCK_DGRAM: u64 = 2;
        let (kind, flags) = (ty & 0xf, ty & !0xf);
        if flags & !((SOCK_NONBLOCK | SOCK_CLOEXEC) as u64) != 0 {
            return Err(EINVAL);
        }
        let ok = matches!(domain, 2 | 10) && matches!((kind, proto), (SOCK_STREAM, 0 | 6) | (SOCK_DGRAM, 0 | 17));
        if !ok {
            return Err(EACCES);
        }
        if kind == SOCK_DGRAM {
            return self.relays.create(domain, ty, proto).map(|fd| Answer::Fd(fd, 1));
        }
        check(sys::syscall3(sys::SOCKET, domain as usize, (ty as usize) | SOCK_CLOEXEC, proto as usize))
            .map(|fd| Answer::Fd(fd as i32, 0))
    }

    /// Whether `fd` is a TCP or UDP socket over IPv4/IPv6 (what the policy speaks of).
    fn ip_socket(fd: i32) -> Result<(), Errno> {
        let opt = |name: usize| -> Result<i32, Errno> {
            let mut v = 0i32;
            let mut len = 4u32;
            check(sys::syscall6(
                sys::GETSOCKOPT,
                fd as usize,
                SOL_SOCKET as usize,
                name,
                &mut v as *mut i32 as usize,
                &mut len as *mut u32 as usize,
                0,
            ))?;
            Ok(v)
        };
        const SO_TYPE: usize = 3;
        const SO_PROTOCOL: usize = 38;
        const SO_DOMAIN: usize = 39;
        let ok = matches!(opt(SO_DOMAIN)?, 2 | 10) && matches!((opt(SO_TYPE)?, opt(SO_PROTOCOL)?), (1, 6) | (2, 17));
        if ok {
            Ok(())
        } else {
            Err(EACCES)
        }
    }

    fn bind(&self, fd: i32, sa: &[u8]) -> Result<usize, Errno> {
        if unix_domain(fd)? {
            sandbox_unix_socket(fd)?;
            if !crate::unixns::abstract_unix(sa) {
                return Err(EACCES);
            }
            return check(sys::syscall3(sys::BIND, fd as usize, sa.as_ptr() as usize, sa.len()));
        }
        Self::ip_socket(fd)?;
        match decode(sa, true)? {
            Target::Ip(e) if self.policy.may_bind(&e) => {}
            _ => return Err(EACCES),
        }
        check(sys::syscall3(sys::BIND, fd as usize, sa.as_ptr() as usize, sa.len()))
    }

    /// listen on a socket that was never bound binds the wildcard address at an ephemeral
    /// port: that needs a rule for it, as in the library OS.
    fn listen(&self, fd: i32, backlog: u64) -> Result<usize, Errno> {
        if unix_domain(fd)? {
            // An unnamed Unix socket cannot listen (the kernel's EINVAL, answered here for any
            // namespace: where the sandbox's is made on the first abstract name, the app's
            // unnamed sockets are of the host's). A Unix socket of the sandbox's namespace has
            // only a name bind gave it.
            let mut name = [0u8; 112];
            let mut len = name.len() as u32;
            let (np, lp) = (name.as_mut_ptr() as usize, &mut len as *mut u32 as usize);
            check(sys::syscall3(sys::GETSOCKNAME, fd as usize, np, lp))?;
            if len <= 2 {
                return Err(EINVAL);
            }
            sandbox_unix_socket(fd)?;
            return check(sys::syscall3(sys::LISTEN, fd as usize, backlog.min(i32::MAX as u64) as usize, 0));
        }
        Self::ip_socket(fd)?;
        let mut name = [0u8; 128];
        let mut len = name.len() as u32;
        check(sys::syscall3(sys::GETSOCKNAME, fd as usize, name.as_mut_ptr() as usize, &mut len as *mut u32 as usize))?;
        match decode(&name[..(len as usize).min(name.len())], false)? {
            Target::Ip(e) if e.port != 0 || self.policy.may_bind(&e) => {}
            _ => return Err(EACCES),
        }
        check(sys::syscall3(sys::LISTEN, fd as usize, backlog.min(i32::MAX as u64) as usize, 0))
    }

    /// connect, never blocking the supervisor: a blocking socket gets EINPROGRESS, and the
    /// sandbox waits for the outcome itself.
    fn connect(&self, fd: i32, sa: &[u8]) -> Result<usize, Errno> {
        if unix_domain(fd)? {
            sandbox_unix_socket(fd)?;
            if !crate::unixns::abstract_unix(sa) && decode(sa, false) != Ok(Target::Disconnect) {
                return Err(EACCES);
            }
        } else {
            Self::ip_socket(fd)?;
        }
        match decode(sa, false)? {
            Target::Unix => {}
            Target::Ip(e) if self.policy.may_connect(&e) => {}
            Target::Disconnect => {}
            _ => return Err(EACCES),
        }
        const F_GETFL: usize = 3;
        const F_SETFL: usize = 4;
        let fl = check(sys::syscall3(sys::FCNTL, fd as usize, F_GETFL, 0))?;
        if fl & SOCK_NONBLOCK == 0 {
            check(sys::syscall3(sys::FCNTL, fd as usize, F_SETFL, fl | SOCK_NONBLOCK))?;
        }
        let r = check(sys::syscall3(sys::CONNECT, fd as usize, sa.as_ptr() as usize, sa.len()));
        if fl & SOCK_NONBLOCK == 0 {
            sys::syscall3(sys::FCNTL, fd as usize, F_SETFL, fl);
        }
        r
    }

    /// The writable directory `dir` the app named, or EROFS / ENOENT.
    fn writable_dir(&self, dir: u64) -> Result<Dir, Errno> {
        let d = self.dirs.as_ref().and_then(|d| d.get(dir as usize).copied()).ok_or(ENOENT)?;
        if !d.writable {
            return Err(EROFS);
        }
        Ok(d)
    }

    /// chmod of `rel` beneath writable directory `dir`, never following a symlink.
    fn chmod(&self, dir: u64, mode: u32, rel: &[u8]) -> Result<usize, Errno> {
        let d = self.writable_dir(dir)?;
        if !(plain_relative(rel) || rel.is_empty()) {
            return Err(EINVAL);
        }
        const O_PATH: u32 = 0o10000000;
        let fd = crate::hostfs::open_beneath(d.fd, rel, O_PATH, 0)?;
        let mut st = litebox_libos::abi::Stat::default();
        let kind =
            check(sys::syscall3(sys::FSTAT, fd as usize, &mut st as *mut _ as usize, 0)).map(|_| st.st_mode & 0o170000);
        let r = match kind {
            // As Linux answers fchmodat(AT_SYMLINK_NOFOLLOW) on a symlink.
            Ok(0o120000) => Err(EOPNOTSUPP),
            Ok(_) => {
                let mut p = b"/proc/self/fd/".to_vec();
                let mut d = [0u8; 20];
                p.extend_from_slice(litebox_libos::shim::fmt_usize(fd as usize, &mut d));
                p.push(0);
                check(sys::syscall3(CHMOD, p.as_ptr() as usize, (mode & crate::hostfs::HOST_MODE_BITS) as usize, 0))
            }
            Err(e) => Err(e),
        };
        close(fd);
        r
    }
}

impl Server {
    /// [`OP_UTIMES`]: the times (`data`'s first [`UTIMES_TIMES`] bytes) of the path beneath
    /// writable directory `dir` that follows them, never following a symlink. The times go to
    /// the host as given: it refuses a bad `tv_nsec` itself.
    fn utimes(&self, dir: u64, data: &[u8]) -> Result<usize, Errno> {
        const UTIMENSAT: usize = 280;
        const O_PATH: u32 = 0o10000000;
        const AT_EMPTY_PATH: usize = 0x1000;
        let d = self.writable_dir(dir)?;
        if data.len() < UTIMES_TIMES {
            return Err(EINVAL);
        }
        let (times, rel) = data.split_at(UTIMES_TIMES);
        if !(plain_relative(rel) || rel.is_empty()) {
            return Err(EINVAL);
        }
        let mut t = [0i64; 4];
        for (v, b) in t.iter_mut().zip(times.chunks_exact(8)) {
            *v = i64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        }
        let fd = crate::hostfs::open_beneath(d.fd, rel, O_PATH, 0)?;
        let r = check(sys::syscall6(
            UTIMENSAT,
            fd as usize,
            c"".as_ptr() as usize,
            t.as_ptr() as usize,
            AT_EMPTY_PATH,
            0,
            0,
        ));
        close(fd);
        r
    }

    /// [`OP_RENAME`], [`OP_EXCHANGE`] or [`OP_LINK`] of `from` to `to` (`data`: `from` NUL `to`), both beneath
    /// writable directory `dir`: each parent opened beneath it (no `..`, no symlink, no magic
    /// link on the way), the last names plain, a final symlink moved or linked itself. The
    /// supervisor's Landlock domain handles no file-system right, so REFER holds nothing back
    /// here; the descriptor is the app's own view of the directory (OP_SET_DIRS), so nothing
    /// outside it can be named.
    fn reparent(&self, op: u32, dir: u64, data: &[u8]) -> Result<usize, Errno> {
        const RENAMEAT: usize = 264;
        const LINKAT: usize = 265;
        let d = self.writable_dir(dir)?;
        let mut parts = data.splitn(2, |&b| b == 0);
        let (Some(from), Some(to)) = (parts.next(), parts.next()) else { return Err(EINVAL) };
        if !plain_relative(from) || !plain_relative(to) {
            return Err(EINVAL);
        }
        let (a, b) = (crate::hostfs::parent(d.fd, from)?, crate::hostfs::parent(d.fd, to)?);
        const RENAMEAT2: usize = 316;
        let (nr, flags) = match op {
            OP_RENAME => (RENAMEAT, 0),
            OP_EXCHANGE => (RENAMEAT2, RENAME_EXCHANGE as usize),
            _ => (LINKAT, 0),
        };
        check(sys::syscall6(
            nr,
            a.fd as usize,
            a.name.as_ptr() as usize,
            b.fd as usize,
            b.name.as_ptr() as usize,
            flags,
            0,
        ))
    }
}

/// A relative path of plain names: not empty, no empty component, no `.` or `..`, no NUL.
fn plain_relative(rel: &[u8]) -> bool {
    !rel.is_empty() && !rel.contains(&0) && rel.split(|&b| b == b'/').all(|c| !c.is_empty() && c != b"." && c != b"..")
}

enum Answer {
    Value(usize),
    /// A descriptor, and the result (1: a UDP relay's end).
    Fd(i32, usize),
    /// A result and data.
    Data(usize, Vec<u8>),
}

/// getsockname, getpeername, getsockopt, setsockopt or shutdown on `udp`, a relayed socket.
/// The options that reach past the app's own sockets are refused as the library OS refuses
/// them (the app could send this request itself).
/// Whether `fd` is a Unix-domain socket (SO_DOMAIN).
fn unix_domain(fd: i32) -> Result<bool, Errno> {
    const SO_DOMAIN: usize = 39;
    let (mut v, mut len) = (0i32, 4u32);
    let (vp, lp) = (&mut v as *mut i32 as usize, &mut len as *mut u32 as usize);
    check(sys::syscall6(sys::GETSOCKOPT, fd as usize, SOL_SOCKET as usize, SO_DOMAIN, vp, lp, 0))?;
    Ok(v == AF_UNIX as i32)
}

/// (st_dev, st_ino) of descriptor `fd`.
fn identity(fd: i32) -> Result<(u64, u64), Errno> {
    let mut st = litebox_libos::abi::Stat::default();
    check(sys::syscall3(sys::FSTAT, fd as usize, &mut st as *mut _ as usize, 0))?;
    Ok((st.st_dev, st.st_ino))
}

/// Ok when Unix socket `fd` belongs to a network namespace other than the supervisor's (the
/// host's): abstract names are per network namespace, and a socket's names live in the
/// namespace it was created in, whoever binds or connects it. So a socket the sandbox made in
/// its own namespace (layer 4 or 8) reaches only the sandbox's abstract names; a socket of the
/// host's namespace (the sandbox has none of its own, or a standard stream the artifact was
/// started with is a host socket) is refused with EACCES, as is a socket whose namespace
/// cannot be told.
fn sandbox_unix_socket(fd: i32) -> Result<(), Errno> {
    const SIOCGSKNS: usize = 0x894C;
    const O_RDONLY_CLOEXEC: usize = 0o2000000;
    let theirs = check(sys::syscall3(sys::IOCTL, fd as usize, SIOCGSKNS, 0)).map_err(|_| EACCES)? as i32;
    let their_id = identity(theirs);
    close(theirs);
    let path = b"/proc/self/ns/net\0";
    let ours = check(sys::syscall6(sys::OPENAT, sys::AT_FDCWD, path.as_ptr() as usize, O_RDONLY_CLOEXEC, 0, 0, 0))
        .map_err(|_| EACCES)? as i32;
    let our_id = identity(ours);
    close(ours);
    match (their_id, our_id) {
        (Ok(t), Ok(o)) if t != o => Ok(()),
        _ => Err(EACCES),
    }
}

fn sockcall(udp: i32, nr: usize, a: u64, b: u64, data: &[u8]) -> Result<Answer, Errno> {
    const SETSOCKOPT: usize = 54;
    const GETPEERNAME: usize = 52;
    const SHUTDOWN: usize = 48;
    let fd = udp as usize;
    let (level, opt) = (a as i32, b as i32);
    match nr {
        sys::GETSOCKNAME | GETPEERNAME => {
            let mut name = [0u8; 128];
            let mut len = name.len() as u32;
            check(sys::syscall3(nr, fd, name.as_mut_ptr() as usize, &mut len as *mut u32 as usize))?;
            Ok(Answer::Data(len as usize, name[..(len as usize).min(name.len())].to_vec()))
        }
        sys::GETSOCKOPT => {
            let room = data.get(..4).map_or(0, |r| u32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize);
            let mut v = alloc::vec![0u8; room.min(ANSWER_MAX)];
            let mut len = v.len() as u32;
            let (vp, lp) = (v.as_mut_ptr() as usize, &mut len as *mut u32 as usize);
            check(sys::syscall6(nr, fd, level as usize, opt as usize, vp, lp, 0))?;
            v.truncate(len as usize);
            Ok(Answer::Data(len as usize, v))
        }
        SETSOCKOPT => {
            // SO_BINDTODEVICE, SO_MARK, SO_ATTACH_BPF, SO_ATTACH_REUSEPORT_EBPF;
            // IP_TRANSPARENT; IPV6_TRANSPARENT.
            let refused = match level {
                1 => matches!(opt, 25 | 36 | 50 | 52),
                0 => opt == 19,
                41 => opt == 75,
                _ => false,
            };
            if refused {
                return Err(EPERM);
            }
            let (vp, len) = (data.as_ptr() as usize, data.len());
            check(sys::syscall6(nr, fd, level as usize, opt as usize, vp, len, 0)).map(Answer::Value)
        }
        SHUTDOWN => check(sys::syscall3(nr, fd, a as usize, 0)).map(Answer::Value),
        _ => Err(EINVAL),
    }
}
