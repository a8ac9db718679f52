"""Work the image writer can take from its previous run: compressed chunks and rewritten ELF
files, content-addressed, in a directory of the build state beside the image.

When an image is built again because something changed (a file added, an option, the
packager's code), most chunks and most ELF files are the same as last time: a chunk is looked
up by the sha256 of its uncompressed bytes, the zstd level and the zstd library's version; a
rewritten file by the sha256 of the original, the fast-path entry address and the digest of the
rewriter's own code (and capstone's version). Every hit is checked before use (a chunk's frame
must decompress to exactly the chunk, a rewritten file must match the sha256 recorded with it),
so a damaged cache costs time, never a wrong image. After each build the entries it did not use
are removed, so the directory stays about the size of one image plus its rewritten ELF
files (49 MB for python3 with its standard library).
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import zstandard

REWRITER_FILES = ("rewrite.py", "sitesweep.py")


def rewriter_digest() -> str:
    """The digest of the rewriter's code (its modules here and capstone's version)."""
    import capstone

    h = hashlib.sha256(capstone.__version__.encode())
    here = Path(__file__).resolve().parent
    for name in REWRITER_FILES:
        h.update(b"\0" + (here / name).read_bytes())
    return h.hexdigest()


class ReuseCache:
    """The content-addressed store of one image's chunks and rewritten files (thread-safe)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._used: set[str] = set()
        self._lock = threading.Lock()
        self._zstd = zstandard.ZSTD_VERSION
        self._rewriter = rewriter_digest()
        self.hits = self.misses = 0

    def _name(self, *parts: object) -> str:
        return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()

    def _read(self, name: str) -> bytes | None:
        try:
            data = (self.root / name).read_bytes()
        except OSError:
            return None
        with self._lock:
            self._used.add(name)
        return data

    def _write(self, name: str, data: bytes) -> None:
        with self._lock:
            self._used.add(name)
        tmp = self.root / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_bytes(data)
        tmp.replace(self.root / name)

    def _count(self, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    def chunk(self, piece: bytes, level: int) -> tuple[str, bytes | None]:
        """(key, the stored frame of ``piece`` at ``level``, or None)."""
        name = "c-" + self._name(hashlib.sha256(piece).hexdigest(), level, self._zstd)
        frame = self._read(name)
        if frame is not None and frame != piece:
            try:
                if zstandard.ZstdDecompressor().decompress(frame) != piece:
                    frame = None
            except zstandard.ZstdError:
                frame = None
        self._count(frame is not None)
        return name, frame

    def put_chunk(self, name: str, frame: bytes) -> None:
        """Stores a frame under the key ``chunk`` returned."""
        self._write(name, frame)

    def rewritten(self, digest: str, entry: int) -> tuple[str, tuple[bytes, dict[str, Any]] | None]:
        """(key, (rewritten bytes, summary) of the file whose sha256 is ``digest``, or None)."""
        name = "r-" + self._name(digest, entry, self._rewriter)
        data, meta = self._read(name), self._read(name + ".json")
        found = None
        if data is not None and meta is not None:
            try:
                record = json.loads(meta)
                if hashlib.sha256(data).hexdigest() == record["sha256"]:
                    found = (data, record["summary"])
            except (ValueError, KeyError, TypeError):
                found = None
        self._count(found is not None)
        return name, found

    def put_rewritten(self, name: str, data: bytes, summary: dict[str, Any]) -> None:
        """Stores a rewritten file under the key ``rewritten`` returned."""
        self._write(name, data)
        self._write(name + ".json", json.dumps({"sha256": hashlib.sha256(data).hexdigest(),
                                                "summary": summary}).encode())

    def prune(self) -> None:
        """Removes every entry this build did not use (and stray temporary files)."""
        with self._lock:
            used = set(self._used)
        for path in self.root.iterdir():
            if path.name not in used:
                try:
                    path.unlink()
                except OSError:
                    pass
