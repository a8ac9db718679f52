//! A TA image: an x86-64 ELF shared object (ET_DYN) with a `.ta_head` section.
//!
//! `.ta_head` holds `struct ta_head` (OP-TEE `ta/user_ta_header.h`): the TA's UUID (16 bytes,
//! native order), its stack size (u32), its flags (u32, `TA_FLAG_*`) and the deprecated entry
//! (u64, an offset in the image). The image is hostile input: every read is bounds-checked.

use crate::abi::{TeeResult, TEE_ERROR_BAD_FORMAT};
use crate::uuid::TeeUuid;

/// `sizeof(struct ta_head)` on x86-64.
pub const TA_HEAD_SIZE: usize = 32;

/// `TA_FLAG_SINGLE_INSTANCE`: one instance serves every session.
pub const TA_FLAG_SINGLE_INSTANCE: u32 = 1 << 2;
/// `TA_FLAG_MULTI_SESSION`: the single instance may hold several sessions at once.
pub const TA_FLAG_MULTI_SESSION: u32 = 1 << 3;
/// `TA_FLAG_INSTANCE_KEEP_ALIVE`: the instance outlives its last session.
pub const TA_FLAG_INSTANCE_KEEP_ALIVE: u32 = 1 << 4;

/// The decoded `struct ta_head` of a TA image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaHead {
    pub uuid: TeeUuid,
    pub stack_size: u32,
    pub flags: u32,
    pub entry: u64,
}

impl TaHead {
    /// Decodes a `struct ta_head` from its 32 bytes.
    pub fn decode(bytes: &[u8; TA_HEAD_SIZE]) -> Self {
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&bytes[..16]);
        TaHead {
            uuid: TeeUuid::from_le_bytes(&uuid),
            stack_size: u32::from_le_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]),
            flags: u32::from_le_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]),
            entry: u64::from_le_bytes([
                bytes[24], bytes[25], bytes[26], bytes[27], bytes[28], bytes[29], bytes[30], bytes[31],
            ]),
        }
    }
}

/// Why an image is not a TA we can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaImageError {
    NotElf64,
    NotX86_64,
    NotSharedObject,
    Truncated,
    NoTaHead,
}

impl TaImageError {
    /// One line for a person.
    pub fn message(self) -> &'static str {
        match self {
            TaImageError::NotElf64 => "not a 64-bit little-endian ELF file",
            TaImageError::NotX86_64 => "not an x86-64 ELF file",
            TaImageError::NotSharedObject => "not a shared object (ET_DYN): a TA is linked -shared or -pie",
            TaImageError::Truncated => "truncated: a header or section lies past the end of the file",
            TaImageError::NoTaHead => "no .ta_head section of at least 32 bytes: not an OP-TEE TA",
        }
    }

    /// The GP result a loader reports for it.
    pub fn result(self) -> TeeResult {
        TEE_ERROR_BAD_FORMAT
    }
}

fn read<const N: usize>(image: &[u8], at: u64) -> Result<[u8; N], TaImageError> {
    let at = usize::try_from(at).map_err(|_| TaImageError::Truncated)?;
    let end = at.checked_add(N).ok_or(TaImageError::Truncated)?;
    let slice = image.get(at..end).ok_or(TaImageError::Truncated)?;
    let mut out = [0u8; N];
    out.copy_from_slice(slice);
    Ok(out)
}

fn u16_at(image: &[u8], at: u64) -> Result<u16, TaImageError> {
    Ok(u16::from_le_bytes(read::<2>(image, at)?))
}

fn u32_at(image: &[u8], at: u64) -> Result<u32, TaImageError> {
    Ok(u32::from_le_bytes(read::<4>(image, at)?))
}

fn u64_at(image: &[u8], at: u64) -> Result<u64, TaImageError> {
    Ok(u64::from_le_bytes(read::<8>(image, at)?))
}

/// Finds `.ta_head` in an x86-64 ET_DYN ELF image and decodes it.
pub fn read_ta_head(image: &[u8]) -> Result<TaHead, TaImageError> {
    let ident = read::<6>(image, 0).map_err(|_| TaImageError::NotElf64)?;
    if ident[..4] != *b"\x7fELF" || ident[4] != 2 || ident[5] != 1 {
        return Err(TaImageError::NotElf64);
    }
    if u16_at(image, 0x12)? != 62 {
        return Err(TaImageError::NotX86_64);
    }
    if u16_at(image, 0x10)? != 3 {
        return Err(TaImageError::NotSharedObject);
    }
    let shoff = u64_at(image, 0x28)?;
    let shentsize = u64::from(u16_at(image, 0x3A)?);
    let shnum = u64::from(u16_at(image, 0x3C)?);
    let shstrndx = u64::from(u16_at(image, 0x3E)?);
    if shentsize < 64 || shstrndx >= shnum {
        return Err(TaImageError::NoTaHead);
    }
    let section = |i: u64| -> Result<(u32, u64, u64), TaImageError> {
        let base = shoff.checked_add(i.checked_mul(shentsize).ok_or(TaImageError::Truncated)?);
        let base = base.ok_or(TaImageError::Truncated)?;
        Ok((u32_at(image, base)?, u64_at(image, base + 0x18)?, u64_at(image, base + 0x20)?))
    };
    let (_, str_off, str_size) = section(shstrndx)?;
    const NAME: &[u8] = b".ta_head\0";
    for i in 0..shnum {
        let (name, offset, size) = section(i)?;
        if u64::from(name) + NAME.len() as u64 > str_size {
            continue;
        }
        let at = str_off.checked_add(u64::from(name)).ok_or(TaImageError::Truncated)?;
        if read::<9>(image, at)? == *NAME {
            if size < TA_HEAD_SIZE as u64 {
                return Err(TaImageError::NoTaHead);
            }
            return Ok(TaHead::decode(&read::<TA_HEAD_SIZE>(image, offset)?));
        }
    }
    Err(TaImageError::NoTaHead)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// A minimal ET_DYN x86-64 ELF with sections: null, .shstrtab, .ta_head (`head`).
    pub(crate) fn tiny_ta(head: &[u8], e_type: u16, machine: u16) -> Vec<u8> {
        let strtab = b"\0.shstrtab\0.ta_head\0";
        let mut img = vec![0u8; 64];
        img[..4].copy_from_slice(b"\x7fELF");
        img[4] = 2;
        img[5] = 1;
        img[6] = 1;
        img[0x10..0x12].copy_from_slice(&e_type.to_le_bytes());
        img[0x12..0x14].copy_from_slice(&machine.to_le_bytes());
        let str_off = img.len() as u64;
        img.extend_from_slice(strtab);
        let head_off = img.len() as u64;
        img.extend_from_slice(head);
        while img.len() & 7 != 0 {
            img.push(0);
        }
        let shoff = img.len() as u64;
        img[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        img[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        img[0x3C..0x3E].copy_from_slice(&3u16.to_le_bytes());
        img[0x3E..0x40].copy_from_slice(&1u16.to_le_bytes());
        let mut sh = |name: u32, off: u64, size: u64| {
            let mut s = [0u8; 64];
            s[..4].copy_from_slice(&name.to_le_bytes());
            s[0x18..0x20].copy_from_slice(&off.to_le_bytes());
            s[0x20..0x28].copy_from_slice(&size.to_le_bytes());
            img.extend_from_slice(&s);
        };
        sh(0, 0, 0);
        sh(1, str_off, strtab.len() as u64);
        sh(11, head_off, head.len() as u64);
        img
    }

    fn hello_head() -> [u8; 32] {
        let mut head = [0u8; 32];
        let uuid = TeeUuid::parse("8aaaf200-2450-11e4-abe2-0002a5d5c51b").unwrap();
        head[..16].copy_from_slice(&uuid.to_le_bytes());
        head[16..20].copy_from_slice(&0x800u32.to_le_bytes());
        head[20..24].copy_from_slice(&(TA_FLAG_SINGLE_INSTANCE | TA_FLAG_MULTI_SESSION).to_le_bytes());
        head[24..32].copy_from_slice(&0x1234u64.to_le_bytes());
        head
    }

    #[test]
    fn reads_the_head_of_a_ta() {
        let img = tiny_ta(&hello_head(), 3, 62);
        let head = read_ta_head(&img).unwrap();
        assert_eq!(alloc::format!("{}", head.uuid), "8aaaf200-2450-11e4-abe2-0002a5d5c51b");
        assert_eq!(head.stack_size, 0x800);
        assert_eq!(head.flags, 0xC);
        assert_eq!(head.entry, 0x1234);
    }

    #[test]
    fn refuses_what_is_not_a_ta() {
        assert_eq!(read_ta_head(b"hello"), Err(TaImageError::NotElf64));
        assert_eq!(read_ta_head(&tiny_ta(&hello_head(), 2, 62)), Err(TaImageError::NotSharedObject));
        assert_eq!(read_ta_head(&tiny_ta(&hello_head(), 3, 183)), Err(TaImageError::NotX86_64));
        assert_eq!(read_ta_head(&tiny_ta(&hello_head()[..16], 3, 62)), Err(TaImageError::NoTaHead));
        let img = tiny_ta(&hello_head(), 3, 62);
        for cut in [20, 70, img.len() - 40] {
            assert!(read_ta_head(&img[..cut]).is_err(), "cut at {cut}");
        }
    }
}
