"""Packs that run at once, and CI runners that share a build cache (--cache-dir).

Two packs whose output folders share a parent share one build state directory; they must not
crash each other (the second waits for the first). Runners with their own state but one
--cache-dir take runtimes and images from it instead of building them again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import PACK_TIMEOUT, REPO, cli_argv, cli_env, describe, pack, run_program, sha256_file

APP = Path("/usr/bin/echo")  # quick mode: nothing to build but the runtime


def _start_pack(out_dir: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([*cli_argv(), "pack", str(APP), "--out-dir", str(out_dir), "--json", *extra],
                            cwd=REPO, env=cli_env(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_packs_at_once_into_sibling_folders_both_succeed(tmp_path: Path) -> None:
    """Two packs started together into a/ and b/ (one shared .litebox-cache beside them) both
    succeed and write the same bytes: no FileNotFoundError, no broken build-graph database."""
    procs = [_start_pack(tmp_path / name) for name in ("a", "b", "c")]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=PACK_TIMEOUT)
        assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
        results.append(json.loads(out)["artifacts"][0])
    digests = {r["sha256"] for r in results}
    assert len(digests) == 1, results
    for r in results:
        assert sha256_file(Path(r["path"])) == r["sha256"]
        json.loads(Path(r["manifest"]).read_bytes())
        assert run_program([r["path"], "same", "bytes"]).stdout == b"same bytes\n"


def test_second_pack_waits_for_the_one_holding_the_state(tmp_path: Path) -> None:
    """While the build state's lock is held, a pack says it waits and writes nothing; once the
    lock is released it finishes. (The lock is taken here with the packager's own helper.)"""
    from packager.build.progress import Progress
    from packager.build.statelock import state_lock

    state = tmp_path / ".litebox-cache"
    with open(os.devnull, "w") as quiet, state_lock(state, Progress(quiet)):
        proc = _start_pack(tmp_path / "dist")
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "waiting for another litebox pack" in line, line
        assert proc.poll() is None
        assert not (tmp_path / "dist").exists()
    out, err = proc.communicate(timeout=PACK_TIMEOUT)
    assert proc.returncode == 0, f"{out}\n{err}"
    assert (tmp_path / "dist" / "echo-linux-userland").is_file()


@pytest.fixture(scope="module")
def no_cargo_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PATH folder whose `cargo` answers metadata and version queries but fails any build:
    a pack that succeeds with it did not build a runtime."""
    real = shutil.which("cargo")
    if real is None:
        pytest.skip("cargo is not installed (the first runner builds the runtime)")
    folder = tmp_path_factory.mktemp("nocargo")
    (folder / "cargo").write_text(f'#!/bin/sh\ncase "$1" in build) echo "cargo build ran" >&2; exit 99;; esac\n'
                                  f'exec {real} "$@"\n')
    (folder / "cargo").chmod(0o755)
    return folder


def test_second_runner_takes_runtime_and_image_from_the_shared_cache(tmp_path: Path, no_cargo_build: Path) -> None:
    """Runner 1 fills --cache-dir; runner 2 (own checkout state, own output folder, cargo
    unable to build) packs the same inputs from it: same artifact bytes, and -v says where the
    runtime and image came from. The environment variable works like the option."""
    cache = tmp_path / "shared"
    first = pack(APP, tmp_path / "runner1" / "dist", "--cache-dir", str(cache))
    assert sorted(p.name for p in cache.iterdir() if p.name != "tmp") == ["image", "runtime"]
    env = {"PATH": f"{no_cargo_build}{os.pathsep}{os.environ['PATH']}", "LITEBOX_CACHE_DIR": str(cache)}
    proc = subprocess.run([*cli_argv(), "pack", str(APP), "--out-dir", str(tmp_path / "runner2" / "dist"),
                           "--json", "-v"], cwd=REPO, env=cli_env(env), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=PACK_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    assert "runtime for linux-userland: taken from the shared cache" in proc.stderr
    assert "taken from the shared cache" in proc.stderr.split("image for", 1)[1]
    second = json.loads(proc.stdout)["artifacts"][0]
    assert second["sha256"] == first.sha256


def test_cache_dir_that_is_a_file_is_one_line_error(tmp_path: Path) -> None:
    """--cache-dir naming a file: exit 2 and one line naming it."""
    bad = tmp_path / "file"
    bad.write_text("x")
    proc = subprocess.run([*cli_argv(), "pack", str(APP), "--out-dir", str(tmp_path / "d"), "--cache-dir", str(bad)],
                          cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=PACK_TIMEOUT)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"litebox: error: --cache-dir {bad}: not a directory"
