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
//! - `litebox.probe`      the accelerator probe (`run_probe` in main.rs) instead of the app
//! - `litebox.snp-host-rules`  the SEV-SNP rules for host inputs on a boot without SNP
//!   (`litebox_snp_sev::host_rules`)
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
    /// `litebox.probe`: run the ring-3 probe instead of an app.
    pub probe: bool,
    /// `litebox.snp-host-rules` (`litebox_snp_sev::host_rules::TOKEN`): the SNP rules for host
    /// inputs on a boot without SNP.
    pub snp_host_rules: bool,
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

/// Parses the command line. One pass over the tokens, each compared once after its
/// `litebox.` prefix: the boot runs this once, and under emulation each distinct code path
/// costs its translation.
pub fn parse(line: &[u8]) -> Cmdline {
    let mut c = Cmdline::default();
    let mut rest = line;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == b' ' || b == b'\t' || b == b'\n').unwrap_or(rest.len());
        let tok = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or(&[]);
        let Some(word) = tok.strip_prefix(b"litebox.") else { continue };
        match word {
            b"debug" => c.debug = true,
            b"timing" => c.timing = true,
            b"image-checked" => c.image_checked = true,
            b"probe" => c.probe = true,
            _ => {
                if tok == litebox_snp_sev::host_rules::TOKEN {
                    c.snp_host_rules = true;
                } else if let Some(v) = word.strip_prefix(b"arg=") {
                    c.args.push(unescape(v));
                } else if let Some(v) = word.strip_prefix(b"env=") {
                    c.env.push(unescape(v));
                }
            }
        }
    }
    c
}
