//! Page-table entries under SEV-SNP: the C-bit (encryption bit) at a position the CPU reports
//! in CPUID 0x8000001F EBX[5:0] marks a page private; entries that map shared pages (the GHCB,
//! bounce buffers, MMIO) leave it clear. Table pages themselves are always private.

/// CPUID leaf with the memory-encryption facts.
pub const CPUID_SEV_LEAF: u32 = 0x8000_001f;

/// The C-bit position from CPUID 0x8000001F EBX (bits 5:0); None when it cannot be one (below
/// 32 or above 51: not an address bit of a 52-bit physical address space).
pub fn cbit_from_cpuid(ebx: u32) -> Option<u8> {
    let pos = (ebx & 0x3f) as u8;
    (32..=51).contains(&pos).then_some(pos)
}

/// The mask of the C-bit at `pos`.
pub fn cbit_mask(pos: u8) -> u64 {
    1u64 << pos
}

/// An entry mapping the private frame `pa` with `flags` (present, writable... without address
/// bits) under C-bit mask `c`.
pub fn private(pa: u64, flags: u64, c: u64) -> u64 {
    (pa & addr_mask(c)) | c | flags
}

/// An entry mapping the shared frame `pa`: the C-bit clear even if `flags` carried it.
pub fn shared(pa: u64, flags: u64, c: u64) -> u64 {
    ((pa & addr_mask(c)) | flags) & !c
}

/// The physical frame an entry maps, without the C-bit.
pub fn frame(e: u64, c: u64) -> u64 {
    e & addr_mask(c)
}

/// Whether an entry maps a private page.
pub fn is_private(e: u64, c: u64) -> bool {
    c != 0 && e & c != 0
}

/// The address bits of an entry (12..52) less the C-bit.
fn addr_mask(c: u64) -> u64 {
    0x000f_ffff_ffff_f000 & !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_from_cpuid() {
        // EPYC Milan/Genoa report EBX = 0x0000_0173: C-bit 51, 1 bit of physical address lost.
        assert_eq!(cbit_from_cpuid(0x0000_0173), Some(51));
        assert_eq!(cbit_from_cpuid(0x0000_016f), Some(47));
        assert_eq!(cbit_from_cpuid(0), None);
        assert_eq!(cbit_from_cpuid(0x3f), None);
    }

    #[test]
    fn compose() {
        let c = cbit_mask(51);
        assert_eq!(c, 0x0008_0000_0000_0000);
        let e = private(0x1234_5000, 0x3, c);
        assert_eq!(e, 0x0008_0000_1234_5003);
        assert!(is_private(e, c));
        assert_eq!(frame(e, c), 0x1234_5000);
        let s = shared(0x1234_5000, 0x3 | c | (1 << 63), c);
        assert_eq!(s, 0x8000_0000_1234_5003);
        assert!(!is_private(s, c));
        // An address with the C-bit set (a caller's mistake) does not make a shared entry private.
        assert!(!is_private(shared(0x1234_5000 | c, 3, c), c));
        // Without encryption (native boot) entries are the plain ones.
        assert_eq!(private(0x1234_5000, 3, 0), 0x1234_5003);
        assert!(!is_private(0x1234_5003, 0));
    }
}
