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
