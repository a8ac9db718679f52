//! How much heap the chunk cache holds while it reads compressed chunks one after another
//! through a stored reader: one decoded chunk kept (`KEPT`), let go before the next is
//! decoded, each decoded straight into the buffer that is kept (no second buffer and copy). A
//! test binary of its own: its counting allocator sees only this test's allocations.
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

mod common;
use common::{read_file, FILE};
use litebox_image::{ChunkCache, Image, KEPT};

const IMG: &[u8] = include_bytes!("vectors/basic.img");

/// Bytes allocated and not yet freed, and the most there were since [`PEAK`] was last reset.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
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

#[test]
fn reading_chunk_after_chunk_holds_one_decoded_chunk_at_any_time() {
    assert_eq!(KEPT, 1);
    FILE.with(|f| *f.borrow_mut() = IMG.to_vec());
    let mut img = Image::open(IMG).unwrap();
    img.set_stored_reader(read_file);
    let cache = ChunkCache::new(img.header().chunk_count);
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    let cs = img.header().chunk_size as u64;
    let (first, last) = (e.data / cs, (e.data + e.size - 1) / cs);
    assert!(last - first >= 3, "big.bin spans at least four chunks");
    let mut part = [0u8; 10];
    let at = |k: u64| (k * cs).max(e.data) - e.data;
    // The first read makes the decoder and keeps chunk `first`: what the cache holds from now on.
    assert_eq!(cache.read(&img, &e, at(first), &mut part).unwrap(), 10);
    let held = LIVE.load(Ordering::SeqCst);
    for k in first + 1..=last {
        PEAK.store(LIVE.load(Ordering::SeqCst), Ordering::SeqCst);
        let off = at(k).min(e.size - 10);
        assert_eq!(cache.read(&img, &e, off, &mut part).unwrap(), 10);
        assert_eq!(part.to_vec(), (off..off + 10).map(|i| ((i * 7 + i / 4096) % 251) as u8).collect::<Vec<u8>>());
        let peak = PEAK.load(Ordering::SeqCst);
        // A second decoded chunk alive at any moment (the one let go not freed yet, or a copy
        // of the new one) would be a whole chunk more than what is held between reads.
        assert!(peak < held + cs as usize / 2, "chunk {k}: peak {peak} bytes, {held} held between reads");
        assert!(LIVE.load(Ordering::SeqCst) <= held + 64, "chunk {k}: {} bytes held", LIVE.load(Ordering::SeqCst));
        assert_eq!(cache.kept_count(), 1);
    }
    assert_eq!(cache.decode_count() as u64, last - first + 1);
}
