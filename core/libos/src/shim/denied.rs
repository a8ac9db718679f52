//! Privileged and host-reaching syscalls the library OS refuses on purpose with `EPERM` (the
//! answer Linux gives a process without the privilege, and the one container runtimes give),
//! rather than the `ENOSYS` of a syscall that is merely not implemented. None of them ever
//! reaches the host: the runtime's gate allow-list does not have them either
//! (docs/security.md has the table). With `LITEBOX_LOG=debug` each refusal is logged with the
//! rule.
use super::nr::*;
use super::SysResult;
use crate::errno::EPERM;
use crate::kernel::LibOs;
use crate::platform::Platform;

/// Syscalls answered `EPERM`: debugging other processes, mounts and namespaces, kernel
/// modules and images, BPF, keyrings, perf, cross-process memory, userfaultfd, host clock,
/// host name, I/O ports, swap, accounting and file handles.
pub const DENIED: &[usize] = &[
    PTRACE,
    MOUNT,
    UMOUNT2,
    UNSHARE,
    SETNS,
    PIVOT_ROOT,
    CHROOT,
    BPF,
    KEYCTL,
    ADD_KEY,
    REQUEST_KEY,
    INIT_MODULE,
    FINIT_MODULE,
    DELETE_MODULE,
    KEXEC_LOAD,
    KEXEC_FILE_LOAD,
    REBOOT,
    PERF_EVENT_OPEN,
    PROCESS_VM_READV,
    PROCESS_VM_WRITEV,
    USERFAULTFD,
    SWAPON,
    SWAPOFF,
    ACCT,
    SYSLOG,
    IOPL,
    IOPERM,
    QUOTACTL,
    VHANGUP,
    SETTIMEOFDAY,
    CLOCK_SETTIME,
    CLOCK_ADJTIME,
    ADJTIMEX,
    SETHOSTNAME,
    SETDOMAINNAME,
    LOOKUP_DCOOKIE,
    NAME_TO_HANDLE_AT,
    OPEN_BY_HANDLE_AT,
    KCMP,
    PIDFD_GETFD,
    PROCESS_MADVISE,
    OPEN_TREE,
    MOVE_MOUNT,
    FSOPEN,
    FSCONFIG,
    FSMOUNT,
    FSPICK,
    MOUNT_SETATTR,
];

/// `EPERM` for a number in [`DENIED`], logged; `None` for any other number.
pub fn dispatch<P: Platform>(os: &LibOs<P>, n: usize) -> Option<SysResult> {
    if !DENIED.contains(&n) {
        return None;
    }
    let mut num = [0u8; 20];
    let s = super::fmt_usize(n, &mut num);
    os.debug_log(&[b"denied: ", name(n).as_bytes(), b" (", s, b") -> EPERM (rule: privileged syscall, never served)"]);
    Some(Err(EPERM))
}
