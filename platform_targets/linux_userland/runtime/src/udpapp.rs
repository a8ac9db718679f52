//! The app's side of a UDP relay (udprelay.rs): which host descriptors of this process are the
//! app's end of a relay, and the socket calls on them translated to and from the relay's
//! messages (a [`HDR`]-byte address header before each payload).
//!
//! What differs from a native UDP socket: a datagram to an address the policy does not allow,
//! or to no address on an unconnected socket, is dropped by the supervisor instead of failing
//! (the library OS has already refused the first with EACCES); errors the network reports
//! later (ICMP refusals) are not reported; control messages are neither sent (sendmsg with
//! control data: EOPNOTSUPP) nor received (msg_controllen 0; MSG_ERRQUEUE: EAGAIN); `shutdown` acts on the real
//! socket but does not end a wait in recv; recvmmsg's timeout only makes the messages after
//! the first non-blocking; FIONREAD counts the next datagram; a relay passed to another
//! process with SCM_RIGHTS is not known there as one (fork children inherit the set).
use core::sync::atomic::{AtomicU64, Ordering};

use alloc::vec::Vec;
use litebox_libos::errno::*;
use litebox_libos::user;

use crate::broker::{request_data, ANSWER_MAX, OP_SOCKCALL};
use crate::signals;
use crate::sys::{self, check};
use crate::udprelay::{address, header, HDR, PAYLOAD_MAX};

/// Host descriptors below this number can be relays (a relay is refused above it).
const FDS: usize = 65536;
/// One bit per host descriptor: set while it is the app's end of a relay. Lock-free, so a
/// fork child copies it in a consistent state.
static RELAY: [AtomicU64; FDS / 64] = [const { AtomicU64::new(0) }; FDS / 64];

/// Records that host descriptor `fd` is the app's end of a relay (false: too high a number).
pub fn add(fd: i32) -> bool {
    let fd = fd as usize;
    if fd >= FDS {
        return false;
    }
    RELAY[fd / 64].fetch_or(1 << (fd % 64), Ordering::Relaxed);
    true
}

/// Forgets `fd` (it is being closed: its number may come back as anything else).
pub fn forget(fd: i32) {
    let fd = fd as usize;
    if fd < FDS {
        RELAY[fd / 64].fetch_and(!(1 << (fd % 64)), Ordering::Relaxed);
    }
}

/// Whether host descriptor `fd` is the app's end of a relay.
pub fn is_relay(fd: i32) -> bool {
    let fd = fd as usize;
    fd < FDS && RELAY[fd / 64].load(Ordering::Relaxed) & (1 << (fd % 64)) != 0
}

const MSG_PEEK: usize = 2;
const MSG_TRUNC: usize = 0x20;
const MSG_DONTWAIT: usize = 0x40;
const MSG_WAITFORONE: usize = 0x10000;
const MSG_ERRQUEUE: usize = 0x2000;
const MSGHDR: usize = 56;
const MMSGHDR: usize = 64;
/// UIO_MAXIOV.
const IOV_MAX: usize = 1024;

fn r(v: isize) -> Result<usize, Errno> {
    check(v)
}

fn word(b: &[u8], at: usize) -> usize {
    usize::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]))
}

/// The iovec array (base, len pairs) of a msghdr, checked to lie in the app's memory, with
/// `head` in front.
fn iovecs(head: &mut [u8; HDR], iov: usize, count: usize) -> Result<Vec<[usize; 2]>, Errno> {
    if count > IOV_MAX {
        return Err(EMSGSIZE);
    }
    let raw = if count == 0 { &[][..] } else { user::slice(iov, count * 16)? };
    let mut v = Vec::with_capacity(count + 1);
    v.push([head.as_mut_ptr() as usize, HDR]);
    for c in raw.chunks_exact(16) {
        let (base, len) = (word(c, 0), word(c, 8));
        user::check_range(base, len)?;
        v.push([base, len]);
    }
    Ok(v)
}

/// The iovecs of one datagram made of `iov` (app memory) behind `head`, and its payload length.
fn datagram(head: &mut [u8; HDR], iov: usize, count: usize) -> Result<(Vec<[usize; 2]>, usize), Errno> {
    let v = iovecs(head, iov, count)?;
    let total: usize = v[1..].iter().map(|p| p[1]).sum();
    if total > PAYLOAD_MAX {
        return Err(EMSGSIZE);
    }
    Ok((v, total))
}

/// The address of a msghdr whose name is a checked runtime copy (empty: none).
fn msg_name(hdr: &[u8]) -> &[u8] {
    let (name, len) = (word(hdr, 0), u32::from_le_bytes(hdr[8..12].try_into().unwrap_or([0; 4])) as usize);
    if name == 0 || len == 0 {
        return &[];
    }
    // SAFETY: the library OS copied the address into runtime memory of this length and keeps
    // it alive for the call (shim/net.rs, msg_in).
    unsafe { core::slice::from_raw_parts(name as *const u8, len) }
}

/// Sends one datagram made of `iov` (app memory) to `addr` (empty: the connected peer).
fn send(fd: i32, iov: usize, count: usize, addr: &[u8], flags: usize) -> Result<usize, Errno> {
    let mut head = header(addr);
    let (v, total) = datagram(&mut head, iov, count)?;
    let mut msg = [0usize; 7];
    msg[2] = v.as_ptr() as usize;
    msg[3] = v.len();
    let flags = (flags & MSG_DONTWAIT) | sys::MSG_NOSIGNAL;
    let p = msg.as_ptr() as usize;
    signals::blocking(|| r(sys::window_syscall3(sys::SENDMSG, fd as usize, p, flags)))?;
    sync();
    Ok(total)
}

/// Waits until the supervisor has sent what this process queued (see broker.rs,
/// OP_UDP_SYNC); a failure only means the datagrams go out a moment later.
fn sync() {
    let _ = crate::broker::request(crate::broker::OP_UDP_SYNC, [0; 3], &[], None);
}

/// One datagram received: its length (the payload's, or its full length with MSG_TRUNC),
/// the source address, and whether it was cut.
struct Got {
    len: usize,
    from: Vec<u8>,
    truncated: bool,
}

/// Receives one datagram into `iov` (app memory).
fn recv(fd: i32, iov: usize, count: usize, flags: usize) -> Result<Got, Errno> {
    if flags & MSG_ERRQUEUE != 0 {
        // Nothing is ever queued there (errors are not relayed).
        return Err(EAGAIN);
    }
    let mut head = [0u8; HDR];
    let v = iovecs(&mut head, iov, count)?;
    let mut msg = [0usize; 7];
    msg[2] = v.as_ptr() as usize;
    msg[3] = v.len();
    let flags = flags & (MSG_DONTWAIT | MSG_PEEK | MSG_TRUNC);
    let p = msg.as_mut_ptr() as usize;
    let n = signals::blocking(|| r(sys::window_syscall3(sys::RECVMSG, fd as usize, p, flags)))?;
    let mflags = msg[6] as u32 as usize;
    if n < HDR {
        // The supervisor is gone (end of file): nothing more will come.
        return Ok(Got { len: 0, from: Vec::new(), truncated: false });
    }
    let from = address(&head).unwrap_or(&[]).to_vec();
    Ok(Got { len: n - HDR, from, truncated: mflags & MSG_TRUNC != 0 })
}

/// Copies `from` to the app's address buffer `ptr` with room `*lenp`, and sets `*lenp` to
/// its full length (as the kernel does).
fn put_name(ptr: usize, lenp: usize, from: &[u8]) -> Result<(), Errno> {
    if ptr == 0 || lenp == 0 {
        return Ok(());
    }
    let room = user::read::<u32>(lenp)? as usize;
    let n = room.min(from.len());
    user::slice_mut(ptr, n)?.copy_from_slice(&from[..n]);
    user::write(lenp, &(from.len() as u32))
}

/// recvmsg with `hdr` a msghdr whose name and iovecs are in app memory: fills the name,
/// msg_namelen, msg_controllen (0) and msg_flags in `hdr`.
fn recv_hdr(fd: i32, hdr: &mut [u8], flags: usize) -> Result<usize, Errno> {
    let got = recv(fd, word(hdr, 16), word(hdr, 24), flags)?;
    let (name, room) = (word(hdr, 0), u32::from_le_bytes(hdr[8..12].try_into().unwrap_or([0; 4])) as usize);
    if name != 0 {
        let n = room.min(got.from.len());
        user::slice_mut(name, n)?.copy_from_slice(&got.from[..n]);
        hdr[8..12].copy_from_slice(&(got.from.len() as u32).to_le_bytes());
    }
    hdr[40..48].copy_from_slice(&0usize.to_le_bytes());
    let mflags = if got.truncated { MSG_TRUNC as i32 } else { 0 };
    hdr[48..52].copy_from_slice(&mflags.to_le_bytes());
    Ok(got.len)
}

/// sendmsg with `hdr` a msghdr whose name is a checked runtime copy (control data refused).
fn send_hdr(fd: i32, hdr: &[u8], flags: usize) -> Result<usize, Errno> {
    if word(hdr, 40) != 0 && word(hdr, 32) != 0 {
        return Err(EOPNOTSUPP);
    }
    send(fd, word(hdr, 16), word(hdr, 24), msg_name(hdr), flags)
}

/// A socket call on relay `fd` as the library OS hands it to the platform (host descriptor,
/// runtime copies of addresses and headers the shim made). None: not a call served here.
pub fn net_call(nr: usize, a: [usize; 6]) -> Option<Result<usize, Errno>> {
    use litebox_libos::shim::nr;
    let fd = a[0] as i32;
    Some(match nr {
        nr::SENDTO => {
            let iov = [a[1], a[2]];
            let addr = if a[4] == 0 || a[5] == 0 {
                &[][..]
            } else {
                // SAFETY: the library OS passes a checked runtime copy of the address of
                // this length (shim/net.rs, sendto), alive for the call.
                unsafe { core::slice::from_raw_parts(a[4] as *const u8, a[5]) }
            };
            send(fd, iov.as_ptr() as usize, 1, addr, a[3])
        }
        nr::RECVFROM => {
            let iov = [a[1], a[2]];
            recv(fd, iov.as_ptr() as usize, 1, a[3]).and_then(|g| put_name(a[4], a[5], &g.from).map(|_| g.len))
        }
        nr::SENDMSG => {
            // SAFETY: a runtime copy of the app's msghdr (shim/net.rs, msg_in).
            let hdr = unsafe { core::slice::from_raw_parts(a[1] as *const u8, MSGHDR) };
            send_hdr(fd, hdr, a[2])
        }
        nr::RECVMSG => {
            // SAFETY: a runtime copy of the app's msghdr the shim copies back (recvmsg).
            let hdr = unsafe { core::slice::from_raw_parts_mut(a[1] as *mut u8, MSGHDR) };
            recv_hdr(fd, hdr, a[2])
        }
        nr::SENDMMSG => sendmmsg(fd, a[1], a[2], a[3]),
        nr::RECVMMSG => recvmmsg(fd, a[1], a[2], a[3], a[4]),
        nr::GETSOCKNAME | nr::GETPEERNAME => getname(fd, nr, a[1], a[2]),
        nr::GETSOCKOPT => getsockopt(fd, a),
        nr::SETSOCKOPT => setsockopt(fd, a),
        nr::SHUTDOWN => request_data(OP_SOCKCALL, [nr as u64, a[1] as u64, 0], &[], Some(fd), &mut []).map(|v| v.0),
        nr::ACCEPT4 => Err(EOPNOTSUPP),
        _ => return None,
    })
}

/// sendmmsg over `flat`, the shim's runtime array of `n` mmsghdrs, in one host sendmmsg (the
/// supervisor finds the datagrams queued together): stops before the first malformed message
/// (its error if it is the first), as Linux does; writes each msg_len.
fn sendmmsg(fd: i32, flat: usize, n: usize, flags: usize) -> Result<usize, Errno> {
    // SAFETY: the shim's runtime array of n entries (shim/net.rs, sendmmsg), alive for the call.
    let all = unsafe { core::slice::from_raw_parts_mut(flat as *mut u8, n * MMSGHDR) };
    let mut heads = alloc::vec![[0u8; HDR]; n];
    let mut parts: Vec<(Vec<[usize; 2]>, usize)> = Vec::with_capacity(n);
    for (m, head) in all.chunks_exact(MMSGHDR).zip(heads.iter_mut()) {
        let hdr = &m[..MSGHDR];
        let part = if word(hdr, 40) != 0 && word(hdr, 32) != 0 {
            Err(EOPNOTSUPP)
        } else {
            *head = header(msg_name(hdr));
            datagram(head, word(hdr, 16), word(hdr, 24))
        };
        match part {
            Ok(p) => parts.push(p),
            Err(e) if parts.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    let mut mm: Vec<[usize; 8]> = parts.iter().map(|(v, _)| [0, 0, v.as_ptr() as usize, v.len(), 0, 0, 0, 0]).collect();
    let (p, k) = (mm.as_mut_ptr() as usize, mm.len());
    let flags = (flags & MSG_DONTWAIT) | sys::MSG_NOSIGNAL;
    let sent = signals::blocking(|| r(sys::window_syscall6(sys::SENDMMSG, fd as usize, p, k, flags, 0, 0)))?;
    sync();
    for (m, (_, len)) in all.chunks_exact_mut(MMSGHDR).zip(parts.iter()).take(sent) {
        m[MSGHDR..MSGHDR + 4].copy_from_slice(&(*len as u32).to_le_bytes());
    }
    Ok(sent)
}

/// recvmmsg on the app's array `vec` of `n` mmsghdrs. After the first message the rest are
/// taken without waiting when MSG_WAITFORONE or a timeout is given; otherwise it waits for
/// all of them (a blocking socket), as Linux does.
fn recvmmsg(fd: i32, vec: usize, n: usize, flags: usize, timeout: usize) -> Result<usize, Errno> {
    let mut got = 0;
    for i in 0..n.min(IOV_MAX) {
        let at = vec + i * MMSGHDR;
        let mut hdr = [0u8; MSGHDR];
        hdr.copy_from_slice(user::slice(at, MSGHDR)?);
        let f = if got > 0 && (flags & MSG_WAITFORONE != 0 || timeout != 0) { flags | MSG_DONTWAIT } else { flags };
        match recv_hdr(fd, &mut hdr, f) {
            Ok(len) => {
                user::write(at + 8, &u32::from_le_bytes(hdr[8..12].try_into().unwrap_or([0; 4])))?;
                user::write(at + 40, &0usize)?;
                user::write(at + 48, &i32::from_le_bytes(hdr[48..52].try_into().unwrap_or([0; 4])))?;
                user::write(at + MSGHDR, &(len as u32))?;
            }
            Err(e) if got == 0 => return Err(e),
            Err(_) => break,
        }
        got += 1;
    }
    Ok(got)
}

/// getsockname/getpeername of the relay's socket, into the app's buffer `ptr` with room at
/// `lenp` (the shim checked both).
fn getname(fd: i32, nr: usize, ptr: usize, lenp: usize) -> Result<usize, Errno> {
    let mut out = [0u8; ANSWER_MAX];
    let (len, _, n) = request_data(OP_SOCKCALL, [nr as u64, 0, 0], &[], Some(fd), &mut out)?;
    let room = user::read::<u32>(lenp)? as usize;
    let k = room.min(n);
    user::slice_mut(ptr, k)?.copy_from_slice(&out[..k]);
    user::write(lenp, &(len as u32))?;
    Ok(0)
}

fn getsockopt(fd: i32, a: [usize; 6]) -> Result<usize, Errno> {
    let room = user::read::<u32>(a[4])?;
    let mut out = [0u8; ANSWER_MAX];
    let ask = [a[1] as u64, a[2] as u64];
    let (len, _, n) = request_data(
        OP_SOCKCALL,
        [litebox_libos::shim::nr::GETSOCKOPT as u64, ask[0], ask[1]],
        &room.to_le_bytes(),
        Some(fd),
        &mut out,
    )?;
    let k = (room as usize).min(n);
    user::slice_mut(a[3], k)?.copy_from_slice(&out[..k]);
    user::write(a[4], &(len as u32))?;
    Ok(0)
}

/// setsockopt on the relay's socket; the time-outs of SOL_SOCKET act on the app's end too
/// (where the app waits).
fn setsockopt(fd: i32, a: [usize; 6]) -> Result<usize, Errno> {
    let value = user::slice(a[3], a[4].min(ANSWER_MAX))?.to_vec();
    let (level, opt) = (a[1] as i32, a[2] as i32);
    // SO_RCVTIMEO(_NEW), SO_SNDTIMEO(_NEW).
    if level == 1 && matches!(opt, 20 | 21 | 66 | 67) {
        const SETSOCKOPT: usize = 54;
        r(sys::syscall6(SETSOCKOPT, fd as usize, a[1], a[2], value.as_ptr() as usize, value.len(), 0))?;
    }
    let nr = litebox_libos::shim::nr::SETSOCKOPT as u64;
    request_data(OP_SOCKCALL, [nr, a[1] as u64, a[2] as u64], &value, Some(fd), &mut []).map(|v| v.0)
}

/// read(2) on a relay: one datagram, cut to `buf`.
pub fn read(fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
    let iov = [buf.as_mut_ptr() as usize, buf.len()];
    recv_local(fd, &iov, 0).map(|g| g.len)
}

/// write(2) on a relay: one datagram to the connected peer.
pub fn write(fd: i32, buf: &[u8]) -> Result<usize, Errno> {
    let iov = [buf.as_ptr() as usize, buf.len()];
    send_local(fd, &iov)
}

/// recv into one runtime-or-app buffer given by the library OS (already checked by it).
fn recv_local(fd: i32, iov: &[usize; 2], flags: usize) -> Result<Got, Errno> {
    let mut head = [0u8; HDR];
    let v = [[head.as_mut_ptr() as usize, HDR], *iov];
    let mut msg = [0usize; 7];
    msg[2] = v.as_ptr() as usize;
    msg[3] = 2;
    let p = msg.as_mut_ptr() as usize;
    let n = signals::blocking(|| r(sys::window_syscall3(sys::RECVMSG, fd as usize, p, flags)))?;
    let len = n.saturating_sub(HDR);
    Ok(Got { len, from: Vec::new(), truncated: false })
}

fn send_local(fd: i32, iov: &[usize; 2]) -> Result<usize, Errno> {
    if iov[1] > PAYLOAD_MAX {
        return Err(EMSGSIZE);
    }
    let mut head = header(&[]);
    let v = [[head.as_mut_ptr() as usize, HDR], *iov];
    let mut msg = [0usize; 7];
    msg[2] = v.as_ptr() as usize;
    msg[3] = 2;
    let p = msg.as_ptr() as usize;
    signals::blocking(|| r(sys::window_syscall3(sys::SENDMSG, fd as usize, p, sys::MSG_NOSIGNAL)))?;
    sync();
    Ok(iov[1])
}

/// FIONREAD on a relay: the length of the next datagram's payload (0: none).
pub fn pending(n: usize) -> usize {
    n.saturating_sub(HDR)
}
