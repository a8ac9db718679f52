//! The linux-userland runtime: a static, libc-free executable that carries a LiteBox image in
//! its `.litebox.image` section and runs the packed app under the library OS.
//!
//! Start-up: map the image from our own file, verify it, load the app (and its ELF
//! interpreter) into this address space, install the SIGSYS handler and the seccomp filter,
//! then jump to the app. From then on every syscall the app makes traps into
//! [`on_sigsys`] and is served by the library OS; only the gate reaches the host.
//!
//! Exit codes of the runtime itself (before the app runs): see docs/image-format.md and
//! `litebox_rt::exit`.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod broker;
mod caps;
mod cpuprobe;
mod effects;
mod exec;
mod fastclock;
mod fastpath;
mod forkfence;
// The program builder itself runs in build.rs (seccomp.rs installs its output, the address
// filled in); the runtime uses the allow-list and the rule names.
#[allow(dead_code)]
mod gatefilter;
mod guard;
mod host;
mod hostfs;
mod hoststack;
mod imageholes;
mod landlock;
mod layers;
mod nsroot;
mod parcheck;
mod procs;
mod ptable;
mod seccomp;
mod selfimage;
mod signals;
mod supervisor;
mod sys;
mod threads;
mod trace;
mod udpapp;
mod udprelay;
mod unixns;
mod vdso;

use alloc::vec::Vec;
use core::arch::global_asm;
use core::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

use litebox_image::{Image, ImageError};
use litebox_libos::fs::Vfs;
use litebox_libos::loader;
use litebox_libos::LibOs;
use litebox_rt::exit::{INTERNAL as EXIT_INTERNAL, LOAD as EXIT_LOAD, NO_IMAGE as EXIT_NO_IMAGE};
use litebox_rt::launch::host_var;

use host::LinuxHost;

#[global_allocator]
static HEAP: litebox_rt::heap::Heap<sys::HeapPages> = litebox_rt::heap::Heap::new(sys::HeapPages);

litebox_rt::libc_functions!(bytes);

static OS: AtomicPtr<LibOs<LinuxHost>> = AtomicPtr::new(core::ptr::null_mut());

/// The sandbox could not be set up (`litebox_rt::exit::SETUP`).
pub const EXIT_SANDBOX: i32 = litebox_rt::exit::SETUP;

// One byte of file contents in `.bss`: the linker then makes the whole output `.bss`
// PROGBITS (zeros stored in the file, ~28 KiB), so the writable segment is one file-backed
// host mapping instead of a file-backed one for `.data` and an anonymous one for `.bss`. Every
// mapping costs each fork and exit its own kernel work (its copy, its `anon_vma`, its
// teardown: bench/RESULTS-issue17-spawn7.md); the pages written are the same either way.
global_asm!(".pushsection .bss.litebox_in_file,\"awR\",@progbits", ".byte 0", ".popsection");

global_asm!(
    ".globl _start",
    ".type _start,@function",
    "_start:",
    "    xor ebp, ebp",
    // Self-relocation (the runtime is a static PIE the kernel places at a random address; it
    // is linked at 0, so the load base is the ELF header's address). Only registers until
    // every relative relocation is applied: no code may read a pointer from a static before.
    // The linker packs them as DT_RELR (`-z pack-relative-relocs`, build.rs): a table of
    // 8-byte words, an even word the address of one word to relocate (and the next base), an
    // odd word a bitmap of the 63 words after the base (bit k+1: word k), then base += 63
    // words. Each relocated word holds its link-time value (the addend): it gets the load
    // base added, so this runs once per image (only the kernel enters _start). A DT_RELA table, if the linker left one, is applied too, each entry
    // R_X86_64_RELATIVE. Anything else (DT_REL, DT_JMPREL, DT_TEXTREL, a relocation type other
    // than RELATIVE, DT_RELAENT not 24, DT_RELRENT not 8) stops here with ud2
    // (tests/unit/test_runtime_pie.py refuses such a build).
    // r8 = base, rcx/rdx = DT_RELA/DT_RELASZ, r9/r10 = DT_RELR/DT_RELRSZ.
    "    lea r8, [rip + __ehdr_start]",
    "    lea rsi, [rip + _DYNAMIC]",
    "    xor ecx, ecx",
    "    xor edx, edx",
    "    xor r9d, r9d",
    "    xor r10d, r10d",
    "20: mov rax, qword ptr [rsi]",
    "    mov rdi, qword ptr [rsi + 8]",
    "    add rsi, 16",
    "    test rax, rax",
    "    jz 23f",
    "    cmp rax, 7", // DT_RELA
    "    cmove rcx, rdi",
    "    cmp rax, 8", // DT_RELASZ
    "    cmove rdx, rdi",
    "    cmp rax, 36", // DT_RELR
    "    cmove r9, rdi",
    "    cmp rax, 35", // DT_RELRSZ
    "    cmove r10, rdi",
    "    cmp rax, 9", // DT_RELAENT
    "    jne 21f",
    "    cmp rdi, 24",
    "    jne 29f",
    "21: cmp rax, 37", // DT_RELRENT
    "    jne 22f",
    "    cmp rdi, 8",
    "    jne 29f",
    // DT_PLTGOT (3) and DT_RELACOUNT (0x6ffffff9) are harmless; DT_REL (17), DT_TEXTREL (22)
    // and DT_JMPREL (23) are not handled.
    "22: cmp rax, 17",
    "    je 29f",
    "    cmp rax, 22",
    "    je 29f",
    "    cmp rax, 23",
    "    je 29f",
    "    jmp 20b",
    // RELA: rcx = first entry, rdx = end.
    "23: add rcx, r8",
    "    add rdx, rcx",
    "25: cmp rcx, rdx",
    "    jae 30f",
    "    cmp dword ptr [rcx + 8], 8", // R_X86_64_RELATIVE (r_info's low half)
    "    jne 29f",
    "    mov rax, qword ptr [rcx + 16]",
    "    add rax, r8",
    "    mov rsi, qword ptr [rcx]",
    "    mov qword ptr [rsi + r8], rax",
    "    add rcx, 24",
    "    jmp 25b",
    // RELR: r9 = next word of the table, r10 = its end, rdi = the base (an address).
    "30: add r9, r8",
    "    add r10, r9",
    "    xor edi, edi",
    "31: cmp r9, r10",
    "    jae 26f",
    "    mov rax, qword ptr [r9]",
    "    add r9, 8",
    "    test al, 1",
    "    jnz 32f",
    "    lea rdi, [rax + r8]",
    "    add qword ptr [rdi], r8",
    "    add rdi, 8",
    "    jmp 31b",
    "32: mov rsi, rdi",
    "    shr rax, 1", // the tag bit
    "33: shr rax, 1", // CF: relocate the word at rsi
    "    jnc 34f",
    "    add qword ptr [rsi], r8",
    "34: add rsi, 8",
    "    test rax, rax",
    "    jnz 33b",
    "    add rdi, 63 * 8",
    "    jmp 31b",
    "29: ud2",
    "26: mov rdi, rsp",
    "    and rsp, -16",
    "    call litebox_main",
    "    ud2",
    // litebox_enter(entry, sp): switch to the app's stack with clean registers and jump.
    ".globl litebox_enter",
    "litebox_enter:",
    "    mov rsp, rsi",
    "    push rdi",
    "    xor eax, eax",
    "    xor ebx, ebx",
    "    xor ecx, ecx",
    "    xor edx, edx",
    "    xor esi, esi",
    "    xor edi, edi",
    "    xor ebp, ebp",
    "    xor r8d, r8d",
    "    xor r9d, r9d",
    "    xor r10d, r10d",
    "    xor r11d, r11d",
    "    xor r12d, r12d",
    "    xor r13d, r13d",
    "    xor r14d, r14d",
    "    xor r15d, r15d",
    "    ret",
);

extern "C" {
    fn litebox_enter(entry: usize, sp: usize) -> !;
    static __ehdr_start: u8;
    static _end: u8;
}

/// The runtime's own copy of the stderr it was started with: logs and fatal errors still reach
/// the user after the app closes or redirects its descriptor 2.
static LOG_FD: AtomicI32 = AtomicI32::new(2);

/// LITEBOX_LOG=debug (read before the sandbox's processes start: the supervisor logs too).
pub static DEBUG: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Where the runtime writes its diagnostics.
pub fn log_fd() -> i32 {
    LOG_FD.load(Ordering::Relaxed)
}

/// Prints `litebox: <msg>` on stderr and exits with `code`.
pub fn fatal(code: i32, msg: &[u8]) -> ! {
    sys::write_all(log_fd(), &litebox_rt::fatal::line(msg));
    procs::release();
    sys::exit(code)
}

fn image_fatal(e: ImageError) -> ! {
    fatal(e.exit_code(), alloc::format!("{e}").as_bytes())
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    fatal(EXIT_INTERNAL, alloc::format!("{}", litebox_rt::fatal::PanicMessage(info)).as_bytes())
}

/// The library OS (set before the app runs).
pub fn os() -> &'static LibOs<LinuxHost> {
    // SAFETY: OS is set before any app code runs and never freed.
    unsafe { &*OS.load(Ordering::Acquire) }
}

/// The SIGSYS handler: one trapped app syscall, served by the library OS.
extern "C" fn on_sigsys(_sig: i32, info: usize, uc: usize) {
    // Only a seccomp trap (si_code SYS_SECCOMP) is a syscall to serve; a SIGSYS sent by some
    // other process is dropped.
    // SAFETY: info is the kernel's siginfo; si_code is the int at offset 8.
    if unsafe { core::ptr::read((info + 8) as *const i32) } != 1 {
        return;
    }
    // Inside the runtime from here (a fork by another thread waits for this one: forkfence.rs).
    let d = fastpath::data();
    use litebox_libos::SyscallContext;
    // SAFETY: uc is the ucontext pointer the kernel passed to this handler.
    let trapped = unsafe { signals::Trapped::new(uc) };
    // The app's stack pointer at the trapped call: where an app handler let in during it runs.
    let outer = fastpath::call_begin(d, trapped.stack_pointer());
    let td = threads::current();
    // The trapped call being served on this thread, until its deferred signals are released
    // (an app handler they let in finds the call's registers through it).
    // SAFETY: the handler runs on this thread's block (SA_ONSTACK), which holds its data.
    let prev = unsafe { core::mem::replace(&mut (*td).uc, uc) };
    fastpath::enter(d);
    while !serve_sigsys(info, uc) {
        // Cut short by a signal for an app handler before its host call had any effect: the
        // handler runs now, and the call is served again (fastpath.rs `window_open`).
        if !fastpath::restart_after_handlers(d, Some(trapped.sigmask()), trapped.nr(), &trapped.args()) {
            // SAFETY: uc is the ucontext pointer the kernel passed to this handler.
            unsafe { signals::Trapped::new(uc) }.set_result(-(litebox_libos::errno::EINTR as isize));
            break;
        }
    }
    fastpath::leave(d);
    // A signal deferred meanwhile is delivered now, as at the fast path's exit; inside a
    // fast-path call (a nested trap), at its exit. Its frame's mask never holds them: no app
    // code, so no trap, runs while any is deferred (an open window defers and cuts, an app
    // handler takes them over: fastpath.rs).
    if d.depth.load(Ordering::Relaxed) == 0 {
        fastpath::release_trapped(d, trapped.sigmask());
    }
    // A wait with a mask of its own (ppoll, pselect6, epoll_pwait): the app's mask is back.
    // SAFETY: as above.
    let saved = unsafe { core::mem::replace(&mut (*td).saved_mask, 0) };
    if saved != 0 {
        // SAFETY: uc is the ucontext pointer the kernel passed to this handler.
        unsafe { core::ptr::write((uc + signals::SIGMASK) as *mut u64, saved & !signals::SIGSYS_BIT) };
    }
    // SAFETY: as above.
    unsafe { (*td).uc = prev };
    fastpath::call_end(d, outer);
}

/// [`on_sigsys`] for a seccomp trap, inside the runtime: serves it and sets its result; false
/// (no result set) when a signal for an app handler cut the call short before its host call
/// had any effect, to be served again.
fn serve_sigsys(info: usize, uc: usize) -> bool {
    // SAFETY: OS is set before the filter is installed and never freed; uc is the kernel's.
    let os = unsafe { &*OS.load(Ordering::Acquire) };
    // SECCOMP_RET_DATA (si_errno, offset 4) is non-zero when the gate's allow-list refused a
    // call issued from the gate itself: answer EPERM, serve nothing, say which rule.
    // SAFETY: as above.
    let rule = unsafe { core::ptr::read((info + 4) as *const i32) } as u32;
    if rule != 0 {
        // SAFETY: uc is the ucontext pointer the kernel passed to this handler.
        let mut t = unsafe { signals::Trapped::new(uc) };
        layers::gate_denied(os, &t, rule);
        t.set_result(-(litebox_libos::errno::EPERM as isize));
        return true;
    }
    // The vDSO's own syscall when it cannot read a clock for the runtime: not the app's.
    // SAFETY: uc is the ucontext pointer the kernel passed to this handler.
    if unsafe { signals::Trapped::new(uc) }.vdso_fallback() {
        return true;
    }
    // SAFETY: uc is the ucontext pointer the kernel passed to this handler.
    let mut t = unsafe { signals::Trapped::new(uc) };
    let traced = trace::tracing().then(|| {
        use litebox_libos::SyscallContext;
        (t.nr(), [t.arg(0), t.arg(1), t.arg(2), t.arg(3), t.arg(4), t.arg(5)])
    });
    let r = litebox_libos::shim::dispatch(os, &mut t);
    if r == fastpath::RESTART {
        return false;
    }
    t.set_result(r);
    if let Some((n, a)) = traced {
        trace::line(n, &a, r);
    }
    true
}

/// Reads a NUL-terminated string the kernel placed on the initial stack.
///
/// # Safety
/// `p` must point to a NUL-terminated string that lives for the whole process.
unsafe fn cstr_at(p: usize) -> &'static [u8] {
    // SAFETY: per the contract; c_strlen finds the terminator.
    unsafe { core::slice::from_raw_parts(p as *const u8, litebox_rt::mem::c_strlen(p as *const u8)) }
}

struct HostStart {
    args: Vec<&'static [u8]>,
    env: Vec<&'static [u8]>,
    aux: Vec<(usize, usize)>,
}

/// # Safety
/// `sp` must be the initial stack pointer the kernel gave `_start`.
unsafe fn parse_start(sp: usize) -> HostStart {
    let word = |i: usize| -> usize {
        // SAFETY: the kernel's initial stack holds argc, argv, envp and auxv at sp.
        unsafe { core::ptr::read((sp + 8 * i) as *const usize) }
    };
    let argc = word(0);
    // SAFETY: argv[i] are valid C strings for the process lifetime.
    let args = (0..argc).map(|i| unsafe { cstr_at(word(1 + i)) }).collect();
    let mut i = argc + 2;
    let mut env = Vec::new();
    while word(i) != 0 {
        // SAFETY: envp entries are valid C strings.
        env.push(unsafe { cstr_at(word(i)) });
        i += 1;
    }
    i += 1;
    let mut aux = Vec::new();
    while word(i) != 0 {
        aux.push((word(i), word(i + 1)));
        i += 2;
    }
    HostStart { args, env, aux }
}

/// Fills every page-aligned gap between the runtime's own loaded segments (its ELF header at
/// `base`, `__ehdr_start`) with a `PROT_NONE`, `MAP_NORESERVE` anonymous mapping placed with
/// `MAP_FIXED_NOREPLACE` (it never replaces anything), so that the guard's range of the runtime
/// is mapped exactly and no host `mmap` without an address is handed a page inside it
/// (imageholes.rs says how a gap arises). Runs before the first such `mmap`.
fn fill_image_holes(base: usize) {
    const MAP_PRIVATE_ANON_NORESERVE: usize = 0x02 | 0x20 | 0x4000;
    const MAP_FIXED_NOREPLACE: usize = 0x10_0000;
    // SAFETY: `base` is `__ehdr_start`: the runtime's own ELF header, with its program headers,
    // in its first (read-only) segment.
    for (gap_lo, gap_hi) in unsafe { imageholes::gaps(base) } {
        let flags = MAP_PRIVATE_ANON_NORESERVE | MAP_FIXED_NOREPLACE;
        if sys::check(sys::syscall6(sys::MMAP, gap_lo, gap_hi - gap_lo, 0, flags, usize::MAX, 0)).is_err() {
            fatal(EXIT_INTERNAL, b"cannot reserve a gap in the runtime's own image");
        }
    }
}

#[no_mangle]
extern "C" fn litebox_main(sp: usize) -> ! {
    // Descriptors inherited beyond stdin, stdout and stderr are the launcher's, not the app's:
    // closed before anything is opened, so none of them is reachable through the gate.
    const CLOSE_RANGE: usize = 436;
    sys::syscall3(CLOSE_RANGE, 3, u32::MAX as usize, 0);
    // SAFETY: linker-defined symbols bounding the runtime's own loaded image.
    let (lo, hi) = unsafe { (&__ehdr_start as *const u8 as usize, &_end as *const u8 as usize) };
    // Before anything is mapped (exec.rs): where the kernel's own mappings are.
    // SAFETY: sp is the kernel's initial stack pointer, passed through by _start.
    unsafe { exec::probe_at_start(sp, (lo & !4095, hi.next_multiple_of(4096))) };
    fill_image_holes(lo);
    let (heap_at, heap_len) =
        sys::HeapPages::reserve().unwrap_or_else(|_| fatal(EXIT_INTERNAL, b"cannot reserve memory"));
    HEAP.set_region(heap_at, heap_len);
    guard::reserve(heap_at, heap_len);
    guard::reserve(lo, hi - lo);
    // SAFETY: sp is the kernel's initial stack pointer, passed through by _start.
    let start = unsafe { parse_start(sp) };
    let debug = host_var(&start.env, b"LITEBOX_LOG") == Some(b"debug");
    DEBUG.store(debug, Ordering::Relaxed);
    const F_DUPFD_CLOEXEC: usize = 1030;
    if let Ok(fd) = sys::check(sys::syscall3(sys::FCNTL, 2, F_DUPFD_CLOEXEC, sys::FD_BASE)) {
        LOG_FD.store(fd as i32, Ordering::Relaxed);
    }
    litebox_libos::fd::set_host_close(host::close_host_fd);
    trace::init(host_var(&start.env, b"LITEBOX_TRACE"), host_var(&start.env, b"LITEBOX_LEARN"));
    *HOST_AUX.lock() = start.aux.iter().copied().filter(|&(k, _)| matches!(k, 16 | 26 | 51 | 17)).collect();

    let (at, len) = selfimage::map().unwrap_or_else(|e| fatal(EXIT_NO_IMAGE, e.as_bytes()));
    guard::reserve(at, len);
    // SAFETY: the mapping is read-only, private and never unmapped (guarded from the app).
    let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(at as *const u8, len) };
    // The image's SHA-256 code on the SHA extensions where the CPU has them, known without
    // CPUID (a trap to the hypervisor in a VM: cpuprobe.rs).
    litebox_image::sha256::set_sha_ni(cpuprobe::sha_extensions());
    let mut image = Image::open(bytes).unwrap_or_else(|e| image_fatal(e));
    // File data is checked and read with pread, not through the mapping (resident memory).
    image.set_stored_reader(selfimage::read_image);
    // And the tables too, page by page into a private copy: only the pages used are resident.
    image.copy_tables();
    let cfg = image.launch_config().unwrap_or_else(|e| image_fatal(e));

    // LITEBOX_TRACE and LITEBOX_LEARN are the runtime's own, not the app's.
    let host_args = start.args.get(1..).unwrap_or(&[]);
    let app = litebox_rt::launch::app_args(&cfg, host_args, &start.env, &[b"LITEBOX_TRACE", b"LITEBOX_LEARN"]);
    let (argv, env) = (app.argv, app.env);
    let entry = cfg.entry.to_vec();
    let cwd = cfg.cwd.to_vec();
    let hostname = cfg.hostname.to_vec();

    let host_ids = (sys::syscall3(sys::GETUID, 0, 0, 0) as u32, sys::syscall3(sys::GETGID, 0, 0, 0) as u32);
    let (uid, gid) = cfg.ids.unwrap_or(host_ids);
    // Facts read from the host's /proc, which the sandbox no longer sees: the kernel's own
    // mappings (for execve) are at the same addresses in every process forked from here.
    exec::record_kernel_ranges();
    vdso::init(&start.aux);

    // The sandbox's processes (supervisor.rs): only the app's first process goes on from here.
    use litebox_image::LIMIT_MEMORY;
    let mount_fds = open_mounts(&cfg.mounts);
    let policy = litebox_libos::net::NetPolicy::new(&cfg.listen, &cfg.connect);
    let paths: Vec<(&[u8], bool)> = cfg.mounts.iter().map(|m| (m.host, m.writable)).collect();
    // The table init and the app's first process share to check chunks on both CPUs.
    if let Some((at, len)) = parcheck::init(&image, &entry) {
        guard::reserve(at, len);
    }
    let mut started = supervisor::start(&mount_fds, &paths, cfg.limits[LIMIT_MEMORY], policy);

    parcheck::own();
    let mut vfs = Vfs::new(image, entry.clone(), image_fatal);
    vfs.cache.set_helper(&parcheck::APP_SIDE, parcheck::MIN_SPAN);
    vfs.cache.set_defer_span(parcheck::MIN_DEFER_SPAN);
    // Inside the namespaces the layer's and the mounts' descriptors come once init has built
    // the root (below, after the app is loaded); until then their lookups find nothing.
    let upper = started.ns.is_ok() || started.upper.is_some();
    let (layer, dirs) = host_layer(&cfg.mounts, upper, started.ns.is_ok());
    vfs.host = Some(layer);
    vfs.ids = cfg.ids.map(|app| litebox_libos::fs::synth::IdMap { host: host_ids, app });
    let layer_in_memory = started.ns.is_ok();
    let host = LinuxHost { uid, gid, cpus: host_cpus(), mem_total: host_mem_total(), tty: host_tty(), layer_in_memory };
    let mut os = LibOs::new(host, vfs, &cwd, &hostname, debug);
    os.net = litebox_libos::net::NetPolicy::new(&cfg.listen, &cfg.connect);
    let os = alloc::boxed::Box::leak(alloc::boxed::Box::new(os));
    OS.store(os, Ordering::Release);
    let os: &'static LibOs<LinuxHost> = os;
    use litebox_image::{LIMIT_OPEN_FILES, LIMIT_PROCESSES, LIMIT_THREADS};
    os.apply_limits(&litebox_libos::kernel::PolicyLimits {
        memory: cfg.limits[LIMIT_MEMORY],
        open_files: cfg.limits[LIMIT_OPEN_FILES],
        threads: cfg.limits[LIMIT_THREADS],
        processes: cfg.limits[LIMIT_PROCESSES],
    });
    if let Some(n) = cfg.limits[LIMIT_PROCESSES] {
        let (at, len) = procs::init(n).unwrap_or_else(|e| {
            fatal(EXIT_SANDBOX, alloc::format!("cannot set up the process limit (errno {e})").as_bytes())
        });
        guard::reserve(at, len);
    }
    // The published process table (/proc/PID of the app's other processes); without it /proc
    // lists only this process.
    if let Ok((at, len)) = ptable::init() {
        guard::reserve(at, len);
    }
    os.attach_proc();

    let loaded = loader::load(os, &entry, &argv, &env, &start.aux);

    // What does not depend on the private root is done before waiting for it (init's chain,
    // the root and the network namespace, is the longer one): the SIGSYS handler on its own
    // stack and the fast path's GS base (no app code runs and nothing traps until the filter).
    let block = threads::new_block();
    if block == 0 {
        fatal(EXIT_SANDBOX, b"cannot allocate the signal stack");
    }
    // An app handler running on this stack may hand the library OS its own buffers there.
    litebox_libos::memlock::set_signal_stack_check(threads::on_signal_stack);
    signals::init_sigsys(on_sigsys, block + threads::STACK_BASE, threads::SIGNAL_STACK_SIZE)
        .unwrap_or_else(|_| fatal(EXIT_SANDBOX, b"cannot install the SIGSYS handler"));
    fastpath::prepare_thread(block, 0, 0);
    fastpath::init_thread(block).unwrap_or_else(|_| fatal(EXIT_SANDBOX, b"cannot set up the fast path (GS base)"));
    // Start-up is done with the host's stack: fork children need not inherit it (hoststack.rs).
    hoststack::leave_out_of_forks();
    // The gate's program: its shape (the private root) is known since the fork.
    seccomp::PRIVATE_ROOT.store(started.ns.is_ok(), Ordering::Relaxed);
    let gate_program = seccomp::program();

    // No app code has run yet; from here on the process's root must be the private one.
    started.await_root(cfg.mounts.len());
    let mounts = fill_host_layer(dirs, &cfg.mounts, &started);
    let loaded = loaded.unwrap_or_else(|error| {
        let msg = alloc::format!("{}", litebox_rt::fatal::LoadFailure { entry: &entry, error });
        fatal(EXIT_LOAD, msg.as_bytes())
    });

    // The remaining layers (capabilities, a network namespace where the sandbox has none yet,
    // Landlock), after everything the runtime opens on the host by path is open; the seccomp
    // filter follows as the very last step.
    let confined = layers::confine(&mounts, &started);
    layers::log_applied(os, &confined);

    seccomp::install(&gate_program).unwrap_or_else(|e| {
        fatal(EXIT_SANDBOX, alloc::format!("cannot install the seccomp filter (errno {e})").as_bytes())
    });
    // From here on, host calls are made for the app: those with effects wait for every
    // deferred chunk check (parcheck.rs).
    parcheck::arm();
    // SAFETY: the app is mapped and its stack built; from here the app owns this thread.
    unsafe { litebox_enter(loaded.entry, loaded.sp) }
}

/// CPUs this process may run on (sched_getaffinity), at least 1.
fn host_cpus() -> usize {
    let mut mask = [0u64; 16];
    const SCHED_GETAFFINITY: usize = 204;
    match sys::check(sys::syscall3(SCHED_GETAFFINITY, 0, core::mem::size_of_val(&mask), mask.as_mut_ptr() as usize)) {
        Ok(_) => (mask.iter().map(|w| w.count_ones() as usize).sum::<usize>()).max(1),
        Err(_) => 1,
    }
}

/// The machine's memory in bytes (sysinfo), for /proc/meminfo.
fn host_mem_total() -> u64 {
    let mut info = [0u64; 16];
    const SYSINFO: usize = 99;
    if sys::check(sys::syscall3(SYSINFO, info.as_mut_ptr() as usize, 0, 0)).is_err() {
        return 1 << 30;
    }
    // struct sysinfo: uptime, loads[3], then totalram (word 4); mem_unit is the u32 at byte 104.
    let unit = (info[13] & 0xffff_ffff).max(1);
    info[4].saturating_mul(unit)
}

/// A duplicate (at `sys::FD_BASE` or above, close-on-exec) of the first of the artifact's stdin, stdout
/// and stderr that is a terminal, for /dev/tty; -1 if none is.
fn host_tty() -> i32 {
    const TCGETS: usize = 0x5401;
    const F_DUPFD_CLOEXEC: usize = 1030;
    for fd in 0..3 {
        let mut termios = [0u8; 64];
        if sys::check(sys::syscall3(sys::IOCTL, fd, TCGETS, termios.as_mut_ptr() as usize)).is_ok() {
            return sys::check(sys::syscall3(sys::FCNTL, fd, F_DUPFD_CLOEXEC, sys::FD_BASE)).map_or(-1, |v| v as i32);
        }
    }
    -1
}

/// The policy's mounts opened on the host (O_PATH), with whether each is writable. A mount
/// whose host directory cannot be opened stops the start (exit 124) with the path and the
/// reason.
fn open_mounts(mounts: &[litebox_image::Mount<'_>]) -> Vec<(i32, bool)> {
    const O_PATH_DIR: usize = 0o10000000 | 0o200000 | 0o2000000;
    mounts
        .iter()
        .map(|m| {
            let fd = sys::open_path(m.host, O_PATH_DIR, 0).unwrap_or_else(|e| {
                let h = core::str::from_utf8(m.host).unwrap_or("?");
                fatal(
                    EXIT_SANDBOX,
                    alloc::format!("policy mount {h}: cannot open the host directory (errno {e})").as_bytes(),
                )
            });
            (fd, m.writable)
        })
        .collect()
}

/// The writable layer and the policy's mounts as the library OS reaches them (directory 0 is
/// the layer, 1.. the mounts in policy order, as the broker numbers them), with every
/// descriptor still unset (lookups find nothing until [`fill_host_layer`]); `upper`: whether
/// the layer is a host directory; `fresh`: whether it is the private root's empty tmpfs layer,
/// made for this sandbox (`hostfs::HostDirs::fresh`).
fn host_layer(
    mounts: &[litebox_image::Mount<'_>],
    upper: bool,
    fresh: bool,
) -> (litebox_libos::fs::hostdir::HostLayer, &'static hostfs::HostDirs) {
    use core::sync::atomic::AtomicI32;
    use litebox_libos::fs::hostdir::{HostLayer, MountPoint};
    let mut dirs = alloc::vec![AtomicI32::new(-1)];
    let mut points = Vec::new();
    for m in mounts {
        points.push(MountPoint { guest: m.guest.to_vec(), dir: dirs.len(), writable: m.writable });
        dirs.push(AtomicI32::new(-1));
    }
    // Lookups of the writable layer are cached per process against a generation counter that
    // all the sandbox's processes share (only the layer changes it; mounts are never cached).
    let generation = if upper { hostfs::generation_page() } else { 0 };
    if generation != 0 {
        guard::reserve(generation, 4096);
    }
    let ops: &'static hostfs::HostDirs = alloc::boxed::Box::leak(alloc::boxed::Box::new(hostfs::HostDirs {
        dirs,
        generation,
        fresh: fresh && generation != 0,
    }));
    (HostLayer { ops, upper, mounts: points }, ops)
}

/// Sets the descriptors of the layer and the mounts once they are open, and returns each
/// mount with its descriptor (for Landlock).
fn fill_host_layer<'a>(
    dirs: &hostfs::HostDirs,
    mounts: &[litebox_image::Mount<'a>],
    started: &supervisor::Started,
) -> Vec<(litebox_image::Mount<'a>, i32)> {
    if let Some((fd, path)) = &started.upper {
        dirs.dirs[0].store(*fd, Ordering::Relaxed);
        UPPER.store(*fd, Ordering::Relaxed);
        *UPPER_PATH.lock() = path.clone();
    }
    let mut fds = Vec::new();
    for (i, (m, &fd)) in mounts.iter().zip(started.mounts.iter()).enumerate() {
        dirs.dirs[i + 1].store(fd, Ordering::Relaxed);
        fds.push((*m, fd));
    }
    fds
}

/// The writable layer's host path as the sandbox sees it (empty when there is none).
pub fn upper_path() -> Vec<u8> {
    UPPER_PATH.lock().clone()
}

/// CPU facts from the host's auxv, for programs started by execve.
pub static HOST_AUX: litebox_libos::sync::SpinMutex<Vec<(usize, usize)>> =
    litebox_libos::sync::SpinMutex::new(Vec::new());

/// Host descriptor of the writable layer's directory (-1: none).
pub static UPPER: AtomicI32 = AtomicI32::new(-1);
static UPPER_PATH: litebox_libos::sync::SpinMutex<Vec<u8>> = litebox_libos::sync::SpinMutex::new(Vec::new());

/// The prebuilt `alloc` was compiled for unwinding and references this; with panic=abort no
/// unwinding ever starts, so reaching it is an internal error.
#[no_mangle]
extern "C" fn _Unwind_Resume() -> ! {
    fatal(EXIT_INTERNAL, litebox_rt::fatal::UNWIND_MESSAGE.as_bytes())
}

/// Referenced by the prebuilt `alloc`'s unwind tables; never called with panic=abort.
#[no_mangle]
extern "C" fn rust_eh_personality() {}
