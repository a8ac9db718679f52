from __future__ import annotations

from pathlib import Path

import pytest

from packager.errors import PackError
from packager.targets import discover, get

PLUGIN = '''
TARGET = "{name}"
DESCRIPTION = "test target"
def check(): return [("thing", {ok}, "detail")]
def runtime_inputs(repo): return []
def build_runtime(ctx): return None
def assemble(ctx, runtime, image, manifest, out): return None
def run(artifact, args): return 0
'''


def test_discovery_scans_folders(tmp_path: Path) -> None:
    for folder, name, ok in (("b_target", "bee", True), ("a_target", "ay", False)):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "target.py").write_text(PLUGIN.format(name=name, ok=ok))
    (tmp_path / "not_a_target").mkdir()
    found = discover(tmp_path)
    assert list(found) == ["ay", "bee"]
    assert found["ay"].check() == [("thing", False, "detail")]
    assert get("bee", tmp_path).folder == tmp_path / "b_target"
    with pytest.raises(PackError, match=r"unknown target 'sea' \(known: ay, bee\)"):
        get("sea", tmp_path)


def test_incomplete_plugin_refused(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "target.py").write_text('TARGET = "x"\nDESCRIPTION = ""\ndef check(): return []\n')
    with pytest.raises(PackError, match="target plugin lacks runtime_inputs, build_runtime, assemble, run"):
        discover(tmp_path)


def test_real_targets_present() -> None:
    found = discover()
    assert "linux-userland" in found
    items = found["linux-userland"].check()
    assert any(item == "seccomp" for item, _, _ in items)
