//! How the linux-userland runtime's chunk checks spend their time: reading 128 KiB chunks of a
//! file from the page cache and hashing them with XXH3-64, by each way weighed in
//! bench/RESULTS-issue17-checkcost.md, with the CPU caches warm (the same bytes hashed just
//! before) and evicted (a 256 MiB buffer written between passes, as in a real start-up, where
//! the app's pages were last read a whole run ago).
//!
//!     cargo run --release --manifest-path bench/checkcost/Cargo.toml -- FILE [MIB] [REPS]
//!
//! FILE should be in the page cache (a packed artifact just run); MIB (default 10) bytes are
//! hashed from its start, REPS (default 20) passes per way, and the mean CPU time per pass is
//! printed. Not a test: numbers only.
#![deny(unsafe_op_in_unsafe_fn)]

use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;

use xxhash_rust::xxh3::{xxh3_64, Xxh3Default};

/// The packer's default chunk size.
const CHUNK: usize = 128 << 10;
/// The window size weighed for checking through a mapping.
const WINDOW: usize = 1 << 20;

/// This process's CPU time in milliseconds.
fn cpu_ms() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

/// Writes one byte per cache line of `junk`, pushing earlier data out of the CPU caches.
fn evict(junk: &mut [u8]) {
    for i in (0..junk.len()).step_by(64) {
        junk[i] = junk[i].wrapping_add(1);
    }
}

/// Asks the CPU to bring `s` into its L2 cache ahead of use: the first `lines` cache lines of
/// every 4 KiB page (64: all of it); the CPU's own prefetcher follows a page once it is read
/// but does not cross into the next page, which is elsewhere in physical memory.
fn prefetch(s: &[u8], lines: usize) {
    for i in (0..s.len()).step_by(4096).flat_map(|p| (p..(p + lines * 64).min(s.len())).step_by(64)) {
        // SAFETY: `i < s.len()`, so the address lies inside `s`; a prefetch never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(s.as_ptr().add(i) as *const i8) };
    }
}

/// Streaming XXH3 of each chunk of `[0, len)`, read with pread in `piece`-byte pieces into one
/// buffer: what core/image's stored reader does (PIECE is 16 KiB there).
fn pread_pieces(f: &File, len: usize, piece: usize) -> u64 {
    let mut buf = vec![0u8; piece];
    let mut sink = 0;
    for c in (0..len).step_by(CHUNK) {
        let mut h = Xxh3Default::new();
        for d in (0..CHUNK).step_by(piece) {
            f.read_exact_at(&mut buf, (c + d) as u64).expect("pread");
            h.update(&buf);
        }
        sink ^= h.digest();
    }
    sink
}

/// One-shot XXH3 of each chunk, through read-only MAP_POPULATE windows of [`WINDOW`] bytes
/// unmapped after use; with `ahead`, the next chunk is prefetched while one is hashed.
fn windows(f: &File, len: usize, ahead: usize) -> u64 {
    let mut sink = 0;
    for w in (0..len).step_by(WINDOW) {
        // SAFETY: a fresh private read-only mapping of the file at a kernel-chosen address;
        // the file is at least `len` bytes long (checked in main).
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                WINDOW,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_POPULATE,
                f.as_raw_fd(),
                w as libc::off_t,
            )
        };
        assert!(p != libc::MAP_FAILED, "mmap failed");
        // SAFETY: `[p, p + WINDOW)` is the mapping made above, unmapped only after the last use.
        let s = unsafe { std::slice::from_raw_parts(p as *const u8, WINDOW) };
        let chunks: Vec<&[u8]> = s.chunks(CHUNK).collect();
        for (i, c) in chunks.iter().enumerate() {
            if ahead > 0 {
                if i == 0 {
                    prefetch(c, ahead);
                }
                if let Some(next) = chunks.get(i + 1) {
                    prefetch(next, ahead);
                }
            }
            sink ^= xxh3_64(c);
        }
        // SAFETY: unmaps exactly the mapping made above; `s` is not used after this.
        unsafe { libc::munmap(p, WINDOW) };
    }
    sink
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: checkcost FILE [MIB] [REPS]");
        std::process::exit(2);
    };
    let mib: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let f = File::open(path).expect("open FILE");
    let len = (mib << 20) / WINDOW * WINDOW;
    assert!(f.metadata().expect("stat").len() as usize >= len, "FILE is shorter than {mib} MiB");
    let mut private = vec![0u8; len];
    f.read_exact_at(&mut private, 0).expect("read FILE");
    let mut junk = vec![0u8; 256 << 20];
    let mut l1 = vec![0u8; 16 << 10];
    let mut sink = 0u64;
    type Way<'a> = (&'a str, Box<dyn FnMut() -> u64 + 'a>);
    for evicted in [false, true] {
        let ways: Vec<Way> = vec![
            ("pread 16 KiB pieces + streaming hash (now)", Box::new(|| pread_pieces(&f, len, 16 << 10))),
            ("pread 128 KiB pieces + streaming hash", Box::new(|| pread_pieces(&f, len, 128 << 10))),
            ("1 MiB MAP_POPULATE window + hash", Box::new(|| windows(&f, len, 0))),
            ("1 MiB window + prefetch next chunk (all) + hash", Box::new(|| windows(&f, len, 64))),
            ("... prefetch 8 lines per page", Box::new(|| windows(&f, len, 8))),
            ("... prefetch 2 lines per page", Box::new(|| windows(&f, len, 2))),
            (
                "hash of a private copy (no file, no copy)",
                Box::new(|| private.chunks(CHUNK).map(xxh3_64).fold(0, |a, b| a ^ b)),
            ),
            (
                "memcpy of a private copy into 16 KiB (no hash)",
                Box::new(|| {
                    private
                        .chunks(16 << 10)
                        .map(|c| {
                            l1[..c.len()].copy_from_slice(c);
                            l1[7] as u64
                        })
                        .sum()
                }),
            ),
        ];
        for (name, mut run) in ways {
            let mut total = 0.0;
            for _ in 0..reps {
                if evicted {
                    evict(&mut junk);
                }
                let t = cpu_ms();
                sink ^= run();
                total += cpu_ms() - t;
            }
            let state = if evicted { "caches evicted" } else { "caches warm" };
            println!("{name:48} {:7.3} ms per {mib} MiB ({state})", total / reps as f64);
        }
    }
    eprintln!("(checksum of all passes: {sink:x})");
}
