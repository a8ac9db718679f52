//! Capabilities: the sandbox holds none. Every set is emptied (bounding, ambient, effective,
//! permitted, inheritable), so a root launch is a root without privileges: the host kernel's
//! ownership and permission checks apply to the sandbox as to any user (no DAC override, no
//! `CAP_FOWNER`, `CAP_NET_RAW`, `CAP_NET_ADMIN`, `CAP_SYS_ADMIN`, ...).
use core::sync::atomic::{AtomicBool, Ordering};

use crate::sys::{self, check};

const PR_CAPBSET_READ: usize = 23;
const PR_CAPBSET_DROP: usize = 24;
const PR_CAP_AMBIENT: usize = 47;
const PR_CAP_AMBIENT_CLEAR_ALL: usize = 4;
const CAPSET: usize = 126;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Empties the calling thread's bounding set (needs CAP_SETPCAP, which stays effective: the
/// bounding set only limits what a later execve could gain). Each drop commits new credentials
/// (41 drops: ~50 us here), so neither sandbox process does it on the start-up's critical
/// path: the app's first process empties its own right after init forks it, while it loads
/// the app and init makes the network namespace (supervisor.rs `init`), and init empties its own after it
/// has let the app's first process go on (holding only `CAP_SETPCAP` meanwhile:
/// [`drop_all_but_setpcap`]).
pub fn drop_bounding() -> Result<(), i32> {
    // A bounding set never grows again: once emptied here (in this process or in the one it
    // was forked from), there is nothing left to read.
    if BOUNDING_EMPTY.load(Ordering::Relaxed) {
        return Ok(());
    }
    // Drop first, read only when a drop fails: in a new user namespace the set is full, so a
    // read before each drop would answer 1 every time (half the calls for nothing). A drop
    // fails with EINVAL past the kernel's last capability (where the loop ends), and with
    // EPERM without CAP_SETPCAP, which is no failure for a capability the set lacks already.
    for cap in 0..64 {
        match check(sys::syscall6(sys::PRCTL, PR_CAPBSET_DROP, cap, 0, 0, 0, 0)) {
            Ok(_) => {}
            Err(22) => break, // EINVAL: past the kernel's last capability
            Err(e) => match check(sys::syscall6(sys::PRCTL, PR_CAPBSET_READ, cap, 0, 0, 0, 0)) {
                Ok(0) => {}
                Ok(_) => return Err(e),
                Err(_) => break,
            },
        }
    }
    BOUNDING_EMPTY.store(true, Ordering::Relaxed);
    Ok(())
}

/// Whether [`drop_bounding`] emptied this process's bounding set (inherited by fork, as the set
/// itself is).
static BOUNDING_EMPTY: AtomicBool = AtomicBool::new(false);

/// Init's first half of [`drop_all`], before it lets the app's first process run: clears the
/// ambient set, keeps nothing in the inheritable set and only `CAP_SETPCAP` in the effective
/// and permitted sets (all it needs to empty its own bounding set afterwards, off the
/// critical path: [`drop_all`] then drops that one too). `CAP_SETPCAP` acts on the caller's own
/// credentials only (drop from its bounding set, set its securebits, add to its inheritable
/// set what its bounding set holds); with NO_NEW_PRIVS set (init sets it first) no execve
/// can turn any of that into a privilege.
pub fn drop_all_but_setpcap() -> Result<(), i32> {
    const CAP_SETPCAP: u32 = 8;
    check(sys::syscall6(sys::PRCTL, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0))?;
    let hdr = Header { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let keep = Data { effective: 1 << CAP_SETPCAP, permitted: 1 << CAP_SETPCAP, inheritable: 0 };
    let data = [keep, Data::default()];
    check(sys::syscall3(CAPSET, &hdr as *const Header as usize, data.as_ptr() as usize, 0)).map(|_| ())
}

/// Drops every capability of the calling thread (before it starts the app, which inherits
/// that). Returns the errno of the step that failed.
pub fn drop_all() -> Result<(), i32> {
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes last. A set that
    // is already empty (the sandbox's init emptied it before the fork) costs only the reads.
    drop_bounding()?;
    check(sys::syscall6(sys::PRCTL, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0))?;
    let hdr = Header { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let data = [Data::default(); 2];
    check(sys::syscall3(CAPSET, &hdr as *const Header as usize, data.as_ptr() as usize, 0)).map(|_| ())
}
