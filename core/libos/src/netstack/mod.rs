//! The TCP/IP stack of a platform without host sockets (a VM): smoltcp's interface over a
//! [`NetDevice`] the platform implements (kvm: its virtio network card), and the socket set the
//! app's TCP sockets ([`tcpsock`], core kernel objects in the descriptor table) live in. Built with
//! the `netstack` cargo feature; used once a platform calls [`init`] (linux-userland never does:
//! its sockets are the host's).
//!
//! The addressing is that of QEMU's user-mode network (slirp), which `litebox run` attaches:
//! the VM is 10.0.2.15/24, the gateway 10.0.2.2 is the host's loopback seen from the VM (see
//! `tcpsock.rs` for how 127.0.0.1 maps onto it). There are no interrupts: the stack is polled
//! before each readiness check of a wait of a socket call, by the platform while it waits
//! (`Platform::block_until`) and idles (at least every [`poll_interval`]), and after
//! every send.
//! A connection the app closed lives on as an orphan until its FIN is acknowledged (or its
//! timeout passes), then it is freed.
//!
//! A listening port is a pool of smoltcp sockets (smoltcp gives each connection its own
//! socket): [`IDLE_LISTENERS`] stay in LISTEN, those that got a connection wait in the pool
//! until accept() takes them. Frames are taken in one at a time and the pools refilled after
//! each, so a burst of connection requests finds listeners; when a port's queue is full (the
//! app's backlog, at least [`MIN_WAITING`]), its SYNs are dropped before smoltcp sees them
//! (the peer retries), as Linux drops them, instead of being answered with a reset.
pub mod tcpsock;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpListenEndpoint, Ipv4Address};

use crate::errno::*;
use crate::sync::SpinMutex;

/// A network card as the stack sees it: Ethernet frames in and out, polled (no interrupts).
pub trait NetDevice: Send {
    /// The card's MAC address.
    fn mac(&self) -> [u8; 6];
    /// The largest frame it sends or receives, Ethernet header included.
    fn max_frame(&self) -> usize;
    /// Whether a frame can be queued for sending now.
    fn can_send(&mut self) -> bool;
    /// The next received frame, if one arrived.
    fn receive(&mut self) -> Option<Vec<u8>>;
    /// Sends a frame of `len` bytes that `fill` writes in place; false (nothing sent, `fill`
    /// not called) when no transmit buffer is free.
    fn transmit(&mut self, len: usize, fill: &mut dyn FnMut(&mut [u8])) -> bool;
}

/// The addresses of a stack: its own, the prefix length of its network and the gateway.
#[derive(Clone, Copy)]
pub struct Addressing {
    pub ip: [u8; 4],
    pub prefix: u8,
    pub gateway: [u8; 4],
}

/// slirp's: the VM at 10.0.2.15/24, the host's loopback at 10.0.2.2.
pub const SLIRP: Addressing = Addressing { ip: GUEST_IP, prefix: PREFIX, gateway: HOST_ALIAS };

/// The VM's address and the host's loopback as the VM reaches it (slirp's defaults).
pub const GUEST_IP: [u8; 4] = [10, 0, 2, 15];
pub const HOST_ALIAS: [u8; 4] = [10, 0, 2, 2];
const PREFIX: u8 = 24;
/// Each connection's receive and send buffers.
pub const SOCK_BUF: usize = 64 * 1024;
/// How often a waiting thread looks at the card (there are no interrupts): often while
/// traffic flows, less when the network has been quiet for [`QUIET_NS`].
const POLL_BUSY_NS: u64 = 200_000;
const POLL_QUIET_NS: u64 = 2_000_000;
const QUIET_NS: u64 = 50_000_000;
/// Local ports for connect() without bind (Linux's default range).
pub const EPHEMERAL: core::ops::RangeInclusive<u16> = 32768..=60999;

/// Listening sockets kept ready on a port.
const IDLE_LISTENERS: usize = 2;
/// Connections that may wait for accept() on a port, at least: more than a small backlog
/// asks for. A client of a forwarded port has been accepted by the host's side of the forward
/// already; a SYN the VM drops only waits for QEMU's retransmission (seconds, doubling), so
/// a burst of clients is better held here than refused. 64 waiting connections hold 8 MiB.
const MIN_WAITING: usize = 64;

/// The card as smoltcp's device, with the ports whose connection requests are dropped.
struct Card {
    dev: Box<dyn NetDevice>,
    drop_syn_to: BTreeSet<u16>,
}
struct Rx(Vec<u8>);
struct Tx<'a>(&'a mut dyn NetDevice);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let (mut f, mut r) = (Some(f), None);
        self.0.transmit(len, &mut |b| r = f.take().map(|f| f(b)));
        match (r, f) {
            (Some(r), _) => r,
            // No buffer was free after all: the frame is built and dropped, as a busy card does.
            (None, Some(f)) => f(&mut alloc::vec![0u8; len]),
            (None, None) => unreachable!("the frame was built, so `send` returned it"),
        }
    }
}

impl Device for Card {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(Rx, Tx<'_>)> {
        if !self.dev.can_send() {
            return None; // frames wait in the ring until a reply can go out
        }
        loop {
            let frame = self.dev.receive()?;
            if syn_port(&frame).is_some_and(|p| self.drop_syn_to.contains(&p)) {
                continue;
            }
            return Some((Rx(frame), Tx(&mut *self.dev)));
        }
    }

    fn transmit(&mut self, _now: Instant) -> Option<Tx<'_>> {
        if self.dev.can_send() {
            Some(Tx(&mut *self.dev))
        } else {
            None
        }
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.dev.max_frame();
        caps
    }
}

/// The destination port of a TCP connection request (SYN without ACK) in an Ethernet frame
/// carrying IPv4, or None for any other frame.
fn syn_port(frame: &[u8]) -> Option<u16> {
    const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
    const TCP: u8 = 6;
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    if frame.get(12..14)? != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = frame.get(14..)?;
    let ihl = usize::from(*ip.first()? & 0x0f) * 4;
    if *ip.get(9)? != TCP || ihl < 20 {
        return None;
    }
    let tcp = ip.get(ihl..)?;
    let flags = *tcp.get(13)?;
    (flags & (SYN | ACK) == SYN).then(|| u16::from_be_bytes([tcp[2], tcp[3]]))
}

/// A listening port's sockets: listening, or holding a connection not yet accepted.
pub struct Pool {
    handles: Vec<SocketHandle>,
    backlog: usize,
}

/// Whether a pooled socket in state `st` holds a connection ready for accept().
fn accepted(st: tcp::State) -> bool {
    !matches!(st, tcp::State::Listen | tcp::State::SynReceived | tcp::State::Closed)
}

/// The interface and its sockets.
pub struct Stack {
    card: Card,
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
    /// Connections the app closed, kept until the close handshake ends.
    pub orphans: Vec<SocketHandle>,
    /// Ports held by bound sockets.
    pub bound: BTreeSet<u16>,
    /// Listening ports and their pools.
    listeners: BTreeMap<u16, Pool>,
    next_port: u16,
    /// When a poll last changed a socket's state (monotonic ns).
    last_activity: u64,
    /// The monotonic clock (ns).
    clock: fn() -> u64,
}

static STACK: SpinMutex<Option<Stack>> = SpinMutex::new(None);
/// Whether the app's sockets are the core's (set by [`init`], with or without a card).
static ENABLED: AtomicBool = AtomicBool::new(false);
/// The clock of [`init`], for the sockets' own timing.
static CLOCK: SpinMutex<Option<fn() -> u64>> = SpinMutex::new(None);

/// Makes the app's sockets the core's TCP sockets, over `dev` with slirp's addressing (without
/// a card every address is unreachable: ENETDOWN). `seed` (random) seeds TCP's sequence numbers
/// and the first ephemeral port; `clock` is the monotonic clock in ns. Says whether a card is
/// there.
pub fn init(dev: Option<Box<dyn NetDevice>>, seed: u64, clock: fn() -> u64) -> bool {
    *CLOCK.lock() = Some(clock);
    ENABLED.store(true, Ordering::Release);
    let Some(dev) = dev else { return false };
    *STACK.lock() = Some(Stack::new(dev, SLIRP, seed, clock));
    true
}

/// Whether the core serves the app's sockets (the platform called [`init`]).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// Whether there is a network card.
pub fn present() -> bool {
    STACK.lock().is_some()
}

/// The clock [`init`] was given (ns); 0 before.
pub fn monotonic_ns() -> u64 {
    let c = *CLOCK.lock();
    c.map_or(0, |c| c())
}

fn instant(ns: u64) -> Instant {
    Instant::from_micros((ns / 1000) as i64)
}

/// Moves frames between the card and the sockets and runs TCP's timers; frees orphans whose
/// close finished.
pub fn poll() {
    if let Some(s) = STACK.lock().as_mut() {
        s.poll();
    }
}

/// How long a waiting thread may go before the card is looked at again (ns).
pub fn poll_interval() -> u64 {
    let last = STACK.lock().as_ref().map_or(0, |s| s.last_activity);
    if monotonic_ns().saturating_sub(last) < QUIET_NS {
        POLL_BUSY_NS
    } else {
        POLL_QUIET_NS
    }
}

impl Stack {
    /// A stack over `dev` (see [`init`]).
    pub fn new(dev: Box<dyn NetDevice>, addr: Addressing, seed: u64, clock: fn() -> u64) -> Self {
        let mac = dev.mac();
        let mut card = Card { dev, drop_syn_to: BTreeSet::new() };
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut card, instant(clock()));
        let [a, b, c, d] = addr.ip;
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(IpAddress::v4(a, b, c, d), addr.prefix));
        });
        let [a, b, c, d] = addr.gateway;
        let _ = iface.routes_mut().add_default_ipv4_route(Ipv4Address::new(a, b, c, d));
        let span = EPHEMERAL.end() - EPHEMERAL.start();
        Stack {
            card,
            iface,
            sockets: SocketSet::new(Vec::new()),
            orphans: Vec::new(),
            bound: BTreeSet::new(),
            listeners: BTreeMap::new(),
            next_port: EPHEMERAL.start() + (seed >> 48) as u16 % span,
            last_activity: 0,
            clock,
        }
    }

    /// Moves frames and runs timers (see [`poll`]).
    pub fn poll(&mut self) {
        use smoltcp::iface::{PollIngressSingleResult, PollResult};
        let t = (self.clock)();
        let at = instant(t);
        let mut active = false;
        loop {
            self.refill_all();
            match self.iface.poll_ingress_single(at, &mut self.card, &mut self.sockets) {
                PollIngressSingleResult::None => break,
                PollIngressSingleResult::PacketProcessed => {}
                PollIngressSingleResult::SocketStateChanged => active = true,
            }
        }
        active |= self.iface.poll_egress(at, &mut self.card, &mut self.sockets) != PollResult::None;
        if active {
            self.last_activity = t;
        }
        self.refill_all();
        let sockets = &mut self.sockets;
        self.orphans.retain(|&h| {
            let done = matches!(sockets.get::<tcp::Socket>(h).state(), tcp::State::Closed | tcp::State::TimeWait);
            if done {
                sockets.remove(h);
            }
            !done
        });
    }

    /// Starts listening on `port` (or changes its backlog): ENOBUFS if no socket could listen.
    pub fn listen(&mut self, port: u16, backlog: usize) -> Result<(), Errno> {
        let pool = self.listeners.entry(port).or_insert(Pool { handles: Vec::new(), backlog });
        pool.backlog = backlog;
        self.refill(port);
        if self.listeners.get(&port).is_some_and(|p| p.handles.is_empty()) {
            self.listeners.remove(&port);
            return Err(ENOBUFS);
        }
        Ok(())
    }

    /// Stops listening on `port`: connections not yet accepted are reset.
    pub fn unlisten(&mut self, port: u16) {
        if let Some(pool) = self.listeners.remove(&port) {
            for h in pool.handles {
                self.tcp(h).abort();
                self.orphans.push(h);
            }
        }
        self.card.drop_syn_to.remove(&port);
    }

    /// Whether a connection on `port` waits for accept().
    pub fn has_connection(&self, port: u16) -> bool {
        self.listeners
            .get(&port)
            .is_some_and(|p| p.handles.iter().any(|&h| accepted(self.sockets.get::<tcp::Socket>(h).state())))
    }

    /// The oldest connection on `port` that finished its handshake, taken out of the pool.
    pub fn take_connection(&mut self, port: u16) -> Option<SocketHandle> {
        let pool = self.listeners.get_mut(&port)?;
        let sockets = &self.sockets;
        let i = pool.handles.iter().position(|&h| accepted(sockets.get::<tcp::Socket>(h).state()))?;
        let h = pool.handles.remove(i);
        self.refill(port);
        Some(h)
    }

    fn refill_all(&mut self) {
        let ports: Vec<u16> = self.listeners.keys().copied().collect();
        for p in ports {
            self.refill(p);
        }
    }

    /// Drops the pool's reset connections, keeps [`IDLE_LISTENERS`] sockets listening while
    /// fewer than `backlog` connections wait, and has the card drop the port's SYNs when none
    /// listens.
    fn refill(&mut self, port: u16) {
        let Some(mut pool) = self.listeners.remove(&port) else { return };
        let sockets = &mut self.sockets;
        pool.handles.retain(|&h| {
            // A connection reset before accept() took it is gone (Linux drops it as well).
            let dead = sockets.get::<tcp::Socket>(h).state() == tcp::State::Closed;
            if dead {
                sockets.remove(h);
            }
            !dead
        });
        let state = |h: SocketHandle| self.sockets.get::<tcp::Socket>(h).state();
        let idle = pool.handles.iter().filter(|&&h| state(h) == tcp::State::Listen).count();
        let waiting = pool.handles.len() - idle;
        let want = if waiting >= pool.backlog.max(MIN_WAITING) { 0 } else { IDLE_LISTENERS };
        for _ in idle..want {
            let h = self.new_socket();
            if self.tcp(h).listen(IpListenEndpoint { addr: None, port }).is_err() {
                self.sockets.remove(h);
                break;
            }
            pool.handles.push(h);
        }
        let listening = pool.handles.iter().any(|&h| self.sockets.get::<tcp::Socket>(h).state() == tcp::State::Listen);
        if listening {
            self.card.drop_syn_to.remove(&port);
        } else {
            self.card.drop_syn_to.insert(port);
        }
        self.listeners.insert(port, pool);
    }

    /// A new TCP socket with [`SOCK_BUF`] bytes each way.
    pub fn new_socket(&mut self) -> SocketHandle {
        let rx = tcp::SocketBuffer::new(alloc::vec![0u8; SOCK_BUF]);
        let tx = tcp::SocketBuffer::new(alloc::vec![0u8; SOCK_BUF]);
        self.sockets.add(tcp::Socket::new(rx, tx))
    }

    /// The TCP socket `h`.
    pub fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    /// An ephemeral port no bound socket holds.
    pub fn free_port(&mut self) -> Result<u16, Errno> {
        let span = (EPHEMERAL.end() - EPHEMERAL.start()) as usize + 1;
        for _ in 0..span {
            let p = self.next_port;
            self.next_port = if p >= *EPHEMERAL.end() { *EPHEMERAL.start() } else { p + 1 };
            if !self.bound.contains(&p) {
                return Ok(p);
            }
        }
        Err(EADDRINUSE)
    }
}

/// Runs `f` on the stack; ENETDOWN without a network card.
pub fn with_stack<T>(f: impl FnOnce(&mut Stack) -> Result<T, Errno>) -> Result<T, Errno> {
    // Without a card there is nowhere to send to: the app sees an unplugged network.
    STACK.lock().as_mut().map_or(Err(ENETDOWN), f)
}
