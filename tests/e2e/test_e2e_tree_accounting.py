"""What a tool that measures an artifact's whole process tree sees (issue 17, onestart and
bench/ peakrss): the app's resource use reaches whoever reaps the artifact's processes.

bench/src/peakrss.c is a child subreaper: it waits for the artifact and for every descendant
the artifact leaves behind (the sandbox's init, which the supervisor does not wait for) and
reports the largest `ru_maxrss` of what it reaped. The app's first process is init's child,
so its peak reaches that tool only through init's own `ru_maxrss` (the largest of init and
the children init reaped): init must reap it before the supervisor ends (and with it init, by
its parent-death signal). A version in which the app's first process reported its own exit, and
the supervisor ended before init had reaped it, lost it (docs/security.md, layer 4). A static
program that touches 48 MiB must show at least that much, every run.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import pack
from test_e2e_conformance import build

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")

REPO = Path(__file__).resolve().parents[2]
TOUCHED_MIB = 48
RUNS = 5


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(peakrss, the packed touchmem)."""
    work = tmp_path_factory.mktemp("tree-accounting")
    peakrss = work / "peakrss"
    subprocess.run(["cc", "-O2", "-static", "-o", str(peakrss), str(REPO / "bench" / "src" / "peakrss.c")],
                   check=True)
    prog = build("touchmem.c", work, static=True)
    art = pack(prog, work / "out")
    return peakrss, art.path


def test_a_subreaper_sees_the_apps_peak_resident_memory(measured: tuple[Path, Path]) -> None:
    peakrss, artifact = measured
    for _ in range(RUNS):
        proc = subprocess.run([str(peakrss), str(artifact), str(TOUCHED_MIB)], capture_output=True,
                              timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == f"touched {TOUCHED_MIB} MiB\n".encode()
        last = proc.stderr.decode().strip().splitlines()[-1]
        assert last.startswith("peakrss: maxrss_kib="), proc.stderr
        kib = int(last.split("=")[1].split()[0])
        assert kib >= TOUCHED_MIB << 10, f"the tree's peak was {kib} KiB, the app touched {TOUCHED_MIB} MiB"
