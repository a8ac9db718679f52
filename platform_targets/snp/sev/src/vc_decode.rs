//! The instructions the #VC handler emulates, decoded from the bytes at the faulting RIP: port
//! I/O (`in`/`out` with an immediate port or DX), the MMIO moves a driver uses (`mov` to and
//! from memory, `mov` of an immediate to memory, `movzx` from memory), and the intercepted
//! `cpuid`, `rdmsr`, `wrmsr`, `rdtsc`, `rdtscp`. Anything else (string I/O, `rep`, `lock`,
//! FS/GS-relative or 32-bit addressing, register operands where memory is needed) is refused,
//! so the handler never guesses.
//!
//! Registers are numbered as the x86 encoding numbers them: 0 RAX, 1 RCX, 2 RDX, 3 RBX, 4 RSP,
//! 5 RBP, 6 RSI, 7 RDI, 8..15 R8..R15.
pub use crate::ghcb::IoDir;

/// Longest x86 instruction.
pub const MAX_LEN: usize = 15;

/// Where a port number comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Port {
    /// The instruction's 8-bit immediate.
    Imm(u8),
    /// DX.
    Dx,
}

/// A register operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg {
    /// Its number (0..16).
    pub index: u8,
    /// AH, CH, DH or BH (an 8-bit operand numbered 4..7 without a REX prefix): bits 15:8 of
    /// register `index - 4`.
    pub high_byte: bool,
}

/// What an MMIO write stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// A register's low bytes.
    Reg(Reg),
    /// An immediate (already sign-extended to the access size).
    Imm(u64),
}

/// A memory operand: `base + index * scale + disp`, or `next_rip + disp` when `rip_relative`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemRef {
    /// The base register, if any.
    pub base: Option<u8>,
    /// The index register, if any.
    pub index: Option<u8>,
    /// 1, 2, 4 or 8.
    pub scale: u8,
    /// The displacement.
    pub disp: i32,
    /// RIP-relative addressing.
    pub rip_relative: bool,
}

/// The decoded operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `in` / `out` of `size` bytes (1, 2, 4) through AL/AX/EAX.
    Io {
        /// The port.
        port: Port,
        /// Bytes moved.
        size: u8,
        /// In or out.
        dir: IoDir,
    },
    /// A load of `size` bytes from MMIO into `dest`, which is `dest_size` bytes wide (larger
    /// than `size` for `movzx`: the value is zero-extended).
    MmioRead {
        /// Bytes read from the device.
        size: u8,
        /// The destination register.
        dest: Reg,
        /// The destination's width.
        dest_size: u8,
    },
    /// A store of `size` bytes to MMIO.
    MmioWrite {
        /// Bytes written.
        size: u8,
        /// What is written.
        src: Src,
    },
    /// CPUID.
    Cpuid,
    /// RDMSR.
    Rdmsr,
    /// WRMSR.
    Wrmsr,
    /// RDTSC.
    Rdtsc,
    /// RDTSCP.
    Rdtscp,
}

/// One decoded instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Its length in bytes (RIP advances by it once emulated).
    pub len: usize,
    /// What it does.
    pub op: Op,
    /// Its memory operand (MMIO moves only).
    pub mem: Option<MemRef>,
}

/// Why the bytes were not decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The bytes end inside the instruction.
    Truncated,
    /// A prefix the handler does not emulate (lock, rep, FS/GS, address size) or too many.
    Prefix,
    /// An opcode the handler does not emulate.
    Opcode,
    /// A register operand where a memory operand is needed.
    NotMemory,
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn u8(&mut self) -> Result<u8, Error> {
        let v = *self.b.get(self.at).ok_or(Error::Truncated)?;
        self.at += 1;
        if self.at > MAX_LEN {
            return Err(Error::Truncated);
        }
        Ok(v)
    }
    fn i32(&mut self) -> Result<i32, Error> {
        let mut v = [0u8; 4];
        for b in &mut v {
            *b = self.u8()?;
        }
        Ok(i32::from_le_bytes(v))
    }
    fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
}

#[derive(Clone, Copy, Default)]
struct Rex {
    present: bool,
    w: bool,
    r: bool,
    x: bool,
    b: bool,
}

/// Decodes the instruction at the start of `bytes` (the bytes at the faulting RIP; up to
/// [`MAX_LEN`] of them).
pub fn decode(bytes: &[u8]) -> Result<Insn, Error> {
    let mut c = Cursor { b: bytes, at: 0 };
    let mut opsize16 = false;
    let mut rex = Rex::default();
    let mut op = c.u8()?;
    loop {
        match op {
            0x66 if !rex.present => opsize16 = true,
            // CS, SS, DS, ES overrides mean nothing in 64-bit mode.
            0x26 | 0x2e | 0x36 | 0x3e if !rex.present => {}
            0x40..=0x4f if !rex.present => {
                rex = Rex { present: true, w: op & 8 != 0, r: op & 4 != 0, x: op & 2 != 0, b: op & 1 != 0 };
            }
            0x40..=0x4f | 0x66 | 0x26 | 0x2e | 0x36 | 0x3e => return Err(Error::Prefix),
            0x64 | 0x65 | 0x67 | 0xf0 | 0xf2 | 0xf3 => return Err(Error::Prefix),
            _ => break,
        }
        op = c.u8()?;
    }
    let wide = if rex.w {
        8
    } else if opsize16 {
        2
    } else {
        4
    };
    let io = |port, size, dir| Op::Io { port, size, dir };
    let small_io = if opsize16 { 2 } else { 4 };
    let simple = |c: &Cursor<'_>, op| Ok(Insn { len: c.at, op, mem: None });
    match op {
        0xe4..=0xe7 => {
            let port = c.u8()?;
            let size = if op & 1 == 0 { 1 } else { small_io };
            let dir = if op & 2 == 0 { IoDir::In } else { IoDir::Out };
            simple(&c, io(Port::Imm(port), size, dir))
        }
        0xec..=0xef => {
            let size = if op & 1 == 0 { 1 } else { small_io };
            let dir = if op & 2 == 0 { IoDir::In } else { IoDir::Out };
            simple(&c, io(Port::Dx, size, dir))
        }
        0x88..=0x8b => {
            let (reg, mem) = modrm(&mut c, rex)?;
            let size = if op & 1 == 0 { 1 } else { wide };
            let reg = reg_operand(reg, size, rex);
            let op = if op & 2 == 0 {
                Op::MmioWrite { size, src: Src::Reg(reg) }
            } else {
                Op::MmioRead { size, dest: reg, dest_size: size }
            };
            Ok(Insn { len: c.at, op, mem: Some(mem) })
        }
        0xc6 | 0xc7 => {
            let (reg, mem) = modrm(&mut c, rex)?;
            if reg & 7 != 0 {
                return Err(Error::Opcode);
            }
            let (size, imm) = if op == 0xc6 {
                (1, c.u8()? as u64)
            } else if opsize16 && !rex.w {
                (2, c.u16()? as u64)
            } else {
                let v = c.i32()?;
                (wide, if wide == 8 { v as i64 as u64 } else { v as u32 as u64 })
            };
            Ok(Insn { len: c.at, op: Op::MmioWrite { size, src: Src::Imm(imm) }, mem: Some(mem) })
        }
        0x0f => match c.u8()? {
            0xa2 => simple(&c, Op::Cpuid),
            0x30 => simple(&c, Op::Wrmsr),
            0x31 => simple(&c, Op::Rdtsc),
            0x32 => simple(&c, Op::Rdmsr),
            0x01 => match c.u8()? {
                0xf9 => simple(&c, Op::Rdtscp),
                _ => Err(Error::Opcode),
            },
            op2 @ (0xb6 | 0xb7) => {
                let (reg, mem) = modrm(&mut c, rex)?;
                let size = if op2 == 0xb6 { 1 } else { 2 };
                let dest = Reg { index: reg, high_byte: false };
                Ok(Insn { len: c.at, op: Op::MmioRead { size, dest, dest_size: wide }, mem: Some(mem) })
            }
            _ => Err(Error::Opcode),
        },
        _ => Err(Error::Opcode),
    }
}

/// The register operand `reg` of an instruction of operand `size`: without REX, 8-bit numbers
/// 4..7 are AH, CH, DH, BH.
fn reg_operand(reg: u8, size: u8, rex: Rex) -> Reg {
    Reg { index: reg, high_byte: size == 1 && !rex.present && (4..8).contains(&reg) }
}

/// Decodes a ModRM byte (and SIB, displacement) whose r/m must be memory: (reg field, operand).
fn modrm(c: &mut Cursor<'_>, rex: Rex) -> Result<(u8, MemRef), Error> {
    let m = c.u8()?;
    let (md, reg, rm) = (m >> 6, (m >> 3) & 7 | (rex.r as u8) << 3, m & 7);
    if md == 3 {
        return Err(Error::NotMemory);
    }
    let mut mem = MemRef { base: None, index: None, scale: 1, disp: 0, rip_relative: false };
    let mut disp32 = md == 2;
    if rm == 4 {
        let sib = c.u8()?;
        let index = (sib >> 3) & 7 | (rex.x as u8) << 3;
        mem.scale = 1 << (sib >> 6);
        mem.index = (index != 4).then_some(index);
        if sib & 7 == 5 && md == 0 {
            disp32 = true;
        } else {
            mem.base = Some(sib & 7 | (rex.b as u8) << 3);
        }
    } else if rm == 5 && md == 0 {
        mem.rip_relative = true;
        disp32 = true;
    } else {
        mem.base = Some(rm | (rex.b as u8) << 3);
    }
    if md == 1 {
        mem.disp = c.u8()? as i8 as i32;
    } else if disp32 {
        mem.disp = c.i32()?;
    }
    Ok((reg, mem))
}

/// The linear address of `mem` given the 16 general registers and the address of the next
/// instruction.
pub fn effective_address(mem: &MemRef, regs: &[u64; 16], next_rip: u64) -> u64 {
    let mut a = mem.disp as i64 as u64;
    if mem.rip_relative {
        return next_rip.wrapping_add(a);
    }
    if let Some(b) = mem.base {
        a = a.wrapping_add(regs[b as usize]);
    }
    if let Some(i) = mem.index {
        a = a.wrapping_add(regs[i as usize].wrapping_mul(mem.scale as u64));
    }
    a
}

/// The low `size` bytes of register `r`.
pub fn read_reg(regs: &[u64; 16], r: Reg, size: u8) -> u64 {
    if r.high_byte {
        return (regs[(r.index - 4) as usize] >> 8) & 0xff;
    }
    regs[r.index as usize] & mask(size)
}

/// Writes `v` into register `r` as an instruction of operand `size` does: 1 and 2 bytes merge
/// into the register, 4 bytes zero the upper half, 8 bytes replace it.
pub fn write_reg(regs: &mut [u64; 16], r: Reg, size: u8, v: u64) {
    if r.high_byte {
        let x = &mut regs[(r.index - 4) as usize];
        *x = (*x & !0xff00) | (v & 0xff) << 8;
        return;
    }
    let x = &mut regs[r.index as usize];
    *x = match size {
        1 | 2 => (*x & !mask(size)) | (v & mask(size)),
        4 => v & 0xffff_ffff,
        _ => v,
    };
}

/// The mask of the low `size` bytes.
pub fn mask(size: u8) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (8 * size as u32)) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: &[u8]) -> Insn {
        decode(b).unwrap()
    }

    const RAX: u8 = 0;
    const RDX: u8 = 2;

    #[test]
    fn port_io() {
        let io = |port, size, dir| Op::Io { port, size, dir };
        assert_eq!(d(&[0xee]), Insn { len: 1, op: io(Port::Dx, 1, IoDir::Out), mem: None });
        assert_eq!(d(&[0xec]).op, io(Port::Dx, 1, IoDir::In));
        assert_eq!(d(&[0xef]).op, io(Port::Dx, 4, IoDir::Out));
        assert_eq!(d(&[0x66, 0xed]), Insn { len: 2, op: io(Port::Dx, 2, IoDir::In), mem: None });
        assert_eq!(d(&[0xe6, 0xf4, 0x90]), Insn { len: 2, op: io(Port::Imm(0xf4), 1, IoDir::Out), mem: None });
        assert_eq!(d(&[0xe5, 0x60]).op, io(Port::Imm(0x60), 4, IoDir::In));
        // String and repeated port I/O are refused.
        assert_eq!(decode(&[0x6e]), Err(Error::Opcode));
        assert_eq!(decode(&[0xf3, 0x6e]), Err(Error::Prefix));
        assert_eq!(decode(&[0xe6]), Err(Error::Truncated));
    }

    #[test]
    fn mmio_loads() {
        // mov eax, [rdi + 0x70]
        let i = d(&[0x8b, 0x47, 0x70]);
        assert_eq!(i.len, 3);
        assert_eq!(i.op, Op::MmioRead { size: 4, dest: Reg { index: RAX, high_byte: false }, dest_size: 4 });
        assert_eq!(i.mem, Some(MemRef { base: Some(7), index: None, scale: 1, disp: 0x70, rip_relative: false }));
        // mov r9, [r10 + r11*8 - 8]
        let i = d(&[0x4f, 0x8b, 0x4c, 0xda, 0xf8]);
        assert_eq!(i.len, 5);
        assert_eq!(i.op, Op::MmioRead { size: 8, dest: Reg { index: 9, high_byte: false }, dest_size: 8 });
        assert_eq!(i.mem, Some(MemRef { base: Some(10), index: Some(11), scale: 8, disp: -8, rip_relative: false }));
        // mov dh, [rbx]: DH without REX.
        assert_eq!(
            d(&[0x8a, 0x33]).op,
            Op::MmioRead { size: 1, dest: Reg { index: 6, high_byte: true }, dest_size: 1 }
        );
        // mov sil, [rbx]: with REX the same number is SIL.
        assert_eq!(
            d(&[0x40, 0x8a, 0x33]).op,
            Op::MmioRead { size: 1, dest: Reg { index: 6, high_byte: false }, dest_size: 1 }
        );
        // movzx eax, byte [rdx + 0x100]; movzx ecx, word [rip + 0x10]
        let i = d(&[0x0f, 0xb6, 0x82, 0x00, 0x01, 0x00, 0x00]);
        assert_eq!(
            (i.len, i.op),
            (7, Op::MmioRead { size: 1, dest: Reg { index: RAX, high_byte: false }, dest_size: 4 })
        );
        assert_eq!(i.mem.unwrap().disp, 0x100);
        let i = d(&[0x0f, 0xb7, 0x0d, 0x10, 0, 0, 0]);
        assert_eq!(i.op, Op::MmioRead { size: 2, dest: Reg { index: 1, high_byte: false }, dest_size: 4 });
        assert!(i.mem.unwrap().rip_relative);
        // mov ax, [rsi]
        assert_eq!(
            d(&[0x66, 0x8b, 0x06]).op,
            Op::MmioRead { size: 2, dest: Reg { index: RAX, high_byte: false }, dest_size: 2 }
        );
    }

    #[test]
    fn mmio_stores() {
        // mov [rax + 0x50], edx
        let i = d(&[0x89, 0x50, 0x50]);
        assert_eq!(i.op, Op::MmioWrite { size: 4, src: Src::Reg(Reg { index: RDX, high_byte: false }) });
        // mov dword [rcx + 0x30], 0x12345678
        let i = d(&[0xc7, 0x41, 0x30, 0x78, 0x56, 0x34, 0x12]);
        assert_eq!((i.len, i.op), (7, Op::MmioWrite { size: 4, src: Src::Imm(0x1234_5678) }));
        // mov qword [rcx], -1 (sign-extended)
        assert_eq!(
            d(&[0x48, 0xc7, 0x01, 0xff, 0xff, 0xff, 0xff]).op,
            Op::MmioWrite { size: 8, src: Src::Imm(u64::MAX) }
        );
        // mov word [rcx], 0xbeef; mov byte [rcx], 7
        assert_eq!(d(&[0x66, 0xc7, 0x01, 0xef, 0xbe]).op, Op::MmioWrite { size: 2, src: Src::Imm(0xbeef) });
        assert_eq!(d(&[0xc6, 0x01, 0x07]).op, Op::MmioWrite { size: 1, src: Src::Imm(7) });
        // SIB with no base: mov [rax*4 + 0x1000], ecx
        let i = d(&[0x89, 0x0c, 0x85, 0x00, 0x10, 0, 0]);
        assert_eq!(i.mem, Some(MemRef { base: None, index: Some(0), scale: 4, disp: 0x1000, rip_relative: false }));
        // A register operand is not MMIO; /1 of C7 is not a mov.
        assert_eq!(decode(&[0x89, 0xc8]), Err(Error::NotMemory));
        assert_eq!(decode(&[0xc7, 0x49, 0x30, 0, 0, 0, 0]), Err(Error::Opcode));
        // FS-relative, lock and 32-bit addressing are refused.
        assert_eq!(decode(&[0x64, 0x8b, 0x00]), Err(Error::Prefix));
        assert_eq!(decode(&[0xf0, 0x89, 0x00]), Err(Error::Prefix));
        assert_eq!(decode(&[0x67, 0x8b, 0x00]), Err(Error::Prefix));
        // A REX not right before the opcode is refused.
        assert_eq!(decode(&[0x48, 0x66, 0x8b, 0x00]), Err(Error::Prefix));
    }

    #[test]
    fn intercepted_instructions() {
        assert_eq!(d(&[0x0f, 0xa2]), Insn { len: 2, op: Op::Cpuid, mem: None });
        assert_eq!(d(&[0x0f, 0x32]).op, Op::Rdmsr);
        assert_eq!(d(&[0x0f, 0x30]).op, Op::Wrmsr);
        assert_eq!(d(&[0x0f, 0x31]).op, Op::Rdtsc);
        assert_eq!(d(&[0x0f, 0x01, 0xf9]), Insn { len: 3, op: Op::Rdtscp, mem: None });
        assert_eq!(decode(&[0x0f, 0x0b]), Err(Error::Opcode));
        assert_eq!(decode(&[0x90]), Err(Error::Opcode));
        assert_eq!(decode(&[]), Err(Error::Truncated));
        // Fifteen prefixes and still no opcode: longer than any instruction.
        assert_eq!(decode(&[0x2e; 16]), Err(Error::Truncated));
    }

    #[test]
    fn addresses_and_registers() {
        let mut regs = [0u64; 16];
        regs[10] = 0x1000;
        regs[11] = 3;
        let m = d(&[0x4f, 0x8b, 0x4c, 0xda, 0xf8]).mem.unwrap();
        assert_eq!(effective_address(&m, &regs, 0), 0x1000 + 24 - 8);
        let m = d(&[0x0f, 0xb7, 0x0d, 0x10, 0, 0, 0]).mem.unwrap();
        assert_eq!(effective_address(&m, &regs, 0xffff_8000_0000_0007), 0xffff_8000_0000_0017);

        regs[0] = 0xffff_ffff_ffff_ffff;
        write_reg(&mut regs, Reg { index: 0, high_byte: false }, 1, 0x12);
        assert_eq!(regs[0], 0xffff_ffff_ffff_ff12);
        write_reg(&mut regs, Reg { index: 4, high_byte: true }, 1, 0x34);
        assert_eq!(regs[0], 0xffff_ffff_ffff_3412);
        write_reg(&mut regs, Reg { index: 0, high_byte: false }, 2, 0xabcd);
        assert_eq!(regs[0], 0xffff_ffff_ffff_abcd);
        write_reg(&mut regs, Reg { index: 0, high_byte: false }, 4, 0x1_2345_6789);
        assert_eq!(regs[0], 0x2345_6789);
        write_reg(&mut regs, Reg { index: 0, high_byte: false }, 8, u64::MAX);
        assert_eq!(regs[0], u64::MAX);
        regs[3] = 0x1122_3344_5566_7788;
        assert_eq!(read_reg(&regs, Reg { index: 7, high_byte: true }, 1), 0x77);
        assert_eq!(read_reg(&regs, Reg { index: 3, high_byte: false }, 2), 0x7788);
        assert_eq!(read_reg(&regs, Reg { index: 3, high_byte: false }, 8), 0x1122_3344_5566_7788);
    }
}
