"""The toolchain probes: absent only when the tool is not installed; failing or hanging is an error."""
from __future__ import annotations

from pathlib import Path

import pytest

from packager.build import toolchain
from packager.errors import PackError


def _fake_tool(bin_dir: Path, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / "rustc"
    tool.write_text("#!/bin/sh\n" + body + "\n")
    tool.chmod(0o755)


def test_missing_tool_is_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert toolchain._command_version(["rustc", "-V"]) == "absent"


def test_working_tool_gives_its_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tool(tmp_path / "bin", 'echo "rustc 9.9.9 (fake)"')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert toolchain._command_version(["rustc", "-V"]) == "rustc 9.9.9 (fake)"


def test_failing_tool_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tool(tmp_path / "bin", 'echo "error: no default toolchain" >&2; exit 1')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(PackError, match=r"`rustc -V` failed \(exit 1\): error: no default toolchain"):
        toolchain._command_version(["rustc", "-V"])


def test_hanging_tool_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tool(tmp_path / "bin", "exec sleep 120")
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + ":/usr/bin:/bin")
    monkeypatch.setattr(toolchain, "PROBE_TIMEOUT", 1)
    with pytest.raises(PackError, match="did not answer within 1 s"):
        toolchain._command_version(["rustc", "-V"])


@pytest.mark.parametrize("name", ["SCons", "scons", "lief", "zstandard", "capstone", "pyelftools", "pytest",
                                  "litebox-pack", "litebox_pack", "not-installed-at-all"])
def test_package_versions_are_what_importlib_metadata_says(name: str) -> None:
    """The manifest's package versions, read without importing importlib.metadata, are its answers."""
    from importlib import metadata

    try:
        expected = metadata.version(name)
    except metadata.PackageNotFoundError:
        expected = "absent"
    assert toolchain._pkg_version(name) == expected


def test_package_version_lookup_follows_sys_path_order_and_names(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The first sys.path folder with a matching dist-info or egg-info wins; names compare as
    PEP 503 with dashes as underscores; a folder without a Version header is left to
    importlib.metadata (None)."""
    first, second = tmp_path / "first", tmp_path / "second"
    for d, version in ((first, "1.0"), (second, "2.0")):
        (d / f"Fancy.Pkg-{version}.dist-info").mkdir(parents=True)
        (d / f"Fancy.Pkg-{version}.dist-info" / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: Fancy.Pkg\nVersion: {version}\n\nVersion: 9.9\n")
    (second / "old_egg-0.5.egg-info").mkdir()
    (second / "old_egg-0.5.egg-info" / "PKG-INFO").write_text("Name: old-egg\nVersion: 0.5\n")
    (second / "broken-1.dist-info").mkdir()
    (second / "broken-1.dist-info" / "METADATA").write_text("Name: broken\n")
    monkeypatch.setattr("sys.path", [str(tmp_path / "missing"), str(first), str(second)])
    assert toolchain._dist_info_version("fancy-pkg") == "1.0"
    assert toolchain._dist_info_version("FANCY__pkg") == "1.0"
    assert toolchain._dist_info_version("old.egg") == "0.5"
    assert toolchain._dist_info_version("broken") is None
    assert toolchain._dist_info_version("nothing") is None
    monkeypatch.setattr("sys.path", [str(second), str(first)])
    assert toolchain._dist_info_version("fancy_pkg") == "2.0"
    zipped = tmp_path / "lib.zip"
    zipped.write_bytes(b"PK\x05\x06" + bytes(18))
    monkeypatch.setattr("sys.path", [str(zipped), str(first)])
    assert toolchain._dist_info_version("fancy_pkg") is None  # importlib.metadata looks in the zip
