//! Opening an image (header and root digest only) and reading it on demand: each page of the
//! entry, string and chunk tables is checked against its digest the first time it is used, and
//! each chunk of file data before it is first decompressed. Start-up therefore costs the same
//! whatever the number of files the app never touches.
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::cmp::Ordering;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering as AtOrd};

use crate::sha256::Sha256;
use xxhash_rust::xxh3::{xxh3_64, Xxh3Default};

use crate::error::ImageError;
use crate::format::{
    split_parent, u32_at, u64_at, Entry, EntryKind, Header, CHUNK_RECORD_SIZE, ENTRY_SIZE, HEADER_DIGESTED,
    PAGE_DIGEST_SIZE, TABLE_PAGE,
};
use crate::launch::LaunchConfig;
use crate::zstd::Decoder;

/// The default reaction to an image found bad after it was opened, by a call that cannot
/// return an error ([`Image::entry`], [`Image::lookup`], [`Image::child`]): a panic with the
/// error's message. Runtimes replace it with their exit path ([`Image::set_fatal`]).
fn panic_on_bad_image(e: ImageError) -> ! {
    panic!("{e}")
}

/// An opened image: the header is valid and the root digest matches the header, the launch
/// config and the page digest table. Table pages and chunks are checked when first used.
#[derive(Clone)]
pub struct Image<'a> {
    bytes: &'a [u8],
    header: Header,
    /// One bit per table page: set once the page matched its digest. Shared by clones.
    checked: Arc<[AtomicU64]>,
    fatal: fn(ImageError) -> !,
    /// The whole image was checked before it was opened ([`Image::open_checked`]): chunk reads
    /// skip the digest.
    chunks_checked: bool,
    /// Where chunk data is read from instead of `bytes`, when the platform has a file behind
    /// the image ([`Image::set_stored_reader`]).
    stored_reader: Option<StoredReader>,
    /// The private copy the table pages are read into when first used, instead of being read
    /// in `bytes` ([`Image::copy_tables`]).
    copy: Option<TableCopy>,
}

/// A private copy of the table area (entry, string and chunk tables), filled one
/// [`TABLE_PAGE`] at a time through the stored reader when a page is first used: only the
/// pages used become resident, where the image's mapping would make a whole fault-around
/// window (64 KiB, or a large page-cache folio) resident for each page touched.
#[derive(Clone)]
struct TableCopy {
    /// Address of the copy's first byte, which holds the table area's first byte
    /// (`header.index.offset`): page aligned, [`Image::table_copy_len`] bytes, never freed.
    at: usize,
    /// The page digest table, copied out of the image when the copy was made.
    digests: Arc<[u8]>,
    /// Held while a page is filled and checked (two threads may first use one page at once).
    fill: Arc<Spin<()>>,
}

/// Copies the image's bytes at an image offset into a buffer (all of it, or false), from the
/// file behind the image, without mapping them into the caller's address space.
pub type StoredReader = fn(u64, &mut [u8]) -> bool;

impl<'a> Image<'a> {
    /// Opens `bytes` as an image. Promises on success: the header is valid, the root digest
    /// matches the header, launch config and page digest table, and entry 0 is the root
    /// directory. It reads no more of the tables than the root entry's page: every other
    /// page is checked against its digest on first use, and every entry, string and chunk
    /// record is bounds-checked when it is decoded (see [`Image::check_all`] for a whole check).
    pub fn open(bytes: &'a [u8]) -> Result<Self, ImageError> {
        Self::open_inner(bytes, false)
    }

    /// Opens `bytes` as an image that a party the runtime trusts has already checked whole
    /// (kvm: the host's runner, before the VM booted: the root digest, every table page and
    /// every chunk against its digest): no SHA-256 is computed, neither here nor on later
    /// reads. Everything else is as [`Image::open`]: the header is validated and every entry,
    /// string and chunk record is bounds-checked when decoded. Never for bytes an untrusted
    /// party could have changed since the check (snp's host).
    pub fn open_checked(bytes: &'a [u8]) -> Result<Self, ImageError> {
        Self::open_inner(bytes, true)
    }

    fn open_inner(bytes: &'a [u8], vouched: bool) -> Result<Self, ImageError> {
        let header = Header::parse(bytes)?;
        if !vouched {
            let mut h = Sha256::new();
            h.update(&bytes[..HEADER_DIGESTED]);
            h.update(&bytes[header.config.offset..header.config.offset + header.config.size]);
            h.update(&bytes[header.pages.offset..header.pages.offset + header.pages.size]);
            if h.finalize()[..] != header.root_digest[..] {
                return Err(ImageError::tampered("root digest does not match the image metadata"));
            }
        }
        let pages = header.pages.size / PAGE_DIGEST_SIZE;
        // Vouched for: every page's bit set (and only those, for `pages_checked`).
        let mark = |w: usize| match (vouched, pages - w * 64) {
            (false, _) => 0,
            (true, left) if left >= 64 => u64::MAX,
            (true, left) => (1u64 << left) - 1,
        };
        let checked: Arc<[AtomicU64]> = (0..pages.div_ceil(64)).map(|w| AtomicU64::new(mark(w))).collect();
        let image = Image {
            bytes,
            header,
            checked,
            fatal: panic_on_bad_image,
            chunks_checked: vouched,
            stored_reader: None,
            copy: None,
        };
        let root = image.try_entry(0)?;
        if root.path != b"/" || root.kind != EntryKind::Dir {
            return Err(ImageError::damaged("entry 0 is not the root directory"));
        }
        Ok(image)
    }

    /// Sets what [`Image::entry`], [`Image::lookup`] and [`Image::child`] do when they meet a
    /// table page that fails its digest or an entry out of bounds: `fatal` must not return
    /// (a runtime prints the error and exits with its code, 121 or 122).
    pub fn set_fatal(&mut self, fatal: fn(ImageError) -> !) {
        self.fatal = fatal;
    }

    /// Reads chunk data (file contents) through `read` from now on instead of the image's
    /// mapping: checks and reads then copy through a small buffer, and no page of file data
    /// becomes resident in the mapping (on linux-userland the mapping's page-cache folios are
    /// mapped whole on first touch, so hashing through it cost up to 3 MiB of resident memory
    /// for `python3 -c pass`). The tables are still read through the mapping.
    pub fn set_stored_reader(&mut self, read: StoredReader) {
        self.stored_reader = Some(read);
    }

    /// Reads the entry, string and chunk tables through the stored reader from now on, each
    /// [`TABLE_PAGE`] into a private copy when the page is first used (and checked there against
    /// its digest), instead of through the image's mapping: the mapping is then read no more
    /// after open except by [`Image::launch_config`]. The copy is [`Image::table_copy_len`]
    /// bytes of zeroed heap, page aligned, of which only the pages used are written (resident
    /// on a heap that hands out fresh pages untouched); it is never freed, since entries borrow
    /// their paths from it for `'a`. Call before cloning the image. Returns false, and changes
    /// nothing, without a stored reader, for an image opened with [`Image::open_checked`], or
    /// when the memory cannot be had.
    pub fn copy_tables(&mut self) -> bool {
        if self.stored_reader.is_none() || self.chunks_checked || self.copy.is_some() {
            return false;
        }
        let len = self.table_copy_len();
        let Ok(layout) = core::alloc::Layout::from_size_align(len.max(TABLE_PAGE), TABLE_PAGE) else {
            return false;
        };
        // SAFETY: the layout has a non-zero size.
        let at = unsafe { alloc::alloc::alloc_zeroed(layout) };
        if at.is_null() {
            return false;
        }
        let d = self.header.pages;
        let digests: Arc<[u8]> = self.bytes[d.offset..d.offset + d.size].into();
        let pages = d.size / PAGE_DIGEST_SIZE;
        // Fresh bits: a page counts as checked once it is filled in the copy and checked there.
        self.checked = (0..pages.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        self.copy = Some(TableCopy { at: at as usize, digests, fill: Arc::new(Spin::new(())) });
        true
    }

    /// Bytes of the private copy [`Image::copy_tables`] makes: the table area rounded up to
    /// whole [`TABLE_PAGE`]s.
    pub fn table_copy_len(&self) -> usize {
        let h = &self.header;
        (h.chunks.offset + h.chunks.size - h.index.offset).next_multiple_of(TABLE_PAGE)
    }

    /// The validated header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The launch configuration stored in the image, decoded and validated.
    pub fn launch_config(&self) -> Result<LaunchConfig<'a>, ImageError> {
        let r = self.header.config;
        LaunchConfig::parse(&self.bytes[r.offset..r.offset + r.size])
    }

    /// Number of entries.
    pub fn len(&self) -> u32 {
        self.header.entry_count
    }

    /// Always false: a valid image has at least the root.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// How many table pages have been checked against their digests so far, and how many the
    /// image has: opening checks one, and each lookup only the few its binary search touches.
    pub fn pages_checked(&self) -> (usize, usize) {
        let done = self.checked.iter().map(|w| w.load(AtOrd::Relaxed).count_ones() as usize).sum();
        (done, self.header.pages.size / PAGE_DIGEST_SIZE)
    }

    /// The table-area bytes `[off, off + len)` (absolute image offsets inside the entry,
    /// string and chunk tables, which the header bounded), after checking every page they
    /// touch against its digest.
    fn table(&self, off: usize, len: usize) -> Result<&'a [u8], ImageError> {
        let base = self.header.index.offset;
        let end_all = self.header.chunks.offset + self.header.chunks.size;
        let end = off.checked_add(len).filter(|&e| off >= base && e <= end_all);
        let end = end.ok_or(ImageError::damaged("table read out of bounds").with(off as u64))?;
        if len > 0 {
            for page in (off - base) / TABLE_PAGE..=(end - 1 - base) / TABLE_PAGE {
                self.check_page(page)?;
            }
        }
        match &self.copy {
            // SAFETY: [off, end) lies in the table area, whose copy starts at `c.at` and is
            // never freed; every page the range touches was filled and checked above and is
            // never written again (only unchecked pages are filled).
            Some(c) => Ok(unsafe { core::slice::from_raw_parts((c.at + (off - base)) as *const u8, len) }),
            None => Ok(&self.bytes[off..end]),
        }
    }

    fn check_page(&self, page: usize) -> Result<(), ImageError> {
        let (word, bit) = (&self.checked[page / 64], 1u64 << (page % 64));
        if word.load(AtOrd::Acquire) & bit != 0 {
            return Ok(());
        }
        let base = self.header.index.offset;
        let end_all = self.header.chunks.offset + self.header.chunks.size;
        let start = base + page * TABLE_PAGE;
        let stop = core::cmp::min(start + TABLE_PAGE, end_all);
        let tampered = || ImageError::tampered("table page digest does not match").with(page as u64);
        let Some(c) = &self.copy else {
            let want = self.header.pages.offset + page * PAGE_DIGEST_SIZE;
            if Sha256::digest(&self.bytes[start..stop])[..] != self.bytes[want..want + PAGE_DIGEST_SIZE] {
                return Err(tampered());
            }
            word.fetch_or(bit, AtOrd::Release);
            return Ok(());
        };
        let read = self.stored_reader.ok_or(ImageError::damaged("no stored reader"))?;
        c.fill.with(|()| {
            if word.load(AtOrd::Acquire) & bit != 0 {
                return Ok(());
            }
            // SAFETY: the page lies inside the copy (`table_copy_len` bytes from `c.at`, never
            // freed); its bit is clear, so no slice of it was ever handed out (`table` hands out
            // checked pages only), and pages are filled only under `fill`, held here.
            let dst = unsafe { core::slice::from_raw_parts_mut((c.at + (start - base)) as *mut u8, stop - start) };
            if !read(start as u64, dst) {
                return Err(ImageError::damaged("cannot read the image's tables").with(page as u64));
            }
            let want = page * PAGE_DIGEST_SIZE;
            if Sha256::digest(dst)[..] != c.digests[want..want + PAGE_DIGEST_SIZE] {
                return Err(tampered());
            }
            word.fetch_or(bit, AtOrd::Release);
            Ok(())
        })
    }

    fn raw_entry(&self, i: u32) -> Result<&'a [u8], ImageError> {
        if i >= self.header.entry_count {
            return Err(ImageError::damaged("entry index out of range").with(i as u64));
        }
        self.table(self.header.index.offset + i as usize * ENTRY_SIZE, ENTRY_SIZE)
    }

    /// String-table bytes `[off, off + len)`, checked; None when they leave the table.
    fn string(&self, off: u64, len: u64) -> Result<Option<&'a [u8]>, ImageError> {
        let r = self.header.strings;
        match off.checked_add(len) {
            Some(end) if end <= r.size as u64 => self.table(r.offset + off as usize, len as usize).map(Some),
            _ => Ok(None),
        }
    }

    /// The path of entry `i` (bounds-checked, digest-checked).
    fn entry_path(&self, i: u32) -> Result<&'a [u8], ImageError> {
        let b = self.raw_entry(i)?;
        self.string(u32_at(b, 0) as u64, u32_at(b, 4) as u64)?
            .ok_or(ImageError::damaged("entry path out of bounds").with(i as u64))
    }

    /// Entry `i`; a bad image goes to the fatal handler ([`Image::set_fatal`]).
    pub fn entry(&self, i: u32) -> Entry<'a> {
        self.try_entry(i).unwrap_or_else(|e| (self.fatal)(e))
    }

    /// Entry `i`, decoded and checked on its own: its table page and path against their
    /// digests, its path normalized, its kind known, and its file range, symlink target or
    /// children range in bounds (children come after their directory).
    pub fn try_entry(&self, i: u32) -> Result<Entry<'a>, ImageError> {
        let b = self.raw_entry(i)?;
        let path = self.entry_path(i)?;
        let kind = match b[8] {
            1 => EntryKind::Dir,
            2 => EntryKind::File,
            3 => EntryKind::Symlink,
            _ => return Err(ImageError::damaged("entry has an unknown kind").with(i as u64)),
        };
        if b[9..12] != [0, 0, 0] {
            return Err(ImageError::damaged("entry reserved bytes are not zero").with(i as u64));
        }
        let e = Entry {
            index: i,
            path,
            kind,
            mode: u32_at(b, 12) & 0o7777,
            uid: u32_at(b, 16),
            gid: u32_at(b, 20),
            mtime: u64_at(b, 24) as i64,
            size: u64_at(b, 32),
            data: u64_at(b, 40),
        };
        if !path_is_normalized(e.path) || (i > 0 && e.path == b"/") {
            return Err(ImageError::damaged("entry path is not a normalized absolute path").with(i as u64));
        }
        match e.kind {
            EntryKind::File => {
                let end = e.data.checked_add(e.size);
                if end.is_none_or(|end| end > self.header.stream_size) {
                    return Err(ImageError::damaged("file data out of bounds").with(i as u64));
                }
            }
            EntryKind::Symlink => {
                if e.size == 0 || e.size > 4095 || self.string(e.data, e.size)?.is_none() {
                    return Err(ImageError::damaged("symlink target out of bounds").with(i as u64));
                }
            }
            EntryKind::Dir => {
                let end = e.data.checked_add(e.size);
                let n = self.header.entry_count as u64;
                if end.is_none_or(|end| end > n) || (e.size > 0 && e.data <= i as u64) {
                    return Err(ImageError::damaged("directory children out of bounds").with(i as u64));
                }
            }
        }
        Ok(e)
    }

    /// Checks the whole image as version 1 readers did at open: every table page, every entry
    /// (order, unique paths, every parent a directory, every directory's children its own) and
    /// every chunk record. For tools and tests; the runtime does not call it.
    pub fn check_all(&self) -> Result<(), ImageError> {
        let n = self.header.entry_count;
        let mut prev: Option<&[u8]> = None;
        for i in 0..n {
            let e = self.try_entry(i)?;
            if prev.is_some_and(|p| order(p, e.path) != Ordering::Less) {
                return Err(ImageError::damaged("entries are not sorted or not unique").with(i as u64));
            }
            if e.kind == EntryKind::Dir {
                for c in e.data..e.data + e.size {
                    if split_parent(self.entry_path(c as u32)?).0 != e.path {
                        return Err(ImageError::damaged("directory child has another parent").with(c));
                    }
                }
            }
            if i > 0 {
                match self.try_lookup(split_parent(e.path).0)? {
                    Some(p) if self.try_entry(p)?.kind == EntryKind::Dir => {}
                    _ => return Err(ImageError::damaged("entry's parent is not a directory").with(i as u64)),
                }
            }
            prev = Some(e.path);
        }
        for k in 0..self.header.chunk_count {
            self.chunk_record(k)?;
        }
        // Pages no record reaches (none in a writer's image) are checked too.
        for page in 0..self.header.pages.size / PAGE_DIGEST_SIZE {
            self.check_page(page)?;
        }
        Ok(())
    }

    /// Chunk `k`'s record (offset, stored size, raw size, XXH3-64 of the stored bytes), its table page checked and
    /// its fields in bounds.
    fn chunk_record(&self, k: u32) -> Result<(u64, u32, u32, u64), ImageError> {
        let h = &self.header;
        if k >= h.chunk_count {
            return Err(ImageError::damaged("chunk index out of range").with(k as u64));
        }
        let b = self.table(h.chunks.offset + k as usize * CHUNK_RECORD_SIZE, CHUNK_RECORD_SIZE)?;
        let (off, comp, raw) = (u64_at(b, 0), u32_at(b, 8), u32_at(b, 12));
        let end = off.checked_add(comp as u64);
        if end.is_none_or(|end| end > h.data.size as u64) || comp == 0 {
            return Err(ImageError::damaged("chunk out of bounds").with(k as u64));
        }
        if comp > raw {
            return Err(ImageError::damaged("chunk is larger than its content").with(k as u64));
        }
        let expected_raw =
            if k + 1 == h.chunk_count { h.stream_size - (k as u64) * h.chunk_size as u64 } else { h.chunk_size as u64 };
        if raw as u64 != expected_raw {
            return Err(ImageError::damaged("chunk has the wrong uncompressed size").with(k as u64));
        }
        Ok((off, comp, raw, u64_at(b, 48)))
    }

    /// Finds the entry with exactly this normalized absolute path, by binary search; a bad
    /// image goes to the fatal handler ([`Image::set_fatal`]).
    pub fn lookup(&self, path: &[u8]) -> Option<u32> {
        self.try_lookup(path).unwrap_or_else(|e| (self.fatal)(e))
    }

    /// [`Image::lookup`], returning a bad table page or entry as an error.
    pub fn try_lookup(&self, path: &[u8]) -> Result<Option<u32>, ImageError> {
        let (mut lo, mut hi) = (0u32, self.header.entry_count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match order(self.entry_path(mid)?, path) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(Some(mid)),
            }
        }
        Ok(None)
    }

    /// Finds the child called `name` of directory entry `dir`.
    pub fn child(&self, dir: u32, name: &[u8]) -> Option<u32> {
        let d = self.entry(dir);
        if d.kind != EntryKind::Dir {
            return None;
        }
        let (mut lo, mut hi) = (d.data as u32, (d.data + d.size) as u32);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry(mid).name().cmp(name) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    /// The target of a symlink entry (empty if it is not one).
    pub fn symlink_target(&self, e: &Entry<'a>) -> &'a [u8] {
        if e.kind != EntryKind::Symlink {
            return b"";
        }
        self.string(e.data, e.size).unwrap_or_else(|err| (self.fatal)(err)).unwrap_or(b"")
    }

    /// The stored bytes of chunk `k` after checking them against the chunk's XXH3-64, and
    /// whether they are the raw content (a stored chunk) rather than a zstd frame. The check is
    /// for accidental damage, at ~10x the speed of SHA-256: the runtime doing it sits in the same
    /// file as the image (or, on snp, the launch measurement covers every page), so a
    /// cryptographic digest here would stop no attacker (docs/image-format.md, "Integrity").
    fn verified_chunk(&self, k: u32) -> Result<(&'a [u8], u32, bool), ImageError> {
        let (stored, raw, is_raw) = self.stored_chunk(k)?;
        let want = self.chunk_record(k)?.3;
        if !self.chunks_checked && xxh3_64(stored) != want {
            return Err(ImageError::tampered("chunk digest does not match").with(k as u64));
        }
        Ok((stored, raw, is_raw))
    }

    /// The stored bytes of chunk `k` (not checked against the chunk's digest), its raw size,
    /// and whether it is stored raw.
    fn stored_chunk(&self, k: u32) -> Result<(&'a [u8], u32, bool), ImageError> {
        let (off, comp, raw, _) = self.chunk_record(k)?;
        let start = self.header.data.offset + off as usize;
        Ok((&self.bytes[start..start + comp as usize], raw, comp == raw))
    }

    /// Where file bytes `[offset, offset + len)` of entry `e` are stored in the image, when
    /// they can be used in place (mapped): every chunk they touch is stored raw, and those
    /// chunks lie back to back, so the bytes are one run of the image. Returns the image offset
    /// of byte `offset` and the chunks touched (first, last); None otherwise (a compressed
    /// chunk, a gap, or a range past the file). Nothing is checked against digests here.
    pub fn raw_span(&self, e: &Entry<'_>, offset: u64, len: u64) -> Option<(u64, u32, u32)> {
        if e.kind != EntryKind::File || len == 0 || offset.checked_add(len)? > e.size {
            return None;
        }
        let cs = self.header.chunk_size as u64;
        let start = e.data + offset;
        let end = start + len;
        let (first, last) = ((start / cs) as u32, ((end - 1) / cs) as u32);
        let mut next_at = None;
        for k in first..=last {
            let (off, comp, raw, _) = self.chunk_record(k).ok()?;
            if comp != raw || next_at.is_some_and(|n| n != off) {
                return None;
            }
            next_at = Some(off + raw as u64);
        }
        let (off0, _, _, _) = self.chunk_record(first).ok()?;
        let at = self.header.data.offset as u64 + off0 + (start - first as u64 * cs);
        Some((at, first, last))
    }

    /// True when file data is read from the image's own bytes (no stored reader: the image is
    /// held in memory whole, as on the VM targets), so [`Image::in_place`] can answer.
    #[inline(always)]
    pub fn reads_in_place(&self) -> bool {
        self.stored_reader.is_none()
    }

    /// The image's bytes `[at, at + len)` (an image offset, e.g. from [`Image::raw_span`]),
    /// when file data is read from the image's own bytes ([`Image::reads_in_place`]); None
    /// otherwise or out of range. Nothing is checked against digests here: the caller checks
    /// the chunks first (`ChunkCache::verified_span`).
    pub fn in_place(&self, at: u64, len: usize) -> Option<&'a [u8]> {
        if self.stored_reader.is_some() {
            return None;
        }
        let start = usize::try_from(at).ok()?;
        self.bytes.get(start..start.checked_add(len)?)
    }

    /// Checks chunk `k` against its digest, then decompresses it. Promises: the returned bytes
    /// are exactly what was packed, or an error (tampered: digest; damaged: zstd frame).
    pub fn load_chunk(&self, k: u32) -> Result<Vec<u8>, ImageError> {
        let (stored, raw, is_raw) = self.verified_chunk(k)?;
        if is_raw {
            return Ok(stored.to_vec());
        }
        decompress(&mut Decoder::new(), stored, raw, k)
    }
}

fn decompress(dec: &mut Decoder, frame: &[u8], raw: u32, k: u32) -> Result<Vec<u8>, ImageError> {
    dec.decompress(frame, raw as usize).ok_or(ImageError::damaged("bad zstd frame").with(k as u64))
}

/// The image's entry order: by (parent, name) as byte strings.
fn order(a: &[u8], b: &[u8]) -> Ordering {
    let (pa, na) = split_parent(a);
    let (pb, nb) = split_parent(b);
    pa.cmp(pb).then(na.cmp(nb))
}

/// Whether `p` is `/` or an absolute path of at most 4095 bytes without NUL whose components
/// are neither empty (no `//`, no trailing `/`) nor `.` or `..`. One pass over the bytes: every
/// lookup checks the entries its search reads.
fn path_is_normalized(p: &[u8]) -> bool {
    if p == b"/" {
        return true;
    }
    let Some((&b'/', rest)) = p.split_first() else { return false };
    if p.len() > 4095 {
        return false;
    }
    // The current component's length, and whether it is dots alone so far.
    let (mut len, mut dots) = (0usize, true);
    for &c in rest {
        if c == b'/' {
            if len == 0 || (dots && len <= 2) {
                return false;
            }
            (len, dots) = (0, true);
        } else if c == 0 {
            return false;
        } else {
            len += 1;
            dots &= c == b'.';
        }
    }
    len != 0 && !(dots && len <= 2)
}

/// A tiny spin lock; the runtime has no threads library and may run inside a signal handler.
struct Spin<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialized by `locked`.
unsafe impl<T: Send> Sync for Spin<T> {}

impl<T> Spin<T> {
    const fn new(value: T) -> Self {
        Self { locked: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        while self.locked.compare_exchange_weak(false, true, AtOrd::Acquire, AtOrd::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        // SAFETY: we hold the lock, so no other reference to the value exists.
        let r = f(unsafe { &mut *self.value.get() });
        self.locked.store(false, AtOrd::Release);
        r
    }
}

/// What is known of one chunk after its first read.
#[derive(Clone)]
enum Slot {
    Unread,
    /// A stored chunk mapped unchecked and handed to a helper that checks it later
    /// ([`CheckHelper::defer`]): a read still checks it here, like an unread one.
    Deferred,
    /// A stored chunk whose digest was checked: read straight from the image from now on.
    Verified,
    /// A compressed chunk whose digest was checked and which was decoded once and not kept
    /// (straight into the buffer of a `read_once` that covered all of it, or let go to keep
    /// the cache within [`KEPT`] chunks). A later read decodes it again, without hashing, and
    /// keeps it.
    Seen,
    /// A compressed chunk, checked and decompressed.
    Decompressed(Arc<[u8]>),
}

/// Chunks after their first (verified) read, shared between threads: stored chunks are only
/// marked verified; compressed ones are kept decompressed, except that a [`ChunkCache::read_once`]
/// covering all of a never-read chunk decodes it straight into the caller's buffer. Each chunk's
/// digest is checked once. One decoder is reused for all.
pub struct ChunkCache {
    slots: Spin<Vec<Slot>>,
    /// Another process that checks chunks of a span at the same time ([`CheckHelper`]), and
    /// the fewest unchecked chunks a span must have to be shared with it.
    /// The helper, the fewest unchecked chunks of a span worth a job, and the fewest worth a
    /// deferred check ([`ChunkCache::set_defer_span`]).
    helper: Option<(&'static dyn CheckHelper, u32, u32)>,
    decoder: Spin<Option<Decoder>>,
    /// Where a chunk's stored bytes are read to be checked (and decompressed) when the image
    /// has a stored reader: one chunk's worth at most, reused.
    scratch: Spin<Vec<u8>>,
    /// The chunks kept decompressed, oldest first at `.1` (a ring; `NONE` for an empty place).
    kept: Spin<([u32; KEPT], usize)>,
    /// The last piece of a checked stored chunk read for a small read ([`SMALL_READ`]).
    piece: Spin<Piece>,
    /// How many chunks were decoded to be kept ([`ChunkCache::decode_count`]).
    decodes: AtomicUsize,
    /// Whether the scratch buffer or the decoder may hold memory
    /// ([`ChunkCache::let_go_all`] frees them).
    scratch_used: AtomicBool,
}

/// A copy of image bytes `[at, at + len)` (inside one checked stored chunk), read through the
/// stored reader for a small read and kept for the next ones: `buf` is [`PIECE_KEPT`] bytes
/// once the first small read allocated it.
struct Piece {
    at: u64,
    len: usize,
    buf: Vec<u8>,
}

/// How many chunks the cache keeps decompressed at most (the least recently decompressed is
/// let go first and decoded again, without re-hashing, if read again): a bound on the runtime's
/// heap whatever the app reads. One: a kept chunk is 128 KiB of resident heap (`python3 -c
/// pass` reads 2 compressed chunks, an app importing json, http.server, email, argparse and
/// subprocess 69, of which 6 are decoded again with one kept against four; measured in
/// bench/RESULTS-issue17-rss3.md), and reads that stay inside one chunk (a file read in
/// pieces, the small files packed next to each other) still decode it once. The chunk let go
/// is freed before the next is decoded, so no more than this many are ever live at once.
pub const KEPT: usize = 1;
/// How many bytes of a stored (raw) chunk are read and hashed at a time through a stored reader.
const PIECE: usize = 16 << 10;
const NONE: u32 = u32::MAX;
/// Reads of a checked stored chunk of at most this many bytes go through [`ChunkCache`]'s kept
/// piece: one host read fills [`PIECE_KEPT`] bytes around them, and the reads that follow inside
/// it make none (a 1-byte `pread` of a packed file then costs a copy, as when it was served from
/// the image's mapping, without the mapping's pages becoming resident).
pub const SMALL_READ: usize = 512;
/// Bytes of the kept piece: the heap it holds, allocated at the first small read.
pub const PIECE_KEPT: usize = 4096;

/// Where a chunk stands in a [`CheckHelper`]'s table, as [`CheckHelper::claim`] leaves it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Claim {
    /// The caller claimed it: it checks it and reports with [`CheckHelper::finish`].
    Mine,
    /// The helper is checking it now.
    Busy,
    /// Checked already: its bytes match its digest.
    Good,
    /// Checked already: its bytes do not match.
    Bad,
}

/// Another process (or thread) that checks stored chunks of the same image while this one
/// checks a span ([`ChunkCache::verified_span`]): both claim chunks of the span in a table they
/// share, this one from the bottom, the helper from the top. Implementations never block the
/// caller for long: [`CheckHelper::wait`] is bounded, and a chunk the helper did not finish
/// in time is checked again by the caller. A target without a helper sets none.
pub trait CheckHelper: Sync {
    /// Publishes chunks `first..=last` as the current job and wakes the helper. False: no
    /// helper now (busy publisher, not the process allowed to publish, helper gone); the
    /// caller checks everything alone and does not call `end`.
    fn begin(&self, first: u32, last: u32) -> bool;
    /// Claims chunk `k` for the caller when nobody has ([`Claim::Mine`]), else says where it stands.
    fn claim(&self, k: u32) -> Claim;
    /// Records the caller's verdict on a chunk it claimed.
    fn finish(&self, k: u32, good: bool);
    /// Waits a short, bounded time for the helper's verdict on chunk `k`: Good, Bad, or Busy
    /// when it is not there in time (the caller then checks the chunk itself).
    fn wait(&self, k: u32) -> Claim;
    /// Withdraws the job published by `begin`: the helper claims no more of it.
    fn end(&self);
    /// Takes chunks `first..=last` over to be checked later, so that the caller may map them
    /// at once, unchecked. True only when the helper promises that no effect of the caller's
    /// sandbox leaves it before every chunk handed over has a good verdict, and that a bad one
    /// ends the run as a failed check would; false (the default): the caller checks them now.
    fn defer(&self, _first: u32, _last: u32) -> bool {
        false
    }
}

/// Where the bytes of a chunk live once it is verified.
enum Chunk<'a> {
    /// Stored raw, read in place from the image's mapping.
    Image(&'a [u8]),
    /// Stored raw, read through the image's stored reader: image offset and length.
    File(u64, usize),
    /// Decompressed, kept by the cache.
    Owned(Arc<[u8]>),
}

/// Where stored (raw) chunk `k` is read from after its check: the stored reader's file when
/// the image has one, else the mapping.
fn placed<'a>(image: &Image<'a>, k: u32) -> Result<Chunk<'a>, ImageError> {
    if image.stored_reader.is_some() {
        let (off, comp, _, _) = image.chunk_record(k)?;
        return Ok(Chunk::File(image.header.data.offset as u64 + off, comp as usize));
    }
    Ok(Chunk::Image(image.stored_chunk(k)?.0))
}

impl ChunkCache {
    /// An empty cache for an image with `chunk_count` chunks.
    pub fn new(chunk_count: u32) -> Self {
        Self {
            slots: Spin::new(vec![Slot::Unread; chunk_count as usize]),
            helper: None,
            decoder: Spin::new(None),
            scratch: Spin::new(Vec::new()),
            kept: Spin::new(([NONE; KEPT], 0)),
            piece: Spin::new(Piece { at: 0, len: 0, buf: Vec::new() }),
            decodes: AtomicUsize::new(0),
            scratch_used: AtomicBool::new(false),
        }
    }

    /// Copies image bytes `[pos, pos + dst.len())` of checked stored chunk `k`, which lies at
    /// `[chunk_at, chunk_at + chunk_len)`, out of the kept piece, reading the piece around them
    /// first when it does not hold them. `dst` is at most [`SMALL_READ`] bytes inside the
    /// chunk. Promises: the piece never holds bytes outside that checked chunk, so only
    /// checked bytes are copied.
    fn read_small(
        &self,
        read: StoredReader,
        (chunk_at, chunk_len): (u64, usize),
        pos: u64,
        dst: &mut [u8],
        k: u32,
    ) -> Result<(), ImageError> {
        let end = pos + dst.len() as u64;
        self.piece.with(|p| {
            if pos < p.at || end > p.at + p.len as u64 {
                let mut start = (pos & !(PIECE_KEPT as u64 - 1)).max(chunk_at);
                if end > start + PIECE_KEPT as u64 {
                    start = pos;
                }
                let stop = (start + PIECE_KEPT as u64).min(chunk_at + chunk_len as u64);
                if p.buf.is_empty() {
                    p.buf = vec![0; PIECE_KEPT];
                }
                p.len = 0;
                let len = (stop - start) as usize;
                if !read(start, &mut p.buf[..len]) {
                    return Err(ImageError::damaged("cannot read chunk data").with(k as u64));
                }
                (p.at, p.len) = (start, len);
            }
            let from = (pos - p.at) as usize;
            dst.copy_from_slice(&p.buf[from..from + dst.len()]);
            Ok(())
        })
    }

    /// Hands chunk `k`'s stored bytes to `f` with its raw size and whether it is stored raw,
    /// after checking them against the chunk's digest when `check`. With a stored reader the
    /// bytes are read into the cache's scratch buffer, so no page of the image's mapping is
    /// touched; a chunk stored raw is read and hashed there [`PIECE`] bytes at a time and `f`
    /// gets no bytes for it (an empty slice: its bytes are read again where they are used).
    /// Without a reader `f` sees the bytes in the mapping. Locks: scratch, then (in `f`) the
    /// decoder, never the other way round.
    fn with_stored<R>(
        &self,
        image: &Image<'_>,
        k: u32,
        check: bool,
        f: impl FnOnce(&[u8], u32, bool) -> Result<R, ImageError>,
    ) -> Result<R, ImageError> {
        self.scratch_used.store(true, AtOrd::Relaxed);
        let Some(read) = image.stored_reader else {
            let (stored, raw, is_raw) = if check { image.verified_chunk(k)? } else { image.stored_chunk(k)? };
            return f(stored, raw, is_raw);
        };
        let (off, comp, raw, want) = image.chunk_record(k)?;
        let at = image.header.data.offset as u64 + off;
        let is_raw = comp == raw;
        let need = if is_raw { PIECE.min(comp as usize) } else { comp as usize };
        self.scratch.with(|buf| {
            if buf.len() < need {
                // Room for any chunk at once: growing would leave the old block behind. Only
                // the bytes used are written (resident): raw chunks need PIECE at most.
                buf.reserve_exact((image.header.chunk_size as usize).max(PIECE).saturating_sub(buf.len()));
                buf.resize(need, 0);
            }
            if is_raw {
                let mut h = Xxh3Default::new();
                let mut done = 0usize;
                while done < comp as usize {
                    let piece = &mut buf[..need.min(comp as usize - done)];
                    if !read(at + done as u64, piece) {
                        return Err(ImageError::damaged("cannot read chunk data").with(k as u64));
                    }
                    if check {
                        h.update(piece);
                    }
                    done += piece.len();
                }
                if check && !image.chunks_checked && h.digest() != want {
                    return Err(ImageError::tampered("chunk digest does not match").with(k as u64));
                }
                return f(&[], raw, true);
            }
            let stored = &mut buf[..comp as usize];
            if !read(at, stored) {
                return Err(ImageError::damaged("cannot read chunk data").with(k as u64));
            }
            if check && !image.chunks_checked && xxh3_64(stored) != want {
                return Err(ImageError::tampered("chunk digest does not match").with(k as u64));
            }
            f(stored, raw, false)
        })
    }

    /// How many chunks have been read (verified, and decompressed when stored compressed),
    /// and how many the image has: the image is read on demand, so the first is usually small.
    pub fn read_count(&self) -> (usize, usize) {
        self.slots.with(|v| (v.iter().filter(|s| !matches!(s, Slot::Unread | Slot::Deferred)).count(), v.len()))
    }

    /// How many times a compressed chunk was decoded to be kept (first reads and reads of a
    /// chunk let go before; not counting chunks decoded straight into a caller's buffer).
    pub fn decode_count(&self) -> usize {
        self.decodes.load(AtOrd::Relaxed)
    }

    /// How many chunks the cache holds decompressed now: at most [`KEPT`].
    pub fn kept_count(&self) -> usize {
        self.slots.with(|v| v.iter().filter(|s| matches!(s, Slot::Decompressed(_))).count())
    }

    /// Chunk `k`, checked: the first read of a chunk checks it. A deferred chunk (mapped, its
    /// check handed to the helper) takes the helper's verdict when there is one, and the
    /// helper gets this read's verdict when nobody had claimed it: never checked twice.
    fn get<'a>(&self, image: &Image<'a>, k: u32) -> Result<Chunk<'a>, ImageError> {
        let slot = self.slots.with(|v| match v.get(k as usize) {
            Some(Slot::Deferred) => Some(true),
            Some(Slot::Unread) => Some(false),
            _ => None,
        });
        // The helper is asked about a deferred chunk, and about a stored chunk never read here:
        // it may have checked that one already (init checks the entry program's first and last
        // chunks as soon as the app's first process exists), and a check made here is recorded
        // for it, so that no chunk is checked twice.
        let ask = match slot {
            Some(true) => true,
            Some(false) => {
                image.stored_reader.is_some() && matches!(image.chunk_record(k), Ok((_, comp, raw, _)) if comp == raw)
            }
            None => false,
        };
        if let (true, Some((helper, _, _))) = (ask, self.helper) {
            match helper.claim(k) {
                Claim::Good => {
                    self.mark_verified(k);
                    return placed(image, k);
                }
                Claim::Bad => return Err(ImageError::tampered("chunk digest does not match").with(k as u64)),
                Claim::Mine => {
                    let r = self.get_checked(image, k);
                    helper.finish(k, r.is_ok());
                    return r;
                }
                // Being checked by the helper now: checked here too, without waiting (the
                // helper may be descheduled; a read does not wait).
                Claim::Busy => {}
            }
        }
        self.get_checked(image, k)
    }

    fn get_checked<'a>(&self, image: &Image<'a>, k: u32) -> Result<Chunk<'a>, ImageError> {
        let slot = self.slots.with(|v| v.get(k as usize).cloned());
        match slot {
            Some(Slot::Decompressed(a)) => return Ok(Chunk::Owned(a)),
            Some(Slot::Verified) => return placed(image, k),
            Some(Slot::Unread) | Some(Slot::Deferred) | Some(Slot::Seen) => {}
            None => return Err(ImageError::damaged("chunk index out of range").with(k as u64)),
        }
        // A Seen chunk was checked against its digest when it was first read.
        let check = !matches!(slot, Some(Slot::Seen));
        let data = self.with_stored(image, k, check, |stored, raw, is_raw| {
            if is_raw {
                return Ok(None);
            }
            // Room first: the chunk let go is freed before this one is decoded, so no more than
            // KEPT decoded chunks are ever live at once (the one being decoded included).
            drop(self.let_go(self.kept.with(|(ring, next)| core::mem::replace(&mut ring[*next], NONE))));
            self.decodes.fetch_add(1, AtOrd::Relaxed);
            let data = self
                .decoder
                .with(|d| d.get_or_insert_with(Decoder::new).decompress_shared(stored, raw as usize))
                .ok_or(ImageError::damaged("bad zstd frame").with(k as u64))?;
            Ok(Some(data))
        })?;
        match data {
            Some(data) => {
                // (Another thread may have filled the place since: that chunk is let go.)
                let evicted = self.kept.with(|(ring, next)| {
                    let old = core::mem::replace(&mut ring[*next], k);
                    *next = if *next + 1 < KEPT { *next + 1 } else { 0 };
                    old
                });
                self.slots.with(|v| v[k as usize] = Slot::Decompressed(data.clone()));
                drop(self.let_go(evicted));
                Ok(Chunk::Owned(data))
            }
            None => {
                self.slots.with(|v| v[k as usize] = Slot::Verified);
                placed(image, k)
            }
        }
    }

    /// Lets chunk `k` go from the kept ones (none for [`NONE`] or a chunk not kept): its slot
    /// says Seen (checked when first read, so a later read decodes it again without
    /// hashing). Returns its bytes, for the caller to drop outside every lock. Inlined: as a
    /// function of its own it would be laid out apart from the start-up functions that call it
    /// (startup-order.ld), one more 64 KiB window of code resident.
    #[inline(always)]
    fn let_go(&self, k: u32) -> Option<Arc<[u8]>> {
        self.slots.with(|v| match v.get_mut(k as usize) {
            Some(old @ Slot::Decompressed(_)) => match core::mem::replace(old, Slot::Seen) {
                Slot::Decompressed(a) => Some(a),
                _ => None,
            },
            _ => None,
        })
    }

    /// Lets go of everything decoding holds: the kept chunks (a later read decodes them again,
    /// without hashing), the scratch buffer and the decoder's context (their pages go back to
    /// the host). For the moments an app is unlikely to read the same chunks again soon: the
    /// library OS calls it when the app opens a directory or anything but a file of the image
    /// (`Vfs::opened`), so the last chunk decoded at start-up does not stay resident for the
    /// rest of the run (`python3 -c pass`: 132 KiB of the chunk, 32 KiB of compressed bytes,
    /// ~28 KiB of context; bench/RESULTS-issue17-rss4.md). Promises: never lets go of
    /// bytes a reader is using (a reader holds its own reference to them); one atomic swap
    /// when nothing is held.
    #[inline(always)]
    pub fn let_go_all(&self) {
        if !self.scratch_used.swap(false, AtOrd::Relaxed) {
            return;
        }
        let gone = self.kept.with(|(ring, _)| core::mem::replace(ring, [NONE; KEPT]));
        for k in gone {
            drop(self.let_go(k));
        }
        drop(self.scratch.with(core::mem::take));
        drop(self.decoder.with(Option::take));
    }

    /// [`Image::raw_span`] for file bytes that will be used in place (mapped), after checking
    /// every chunk they touch against its digest (once per chunk, as a read would). Promises:
    /// Some(image offset) only when each of those chunks either matches its digest or was
    /// handed to the helper's deferred check ([`CheckHelper::defer`], which promises that no
    /// effect of the app leaves its sandbox before a good verdict on it).
    pub fn verified_span(
        &self,
        image: &Image<'_>,
        e: &Entry<'_>,
        offset: u64,
        len: u64,
    ) -> Result<Option<u64>, ImageError> {
        let Some((at, first, last)) = image.raw_span(e, offset, len) else {
            return Ok(None);
        };
        if image.chunks_checked {
            // Every chunk was checked before the image was opened ([`Image::open_checked`]: the
            // kvm runner checks the digests on the host): what `get` would do for these stored
            // chunks is only to record them as checked, done here without `get`'s paths (the
            // VM's program load translates fewer distinct blocks under TCG).
            self.slots.with(|v| {
                v.get_mut(first as usize..=last as usize)
                    .into_iter()
                    .flatten()
                    .filter(|s| matches!(s, Slot::Unread | Slot::Deferred))
                    .for_each(|s| *s = Slot::Verified)
            });
            return Ok(Some(at));
        }
        if let Some((helper, min_job, min_defer)) = self.helper {
            // Worth a job (or a deferred check) only with enough chunks still to check (ld.so
            // maps a library's whole extent, then its segments over it again).
            let least = min_job.min(min_defer).max(1);
            let unread = if last - first + 1 >= least && !image.chunks_checked && image.stored_reader.is_some() {
                self.slots.with(|v| {
                    v.get(first as usize..=last as usize)
                        .map_or(0, |s| s.iter().filter(|s| matches!(s, Slot::Unread)).count())
                })
            } else {
                0
            };
            let enough = |min: u32| unread >= min.max(1) as usize;
            if enough(min_defer) || enough(min_job) {
                if enough(min_defer) && helper.defer(first, last) {
                    for k in first..=last {
                        // Chunks checked here before: the helper need not check them again.
                        let known =
                            self.slots.with(|v| !matches!(v.get(k as usize), Some(Slot::Unread | Slot::Deferred)));
                        if known && helper.claim(k) == Claim::Mine {
                            helper.finish(k, true);
                        }
                    }
                    self.slots.with(|v| {
                        v[first as usize..=last as usize]
                            .iter_mut()
                            .filter(|s| matches!(s, Slot::Unread))
                            .for_each(|s| *s = Slot::Deferred)
                    });
                    return Ok(Some(at));
                }
                if enough(min_job) && helper.begin(first, last) {
                    let r = self.verify_shared(helper, image, first, last);
                    helper.end();
                    return r.map(|()| Some(at));
                }
            }
        }
        for k in first..=last {
            // A deferred chunk is in the helper's hands already (a span mapped again).
            if !self.slots.with(|v| matches!(v.get(k as usize), Some(Slot::Deferred))) {
                self.get(image, k)?;
            }
        }
        Ok(Some(at))
    }

    /// Checks stored chunks `first..=last` together with `helper` (the job is published):
    /// claims each unchecked chunk from the bottom and checks it, takes the helper's verdict on
    /// the ones it claimed (waiting a bounded time for one still in progress, then checking it
    /// again here). Promises what [`ChunkCache::get`] does for each chunk: Ok only when every
    /// one matches its digest, whoever checked it.
    fn verify_shared(
        &self,
        helper: &dyn CheckHelper,
        image: &Image<'_>,
        first: u32,
        last: u32,
    ) -> Result<(), ImageError> {
        let tampered = |k: u32| ImageError::tampered("chunk digest does not match").with(k as u64);
        let mut busy = Vec::new();
        for k in first..=last {
            if !self.slots.with(|v| matches!(v.get(k as usize), Some(Slot::Unread | Slot::Deferred))) {
                // Checked here before (a read, a smaller span): tell the helper, which would
                // otherwise check it again.
                if helper.claim(k) == Claim::Mine {
                    helper.finish(k, true);
                }
                continue;
            }
            match helper.claim(k) {
                Claim::Mine => {
                    let r = self.get_checked(image, k);
                    helper.finish(k, r.is_ok());
                    r?;
                }
                Claim::Good => self.mark_verified(k),
                Claim::Bad => return Err(tampered(k)),
                Claim::Busy => busy.push(k),
            }
        }
        for k in busy {
            match helper.wait(k) {
                Claim::Good => self.mark_verified(k),
                Claim::Bad => return Err(tampered(k)),
                // Not finished in time (the helper may be descheduled or gone): check it here.
                Claim::Mine | Claim::Busy => {
                    self.get_checked(image, k)?;
                }
            }
        }
        Ok(())
    }

    /// Records that stored chunk `k` was checked (by a helper): later reads skip the check.
    fn mark_verified(&self, k: u32) {
        self.slots.with(|v| {
            if let Some(s @ (Slot::Unread | Slot::Deferred)) = v.get_mut(k as usize) {
                *s = Slot::Verified;
            }
        });
    }

    /// Sets the process that checks chunks of spans with at least `min_span` unchecked chunks
    /// at the same time as this one ([`CheckHelper`]): below that, publishing a job costs more
    /// than it saves. Without a helper (the default) every check is done here.
    pub fn set_helper(&mut self, helper: &'static dyn CheckHelper, min_span: u32) {
        self.helper = Some((helper, min_span, min_span));
    }

    /// Sets the fewest unchecked chunks of a span that is handed to the helper's deferred
    /// check ([`CheckHelper::defer`]) instead of a job; the same as the job's until set. A
    /// deferred span costs the mapping process no wait, so a smaller span pays than for a job.
    /// No effect without a helper.
    pub fn set_defer_span(&mut self, min_span: u32) {
        if let Some((_, _, defer)) = self.helper.as_mut() {
            *defer = min_span;
        }
    }

    /// Checks chunk `k`'s stored bytes against its digest, read through the image's stored
    /// reader (or the mapping), without decompressing or keeping anything: what a
    /// [`CheckHelper`] runs for each chunk it claims. Ok only when they match.
    pub fn check_stored(&self, image: &Image<'_>, k: u32) -> Result<(), ImageError> {
        self.with_stored(image, k, true, |_, _, _| Ok(()))
    }

    /// The first read of compressed chunk `k` when `dst` has room for all of it: checks the
    /// digest and decodes straight into `dst`, saving a buffer and a copy. Returns how many
    /// bytes it wrote, or None when this does not apply (chunk already read, stored, or `dst`
    /// too short) and the read goes through [`ChunkCache::get`].
    fn decode_whole(&self, image: &Image<'_>, k: u32, dst: &mut [u8]) -> Result<Option<usize>, ImageError> {
        if !self.slots.with(|v| matches!(v.get(k as usize), Some(Slot::Unread | Slot::Deferred))) {
            return Ok(None);
        }
        let (_, comp, raw, _) = image.chunk_record(k)?;
        if comp == raw || dst.len() < raw as usize {
            return Ok(None);
        }
        let dst = &mut dst[..raw as usize];
        self.with_stored(image, k, true, |stored, _, _| {
            if !self.decoder.with(|d| d.get_or_insert_with(Decoder::new).decompress_into(stored, dst)) {
                return Err(ImageError::damaged("bad zstd frame").with(k as u64));
            }
            Ok(())
        })?;
        self.slots.with(|v| {
            if matches!(v[k as usize], Slot::Unread | Slot::Deferred) {
                v[k as usize] = Slot::Seen;
            }
        });
        Ok(Some(raw as usize))
    }

    /// Copies file bytes `[offset, offset + buf.len())` of entry `e` (clipped to its size) into
    /// `buf`, returning how many bytes were copied. Every chunk touched is verified first, and
    /// compressed chunks are kept decompressed for later reads.
    pub fn read(&self, image: &Image<'_>, e: &Entry<'_>, offset: u64, buf: &mut [u8]) -> Result<usize, ImageError> {
        self.read_chunks(image, e, offset, buf, false)
    }

    /// Like [`ChunkCache::read`], for a caller that will not read these bytes again soon (a
    /// program loader copying segments): compressed chunks that `buf` covers whole and that
    /// were never read are decoded straight into `buf` and not kept, which saves a buffer and a
    /// copy per chunk. A later read of such a chunk decodes it again (without re-hashing).
    pub fn read_once(
        &self,
        image: &Image<'_>,
        e: &Entry<'_>,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize, ImageError> {
        self.read_chunks(image, e, offset, buf, true)
    }

    fn read_chunks(
        &self,
        image: &Image<'_>,
        e: &Entry<'_>,
        offset: u64,
        buf: &mut [u8],
        once: bool,
    ) -> Result<usize, ImageError> {
        if e.kind != EntryKind::File || offset >= e.size {
            return Ok(0);
        }
        let n = core::cmp::min(buf.len() as u64, e.size - offset) as usize;
        let cs = image.header.chunk_size as u64;
        let mut done = 0usize;
        while done < n {
            let pos = e.data + offset + done as u64;
            let k = (pos / cs) as u32;
            let within = (pos % cs) as usize;
            if once && within == 0 {
                if let Some(m) = self.decode_whole(image, k, &mut buf[done..n])? {
                    done += m;
                    continue;
                }
            }
            let chunk = self.get(image, k)?;
            let len = match &chunk {
                Chunk::Image(b) => b.len(),
                Chunk::File(_, len) => *len,
                Chunk::Owned(a) => a.len(),
            };
            let take = core::cmp::min(n - done, len.saturating_sub(within));
            if take == 0 {
                return Err(ImageError::damaged("file data past the end of its chunk").with(k as u64));
            }
            let dst = &mut buf[done..done + take];
            match chunk {
                Chunk::Image(b) => dst.copy_from_slice(&b[within..within + take]),
                Chunk::Owned(a) => dst.copy_from_slice(&a[within..within + take]),
                Chunk::File(at, len) => {
                    // From the file (the chunk was checked): small reads through the kept
                    // piece, larger ones straight into the caller's buffer.
                    let read = image.stored_reader.ok_or(ImageError::damaged("no stored reader"))?;
                    if take <= SMALL_READ {
                        self.read_small(read, (at, len), at + within as u64, dst, k)?;
                    } else if !read(at + within as u64, dst) {
                        return Err(ImageError::damaged("cannot read chunk data").with(k as u64));
                    }
                }
            }
            done += take;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::path_is_normalized;

    /// The definition the one-pass check must keep: the components split at `/`.
    fn by_components(p: &[u8]) -> bool {
        if p == b"/" {
            return true;
        }
        if p.first() != Some(&b'/') || p.len() > 4095 || p.ends_with(b"/") || p.contains(&0) {
            return false;
        }
        p[1..].split(|&c| c == b'/').all(|c| !c.is_empty() && c != b"." && c != b"..")
    }

    #[test]
    fn a_normalized_path_is_what_its_components_say() {
        // Every string of up to 7 bytes over `/`, `.`, `a` and NUL.
        let alphabet = [b'/', b'.', b'a', 0];
        let mut checked = 0;
        for len in 0..=7u32 {
            for mut k in 0..4usize.pow(len) {
                let mut p = alloc::vec::Vec::new();
                for _ in 0..len {
                    p.push(alphabet[k % 4]);
                    k /= 4;
                }
                assert_eq!(path_is_normalized(&p), by_components(&p), "{p:?}");
                checked += 1;
            }
        }
        assert!(checked > 20_000);
        for p in [&b"/a/..."[..], b"/.../a", b"/a/.b", b"/a/b..", b"/..a", b"/./a", b"/a/../b", b"/a/./b"] {
            assert_eq!(path_is_normalized(p), by_components(p), "{p:?}");
        }
        // The length bound: 4095 bytes pass, 4096 do not.
        let mut long = alloc::vec![b'a'; 4095];
        long[0] = b'/';
        assert!(path_is_normalized(&long));
        long.push(b'a');
        assert!(!path_is_normalized(&long));
        assert!(!by_components(&long));
    }
}
