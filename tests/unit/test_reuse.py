"""The image writer's reuse cache (packager/image/reuse.py): a rebuilt image takes unchanged
chunks and rewritten files from the previous build, with the same bytes as a build from
scratch; a damaged entry is redone, never used; entries a build did not use are removed."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from packager.image.image import ImageSettings, build_image
from packager.image.imageformat import TAG_ARG, TAG_ENTRY, encode_tlv
from packager.image.reuse import ReuseCache
from packager.image.rootfs import DIR, FILE, FsEntry, RootFS

LAUNCH = encode_tlv([(TAG_ENTRY, b"/bin/app"), (TAG_ARG, b"/bin/app")])
SETTINGS = ImageSettings(chunk_size=4096, compression_level=3, mtime=0)
ENTRY = 0x7E00_0000_1000
TRUE = Path("/bin/true")


def _entries(root: Path, extra: bytes = b"") -> list[FsEntry]:
    fs = RootFS()
    fs.add(FsEntry("/", DIR, 0o755, "root"))
    fs.add(FsEntry("/data/a", FILE, 0o644, "a", host=root / "a"))
    fs.add(FsEntry("/data/b", FILE, 0o644, "b", data=b"b" * 9000 + extra))
    return fs.entries()


def _tree(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "a").write_bytes(os.urandom(3000) + b"x" * 20000)
    return root


def test_second_build_reuses_chunks_with_the_same_bytes(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    scratch = build_image(_entries(root, b"changed"), LAUNCH, SETTINGS).blob
    first = ReuseCache(tmp_path / "reuse")
    build_image(_entries(root), LAUNCH, SETTINGS, reuse=first)
    first.prune()
    assert first.hits == 0 and first.misses > 0
    again = ReuseCache(tmp_path / "reuse")
    blob = build_image(_entries(root, b"changed"), LAUNCH, SETTINGS, reuse=again).blob
    assert blob == scratch
    assert again.hits > 0 and again.misses > 0  # the changed tail is compressed anew


def test_damaged_entry_is_redone_and_unused_ones_pruned(tmp_path: Path) -> None:
    root = _tree(tmp_path / "t")
    scratch = build_image(_entries(root), LAUNCH, SETTINGS).blob
    cache = ReuseCache(tmp_path / "reuse")
    build_image(_entries(root), LAUNCH, SETTINGS, reuse=cache)
    for p in (tmp_path / "reuse").iterdir():
        p.write_bytes(b"\x28\xb5\x2f\xfd garbage")  # a zstd magic, then nonsense
    (tmp_path / "reuse" / "stray").write_bytes(b"left over")
    again = ReuseCache(tmp_path / "reuse")
    assert build_image(_entries(root), LAUNCH, SETTINGS, reuse=again).blob == scratch
    assert again.hits == 0
    again.prune()
    assert not (tmp_path / "reuse" / "stray").exists()
    assert 0 < len(list((tmp_path / "reuse").iterdir())) <= again.misses  # equal chunks share an entry


@pytest.mark.skipif(not TRUE.is_file(), reason="no /bin/true")
def test_rewritten_file_is_reused_and_checked(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    shutil.copyfile(TRUE, root / "app")
    fs = RootFS()
    fs.add(FsEntry("/", DIR, 0o755, "root"))
    fs.add(FsEntry("/bin/app", FILE, 0o755, "entry", host=root / "app"))
    # A data file too: ELF files are stored raw (mappable), so their chunks are never
    # compressed and never come from the reuse cache; this one's are.
    (root / "data").write_bytes(b"compressible data\n" * 1000)
    fs.add(FsEntry("/etc/data", FILE, 0o644, "data", host=root / "data"))
    settings = ImageSettings(chunk_size=4096, compression_level=3, mtime=0, rewrite_entry=ENTRY)
    scratch = build_image(fs.entries(), LAUNCH, settings)
    cache = ReuseCache(tmp_path / "reuse")
    build_image(fs.entries(), LAUNCH, settings, reuse=cache)
    stored = [p for p in (tmp_path / "reuse").iterdir() if p.name.startswith("r-") and p.suffix != ".json"]
    assert len(stored) == 1
    again = ReuseCache(tmp_path / "reuse")
    second = build_image(fs.entries(), LAUNCH, settings, reuse=again)
    assert second.blob == scratch.blob and second.rewrite == scratch.rewrite
    assert again.misses == 0
    stored[0].write_bytes(b"not the rewritten file")  # caught by the recorded sha256
    third = ReuseCache(tmp_path / "reuse")
    assert build_image(fs.entries(), LAUNCH, settings, reuse=third).blob == scratch.blob
    assert third.hits > 0 and third.misses >= 1
