//! Descriptor tables and CPU set-up: GDT (kernel/user segments and the TSS), the TSS with
//! separate IST stacks for exceptions (the prebuilt `core` uses the red zone, so ring-0
//! exceptions must never push onto the interrupted stack), the IDT, the `syscall` MSRs, NX.
use core::arch::asm;

use crate::port::{self, cpuid, rdmsr, wrmsr};

/// The kernel code segment selector.
pub const KERNEL_CS: u16 = 0x08;
// User data is 0x18 | 3 and user code 0x20 | 3 (the order sysret needs).
/// The kernel data (stack) segment selector.
pub const KERNEL_SS: u16 = 0x10;
const TSS_SEL: u16 = 0x28;

const IST_SIZE: usize = 64 * 1024;

#[repr(C, align(16))]
struct Stack([u8; IST_SIZE]);

// The stacks need no zeroing: in sections `.bss.nozero.*`, which a machine's linker script
// may place outside the `.bss` its boot stub zeroes (kvm's does: 192 KiB less to clear, one
// `rep stosq` iteration per 8 bytes under emulation); elsewhere they are plain `.bss`.
#[link_section = ".bss.nozero.trap_stack"]
static mut TRAP_STACK: Stack = Stack([0; IST_SIZE]);
#[link_section = ".bss.nozero.fault2_stack"]
static mut FAULT2_STACK: Stack = Stack([0; IST_SIZE]);
/// The #VC stack (SEV-SNP): a #VC can arrive while another exception's handler runs (its port
/// I/O, say), so it must not reuse that handler's stack.
#[link_section = ".bss.nozero.vc_stack"]
static mut VC_STACK: Stack = Stack([0; IST_SIZE]);

#[repr(C, packed(4))]
struct Tss {
    _r0: u32,
    rsp: [u64; 3],
    _r1: u64,
    ist: [u64; 7],
    _r2: u64,
    _r3: u16,
    iomap: u16,
}

static mut TSS: Tss = Tss { _r0: 0, rsp: [0; 3], _r1: 0, ist: [0; 7], _r2: 0, _r3: 0, iomap: 104 };
static mut GDT: [u64; 7] = [0; 7];

#[repr(C)]
#[derive(Clone, Copy)]
struct Gate {
    off_lo: u16,
    sel: u16,
    ist: u8,
    attr: u8,
    off_mid: u16,
    off_hi: u32,
    _r: u32,
}

static mut IDT: [Gate; 256] = [Gate { off_lo: 0, sel: 0, ist: 0, attr: 0, off_mid: 0, off_hi: 0, _r: 0 }; 256];

#[repr(C, packed)]
struct Pointer {
    limit: u16,
    base: u64,
}

extern "C" {
    static trap_vectors: [u64; 32];
    /// Stubs for vectors 32..256, 16 bytes apart (trap.rs).
    static irq_stubs: u8;
    fn syscall_entry();
}

static INIT_DONE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Loads the GDT, TSS and IDT, enables NX if the CPU has it and programs `syscall`.
///
/// # Safety
/// Must run at boot, with interrupts disabled, before the app starts (calls after the first
/// do nothing).
pub unsafe fn init(syscall_stack_top: usize) {
    // The SNP machine layer loads the tables earlier (before its first port access); the
    // second call is then a no-op (loading the task register twice faults).
    if INIT_DONE.swap(true, core::sync::atomic::Ordering::Relaxed) {
        return;
    }
    // SAFETY: boot is single-threaded; these statics are only written here.
    unsafe {
        let trap_top = (&raw mut TRAP_STACK) as usize + IST_SIZE;
        let fault2_top = (&raw mut FAULT2_STACK) as usize + IST_SIZE;
        let tss = &raw mut TSS;
        (*tss).rsp[0] = syscall_stack_top as u64;
        (*tss).ist[0] = trap_top as u64;
        (*tss).ist[1] = fault2_top as u64;
        (*tss).ist[2] = (&raw mut VC_STACK) as u64 + IST_SIZE as u64;

        let gdt = &raw mut GDT;
        (*gdt)[1] = 0x00af_9a00_0000_ffff; // kernel code 64
        (*gdt)[2] = 0x00cf_9200_0000_ffff; // kernel data
        (*gdt)[3] = 0x00cf_f200_0000_ffff; // user data (DPL 3)
        (*gdt)[4] = 0x00af_fa00_0000_ffff; // user code 64 (DPL 3)
        let base = tss as u64;
        let limit = (core::mem::size_of::<Tss>() - 1) as u64;
        (*gdt)[5] = limit & 0xffff
            | (base & 0xff_ffff) << 16
            | 0x89 << 40 // present, 64-bit TSS (available)
            | (limit >> 16 & 0xf) << 48
            | (base >> 24 & 0xff) << 56;
        (*gdt)[6] = base >> 32;
        let gp = Pointer { limit: (7 * 8 - 1) as u16, base: gdt as u64 };
        asm!(
            "lgdt [{gp}]",
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ss, {ss:e}",
            "mov ds, {ss:e}",
            "mov es, {ss:e}",
            "ltr {tss:x}",
            gp = in(reg) &gp,
            cs = in(reg) KERNEL_CS as u64,
            ss = in(reg) KERNEL_SS as u32,
            tss = in(reg) TSS_SEL,
            tmp = out(reg) _,
        );

        let idt = &raw mut IDT;
        for (v, &h) in trap_vectors.iter().enumerate() {
            // #DB, NMI, #DF, #MC get their own stack, #VC (29) its own; everything else the
            // trap stack.
            let ist = match v {
                1 | 2 | 8 | 18 => 2,
                29 => 3,
                _ => 1,
            };
            let dpl = if matches!(v, 3 | 4) { 3 } else { 0 };
            (*idt)[v] = Gate {
                off_lo: h as u16,
                sel: KERNEL_CS,
                ist,
                attr: 0x8e | dpl << 5,
                off_mid: (h >> 16) as u16,
                off_hi: (h >> 32) as u32,
                _r: 0,
            };
        }
        // Interrupts (vectors 32..256) arrive only in ring 3 (the kernel runs with IF clear), so
        // they use RSP0: the running thread's own kernel stack, where it may be switched out.
        let stubs = &irq_stubs as *const u8 as u64;
        for v in 32..256 {
            let h = stubs + 16 * (v as u64 - 32);
            (*idt)[v] = Gate {
                off_lo: h as u16,
                sel: KERNEL_CS,
                ist: 0,
                attr: 0x8e,
                off_mid: (h >> 16) as u16,
                off_hi: (h >> 32) as u32,
                _r: 0,
            };
        }
        let ip = Pointer { limit: (256 * 16 - 1) as u16, base: idt as u64 };
        asm!("lidt [{}]", in(reg) &ip, options(nostack));

        let mut efer = rdmsr(port::MSR_EFER) | 1; // SCE
        if has_nx() {
            efer |= 1 << 11;
        }
        wrmsr(port::MSR_EFER, efer);
        // sysret: CS = base + 16, SS = base + 8 (base 0x10 -> 0x23 / 0x1b); syscall: CS 0x08, SS 0x10.
        wrmsr(port::MSR_STAR, (0x10u64 << 48) | ((KERNEL_CS as u64) << 32));
        wrmsr(port::MSR_LSTAR, syscall_entry as *const () as u64);
        // Clear TF, IF, DF, AC (and NT) on entry.
        wrmsr(port::MSR_SFMASK, 0x4_0700 | 0x4000);
    }
}

/// Sets the stack ring-3 interrupts switch to (the running thread's kernel stack top).
pub fn set_rsp0(top: usize) {
    let tss = &raw mut TSS;
    // SAFETY: one CPU with interrupts off in ring 0: nothing reads the TSS while we write it.
    unsafe { (*tss).rsp[0] = top as u64 };
}

/// Whether the CPU supports the no-execute page bit.
pub fn has_nx() -> bool {
    cpuid(0x8000_0000, 0).0 >= 0x8000_0001 && cpuid(0x8000_0001, 0).3 & (1 << 20) != 0
}

/// Invalidates the TLB entry for `va`.
pub fn invlpg(va: usize) {
    // SAFETY: invalidating a TLB entry never breaks memory safety.
    unsafe { asm!("invlpg [{}]", in(reg) va, options(nostack, preserves_flags)) }
}

/// Flushes the whole (non-global) TLB.
pub fn flush_tlb() {
    // SAFETY: reloading CR3 with its own value only flushes the TLB.
    unsafe { asm!("mov {t}, cr3", "mov cr3, {t}", t = out(reg) _, options(nostack, preserves_flags)) }
}

/// The faulting address of the last page fault.
pub fn cr2() -> usize {
    let v: usize;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}
