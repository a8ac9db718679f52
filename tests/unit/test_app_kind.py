"""[app].kind in litebox.toml: "program" or "ta", validated; unset means detected."""
from __future__ import annotations

from pathlib import Path

import pytest

from packager.config.config import load_project
from packager.errors import PackError


def _project(tmp_path: Path, kind_line: str) -> Path:
    (tmp_path / "litebox.toml").write_text(f'[app]\nentry = "/ta/x.elf"\n{kind_line}\n')
    return tmp_path


def test_kind_unset_is_detected_later(tmp_path: Path) -> None:
    cfg = load_project(_project(tmp_path, ""))
    assert cfg.app.kind is None
    assert "kind" not in cfg.to_json()["app"]


@pytest.mark.parametrize("kind", ["ta", "program"])
def test_known_kinds_are_kept_and_recorded(tmp_path: Path, kind: str) -> None:
    cfg = load_project(_project(tmp_path, f'kind = "{kind}"'))
    assert cfg.app.kind == kind
    assert cfg.to_json()["app"]["kind"] == kind


def test_unknown_kind_lists_the_kinds(tmp_path: Path) -> None:
    with pytest.raises(PackError) as err:
        load_project(_project(tmp_path, 'kind = "trusted-app"'))
    assert str(err.value).endswith("[app].kind: 'trusted-app' is not a kind of app; one of: program, ta")
    with pytest.raises(PackError, match=r"one of: program, ta \(did you mean 'ta'\?\)"):
        load_project(_project(tmp_path, 'kind = "tas"'))


def test_kind_must_be_a_string(tmp_path: Path) -> None:
    with pytest.raises(PackError, match=r"\[app\]\.kind: expected a string, got"):
        load_project(_project(tmp_path, "kind = 1"))
