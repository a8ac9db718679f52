//! Synthetic nodes: the device files every program expects, and the bits of /proc that glibc
//! and common programs read at start-up. Nothing here reflects the host.
use crate::fs::node::NodeKind;

/// A synthetic node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synth {
    Null,
    Zero,
    Full,
    Random,
    URandom,
    /// /proc/self and /proc/<pid>: a directory.
    ProcSelf,
    /// /proc/self/exe: a symlink to the entry program.
    ProcSelfExe,
}

/// (path, node) for every synthetic path.
pub const TABLE: &[(&[u8], Synth)] = &[
    (b"/dev/full", Synth::Full),
    (b"/dev/null", Synth::Null),
    (b"/dev/random", Synth::Random),
    (b"/dev/urandom", Synth::URandom),
    (b"/dev/zero", Synth::Zero),
    (b"/proc/self", Synth::ProcSelf),
    (b"/proc/self/exe", Synth::ProcSelfExe),
];

impl Synth {
    /// Looks up a synthetic path.
    pub fn find(path: &[u8]) -> Option<Synth> {
        TABLE.iter().find(|(p, _)| *p == path).map(|(_, s)| *s)
    }

    /// The type stat reports.
    pub fn kind(self) -> NodeKind {
        match self {
            Synth::ProcSelf => NodeKind::Dir,
            Synth::ProcSelfExe => NodeKind::Symlink,
            _ => NodeKind::CharDev,
        }
    }

    /// (major, minor) of a device node, as on Linux.
    pub fn rdev(self) -> (u32, u32) {
        match self {
            Synth::Null => (1, 3),
            Synth::Zero => (1, 5),
            Synth::Full => (1, 7),
            Synth::Random => (1, 8),
            Synth::URandom => (1, 9),
            _ => (0, 0),
        }
    }

    /// A stable inode number.
    pub fn ino(self) -> u64 {
        0xffff_0000 + self as u64
    }
}
