//! `ChunkCache::let_go_all`: what decoding holds (the kept chunk, the scratch buffer, the
//! decoder's context) is freed, and a later read decodes the chunk again with the same bytes.
//! A test binary of its own: its counting allocator sees only this test's allocations.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;
use common::{read_file, FILE};
use litebox_image::{ChunkCache, Image};

const IMG: &[u8] = include_bytes!("vectors/basic.img");

/// Bytes allocated and not yet freed.
static LIVE: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::SeqCst);
        // SAFETY: the caller's layout contract is passed through.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: `ptr` came from `alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn want(off: u64) -> Vec<u8> {
    (off..off + 10).map(|i| ((i * 7 + i / 4096) % 251) as u8).collect()
}

#[test]
fn letting_go_frees_what_decoding_holds_and_reads_still_give_the_same_bytes() {
    FILE.with(|f| *f.borrow_mut() = IMG.to_vec());
    let mut img = Image::open(IMG).unwrap();
    img.set_stored_reader(read_file);
    let cache = ChunkCache::new(img.header().chunk_count);
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    let cs = img.header().chunk_size as usize;
    let mut part = [0u8; 10];
    // Nothing held yet: letting go does nothing.
    cache.let_go_all();
    let before = LIVE.load(Ordering::SeqCst);
    assert_eq!(cache.read(&img, &e, 100, &mut part).unwrap(), 10);
    assert_eq!(part.to_vec(), want(100));
    assert_eq!((cache.kept_count(), cache.decode_count()), (1, 1));
    assert!(LIVE.load(Ordering::SeqCst) > before + cs / 2, "a decoded chunk is held");
    cache.let_go_all();
    assert_eq!(cache.kept_count(), 0);
    let after = LIVE.load(Ordering::SeqCst);
    assert!(after <= before + 64, "{} bytes still held after letting go", after - before);
    // Read again: decoded again (without a second digest check), the same bytes.
    assert_eq!(cache.read(&img, &e, 100, &mut part).unwrap(), 10);
    assert_eq!(part.to_vec(), want(100));
    assert_eq!((cache.kept_count(), cache.decode_count()), (1, 2));
    // A chunk further on, then let go twice (the second finds nothing to free).
    let off = cs as u64 * 2 + 5 - e.data % cs as u64;
    assert_eq!(cache.read(&img, &e, off, &mut part).unwrap(), 10);
    assert_eq!(part.to_vec(), want(off));
    cache.let_go_all();
    cache.let_go_all();
    assert_eq!(cache.kept_count(), 0);
    assert!(LIVE.load(Ordering::SeqCst) <= before + 64);
}
