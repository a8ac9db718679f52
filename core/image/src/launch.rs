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
                    if !v.contains(&b'=') {
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
        if cfg.entry.contains(&0) || cfg.args.iter().chain(cfg.env.iter()).any(|a| a.contains(&0)) {
            return bad("launch config string contains NUL");
        }
        Ok(cfg)
    }
}
