//! The Rust reader against the image the Python writer produced (scripts/gen_image_vectors.py),
//! and a mutation sweep: every single-byte change and every truncation of that image must be
//! refused with an error, never a panic, and never read back as the original contents.
use litebox_image::{ChunkCache, EntryKind, Image, ImageErrorKind};
use sha2::{Digest, Sha256};
use xxhash_rust::xxh3::xxh3_64;

const IMG: &[u8] = include_bytes!("vectors/basic.img");
const EXPECT: &str = include_str!("vectors/basic.expect");

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn read_all(img: &Image<'_>, cache: &ChunkCache, i: u32) -> Result<Vec<u8>, litebox_image::ImageError> {
    let e = img.entry(i);
    let mut buf = vec![0u8; e.size as usize];
    // Alternate the two read paths over the entries, so the sweeps below cover both.
    let n =
        if i.is_multiple_of(2) { cache.read(img, &e, 0, &mut buf)? } else { cache.read_once(img, &e, 0, &mut buf)? };
    buf.truncate(n);
    Ok(buf)
}

#[test]
fn reads_every_entry_the_writer_wrote() {
    let img = Image::open(IMG).expect("vector opens");
    let cache = ChunkCache::new(img.header().chunk_count);
    let mut lines = EXPECT.lines();
    let digest = lines.next().unwrap().strip_prefix("digest ").unwrap();
    assert_eq!(hex(&img.header().root_digest), digest);
    let mut count = 0;
    for line in lines {
        let f: Vec<&str> = line.split(' ').collect();
        let i = img.lookup(f[1].as_bytes()).unwrap_or_else(|| panic!("{} not found", f[1]));
        assert_eq!(i, count, "entries are in writer order");
        let e = img.entry(i);
        match f[0] {
            "dir" => {
                assert_eq!(e.kind, EntryKind::Dir);
                assert_eq!(format!("{:o}", e.mode), f[2]);
            }
            "file" => {
                assert_eq!(e.kind, EntryKind::File);
                assert_eq!(format!("{:o}", e.mode), f[2]);
                assert_eq!(e.size.to_string(), f[3]);
                let data = read_all(&img, &cache, i).unwrap();
                assert_eq!(hex(&Sha256::digest(&data)), f[4], "{}", f[1]);
            }
            "symlink" => {
                assert_eq!(e.kind, EntryKind::Symlink);
                assert_eq!(img.symlink_target(&e), f[2].as_bytes());
            }
            k => panic!("unknown kind {k}"),
        }
        assert_eq!(e.mtime, 1_700_000_000);
        count += 1;
    }
    assert_eq!(count, img.len());
}

#[test]
fn children_and_partial_reads() {
    let img = Image::open(IMG).unwrap();
    let cache = ChunkCache::new(img.header().chunk_count);
    let app = img.lookup(b"/app").unwrap();
    let names: Vec<Vec<u8>> = {
        let d = img.entry(app);
        (d.data..d.data + d.size).map(|c| img.entry(c as u32).name().to_vec()).collect()
    };
    let expected: Vec<&[u8]> = vec![b"abs-link", b"big.bin", b"copy.txt", b"empty", b"hello.txt", b"link", b"sub"];
    assert_eq!(names, expected);
    assert_eq!(img.child(app, b"hello.txt"), img.lookup(b"/app/hello.txt"));
    assert_eq!(img.child(app, b"nope"), None);
    // A read that crosses chunk boundaries, at an odd offset.
    let big = img.lookup(b"/app/big.bin").unwrap();
    let e = img.entry(big);
    let mut buf = vec![0u8; 9000];
    assert_eq!(cache.read(&img, &e, 4000, &mut buf).unwrap(), 9000);
    let want: Vec<u8> = (4000..13000).map(|i: usize| ((i * 7 + i / 4096) % 251) as u8).collect();
    assert_eq!(buf, want);
    // Past the end: nothing.
    assert_eq!(cache.read(&img, &e, 20000, &mut buf).unwrap(), 0);
    let cfg = img.launch_config().unwrap();
    assert_eq!(cfg.entry, b"/app/big.bin");
    assert_eq!(cfg.args, vec![&b"/app/big.bin"[..], b"one"]);
    assert_eq!(cfg.cwd, b"/app");
    assert_eq!(cfg.hostname, b"vector");
    assert!(!cfg.env_inherit);
}

/// Opens a mutated image and reads every file; returns the first error kind, or None if the
/// image was accepted and every file read back.
fn try_everything(bytes: &[u8]) -> Option<ImageErrorKind> {
    let img = match Image::open(bytes) {
        Ok(i) => i,
        Err(e) => return Some(e.kind),
    };
    if let Err(e) = img.launch_config() {
        return Some(e.kind);
    }
    let cache = ChunkCache::new(img.header().chunk_count);
    for i in 0..img.len() {
        let e = match img.try_entry(i) {
            Ok(e) => e,
            Err(e) => return Some(e.kind),
        };
        if e.kind == EntryKind::File {
            if let Err(e) = read_all(&img, &cache, i) {
                return Some(e.kind);
            }
        }
    }
    None
}

#[test]
fn every_single_byte_change_is_caught() {
    let mut m = IMG.to_vec();
    for pos in 0..m.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            m[pos] ^= flip;
            let r = try_everything(&m);
            m[pos] ^= flip;
            assert!(r.is_some(), "flipping byte {pos} by {flip:#x} went unnoticed");
        }
    }
}

#[test]
fn every_truncation_is_refused() {
    for len in 0..IMG.len() {
        assert!(try_everything(&IMG[..len]).is_some(), "truncated to {len} accepted");
    }
}

/// `bytes` with chunk `k`'s stored frame changed by `f`, then its chunk digest and the root
/// digest recomputed: a damaged (not tampered) image that only the decoder can refuse.
fn resealed_with_chunk_changed(bytes: &[u8], k: usize, f: impl Fn(&mut [u8])) -> Vec<u8> {
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize;
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap()) as usize;
    let mut m = bytes.to_vec();
    let (config, chunks, data) = (u64_at(&m, 32), u64_at(&m, 80), u64_at(&m, 96));
    let chunks_end = chunks + u64_at(&m, 88);
    let rec = chunks + 56 * k;
    let (off, comp) = (u64_at(&m, rec), u32_at(&m, rec + 8));
    f(&mut m[data + off..data + off + comp]);
    let digest = Sha256::digest(&m[data + off..data + off + comp]);
    m[rec + 16..rec + 48].copy_from_slice(&digest);
    let check = xxh3_64(&m[data + off..data + off + comp]);
    m[rec + 48..rec + 56].copy_from_slice(&check.to_le_bytes());
    reseal(&mut m);
    let _ = (config, chunks_end);
    m
}

/// Recomputes the page digest table and the root digest of an image whose tables were changed.
fn reseal(m: &mut [u8]) {
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize;
    let (config, config_size, index, chunks) = (u64_at(m, 32), u64_at(m, 40), u64_at(m, 48), u64_at(m, 80));
    let tables_end = chunks + u64_at(m, 88);
    let mut pages = Vec::new();
    for page in m[index..tables_end].chunks(4096) {
        pages.extend_from_slice(&Sha256::digest(page));
    }
    m[tables_end..tables_end + pages.len()].copy_from_slice(&pages);
    let mut h = Sha256::new();
    h.update(&m[..128]);
    h.update(&m[config..config + config_size]);
    h.update(&pages);
    let root = h.finalize();
    m[128..160].copy_from_slice(&root);
}

#[test]
fn a_bad_frame_behind_a_valid_digest_is_damaged() {
    // Chunk 0 of the vector is a zstd frame (comp_size < raw_size).
    let m = resealed_with_chunk_changed(IMG, 0, |frame| frame[0] ^= 0xff);
    assert!(Image::open(&m).is_ok(), "the resealed image passes every digest");
    assert_eq!(try_everything(&m), Some(ImageErrorKind::Damaged));
    // Unchanged but resealed: still reads back (the helper itself is faithful).
    assert_eq!(try_everything(&resealed_with_chunk_changed(IMG, 0, |_| {})), None);
}

/// big.bin's bytes, as scripts/gen_image_vectors.py writes them.
fn big_bytes(range: core::ops::Range<usize>) -> Vec<u8> {
    range.map(|i| ((i * 7 + i / 4096) % 251) as u8).collect()
}

#[test]
fn a_whole_chunk_read_once_decodes_in_place_then_later_reads_still_match() {
    let img = Image::open(IMG).unwrap();
    let cs = img.header().chunk_size as u64;
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    // The first file offset that starts a chunk of the stream, and a read of that whole chunk.
    let off = (cs - e.data % cs) % cs;
    assert!(off + cs <= e.size, "the vector's big.bin spans a whole chunk");
    let cache = ChunkCache::new(img.header().chunk_count);
    let mut buf = vec![0u8; cs as usize];
    assert_eq!(cache.read_once(&img, &e, off, &mut buf).unwrap(), cs as usize);
    assert_eq!(buf, big_bytes(off as usize..(off + cs) as usize));
    assert_eq!(cache.read_count().0, 1);
    // Again whole, then a part of it: decoded again from the image and kept.
    buf.fill(0);
    assert_eq!(cache.read_once(&img, &e, off, &mut buf).unwrap(), cs as usize);
    assert_eq!(buf, big_bytes(off as usize..(off + cs) as usize));
    let mut part = vec![0u8; 100];
    assert_eq!(cache.read(&img, &e, off + 10, &mut part).unwrap(), 100);
    assert_eq!(part, big_bytes((off + 10) as usize..(off + 110) as usize));
    assert_eq!(cache.read_count().0, 1);
}

#[test]
fn a_whole_chunk_read_once_checks_the_digest_first() {
    let img = Image::open(IMG).unwrap();
    let cs = img.header().chunk_size as u64;
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    let off = (cs - e.data % cs) % cs;
    let k = ((e.data + off) / cs) as usize;
    // Flip the last byte of that chunk's frame, leaving every digest as packed.
    let chunks = u64::from_le_bytes(IMG[80..88].try_into().unwrap()) as usize;
    let data = u64::from_le_bytes(IMG[96..104].try_into().unwrap()) as usize;
    let rec = chunks + 56 * k;
    let start = u64::from_le_bytes(IMG[rec..rec + 8].try_into().unwrap()) as usize;
    let comp = u32::from_le_bytes(IMG[rec + 8..rec + 12].try_into().unwrap()) as usize;
    let mut m = IMG.to_vec();
    m[data + start + comp - 1] ^= 0x01;
    let img = Image::open(&m).unwrap();
    let cache = ChunkCache::new(img.header().chunk_count);
    let mut buf = vec![0u8; cs as usize];
    let err = cache.read_once(&img, &e, off, &mut buf).unwrap_err();
    assert_eq!(err.kind, ImageErrorKind::Tampered);
    // Resealed, the same change reaches the decoder, which refuses it.
    let m = resealed_with_chunk_changed(IMG, k, |f| f[0] ^= 0xff);
    let img = Image::open(&m).unwrap();
    let cache = ChunkCache::new(img.header().chunk_count);
    assert_eq!(cache.read_once(&img, &e, off, &mut buf).unwrap_err().kind, ImageErrorKind::Damaged);
}

const WIDE: &[u8] = include_bytes!("vectors/wide.img");

#[test]
fn opening_checks_no_table_page_beyond_the_roots() {
    let img = Image::open(WIDE).unwrap();
    let (done, total) = img.pages_checked();
    assert!(total > 40, "the wide vector's tables span many pages ({total})");
    assert!(done <= 2, "open checked {done} table pages");
    // One lookup checks only the pages its binary search touches.
    let i = img.lookup(b"/lib/d17/f042.py").expect("found");
    assert_eq!(img.entry(i).size, 6);
    let (done, _) = img.pages_checked();
    assert!(done <= 2 + 2 * 13, "one lookup checked {done} of {total} pages");
    assert!(img.check_all().is_ok());
    assert_eq!(img.pages_checked(), (total, total));
}

/// The image offset of entry `i`'s record in the wide vector.
fn wide_entry_offset(i: usize) -> usize {
    u64::from_le_bytes(WIDE[48..56].try_into().unwrap()) as usize + 48 * i
}

#[test]
fn a_changed_table_page_is_caught_when_first_used() {
    let img = Image::open(WIDE).unwrap();
    // The first probe of every binary search is entry n/2; the second, of a late path, 3n/4.
    let last = img.len() * 3 / 4;
    let mut m = WIDE.to_vec();
    m[wide_entry_offset(last as usize) + 12] ^= 0x01; // that entry's mode
    let img = Image::open(&m).expect("the page is not read at open");
    assert!(img.lookup(b"/lib/d00/f001.py").is_some(), "pages far from the change still read");
    assert_eq!(img.try_entry(last).unwrap_err().kind, ImageErrorKind::Tampered);
    assert_eq!(img.try_lookup(b"/lib/d29/f099.py").unwrap_err().kind, ImageErrorKind::Tampered);
    assert_eq!(img.check_all().unwrap_err().kind, ImageErrorKind::Tampered);
}

#[test]
fn a_resealed_bad_entry_is_damaged_when_decoded() {
    let img = Image::open(WIDE).unwrap();
    let last = img.len() - 1;
    let mut m = WIDE.to_vec();
    m[wide_entry_offset(last as usize) + 8] = 9; // an unknown kind, digests recomputed
    reseal(&mut m);
    let img = Image::open(&m).unwrap();
    assert_eq!(img.try_entry(last).unwrap_err().kind, ImageErrorKind::Damaged);
    assert_eq!(img.check_all().unwrap_err().kind, ImageErrorKind::Damaged);
    assert!(img.try_entry(1).is_ok());
}

#[test]
#[should_panic(expected = "tampered image: table page digest does not match")]
fn entry_hands_a_bad_page_to_the_fatal_handler() {
    let mut m = WIDE.to_vec();
    let i = u32::from_le_bytes(WIDE[24..28].try_into().unwrap()) * 3 / 4;
    m[wide_entry_offset(i as usize) + 12] ^= 0x01;
    let img = Image::open(&m).unwrap();
    let _ = img.entry(i);
}

#[test]
fn an_image_opened_as_checked_reads_the_same_and_computes_no_digest() {
    // Same contents as a normal open.
    let img = Image::open_checked(IMG).expect("vector opens");
    let cache = ChunkCache::new(img.header().chunk_count);
    let normal = Image::open(IMG).expect("vector opens");
    let normal_cache = ChunkCache::new(normal.header().chunk_count);
    let (pages, all) = img.pages_checked();
    assert_eq!(pages, all, "every table page counts as checked");
    for i in 0..img.len() {
        if img.entry(i).kind == EntryKind::File {
            assert_eq!(read_all(&img, &cache, i).unwrap(), read_all(&normal, &normal_cache, i).unwrap());
        }
    }
    // No digest is computed: with chunk 0's recorded digest changed (in the chunk table, so
    // its table page's digest no longer matches either), a normal open refuses the image and
    // the vouched-for one reads the same contents as before. A changed root digest still
    // opens. The bounds checks stay: a truncated image is still refused.
    let changed = {
        let mut m = IMG.to_vec();
        let table = u64::from_le_bytes(m[80..88].try_into().unwrap()) as usize;
        m[table + 16] ^= 0x20; // chunk 0's record: offset u64, sizes u32 x 2, then the digest
        m
    };
    assert!(try_everything(&changed).is_some(), "a normal open refuses the changed record");
    let vouched = Image::open_checked(&changed).expect("opens without digests");
    let vouched_cache = ChunkCache::new(vouched.header().chunk_count);
    for i in 0..vouched.len() {
        if vouched.entry(i).kind == EntryKind::File {
            assert_eq!(read_all(&vouched, &vouched_cache, i).unwrap(), read_all(&img, &cache, i).unwrap());
        }
    }
    let mut root_changed = IMG.to_vec();
    root_changed[128] ^= 1;
    assert!(Image::open(&root_changed).is_err());
    assert!(Image::open_checked(&root_changed).is_ok());
    assert!(Image::open_checked(&IMG[..IMG.len() / 2]).is_err());
}

#[test]
fn the_cache_keeps_a_bounded_number_of_chunks_decompressed() {
    let img = Image::open(IMG).unwrap();
    let cache = ChunkCache::new(img.header().chunk_count);
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    let cs = img.header().chunk_size as u64;
    let (first, last) = (e.data / cs, (e.data + e.size - 1) / cs);
    assert!((last - first + 1) as usize > litebox_image::KEPT, "big.bin spans more chunks than the cache keeps");
    // One small read in each chunk, first to last, then the first again (decoded again).
    let mut part = vec![0u8; 10];
    let starts = (first..=last).map(|k| (k * cs).max(e.data) - e.data).map(|o| o.min(e.size - 10));
    for off in starts.chain([0]) {
        assert_eq!(cache.read(&img, &e, off, &mut part).unwrap(), 10);
        assert_eq!(part, big_bytes(off as usize..off as usize + 10));
        assert!(cache.kept_count() <= litebox_image::KEPT, "{} kept", cache.kept_count());
    }
    assert_eq!(cache.kept_count(), litebox_image::KEPT);
}

/// A span to map from an image opened with `open_checked` (its chunks' digests checked before
/// the open) is placed where `raw_span` says and its chunks count as read, as when each was
/// checked through the cache; later reads give the packed bytes.
#[test]
fn a_vouched_for_span_is_recorded_as_checked() {
    const STORED4K: &[u8] = include_bytes!("vectors/stored4k.img");
    let (img, vouched) = (Image::open(STORED4K).unwrap(), Image::open_checked(STORED4K).unwrap());
    let (cache, vouched_cache) =
        (ChunkCache::new(img.header().chunk_count), ChunkCache::new(vouched.header().chunk_count));
    let i = img.lookup(b"/app/big.bin").unwrap();
    let e = vouched.entry(i);
    let (at, first, last) = vouched.raw_span(&e, 100, 12000).unwrap();
    assert!(last > first, "the span covers several chunks");
    assert_eq!(vouched_cache.verified_span(&vouched, &e, 100, 12000).unwrap(), Some(at));
    assert_eq!(cache.verified_span(&img, &img.entry(i), 100, 12000).unwrap(), Some(at));
    assert_eq!(vouched_cache.read_count(), cache.read_count());
    assert_eq!(vouched_cache.read_count().0, (last - first + 1) as usize);
    assert_eq!(read_all(&vouched, &vouched_cache, i).unwrap(), read_all(&img, &cache, i).unwrap());
}
