//! Capabilities: the sandbox holds none. Every set is emptied (bounding, ambient, effective,
//! permitted, inheritable), so a root launch is a root without privileges: the host kernel's
//! ownership and permission checks apply to the sandbox as to any user (no DAC override, no
//! `CAP_FOWNER`, `CAP_NET_RAW`, `CAP_NET_ADMIN`, `CAP_SYS_ADMIN`, ...).
use crate::sys::{self, check};

const PR_CAPBSET_READ: usize = 23;
const PR_CAPBSET_DROP: usize = 24;
const PR_CAP_AMBIENT: usize = 47;
const PR_CAP_AMBIENT_CLEAR_ALL: usize = 4;
const CAPSET: usize = 126;
const EINVAL: i32 = 22;
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

/// Drops every capability of the calling thread (before it starts the app, which inherits
/// that). Returns the errno of the step that failed.
pub fn drop_all() -> Result<(), i32> {
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes last. One call
    // per capability (dropping one already gone succeeds); where CAP_SETPCAP is missing, a
    // set that is already empty (the sandbox's init dropped it) is not an error.
    for cap in 0..64 {
        match check(sys::syscall6(sys::PRCTL, PR_CAPBSET_DROP, cap, 0, 0, 0, 0)) {
            Ok(_) => continue,
            Err(EINVAL) => break, // past the kernel's last capability
            Err(e) => {
                if check(sys::syscall6(sys::PRCTL, PR_CAPBSET_READ, cap, 0, 0, 0, 0)) != Ok(0) {
                    return Err(e);
                }
            }
        }
    }
    check(sys::syscall6(sys::PRCTL, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0, 0))?;
    let hdr = Header { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let data = [Data::default(); 2];
    check(sys::syscall3(CAPSET, &hdr as *const Header as usize, data.as_ptr() as usize, 0)).map(|_| ())
}
