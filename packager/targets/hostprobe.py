"""Probes of the host's sandbox enforcement layers, for `litebox targets`: Landlock (its ABI
version, which decides the features the runtime can use), the sandbox's namespaces (user,
mount, pid, network, IPC, UTS, cgroup, with a private tmpfs root) and a plain network
namespace (each tried in a forked child, never in the calling process). The linux-userland
runtime makes the same calls at start-up and uses what works (docs/security.md)."""
from __future__ import annotations

import ctypes
import errno
import os

SYS_LANDLOCK_CREATE_RULESET = 444  # x86-64
LANDLOCK_CREATE_RULESET_VERSION = 1
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
SANDBOX_NAMESPACES = (CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
                      | CLONE_NEWCGROUP)
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 2, 4, 16384, 1 << 18


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> tuple[int, int]:
    """(ABI version, 0) when the kernel has Landlock enabled, else (0, errno): ENOSYS when
    the kernel lacks it, EOPNOTSUPP when it is built in but not enabled at boot. Creates no
    ruleset (the VERSION flag only asks)."""
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    ret = libc.syscall(ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET), ctypes.c_void_p(None),
                       ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    if ret < 0:
        return 0, ctypes.get_errno()
    return int(ret), 0


def _unshare_errno(flags: int, mount_tmpfs: bool = False) -> int:
    """0 when a forked child of this process can unshare(FLAGS) (and, with MOUNT_TMPFS, mount a
    private tmpfs there, as the runtime's sandbox root is), else the errno it got."""
    pid = os.fork()
    if pid == 0:  # child: try, report through the exit status, never return
        code = 255
        try:
            libc = _libc()
            code = 0 if libc.unshare(ctypes.c_int(flags)) == 0 else ctypes.get_errno()
            if code == 0 and mount_tmpfs:
                ok = libc.mount(None, b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None) == 0 and \
                    libc.mount(b"litebox", b"/tmp", b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV), None) == 0
                code = 0 if ok else ctypes.get_errno()
        finally:
            os._exit(min(code, 255))
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 255


def userns_errno() -> int:
    """0 when a child process of this one can enter the sandbox's namespaces (user, mount, pid,
    network, IPC, UTS, cgroup) and mount a tmpfs there, else the errno it got. The unshare
    happens only in a forked child that exits at once."""
    return _unshare_errno(SANDBOX_NAMESPACES, mount_tmpfs=True)


def netns_errno() -> int:
    """0 when a child process can enter a new network namespace the way the runtime does
    (CLONE_NEWNET as root, CLONE_NEWUSER|CLONE_NEWNET otherwise), else the errno it got."""
    if os.geteuid() == 0:
        return _unshare_errno(CLONE_NEWNET)
    return _unshare_errno(CLONE_NEWUSER | CLONE_NEWNET)


def landlock_features(abi: int) -> str:
    """What the runtime restricts with Landlock at this ABI version."""
    parts = ["file system"]
    if abi >= 4:
        parts.append("no TCP bind or connect of its own (the supervisor makes them)")
    if abi >= 6:
        parts.append("signals and abstract unix sockets scoped to the app")
    return ", ".join(parts)


def landlock_check() -> tuple[bool, str]:
    """The Landlock checklist line: present or not, and why."""
    try:
        abi, err = landlock_abi()
    except (OSError, AttributeError) as exc:
        return False, f"cannot probe ({exc})"
    if abi > 0:
        return True, f"ABI version {abi}; the runtime uses it when present: {landlock_features(abi)}"
    why = {errno.ENOSYS: "kernel built without Landlock (ENOSYS)",
           errno.EOPNOTSUPP: "built in but not enabled at boot (EOPNOTSUPP; add landlock to lsm=)"}
    return False, why.get(err, f"{errno.errorcode.get(err, err)}") + "; the runtime does without it"


def userns_check() -> tuple[str, bool, str]:
    """The sandbox-namespaces checklist line: its name (privileged when we run as root,
    unprivileged otherwise), present or not, and what the runtime does either way."""
    kind = "privileged" if os.geteuid() == 0 else "unprivileged"
    name = f"user namespaces ({kind})"
    try:
        err = userns_errno()
    except OSError as exc:
        return name, False, f"cannot probe: fork failed ({exc.strerror})"
    if err == 0:
        return name, True, ("user, mount, pid, network, IPC, UTS and cgroup namespaces and a tmpfs in them work "
                            "(probed in a child); the runtime uses them when present: the app runs behind a private "
                            "root (host paths invisible), as pid 2 of its own pid namespace (nothing it starts "
                            "outlives it), with its writable layer in memory counted against the memory limit")
    reason = errno.errorcode.get(err, str(err))
    hint = ""
    if err == errno.EPERM:
        hint = (" (disabled: see sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces, "
                "or the container's seccomp/AppArmor policy)")
    elif err == errno.ENOSPC:
        hint = " (user.max_user_namespaces is 0)"
    return name, False, (f"unshare failed with {reason}{hint}; the runtime does without them: host paths stay "
                         "visible to stat through the gate, the app's background processes can outlive it, "
                         "and its writable layer lives in /dev/shm (removed when the app ends)")


def netns_check() -> tuple[bool, str]:
    """The network-namespace checklist line."""
    try:
        err = netns_errno()
    except OSError as exc:
        return False, f"cannot probe: fork failed ({exc.strerror})"
    if err == 0:
        return True, ("unshare(CLONE_NEWNET) works (probed in a child); the runtime uses it when present, "
                      "where the sandbox's namespaces are not (its IP sockets come from the supervisor)")
    return False, f"unshare failed with {errno.errorcode.get(err, str(err))}; the runtime does without it"
