//! The kvm runtime: a small x86-64 kernel that boots through the PVH entry, finds the LiteBox
//! image the VMM loaded beside it, and runs the packed app in ring 3 under the library OS. The
//! app's `syscall` instructions enter [`syscall_handler`] in ring 0 directly; page faults on its
//! lazily mapped memory are served by [`vm::fault`]; a fault it cannot survive ends it with the
//! status a signal death has natively (128 + signal).
//!
//! Devices: COM1 (stdout), COM3 (stderr and the kernel's messages, when present), COM2
//! (control: signals in, exit status out), a virtio-net card (when the policy grants network),
//! isa-debug-exit (0xf4). Exit codes of the kernel itself are those of linux-userland
//! (docs/image-format.md, `litebox_rt::exit`).
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod boot;
mod cmdline;
mod control;
mod exit;
mod hostfd;
mod machine;
mod proc;
mod serial;
mod signals;
mod south;
mod startinfo;
mod virtio_net;

// The machine-independent kernel, under the names the modules here use.
pub use litebox_vmkernel::{apic, clock, cpu, frames, paging, port, rng, sched, trap, vm};
pub use litebox_vmkernel::{debug_line, fatal};

use core::fmt::Write;
use core::sync::atomic::{AtomicUsize, Ordering};

use litebox_image::{Image, ImageError};
use litebox_libos::fs::Vfs;
use litebox_libos::loader;
use litebox_libos::{LibOs, SyscallContext, ThreadSpawn};
use litebox_rt::exit::{INTERNAL as EXIT_INTERNAL, LOAD as EXIT_LOAD, NO_IMAGE as EXIT_NO_IMAGE, SETUP as EXIT_SETUP};

use south::Vm;
use trap::{SyscallFrame, TrapFrame};

#[global_allocator]
static HEAP: litebox_rt::heap::Heap<litebox_vmkernel::paging::HeapFrames> = litebox_rt::heap::Heap::with_region(
    litebox_vmkernel::paging::HeapFrames,
    litebox_vmkernel::paging::HEAP_BASE,
    litebox_vmkernel::paging::HEAP_MAX,
);

litebox_rt::libc_functions!(quadwords);

/// Where the packer records the image it added to the kernel ELF: magic, physical address,
/// length, reserved. The packer patches these bytes in the file (section `.litebox.slot`).
#[used]
#[link_section = ".litebox.slot"]
static IMAGE_SLOT: [u64; 4] = [SLOT_MAGIC, 0, 0, 0];
const SLOT_MAGIC: u64 = u64::from_le_bytes(*b"LBXSLOT1");

fn image_fatal(e: ImageError) -> ! {
    fatal(e.exit_code(), format_args!("{e}"))
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    fatal(EXIT_INTERNAL, format_args!("{}", litebox_rt::fatal::PanicMessage(info)))
}

/// PVH module 0: either raw stdin bytes, or (from `litebox run`) `LBXBOOT1`, the lengths of an
/// environment block and of stdin (u64 LE each), the environment block (NUL-terminated
/// `KEY=VALUE` entries: host variables offered to the policy, like `litebox.env=`), then stdin.
fn split_boot_module(m: &'static [u8]) -> (alloc::vec::Vec<alloc::vec::Vec<u8>>, &'static [u8]) {
    const MAGIC: &[u8; 8] = b"LBXBOOT1";
    if m.len() < 24 || &m[..8] != MAGIC {
        return (alloc::vec::Vec::new(), m);
    }
    let word = |at: usize| u64::from_le_bytes(m[at..at + 8].try_into().unwrap_or([0; 8])) as usize;
    let (env_len, in_len) = (word(8), word(16));
    let Some(end) = 24usize.checked_add(env_len).and_then(|e| e.checked_add(in_len)).filter(|&e| e <= m.len()) else {
        return (alloc::vec::Vec::new(), &[]);
    };
    let env = m[24..24 + env_len].split(|&b| b == 0).filter(|e| !e.is_empty()).map(|e| e.to_vec()).collect();
    (env, &m[24 + env_len..end])
}

/// The image the packer placed in physical memory: (address, length), checked.
fn image_location() -> Option<(usize, usize)> {
    // SAFETY: a static of four words; volatile so the packer's patched values are read.
    let slot: [u64; 4] = unsafe { core::ptr::read_volatile(&IMAGE_SLOT) };
    let (pa, len) = (slot[1] as usize, slot[2] as usize);
    if slot[0] != SLOT_MAGIC || pa == 0 || len == 0 || pa.checked_add(len)? > frames::PHYS_LIMIT {
        return None;
    }
    Some((pa, len))
}

/// Called by the boot stub on the boot stack, in the upper half, interrupts off.
#[no_mangle]
extern "C" fn kernel_main(start_info: u32) -> ! {
    serial::init_all();
    // SAFETY: boot, once, interrupts off; nothing of the kernel ran yet.
    unsafe { litebox_vmkernel::set_machine(&machine::KVM) };
    let si = startinfo::parse(start_info as usize)
        .unwrap_or_else(|| fatal(EXIT_SETUP, format_args!("no PVH start info (boot through the PVH entry)")));
    let image_at = image_location();
    let mut bi = si.boot_info();
    if let Some((pa, len)) = image_at {
        bi.reserve(pa, pa + len);
    }
    // SAFETY: boot, once, before the kernel reads the boot information; then the kernel comes
    // up on the boot stack, which becomes the syscall stack when the app starts (nothing on it
    // is needed after `enter_user`).
    unsafe {
        machine::set_boot_info(bi);
        litebox_vmkernel::init();
    }
    let bi = litebox_vmkernel::machine().boot_info();

    let cmd = cmdline::parse(bi.cmdline);
    litebox_vmkernel::set_debug(cmd.debug);
    if bi.cmdline.split(|&b| b == b' ').any(|t| t == b"litebox.probe") {
        run_probe();
    }
    let module = bi.modules().first().copied().unwrap_or(&[]);
    let (boot_env, stdin) = split_boot_module(module);
    let mut cmd = cmd;
    cmd.env.extend(boot_env);

    let (img_pa, img_len) =
        image_at.unwrap_or_else(|| fatal(EXIT_NO_IMAGE, format_args!("no image: the kernel was booted without one")));
    let t_open = port::rdtsc();
    let image = Image::open(startinfo::bytes(img_pa, img_len)).unwrap_or_else(|e| image_fatal(e));
    let cfg = image.launch_config().unwrap_or_else(|e| image_fatal(e));

    let app = litebox_rt::launch::app_args(&cfg, &cmd.args, &cmd.env, &[]);
    let (argv, env) = (app.argv, app.env);
    let entry = cfg.entry.to_vec();
    let cwd = cfg.cwd.to_vec();
    let hostname = cfg.hostname.to_vec();
    let (uid, gid) = cfg.ids.unwrap_or((0, 0));

    let mut vfs = Vfs::new(image, entry.clone(), image_fatal);
    // In the VM every file is root's (the image's, and the in-memory layer's): with policy ids
    // the app sees them as its own, as on linux-userland.
    vfs.ids = cfg.ids.map(|app| litebox_libos::fs::synth::IdMap { host: (0, 0), app });
    let os = alloc::boxed::Box::leak(alloc::boxed::Box::new(LibOs::new(
        Vm::new(stdin, uid, gid),
        vfs,
        &cwd,
        &hostname,
        cmd.debug,
    )));
    os.net = litebox_libos::net::NetPolicy::new(&cfg.listen, &cfg.connect);
    if !cfg.listen.is_empty() || !cfg.connect.is_empty() {
        // Only a policy that grants network uses the card; without one, sockets say ENETDOWN.
        litebox_vmkernel::machine().probe_devices();
    }
    apply_limits(os, &cfg.limits);
    proc::init(os);
    if control::init() {
        // The tick lets an app that never waits notice a Ctrl-C from the runner.
        apic::start_timer();
    }

    let t_load = port::rdtsc();
    HWCAP.store(port::cpuid(1, 0).3 as usize, Ordering::Relaxed);
    let loaded = loader::load(os, &entry, &argv, &env, &aux()).unwrap_or_else(|error| {
        fatal(EXIT_LOAD, format_args!("{}", litebox_rt::fatal::LoadFailure { entry: &entry, error }))
    });

    if cmd.debug {
        let now = port::rdtsc();
        let ticks = now - boot::boot_tsc();
        let _ = writeln!(
            serial::Console,
            "litebox: boot phases (us): to kernel set-up done {}, image open + launch config {}, libos + ELF load {}",
            clock::ticks_to_ns(t_open - boot::boot_tsc()) / 1000,
            clock::ticks_to_ns(t_load - t_open) / 1000,
            clock::ticks_to_ns(now - t_load) / 1000
        );
        let (total, used) = frames::stats();
        let _ = writeln!(
            serial::Console,
            "litebox: boot: {ticks} TSC ticks from the PVH entry to the app's first instruction ({} us at {} MHz); \
             memory: {} of {} KiB in use",
            clock::ticks_to_ns(ticks) / 1000,
            clock::tsc_hz() / 1_000_000,
            used * 4,
            total * 4
        );
    }
    // SAFETY: the app is mapped and its stack built; from here the CPU belongs to the app and
    // comes back only through `syscall_handler` and `trap_handler`.
    unsafe { trap::enter_user(loaded.entry, loaded.sp) }
}

/// RAM per process of the default process limit: without `[policy.limits] processes` the VM
/// holds at most one live process per this many bytes (127 with the runner's 512 MiB), so a
/// fork bomb gets EAGAIN long before the kernel runs out of memory.
const RAM_PER_PROCESS: usize = 4 << 20;

/// `[policy.limits]` (LaunchConfig.limits), as on linux-userland: memory, open files and threads
/// are counted by the library OS of each process (and copied into every fork); the process
/// count is the kernel's, over the whole VM (`proc.rs`), with a default from the VM's RAM.
/// RLIMIT_NPROC reports the process limit in force.
fn apply_limits(os: &LibOs<Vm>, limits: &[Option<u64>; 4]) {
    use litebox_image::{LIMIT_MEMORY, LIMIT_OPEN_FILES, LIMIT_PROCESSES, LIMIT_THREADS};
    let ram = frames::stats().0 * frames::FRAME;
    let processes = limits[LIMIT_PROCESSES].unwrap_or((ram / RAM_PER_PROCESS).max(8) as u64);
    os.apply_limits(&litebox_libos::kernel::PolicyLimits {
        memory: limits[LIMIT_MEMORY],
        open_files: limits[LIMIT_OPEN_FILES],
        threads: limits[LIMIT_THREADS],
        processes: Some(processes),
    });
    proc::set_limit(processes, limits[LIMIT_PROCESSES].is_some());
}

static HWCAP: AtomicUsize = AtomicUsize::new(0);

/// CPU facts for a program's auxv (the first one and every execve).
pub fn aux() -> [(usize, usize); 3] {
    [(loader::AT_HWCAP, HWCAP.load(Ordering::Relaxed)), (loader::AT_CLKTCK, 100), (loader::AT_HWCAP2, 0)]
}

/// The per-call view of the calling thread.
struct Call<'a> {
    f: &'a mut SyscallFrame,
    /// Set by execve: the frame must go back to the app exactly (iretq).
    exec: bool,
}

impl SyscallContext for Call<'_> {
    fn nr(&self) -> usize {
        self.f.rax as usize
    }
    fn arg(&self, i: usize) -> usize {
        (match i {
            0 => self.f.rdi,
            1 => self.f.rsi,
            2 => self.f.rdx,
            3 => self.f.r10,
            4 => self.f.r8,
            _ => self.f.r9,
        }) as usize
    }
    fn sigmask(&self) -> u64 {
        sched::sigmask()
    }
    fn set_sigmask(&mut self, mask: u64) {
        sched::set_sigmask(mask);
    }
    fn suspend_mask(&mut self, mask: u64) {
        sched::suspend_mask(mask);
    }
    fn spawn_thread(&mut self, t: &ThreadSpawn) -> Result<usize, litebox_libos::errno::Errno> {
        sched::spawn(self.f, t)
    }
    fn fork(
        &mut self,
        flags: u64,
        stack: usize,
        ptid: usize,
        ctid: usize,
    ) -> Result<usize, litebox_libos::errno::Errno> {
        proc::fork(self.f, flags, stack, ptid, ctid)
    }
    fn set_entry(&mut self, entry: usize, sp: usize) {
        let f = &mut *self.f;
        (f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15) = (0, 0, 0, 0, 0, 0, 0, 0);
        (f.rdi, f.rsi, f.rbp, f.rbx, f.rdx, f.rax, f.rcx) = (0, 0, 0, 0, 0, 0, 0);
        f.rip = entry as u64;
        f.rsp = sp as u64;
        f.rflags = 0x202;
        // A fresh FPU/SSE state (FCW 0x37f, MXCSR 0x1f80) and no TLS.
        // SAFETY: the thread's SSE save area lies right below its frame (trap.rs).
        let fx = unsafe { core::slice::from_raw_parts_mut((f as *mut SyscallFrame as *mut u8).sub(512), 512) };
        fx.fill(0);
        fx[0..2].copy_from_slice(&0x37fu16.to_le_bytes());
        fx[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        for fs in [true, false] {
            sched::set_tls(fs, 0);
        }
        // SAFETY: zero is a valid FS/GS base; the kernel does not use them.
        unsafe {
            port::wrmsr(port::MSR_FS_BASE, 0);
            port::wrmsr(port::MSR_GS_BASE, 0);
        }
        self.exec = true;
    }
}

/// One syscall of the app (called by the LSTAR entry on the kernel stack). Returns true when
/// the frame must go back to the app register for register (after rt_sigreturn or execve).
#[no_mangle]
extern "C" fn syscall_handler(f: &mut SyscallFrame) -> bool {
    let Some(os) = proc::try_current() else {
        // The probe (no library OS): exit_group is the only call it makes.
        exit::exit_vm(if f.rax == 231 { f.rdi as i32 } else { EXIT_INTERNAL });
    };
    const RT_SIGRETURN: u64 = 15;
    const SCHED_YIELD: u64 = 24;
    let mut exact = f.rax == RT_SIGRETURN;
    if exact {
        signals::sigreturn(f);
    } else {
        if f.rax == SCHED_YIELD {
            sched::yield_now();
        }
        let mut call = Call { f: &mut *f, exec: false };
        let r = litebox_libos::shim::dispatch(os, &mut call);
        exact = call.exec;
        f.rax = r as u64;
    }
    signals::deliver(&os.platform, f);
    exact
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        9 => "SIGKILL (out of memory)",
        4 => "SIGILL",
        5 => "SIGTRAP",
        7 => "SIGBUS",
        8 => "SIGFPE",
        _ => "SIGSEGV",
    }
}

/// An exception (called by the vector stubs on an IST stack).
#[no_mangle]
extern "C" fn trap_handler(f: &mut TrapFrame) {
    let from_user = f.cs & 3 == 3;
    let mut addr = 0;
    let mut no_memory = false;
    if f.vector == 14 {
        addr = cpu::cr2();
        let write = f.error & 2 != 0;
        let exec = f.error & 16 != 0;
        if addr < vm::USER_TOP {
            match vm::fault(addr, write, exec) {
                vm::Fault::Mapped => return,
                vm::Fault::NoMemory => no_memory = true,
                vm::Fault::Denied => {}
            }
        }
    }
    if f.vector >= 32 {
        // An interrupt (only ever in ring 3): the preemption timer lets another thread run.
        if f.vector != apic::SPURIOUS_VECTOR {
            apic::eoi();
        }
        if f.vector == apic::TIMER_VECTOR && from_user {
            control::poll();
            sched::yield_now();
            // A signal (the interval timer's, another thread's) reaches an app that makes no
            // syscall here; the iretq that ends this interrupt restores every register.
            if let Some(os) = proc::try_current() {
                signals::deliver(&os.platform, f);
            }
        }
        return;
    }
    if from_user || (f.vector == 14 && addr < vm::USER_TOP) {
        let sig = match f.vector {
            // Out of memory: SIGKILL, as from Linux's OOM killer.
            14 if no_memory => 9,
            0 | 16 | 19 => 8,
            1 | 3 => 5,
            6 => 4,
            17 => 7,
            _ => 11,
        };
        debug_line(format_args!(
            "litebox: process {} was killed by {} (vector {}, error {:#x}, rip {:#x}, address {:#x}{})",
            proc::try_current().map_or(0, |os| os.platform.pid),
            signal_name(sig),
            f.vector,
            f.error,
            f.rip,
            addr,
            if from_user { "" } else { ", in a syscall" }
        ));
        if !from_user {
            // The syscall may hold kernel locks that other processes need (it never unwinds):
            // end the whole app, as a single-process one would end.
            exit::exit_vm(128 + sig);
        }
        proc::exit(sig);
    }
    fatal(
        EXIT_INTERNAL,
        format_args!(
            "internal error: exception {} in the kernel (error {:#x}, rip {:#x}, cr2 {:#x})",
            f.vector,
            f.error,
            f.rip,
            cpu::cr2()
        ),
    )
}

/// The prebuilt `alloc` was compiled for unwinding and references this; with panic=abort no
/// unwinding ever starts.
#[no_mangle]
extern "C" fn _Unwind_Resume() -> ! {
    fatal(EXIT_INTERNAL, format_args!("{}", litebox_rt::fatal::UNWIND_MESSAGE))
}

/// Referenced by the prebuilt `alloc`'s unwind tables; never called with panic=abort.
#[no_mangle]
extern "C" fn rust_eh_personality() {}

/// `litebox.probe`: a few ring-3 instructions that exit with status 42 through `syscall`, so a
/// runner can prove that an accelerator runs the whole path (ring 3, syscall, port I/O after
/// it) before trusting it with apps.
fn run_probe() -> ! {
    const AT: usize = 0x10000;
    // mov edi, 42; mov eax, 231 (exit_group); syscall; ud2
    const CODE: [u8; 14] = [0xbf, 42, 0, 0, 0, 0xb8, 231, 0, 0, 0, 0x0f, 0x05, 0x0f, 0x0b];
    use litebox_libos::abi::{MAP_FIXED, PROT_EXEC, PROT_READ, PROT_WRITE};
    vm::map(AT, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_FIXED)
        .unwrap_or_else(|_| fatal(EXIT_SETUP, format_args!("probe: cannot map")));
    // SAFETY: the page was just mapped writable for us; the first touch is served by the
    // page-fault handler.
    unsafe { core::ptr::copy_nonoverlapping(CODE.as_ptr(), AT as *mut u8, CODE.len()) };
    // SAFETY: the code page holds complete instructions; it needs no stack.
    unsafe { trap::enter_user(AT, 0) }
}
