//! src/cpuprobe.rs under the test harness (its own `tests` module): the SIGILL probe answers
//! "absent" for an instruction no CPU runs and goes on, and finds the SHA extensions exactly
//! where CPUID reports them. The runtime's `sys` and `signals` are replaced by the few
//! definitions the module uses.
#[path = "../src/cpuprobe.rs"]
mod cpuprobe;

mod signals {
    pub(crate) const SA_SIGINFO: u64 = 4;
    pub(crate) const SA_RESTORER: u64 = 0x0400_0000;

    /// The kernel's `struct sigaction` for rt_sigaction, as the runtime declares it.
    #[derive(Clone, Copy, Default)]
    #[repr(C)]
    pub struct KSigaction {
        pub handler: usize,
        pub flags: u64,
        pub restorer: usize,
        pub mask: u64,
    }
}

mod sys {
    pub const RT_SIGACTION: usize = 13;
    pub const RT_SIGPROCMASK: usize = 14;

    core::arch::global_asm!(".globl test_restorer", "test_restorer:", "    mov eax, 15", "    syscall",);

    extern "C" {
        fn test_restorer();
    }

    /// The restorer the probe installs its handler with: rt_sigreturn.
    #[allow(non_upper_case_globals)]
    pub const litebox_restorer: unsafe extern "C" fn() = test_restorer;

    pub fn syscall6(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> isize {
        let r: isize;
        // SAFETY: a raw host syscall; the probe passes valid pointers for each call it makes.
        unsafe {
            core::arch::asm!("syscall", inlateout("rax") nr as isize => r, in("rdi") a0, in("rsi") a1,
                in("rdx") a2, in("r10") a3, in("r8") a4, in("r9") a5, lateout("rcx") _, lateout("r11") _,
                options(nostack));
        }
        r
    }

    pub fn check(r: isize) -> Result<usize, i32> {
        if r < 0 {
            Err(-r as i32)
        } else {
            Ok(r as usize)
        }
    }
}
