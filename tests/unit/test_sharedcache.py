"""The shared build cache's store: entries published whole, checked on the way out."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from packager.build.sharedcache import SharedCache, key_of

KEY = key_of("runtime", "inputs")


def _files(tmp: Path, text: str) -> dict[str, Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "a").write_text(text)
    (tmp / "b").write_bytes(text.encode() * 3)
    return {"a": tmp / "a", "b": tmp / "b"}


def test_key_parts_are_separated() -> None:
    """Parts are length-prefixed: ("ab", "c") and ("a", "bc") differ."""
    assert key_of("ab", "c") != key_of("a", "bc")
    assert key_of("x") == key_of(b"x")


def test_store_then_fetch_copies_the_files(tmp_path: Path) -> None:
    cache = SharedCache(tmp_path / "c")
    cache.store("runtime", KEY, _files(tmp_path / "src", "one"))
    out = {"a": tmp_path / "out" / "a", "b": tmp_path / "out" / "b"}
    assert cache.fetch("runtime", KEY, out)
    assert out["a"].read_text() == "one" and out["b"].read_text() == "oneoneone"
    assert not cache.fetch("runtime", key_of("other"), {"a": tmp_path / "x"})
    assert not (tmp_path / "x").exists()


def test_damaged_entry_is_a_miss_and_is_replaced(tmp_path: Path) -> None:
    """A file changed in the cache is never handed out; the next store replaces the entry."""
    cache = SharedCache(tmp_path / "c")
    cache.store("image", KEY, _files(tmp_path / "src", "good"))
    (cache.entry_dir("image", KEY) / "a").write_text("evil")
    dest = tmp_path / "out" / "a"
    assert not cache.fetch("image", KEY, {"a": dest})
    assert not dest.exists()
    (cache.entry_dir("image", KEY) / "entry.json").unlink()  # half an entry, as a crash might leave
    cache.store("image", KEY, _files(tmp_path / "src2", "good"))
    assert cache.fetch("image", KEY, {"a": dest}) and dest.read_text() == "good"


def _store(root: str, src: str, n: int) -> None:
    SharedCache(Path(root)).store("runtime", KEY, _files(Path(src) / str(n), "same"))


def test_concurrent_stores_leave_one_intact_entry(tmp_path: Path) -> None:
    """Six processes publishing the same key at once: one intact entry, no staging left over."""
    procs = [multiprocessing.get_context("fork").Process(target=_store, args=(str(tmp_path / "c"), str(tmp_path), n))
             for n in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    cache = SharedCache(tmp_path / "c")
    assert cache.fetch("runtime", KEY, {"b": tmp_path / "b-out"})
    assert (tmp_path / "b-out").read_text() == "samesamesame"
    assert list((tmp_path / "c" / "tmp").iterdir()) == []
