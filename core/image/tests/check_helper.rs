//! A span to map checked together with a helper (`ChunkCache::set_helper`, linux-userland's
//! init checking chunks on the other CPU): the helper's verdicts are used, a bad verdict ends
//! the check as a mismatch does, and a chunk the helper never finishes is checked here, so the
//! caller makes progress whatever the helper does.
use std::sync::Mutex;

mod common;
use common::{read_file, FILE};
use litebox_image::{CheckHelper, ChunkCache, Claim, Image, ImageErrorKind};

/// The fewest unchecked chunks a shared span has here (the vector's span has 5).
const MIN_SPAN: u32 = 4;

/// Every chunk stored raw (compression level 0), in 4 KiB chunks.
const STORED: &[u8] = include_bytes!("vectors/stored4k.img");

/// A helper that answers `claim` and `wait` for some chunks as scripted (the rest are the
/// caller's) and records what it was told.
struct Scripted {
    claims: Vec<(u32, Claim)>,
    waits: Vec<(u32, Claim)>,
    publish: bool,
    /// Whether `defer` takes spans over (linux-userland's deferred checks).
    defers: bool,
    log: Mutex<Vec<String>>,
}

impl Scripted {
    fn new(claims: &[(u32, Claim)], waits: &[(u32, Claim)]) -> &'static Scripted {
        Box::leak(Box::new(Scripted {
            claims: claims.to_vec(),
            waits: waits.to_vec(),
            publish: true,
            defers: false,
            log: Mutex::new(Vec::new()),
        }))
    }
    /// A helper that takes every span over to check later.
    fn deferring() -> &'static Scripted {
        Box::leak(Box::new(Scripted {
            claims: vec![],
            waits: vec![],
            publish: true,
            defers: true,
            log: Mutex::new(Vec::new()),
        }))
    }
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn scripted(list: &[(u32, Claim)], k: u32) -> Option<Claim> {
    list.iter().find(|(c, _)| *c == k).map(|&(_, v)| v)
}

impl CheckHelper for Scripted {
    fn begin(&self, first: u32, last: u32) -> bool {
        self.log.lock().unwrap().push(format!("begin {first}..={last}"));
        self.publish
    }
    fn claim(&self, k: u32) -> Claim {
        scripted(&self.claims, k).unwrap_or(Claim::Mine)
    }
    fn finish(&self, k: u32, good: bool) {
        self.log.lock().unwrap().push(format!("finish {k} {good}"));
    }
    fn wait(&self, k: u32) -> Claim {
        self.log.lock().unwrap().push(format!("wait {k}"));
        scripted(&self.waits, k).unwrap_or(Claim::Busy)
    }
    fn end(&self) {
        self.log.lock().unwrap().push("end".into());
    }
    fn defer(&self, first: u32, last: u32) -> bool {
        // Logged only by a deferring helper: the other tests' logs stay those of eager checks.
        if self.defers {
            self.log.lock().unwrap().push(format!("defer {first}..={last}"));
        }
        self.defers
    }
}

/// The stored vector's big file: its whole extent, the span's chunks and where they start.
fn span_of(file: &[u8]) -> (Image<'static>, ChunkCache, u64, u32, u32) {
    FILE.with(|f| *f.borrow_mut() = file.to_vec());
    let mut img = Image::open(STORED).unwrap();
    img.set_stored_reader(read_file);
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    let (at, first, last) = img.raw_span(&e, 0, e.size).expect("stored chunks lie in one run");
    assert!(last - first + 1 >= MIN_SPAN, "the span is large enough to share ({first}..={last})");
    let cache = ChunkCache::new(img.header().chunk_count);
    (img, cache, at, first, last)
}

fn verify(img: &Image<'_>, cache: &ChunkCache) -> Result<Option<u64>, ImageErrorKind> {
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    cache.verified_span(img, &e, 0, e.size).map_err(|e| e.kind)
}

/// `STORED` with one byte of chunk `k` flipped.
fn damaged(k: u32) -> Vec<u8> {
    let img = Image::open(STORED).unwrap();
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    let (at, first, _) = img.raw_span(&e, 0, e.size).unwrap();
    let cs = img.header().chunk_size as u64;
    let pos = at + (k - first) as u64 * cs - (e.data % cs) + cs / 2;
    let mut file = STORED.to_vec();
    file[pos as usize] ^= 0x01;
    file
}

#[test]
fn the_helpers_good_verdicts_are_used_and_the_rest_checked_here() {
    let (mut img_cache, at, first, last) = {
        let (img, cache, at, first, last) = span_of(STORED);
        ((img, cache), at, first, last)
    };
    let h = Scripted::new(&[(last, Claim::Good), (last - 1, Claim::Busy)], &[(last - 1, Claim::Good)]);
    img_cache.1.set_helper(h, MIN_SPAN);
    let (img, cache) = &img_cache;
    assert_eq!(verify(img, cache), Ok(Some(at)));
    let mut want = vec![format!("begin {first}..={last}")];
    want.extend((first..last - 1).map(|k| format!("finish {k} true")));
    want.extend([format!("wait {}", last - 1), "end".into()]);
    assert_eq!(h.log(), want);
}

#[test]
fn a_bad_verdict_from_the_helper_is_a_tampered_image() {
    // The file is intact: only the helper's verdict on the top chunk says otherwise.
    let (img, mut cache, _, _, last) = span_of(STORED);
    let h = Scripted::new(&[(last, Claim::Bad)], &[]);
    cache.set_helper(h, MIN_SPAN);
    assert_eq!(verify(&img, &cache), Err(ImageErrorKind::Tampered));
    assert_eq!(h.log().last().map(String::as_str), Some("end"), "the job is withdrawn");

    // The same verdict after a wait.
    let (img, mut cache, _, _, last) = span_of(STORED);
    cache.set_helper(Scripted::new(&[(last, Claim::Busy)], &[(last, Claim::Bad)]), MIN_SPAN);
    assert_eq!(verify(&img, &cache), Err(ImageErrorKind::Tampered));
}

#[test]
fn a_chunk_the_helper_never_finishes_is_checked_here() {
    // The helper claimed the top chunk and never answers (descheduled, or dead).
    let (img, mut cache, at, _, last) = span_of(STORED);
    cache.set_helper(Scripted::new(&[(last, Claim::Busy)], &[]), MIN_SPAN);
    assert_eq!(verify(&img, &cache), Ok(Some(at)));
    // ... and if that chunk is damaged, checking it here finds it.
    let (_, _, _, _, last) = span_of(STORED);
    let (img, mut cache, _, _, _) = span_of(&damaged(last));
    cache.set_helper(Scripted::new(&[(last, Claim::Busy)], &[]), MIN_SPAN);
    assert_eq!(verify(&img, &cache), Err(ImageErrorKind::Tampered));
}

#[test]
fn the_callers_own_chunks_report_their_verdict_to_the_helper() {
    let (_, _, _, first, _) = span_of(STORED);
    let (img, mut cache, _, _, _) = span_of(&damaged(first + 1));
    let h = Scripted::new(&[], &[]);
    cache.set_helper(h, MIN_SPAN);
    assert_eq!(verify(&img, &cache), Err(ImageErrorKind::Tampered));
    let log = h.log();
    assert!(log.contains(&format!("finish {} false", first + 1)), "{log:?}");
    assert_eq!(log.last().map(String::as_str), Some("end"));
}

#[test]
fn without_a_published_job_everything_is_checked_here() {
    let (_, _, _, _, last) = span_of(STORED);
    let (img, mut cache, _, _, _) = span_of(&damaged(last));
    let h: &'static Scripted = Box::leak(Box::new(Scripted {
        claims: vec![(last, Claim::Good)],
        waits: vec![],
        publish: false,
        defers: false,
        log: Mutex::new(Vec::new()),
    }));
    cache.set_helper(h, MIN_SPAN);
    // Each chunk is then checked here as a first read is: the helper's verdict is taken where
    // it has one (the top chunk's, believed), every other chunk is checked here and its
    // verdict reported; so the damaged top chunk passes and nothing else is a mismatch.
    assert_eq!(
        verify(&img, &cache),
        Ok(Some(img.raw_span(&img.entry(img.lookup(b"/app/big.bin").unwrap()), 0, 1).unwrap().0))
    );
    let log = h.log();
    assert_eq!(log[0], format!("begin {}..={last}", last - 4), "{log:?}");
    assert!(!log.contains(&format!("finish {last} true")), "{log:?}");
    // Without the helper's verdict the damaged top chunk is found here.
    let (img, mut cache, _, _, _) = span_of(&damaged(last));
    cache.set_helper(Scripted::new(&[], &[]), MIN_SPAN);
    assert_eq!(verify(&img, &cache), Err(ImageErrorKind::Tampered));
}

#[test]
fn chunks_checked_here_before_are_reported_and_a_span_of_them_is_not_shared() {
    let (img, mut cache, at, first, last) = span_of(STORED);
    let h = Scripted::new(&[], &[]);
    cache.set_helper(h, MIN_SPAN);
    // A read checks the span's first chunk without the helper.
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    let mut buf = [0u8; 16];
    cache.read(&img, &e, 0, &mut buf).unwrap();
    assert_eq!(verify(&img, &cache), Ok(Some(at)));
    let log = h.log();
    // The read's own verdict is reported at once, and again when the span is published.
    assert_eq!(
        log[..3],
        [format!("finish {first} true"), format!("begin {first}..={last}"), format!("finish {first} true")],
        "{log:?}"
    );
    // Every chunk is known now: mapping the span again publishes nothing.
    assert_eq!(verify(&img, &cache), Ok(Some(at)));
    assert_eq!(h.log(), log);
}

#[test]
fn a_span_with_fewer_unchecked_chunks_than_the_minimum_is_checked_alone() {
    let (img, mut cache, at, _, _) = span_of(STORED);
    let h = Scripted::new(&[], &[]);
    cache.set_helper(h, 6);
    assert_eq!(verify(&img, &cache), Ok(Some(at)));
    // No job: each chunk checked here, its verdict reported (as a first read's is).
    assert!(h.log().iter().all(|l| l.starts_with("finish ") && l.ends_with(" true")), "{:?}", h.log());
}

#[test]
fn a_span_too_small_for_a_job_is_still_deferred_at_the_defer_minimum() {
    // The vector's span has 5 chunks: below a job's minimum of 6, at a deferral minimum of 2.
    let (_, _, _, first, last) = span_of(STORED);
    let (img, mut cache, at, _, _) = span_of(STORED);
    let h = Scripted::deferring();
    cache.set_helper(h, 6);
    cache.set_defer_span(2);
    assert_eq!(verify(&img, &cache), Ok(Some(at)));
    assert_eq!(h.log(), [format!("defer {first}..={last}")]);
    assert_eq!(cache.read_count().0, 0, "nothing checked here");
}

#[test]
fn a_span_below_both_minimums_is_neither_deferred_nor_a_job() {
    let (img, mut cache, at, _, _) = span_of(STORED);
    let h = Scripted::deferring();
    cache.set_helper(h, 6);
    cache.set_defer_span(6);
    assert_eq!(verify(&img, &cache), Ok(Some(at)));
    assert!(h.log().iter().all(|l| l.starts_with("finish ") && l.ends_with(" true")), "{:?}", h.log());
}

#[test]
fn a_deferred_span_is_mapped_at_once_without_checking_its_chunks() {
    // Even a damaged chunk: its check is the helper's now (linux-userland's effect gate).
    let (_, _, _, first, last) = span_of(STORED);
    let (img, mut cache, at, _, _) = span_of(&damaged(last - 1));
    let h = Scripted::deferring();
    cache.set_helper(h, MIN_SPAN);
    assert_eq!(verify(&img, &cache), Ok(Some(at)));
    assert_eq!(h.log(), [format!("defer {first}..={last}")], "nothing checked or waited for here");
    assert_eq!(cache.read_count().0, 0, "deferred chunks are not counted as read");
    // Mapping the span again hands nothing over and checks nothing here.
    assert_eq!(verify(&img, &cache), Ok(Some(at)));
    assert_eq!(h.log().len(), 1, "{:?}", h.log());
}

#[test]
fn a_read_of_a_deferred_chunk_still_checks_it_here() {
    let (_, _, _, first, _) = span_of(STORED);
    let (img, mut cache, at, _, _) = span_of(&damaged(first));
    cache.set_helper(Scripted::deferring(), MIN_SPAN);
    assert_eq!(verify(&img, &cache), Ok(Some(at)));
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    let mut buf = [0u8; 16];
    assert_eq!(cache.read(&img, &e, 0, &mut buf).map_err(|e| e.kind), Err(ImageErrorKind::Tampered));
}

#[test]
fn a_read_of_a_deferred_chunk_takes_the_helpers_verdict_or_gives_it_its_own() {
    let (_, _, _, first, last) = span_of(STORED);
    // The helper found the (damaged) first chunk good: believed, not checked again here.
    let (img, mut cache, at, _, _) = span_of(&damaged(first));
    let h: &'static Scripted = Box::leak(Box::new(Scripted {
        claims: vec![(first, Claim::Good), (last, Claim::Bad)],
        waits: vec![],
        publish: true,
        defers: true,
        log: Mutex::new(Vec::new()),
    }));
    cache.set_helper(h, MIN_SPAN);
    assert_eq!(verify(&img, &cache), Ok(Some(at)));
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    let mut buf = [0u8; 16];
    assert_eq!(cache.read(&img, &e, 0, &mut buf).map_err(|e| e.kind), Ok(16));
    // The helper found the (intact) last chunk bad: a read of it fails without a check here.
    let chunk_at = |off: u64| img.raw_span(&e, off, 1).map(|(_, k, _)| k);
    assert_eq!(chunk_at(e.size - 1), Some(last));
    assert_eq!(cache.read(&img, &e, e.size - 1, &mut buf[..1]).map_err(|e| e.kind), Err(ImageErrorKind::Tampered));
    // A chunk nobody claimed: checked by the read, and the verdict goes to the helper.
    let off = (0..e.size).step_by(512).find(|&o| chunk_at(o) == Some(first + 1)).unwrap();
    cache.read(&img, &e, off, &mut buf).unwrap();
    assert!(h.log().contains(&format!("finish {} true", first + 1)), "{:?}", h.log());
}

#[test]
fn chunks_checked_here_before_a_deferred_span_are_reported_good() {
    let (img, mut cache, at, first, last) = span_of(STORED);
    let h = Scripted::deferring();
    cache.set_helper(h, MIN_SPAN);
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    let mut buf = [0u8; 16];
    cache.read(&img, &e, 0, &mut buf).unwrap();
    assert_eq!(verify(&img, &cache), Ok(Some(at)));
    assert_eq!(
        h.log(),
        [format!("finish {first} true"), format!("defer {first}..={last}"), format!("finish {first} true")]
    );
}

#[test]
fn a_first_read_takes_the_helpers_verdict_on_a_chunk_it_checked_first() {
    // linux-userland's init checks the program's (and its interpreter's) first and last chunks
    // before the app's process reads them: a read of a chunk never read here takes that verdict.
    let (_, _, _, first, last) = span_of(STORED);
    let (img, mut cache, _, _, _) = span_of(&damaged(first));
    let h = Scripted::new(&[(first, Claim::Good), (last, Claim::Bad)], &[]);
    cache.set_helper(h, MIN_SPAN);
    let e = img.entry(img.lookup(b"/app/big.bin").unwrap());
    let mut buf = [0u8; 16];
    // Believed (the chunk is damaged, the helper said good): not checked here.
    assert_eq!(cache.read(&img, &e, 0, &mut buf).map_err(|e| e.kind), Ok(16));
    // A bad verdict fails the read without a check here (the chunk is intact).
    assert_eq!(cache.read(&img, &e, e.size - 1, &mut buf[..1]).map_err(|e| e.kind), Err(ImageErrorKind::Tampered));
    assert!(h.log().is_empty(), "nothing checked here: {:?}", h.log());

    // A chunk the helper is checking: checked here too, without waiting for its verdict (the
    // helper's good verdict on the damaged chunk is not taken).
    let (img, mut cache, _, _, _) = span_of(&damaged(first));
    let h = Scripted::new(&[(first, Claim::Busy)], &[(first, Claim::Good)]);
    cache.set_helper(h, MIN_SPAN);
    assert_eq!(cache.read(&img, &e, 0, &mut buf).map_err(|e| e.kind), Err(ImageErrorKind::Tampered));
    assert!(h.log().is_empty(), "no wait, nothing reported for a chunk the helper holds: {:?}", h.log());
}
