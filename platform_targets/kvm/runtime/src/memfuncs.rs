//! The memory functions the compiler expects from a libc (the kernel has none).

/// # Safety
/// `dst` and `src` must be valid for `n` bytes and must not overlap.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: per the contract; `rep movsq` then `rep movsb` copy n bytes forward (DF is clear
    // in the kernel). Quadwords first: emulators (QEMU TCG) run string instructions per element.
    unsafe {
        core::arch::asm!("rep movsq", "mov ecx, {tail:e}", "rep movsb",
            tail = in(reg) (n & 7) as u32,
            inout("rcx") n >> 3 => _, inout("rdi") dst => _, inout("rsi") src => _,
            options(nostack, preserves_flags));
    }
    dst
}

/// # Safety
/// `dst` and `src` must be valid for `n` bytes; they may overlap.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if n == 0 || (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize).wrapping_add(n) {
        // SAFETY: a forward copy is correct when dst does not start inside src.
        return unsafe { memcpy(dst, src, n) };
    }
    // SAFETY: a backward copy with the direction flag set, cleared again afterwards.
    unsafe {
        core::arch::asm!("std", "rep movsb", "cld",
            inout("rcx") n => _, inout("rdi") dst.add(n - 1) => _, inout("rsi") src.add(n - 1) => _,
            options(nostack));
    }
    dst
}

/// # Safety
/// `dst` must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    let byte = c as u8 as u64;
    // SAFETY: per the contract; `rep stosq` then `rep stosb` store n bytes.
    unsafe {
        core::arch::asm!("rep stosq", "mov ecx, {tail:e}", "rep stosb",
            tail = in(reg) (n & 7) as u32,
            inout("rcx") n >> 3 => _, inout("rdi") dst => _, in("rax") byte * 0x0101_0101_0101_0101,
            options(nostack, preserves_flags));
    }
    dst
}

/// # Safety
/// `a` and `b` must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i < n {
        // SAFETY: i < n, inside both buffers by contract.
        let (x, y) = unsafe { (core::ptr::read_volatile(a.add(i)), core::ptr::read_volatile(b.add(i))) };
        if x != y {
            return x as i32 - y as i32;
        }
        i += 1;
    }
    0
}

/// # Safety
/// `a` and `b` must be valid for `n` bytes.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}

/// The C allocator's `free`, for libzstd (core/image's decoder). Promises: a no-op for null,
/// which is all it can ever be given: libzstd runs on a context in memory we provide and is
/// linked without `malloc`, so its clean-up paths (a dictionary that was never loaded) only
/// free null. Anything else is a bug and stops the runtime.
///
/// # Safety
/// `p` must be null.
#[no_mangle]
pub unsafe extern "C" fn free(p: *mut u8) {
    assert!(p.is_null(), "free() of memory no allocator handed out");
}
