//! The memory and string functions the compiler and libzstd expect from a libc (the runtimes
//! have none), and `free` for libzstd.
//!
//! The bodies live here as plain functions; a runtime exports them under their C names with
//! [`libc_functions!`](crate::libc_functions), choosing how the string instructions copy:
//! byte by byte (`rep movsb`, what fast-string CPUs do best, for linux-userland) or quadwords
//! first (what emulators such as QEMU TCG, which run string instructions per element, need,
//! for the kvm kernel). The comparisons are byte loops of volatile reads, which the optimizer
//! may not turn back into calls to themselves.

/// Copies `n` bytes forward from `src` to `dst`: `rep movsb`, or with `QWORDS` `rep movsq`
/// then `rep movsb` for the tail.
///
/// # Safety
/// `dst` and `src` must be valid for `n` bytes and must not overlap so that a forward copy
/// reads a byte it already wrote; the direction flag must be clear (the ABI's rule).
#[inline(always)]
pub unsafe fn copy_forward<const QWORDS: bool>(dst: *mut u8, src: *const u8, n: usize) {
    if QWORDS {
        // SAFETY: per the contract; `rep movsq` then `rep movsb` copy n bytes forward.
        unsafe {
            core::arch::asm!("rep movsq", "mov ecx, {tail:e}", "rep movsb",
                tail = in(reg) (n & 7) as u32,
                inout("rcx") n >> 3 => _, inout("rdi") dst => _, inout("rsi") src => _,
                options(nostack, preserves_flags));
        }
    } else {
        // SAFETY: per the contract; `rep movsb` copies n bytes forward.
        unsafe {
            core::arch::asm!("rep movsb", inout("rcx") n => _, inout("rdi") dst => _, inout("rsi") src => _,
                options(nostack, preserves_flags));
        }
    }
}

/// `memmove`: copies `n` bytes from `src` to `dst`, which may overlap (forward unless `dst`
/// starts inside `src`, then backward: quadwords from the end, then the bytes left at the
/// start). The backward copy is a plain loop, not `std; rep movsb`: CPUs run string
/// instructions fast only forward, and a backward `rep movsb` moved about a byte per cycle
/// (every insertion into a `BTreeMap` node, e.g. the memory map's on each mmap, shifts its
/// entries that way).
///
/// # Safety
/// `dst` and `src` must be valid for `n` bytes; the direction flag must be clear.
#[inline(always)]
pub unsafe fn move_bytes<const QWORDS: bool>(dst: *mut u8, src: *const u8, n: usize) {
    if n == 0 || (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize).wrapping_add(n) {
        // SAFETY: a forward copy is correct when dst does not start inside src.
        return unsafe { copy_forward::<QWORDS>(dst, src, n) };
    }
    // SAFETY: dst starts inside src (dst > src), so copying from the end down is correct: each
    // quadword (or byte) is loaded before the store that may overwrite its source, and every
    // byte a store overwrites at a higher offset was already copied. Within the bounds the
    // caller vouches for; the loop is assembly so that the optimizer cannot turn it back into
    // a call to memmove.
    unsafe {
        core::arch::asm!(
            "2: cmp rcx, 8",
            "jb 3f",
            "sub rcx, 8",
            "mov rax, qword ptr [rsi + rcx]",
            "mov qword ptr [rdi + rcx], rax",
            "jmp 2b",
            "3: test rcx, rcx",
            "jz 4f",
            "dec rcx",
            "mov al, byte ptr [rsi + rcx]",
            "mov byte ptr [rdi + rcx], al",
            "jmp 3b",
            "4:",
            inout("rcx") n => _, in("rdi") dst, in("rsi") src, out("rax") _,
            options(nostack));
    }
}

/// `memset`: stores the byte `c` in `n` bytes at `dst`: `rep stosb`, or with `QWORDS`
/// `rep stosq` then `rep stosb`.
///
/// # Safety
/// `dst` must be valid for `n` bytes; the direction flag must be clear.
#[inline(always)]
pub unsafe fn fill<const QWORDS: bool>(dst: *mut u8, c: u8, n: usize) {
    if QWORDS {
        // SAFETY: per the contract; `rep stosq` then `rep stosb` store n bytes.
        unsafe {
            core::arch::asm!("rep stosq", "mov ecx, {tail:e}", "rep stosb",
                tail = in(reg) (n & 7) as u32,
                inout("rcx") n >> 3 => _, inout("rdi") dst => _, in("rax") c as u64 * 0x0101_0101_0101_0101,
                options(nostack, preserves_flags));
        }
    } else {
        // SAFETY: per the contract; `rep stosb` stores n bytes.
        unsafe {
            core::arch::asm!("rep stosb", inout("rcx") n => _, inout("rdi") dst => _, in("al") c,
                options(nostack, preserves_flags));
        }
    }
}

/// `memcmp`: the difference of the first differing bytes of `a` and `b` (as unsigned), or 0.
///
/// # Safety
/// `a` and `b` must be valid for `n` bytes.
#[inline(always)]
pub unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
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

/// `strlen`: the number of bytes before the NUL at `s`.
///
/// # Safety
/// `s` must point to a NUL-terminated string.
#[inline(always)]
pub unsafe fn c_strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: the string is NUL-terminated by contract.
    while unsafe { core::ptr::read_volatile(s.add(n)) } != 0 {
        n += 1;
    }
    n
}

/// The C allocator's `free`, for libzstd (core/image's decoder). Promises: a no-op for null,
/// which is all it can ever be given: libzstd runs on a context in memory we provide and is
/// linked without `malloc`, so its clean-up paths (a dictionary that was never loaded) only
/// free null. Anything else is a bug and stops the runtime (a panic).
pub fn free_null(p: *mut u8) {
    assert!(p.is_null(), "free() of memory no allocator handed out");
}

/// Exports `memcpy`, `memmove`, `memset`, `memcmp`, `bcmp`, `strlen` and `free` (see
/// [`mem`](crate::mem)) from the runtime binary that invokes it, once, at its top level:
/// `litebox_rt::libc_functions!(bytes);` (`rep movsb`/`rep stosb`) or
/// `litebox_rt::libc_functions!(quadwords);` (quadwords first, for emulated CPUs).
#[macro_export]
macro_rules! libc_functions {
    (bytes) => {
        $crate::libc_functions!(@export false);
    };
    (quadwords) => {
        $crate::libc_functions!(@export true);
    };
    (@export $qwords:literal) => {
        /// C `memcpy` (litebox_rt::mem::copy_forward).
        ///
        /// # Safety
        /// `dst` and `src` must be valid for `n` bytes and must not overlap.
        #[no_mangle]
        pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
            // SAFETY: the caller keeps memcpy's contract, which is copy_forward's.
            unsafe { $crate::mem::copy_forward::<$qwords>(dst, src, n) };
            dst
        }

        /// C `memmove` (litebox_rt::mem::move_bytes).
        ///
        /// # Safety
        /// `dst` and `src` must be valid for `n` bytes; they may overlap.
        #[no_mangle]
        pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
            // SAFETY: the caller keeps memmove's contract, which is move_bytes's.
            unsafe { $crate::mem::move_bytes::<$qwords>(dst, src, n) };
            dst
        }

        /// C `memset` (litebox_rt::mem::fill).
        ///
        /// # Safety
        /// `dst` must be valid for `n` bytes.
        #[no_mangle]
        pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
            // SAFETY: the caller keeps memset's contract, which is fill's.
            unsafe { $crate::mem::fill::<$qwords>(dst, c as u8, n) };
            dst
        }

        /// C `memcmp` (litebox_rt::mem::compare).
        ///
        /// # Safety
        /// `a` and `b` must be valid for `n` bytes.
        #[no_mangle]
        pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
            // SAFETY: the caller keeps memcmp's contract, which is compare's.
            unsafe { $crate::mem::compare(a, b, n) }
        }

        /// C `bcmp`: zero when equal (litebox_rt::mem::compare).
        ///
        /// # Safety
        /// `a` and `b` must be valid for `n` bytes.
        #[no_mangle]
        pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
            // SAFETY: the caller keeps bcmp's contract, which is compare's.
            unsafe { $crate::mem::compare(a, b, n) }
        }

        /// C `strlen` (litebox_rt::mem::c_strlen).
        ///
        /// # Safety
        /// `s` must point to a NUL-terminated string.
        #[no_mangle]
        pub unsafe extern "C" fn strlen(s: *const u8) -> usize {
            // SAFETY: the caller keeps strlen's contract, which is c_strlen's.
            unsafe { $crate::mem::c_strlen(s) }
        }

        /// C `free`, for libzstd: only ever given null (litebox_rt::mem::free_null).
        ///
        /// # Safety
        /// `p` must be null.
        #[no_mangle]
        pub unsafe extern "C" fn free(p: *mut u8) {
            $crate::mem::free_null(p)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(check: impl Fn(bool)) {
        check(false);
        check(true);
    }

    #[test]
    fn copy_move_fill() {
        both(|q| {
            for n in [0usize, 1, 7, 8, 9, 63, 200] {
                let src: alloc::vec::Vec<u8> = (0..n as u8).collect();
                let mut dst = alloc::vec![0xaau8; n + 1];
                // SAFETY: both buffers hold n bytes.
                unsafe {
                    if q {
                        copy_forward::<true>(dst.as_mut_ptr(), src.as_ptr(), n)
                    } else {
                        copy_forward::<false>(dst.as_mut_ptr(), src.as_ptr(), n)
                    }
                }
                assert_eq!(&dst[..n], &src[..]);
                assert_eq!(dst[n], 0xaa);
                // SAFETY: dst holds n + 1 bytes.
                unsafe {
                    if q {
                        fill::<true>(dst.as_mut_ptr(), 0x5c, n)
                    } else {
                        fill::<false>(dst.as_mut_ptr(), 0x5c, n)
                    }
                }
                assert!(dst[..n].iter().all(|&b| b == 0x5c) && dst[n] == 0xaa);
            }
            // Overlapping moves, both directions.
            let mut buf: alloc::vec::Vec<u8> = (0..32).collect();
            // SAFETY: every range lies inside buf.
            unsafe {
                if q {
                    move_bytes::<true>(buf.as_mut_ptr().add(3), buf.as_ptr(), 20)
                } else {
                    move_bytes::<false>(buf.as_mut_ptr().add(3), buf.as_ptr(), 20)
                }
            }
            assert_eq!(&buf[3..23], &(0..20).collect::<alloc::vec::Vec<u8>>()[..]);
            let mut buf: alloc::vec::Vec<u8> = (0..32).collect();
            // SAFETY: as above.
            unsafe {
                if q {
                    move_bytes::<true>(buf.as_mut_ptr(), buf.as_ptr().add(5), 20)
                } else {
                    move_bytes::<false>(buf.as_mut_ptr(), buf.as_ptr().add(5), 20)
                }
            }
            assert_eq!(&buf[..20], &(5..25).collect::<alloc::vec::Vec<u8>>()[..]);
        });
    }

    /// Every overlap of a backward move (dst above src by 1 to 17 bytes) for lengths that
    /// end the quadword loop with 0 to 7 bytes left, against a copy through a second buffer;
    /// the bytes around the destination stay as they were.
    #[test]
    fn backward_moves_of_every_shape() {
        both(|q| {
            for n in 1usize..=70 {
                for shift in 1usize..=17 {
                    let mut buf: alloc::vec::Vec<u8> = (0..n + shift + 2).map(|i| (i * 7 + 1) as u8).collect();
                    let mut want = buf.clone();
                    let moved: alloc::vec::Vec<u8> = buf[1..1 + n].to_vec();
                    want[1 + shift..1 + shift + n].copy_from_slice(&moved);
                    // SAFETY: source [1, 1+n) and destination [1+shift, 1+shift+n) lie inside buf.
                    unsafe {
                        let (d, s) = (buf.as_mut_ptr().add(1 + shift), buf.as_ptr().add(1));
                        if q {
                            move_bytes::<true>(d, s, n)
                        } else {
                            move_bytes::<false>(d, s, n)
                        }
                    }
                    assert_eq!(buf, want, "n {n} shift {shift}");
                }
            }
        });
    }

    #[test]
    fn compare_and_strlen() {
        // SAFETY: the buffers hold 3 bytes; the strings are NUL-terminated.
        unsafe {
            assert_eq!(compare(b"abc".as_ptr(), b"abc".as_ptr(), 3), 0);
            assert!(compare(b"abc".as_ptr(), b"abd".as_ptr(), 3) < 0);
            assert!(compare(b"\xffbc".as_ptr(), b"abc".as_ptr(), 3) > 0);
            assert_eq!(c_strlen(c"hello".as_ptr().cast()), 5);
            assert_eq!(c_strlen(c"".as_ptr().cast()), 0);
        }
        free_null(core::ptr::null_mut());
    }
}
