//! Classic BPF for seccomp filters: the instruction type, the opcodes and return values the
//! runtimes use, and [`Block`], a builder for one checked system call's instructions with
//! symbolic jump targets (it appends the returns and computes the u8 offsets, so nothing is
//! counted by hand).
use alloc::vec::Vec;

/// `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// `struct sock_fprog`.
#[repr(C)]
pub struct SockFprog {
    pub len: u16,
    pub filter: *const SockFilter,
}

pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const RET_TRAP: u32 = 0x0003_0000;
pub const RET_ERRNO: u32 = 0x0005_0000;
pub const RET_ALLOW: u32 = 0x7fff_0000;

pub const LD_W_ABS: u16 = 0x20;
pub const JEQ_K: u16 = 0x15;
pub const JGE_K: u16 = 0x35;
pub const JSET_K: u16 = 0x45;
pub const AND_K: u16 = 0x54;
pub const RET_K: u16 = 0x06;

/// `struct seccomp_data` offsets: the system call number, the architecture, the instruction
/// pointer's low and high words.
pub const DATA_NR: u32 = 0;
pub const DATA_ARCH: u32 = 4;
pub const DATA_IP_LO: u32 = 8;
pub const DATA_IP_HI: u32 = 12;

/// A statement (no jump).
pub const fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter { code, jt: 0, jf: 0, k }
}

/// A conditional jump with explicit offsets.
pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// A return of `RET_TRAP | rule` (the refusal the linux-userland gate uses).
pub const fn deny(rule: u32) -> SockFilter {
    stmt(RET_K, RET_TRAP | rule)
}

/// Where a conditional jump of a [`Block`] goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum To {
    /// The next instruction.
    Next,
    /// Run the call.
    Allow,
    /// Refuse it with this rule (returned as the block's refusal base | rule).
    Deny(u32),
    /// A label made by [`Block::label`] and placed by [`Block::place`] (forward only).
    Label(usize),
}

/// One checked syscall's BPF block, written with symbolic jump targets; [`Block::build`]
/// appends the returns and computes the u8 offsets. Two blocks that compare equal build
/// the same instructions.
#[derive(Clone, PartialEq, Eq)]
pub struct Block {
    ins: Vec<(SockFilter, To, To)>,
    labels: Vec<usize>,
    refuse: u32,
}

impl Block {
    /// A block whose `To::Deny(rule)` returns `RET_TRAP | rule`.
    pub fn new() -> Self {
        Self::refusing_with(RET_TRAP)
    }
    /// A block whose `To::Deny(rule)` returns `base | rule` (e.g. `RET_ERRNO` and an errno).
    pub fn refusing_with(base: u32) -> Self {
        Self { ins: Vec::new(), labels: Vec::new(), refuse: base }
    }
    /// Appends a statement.
    pub fn stmt(&mut self, s: SockFilter) -> &mut Self {
        self.ins.push((s, To::Next, To::Next));
        self
    }
    /// A = low 32 bits of syscall argument `i` (`struct seccomp_data`: args at 16). Every
    /// argument checked this way must be an `int` or `unsigned int` to the kernel (or one
    /// whose high half the kernel ignores).
    pub fn arg(&mut self, i: u32) -> &mut Self {
        self.stmt(stmt(LD_W_ABS, 16 + 8 * i))
    }
    /// A &= k.
    pub fn and(&mut self, k: u32) -> &mut Self {
        self.stmt(stmt(AND_K, k))
    }
    /// Goes to `jt` when A == k, else to `jf`.
    pub fn jeq(&mut self, k: u32, jt: To, jf: To) -> &mut Self {
        self.ins.push((jump(JEQ_K, k, 0, 0), jt, jf));
        self
    }
    /// Goes to `jt` when A & k != 0, else to `jf`.
    pub fn jset(&mut self, k: u32, jt: To, jf: To) -> &mut Self {
        self.ins.push((jump(JSET_K, k, 0, 0), jt, jf));
        self
    }
    /// Goes to `jt` when the jump `code` (e.g. [`JGE_K`]) holds for A and k, else to `jf`.
    pub fn cond(&mut self, code: u16, k: u32, jt: To, jf: To) -> &mut Self {
        self.ins.push((jump(code, k, 0, 0), jt, jf));
        self
    }
    /// Appends `other`'s instructions (its labels renumbered, still pointing into it): one
    /// program made of several blocks shares their `allow` and `deny` returns. Both blocks
    /// must refuse with the same base.
    pub fn splice(&mut self, other: Block) -> &mut Self {
        debug_assert_eq!(self.refuse, other.refuse);
        let (ins, labels) = (self.ins.len(), self.labels.len());
        let renumber = |t: To| match t {
            To::Label(i) => To::Label(i + labels),
            t => t,
        };
        for (f, jt, jf) in other.ins {
            self.ins.push((f, renumber(jt), renumber(jf)));
        }
        for l in other.labels {
            self.labels.push(if l == usize::MAX { l } else { l + ins });
        }
        self
    }
    /// Goes to `to` when A is one of `ks`, else on.
    pub fn one_of(&mut self, ks: &[u32], to: To) -> &mut Self {
        for &k in ks {
            self.jeq(k, to, To::Next);
        }
        self
    }
    /// Ends this path: run the call or refuse it.
    pub fn ret(&mut self, to: To) -> &mut Self {
        let s = match to {
            To::Allow => stmt(RET_K, RET_ALLOW),
            To::Deny(rule) => stmt(RET_K, self.refuse | rule),
            To::Next | To::Label(_) => unreachable!("a block ends in a return"),
        };
        self.stmt(s)
    }
    /// A new label, to be placed later.
    pub fn label(&mut self) -> To {
        self.labels.push(usize::MAX);
        To::Label(self.labels.len() - 1)
    }
    /// Places `l` at the next instruction.
    pub fn place(&mut self, l: To) -> &mut Self {
        if let To::Label(i) = l {
            self.labels[i] = self.ins.len();
        }
        self
    }
    /// The instructions, with one `allow` and one `deny` per rule appended for the jumps that
    /// go there; None when a jump does not fit in a u8 (a bug in the caller's tables).
    pub fn build(mut self) -> Option<Vec<SockFilter>> {
        let mut tails: Vec<To> = Vec::new();
        for &(_, jt, jf) in &self.ins {
            for t in [jt, jf] {
                if matches!(t, To::Allow | To::Deny(_)) && !tails.contains(&t) {
                    tails.push(t);
                }
            }
        }
        let body = self.ins.len();
        for &t in &tails {
            self.ret(t);
        }
        let target = |t: To, at: usize| -> Option<u8> {
            let dest = match t {
                To::Next => at + 1,
                To::Label(i) => self.labels[i],
                other => body + tails.iter().position(|&x| x == other).unwrap_or(0),
            };
            dest.checked_sub(at + 1).and_then(|d| u8::try_from(d).ok())
        };
        let mut out = Vec::with_capacity(self.ins.len());
        for (at, &(mut f, jt, jf)) in self.ins.iter().enumerate() {
            // Statements keep 0 (their targets are `Next`).
            f.jt = target(jt, at)?;
            f.jf = target(jf, at)?;
            out.push(f);
        }
        Some(out)
    }
}

impl Default for Block {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_are_appended_once_and_jumps_resolved() {
        let mut b = Block::new();
        let later = b.label();
        b.arg(0).jeq(7, later, To::Next).jeq(8, To::Allow, To::Deny(3));
        b.place(later).arg(1).jeq(9, To::Allow, To::Deny(3));
        let p = b.build().unwrap();
        // body: ld a0, jeq 7, jeq 8, ld a1, jeq 9; tails: allow, deny 3
        assert_eq!(p.len(), 7);
        assert_eq!(p[0], stmt(LD_W_ABS, 16));
        assert_eq!(p[1], jump(JEQ_K, 7, 1, 0)); // to the label (index 3)
        assert_eq!(p[2], jump(JEQ_K, 8, 2, 3)); // allow at 5, deny at 6
        assert_eq!(p[3], stmt(LD_W_ABS, 24));
        assert_eq!(p[4], jump(JEQ_K, 9, 0, 1));
        assert_eq!(p[5], stmt(RET_K, RET_ALLOW));
        assert_eq!(p[6], stmt(RET_K, RET_TRAP | 3));
    }

    #[test]
    fn refusals_use_the_block_base_and_long_jumps_are_refused() {
        let mut b = Block::refusing_with(RET_ERRNO);
        b.arg(0).jeq(1, To::Allow, To::Deny(1));
        assert_eq!(b.build().unwrap().last(), Some(&stmt(RET_K, RET_ERRNO | 1)));
        let mut long = Block::new();
        long.arg(0).jeq(1, To::Allow, To::Next);
        for _ in 0..300 {
            long.and(1);
        }
        long.ret(To::Deny(1));
        assert!(long.build().is_none(), "a jump over 300 instructions does not fit in a u8");
    }
}
