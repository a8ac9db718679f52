//! Finding the packed image: the packer adds it to the runtime as its own PE section,
//! [`IMAGE_SECTION`], which Windows maps with the rest of the executable.
use crate::win;

/// The PE section that holds the image (8 characters at most, so the name is in the header).
pub const IMAGE_SECTION: &[u8; 8] = b".lbximg\0";

fn u16_at(base: usize, off: usize) -> u16 {
    // SAFETY: only called on offsets inside the mapped headers of this executable.
    unsafe { core::ptr::read_unaligned((base + off) as *const u16) }
}

fn u32_at(base: usize, off: usize) -> u32 {
    // SAFETY: as for u16_at.
    unsafe { core::ptr::read_unaligned((base + off) as *const u32) }
}

/// The image section of this executable as mapped in memory, and its size on disk (the
/// packer writes it whole, so the raw size is the image's size rounded to the file alignment;
/// the image reader ignores what follows its own length).
pub fn find() -> Result<&'static [u8], &'static str> {
    // SAFETY: GetModuleHandleW(NULL) returns this executable's base.
    let base = unsafe { win::GetModuleHandleW(core::ptr::null()) };
    if base == 0 || u16_at(base, 0) != 0x5a4d {
        return Err("cannot read the executable's own headers");
    }
    let pe = u32_at(base, 0x3c) as usize;
    let sections = u16_at(base, pe + 6) as usize;
    let optional = u16_at(base, pe + 20) as usize;
    let table = pe + 24 + optional;
    for i in 0..sections {
        let s = table + 40 * i;
        // SAFETY: the section table is part of the mapped headers.
        let name = unsafe { core::slice::from_raw_parts((base + s) as *const u8, 8) };
        if name == IMAGE_SECTION {
            let vsize = u32_at(base, s + 8) as usize;
            let rva = u32_at(base, s + 12) as usize;
            // SAFETY: the loader mapped the section at base + rva with vsize bytes, read-only,
            // for the life of the process.
            return Ok(unsafe { core::slice::from_raw_parts((base + rva) as *const u8, vsize) });
        }
    }
    Err("no image in this executable (a bare runtime, not a packed artifact)")
}
