"""SIGINT or SIGTERM to `litebox pack` stops every child (SCons and what it started) and
leaves neither a temporary file nor a partial artifact."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from litebox_e2e import cli_argv, cli_env, pack

# Sparse: costs no disk, but compressing it keeps the image step busy far longer than the test
# needs to send its signal, so the signal always lands mid-step.
HUGE = 8 << 30


def _stat(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit() and (s := _stat(d)) and int(s[1]) == pid]


def _group_members(pgid: int) -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit() and (s := _stat(d)) and int(s[2]) == pgid
            and s[0] != "Z"]


def test_sigterm_stops_the_build_graph_and_leaves_nothing(tmp_path: Path) -> None:
    signum, status = signal.SIGTERM, 143
    project = tmp_path / "huge"
    project.mkdir()
    (project / "true").write_bytes(Path("/usr/bin/true").read_bytes())
    (project / "true").chmod(0o755)
    toml = '[app]\nname = "huge"\nentry = "/app/true"\n\n[files]\n"/app/true" = "true"\n'
    (project / "litebox.toml").write_text(toml)
    pack(project, tmp_path / "warm")  # the runtime exists before the interrupted pack
    with open(project / "huge.bin", "wb") as f:
        f.truncate(HUGE)
    (project / "litebox.toml").write_text(toml + '"/data/huge.bin" = "huge.bin"\n')

    out = tmp_path / "dist"
    proc = subprocess.Popen([*cli_argv(), "pack", str(project), "--out-dir", str(out), "-v"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=cli_env())
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "litebox: image for huge" in line:
                break
        else:
            pytest.fail("the pack ended before its image step")
        scons = _children(proc.pid)
        assert scons, "no build child found while the image step runs"
        proc.send_signal(signum)
        rest = proc.stderr.read()
        assert proc.wait(timeout=600) == status, rest
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in rest, rest
    for child in scons:
        assert _group_members(child) == [], "a child of the pack outlived it"
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    assert not (out / "huge-linux-userland").exists()


def _sigint_default() -> None:
    """In the packer's process before its exec: SIGINT back to its default. A test run started
    in the background by a shell without job control inherits SIGINT ignored (POSIX), and so
    would the packer (Python then installs no KeyboardInterrupt handler), which is not what
    this test asks about."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_stops_the_build_command(tmp_path: Path) -> None:
    project = tmp_path / "slow"
    project.mkdir()
    (project / "litebox.toml").write_text('[app]\nname = "slow"\nentry = "/app/true"\n\n[files]\n'
                                          '"/app/true" = "true"\n\n[build]\n'
                                          'command = ["sh", "-c", "echo started >&2; exec sleep 600"]\n')
    proc = subprocess.Popen([*cli_argv(), "pack", str(project), "--out-dir", str(tmp_path / "dist"), "-v"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=cli_env(),
                            preexec_fn=_sigint_default)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("started"):
                break
        sleeper = _children(proc.pid)
        assert sleeper, "the build command is not running"
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(timeout=600) == 130, rest
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in rest, rest
    # A killed process may still be on its way out right after the pack ends on a busy
    # machine: give it up to a minute (the build command would sleep for ten).
    for _ in range(120):
        if all(_group_members(p) == [] for p in sleeper):
            break
        time.sleep(0.5)
    assert all(_group_members(p) == [] for p in sleeper), "the build command outlived the pack"
