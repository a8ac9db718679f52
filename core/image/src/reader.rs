//! Opening an image (root digest, full metadata validation) and reading file bytes through
//! digest-checked, lazily decompressed chunks.
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::cmp::Ordering;
use core::sync::atomic::{AtomicBool, Ordering as AtOrd};

use sha2::{Digest, Sha256};

use crate::error::ImageError;
use crate::format::{
    split_parent, u32_at, u64_at, Entry, EntryKind, Header, CHUNK_RECORD_SIZE, ENTRY_SIZE, HEADER_DIGESTED,
};
use crate::launch::LaunchConfig;
use crate::zstd::Decoder;

/// A validated image: the header's root digest matched and every entry was checked.
pub struct Image<'a> {
    bytes: &'a [u8],
    header: Header,
}

impl<'a> Image<'a> {
    /// Opens `bytes` as an image. Promises on success: the root digest matches the metadata,
    /// every entry's path, kind, file range, directory range and symlink target is in bounds,
    /// entries are in the documented order, and entry 0 is the root directory.
    pub fn open(bytes: &'a [u8]) -> Result<Self, ImageError> {
        let header = Header::parse(bytes)?;
        let mut h = Sha256::new();
        h.update(&bytes[..HEADER_DIGESTED]);
        h.update(&bytes[header.config.offset..header.chunks.offset + header.chunks.size]);
        let got = h.finalize();
        if got.as_slice() != header.root_digest {
            return Err(ImageError::tampered("root digest does not match the image metadata"));
        }
        let image = Image { bytes, header };
        image.validate_entries()?;
        image.validate_chunks()?;
        Ok(image)
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

    fn raw_entry(&self, i: u32) -> &'a [u8] {
        let off = self.header.index.offset + i as usize * ENTRY_SIZE;
        &self.bytes[off..off + ENTRY_SIZE]
    }

    fn strings(&self) -> &'a [u8] {
        let r = self.header.strings;
        &self.bytes[r.offset..r.offset + r.size]
    }

    fn string(&self, off: u64, len: u64) -> Option<&'a [u8]> {
        let s = self.strings();
        let end = off.checked_add(len)?;
        if end > s.len() as u64 {
            return None;
        }
        Some(&s[off as usize..end as usize])
    }

    /// Entry `i`. Only call with `i < len()`; entries were validated at open, so decoding
    /// cannot fail afterwards.
    pub fn entry(&self, i: u32) -> Entry<'a> {
        self.decode_entry(i).expect("entries validated at open")
    }

    fn decode_entry(&self, i: u32) -> Result<Entry<'a>, ImageError> {
        let b = self.raw_entry(i);
        let path = self
            .string(u32_at(b, 0) as u64, u32_at(b, 4) as u64)
            .ok_or(ImageError::damaged("entry path out of bounds").with(i as u64))?;
        let kind = match b[8] {
            1 => EntryKind::Dir,
            2 => EntryKind::File,
            3 => EntryKind::Symlink,
            _ => return Err(ImageError::damaged("entry has an unknown kind").with(i as u64)),
        };
        if b[9..12] != [0, 0, 0] {
            return Err(ImageError::damaged("entry reserved bytes are not zero").with(i as u64));
        }
        Ok(Entry {
            index: i,
            path,
            kind,
            mode: u32_at(b, 12) & 0o7777,
            uid: u32_at(b, 16),
            gid: u32_at(b, 20),
            mtime: u64_at(b, 24) as i64,
            size: u64_at(b, 32),
            data: u64_at(b, 40),
        })
    }

    fn validate_entries(&self) -> Result<(), ImageError> {
        let n = self.header.entry_count;
        let root = self.decode_entry(0)?;
        if root.path != b"/" || root.kind != EntryKind::Dir {
            return Err(ImageError::damaged("entry 0 is not the root directory"));
        }
        let mut prev: Option<Entry<'a>> = None;
        for i in 0..n {
            let e = self.decode_entry(i)?;
            if !path_is_normalized(e.path) {
                return Err(ImageError::damaged("entry path is not a normalized absolute path").with(i as u64));
            }
            if let Some(p) = prev {
                if order(p.path, e.path) != Ordering::Less {
                    return Err(ImageError::damaged("entries are not sorted or not unique").with(i as u64));
                }
            }
            match e.kind {
                EntryKind::File => {
                    let end = e.data.checked_add(e.size);
                    if end.is_none_or(|end| end > self.header.stream_size) {
                        return Err(ImageError::damaged("file data out of bounds").with(i as u64));
                    }
                }
                EntryKind::Symlink => {
                    if self.string(e.data, e.size).is_none() || e.size == 0 || e.size > 4095 {
                        return Err(ImageError::damaged("symlink target out of bounds").with(i as u64));
                    }
                }
                EntryKind::Dir => {
                    let end = e.data.checked_add(e.size);
                    if end.is_none_or(|end| end > n as u64) || (e.size > 0 && e.data <= i as u64) {
                        return Err(ImageError::damaged("directory children out of bounds").with(i as u64));
                    }
                    for c in e.data..e.data + e.size {
                        let child = self.decode_entry(c as u32)?;
                        if split_parent(child.path).0 != e.path {
                            return Err(ImageError::damaged("directory child has another parent").with(c));
                        }
                    }
                }
            }
            if i > 0 {
                let parent = split_parent(e.path).0;
                match self.lookup(parent) {
                    Some(p) if self.decode_entry(p)?.kind == EntryKind::Dir => {}
                    _ => return Err(ImageError::damaged("entry's parent is not a directory").with(i as u64)),
                }
            }
            prev = Some(e);
        }
        Ok(())
    }

    fn validate_chunks(&self) -> Result<(), ImageError> {
        let h = &self.header;
        for k in 0..h.chunk_count {
            let (off, comp, raw) = self.chunk_record(k);
            let end = off.checked_add(comp as u64);
            if end.is_none_or(|end| end > h.data.size as u64) || comp == 0 {
                return Err(ImageError::damaged("chunk out of bounds").with(k as u64));
            }
            if comp > raw {
                return Err(ImageError::damaged("chunk is larger than its content").with(k as u64));
            }
            let expected_raw = if k + 1 == h.chunk_count {
                h.stream_size - (k as u64) * h.chunk_size as u64
            } else {
                h.chunk_size as u64
            };
            if raw as u64 != expected_raw {
                return Err(ImageError::damaged("chunk has the wrong uncompressed size").with(k as u64));
            }
        }
        Ok(())
    }

    fn chunk_record(&self, k: u32) -> (u64, u32, u32) {
        let off = self.header.chunks.offset + k as usize * CHUNK_RECORD_SIZE;
        let b = &self.bytes[off..off + CHUNK_RECORD_SIZE];
        (u64_at(b, 0), u32_at(b, 8), u32_at(b, 12))
    }

    /// Finds the entry with exactly this normalized absolute path, by binary search.
    pub fn lookup(&self, path: &[u8]) -> Option<u32> {
        let (mut lo, mut hi) = (0u32, self.header.entry_count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let b = self.raw_entry(mid);
            let p = self.string(u32_at(b, 0) as u64, u32_at(b, 4) as u64)?;
            match order(p, path) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Some(mid),
            }
        }
        None
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

    /// The target of a symlink entry.
    pub fn symlink_target(&self, e: &Entry<'a>) -> &'a [u8] {
        self.string(e.data, e.size).unwrap_or(b"")
    }

    /// The stored bytes of chunk `k` after checking them against the chunk's digest, and
    /// whether they are the raw content (a stored chunk) rather than a zstd frame.
    fn verified_chunk(&self, k: u32) -> Result<(&'a [u8], u32, bool), ImageError> {
        if k >= self.header.chunk_count {
            return Err(ImageError::damaged("chunk index out of range").with(k as u64));
        }
        let (stored, raw, is_raw) = self.stored_chunk(k);
        let rec = self.header.chunks.offset + k as usize * CHUNK_RECORD_SIZE;
        let want = &self.bytes[rec + 16..rec + 48];
        if Sha256::digest(stored).as_slice() != want {
            return Err(ImageError::tampered("chunk digest does not match").with(k as u64));
        }
        Ok((stored, raw, is_raw))
    }

    /// The stored bytes of chunk `k < chunk_count` (unchecked), its raw size, and whether it is
    /// stored raw. Bounds were validated at open.
    fn stored_chunk(&self, k: u32) -> (&'a [u8], u32, bool) {
        let (off, comp, raw) = self.chunk_record(k);
        let start = self.header.data.offset + off as usize;
        (&self.bytes[start..start + comp as usize], raw, comp == raw)
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
            let (off, comp, raw) = self.chunk_record(k);
            if comp != raw || next_at.is_some_and(|n| n != off) {
                return None;
            }
            next_at = Some(off + raw as u64);
        }
        let (off0, _, _) = self.chunk_record(first);
        let at = self.header.data.offset as u64 + off0 + (start - first as u64 * cs);
        Some((at, first, last))
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

fn path_is_normalized(p: &[u8]) -> bool {
    if p == b"/" {
        return true;
    }
    if p.first() != Some(&b'/') || p.len() > 4095 || p.ends_with(b"/") || p.contains(&0) {
        return false;
    }
    p[1..].split(|&c| c == b'/').all(|c| !c.is_empty() && c != b"." && c != b"..")
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
    /// A stored chunk whose digest was checked: read straight from the image from now on.
    Verified,
    /// A compressed chunk whose digest was checked and which was decoded once, straight into
    /// the buffer of a `read_once` that covered all of it, and not kept. A later read decodes it
    /// again, without hashing, and keeps it.
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
    decoder: Spin<Option<Decoder>>,
}

/// Where the bytes of a chunk live once it is verified.
enum Chunk<'a> {
    Image(&'a [u8]),
    Owned(Arc<[u8]>),
}

impl Chunk<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Image(b) => b,
            Chunk::Owned(a) => a,
        }
    }
}

impl ChunkCache {
    /// An empty cache for an image with `chunk_count` chunks.
    pub fn new(chunk_count: u32) -> Self {
        Self { slots: Spin::new(vec![Slot::Unread; chunk_count as usize]), decoder: Spin::new(None) }
    }

    /// How many chunks have been read (verified, and decompressed when stored compressed),
    /// and how many the image has: the image is read on demand, so the first is usually small.
    pub fn read_count(&self) -> (usize, usize) {
        self.slots.with(|v| (v.iter().filter(|s| !matches!(s, Slot::Unread)).count(), v.len()))
    }

    fn get<'a>(&self, image: &Image<'a>, k: u32) -> Result<Chunk<'a>, ImageError> {
        let slot = self.slots.with(|v| v.get(k as usize).cloned());
        match slot {
            Some(Slot::Decompressed(a)) => return Ok(Chunk::Owned(a)),
            Some(Slot::Verified) => return Ok(Chunk::Image(image.stored_chunk(k).0)),
            Some(Slot::Unread) | Some(Slot::Seen) => {}
            None => return Err(ImageError::damaged("chunk index out of range").with(k as u64)),
        }
        let (stored, raw, is_raw) = if matches!(slot, Some(Slot::Seen)) {
            // Checked against its digest when it was first read.
            image.stored_chunk(k)
        } else {
            image.verified_chunk(k)?
        };
        let (chunk, slot) = if is_raw {
            (Chunk::Image(stored), Slot::Verified)
        } else {
            let data: Arc<[u8]> =
                self.decoder.with(|d| decompress(d.get_or_insert_with(Decoder::new), stored, raw, k))?.into();
            (Chunk::Owned(data.clone()), Slot::Decompressed(data))
        };
        self.slots.with(|v| v[k as usize] = slot);
        Ok(chunk)
    }

    /// [`Image::raw_span`] for file bytes that will be used in place (mapped), after checking
    /// every chunk they touch against its digest (once per chunk, as a read would). Promises:
    /// Some(image offset) only when those bytes are exactly what was packed.
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
        for k in first..=last {
            self.get(image, k)?;
        }
        Ok(Some(at))
    }

    /// The first read of compressed chunk `k` when `dst` has room for all of it: checks the
    /// digest and decodes straight into `dst`, saving a buffer and a copy. Returns how many
    /// bytes it wrote, or None when this does not apply (chunk already read, stored, or `dst`
    /// too short) and the read goes through [`ChunkCache::get`].
    fn decode_whole(&self, image: &Image<'_>, k: u32, dst: &mut [u8]) -> Result<Option<usize>, ImageError> {
        if !self.slots.with(|v| matches!(v.get(k as usize), Some(Slot::Unread))) {
            return Ok(None);
        }
        let (_, comp, raw) = image.chunk_record(k);
        if comp == raw || dst.len() < raw as usize {
            return Ok(None);
        }
        let (stored, raw, _) = image.verified_chunk(k)?;
        let dst = &mut dst[..raw as usize];
        if !self.decoder.with(|d| d.get_or_insert_with(Decoder::new).decompress_into(stored, dst)) {
            return Err(ImageError::damaged("bad zstd frame").with(k as u64));
        }
        self.slots.with(|v| {
            if matches!(v[k as usize], Slot::Unread) {
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
            let bytes = chunk.bytes();
            let take = core::cmp::min(n - done, bytes.len().saturating_sub(within));
            if take == 0 {
                return Err(ImageError::damaged("file data past the end of its chunk").with(k as u64));
            }
            buf[done..done + take].copy_from_slice(&bytes[within..within + take]);
            done += take;
        }
        Ok(n)
    }
}
