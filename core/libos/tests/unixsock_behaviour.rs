//! The library OS's own Unix-domain sockets (`unixsock.rs`, `shim/unixcalls.rs`) on the mock
//! platform, which has no host passthrough (as kvm). The mock's waits never block: one without
//! a deadline ends at once with EINTR (as a handled signal would end it).
#![deny(unsafe_op_in_unsafe_fn)]

mod common;

use common::mock::Sys;
use litebox_libos::abi::*;
use litebox_libos::errno::*;
use litebox_libos::shim::nr::*;

const AF_UNIX: usize = 1;
const SOCK_STREAM: usize = 1;
const SOCK_DGRAM: usize = 2;
const SOCK_SEQPACKET: usize = 5;
const SOCK_NONBLOCK: usize = 0o4000;
const MSG_PEEK: usize = 2;
const MSG_DONTWAIT: usize = 0x40;
const MSG_NOSIGNAL: usize = 0x4000;

fn pair(s: &mut Sys, ty: usize) -> (usize, usize) {
    let mut sv = [0i32; 2];
    assert_eq!(s.sys(SOCKETPAIR, &[AF_UNIX, ty, 0, sv.as_mut_ptr() as usize]), Ok(0));
    (sv[0] as usize, sv[1] as usize)
}

/// A `struct sockaddr_un` for `sun_path` (a path, or an abstract name starting with NUL) and its
/// length as the app passes it.
fn addr(sun_path: &[u8]) -> ([u8; 110], usize) {
    let mut a = [0u8; 110];
    a[0] = AF_UNIX as u8;
    a[2..2 + sun_path.len()].copy_from_slice(sun_path);
    let len = 2 + sun_path.len() + usize::from(sun_path.first() != Some(&0));
    (a, len)
}

fn send(s: &mut Sys, fd: usize, data: &[u8], flags: usize) -> Result<usize, Errno> {
    s.sys(SENDTO, &[fd, data.as_ptr() as usize, data.len(), flags, 0, 0])
}

fn recv(s: &mut Sys, fd: usize, len: usize, flags: usize) -> Result<Vec<u8>, Errno> {
    let mut b = vec![0u8; len];
    let n = s.sys(RECVFROM, &[fd, b.as_mut_ptr() as usize, len, flags, 0, 0])?;
    b.truncate(n);
    Ok(b)
}

#[test]
fn pair_data_eof_and_epipe() {
    let mut s = Sys::new();
    let (a, b) = pair(&mut s, SOCK_STREAM);
    assert_eq!(s.fstat(a).unwrap().st_mode & S_IFMT, S_IFSOCK);
    assert_eq!(s.write(a, b"hello"), Ok(5));
    assert_eq!(recv(&mut s, b, 2, MSG_PEEK).unwrap(), b"he");
    assert_eq!(s.read(b, 16).unwrap(), b"hello");
    assert_eq!(recv(&mut s, b, 16, MSG_DONTWAIT), Err(EAGAIN));
    // Nothing there and no deadline: the wait ends with EINTR on the mock.
    assert_eq!(s.read(b, 16), Err(EINTR));
    assert_eq!(s.write(b, b"x"), Ok(1));
    s.close(b).unwrap();
    assert_eq!(s.read(a, 16).unwrap(), b"x");
    assert_eq!(s.read(a, 16).unwrap(), b"");
    assert_eq!(send(&mut s, a, b"y", MSG_NOSIGNAL), Err(EPIPE));
}

#[test]
fn full_queue_gives_eagain_and_shutdown_mirrors() {
    let mut s = Sys::new();
    let (a, b) = pair(&mut s, SOCK_STREAM | SOCK_NONBLOCK);
    let chunk = vec![7u8; 4096];
    let mut total = 0;
    loop {
        match s.write(a, &chunk) {
            Ok(n) => total += n,
            Err(e) => {
                assert_eq!(e, EAGAIN);
                break;
            }
        }
        assert!(total < 1 << 24, "the queue never filled");
    }
    assert_eq!(total, litebox_libos::unixsock::QUEUE_CAP);
    assert_eq!(s.sys(SHUTDOWN, &[a, 1]), Ok(0));
    assert_eq!(s.read(b, total).unwrap().len(), total);
    assert_eq!(s.read(b, 16).unwrap(), b"", "the peer's SHUT_WR is EOF");
    assert_eq!(send(&mut s, a, b"z", MSG_NOSIGNAL), Err(EPIPE));
}

#[test]
fn datagrams_keep_boundaries() {
    let mut s = Sys::new();
    for ty in [SOCK_DGRAM, SOCK_SEQPACKET] {
        let (a, b) = pair(&mut s, ty);
        assert_eq!(s.write(a, b"ab"), Ok(2));
        assert_eq!(s.write(a, b"cde"), Ok(3));
        assert_eq!(s.read(b, 16).unwrap(), b"ab");
        assert_eq!(s.read(b, 1).unwrap(), b"c", "the rest of a message is dropped");
        assert_eq!(recv(&mut s, b, 16, MSG_DONTWAIT), Err(EAGAIN));
    }
}

#[test]
fn named_stream_listen_connect_accept() {
    let mut s = Sys::new();
    let srv = s.sys(SOCKET, &[AF_UNIX, SOCK_STREAM, 0]).unwrap();
    let (a, len) = addr(b"/tmp/sock");
    assert_eq!(s.sys(LISTEN, &[srv, 4]), Err(EINVAL), "unbound");
    assert_eq!(s.sys(BIND, &[srv, a.as_ptr() as usize, len]), Ok(0));
    let st = s.stat("/tmp/sock").unwrap();
    assert_eq!((st.st_mode & S_IFMT, st.st_mode & 0o777), (S_IFSOCK, 0o755));
    let other = s.sys(SOCKET, &[AF_UNIX, SOCK_STREAM, 0]).unwrap();
    assert_eq!(s.sys(BIND, &[other, a.as_ptr() as usize, len]), Err(EADDRINUSE));
    assert_eq!(s.sys(CONNECT, &[other, a.as_ptr() as usize, len]), Err(ECONNREFUSED), "not listening");
    assert_eq!(s.sys(LISTEN, &[srv, 4]), Ok(0));
    assert_eq!(s.sys(CONNECT, &[other, a.as_ptr() as usize, len]), Ok(0));
    let conn = s.sys(ACCEPT4, &[srv, 0, 0, 0]).unwrap();
    assert_eq!(s.write(other, b"ping"), Ok(4));
    assert_eq!(s.read(conn, 8).unwrap(), b"ping");
    let mut cred = [0u32; 3];
    let mut clen = 12u32;
    let (cp, lp) = (cred.as_mut_ptr() as usize, &mut clen as *mut u32 as usize);
    assert_eq!(s.sys(GETSOCKOPT, &[conn, 1, 17 /* SO_PEERCRED */, cp, lp]), Ok(0));
    assert_eq!(clen, 12);
    let mut peer = [0u8; 110];
    let mut nlen = 110u32;
    let (np, nl) = (peer.as_mut_ptr() as usize, &mut nlen as *mut u32 as usize);
    assert_eq!(s.sys(GETPEERNAME, &[other, np, nl]), Ok(0));
    assert_eq!(&peer[2..nlen as usize], b"/tmp/sock\0");
    let (missing, mlen) = addr(b"/tmp/none");
    let late = s.sys(SOCKET, &[AF_UNIX, SOCK_STREAM, 0]).unwrap();
    assert_eq!(s.sys(CONNECT, &[late, missing.as_ptr() as usize, mlen]), Err(ENOENT));
    let dg = s.sys(SOCKET, &[AF_UNIX, SOCK_DGRAM, 0]).unwrap();
    assert_eq!(s.sys(CONNECT, &[dg, a.as_ptr() as usize, len]), Err(EPROTOTYPE));
    s.close(srv).unwrap();
    assert_eq!(s.sys(CONNECT, &[late, a.as_ptr() as usize, len]), Err(ECONNREFUSED), "closed");
}

#[test]
fn abstract_names_are_freed_on_close() {
    let mut s = Sys::new();
    let (a, len) = addr(b"\0litebox-unit");
    let one = s.sys(SOCKET, &[AF_UNIX, SOCK_DGRAM, 0]).unwrap();
    assert_eq!(s.sys(BIND, &[one, a.as_ptr() as usize, len]), Ok(0));
    let two = s.sys(SOCKET, &[AF_UNIX, SOCK_DGRAM, 0]).unwrap();
    assert_eq!(s.sys(BIND, &[two, a.as_ptr() as usize, len]), Err(EADDRINUSE));
    let msg = b"dg";
    assert_eq!(s.sys(SENDTO, &[two, msg.as_ptr() as usize, 2, 0, a.as_ptr() as usize, len]), Ok(2));
    assert_eq!(s.read(one, 8).unwrap(), b"dg");
    s.close(one).unwrap();
    assert_eq!(s.sys(BIND, &[two, a.as_ptr() as usize, len]), Ok(0));
}
