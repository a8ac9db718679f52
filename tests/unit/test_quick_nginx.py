"""Quick mode's service support, as nginx needs it: hook ``writable`` scratch directories and
``args``, `pack --listen`, and the `litebox pack` command `run --learn` prints for a quick-mode
artifact (with the grants it already has plus the learned ones)."""
from __future__ import annotations

from pathlib import Path

import pytest

from packager.analysis import quickhooks
from packager.commands.learn import Learned, render_snippet
from packager.config.config import Overrides, load_project, quick_config
from packager.config.policy import parse_sockaddr
from packager.errors import PackError


def test_the_nginx_hook_packs_config_and_declares_scratch_dirs_and_daemon_off() -> None:
    hook = {h.name: h for h in quickhooks.load_hooks()}["nginx"]
    assert {"/etc/nginx", "/var/www/html", "/etc/passwd", "/etc/group"} <= set(hook.paths)
    assert set(hook.writable) == {"/var/log/nginx", "/var/lib/nginx", "/run"}
    assert quickhooks.program_args(Path("/usr/sbin/nginx")) == ("-g", "daemon off;")
    assert quickhooks.program_args(Path("/usr/bin/true")) == ()


@pytest.mark.parametrize("body, fragment", [
    ('writable = ["var/log"]', "not a normalized absolute directory"),
    ('writable = ["/"]', "not a normalized absolute directory"),
    ('writable = "/run"', "writable must be a list"),
    ("args = [1]", "args must be a list of strings"),
])
def test_bad_writable_or_args_names_the_hook(tmp_path: Path, body: str, fragment: str) -> None:
    (tmp_path / "bad.toml").write_text(f'doc = "x"\nprograms = ["x"]\n{body}\n')
    with pytest.raises(PackError, match=fragment):
        quickhooks.load_hooks(tmp_path)


def test_quick_config_takes_hook_args_and_listen_flags() -> None:
    cfg = quick_config(Path("/usr/sbin/nginx"), Overrides(listens=("0.0.0.0:80", "[::]:80")))
    assert cfg.app.args == ("-g", "daemon off;")
    assert [r.text() for r in cfg.policy.listen] == ["0.0.0.0:80", "[::]:80"]
    with pytest.raises(PackError, match=r"--listen.*'80'.*missing ':PORT'"):
        quick_config(Path("/usr/sbin/nginx"), Overrides(listens=("80",)))


def test_listen_flag_is_refused_in_project_mode(tmp_path: Path) -> None:
    (tmp_path / "litebox.toml").write_text('[app]\nentry = "/bin/true"\n')
    with pytest.raises(PackError, match=r"--listen 0.0.0.0:80: project mode .*\[policy.network\] listen"):
        load_project(tmp_path, overrides=Overrides(listens=("0.0.0.0:80",)))


def _quick_manifest(listen: list[str]) -> dict[str, object]:
    return {"mode": "quick", "name": "nginx", "config": {"app": {"entry": "/usr/sbin/nginx", "cwd": "/"}},
            "policy": {"network": {"listen": listen, "connect": []}, "mounts": []}}


def test_learn_prints_the_pack_command_with_grants_so_far() -> None:
    learned = Learned(listen=[parse_sockaddr("[::]:80")])
    text = render_snippet(learned, lambda p: None, "a", lambda p: True, _quick_manifest(["0.0.0.0:80"]))
    assert "#   litebox pack /usr/sbin/nginx --listen 0.0.0.0:80 --listen '[::]:80'\n" in text


def test_learn_names_missing_dirs_as_mount_flags_and_nothing_for_projects() -> None:
    learned = Learned(creates=["/srv/data/x.log"])
    text = render_snippet(learned, lambda p: None, "a", lambda p: p == "/", _quick_manifest([]))
    assert "--mount srv/data:/srv/data:rw" in text and "make the --mount directories" in text
    project = dict(_quick_manifest([]), mode="project")
    assert "litebox pack" not in render_snippet(learned, lambda p: None, "a", lambda p: p == "/", project)


def test_init_app_writes_what_the_hooks_know(tmp_path: Path) -> None:
    if not Path("/usr/sbin/nginx").exists():
        pytest.skip("nginx is not installed (scripts/setup installs it)")
    from packager.commands.initcmd import init

    init(tmp_path / "p", Path("/usr/sbin/nginx"))
    text = (tmp_path / "p" / "litebox.toml").read_text()
    assert 'args = ["-g", "daemon off;"]' in text
    assert '"/etc/nginx" = "/etc/nginx"' in text and '"/var/www/html" = "/var/www/html"' in text
    assert '"/var/log/nginx" = "scratch/var/log/nginx"' in text
    assert (tmp_path / "p" / "scratch" / "run").is_dir()
    cfg = load_project(tmp_path / "p")
    assert ("/run", tmp_path / "p" / "scratch" / "run") in cfg.files
