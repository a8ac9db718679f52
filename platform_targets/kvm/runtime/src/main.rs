//! The kvm runtime: the x86-64 kernel of `core/vmkernel` booted through the PVH entry. This
//! crate is the machine: it finds the LiteBox image the packer placed in guest memory and the
//! boot inputs (PVH start info, command line, module 0), and hands them to
//! `litebox_vmkernel::os::start`, which runs the packed app in ring 3 under the library OS.
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
mod machine;
mod serial;
mod startinfo;
mod virtio_net;

// The machine-independent kernel, under the names the modules here use.
pub use litebox_vmkernel::{clock, cpu, frames, paging, port, rng, trap, vm};
pub use litebox_vmkernel::{debug_line, fatal};

use litebox_rt::exit::{INTERNAL as EXIT_INTERNAL, NO_IMAGE as EXIT_NO_IMAGE, SETUP as EXIT_SETUP};
use litebox_vmkernel::os;

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
extern "C" fn kernel_main(start_info: u32, snp_cbit_hi: u32) -> ! {
    // SAFETY: the first thing at boot, before any port access or CPUID (a no-op unless the
    // SEV-SNP VMSA started us).
    unsafe { litebox_vmkernel::snp::early(start_info as usize, snp_cbit_hi) };
    if !litebox_vmkernel::snp::active() {
        // The clock's calibration window starts now rather than after the machine's set-up
        // (port I/O and RDTSC need no IDT outside SEV-SNP): under emulation a quick boot
        // otherwise waits for the rest of the window before the app's first instruction.
        litebox_vmkernel::clock::start_pit();
    }
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
    if let Some((start, end)) = litebox_vmkernel::snp::boot_area() {
        bi.reserve(start, end);
    }
    // SAFETY: boot, once, before the kernel reads the boot information; then the kernel comes
    // up on the boot stack, which becomes the syscall stack when the app starts (nothing on it
    // is needed after `enter_user`).
    unsafe {
        machine::set_boot_info(bi);
        litebox_vmkernel::init();
    }
    let bi = litebox_vmkernel::machine().boot_info();

    let mut cmd = cmdline::parse(bi.cmdline);
    // Under SEV-SNP the host is untrusted: only what the measured start info admits.
    let admitted = litebox_vmkernel::snp::host_rules(start_info as usize, cmd.snp_host_rules);
    let admits = |bit: u32| admitted.is_none_or(|a| a & bit != 0);
    use litebox_snp_sev::host_rules::{ARGS, DEBUG, ENV, STDIN};
    if !admits(ARGS) {
        cmd.args.clear();
    }
    if !admits(ENV) {
        cmd.env.clear();
    }
    cmd.debug &= admits(DEBUG);
    cmd.timing &= admits(DEBUG);
    // The host's word that it checked the image counts only where the host is trusted.
    cmd.image_checked &= admitted.is_none();
    litebox_vmkernel::set_debug(cmd.debug || cmd.timing);
    if cmd.probe {
        run_probe();
    }
    let module = bi.modules().first().copied().unwrap_or(&[]);
    let (boot_env, stdin) = split_boot_module(module);
    if admits(ENV) {
        cmd.env.extend(boot_env);
    }
    let stdin = if admits(STDIN) { stdin } else { &[] };

    let (img_pa, img_len) =
        image_at.unwrap_or_else(|| fatal(EXIT_NO_IMAGE, format_args!("no image: the kernel was booted without one")));
    // Before the app starts: with the channel the machine asks to be polled, and the kernel
    // runs the preemption tick so an app that never waits notices a Ctrl-C.
    control::init();
    os::start(os::Boot {
        image: startinfo::bytes(img_pa, img_len),
        args: &cmd.args,
        env: &cmd.env,
        stdin,
        debug: cmd.debug,
        image_checked: cmd.image_checked,
        boot_tsc: boot::boot_tsc(),
    })
}

/// One syscall of the app (called by the LSTAR entry on the kernel stack).
#[no_mangle]
extern "C" fn syscall_handler(f: &mut SyscallFrame) -> bool {
    os::entry::syscall(f)
}

/// An exception or interrupt (called by the vector stubs on an IST stack).
#[no_mangle]
extern "C" fn trap_handler(f: &mut TrapFrame) {
    // #VC: raised only under SEV-SNP.
    if f.vector == 29 && litebox_vmkernel::snp::active() {
        return litebox_vmkernel::snp::vc::handle(f);
    }
    os::entry::trap(f)
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
