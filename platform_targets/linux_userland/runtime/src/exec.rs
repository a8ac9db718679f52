//! The host side of execve: the old program's memory is removed so the new one can be loaded
//! into the same process.
//!
//! The kernel's own mappings (`[vdso]` and the `[vvar]` pages next to it, the initial `[stack]`
//! that holds the host's argv and environment) are found once at start-up, before Landlock
//! closes /proc to the runtime; forked children inherit them at the same addresses. At execve
//! everything else that is not the runtime's own is unmapped, gap by gap (`[vsyscall]` lies
//! beyond the user address space and is never unmapped).
//!
//! They are found without reading /proc/self/maps (~20-30 us at every start, the largest part
//! of the supervisor's own start-up calls): [`probe_at_start`], the runtime's first step, before
//! it maps anything, takes the vDSO's address from the auxiliary vector (AT_SYSINFO_EHDR) and
//! its length from its own ELF header, and the stack's top from AT_EXECFN (the kernel copies
//! the executable's name to the very top of the initial stack, 8 bytes below its end), and
//! checks the extents with `mincore` (which fails with ENOMEM where nothing is mapped): the
//! pages next to the vDSO that are mapped belong to the kernel's `[vvar]` mappings (nothing
//! else is mapped yet), and the stack's bottom is where the mapped range ending at its top
//! ends. Where a step does not check out, /proc/self/maps is read as before
//! ([`record_kernel_ranges`]).
use alloc::vec::Vec;

use core::sync::atomic::{AtomicBool, Ordering};

use litebox_libos::sync::SpinMutex;

use crate::guard;
use crate::sys::{self, check};

static KERNEL_RANGES: SpinMutex<Vec<(usize, usize)>> = SpinMutex::new(Vec::new());
/// The initial `[stack]` among them (0, 0: not found).
static INITIAL_STACK: SpinMutex<(usize, usize)> = SpinMutex::new((0, 0));
const AT_EXECFN: usize = 31;
const AT_SYSINFO_EHDR: usize = 33;
/// The end of the x86-64 user address space (4-level paging; munmap beyond it is refused).
const USER_END: usize = 0x7fff_ffff_f000;

/// What [`probe_at_start`] found: the vDSO with the `[vvar]` pages around it (0, 0: no vDSO)
/// and the initial stack; `PROBED` says both checked out.
static PROBED_KERNEL: SpinMutex<(usize, usize)> = SpinMutex::new((0, 0));
static PROBED_STACK: SpinMutex<(usize, usize)> = SpinMutex::new((0, 0));
static PROBED: AtomicBool = AtomicBool::new(false);

const PAGE: usize = 4096;
const MINCORE: usize = 27;
/// The most pages probed next to the vDSO (x86-64's `[vvar]` and `[vvar_vclock]` are 6 pages in
/// Linux 6.18, 4 before): more than that mapped there is not believed.
const VVAR_PAGES_MAX: usize = 32;
/// The largest initial stack searched for (its bottom); beyond it /proc/self/maps is read.
const STACK_SEARCH_MAX: usize = 64 << 20;
/// `mincore`'s result vector for [`mapped`]: one byte a page.
static MINCORE_VEC: SpinMutex<[u8; STACK_SEARCH_MAX / PAGE]> = SpinMutex::new([0; STACK_SEARCH_MAX / PAGE]);

/// Whether every page of `[at, at + len)` is mapped (`len` a multiple of the page size, at most
/// [`STACK_SEARCH_MAX`]).
fn mapped(at: usize, len: usize) -> bool {
    if len == 0 || len > STACK_SEARCH_MAX || !at.is_multiple_of(PAGE) {
        return false;
    }
    let mut vec = MINCORE_VEC.lock();
    sys::syscall3(MINCORE, at, len, vec.as_mut_ptr() as usize) == 0
}

/// Finds the kernel's mappings from the initial stack's auxiliary vector; call first thing at
/// start-up, before the runtime maps anything (a mapping of its own next to the vDSO would be
/// taken for the kernel's). `sp` is the kernel's initial stack pointer.
///
/// # Safety
/// `sp` must be the initial stack pointer the kernel gave `_start`.
pub unsafe fn probe_at_start(sp: usize, own: (usize, usize)) {
    let word = |i: usize| -> usize {
        // SAFETY: the kernel's initial stack holds argc, argv, envp and auxv at sp (contract).
        unsafe { core::ptr::read((sp + 8 * i) as *const usize) }
    };
    let argc = word(0);
    let mut i = argc + 2;
    while word(i) != 0 {
        i += 1;
    }
    i += 1;
    let (mut ehdr, mut execfn) = (0usize, 0usize);
    while word(i) != 0 {
        match word(i) {
            AT_SYSINFO_EHDR => ehdr = word(i + 1),
            AT_EXECFN => execfn = word(i + 1),
            _ => {}
        }
        i += 2;
    }
    let argv0 = if argc > 0 { word(1) } else { 0 };
    // SAFETY: AT_EXECFN points to a NUL-terminated string on the initial stack.
    let Some(stack) = (unsafe { stack_range(sp, execfn, argv0) }) else { return };
    let kernel = if ehdr == 0 {
        (0, 0)
    } else {
        match vdso_range(ehdr, stack, own) {
            Some(r) => r,
            None => return,
        }
    };
    *PROBED_STACK.lock() = stack;
    *PROBED_KERNEL.lock() = kernel;
    PROBED.store(true, Ordering::Relaxed);
}

/// The initial stack: its top from AT_EXECFN, its bottom where the mapped range below the top
/// ends (first the kernel's usual extent, 128 KiB below the page of the lowest string, argv[0],
/// is tried).
///
/// # Safety
/// `execfn` must be 0 or the kernel's AT_EXECFN.
unsafe fn stack_range(sp: usize, execfn: usize, argv0: usize) -> Option<(usize, usize)> {
    if execfn == 0 {
        return None;
    }
    // SAFETY: per the contract, a NUL-terminated string on the initial stack.
    let len = unsafe { litebox_rt::mem::c_strlen(execfn as *const u8) };
    let hi = execfn.checked_add(len + 1 + 8)?;
    // The top must be a page boundary with the page below it mapped and the one at it not.
    if !hi.is_multiple_of(PAGE) || sp >= execfn || !mapped(hi - PAGE, PAGE) || mapped(hi, PAGE) {
        return None;
    }
    let bottom = |lo: usize| mapped(lo, hi - lo) && (lo < PAGE || !mapped(lo - PAGE, PAGE));
    let guess = (argv0 & !(PAGE - 1)).wrapping_sub(128 << 10);
    if argv0 != 0 && guess < sp && hi - guess <= STACK_SEARCH_MAX && bottom(guess) {
        return Some((guess, hi));
    }
    // Search: `[lo, hi)` mapped is true from the bottom up and false below it.
    let mut good = sp & !(PAGE - 1);
    if !mapped(good, hi - good) {
        return None;
    }
    let mut step = PAGE;
    let mut bad = loop {
        let lo = good.checked_sub(step).filter(|&lo| hi - lo <= STACK_SEARCH_MAX)?;
        if !mapped(lo, hi - lo) {
            break lo;
        }
        good = lo;
        step *= 2;
    };
    while good - bad > PAGE {
        let mid = bad + (good - bad) / 2 / PAGE * PAGE;
        if mapped(mid, hi - mid) {
            good = mid;
        } else {
            bad = mid;
        }
    }
    Some((good, hi))
}

/// The vDSO's mapping with the kernel pages next to it (`[vvar]` below it on x86-64; probed
/// above too): its length from its ELF header, each page checked mapped.
fn vdso_range(base: usize, stack: (usize, usize), own: (usize, usize)) -> Option<(usize, usize)> {
    if !base.is_multiple_of(PAGE) || !mapped(base, PAGE) {
        return None;
    }
    // SAFETY: the first page at AT_SYSINFO_EHDR is mapped (checked) and is the kernel's vDSO.
    let head = unsafe { core::slice::from_raw_parts(base as *const u8, 64) };
    let end = base.checked_add(crate::vdso::image_size(head)?.next_multiple_of(PAGE))?;
    if !mapped(base, end - base) {
        return None;
    }
    let ours = |p: usize| (stack.0..stack.1).contains(&p) || (own.0..own.1).contains(&p);
    // Linux 6.13 and later map 6 pages below the vDSO (`[vvar]`, `[vvar_vclock]`), earlier
    // kernels 4: tried first (two calls), else page by page.
    let below = |n: usize| -> Option<usize> {
        let lo = base.checked_sub(n * PAGE)?;
        let ok = lo >= PAGE && !ours(lo - PAGE) && mapped(lo, n * PAGE) && !mapped(lo - PAGE, PAGE);
        ok.then_some(lo)
    };
    let guessed = below(6).or_else(|| below(4)).filter(|&lo| !ours(lo));
    let mut lo = guessed.unwrap_or(base);
    for _ in 0..=VVAR_PAGES_MAX {
        if guessed.is_some() {
            break;
        }
        match lo.checked_sub(PAGE) {
            Some(p) if !ours(p) && mapped(p, PAGE) => lo = p,
            Some(_) => break,
            None => return None,
        }
        if base - lo > VVAR_PAGES_MAX * PAGE {
            return None;
        }
    }
    let mut hi = end;
    loop {
        if ours(hi) || !mapped(hi, PAGE) {
            break;
        }
        hi += PAGE;
        if hi - end > VVAR_PAGES_MAX * PAGE {
            return None;
        }
    }
    Some((lo, hi))
}

/// Remembers where the kernel's special mappings are (call before Landlock): what
/// [`probe_at_start`] found, or else what /proc/self/maps says.
pub fn record_kernel_ranges() {
    if PROBED.load(Ordering::Relaxed) {
        let mut out = KERNEL_RANGES.lock();
        let (lo, hi) = *PROBED_KERNEL.lock();
        if hi > lo {
            out.push((lo, hi));
        }
        let stack = *PROBED_STACK.lock();
        out.push(stack);
        *INITIAL_STACK.lock() = stack;
        return;
    }
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
/// kernel's [vdso], [vvar], [vsyscall] and, in the app's first process, the initial [stack]
/// (a fork child has none: hoststack.rs; whatever the app mapped there since is the app's).
pub fn unmap_app() {
    let mut keep = guard::ranges();
    let stack = if crate::host::fork_state().first_process.load(Ordering::Relaxed) { None } else { initial_stack() };
    keep.extend(KERNEL_RANGES.lock().iter().copied().filter(|&r| Some(r) != stack));
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
