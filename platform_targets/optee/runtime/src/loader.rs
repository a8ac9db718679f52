//! Loading a TA ELF (ET_DYN, x86-64) into the TA window: PT_LOAD segments copied in, dynamic
//! relocations applied (RELATIVE, and 64/GLOB_DAT/JUMP_SLOT against the TA's own symbols: a
//! TA is linked statically against its libutee), then each page protected as its segments say.
//! The window is one reserved 1 GiB range at a 4 GiB boundary that holds everything of the
//! TA (image, stack, parameter buffers), so one seccomp rule can tell the TA's system calls
//! from the host's by the instruction pointer.

use std::collections::BTreeMap;

pub const WINDOW_SIZE: u64 = 1 << 30;
const IMAGE_OFFSET: u64 = 0x1_0000;
const STACK_END_OFFSET: u64 = 0x2000_0000;
pub const ARENA_OFFSET: u64 = 0x3000_0000;
pub const ARENA_SIZE: u64 = 0x0800_0000;
const PAGE: u64 = 4096;

/// A mapped range of the TA and whether the TA may write it.
#[derive(Clone, Copy, Debug)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub writable: bool,
}

/// The reserved address range the TA lives in.
pub struct Window {
    pub base: u64,
}

/// A TA mapped and ready to enter.
pub struct LoadedTa {
    pub entry: u64,
    pub stack_top: u64,
    pub regions: Vec<Region>,
}

fn mmap_fixed(addr: u64, len: u64, prot: i32) -> Result<(), String> {
    // SAFETY: MAP_FIXED over a range inside the window this process reserved for the TA; no
    // Rust object lives there.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len as usize,
            prot,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(format!("cannot map {len} bytes for the TA: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

impl Window {
    /// Reserves the window (PROT_NONE) at the first free 4 GiB-aligned hint that works.
    pub fn reserve() -> Result<Self, String> {
        for slot in 0x50u64..0x70 {
            let hint = slot << 40;
            // SAFETY: a fresh PROT_NONE reservation at an address nothing else uses
            // (MAP_FIXED_NOREPLACE fails rather than replace a mapping).
            let p = unsafe {
                libc::mmap(
                    hint as *mut libc::c_void,
                    WINDOW_SIZE as usize,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED_NOREPLACE,
                    -1,
                    0,
                )
            };
            if p != libc::MAP_FAILED && p as u64 == hint {
                return Ok(Window { base: hint });
            }
            if p != libc::MAP_FAILED {
                // SAFETY: unmapping the mapping just made, which nothing refers to.
                unsafe { libc::munmap(p, WINDOW_SIZE as usize) };
            }
        }
        Err("cannot reserve an address range for the TA".into())
    }

    /// Empties the window (everything PROT_NONE again), before a TA is loaded anew.
    pub fn clear(&self) -> Result<(), String> {
        // SAFETY: replaces the whole window, which only the TA's mappings occupy.
        let p = unsafe {
            libc::mmap(
                self.base as *mut libc::c_void,
                WINDOW_SIZE as usize,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("cannot reset the TA's address range: {}", std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// The parameter arena: (start, end).
    pub fn arena(&self) -> (u64, u64) {
        (self.base + ARENA_OFFSET, self.base + ARENA_OFFSET + ARENA_SIZE)
    }
}

struct Elf<'a>(&'a [u8]);

impl Elf<'_> {
    fn bytes(&self, at: u64, n: u64) -> Result<&[u8], String> {
        let end = at.checked_add(n).ok_or("offset overflow")?;
        self.0
            .get(at as usize..end as usize)
            .ok_or_else(|| format!("truncated TA: {n} bytes at {at:#x} lie past its end"))
    }
    fn u16(&self, at: u64) -> Result<u64, String> {
        let b = self.bytes(at, 2)?;
        Ok(u64::from(u16::from_le_bytes([b[0], b[1]])))
    }
    fn u32(&self, at: u64) -> Result<u64, String> {
        let b = self.bytes(at, 4)?;
        Ok(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    }
    fn u64(&self, at: u64) -> Result<u64, String> {
        let b = self.bytes(at, 8)?;
        Ok(u64::from_le_bytes(b.try_into().map_err(|_| "short read")?))
    }
}

struct Segment {
    vaddr: u64,
    memsz: u64,
    offset: u64,
    filesz: u64,
    flags: u64,
}

/// Maps `image` into `window` with a stack of `stack_size` bytes.
pub fn load(window: &Window, image: &[u8], stack_size: u64) -> Result<LoadedTa, String> {
    let elf = Elf(image);
    if elf.bytes(0, 4)? != b"\x7fELF" || elf.bytes(4, 2)? != [2, 1] || elf.u16(0x12)? != 62 || elf.u16(0x10)? != 3 {
        return Err("the TA is not an x86-64 ET_DYN ELF file".into());
    }
    let (phoff, phentsize, phnum) = (elf.u64(0x20)?, elf.u16(0x36)?, elf.u16(0x38)?);
    let mut segments = Vec::new();
    let mut dynamic = None;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        match elf.u32(ph)? {
            1 => segments.push(Segment {
                flags: elf.u32(ph + 4)?,
                offset: elf.u64(ph + 8)?,
                vaddr: elf.u64(ph + 0x10)?,
                filesz: elf.u64(ph + 0x20)?,
                memsz: elf.u64(ph + 0x28)?,
            }),
            2 => dynamic = Some((elf.u64(ph + 0x10)?, elf.u64(ph + 0x28)?)),
            7 => return Err("the TA has thread-local storage (PT_TLS), which a TA cannot use".into()),
            _ => {}
        }
    }
    let lo = segments.iter().map(|s| s.vaddr & !(PAGE - 1)).min().ok_or("the TA has no PT_LOAD segment")?;
    let hi = segments.iter().map(|s| (s.vaddr + s.memsz + PAGE - 1) & !(PAGE - 1)).max().unwrap_or(lo);
    let base = window.base + IMAGE_OFFSET;
    if hi - lo > STACK_END_OFFSET - stack_size - IMAGE_OFFSET - PAGE {
        return Err("the TA is too large".into());
    }
    let bias = base - lo;
    window.clear()?;
    mmap_fixed(base, hi - lo, libc::PROT_READ | libc::PROT_WRITE)?;
    for s in &segments {
        if s.filesz > s.memsz {
            return Err("a PT_LOAD segment has filesz > memsz".into());
        }
        let src = elf.bytes(s.offset, s.filesz)?;
        // SAFETY: the destination lies inside the RW mapping just made (vaddr..vaddr+memsz is
        // within lo..hi) and does not overlap `src`, which is the TA file in the heap.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), (s.vaddr + bias) as *mut u8, src.len()) };
    }
    let in_image = |addr: u64, n: u64| addr >= base && addr.checked_add(n).is_some_and(|e| e <= base + (hi - lo));
    let read_u64 = |addr: u64| -> Result<u64, String> {
        if !in_image(addr, 8) {
            return Err(format!("a dynamic entry points outside the TA ({addr:#x})"));
        }
        // SAFETY: checked to lie inside the TA's RW mapping.
        Ok(unsafe { std::ptr::read_unaligned(addr as *const u64) })
    };
    if let Some((dyn_vaddr, dyn_size)) = dynamic {
        let mut tags: BTreeMap<u64, u64> = BTreeMap::new();
        for i in 0..dyn_size / 16 {
            let tag = read_u64(dyn_vaddr + bias + 16 * i)?;
            if tag == 0 {
                break;
            }
            tags.insert(tag, read_u64(dyn_vaddr + bias + 16 * i + 8)?);
        }
        let symtab = tags.get(&6).map(|v| v + bias);
        let mut tables = Vec::new();
        if let (Some(rela), Some(size)) = (tags.get(&7), tags.get(&8)) {
            tables.push((rela + bias, *size));
        }
        if let (Some(rela), Some(size)) = (tags.get(&23), tags.get(&2)) {
            tables.push((rela + bias, *size));
        }
        for (table, size) in tables {
            for i in 0..size / 24 {
                let r = table + 24 * i;
                let (offset, info, addend) = (read_u64(r)?, read_u64(r + 8)?, read_u64(r + 16)? as i64);
                let target = offset + bias;
                if !in_image(target, 8) {
                    return Err(format!("a relocation targets {offset:#x}, outside the TA"));
                }
                let symbol = |index: u64| -> Result<u64, String> {
                    let sym = symtab.ok_or("a relocation names a symbol but the TA has no DT_SYMTAB")? + 24 * index;
                    let shndx = read_u64(sym)? >> 48;
                    if shndx == 0 {
                        return Err("the TA needs an undefined symbol: link it statically against its libutee".into());
                    }
                    Ok(read_u64(sym + 8)? + bias)
                };
                let value = match info & 0xFFFF_FFFF {
                    0 => continue,
                    8 => bias.wrapping_add_signed(addend),
                    1 => symbol(info >> 32)?.wrapping_add_signed(addend),
                    6 | 7 => symbol(info >> 32)?,
                    t => return Err(format!("unsupported relocation type {t} in the TA")),
                };
                // SAFETY: `target` was checked to lie inside the TA's RW mapping.
                unsafe { std::ptr::write_unaligned(target as *mut u64, value) };
            }
        }
    }
    // Page protections: the union of the segments that touch each page.
    let mut pages: BTreeMap<u64, u64> = BTreeMap::new();
    for s in &segments {
        let mut p = (s.vaddr & !(PAGE - 1)) + bias;
        while p < s.vaddr + s.memsz + bias {
            *pages.entry(p).or_default() |= s.flags;
            p += PAGE;
        }
    }
    let mut regions: Vec<Region> = Vec::new();
    for (page, flags) in &pages {
        let prot = (if flags & 4 != 0 { libc::PROT_READ } else { 0 })
            | (if flags & 2 != 0 { libc::PROT_WRITE } else { 0 })
            | (if flags & 1 != 0 { libc::PROT_EXEC } else { 0 });
        // SAFETY: the page belongs to the TA's mapping in the window.
        if unsafe { libc::mprotect(*page as *mut libc::c_void, PAGE as usize, prot) } != 0 {
            return Err(format!("cannot protect the TA's pages: {}", std::io::Error::last_os_error()));
        }
        let writable = flags & 2 != 0;
        match regions.last_mut() {
            Some(r) if r.end == *page && r.writable == writable => r.end += PAGE,
            _ => regions.push(Region { start: *page, end: page + PAGE, writable }),
        }
    }
    let stack_size = (stack_size.max(64 << 10) + PAGE - 1) & !(PAGE - 1);
    let stack_top = window.base + STACK_END_OFFSET;
    mmap_fixed(stack_top - stack_size, stack_size, libc::PROT_READ | libc::PROT_WRITE)?;
    regions.push(Region { start: stack_top - stack_size, end: stack_top, writable: true });
    let (arena_lo, arena_hi) = window.arena();
    mmap_fixed(arena_lo, arena_hi - arena_lo, libc::PROT_READ | libc::PROT_WRITE)?;
    regions.push(Region { start: arena_lo, end: arena_hi, writable: true });
    let entry = elf.u64(0x18)?;
    if entry == 0 || !in_image(entry + bias, 1) {
        return Err("the TA's ELF entry point (e_entry) is not inside it".into());
    }
    Ok(LoadedTa { entry: entry + bias, stack_top, regions })
}
