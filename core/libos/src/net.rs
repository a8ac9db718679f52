//! The network policy (`[policy.network]`, docs/config.md) and the socket addresses it is
//! checked against: decoding `struct sockaddr_in`/`sockaddr_in6` copied from the app, matching
//! them against the `listen`/`connect` rules, and the `ADDR:PORT` text used by logs, learn
//! records and the trace. Default deny: an empty policy matches nothing.
use alloc::vec::Vec;

use litebox_image::SockAddr;

pub const AF_UNSPEC: u16 = 0;
pub const AF_UNIX: u16 = 1;
pub const AF_INET: u16 = 2;
pub const AF_INET6: u16 = 10;

/// An IP endpoint: family 4 or 6, address (IPv4 in the first 4 bytes), port in host order.
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are always held as IPv4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub family: u8,
    pub addr: [u8; 16],
    pub port: u16,
}

impl Endpoint {
    /// An endpoint from its parts, with an IPv4-mapped IPv6 address turned into IPv4.
    pub fn new(family: u8, addr: [u8; 16], port: u16) -> Self {
        if family == 6 && addr[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] {
            let mut v4 = [0u8; 16];
            v4[..4].copy_from_slice(&addr[12..]);
            return Self { family: 4, addr: v4, port };
        }
        Self { family, addr, port }
    }

    /// Whether the address is the unspecified one (0.0.0.0 or ::).
    pub fn unspecified(&self) -> bool {
        let n = if self.family == 4 { 4 } else { 16 };
        self.addr[..n].iter().all(|&b| b == 0)
    }

    /// `127.0.0.1:8080` or `[::1]:8080` (RFC 5952 compressed IPv6), as in litebox.toml.
    pub fn text(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(48);
        if self.family == 4 {
            for (i, b) in self.addr[..4].iter().enumerate() {
                if i > 0 {
                    v.push(b'.');
                }
                dec(&mut v, *b as usize);
            }
        } else {
            v.push(b'[');
            ipv6(&mut v, &self.addr);
            v.push(b']');
        }
        v.push(b':');
        dec(&mut v, self.port as usize);
        v
    }
}

fn dec(v: &mut Vec<u8>, n: usize) {
    let mut b = [0u8; 20];
    v.extend_from_slice(crate::shim::fmt_usize(n, &mut b));
}

fn hex(v: &mut Vec<u8>, n: u16) {
    let mut started = false;
    for sh in (0..4).rev() {
        let d = (n >> (sh * 4)) & 15;
        if d != 0 || started || sh == 0 {
            started = true;
            v.push(b"0123456789abcdef"[d as usize]);
        }
    }
}

/// RFC 5952: lowercase hex groups, the longest run (first on a tie) of two or more zero
/// groups written as `::`.
fn ipv6(v: &mut Vec<u8>, a: &[u8; 16]) {
    let g: Vec<u16> = (0..8).map(|i| u16::from_be_bytes([a[2 * i], a[2 * i + 1]])).collect();
    let (mut best, mut best_len, mut i) = (8, 1, 0);
    while i < 8 {
        if g[i] == 0 {
            let start = i;
            while i < 8 && g[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let mut i = 0;
    while i < 8 {
        if i == best {
            v.extend_from_slice(b"::");
            i += best_len;
            continue;
        }
        if i > 0 && i != best + best_len {
            v.push(b':');
        }
        hex(v, g[i]);
        i += 1;
    }
}

/// What a socket address taken from the app stands for.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// An IPv4 or IPv6 endpoint, checked against the rules.
    Ip(Endpoint),
    /// A Unix-domain address (a path or an abstract name).
    Unix,
    /// `AF_UNSPEC` given to `connect`: dissolves the association, reaches nobody.
    Disconnect,
}

/// Decodes the `len` bytes of a socket address copied from the app. `unspec_is_ipv4` says how
/// the kernel reads `AF_UNSPEC` here (as IPv4 for bind and sendto, as "disconnect" for
/// connect). Errors as Linux gives them: EINVAL for a short address, EAFNOSUPPORT for a family
/// that is not IP or Unix.
pub fn decode(sa: &[u8], unspec_is_ipv4: bool) -> Result<Target, crate::errno::Errno> {
    use crate::errno::{EAFNOSUPPORT, EINVAL};
    if sa.len() < 2 {
        return Err(EINVAL);
    }
    let family = u16::from_le_bytes([sa[0], sa[1]]);
    let port = |sa: &[u8]| u16::from_be_bytes([sa[2], sa[3]]);
    match family {
        AF_UNSPEC if !unspec_is_ipv4 => Ok(Target::Disconnect),
        AF_INET | AF_UNSPEC => {
            if sa.len() < 16 {
                return Err(EINVAL);
            }
            let mut addr = [0u8; 16];
            addr[..4].copy_from_slice(&sa[4..8]);
            Ok(Target::Ip(Endpoint::new(4, addr, port(sa))))
        }
        AF_INET6 => {
            if sa.len() < 24 {
                return Err(EINVAL);
            }
            let mut addr = [0u8; 16];
            addr.copy_from_slice(&sa[8..24]);
            Ok(Target::Ip(Endpoint::new(6, addr, port(sa))))
        }
        AF_UNIX => Ok(Target::Unix),
        _ => Err(EAFNOSUPPORT),
    }
}

/// Where Linux sends to when the destination of a `connect`, `sendto` or `sendmsg` is the
/// unspecified address: this host's loopback (`ip_route_connect` for IPv4, "connect to self if
/// daddr is ::" in the IPv6 connect and send paths). The sandbox checks such a destination as
/// the loopback address and hands that address to the host ([`loopback_destination`]), so a
/// rule `127.0.0.1:P` allows `connect(0.0.0.0:P)` and a wildcard rule is never needed for it.
/// The one difference from Linux: an IPv4 socket bound to a specific local address would send
/// to that address; the sandbox sends to 127.0.0.1 (the address the rule named).
pub fn loopback_of(e: &Endpoint) -> Option<Endpoint> {
    if !e.unspecified() {
        return None;
    }
    let mut addr = [0u8; 16];
    if e.family == 4 {
        addr[..4].copy_from_slice(&[127, 0, 0, 1]);
    } else {
        addr[15] = 1;
    }
    Some(Endpoint { family: e.family, addr, port: e.port })
}

/// Rewrites, in place, the unspecified address of the IP socket address `sa` (copied from the
/// app, already decoded as [`Target::Ip`]) into the loopback address of [`loopback_of`]:
/// `0.0.0.0` into `127.0.0.1`, `::` into `::1`, `::ffff:0.0.0.0` into `::ffff:127.0.0.1`.
/// Returns whether it changed anything; an address that is not unspecified is left alone.
pub fn loopback_destination(sa: &mut [u8]) -> bool {
    if sa.len() < 2 {
        return false;
    }
    let at = match u16::from_le_bytes([sa[0], sa[1]]) {
        AF_INET | AF_UNSPEC if sa.len() >= 8 => 4..8,
        AF_INET6 if sa.len() >= 24 => {
            let a = &mut sa[8..24];
            if a.iter().all(|&b| b == 0) {
                a[15] = 1;
                return true;
            }
            20..24
        }
        _ => return false,
    };
    let mapped_prefix = at.start == 20 && sa[8..20] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
    if (at.start == 4 || mapped_prefix) && sa[at.clone()] == [0, 0, 0, 0] {
        sa[at].copy_from_slice(&[127, 0, 0, 1]);
        return true;
    }
    false
}

/// The `[policy.network]` rules of the launch configuration.
#[derive(Clone, Debug, Default)]
pub struct NetPolicy {
    pub listen: Vec<Endpoint>,
    pub connect: Vec<Endpoint>,
}

fn rule(a: &SockAddr) -> Endpoint {
    Endpoint::new(a.family, a.addr, a.port)
}

/// Whether one rule covers `e`: same family; the rule's port is 0 (any) or equal; the rule's
/// address is unspecified (any) or equal.
fn covers(r: &Endpoint, e: &Endpoint) -> bool {
    r.family == e.family && (r.port == 0 || r.port == e.port) && (r.unspecified() || r.addr == e.addr)
}

impl NetPolicy {
    /// The policy from the launch config's NET_LISTEN and NET_CONNECT records.
    pub fn new(listen: &[SockAddr], connect: &[SockAddr]) -> Self {
        Self { listen: listen.iter().map(rule).collect(), connect: connect.iter().map(rule).collect() }
    }

    /// Whether the app may bind `e` (a bind to port 0 needs a rule with port 0).
    pub fn may_bind(&self, e: &Endpoint) -> bool {
        self.listen.iter().any(|r| covers(r, e))
    }

    /// Whether the app may connect or send to `e`.
    pub fn may_connect(&self, e: &Endpoint) -> bool {
        self.connect.iter().any(|r| covers(r, e))
    }
}

/// A short human rendering of a socket address in app memory, for the trace:
/// `{AF_INET, 127.0.0.1:80}`, `{AF_UNIX}`, `{family 16}`; None if it cannot be read.
pub fn describe(ptr: usize, len: usize) -> Option<Vec<u8>> {
    if ptr == 0 || len > 128 {
        return None;
    }
    let sa = crate::user::slice(ptr, len).ok()?;
    let mut v = Vec::with_capacity(48);
    match decode(sa, true) {
        Ok(Target::Ip(e)) => {
            let family: &[u8] = match u16::from_le_bytes([sa[0], sa[1]]) {
                AF_INET6 => b"{AF_INET6, ",
                AF_UNSPEC => b"{AF_UNSPEC, ",
                _ => b"{AF_INET, ",
            };
            v.extend_from_slice(family);
            v.extend_from_slice(&e.text());
            v.push(b'}');
        }
        Ok(Target::Unix) => v.extend_from_slice(b"{AF_UNIX}"),
        _ if sa.len() >= 2 => {
            v.extend_from_slice(b"{family ");
            dec(&mut v, u16::from_le_bytes([sa[0], sa[1]]) as usize);
            v.push(b'}');
        }
        _ => return None,
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4], port: u16) -> Endpoint {
        let mut addr = [0u8; 16];
        addr[..4].copy_from_slice(&a);
        Endpoint::new(4, addr, port)
    }

    fn v6(groups: [u16; 8], port: u16) -> Endpoint {
        let mut addr = [0u8; 16];
        for (i, g) in groups.iter().enumerate() {
            addr[2 * i..2 * i + 2].copy_from_slice(&g.to_be_bytes());
        }
        Endpoint::new(6, addr, port)
    }

    #[test]
    fn text_forms() {
        assert_eq!(v4([127, 0, 0, 1], 8080).text(), b"127.0.0.1:8080");
        assert_eq!(v6([0, 0, 0, 0, 0, 0, 0, 1], 53).text(), b"[::1]:53");
        assert_eq!(v6([0; 8], 0).text(), b"[::]:0");
        assert_eq!(v6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], 1).text(), b"[2001:db8::1:0:0:1]:1");
        assert_eq!(v6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], 1).text(), b"[2001:db8:0:1:1:1:1:1]:1");
        assert_eq!(v6([1, 0, 0, 0, 0, 0, 0, 0], 2).text(), b"[1::]:2");
    }

    fn sa4(a: [u8; 4], port: u16) -> Vec<u8> {
        let mut v = alloc::vec![0u8; 16];
        v[..2].copy_from_slice(&AF_INET.to_le_bytes());
        v[2..4].copy_from_slice(&port.to_be_bytes());
        v[4..8].copy_from_slice(&a);
        v
    }

    fn sa6(a: [u8; 16], port: u16) -> Vec<u8> {
        let mut v = alloc::vec![0u8; 28];
        v[..2].copy_from_slice(&AF_INET6.to_le_bytes());
        v[2..4].copy_from_slice(&port.to_be_bytes());
        v[8..24].copy_from_slice(&a);
        v
    }

    #[test]
    fn unspecified_destinations_become_this_hosts_loopback() {
        let mut a = sa4([0, 0, 0, 0], 8123);
        assert!(loopback_destination(&mut a));
        assert_eq!(a, sa4([127, 0, 0, 1], 8123));
        let mut a = sa6([0; 16], 53);
        assert!(loopback_destination(&mut a));
        let mut one = [0u8; 16];
        one[15] = 1;
        assert_eq!(a, sa6(one, 53));
        let mut mapped = [0u8; 16];
        mapped[10] = 0xff;
        mapped[11] = 0xff;
        let mut a = sa6(mapped, 80);
        assert!(loopback_destination(&mut a));
        mapped[12..].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(a, sa6(mapped, 80));
        assert_eq!(decode(&a, false), Ok(Target::Ip(v4([127, 0, 0, 1], 80))));
        assert_eq!(loopback_of(&v4([0, 0, 0, 0], 7)), Some(v4([127, 0, 0, 1], 7)));
        assert_eq!(loopback_of(&v6([0; 8], 7)), Some(v6([0, 0, 0, 0, 0, 0, 0, 1], 7)));
    }

    #[test]
    fn specified_destinations_are_left_alone() {
        for mut a in [sa4([10, 0, 0, 5], 1), sa4([127, 0, 0, 1], 2), sa6([0xfe; 16], 3)] {
            let before = a.clone();
            assert!(!loopback_destination(&mut a));
            assert_eq!(a, before);
        }
        // ::ffff:0:0 with another prefix byte is a plain IPv6 address, not mapped 0.0.0.0.
        let mut odd = [0u8; 16];
        odd[11] = 0xff;
        let mut a = sa6(odd, 4);
        assert!(!loopback_destination(&mut a));
        assert_eq!(loopback_of(&v4([1, 2, 3, 4], 7)), None);
        let mut short = alloc::vec![2u8, 0, 0];
        assert!(!loopback_destination(&mut short));
        let mut unix = alloc::vec![1u8, 0, b'/', b'x'];
        assert!(!loopback_destination(&mut unix));
    }

    #[test]
    fn mapped_ipv6_is_ipv4() {
        let e = v6([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1], 80);
        assert_eq!(e, v4([127, 0, 0, 1], 80));
    }

    #[test]
    fn rules_match_exactly_or_by_wildcard() {
        let p = NetPolicy {
            listen: alloc::vec![v4([127, 0, 0, 1], 8080), v4([0, 0, 0, 0], 9000)],
            connect: alloc::vec![v6([0; 8], 443), v4([10, 0, 0, 5], 0)],
        };
        assert!(p.may_bind(&v4([127, 0, 0, 1], 8080)));
        assert!(!p.may_bind(&v4([127, 0, 0, 1], 8081)));
        assert!(!p.may_bind(&v4([127, 0, 0, 1], 0)), "port 0 needs a port-0 rule");
        assert!(!p.may_bind(&v4([0, 0, 0, 0], 8080)), "a specific rule does not grant the wildcard");
        assert!(p.may_bind(&v4([0, 0, 0, 0], 9000)));
        assert!(p.may_bind(&v4([127, 0, 0, 2], 9000)), "a wildcard rule grants each local address");
        assert!(!p.may_bind(&v6([0, 0, 0, 0, 0, 0, 0, 1], 8080)), "families do not mix");
        assert!(p.may_connect(&v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 443)));
        assert!(!p.may_connect(&v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 80)));
        assert!(p.may_connect(&v4([10, 0, 0, 5], 5432)));
        assert!(p.may_connect(&v6([0, 0, 0, 0, 0, 0xffff, 0x0a00, 5], 1)), "mapped address checked as IPv4");
        assert!(!p.may_connect(&v4([10, 0, 0, 6], 5432)));
        assert!(!NetPolicy::default().may_connect(&v4([127, 0, 0, 1], 1)));
    }

    #[test]
    fn decode_checks_length_and_family() {
        let mut sin = [0u8; 16];
        sin[0] = 2;
        sin[2..4].copy_from_slice(&8080u16.to_be_bytes());
        sin[4..8].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(decode(&sin, false), Ok(Target::Ip(v4([127, 0, 0, 1], 8080))));
        assert_eq!(decode(&sin[..15], false), Err(crate::errno::EINVAL));
        assert_eq!(decode(&[1, 0, b'/', 0], false), Ok(Target::Unix));
        assert_eq!(decode(&[0, 0], false), Ok(Target::Disconnect));
        sin[0] = 0;
        assert_eq!(decode(&sin, true), Ok(Target::Ip(v4([127, 0, 0, 1], 8080))));
        assert_eq!(decode(&[16, 0, 0, 0], false), Err(crate::errno::EAFNOSUPPORT));
        let mut sin6 = [0u8; 28];
        sin6[0] = 10;
        sin6[2..4].copy_from_slice(&443u16.to_be_bytes());
        sin6[23] = 1;
        assert_eq!(decode(&sin6, false), Ok(Target::Ip(v6([0, 0, 0, 0, 0, 0, 0, 1], 443))));
        assert_eq!(decode(&sin6[..23], false), Err(crate::errno::EINVAL));
    }
}
