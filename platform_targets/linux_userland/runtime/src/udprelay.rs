//! UDP through the supervisor. The app never holds a host UDP socket: for `socket(AF_INET or
//! AF_INET6, SOCK_DGRAM)` the supervisor makes the real socket (U, host network namespace)
//! and a `SOCK_SEQPACKET` pair; it keeps U and one end (R_s) and hands the app the other end
//! (R_a). Each message on the pair is one datagram: a [`HDR`]-byte header (the peer's socket
//! address, or none: "the connected peer") and the payload. The supervisor checks every
//! destination against `[policy.network]` (`connect` rules, as the library OS does for
//! sendto) before sending on U, and forwards what U receives with its source address.
//! Neither side ever blocks the supervisor: a datagram that cannot be passed on at once is
//! dropped, as UDP may. The app's side of the translation is udpapp.rs.
use alloc::vec::Vec;

use litebox_libos::abi::{PollFd, Stat};
use litebox_libos::errno::*;
use litebox_libos::net::{decode, NetPolicy, Target};

use crate::sys::{self, check};

/// Bytes of the header before each datagram's payload: the address length (u32, 0: the
/// connected peer) and room for a `sockaddr_in6`.
pub const HDR: usize = 32;
/// The longest socket address a header carries (`sockaddr_in6`).
pub const ADDR_MAX: usize = 28;
/// The largest payload relayed (the largest UDP payload over IPv6).
pub const PAYLOAD_MAX: usize = 65535;
/// Most relays the supervisor keeps (each costs it two descriptors).
const RELAYS_MAX: usize = 4096;
/// Most datagrams passed on per socket and direction in one round, so one busy socket does
/// not starve the others or the broker.
const BATCH: usize = 64;

/// The supervisor's relay buffer: room for several largest datagrams at once.
const BUF: usize = 4 * (HDR + PAYLOAD_MAX);
const RECV_FLAGS: usize = 0x40; // MSG_DONTWAIT
const SEND_FLAGS: usize = 0x40 | 0x4000; // MSG_DONTWAIT | MSG_NOSIGNAL
const SOCK_SEQPACKET: usize = 5;
const SOCK_NONBLOCK: u64 = 0o4000;
const SOCK_CLOEXEC: usize = 0o2000000;
const POLLIN: i16 = 1;
const POLLERR: i16 = 8;
const POLLHUP: i16 = 16;

/// The header for a datagram to or from `addr` (empty: the connected peer). An address
/// longer than [`ADDR_MAX`] is cut (the kernel reads no further for IP families).
pub fn header(addr: &[u8]) -> [u8; HDR] {
    let addr = &addr[..addr.len().min(ADDR_MAX)];
    let mut h = [0u8; HDR];
    h[0..4].copy_from_slice(&(addr.len() as u32).to_le_bytes());
    h[4..4 + addr.len()].copy_from_slice(addr);
    h
}

/// The address a header names (empty: the connected peer); None if the header is malformed.
pub fn address(h: &[u8]) -> Option<&[u8]> {
    let len = u32::from_le_bytes(h.get(0..4)?.try_into().ok()?) as usize;
    if len > ADDR_MAX {
        return None;
    }
    h.get(4..4 + len)
}

fn close(fd: i32) {
    sys::syscall3(sys::CLOSE, fd as usize, 0, 0);
}

/// (st_dev, st_ino) of descriptor `fd`.
fn identity(fd: i32) -> Result<(u64, u64), Errno> {
    let mut st = Stat::default();
    check(sys::syscall3(sys::FSTAT, fd as usize, &mut st as *mut Stat as usize, 0))?;
    Ok((st.st_dev, st.st_ino))
}

/// One relayed socket: the real UDP socket, the supervisor's end of the pair, and the
/// identity of the app's end (how a descriptor the app sends back is recognized).
struct Relay {
    udp: i32,
    mine: i32,
    app_end: (u64, u64),
}

/// The supervisor's relays and one datagram-sized buffer.
pub struct Relays {
    list: Vec<Relay>,
    buf: Vec<u8>,
}

impl Default for Relays {
    fn default() -> Self {
        Self::new()
    }
}

impl Relays {
    /// No relays yet.
    pub fn new() -> Self {
        Self { list: Vec::new(), buf: Vec::new() }
    }

    /// A new relayed UDP socket (`ty` may carry SOCK_NONBLOCK, applied to the app's end);
    /// returns the app's end, which the caller hands over and then closes.
    pub fn create(&mut self, domain: u64, ty: u64, proto: u64) -> Result<i32, Errno> {
        if self.list.len() >= RELAYS_MAX {
            return Err(EMFILE);
        }
        let udp_ty = 2 | SOCK_NONBLOCK as usize | SOCK_CLOEXEC;
        let udp = check(sys::syscall3(sys::SOCKET, domain as usize, udp_ty, proto as usize))? as i32;
        let mut pair = [0i32; 2];
        let pair_ty = SOCK_SEQPACKET | SOCK_CLOEXEC | (ty & SOCK_NONBLOCK) as usize;
        if let Err(e) = check(sys::syscall6(sys::SOCKETPAIR, 1, pair_ty, 0, pair.as_mut_ptr() as usize, 0, 0)) {
            close(udp);
            return Err(e);
        }
        match identity(pair[1]) {
            Ok(app_end) => {
                self.list.push(Relay { udp, mine: pair[0], app_end });
                Ok(pair[1])
            }
            Err(e) => {
                [udp, pair[0], pair[1]].into_iter().for_each(close);
                Err(e)
            }
        }
    }

    /// The real UDP socket behind `fd` if `fd` is the app's end of one of the relays (checked
    /// by inode: the app cannot name another relay's socket, or any socket of the host).
    pub fn host_socket(&self, fd: i32) -> Option<i32> {
        let id = identity(fd).ok()?;
        self.list.iter().find(|r| r.app_end == id).map(|r| r.udp)
    }

    /// Appends the descriptors to poll: for each relay, its end of the pair and its socket.
    pub fn poll_fds(&self, out: &mut Vec<PollFd>) {
        for r in &self.list {
            out.push(PollFd { fd: r.mine, events: POLLIN, revents: 0 });
            out.push(PollFd { fd: r.udp, events: POLLIN, revents: 0 });
        }
    }

    /// Sends what every relay's app end holds, then passes on what every relay's socket
    /// received (broker.rs, OP_UDP_SYNC).
    pub fn flush(&mut self, policy: &NetPolicy) {
        if self.buf.is_empty() {
            self.buf = alloc::vec![0u8; BUF];
        }
        for r in &self.list {
            outgoing(r, &mut self.buf, policy);
        }
        for r in &self.list {
            incoming(r, &mut self.buf);
        }
    }

    /// Relays what `polled` (as [`Relays::poll_fds`] made it, answered by poll) says is
    /// waiting; drops the relays whose app end is closed everywhere.
    pub fn serve(&mut self, polled: &[PollFd], policy: &NetPolicy) {
        // No relay, nothing to do: the buffer (a quarter MiB, zeroed) is made only once the
        // app has a UDP socket, not on the supervisor's first broker request of every start.
        if self.list.is_empty() {
            return;
        }
        if self.buf.is_empty() {
            self.buf = alloc::vec![0u8; BUF];
        }
        let mut gone = Vec::new();
        let mut sent = false;
        let polled = |i: usize, r: &Relay| match (polled.get(2 * i), polled.get(2 * i + 1)) {
            (Some(app), Some(net)) if app.fd == r.mine && net.fd == r.udp => (app.revents, net.revents),
            _ => (0, 0),
        };
        // Everything the app sent first, then everything received: datagrams between the
        // app's own sockets (loopback) are passed on in this round, and together.
        for (i, r) in self.list.iter().enumerate() {
            let (app, _) = polled(i, r);
            if app & POLLIN != 0 {
                sent = true;
                if !outgoing(r, &mut self.buf, policy) {
                    gone.push(i);
                }
            } else if app & (POLLHUP | POLLERR) != 0 {
                gone.push(i);
            }
        }
        for (i, r) in self.list.iter().enumerate() {
            let (_, net) = polled(i, r);
            if (sent || net & (POLLIN | POLLERR) != 0) && !gone.contains(&i) {
                incoming(r, &mut self.buf);
            }
        }
        for i in gone.into_iter().rev() {
            let r = self.list.remove(i);
            close(r.udp);
            close(r.mine);
        }
    }
}

/// Sends what the app queued on `r` (up to BATCH datagrams), each to a destination the policy
/// allows; the rest are dropped. Returns false when the app's end is closed.
fn outgoing(r: &Relay, buf: &mut [u8], policy: &NetPolicy) -> bool {
    for _ in 0..BATCH {
        let n = match check(sys::syscall6(
            sys::RECVFROM,
            r.mine as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            RECV_FLAGS,
            0,
            0,
        )) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(EINTR) => continue,
            Err(EAGAIN) => return true,
            Err(_) => return false,
        };
        let (head, payload) = buf[..n].split_at(HDR.min(n));
        let Some(addr) = address(head) else { continue };
        let p = payload.as_ptr() as usize;
        if addr.is_empty() {
            // The connected peer (none: the kernel says EDESTADDRREQ and the datagram is lost).
            sys::syscall6(sys::SENDTO, r.udp as usize, p, payload.len(), SEND_FLAGS, 0, 0);
        } else if matches!(decode(addr, false), Ok(Target::Ip(e)) if policy.may_connect(&e)) {
            let a = addr.as_ptr() as usize;
            sys::syscall6(sys::SENDTO, r.udp as usize, p, payload.len(), SEND_FLAGS, a, addr.len());
        }
    }
    true
}

/// Passes on what `r`'s socket received (up to BATCH datagrams) with each source address, all
/// in one sendmmsg (the app finds them queued together); a datagram the app has no room for
/// is dropped.
fn incoming(r: &Relay, buf: &mut [u8]) {
    // (start, length) of each message packed in buf.
    let mut msgs: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    let mut tries = 0;
    while msgs.len() < BATCH && tries < 2 * BATCH && buf.len() - at >= HDR + PAYLOAD_MAX {
        tries += 1;
        let mut from = [0u8; 128];
        let mut len = from.len() as u32;
        let (fp, lp) = (from.as_mut_ptr() as usize, &mut len as *mut u32 as usize);
        let data = buf[at + HDR..].as_mut_ptr() as usize;
        let n = match check(sys::syscall6(sys::RECVFROM, r.udp as usize, data, PAYLOAD_MAX, RECV_FLAGS, fp, lp)) {
            Ok(n) => n,
            Err(EAGAIN) => break,
            // EINTR, or a pending error (an ICMP refusal on a connected socket), taken and
            // dropped.
            Err(_) => continue,
        };
        let h = header(&from[..(len as usize).min(from.len())]);
        buf[at..at + HDR].copy_from_slice(&h);
        msgs.push((at, HDR + n));
        at = (at + HDR + n + 7) & !7;
    }
    if msgs.is_empty() {
        return;
    }
    // struct mmsghdr: msghdr (56 bytes) and msg_len, padded to 64.
    let iovs: Vec<[usize; 2]> = msgs.iter().map(|&(s, n)| [buf[s..].as_ptr() as usize, n]).collect();
    let mut mm: Vec<[usize; 8]> = iovs.iter().map(|v| [0, 0, v.as_ptr() as usize, 1, 0, 0, 0, 0]).collect();
    let mut done = 0;
    while done < mm.len() {
        let rest = mm[done..].as_mut_ptr() as usize;
        match check(sys::syscall6(sys::SENDMMSG, r.mine as usize, rest, mm.len() - done, SEND_FLAGS, 0, 0)) {
            Ok(k) if k > 0 => done += k,
            // The app's queue is full (drop the rest) or the app's end is gone.
            _ => return,
        }
    }
}
