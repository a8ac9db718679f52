//! What the tests' stored readers read: a per-thread "file" behind the image (linux-userland's
//! pread of its own executable), shared by the tests that give an image a stored reader.
use std::cell::RefCell;

thread_local! {
    /// The bytes the stored reader of this test thread reads.
    pub static FILE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A stored reader over [`FILE`]: fills `buf` from offset `off`, false past its end.
pub fn read_file(off: u64, buf: &mut [u8]) -> bool {
    FILE.with(|f| {
        let f = f.borrow();
        let Some(src) = f.get(off as usize..off as usize + buf.len()) else { return false };
        buf.copy_from_slice(src);
        true
    })
}
