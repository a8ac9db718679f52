//! The launch configuration records (TLV) of docs/image-format.md.
use alloc::vec::Vec;

use crate::error::ImageError;
use crate::format::u32_at;

/// What to start and with which argv/env/cwd: decoded from the image's launch config.
#[derive(Clone, Debug, Default)]
pub struct LaunchConfig<'a> {
    pub entry: &'a [u8],
    pub args: Vec<&'a [u8]>,
    pub env: Vec<&'a [u8]>,
    pub env_pass: Vec<&'a [u8]>,
    pub env_inherit: bool,
    pub cwd: &'a [u8],
    pub hostname: &'a [u8],
    /// uid and gid the app sees (IDS), if the policy sets them.
    pub ids: Option<(u32, u32)>,
    /// Socket addresses the app may bind/listen on (NET_LISTEN).
    pub listen: Vec<SockAddr>,
    /// Socket addresses the app may connect to (NET_CONNECT).
    pub connect: Vec<SockAddr>,
    /// Host directories made visible (MOUNT).
    pub mounts: Vec<Mount<'a>>,
    /// Resource limits (LIMIT), indexed by kind - 1; `None` = not limited.
    pub limits: [Option<u64>; 4],
}

/// A socket address of the network policy: `port == 0` is any port, an all-zero address is
/// the wildcard (see docs/image-format.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockAddr {
    /// 4 or 6.
    pub family: u8,
    /// Host byte order.
    pub port: u16,
    /// IPv4 in the first 4 bytes, or IPv6; network byte order.
    pub addr: [u8; 16],
}

/// A host directory made visible at `guest`.
#[derive(Clone, Copy, Debug)]
pub struct Mount<'a> {
    pub host: &'a [u8],
    pub guest: &'a [u8],
    pub writable: bool,
}

/// LIMIT kinds (index + 1).
pub const LIMIT_MEMORY: usize = 0;
pub const LIMIT_OPEN_FILES: usize = 1;
pub const LIMIT_THREADS: usize = 2;
pub const LIMIT_PROCESSES: usize = 3;

fn sockaddr(v: &[u8]) -> Option<SockAddr> {
    let (fam, n) = match v.first() {
        Some(4) => (4, 4),
        Some(6) => (6, 16),
        _ => return None,
    };
    if v.len() != 4 + n || v[1] != 0 {
        return None;
    }
    let mut addr = [0u8; 16];
    addr[..n].copy_from_slice(&v[4..]);
    Some(SockAddr { family: fam, port: u16::from_be_bytes([v[2], v[3]]), addr })
}

fn mount(v: &[u8]) -> Option<Mount<'_>> {
    if v.len() < 8 || v[0] > 1 || v[1..4] != [0, 0, 0] {
        return None;
    }
    let hl = u32_at(v, 4) as usize;
    let rest = &v[8..];
    if hl == 0 || hl > rest.len() {
        return None;
    }
    let (host, guest) = rest.split_at(hl);
    if guest.first() != Some(&b'/') || host.contains(&0) || guest.contains(&0) {
        return None;
    }
    Some(Mount { host, guest, writable: v[0] == 1 })
}

/// Whether `v` holds the byte `b`: a plain loop, not `contains` (the word-at-a-time `memchr`
/// behind it is the code a VM boot translates for these few short strings, and runs nowhere
/// else in it).
fn has(v: &[u8], b: u8) -> bool {
    for &c in v {
        if c == b {
            return true;
        }
    }
    false
}

impl<'a> LaunchConfig<'a> {
    /// Decodes the TLV records. Refuses unknown required tags, repeated single tags, a missing
    /// ENTRY or ARG, relative paths, and records that run past the region.
    pub fn parse(mut b: &'a [u8]) -> Result<Self, ImageError> {
        let bad = |what| Err(ImageError::damaged(what));
        let mut cfg = LaunchConfig { cwd: b"/", hostname: b"litebox", ..Default::default() };
        let (mut seen_entry, mut seen_cwd, mut seen_host, mut seen_inherit) = (false, false, false, false);
        while !b.is_empty() {
            if b.len() < 8 {
                return bad("launch config record header truncated");
            }
            let tag = u16::from_le_bytes([b[0], b[1]]);
            let reserved = u16::from_le_bytes([b[2], b[3]]);
            let len = u32_at(b, 4) as usize;
            if reserved != 0 || len > b.len() - 8 {
                return bad("launch config record out of bounds");
            }
            let v = &b[8..8 + len];
            b = &b[8 + len..];
            let once = |seen: &mut bool| -> Result<(), ImageError> {
                if core::mem::replace(seen, true) {
                    Err(ImageError::damaged("launch config repeats a single-valued record"))
                } else {
                    Ok(())
                }
            };
            match tag {
                1 => {
                    once(&mut seen_entry)?;
                    cfg.entry = v;
                }
                2 => cfg.args.push(v),
                3 => {
                    if !has(v, b'=') {
                        return bad("launch config ENV record without '='");
                    }
                    cfg.env.push(v)
                }
                4 => cfg.env_pass.push(v),
                5 => {
                    once(&mut seen_inherit)?;
                    if v.len() != 1 || v[0] > 1 {
                        return bad("launch config ENV_INHERIT is not 0 or 1");
                    }
                    cfg.env_inherit = v[0] == 1;
                }
                6 => {
                    once(&mut seen_cwd)?;
                    cfg.cwd = v;
                }
                7 => {
                    once(&mut seen_host)?;
                    cfg.hostname = v;
                }
                8 => {
                    if cfg.ids.is_some() || v.len() != 8 {
                        return bad("launch config IDS is repeated or not 8 bytes");
                    }
                    cfg.ids = Some((u32_at(v, 0), u32_at(v, 4)));
                }
                9 | 10 => match sockaddr(v) {
                    Some(a) if tag == 9 => cfg.listen.push(a),
                    Some(a) => cfg.connect.push(a),
                    None => return bad("launch config has a malformed socket address"),
                },
                11 => match mount(v) {
                    Some(m) => cfg.mounts.push(m),
                    None => return bad("launch config has a malformed MOUNT"),
                },
                12 => {
                    if v.len() != 16 || u32_at(v, 4) != 0 {
                        return bad("launch config LIMIT is not 16 bytes");
                    }
                    let kind = u32_at(v, 0) as usize;
                    let value = u64::from_le_bytes([v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]]);
                    match cfg.limits.get_mut(kind.wrapping_sub(1)) {
                        Some(slot @ None) => *slot = Some(value),
                        _ => return bad("launch config LIMIT kind unknown or repeated"),
                    }
                }
                t if t >= 0x8000 => {}
                _ => return bad("launch config has an unknown required record"),
            }
        }
        if !seen_entry || cfg.entry.first() != Some(&b'/') {
            return bad("launch config has no absolute ENTRY");
        }
        if cfg.args.is_empty() {
            return bad("launch config has no ARG (argv[0])");
        }
        if cfg.cwd.first() != Some(&b'/') {
            return bad("launch config CWD is not absolute");
        }
        if has(cfg.entry, 0) || cfg.args.iter().any(|a| has(a, 0)) || cfg.env.iter().any(|a| has(a, 0)) {
            return bad("launch config string contains NUL");
        }
        Ok(cfg)
    }
}
