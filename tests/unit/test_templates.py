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


def test_the_nginx_template_writes_its_site_on_the_chosen_port(tmp_path: Path) -> None:
    pytest.importorskip("lief")
    if not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed")
    from packager.commands.initcmd import init

    init(tmp_path / "p", None, "nginx", 18123)
    site = (tmp_path / "p" / "sites-enabled" / "default").read_text()
    assert "listen 127.0.0.1:18123 default_server;" in site and "{port}" not in site
    cfg = load_project(tmp_path / "p")
    assert [r.text() for r in cfg.policy.listen] == ["127.0.0.1:18123"]
    files = dict(cfg.files)
    assert files["/etc/nginx/sites-enabled"] == tmp_path / "p" / "sites-enabled"
    assert "/etc/nginx" not in files and files["/etc/nginx/nginx.conf"] == Path("/etc/nginx/nginx.conf")


def test_init_refuses_a_port_out_of_range(tmp_path: Path) -> None:
    from packager.commands.initcmd import init
    from packager.errors import PackError

    with pytest.raises(PackError, match="--port 70000: not a TCP port"):
        init(tmp_path, Path("/usr/bin/python3"), "python-http", 70000)
    assert list(tmp_path.iterdir()) == []
