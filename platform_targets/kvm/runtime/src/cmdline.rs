//! The kernel command line (PVH start_info), the way arguments and environment cross into the
//! VM. Tokens are separated by spaces; values are percent-encoded (`%XX` for any byte):
//!
//! - `litebox.arg=VALUE`  one more argv element (after the image's own ARG records), in order
//! - `litebox.env=K=V`    one host environment variable, offered to the image's policy the way
//!   the host environment is on linux-userland (ENV_PASS names, or everything with ENV_INHERIT)
//! - `litebox.debug`      debug log lines (as LITEBOX_LOG=debug) and the boot-time line
//! - `litebox.timing`     the kernel's own boot lines (phases, clock, memory, exit time) without
//!   the library OS's debug lines, whose output would slow the app down under emulation
//! - `litebox.image-checked`  the runner checked the whole image (root digest, table pages,
//!   every chunk) before the boot (`platform_targets/kvm/chunkcheck.py`), so the kernel need
//!   not hash it again (SHA-256 under emulation is about 15x slower than the host's); ignored
//!   under SEV-SNP
//!
//! Other tokens are ignored, so a hand-written `-append` may carry anything else.
use alloc::vec::Vec;

/// What the command line asked for.
#[derive(Default)]
pub struct Cmdline {
    pub args: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub debug: bool,
    pub timing: bool,
    pub image_checked: bool,
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX` escapes; a malformed escape stays as it is.
pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

/// Parses the command line.
pub fn parse(line: &[u8]) -> Cmdline {
    let mut c = Cmdline::default();
    for tok in line.split(|&b| b == b' ' || b == b'\t' || b == b'\n').filter(|t| !t.is_empty()) {
        if let Some(v) = tok.strip_prefix(b"litebox.arg=") {
            c.args.push(unescape(v));
        } else if let Some(v) = tok.strip_prefix(b"litebox.env=") {
            c.env.push(unescape(v));
        } else if tok == b"litebox.debug" {
            c.debug = true;
        } else if tok == b"litebox.timing" {
            c.timing = true;
        } else if tok == b"litebox.image-checked" {
            c.image_checked = true;
        }
    }
    c
}
