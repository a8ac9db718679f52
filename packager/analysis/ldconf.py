"""Reading /etc/ld.so.conf (with its ``include`` globs) the way ldconfig does, without running it."""
from __future__ import annotations

import glob
import os
from pathlib import Path

DEFAULT_CONF = Path("/etc/ld.so.conf")
# glibc's trusted system directories on x86-64 (Debian's multiarch ones first), in search order.
DEFAULT_DIRS: tuple[str, ...] = (
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib",
    "/usr/lib",
    "/lib64",
    "/usr/lib64",
)


def read_ld_so_conf(path: Path = DEFAULT_CONF) -> tuple[str, ...]:
    """The library directories named by ``path`` and the files it includes, in the order
    ldconfig meets them, without duplicates. A missing file gives no directories; include
    cycles are ignored. Relative include globs are relative to the including file."""
    dirs: list[str] = []
    _read(path, dirs, set())
    seen: set[str] = set()
    unique = []
    for d in dirs:
        if d not in seen:
            seen.add(d)
            unique.append(d)
    return tuple(unique)


def _read(path: Path, dirs: list[str], visiting: set[str]) -> None:
    key = os.path.abspath(path)
    if key in visiting:
        return
    visiting.add(key)
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        if words[0] == "include" and len(words) > 1:
            for pattern in words[1:]:
                if not pattern.startswith("/"):
                    pattern = str(path.parent / pattern)
                for inc in sorted(glob.glob(pattern)):
                    _read(Path(inc), dirs, visiting)
        elif words[0] == "hwcap":
            continue
        else:
            d = line.split("=", 1)[0].strip().rstrip("/") or "/"
            if d.startswith("/"):
                dirs.append(os.path.normpath(d))
    visiting.discard(key)
