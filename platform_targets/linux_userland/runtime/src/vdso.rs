//! The host kernel's vDSO, used by the runtime (never shown to the app) to read the clocks
//! without a host call: `clock_gettime` through the gate costs a syscall and the gate's seccomp
//! program (~300 ns here), through the vDSO ~30 ns, as natively. A packed HTTP server asks the
//! time five times per request.
//!
//! [`init`] finds `__vdso_clock_gettime` in the vDSO the kernel mapped (its address is in the
//! host auxv, AT_SYSINFO_EHDR) by reading its ELF dynamic symbol table. The vDSO answers from
//! the shared time page, except for clocks it does not serve itself and when the host's clock
//! source cannot be read in user mode: then it makes the `syscall` itself, from the vDSO's
//! code, which the gate's filter traps like any call not issued from the gate. The SIGSYS
//! handler passes such a call to the host as is ([`serve_fallback`]); the runtime asks the vDSO
//! only for the clocks listed in [`VDSO_CLOCKS`].
use core::sync::atomic::{AtomicUsize, Ordering};

use litebox_libos::abi::Timespec;

use crate::sys;

/// `__vdso_clock_gettime`'s address (0: no usable vDSO, the gate's syscall is used).
static CLOCK_GETTIME: AtomicUsize = AtomicUsize::new(0);
/// The vDSO's mapped text: `[lo, hi)`, for recognising its fallback syscalls.
static TEXT_LO: AtomicUsize = AtomicUsize::new(0);
static TEXT_HI: AtomicUsize = AtomicUsize::new(0);

/// The clocks the runtime reads through the vDSO: REALTIME, MONOTONIC, MONOTONIC_RAW,
/// REALTIME_COARSE, MONOTONIC_COARSE, BOOTTIME and TAI (the ones Linux's vDSO serves from the
/// time page; CPU-time clocks always take the syscall).
pub const VDSO_CLOCKS: [u32; 7] = [0, 1, 4, 5, 6, 7, 11];

const AT_SYSINFO_EHDR: usize = 33;
const PT_LOAD: u32 = 1;
const SHT_DYNSYM: u32 = 11;
const SYMBOL: &[u8] = b"__vdso_clock_gettime";
/// The largest vDSO image believed (x86-64's is two pages; a bound for the parser).
const MAX_IMAGE: usize = 64 << 10;

/// Finds the vDSO's `clock_gettime` from the host auxv (call once, at start-up, after
/// `exec::record_kernel_ranges` and before any clock is read). Leaves the gate's syscall in use
/// when the vDSO is absent, its mapping unknown, or its image not understood.
pub fn init(aux: &[(usize, usize)]) {
    let Some(&(_, base)) = aux.iter().find(|&&(k, _)| k == AT_SYSINFO_EHDR) else { return };
    // The mapping that holds the image, as /proc/self/maps named it: every read stays inside.
    let Some(mapped) = crate::exec::kernel_range_len(base) else { return };
    if mapped < 64 {
        return;
    }
    // SAFETY: [base, base + mapped) is the kernel's [vdso] mapping, readable, in this process
    // for its lifetime (exec.rs keeps it across execve; nothing unmaps it).
    let head = unsafe { core::slice::from_raw_parts(base as *const u8, 64) };
    let Some(size) = image_size(head) else { return };
    if size > mapped {
        return;
    }
    // SAFETY: as above; `size` <= the mapping's length.
    let image = unsafe { core::slice::from_raw_parts(base as *const u8, size) };
    if let Some((sym, text_lo, text_hi)) = find(image, SYMBOL) {
        TEXT_LO.store(base + text_lo, Ordering::Relaxed);
        TEXT_HI.store(base + text_hi, Ordering::Relaxed);
        CLOCK_GETTIME.store(base + sym, Ordering::Release);
    }
}

/// The host's `clock` through the vDSO, or None when it cannot be read that way (the caller
/// then makes the syscall). Errors come back as the kernel's negative errno.
pub fn clock_gettime(clock: u32) -> Option<Result<Timespec, i32>> {
    let f = CLOCK_GETTIME.load(Ordering::Acquire);
    if f == 0 || !VDSO_CLOCKS.contains(&clock) {
        return None;
    }
    let mut t = Timespec::default();
    // SAFETY: `f` is the vDSO's __vdso_clock_gettime (C ABI: clockid, struct timespec *),
    // found by `init` in the kernel's own image; it writes only `t`.
    let rc = unsafe {
        let f: extern "C" fn(i32, *mut Timespec) -> i32 = core::mem::transmute(f);
        f(clock as i32, &mut t)
    };
    Some(if rc == 0 { Ok(t) } else { Err(-rc) })
}

/// The host's `clock` through the vDSO, written by the vDSO straight to `tp`: its return
/// code (0, or the kernel's negative errno), or None when the vDSO cannot serve `clock`.
/// For the fast clock path (fastclock.rs): the vDSO is kernel code built without vector
/// instructions, and this function moves no timespec itself, so no xmm register changes.
///
/// # Safety
/// `[tp, tp + 16)` must be writable memory the runtime may write for the app.
pub unsafe fn clock_gettime_to(clock: u32, tp: usize) -> Option<i32> {
    let f = CLOCK_GETTIME.load(Ordering::Acquire);
    if f == 0 || !VDSO_CLOCKS.contains(&clock) {
        return None;
    }
    // SAFETY: as in `clock_gettime`; `tp` is writable per the contract.
    Some(unsafe {
        let f: extern "C" fn(i32, *mut Timespec) -> i32 = core::mem::transmute(f);
        f(clock as i32, tp as *mut Timespec)
    })
}

/// Whether a trapped call is the vDSO's own fallback `clock_gettime` made for the runtime
/// (issued from the vDSO's text while the thread runs on its runtime block, `on_block`, for
/// one of [`VDSO_CLOCKS`]); if so it is made on the host as is, through the gate, and its
/// result is returned. The app never gets here for its own calls: it runs on its own stack,
/// and its clock_gettime reaches the library OS, which asks the host the same question (and
/// were app code to reach the vDSO's syscall on the runtime's block, it would get no more than
/// that same answer).
pub fn serve_fallback(nr: usize, ip: usize, on_block: bool, args: [usize; 2]) -> Option<isize> {
    let (lo, hi) = (TEXT_LO.load(Ordering::Relaxed), TEXT_HI.load(Ordering::Relaxed));
    let ours = u32::try_from(args[0]).is_ok_and(|c| VDSO_CLOCKS.contains(&c));
    if nr != sys::CLOCK_GETTIME || !on_block || !ours || lo == 0 || !(lo..hi).contains(&ip) {
        return None;
    }
    Some(sys::syscall3(sys::CLOCK_GETTIME, args[0], args[1], 0))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<usize> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?) as usize)
}

/// The image's size from its ELF header: the end of the section header table (the kernel
/// maps the whole vDSO image, section headers included), if the header is an x86-64 ELF.
pub fn image_size(h: &[u8]) -> Option<usize> {
    if h.get(..5)? != b"\x7fELF\x02" || u16_at(h, 18)? != 62 {
        return None;
    }
    let shoff = u64_at(h, 40)?;
    let end = shoff.checked_add(usize::from(u16_at(h, 60)?).checked_mul(usize::from(u16_at(h, 58)?))?)?;
    (64..=MAX_IMAGE).contains(&end).then_some(end)
}

/// `name`'s offset from the image's base, and the extent of its executable PT_LOAD (as
/// offsets), from the dynamic symbol table; every offset checked against the image.
fn find(img: &[u8], name: &[u8]) -> Option<(usize, usize, usize)> {
    // The image is linked at its load address minus the first PT_LOAD's p_vaddr.
    let (phoff, phnum, phsz) = (u64_at(img, 32)?, usize::from(u16_at(img, 56)?), usize::from(u16_at(img, 54)?));
    let mut bias = None;
    let mut text = None;
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phsz)?)?;
        if u32_at(img, ph)? == PT_LOAD {
            let (flags, vaddr, off, memsz) =
                (u32_at(img, ph + 4)?, u64_at(img, ph + 16)?, u64_at(img, ph + 8)?, u64_at(img, ph + 40)?);
            let b = *bias.get_or_insert(vaddr.checked_sub(off)?);
            if flags & 1 != 0 {
                text = Some((vaddr.checked_sub(b)?, vaddr.checked_sub(b)?.checked_add(memsz)?));
            }
        }
    }
    let (bias, (text_lo, text_hi)) = (bias?, text?);
    let (shoff, shnum, shsz) = (u64_at(img, 40)?, usize::from(u16_at(img, 60)?), usize::from(u16_at(img, 58)?));
    let sh = |i: usize| shoff.checked_add(i.checked_mul(shsz)?);
    for i in 0..shnum {
        let s = sh(i)?;
        if u32_at(img, s + 4)? != SHT_DYNSYM {
            continue;
        }
        let (symoff, symsize, entsize, link) =
            (u64_at(img, s + 24)?, u64_at(img, s + 32)?, u64_at(img, s + 56)?, u32_at(img, s + 40)? as usize);
        let strtab = sh(link)?;
        let (stroff, strsize) = (u64_at(img, strtab + 24)?, u64_at(img, strtab + 32)?);
        let strs = img.get(stroff..stroff.checked_add(strsize)?)?;
        if entsize < 24 {
            return None;
        }
        for k in 0..symsize / entsize {
            let e = symoff.checked_add(k * entsize)?;
            let nm = u32_at(img, e)? as usize;
            let value = u64_at(img, e + 8)?;
            let sym_name = strs.get(nm..)?;
            let end = sym_name.iter().position(|&c| c == 0)?;
            if &sym_name[..end] == name && value != 0 {
                let at = value.checked_sub(bias)?;
                return (text_lo..text_hi).contains(&at).then_some((at, text_lo, text_hi));
            }
        }
    }
    None
}
