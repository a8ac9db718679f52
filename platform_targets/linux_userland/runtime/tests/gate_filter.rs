//! The gate's BPF program (src/gatefilter.rs), run by a small classic-BPF interpreter over a
//! table of system calls and arguments: the window layout must decide every call exactly as
//! the previous layout (tests/reference/, the binary search over runs) and a linear reading of
//! the same allow-list (the program's shape before any search) do, and the decisions that
//! matter for escape are spelled out.
extern crate alloc;

#[path = "../src/gatefilter.rs"]
#[allow(dead_code)]
mod gatefilter;

#[path = "reference/gatefilter_364c9bc.rs"]
#[allow(dead_code)]
mod old;

use gatefilter::*;
use litebox_confine::bpf::{jump, JEQ_K, JSET_K, RET_ALLOW, RET_TRAP};
use old::JA;

/// `struct seccomp_data` as the kernel lays it out.
struct Data {
    nr: u32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

impl Data {
    fn word(&self, off: u32) -> u32 {
        match off {
            0 => self.nr,
            4 => self.arch,
            8 => self.ip as u32,
            12 => (self.ip >> 32) as u32,
            o if (16..64).contains(&o) && o % 4 == 0 => {
                let a = self.args[((o - 16) / 8) as usize];
                if o % 8 == 0 {
                    a as u32
                } else {
                    (a >> 32) as u32
                }
            }
            o => panic!("load outside seccomp_data: {o}"),
        }
    }
}

/// Runs `prog` on `d` as the kernel would (the opcodes the generator uses); panics on a jump
/// out of the program or a path that does not return.
fn run(prog: &[SockFilter], d: &Data) -> u32 {
    run_counting(prog, d).0
}

/// [`run`], and the number of instructions it ran.
fn run_counting(prog: &[SockFilter], d: &Data) -> (u32, usize) {
    let (mut a, mut x, mut pc, mut n) = (0u32, 0u32, 0usize, 0usize);
    loop {
        let f = prog.get(pc).unwrap_or_else(|| panic!("ran off the program at {pc}"));
        pc += 1;
        n += 1;
        let cond = |c: bool| usize::from(if c { f.jt } else { f.jf });
        match f.code {
            LD_W_ABS => a = d.word(f.k),
            AND_K => a &= f.k,
            LD_IMM => a = f.k,
            TAX => x = a,
            TXA => a = x,
            // The kernel's 32-bit shift; the program only shifts by nr % 32.
            LSH_X => a = a.checked_shl(x).unwrap_or_else(|| panic!("shift by {x}")),
            RET_K => return (f.k, n),
            JA => pc += f.k as usize,
            JEQ_K => pc += cond(a == f.k),
            JGE_K => pc += cond(a >= f.k),
            JSET_K => pc += cond(a & f.k != 0),
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

/// The allow-list read linearly, one compare per entry in the list's order: the shape of the
/// program before it became a search, kept here as the reference.
fn linear(gate: u64, shape: Shape) -> Vec<SockFilter> {
    // Architecture, x32, instruction pointer, reload of nr.
    let mut p = vec![
        stmt(LD_W_ABS, 4),
        jump(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, 0),
        jump(JGE_K, 0x4000_0000, 0, 1),
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, 8),
        jump(JEQ_K, gate as u32, 1, 0),
        stmt(RET_K, RET_TRAP),
        stmt(LD_W_ABS, 12),
        jump(JEQ_K, (gate >> 32) as u32, 1, 0),
        stmt(RET_K, RET_TRAP),
        stmt(LD_W_ABS, 0),
    ];
    for (nr, check) in gate_list(shape) {
        match check {
            Check::Any => {
                p.push(SockFilter { code: JEQ_K, jt: 0, jf: 1, k: nr });
                p.push(SockFilter { code: RET_K, jt: 0, jf: 0, k: RET_ALLOW });
            }
            Check::Args(f) => {
                let block = f(shape).finish().expect("block");
                p.push(SockFilter { code: JEQ_K, jt: 0, jf: block.len() as u8, k: nr });
                p.extend(block);
            }
        }
    }
    p.push(SockFilter { code: RET_K, jt: 0, jf: 0, k: RET_TRAP | RULE_NOT_LISTED });
    p
}

const GATE_IP: u64 = 0x7e00_0000_1234;

/// Argument values that the rules single out, their neighbours, and flags combined.
const VALUES: &[u64] = &[
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    31,
    32,
    36,
    37,
    38,
    39,
    1030,
    1031,
    0x5401,
    0x5412,
    0x5413,
    0x540f,
    0x5410,
    0x541b,
    0x541c,
    0x1001,
    0x1002,
    0x1003,
    0x1004,
    0x8000,
    0x0002_0000,
    0x1000_0000,
    0x4000_0000,
    0x2000_0000,
    0o4000 | 1,
    0o2000000 | 5,
    0o4000 | 2,
    0o100,
    0o1000,
    0o2000,
    0o20000000,
    0o010000,
    0o010644,
    0o020644,
    0o060000,
    0o100644,
    0o140000,
    0o170000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0001,
    0x1_0000_0000,
    0xffff_ffff_0000_0000,
];

fn data(nr: u32, ip: u64, args: [u64; 6]) -> Data {
    Data { nr, arch: AUDIT_ARCH_X86_64, ip, args }
}

/// Every syscall number up to 600 and a few beyond, each with every argument position
/// taking each of [`VALUES`] (others 0) and the socket-shaped combinations.
fn cases() -> Vec<(u32, [u64; 6])> {
    let mut v = Vec::new();
    let nrs = (0..600u32).chain([1000, 0x3fff_ffff, 0x4000_0000, 0x4000_0001, 0xffff_ffff]);
    for nr in nrs {
        v.push((nr, [0; 6]));
        for i in 0..4 {
            for &x in VALUES {
                let mut a = [0u64; 6];
                a[i] = x;
                v.push((nr, a));
            }
        }
        for &t in VALUES {
            for p in [0, 1] {
                v.push((nr, [1, t, p, 0, 0, 0]));
            }
        }
    }
    v
}

#[test]
fn windows_decide_every_call_as_the_previous_search_and_the_linear_list_do() {
    for private_root in [false, true] {
        let shape = Shape { private_root };
        let fast = program(GATE_IP, shape).expect("program");
        let prev = old::program(GATE_IP, shape).expect("previous program");
        let slow = linear(GATE_IP, shape);
        let mut allowed = 0;
        let ips = [GATE_IP, GATE_IP + 1, GATE_IP - 1, GATE_IP ^ (1 << 32), GATE_IP & 0xffff_ffff, 0x401000];
        for (nr, args) in cases() {
            for ip in ips {
                let d = data(nr, ip, args);
                let (f, p, s) = (run(&fast, &d), run(&prev, &d), run(&slow, &d));
                assert_eq!(f, p, "nr {nr} ip {ip:#x} args {args:x?} private_root {private_root}");
                assert_eq!(f, s, "nr {nr} ip {ip:#x} args {args:x?} private_root {private_root}");
                allowed += usize::from(f == RET_ALLOW);
            }
        }
        assert!(allowed > 0);
        // A foreign architecture or the x32 bit kills, from the gate or not, whatever the number.
        for arch in [0x4000_0003, 0xc000_00b7, AUDIT_ARCH_X86_64 ^ 1] {
            for nr in [0, 1, 59, 202, 0x4000_0001] {
                for ip in ips {
                    let d = Data { nr, arch, ip, args: [0; 6] };
                    assert_eq!(run(&fast, &d), RET_KILL_PROCESS);
                    assert_eq!(run(&prev, &d), RET_KILL_PROCESS);
                }
            }
        }
    }
}

#[test]
fn the_window_layout_is_shorter() {
    for private_root in [false, true] {
        let shape = Shape { private_root };
        let (new, prev) = (program(GATE_IP, shape).unwrap(), old::program(GATE_IP, shape).unwrap());
        eprintln!("private_root {private_root}: {} instructions (previous layout {})", new.len(), prev.len());
        assert!(new.len() < prev.len());
        // Instructions run per call, for the bench write-up (read, write, mmap, pread64, futex,
        // clock_gettime, fcntl, openat).
        for nr in [0, 1, 9, 17, 202, 228, 72, 257] {
            let d = data(nr, GATE_IP, [0; 6]);
            eprintln!("  nr {nr}: {} (previous {})", run_counting(&new, &d).1, run_counting(&prev, &d).1);
        }
    }
}

#[test]
fn every_listed_call_is_allowed_and_unlisted_ones_trap_with_a_rule() {
    let fast = program(GATE_IP, Shape { private_root: false }).expect("program");
    for &(nr, check) in GATE {
        if let Check::Any = check {
            assert_eq!(run(&fast, &data(nr, GATE_IP, [0; 6])), RET_ALLOW, "nr {nr}");
        }
    }
    // mount, ptrace, reboot, clone3, connect, bind, execve: not on the list.
    for nr in [165, 101, 169, 435, 42, 49, 59] {
        assert_eq!(run(&fast, &data(nr, GATE_IP, [0; 6])), RET_TRAP | RULE_NOT_LISTED, "nr {nr}");
    }
    // The app's own calls trap with data 0; x32 numbers kill.
    assert_eq!(run(&fast, &data(1, 0x401000, [0; 6])), RET_TRAP);
    assert_eq!(run(&fast, &data(0x4000_0001, GATE_IP, [0; 6])), RET_KILL_PROCESS);
}

#[test]
fn argument_rules_hold_inside_the_search() {
    let fast = program(GATE_IP, Shape { private_root: false }).expect("program");
    let at = |nr, args| run(&fast, &data(nr, GATE_IP, args));
    assert_eq!(at(16, [0, 0x5412, 0, 0, 0, 0]), RET_TRAP | RULE_IOCTL); // TIOCSTI
    assert_eq!(at(16, [0, 0x5401, 0, 0, 0, 0]), RET_ALLOW); // TCGETS
    assert_eq!(at(56, [0x1000_0000, 0, 0, 0, 0, 0]), RET_TRAP | RULE_CLONE_NS); // CLONE_NEWUSER
    assert_eq!(at(56, [0x8000, 0, 0, 0, 0, 0]), RET_TRAP | RULE_CLONE_PARENT);
    assert_eq!(at(41, [2, 1, 0, 0, 0, 0]), RET_TRAP | RULE_SOCKET); // AF_INET
    assert_eq!(at(41, [1, 2, 0, 0, 0, 0]), RET_TRAP | RULE_SOCKET); // datagram, no private root
    assert_eq!(at(41, [1, 0o2000000 | 5, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(at(257, [0, 0, 0o100, 0, 0, 0]), RET_TRAP | RULE_OPEN_WRITE);
    assert_eq!(at(13, [31, 0, 0, 0, 0, 0]), RET_TRAP | RULE_SIGACTION);
    assert_eq!(at(44, [0, 0, 0, 0x2000_0000, 0, 0]), RET_TRAP | RULE_FASTOPEN);
    assert_eq!(at(302, [0, 0, 0x1000, 0, 0, 0]), RET_ALLOW); // own RLIMIT_CPU
    assert_eq!(at(302, [1, 0, 0x1000, 0, 0, 0]), RET_TRAP | RULE_PRLIMIT); // pid 1
    assert_eq!(at(302, [0, 7, 0x1000, 0, 0, 0]), RET_TRAP | RULE_PRLIMIT); // RLIMIT_NOFILE
    assert_eq!(at(302, [0, 6, 0, 0x1000, 0, 0]), RET_TRAP | RULE_PRLIMIT); // RLIMIT_NPROC, read
    let private = program(GATE_IP, Shape { private_root: true }).expect("program");
    assert_eq!(run(&private, &data(41, GATE_IP, [1, 2, 0, 0, 0, 0])), RET_ALLOW);
}

#[test]
fn common_calls_decide_in_a_few_instructions() {
    // The longest path through the search: instructions run before a decision, counted by
    // the interpreter over every listed number (the linear list ran through up to ~280).
    let fast = program(GATE_IP, Shape { private_root: false }).expect("program");
    let steps = |d: &Data| run_counting(&fast, d).1;
    let worst = GATE.iter().map(|&(nr, _)| steps(&data(nr, GATE_IP, [0; 6]))).max().unwrap();
    assert!(worst <= 40, "longest decision path {worst} instructions");
}

#[test]
fn the_program_stays_short() {
    // The kernel checks and JIT-compiles the program at every start, in time linear in its
    // length (~0.1 µs an instruction on the development machine: 429 instructions took 61 µs
    // to install, 230 take 41 µs; bench/RESULTS-issue17-pid1.md). One mask per window of 32
    // numbers, shared argument blocks and shared returns keep it well under that.
    for private_root in [false, true] {
        let p = program(GATE_IP, Shape { private_root }).expect("program");
        let listed = gate_list(Shape { private_root }).len();
        assert!(p.len() <= 160, "the gate program has {} instructions for {listed} calls", p.len());
    }
}

/// With `GATE_FILTER_DUMP=DIR`, writes both layouts' programs (private root, this test's gate
/// address) as raw `struct sock_filter` arrays, for bench/src/seccomp_install.c.
#[test]
fn dump_programs_for_the_install_bench() {
    let Some(dir) = std::env::var_os("GATE_FILTER_DUMP") else { return };
    let shape = Shape { private_root: true };
    for (name, p) in [("new", program(GATE_IP, shape).unwrap()), ("old", old::program(GATE_IP, shape).unwrap())] {
        let bytes: Vec<u8> = p
            .iter()
            .flat_map(|f| {
                let mut b = f.code.to_ne_bytes().to_vec();
                b.extend([f.jt, f.jf]);
                b.extend(f.k.to_ne_bytes());
                b
            })
            .collect();
        std::fs::write(std::path::Path::new(&dir).join(format!("gate-{name}.bpf")), bytes).unwrap();
    }
}

/// build.rs's prebuilt programs (`$OUT_DIR/gate_programs.rs`), as seccomp.rs reads them.
mod generated {
    use super::gatefilter::SockFilter;
    include!(concat!(env!("OUT_DIR"), "/gate_programs.rs"));
}

/// What seccomp.rs's `patched` does: the prebuilt program of the shape, the gate's address in
/// its two words.
fn prebuilt(gate: u64, private_root: bool) -> Vec<SockFilter> {
    let mut p = if private_root {
        generated::GATE_PROGRAM_PRIVATE_ROOT.to_vec()
    } else {
        generated::GATE_PROGRAM_HOST_ROOT.to_vec()
    };
    p[generated::GATE_WORD_LO].k = gate as u32;
    p[generated::GATE_WORD_HI].k = (gate >> 32) as u32;
    p
}

#[test]
fn the_prebuilt_program_with_the_gate_filled_in_is_the_builders() {
    // The runtime installs the program build.rs made for address 0 with the address filled in
    // (the app's first process no longer builds it at start-up): it must be the builder's
    // program for every address and both shapes, instruction for instruction.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut gates = vec![0, 1, GATE_IP, u64::MAX, 0xffff_ffff, 0xffff_ffff_0000_0000, 0x7fff_ffff_f000];
    for _ in 0..64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        gates.push(x & 0x7fff_ffff_ffff);
    }
    for private_root in [false, true] {
        for &gate in &gates {
            let built = program(gate, Shape { private_root }).expect("program");
            assert_eq!(prebuilt(gate, private_root), built, "gate {gate:#x}, private root {private_root}");
        }
    }
    // And it decides as the builder's does for a gate address the runtime could have.
    for private_root in [false, true] {
        let (p, built) = (prebuilt(GATE_IP, private_root), program(GATE_IP, Shape { private_root }).unwrap());
        for (nr, args) in cases() {
            for ip in [GATE_IP, GATE_IP + 1, 0x40_1000] {
                let d = data(nr, ip, args);
                assert_eq!(run(&p, &d), run(&built, &d));
            }
        }
    }
}

#[test]
fn the_program_first_loads_the_instruction_pointer() {
    // The kernel emulates a new filter for every syscall number of each architecture at install
    // and stops at the first load of anything but the number or the architecture: a first load
    // of the instruction pointer (which decides nothing: the next load replaces it) ends every
    // one of those runs at once (docs/security.md, layer 3).
    for private_root in [false, true] {
        let p = program(GATE_IP, Shape { private_root }).expect("program");
        assert_eq!(p[0], stmt(LD_W_ABS, 8));
        assert_eq!(p[1], stmt(LD_W_ABS, 4));
    }
}
