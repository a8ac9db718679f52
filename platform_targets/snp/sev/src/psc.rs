//! Page-state changes through the GHCB (exit [`crate::ghcb::EXIT_PSC`]): the shared buffer
//! holds a header (current entry, end entry: u16 each, 4 reserved bytes) and up to
//! [`MAX_ENTRIES`] entries of 8 bytes: bits 11:0 the current page (for 2 MiB entries the
//! hypervisor's progress), 51:12 the guest frame, 55:52 the operation, 56 the page size
//! (1: 2 MiB). The hypervisor advances `cur_entry` as it goes; the guest repeats the exit until
//! `cur_entry > end_entry`.
pub use crate::msr_protocol::PageOp;

/// Most entries the shared buffer holds.
pub const MAX_ENTRIES: usize = 253;
/// Size of the header.
pub const HEADER: usize = 8;

/// One entry.
pub fn entry(gfn: u64, op: PageOp, huge: bool) -> u64 {
    ((huge as u64) << 56) | ((op as u64) << 52) | ((gfn & 0xff_ffff_ffff) << 12)
}

/// The guest frame, operation code and page size of an entry.
pub fn parse_entry(e: u64) -> (u64, u8, bool) {
    ((e >> 12) & 0xff_ffff_ffff, ((e >> 52) & 0xf) as u8, e >> 56 & 1 == 1)
}

/// Writes a descriptor for `[start, end)` (page-aligned physical addresses) into `buf` using
/// 2 MiB entries where a whole aligned 2 MiB page lies inside the range, 4 KiB entries
/// elsewhere. Returns (the address the descriptor stops at, the number of entries): a range
/// longer than [`MAX_ENTRIES`] pages takes several descriptors. `buf` must hold
/// [`HEADER`] + 8 × [`MAX_ENTRIES`] bytes.
pub fn fill(buf: &mut [u8], start: u64, end: u64, op: PageOp) -> (u64, usize) {
    let mut at = start;
    let mut n = 0;
    while at < end && n < MAX_ENTRIES {
        let huge = at % crate::PAGE_2M == 0 && end - at >= crate::PAGE_2M;
        let e = entry(at / crate::PAGE, op, huge);
        buf[HEADER + 8 * n..HEADER + 8 * n + 8].copy_from_slice(&e.to_le_bytes());
        at += if huge { crate::PAGE_2M } else { crate::PAGE };
        n += 1;
    }
    buf[..HEADER].fill(0);
    if n > 0 {
        buf[2..4].copy_from_slice(&((n - 1) as u16).to_le_bytes());
    }
    (at, n)
}

/// Whether the hypervisor has processed every entry of the descriptor in `buf`
/// (`cur_entry > end_entry`).
pub fn done(buf: &[u8]) -> bool {
    let cur = u16::from_le_bytes([buf[0], buf[1]]);
    let end = u16::from_le_bytes([buf[2], buf[3]]);
    cur > end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_encoding() {
        assert_eq!(entry(0x12345, PageOp::Shared, false), 0x0020_0000_1234_5000);
        assert_eq!(entry(0x200, PageOp::Private, true), 0x0110_0000_0020_0000);
        assert_eq!(parse_entry(entry(0xff_ffff_ffff, PageOp::Shared, true)), (0xff_ffff_ffff, 2, true));
        // A frame wider than 40 bits cannot reach the operation bits.
        assert_eq!(parse_entry(entry(1 << 40, PageOp::Private, false)), (0, 1, false));
    }

    #[test]
    fn descriptor_mixes_sizes() {
        let mut buf = [0xffu8; HEADER + 8 * MAX_ENTRIES];
        // 1984 KiB .. 4 MiB + 8 KiB: 4 KiB pages up to 2 MiB, one 2 MiB page, then two small.
        let (start, end) = (0x1f_0000, 0x40_2000);
        let (stop, n) = fill(&mut buf, start, end, PageOp::Private);
        assert_eq!(stop, end);
        let small_low = (0x20_0000 - 0x1f_0000) / 0x1000;
        assert_eq!(n, small_low + 1 + 2);
        assert_eq!(&buf[..8], &[0, 0, (n - 1) as u8, 0, 0, 0, 0, 0]);
        let at = |i: usize| u64::from_le_bytes(buf[HEADER + 8 * i..HEADER + 8 * i + 8].try_into().unwrap());
        assert_eq!(parse_entry(at(0)), (0x1f0, 1, false));
        assert_eq!(parse_entry(at(small_low)), (0x200, 1, true));
        assert_eq!(parse_entry(at(small_low + 1)), (0x400, 1, false));
        assert_eq!(parse_entry(at(n - 1)), (0x401, 1, false));
        assert!(!done(&buf));
        buf[0..2].copy_from_slice(&(n as u16).to_le_bytes());
        assert!(done(&buf));
    }

    #[test]
    fn long_ranges_take_several_descriptors() {
        let mut buf = [0u8; HEADER + 8 * MAX_ENTRIES];
        let (stop, n) = fill(&mut buf, 0x1000, 0x1000 + 300 * 0x1000, PageOp::Shared);
        assert_eq!((stop, n), (0x1000 + 253 * 0x1000, 253));
        let (stop, n) = fill(&mut buf, stop, 0x1000 + 300 * 0x1000, PageOp::Shared);
        assert_eq!((stop, n), (0x1000 + 300 * 0x1000, 47));
        assert_eq!(fill(&mut buf, 0x5000, 0x5000, PageOp::Shared), (0x5000, 0));
    }
}
