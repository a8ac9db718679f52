//! Which RAM the kernel must PVALIDATE: the RAM it will use, less what the launch validated
//! (the measured pages of the image, the kernel and the boot area, given as reserved ranges),
//! and only where the host's memory map also says RAM.

/// Calls `f(start, end)` for each piece of `[start, end)` outside every range of `holes`
/// (unsorted, possibly overlapping), in ascending order, page-aligned inward.
pub fn subtract(start: u64, end: u64, holes: &[(u64, u64)], f: &mut dyn FnMut(u64, u64)) {
    let page = crate::PAGE;
    let mut at = start.div_ceil(page) * page;
    let end = end / page * page;
    while at < end {
        // The hole that covers `at`, if any: skip past it.
        if let Some(&(_, he)) = holes.iter().find(|&&(hs, he)| hs <= at && at < he) {
            at = he.div_ceil(page) * page;
            continue;
        }
        // Else the piece runs to the nearest hole start above `at`.
        let stop =
            holes.iter().filter(|&&(hs, he)| hs > at && hs < he).map(|&(hs, _)| hs / page * page).fold(end, u64::min);
        if stop > at {
            f(at, stop);
        }
        at = stop.max(at + page);
    }
}

/// Whether `[start, end)` lies wholly inside the union of `ram` (the host's memory map).
pub fn covered(start: u64, end: u64, ram: &[(u64, u64)]) -> bool {
    let mut at = start;
    while at < end {
        match ram.iter().filter(|&&(s, e)| s <= at && at < e).map(|&(_, e)| e).max() {
            Some(e) => at = e,
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn pieces(start: u64, end: u64, holes: &[(u64, u64)]) -> Vec<(u64, u64)> {
        let mut v = Vec::new();
        subtract(start, end, holes, &mut |s, e| v.push((s, e)));
        v
    }

    #[test]
    fn subtract_holes() {
        assert_eq!(pieces(0x10_0000, 0x20_0000, &[]), [(0x10_0000, 0x20_0000)]);
        // The kernel at 1 MiB..1.5 MiB, the boot area at 1.75 MiB..1.75 MiB + 28 KiB.
        let holes = [(0x18_0000 - 0x8_0000, 0x18_0000), (0x1c_0000, 0x1c_7000)];
        assert_eq!(pieces(0x10_0000, 0x20_0000, &holes), [(0x18_0000, 0x1c_0000), (0x1c_7000, 0x20_0000)]);
        // Overlapping, unsorted holes and unaligned edges.
        let holes = [(0x3000, 0x5000), (0x1800, 0x4000)];
        assert_eq!(pieces(0x0800, 0x8800, &holes), [(0x5000, 0x8000)]);
        // A hole with an unaligned start keeps the page it starts in out of the piece below.
        assert_eq!(pieces(0, 0x4000, &[(0x2800, 0x3000)]), [(0, 0x2000), (0x3000, 0x4000)]);
        assert_eq!(pieces(0, 0x4000, &[(0, 0x4000)]), []);
    }

    #[test]
    fn coverage() {
        let ram = [(0, 0xa_0000), (0x10_0000, 0x1000_0000), (0x1000_0000, 0x2000_0000)];
        assert!(covered(0x10_0000, 0x2000_0000, &ram));
        assert!(!covered(0x9_0000, 0x11_0000, &ram));
        assert!(!covered(0x10_0000, 0x2000_1000, &ram));
        assert!(covered(5, 5, &[]));
    }
}
