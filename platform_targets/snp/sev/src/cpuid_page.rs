//! The SNP CPUID page (SEV-SNP firmware ABI, `SNP_CPUID_FUNCTION` table): the launch fills it
//! with the CPUID results the hypervisor proposes and the security processor checks, so under
//! SNP the #VC handler answers CPUID from it instead of asking the (untrusted) hypervisor.
//!
//! Layout: `count` (u32), 12 reserved bytes, then `count` (at most [`MAX_ENTRIES`]) entries of
//! 0x30 bytes: `eax_in`, `ecx_in` (u32), `xcr0_in`, `xss_in` (u64), `eax`, `ebx`, `ecx`, `edx`
//! (u32), 8 reserved bytes.

/// Most entries the page holds.
pub const MAX_ENTRIES: usize = 64;
/// Size of one entry.
pub const ENTRY_SIZE: usize = 0x30;
/// Offset of the first entry.
pub const ENTRIES: usize = 0x10;

/// CPUID results (eax, ebx, ecx, edx).
pub type Regs = (u32, u32, u32, u32);

/// Leaves whose results depend on the subleaf in ECX (AMD APM vol. 3, appendix E, and the
/// Intel-compatible leaves AMD implements); for every other leaf ECX is ignored.
pub fn uses_subleaf(leaf: u32) -> bool {
    matches!(leaf, 0x4 | 0x7 | 0xb | 0xd | 0xf | 0x10 | 0x14 | 0x1f | 0x8000_001d | 0x8000_0020 | 0x8000_0026)
}

/// Why a lookup found nothing usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// The page's count is larger than [`MAX_ENTRIES`]: the page is not a CPUID page.
    BadPage,
    /// The leaf (and subleaf) is not in the table.
    NotFound,
}

/// Looks `leaf`/`subleaf` up in the CPUID `page`. For leaf 0xD subleaves 0 and 1 (XSAVE sizes)
/// the entry must also be the one for the guest's `xcr0` (and `xss` for subleaf 1), as the
/// firmware lists one per feature set; elsewhere those inputs are ignored.
pub fn lookup(page: &[u8; 4096], leaf: u32, subleaf: u32, xcr0: u64, xss: u64) -> Result<Regs, Missing> {
    let count = u32_at(page, 0) as usize;
    if count > MAX_ENTRIES {
        return Err(Missing::BadPage);
    }
    let indexed = uses_subleaf(leaf);
    for i in 0..count {
        let e = ENTRIES + i * ENTRY_SIZE;
        if u32_at(page, e) != leaf || (indexed && u32_at(page, e + 4) != subleaf) {
            continue;
        }
        if leaf == 0xd && subleaf <= 1 {
            let x = u64_at(page, e + 8);
            let s = u64_at(page, e + 16);
            if x != xcr0 || (subleaf == 1 && s != xss) {
                continue;
            }
        }
        return Ok((u32_at(page, e + 24), u32_at(page, e + 28), u32_at(page, e + 32), u32_at(page, e + 36)));
    }
    Err(Missing::NotFound)
}

/// What the #VC handler returns for CPUID: the table's entry, or all zeroes for a leaf the
/// table does not list (what a CPU returns for a reserved leaf inside its range; the hypervisor
/// is never asked, so it cannot make one up).
pub fn answer(page: &[u8; 4096], leaf: u32, subleaf: u32, xcr0: u64, xss: u64) -> Result<Regs, Missing> {
    match lookup(page, leaf, subleaf, xcr0, xss) {
        Err(Missing::NotFound) => Ok((0, 0, 0, 0)),
        r => r,
    }
}

/// CR4.OSXSAVE.
pub const CR4_OSXSAVE: u64 = 1 << 18;
/// CR4.PKE.
pub const CR4_PKE: u64 = 1 << 22;

/// Makes the bits of a CPUID result that reflect the guest's own control registers (not the
/// hypervisor's) true for this guest, as a CPU does: leaf 1 ECX bit 27 (OSXSAVE) follows
/// CR4.OSXSAVE, leaf 7 subleaf 0 ECX bit 4 (OSPKE) follows CR4.PKE. (A program that trusted a
/// stale OSXSAVE would execute XGETBV with XSAVE off and fault.)
pub fn postprocess(leaf: u32, subleaf: u32, r: Regs, cr4: u64) -> Regs {
    let set = |v: u32, bit: u32, on: bool| if on { v | 1 << bit } else { v & !(1 << bit) };
    match (leaf, subleaf) {
        (1, _) => (r.0, r.1, set(r.2, 27, cr4 & CR4_OSXSAVE != 0), r.3),
        (7, 0) => (r.0, r.1, set(r.2, 4, cr4 & CR4_PKE != 0), r.3),
        _ => r,
    }
}

/// Writes entry `i` (for tests and the packer's checks): inputs and results.
pub fn put(page: &mut [u8; 4096], i: usize, input: (u32, u32, u64, u64), out: Regs) {
    let e = ENTRIES + i * ENTRY_SIZE;
    page[e..e + 4].copy_from_slice(&input.0.to_le_bytes());
    page[e + 4..e + 8].copy_from_slice(&input.1.to_le_bytes());
    page[e + 8..e + 16].copy_from_slice(&input.2.to_le_bytes());
    page[e + 16..e + 24].copy_from_slice(&input.3.to_le_bytes());
    for (k, v) in [out.0, out.1, out.2, out.3].into_iter().enumerate() {
        page[e + 24 + 4 * k..e + 28 + 4 * k].copy_from_slice(&v.to_le_bytes());
    }
}

fn u32_at(p: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
}

fn u64_at(p: &[u8], at: usize) -> u64 {
    u32_at(p, at) as u64 | (u32_at(p, at + 4) as u64) << 32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> [u8; 4096] {
        let mut p = [0u8; 4096];
        put(&mut p, 0, (0, 0, 0, 0), (0x10, 0x6874_7541, 0x444d_4163, 0x6974_6e65));
        put(&mut p, 1, (0x7, 0, 0, 0), (0, 0x219c_91a9, 0x0040_069c, 0x10));
        put(&mut p, 2, (0x7, 1, 0, 0), (0x20, 0, 0, 0));
        put(&mut p, 3, (0xd, 0, 0x1, 0), (0x1, 0x240, 0x240, 0));
        put(&mut p, 4, (0xd, 0, 0x7, 0), (0x7, 0x340, 0x340, 0));
        put(&mut p, 5, (0x8000_001f, 0, 0, 0), (0x1_fdfb, 0x173, 0x1fd, 0));
        p[0..4].copy_from_slice(&6u32.to_le_bytes());
        p
    }

    #[test]
    fn finds_leaves_and_subleaves() {
        let p = page();
        // Leaf 0 ignores ECX: "AuthenticAMD" whatever the subleaf.
        assert_eq!(lookup(&p, 0, 5, 0, 0), Ok((0x10, 0x6874_7541, 0x444d_4163, 0x6974_6e65)));
        assert_eq!(lookup(&p, 7, 0, 0, 0).unwrap().1, 0x219c_91a9);
        assert_eq!(lookup(&p, 7, 1, 0, 0), Ok((0x20, 0, 0, 0)));
        assert_eq!(lookup(&p, 7, 2, 0, 0), Err(Missing::NotFound));
        assert_eq!(lookup(&p, 0x8000_001f, 0, 0, 0).unwrap().1 & 0x3f, 51);
    }

    #[test]
    fn xsave_leaf_follows_xcr0() {
        let p = page();
        assert_eq!(lookup(&p, 0xd, 0, 0x1, 0).unwrap().1, 0x240);
        assert_eq!(lookup(&p, 0xd, 0, 0x7, 0).unwrap().1, 0x340);
        assert_eq!(lookup(&p, 0xd, 0, 0x3, 0), Err(Missing::NotFound));
    }

    #[test]
    fn os_bits_follow_cr4() {
        let leaf1 = (0x00a0_0f11, 0x0080_0800, 0x7ef8_320b, 0x178b_fbff);
        // The table says OSXSAVE (bit 27 of 0x7ef8320b is set); without CR4.OSXSAVE it is cleared.
        assert_eq!(postprocess(1, 0, leaf1, 0).2, 0x76f8_320b);
        assert_eq!(postprocess(1, 0, leaf1, CR4_OSXSAVE).2, 0x7ef8_320b);
        assert_eq!(postprocess(1, 0, (0, 0, 0, 0), CR4_OSXSAVE).2, 1 << 27);
        assert_eq!(postprocess(7, 0, (0, 0, 0x10, 0), 0).2, 0);
        assert_eq!(postprocess(7, 0, (0, 0, 0, 0), CR4_PKE).2, 0x10);
        assert_eq!(postprocess(7, 1, (0, 0, 0x10, 0), 0).2, 0x10);
        assert_eq!(postprocess(0xd, 0, (1, 2, 3, 4), 0), (1, 2, 3, 4));
    }

    #[test]
    fn missing_leaf_is_zero_and_bad_page_refused() {
        let mut p = page();
        assert_eq!(lookup(&p, 0x4000_0000, 0, 0, 0), Err(Missing::NotFound));
        assert_eq!(answer(&p, 0x4000_0000, 0, 0, 0), Ok((0, 0, 0, 0)));
        // Entries past `count` are not read.
        put(&mut p, 6, (0x4000_0000, 0, 0, 0), (1, 2, 3, 4));
        assert_eq!(answer(&p, 0x4000_0000, 0, 0, 0), Ok((0, 0, 0, 0)));
        p[0..4].copy_from_slice(&7u32.to_le_bytes());
        assert_eq!(answer(&p, 0x4000_0000, 0, 0, 0), Ok((1, 2, 3, 4)));
        p[0..4].copy_from_slice(&65u32.to_le_bytes());
        assert_eq!(answer(&p, 0, 0, 0, 0), Err(Missing::BadPage));
        // The empty page LiteBox's packer writes today answers zeroes for every leaf.
        assert_eq!(answer(&[0u8; 4096], 1, 0, 0, 0), Ok((0, 0, 0, 0)));
    }
}
