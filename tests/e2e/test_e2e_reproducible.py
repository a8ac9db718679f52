"""Deterministic output: the same inputs give the same bytes, wherever and whenever they are packed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from litebox_e2e import (
    REPO,
    TARGET,
    cli_env,
    copy_example,
    describe,
    pack,
    parse_pack_json,
    run_cli,
    run_program,
    sha256_file,
)

ALL_EXAMPLES = ["hello-static", "hello-dynamic", "cat-files", "static-pie"]


def _disturb(project: Path) -> None:
    """Changes what must not matter: mtimes, and group/other write bits of the inputs."""
    for i, p in enumerate(sorted(project.rglob("*"))):
        os.utime(p, (1_000_000_000 + i, 1_234_567_890 + 7 * i), follow_symlinks=False)
        if p.is_file():
            os.chmod(p, p.stat().st_mode | 0o022)
    os.utime(project, (999_999_999, 999_999_999))


@pytest.mark.parametrize("name", ALL_EXAMPLES)
def test_two_directories_give_identical_bytes(name: str, tmp_path: Path) -> None:
    a = copy_example(name, tmp_path / "a")
    b_parent = tmp_path / "a much longer" / "and different" / "place"
    b_parent.mkdir(parents=True)
    b = copy_example(name, b_parent)
    _disturb(b)

    art_a = pack(a, tmp_path / "out-a")
    # Packed from another working directory, with another time zone and umask in the environment.
    art_b = pack(b, b_parent / "dist", cwd=b_parent, env={"TZ": "Asia/Kolkata", "LANG": "C.UTF-8"})

    assert art_a.path.read_bytes() == art_b.path.read_bytes(), (
        f"{name}: artifacts differ ({art_a.sha256} vs {art_b.sha256})"
    )
    assert art_a.sha256 == art_b.sha256
    assert art_a.manifest.read_bytes() == art_b.manifest.read_bytes(), f"{name}: manifests differ"


def test_quick_mode_is_reproducible(tmp_path: Path) -> None:
    first = pack(Path("/usr/bin/expr"), tmp_path / "one")
    second = pack(Path("/usr/bin/expr"), tmp_path / "two" / "nested")
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.manifest.read_bytes() == second.manifest.read_bytes()


def test_second_identical_pack_rebuilds_nothing(tmp_path: Path) -> None:
    project = copy_example("hello-static", tmp_path)
    out = tmp_path / "dist"
    first = pack(project, out)
    before = first.path.stat()
    manifest_before = first.manifest.read_bytes()

    proc = run_cli("pack", project, "--out-dir", out)
    assert proc.returncode == 0, describe(proc)
    said = (proc.stdout + proc.stderr).lower()
    assert "up to date" in said or "up-to-date" in said, describe(proc)

    after = first.path.stat()
    assert after.st_mtime_ns == before.st_mtime_ns, "the artifact was rewritten"
    assert after.st_ino == before.st_ino
    assert sha256_file(first.path) == first.sha256
    assert first.manifest.read_bytes() == manifest_before

    again = pack(project, out)  # and --json still answers with the same artifact
    assert again == first


def test_changed_input_is_repacked(tmp_path: Path) -> None:
    project = copy_example("cat-files", tmp_path)
    out = tmp_path / "dist"
    first = pack(project, out)
    (project / "data" / "alpha.txt").write_text("alpha: changed\n")
    second = pack(project, out)
    assert second.sha256 != first.sha256
    assert second.path.read_bytes() != b""
    assert b"alpha: changed" not in first.manifest.read_bytes()  # a digest, not the content


def _change(path: Path, how: str) -> None:
    """Changes ``path`` in a way the warm path must notice; for the ways that keep its size,
    its mtime is put back, so only the inode or the ctime tells."""
    old = path.stat()
    if how == "content":  # same size, written in place: the ctime changes
        path.write_bytes(path.read_bytes().upper())
    elif how == "replaced":  # same size, a new file renamed over it: a new inode
        new = path.with_name(path.name + ".new")
        new.write_bytes(path.read_bytes().upper())
        os.chmod(new, old.st_mode & 0o7777)
        os.replace(new, path)
    elif how == "mode":
        os.chmod(path, 0o755)
    elif how == "size":
        path.write_bytes(path.read_bytes() + b"more\n")
    if how != "size":
        os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))
        assert path.stat().st_size == old.st_size and path.stat().st_mtime_ns == old.st_mtime_ns


@pytest.mark.parametrize("how", ["content", "replaced", "mode", "size"])
def test_a_warm_repack_after_a_change_equals_a_cold_pack(how: str, tmp_path: Path) -> None:
    """After a packed file changes (bytes of the same size and mtime, in place or renamed over;
    its mode; its size), the warm re-pack's artifact is a new one, byte for byte what a cold
    pack (fresh output and state directory) of the changed project gives."""
    project = copy_example("hello-static", tmp_path)
    (project / "data").mkdir()
    (project / "data" / "a.txt").write_text("alpha beta\n")
    (project / "data" / "b.txt").write_text("gamma\n")
    toml = project / "litebox.toml"
    toml.write_text(toml.read_text().replace('"/app/hello" = "build/hello"',
                                             '"/app/hello" = "build/hello"\n"/data" = "data"'))
    out = tmp_path / "warm" / "dist"
    first = pack(project, out)
    assert pack(project, out) == first  # up to date

    _change(project / "data" / "a.txt", how)
    warm = pack(project, out)
    cold = pack(project, tmp_path / "cold" / "dist")
    assert warm.sha256 != first.sha256, f"{how}: the change was not packed"
    assert warm.path.read_bytes() == cold.path.read_bytes(), f"{how}: warm {warm.sha256} vs cold {cold.sha256}"
    assert warm.manifest.read_bytes() == cold.manifest.read_bytes()


# `litebox pack` with the build plan's file time pinned to one second after each write: what a
# pack that follows the last one within the same second sees (SCons keeps file times in whole
# seconds). The pin is far in the past, so SCons is past its max_drift and trusts what it recorded.
_PINNED_PLAN_TIME = """
import os, sys
import packager.build.driver as driver
_write = driver.write_plan
def _pinned(plan, path):
    _write(plan, path)
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
driver.write_plan = _pinned
from packager.commands.cli import main
sys.exit(main())
"""


def test_a_changed_plan_is_packed_even_when_written_in_the_same_second(tmp_path: Path) -> None:
    """A re-pack whose plan changed (here the app's environment in litebox.toml) makes a new
    artifact even when the plan file's time in whole seconds is the one the last pack left:
    quick mode's --learn rounds re-pack with one more --listen right after each other, and an
    old artifact without the new grant came out (about one run in six)."""
    project = copy_example("hello-static", tmp_path)
    out = tmp_path / "dist"

    def pack_pinned() -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-c", _PINNED_PLAN_TIME, "pack", str(project), "--target", TARGET,
                "--out-dir", str(out), "--json"]
        proc = subprocess.run(argv, cwd=REPO, env=cli_env(), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, describe(proc)
        return proc

    first = parse_pack_json(pack_pinned().stdout)[0]
    toml = project / "litebox.toml"
    toml.write_text(toml.read_text().replace('GREETING = "hi"', 'GREETING = "changed"'))
    second = parse_pack_json(pack_pinned().stdout)[0]
    assert second.sha256 != first.sha256, "the changed plan was not packed: the old artifact stayed"
    assert sha256_file(second.path) == second.sha256
    got = run_program([second.path, "--getenv", "GREETING"])
    assert got.returncode == 0, describe(got)
    assert b"GREETING=changed\n" in got.stdout, describe(got)
