//! The line a runtime prints before it stops on an error: `litebox: <what>` on its diagnostics
//! stream, then the exit code (see [`crate::exit`]).
use alloc::vec::Vec;
use core::fmt;

use litebox_libos::loader::LoadError;

/// `litebox: <msg>` and a newline in one buffer, for a runtime that writes it with one call.
pub fn line(msg: &[u8]) -> Vec<u8> {
    let mut line = Vec::with_capacity(msg.len() + 12);
    line.extend_from_slice(b"litebox: ");
    line.extend_from_slice(msg);
    line.push(b'\n');
    line
}

/// Writes `litebox: <msg>` and a newline to `w` piece by piece: needs no heap, so it still
/// works when the heap is what failed.
pub fn write_line<W: fmt::Write + ?Sized>(w: &mut W, msg: fmt::Arguments<'_>) -> fmt::Result {
    writeln!(w, "litebox: {msg}")
}

/// The message of a panic (exit code [`crate::exit::INTERNAL`]): `internal error: <message>`.
pub struct PanicMessage<'a>(pub &'a core::panic::PanicInfo<'a>);

impl fmt::Display for PanicMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "internal error: {}", self.0.message())?;
        // Where it happened, so a report of a rare failure can be traced to its line.
        match self.0.location() {
            Some(at) => write!(f, " (at {}:{})", at.file(), at.line()),
            None => Ok(()),
        }
    }
}

/// The message when the prebuilt `alloc`'s `_Unwind_Resume` is reached (never, with
/// panic=abort).
pub const UNWIND_MESSAGE: &str = "internal error: unwinding is not supported";

/// Why the entry program could not be loaded (exit code [`crate::exit::LOAD`]):
/// `cannot load <entry>: <reason>`.
pub struct LoadFailure<'a> {
    /// The entry program's path in the image.
    pub entry: &'a [u8],
    /// What the loader said.
    pub error: LoadError,
}

impl fmt::Display for LoadFailure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = core::str::from_utf8(self.entry).unwrap_or("?");
        match &self.error {
            LoadError::NotFound(errno) => write!(f, "cannot load {name}: not found in the image (errno {errno})"),
            LoadError::BadElf(what) => write!(f, "cannot load {name}: {what}"),
            LoadError::NoMemory(errno) => write!(f, "cannot load {name}: memory mapping failed (errno {errno})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn lines() {
        assert_eq!(line(b"no image"), b"litebox: no image\n");
        let mut s = String::new();
        write_line(&mut s, format_args!("x {}", 1)).unwrap();
        assert_eq!(s, "litebox: x 1\n");
    }

    #[test]
    fn load_failures() {
        let f = |error| alloc::format!("{}", LoadFailure { entry: b"/bin/app", error });
        assert_eq!(f(LoadError::NotFound(2)), "cannot load /bin/app: not found in the image (errno 2)");
        assert_eq!(f(LoadError::BadElf("not an ELF")), "cannot load /bin/app: not an ELF");
        assert_eq!(f(LoadError::NoMemory(12)), "cannot load /bin/app: memory mapping failed (errno 12)");
    }
}
