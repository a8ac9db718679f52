//! Chunk checks on both CPUs at start-up. While the app's first process loads its program
//! and libraries, init (pid 1 of the sandbox) is idle: it waits for the app to end. So the
//! app's first process publishes each large span of stored chunks it is about to map (the
//! loader's segments, the library OS's `mmap` of an image file) in a table both share, and
//! init checks chunks of it from the top while the app checks from the bottom
//! (`litebox_image::CheckHelper`, `ChunkCache::verified_span`).
//!
//! The table is one `MAP_SHARED` region made before init is cloned: a header (the job, the
//! futex word init sleeps on) and one state byte per chunk of the image (unclaimed, claimed,
//! good, bad), claimed with compare-and-swap. The app never waits for init for long: a chunk
//! init claimed but has not finished when the app runs out of its own is waited for at most
//! [`WAIT_CYCLES`] (spinning: about what checking it costs), then checked again by the app.
//! A bad chunk found by either side ends the run with exit 122, as a check in one process
//! does. Only the app's first process publishes (its forks check alone; its own `execve`
//! keeps this runtime, and the table), and only when init serves the table (not without
//! namespaces).
//!
//! **Deferred spans and the effect gate.** Most spans are not waited for at all: the app's
//! first process publishes the span in the table's list of deferred jobs and maps it at once
//! ([`CheckHelper::defer`]); init checks those chunks in the background. Every host call an
//! app process makes that could have an effect outside the sandbox (anything not on the list
//! in effects.rs) first passes [`gate`]: while some deferred chunk has no good verdict, the
//! caller claims and checks the unclaimed ones itself, waits boundedly for those init holds
//! (then checks them itself), and only then makes the call. A bad chunk, found by either side,
//! ends the run with 122 and nothing after: init kills every process of the sandbox; the app
//! exits without making the call. When the app's first process ends (a crash included), init
//! finishes every deferred check before it reports how it ended.
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::SeqCst};

use litebox_image::{CheckHelper, ChunkCache, Claim, Image, ImageError, ImageErrorKind};
use litebox_libos::sync::SpinMutex;

use crate::sys::{self, check};

/// The table's header, at the start of the shared region.
#[repr(C)]
struct Header {
    /// Bumped whenever the job changes (and by init's SIGCHLD handler): init sleeps on it.
    gen: AtomicU32,
    /// The current job: chunks `first..=last` (first > last: none).
    first: AtomicU32,
    last: AtomicU32,
    /// 1 while a thread of the app's first process has a job published.
    publishing: AtomicU32,
    /// 0: no helper; 1: init serves (or will serve) the table; 2: init has stopped.
    helper: AtomicU32,
    /// The pid (in the sandbox) of the process allowed to publish: the app's first process.
    owner: AtomicI32,
    /// Deferred jobs: how many were published (high 32 bits; each one's span is in the
    /// list after the header) and how many of the first of them are known good (low 32
    /// bits). Equal halves: every deferred chunk has a good verdict (the gate's test).
    jobs: AtomicU64,
    /// 1 once a process of the sandbox said that a deferred chunk is bad (said once).
    told: AtomicU32,
    /// Who builds the sandbox's root ([`claim_root`]): 0 nobody yet, 1 the app's first
    /// process, 2 init.
    root: AtomicU32,
}

/// The fewest unchecked chunks of a span checked as a job with init, which the mapping
/// process waits for (1 MiB at the packer's default 128 KiB chunks): a static hello's 6
/// chunks as a job measured ~0.05-0.1 ms slower than none. Jobs are what a span becomes only
/// when the list of deferred spans is full.
pub const MIN_SPAN: u32 = 8;
/// The fewest unchecked chunks of a span whose checks are deferred to init behind the effect
/// gate (the mapping process does not wait): 2 (issue 17, measured interleaved under
/// `chrt -f 10`: hello-static 1.87 -> 1.79 ms, python3 -c pass 10.57 -> 10.38 ms against 8;
/// 1 was no better than 2). A one-chunk span is checked in place: its check is about as
/// cheap as the hand-off.
pub const MIN_DEFER_SPAN: u32 = 2;
const HEADER: usize = 64;
/// The most deferred jobs (spans) a run publishes; later spans are checked before mapping, as
/// before (python3 -c pass publishes 4).
const MAX_JOBS: usize = 64;
/// Where the list of deferred spans starts (one u64 each: first | last << 32), and where the
/// chunks' state bytes start after it.
const JOBS_AT: usize = HEADER;
const STATES_AT: usize = JOBS_AT + 8 * MAX_JOBS;
const _: () = assert!(core::mem::size_of::<Header>() <= HEADER);
const UNCLAIMED: u8 = 0;
const CLAIMED: u8 = 1;
const GOOD: u8 = 2;
const BAD: u8 = 3;
/// How long the app waits for init's verdict on a chunk init is checking, in TSC cycles
/// (~40-60 µs at 2-3 GHz: one 128 KiB chunk takes init ~20-40 µs; longer means it was
/// descheduled, and the app checks the chunk itself).
const WAIT_CYCLES: u64 = 120_000;
const FUTEX_WAIT: usize = 0;
const FUTEX_WAKE: usize = 1;

/// The table's address (0: none) and its chunk count.
static REGION: AtomicUsize = AtomicUsize::new(0);
static CHUNKS: AtomicU32 = AtomicU32::new(0);
/// Init's copy of the image, to read and check chunks with.
static IMAGE: SpinMutex<Option<Image<'static>>> = SpinMutex::new(None);
/// The app's program (its path in the image), whose first and last chunks init checks first
/// ([`precheck`]).
static ENTRY: SpinMutex<alloc::vec::Vec<u8>> = SpinMutex::new(alloc::vec::Vec::new());
/// The gate's copy of the image (a leaked box, set before the first fork and never changed):
/// read without a lock, so that a process forked while another thread was settling cannot
/// inherit a held lock.
static GATE_IMAGE: AtomicUsize = AtomicUsize::new(0);
/// The address of the table's `jobs` word once this process is an armed app process ([`arm`]):
/// 0 in init, the supervisor, and before the app runs.
static GATE: AtomicUsize = AtomicUsize::new(0);

fn header() -> Option<&'static Header> {
    let at = REGION.load(SeqCst);
    // SAFETY: a non-zero REGION is a zeroed, read-write shared mapping of at least HEADER
    // bytes, never unmapped while REGION is set (the supervisor clears it first: detach);
    // Header is all atomics (valid when zero).
    (at != 0).then(|| unsafe { &*(at as *const Header) })
}

fn state(k: u32) -> Option<&'static AtomicU8> {
    if k >= CHUNKS.load(SeqCst) {
        return None;
    }
    let at = REGION.load(SeqCst);
    // SAFETY: the region holds STATES_AT + CHUNKS bytes (init), and k < CHUNKS.
    (at != 0).then(|| unsafe { &*((at + STATES_AT + k as usize) as *const AtomicU8) })
}

/// Deferred job `j`'s span (first, last); None past the list.
fn job(j: u32) -> Option<(u32, u32)> {
    if j as usize >= MAX_JOBS {
        return None;
    }
    let at = REGION.load(SeqCst);
    // SAFETY: the region holds the list of MAX_JOBS u64 words at JOBS_AT (init), and j < MAX_JOBS.
    let w = (at != 0).then(|| unsafe { &*((at + JOBS_AT + 8 * j as usize) as *const AtomicU64) })?.load(SeqCst);
    let (first, last) = (w as u32, (w >> 32) as u32);
    (first <= last && last < CHUNKS.load(SeqCst)).then_some((first, last))
}

/// The deferred jobs published, and how many of the first of them are known good.
fn jobs(h: &Header) -> (u32, u32) {
    let w = h.jobs.load(SeqCst);
    ((w >> 32) as u32, w as u32)
}

/// Records that the first `n` deferred jobs are good (never lowers the count).
fn settled(h: &Header, n: u32) {
    let mut w = h.jobs.load(SeqCst);
    while (w as u32) < n && n <= (w >> 32) as u32 {
        match h.jobs.compare_exchange(w, (w & !0xffff_ffff) | n as u64, SeqCst, SeqCst) {
            Ok(_) => return,
            Err(now) => w = now,
        }
    }
}

/// The error a bad chunk `k` is reported with (what a failed check in one process says).
fn tampered(k: u32) -> ImageError {
    ImageError { kind: ImageErrorKind::Tampered, what: "chunk digest does not match", detail: Some(k as u64) }
}

/// The CPU's time-stamp counter (a clock for short waits only).
fn tsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter; every x86-64 CPU has it.
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn futex(word: &AtomicU32, op: usize, val: u32, timeout_ns: Option<usize>) {
    let ts = timeout_ns.map(|ns| [ns / 1_000_000_000, ns % 1_000_000_000]);
    let tp = ts.as_ref().map_or(0, |t| t.as_ptr() as usize);
    sys::syscall6(sys::FUTEX, word.as_ptr() as usize, op, val as usize, tp, 0, 0);
}

/// Makes the table for `image` (before init is cloned, so that every process of the sandbox
/// shares it) and keeps a copy of the image for init. Returns the region (address, length)
/// to guard from the app, or None (no table: every check is done alone).
pub fn init(image: &Image<'static>, entry: &[u8]) -> Option<(usize, usize)> {
    let chunks = image.header().chunk_count;
    let len = (STATES_AT + chunks as usize).next_multiple_of(4096);
    let at = sys::map_shared(len).ok()?;
    CHUNKS.store(chunks, SeqCst);
    REGION.store(at, SeqCst);
    *IMAGE.lock() = Some(image.clone());
    *ENTRY.lock() = entry.to_vec();
    GATE_IMAGE.store(
        alloc::boxed::Box::leak(alloc::boxed::Box::new(image.clone())) as *const Image<'static> as usize,
        SeqCst,
    );
    Some((at, len))
}

/// In the supervisor, before it unmaps the shared arena (`sys::unmap_shared_arena`): this
/// process no longer has the table (it never checks chunks once init runs the sandbox).
pub fn detach() {
    REGION.store(0, SeqCst);
    CHUNKS.store(0, SeqCst);
}

/// In init, first thing: says that init will serve the table.
pub fn expect_helper() {
    if let Some(h) = header() {
        h.helper.store(1, SeqCst);
    }
}

/// Whether the calling process (`who`: 1 the app's first process, 2 init) builds the
/// sandbox's root (supervisor.rs `Started::await_root`): the first of the two to ask, which is
/// the one that has nothing else to do first (init, once its network namespace is made; the
/// app's first process, once it has loaded the app). Both ask before init's "R", so before any
/// app code runs. Without a table, the app's first process.
pub fn claim_root(who: u32) -> bool {
    match header() {
        Some(h) => h.root.compare_exchange(0, who, SeqCst, SeqCst).is_ok(),
        None => who == 1,
    }
}

/// In init, right after it forked the app's first process: checks the first and the last
/// chunk of the app's program, and of its interpreter (PT_INTERP) when it has one, stored raw,
/// and records their verdicts in the table. Those are the chunks that process checks in place
/// while it loads them, before any of their spans is deferred: an ELF header's (a read) and,
/// for most programs, the data segment's partial page (a read of a chunk a deferred span
/// covers). Done here, on the other CPU, while that process empties its bounding set, they are
/// off its path (`ChunkCache::get` takes a verdict from the table; a chunk init still holds is
/// waited for a bounded time, then checked there too). A bad verdict is the app's first
/// process's to act on: its read fails with exit 122 as its own check would. Beyond hashing,
/// init only reads the interpreter's path out of the program's first chunk, once that chunk
/// is known good, with every offset bounds-checked (a path found nowhere checks nothing more).
pub fn precheck() {
    let Some(h) = header() else { return };
    if h.helper.load(SeqCst) != 1 {
        return;
    }
    let entry = core::mem::take(&mut *ENTRY.lock());
    let guard = IMAGE.lock();
    let Some(image) = guard.as_ref() else { return };
    // Its own scratch (one chunk's worth), freed here.
    let cache = ChunkCache::new(0);
    let Some(e) = precheck_file(image, &cache, &entry) else { return };
    if let Some(interp) = interp_path(image, &e) {
        precheck_file(image, &cache, &interp);
    }
}

/// Checks the first and the last chunk of the file at `path` (stored raw), each unless someone
/// claimed it already; returns its entry when its first chunk is known good.
fn precheck_file<'a>(image: &Image<'a>, cache: &ChunkCache, path: &[u8]) -> Option<litebox_image::Entry<'a>> {
    let e = image.try_entry(image.try_lookup(path).ok()??).ok()?;
    if e.size == 0 {
        return None;
    }
    // Only these two: checking more of the program here (up to 1 MiB, before or after the
    // mount namespace) measured slower than leaving the rest to the deferred checks, since
    // init's own chain then ends after the app's process asks for the root.
    let (first, last) = (image.raw_span(&e, 0, 1), image.raw_span(&e, e.size - 1, 1));
    let last = last.filter(|l| first.is_none_or(|f| f.1 != l.1));
    for (_, k, _) in first.into_iter().chain(last) {
        let Some(s) = state(k) else { continue };
        if s.compare_exchange(UNCLAIMED, CLAIMED, SeqCst, SeqCst).is_ok() {
            let good = cache.check_stored(image, k).is_ok();
            s.store(if good { GOOD } else { BAD }, SeqCst);
        }
    }
    let (_, k, _) = first?;
    (state(k)?.load(SeqCst) == GOOD).then_some(e)
}

/// The PT_INTERP path of ELF file `e` when its headers and the path lie in its first chunk
/// (known good: [`precheck_file`]), read from the image's file; None for anything else.
fn interp_path(image: &Image<'_>, e: &litebox_image::Entry<'_>) -> Option<alloc::vec::Vec<u8>> {
    let (at, k, _) = image.raw_span(e, 0, 1)?;
    let cs = image.header().chunk_size as u64;
    // The bytes of the file inside its first chunk: only those were checked.
    let room = (cs - (e.data % cs)).min(e.size).min(4096) as usize;
    let mut head = alloc::vec![0u8; room];
    if room < 64 || !crate::selfimage::read_image(at, &mut head) || state(k)?.load(SeqCst) != GOOD {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(head.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(head.get(o..o + 4)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(head.get(o..o + 8)?.try_into().ok()?));
    // 64-bit little-endian ELF, 56-byte program headers.
    if head[..4] != *b"\x7fELF" || head[4] != 2 || head[5] != 1 || u16_at(54)? != 56 {
        return None;
    }
    let (phoff, phnum) = (u64_at(32)? as usize, u16_at(56)? as usize);
    const PT_INTERP: u32 = 3;
    for i in 0..phnum.min(64) {
        let ph = phoff.checked_add(i * 56)?;
        if u32_at(ph)? != PT_INTERP {
            continue;
        }
        let (off, len) = (u64_at(ph + 8)? as usize, u64_at(ph + 32)? as usize);
        let path = head.get(off..off.checked_add(len)?)?;
        let path = path.split(|&b| b == 0).next()?;
        return (!path.is_empty() && path[0] == b'/').then(|| path.to_vec());
    }
    None
}

/// In the supervisor when init could not be started: nobody serves the table.
pub fn no_helper() {
    if let Some(h) = header() {
        h.helper.store(0, SeqCst);
    }
}

/// In the app's first process: makes it the one process allowed to publish jobs.
pub fn own() {
    if let Some(h) = header() {
        h.owner.store(crate::host::cached_pid(), SeqCst);
    }
}

/// The app's side of the table, for `ChunkCache::set_helper`.
pub struct AppSide;

/// The one [`AppSide`].
pub static APP_SIDE: AppSide = AppSide;

impl CheckHelper for AppSide {
    fn begin(&self, first: u32, last: u32) -> bool {
        let Some(h) = header() else { return false };
        if h.helper.load(SeqCst) != 1 || last >= CHUNKS.load(SeqCst) {
            return false;
        }
        if h.owner.load(SeqCst) != crate::host::cached_pid() {
            return false;
        }
        if h.publishing.compare_exchange(0, 1, SeqCst, SeqCst).is_err() {
            return false;
        }
        h.first.store(first, SeqCst);
        h.last.store(last, SeqCst);
        h.gen.fetch_add(1, SeqCst);
        futex(&h.gen, FUTEX_WAKE, 1, None);
        true
    }

    fn claim(&self, k: u32) -> Claim {
        let Some(s) = state(k) else { return Claim::Mine };
        match s.compare_exchange(UNCLAIMED, CLAIMED, SeqCst, SeqCst) {
            Ok(_) => Claim::Mine,
            Err(GOOD) => Claim::Good,
            Err(BAD) => Claim::Bad,
            Err(_) => Claim::Busy,
        }
    }

    fn finish(&self, k: u32, good: bool) {
        if let Some(s) = state(k) {
            s.store(if good { GOOD } else { BAD }, SeqCst);
        }
    }

    fn wait(&self, k: u32) -> Claim {
        let Some(s) = state(k) else { return Claim::Busy };
        // Spin, no sleep: init finishes a chunk it holds in ~20-40 µs, about what checking it
        // here costs, so a futex sleep and wake-up would cost more than they save.
        let start = tsc();
        loop {
            match s.load(SeqCst) {
                GOOD => return Claim::Good,
                BAD => return Claim::Bad,
                _ if tsc().wrapping_sub(start) > WAIT_CYCLES => return Claim::Busy,
                _ => core::hint::spin_loop(),
            }
        }
    }

    fn end(&self) {
        let Some(h) = header() else { return };
        h.first.store(u32::MAX, SeqCst);
        h.last.store(0, SeqCst);
        h.gen.fetch_add(1, SeqCst);
        h.publishing.store(0, SeqCst);
    }

    fn defer(&self, first: u32, last: u32) -> bool {
        let Some(h) = header() else { return false };
        if h.helper.load(SeqCst) != 1 || last >= CHUNKS.load(SeqCst) || first > last {
            return false;
        }
        if h.owner.load(SeqCst) != crate::host::cached_pid() {
            return false;
        }
        if h.publishing.compare_exchange(0, 1, SeqCst, SeqCst).is_err() {
            return false;
        }
        let (n, _) = jobs(h);
        let deferred = (n as usize) < MAX_JOBS;
        if deferred {
            let at = REGION.load(SeqCst) + JOBS_AT + 8 * n as usize;
            // SAFETY: n < MAX_JOBS: a word of the list in the region (init).
            unsafe { &*(at as *const AtomicU64) }.store(first as u64 | (last as u64) << 32, SeqCst);
            // Published before the span is mapped: from here every gated call waits for it.
            h.jobs.fetch_add(1 << 32, SeqCst);
            h.gen.fetch_add(1, SeqCst);
            futex(&h.gen, FUTEX_WAKE, 1, None);
        }
        h.publishing.store(0, SeqCst);
        deferred
    }
}

/// In the app's first process, right before the app's first instruction: from here on, every
/// host call of this process and of every process it starts passes the effect gate ([`gate`]).
/// The runtime's own set-up calls before this are not the app's and are not gated.
pub fn arm() {
    if let Some(h) = header() {
        GATE.store(&h.jobs as *const AtomicU64 as usize, SeqCst);
    }
}

/// The effect gate, on every host call (`sys::syscall6`): returns at once when this process
/// is not armed or every deferred chunk has a good verdict (one load each); otherwise, unless
/// the call is effect-free (effects.rs), returns only once every deferred chunk is known good,
/// and ends the process with 122 (`chunk digest does not match`) if one is bad.
#[inline(always)]
pub fn gate(nr: usize, a: [usize; 6]) {
    let at = GATE.load(core::sync::atomic::Ordering::Relaxed);
    if at == 0 {
        return;
    }
    // SAFETY: a non-zero GATE is the address of the table's `jobs` word (arm), never unmapped.
    let w = unsafe { &*(at as *const AtomicU64) }.load(core::sync::atomic::Ordering::Acquire);
    if (w >> 32) as u32 != w as u32 {
        gate_slow(nr, a);
    }
}

#[cold]
#[inline(never)]
fn gate_slow(nr: usize, a: [usize; 6]) {
    if crate::effects::effect_free(nr, &a) {
        return;
    }
    let Some(h) = header() else { return };
    let at = GATE_IMAGE.load(SeqCst);
    if at == 0 {
        return;
    }
    // SAFETY: a non-zero GATE_IMAGE is a leaked, never freed or changed Image (init).
    let image: &Image<'static> = unsafe { &*(at as *const Image<'static>) };
    // The checks allocate (the heap's lock): inside the runtime for a fork by another thread
    // (forkfence.rs), also when the host call is one made in a blocking window (depth 0).
    let inside = crate::forkfence::active().then(crate::fastpath::data);
    if let Some(d) = inside {
        crate::fastpath::enter(d);
    }
    // This call's own scratch (one chunk's worth at most), freed when it returns.
    let cache = ChunkCache::new(0);
    let (n, _) = jobs(h);
    if let Err(e) = settle(h, n, |k| cache.check_stored(image, k).is_ok()) {
        gate_fatal(e);
    }
    drop(cache);
    if let Some(d) = inside {
        crate::fastpath::leave(d);
    }
}

/// Ends an app process on a bad chunk: the message a failed check prints, and its exit code,
/// through ungated host calls (nothing else leaves the process).
fn gate_fatal(e: ImageError) -> ! {
    let line = litebox_rt::fatal::line(alloc::format!("{e}").as_bytes());
    let told = header().is_some_and(|h| h.told.swap(1, SeqCst) != 0);
    let mut buf: &[u8] = if told { &[] } else { &line };
    while !buf.is_empty() {
        match check(sys::raw6(sys::WRITE, crate::log_fd() as usize, buf.as_ptr() as usize, buf.len(), 0, 0, 0)) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf = &buf[n..],
        }
    }
    crate::procs::release();
    loop {
        sys::raw6(sys::EXIT_GROUP, e.exit_code() as usize, 0, 0, 0, 0, 0);
    }
}

/// Brings the first `n` deferred jobs to a good verdict, checking with `check_here`: claims
/// each unclaimed chunk and checks it, then waits boundedly for each chunk someone else holds
/// and checks it here if no verdict came. Ok once all are good (recorded in the header);
/// Err with the first bad chunk.
fn settle(h: &Header, n: u32, check_here: impl Fn(u32) -> bool) -> Result<(), ImageError> {
    let (_, good) = jobs(h);
    for pass in 0..2 {
        for j in good..n {
            let Some((first, last)) = job(j) else { continue };
            for k in first..=last {
                let Some(s) = state(k) else { continue };
                let claim = if pass == 0 {
                    match s.compare_exchange(UNCLAIMED, CLAIMED, SeqCst, SeqCst) {
                        Ok(_) => Claim::Mine,
                        Err(GOOD) => Claim::Good,
                        Err(BAD) => Claim::Bad,
                        Err(_) => Claim::Busy,
                    }
                } else {
                    match s.load(SeqCst) {
                        GOOD => Claim::Good,
                        BAD => Claim::Bad,
                        // Held by someone else: their verdict, or ours after a bounded wait.
                        _ => match APP_SIDE.wait(k) {
                            Claim::Busy => Claim::Mine,
                            c => c,
                        },
                    }
                };
                match claim {
                    Claim::Mine => {
                        let good = check_here(k);
                        s.store(if good { GOOD } else { BAD }, SeqCst);
                        if !good {
                            return Err(tampered(k));
                        }
                    }
                    Claim::Bad => return Err(tampered(k)),
                    Claim::Good | Claim::Busy => {}
                }
            }
        }
    }
    settled(h, n);
    Ok(())
}

extern "C" fn on_child(_sig: i32) {
    // Wakes `serve` (or keeps it from sleeping): a child's state changed.
    if let Some(h) = header() {
        h.gen.fetch_add(1, SeqCst);
    }
}

fn set_child_handler(handler: usize) {
    const SIGCHLD: usize = 17;
    // SA_RESTORER; no SA_RESTART: the futex wait returns on SIGCHLD.
    let act = crate::signals::KSigaction {
        handler,
        flags: 0x0400_0000,
        restorer: sys::litebox_restorer as *const () as usize,
        mask: 0,
    };
    sys::syscall6(sys::RT_SIGACTION, SIGCHLD, &act as *const _ as usize, 0, 8, 0, 0);
}

/// In init, once the sandbox is built: reaps every child that ends and, meanwhile, checks
/// chunks of the jobs the app's first process publishes (from the top of each job), until
/// the app's first process (`app`) ends. Returns its wait status; None when there is no
/// table (the caller reaps as before).
pub fn serve(app: i32) -> Option<i32> {
    let h = header()?;
    let image = IMAGE.lock().take()?;
    // Never freed: init ends right after its report, and freeing it (giving its pages back)
    // would only delay that report.
    let cache = core::mem::ManuallyDrop::new(ChunkCache::new(0));
    set_child_handler(on_child as *const () as usize);
    const WAIT4: usize = 61;
    const WNOHANG_WALL: usize = 1 | 0x4000_0000;
    let status = 'serve: loop {
        let gen = h.gen.load(SeqCst);
        loop {
            let mut st = 0i32;
            match check(sys::syscall6(WAIT4, usize::MAX, &mut st as *mut i32 as usize, WNOHANG_WALL, 0, 0, 0)) {
                Ok(pid) if pid as i32 == app => break 'serve st,
                Ok(0) => break,
                Ok(_) | Err(4) => {}
                Err(_) => sys::exit(0),
            }
        }
        // The job the app waits for first, then the deferred ones (nobody waits for them
        // until the app's next gated call), each from the top; a new job or a child's end
        // (`gen`) interrupts.
        let (first, last) = (h.first.load(SeqCst), h.last.load(SeqCst));
        if first <= last {
            if let Err(e) = serve_span(h, gen, first, last, &image, &cache) {
                break 'serve init_found_bad(e);
            }
        }
        let (n, good) = jobs(h);
        let mut all_good = h.gen.load(SeqCst) == gen;
        for j in good..n {
            let Some((first, last)) = job(j) else { continue };
            match serve_span(h, gen, first, last, &image, &cache) {
                Err(e) => break 'serve init_found_bad(e),
                Ok(done) => all_good &= done,
            }
        }
        if all_good {
            settled(h, n);
        }
        // Sleeps until the next job or a child's end (both bump `gen`); the bound is a
        // backstop only.
        futex(&h.gen, FUTEX_WAIT, gen, Some(1_000_000_000));
    };
    h.helper.store(2, SeqCst);
    set_child_handler(0);
    if status == BAD_STATUS {
        return Some(status);
    }
    // The app's first process ended (by a crash too, perhaps in damaged code): how it ended
    // leaves the sandbox only once every deferred chunk is known good.
    let (n, _) = jobs(h);
    match settle(h, n, |k| cache.check_stored(&image, k).is_ok()) {
        Ok(()) => Some(status),
        Err(e) => Some(init_found_bad(e)),
    }
}

/// The wait status init reports when it found a bad chunk: exit 122.
const BAD_STATUS: i32 = 122 << 8;

/// Whether init found a bad chunk that nobody has said anything about yet (init's report then
/// asks the supervisor to say it: init's own standard streams may be closed).
static INIT_TELLS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Init found bad chunk `_e`: returns the status to report; the caller kills every process of
/// the sandbox before reporting it, and reports it as a bad chunk ([`init_tells_of_bad_chunk`])
/// unless an app process said so already.
fn init_found_bad(_e: ImageError) -> i32 {
    if header().is_some_and(|h| h.told.swap(1, SeqCst) == 0) {
        INIT_TELLS.store(true, SeqCst);
    }
    BAD_STATUS
}

/// In init, reporting the app's end: whether to report it as a bad chunk init found (the
/// supervisor prints the line and ends with 122).
pub fn init_tells_of_bad_chunk() -> bool {
    INIT_TELLS.load(SeqCst)
}

/// Init's share of span `first..=last`: claims and checks unclaimed chunks from the top until
/// `gen` changes. Ok(true) when every chunk of the span has a good verdict now; Err on a bad
/// one (whoever found it).
fn serve_span(
    h: &Header,
    gen: u32,
    first: u32,
    last: u32,
    image: &Image<'_>,
    cache: &ChunkCache,
) -> Result<bool, ImageError> {
    let mut all_good = true;
    for k in (first..=last).rev() {
        if h.gen.load(SeqCst) != gen {
            return Ok(false);
        }
        let Some(s) = state(k) else { return Ok(false) };
        match s.compare_exchange(UNCLAIMED, CLAIMED, SeqCst, SeqCst) {
            Ok(_) => {
                let good = cache.check_stored(image, k).is_ok();
                s.store(if good { GOOD } else { BAD }, SeqCst);
                if !good {
                    return Err(tampered(k));
                }
            }
            Err(GOOD) => {}
            Err(BAD) => return Err(tampered(k)),
            Err(_) => all_good = false,
        }
    }
    Ok(all_good)
}
