//! Raw host syscalls through the gate: the one `syscall` instruction of the process that the
//! seccomp filter lets through. Every host call the runtime makes goes through [`syscall6`].
use core::arch::global_asm;

// The gate, and the window gate: the host call of a blocking call's window
// (`signals::blocking`), which a signal for an app handler cuts short before it has any
// effect. The wrapper that defers such a signal marks the window cut (`FastData::window`); a
// call that sees the mark here takes the skip, which returns -ERESTARTSYS without reaching
// the host, and the wrapper
// moves a thread stopped between the check and the gate's `syscall` (or at it: not yet made,
// or rewound by the kernel to be restarted) to the skip itself (fastpath.rs `cut_window`). The
// window gate's syscall is the gate's own instruction, so the seccomp filter sees the one call
// site it allows.
global_asm!(
    // The C ABI's arguments (nr, a0..a5; a5 on the stack) moved to the syscall's registers.
    ".macro litebox_gate_args",
    "    mov rax, rdi",
    "    mov rdi, rsi",
    "    mov rsi, rdx",
    "    mov rdx, rcx",
    "    mov r10, r8",
    "    mov r8, r9",
    "    mov r9, [rsp + 8]",
    ".endm",
    ".globl litebox_gate",
    ".type litebox_gate,@function",
    "litebox_gate:",
    "    litebox_gate_args",
    ".globl litebox_gate_syscall",
    "litebox_gate_syscall:",
    "    syscall",
    ".globl litebox_gate_ret",
    "litebox_gate_ret:",
    "    ret",
    // The signal restorer: rt_sigreturn through the gate (the frame is at rsp).
    ".globl litebox_restorer",
    ".type litebox_restorer,@function",
    "litebox_restorer:",
    "    mov eax, 15",
    "    jmp litebox_gate_syscall",
    ".globl litebox_window_gate",
    ".type litebox_window_gate,@function",
    "litebox_window_gate:",
    "    litebox_gate_args",
    ".globl litebox_window_check",
    "litebox_window_check:",
    "    cmp dword ptr gs:[{window}], {cut}",
    "    je litebox_window_skip",
    "    call litebox_gate_syscall",
    ".globl litebox_window_after",
    "litebox_window_after:",
    "    ret",
    ".globl litebox_window_skip",
    "litebox_window_skip:",
    "    mov rax, {restart}",
    "    ret",
    window = const crate::fastpath::FAST_DATA_WINDOW,
    cut = const crate::fastpath::WINDOW_CUT,
    restart = const -(litebox_libos::errno::ERESTARTSYS as isize),
);

extern "C" {
    fn litebox_window_gate(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> isize;
    /// The window gate's check of the cut mark: from here to [`litebox_window_after`] the
    /// host call is not made yet.
    pub fn litebox_window_check();
    /// The return address of the window gate's call of the gate's `syscall`.
    pub fn litebox_window_after();
    /// Where a cut window's host call returns -ERESTARTSYS instead.
    pub fn litebox_window_skip();
    /// The gate's `syscall` instruction.
    pub fn litebox_gate_syscall();
    fn litebox_gate(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> isize;
    /// The address right after the gate's `syscall`: what seccomp sees as the call site.
    pub fn litebox_gate_ret();
    /// Restorer for every signal handler the runtime installs on the host.
    pub fn litebox_restorer();
}

/// Host syscall `nr` with six arguments; returns the raw result (negative errno on failure).
/// In an app process it first passes the effect gate (`parcheck::gate`): a call that could have
/// an effect outside the sandbox waits until every deferred chunk check is good.
#[inline]
pub fn syscall6(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> isize {
    crate::parcheck::gate(nr, [a0, a1, a2, a3, a4, a5]);
    raw6(nr, a0, a1, a2, a3, a4, a5)
}

/// Host syscall `nr` without the effect gate: for the gate itself (its checks and its exit on
/// a bad chunk) only.
#[inline]
pub fn raw6(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> isize {
    // SAFETY: the gate is a plain syscall trampoline; what the call does to memory is the
    // caller's contract with the kernel, and every caller passes valid pointers for its call.
    unsafe { litebox_gate(nr, a0, a1, a2, a3, a4, a5) }
}

/// The host call of a blocking call's window (inside [`crate::signals::blocking`] or
/// [`crate::fastpath::open_window`]): as [`syscall6`], but a signal for an app handler that
/// comes before the call has had any effect makes it return -ERESTARTSYS without effect, and
/// one that comes while it waits ends it as the host ends it (EINTR, or -ERESTARTSYS where the
/// kernel would restart it). The app's call's exit then runs the handler and serves the call
/// again or returns EINTR (`fastpath::restart_after_handlers`). Only for the one host call a
/// window waits in.
#[inline]
pub fn window_syscall6(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> isize {
    crate::parcheck::gate(nr, [a0, a1, a2, a3, a4, a5]);
    // SAFETY: as in `raw6`: the window gate is the gate's trampoline with a check in front.
    unsafe { litebox_window_gate(nr, a0, a1, a2, a3, a4, a5) }
}

/// [`window_syscall6`] with up to three arguments.
#[inline]
pub fn window_syscall3(nr: usize, a0: usize, a1: usize, a2: usize) -> isize {
    window_syscall6(nr, a0, a1, a2, 0, 0, 0)
}

/// Host syscall with up to three arguments.
#[inline]
pub fn syscall3(nr: usize, a0: usize, a1: usize, a2: usize) -> isize {
    syscall6(nr, a0, a1, a2, 0, 0, 0)
}

/// Converts a raw result into `Result<usize, errno>` (shared with the optee TA host).
pub use litebox_confine::check;

/// rt_sigprocmask's `how`.
pub const SIG_BLOCK: usize = 0;
pub const SIG_UNBLOCK: usize = 1;
pub const SIG_SETMASK: usize = 2;

pub const READ: usize = 0;
pub const WRITE: usize = 1;
pub const CLOSE: usize = 3;
pub const POLL: usize = 7;
pub const PIPE2: usize = 293;
pub const FCNTL: usize = 72;
pub const FSTAT: usize = 5;
pub const LSEEK: usize = 8;
pub const MMAP: usize = 9;
pub const MPROTECT: usize = 10;
pub const MUNMAP: usize = 11;
pub const RT_SIGACTION: usize = 13;
pub const RT_SIGPROCMASK: usize = 14;
pub const EXIT: usize = 60;
pub const IOCTL: usize = 16;
pub const PREAD64: usize = 17;
pub const MREMAP: usize = 25;
pub const MADVISE: usize = 28;
pub const NANOSLEEP: usize = 35;
pub const GETPID: usize = 39;
pub const EXIT_GROUP: usize = 231;
pub const SIGALTSTACK: usize = 131;
pub const PRCTL: usize = 157;
pub const ARCH_PRCTL: usize = 158;
pub const GETTID: usize = 186;
pub const FUTEX: usize = 202;
/// futex operations on a word of this process's own (FUTEX_PRIVATE_FLAG set).
pub const FUTEX_WAIT_PRIVATE: usize = 128;
pub const FUTEX_WAKE_PRIVATE: usize = 129;
/// send flag: a socket whose peer has gone answers EPIPE, with no SIGPIPE.
pub const MSG_NOSIGNAL: usize = 0x4000;
pub const SET_TID_ADDRESS: usize = 218;
pub const CLOCK_GETTIME: usize = 228;
pub const OPENAT: usize = 257;
pub const SET_ROBUST_LIST: usize = 273;
pub const GETRANDOM: usize = 318;
pub const SECCOMP: usize = 317;
pub const GETUID: usize = 102;
// Socket calls (the broker, the UDP relay and its app side).
pub const SOCKET: usize = 41;
pub const CONNECT: usize = 42;
pub const SENDTO: usize = 44;
pub const RECVFROM: usize = 45;
pub const SENDMSG: usize = 46;
pub const RECVMSG: usize = 47;
pub const BIND: usize = 49;
pub const LISTEN: usize = 50;
pub const GETSOCKNAME: usize = 51;
pub const SOCKETPAIR: usize = 53;
pub const GETSOCKOPT: usize = 55;
pub const SENDMMSG: usize = 307;
pub const GETGID: usize = 104;

/// `AT_FDCWD` as a syscall argument.
pub const AT_FDCWD: usize = -100isize as usize;

/// openat(AT_FDCWD, `path`, `flags`, `mode`) for a path without its NUL terminator.
pub fn open_path(path: &[u8], flags: usize, mode: usize) -> Result<i32, i32> {
    let mut c = alloc::vec::Vec::with_capacity(path.len() + 1);
    c.extend_from_slice(path);
    c.push(0);
    check(syscall6(OPENAT, AT_FDCWD, c.as_ptr() as usize, flags, mode, 0, 0)).map(|fd| fd as i32)
}

/// The lowest host descriptor number the runtime gives its own descriptors (the log, the
/// executable, the broker's socket, the trace file, the terminal): out of the way of the low
/// numbers the app's host objects take, yet below 64, so that the host's descriptor table
/// stays the one embedded in the process (64 entries). A number of 1000 made every fork copy
/// and free a 1024-entry table (`dup_fd`: about a tenth of a packed fork's kernel time).
pub const FD_BASE: usize = 48;

/// Moves host descriptor `fd` to a number of at least [`FD_BASE`] (close-on-exec), out of the
/// way of the low numbers; returns the new number (or `fd` if that fails).
pub fn dup_high(fd: i32) -> i32 {
    const F_DUPFD_CLOEXEC: usize = 1030;
    match check(syscall3(FCNTL, fd as usize, F_DUPFD_CLOEXEC, FD_BASE)) {
        Ok(hi) => {
            syscall3(CLOSE, fd as usize, 0, 0);
            hi as i32
        }
        Err(_) => fd,
    }
}

/// A new zeroed, read-write 4 KiB page shared with every process forked from now on
/// (`MAP_SHARED | MAP_ANONYMOUS`): counters the sandbox's processes share. Returns its address.
pub fn map_shared_page() -> Result<usize, i32> {
    map_shared(4096)
}

/// Bytes of the one shared mapping the start-up's shared regions are carved from.
const SHARED_ARENA: usize = 32 * 4096;
/// The shared arena's address (0: not made yet) and how much of it is handed out.
static ARENA_AT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
static ARENA_USED: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

const MAP_FIXED_NOREPLACE: usize = 0x10_0000;

/// Where the shared arena goes when it can share a page table with the runtime's own image:
/// the page right after the image's end (its writable segment), if the arena ends inside the
/// same 2 MiB page-table span as the image's last page. Every fork child maps that span's
/// page table anyway (the writable segment's pages are copied at fork), and touches the arena
/// at every fork and exit (its process-table slot): a kernel-placed arena usually has a span
/// and a page-table page of its own, which each child allocates, clears and frees (issue 17,
/// bench/RESULTS-issue17-spawn8.md). None when it would cross into the next span. The
/// address is the runtime's own plus a constant, as the kernel's top-down placement below the
/// runtime made it before: no entropy is lost (the app can read the runtime's address anyway,
/// docs/security.md).
fn arena_beside_image() -> Option<usize> {
    const SPAN: usize = 2 << 20;
    extern "C" {
        static _end: u8;
    }
    // SAFETY: a linker-defined symbol: only its address is taken.
    let end = unsafe { &_end as *const u8 as usize }.next_multiple_of(4096);
    ((end - 1) / SPAN == (end + SHARED_ARENA - 1) / SPAN).then_some(end)
}

/// `len` bytes (page multiple) of zeroed `MAP_SHARED` anonymous memory, read-write, inherited
/// by every fork. The first process's start-up regions (process table, process count,
/// namespace generation) are carved from one mapping: every mapping costs each fork and exit
/// its own kernel work (a copy of the VMA, its teardown), shared or not. Call only before the
/// first fork (the arena's fill level is this process's own). Falls back to a mapping of its
/// own when the arena is full.
pub fn map_shared(len: usize) -> Result<usize, i32> {
    use core::sync::atomic::Ordering;
    const MAP_SHARED_ANON: usize = 0x01 | 0x20;
    let len = len.next_multiple_of(4096);
    if ARENA_AT.load(Ordering::Relaxed) == 0 {
        let next_to_image = arena_beside_image().and_then(|hint| {
            check(syscall6(MMAP, hint, SHARED_ARENA, 3, MAP_SHARED_ANON | MAP_FIXED_NOREPLACE, usize::MAX, 0)).ok()
        });
        let at =
            next_to_image.or_else(|| check(syscall6(MMAP, 0, SHARED_ARENA, 3, MAP_SHARED_ANON, usize::MAX, 0)).ok());
        if let Some(at) = at {
            ARENA_AT.store(at, Ordering::Relaxed);
        }
    }
    let (at, used) = (ARENA_AT.load(Ordering::Relaxed), ARENA_USED.load(Ordering::Relaxed));
    if at != 0 && len <= SHARED_ARENA - used {
        ARENA_USED.store(used + len, Ordering::Relaxed);
        return Ok(at + used);
    }
    check(syscall6(MMAP, 0, len, 3, MAP_SHARED_ANON, usize::MAX, 0))
}

/// In the supervisor, once init runs the sandbox: unmaps the shared arena, which only the
/// sandbox's own processes use from then on (they keep their mappings of it). The supervisor's
/// exit then has one mapping less to tear down, and the arena's memory is freed by the last of
/// the sandbox's processes (init) instead of at the supervisor's end, which the artifact's
/// caller waits for. The modules with regions in the arena forget them first (`detach`), so
/// nothing of this process reads it afterwards. Regions mapped outside the arena stay mapped.
pub fn unmap_shared_arena() {
    use core::sync::atomic::Ordering;
    let at = ARENA_AT.swap(0, Ordering::Relaxed);
    if at != 0 {
        syscall3(MUNMAP, at, SHARED_ARENA, 0);
    }
}

/// Writes all of `buf` to host fd `fd`, ignoring errors (diagnostics only).
pub fn write_all(fd: i32, mut buf: &[u8]) {
    while !buf.is_empty() {
        match check(syscall3(WRITE, fd as usize, buf.as_ptr() as usize, buf.len())) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf = &buf[n..],
        }
    }
}

/// Ends the process with `code`.
// `.text`, with the fork path: a fork child's exit runs it (test_e2e_fork_faults.py).
#[link_section = ".text"]
pub fn exit(code: i32) -> ! {
    loop {
        syscall3(EXIT_GROUP, code as usize, 0, 0);
    }
}

/// Address space reserved for the runtime's heap (at most: its end is rounded down to a 1 GiB
/// boundary, [`region_end`]).
pub const HEAP_RESERVE: usize = 64 << 30;

/// The heap's memory (`litebox_rt::heap`): one region reserved at start (PROT_NONE, no swap
/// reserved), committed with mprotect in 4 MiB steps; the pages of large freed blocks go back
/// to the host (MADV_DONTNEED: they read as zero when reused).
pub struct HeapPages;

/// Where the heap starts inside a 2 MiB page-table span: half way. The app's stack sits right
/// below it (the stack slot), so the stack's top pages and the heap's first pages, both
/// written at every fork, share one page-table page: a fork child has one page table less to
/// allocate and free.
const HEAP_PHASE: usize = 1 << 20;
const SPAN: usize = 2 << 20;

/// Bytes of the app's initial stack slot, right below the heap: the loader's guard (1 MiB) and
/// stack (8 MiB) of `litebox_libos::loader`, which asks for exactly these sizes.
pub const STACK_SLOT: usize = 9 << 20;
pub const STACK_SLOT_GUARD: usize = 1 << 20;
/// The stack slot's address (0: none, or already handed out).
static STACK_SLOT_AT: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

impl HeapPages {
    /// Reserves the region, starting [`HEAP_PHASE`] into a 2 MiB span, and the app's stack
    /// slot right below it: the slot's guard stays inaccessible, its stack part is made
    /// read-write now, so that the heap's first commit joins it into one host mapping. The
    /// app process is a fork of this one, and a mapping made after a fork never merges with
    /// one the fork inherited (the kernel gives each child mapping its own `anon_vma`): a
    /// stack mapped by the loader would be one more mapping for every fork and exit to copy
    /// and free. The slot's pages are never touched before the app's loader takes it
    /// ([`take_stack_slot`]); until then they cost no memory (`MAP_NORESERVE`). Returns
    /// (start, len) of the heap region.
    pub fn reserve() -> Result<(usize, usize), i32> {
        const MAP_PRIVATE_ANON_NORESERVE: usize = 0x02 | 0x20 | 0x4000;
        let total = STACK_SLOT + HEAP_RESERVE + SPAN;
        let at = check(syscall6(MMAP, 0, total, 0, MAP_PRIVATE_ANON_NORESERVE, usize::MAX, 0))?;
        let start = at + STACK_SLOT + (HEAP_PHASE + SPAN - (at + STACK_SLOT) % SPAN) % SPAN;
        let slot = start - STACK_SLOT;
        let end = at + total;
        let heap_end = region_end(start);
        // The head and tail beyond the slot and the region go back (a failure leaves them
        // reserved, unused).
        if slot > at {
            syscall3(MUNMAP, at, slot - at, 0);
        }
        syscall3(MUNMAP, heap_end, end - heap_end, 0);
        // Without the slot (the mprotect failed) the loader maps the stack itself.
        if syscall3(MPROTECT, slot + STACK_SLOT_GUARD, STACK_SLOT - STACK_SLOT_GUARD, 3) >= 0 {
            STACK_SLOT_AT.store(slot, core::sync::atomic::Ordering::Relaxed);
        }
        Ok((start, heap_end - start))
    }
}

/// Bytes of address space one page-middle table covers: a 1 GiB region.
const PMD_REGION: usize = 1 << 30;

/// Where the heap region that starts at `start` ends: [`HEAP_RESERVE`] bytes on, rounded down
/// to a 1 GiB boundary (so the region is 63-64 GiB). Every process that exits, a fork child
/// at each spawn, tears down its mappings range by range, and inside a 1 GiB region whose
/// page-middle table is present (one that holds any page) the kernel steps over each 2 MiB
/// entry the range covers, empty or not. The heap's `PROT_NONE` tail used to end in the 1 GiB
/// region of the runtime's image and the vDSO, whose table every process has, so each exit
/// stepped over up to 511 empty entries there (issue 17, bench/RESULTS-issue17-spawn11.md).
/// Ending it on a boundary leaves no entry of that region to it. Only the end moves: where the
/// region starts, and so its randomness, is as before.
fn region_end(start: usize) -> usize {
    (start + HEAP_RESERVE) & !(PMD_REGION - 1)
}

/// Hands out the app's stack slot ([`HeapPages::reserve`]) once, if `len` and `guard` are its
/// sizes. A fork child inherits whether it was taken (and then has the stack too).
pub fn take_stack_slot(len: usize, guard: usize) -> Option<usize> {
    if len != STACK_SLOT || guard != STACK_SLOT_GUARD {
        return None;
    }
    match STACK_SLOT_AT.swap(0, core::sync::atomic::Ordering::Relaxed) {
        0 => None,
        at => Some(at),
    }
}

impl litebox_rt::heap::Backing for HeapPages {
    const GROW_STEP: usize = 4 << 20;
    // Private anonymous pages, never written before they are handed out.
    const COMMITTED_IS_ZERO: bool = true;

    fn commit(&self, from: usize, to: usize) -> bool {
        syscall3(MPROTECT, from, to - from, 3) >= 0
    }

    fn release(&self, at: usize, len: usize) {
        syscall3(MADVISE, at, len, 4 /* MADV_DONTNEED */);
    }
}
