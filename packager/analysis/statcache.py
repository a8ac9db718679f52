"""A persistent cache of per-file facts (sha256, ELF analysis) keyed by the file's stat
(device, inode, size, mtime_ns, ctime_ns): a file whose stat is unchanged is not read again.
This is what makes an up-to-date `litebox pack` fast on projects with thousands of files."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

from packager.analysis.elfinfo import ElfInfo, is_elf_file

CACHE_VERSION = 1


def _stamp(path: Path) -> list[int]:
    return stamp_of(os.stat(path))


def stamp_of(st: os.stat_result) -> list[int]:
    """A file's identity for "has it changed": (device, inode, size, mtime ns, ctime ns).
    Content written in place changes the ctime even when size and mtime are put back; a file
    renamed over it has another inode."""
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def stamp_or_none(path: str | Path) -> list[int] | None:
    """``stamp_of`` the file at ``path`` (symlinks followed), or None when it cannot be stat'ed."""
    try:
        return stamp_of(os.stat(path))
    except OSError:
        return None


def sha256_file(path: Path) -> str:
    """The sha256 hex digest of the file at ``path`` (symlinks followed)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class StatCache:
    """File facts remembered across runs in one JSON file. ``save`` writes it back if
    anything was added; a damaged or foreign cache file is ignored (and replaced)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.dirty = False
        self.data: dict[str, dict[str, Any]] = {"sha256": {}, "elf": {}, "magic": {}, "answers": {}}
        if path is not None:
            try:
                loaded = json.loads(path.read_bytes())
                if loaded.get("version") == CACHE_VERSION:
                    # "magic" and "answers" came later: a cache written without them is still good
                    # for the rest.
                    self.data = {"sha256": loaded["sha256"], "elf": loaded["elf"], "magic": loaded.get("magic", {}),
                                 "answers": loaded.get("answers", {})}
            except (OSError, ValueError, KeyError, AttributeError):
                pass

    def _lookup(self, kind: str, path: Path, compute: Callable[[], Any],
                st: os.stat_result | None = None) -> tuple[Any, bool]:
        key = os.fspath(path)
        if not key.startswith("/") or "/." in key or "//" in key:
            key = os.path.abspath(key)  # a normalized absolute path is its own key
        stamp = _stamp(path) if st is None else stamp_of(st)
        hit = self.data[kind].get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1], True
        value = compute()
        self.data[kind][key] = [stamp, value]
        self.dirty = True
        return value, False

    def sha256(self, path: Path, st: os.stat_result | None = None) -> str:
        """The file's sha256, read from disk only if its stat changed since last time. ``st``,
        when given, is a stat the caller just took of that file (symlinks followed)."""
        value, _ = self._lookup("sha256", path, lambda: sha256_file(path), st)
        return str(value)

    def elf(self, path: Path, reader: Callable[[Path], ElfInfo]) -> ElfInfo:
        """``reader(path)``, remembered while the file's stat is unchanged. Errors are not cached."""
        value, _ = self._lookup("elf", path, lambda: _to_json(reader(path)))
        return _from_json(value, path)

    def is_elf(self, path: Path, st: os.stat_result) -> bool:
        """``is_elf_file(path)``, remembered while the file's stat is unchanged. ``st`` is the
        stat the caller just took of that same file (followed through symlinks as ``path``
        is opened): a file replaced or written since has another inode, size, mtime or ctime
        and is opened again."""
        value, _ = self._lookup("magic", path, lambda: is_elf_file(path), st)
        return bool(value)

    def remembered(self, key: str, stamp: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, remembered under ``key`` while ``stamp`` (a JSON value describing
        everything the answer depends on, taken before computing) is unchanged: for answers of
        other programs, such as which Debian package owns a file."""
        hit = self.data["answers"].get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        value = compute()
        self.data["answers"][key] = [stamp, value]
        self.dirty = True
        return value

    def save(self) -> None:
        """Writes the cache back (atomically) if anything changed."""
        if self.path is None or not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"version": CACHE_VERSION, **self.data}), encoding="utf-8")
        tmp.replace(self.path)
        self.dirty = False


def _to_json(info: ElfInfo) -> dict[str, Any]:
    d = dataclasses.asdict(info)
    d.pop("path")
    return d


def _from_json(d: dict[str, Any], path: Path) -> ElfInfo:
    return ElfInfo(path=path, elfclass=d["elfclass"], machine=d["machine"], e_type=d["e_type"], kind=d["kind"],
                   interpreter=d["interpreter"], needed=tuple(d["needed"]), soname=d["soname"],
                   runpath=tuple(d["runpath"]), rpath=tuple(d["rpath"]), flags_1=d["flags_1"], entry=d["entry"])
