//! The enforcement layers beyond interception, applied once at start-up in the app's first
//! process just before the seccomp filter (see docs/security.md): no capabilities, a network
//! namespace where the sandbox is not already in its own (supervisor.rs), and Landlock. The
//! namespaces, the private root and the broker come before, from supervisor.rs. Each layer is
//! optional: a host without it runs the app without that layer, and `LITEBOX_LOG=debug` says
//! what was applied.
use alloc::vec::Vec;

use litebox_image::Mount;
use litebox_libos::LibOs;

use crate::host::LinuxHost;
use crate::supervisor::Started;
use crate::sys::{self, check};
use crate::{caps, landlock, seccomp, signals};

/// What [`confine`] managed to apply (errno when a layer is absent).
pub struct Confined {
    pub ns: Result<alloc::string::String, i32>,
    pub caps: Result<(), i32>,
    pub landlock: Result<landlock::Applied, i32>,
}

/// Whether the app's processes have a network namespace of the sandbox's own (layer 4's, or
/// layer 8's unshared in [`confine`]), so abstract Unix names reach only the app's sockets
/// (host.rs `private_net`). The supervisor checks the socket's namespace itself (broker.rs).
pub static PRIVATE_NET: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

const UNSHARE: usize = 272;
const CLONE_NEWNET: usize = 0x4000_0000;

/// Applies the remaining layers in the app's first process: NO_NEW_PRIVS, no capabilities, a
/// network namespace when the supervisor could not make namespaces (root only: the app's IP
/// sockets come from the broker, so it needs no network of its own), and Landlock.
pub fn confine(mounts: &[(Mount<'_>, i32)], started: &Started) -> Confined {
    if let Err(e) = seccomp::no_new_privs() {
        return Confined { ns: Err(e), caps: Err(e), landlock: Err(e) };
    }
    let ns = match started.ns {
        Ok(()) => match started.net {
            Ok(()) if crate::unixns::LAZY.load(core::sync::atomic::Ordering::Relaxed) => Ok(alloc::string::String::from(
                "user, mount (private root), pid, network, IPC, UTS, cgroup (the network namespace is made on the first abstract Unix name)",
            )),
            Ok(()) => Ok(alloc::string::String::from("user, mount (private root), pid, network, IPC, UTS, cgroup")),
            Err(e) => {
                let mut d = [0u8; 20];
                let n = core::str::from_utf8(litebox_libos::shim::fmt_usize(e as usize, &mut d)).unwrap_or("?");
                Ok(alloc::format!("user, mount (private root), pid, IPC, UTS, cgroup; no network namespace (errno {n}: abstract Unix names refused)"))
            }
        },
        Err(e) => match check(sys::syscall3(UNSHARE, CLONE_NEWNET, 0, 0)) {
            Ok(_) => {
                let mut d = [0u8; 20];
                let n = core::str::from_utf8(litebox_libos::shim::fmt_usize(e as usize, &mut d)).unwrap_or("?");
                Ok(alloc::format!("network only (user namespaces unavailable: errno {n}: host paths visible to stat through the gate, background processes may outlive the app)"))
            }
            Err(_) => Err(e),
        },
    };
    // Layer 8 (unshared above), or the sandbox's own made by init (supervisor.rs `init`).
    let private_net = match started.ns {
        Ok(()) => started.net.is_ok(),
        Err(_) => ns.is_ok(),
    };
    PRIVATE_NET.store(private_net, core::sync::atomic::Ordering::Relaxed);
    let caps = caps::drop_all();
    let upper_path = crate::upper_path();
    let reach = landlock::Reach {
        upper: (crate::UPPER.load(core::sync::atomic::Ordering::Relaxed), &upper_path),
        mounts,
        private_root: started.ns.is_ok(),
        abstract_scoped_outside: crate::unixns::LAZY.load(core::sync::atomic::Ordering::Relaxed),
    };
    let landlock = landlock::apply(&reach);
    // With the private root the gate allows Unix datagram sockets (gatefilter.rs `Shape`); in
    // the host's network namespace one could send to the host's abstract names, which only
    // Landlock's scope (ABI >= 6) still stops. Without either, the sandbox does not start.
    if started.ns.is_ok() && !private_net && !landlock.as_ref().is_ok_and(|a| a.scoped) {
        crate::fatal(
            crate::EXIT_SANDBOX,
            b"cannot make the sandbox's network namespace, and Landlock cannot scope abstract Unix sockets here",
        );
    }
    Confined { ns, caps, landlock }
}

/// The debug line that says which layers are active in this process.
pub fn log_applied(os: &LibOs<LinuxHost>, c: &Confined) {
    // Without LITEBOX_LOG=debug the line is never printed: not built either (the gate's list
    // it counts is made afresh).
    if !os.debug.load(core::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let mut n = [0u8; 20];
    let mut m = [0u8; 20];
    let count = litebox_libos::shim::fmt_usize(seccomp::syscall_count(), &mut n).to_vec();
    let mut parts: Vec<Vec<u8>> =
        alloc::vec![b"enforcement: seccomp interception + gate allow-list (".to_vec(), count, b" syscalls)".to_vec()];
    match &c.landlock {
        Ok(a) => {
            parts.push(b"; landlock ABI ".to_vec());
            parts.push(litebox_libos::shim::fmt_usize(a.abi as usize, &mut m).to_vec());
            parts.push(b" (fs".to_vec());
            if a.net {
                parts.push(b", no tcp bind/connect".to_vec());
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
    match &c.ns {
        Ok(what) => {
            parts.push(b"; namespaces: ".to_vec());
            parts.push(what.as_bytes().to_vec());
        }
        Err(e) => {
            parts.push(b"; namespaces unavailable (errno ".to_vec());
            parts.push(litebox_libos::shim::fmt_usize(*e as usize, &mut m).to_vec());
            parts.push(
                b": host paths visible to stat through the gate, background processes may outlive the app)".to_vec(),
            );
        }
    }
    parts.push(match c.caps {
        Ok(()) => b"; capabilities: none".to_vec(),
        Err(_) => b"; capabilities: could not be dropped".to_vec(),
    });
    parts.push(b"; broker: IP sockets, bind, listen, connect and chmod by the supervisor".to_vec());
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
