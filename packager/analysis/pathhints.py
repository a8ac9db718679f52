"""Absolute paths a program's own bytes name: what it may open or run at run time that the
analysis did not pack, for quick mode's pack-time warning."""
from __future__ import annotations

import os
import re
from typing import Callable

# NUL-terminated strings that look like absolute paths under the usual system trees.
PATH_STRING = re.compile(rb"\x00(/(?:etc|usr|lib|lib64|bin|sbin|opt|var/lib)/[\x21-\x7e]{1,200})\x00")
IGNORED = ("/etc/ld.so.", "/usr/lib/locale/", "/etc/localtime", "/usr/share/zoneinfo", "/etc/nsswitch.conf",
           "/etc/passwd", "/etc/group", "/etc/hosts", "/etc/resolv.conf", "/etc/host.conf", "/etc/mtab",
           "/etc/fstab", "/usr/lib/debug", "/lib/x86_64-linux-gnu/", "/usr/lib/x86_64-linux-gnu/lib",
           "/etc/suid-debug", "/usr/lib/gconv", "/usr/lib/x86_64-linux-gnu/gconv",
           "/lib64/ld-linux",  # the interpreter, always packed
           "/usr/share/locale")  # translations: without them a program speaks English
# Directories every system has and the closure already searches: naming them says nothing.
TOP_DIRS = ("/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/opt", "/usr/lib", "/usr/lib64", "/usr/share",
            "/usr/bin", "/usr/sbin", "/usr/local", "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu")
SCAN_LIMIT = 256 << 20


def named_paths(program: str) -> list[str]:
    """The distinct absolute paths under /etc, /usr, /lib, /bin, /sbin, /opt and /var/lib that
    appear as NUL-terminated strings in the program file (format strings left out)."""
    try:
        with open(program, "rb") as f:
            data = b"\0" + f.read(SCAN_LIMIT)
    except OSError:
        return []
    found: list[str] = []
    for m in PATH_STRING.finditer(data):
        text = m.group(1).decode("ascii").rstrip("/")
        if "%" in text or "*" in text or "$" in text or text in found:
            continue
        found.append(text)
    return found


def missing_paths(program: str, packed: Callable[[str], bool]) -> list[str]:
    """The paths the program names that exist on this host but are not packed (``packed``
    says whether an image path is present, itself or under a packed directory), sorted."""
    out = []
    for path in named_paths(program):
        if path.startswith(IGNORED) or path in TOP_DIRS:
            continue
        if os.path.exists(path) and not packed(path):
            out.append(path)
    return sorted(out)
