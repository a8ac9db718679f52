//! The core's TCP/IP stack (`netstack/`, the `netstack` feature) through the socket shim on the
//! mock platform: the app's stack (10.0.2.15, as in the VM) is wired back to back to a second
//! stack playing the host (10.0.2.2, slirp's gateway, where 127.0.0.1 of the app goes). The
//! host's stack is polled by the app's card whenever the app's stack looks for frames, so the
//! app's blocking calls make progress on their own.
//!
//! The stack is process-wide (a VM has one card): this file is its own test binary, and its
//! one test runs the steps in order.
#![cfg(feature = "netstack")]
#![deny(unsafe_op_in_unsafe_fn)]

mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::mock::{Ids, Mock, Sys};
use litebox_libos::abi::*;
use litebox_libos::errno::*;
use litebox_libos::net::{Endpoint, NetPolicy};
use litebox_libos::netstack::{self, Addressing, NetDevice, Stack};
use litebox_libos::shim::nr::*;
use litebox_libos::LibOs;
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp;

type Queue = Arc<Mutex<VecDeque<Vec<u8>>>>;

/// The stacks' clock: a millisecond passes at every look (nothing is lost on the wire, so only
/// TCP's delayed ACKs and close timers care).
static NOW: AtomicU64 = AtomicU64::new(1_000_000_000);
fn clock() -> u64 {
    NOW.fetch_add(1_000_000, Ordering::Relaxed)
}

/// One end of the wire; the app's end polls the host's stack before it looks for frames.
struct Wire {
    mac: [u8; 6],
    rx: Queue,
    tx: Queue,
    peer: Option<Arc<Mutex<Stack>>>,
}

impl NetDevice for Wire {
    fn mac(&self) -> [u8; 6] {
        self.mac
    }
    fn max_frame(&self) -> usize {
        1514
    }
    fn can_send(&mut self) -> bool {
        true
    }
    fn receive(&mut self) -> Option<Vec<u8>> {
        if let Some(p) = &self.peer {
            p.lock().unwrap().poll();
        }
        self.rx.lock().unwrap().pop_front()
    }
    fn transmit(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool {
        let mut f = vec![0u8; len];
        fill(&mut f);
        self.tx.lock().unwrap().push_back(f);
        true
    }
}

const HOST: Addressing = Addressing { ip: [10, 0, 2, 2], prefix: 24, gateway: [10, 0, 2, 15] };

fn sockaddr(ip: [u8; 4], port: u16) -> [u8; 16] {
    let mut sa = [0u8; 16];
    sa[0..2].copy_from_slice(&2u16.to_le_bytes());
    sa[2..4].copy_from_slice(&port.to_be_bytes());
    sa[4..8].copy_from_slice(&ip);
    sa
}

fn v4(ip: [u8; 4], port: u16) -> Endpoint {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&ip);
    Endpoint::new(4, a, port)
}

/// Polls both stacks until `f` holds (the host side's steps).
fn until(host: &Arc<Mutex<Stack>>, mut f: impl FnMut(&mut Stack) -> bool) {
    for _ in 0..10_000 {
        netstack::poll();
        let mut h = host.lock().unwrap();
        h.poll();
        if f(&mut h) {
            return;
        }
    }
    panic!("the stacks never got there");
}

fn host_recv(host: &Arc<Mutex<Stack>>, h: SocketHandle, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    until(host, |st| {
        let mut buf = [0u8; 256];
        if let Ok(n) = st.tcp(h).recv_slice(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got.len() >= want
    });
    got
}

#[test]
fn tcp_through_the_shim_over_a_wire() {
    let (a_to_b, b_to_a): (Queue, Queue) = Default::default();
    let host_dev = Wire { mac: [2, 0, 0, 0, 0, 2], rx: a_to_b.clone(), tx: b_to_a.clone(), peer: None };
    let host = Arc::new(Mutex::new(Stack::new(Box::new(host_dev), HOST, 7, clock)));
    let app_dev = Wire { mac: [2, 0, 0, 0, 0, 15], rx: b_to_a, tx: a_to_b, peer: Some(host.clone()) };
    assert!(netstack::init(Some(Box::new(app_dev)), 42, clock));

    let mut os = LibOs::new(Mock::new(Ids::default()), common::vfs(), b"/", b"litebox-test", false);
    os.net = NetPolicy { listen: vec![v4([127, 0, 0, 1], 9090)], connect: vec![v4([127, 0, 0, 1], 0)] };
    let os: &'static LibOs<Mock> = Box::leak(Box::new(os));
    os.attach_proc();
    let mut s = Sys { os, sigmask: 0 };

    // Outgoing: 127.0.0.1:8080 is the host's port 8080.
    host.lock().unwrap().listen(8080, 4).unwrap();
    let fd = s.sys(SOCKET, &[2, 1, 0]).unwrap();
    let st = s.fstat(fd).unwrap();
    assert_eq!(st.st_mode & S_IFMT, S_IFSOCK);
    let sa = sockaddr([127, 0, 0, 1], 8080);
    assert_eq!(s.sys(CONNECT, &[fd, sa.as_ptr() as usize, 16]), Ok(0));
    let mut hc = None;
    until(&host, |st| {
        hc = st.take_connection(8080);
        hc.is_some()
    });
    let hc = hc.unwrap();
    let mut peer = [0u8; 16];
    let mut len = 16u32;
    s.sys(GETPEERNAME, &[fd, peer.as_mut_ptr() as usize, &mut len as *mut u32 as usize]).unwrap();
    assert_eq!(peer, sockaddr([127, 0, 0, 1], 8080), "the host's alias is shown as the loopback");
    assert_eq!(s.write(fd, b"ping"), Ok(4));
    assert_eq!(host_recv(&host, hc, 4), b"ping");
    host.lock().unwrap().tcp(hc).send_slice(b"pong").unwrap();
    assert_eq!(s.read(fd, 16).unwrap(), b"pong");
    // poll(2) sees the socket's readiness directly (a core kernel object).
    let mut pfd = PollFd { fd: fd as i32, events: POLLIN | POLLOUT, revents: 0 };
    assert_eq!(s.sys(POLL, &[&mut pfd as *mut PollFd as usize, 1, 0]), Ok(1));
    assert_eq!(pfd.revents, POLLOUT);
    host.lock().unwrap().tcp(hc).close();
    assert_eq!(s.read(fd, 16).unwrap(), b"", "end of stream after the host's FIN");
    assert_eq!(s.close(fd), Ok(0));
    until(&host, |st| st.tcp(hc).state() == tcp::State::Closed || st.tcp(hc).state() == tcp::State::TimeWait);

    // Nothing listens on the host's port 8081: refused (a reset answers).
    let fd = s.sys(SOCKET, &[2, 1, 0]).unwrap();
    let sa = sockaddr([127, 0, 0, 1], 8081);
    assert_eq!(s.sys(CONNECT, &[fd, sa.as_ptr() as usize, 16]), Err(ECONNREFUSED));
    s.close(fd).unwrap();
    // The policy is checked before the stack sees anything.
    let fd = s.sys(SOCKET, &[2, 1, 0]).unwrap();
    let sa = sockaddr([127, 0, 0, 1], 9091);
    assert_eq!(s.sys(BIND, &[fd, sa.as_ptr() as usize, 16]), Err(EACCES));
    s.close(fd).unwrap();
    // Only TCP over IPv4.
    assert_eq!(s.sys(SOCKET, &[2, 2, 0]), Err(EPROTONOSUPPORT));
    assert_eq!(s.sys(SOCKET, &[10, 1, 0]), Err(EAFNOSUPPORT));

    // Incoming: the app listens on 127.0.0.1:9090, which is the card's port 9090.
    let lfd = s.sys(SOCKET, &[2, 1 | 0o4000, 0]).unwrap();
    let sa = sockaddr([127, 0, 0, 1], 9090);
    s.sys(BIND, &[lfd, sa.as_ptr() as usize, 16]).unwrap();
    s.sys(LISTEN, &[lfd, 8]).unwrap();
    assert_eq!(s.sys(ACCEPT4, &[lfd, 0, 0, 0]), Err(EAGAIN));
    let hs = {
        let mut guard = host.lock().unwrap();
        let st = &mut *guard;
        let h = st.new_socket();
        let cx = st.iface.context();
        st.sockets
            .get_mut::<tcp::Socket>(h)
            .connect(cx, (smoltcp::wire::IpAddress::v4(10, 0, 2, 15), 9090), 40000)
            .unwrap();
        h
    };
    let mut pfd = PollFd { fd: lfd as i32, events: POLLIN, revents: 0 };
    assert_eq!(s.sys(POLL, &[&mut pfd as *mut PollFd as usize, 1, usize::MAX]), Ok(1));
    assert_eq!(pfd.revents, POLLIN);
    let mut peer = [0u8; 16];
    let mut len = 16u32;
    let cfd = s.sys(ACCEPT4, &[lfd, peer.as_mut_ptr() as usize, &mut len as *mut u32 as usize, 0]).unwrap();
    assert_eq!(peer, sockaddr([127, 0, 0, 1], 40000));
    until(&host, |st| st.tcp(hs).may_send());
    host.lock().unwrap().tcp(hs).send_slice(b"hello").unwrap();
    assert_eq!(s.read(cfd, 16).unwrap(), b"hello");
    assert_eq!(s.write(cfd, b"world"), Ok(5));
    assert_eq!(host_recv(&host, hs, 5), b"world");
    s.close(cfd).unwrap();
    until(&host, |st| !st.tcp(hs).may_recv());
    s.close(lfd).unwrap();
}
