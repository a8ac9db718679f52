//! The OS layer of every VM target: the library OS run on this kernel. [`start`] opens the
//! packed image, builds the first process's library OS over the [`platform::Vm`] platform,
//! loads the app and enters it in ring 3; [`entry`] serves its system calls and faults. A
//! machine crate (kvm, snp) only finds the image and the boot inputs and calls [`start`].
//!
//! - `platform.rs`: the [`litebox_libos::Platform`] of a VM (console, memory, clocks, waiting);
//! - `proc.rs`: the kernel's per-pid resources (address space, library OS instance) beside the
//!   library OS's process table (`litebox_libos::proctab`);
//! - `signals.rs`: signal delivery on the trapped thread's registers;
//! - `wait.rs`: waiting (devices and events polled), and the console descriptors' poll;
//! - `entry.rs`: the syscall and trap handlers' bodies.
pub mod entry;
pub mod platform;
pub mod proc;
pub mod signals;
pub mod stop;
pub mod wait;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use litebox_image::{Image, ImageError};
use litebox_libos::fs::Vfs;
use litebox_libos::{loader, LibOs};
use litebox_rt::exit::{LOAD as EXIT_LOAD, SETUP as EXIT_SETUP};

use crate::{clock, fatal, frames, machine, port, trap};
use platform::Vm;

/// What the machine crate found at boot for the app.
pub struct Boot<'a> {
    /// The packed image (the bytes the packer placed in guest memory).
    pub image: &'static [u8],
    /// Arguments after the app's own (the VMM's command line, where the policy allows it).
    pub args: &'a [Vec<u8>],
    /// Environment entries to add (the runner's, where the policy allows it).
    pub env: &'a [Vec<u8>],
    /// The bytes the app reads as its standard input.
    pub stdin: &'static [u8],
    /// `LITEBOX_LOG=debug`: the library OS's debug lines (the kernel's own follow
    /// [`crate::set_debug`], which `litebox.timing` turns on alone).
    pub debug: bool,
    /// A trusted host checked the whole image (root digest, table pages, every chunk) before
    /// the boot (`Image::open_checked`); false under SEV-SNP whatever the host says.
    pub image_checked: bool,
    /// The TSC at the machine's first instruction (for the debug line on boot phases).
    pub boot_tsc: u64,
}

/// A fatal error of the image (it is damaged or not an image): the exit status and message of
/// `litebox_rt::fatal`.
pub fn image_fatal(e: ImageError) -> ! {
    fatal(e.exit_code(), format_args!("{e}"))
}

/// Starts the app: opens the image, builds the first process's library OS (its file system,
/// limits, network policy), loads the entry program and enters it in ring 3. Never returns:
/// from here the CPU belongs to the app and comes back only through [`entry`].
pub fn start(b: Boot<'_>) -> ! {
    pin_image(b.image);
    let t_open = port::rdtsc();
    let opened = if b.image_checked { Image::open_checked(b.image) } else { Image::open(b.image) };
    let image = opened.unwrap_or_else(|e| image_fatal(e));
    if b.image_checked {
        crate::debug_line(format_args!("litebox: image: digests checked by the runner before the boot"));
    }
    let cfg = image.launch_config().unwrap_or_else(|e| image_fatal(e));
    let t_opened = port::rdtsc();

    let app = litebox_rt::launch::app_args(&cfg, b.args, b.env, &[]);
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
        Vm::new(b.stdin, uid, gid),
        vfs,
        &cwd,
        &hostname,
        b.debug,
    )));
    os.net = litebox_libos::net::NetPolicy::new(&cfg.listen, &cfg.connect);
    if !cfg.listen.is_empty() || !cfg.connect.is_empty() {
        // Only a policy that grants network uses the card.
        machine().probe_devices();
    } else {
        // Without one the app's sockets still exist (as in a container without a network:
        // socket, setsockopt, bind checks) but reach nothing (ENETDOWN).
        litebox_libos::netstack::init(None, 0, crate::clock::monotonic_ns);
    }
    apply_limits(os, &cfg.limits);
    proc::init(os);

    let t_load = port::rdtsc();
    HWCAP.store(port::cpuid(1, 0).3 as usize, Ordering::Relaxed);
    let loaded = loader::load(os, &entry, &argv, &env, &aux()).unwrap_or_else(|error| {
        fatal(EXIT_LOAD, format_args!("{}", litebox_rt::fatal::LoadFailure { entry: &entry, error }))
    });
    let t_loaded = port::rdtsc();
    let tick = machine().poll_interval_ns() != u64::MAX;
    if !tick || crate::snp::active() {
        // The clock's calibration has measured the whole boot so far; it ends here (waiting
        // only when the boot took less than its window). With the background tick it ends at
        // the first use of the time or the tick's first one instead (the PIT's channels
        // resolve a span only up to `litebox_rt::pit::MAX_SPAN`, so it may not wait for an app
        // that might never read a clock); under SEV-SNP as before.
        clock::tsc_hz();
    }
    if tick {
        // The tick lets an app that never waits notice events (the runner's Ctrl-C); its first
        // one comes late enough that a short app ends before it (apic::FIRST_TICK_MS).
        crate::apic::start_background_tick();
    }

    if crate::debug() {
        let now = port::rdtsc();
        let ticks = now - b.boot_tsc;
        crate::debug_line(format_args!(
            "litebox: boot phases (us): to kernel set-up done {}, image open + launch config {}, libos set-up {}, \
             ELF load {}, clock and timer {}",
            clock::ticks_to_ns(t_open - b.boot_tsc) / 1000,
            clock::ticks_to_ns(t_opened - t_open) / 1000,
            clock::ticks_to_ns(t_load - t_opened) / 1000,
            clock::ticks_to_ns(t_loaded - t_load) / 1000,
            clock::ticks_to_ns(now - t_loaded) / 1000
        ));
        if let Some((at, over, waited)) = clock::calibration_report() {
            crate::debug_line(format_args!(
                "litebox: clock: TSC {} kHz, APIC timer {} per ms, measured against the PIT over {over} us \
                 ending {at} us after entry ({waited} us of it waited for)",
                clock::tsc_hz() / 1000,
                clock::apic_per_ms()
            ));
        }
        let (total, used) = frames::stats();
        crate::debug_line(format_args!(
            "litebox: boot: {ticks} TSC ticks from the machine's entry to the app's first instruction ({} us at {} MHz); \
             memory: {} of {} KiB in use",
            clock::ticks_to_ns(ticks) / 1000,
            clock::tsc_hz() / 1_000_000,
            used * 4,
            total * 4
        ));
    }
    // SAFETY: the app is mapped and its stack built; from here the CPU belongs to the app and
    // comes back only through the machine's `syscall_handler` and `trap_handler`.
    unsafe { trap::enter_user(loaded.entry, loaded.sp) }
}

/// The image's physical address when it starts on a page boundary (0: it does not).
static IMAGE_PHYS: AtomicUsize = AtomicUsize::new(0);

/// Lets the app map the image's whole pages in place ([`frames::pin`]) when the image starts
/// on a page boundary of guest RAM (the packer places it so on kvm).
fn pin_image(image: &'static [u8]) {
    let pa = (image.as_ptr() as usize).wrapping_sub(crate::layout::DIRECT_MAP);
    if pa.is_multiple_of(frames::FRAME) && pa < frames::PHYS_LIMIT {
        frames::pin(pa, pa + (image.len() & !(frames::FRAME - 1)));
        IMAGE_PHYS.store(pa, Ordering::Relaxed);
    }
}

/// The image's physical address, when its pages can be mapped in place.
pub(crate) fn image_phys() -> Option<usize> {
    Some(IMAGE_PHYS.load(Ordering::Relaxed)).filter(|&pa| pa != 0)
}

/// RAM per process of the default process limit: without `[policy.limits] processes` the VM
/// holds at most one live process per this many bytes (127 with the runner's 512 MiB), so a
/// fork bomb gets EAGAIN long before the kernel runs out of memory.
const RAM_PER_PROCESS: usize = 4 << 20;

/// `[policy.limits]` (LaunchConfig.limits), as on linux-userland: memory, open files and threads
/// are counted by the library OS of each process (and copied into every fork); the process
/// count is the library OS's process table's, over the whole VM, with a default from the VM's
/// RAM. RLIMIT_NPROC reports the process limit in force.
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

/// The setup failed before the app could start (`litebox_rt::exit::SETUP`).
pub fn setup_fatal(args: core::fmt::Arguments<'_>) -> ! {
    fatal(EXIT_SETUP, args)
}
