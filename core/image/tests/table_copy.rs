//! Table pages read through the stored reader into a private copy (`Image::copy_tables`,
//! linux-userland's pread of its own executable) instead of the image's mapping: the same
//! entries come back, the mapping's table pages are not read after open, each page is read and
//! checked once when first used, and a changed page in the file is caught.
use std::cell::RefCell;

use litebox_image::{Image, ImageErrorKind, TABLE_PAGE};

/// 3035 entries: a table area of 48 pages.
const WIDE: &[u8] = include_bytes!("vectors/wide.img");
const BASIC: &[u8] = include_bytes!("vectors/basic.img");

thread_local! {
    /// What the stored reader of this test thread reads: the "file" behind the image.
    static FILE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// How many times it was called.
    static CALLS: RefCell<usize> = const { RefCell::new(0) };
}

fn read_file(off: u64, buf: &mut [u8]) -> bool {
    CALLS.with(|c| *c.borrow_mut() += 1);
    FILE.with(|f| {
        let f = f.borrow();
        let Some(src) = f.get(off as usize..off as usize + buf.len()) else { return false };
        buf.copy_from_slice(src);
        true
    })
}

fn calls() -> usize {
    CALLS.with(|c| *c.borrow())
}

fn u64_at(b: &[u8], off: usize) -> usize {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap()) as usize
}

/// The table area (absolute offsets): entry table start to chunk table end.
fn table_area(img: &[u8]) -> std::ops::Range<usize> {
    u64_at(img, 48)..u64_at(img, 80) + u64_at(img, 88)
}

/// `img` with every table page scrambled but the ones `Image::open` reads (the root entry's
/// page and the page of its path string): what a reader of the mapping would get wrong.
fn scrambled_tables(img: &[u8]) -> Vec<u8> {
    let area = table_area(img);
    let root_path = u64_at(img, 64) + u32::from_le_bytes(img[area.start..area.start + 4].try_into().unwrap()) as usize;
    let keep = [0, (root_path - area.start) / TABLE_PAGE];
    let mut m = img.to_vec();
    for pos in area.clone() {
        if !keep.contains(&((pos - area.start) / TABLE_PAGE)) {
            m[pos] ^= 0x5a;
        }
    }
    m
}

/// What a test compares of one entry: its path, size, data field and its path's lookup.
type Seen = (Vec<u8>, u64, u64, Option<u32>);

/// Every entry's [`Seen`], read through `img`.
fn everything(img: &Image<'_>) -> Result<Vec<Seen>, ImageErrorKind> {
    (0..img.len())
        .map(|i| {
            let e = img.try_entry(i).map_err(|e| e.kind)?;
            Ok((e.path.to_vec(), e.size, e.data, img.try_lookup(e.path).map_err(|e| e.kind)?))
        })
        .collect()
}

fn open_with_copy(mapping: &[u8], file: &[u8]) -> Image<'static> {
    FILE.with(|f| *f.borrow_mut() = file.to_vec());
    let mapping: &'static [u8] = Box::leak(mapping.to_vec().into_boxed_slice());
    let mut img = Image::open(mapping).expect("opens");
    img.set_stored_reader(read_file);
    assert!(img.copy_tables(), "a copy is made");
    img
}

#[test]
fn tables_read_through_the_copy_match_and_never_touch_the_mapped_tables() {
    let want = everything(&Image::open(WIDE).unwrap()).unwrap();
    let mapping = scrambled_tables(WIDE);
    // The control: read in the mapping, the scrambled pages are caught.
    assert_eq!(everything(&Image::open(&mapping).unwrap()).unwrap_err(), ImageErrorKind::Tampered);
    let img = open_with_copy(&mapping, WIDE);
    assert_eq!(everything(&img).unwrap(), want);
    img.check_all().expect("every page checks out through the copy");
}

#[test]
fn each_page_is_read_once_when_first_used() {
    let img = open_with_copy(WIDE, WIDE);
    let (done, pages) = img.pages_checked();
    assert_eq!((done, pages), (0, table_area(WIDE).len().div_ceil(TABLE_PAGE)));
    let before = calls();
    let target = img.entry(img.len() / 3);
    assert_eq!(img.lookup(target.path), Some(img.len() / 3));
    let read = calls() - before;
    // A binary search touches a few pages, not the table.
    assert_eq!(read, img.pages_checked().0);
    assert!(read > 0 && read < pages / 2, "{read} of {pages} pages read for one lookup");
    // The same lookup again reads nothing.
    assert_eq!(img.lookup(target.path), Some(img.len() / 3));
    assert_eq!(calls() - before, read);
}

#[test]
fn a_changed_table_page_in_the_file_is_caught() {
    let want = everything(&Image::open(WIDE).unwrap()).unwrap();
    let area = table_area(WIDE);
    // One byte of an entry in the middle of the entry table (its mode), changed in the file
    // only: the mapping is intact, yet the entry's page fails its digest.
    let victim = 2000usize;
    let mut file = WIDE.to_vec();
    file[area.start + victim * 48 + 12] ^= 0x01;
    let img = open_with_copy(WIDE, &file);
    assert_eq!(img.try_entry(victim as u32).unwrap_err().kind, ImageErrorKind::Tampered);
    // Entries on other pages still read as packed.
    let page = |i: usize| i * 48 / TABLE_PAGE;
    for (i, w) in want.iter().enumerate().filter(|(i, _)| page(*i) != page(victim)).step_by(97) {
        let e = img.try_entry(i as u32).unwrap();
        assert_eq!((e.path.to_vec(), e.size, e.data), (w.0.clone(), w.1, w.2), "entry {i}");
    }
}

#[test]
fn no_copy_without_a_stored_reader_or_for_a_vouched_image() {
    let mut img = Image::open(BASIC).unwrap();
    assert!(!img.copy_tables());
    let mut vouched = Image::open_checked(BASIC).unwrap();
    vouched.set_stored_reader(read_file);
    assert!(!vouched.copy_tables());
    assert_eq!(img.table_copy_len(), table_area(BASIC).len().next_multiple_of(TABLE_PAGE));
}
