//! The host side of execve: the old program's memory is removed so the new one can be loaded
//! into the same process.
//!
//! The kernel's own mappings (`[vdso]`, `[vvar]`, `[vsyscall]`, the initial `[stack]` that holds
//! the host's argv and environment) are read from /proc/self/maps once at start-up
//! ([`record_kernel_ranges`]), before Landlock closes /proc to the runtime; forked children
//! inherit them at the same addresses. At execve everything else that is not the runtime's own
//! is unmapped, gap by gap.
use alloc::vec::Vec;

use litebox_libos::sync::SpinMutex;

use crate::guard;
use crate::sys::{self, check};

static KERNEL_RANGES: SpinMutex<Vec<(usize, usize)>> = SpinMutex::new(Vec::new());
/// The initial `[stack]` among them (0, 0: not found).
static INITIAL_STACK: SpinMutex<(usize, usize)> = SpinMutex::new((0, 0));
/// The end of the x86-64 user address space (4-level paging; munmap beyond it is refused).
const USER_END: usize = 0x7fff_ffff_f000;

/// Remembers where the kernel's special mappings are (call before Landlock).
pub fn record_kernel_ranges() {
    let maps = read_maps();
    let mut out = KERNEL_RANGES.lock();
    for line in maps.split(|&b| b == b'\n') {
        let Some((lo, hi, name)) = parse(line) else { continue };
        if name.starts_with(b"[v") || name == b"[stack]" {
            out.push((lo, hi));
        }
        if name == b"[stack]" {
            *INITIAL_STACK.lock() = (lo, hi);
        }
    }
}

/// The host's initial `[stack]` as recorded at start-up (see [`record_kernel_ranges`]), or None.
pub fn initial_stack() -> Option<(usize, usize)> {
    let (lo, hi) = *INITIAL_STACK.lock();
    (hi > lo).then_some((lo, hi))
}

/// The length from `at` to the end of the kernel mapping recorded at start-up that holds it
/// (e.g. the [vdso] at AT_SYSINFO_EHDR), or None.
pub fn kernel_range_len(at: usize) -> Option<usize> {
    KERNEL_RANGES.lock().iter().find(|&&(lo, hi)| (lo..hi).contains(&at)).map(|&(_, hi)| hi - at)
}

/// Unmaps every mapping of the app: all user memory except the runtime's own ranges and the
/// kernel's [vdso], [vvar], [vsyscall] and the initial [stack].
pub fn unmap_app() {
    let mut keep = guard::ranges();
    keep.extend(KERNEL_RANGES.lock().iter().copied());
    keep.sort_unstable();
    let mut at = 0usize;
    for (lo, hi) in keep {
        let lo = lo.min(USER_END);
        if lo > at {
            sys::syscall3(sys::MUNMAP, at, lo - at, 0);
        }
        at = at.max(hi);
    }
    if at < USER_END {
        sys::syscall3(sys::MUNMAP, at, USER_END - at, 0);
    }
}

fn read_maps() -> Vec<u8> {
    let Ok(fd) = sys::open_path(b"/proc/self/maps", 0o2000000, 0) else {
        return Vec::new();
    };
    let fd = fd as usize;
    // Read straight into the vector's spare room: a start-up's maps are a few lines, so a
    // zeroed 64 KiB buffer only cost page faults.
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity());
        }
        let spare = out.spare_capacity_mut();
        let (at, room) = (spare.as_mut_ptr() as usize, spare.len());
        match check(sys::syscall3(sys::READ, fd, at, room)) {
            Ok(0) | Err(_) => break,
            // SAFETY: the kernel wrote n <= room bytes into the spare capacity.
            Ok(n) => unsafe { out.set_len(out.len() + n) },
        }
    }
    sys::syscall3(sys::CLOSE, fd, 0, 0);
    out
}

fn hex(s: &[u8]) -> Option<usize> {
    let mut v = 0usize;
    if s.is_empty() {
        return None;
    }
    for &c in s {
        let d = (c as char).to_digit(16)? as usize;
        v = v.checked_mul(16)?.checked_add(d)?;
    }
    Some(v)
}

/// `lo-hi perms off dev inode name` -> (lo, hi, name).
fn parse(line: &[u8]) -> Option<(usize, usize, &[u8])> {
    let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
    let range = fields.next()?;
    let dash = range.iter().position(|&b| b == b'-')?;
    let (lo, hi) = (hex(&range[..dash])?, hex(&range[dash + 1..])?);
    for _ in 0..4 {
        fields.next()?;
    }
    Some((lo, hi, fields.next().unwrap_or(b"")))
}
