//! The enforcement layers beyond interception, applied once at start-up just before the
//! seccomp filter (see docs/security.md): a network namespace when the policy grants no
//! network, and Landlock. Each is optional: a host without it runs the app without that layer,
//! and `LITEBOX_LOG=debug` says what was applied.
use alloc::vec::Vec;

use litebox_image::{LaunchConfig, Mount};
use litebox_libos::LibOs;

use crate::host::LinuxHost;
use crate::sys::{self, check};
use crate::{landlock, seccomp, signals};

/// What [`confine`] managed to apply (errno when a layer is absent).
pub struct Confined {
    pub netns: Result<&'static str, i32>,
    pub landlock: Result<landlock::Applied, i32>,
}

const UNSHARE: usize = 272;
const CLONE_NEWNET: usize = 0x4000_0000;
const CLONE_NEWUSER: usize = 0x1000_0000;

/// Writes `data` to the host file `path` (uid_map and friends).
fn write_file(path: &[u8], data: &[u8]) -> Result<(), i32> {
    const O_WRONLY_CLOEXEC: usize = 0o1 | 0o2000000;
    let fd = sys::open_path(path, O_WRONLY_CLOEXEC, 0)?;
    let r = check(sys::syscall3(sys::WRITE, fd as usize, data.as_ptr() as usize, data.len()));
    sys::syscall3(sys::CLOSE, fd as usize, 0, 0);
    r.map(|_| ())
}

/// An empty network namespace: only a loopback that is down, so no socket reaches any
/// network. Root gets it directly; another user through a user namespace that maps its own
/// uid and gid to themselves (so ids and file owners look the same).
fn network_namespace(uid: u32, gid: u32) -> Result<&'static str, i32> {
    match check(sys::syscall3(UNSHARE, CLONE_NEWNET, 0, 0)) {
        Ok(_) => return Ok("network namespace"),
        Err(e) if uid == 0 => return Err(e),
        Err(_) => {}
    }
    check(sys::syscall3(UNSHARE, CLONE_NEWUSER | CLONE_NEWNET, 0, 0))?;
    let map = |id: u32| {
        let mut d = [0u8; 20];
        let n = litebox_libos::shim::fmt_usize(id as usize, &mut d).to_vec();
        let mut line = n.clone();
        line.push(b' ');
        line.extend_from_slice(&n);
        line.extend_from_slice(b" 1\n");
        line
    };
    // Without these maps the app would see itself as nobody; failing to write them is not
    // fatal (ids are served by the library OS from the values read at start).
    let _ = write_file(b"/proc/self/setgroups", b"deny");
    let _ = write_file(b"/proc/self/uid_map", &map(uid));
    let _ = write_file(b"/proc/self/gid_map", &map(gid));
    Ok("user and network namespaces")
}

fn ports(addrs: &[litebox_image::SockAddr]) -> Vec<u16> {
    addrs.iter().map(|a| a.port).collect()
}

/// Applies the optional layers, in this order: kernel facts the runtime needs later are read
/// first (the kernel's mappings, for execve), then NO_NEW_PRIVS, the network namespace (when
/// the policy grants no network) and Landlock.
pub fn confine(cfg: &LaunchConfig<'_>, mounts: &[(Mount<'_>, i32)], uid: u32, gid: u32) -> Confined {
    crate::exec::record_kernel_ranges();
    if let Err(e) = seccomp::no_new_privs() {
        return Confined { netns: Err(e), landlock: Err(e) };
    }
    let netns = if cfg.listen.is_empty() && cfg.connect.is_empty() {
        network_namespace(uid, gid)
    } else {
        Ok("none (the policy grants network)")
    };
    let upper_path = crate::upper_path();
    let reach = landlock::Reach {
        upper: (crate::UPPER.load(core::sync::atomic::Ordering::Relaxed), &upper_path),
        mounts,
        listen_ports: ports(&cfg.listen),
        connect_ports: ports(&cfg.connect),
    };
    Confined { netns, landlock: landlock::apply(&reach) }
}

/// The debug line that says which layers are active in this process.
pub fn log_applied(os: &LibOs<LinuxHost>, c: &Confined) {
    let mut n = [0u8; 20];
    let mut m = [0u8; 20];
    let count = litebox_libos::shim::fmt_usize(seccomp::syscall_count(), &mut n).to_vec();
    let mut parts: Vec<Vec<u8>> = alloc::vec![b"enforcement: seccomp interception + gate allow-list (".to_vec(), count, b" syscalls)".to_vec()];
    match &c.landlock {
        Ok(a) => {
            parts.push(b"; landlock ABI ".to_vec());
            parts.push(litebox_libos::shim::fmt_usize(a.abi as usize, &mut m).to_vec());
            parts.push(b" (fs".to_vec());
            if a.net {
                parts.push(b", tcp ports".to_vec());
            }
            if a.scoped {
                parts.push(b", signals and abstract sockets scoped".to_vec());
            }
            parts.push(b")".to_vec());
        }
        Err(e) => {
            parts.push(b"; landlock unavailable (errno ".to_vec());
            parts.push(litebox_libos::shim::fmt_usize(*e as usize, &mut m).to_vec());
            parts.push(b")".to_vec());
        }
    }
    match &c.netns {
        Ok(what) => {
            parts.push(b"; namespaces: ".to_vec());
            parts.push(what.as_bytes().to_vec());
        }
        Err(e) => {
            parts.push(b"; namespaces unavailable (errno ".to_vec());
            parts.push(litebox_libos::shim::fmt_usize(*e as usize, &mut m).to_vec());
            parts.push(b")".to_vec());
        }
    }
    let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
    os.debug_log(&refs);
}

/// Logs (with LITEBOX_LOG=debug) a call issued from the gate that the allow-list refused.
pub fn gate_denied(os: &LibOs<LinuxHost>, t: &signals::Trapped, rule: u32) {
    use litebox_libos::SyscallContext;
    let nr = t.nr();
    let mut d = [0u8; 20];
    let num = litebox_libos::shim::fmt_usize(nr, &mut d);
    os.debug_log(&[
        b"denied at the gate: ",
        litebox_libos::shim::nr::name(nr).as_bytes(),
        b" (",
        num,
        b") -> EPERM (rule: ",
        seccomp::rule_name(rule),
        b")",
    ]);
}
