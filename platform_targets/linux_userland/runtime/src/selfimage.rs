//! Finding the packed image inside the runtime's own executable: the `.litebox.image` ELF
//! section (not loaded by the kernel), mapped read-only from /proc/self/exe.
use alloc::vec;
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::sys::{self, check};

const SECTION: &[u8] = b".litebox.image";

fn pread(fd: usize, buf: &mut [u8], off: u64) -> Result<(), &'static str> {
    let mut done = 0;
    while done < buf.len() {
        let p = buf[done..].as_mut_ptr() as usize;
        match check(sys::syscall6(sys::PREAD64, fd, p, buf.len() - done, off as usize + done, 0, 0)) {
            Ok(0) => return Err("executable is truncated"),
            Ok(n) => done += n,
            Err(4) => {}
            Err(_) => return Err("cannot read the executable"),
        }
    }
    Ok(())
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

/// The executable kept open (read-only, close-on-exec, at `sys::FD_BASE` or above) and where the image
/// starts in it (file offset), for [`map_at`] and [`read_image`].
static FILE: AtomicI64 = AtomicI64::new(-1);
static FILE_OFFSET: AtomicU64 = AtomicU64::new(0);

/// Maps the image section of this executable. Returns (address, length) of its bytes.
pub fn map() -> Result<(usize, usize), &'static str> {
    let path = b"/proc/self/exe\0";
    const O_RDONLY_CLOEXEC: usize = 0o2000000;
    let fd = check(sys::syscall6(sys::OPENAT, (-100isize) as usize, path.as_ptr() as usize, O_RDONLY_CLOEXEC, 0, 0, 0))
        .map_err(|_| "cannot open /proc/self/exe")?;
    let result = find_and_map(fd);
    // Kept for map_at: the app's programs and libraries are mapped from it.
    const F_DUPFD_CLOEXEC: usize = 1030;
    if result.is_ok() {
        if let Ok(high) = check(sys::syscall3(sys::FCNTL, fd, F_DUPFD_CLOEXEC, sys::FD_BASE)) {
            FILE.store(high as i64, Ordering::Relaxed);
        }
    }
    sys::syscall3(sys::CLOSE, fd, 0, 0);
    result
}

/// Copies the image's bytes at image offset `image_off` into `buf` with pread from the
/// executable (all of them, or false: not open, read error, or past the end of the file).
/// Nothing is mapped, so the bytes do not count as this process's resident memory; the
/// reader (core/image) checks them against their digests.
pub fn read_image(image_off: u64, buf: &mut [u8]) -> bool {
    let fd = FILE.load(Ordering::Relaxed);
    fd >= 0 && pread(fd as usize, buf, FILE_OFFSET.load(Ordering::Relaxed) + image_off).is_ok()
}

/// Maps `len` bytes of the image from image offset `image_off` privately, backed by the
/// executable's pages (copy-on-write), at `addr`, replacing what is there, with `prot`.
/// The caller's digest check read the bytes with [`read_image`], so nothing of the image's own
/// mapping became resident for them. EINVAL when the file offset is not page-aligned, ENOSYS
/// when the executable is not open.
pub fn map_at(addr: usize, len: usize, prot: u32, image_off: u64) -> Result<usize, i32> {
    let fd = FILE.load(Ordering::Relaxed);
    if fd < 0 {
        return Err(38);
    }
    let file_off = FILE_OFFSET.load(Ordering::Relaxed) + image_off;
    if !file_off.is_multiple_of(4096) || !addr.is_multiple_of(4096) || !len.is_multiple_of(4096) {
        return Err(22);
    }
    const MAP_PRIVATE_FIXED: usize = 0x02 | 0x10;
    let at = check(sys::syscall6(
        sys::MMAP,
        addr,
        len,
        (prot & 7) as usize,
        MAP_PRIVATE_FIXED,
        fd as usize,
        file_off as usize,
    ))?;
    Ok(at)
}

fn find_and_map(fd: usize) -> Result<(usize, usize), &'static str> {
    let mut eh = [0u8; 64];
    pread(fd, &mut eh, 0)?;
    let shoff = u64_at(&eh, 40);
    let shentsize = u16_at(&eh, 58) as usize;
    let shnum = u16_at(&eh, 60) as usize;
    let shstrndx = u16_at(&eh, 62) as usize;
    if shentsize != 64 || shnum == 0 || shnum > 4096 || shstrndx >= shnum {
        return Err("no section headers");
    }
    let mut sh = vec![0u8; shnum * 64];
    pread(fd, &mut sh, shoff)?;
    let sec = |i: usize| &sh[i * 64..i * 64 + 64];
    let strtab = sec(shstrndx);
    let (str_off, str_size) = (u64_at(strtab, 24), u64_at(strtab, 32));
    if str_size > 1 << 20 {
        return Err("section name table too large");
    }
    let mut names = vec![0u8; str_size as usize];
    pread(fd, &mut names, str_off)?;
    for i in 0..shnum {
        let s = sec(i);
        let name_off = u32_at(s, 0) as usize;
        if name_off >= names.len() {
            continue;
        }
        let name = &names[name_off..];
        let name = &name[..name.iter().position(|&c| c == 0).unwrap_or(name.len())];
        if name != SECTION {
            continue;
        }
        let (off, size) = (u64_at(s, 24) as usize, u64_at(s, 32) as usize);
        if size == 0 {
            return Err("image section is empty");
        }
        let page_off = off & !4095;
        let delta = off - page_off;
        const PROT_READ: usize = 1;
        const MAP_PRIVATE: usize = 2;
        let at = check(sys::syscall6(sys::MMAP, 0, size + delta, PROT_READ, MAP_PRIVATE, fd, page_off))
            .map_err(|_| "cannot map the image section")?;
        // Reading past the end of the file would fault: make sure the section is all there.
        let mut st = litebox_libos::abi::Stat::default();
        check(sys::syscall3(sys::FSTAT, fd, &mut st as *mut _ as usize, 0))
            .map_err(|_| "cannot stat the executable")?;
        if (off + size) as i64 > st.st_size {
            return Err("image section runs past the end of the file");
        }
        crate::guard::reserve(at, size + delta);
        FILE_OFFSET.store(off as u64, Ordering::Relaxed);
        return Ok((at + delta, size));
    }
    Err("no .litebox.image section (is this a packed artifact?)")
}
