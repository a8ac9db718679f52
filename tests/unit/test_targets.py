from __future__ import annotations

import os
from pathlib import Path

import pytest

from packager.errors import PackError
from packager.targets.targets import discover, get

PLUGIN = '''
from packager.targets.targetapi import Capabilities, Check, TargetPlugin
class Plugin(TargetPlugin):
    name = "{name}"
    description = "test target"
    capabilities = Capabilities(artifact_kind="test")
    def checks(self): return [Check("thing", {ok}, "detail")]
    def runtime_inputs(self, repo, options): return []
    def build_runtime(self, ctx): return None
    def assemble(self, ctx, runtime, image, manifest, out): return None
    def run(self, artifact, args, env=None, wait=False): return 0
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
    (tmp_path / "x" / "target.py").write_text(
        "from packager.targets.targetapi import TargetPlugin\n"
        "class Plugin(TargetPlugin):\n    name = 'x'\n    def checks(self): return []\n")
    with pytest.raises(PackError, match=r"x/target.py: target plugin lacks assemble, build_runtime, run, "
                                        r"runtime_inputs$"):
        discover(tmp_path)


def test_real_targets_present() -> None:
    found = discover()
    assert "linux-userland" in found
    items = found["linux-userland"].check()
    assert any(item == "seccomp" for item, _, _ in items)


def test_optional_items_do_not_block_ready(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "target.py").write_text(PLUGIN.replace(
        'def checks(self): return [Check("thing", {ok}, "detail")]',
        'def checks(self): return [Check("thing", True, "d"), Check("layer", False, "absent", False)]'
    ).format(name="t"))
    t = discover(tmp_path)["t"]
    assert t.checklist() == [{"item": "thing", "ok": True, "detail": "d", "required": True},
                             {"item": "layer", "ok": False, "detail": "absent", "required": False}]
    assert t.check() == [("thing", True, "d"), ("layer", False, "absent")]


def test_linux_userland_lists_enforcement_layers() -> None:
    items = {c["item"]: c for c in discover()["linux-userland"].checklist()}
    assert items["seccomp"]["required"] is True
    assert items["Landlock"]["required"] is False
    userns = [c for name, c in items.items() if name.startswith("user namespaces (")]
    assert len(userns) == 1 and userns[0]["required"] is False
    assert items["network namespace"]["required"] is False
    for c in (items["Landlock"], userns[0], items["network namespace"]):
        assert ("when present" in c["detail"]) if c["ok"] else ("does without" in c["detail"])


def test_userns_probe_leaves_this_process_alone() -> None:
    from packager.targets.hostprobe import landlock_abi, netns_errno, userns_errno

    before = {n: os.readlink(f"/proc/self/ns/{n}") for n in ("user", "mnt", "net")}
    for probe in (userns_errno, netns_errno):
        err = probe()
        assert isinstance(err, int) and 0 <= err <= 255
    assert {n: os.readlink(f"/proc/self/ns/{n}") for n in ("user", "mnt", "net")} == before
    abi, errno_ = landlock_abi()
    assert (abi > 0 and errno_ == 0) or (abi == 0 and errno_ > 0)


def test_lazy_targets_load_only_the_plugin_asked_for(tmp_path: Path) -> None:
    """A pack loads the plugins it names, each from the folder named after it (dashes as
    underscores); anything else (listing, a name no folder has) discovers them all."""
    import sys

    from packager.targets.targets import LazyTargets

    for folder, name in (("one_t", "one-t"), ("two_t", "two-t"), ("odd", "elsewhere")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "target.py").write_text(PLUGIN.format(name=name, ok=True)
                                                     + f"\nLOADED = {folder!r}\n")
    for folder in ("one_t", "two_t", "odd"):
        sys.modules.pop(f"litebox_target_{folder}", None)
    lazy = LazyTargets(tmp_path)
    assert "one-t" in lazy and lazy["one-t"].folder == tmp_path / "one_t"
    assert "litebox_target_one_t" in sys.modules
    assert "litebox_target_two_t" not in sys.modules and "litebox_target_odd" not in sys.modules
    assert "elsewhere" in lazy  # no folder by that name: every plugin is discovered
    assert sorted(lazy) == ["elsewhere", "one-t", "two-t"] and len(lazy) == 3
    assert "nothing" not in lazy
    with pytest.raises(KeyError):
        lazy["nothing"]
