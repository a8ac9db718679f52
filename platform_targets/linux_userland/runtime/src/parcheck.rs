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
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU8, AtomicUsize, Ordering::SeqCst};

use litebox_image::{CheckHelper, ChunkCache, Claim, Image};
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
}

/// The fewest unchecked chunks of a span shared with init (1 MiB at the packer's default
/// 128 KiB chunks): python3's text and libc are shared; a static hello (6 chunks) is checked
/// alone, where a job measured ~0.05-0.1 ms slower than none.
pub const MIN_SPAN: u32 = 8;
const HEADER: usize = 64;
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

fn header() -> Option<&'static Header> {
    let at = REGION.load(SeqCst);
    // SAFETY: a non-zero REGION is a zeroed, read-write shared mapping of at least HEADER
    // bytes, never unmapped; Header is all atomics (valid when zero).
    (at != 0).then(|| unsafe { &*(at as *const Header) })
}

fn state(k: u32) -> Option<&'static AtomicU8> {
    if k >= CHUNKS.load(SeqCst) {
        return None;
    }
    let at = REGION.load(SeqCst);
    // SAFETY: the region holds HEADER + CHUNKS bytes (init), and k < CHUNKS.
    (at != 0).then(|| unsafe { &*((at + HEADER + k as usize) as *const AtomicU8) })
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
pub fn init(image: &Image<'static>) -> Option<(usize, usize)> {
    let chunks = image.header().chunk_count;
    let len = (HEADER + chunks as usize).next_multiple_of(4096);
    let at = sys::map_shared(len).ok()?;
    CHUNKS.store(chunks, SeqCst);
    REGION.store(at, SeqCst);
    *IMAGE.lock() = Some(image.clone());
    Some((at, len))
}

/// In init, first thing: says that init will serve the table.
pub fn expect_helper() {
    if let Some(h) = header() {
        h.helper.store(1, SeqCst);
    }
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
    let cache = ChunkCache::new(0);
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
        let (first, last) = (h.first.load(SeqCst), h.last.load(SeqCst));
        if first <= last {
            for k in (first..=last).rev() {
                if h.gen.load(SeqCst) != gen {
                    break;
                }
                let Some(s) = state(k) else { break };
                if s.compare_exchange(UNCLAIMED, CLAIMED, SeqCst, SeqCst).is_err() {
                    continue;
                }
                let good = cache.check_stored(&image, k).is_ok();
                s.store(if good { GOOD } else { BAD }, SeqCst);
            }
        }
        // Sleeps until the next job or a child's end (both bump `gen`); the bound is a
        // backstop only.
        futex(&h.gen, FUTEX_WAIT, gen, Some(1_000_000_000));
    };
    h.helper.store(2, SeqCst);
    set_child_handler(0);
    Some(status)
}
