"""packager/image/pycache.py: which Python sources keep the mtime their .pyc records."""

from __future__ import annotations

import os
import py_compile
from pathlib import Path

from packager.image.pycache import source_mtimes
from packager.image.rootfs import FILE, FsEntry


def _entries(root: Path) -> list[FsEntry]:
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out.append(FsEntry("/lib/" + p.relative_to(root).as_posix(), FILE, 0o644, "test", host=p))
    return out


def _module(root: Path, name: str, mtime: int, mode: py_compile.PycInvalidationMode) -> Path:
    src = root / f"{name}.py"
    src.write_text(f"X = {name!r}\n")
    os.utime(src, (mtime, mtime))
    py_compile.compile(str(src), cfile=str(root / "__pycache__" / f"{name}.cpython-311.pyc"),
                       invalidation_mode=mode, doraise=True)
    return src


def test_a_valid_timestamp_pyc_gives_its_source_the_recorded_mtime(tmp_path: Path) -> None:
    _module(tmp_path, "fresh", 1_600_000_000, py_compile.PycInvalidationMode.TIMESTAMP)
    assert source_mtimes(_entries(tmp_path)) == {"/lib/fresh.py": 1_600_000_000}


def test_a_stale_or_hash_based_pyc_leaves_the_source_alone(tmp_path: Path) -> None:
    stale = _module(tmp_path, "stale", 1_600_000_000, py_compile.PycInvalidationMode.TIMESTAMP)
    os.utime(stale, (1_700_000_000, 1_700_000_000))  # edited after compiling: stale on the host too
    _module(tmp_path, "hashed", 1_600_000_000, py_compile.PycInvalidationMode.CHECKED_HASH)
    assert source_mtimes(_entries(tmp_path)) == {}


def test_a_pyc_without_its_source_or_outside_pycache_is_ignored(tmp_path: Path) -> None:
    _module(tmp_path, "gone", 1_600_000_000, py_compile.PycInvalidationMode.TIMESTAMP)
    (tmp_path / "gone.py").unlink()
    entries = _entries(tmp_path)
    entries.append(FsEntry("/lib/other.pyc", FILE, 0o644, "test", data=b"\0" * 16))
    assert source_mtimes(entries) == {}
