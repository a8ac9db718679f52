//! Faults in app code (access violation, illegal instruction, division by zero, breakpoint):
//! delivered to the app's handler for the matching Linux signal (SIGSEGV, SIGILL, SIGFPE,
//! SIGTRAP) with its siginfo (si_code, si_addr), or, without one, the process ends as Linux
//! would end the app, with status 128 + N after one line on stderr.
//!
//! Two ways in, one delivery ([`crate::signals::fault_to_handler`]):
//! - on Windows, a vectored exception handler: the CONTEXT of the fault becomes the handler's
//!   and execution continues there. Exceptions raised inside a PE module (the runtime,
//!   Windows' own DLLs) are left to their own handlers.
//! - under Wine on Linux the vectored handler is never reached: Wine's own SIGSEGV handler runs
//!   first, with the app's FS base, which Wine's Unix side cannot live with. So under Wine the
//!   runtime puts a Linux signal handler in front of Wine's for these signals (raw
//!   `rt_sigaction`, the one place the runtime makes a Linux call): a fault while the thread's
//!   FS base is the app's is the app's, and the handler rewrites the Linux ucontext so the
//!   kernel's return from the signal lands in the app's handler (or in the runtime's fatal
//!   exit); any other fault goes on to Wine's handler unchanged.
use core::sync::atomic::{AtomicU64, Ordering};

use litebox_libos::signal::UserRegs;

use crate::fastpath::{self, ThreadData};
use crate::{host, win};

/// The Linux signal for an exception code, for the faults an app can cause.
pub fn signal_for(code: u32) -> Option<i32> {
    match code {
        0xC000_0005 | 0xC000_0096 | 0xC000_00FD | 0x8000_0002 => Some(11), // access, privileged, stack, alignment
        0xC000_001D => Some(4),                                            // illegal instruction
        0xC000_0094 | 0xC000_0095 | 0xC000_008E | 0xC000_0091 => Some(8),  // divide, overflow, x87
        0x8000_0003 | 0x8000_0004 => Some(5),                              // breakpoint, single step
        _ => None,
    }
}

/// The calling thread's data, read straight from its TEB slot (no Win32 call: this runs in
/// fault handlers); null on a thread that never ran app code.
fn current_raw() -> *const ThreadData {
    let idx = fastpath::LITEBOX_TLS_INDEX.load(Ordering::Relaxed) as usize;
    let v: usize;
    // SAFETY: GS is the TEB on Windows and under Wine; slot idx < 64 is in its TlsSlots array.
    unsafe {
        core::arch::asm!("mov {}, qword ptr gs:[0x1480 + {} * 8]", out(reg) v, in(reg) idx, options(nostack, readonly))
    };
    v as *const ThreadData
}

fn rdfsbase() -> usize {
    let v: usize;
    // SAFETY: reads the FS base (FSGSBASE is required by this target).
    unsafe { core::arch::asm!("rdfsbase {}", out(reg) v, options(nostack, nomem)) };
    v
}

/// A Linux siginfo for a fault: signal, si_code, si_addr.
fn siginfo(sig: i32, code: i32, addr: usize) -> [u8; 128] {
    let mut si = [0u8; 128];
    si[0..4].copy_from_slice(&sig.to_le_bytes());
    si[8..12].copy_from_slice(&code.to_le_bytes());
    si[16..24].copy_from_slice(&(addr as u64).to_le_bytes());
    si
}

/// Ends the process after a fault the app does not handle (Win64 ABI: called, or jumped to
/// from a Linux signal handler with a fresh runtime stack, with the host's FS base).
extern "win64" fn fatal_fault(sig: usize, code: usize, addr: usize) -> ! {
    fastpath::host_fs();
    let line =
        alloc::format!("litebox: the app faulted (exception {:#x} at {:#x}): ended as by signal {}\n", code, addr, sig);
    host::write_std(win::STD_ERROR_HANDLE, line.as_bytes());
    host::exit_by_signal(sig as i32)
}

// CONTEXT (x64) offsets.
const CTX_EFLAGS: usize = 0x44;
const CTX_RAX: usize = 0x78;
const CTX_RIP: usize = 0xf8;
const CTX_FLTSAVE: usize = 0x100;
/// The CONTEXT slots of rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15 map to these
/// UserRegs words (sigcontext order: r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp).
const CTX_ORDER: [usize; 16] = [13, 14, 12, 11, 15, 10, 9, 8, 0, 1, 2, 3, 4, 5, 6, 7];

fn words(r: &mut UserRegs) -> &mut [u64; 18] {
    // SAFETY: UserRegs is repr(C) with eighteen u64 fields.
    unsafe { &mut *(r as *mut UserRegs as *mut [u64; 18]) }
}

extern "system" fn on_exception(info: *const win::ExceptionPointers) -> i32 {
    const CONTINUE_SEARCH: i32 = 0;
    const CONTINUE_EXECUTION: i32 = -1;
    // SAFETY: Windows passes valid EXCEPTION_POINTERS to a vectored handler.
    let (record, ctx) = unsafe { (&*(*info).record, (*info).context) };
    let Some(sig) = signal_for(record.code) else {
        return CONTINUE_SEARCH;
    };
    let td = current_raw();
    let app_fs = rdfsbase();
    fastpath::host_fs();
    let mut module = 0usize;
    // SAFETY: FROM_ADDRESS | UNCHANGED_REFCOUNT only looks the address up.
    let in_module = unsafe { win::GetModuleHandleExW(0x4 | 0x2, record.address as *const u16, &mut module) } != 0;
    if in_module || td.is_null() {
        return CONTINUE_SEARCH;
    }
    // SAFETY: a non-null slot holds a leaked ThreadData.
    let td = unsafe { &*td };
    let (code, addr) = match sig {
        11 => {
            let at = record.info[1];
            let mut mbi = win::MemoryBasicInformation::default();
            // SAFETY: writes one MEMORY_BASIC_INFORMATION.
            let n = unsafe { win::VirtualQuery(at, &mut mbi, core::mem::size_of_val(&mbi)) };
            (if n != 0 && mbi.state == win::MEM_COMMIT { 2 } else { 1 }, at)
        }
        4 => (2, record.address), // ILL_ILLOPN
        8 => (1, record.address), // FPE_INTDIV
        _ => (1, record.address), // TRAP_BRKPT
    };
    let mut regs = UserRegs::default();
    let mut fx = [0u8; 512];
    // SAFETY: ctx is the fault's CONTEXT (x64 layout), readable and writable.
    unsafe {
        let c = ctx as *mut u8;
        for (k, w) in CTX_ORDER.iter().enumerate() {
            words(&mut regs)[*w] = *(c.add(CTX_RAX + 8 * k) as *const u64);
        }
        regs.rip = *(c.add(CTX_RIP) as *const u64);
        regs.rflags = *(c.add(CTX_EFLAGS) as *const u32) as u64;
        fx.copy_from_slice(core::slice::from_raw_parts(c.add(CTX_FLTSAVE), 512));
    }
    if !crate::signals::fault_to_handler(td, sig as usize, &siginfo(sig, code, addr), &mut regs, &fx) {
        fatal_fault(sig as usize, record.code as usize, record.address)
    }
    // SAFETY: as above; the handler's registers go back into the CONTEXT.
    unsafe {
        let c = ctx as *mut u8;
        for (k, w) in CTX_ORDER.iter().enumerate() {
            *(c.add(CTX_RAX + 8 * k) as *mut u64) = words(&mut regs)[*w];
        }
        *(c.add(CTX_RIP) as *mut u64) = regs.rip;
        *(c.add(CTX_EFLAGS) as *mut u32) = regs.rflags as u32;
        // The handler runs with the app's FS base, as the faulting code did.
        core::arch::asm!("wrfsbase {}", in(reg) app_fs, options(nostack));
    }
    CONTINUE_EXECUTION
}

/// Installs the vectored handler first in the chain, and under Wine the Linux one.
pub fn install() -> bool {
    if under_wine() {
        install_linux_handlers();
    }
    // SAFETY: on_exception has the PVECTORED_EXCEPTION_HANDLER signature and lives forever.
    unsafe { win::AddVectoredExceptionHandler(1, on_exception) != 0 }
}

/// Whether this is Wine (its ntdll exports wine_get_version).
pub fn under_wine() -> bool {
    let ntdll: [u16; 10] = [b'n', b't', b'd', b'l', b'l', b'.', b'd', b'l', b'l', 0].map(u16::from);
    // SAFETY: a NUL-terminated name; GetProcAddress only looks the export up.
    unsafe {
        let m = win::GetModuleHandleW(ntdll.as_ptr());
        m != 0 && win::GetProcAddress(m, c"wine_get_version".as_ptr().cast()) != 0
    }
}

/// `struct kernel_sigaction` of Linux x86-64.
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct KernelSigaction {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64,
}

const LINUX_FAULT_SIGNALS: [usize; 5] = [4, 5, 7, 8, 11];
/// Wine's own actions for LINUX_FAULT_SIGNALS (handler, flags, restorer, mask), by signal.
static WINE_ACTIONS: [[AtomicU64; 4]; 12] = [const { [const { AtomicU64::new(0) }; 4] }; 12];

/// rt_sigaction on the Linux kernel under Wine.
fn linux_sigaction(sig: usize, new: *const KernelSigaction, old: *mut KernelSigaction) -> isize {
    let r: isize;
    // SAFETY: a Linux rt_sigaction (13) with valid pointers; only ever made under Wine on Linux.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") 13isize => r, in("rdi") sig, in("rsi") new, in("rdx") old,
                         in("r10") 8usize, lateout("rcx") _, lateout("r11") _, options(nostack))
    };
    r
}

fn install_linux_handlers() {
    const SA_SIGINFO: u64 = 4;
    const SA_RESTORER: u64 = 0x0400_0000;
    for sig in LINUX_FAULT_SIGNALS {
        let mut old = KernelSigaction::default();
        if linux_sigaction(sig, core::ptr::null(), &mut old) != 0 || old.flags & SA_RESTORER == 0 {
            continue;
        }
        for (slot, v) in WINE_ACTIONS[sig].iter().zip([old.handler, old.flags, old.restorer, old.mask]) {
            slot.store(v, Ordering::Relaxed);
        }
        let new = KernelSigaction {
            handler: on_linux_fault as *const () as usize as u64,
            flags: old.flags | SA_SIGINFO,
            ..old
        };
        linux_sigaction(sig, &new, core::ptr::null_mut());
    }
}

// Linux ucontext (x86-64): uc_mcontext.gregs at 40 (r8..r15, rdi, rsi, rbp, rbx, rdx, rax,
// rcx, rsp, rip, eflags: UserRegs order), fpregs pointer at 40 + 23 * 8.
const UC_GREGS: usize = 40;
const UC_FPREGS: usize = UC_GREGS + 23 * 8;

/// The Linux signal handler in front of Wine's (System V ABI, on Wine's signal stack).
extern "sysv64" fn on_linux_fault(sig: i32, info: *mut u8, uc: *mut u8) {
    let td = current_raw();
    // SAFETY: a non-null slot holds a leaked ThreadData.
    let host_fs = if td.is_null() { 0 } else { unsafe { &*td }.host_fs.load(Ordering::Relaxed) };
    if host_fs == 0 || rdfsbase() == host_fs {
        return to_wine(sig, info, uc);
    }
    // SAFETY: checked above.
    let td = unsafe { &*td };
    // SAFETY: the kernel passes a valid siginfo and ucontext; fpregs points at the FXSAVE
    // image (the start of the XSAVE area).
    unsafe {
        let mut regs = UserRegs::default();
        core::ptr::copy_nonoverlapping(uc.add(UC_GREGS) as *const u64, words(&mut regs).as_mut_ptr(), 18);
        let fp = *(uc.add(UC_FPREGS) as *const *const u8);
        let mut fx = [0u8; 512];
        if !fp.is_null() {
            fx.copy_from_slice(core::slice::from_raw_parts(fp, 512));
        }
        let mut si = [0u8; 128];
        si.copy_from_slice(core::slice::from_raw_parts(info, 128));
        if crate::signals::fault_to_handler(td, sig as usize, &si, &mut regs, &fx) {
            core::ptr::copy_nonoverlapping(words(&mut regs).as_ptr(), uc.add(UC_GREGS) as *mut u64, 18);
            return;
        }
        // Fatal: resume in the runtime's exit, on a fresh runtime stack with the host's FS.
        let code = match sig {
            4 => 0xC000_001Du64,
            8 => 0xC000_0094,
            5 => 0x8000_0003,
            _ => 0xC000_0005,
        };
        let g = uc.add(UC_GREGS) as *mut u64;
        *g.add(14) = sig as u64; // rcx
        *g.add(12) = code; // rdx
        *g.add(0) = regs.rip; // r8
        *g.add(15) = ((td.host_sp.load(Ordering::Relaxed) & !15) - 8) as u64; // rsp
        *g.add(16) = fatal_fault as *const () as usize as u64; // rip
        core::arch::asm!("wrfsbase {}", in(reg) host_fs, options(nostack));
    }
}

/// Hands a fault that is not the app's to Wine's own handler.
fn to_wine(sig: i32, info: *mut u8, uc: *mut u8) {
    let a = &WINE_ACTIONS[sig as usize];
    let handler = a[0].load(Ordering::Relaxed);
    if handler > 1 {
        // SAFETY: Wine's SA_SIGINFO handler, called as the kernel would call it.
        let f: extern "sysv64" fn(i32, *mut u8, *mut u8) = unsafe { core::mem::transmute(handler as usize) };
        f(sig, info, uc);
    } else {
        // Wine had none: put the default back; the fault repeats and takes it.
        let old = KernelSigaction {
            handler,
            flags: a[1].load(Ordering::Relaxed),
            restorer: a[2].load(Ordering::Relaxed),
            mask: a[3].load(Ordering::Relaxed),
        };
        linux_sigaction(sig as usize, &old, core::ptr::null_mut());
    }
}
