//! The Landlock ABI: access rights, a rule set that handles every right the running kernel
//! knows (so anything not granted is denied), path-beneath rules, and restricting the calling
//! process. Which paths a runtime grants is its own policy; this module only speaks the ABI.
use crate::{check, Syscall6};

const CREATE_RULESET: usize = 444;
const ADD_RULE: usize = 445;
const RESTRICT_SELF: usize = 446;
const CLOSE: usize = 3;
const CREATE_RULESET_VERSION: usize = 1;
const RULE_PATH_BENEATH: usize = 1;

pub const EXECUTE: u64 = 1 << 0;
pub const WRITE_FILE: u64 = 1 << 1;
pub const READ_FILE: u64 = 1 << 2;
pub const READ_DIR: u64 = 1 << 3;
// Bit 4 REMOVE_DIR, 5 REMOVE_FILE, 7 MAKE_DIR, 8 MAKE_REG, 9 MAKE_SOCK, 10 MAKE_FIFO, 12 MAKE_SYM:
// granted only as part of "everything but" sets.
pub const MAKE_CHAR: u64 = 1 << 6;
pub const MAKE_BLOCK: u64 = 1 << 11;
pub const REFER: u64 = 1 << 13;
pub const TRUNCATE: u64 = 1 << 14;
pub const IOCTL_DEV: u64 = 1 << 15;

pub const NET_BIND_TCP: u64 = 1;
pub const NET_CONNECT_TCP: u64 = 2;
pub const SCOPE_ABSTRACT_UNIX: u64 = 1;
pub const SCOPE_SIGNAL: u64 = 2;

/// File-system rights ABI version `abi` knows (all of them are handled, i.e. denied unless
/// granted).
pub fn fs_rights(abi: i64) -> u64 {
    let mut r = (1 << 13) - 1;
    if abi >= 2 {
        r |= REFER;
    }
    if abi >= 3 {
        r |= TRUNCATE;
    }
    if abi >= 5 {
        r |= IOCTL_DEV;
    }
    r
}

/// The kernel's Landlock ABI version, or the negative errno (ENOSYS: not built in;
/// EOPNOTSUPP: not enabled at boot).
pub fn abi(sys: Syscall6) -> i64 {
    sys(CREATE_RULESET, 0, 0, CREATE_RULESET_VERSION, 0, 0, 0) as i64
}

#[repr(C, packed)]
struct PathBeneath {
    allowed: u64,
    parent_fd: i32,
}

/// An open rule set that handles every file-system right of the kernel's ABI, TCP bind and
/// connect (ABI 4 and later: no port is granted by this module) and the abstract-Unix-socket
/// and signal scopes (ABI 6 and later).
pub struct Ruleset {
    sys: Syscall6,
    fd: usize,
    /// The kernel's ABI version.
    pub abi: i64,
    /// Every file-system right that ABI handles.
    pub all: u64,
    /// Whether TCP bind/connect are handled (denied).
    pub net: bool,
    /// Whether abstract Unix sockets and signals are scoped to the domain.
    pub scoped: bool,
}

/// Restricts the calling process (and every process it later creates) to a domain that handles
/// no access right and only scopes `scopes` (ABI 6 and later). Needs PR_SET_NO_NEW_PRIVS or
/// CAP_SYS_ADMIN first. Err: the errno (EOPNOTSUPP where the ABI has no scopes).
pub fn restrict_self_to_scopes(sys: Syscall6, scopes: u64) -> Result<(), i32> {
    const EOPNOTSUPP: i32 = 95;
    if abi(sys) < 6 {
        return Err(EOPNOTSUPP);
    }
    let attr: [u64; 3] = [0, 0, scopes];
    let fd = check(sys(CREATE_RULESET, attr.as_ptr() as usize, 24, 0, 0, 0, 0))?;
    let r = check(sys(RESTRICT_SELF, fd, 0, 0, 0, 0, 0)).map(|_| ());
    sys(CLOSE, fd, 0, 0, 0, 0, 0);
    r
}

impl Ruleset {
    /// Creates the rule set, or returns the errno (ENOSYS/EOPNOTSUPP: no Landlock here).
    pub fn create(sys: Syscall6) -> Result<Self, i32> {
        Self::create_scoping(sys, SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL)
    }

    /// [`Ruleset::create`], scoping only `scopes` (of [`SCOPE_ABSTRACT_UNIX`] and
    /// [`SCOPE_SIGNAL`]) where the ABI has scopes: a scope an enclosing domain already holds
    /// (see [`restrict_self_to_scopes`]) may be left to it.
    pub fn create_scoping(sys: Syscall6, scopes: u64) -> Result<Self, i32> {
        let abi = abi(sys);
        if abi < 1 {
            return Err(-abi as i32);
        }
        let all = fs_rights(abi);
        #[repr(C)]
        struct Attr {
            fs: u64,
            net: u64,
            scoped: u64,
        }
        let net = abi >= 4;
        let scoped = abi >= 6;
        let attr = Attr {
            fs: all,
            net: if net { NET_BIND_TCP | NET_CONNECT_TCP } else { 0 },
            scoped: if scoped { scopes } else { 0 },
        };
        let size = if scoped {
            24
        } else if net {
            16
        } else {
            8
        };
        let fd = check(sys(CREATE_RULESET, &attr as *const Attr as usize, size, 0, 0, 0, 0))?;
        Ok(Self { sys, fd, abi, all, net, scoped })
    }

    /// Grants `allowed` beneath the directory or file open as `fd`.
    pub fn add_path(&self, fd: i32, allowed: u64) -> Result<(), i32> {
        let rule = PathBeneath { allowed, parent_fd: fd };
        check((self.sys)(ADD_RULE, self.fd, RULE_PATH_BENEATH, &rule as *const PathBeneath as usize, 0, 0, 0))
            .map(|_| ())
    }

    /// Restricts this process (and every process and thread it later creates) to the rules.
    /// Needs PR_SET_NO_NEW_PRIVS first.
    pub fn restrict(&self) -> Result<(), i32> {
        check((self.sys)(RESTRICT_SELF, self.fd, 0, 0, 0, 0, 0)).map(|_| ())
    }

    /// Closes the rule set's descriptor.
    pub fn close(self) {
        (self.sys)(CLOSE, self.fd, 0, 0, 0, 0, 0);
    }
}
