"""The sandbox's process tree at start-up and exit (docs/security.md, layer 4): the network
namespace's maker, a short-lived process init starts before it forks the app's first process,
is gone before any app code runs, and the sandbox then holds exactly init (pid 1) and the app's
first process (pid 2); init ends what the app left behind, and walks the host's processes for
it (`kill(-1)`) only when something is left. Host calls are counted with strace (installed by
scripts/setup)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from litebox_e2e import BASE_ENV, RUN_TIMEOUT, describe
from test_escape_host_layers import _start_waiting, packed, sandbox_processes

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/setup)")


def traced(*args: str) -> tuple[subprocess.CompletedProcess[str], dict[int, str]]:
    """Runs the packed attack program with ARGS under `strace -ff` (one trace per process, so no
    call is split by another's); returns the run and each process's trace by host pid."""
    art = Path(packed().artifact)
    out = Path(tempfile.mkdtemp(prefix="litebox-startup-tree-"))
    r = subprocess.run(["strace", "-ff", "-qq", "-o", str(out / "t"), str(art), *args], capture_output=True,
                       text=True, timeout=RUN_TIMEOUT, env=dict(BASE_ENV), check=False)
    return r, {int(f.name.split(".")[1]): f.read_text() for f in out.glob("t.*")}


def calls(trace: str, pattern: str) -> list[str]:
    """The lines of TRACE that match PATTERN (a regular expression) from their start."""
    return [line for line in trace.splitlines() if re.match(pattern, line)]


def ns_pid(host_pid: int) -> int:
    """The pid of HOST_PID in its own (innermost) pid namespace."""
    status = Path(f"/proc/{host_pid}/status").read_text()
    return int(re.search(r"^NSpid:\s+(.*)$", status, re.M).group(1).split()[-1])


def test_the_network_namespace_is_made_by_the_maker_and_init_joins_it() -> None:
    r, traces = traced("bg")
    assert r.returncode == 0, describe(r)
    # Init starts the maker as pid 300 of the sandbox (clone3 answers in init's pid namespace).
    inits = [pid for pid, t in traces.items() if calls(t, r"clone3\(\{flags=CLONE_VM, .*set_tid=\[300\].* = 300$")]
    assert len(inits) == 1, inits
    init = inits[0]
    # Only the maker makes a network namespace: init's clone does not, the app's first process
    # joins init's.
    makers = [pid for pid, t in traces.items() if re.search(r"unshare\(CLONE_NEWNET|CLONE_NEWNET\|", t)]
    assert len(makers) == 1 and makers[0] != init, makers
    maker = makers[0]
    assert calls(traces[maker], r"unshare\(CLONE_NEWNET\) += 0$"), traces[maker]
    assert "+++ killed by SIGKILL +++" in traces[maker]
    assert calls(traces[init], r"setns\(\d+, CLONE_NEWNET\) += 0$"), "init did not join the maker's namespace"
    assert calls(traces[init], r"kill\(300, SIGKILL\) += 0$") and calls(traces[init], r"wait4\(300, .* = 300$")


def test_the_maker_is_gone_before_the_app_runs() -> None:
    p = packed()
    proc = _start_waiting(p)
    try:
        inside = sandbox_processes(p.artifact) - {proc.pid}
        assert sorted(ns_pid(pid) for pid in inside) == [1, 2], inside
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()
    assert proc.returncode == 0


def kills_all(traces: dict[int, str]) -> bool:
    """Whether some process of the run called kill(-1, SIGKILL)."""
    return any(calls(t, r"kill\(-1, SIGKILL\)") for t in traces.values())


def test_init_walks_the_hosts_processes_only_when_the_app_left_some() -> None:
    # The app ends alone: init finds no child left and kills nothing.
    r, traces = traced("chmod")
    assert r.returncode == 0, describe(r)
    assert not kills_all(traces)
    # The app leaves a background child: init kills everything left, as before.
    r, traces = traced("bg")
    assert r.returncode == 0 and r.stdout == "parent done: child 1\n", describe(r)
    assert kills_all(traces)


def test_the_bounding_set_is_emptied_without_reading_it() -> None:
    r, traces = traced("chmod")
    assert r.returncode == 0, describe(r)
    everything = "".join(traces.values())
    assert "PR_CAPBSET_READ" not in everything
    assert len(re.findall(r"^prctl\(PR_CAPBSET_DROP, CAP_", everything, re.M)) >= 38  # each capability, once
