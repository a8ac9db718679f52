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
import time
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
    work = tmp_path_factory.mktemp("hostcalls")
    prog = build("hostcalls.c", work, static=True)
    return pack_both_ways(prog, work)


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


def host_calls(argv: list[str], call: str) -> tuple[int, subprocess.CompletedProcess[str]]:
    """How many `call` syscalls the host saw while argv ran (strace -f -c), and the run."""
    r = subprocess.run(["strace", "-f", "-qq", "-c", "-e", f"trace={call}", *argv], capture_output=True, text=True,
                       timeout=120, check=False)
    m = re.search(rf"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?{call}$", r.stderr, re.M)
    return (int(m.group(1)) if m else 0), r


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/setup installs it)")
def test_fork_asks_the_host_for_the_pid_once_per_child(probe: dict[str, Path]) -> None:
    # A fork used to ask the host for the parent's pid (every fork), the child's (twice: for
    # the process table, then again at its exit): now the parent's is kept, and the child asks
    # once and keeps its answer.
    forks = 100
    calls, run = host_calls([str(probe["rewrite"]), "forks", str(forks)], "getpid")
    assert run.returncode == 0 and f"forked {forks}" in run.stdout, describe(run)
    assert forks <= calls <= forks + 10, f"{calls} host getpid calls for {forks} forks:\n{run.stderr}"


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/setup installs it)")
@pytest.mark.parametrize("variant", ["rewrite", "trap"])
def test_clocks_are_read_without_host_calls(probe: dict[str, Path], variant: str) -> None:
    # The runtime reads the clocks the host's vDSO serves through the vDSO (hidden from the
    # app), as a native program does: no host clock_gettime per app call. The values stay the
    # host's: every clock goes forward, and CLOCK_REALTIME agrees with this process's clock.
    rounds = 500
    before = time.time()
    calls, run = host_calls([str(probe[variant]), "clocks", str(rounds)], "clock_gettime")
    after = time.time()
    m = re.search(rb"^clocks (\d+) bad (\d+) realtime (\d+)$", run.stdout.encode(), re.M)
    assert run.returncode == 0 and m, describe(run)
    assert (int(m.group(1)), int(m.group(2))) == (rounds, 0), run.stdout
    assert int(before) - 1 <= int(m.group(3)) <= after + 1, (before, run.stdout, after)
    # No more host calls than the same probe makes natively: there the process CPU-time clock,
    # which is not the vDSO's, is one host call per round and the others none (500 of 4000
    # here). Counted against the native run, not against `rounds`: which clocks the vDSO
    # serves without a syscall is the machine's (its clocksource: with one the vDSO cannot
    # read, such as hpet, every clock is a host call natively too). (strace also counts each
    # trapped app call, which the kernel never runs: on the trap path every one of the
    # rounds * 8 app calls shows up once more.)
    native, nrun = host_calls([str(probe["native"]), "clocks", str(rounds)], "clock_gettime")
    assert nrun.returncode == 0 and native >= rounds, describe(nrun)
    trapped = rounds * 8 if variant == "trap" else 0
    assert calls <= trapped + native + 20, (f"{calls} host clock_gettime calls for {rounds * 8} app calls "
                                            f"({native} natively):\n{run.stderr}")


def descendants(pid: int) -> list[int]:
    """The host processes below `pid` (from /proc/*/stat)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(stat.parent.name)] = int(fields[1])
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        found += kids
        todo += kids
    return found


def test_host_descriptor_tables_stay_embedded(probe: dict[str, Path]) -> None:
    # The runtime keeps its own host descriptors below 64, so every process the sandbox forks
    # keeps the kernel's embedded 64-entry table: with descriptors at 1000 and up, each fork
    # copied (and each exit freed) a 1024-entry one. (The first process keeps the table size
    # its launcher had, whatever it closed before exec: only its descendants are looked at.)
    p = subprocess.Popen([str(probe["rewrite"]), "hold"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    try:
        assert p.stdout is not None and p.stdout.readline() == b"ready\n"
        procs = descendants(p.pid)
        sizes = {}
        for pid in procs:
            status = Path(f"/proc/{pid}/status").read_text()
            sizes[pid] = int(re.search(r"^FDSize:\s+(\d+)$", status, re.M).group(1))  # type: ignore[union-attr]
        assert procs, "the sandbox forked no process"
        assert all(s == 64 for s in sizes.values()), sizes
    finally:
        out, err = p.communicate(b"", timeout=60)
    assert p.returncode == 0 and out == b"done\n", (out, err)
