//! ELF loading: maps a static, static-pie or dynamic x86-64 program (and its interpreter) from
//! the image into the app's address space and builds the initial stack the way Linux's
//! binfmt_elf does (argc, argv, envp, auxv, AT_RANDOM bytes, AT_EXECFN string).
use alloc::vec::Vec;

use crate::abi::{
    MAP_FIXED, MAP_FIXED_NOREPLACE, MAP_NORESERVE, MAP_PRIVATE, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE,
};
use crate::errno::*;
use crate::fs::{Node, NodeKind};
use crate::kernel::LibOs;
use crate::platform::Platform;

pub const AT_NULL: usize = 0;
pub const AT_PHDR: usize = 3;
pub const AT_PHENT: usize = 4;
pub const AT_PHNUM: usize = 5;
pub const AT_PAGESZ: usize = 6;
pub const AT_BASE: usize = 7;
pub const AT_FLAGS: usize = 8;
pub const AT_ENTRY: usize = 9;
pub const AT_UID: usize = 11;
pub const AT_EUID: usize = 12;
pub const AT_GID: usize = 13;
pub const AT_EGID: usize = 14;
pub const AT_PLATFORM: usize = 15;
pub const AT_HWCAP: usize = 16;
pub const AT_CLKTCK: usize = 17;
pub const AT_SECURE: usize = 23;
pub const AT_RANDOM: usize = 25;
pub const AT_HWCAP2: usize = 26;
pub const AT_EXECFN: usize = 31;
pub const AT_MINSIGSTKSZ: usize = 51;

const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;

/// Why a program could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The path does not resolve to a regular file in the image.
    NotFound(Errno),
    /// The file is not a loadable x86-64 ELF; the text says what is wrong.
    BadElf(&'static str),
    /// Mapping memory failed.
    NoMemory(Errno),
}

/// Where a program ended up in memory.
struct Mapped {
    base: usize,
    entry: usize,
    phdr: usize,
    phnum: usize,
    end: usize,
}

/// The program is loaded: jump to `entry` with `rsp = sp` (and rdx = 0).
pub struct Loaded {
    pub entry: usize,
    pub sp: usize,
    /// Address of the main program's entry (AT_ENTRY).
    pub main_entry: usize,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

struct Phdr {
    kind: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

/// An ELF file in the namespace: its node, length, and the first bytes (ELF header and, if
/// they fit, the program headers).
struct ElfFile {
    node: Node,
    /// Its resolved path in the namespace (names its segments in /proc/self/maps).
    path: alloc::sync::Arc<Vec<u8>>,
    len: u64,
    head: Vec<u8>,
}

const HEAD: usize = 4096;

fn parse_phdrs(f: &ElfFile) -> Result<(u16, u64, Vec<Phdr>), LoadError> {
    let elf = &f.head[..];
    if elf.len() < 64 || &elf[0..4] != b"\x7fELF" {
        return Err(LoadError::BadElf("not an ELF file"));
    }
    if elf[4] != 2 || elf[5] != 1 {
        return Err(LoadError::BadElf("not a 64-bit little-endian ELF"));
    }
    if u16_at(elf, 18) != 62 {
        return Err(LoadError::BadElf("not an x86-64 ELF"));
    }
    let etype = u16_at(elf, 16);
    if etype != ET_EXEC && etype != ET_DYN {
        return Err(LoadError::BadElf("not an executable or shared object"));
    }
    let entry = u64_at(elf, 24);
    let phoff = u64_at(elf, 32) as usize;
    let phentsize = u16_at(elf, 54) as usize;
    let phnum = u16_at(elf, 56) as usize;
    if phentsize != 56 || phnum == 0 || phnum > 256 {
        return Err(LoadError::BadElf("bad program header table"));
    }
    let end = phoff.checked_add(phnum * 56).ok_or(LoadError::BadElf("bad program header table"))?;
    if end > elf.len() {
        return Err(LoadError::BadElf("program header table out of bounds (or past the first 4 KiB)"));
    }
    let mut out = Vec::with_capacity(phnum);
    // One bounds check for the table (above and here), none per field: fewer distinct code
    // blocks, which is what a program load costs under a VM's emulation.
    for h in elf[phoff..end].chunks_exact(56) {
        let h: &[u8; 56] = h.try_into().map_err(|_| LoadError::BadElf("bad program header table"))?;
        let w32 = |o: usize| u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
        let w64 =
            |o: usize| u64::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3], h[o + 4], h[o + 5], h[o + 6], h[o + 7]]);
        let p = Phdr { kind: w32(0), flags: w32(4), offset: w64(8), vaddr: w64(16), filesz: w64(32), memsz: w64(40) };
        if p.kind == PT_LOAD {
            let fend = p.offset.checked_add(p.filesz);
            if fend.is_none_or(|e| e > f.len) || p.filesz > p.memsz {
                return Err(LoadError::BadElf("PT_LOAD segment out of bounds"));
            }
            if p.vaddr.checked_add(p.memsz).is_none_or(|e| e >= 0x0000_8000_0000_0000) {
                return Err(LoadError::BadElf("PT_LOAD segment outside user space"));
            }
            if p.vaddr % PAGE_SIZE as u64 != p.offset % PAGE_SIZE as u64 {
                return Err(LoadError::BadElf("PT_LOAD segment misaligned"));
            }
        }
        out.push(p);
    }
    Ok((etype, entry, out))
}

fn page_down(x: usize) -> usize {
    x & !(PAGE_SIZE - 1)
}
fn page_up(x: usize) -> usize {
    (x + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// Where Linux puts a PIE main program (ELF_ET_DYN_BASE on x86-64), so the program break
/// after it has room to grow, far from the mmap area.
const PIE_BASE: usize = 0x5555_5555_4000;

fn map_elf<P: Platform>(os: &LibOs<P>, elf: &ElfFile, is_main: bool) -> Result<Mapped, LoadError> {
    let (etype, entry, phdrs) = parse_phdrs(elf)?;
    let loads: Vec<&Phdr> = phdrs.iter().filter(|p| p.kind == PT_LOAD).collect();
    if loads.is_empty() {
        return Err(LoadError::BadElf("no PT_LOAD segment"));
    }
    let lo = page_down(loads.iter().map(|p| p.vaddr).min().unwrap_or(0) as usize);
    let hi = page_up(loads.iter().map(|p| p.vaddr + p.memsz).max().unwrap_or(0) as usize);
    let span = hi - lo;
    let p = &os.platform;
    let rw = PROT_READ | PROT_WRITE;
    let base = if etype == ET_EXEC {
        os.map_anon(lo, span, rw, MAP_PRIVATE | MAP_FIXED_NOREPLACE, None).map_err(LoadError::NoMemory)?;
        0
    } else {
        let placed = if is_main {
            let mut r = [0u8; 4];
            p.random(&mut r);
            let slide = (u32::from_le_bytes(r) as usize & 0xf_ffff) * PAGE_SIZE;
            os.map_anon(PIE_BASE + slide, span, rw, MAP_PRIVATE | MAP_FIXED_NOREPLACE, None).ok()
        } else {
            None
        };
        let at = match placed {
            Some(at) => at,
            None => os.map_anon(0, span, rw, MAP_PRIVATE, None).map_err(LoadError::NoMemory)?,
        };
        at - lo
    };
    // Bit i: segment i's pages have their final protection on the host once it is mapped (no
    // mprotect afterwards). A bit mask (no allocation on the start-up path); a segment past
    // the 64th is protected as before.
    let mut settled: u64 = 0;
    let settle = |i: usize| if i < 64 { 1u64 << i } else { 0 };
    for (i, ph) in loads.iter().enumerate() {
        let dst = base + ph.vaddr as usize;
        let prot = segment_prot(ph);
        let (s, e) = (page_down(dst), page_up(dst + ph.memsz as usize));
        // The whole pages of the segment's file bytes are mapped from the image where the
        // platform can (shared with the page cache, nothing copied); the rest is copied.
        let (a, whole) = mappable_pages(&loads, i, base);
        // `a` may lie below `dst` (a segment starting inside its first page).
        let file_off = (ph.offset + a as u64).wrapping_sub(dst as u64);
        let map = |b: usize, prot: u32| {
            a < b
                && match os.vfs.image_span(&elf.node, file_off, (b - a) as u64) {
                    Some(img) => p.map_image(a, b - a, prot, img).is_ok(),
                    None => false,
                }
        };
        // A read-only segment's partial last page is mapped too, as Linux maps it: the rest of
        // that page reads the file's next bytes (never past the file's end: `image_span` says
        // None there, and the page is copied). One host mapping instead of two per segment,
        // and no anonymous page a fork copies.
        let tail = tail_page(&loads, i, base);
        // A segment mapped whole from the image (every one of its pages, nothing to copy or
        // zero) that shares no page with another segment is mapped with its final protection
        // at once, as Linux maps it: no write ever reaches it, and no mprotect follows. A
        // writable segment of its own pages is readable and writable from the start (the span's
        // anonymous mapping, the image's pages mapped writable): nothing to change either.
        let alone = !shares_a_page(&loads, i, base);
        let at_once = alone && a == s && tail.unwrap_or(whole) == e;
        let (mapped, b) = if at_once && map(e, prot) {
            settled |= settle(i);
            (true, e)
        } else {
            if alone && prot == rw {
                settled |= settle(i);
            }
            match tail {
                Some(t) if map(t, rw) => (true, t),
                _ => (map(whole, rw), whole),
            }
        };
        let pieces: [(usize, usize); 2] =
            if mapped { [(dst, a), (b, dst + ph.filesz as usize)] } else { [(dst, dst + ph.filesz as usize), (0, 0)] };
        for (from, to) in pieces {
            if to <= from {
                continue;
            }
            let mem = crate::user::slice_mut(from, to - from).map_err(LoadError::NoMemory)?;
            let at = ph.offset + (from - dst) as u64;
            let got = os.vfs.read_once_at(&elf.node, at, mem).map_err(LoadError::NotFound)?;
            if got != mem.len() {
                return Err(LoadError::BadElf("PT_LOAD segment truncated"));
            }
        }
    }
    // Gaps between segments become inaccessible, each segment gets its own protection. Only
    // the gaps are protected here: most programs' segments cover their whole span (no call at
    // all then), and one call over the span would touch every segment's mapping twice.
    let mut segs: Vec<(usize, usize)> = loads
        .iter()
        .map(|ph| (page_down(base + ph.vaddr as usize), page_up(base + (ph.vaddr + ph.memsz) as usize)))
        .collect();
    segs.sort_unstable();
    let mut at = base + lo;
    for (s, e) in segs.into_iter().chain(core::iter::once((base + hi, base + hi))) {
        if s > at {
            os.protect(at, s - at, 0).map_err(LoadError::NoMemory)?;
        }
        at = at.max(e);
    }
    for (i, ph) in loads.iter().enumerate() {
        let s = page_down(base + ph.vaddr as usize);
        let e = page_up(base + (ph.vaddr + ph.memsz) as usize);
        let prot = segment_prot(ph);
        if settled & settle(i) != 0 {
            // The host's pages have `prot` already: only the library OS's record changes.
            os.mem.lock().protect(s, e - s, prot);
        } else {
            os.protect(s, e - s, prot).map_err(LoadError::NoMemory)?;
        }
        // /proc/self/maps names the segment by the program's path, at its file offset.
        let off = ph.offset - (ph.vaddr - page_down(ph.vaddr as usize) as u64);
        os.mem.lock().name(s, e - s, elf.path.clone(), off);
    }
    let phoff = u64_at(&elf.head, 32);
    let phdr = match phdrs.iter().find(|p| p.kind == PT_PHDR) {
        Some(pp) => base + pp.vaddr as usize,
        None => loads
            .iter()
            .find(|p| phoff >= p.offset && phoff < p.offset + p.filesz)
            .map(|p| base + (p.vaddr + phoff - p.offset) as usize)
            .unwrap_or(0),
    };
    Ok(Mapped { base, entry: base + entry as usize, phdr, phnum: phdrs.len(), end: base + hi })
}

/// The protection a PT_LOAD segment's flags ask for.
fn segment_prot(ph: &Phdr) -> u32 {
    let mut prot = 0;
    if ph.flags & 4 != 0 {
        prot |= PROT_READ;
    }
    if ph.flags & 2 != 0 {
        prot |= PROT_WRITE;
    }
    if ph.flags & 1 != 0 {
        prot |= PROT_EXEC;
    }
    prot
}

/// Whether one of PT_LOAD `i`'s pages is also a page of another PT_LOAD segment (the later
/// segment's protection then decides that page's, so `i`'s cannot be final at its mapping).
fn shares_a_page(loads: &[&Phdr], i: usize, base: usize) -> bool {
    let pages = |o: &Phdr| (page_down(base + o.vaddr as usize), page_up(base + (o.vaddr + o.memsz) as usize));
    let (s, e) = pages(loads[i]);
    loads.iter().enumerate().any(|(j, o)| {
        let (os, oe) = pages(o);
        j != i && os < e && oe > s
    })
}

/// The end of PT_LOAD `i`'s partial last page, when that page may be mapped from the file as
/// a whole: the segment is not writable, has no zero-filled part (`memsz == filesz`), its file
/// part ends inside a page, and no other segment covers that page (whose bytes there would
/// have to be its own, or zeros). None otherwise.
fn tail_page(loads: &[&Phdr], i: usize, base: usize) -> Option<usize> {
    let ph = loads[i];
    let end = base + (ph.vaddr + ph.filesz) as usize;
    let last = page_down(end);
    if ph.flags & 2 != 0 || ph.memsz != ph.filesz || end == last || ph.filesz == 0 {
        return None;
    }
    let shared = loads.iter().enumerate().any(|(j, o)| {
        let (s, e) = (page_down(base + o.vaddr as usize), page_up(base + (o.vaddr + o.memsz) as usize));
        j != i && s < last + PAGE_SIZE && e > last
    });
    (!shared).then_some(last + PAGE_SIZE)
}

/// The page-aligned part `[a, b)` (addresses) of PT_LOAD `i`'s file bytes that may be mapped
/// from the file: whole pages only (a partial last page is copied, so the bytes past the end of
/// the segment's file part stay zero), and not a first page that another segment also covers.
/// Empty (a >= b) when nothing qualifies.
fn mappable_pages(loads: &[&Phdr], i: usize, base: usize) -> (usize, usize) {
    let ph = loads[i];
    let start = base + ph.vaddr as usize;
    let end = start + ph.filesz as usize;
    let first = page_down(start);
    let shared = loads.iter().enumerate().any(|(j, o)| {
        let (s, e) = (page_down(base + o.vaddr as usize), page_up(base + (o.vaddr + o.memsz) as usize));
        j != i && s < first + PAGE_SIZE && e > first
    });
    let a = if shared { page_up(start) } else { first };
    (a, page_down(end))
}

fn interp_of<P: Platform>(os: &LibOs<P>, elf: &ElfFile) -> Result<Option<Vec<u8>>, LoadError> {
    let (_, _, phdrs) = parse_phdrs(elf)?;
    if let Some(p) = phdrs.iter().find(|p| p.kind == PT_INTERP) {
        let end = p.offset.checked_add(p.filesz).ok_or(LoadError::BadElf("bad PT_INTERP"))?;
        if end > elf.len || p.filesz < 2 || p.filesz > 4096 {
            return Err(LoadError::BadElf("PT_INTERP out of bounds"));
        }
        let mut s = alloc::vec![0u8; p.filesz as usize];
        os.vfs.read_at(&elf.node, p.offset, &mut s).map_err(LoadError::NotFound)?;
        while s.last() == Some(&0) {
            s.pop();
        }
        return Ok(Some(s));
    }
    Ok(None)
}

/// Opens a program file of the namespace (following symlinks) and reads its first page.
fn open_program<P: Platform>(os: &LibOs<P>, path: &[u8]) -> Result<(Vec<u8>, ElfFile), LoadError> {
    // An absolute path (the entry program, an interpreter) needs no copy of the cwd; an image
    // file with nothing else in the namespace (a VM target's first load) needs no walk.
    let r = if path.first() == Some(&b'/') {
        os.vfs.resolve_image_file(path).map_or_else(|| os.vfs.resolve(b"/", path, true), Ok)
    } else {
        let cwd = os.cwd.lock().clone();
        os.vfs.resolve(&cwd, path, true)
    };
    let r = r.map_err(LoadError::NotFound)?;
    let node: Node = r.node.ok_or(LoadError::NotFound(ENOENT))?;
    match os.vfs.kind(&node) {
        NodeKind::File => {}
        NodeKind::Dir => return Err(LoadError::NotFound(EACCES)),
        _ => return Err(LoadError::NotFound(EACCES)),
    }
    let len = os.vfs.file_len(&node);
    let mut head = alloc::vec![0u8; core::cmp::min(len, HEAD as u64) as usize];
    let got = os.vfs.read_at(&node, 0, &mut head).map_err(LoadError::NotFound)?;
    head.truncate(got);
    let path = alloc::sync::Arc::new(r.path.clone());
    Ok((r.path, ElfFile { node, path, len, head }))
}

/// Loads the program at `path` (image namespace) with its interpreter, sets the program break,
/// maps an 8 MiB stack and writes argv/envp/auxv on it. `host_aux` supplies the CPU facts
/// (AT_HWCAP, AT_HWCAP2, AT_MINSIGSTKSZ, AT_CLKTCK) the platform knows.
pub fn load<P: Platform>(
    os: &LibOs<P>,
    path: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    host_aux: &[(usize, usize)],
) -> Result<Loaded, LoadError> {
    let (exec_path, elf) = open_program(os, path)?;
    // From here every byte of the app's memory comes through the library OS, so memory its
    // map does not know was never mapped (EFAULT, see user::guard).
    os.mem.lock().set_complete();
    *os.cmdline.lock() = argv.to_vec();
    *os.environ.lock() = envp.to_vec();
    os.ident.clear_name();
    let interp = interp_of(os, &elf)?;
    let main = map_elf(os, &elf, true)?;
    os.set_brk_start(main.end);
    let mut entry = main.entry;
    let mut interp_base = 0;
    if let Some(ip) = interp {
        let (_, ielf) = open_program(os, &ip)?;
        if interp_of(os, &ielf)?.is_some() {
            return Err(LoadError::BadElf("the interpreter has an interpreter"));
        }
        let im = map_elf(os, &ielf, false)?;
        entry = im.entry;
        interp_base = im.base;
    }
    drop(elf);

    let (uid, gid) = os.platform.creds();
    // A fixed array, not a vector: the load runs once, and growing a vector is code to run.
    let mut aux = [(0usize, 0usize); 16];
    aux[..12].copy_from_slice(&[
        (AT_PHDR, main.phdr),
        (AT_PHENT, 56),
        (AT_PHNUM, main.phnum),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_BASE, interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, main.entry),
        (AT_UID, uid as usize),
        (AT_EUID, uid as usize),
        (AT_GID, gid as usize),
        (AT_EGID, gid as usize),
        (AT_SECURE, 0),
    ]);
    let mut n = 12;
    for &(k, v) in host_aux {
        if n < aux.len() && matches!(k, AT_HWCAP | AT_HWCAP2 | AT_MINSIGSTKSZ | AT_CLKTCK) {
            aux[n] = (k, v);
            n += 1;
        }
    }
    let sp = build_stack(os, &exec_path, argv, envp, &aux[..n])?;
    // Name, arguments and memory as the app's other processes see them in /proc/PID.
    crate::procfs::publish(os);
    Ok(Loaded { entry, sp, main_entry: main.entry })
}

const STACK_SIZE: usize = 8 << 20;
/// Inaccessible bytes kept below the initial stack (Linux keeps a 1 MiB gap, stack_guard_gap).
const STACK_GUARD: usize = 1 << 20;

/// Maps the stack (with its guard region below) and writes the program's start-up block at
/// its top the way Linux lays it out: from low to high, argc, argv pointers, 0, envp pointers,
/// 0, the auxv pairs (`aux`, then AT_RANDOM, AT_EXECFN, AT_PLATFORM, AT_NULL), the 16
/// AT_RANDOM bytes, then the strings: the arguments and the environment in order, "x86_64",
/// the program's path. One view of app memory for the whole block, straight-line: the load
/// runs once, and under a VM's emulation each distinct code path is what it costs.
fn build_stack<P: Platform>(
    os: &LibOs<P>,
    execfn: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    aux: &[(usize, usize)],
) -> Result<usize, LoadError> {
    let p = &os.platform;
    // A guard region below the stack, so an overflow faults (SIGSEGV) instead of running
    // into whatever was mapped next to it.
    // The platform's slot, if it has one, has the guard already inaccessible and the stack
    // writable: only the library OS's record of the stack's protection changes then.
    let slot = p.take_stack_slot(STACK_GUARD + STACK_SIZE, STACK_GUARD);
    let guard = match slot {
        Some(at) => os.adopt_anon(at, STACK_GUARD + STACK_SIZE, 0).map(|()| at),
        None => os.map_anon(0, STACK_GUARD + STACK_SIZE, 0, MAP_PRIVATE | MAP_NORESERVE, None),
    }
    .map_err(LoadError::NoMemory)?;
    let bottom = guard + STACK_GUARD;
    if slot.is_some() {
        os.mem.lock().protect(bottom, STACK_SIZE, PROT_READ | PROT_WRITE);
    } else {
        os.protect(bottom, STACK_SIZE, PROT_READ | PROT_WRITE).map_err(LoadError::NoMemory)?;
    }
    os.mem.lock().name(bottom, STACK_SIZE, alloc::sync::Arc::new(b"[stack]".to_vec()), 0);
    let top = bottom + STACK_SIZE;
    const PLATFORM: &[u8; 7] = b"x86_64\0";
    let mut strings = PLATFORM.len() + execfn.len() + 1;
    for s in argv.iter().chain(envp) {
        strings += s.len() + 1;
    }
    let words = 1 + argv.len() + 1 + envp.len() + 1 + 2 * (aux.len() + 4);
    // A block that does not fit in the stack is refused, as execve refuses too many arguments.
    if strings.saturating_add(words * 8 + 32) > STACK_SIZE {
        return Err(LoadError::NoMemory(E2BIG));
    }
    let strings_at = top - strings;
    let random_at = (strings_at - 16) & !15;
    let sp = (random_at - words * 8) & !15;
    let m = crate::user::slice_mut(sp, top - sp).map_err(LoadError::NoMemory)?;
    let execfn_at = top - execfn.len() - 1;
    let platform_at = execfn_at - PLATFORM.len();
    let mut w = 0;
    let mut s = strings_at - sp;
    let mut put = |m: &mut [u8], v: usize| {
        m[w..w + 8].copy_from_slice(&v.to_le_bytes());
        w += 8;
    };
    put(m, argv.len());
    for list in [argv, envp] {
        for a in list {
            put(m, sp + s);
            m[s..s + a.len()].copy_from_slice(a);
            m[s + a.len()] = 0;
            s += a.len() + 1;
        }
        put(m, 0);
    }
    m[s..s + PLATFORM.len()].copy_from_slice(PLATFORM);
    m[s + PLATFORM.len()..s + PLATFORM.len() + execfn.len()].copy_from_slice(execfn);
    m[m.len() - 1] = 0;
    let tail = [(AT_RANDOM, random_at), (AT_EXECFN, execfn_at), (AT_PLATFORM, platform_at), (AT_NULL, 0)];
    for &(k, v) in aux.iter().chain(&tail) {
        put(m, k);
        put(m, v);
    }
    p.random(&mut m[random_at - sp..random_at - sp + 16]);
    let _ = MAP_FIXED;
    Ok(sp)
}
