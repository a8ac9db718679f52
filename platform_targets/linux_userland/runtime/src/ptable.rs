//! The app's published process table, for /proc/PID of the app's other processes. Here every
//! process of the app is a host process with a library OS of its own, so none knows the others;
//! each publishes what /proc shows of it (pid, parent, name, arguments, memory) in a
//! `MAP_SHARED` anonymous region made at start and inherited by every fork, and reads the
//! others' records from it. Groups and sessions are asked of the host when read
//! (`litebox_libos::procfs::record`), so they are never stale.
//!
//! Who writes a slot: a fork child writes its own at once (a copy of its parent's with its new
//! pid), its parent writes it too if absent when the fork returns (so a `ps` the parent starts
//! next sees the child even before it ran), the process itself at each program load and
//! PR_SET_NAME, and at `exit_group` (state `Z` until reaped). A slot is freed when the parent
//! reaps the child, and by any reader that finds its pid gone on the host (`kill(pid, 0)`:
//! ESRCH), which covers processes killed by a signal and orphans the sandbox's init reaped.
//!
//! The region is the app's own memory on the host (a malicious app can write it, as it can
//! write anything of its runtime): readers bound every length they take from it, and what it
//! holds only ever reaches the app's own processes.
use alloc::vec::Vec;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use litebox_libos::procfs::ProcRecord;

use crate::sys;

const SLOTS: usize = 128;
const COMM_WORDS: usize = 2;
const CMD_WORDS: usize = 56;
/// /proc/PID/exe: paths up to 256 bytes (a longer one reads as unknown).
const EXE_WORDS: usize = 32;
const KILL: usize = 62;
const ESRCH: isize = -3;

/// One published process. `seq` is odd while its owner writes it (a seqlock).
#[repr(C)]
struct Slot {
    pid: AtomicI32,
    seq: AtomicU32,
    ppid: AtomicI32,
    state: AtomicU32,
    vsize: AtomicU64,
    rss: AtomicU64,
    comm_len: AtomicU32,
    cmd_len: AtomicU32,
    comm: [AtomicU64; COMM_WORDS],
    cmdline: [AtomicU64; CMD_WORDS],
    exe_len: AtomicU32,
    exe: [AtomicU64; EXE_WORDS],
}

/// The region: a lock for claiming slots, how many slots at the front were ever claimed, then
/// the slots. Slots are claimed first-free from the front and searched only up to `used`, so
/// the pages of slots never claimed are never touched (a shared anonymous page becomes
/// resident when read: scanning all 128 slots made ~100 KiB resident in every process).
#[repr(C)]
struct Region {
    lock: AtomicU32,
    used: AtomicU32,
    slots: [Slot; SLOTS],
}

/// The slots claimed so far (bounded: the app could write `used`).
fn claimed(r: &Region) -> &[Slot] {
    &r.slots[..(r.used.load(Ordering::Acquire) as usize).min(SLOTS)]
}

/// Address of the region (0: none, the platform then publishes nothing).
static REGION: AtomicUsize = AtomicUsize::new(0);

fn region() -> Option<&'static Region> {
    let at = REGION.load(Ordering::Relaxed);
    // SAFETY: a non-zero REGION is the start of the shared mapping made in `init`, as large as
    // a Region, never unmapped while REGION is set (the supervisor clears it first: detach;
    // reserved from the app's mappings by the guard); every field is an atomic, so concurrent
    // access by the app's processes is defined.
    (at != 0).then(|| unsafe { &*(at as *const Region) })
}

/// In the supervisor, before it unmaps the shared arena (`sys::unmap_shared_arena`): this
/// process no longer has the region.
pub fn detach() {
    REGION.store(0, Ordering::SeqCst);
}

/// Maps the shared region (zeroed: every slot free). Returns (address, length) for the guard,
/// or an errno.
pub fn init() -> Result<(usize, usize), i32> {
    let len = core::mem::size_of::<Region>().div_ceil(4096) * 4096;
    let at = sys::map_shared(len)?;
    REGION.store(at, Ordering::SeqCst);
    Ok((at, len))
}

/// Runs `f` with the claim lock held (a spin lock: it is held for a few loads and stores).
fn locked<T>(r: &Region, f: impl FnOnce() -> T) -> T {
    while r.lock.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
        core::hint::spin_loop();
    }
    let v = f();
    r.lock.store(0, Ordering::Release);
    v
}

/// The slot of `pid`, claimed from the free ones if it has none (None: the table is full).
/// `fresh` tells whether it was claimed now. Call with the lock held.
fn slot_of(r: &Region, pid: i32) -> Option<(&Slot, bool)> {
    if let Some(s) = claimed(r).iter().find(|s| s.pid.load(Ordering::Acquire) == pid) {
        return Some((s, false));
    }
    let s = match claimed(r).iter().find(|s| s.pid.load(Ordering::Acquire) == 0) {
        Some(s) => s,
        None => {
            let n = claimed(r).len();
            let s = r.slots.get(n)?;
            s.pid.store(pid, Ordering::Release);
            r.used.store(n as u32 + 1, Ordering::Release);
            return Some((s, true));
        }
    };
    s.pid.store(pid, Ordering::Release);
    Some((s, true))
}

fn pack(words: &[AtomicU64], bytes: &[u8]) -> u32 {
    let n = bytes.len().min(words.len() * 8);
    for (i, w) in words.iter().enumerate() {
        let mut v = [0u8; 8];
        let lo = (i * 8).min(n);
        let hi = (i * 8 + 8).min(n);
        v[..hi - lo].copy_from_slice(&bytes[lo..hi]);
        w.store(u64::from_le_bytes(v), Ordering::Relaxed);
    }
    n as u32
}

fn unpack(words: &[AtomicU64], len: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for w in words {
        out.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
    }
    out.truncate((len as usize).min(words.len() * 8));
    out
}

/// Writes `rec` (its pid taken as the slot's) into `s`.
fn write(s: &Slot, rec: &ProcRecord) {
    s.seq.fetch_add(1, Ordering::AcqRel);
    s.ppid.store(rec.ppid, Ordering::Relaxed);
    s.state.store(rec.state as u32, Ordering::Relaxed);
    s.vsize.store(rec.vsize, Ordering::Relaxed);
    s.rss.store(rec.rss, Ordering::Relaxed);
    s.comm_len.store(pack(&s.comm, &rec.comm), Ordering::Relaxed);
    s.cmd_len.store(pack(&s.cmdline, &rec.cmdline), Ordering::Relaxed);
    let exe: &[u8] = if rec.exe.len() <= EXE_WORDS * 8 { &rec.exe } else { &[] };
    s.exe_len.store(pack(&s.exe, exe), Ordering::Relaxed);
    s.seq.fetch_add(1, Ordering::AcqRel);
}

/// A consistent copy of `s` (None: free, or changed under us too often).
fn read(s: &Slot) -> Option<ProcRecord> {
    for _ in 0..64 {
        let before = s.seq.load(Ordering::Acquire);
        let pid = s.pid.load(Ordering::Acquire);
        if pid <= 0 {
            return None;
        }
        let rec = ProcRecord {
            pid,
            ppid: s.ppid.load(Ordering::Relaxed),
            pgid: pid,
            sid: pid,
            state: match s.state.load(Ordering::Relaxed) {
                0x5a => b'Z',
                0x54 => b'T',
                _ => b'S',
            },
            comm: unpack(&s.comm, s.comm_len.load(Ordering::Relaxed)),
            cmdline: unpack(&s.cmdline, s.cmd_len.load(Ordering::Relaxed)),
            exe: unpack(&s.exe, s.exe_len.load(Ordering::Relaxed)),
            vsize: s.vsize.load(Ordering::Relaxed),
            rss: s.rss.load(Ordering::Relaxed),
            threads: 1,
        };
        if before.is_multiple_of(2) && s.seq.load(Ordering::Acquire) == before {
            return Some(rec);
        }
        core::hint::spin_loop();
    }
    None
}

/// Publishes this process's record (its program load, PR_SET_NAME).
pub fn publish(rec: &ProcRecord) {
    let Some(r) = region() else { return };
    if let Some((s, _)) = locked(r, || slot_of(r, rec.pid)) {
        let mut rec = rec.clone();
        rec.state = b'S';
        write(s, &rec);
    }
}

/// The slot `pid` holds, if any (read without the claim lock: a slot's pid changes only under
/// it, and a stale answer is rechecked by the caller's seqlock read).
fn find(r: &Region, pid: i32) -> Option<&Slot> {
    claimed(r).iter().find(|s| s.pid.load(Ordering::Acquire) == pid)
}

/// Copies `src`'s record into `dst` (whose pid is already `dst`'s own) with `ppid` as its
/// parent and state `S`, word by word: no heap allocation, so a fork touches no heap page
/// for it (each page either process writes after a fork costs a copy-on-write fault). When
/// `src` is free or kept changing, `dst` is left with the parent and no name.
// Runs in every fork child: with `signals::host_fork`, in the window of code a fork child
// faults in first (`litebox_libos::shim::exec::fork` says why).
#[link_section = ".text"]
fn copy_slot(src: &Slot, dst: &Slot, ppid: i32) {
    fn copy_words(from: &[AtomicU64], to: &[AtomicU64]) {
        for (f, t) in from.iter().zip(to) {
            t.store(f.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }
    for _ in 0..64 {
        let before = src.seq.load(Ordering::Acquire);
        if src.pid.load(Ordering::Acquire) <= 0 {
            break;
        }
        if before.is_multiple_of(2) {
            dst.seq.fetch_add(1, Ordering::AcqRel);
            dst.ppid.store(ppid, Ordering::Relaxed);
            dst.state.store(b'S' as u32, Ordering::Relaxed);
            dst.vsize.store(src.vsize.load(Ordering::Relaxed), Ordering::Relaxed);
            dst.rss.store(src.rss.load(Ordering::Relaxed), Ordering::Relaxed);
            dst.comm_len.store(src.comm_len.load(Ordering::Relaxed), Ordering::Relaxed);
            dst.cmd_len.store(src.cmd_len.load(Ordering::Relaxed), Ordering::Relaxed);
            dst.exe_len.store(src.exe_len.load(Ordering::Relaxed), Ordering::Relaxed);
            copy_words(&src.comm, &dst.comm);
            copy_words(&src.cmdline, &dst.cmdline);
            copy_words(&src.exe, &dst.exe);
            dst.seq.fetch_add(1, Ordering::AcqRel);
            if src.seq.load(Ordering::Acquire) == before {
                return;
            }
        }
        core::hint::spin_loop();
    }
    dst.seq.fetch_add(1, Ordering::AcqRel);
    dst.ppid.store(ppid, Ordering::Relaxed);
    dst.state.store(b'S' as u32, Ordering::Relaxed);
    for len in [&dst.comm_len, &dst.cmd_len, &dst.exe_len] {
        len.store(0, Ordering::Relaxed);
    }
    dst.seq.fetch_add(1, Ordering::AcqRel);
}

/// In a fork child `child` of `parent`: its slot becomes a copy of the parent's (overwriting
/// whatever a dead process with the same pid left).
pub fn forked_child(parent: i32, child: i32) {
    let Some(r) = region() else { return };
    let Some(src) = find(r, parent) else { return };
    if let Some((s, _)) = locked(r, || slot_of(r, child)) {
        copy_slot(src, s, parent);
    }
}

/// In the parent after a fork returned `child`: the child's slot, unless it made it already.
pub fn forked_parent(parent: i32, child: i32) {
    let Some(r) = region() else { return };
    // The child usually made its slot already: then the claim lock is not taken at all.
    if find(r, child).is_some() {
        return;
    }
    let Some(src) = find(r, parent) else { return };
    if let Some((s, true)) = locked(r, || slot_of(r, child)) {
        copy_slot(src, s, parent);
    }
}

/// This process is ending: a zombie until its parent reaps it.
// `.text`, with the fork path: a fork child's exit runs it (test_e2e_fork_faults.py).
#[link_section = ".text"]
pub fn exiting(pid: i32) {
    set_state(pid, b'Z');
}

/// Records `pid`'s state: `T` when its parent's wait reported it stopped, `S` when continued
/// (a wait report or a SIGCONT sent to it), `Z` when it is ending.
pub fn set_state(pid: i32, state: u8) {
    let Some(r) = region() else { return };
    if let Some(s) = claimed(r).iter().find(|s| s.pid.load(Ordering::Acquire) == pid) {
        if s.state.load(Ordering::Relaxed) == b'Z' as u32 {
            return;
        }
        s.seq.fetch_add(1, Ordering::AcqRel);
        s.state.store(state as u32, Ordering::Relaxed);
        s.seq.fetch_add(1, Ordering::AcqRel);
    }
}

/// `pid` was reaped (or is gone): its slot is free.
pub fn gone(pid: i32) {
    let Some(r) = region() else { return };
    locked(r, || {
        if let Some(s) = claimed(r).iter().find(|s| s.pid.load(Ordering::Acquire) == pid) {
            s.pid.store(0, Ordering::Release);
        }
    });
}

/// Every published process that still exists on the host (slots of vanished pids are freed).
pub fn all() -> Vec<ProcRecord> {
    let Some(r) = region() else { return Vec::new() };
    let mut out = Vec::new();
    // The caller's own record needs no probe: it runs (python3 -c pass asked 6 times, each a
    // host `kill(pid, 0)` on its own pid, when it was the only process).
    let me = crate::host::cached_pid();
    for s in claimed(r).iter() {
        let Some(rec) = read(s) else { continue };
        if rec.pid != me && sys::syscall3(KILL, rec.pid as usize, 0, 0) == ESRCH {
            gone(rec.pid);
            continue;
        }
        out.push(rec);
    }
    out
}
