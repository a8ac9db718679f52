"""The image's root file system as a sorted list of normalized entries, each with its reason."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from packager.errors import PackError
from packager.paths import image_path_problem, parent_of

DIR, FILE, SYMLINK = "dir", "file", "symlink"
RUNTIME_DIRS = {"/tmp": 0o1777, "/dev": 0o755, "/proc": 0o755}
RESERVED = ("/dev", "/proc")


@dataclass(frozen=True)
class FsEntry:
    """One image entry. A file's bytes come from ``host`` (symlinks followed) or ``data``
    (generated); a symlink's target is ``target``. ``mode`` is already normalized."""

    path: str
    kind: str
    mode: int
    reason: str
    host: Path | None = None
    data: bytes | None = None
    target: str | None = None


def normalize_mode(kind: str, st_mode: int, path: str) -> int:
    """Image modes, by a rule no umask or checkout owner can change: directories 0755 (/tmp
    1777), symlinks 0777; a file's owner bits decide: owner-readable → readable by all,
    owner-executable → executable by all, owner-writable → writable by the owner only; the
    setuid, setgid and sticky bits are kept. So 0600 → 0644, 0700 and 0775 → 0755, 0400 → 0444."""
    if kind == DIR:
        return 0o1777 if path == "/tmp" else 0o755
    if kind == SYMLINK:
        return 0o777
    special = st_mode & 0o7000
    read = 0o444 if st_mode & 0o400 else 0
    execute = 0o111 if st_mode & 0o100 else 0
    return special | read | execute | (st_mode & 0o200)


def sort_key(path: str) -> tuple[bytes, bytes]:
    """The image's entry order: (parent, name) as byte strings; the root sorts first."""
    if path == "/":
        return (b"", b"")
    parent, _, name = path.rpartition("/")
    return ((parent or "/").encode("utf-8", "surrogateescape"), name.encode("utf-8", "surrogateescape"))


class RootFS:
    """A set of image entries under construction. ``add`` enforces the conflict rules;
    ``entries`` gives the final sorted list with implicit parents and runtime dirs."""

    def __init__(self) -> None:
        self._entries: dict[str, FsEntry] = {}

    def __contains__(self, path: str) -> bool:
        return path in self._entries

    def get(self, path: str) -> FsEntry | None:
        """The entry at ``path``, if any."""
        return self._entries.get(path)

    def add(self, entry: FsEntry) -> None:
        """Adds ``entry``. Two directories merge; the same host file twice merges (reasons
        joined); anything else at an occupied path is a PackError naming both sources."""
        problem = image_path_problem(entry.path)
        if problem:
            raise PackError(f"image path {entry.path!r} {problem} ({entry.reason})")
        for top in RESERVED:
            if entry.path == top or entry.path.startswith(top + "/"):
                raise PackError(f"image path {entry.path}: {top} is reserved for the runtime "
                                f"({entry.reason})")
        old = self._entries.get(entry.path)
        if old is None:
            self._entries[entry.path] = entry
            return
        if old.kind == DIR and entry.kind == DIR:
            return
        if old.kind == entry.kind == FILE and old.host is not None and entry.host is not None \
                and os.path.realpath(old.host) == os.path.realpath(entry.host):
            self._entries[entry.path] = replace(old, reason=_join(old.reason, entry.reason))
            return
        raise PackError(f"image path {entry.path} is provided twice: by {old.reason} and by {entry.reason}")

    def note(self, path: str, reason: str) -> None:
        """Adds ``reason`` to the entry already at ``path``."""
        old = self._entries[path]
        self._entries[path] = replace(old, reason=_join(old.reason, reason))

    def force_file(self, entry: FsEntry) -> None:
        """Puts a regular file at ``entry.path`` even if [files] put a symlink there (the
        entry program is always stored as a regular file)."""
        old = self._entries.get(entry.path)
        if old is not None and old.kind == DIR:
            raise PackError(f"image path {entry.path} is a directory ({old.reason}), "
                            f"but {entry.reason} needs a file there")
        if old is not None and old.kind == FILE:
            self.add(entry)  # same host file merges; a different one is a conflict
            self._entries[entry.path] = replace(self._entries[entry.path], reason=_join(entry.reason, old.reason))
            return
        reason = entry.reason if old is None else _join(entry.reason, old.reason)
        self._entries[entry.path] = replace(entry, reason=reason)

    def entries(self) -> list[FsEntry]:
        """All entries sorted in image order, with the root, every missing parent directory
        and /tmp, /dev, /proc added. A non-directory parent is a PackError."""
        result = dict(self._entries)
        for path, mode in RUNTIME_DIRS.items():
            old = result.get(path)
            if old is None or old.kind == DIR:
                result[path] = FsEntry(path, DIR, mode, old.reason if old else "runtime directory")
        result.setdefault("/", FsEntry("/", DIR, 0o755, "root directory"))
        for path in list(result):
            child = path
            while child != "/":
                parent = parent_of(child)
                existing = result.get(parent)
                if existing is None:
                    result[parent] = FsEntry(parent, DIR, 0o755, f"parent of {path}")
                elif existing.kind != DIR:
                    raise PackError(f"image path {parent} is a {existing.kind} ({existing.reason}) "
                                    f"but {path} ({result[path].reason}) needs it to be a directory")
                else:
                    break  # a directory already there: its own parents are checked as its path's
                child = parent
        return [result[p] for p in sorted(result, key=sort_key)]


def _join(a: str, b: str) -> str:
    return a if b in a.split("; ") else f"{a}; {b}"
