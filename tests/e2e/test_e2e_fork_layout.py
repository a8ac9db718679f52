"""Where linux-userland puts the memory a fork copies (issue 17, spawn).

A fork child gets a page-table page for every 2 MiB span in which its parent has written
pages, and allocating and freeing those pages is a large part of what a packed fork + exit
costs beyond a native one (bench/RESULTS-issue17-unixb.md). The runtime starts its heap
reservation 1 MiB into a 2 MiB span (platform_targets/linux_userland/runtime/src/sys.rs), with
the app's stack slot right below it, so the stack's top pages are in the same span as the
heap's first pages (one page-table page for both), and the stack and the heap are one host
mapping. And the host's initial stack, which the runtime started on
and no longer uses once the app runs, is left out of every fork (`MADV_DONTFORK`,
runtime hoststack.rs): a fork child gets neither the mapping nor page tables for it. And the
shared arena (the process table) sits in the runtime's own page-table span. All are checked
from outside, in the host's /proc/PID/maps and smaps of the app's processes.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Callable, TypeVar

import pytest
from litebox_e2e import BASE_ENV, RUN_TIMEOUT, describe, pack, run_program
from test_e2e_conformance import build
from test_e2e_resident import descendants

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")

SPAN = 2 << 20
STACK_SIZE = 8 << 20  # core/libos/src/loader.rs STACK_SIZE
STACK_GUARD = 1 << 20  # core/libos/src/loader.rs STACK_GUARD
HEAP_RESERVE = 64 << 30  # runtime sys.rs HEAP_RESERVE
GIB = 1 << 30
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


def stack_run(maps: list[tuple[int, int, str]]) -> tuple[int, list[tuple[int, int, str]]]:
    """(bottom, run) of the app's stack: the bottom is where its 1 MiB PROT_NONE guard ends, the
    run the mappings that follow from there without a gap (the stack, then the heap's
    committed part and reservation)."""
    for i, (lo, hi, perm) in enumerate(maps[:-1]):
        if perm == "---p" and hi - lo == STACK_GUARD and maps[i + 1][:1] == (hi,) and maps[i + 1][2] == "rw-p":
            run = [maps[i + 1]]
            for m in maps[i + 2 :]:
                if m[0] != run[-1][1]:
                    break
                run.append(m)
            return hi, run
    raise AssertionError(f"no guarded read-write stack among {[(hex(a), hex(b), p) for a, b, p in maps]}")


@pytest.mark.parametrize("args", [[], ["fork"]], ids=["app", "fork-child"])
def test_app_stack_and_heap_start_are_one_mapping_in_one_page_table_span(artifact: Path, args: list[str]) -> None:
    """The app's stack is the runtime's stack slot right below the heap (runtime sys.rs
    `HeapPages::reserve`): its top pages and the heap's first share a page-table span, and the
    two are one host mapping in the app's process and in its fork child (a mapping made after
    the fork that made the app's process would be one more for every fork and exit)."""
    bottom, run = stack_run(while_waiting(artifact, args, anon_mappings))
    stack_top = bottom + STACK_SIZE
    assert run[0][1] > stack_top, f"the stack {bottom:#x}-{run[0][1]:#x} is a mapping of its own"
    # The heap's reservation (committed part, then PROT_NONE) ends at most HEAP_RESERVE above
    # the stack, on a 1 GiB boundary (the next test).
    assert HEAP_RESERVE - GIB < run[-1][1] - stack_top <= HEAP_RESERVE
    assert stack_top % SPAN == 1 << 20, f"heap starts at {stack_top:#x}, not 1 MiB into a 2 MiB span"


@pytest.mark.parametrize("args", [[], ["fork"]], ids=["app", "fork-child"])
def test_the_heaps_reservation_ends_on_a_1_gib_boundary(artifact: Path, args: list[str]) -> None:
    """The heap's `PROT_NONE` tail ends on a 1 GiB boundary (runtime sys.rs `region_end`), so it
    covers no 2 MiB entry of the 1 GiB region above, where the runtime's image and the vDSO
    are: an exiting process (every fork child, at every spawn) steps over each entry of a
    present page-middle table that a mapping covers, and that region's table is always present
    (bench/RESULTS-issue17-spawn11.md). Its start, and so its randomness, is as before."""
    maps = while_waiting(artifact, args, anon_mappings)
    _, run = stack_run(maps)
    end = run[-1][1]
    assert run[-1][2] == "---p", f"the run of stack and heap ends with {run[-1]}"
    assert end % GIB == 0, f"the heap's reservation ends at {end:#x}, not on a 1 GiB boundary"


def test_a_fork_child_is_not_given_the_hosts_initial_stack(artifact: Path) -> None:
    # The app's process itself keeps the pages it started on ...
    parent = while_waiting(artifact, [], lambda pid: rss_kib(pid, "[stack]"))
    assert parent is not None and parent > 0
    # ... and its fork child does not have the mapping at all (before, fork copied its page
    # entries; then, with MADV_WIPEONFORK, the child had it empty: one mapping more per fork).
    assert while_waiting(artifact, ["fork"], lambda pid: rss_kib(pid, "[stack]")) is None


def test_read_only_segments_are_mapped_whole_from_the_artifact(artifact: Path) -> None:
    # A read-only PT_LOAD's partial last page (and the packer's trampoline segment, padded to a
    # page in the file) is mapped from the artifact like the segment's other pages, as Linux
    # maps it: no anonymous copy, so one host mapping per segment instead of two, and no
    # anonymous page for a fork to copy (core/libos loader.rs `tail_page`).
    maps = while_waiting(artifact, [], anon_mappings)
    copies = [(hex(lo), hex(hi), perm) for lo, hi, perm in maps if perm in ("r--p", "r-xp")]
    assert not copies, f"anonymous copies of read-only segment pages: {copies}"


SHARED_ARENA = 32 * 4096  # runtime sys.rs SHARED_ARENA


def named_mappings(pid: int) -> list[tuple[int, int, str, str, str]]:
    """pid's mappings as (start, end, permissions, name, file offset in hex), name "" for
    anonymous ones."""
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split(maxsplit=5)
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            out.append((lo, hi, fields[1], fields[5].strip() if len(fields) > 5 else "", fields[2]))
    return out


def _offset(hex_offset: str) -> int:
    return int(hex_offset, 16)


@pytest.mark.parametrize("args", [[], ["fork"]], ids=["app", "fork-child"])
def test_the_shared_arena_is_in_the_runtimes_page_table_span(artifact: Path, args: list[str]) -> None:
    """The shared arena (process table, process count: `MAP_SHARED`, runtime sys.rs
    `map_shared`) goes right after the runtime's writable segment when it ends in the same
    2 MiB span: a fork child, which touches both at every fork and exit, then needs one
    page-table page for them instead of two. Otherwise the kernel places it."""
    maps = while_waiting(artifact, args, named_mappings)
    # The runtime's writable segment: the artifact's highest read-write private mapping (the
    # app's own segments are far below, at its link address).
    runtime_rw = max((m for m in maps if m[2] == "rw-p" and m[3] == str(artifact)), key=lambda m: m[0])
    arenas = [m for m in maps if m[2] == "rw-s" and m[3].startswith("/dev/zero")]
    assert len(arenas) == 1, f"expected one shared mapping, got {arenas}"
    arena, end = arenas[0], runtime_rw[1]
    assert arena[1] - arena[0] == SHARED_ARENA
    if (end - 1) // SPAN == (end + SHARED_ARENA - 1) // SPAN:
        assert arena[0] == end, f"shared arena at {arena[0]:#x}, not right after the runtime's data at {end:#x}"


@pytest.mark.parametrize("args", [[], ["fork"]], ids=["app", "fork-child"])
def test_the_runtimes_own_image_range_is_mapped_without_a_gap(artifact: Path, args: list[str]) -> None:
    """Every page from the runtime's first loaded page to its writable segment's end is in some
    mapping: where the linker left a page between two of its segments (runtime imageholes.rs),
    start-up fills it with an inaccessible mapping, so no host `mmap` is handed a page inside
    the range the runtime guards (an app's mmap failed with ENOMEM in such a build)."""
    maps = while_waiting(artifact, args, named_mappings)
    # The runtime's segments: the artifact's mappings from the highest read-only one at file
    # offset 0 (its ELF header) up to the highest read-write one (its data); the app's own
    # segments are at its link address far below, the image tables are read-only at offsets
    # past the runtime's.
    mine = [m for m in maps if m[3] == str(artifact)]
    lo = max(m[0] for m in mine if m[2] == "r--p" and _offset(m[4]) == 0)
    hi = max(m[1] for m in mine if m[2] == "rw-p")
    covered = sorted((max(a, lo), min(b, hi)) for a, b, *_ in maps if a < hi and b > lo)
    at = lo
    for a, b in covered:
        assert a <= at, f"no mapping in the runtime's range at {at:#x}-{a:#x}"
        at = max(at, b)
    assert at == hi


def test_fork_children_place_memory_as_natively(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A fork child and a grandchild each make 48 mappings of 64 MiB without an address, an
    mremap that may move, and 96 full pipes (tests/e2e/programs/forkgrow.c), in both orders:
    the same output as natively. A guard for the runtime's
    reservations in fork children: leaving the heap's uncommitted tail out of them (a hole
    there) was tried for spawn's exit cost and dropped (bench/RESULTS-issue17-spawn13.md);
    that try without its "map the tail again before the host places a mapping" step fails here
    (a few mappings in, one got ENOMEM: the host had placed it in the heap's range)."""
    work = tmp_path_factory.mktemp("forkgrow")
    prog = build("forkgrow.c", work, static=True)
    native = run_program([prog])
    assert native.returncode == 0 and native.stdout.endswith(b"parent: pipes ok\n"), describe(native)
    packed = run_program([pack(prog, work / "dist").path])
    assert (packed.returncode, packed.stdout) == (0, native.stdout), describe(packed)
