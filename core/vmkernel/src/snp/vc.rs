//! The #VC handler (vector 29): under SEV-SNP the CPU raises #VC instead of exiting to the
//! hypervisor for the instructions it intercepts; the handler emulates them. CPUID is answered
//! from the CPUID page (the hypervisor is never asked); port I/O, MMIO moves, RDMSR/WRMSR and
//! RDTSC/RDTSCP go to the hypervisor as GHCB exits. Anything else terminates the guest: the
//! handler never guesses.
use litebox_snp_sev::cpuid_page;
use litebox_snp_sev::ghcb::{self as gh, off, IoDir};
use litebox_snp_sev::msr_protocol::Reason;
use litebox_snp_sev::vc_decode::{self as dec, Op, Port, Src};

use super::ghcb::{self, terminate};
use crate::trap::TrapFrame;

/// The 16 general registers of a frame, in encoding order.
fn regs(f: &TrapFrame) -> [u64; 16] {
    [f.rax, f.rcx, f.rdx, f.rbx, f.rsp, f.rbp, f.rsi, f.rdi, f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15]
}

fn set_regs(f: &mut TrapFrame, r: &[u64; 16]) {
    [f.rax, f.rcx, f.rdx, f.rbx, f.rsp, f.rbp, f.rsi, f.rdi, f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15] = *r;
}

/// The bytes at the faulting instruction (kernel code only: the app never does port I/O, MMIO
/// or MSR accesses that reach a #VC, its privileged instructions fault first).
fn insn_bytes(f: &TrapFrame) -> [u8; dec::MAX_LEN] {
    if f.cs & 3 != 0 {
        terminate(Reason::UnhandledVc);
    }
    let mut b = [0u8; dec::MAX_LEN];
    // SAFETY: the faulting RIP is in the kernel's text, mapped and readable; an instruction
    // is at most 15 bytes and the kernel text is followed by more mapped image.
    unsafe { core::ptr::copy_nonoverlapping(f.rip as *const u8, b.as_mut_ptr(), b.len()) };
    b
}

fn decode(f: &TrapFrame) -> dec::Insn {
    dec::decode(&insn_bytes(f)).unwrap_or_else(|_| terminate(Reason::UnhandledVc))
}

/// CR4.
fn cr4() -> u64 {
    let cr4: u64;
    // SAFETY: reading CR4 has no side effects.
    unsafe { core::arch::asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack)) };
    cr4
}

/// XCR0 (for CPUID leaf 0xD), when OSXSAVE is on.
fn xcr0() -> u64 {
    if cr4() & cpuid_page::CR4_OSXSAVE == 0 {
        return 1;
    }
    let (lo, hi): (u32, u32);
    // SAFETY: XGETBV(0) is valid once CR4.OSXSAVE is set (checked above); it is not intercepted.
    unsafe { core::arch::asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (hi as u64) << 32 | lo as u64
}

/// Handles one #VC; `f.error` is the exit code. On return the frame resumes after the
/// emulated instruction.
pub fn handle(f: &mut TrapFrame) {
    match f.error {
        gh::EXIT_CPUID => {
            // CPUID is 0f a2 (the app's too): two bytes, no prefixes compilers emit.
            let (leaf, sub) = (f.rax as u32, f.rcx as u32);
            let r = cpuid_page::answer(super::cpuid_page(), leaf, sub, xcr0(), 0)
                .unwrap_or_else(|_| terminate(Reason::UnhandledVc));
            let r = cpuid_page::postprocess(leaf, sub, r, cr4());
            (f.rax, f.rbx, f.rcx, f.rdx) = (r.0 as u64, r.1 as u64, r.2 as u64, r.3 as u64);
            f.rip += 2;
        }
        gh::EXIT_RDTSC | gh::EXIT_RDTSCP => {
            let code = f.error;
            let r = ghcb::exit_regs(code, 0, 0, 0, None, None);
            (f.rax, f.rdx) = (r[0] & 0xffff_ffff, r[3] & 0xffff_ffff);
            if code == gh::EXIT_RDTSCP {
                f.rcx = r[2] & 0xffff_ffff;
            }
            f.rip += if code == gh::EXIT_RDTSCP { 3 } else { 2 };
        }
        gh::EXIT_MSR => {
            let i = decode(f);
            let write = match i.op {
                Op::Rdmsr => false,
                Op::Wrmsr => true,
                _ => terminate(Reason::UnhandledVc),
            };
            let (rax, rdx) = if write { (Some(f.rax & 0xffff_ffff), Some(f.rdx & 0xffff_ffff)) } else { (None, None) };
            let r = ghcb::exit_regs(gh::EXIT_MSR, write as u64, 0, rax.unwrap_or(0), Some(f.rcx & 0xffff_ffff), rdx);
            if !write {
                (f.rax, f.rdx) = (r[0] & 0xffff_ffff, r[3] & 0xffff_ffff);
            }
            f.rip += i.len as u64;
        }
        gh::EXIT_IOIO => {
            let i = decode(f);
            let Op::Io { port, size, dir } = i.op else { terminate(Reason::UnhandledVc) };
            let port = match port {
                Port::Imm(p) => p as u16,
                Port::Dx => f.rdx as u16,
            };
            let info = gh::ioio_exit_info(port, size, dir).unwrap_or_else(|| terminate(Reason::UnhandledVc));
            let r = ghcb::exit_regs(gh::EXIT_IOIO, info, 0, f.rax & dec::mask(size), None, None);
            if dir == IoDir::In {
                let mut rr = regs(f);
                dec::write_reg(&mut rr, dec::Reg { index: 0, high_byte: false }, size, r[0]);
                set_regs(f, &rr);
            }
            f.rip += i.len as u64;
        }
        gh::EXIT_NPF => mmio(f),
        _ => terminate(Reason::UnhandledVc),
    }
}

/// An MMIO move: the device's page is mapped without the C-bit, so the access ended in a
/// nested page fault; the value goes through the GHCB's shared buffer.
fn mmio(f: &mut TrapFrame) {
    let i = decode(f);
    let next = f.rip + i.len as u64;
    let mut r = regs(f);
    let Some(mem) = i.mem else { terminate(Reason::UnhandledVc) };
    let va = dec::effective_address(&mem, &r, next);
    let pa = super::mem::virt_to_phys(va as usize).unwrap_or_else(|| terminate(Reason::UnhandledVc)) as u64;
    match i.op {
        Op::MmioRead { size, dest, dest_size } => {
            let v = ghcb::call(
                |g| {
                    g.set(off::SW_SCRATCH, ghcb::buffer_pa());
                    g.set_exit(gh::EXIT_MMIO_READ, pa, size as u64);
                },
                |g| {
                    if g.result().is_err() {
                        terminate(Reason::GhcbFailed);
                    }
                    let mut b = [0u8; 8];
                    b[..size as usize].copy_from_slice(&g.buffer()[..size as usize]);
                    u64::from_le_bytes(b)
                },
            );
            dec::write_reg(&mut r, dest, dest_size, v);
        }
        Op::MmioWrite { size, src } => {
            let v = match src {
                Src::Reg(reg) => dec::read_reg(&r, reg, size),
                Src::Imm(v) => v,
            };
            ghcb::call(
                |g| {
                    g.buffer()[..size as usize].copy_from_slice(&v.to_le_bytes()[..size as usize]);
                    g.set(off::SW_SCRATCH, ghcb::buffer_pa());
                    g.set_exit(gh::EXIT_MMIO_WRITE, pa, size as u64);
                },
                |g| {
                    if g.result().is_err() {
                        terminate(Reason::GhcbFailed);
                    }
                },
            );
        }
        _ => terminate(Reason::UnhandledVc),
    }
    set_regs(f, &r);
    f.rip = next;
}
