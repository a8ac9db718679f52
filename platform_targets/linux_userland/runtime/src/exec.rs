//! The host side of execve: the old program's memory is removed so the new one can be loaded
//! into the same process.
use alloc::vec::Vec;

use crate::guard;
use crate::sys::{self, check};

/// Unmaps every mapping of the app: everything in /proc/self/maps except the runtime's own
/// ranges and the kernel's [vdso], [vvar], [vsyscall] and the initial [stack].
pub fn unmap_app() {
    let maps = read_maps();
    for line in maps.split(|&b| b == b'\n') {
        let Some((lo, hi, name)) = parse(line) else { continue };
        if name.starts_with(b"[v") || name == b"[stack]" || guard::overlaps(lo, hi - lo) {
            continue;
        }
        sys::syscall3(sys::MUNMAP, lo, hi - lo, 0);
    }
}

fn read_maps() -> Vec<u8> {
    let Ok(fd) = sys::open_path(b"/proc/self/maps", 0o2000000, 0) else {
        return Vec::new();
    };
    let fd = fd as usize;
    let mut out = Vec::new();
    let mut buf = alloc::vec![0u8; 64 << 10];
    while let Ok(n) = check(sys::syscall3(sys::READ, fd, buf.as_mut_ptr() as usize, buf.len())) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
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
