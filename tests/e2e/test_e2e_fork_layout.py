"""Where linux-userland puts the memory a fork copies (issue 17, spawn).

A fork child gets a page-table page for every 2 MiB span in which its parent has written
pages, and allocating and freeing those pages is a large part of what a packed fork + exit
costs beyond a native one (bench/RESULTS-issue17-unixb.md). The runtime starts its heap
reservation 1 MiB into a 2 MiB span (platform_targets/linux_userland/runtime/src/sys.rs), so
the app's stack, mapped right below it, has its top pages in the same span as the heap's first
pages: one page-table page for both. And the host's initial stack, which the runtime started on
and no longer uses once the app runs, is left out of every fork (`MADV_WIPEONFORK`,
runtime hoststack.rs): a fork child gets no page tables for it. Both are checked from outside,
in the host's /proc/PID/maps and smaps of the app's processes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Callable, TypeVar

import pytest
from litebox_e2e import BASE_ENV, RUN_TIMEOUT, pack
from test_e2e_conformance import build
from test_e2e_resident import descendants

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")

SPAN = 2 << 20
STACK_SIZE = 8 << 20  # core/libos/src/loader.rs STACK_SIZE
HEAP_RESERVE = 64 << 30  # runtime sys.rs HEAP_RESERVE
T = TypeVar("T")


def anon_mappings(pid: int) -> list[tuple[int, int, str]]:
    """pid's anonymous mappings (no file, no [name]) as (start, end, permissions)."""
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) == 5:
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                out.append((lo, hi, fields[1]))
    return out


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/e2e/programs/stackheap.c, static, packed."""
    work = tmp_path_factory.mktemp("fork-layout")
    return pack(build("stackheap.c", work, static=True), work / "dist").path


def while_waiting(art: Path, args: list[str], look: Callable[[int], T]) -> T:
    """Runs the probe and applies `look` to the pid of its last process (the app's process, or
    with "fork" its child) while that one waits on stdin; checks the run then ends with 0."""
    proc = subprocess.Popen([str(art), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=BASE_ENV)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        seen = look(descendants(proc.pid)[-1])
    finally:
        proc.communicate(b"", timeout=RUN_TIMEOUT)
    assert proc.returncode == 0
    return seen


def rss_kib(pid: int, name: str) -> int | None:
    """Rss (KiB) of pid's mapping named `name` (e.g. "[stack]"), or None when it has none."""
    found, rss = False, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and ":" in fields[3]:
                found = len(fields) >= 6 and fields[5] == name
            elif found and fields[0] == "Rss:":
                rss = int(fields[1])
    return rss


def test_app_stack_top_and_heap_start_share_a_page_table_span(artifact: Path) -> None:
    maps = while_waiting(artifact, [], anon_mappings)
    stacks = [(lo, hi) for lo, hi, perm in maps if perm == "rw-p" and hi - lo == STACK_SIZE]
    assert stacks, f"no 8 MiB read-write stack among {[(hex(a), hex(b), p) for a, b, p in maps]}"
    stack_top = stacks[0][1]
    # The heap's reservation (committed part, then PROT_NONE) begins where the stack ends.
    heap = [(lo, hi) for lo, hi, _ in maps if lo >= stack_top]
    assert heap and heap[0][0] == stack_top, "the heap's reservation does not follow the app's stack"
    reserved = 0
    for (lo, hi), nxt in zip(heap, [*heap[1:], (0, 0)], strict=True):
        reserved += hi - lo
        if nxt[0] != hi:
            break
    assert reserved == HEAP_RESERVE
    assert stack_top % SPAN == 1 << 20, f"heap starts at {stack_top:#x}, not 1 MiB into a 2 MiB span"


def test_a_fork_child_is_not_given_the_hosts_initial_stack(artifact: Path) -> None:
    # The app's process itself keeps the pages it started on ...
    parent = while_waiting(artifact, [], lambda pid: rss_kib(pid, "[stack]"))
    assert parent is not None and parent > 0
    # ... and its fork child has none of them mapped (before, fork copied their entries).
    assert while_waiting(artifact, ["fork"], lambda pid: rss_kib(pid, "[stack]")) == 0


def test_read_only_segments_are_mapped_whole_from_the_artifact(artifact: Path) -> None:
    # A read-only PT_LOAD's partial last page (and the packer's trampoline segment, padded to a
    # page in the file) is mapped from the artifact like the segment's other pages, as Linux
    # maps it: no anonymous copy, so one host mapping per segment instead of two, and no
    # anonymous page for a fork to copy (core/libos loader.rs `tail_page`).
    maps = while_waiting(artifact, [], anon_mappings)
    copies = [(hex(lo), hex(hi), perm) for lo, hi, perm in maps if perm in ("r--p", "r-xp")]
    assert not copies, f"anonymous copies of read-only segment pages: {copies}"
