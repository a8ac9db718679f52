//! Errors from reading an image, each mapped to the documented runtime exit code.
use core::fmt;

/// Which class of failure: decides the runtime's exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageErrorKind {
    /// Structurally invalid: bad magic, version, bounds, launch config or zstd frame (exit 121).
    Damaged,
    /// A digest does not match: the bytes were altered after packing (exit 122).
    Tampered,
}

/// A failure to read the image, with a static description and an optional number for context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageError {
    pub kind: ImageErrorKind,
    pub what: &'static str,
    pub detail: Option<u64>,
}

impl ImageError {
    pub(crate) const fn damaged(what: &'static str) -> Self {
        Self { kind: ImageErrorKind::Damaged, what, detail: None }
    }
    pub(crate) const fn tampered(what: &'static str) -> Self {
        Self { kind: ImageErrorKind::Tampered, what, detail: None }
    }
    pub(crate) const fn with(self, detail: u64) -> Self {
        Self { detail: Some(detail), ..self }
    }

    /// The exit code the runtime documents for this failure (docs/image-format.md).
    pub fn exit_code(&self) -> i32 {
        match self.kind {
            ImageErrorKind::Damaged => 121,
            ImageErrorKind::Tampered => 122,
        }
    }
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let class = match self.kind {
            ImageErrorKind::Damaged => "damaged image",
            ImageErrorKind::Tampered => "tampered image",
        };
        match self.detail {
            Some(d) => write!(f, "{class}: {} ({d})", self.what),
            None => write!(f, "{class}: {}", self.what),
        }
    }
}
