//! Chunk data read through a stored reader (`Image::set_stored_reader`, linux-userland's pread
//! of its own executable) instead of the image's mapping: the same bytes come back, the
//! mapping's data region is never read, and every change to the reader's bytes is caught.
use std::cell::RefCell;

mod common;
use common::{read_file, FILE};
use litebox_image::{ChunkCache, EntryKind, Image, ImageErrorKind};

const IMG: &[u8] = include_bytes!("vectors/basic.img");
/// The same tree at compression level 0: every chunk stored raw.
const STORED: &[u8] = include_bytes!("vectors/stored.img");
const VECTORS: [&[u8]; 2] = [IMG, STORED];

fn failing_reader(_: u64, _: &mut [u8]) -> bool {
    false
}

/// The image's data region (absolute offsets).
fn data_region(img: &[u8]) -> core::ops::Range<usize> {
    let at = u64::from_le_bytes(img[96..104].try_into().unwrap()) as usize;
    let len = u64::from_le_bytes(img[104..112].try_into().unwrap()) as usize;
    at..at + len
}

/// Every file's bytes, read with `read` (even entries) or `read_once` (odd entries) through
/// `mapping` with the stored reader over `file`; the first error's kind otherwise.
fn read_everything(mapping: &[u8], file: &[u8]) -> Result<Vec<Vec<u8>>, ImageErrorKind> {
    FILE.with(|f| *f.borrow_mut() = file.to_vec());
    let mut img = Image::open(mapping).map_err(|e| e.kind)?;
    img.set_stored_reader(read_file);
    let cache = ChunkCache::new(img.header().chunk_count);
    let mut out = Vec::new();
    for i in 0..img.len() {
        let e = img.try_entry(i).map_err(|e| e.kind)?;
        if e.kind != EntryKind::File {
            continue;
        }
        let mut buf = vec![0u8; e.size as usize];
        let n = if i % 2 == 0 { cache.read(&img, &e, 0, &mut buf) } else { cache.read_once(&img, &e, 0, &mut buf) };
        buf.truncate(n.map_err(|e| e.kind)?);
        // A second read comes from what the first one kept or marked checked.
        let mut again = vec![0u8; e.size as usize];
        cache.read(&img, &e, 0, &mut again).map_err(|e| e.kind)?;
        assert_eq!(again, buf, "entry {i} read twice");
        out.push(buf);
    }
    Ok(out)
}

/// `img` with its data region scrambled: what a reader of the mapping would get wrong.
fn scrambled_data(img: &[u8]) -> Vec<u8> {
    let mut m = img.to_vec();
    for b in &mut m[data_region(img)] {
        *b ^= 0x5a;
    }
    m
}

#[test]
fn files_read_through_the_reader_match_and_never_touch_the_mapped_data() {
    let plain = read_everything(IMG, IMG).expect("intact image reads");
    assert!(plain.iter().any(|f| !f.is_empty()), "the vector has file data");
    for v in VECTORS {
        // Only the reader's bytes can give the right answer.
        assert_eq!(read_everything(&scrambled_data(v), v).expect("reads through the reader"), plain);
    }
}

#[test]
fn every_change_to_the_readers_data_is_caught() {
    for v in VECTORS {
        let want = read_everything(v, v).unwrap();
        let mut file = v.to_vec();
        for pos in data_region(v) {
            file[pos] ^= 0x01;
            let r = read_everything(v, &file);
            file[pos] ^= 0x01;
            // Zeros between frames belong to no chunk and are never read.
            match r {
                Ok(files) => assert_eq!(files, want, "byte {pos} changed what a file reads"),
                Err(kind) => assert_eq!(kind, ImageErrorKind::Tampered, "byte {pos}"),
            }
        }
    }
}

fn big(m: &[u8]) -> (Image<'_>, litebox_image::Entry<'_>) {
    let img = Image::open(m).unwrap();
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    (img, e)
}

#[test]
fn a_span_to_map_is_checked_through_the_reader() {
    let (img, e) = big(STORED);
    let (at, _, _) = img.raw_span(&e, 0, e.size).expect("stored chunks lie in one run");
    let mut file = STORED.to_vec();
    // Intact: the span's offset; the mapping's (scrambled) data is not what was checked.
    FILE.with(|f| *f.borrow_mut() = file.clone());
    let mapping = scrambled_data(STORED);
    let (mut img, e) = big(&mapping);
    img.set_stored_reader(read_file);
    let cache = ChunkCache::new(img.header().chunk_count);
    assert_eq!(cache.verified_span(&img, &e, 0, e.size).unwrap(), Some(at));
    // One byte of it changed in the file: refused before anything is mapped.
    file[at as usize + e.size as usize / 2] ^= 0x01;
    FILE.with(|f| *f.borrow_mut() = file);
    let (mut img, e) = big(STORED);
    img.set_stored_reader(read_file);
    let cache = ChunkCache::new(img.header().chunk_count);
    assert_eq!(cache.verified_span(&img, &e, 0, e.size).unwrap_err().kind, ImageErrorKind::Tampered);
}

#[test]
fn a_reader_that_fails_is_a_damaged_image() {
    let mut img = Image::open(IMG).unwrap();
    img.set_stored_reader(failing_reader);
    let cache = ChunkCache::new(img.header().chunk_count);
    let e = img.entry(img.lookup(b"/app/hello.txt").unwrap());
    let mut buf = vec![0u8; e.size as usize];
    assert_eq!(cache.read(&img, &e, 0, &mut buf).unwrap_err().kind, ImageErrorKind::Damaged);
}

/// The same tree, stored raw in 4 KiB chunks: big.bin spans several chunks.
const STORED4K: &[u8] = include_bytes!("vectors/stored4k.img");

thread_local! {
    /// How many times this test thread's counting reader was called.
    static CALLS: RefCell<usize> = const { RefCell::new(0) };
}

fn counting_reader(off: u64, buf: &mut [u8]) -> bool {
    CALLS.with(|c| *c.borrow_mut() += 1);
    read_file(off, buf)
}

fn calls() -> usize {
    CALLS.with(|c| *c.borrow())
}

#[test]
fn small_reads_after_the_check_come_from_the_kept_piece() {
    FILE.with(|f| *f.borrow_mut() = STORED4K.to_vec());
    let (mut img, e) = big(STORED4K);
    img.set_stored_reader(counting_reader);
    let cache = ChunkCache::new(img.header().chunk_count);
    let mut whole = vec![0u8; e.size as usize];
    assert_eq!(cache.read(&img, &e, 0, &mut whole).unwrap(), whole.len());
    let before = calls();
    // 1-byte reads of the same 4 KiB: one host read, then none.
    for off in 100..600u64 {
        let mut b = [0u8; 1];
        assert_eq!(cache.read(&img, &e, off, &mut b).unwrap(), 1);
        assert_eq!(b[0], whole[off as usize], "byte {off}");
    }
    assert_eq!(calls() - before, 1, "one host read for 500 small reads inside one piece");
    // Every byte of the file, read in small pieces of odd sizes, is the file's.
    let mut off = 0usize;
    while off < whole.len() {
        let mut b = vec![0u8; 1 + off % litebox_image::SMALL_READ];
        let n = cache.read(&img, &e, off as u64, &mut b).unwrap();
        assert!(n > 0);
        assert_eq!(b[..n], whole[off..off + n], "at {off}");
        off += n;
    }
    // A read larger than SMALL_READ goes to the reader straight.
    let before = calls();
    let mut b = vec![0u8; litebox_image::SMALL_READ + 1];
    cache.read(&img, &e, 0, &mut b).unwrap();
    assert_eq!(calls() - before, 1);
    assert_eq!(b[..], whole[..b.len()]);
}

#[test]
fn the_kept_piece_never_reaches_into_an_unchecked_chunk() {
    // The second chunk of big.bin damaged in the file: a small read at the end of the first
    // chunk succeeds, and the next small read (first byte of the second chunk) is refused.
    let (img, e) = big(STORED4K);
    let cs = img.header().chunk_size as u64;
    let (at, first, _) = img.raw_span(&e, 0, e.size).expect("stored chunks lie in one run");
    let into_second = cs - (e.data % cs);
    assert!(into_second < e.size, "big.bin spans two chunks");
    let mut file = STORED4K.to_vec();
    file[(at + into_second) as usize + 1] ^= 0x01;
    FILE.with(|f| *f.borrow_mut() = file);
    let (mut img, e) = big(STORED4K);
    img.set_stored_reader(counting_reader);
    let cache = ChunkCache::new(img.header().chunk_count);
    let mut b = [0u8; 1];
    assert_eq!(cache.read(&img, &e, into_second - 1, &mut b).unwrap(), 1);
    assert_eq!(b[0], STORED4K[(at + into_second) as usize - 1]);
    let err = cache.read(&img, &e, into_second, &mut b).unwrap_err();
    assert_eq!(err.kind, ImageErrorKind::Tampered, "chunk {} is checked before it is read", first + 1);
}
