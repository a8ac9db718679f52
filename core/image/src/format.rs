//! On-disk structures of image format v3, decoded from little-endian bytes with bounds checks.
use crate::error::ImageError;

pub const MAGIC: &[u8; 8] = b"LITEBOX\0";
pub const VERSION: u32 = 3;
pub const HEADER_SIZE: usize = 160;
pub const ENTRY_SIZE: usize = 48;
/// offset (8), stored size (4), raw size (4), SHA-256 (32), XXH3-64 (8).
pub const CHUNK_RECORD_SIZE: usize = 56;
/// Bytes of the header covered by the root digest (everything before the digest itself).
pub const HEADER_DIGESTED: usize = 128;
/// The table area (entry table, string table, chunk table) is checked in pages of this many
/// bytes, each against its own SHA-256 in the page digest table.
pub const TABLE_PAGE: usize = 4096;
/// Bytes per record of the page digest table (one SHA-256).
pub const PAGE_DIGEST_SIZE: usize = 32;

pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(a)
}

/// A region of the image: offset and size, already checked to lie inside it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Region {
    pub offset: usize,
    pub size: usize,
}

/// The decoded, validated header.
#[derive(Clone, Copy, Debug)]
pub struct Header {
    pub chunk_size: u32,
    pub entry_count: u32,
    pub chunk_count: u32,
    pub config: Region,
    pub index: Region,
    pub strings: Region,
    pub chunks: Region,
    /// The page digest table: one SHA-256 per [`TABLE_PAGE`] bytes of the table area
    /// (`index.offset .. chunks.offset + chunks.size`), the last page shorter.
    pub pages: Region,
    pub data: Region,
    pub stream_size: u64,
    pub root_digest: [u8; 32],
}

impl Header {
    /// Decodes and validates the header of `image`: magic, version, flags, region bounds and
    /// order (the page digest table's size follows from the table area's), table sizes and
    /// chunk arithmetic. Does not check the digest.
    pub fn parse(image: &[u8]) -> Result<Header, ImageError> {
        if image.len() < HEADER_SIZE {
            return Err(ImageError::damaged("shorter than the header").with(image.len() as u64));
        }
        if &image[0..8] != MAGIC {
            return Err(ImageError::damaged("bad magic (expected LITEBOX\\0)"));
        }
        let version = u32_at(image, 8);
        if version != VERSION {
            return Err(
                ImageError::damaged("unsupported image version (this runtime reads version 3)").with(version as u64)
            );
        }
        if u32_at(image, 12) as usize != HEADER_SIZE {
            return Err(ImageError::damaged("bad header size").with(u32_at(image, 12) as u64));
        }
        if u32_at(image, 16) != 0 {
            return Err(ImageError::damaged("unknown header flags").with(u32_at(image, 16) as u64));
        }
        let chunk_size = u32_at(image, 20);
        if !chunk_size.is_power_of_two() || !(4096..=16 << 20).contains(&chunk_size) {
            return Err(ImageError::damaged("bad chunk size").with(chunk_size as u64));
        }
        let entry_count = u32_at(image, 24);
        let chunk_count = u32_at(image, 28);
        if u64_at(image, 120) != 0 {
            return Err(ImageError::damaged("reserved header field is not zero"));
        }
        let mut cursor = HEADER_SIZE as u64;
        let region = |cursor: &mut u64, off_at: usize, what: &'static str| -> Result<Region, ImageError> {
            let offset = u64_at(image, off_at);
            let size = u64_at(image, off_at + 8);
            let end = offset.checked_add(size).ok_or(ImageError::damaged(what))?;
            if offset != *cursor || end > image.len() as u64 {
                return Err(ImageError::damaged(what).with(offset));
            }
            *cursor = end;
            Ok(Region { offset: offset as usize, size: size as usize })
        };
        let config = region(&mut cursor, 32, "launch config region out of bounds")?;
        let index = region(&mut cursor, 48, "entry table region out of bounds")?;
        let strings = region(&mut cursor, 64, "string table region out of bounds")?;
        let chunks = region(&mut cursor, 80, "chunk table region out of bounds")?;
        let tables = chunks.offset + chunks.size - index.offset;
        let pages =
            Region { offset: chunks.offset + chunks.size, size: tables.div_ceil(TABLE_PAGE) * PAGE_DIGEST_SIZE };
        if pages.offset as u64 + pages.size as u64 > image.len() as u64 {
            return Err(ImageError::damaged("page digest table out of bounds").with(pages.offset as u64));
        }
        cursor = (pages.offset + pages.size) as u64;
        let data = region(&mut cursor, 96, "data region out of bounds")?;
        if entry_count == 0 || index.size != entry_count as usize * ENTRY_SIZE {
            return Err(ImageError::damaged("entry table size does not match entry count"));
        }
        if chunks.size != chunk_count as usize * CHUNK_RECORD_SIZE {
            return Err(ImageError::damaged("chunk table size does not match chunk count"));
        }
        let stream_size = u64_at(image, 112);
        let expected_chunks = stream_size.div_ceil(chunk_size as u64);
        if expected_chunks != chunk_count as u64 {
            return Err(ImageError::damaged("chunk count does not match stream size"));
        }
        let mut root_digest = [0u8; 32];
        root_digest.copy_from_slice(&image[128..160]);
        Ok(Header {
            chunk_size,
            entry_count,
            chunk_count,
            config,
            index,
            strings,
            chunks,
            pages,
            data,
            stream_size,
            root_digest,
        })
    }
}

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File,
    Symlink,
}

/// One decoded entry of the entry table. `path` borrows from the image.
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    pub index: u32,
    pub path: &'a [u8],
    pub kind: EntryKind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub size: u64,
    pub data: u64,
}

impl<'a> Entry<'a> {
    /// The entry's name: the last component of its path (empty for the root).
    pub fn name(&self) -> &'a [u8] {
        split_parent(self.path).1
    }
}

/// Splits a normalized absolute path into (parent, name) as the image orders entries:
/// `/` → (``, ``), `/a` → (`/`, `a`), `/a/b` → (`/a`, `b`).
pub fn split_parent(path: &[u8]) -> (&[u8], &[u8]) {
    if path == b"/" {
        return (b"", b"");
    }
    match path.iter().rposition(|&c| c == b'/') {
        Some(0) => (b"/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b"", path),
    }
}
