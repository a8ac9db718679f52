"""What `litebox run --learn` says about requests the sandbox refused rather than lacked: ioctls
the library OS does not serve (record kind ``ioctl``, value ``CMD FD WHAT``) and syscalls it
does not implement (kind ``enosys``, value the syscall number). Neither can be granted in
litebox.toml, so each becomes a comment line naming the request and what to do about it."""
from __future__ import annotations

from dataclasses import dataclass

from packager.image.syscalls_implemented import NAMES

# ioctl request numbers (asm-generic/ioctls.h, linux/sockios.h, linux/fs.h) → name.
IOCTL_NAMES = {
    0x5401: "TCGETS", 0x5402: "TCSETS", 0x5403: "TCSETSW", 0x5404: "TCSETSF", 0x5409: "TCSBRK",
    0x540A: "TCXONC", 0x540B: "TCFLSH", 0x540E: "TIOCSCTTY", 0x540F: "TIOCGPGRP",
    0x5410: "TIOCSPGRP", 0x5413: "TIOCGWINSZ", 0x5414: "TIOCSWINSZ", 0x541B: "FIONREAD",
    0x541C: "TIOCLINUX", 0x5421: "FIONBIO", 0x5422: "TIOCNOTTY", 0x5450: "FIONCLEX",
    0x5451: "FIOCLEX", 0x5452: "FIOASYNC", 0x80045430: "TIOCGPTN", 0x40045431: "TIOCSPTLCK",
    0x8912: "SIOCGIFCONF", 0x8913: "SIOCGIFFLAGS", 0x8915: "SIOCGIFADDR", 0x8921: "SIOCGIFMTU",
    0x8927: "SIOCGIFHWADDR", 0x8933: "SIOCGIFINDEX", 0x80081272: "BLKGETSIZE64",
    0x80086601: "FS_IOC_GETFLAGS", 0x40086602: "FS_IOC_SETFLAGS", 0x40049409: "FICLONE",
}
WHAT = {"host": "a host terminal or socket", "object": "a pipe, socket or other kernel object",
        "file": "a file"}
# A syscall family → what a user can do when the app needs it.
ENOSYS_ADVICE = {
    ("io_setup", "io_submit", "io_getevents", "io_destroy", "io_cancel", "io_pgetevents"):
        "Linux AIO; most programs fall back to plain reads and writes, else turn AIO off in "
        "the app's settings (nginx: `aio off;`)",
    ("io_uring_setup", "io_uring_enter", "io_uring_register"):
        "io_uring is left out on purpose; programs fall back to epoll and read/write",
    ("inotify_init", "inotify_init1", "inotify_add_watch", "fanotify_init", "fanotify_mark"):
        "file watching; turn off the app's watch or auto-reload option",
    ("splice", "tee", "vmsplice"):
        "zero-copy pipes; most programs fall back to read/write, else turn sendfile/splice off "
        "in the app's settings",
    ("timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete"):
        "POSIX timers; not served by this runtime yet",
    ("shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semctl", "semtimedop",
     "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend",
     "mq_timedreceive", "mq_notify", "mq_getsetattr"):
        "System V / POSIX IPC; not served by this runtime yet: configure the app to use "
        "another mechanism (e.g. threads or pipes)",
}
GENERIC_SYSCALL = ("if the app stops because of it, look for an option that avoids it; "
                   "docs/syscalls.md lists what LiteBox serves")


@dataclass(frozen=True)
class RefusedIoctl:
    """One ioctl request the shim refused, on one kind of descriptor, and the fds it was made on."""

    cmd: int
    what: str
    fds: tuple[int, ...]


def parse_ioctl(value: str) -> tuple[int, int, str]:
    """``CMD FD WHAT`` (CMD in hex, FD decimal, WHAT host/object/file) → its three parts;
    ValueError when malformed."""
    parts = value.split()
    if len(parts) != 3 or parts[2] not in WHAT:
        raise ValueError("expected 'CMD FD KIND'")
    return int(parts[0], 16), int(parts[1]), parts[2]


def ioctl_name(cmd: int) -> str:
    """The request's name (``TCSETS``) or, when unknown, its number in hex."""
    return IOCTL_NAMES.get(cmd, f"{cmd:#x}")


def ioctl_advice(item: RefusedIoctl) -> str:
    """One comment line: which ioctl on which fds was refused, what the app saw, what to do."""
    name = ioctl_name(item.cmd)
    shown = name if name.startswith("0x") else f"{name} ({item.cmd:#x})"
    fds = ", ".join(str(fd) for fd in item.fds)
    fd_word = "fd" if len(item.fds) == 1 else "fds"
    if item.what == "host" and name.startswith(("TC", "TIOC")):
        todo = ("the sandbox does not change terminal settings; run it with its output "
                "redirected, or with the app's option for a non-interactive mode")
    elif name.startswith("SIOC"):
        todo = ("the sandbox shows the app no network interfaces; give it its addresses in "
                "its own configuration")
    else:
        todo = ("LiteBox does not serve this request on " + WHAT[item.what]
                + "; if the app stops because of it, look for an option that avoids it")
    return f"# ioctl {shown} on {fd_word} {fds} refused: the app got ENOTTY; {todo}."


def syscall_advice(number: int) -> str:
    """One comment line: which syscall is not implemented, what the app saw, what to do."""
    name = NAMES.get(number, f"syscall_{number}")
    todo = next((text for names, text in ENOSYS_ADVICE.items() if name in names), GENERIC_SYSCALL)
    return f"# syscall {name} ({number}) is not implemented by LiteBox: the app got ENOSYS; {todo}."


def group_ioctls(records: list[tuple[int, int, str]]) -> list[RefusedIoctl]:
    """(cmd, fd, what) records → one RefusedIoctl per (cmd, what), fds sorted, in request order."""
    fds: dict[tuple[int, str], set[int]] = {}
    for cmd, fd, what in records:
        fds.setdefault((cmd, what), set()).add(fd)
    return [RefusedIoctl(cmd, what, tuple(sorted(f))) for (cmd, what), f in sorted(fds.items())]
