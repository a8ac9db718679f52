"""The bundle an installed wheel carries instead of a checkout (packager/targets/bundle.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from packager.errors import PackError
from packager.targets.bundle import bundled_runtime, copy_plugins, is_source_tree


def _bundle(tmp_path: Path, data: bytes, recorded: bytes) -> Path:
    root = tmp_path / "b"
    (root / "runtimes").mkdir(parents=True)
    (root / "runtimes" / "t1").write_bytes(data)
    record = {"targets": {"t1": {"file": "runtimes/t1", "sha256": hashlib.sha256(recorded).hexdigest()}}}
    (root / "runtimes.json").write_text(json.dumps(record))
    return root


def test_bundled_runtime_found_by_recorded_digest(tmp_path: Path) -> None:
    root = _bundle(tmp_path, b"\x7fELF runtime", b"\x7fELF runtime")
    path, entry = bundled_runtime("t1", root) or (None, None)
    assert path == root / "runtimes" / "t1" and entry["file"] == "runtimes/t1"
    assert bundled_runtime("other", root) is None
    assert bundled_runtime("t1", tmp_path / "nothing") is None


def test_bundled_runtime_with_wrong_digest_is_one_error(tmp_path: Path) -> None:
    root = _bundle(tmp_path, b"\x7fELF changed", b"\x7fELF runtime")
    with pytest.raises(PackError, match=r"runtimes/t1: the runtime bundled for t1 does not match its recorded sha256"):
        bundled_runtime("t1", root)
    (root / "runtimes" / "t1").unlink()
    with pytest.raises(PackError, match="is missing"):
        bundled_runtime("t1", root)


def test_copy_plugins_takes_every_plugin_folder(tmp_path: Path) -> None:
    """Folders with a target.py are copied (their Python files only), whatever their names."""
    src = tmp_path / "src"
    for folder in ("alpha", "zeta_new"):
        (src / "platform_targets" / folder / "runtime" / "src").mkdir(parents=True)
        (src / "platform_targets" / folder / "target.py").write_text("# plugin\n")
        (src / "platform_targets" / folder / "helper.py").write_text("# helper\n")
        (src / "platform_targets" / folder / "runtime" / "src" / "main.rs").write_text("fn main() {}\n")
    (src / "platform_targets" / "not_a_plugin").mkdir()
    (src / "SConstruct").write_text("# graph\n")
    (src / "templates").mkdir()
    (src / "templates" / "litebox.toml").write_text("[app]\n")
    dest = tmp_path / "dest"
    assert copy_plugins(src, dest) == ["alpha", "zeta_new"]
    assert is_source_tree(dest)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "SConstruct", "platform_targets/alpha/helper.py", "platform_targets/alpha/target.py",
        "platform_targets/zeta_new/helper.py", "platform_targets/zeta_new/target.py", "templates/litebox.toml"]
