from __future__ import annotations

from pathlib import Path

import pytest

from packager.errors import PackError
from packager.image.rootfs import DIR, FILE, SYMLINK, FsEntry, RootFS, normalize_mode, sort_key


def test_sort_key_groups_children() -> None:
    paths = ["/a/b", "/", "/b", "/a", "/a/b/c", "/a-b", "/a/a"]
    assert sorted(paths, key=sort_key) == ["/", "/a", "/a-b", "/b", "/a/a", "/a/b", "/a/b/c"]


def test_modes() -> None:
    assert normalize_mode(FILE, 0o100777, "/x") == 0o755
    assert normalize_mode(FILE, 0o104755, "/x") == 0o4755
    # umask 022 and 077 give the same image mode (the owner's bits decide).
    assert normalize_mode(FILE, 0o100755, "/x") == normalize_mode(FILE, 0o100700, "/x") == 0o755
    assert normalize_mode(FILE, 0o100644, "/x") == normalize_mode(FILE, 0o100600, "/x") == 0o644
    assert normalize_mode(FILE, 0o100400, "/x") == 0o444
    assert normalize_mode(DIR, 0o40700, "/x") == 0o755
    assert normalize_mode(DIR, 0o40700, "/tmp") == 0o1777
    assert normalize_mode(SYMLINK, 0o120777, "/x") == 0o777


def test_parents_and_runtime_dirs() -> None:
    fs = RootFS()
    fs.add(FsEntry("/usr/lib/x/libx.so", FILE, 0o644, "needed by /bin/y", host=Path("/etc/hostname")))
    paths = {e.path: e for e in fs.entries()}
    for p in ("/", "/usr", "/usr/lib", "/usr/lib/x", "/tmp", "/dev", "/proc"):
        assert paths[p].kind == DIR
    assert paths["/usr/lib"].reason == "parent of /usr/lib/x/libx.so"
    assert paths["/tmp"].mode == 0o1777


def test_conflict_names_both_sources(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("a")
    b.write_text("b")
    fs = RootFS()
    fs.add(FsEntry("/x", FILE, 0o644, '[files] "/x" = "a"', host=a))
    with pytest.raises(PackError, match=r'image path /x is provided twice: by \[files\] "/x" = "a" and by other'):
        fs.add(FsEntry("/x", FILE, 0o644, "other", host=b))
    fs.add(FsEntry("/x", FILE, 0o644, "again", host=a))  # same host file: merged
    assert fs.get("/x").reason == '[files] "/x" = "a"; again'


def test_file_where_directory_is_needed(tmp_path: Path) -> None:
    fs = RootFS()
    fs.add(FsEntry("/x", FILE, 0o644, "file", host=tmp_path))
    fs.add(FsEntry("/x/y", FILE, 0o644, "below", host=tmp_path))
    with pytest.raises(PackError, match="image path /x is a file"):
        fs.entries()


def test_reserved_paths() -> None:
    with pytest.raises(PackError, match="/proc is reserved for the runtime"):
        RootFS().add(FsEntry("/proc/cpuinfo", FILE, 0o644, "x", data=b""))
