"""What a fork + exit + wait costs the packed parent in page faults (issue 17, spawn).

After a host fork every private page is copy-on-write in both processes, so each page the
parent writes afterwards costs it a fault (a page allocation, a copy and a TLB flush). A native
parent of the unixbench spawn loop writes one: its stack. A packed parent also writes the top
page of its runtime stack (the fork path's own frames), which cannot be avoided; its children
list, which used to be a third page (the library OS's heap), lives in that same page while the
process has one thread (core/libos children.rs `ChildList`, runtime threads.rs `CHILDREN_AT`).

A fork child gets no page-table entries for the runtime's code (file-backed, so fork leaves it
to be faulted in again, 64 KiB around each fault). The functions a child runs on its way back
from fork, and on to its `set_robust_list` (glibc's fork) and `exit_group`, sit in the plain
`.text` input section, next to the syscall entry and exit: the entry's dispatch, the shim's and
the process calls', and the fast path's `nr`/`args`. The shim sends the process calls to the
process family directly (`shim::Direct::Process`), so the child runs none of the families
before it (`mem::dispatch` was a window of its own). So the child faults in one window of
runtime code and one of read-only data (5 before issue 17 spawn, 3 after spawn, 2 since
spawn2). The read-only data it reads on that way (the jump tables of the entry's, the shim's
and the process calls' dispatch, and the shim's routing table) sits in that same window of code
since spawn3 (bench/runtime_order.py `FORK_TABLES`), so the child faults in one window in all.

Counted from outside, in the host's /proc/PID/stat of the packed app process (its own minor
faults, and its reaped children's).

Two things outside the runtime move the count by one, and the test takes both out:
- where the app's stack pointer sits in its page (the artifact's path and the environment are
  above the stack): forkloop.c runs its loop at a fixed offset in a page;
- where the runtime's code lands: the kernel's 64 KiB window stops at a page table's end (a
  2 MiB boundary), so when one falls inside the first 64 KiB of the runtime's text (the random
  base puts it there in about 1 run in 30) that window is two faults. The test reads the
  mapping and allows the second.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import BASE_ENV, RUN_TIMEOUT, pack, runtime_text_offset
from test_e2e_conformance import build
from test_e2e_resident import descendants

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")

FORKS = 200
FAULT_AROUND = 64 << 10
PAGE_TABLE_SPAN = 2 << 20


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/e2e/programs/forkloop.c, static, packed."""
    work = tmp_path_factory.mktemp("fork-faults")
    return pack(build("forkloop.c", work, static=True), work / "dist").path


def minor_faults(pid: int) -> tuple[int, int]:
    """pid's minor page faults so far, and those of its reaped children (fields 10 and 11 of
    /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[7]), int(fields[8])


def runtime_text_start(pid: int, artifact: Path) -> int:
    """Where pid maps the runtime's code: the artifact's executable PT_LOAD (the artifact is
    the runtime's ELF file), found in /proc/PID/maps by its file offset."""
    page_offset = runtime_text_offset(artifact)
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            if fields[1] == "r-xp" and int(fields[2], 16) == page_offset and line.rstrip().endswith(str(artifact)):
                return int(fields[0].split("-")[0], 16)
    raise AssertionError(f"the app's process {pid} maps no runtime code at offset {page_offset:#x}")


def windows_at_text_start(start: int) -> int:
    """How many faults the kernel needs to map the first 64 KiB of code at start: one, or two
    when a page table's end (a 2 MiB boundary) falls inside them."""
    return 1 if start // PAGE_TABLE_SPAN == (start + FAULT_AROUND - 1) // PAGE_TABLE_SPAN else 2


@pytest.fixture(scope="module")
def faults_per_fork(artifact: Path) -> tuple[float, float, int]:
    """Minor faults per fork + exit + wait of the loop: the packed app process's own, and each
    child's; and how many faults the first 64 KiB of the runtime's code take in this run's
    layout (windows_at_text_start)."""
    proc = subprocess.Popen([str(artifact), str(FORKS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=BASE_ENV)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        app = descendants(proc.pid)[-1]
        windows = windows_at_text_start(runtime_text_start(app, artifact))
        before = minor_faults(app)
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == b"done\n"
        after = minor_faults(app)
    finally:
        proc.communicate(b"", timeout=RUN_TIMEOUT)
    assert proc.returncode == 0
    return (after[0] - before[0]) / FORKS, (after[1] - before[1]) / FORKS, windows


def test_a_forking_parent_faults_on_its_stack_and_its_runtime_stack_only(
        faults_per_fork: tuple[float, float, int]) -> None:
    # Two pages per fork (three while the children list was in the library OS's heap).
    assert faults_per_fork[0] < 2.5


def test_a_fork_child_faults_in_one_window_of_runtime_code_and_data(
        faults_per_fork: tuple[float, float, int]) -> None:
    # 10 per child: the app's 7 (as natively), its runtime stack page, the shared region (the
    # effect gate's word, read on every host call) and 1 window of the runtime's code, which
    # holds the jump tables and the routing table the child reads too (11 while those were in
    # the runtime's read-only data mapping; 12 while the exit path went through
    # `mem::dispatch`, in a window of its own; 14 with the fork path's functions spread over 4
    # windows of code). One more when a page table's end splits that window (the docstring).
    assert faults_per_fork[1] < 10 + faults_per_fork[2], faults_per_fork
