from __future__ import annotations

import json
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


def _same_size_and_mtime(path: Path, data: bytes, replace: bool) -> None:
    """Gives ``path`` the bytes ``data`` (its length) with the old mtime back: in place (same
    inode, a new ctime) or as a new file renamed over it (a new inode)."""
    old = path.stat()
    assert len(data) == old.st_size
    if replace:
        new = path.with_name(path.name + ".new")
        new.write_bytes(data)
        os.chmod(new, old.st_mode & 0o7777)
        os.utime(new, ns=(old.st_atime_ns, old.st_mtime_ns))
        os.replace(new, path)
        assert path.stat().st_ino != old.st_ino
    else:
        path.write_bytes(data)
        os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
        assert path.stat().st_ino == old.st_ino
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (old.st_size, old.st_mtime_ns)


@pytest.mark.parametrize("replace", [False, True], ids=["written-in-place", "renamed-over"])
def test_elf_magic_is_cached_by_stat_and_a_changed_file_is_opened_again(
        project: Path, tmp_path: Path, cc: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
        replace: bool) -> None:
    """The walk remembers which files are ELF in the stat cache; an unchanged file is not opened
    again, and one given other bytes of the same size and mtime (in place: a new ctime;
    renamed over: a new inode) is, so a file that became a dynamic ELF brings its libraries in
    and one that stopped being one no longer does."""
    from packager.analysis import statcache

    dyn = cc(tmp_path / "dyn", "int main(void){return 0;}\n").read_bytes()
    data = project / "data" / "sub" / "blob"
    data.write_bytes(b"\0" * len(dyn))
    write(project, '"/app/hello" = "bin/hello"\n"/data" = "data"')
    cache_file = tmp_path / "cache.json"

    def libraries(cache: StatCache) -> set[str]:
        fs = collect(load_project(project), cache=cache).rootfs
        cache.save()
        return {e.path for e in fs.entries() if ".so" in e.path}

    opened: list[Path] = []
    real = statcache.is_elf_file
    monkeypatch.setattr(statcache, "is_elf_file", lambda p: opened.append(Path(p)) or real(p))
    assert libraries(StatCache(cache_file)) == set()  # the static entry needs none, the blob is data
    assert data in opened
    opened.clear()
    again = StatCache(cache_file)
    assert libraries(again) == set() and opened == [] and not again.dirty  # nothing opened

    _same_size_and_mtime(data, dyn, replace)
    became_elf = libraries(StatCache(cache_file))
    assert opened == [data]
    assert any("libc.so" in p for p in became_elf), became_elf
    assert became_elf == {e.path for e in collect(load_project(project)).rootfs.entries() if ".so" in e.path}

    opened.clear()
    _same_size_and_mtime(data, b"\0" * len(dyn), replace)
    assert libraries(StatCache(cache_file)) == set() and opened == [data]


def test_stat_cache_without_the_magic_table_still_loads(tmp_path: Path) -> None:
    """A cache written before the ELF-magic table existed keeps its digests."""
    f = tmp_path / "f"
    f.write_text("one")
    cache = StatCache(tmp_path / "cache.json")
    digest = cache.sha256(f)
    cache.save()
    doc = json.loads((tmp_path / "cache.json").read_text())
    del doc["magic"]
    (tmp_path / "cache.json").write_text(json.dumps(doc))
    old = StatCache(tmp_path / "cache.json")
    assert old.sha256(f) == digest and not old.dirty
    assert old.is_elf(f, os.stat(f)) is False and old.dirty
