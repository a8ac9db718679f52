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

/// Syscalls left `ENOSYS` on purpose, with the reason (docs/syscalls.md marks them; every
/// other ENOSYS number is merely not implemented yet). Most are what Linux itself answers
/// ENOSYS to on a current x86-64 kernel or a common configuration.
pub const ENOSYS_ON_PURPOSE: &[(usize, &str)] = &[
    (USELIB, "removed from Linux (CONFIG_USELIB off): ENOSYS there too"),
    (CREATE_MODULE, "removed from Linux: ENOSYS there too"),
    (GET_KERNEL_SYMS, "removed from Linux: ENOSYS there too"),
    (QUERY_MODULE, "removed from Linux: ENOSYS there too"),
    (NFSSERVCTL, "removed from Linux: ENOSYS there too"),
    (GETPMSG, "never implemented by Linux: ENOSYS there too"),
    (PUTPMSG, "never implemented by Linux: ENOSYS there too"),
    (AFS_SYSCALL, "never implemented by Linux: ENOSYS there too"),
    (TUXCALL, "never implemented by Linux: ENOSYS there too"),
    (SECURITY, "never implemented by Linux: ENOSYS there too"),
    (VSERVER, "never implemented by Linux: ENOSYS there too"),
    (_SYSCTL, "removed from Linux 5.5: ENOSYS there too (the values are in /proc/sys)"),
    (EPOLL_CTL_OLD, "never implemented by Linux: ENOSYS there too"),
    (EPOLL_WAIT_OLD, "never implemented by Linux: ENOSYS there too"),
    (USTAT, "obsolete; programs use statfs"),
    (SYSFS, "obsolete (CONFIG_SYSFS_SYSCALL off in current kernels)"),
    (MODIFY_LDT, "no LDT for the app (CONFIG_MODIFY_LDT_SYSCALL off gives ENOSYS too)"),
    (SET_THREAD_AREA, "32-bit TLS; x86-64 programs use arch_prctl"),
    (GET_THREAD_AREA, "32-bit TLS; x86-64 programs use arch_prctl"),
    (MBIND, "no NUMA in the sandbox (a kernel without CONFIG_NUMA answers ENOSYS)"),
    (SET_MEMPOLICY, "no NUMA in the sandbox (a kernel without CONFIG_NUMA answers ENOSYS)"),
    (GET_MEMPOLICY, "no NUMA in the sandbox (a kernel without CONFIG_NUMA answers ENOSYS)"),
    (MIGRATE_PAGES, "no NUMA in the sandbox (a kernel without CONFIG_NUMA answers ENOSYS)"),
    (MOVE_PAGES, "no NUMA in the sandbox (a kernel without CONFIG_NUMA answers ENOSYS)"),
    (SET_MEMPOLICY_HOME_NODE, "no NUMA in the sandbox (a kernel without CONFIG_NUMA answers ENOSYS)"),
    (IO_URING_SETUP, "io_uring would move I/O out of the shim's sight; ENOSYS makes programs use ordinary calls"),
    (IO_URING_ENTER, "as io_uring_setup"),
    (IO_URING_REGISTER, "as io_uring_setup"),
    (SECCOMP, "the sandbox's own filters are not the app's to extend; ENOSYS makes programs run without theirs"),
    (LANDLOCK_CREATE_RULESET, "as seccomp (a kernel without Landlock answers ENOSYS)"),
    (LANDLOCK_ADD_RULE, "as landlock_create_ruleset"),
    (LANDLOCK_RESTRICT_SELF, "as landlock_create_ruleset"),
    (MEMFD_SECRET, "off by default in Linux (ENOSYS unless enabled at boot)"),
    (PKEY_MPROTECT, "no memory protection keys for the app"),
    (PKEY_ALLOC, "no memory protection keys for the app"),
    (PKEY_FREE, "no memory protection keys for the app"),
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
