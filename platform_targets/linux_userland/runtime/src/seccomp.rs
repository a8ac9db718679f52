//! The seccomp filter: a syscall is allowed only if it was issued by the gate's `syscall`
//! instruction; every other syscall of the process traps (SIGSYS) into the library OS. A
//! foreign architecture or an x32 number kills the process.
use crate::sys::{self, check};

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

#[repr(C)]
#[derive(Clone, Copy)]
struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const RET_K: u16 = 0x06;

const fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter { code, jt: 0, jf: 0, k }
}
const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// Installs the filter (after PR_SET_NO_NEW_PRIVS). From here on only the gate reaches the host.
pub fn install() -> Result<(), i32> {
    let gate = sys::litebox_gate_ret as *const () as usize as u64;
    let prog = [
        stmt(LD_W_ABS, 4),                          // 0: arch
        jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),       // 1
        stmt(RET_K, RET_KILL_PROCESS),              // 2
        stmt(LD_W_ABS, 0),                          // 3: nr
        jump(JGE_K, 0x4000_0000, 0, 1),             // 4: x32 ABI
        stmt(RET_K, RET_KILL_PROCESS),              // 5
        stmt(LD_W_ABS, 8),                          // 6: instruction_pointer, low word
        jump(JEQ_K, gate as u32, 0, 3),             // 7
        stmt(LD_W_ABS, 12),                         // 8: high word
        jump(JEQ_K, (gate >> 32) as u32, 0, 1),     // 9
        stmt(RET_K, RET_ALLOW),                     // 10
        stmt(RET_K, RET_TRAP),                      // 11
    ];
    let fprog = SockFprog { len: prog.len() as u16, filter: prog.as_ptr() };
    const PR_SET_NO_NEW_PRIVS: usize = 38;
    check(sys::syscall6(sys::PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0))?;
    const SECCOMP_SET_MODE_FILTER: usize = 1;
    check(sys::syscall3(sys::SECCOMP, SECCOMP_SET_MODE_FILTER, 0, &fprog as *const SockFprog as usize)).map(|_| ())
}
