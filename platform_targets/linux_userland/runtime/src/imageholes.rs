//! The runtime's own loaded image as one unbroken range of the address space.
//!
//! The linker may leave whole pages unmapped between two of the runtime's PT_LOAD segments:
//! GNU ld starts the writable segment at `ALIGN(page) + (. & (page - 1))`, and when the
//! segment's first section is then aligned past that page, one page between the code's last
//! page and the data's first is in no segment. The kernel loads the segments and leaves the
//! gap free, so a later `mmap` without an address can be given it. But the gap lies inside
//! `[__ehdr_start, _end)`, which the guard (guard.rs) holds as the runtime's: the platform
//! then refuses the host's answer, and the app's `mmap` fails with ENOMEM although memory was
//! there (it happened with a build whose code ended 2 bytes short of a page). So at start-up
//! every such gap is filled with an inaccessible, unreserved mapping: the guard's range is
//! then mapped exactly, and nothing else can land in it. Builds without a gap (most) make no
//! call and keep their mapping count. main.rs fills them (`fill_image_holes`); this module
//! only finds them (pure, so tests/imageholes.rs can run it on the host).

const PT_LOAD: u32 = 1;
const PAGE: usize = 4096;

/// The page-aligned gaps (start, end) between the loaded segments of the ELF image whose
/// header is at `base` (page-aligned: the runtime's own, `__ehdr_start`), in address order.
///
/// # Safety
/// `base` must point at a mapped ELF64 header whose program headers are mapped too (true of the
/// runtime's own image: both are in its first, read-only segment).
pub unsafe fn gaps(base: usize) -> impl Iterator<Item = (usize, usize)> {
    // SAFETY: the caller guarantees a mapped ELF64 header at `base`; fields read unaligned.
    let (phoff, phentsize, phnum) = unsafe {
        (
            core::ptr::read_unaligned((base + 32) as *const u64) as usize,
            core::ptr::read_unaligned((base + 54) as *const u16) as usize,
            core::ptr::read_unaligned((base + 56) as *const u16) as usize,
        )
    };
    let mut prev_end: Option<usize> = None;
    (0..phnum).filter_map(move |i| {
        let ph = base + phoff + i * phentsize;
        // SAFETY: the program headers are mapped (the caller's guarantee); read unaligned.
        let (p_type, vaddr, memsz) = unsafe {
            (
                core::ptr::read_unaligned(ph as *const u32),
                core::ptr::read_unaligned((ph + 16) as *const u64) as usize,
                core::ptr::read_unaligned((ph + 40) as *const u64) as usize,
            )
        };
        if p_type != PT_LOAD || memsz == 0 {
            return None;
        }
        let (start, end) = (base + (vaddr & !(PAGE - 1)), (base + vaddr + memsz).next_multiple_of(PAGE));
        let gap = prev_end.filter(|&p| p < start).map(|p| (p, start));
        prev_end = Some(prev_end.map_or(end, |p| p.max(end)));
        gap
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF64 header and program headers for loads at (vaddr, memsz), in a buffer.
    fn image(loads: &[(usize, usize)]) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56 * loads.len()];
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&(loads.len() as u16).to_le_bytes());
        for (i, &(vaddr, memsz)) in loads.iter().enumerate() {
            let ph = 64 + 56 * i;
            b[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            b[ph + 16..ph + 24].copy_from_slice(&(vaddr as u64).to_le_bytes());
            b[ph + 40..ph + 48].copy_from_slice(&(memsz as u64).to_le_bytes());
        }
        b
    }

    fn gaps_of(loads: &[(usize, usize)]) -> Vec<(usize, usize)> {
        // The header at a page boundary, as a loaded image's is.
        let h = image(loads);
        let mut b = vec![0u8; 2 * PAGE + h.len()];
        let skip = (b.as_ptr() as usize).next_multiple_of(PAGE) - b.as_ptr() as usize;
        b[skip..skip + h.len()].copy_from_slice(&h);
        let base = b.as_ptr() as usize + skip;
        // SAFETY: `b` holds a header and its program headers for the call's duration.
        unsafe { gaps(base) }.map(|(lo, hi)| (lo - base, hi - base)).collect()
    }

    #[test]
    fn a_page_between_code_and_data_is_a_gap() {
        // The build that showed it: code to 0xccffe, data from 0xce000.
        assert_eq!(gaps_of(&[(0, 0x16f34), (0x17f40, 0xb50be), (0xce000, 0x9518)]), vec![(0xcd000, 0xce000)]);
    }

    #[test]
    fn segments_sharing_or_touching_pages_leave_no_gap() {
        assert_eq!(gaps_of(&[(0, 0x1712c), (0x18140, 0xb86be), (0xd1800, 0x9518)]), vec![]);
        assert_eq!(gaps_of(&[(0, 0x1000), (0x1000, 0x1000)]), vec![]);
    }
}
