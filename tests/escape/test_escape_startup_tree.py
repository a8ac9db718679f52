"""The sandbox's process tree at start-up and exit (docs/security.md, layers 4 and 5): the
sandbox holds exactly init (pid 1) and the app's first process (pid 2) when the app runs; init
ends what the app left behind, and walks the host's processes for it (`kill(-1)`) only when
something is left; the bounding set is emptied without reading it back. Host calls are counted
with strace (installed by scripts/setup), one trace per process."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import BASE_ENV, RUN_TIMEOUT, describe, pack
from test_escape_host_layers import _start_waiting, packed, sandbox_processes

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/setup)")


def traced(out: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[int, str]]:
    """Runs the packed attack program with ARGS under `strace -ff` (one trace per process in
    OUT, so no call is split by another's); returns the run and each process's trace by pid."""
    out.mkdir()
    r = subprocess.run(["strace", "-ff", "-qq", "-o", str(out / "t"), str(packed().artifact), *args],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT, env=dict(BASE_ENV), check=False)
    return r, {int(f.name.split(".")[1]): f.read_text() for f in out.glob("t.*")}


def calls(trace: str, pattern: str) -> list[str]:
    """The lines of TRACE that match PATTERN (a regular expression) from their start."""
    return [line for line in trace.splitlines() if re.match(pattern, line)]


def ns_pid(host_pid: int) -> int:
    """The pid of HOST_PID in its own (innermost) pid namespace."""
    status = Path(f"/proc/{host_pid}/status").read_text()
    return int(re.search(r"^NSpid:\s+(.*)$", status, re.M).group(1).split()[-1])


def test_the_sandbox_holds_init_and_the_apps_first_process_only() -> None:
    p = packed()
    proc = _start_waiting(p)
    try:
        inside = sandbox_processes(p.artifact, proc.pid) - {proc.pid}
        assert sorted(ns_pid(pid) for pid in inside) == [1, 2], inside
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()
    assert proc.returncode == 0


def kills_all(traces: dict[int, str]) -> bool:
    """Whether some process of the run called kill(-1, SIGKILL)."""
    return any(calls(t, r"kill\(-1, SIGKILL\)") for t in traces.values())


def test_init_walks_the_hosts_processes_only_when_the_app_left_some(tmp_path: Path) -> None:
    # The app ends alone: init finds no child left and kills nothing.
    r, traces = traced(tmp_path / "alone", "chmod")
    assert r.returncode == 0, describe(r)
    assert not kills_all(traces)
    # The app leaves a background child: init kills everything left, as before.
    r, traces = traced(tmp_path / "bg", "bg")
    assert r.returncode == 0 and r.stdout == "parent done: child 1\n", describe(r)
    assert kills_all(traces)


def test_the_bounding_set_is_emptied_without_reading_it(tmp_path: Path) -> None:
    r, traces = traced(tmp_path / "t", "chmod")
    assert r.returncode == 0, describe(r)
    everything = "".join(traces.values())
    assert "PR_CAPBSET_READ" not in everything
    assert len(re.findall(r"^prctl\(PR_CAPBSET_DROP, CAP_", everything, re.M)) >= 38  # each capability, once


def test_the_app_joins_the_mount_and_ipc_namespaces_init_makes_after_the_fork(tmp_path: Path) -> None:
    # Init makes them (one unshare) after forking the app's first process, which joins them with
    # one setns before it builds or enters the root (docs/security.md, layer 4).
    r, traces = traced(tmp_path / "t", "chmod")
    assert r.returncode == 0, describe(r)
    everything = "".join(traces.values())
    assert len(re.findall(r"^unshare\(CLONE_NEWNS\|CLONE_NEWIPC\) += 0", everything, re.M)) == 1, everything
    assert len(re.findall(r"^setns\(\d+, CLONE_NEWNS\|CLONE_NEWIPC\) += 0", everything, re.M)) == 1, everything
    # No app code before the setns: the app's first call (chmod) comes after it in that process.
    (app,) = [t for t in traces.values() if re.search(r"^setns\(\d+, CLONE_NEWNS", t, re.M)]
    assert app.index("setns(") < app.index("seccomp("), app


def test_a_failed_unshare_of_the_mount_and_ipc_namespaces_starts_the_app_once_without_them(tmp_path: Path) -> None:
    # Init's unshare fails: it tells the supervisor ("F"), the app's first process (waiting for
    # init's word) ends with the pid namespace, and the supervisor starts the app without
    # namespaces, once.
    r = subprocess.run(["strace", "-f", "-qq", "-o", str(tmp_path / "t"), "-e", "trace=unshare",
                        "-e", "inject=unshare:error=EPERM:when=1", str(packed().artifact), "chmod"],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT, env=dict(BASE_ENV), check=False)
    assert r.returncode == 0 and r.stdout.count("mode: ") == 1, describe(r)
    assert "CLONE_NEWNS|CLONE_NEWIPC) = -1 EPERM" in (tmp_path / "t").read_text()


def test_the_apps_first_process_builds_the_root_with_a_relative_mount_after_joining(tmp_path: Path) -> None:
    # Init's unshare is held back, so the app's first process, done loading, claims the root and
    # builds it once it has joined the mount namespace (a setns moves the working directory to
    # the namespace's root): the relative policy mount still names the directory the artifact
    # was started in.
    art = pack(Path("/usr/bin/cat"), tmp_path / "dist", "--mount", ".:/work", "-q")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "x").write_text("relative mount\n")
    r = subprocess.run(["strace", "-f", "-qq", "-o", str(tmp_path / "t"), "-e", "trace=unshare,setns,mount",
                        "-e", "inject=unshare:delay_exit=200000", str(art.path), "/work/x"],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT, env=dict(BASE_ENV), cwd=run_dir,
                       check=False)
    assert r.returncode == 0 and r.stdout == "relative mount\n", describe(r)
    trace = (tmp_path / "t").read_text()
    (joiner,) = {line.split()[0] for line in trace.splitlines() if "setns(" in line}
    assert any(line.startswith(joiner) and "tmpfs" in line for line in trace.splitlines()), trace


def test_an_init_that_fails_before_the_go_ahead_does_not_end_the_supervisor(tmp_path: Path) -> None:
    # Init's unshare fails and init ends (its "F") before the supervisor's "G" goes out (held
    # back 300 ms here): the "G" meets a closed socket (EPIPE), not a SIGPIPE that killed the
    # supervisor with nothing started, and the app starts without namespaces, once.
    r = subprocess.run(["strace", "-f", "-qq", "-o", str(tmp_path / "t"), "-e", "trace=unshare,sendmsg",
                        "-e", "inject=unshare:error=EPERM:when=1", "-e", "inject=sendmsg:delay_enter=300000:when=1",
                        str(packed().artifact), "chmod"],
                       capture_output=True, text=True, timeout=RUN_TIMEOUT, env=dict(BASE_ENV), check=False)
    assert r.returncode == 0 and r.stdout.count("mode: ") == 1, describe(r)
    trace = (tmp_path / "t").read_text()
    assert re.search(r'sendmsg\(\d+, \{msg_name=NULL, msg_namelen=0, msg_iov=\[\{iov_base="G"', trace), trace
    assert re.search(r"sendmsg resumed>.* = -1 EPIPE|MSG_NOSIGNAL\) += -1 EPIPE", trace), trace
    assert "SIGPIPE" not in trace, trace
