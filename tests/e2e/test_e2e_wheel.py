"""The installable product: `python -m build` gives an sdist and a wheel; the wheel carries the
target plugins and a runtime per target, so a fresh virtual environment without cargo packs.

As a user installs it: a fresh venv (no system site-packages) where pip fetches the wheel's
dependencies from PyPI, with no cargo or rustc on PATH (skipped only when PyPI cannot be
reached). Kept cheap: the wheel is built once per session straight from this checkout (cargo
reuses the runtimes the test session already built in target/), bundling the linux-userland
runtime and the kvm kernel only (LITEBOX_WHEEL_TARGETS); the venv is made once per session.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest
import tomllib
from litebox_e2e import PACK_TIMEOUT, REPO, describe, run_program

PROGRAM = "/usr/bin/echo"
WHEEL_TARGETS = "linux-userland,kvm"
# What pip needs from the environment to reach PyPI here and in CI (proxies, certificates, its
# own settings); nothing else of this session's environment reaches the venv.
PASSED_TO_PIP = ("PIP_", "SSL_CERT_", "REQUESTS_CA_BUNDLE", "NIX_SSL_CERT_FILE", "HTTP_PROXY", "HTTPS_PROXY",
                 "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "ALL_PROXY", "all_proxy")


def _build(kind: str, out: Path) -> Path:
    env = dict(os.environ, LITEBOX_WHEEL_TARGETS=WHEEL_TARGETS)
    env = {k: v for k, v in env.items() if not k.startswith("LITEBOX_RUNTIME")}
    # `python -m build` writes build/ and litebox_pack.egg-info/ in the checkout: an sdist and a
    # wheel built at once by two test workers raced there ("can't copy
    # build/lib/packager/_bundle/runtimes.json"), so builds take turns on a lock file.
    with open(Path(tempfile.gettempdir()) / "litebox-tests-python-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run([sys.executable, "-m", "build", f"--{kind}", "--no-isolation", "--outdir", str(out)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=PACK_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, describe(proc)
    found = sorted(out.glob("*.whl" if kind == "wheel" else "*.tar.gz"))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build("wheel", tmp_path_factory.mktemp("wheel"))


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=15).close()
        return True
    except OSError:
        return False


def _bare_bin(where: Path) -> Path:
    """A directory with nothing but a shell: no cargo, no rustc, no compiler."""
    where.mkdir(parents=True, exist_ok=True)
    if not (where / "sh").exists():
        (where / "sh").symlink_to("/bin/sh")
    return where


@pytest.fixture(scope="session")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv without system site-packages and the wheel installed by pip, which takes
    every dependency from PyPI; no cargo or rustc on PATH while it installs."""
    if not _pypi_reachable():
        pytest.skip("PyPI (pypi.org:443) cannot be reached: the install from the wheel needs its dependencies")
    base = tmp_path_factory.mktemp("venv")
    root = base / "v"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k.startswith(PASSED_TO_PIP)}
    env.update({"PATH": f"{root / 'bin'}{os.pathsep}{_bare_bin(base / 'bin')}",
                "HOME": os.environ.get("HOME", str(base)), "LC_ALL": "C"})
    proc = subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], env=env,
                          capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, describe(proc)
    # Only the venv's own packages: nothing borrowed from this interpreter.
    cfg = (root / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg
    return root


def _plugin_folders() -> list[str]:
    return sorted(p.parent.name for p in (REPO / "platform_targets").glob("*/target.py"))


def test_sdist_carries_every_source_a_wheel_is_built_from(tmp_path: Path) -> None:
    with tarfile.open(_build("sdist", tmp_path)) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("pyproject.toml", "setup.py", "SConstruct", "Cargo.toml", "Cargo.lock", ".cargo/config.toml",
                   "core/libos/Cargo.toml", "packager/targets/bundle.py", "templates/litebox.toml"):
        assert needed in names, needed
    for folder in _plugin_folders():
        assert f"platform_targets/{folder}/target.py" in names
    # Every crate of the Rust workspace (runtimes, the library OS, tools).
    members = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["members"]
    for member in members:
        assert f"{member}/Cargo.toml" in names, member
    assert not any("/target/" in f"/{n}" or "__pycache__" in n for n in names)


def test_wheel_carries_plugins_and_runtimes_by_digest(wheel: Path) -> None:
    """Every plugin folder's Python files, the build graph, and the bundled runtime whose
    sha256 runtimes.json records; the tag says x86-64 Linux (native runtimes inside)."""
    assert wheel.name.endswith("-py3-none-linux_x86_64.whl")
    with zipfile.ZipFile(wheel) as z:
        files = {n.split("packager/_bundle/", 1)[1]: n for n in z.namelist() if "packager/_bundle/" in n}
        for folder in _plugin_folders():
            for py in (REPO / "platform_targets" / folder).glob("*.py"):
                assert f"platform_targets/{folder}/{py.name}" in files
        assert "SConstruct" in files and "Cargo.lock" in files
        record = json.loads(z.read(files["runtimes.json"]))["targets"]
        entry = record["linux-userland"]
        data = z.read(files[entry["file"]])
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert data[:4] == b"\x7fELF"
    assert entry["rustc"].startswith("rustc ")


def _venv_env(venv: Path, tmp_path: Path, tools: tuple[str, ...] = ()) -> dict[str, str]:
    """Nothing but the venv's bin, a shell and ``tools`` (host programs a target runs, by
    their names on this PATH) on PATH: no cargo, no rustc."""
    bare = _bare_bin(tmp_path / "bin")
    for tool in tools:
        found = shutil.which(tool)
        assert found, tool
        (bare / tool).symlink_to(found)
    return {"PATH": f"{venv / 'bin'}{os.pathsep}{bare}", "HOME": str(tmp_path / "home"), "LC_ALL": "C"}


def _litebox(venv: Path, env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "litebox"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=PACK_TIMEOUT, stdin=subprocess.DEVNULL)


def test_installed_wheel_packs_runs_and_verifies_without_cargo(venv: Path, tmp_path: Path) -> None:
    env = _venv_env(venv, tmp_path)
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import packager; print(packager.__file__)"],
                           env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert where.stdout.startswith(str(venv)), where.stdout  # the wheel's code, not this checkout's

    targets = _litebox(venv, env, "targets", "--json", cwd=tmp_path)
    assert targets.returncode == 0, describe(targets)
    row = next(r for r in json.loads(targets.stdout)["targets"] if r["target"] == "linux-userland")
    assert row["runtime"]["kind"] == "bundled" and row["ready"], row
    assert {c["item"] for c in row["checks"] if c["item"] == "cargo" and not c["required"]} == {"cargo"}

    proc = _litebox(venv, env, "pack", PROGRAM, "--out-dir", str(tmp_path / "dist"), "--json", cwd=tmp_path)
    assert proc.returncode == 0, describe(proc)
    art = json.loads(proc.stdout)["artifacts"][0]
    assert run_program([art["path"], "from", "the", "wheel"]).stdout == b"from the wheel\n"
    runtime = json.loads(Path(art["manifest"]).read_bytes())["runtime"]
    bundled = venv.glob("lib/python*/site-packages/packager/_bundle/runtimes.json")
    recorded = json.loads(next(bundled).read_bytes())["targets"]["linux-userland"]
    assert runtime["origin"] == "bundled" and runtime["sha256"] == recorded["sha256"]

    check = _litebox(venv, env, "verify", art["path"], cwd=tmp_path)
    assert check.returncode == 0 and check.stdout.strip() == "verified", describe(check)


def test_installed_wheel_packs_for_kvm_and_boots_it_without_cargo(venv: Path, tmp_path: Path) -> None:
    """The wheel's prebuilt kvm kernel: `litebox targets` says it is bundled, a pack for kvm
    records it (origin and sha256 of runtimes.json), QEMU (TCG) boots the artifact through the
    installed `litebox run`, and `verify` rebuilds it to the same bytes."""
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 not installed (./scripts/setup installs it)")
    env = {**_venv_env(venv, tmp_path, ("qemu-system-x86_64",)), "LITEBOX_KVM_ACCEL": "tcg",
           "LITEBOX_KVM_TIMEOUT": "120"}
    targets = _litebox(venv, env, "targets", "--json", cwd=tmp_path)
    assert targets.returncode == 0, describe(targets)
    row = next(r for r in json.loads(targets.stdout)["targets"] if r["target"] == "kvm")
    assert row["runtime"]["kind"] == "bundled" and row["ready"], row

    proc = _litebox(venv, env, "pack", PROGRAM, "--target", "kvm", "--out-dir", str(tmp_path / "dist"), "--json",
                    cwd=tmp_path)
    assert proc.returncode == 0, describe(proc)
    art = json.loads(proc.stdout)["artifacts"][0]
    assert art["target"] == "kvm"
    ran = _litebox(venv, env, "run", art["path"], "--", "booted", "from", "the", "wheel", cwd=tmp_path)
    assert ran.returncode == 0 and ran.stdout == "booted from the wheel\n", describe(ran)

    runtime = json.loads(Path(art["manifest"]).read_bytes())["runtime"]
    bundled = venv.glob("lib/python*/site-packages/packager/_bundle/runtimes.json")
    recorded = json.loads(next(bundled).read_bytes())["targets"]["kvm"]
    assert runtime["origin"] == "bundled" and runtime["sha256"] == recorded["sha256"]

    check = _litebox(venv, env, "verify", art["path"], cwd=tmp_path)
    assert check.returncode == 0 and check.stdout.strip() == "verified", describe(check)


def test_checkout_builds_its_runtime_and_says_so(tmp_path: Path) -> None:
    """From a checkout with cargo, `litebox targets` names cargo as the runtime's origin, the
    manifest of an artifact packed there records the same origin, and `verify` accepts it."""
    from litebox_e2e import pack, run_cli

    proc = run_cli("targets", "--json")
    assert proc.returncode == 0, describe(proc)
    row = next(r for r in json.loads(proc.stdout)["targets"] if r["target"] == "linux-userland")
    if os.environ.get("LITEBOX_RUNTIME_LINUX_USERLAND"):
        assert row["runtime"]["kind"] == "prebuilt"
    else:
        assert row["runtime"] == {"kind": "built",
                                  "detail": "cargo build --locked --release -p litebox-runtime-linux-userland"}
    art = pack(Path(PROGRAM), tmp_path / "dist")
    assert json.loads(art.manifest.read_bytes())["runtime"]["origin"] == row["runtime"]["kind"]
    check = run_cli("verify", art.path)
    assert check.returncode == 0 and check.stdout.strip() == "verified", describe(check)
