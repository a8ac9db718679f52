//! Access to app memory from the shim.
//!
//! The app's pointers are checked for the obvious faults (NULL page, non-canonical, wrapping)
//! and answered with EFAULT as Linux would. The calls that move data through app buffers
//! (read, write and their vector and positioned forms, the stat family, getdents, path
//! arguments, getcwd, uname, the clocks) also check the buffer against the app's memory map
//! ([`guard`], [`guard_len`], [`cstr_in`]): a buffer in memory the app never mapped (or
//! unmapped), in a PROT_NONE mapping, or in a read-only one the call would write, gets EFAULT
//! instead of a fault of the runtime. [`guard`] is the one place that consults the map; the common case
//! (a buffer inside one mapping already proven since the map last changed) is answered without
//! the map's lock (memlock.rs).
use alloc::vec::Vec;

use crate::errno::{Errno, EFAULT, ENAMETOOLONG};

const USER_TOP: usize = 0x0000_8000_0000_0000;

fn check(ptr: usize, len: usize) -> Result<(), Errno> {
    if len == 0 {
        return Ok(());
    }
    let end = ptr.checked_add(len).ok_or(EFAULT)?;
    if ptr < 4096 || end > USER_TOP {
        return Err(EFAULT);
    }
    Ok(())
}

/// EFAULT when the app's buffer `[ptr, ptr + len)` lies (in part) in memory it never mapped or
/// mapped without the access the call needs (`write`: the call writes the buffer), as Linux's
/// copy to or from user memory fails there; also the checks of [`check_range`].
pub fn guard(mem: &crate::memlock::MemLock, ptr: usize, len: usize, write: bool) -> Result<(), Errno> {
    if guard_len(mem, ptr, len, write)? < len {
        return Err(EFAULT);
    }
    Ok(())
}

/// How many bytes from `ptr` (at most `len`) the call may access (see [`guard`]): a call that
/// copies as far as it can (read, as Linux returns a short count when the copy faults after
/// some bytes) uses the prefix; EFAULT for a range outside the app's half.
pub fn guard_len(mem: &crate::memlock::MemLock, ptr: usize, len: usize, write: bool) -> Result<usize, Errno> {
    check(ptr, len)?;
    Ok(mem.accessible(ptr, len, write))
}

/// Reads a `T` from app memory, EFAULT where the app cannot read it (see [`guard`]).
pub fn read_in<T: Copy>(mem: &crate::memlock::MemLock, ptr: usize) -> Result<T, Errno> {
    guard(mem, ptr, core::mem::size_of::<T>(), false)?;
    read(ptr)
}

/// Writes a `T` into app memory, EFAULT where the app cannot write it (see [`guard`]).
pub fn write_in<T: Copy>(mem: &crate::memlock::MemLock, ptr: usize, v: &T) -> Result<(), Errno> {
    guard(mem, ptr, core::mem::size_of::<T>(), true)?;
    write(ptr, v)
}

/// A mutable view of `len` bytes of app memory at `ptr`, EFAULT where the app cannot write
/// them (see [`guard`]).
pub fn slice_mut_in<'a>(mem: &crate::memlock::MemLock, ptr: usize, len: usize) -> Result<&'a mut [u8], Errno> {
    guard(mem, ptr, len, true)?;
    slice_mut(ptr, len)
}

/// Copies a NUL-terminated string (without the NUL) of at most `max` bytes from app memory, as
/// [`cstr`] does, with EFAULT where the string runs into memory the app cannot read (see
/// [`guard`]).
pub fn cstr_in(mem: &crate::memlock::MemLock, ptr: usize, max: usize) -> Result<Vec<u8>, Errno> {
    check(ptr, 1)?;
    let want = max.saturating_add(1).min(USER_TOP - ptr);
    let readable = mem.accessible(ptr, want, false);
    if readable == 0 {
        return Err(EFAULT);
    }
    let bytes = slice(ptr, readable)?;
    match bytes.iter().position(|&b| b == 0) {
        Some(n) => Ok(bytes[..n].to_vec()),
        None if readable > max => Err(ENAMETOOLONG),
        None => Err(EFAULT),
    }
}

/// Checks that `len` bytes at `ptr` lie in the app's half (EFAULT otherwise), without
/// touching them.
pub fn check_range(ptr: usize, len: usize) -> Result<(), Errno> {
    check(ptr, len)
}

/// A shared view of `len` bytes of app memory at `ptr`.
pub fn slice<'a>(ptr: usize, len: usize) -> Result<&'a [u8], Errno> {
    check(ptr, len)?;
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: the range is inside the user half and not the NULL page; the app owns the memory
    // and is stopped in this syscall, so nothing else mutates it through this thread.
    Ok(unsafe { core::slice::from_raw_parts(ptr as *const u8, len) })
}

/// A mutable view of `len` bytes of app memory at `ptr`.
pub fn slice_mut<'a>(ptr: usize, len: usize) -> Result<&'a mut [u8], Errno> {
    check(ptr, len)?;
    if len == 0 {
        return Ok(&mut []);
    }
    // SAFETY: as in `slice`; the app passed this buffer for us to fill.
    Ok(unsafe { core::slice::from_raw_parts_mut(ptr as *mut u8, len) })
}

/// Reads a `T` from app memory.
pub fn read<T: Copy>(ptr: usize) -> Result<T, Errno> {
    check(ptr, core::mem::size_of::<T>())?;
    // SAFETY: checked range; read_unaligned tolerates any alignment the app chose.
    Ok(unsafe { core::ptr::read_unaligned(ptr as *const T) })
}

/// Writes a `T` into app memory.
pub fn write<T: Copy>(ptr: usize, v: &T) -> Result<(), Errno> {
    check(ptr, core::mem::size_of::<T>())?;
    // SAFETY: checked range; write_unaligned tolerates any alignment.
    unsafe { core::ptr::write_unaligned(ptr as *mut T, *v) };
    Ok(())
}

/// Copies a NUL-terminated string (without the NUL) of at most `max` bytes from app memory.
pub fn cstr(ptr: usize, max: usize) -> Result<Vec<u8>, Errno> {
    check(ptr, 1)?;
    let mut out = Vec::new();
    let mut p = ptr;
    loop {
        check(p, 1)?;
        // SAFETY: checked byte inside the user half.
        let b = unsafe { core::ptr::read(p as *const u8) };
        if b == 0 {
            return Ok(out);
        }
        if out.len() >= max {
            return Err(ENAMETOOLONG);
        }
        out.push(b);
        p += 1;
    }
}

/// The bytes of a value, for copying a `#[repr(C)]` struct out to the app.
pub fn bytes_of<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: T is Copy plain data; we view its storage as bytes for the struct's lifetime.
    unsafe { core::slice::from_raw_parts(v as *const T as *const u8, core::mem::size_of::<T>()) }
}

/// A shared view of `len` bytes of app memory at `ptr`, EFAULT where the app cannot read them
/// (see [`guard`]).
pub fn slice_in<'a>(mem: &crate::memlock::MemLock, ptr: usize, len: usize) -> Result<&'a [u8], Errno> {
    guard(mem, ptr, len, false)?;
    slice(ptr, len)
}
