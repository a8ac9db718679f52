//! The packed image inside the runtime's own executable: the `.litebox.image` ELF section
//! (non-allocated, added by the packager), read from /proc/self/exe.

/// The bytes of section `name` of the ELF file `elf`, or a one-line reason.
pub fn section<'a>(elf: &'a [u8], name: &[u8]) -> Result<&'a [u8], String> {
    let get = |at: usize, n: usize| elf.get(at..at + n).ok_or_else(|| "truncated ELF header".to_string());
    let u16_at = |at: usize| get(at, 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |at: usize| get(at, 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let u64_at = |at: usize| get(at, 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize);
    if get(0, 4)? != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    let (shoff, shentsize, shnum, shstrndx) = (u64_at(0x28)?, u16_at(0x3A)?, u16_at(0x3C)?, u16_at(0x3E)?);
    let sh = |i: usize| shoff + i * shentsize;
    let strtab = u64_at(sh(shstrndx) + 0x18)?;
    for i in 0..shnum {
        let name_off = strtab + u32_at(sh(i))?;
        if elf.get(name_off..name_off + name.len() + 1).is_some_and(|s| &s[..name.len()] == name && s[name.len()] == 0)
        {
            let (off, size) = (u64_at(sh(i) + 0x18)?, u64_at(sh(i) + 0x20)?);
            return elf.get(off..off.saturating_add(size)).ok_or_else(|| "section past the end of the file".into());
        }
    }
    Err(format!("no {} section (is this a packed artifact?)", String::from_utf8_lossy(name)))
}
