//! The gate program's previous layout (the generator of commit 364c9bc: a balanced binary
//! search over runs of numbers, up to four items to a leaf, the argument blocks inline), fed
//! with the current allow-list: tests/gate_filter.rs checks that the window layout of
//! src/gatefilter.rs decides every call as this one does.
use super::gatefilter::{gate_list, Check, FilterError, Finish, Shape, RULE_NOT_LISTED};
use litebox_confine::bpf::{
    deny, jump, stmt, Block, SockFilter, AUDIT_ARCH_X86_64, JEQ_K, JGE_K, LD_W_ABS, RET_ALLOW, RET_K, RET_KILL_PROCESS,
    RET_TRAP,
};
use Check::{Any, Args};

/// BPF_JMP | BPF_JA.
pub const JA: u16 = 0x05;

const LEAF: usize = 4;

/// One step of the search: a run of consecutive numbers allowed with any arguments, or one
/// number whose arguments are checked. Runs keep the program short (the kernel checks and
/// JIT-compiles it at every start, in time linear in its length).
#[derive(Clone, Copy)]
enum Item {
    /// `lo..=hi`, each allowed with any arguments.
    Run(u32, u32),
    /// One number and its argument check.
    Checked(u32, fn(Shape) -> Block),
}

impl Item {
    fn first(self) -> u32 {
        match self {
            Item::Run(lo, _) | Item::Checked(lo, _) => lo,
        }
    }
}

/// `entries` (sorted by number, distinct) as items: consecutive `Any` numbers merge into one
/// run.
fn items(entries: &[(u32, Check)]) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    for &(nr, check) in entries {
        match (check, out.last_mut()) {
            (Any, Some(Item::Run(_, hi))) if hi.checked_add(1) == Some(nr) => *hi = nr,
            (Any, _) => out.push(Item::Run(nr, nr)),
            (Args(f), _) => out.push(Item::Checked(nr, f)),
        }
    }
    out
}

/// Appends `code` to `out` as a BPF jump over the `over` instructions that follow it when
/// the loaded value is >= `k` (right half), else falls through (left half). A skip that does
/// not fit in the u8 offset goes through an unconditional `JA`.
fn split(out: &mut Vec<SockFilter>, k: u32, over: usize) -> Result<(), FilterError> {
    match u8::try_from(over) {
        Ok(o) => out.push(jump(JGE_K, k, o, 0)),
        Err(_) => {
            let far = u32::try_from(over).map_err(|_| b"seccomp: the gate filter is too long".as_slice())?;
            out.push(jump(JGE_K, k, 0, 1));
            out.push(stmt(JA, far));
        }
    }
    Ok(())
}

/// A leaf: its items tested in order, then [`RULE_NOT_LISTED`], then the one `allow` every
/// run of the leaf jumps to (a run of one number is one compare; a longer run two: below its
/// first number the next item is tried, at or above its first and below its end it is
/// allowed).
fn leaf(items: &[Item], shape: Shape) -> Result<Vec<SockFilter>, FilterError> {
    let far = |_| b"seccomp: a jump of the gate filter's leaf is out of range".as_slice();
    let mut out: Vec<SockFilter> = Vec::new();
    // Jumps to the shared allow, patched once its place is known: (index, in jt or jf).
    let mut to_allow: Vec<(usize, bool)> = Vec::new();
    for &item in items {
        match item {
            Item::Run(lo, hi) if lo == hi => {
                to_allow.push((out.len(), true));
                out.push(jump(JEQ_K, lo, 0, 0));
            }
            Item::Run(lo, hi) => {
                out.push(jump(JGE_K, lo, 0, 1));
                to_allow.push((out.len(), false));
                let end = hi.checked_add(1).ok_or(b"seccomp: a run of the gate filter ends past u32".as_slice())?;
                out.push(jump(JGE_K, end, 0, 0));
            }
            Item::Checked(nr, f) => {
                // The block ends in a return on every path, so A (nr) need not be reloaded.
                let block = f(shape).finish()?;
                let len = u8::try_from(block.len())
                    .map_err(|_| b"seccomp: a checked syscall's block is too long".as_slice())?;
                out.push(jump(JEQ_K, nr, 0, len));
                out.extend_from_slice(&block);
            }
        }
    }
    out.push(deny(RULE_NOT_LISTED));
    let allow = out.len();
    out.push(stmt(RET_K, RET_ALLOW));
    for (at, jt) in to_allow {
        let off = u8::try_from(allow - at - 1).map_err(far)?;
        if jt {
            out[at].jt = off;
        } else {
            out[at].jf = off;
        }
    }
    Ok(out)
}

/// The binary search over `items` (sorted, disjoint), with the syscall number in A: every
/// path ends in a return (allow, the call's argument rule, or [`RULE_NOT_LISTED`]).
fn search(items: &[Item], shape: Shape) -> Result<Vec<SockFilter>, FilterError> {
    if items.len() <= LEAF {
        return leaf(items, shape);
    }
    let mid = items.len() / 2;
    let left = search(&items[..mid], shape)?;
    let right = search(&items[mid..], shape)?;
    let mut out = Vec::new();
    split(&mut out, items[mid].first(), left.len())?;
    out.extend(left);
    out.extend(right);
    Ok(out)
}

/// The gate's allow-list sorted by syscall number, for [`search`]. Two entries for one
/// number would make the list ambiguous: an error.
fn sorted_gate(shape: Shape) -> Result<Vec<(u32, Check)>, FilterError> {
    let mut v = gate_list(shape);
    v.sort_by_key(|e| e.0);
    if v.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(b"seccomp: a syscall is listed twice in the gate allow-list");
    }
    Ok(v)
}

/// The whole BPF program for a gate whose `syscall` instruction returns to `gate`, in a
/// sandbox of this `shape`. Promises: a call from anywhere but the gate traps with data 0;
/// from the gate, the calls of [`GATE`] run when their argument rule holds and every other
/// call traps with a non-zero rule number; a foreign architecture or an x32 number kills.
pub fn program(gate: u64, shape: Shape) -> Result<Vec<SockFilter>, FilterError> {
    let mut p = alloc::vec![
        stmt(LD_W_ABS, 4), // arch
        jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, 0),              // nr
        jump(JGE_K, 0x4000_0000, 0, 1), // x32 ABI
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, 8), // instruction_pointer, low word
        jump(JEQ_K, gate as u32, 1, 0),
        stmt(RET_K, RET_TRAP), // layer 1: the app's syscall, emulated
        stmt(LD_W_ABS, 12),    // high word
        jump(JEQ_K, (gate >> 32) as u32, 1, 0),
        stmt(RET_K, RET_TRAP),
        stmt(LD_W_ABS, 0), // layer 2: the gate's allow-list
    ];
    p.extend(search(&items(&sorted_gate(shape)?), shape)?);
    if p.len() > usize::from(u16::MAX) {
        return Err(b"seccomp: the gate filter is too long");
    }
    Ok(p)
}
