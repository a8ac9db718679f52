//! The windows runtime: a PE32+ console executable that carries a LiteBox image in its
//! `.lbximg` section and runs the packed Linux x86-64 app under the library OS on Windows.
//!
//! Start-up: find the image in our own mapped section, verify it, put this process in a job
//! object (kill-on-close, the policy's limits), load the app (and its ELF interpreter) into
//! this address space with Linux semantics over VirtualAlloc, and jump to it with FS set for
//! the app. Every syscall site of the app was rewritten at pack time into a call of the
//! fast-path entry ([`fastpath`]); Windows has no other way in.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod backlog;
mod cmdline;
mod confine;
mod fastpath;
mod faults;
mod forkmem;
mod host;
mod memory;
mod selfimage;
mod signals;
mod spawn;
mod win;
mod wineexec;
mod winfs;
mod winsock;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicPtr, Ordering};

use litebox_image::{Image, ImageError};
use litebox_libos::fs::Vfs;
use litebox_libos::{loader, LibOs};
use litebox_rt::exit::{INTERNAL as EXIT_INTERNAL, LOAD as EXIT_LOAD, NO_IMAGE as EXIT_NO_IMAGE};
use litebox_rt::launch::host_var;

use host::WinHost;

#[global_allocator]
static HEAP: litebox_rt::heap::Heap<memory::HeapPages> = litebox_rt::heap::Heap::new(memory::HeapPages);

litebox_rt::libc_functions!(bytes);

static OS: AtomicPtr<LibOs<WinHost>> = AtomicPtr::new(core::ptr::null_mut());

/// The library OS (set before the app runs).
pub fn os() -> &'static LibOs<WinHost> {
    // SAFETY: OS is set before any app code runs and never freed.
    unsafe { &*OS.load(Ordering::Acquire) }
}

/// The library OS, once it is set (None while the runtime starts).
pub fn try_os() -> Option<&'static LibOs<WinHost>> {
    // SAFETY: when set, OS points at a leaked LibOs that is never freed.
    unsafe { OS.load(Ordering::Acquire).as_ref() }
}

/// Prints `litebox: <msg>` on stderr and exits with `code`.
pub fn fatal(code: i32, msg: &[u8]) -> ! {
    fastpath::host_fs();
    host::write_std(win::STD_ERROR_HANDLE, &litebox_rt::fatal::line(msg));
    win::end_process(code as u32)
}

fn image_fatal(e: ImageError) -> ! {
    fatal(e.exit_code(), alloc::format!("{e}").as_bytes())
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    fatal(EXIT_INTERNAL, alloc::format!("{}", litebox_rt::fatal::PanicMessage(info)).as_bytes())
}

extern "C" {
    static __ImageBase: u8;
}

/// The PE entry point (Win64 ABI; Windows passes nothing useful).
#[no_mangle]
extern "C" fn litebox_start() -> ! {
    let (heap_at, heap_len) =
        memory::HeapPages::reserve().unwrap_or_else(|| fatal(EXIT_INTERNAL, b"cannot reserve memory"));
    HEAP.set_region(heap_at, heap_len);
    memory::reserve_owned(heap_at, heap_len);
    // SAFETY: __ImageBase is the linker's symbol at the start of this executable's mapping.
    let base = unsafe { &__ImageBase as *const u8 as usize };
    memory::reserve_owned(base, own_image_size(base));

    if fastpath::entry_address() == 0 {
        fatal(EXIT_INTERNAL, b"no fast-path entry");
    }
    faults::install();
    // The app writes UTF-8; a console shows it as such (no effect on pipes and files).
    // SAFETY: no preconditions; they fail harmlessly without a console.
    unsafe {
        win::SetConsoleOutputCP(65001);
        win::SetConsoleCP(65001);
    }
    let host_args = cmdline::args();
    let host_env = cmdline::env();
    let debug = host_var(&host_env, b"LITEBOX_LOG") == Some(b"debug");

    let bytes = selfimage::find().unwrap_or_else(|e| fatal(EXIT_NO_IMAGE, e.as_bytes()));
    let image = Image::open(bytes).unwrap_or_else(|e| image_fatal(e));
    let cfg = image.launch_config().unwrap_or_else(|e| image_fatal(e));
    let app = litebox_rt::launch::app_args(
        &cfg,
        host_args.get(1..).unwrap_or(&[]),
        &host_env,
        &[b"LITEBOX_LOG", b"LITEBOX_TRACE", winfs::LAYER_VAR, confine::JOB_VAR],
    );
    let (mut argv, mut env) = (app.argv, app.env);
    let mut entry = cfg.entry.to_vec();
    let mut cwd = cfg.cwd.to_vec();
    // A new instance for an app's execve (spawn.rs): the program, its argv (the command line)
    // and its environment exactly as the execve gave them.
    if let Some(path) = host_var(&host_env, b"LITEBOX_EXEC") {
        // Started by CreateProcess (not as a Unix process under Wine: wineexec.rs, whose exit
        // status has 8 bits): deaths by signal are reported with a code of their own.
        if host_var(&host_env, b"LITEBOX_EXEC_UNIX").is_none() {
            host::EXEC_CHILD.store(true, core::sync::atomic::Ordering::Relaxed);
        }
        entry = path.to_vec();
        cwd = host_var(&host_env, b"LITEBOX_EXEC_CWD").unwrap_or(cfg.cwd).to_vec();
        argv = host_args.get(1..).unwrap_or(&[]).to_vec();
        env = host_var(&host_env, b"LITEBOX_EXEC_ENV")
            .unwrap_or(b"")
            .split(|&b| b == spawn::ENV_SEPARATOR)
            .filter(|e| !e.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
    }
    let hostname = cfg.hostname.to_vec();
    let ids = cfg.ids.unwrap_or((1000, 1000));

    use litebox_image::{LIMIT_MEMORY, LIMIT_OPEN_FILES, LIMIT_PROCESSES, LIMIT_THREADS};
    // Without network and host directories, the app needs nothing a Low integrity level
    // withholds (its files are the image's and the shared layer's, which is labelled Low).
    let lower = cfg.mounts.is_empty() && cfg.listen.is_empty() && cfg.connect.is_empty();
    let exec_child = host_var(&host_env, b"LITEBOX_EXEC").is_some();
    // The writable layer is a host directory that every instance of this sandbox shares
    // (winfs.rs), so a program an execve starts sees the files its parent wrote. Made before
    // the token is lowered (the temp directory takes no new files from a Low token).
    let layer = winfs::attach(&host_env, exec_child);
    // An instance started through the Wine loader joins its starter's job first (in it, its
    // own job is nested, as CreateProcess children's are).
    let joined = confine::join_parent_job(host_var(&host_env, confine::JOB_VAR).filter(|_| exec_child));
    if debug {
        let line = match joined {
            Ok(Some(what)) => alloc::format!("confinement: {what}"),
            Ok(None) => alloc::string::String::new(),
            Err(why) => alloc::format!("confinement: {why}"),
        };
        if !line.is_empty() {
            host::write_std(win::STD_ERROR_HANDLE, &litebox_rt::fatal::line(line.as_bytes()));
        }
    }
    for outcome in [confine::job(cfg.limits[LIMIT_MEMORY], cfg.limits[LIMIT_PROCESSES]), confine::weaken_token(lower)] {
        if debug {
            let line = match outcome {
                Ok(what) => alloc::format!("confinement: {what}"),
                Err(why) => alloc::format!("confinement: {why}"),
            };
            host::write_std(win::STD_ERROR_HANDLE, &litebox_rt::fatal::line(line.as_bytes()));
        }
    }
    if !cfg.mounts.is_empty() {
        fatal(
            litebox_rt::exit::SETUP,
            b"this artifact's policy grants host directories, which the windows target does not serve yet",
        );
    }

    let mut vfs = Vfs::new(image, entry.clone(), image_fatal);
    match layer {
        Ok(ops) => {
            vfs.host = Some(litebox_libos::fs::hostdir::HostLayer { ops, upper: true, mounts: Vec::new() });
            litebox_libos::fd::set_host_close(winfs::close_fd);
        }
        Err(why) if debug => {
            let line = alloc::format!("the writable layer stays in memory: {why}");
            host::write_std(win::STD_ERROR_HANDLE, &litebox_rt::fatal::line(line.as_bytes()));
        }
        Err(_) => {}
    }
    // Windows has no Linux ids: the library OS's own files (the image, the writable layer)
    // belong to 0:0 on the "host" side, which the policy's ids, when set, replace.
    vfs.ids = cfg.ids.map(|app| litebox_libos::fs::synth::IdMap { host: (0, 0), app });
    fastpath::TRACE.store(host_var(&host_env, b"LITEBOX_TRACE").is_some(), Ordering::Relaxed);
    let mut host = WinHost::new(ids);
    if exec_child {
        if let Some(pid) = spawn::inherited_pid(&host_env) {
            host.pid = pid;
        }
    }
    let mut os = LibOs::new(host, vfs, &cwd, &hostname, debug);
    // Host sockets (winsock.rs) only as the policy's [policy.network] grants, checked by the shim.
    os.net = litebox_libos::net::NetPolicy::new(&cfg.listen, &cfg.connect);
    let os = alloc::boxed::Box::leak(alloc::boxed::Box::new(os));
    OS.store(os, Ordering::Release);
    let os: &'static LibOs<WinHost> = os;
    os.apply_limits(&litebox_libos::kernel::PolicyLimits {
        memory: cfg.limits[LIMIT_MEMORY],
        open_files: cfg.limits[LIMIT_OPEN_FILES],
        threads: cfg.limits[LIMIT_THREADS],
        processes: cfg.limits[LIMIT_PROCESSES],
    });
    os.attach_proc();
    signals::install_console_ctrl();
    // The process table of the core's own signal state (kill, process groups) starts with us.
    litebox_libos::proctab::TABLE.lock().add_first(os.platform.pid, os.signals.clone());

    let aux: Vec<(usize, usize)> = alloc::vec![(6, 4096), (17, 100)];
    let loaded = loader::load(os, &entry, &argv, &env, &aux).unwrap_or_else(|error| {
        let msg = alloc::format!("{}", litebox_rt::fatal::LoadFailure { entry: &entry, error });
        fatal(EXIT_LOAD, msg.as_bytes())
    });
    let td = fastpath::ThreadData::new(os.platform.pid, 0);
    fastpath::init_main(td).unwrap_or_else(|e| fatal(EXIT_INTERNAL, e.as_bytes()));
    // SAFETY: the app is mapped and its stack built; from here the app owns this thread.
    unsafe { fastpath::litebox_win_enter(loaded.entry, loaded.sp, td) }
}

/// SizeOfImage of the PE mapped at `base` (this executable).
fn own_image_size(base: usize) -> usize {
    // SAFETY: the headers of this executable are mapped at base.
    unsafe {
        let pe = core::ptr::read_unaligned((base + 0x3c) as *const u32) as usize;
        core::ptr::read_unaligned((base + pe + 24 + 56) as *const u32) as usize
    }
}

/// The prebuilt `alloc` was compiled for unwinding and references this; with panic=abort no
/// unwinding ever starts, so reaching it is an internal error.
#[no_mangle]
extern "C" fn _Unwind_Resume() -> ! {
    fatal(EXIT_INTERNAL, litebox_rt::fatal::UNWIND_MESSAGE.as_bytes())
}
