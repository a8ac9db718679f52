//! The app's way into the kernel: its system calls ([`syscall`], served by the library OS's
//! shim) and its faults and interrupts ([`trap`]). The machine crate's `syscall_handler` and
//! `trap_handler` (the symbols the entry code calls) forward here.
use litebox_libos::errno::Errno;
use litebox_libos::{SyscallContext, ThreadSpawn};
use litebox_rt::exit::INTERNAL as EXIT_INTERNAL;

use super::{proc, signals};
use crate::trap::{SyscallFrame, TrapFrame};
use crate::{apic, cpu, debug_line, fatal, machine, port, sched, vm};

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
    fn set_wait_mask(&mut self, mask: u64) {
        // The thread's own mask is saved as for rt_sigsuspend; a handler delivered at the
        // call's exit takes it for its frame, else it comes back then (`handle_syscall`).
        sched::suspend_mask(mask);
    }
    fn spawn_thread(&mut self, t: &ThreadSpawn) -> Result<usize, Errno> {
        sched::spawn(self.f, t)
    }
    fn fork(&mut self, flags: u64, stack: usize, ptid: usize, ctid: usize) -> Result<usize, Errno> {
        proc::fork(self.f, flags, stack, ptid, ctid)
    }
    fn stack_pointer(&self) -> usize {
        self.f.rsp as usize
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

/// One syscall of the app (the machine's `syscall_handler`, on the kernel stack). Returns true
/// when the frame must go back to the app register for register (after rt_sigreturn or
/// execve). Before the app has a library OS (a machine's probe), only exit_group is served.
pub fn syscall(f: &mut SyscallFrame) -> bool {
    let Some(os) = proc::try_current() else {
        machine().exit(if f.rax == 231 { f.rdi as i32 } else { EXIT_INTERNAL });
    };
    const RT_SIGRETURN: u64 = 15;
    const SCHED_YIELD: u64 = 24;
    let mut exact = f.rax == RT_SIGRETURN;
    let mut call = None;
    if exact {
        signals::sigreturn(f);
    } else {
        call = Some(f.rax);
        if f.rax == SCHED_YIELD {
            sched::yield_now();
        }
        let mut ctx = Call { f: &mut *f, exec: false };
        let r = litebox_libos::shim::dispatch(os, &mut ctx);
        exact = ctx.exec;
        f.rax = r as u64;
    }
    signals::deliver_after_call(&os.platform, f, call);
    // A wait's temporary mask (ppoll, pselect6, epoll_pwait) that no handler's frame took:
    // the thread's own mask is back.
    if let Some(m) = sched::take_saved_mask() {
        sched::set_sigmask(m);
    }
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

/// An exception or interrupt (the machine's `trap_handler`, on an IST stack): a page fault on
/// the app's lazily mapped memory is served; the preemption tick polls the machine's events,
/// lets another thread run and delivers signals; a fault the app cannot survive ends its
/// process with the status a signal death has natively. A fault of the kernel itself is fatal.
pub fn trap(f: &mut TrapFrame) {
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
        if f.vector == apic::TIMER_VECTOR {
            apic::on_tick();
        }
        if f.vector == apic::TIMER_VECTOR && from_user {
            machine().poll_events();
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
            machine().exit(128 + sig);
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
