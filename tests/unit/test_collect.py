from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from packager.analysis.collect import collect
from packager.analysis.statcache import StatCache
from packager.config.config import load_project
from packager.errors import PackError


@pytest.fixture()
def project(tmp_path: Path, static_hello: Path) -> Path:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "hello").write_bytes(static_hello.read_bytes())
    (tmp_path / "bin" / "hello").chmod(0o775)
    (tmp_path / "data" / "sub").mkdir(parents=True)
    (tmp_path / "data" / "sub" / "x.txt").write_text("x")
    os.symlink("sub/x.txt", tmp_path / "data" / "link")
    return tmp_path


def write(project: Path, files: str) -> None:
    (project / "litebox.toml").write_text(f'[app]\nentry = "/app/hello"\n[files]\n{files}\n')


def test_project_tree(project: Path) -> None:
    write(project, '"/app/hello" = "bin/hello"\n"/data" = "data"')
    fs = collect(load_project(project)).rootfs
    entries = {e.path: e for e in fs.entries()}
    assert entries["/app/hello"].mode == 0o755 and entries["/app/hello"].reason.startswith("entry")
    assert entries["/data/link"].kind == "symlink" and entries["/data/link"].target == "sub/x.txt"
    assert entries["/data/sub/x.txt"].reason == '[files] "/data" = "data"'
    assert entries["/app"].reason == "parent of /app/hello"


def test_missing_host_path(project: Path) -> None:
    write(project, '"/app/hello" = "bin/hello"\n"/data" = "nodata"')
    with pytest.raises(PackError, match=r'litebox.toml: \[files\]."/data": host path .*nodata does not exist'):
        collect(load_project(project))


def test_conflicting_lines(project: Path) -> None:
    (project / "other.txt").write_text("other")
    write(project, '"/app/hello" = "bin/hello"\n"/data" = "data"\n"/data/link" = "other.txt"')
    with pytest.raises(PackError, match="image path /data/link is provided twice"):
        collect(load_project(project))


def test_entry_missing(project: Path) -> None:
    write(project, '"/app/hello" = "bin/nothere"')
    with pytest.raises(PackError, match=r'\[files\]."/app/hello": host path .*nothere does not exist'):
        collect(load_project(project))


def test_reserved_dir(project: Path) -> None:
    write(project, '"/app/hello" = "bin/hello"\n"/proc/x" = "data"')
    with pytest.raises(PackError, match="/proc is reserved for the runtime"):
        collect(load_project(project))


def test_stat_cache_notices_changes(tmp_path: Path, cc: Callable[..., Path]) -> None:
    f = tmp_path / "f"
    f.write_text("one")
    cache = StatCache(tmp_path / "cache.json")
    first = cache.sha256(f)
    cache.save()
    again = StatCache(tmp_path / "cache.json")
    assert again.sha256(f) == first and not again.dirty
    f.write_text("two")
    assert again.sha256(f) != first and again.dirty
    prog = cc(tmp_path / "p", "int main(void){return 0;}\n", "-static")
    from packager.analysis.elfinfo import read_elf

    assert again.elf(prog, read_elf).kind == "static"
    again.save()
    assert StatCache(tmp_path / "cache.json").elf(prog, read_elf) == read_elf(prog)
