"""What a fork + exit + wait costs the packed parent in page faults (issue 17, spawn).

After a host fork every private page is copy-on-write in both processes, so each page the
parent writes afterwards costs it a fault (a page allocation, a copy and a TLB flush). A native
parent of the unixbench spawn loop writes one: its stack. A packed parent also writes the top
page of its runtime stack (the fork path's own frames), which cannot be avoided; its children
list, which used to be a third page (the library OS's heap), lives in that same page while the
process has one thread (core/libos children.rs `ChildList`, runtime threads.rs `CHILDREN_AT`).
Counted from outside, in the host's /proc/PID/stat of the packed app process.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import BASE_ENV, RUN_TIMEOUT, pack
from test_e2e_conformance import build
from test_e2e_resident import descendants

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")

FORKS = 200


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/e2e/programs/forkloop.c, static, packed."""
    work = tmp_path_factory.mktemp("fork-faults")
    return pack(build("forkloop.c", work, static=True), work / "dist").path


def minor_faults(pid: int) -> int:
    """pid's minor page faults so far (field 10 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[7])


def parent_faults_per_fork(art: Path) -> float:
    """Minor faults the packed app process took per fork + exit + wait of the loop."""
    proc = subprocess.Popen([str(art), str(FORKS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=BASE_ENV)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        app = descendants(proc.pid)[-1]
        before = minor_faults(app)
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"done\n"
        after = minor_faults(app)
    finally:
        proc.communicate(b"", timeout=RUN_TIMEOUT)
    assert proc.returncode == 0
    return (after - before) / FORKS


def test_a_forking_parent_faults_on_its_stack_and_its_runtime_stack_only(artifact: Path) -> None:
    # Two pages per fork (three while the children list was in the library OS's heap).
    assert parent_faults_per_fork(artifact) < 2.5
