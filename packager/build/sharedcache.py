"""A build cache several packs (and CI runners) may share: ``--cache-dir DIR`` or
``LITEBOX_CACHE_DIR``.

Entries are content-addressed and immutable: ``DIR/<kind>/<key>/`` holds the files of one
step's output (a runtime, an image and its facts) and ``entry.json`` naming each file's
sha256. An entry is written in a private temporary directory under ``DIR/tmp/`` and published
with one ``rename``; a runner that loses the race to publish the same key drops its copy. A
reader checks every file's sha256 before taking it, so a damaged or half-copied entry is a
miss (and is replaced), never a wrong build. No lock is needed: nothing in an entry changes
after it is published.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from packager.errors import PackError

CACHE_ENV = "LITEBOX_CACHE_DIR"
ENTRY_FILE = "entry.json"


def cache_dir_from(option: Path | None) -> Path | None:
    """The shared cache directory: ``option`` (--cache-dir), else ``$LITEBOX_CACHE_DIR``, else
    None (no shared cache). A path that exists and is not a directory is a PackError."""
    value = option if option is not None else (Path(os.environ[CACHE_ENV]) if os.environ.get(CACHE_ENV) else None)
    if value is None:
        return None
    where = "--cache-dir" if option is not None else CACHE_ENV
    if value.exists() and not value.is_dir():
        raise PackError(f"{where} {value}: not a directory")
    return value.resolve()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def key_of(*parts: bytes | str) -> str:
    """A cache key: the sha256 of ``parts``, each length-prefixed (so no two lists collide)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


class SharedCache:
    """The cache at ``root``: ``fetch`` copies a verified entry's files out, ``store`` publishes
    new ones atomically. Failing to write the cache never fails a build."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def entry_dir(self, kind: str, key: str) -> Path:
        """Where entry ``key`` of ``kind`` ("runtime", "image") lives."""
        return self.root / kind / key[:2] / key

    def fetch(self, kind: str, key: str, outputs: dict[str, Path]) -> bool:
        """Copies the entry's files named by ``outputs`` (name → destination, each written
        atomically) and returns True; False (nothing written) when there is no complete,
        intact entry."""
        entry = self.entry_dir(kind, key)
        try:
            recorded = json.loads((entry / ENTRY_FILE).read_bytes())["files"]
            if not set(outputs) <= set(recorded):
                return False
            for name in outputs:
                if _sha256(entry / name) != recorded[name]:
                    return False
        except (OSError, ValueError, KeyError, TypeError):
            return False
        for name, dest in outputs.items():
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            os.close(fd)
            try:
                shutil.copyfile(entry / name, tmp)
                if _sha256(Path(tmp)) != recorded[name]:  # replaced under us: treat as a miss
                    os.unlink(tmp)
                    return False
                os.chmod(tmp, 0o755 if os.access(entry / name, os.X_OK) else 0o644)
                os.replace(tmp, dest)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        return True

    def store(self, kind: str, key: str, files: dict[str, Path]) -> None:
        """Publishes ``files`` (name → source) as entry ``key``, unless an intact one exists."""
        entry = self.entry_dir(kind, key)
        if (entry / ENTRY_FILE).is_file():
            return
        tmp_root = self.root / "tmp"
        try:
            tmp_root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f"{kind}-{key[:12]}.", dir=tmp_root))
        except OSError:
            return
        try:
            digests = {}
            for name, src in files.items():
                shutil.copyfile(src, staging / name)
                os.chmod(staging / name, 0o755 if os.access(src, os.X_OK) else 0o644)
                digests[name] = _sha256(staging / name)
            (staging / ENTRY_FILE).write_text(json.dumps({"kind": kind, "key": key, "files": digests},
                                                         sort_keys=True), encoding="utf-8")
            entry.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(staging, entry)  # atomic; fails if another runner published first
            except OSError:
                if not (entry / ENTRY_FILE).is_file():  # a damaged entry: replace it
                    broken = Path(tempfile.mkdtemp(prefix="broken.", dir=tmp_root))
                    try:
                        os.rename(entry, broken / "entry")
                        os.rename(staging, entry)
                    except OSError:
                        pass
                    shutil.rmtree(broken, ignore_errors=True)
        except OSError:
            pass  # a cache: failing to fill it only costs the next runner a build
        finally:
            shutil.rmtree(staging, ignore_errors=True)
