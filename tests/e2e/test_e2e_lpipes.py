"""Pipes served by the library OS on linux-userland, and their promotion to host pipes
(issue 17, lpipe; docs/targets/linux-userland.md "Pipes").

tests/e2e/programs/lpipes.c runs natively and packed (syscall sites rewritten, and
`--no-rewrite`) and must print the same: EOF, EPIPE and SIGPIPE, EAGAIN, FIONREAD, PIPE_BUF
atomicity, dup'd ends, fstat and /proc/self/fd, and every promotion trigger (fork, vfork and
execve, a thread, poll, select, epoll, a read or write that waits, /proc/self/fd/N, SCM_RIGHTS,
an ioctl) with bytes already buffered. A pipe round trip makes no host read or write: counted
with strace (installed by scripts/setup).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import describe, pack_both_ways, run_program
from test_e2e_conformance import build, first_difference

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed"),
    pytest.mark.skipif(os.environ.get("LITEBOX_E2E_NO_REWRITE") == "1", reason="chooses rewriting itself"),
]


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The probe compiled (static) and packed both ways: {"native", "rewrite", "trap"}."""
    work = tmp_path_factory.mktemp("lpipes")
    prog = build("lpipes.c", work, static=True)
    return pack_both_ways(prog, work)


@pytest.mark.parametrize("variant", ["rewrite", "trap"])
def test_library_pipes_behave_as_native(probe: dict[str, Path], variant: str) -> None:
    native = run_program([probe["native"]])
    assert native.returncode == 0 and native.stdout.endswith(b"done\n"), describe(native)
    packed = run_program([probe[variant]])
    assert packed.stdout == native.stdout, first_difference(native.stdout, packed.stdout)
    assert packed.returncode == 0, describe(packed)


def host_io_calls(argv: list[str]) -> tuple[int, subprocess.CompletedProcess[str]]:
    """How many read and write syscalls the host saw while argv ran (strace -f -c), and the run."""
    r = subprocess.run(["strace", "-f", "-qq", "-c", "-e", "trace=read,write", *argv], capture_output=True,
                       text=True, timeout=120, check=False)
    counts = re.findall(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(?:read|write)$", r.stderr, re.M)
    return sum(int(c) for c in counts), r


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/setup installs it)")
def test_pipe_round_trip_stays_in_the_sandbox(probe: dict[str, Path]) -> None:
    trips = 2000
    native, nrun = host_io_calls([str(probe["native"]), "loop", str(trips)])
    # The counter works: natively every write and read is a host call.
    assert nrun.returncode == 0 and native >= 2 * trips, describe(nrun)
    calls, run = host_io_calls([str(probe["rewrite"]), "loop", str(trips)])
    assert run.returncode == 0 and f"round trips: {trips}" in run.stdout, describe(run)
    assert calls < 100, f"{calls} host reads and writes for {trips} pipe round trips:\n{run.stderr}"
