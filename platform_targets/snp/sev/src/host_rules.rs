//! What the kernel takes from the host under SEV-SNP: the packer records it (`[target.snp]
//! host_input`) in the measured start-info page at [`OFFSET`]: [`MAGIC`], then a u32 of the
//! bits below. Under SNP anything not admitted is dropped before the app starts; a page
//! without the record admits nothing.

/// Offset of the record in the start-info page.
pub const OFFSET: usize = 0x800;
/// The record's magic.
pub const MAGIC: &[u8; 8] = b"LBXHOST1";
/// Run-time arguments (`litebox.arg=` on the command line).
pub const ARGS: u32 = 1;
/// Host environment variables (`litebox.env=`, the boot module's environment block).
pub const ENV: u32 = 2;
/// Standard input (the boot module's data).
pub const STDIN: u32 = 4;
/// The kernel's debug lines (`litebox.debug`).
pub const DEBUG: u32 = 8;

/// The admitted bits recorded in a start-info `page` (0 when it holds no record).
pub fn parse(page: &[u8]) -> u32 {
    match page.get(OFFSET..OFFSET + 12) {
        Some(r) if &r[..8] == MAGIC => u32::from_le_bytes([r[8], r[9], r[10], r[11]]),
        _ => 0,
    }
}

/// The command-line token that asks for the rules on a boot without SNP (one whole token: the
/// kvm kernel's command-line parser, platform_targets/kvm/runtime/src/cmdline.rs, compares it).
pub const TOKEN: &[u8] = b"litebox.snp-host-rules";

/// Whether the rules apply: always under SNP; on any other boot only when the command line
/// asks for them (`asked`: it holds the token [`TOKEN`], for trying the SNP behaviour on the
/// native platform: the token can only take inputs away).
pub fn apply(snp: bool, asked: bool) -> bool {
    snp || asked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record() {
        let mut page = [0u8; 4096];
        assert_eq!(parse(&page), 0);
        page[OFFSET..OFFSET + 8].copy_from_slice(MAGIC);
        page[OFFSET + 8] = (ARGS | STDIN) as u8;
        assert_eq!(parse(&page), ARGS | STDIN);
        page[OFFSET] = b'X';
        assert_eq!(parse(&page), 0);
        assert_eq!(parse(&page[..100]), 0);
    }

    #[test]
    fn when_rules_apply() {
        assert!(apply(true, false));
        assert!(apply(true, true));
        assert!(!apply(false, false));
        assert!(apply(false, true));
    }
}
