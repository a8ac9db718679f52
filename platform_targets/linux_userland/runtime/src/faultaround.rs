//! Keeping fault-around off the runtime's own read-only pages in the app's process.
//!
//! On a read fault in a file mapping Linux maps the neighbouring cached pages too (64 KiB
//! around the fault by default), so the runtime's code, its constants and the image's tables
//! became resident whole (~0.9 MiB for python3) though each run touches only part of them.
//! Fault-around is off for a mapping registered with a userfaultfd in write-protect mode; with
//! `UFFD_FEATURE_WP_ASYNC` (Linux 6.7) the kernel resolves write-protect faults itself, so no
//! handler is needed, and these mappings are read-only and never written anyway. The
//! userfaultfd stays open (closing it ends the registration) among the runtime's descriptors
//! (`sys::FD_BASE` and above, close-on-exec); the app cannot reach it (its calls never name
//! runtime descriptors, and the gate allows neither `userfaultfd` nor its ioctls). Best effort:
//! on an older kernel, or where userfaultfd is refused, nothing changes but memory use.
use crate::sys::{self, check};

const USERFAULTFD: usize = 323;
const O_CLOEXEC: usize = 0o2000000;
const UFFD_USER_MODE_ONLY: usize = 1;
const UFFD_API: u64 = 0xAA;
const UFFD_FEATURE_WP_ASYNC: u64 = 1 << 15;
/// `_IOWR(0xAA, 0x3F, struct uffdio_api)` (24 bytes).
const UFFDIO_API: usize = 0xC018_AA3F;
/// `_IOWR(0xAA, 0x00, struct uffdio_register)` (32 bytes).
const UFFDIO_REGISTER: usize = 0xC020_AA00;
const UFFDIO_REGISTER_MODE_WP: u64 = 2;
const PT_LOAD: u32 = 1;
const PF_W: u32 = 2;
const PAGE: usize = 4096;

/// The page ranges of this executable's read-only PT_LOAD segments (at most 8), read from
/// its own ELF header at `ehdr` (`__ehdr_start`), less any page a writable segment shares.
fn read_only_segments(ehdr: usize) -> ([(usize, usize); 8], usize) {
    let mut out = [(0, 0); 8];
    // SAFETY: ehdr is __ehdr_start: the kernel mapped the ELF header (64 bytes) at the start of
    // the first PT_LOAD segment, read-only and never unmapped.
    let (phoff, phentsize, phnum) = unsafe {
        (
            core::ptr::read_unaligned((ehdr + 32) as *const u64) as usize,
            core::ptr::read_unaligned((ehdr + 54) as *const u16) as usize,
            core::ptr::read_unaligned((ehdr + 56) as *const u16) as usize,
        )
    };
    // The program headers must lie in the header's page (as ld lays out a static executable).
    if phentsize != 56 || phnum == 0 || phoff < 64 || phoff + phnum * 56 > PAGE {
        return (out, 0);
    }
    let mut segs = [(0usize, 0usize, false); 8];
    let (mut n, mut bias) = (0, None);
    for i in 0..phnum {
        let ph = ehdr + phoff + i * 56;
        // SAFETY: inside the header's page (checked above), mapped read-only.
        let (kind, flags, offset, vaddr, memsz) = unsafe {
            (
                core::ptr::read_unaligned(ph as *const u32),
                core::ptr::read_unaligned((ph + 4) as *const u32),
                core::ptr::read_unaligned((ph + 8) as *const u64) as usize,
                core::ptr::read_unaligned((ph + 16) as *const u64) as usize,
                core::ptr::read_unaligned((ph + 40) as *const u64) as usize,
            )
        };
        if kind != PT_LOAD {
            continue;
        }
        // The first segment maps file offset 0, where the header is: it gives the load bias.
        let b = match bias {
            Some(b) => b,
            None if offset == 0 => *bias.insert(ehdr.wrapping_sub(vaddr & !(PAGE - 1))),
            None => return (out, 0),
        };
        if n == segs.len() {
            return (out, 0);
        }
        let start = b.wrapping_add(vaddr) & !(PAGE - 1);
        let end = b.wrapping_add(vaddr).wrapping_add(memsz).next_multiple_of(PAGE);
        segs[n] = (start, end, flags & PF_W != 0);
        n += 1;
    }
    let mut m = 0;
    for &(mut start, mut end, writable) in &segs[..n] {
        if writable {
            continue;
        }
        for &(ws, we, w) in &segs[..n] {
            if w && ws < end && start < we {
                if ws <= start {
                    start = start.max(we);
                } else {
                    end = end.min(ws);
                }
            }
        }
        if start < end {
            out[m] = (start, end);
            m += 1;
        }
    }
    (out, m)
}

/// Turns fault-around off for this process's mappings of the executable's read-only segments
/// (`ehdr` is `__ehdr_start`) and for `image` (start, length: the image section's mapping),
/// and lets go of the pages of them mapped so far. Returns whether it did; the mappings'
/// contents are unchanged either way.
pub fn exempt_read_only_pages(ehdr: usize, image: (usize, usize)) -> bool {
    let Ok(fd) = check(sys::syscall3(USERFAULTFD, O_CLOEXEC | UFFD_USER_MODE_ONLY, 0, 0)) else { return false };
    let mut api = [UFFD_API, UFFD_FEATURE_WP_ASYNC, 0u64];
    let mut ok = sys::syscall3(sys::IOCTL, fd, UFFDIO_API, api.as_mut_ptr() as usize) == 0;
    let (segs, n) = read_only_segments(ehdr);
    let image = (image.0 & !(PAGE - 1), (image.0 + image.1).next_multiple_of(PAGE));
    for &(start, end) in segs[..n].iter().chain(core::iter::once(&image)) {
        if !ok || start >= end {
            continue;
        }
        // struct uffdio_register: range (start, len), mode, ioctls (out).
        let mut reg = [start as u64, (end - start) as u64, UFFDIO_REGISTER_MODE_WP, 0u64];
        ok = sys::syscall3(sys::IOCTL, fd, UFFDIO_REGISTER, reg.as_mut_ptr() as usize) == 0;
        if ok {
            // What start-up mapped so far, with fault-around, goes; what runs from here on
            // comes back a page at a time (file pages, never written: nothing is lost).
            const MADV_DONTNEED: usize = 4;
            sys::syscall3(sys::MADVISE, start, end - start, MADV_DONTNEED);
        }
    }
    const F_DUPFD_CLOEXEC: usize = 1030;
    let kept = ok && check(sys::syscall3(sys::FCNTL, fd, F_DUPFD_CLOEXEC, sys::FD_BASE)).is_ok();
    // Closing the original is enough to undo everything when the copy failed or was not made.
    sys::syscall3(sys::CLOSE, fd, 0, 0);
    kept
}
