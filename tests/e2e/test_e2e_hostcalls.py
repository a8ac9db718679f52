"""The per-call fast paths of host-reaching calls on linux-userland (issue 17, hostcalls).

tests/e2e/programs/hostcalls.c runs natively and packed (syscall sites rewritten, and
`--no-rewrite`) and must print the same: the app's flags (CF PF AF ZF SF OF DF) survive a
rewritten syscall as they survive the kernel's, futex wakes answer as Linux does, and a futex
ping-pong between two threads loses no wake. The runtime answers a private futex wake while no
app thread waits without asking the host: counted with strace (installed by scripts/setup).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import describe, pack, run_program
from test_e2e_conformance import build, first_difference

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed"),
    pytest.mark.skipif(os.environ.get("LITEBOX_E2E_NO_REWRITE") == "1", reason="chooses rewriting itself"),
]


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The probe compiled (static) and packed both ways: {"native", "rewrite", "trap"}."""
    work = tmp_path_factory.mktemp("hostcalls")
    prog = build("hostcalls.c", work, static=True)
    return {
        "native": prog,
        "rewrite": pack(prog, work / "rewrite").path,
        "trap": pack(prog, work / "trap", "--no-rewrite").path,
    }


@pytest.mark.parametrize("variant", ["rewrite", "trap"])
def test_hostcalls_probe_matches_native(probe: dict[str, Path], variant: str) -> None:
    native = run_program([probe["native"]])
    assert native.returncode == 0 and b"ping-pong: 20000 rounds" in native.stdout, describe(native)
    packed = run_program([probe[variant]])
    assert packed.stdout == native.stdout, first_difference(native.stdout, packed.stdout)
    assert packed.returncode == 0, describe(packed)


def host_futex_calls(argv: list[str]) -> tuple[int, subprocess.CompletedProcess[str]]:
    """How many futex syscalls the host saw while argv ran (strace -f -c), and the run."""
    r = subprocess.run(["strace", "-f", "-qq", "-c", "-e", "trace=futex", *argv], capture_output=True, text=True,
                       timeout=120, check=False)
    m = re.search(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?futex$", r.stderr, re.M)
    return (int(m.group(1)) if m else 0), r


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/setup installs it)")
def test_idle_private_futex_wake_stays_in_the_sandbox(probe: dict[str, Path]) -> None:
    native, nrun = host_futex_calls([str(probe["native"]), "wakes", "1000"])
    # The counter works: natively every wake is a host call.
    assert nrun.returncode == 0 and native >= 1000, describe(nrun)
    calls, run = host_futex_calls([str(probe["rewrite"]), "wakes", "1000"])
    assert run.returncode == 0 and "woken 0" in run.stdout, describe(run)
    assert calls < 100, f"{calls} host futex calls for 1000 wakes with no waiter:\n{run.stderr}"
