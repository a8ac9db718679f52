"""Every template under templates/ renders to a litebox.toml that loads."""
from __future__ import annotations

from pathlib import Path

import pytest

from packager.commands.initcmd import TEMPLATES, render
from packager.config.config import load_project
from packager.targets.targets import repo_root


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_template_renders_and_loads(tmp_path: Path, name: str) -> None:
    file_name, default_app = TEMPLATES[name]
    app = Path(default_app or "/usr/bin/true")
    text = render(tmp_path, app, (repo_root() / "templates" / file_name).read_text(encoding="utf-8"))
    (tmp_path / "litebox.toml").write_text(text)
    cfg = load_project(tmp_path)
    assert cfg.app.entry == str(app)
    if name == "nginx":
        assert [m.guest for m in cfg.policy.mounts] == ["/var/log/nginx", "/var/lib/nginx", "/run"]
        assert "daemon off;" in " ".join(cfg.app.args)
