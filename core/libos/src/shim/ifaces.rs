//! The network interfaces the app sees through the interface ioctls (`SIOCGIFCONF`,
//! `SIOCGIFFLAGS`, `SIOCGIFADDR`, `SIOCGIFNETMASK`, `SIOCGIFBRDADDR`, `SIOCGIFMTU`,
//! `SIOCGIFHWADDR`, `SIOCGIFINDEX`, `SIOCGIFNAME` on any socket): one loopback interface,
//! `lo` (index 1, 127.0.0.1/8, up and running, MTU 65536), whatever the host has. The app
//! reaches the network only where the policy lets it, by address; the host's interfaces,
//! their names and addresses are not the app's to see. Java's `NetworkInterface` asks this
//! way; `getifaddrs` and `if_nameindex` ask by netlink, which stays refused
//! (docs/targets/linux-userland.md).
use super::SysResult;
use crate::errno::*;
use crate::kernel::LibOs;
use crate::platform::Platform;
use crate::user;

const SIOCGIFNAME: u32 = 0x8910;
const SIOCGIFCONF: u32 = 0x8912;
const SIOCGIFFLAGS: u32 = 0x8913;
const SIOCGIFADDR: u32 = 0x8915;
const SIOCGIFBRDADDR: u32 = 0x8919;
const SIOCGIFNETMASK: u32 = 0x891b;
const SIOCGIFMTU: u32 = 0x8921;
const SIOCGIFHWADDR: u32 = 0x8927;
const SIOCGIFINDEX: u32 = 0x8933;

/// sizeof(struct ifreq): the name, then a 24-byte union.
const IFREQ: usize = 40;
const IFNAMSIZ: usize = 16;
const AF_INET: u16 = 2;
const ARPHRD_LOOPBACK: u16 = 772;
/// IFF_UP | IFF_LOOPBACK | IFF_RUNNING.
const LO_FLAGS: i16 = 0x1 | 0x8 | 0x40;

/// Whether `cmd` is one of the interface queries served here.
pub fn is_interface_query(cmd: u32) -> bool {
    matches!(
        cmd,
        SIOCGIFNAME
            | SIOCGIFCONF
            | SIOCGIFFLAGS
            | SIOCGIFADDR
            | SIOCGIFBRDADDR
            | SIOCGIFNETMASK
            | SIOCGIFMTU
            | SIOCGIFHWADDR
            | SIOCGIFINDEX
    )
}

/// A `struct sockaddr_in` of `ip` (port 0) as the union of a `struct ifreq` holds it.
fn sockaddr_in(ip: [u8; 4]) -> [u8; 16] {
    let mut sa = [0u8; 16];
    sa[0..2].copy_from_slice(&AF_INET.to_le_bytes());
    sa[4..8].copy_from_slice(&ip);
    sa
}

/// Answers interface query `cmd` (see [`is_interface_query`]) with `arg`, the app's `struct
/// ifreq` (or `struct ifconf` for SIOCGIFCONF), on a socket (`inet`: an IP one; the address
/// queries are IPv4's and answer ENOTTY on other sockets, as Linux's). ENODEV for a name (or
/// index) other than lo's.
pub fn query<P: Platform>(os: &LibOs<P>, cmd: u32, arg: usize, inet: bool) -> SysResult {
    if !inet && matches!(cmd, SIOCGIFADDR | SIOCGIFNETMASK | SIOCGIFBRDADDR) {
        return Err(ENOTTY);
    }
    if cmd == SIOCGIFCONF {
        let (len, buf): (i32, usize) = {
            let c: [u64; 2] = user::read_in(&os.mem, arg)?;
            (c[0] as u32 as i32, c[1] as usize)
        };
        if buf == 0 {
            // The size the whole list needs.
            user::write_in(&os.mem, arg, &(IFREQ as i32))?;
            return Ok(0);
        }
        let fits = len >= IFREQ as i32;
        if fits {
            let mut r = [0u8; IFREQ];
            r[..2].copy_from_slice(b"lo");
            r[IFNAMSIZ..IFNAMSIZ + 16].copy_from_slice(&sockaddr_in([127, 0, 0, 1]));
            user::write_in(&os.mem, buf, &r)?;
        }
        user::write_in(&os.mem, arg, &(if fits { IFREQ as i32 } else { 0 }))?;
        return Ok(0);
    }
    let mut r: [u8; IFREQ] = user::read_in(&os.mem, arg)?;
    if cmd == SIOCGIFNAME {
        if i32::from_le_bytes([r[16], r[17], r[18], r[19]]) != 1 {
            return Err(ENODEV);
        }
        r[..IFNAMSIZ].fill(0);
        r[..2].copy_from_slice(b"lo");
        user::write_in(&os.mem, arg, &r)?;
        return Ok(0);
    }
    let name = &r[..IFNAMSIZ];
    let end = name.iter().position(|&c| c == 0).unwrap_or(IFNAMSIZ);
    if &name[..end] != b"lo" {
        return Err(ENODEV);
    }
    let u = &mut r[IFNAMSIZ..];
    match cmd {
        SIOCGIFFLAGS => u[..2].copy_from_slice(&LO_FLAGS.to_le_bytes()),
        SIOCGIFADDR => u[..16].copy_from_slice(&sockaddr_in([127, 0, 0, 1])),
        SIOCGIFNETMASK => u[..16].copy_from_slice(&sockaddr_in([255, 0, 0, 0])),
        SIOCGIFBRDADDR => u[..16].copy_from_slice(&sockaddr_in([0, 0, 0, 0])),
        SIOCGIFMTU => u[..4].copy_from_slice(&65536i32.to_le_bytes()),
        SIOCGIFINDEX => u[..4].copy_from_slice(&1i32.to_le_bytes()),
        _ => {
            // SIOCGIFHWADDR: a loopback's hardware address, all zeros.
            u[..16].fill(0);
            u[..2].copy_from_slice(&ARPHRD_LOOPBACK.to_le_bytes());
        }
    }
    user::write_in(&os.mem, arg, &r)?;
    Ok(0)
}
