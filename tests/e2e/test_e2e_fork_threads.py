"""fork() by a process with more than one thread, on linux-userland (docs/targets/linux-userland.md,
"Fork of a process with threads"; runtime forkfence.rs).

A fork copies the runtime's memory as it is at that instant; a lock another thread held then
stayed held in the child, which spun forever at its first call that took it. The probe
(tests/e2e/programs/forkthreads.c) forks hundreds of times beside threads that churn through
descriptors, memory maps and the heap, beside a second forking thread, beside threads that
start and end, and beside threads blocked in a read, a poll and a condition wait (which must
be neither woken early nor see EINTR). Each child makes the same calls and starts a thread of
its own. Packed (sites rewritten, and `--no-rewrite`), dynamic and static, the output must be
the native output, byte for byte. Before the fence, the packed probe hung in its first case.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from litebox_e2e import describe, pack_both_ways, run_program, session_scratch
from test_e2e_conformance import build, first_difference

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed"),
    pytest.mark.skipif(os.environ.get("LITEBOX_E2E_NO_REWRITE") == "1", reason="chooses rewriting itself"),
]

ROUNDS = "200"


@pytest.fixture(scope="module")
def probe() -> dict[str, Path]:
    """The probe built dynamic and static, each packed both ways: {"dynamic-native", ...}."""
    work = session_scratch("litebox-forkthreads-")
    out: dict[str, Path] = {}
    for static in (False, True):
        kind = "static" if static else "dynamic"
        out.update(pack_both_ways(build("forkthreads.c", work, static=static), work, f"{kind}-"))
    return out


@pytest.mark.parametrize("kind", ["dynamic", "static"])
@pytest.mark.parametrize("variant", ["rewrite", "trap"])
def test_forks_beside_other_threads_behave_as_native(probe: dict[str, Path], kind: str, variant: str) -> None:
    native = run_program([probe[f"{kind}-native"], ROUNDS])
    assert native.returncode == 0 and native.stdout.endswith(b"done\n"), describe(native)
    assert b"200 of 200 children ran" in native.stdout, describe(native)
    packed = run_program([probe[f"{kind}-{variant}"], ROUNDS])
    assert packed.stdout == native.stdout, first_difference(native.stdout, packed.stdout)
    assert packed.returncode == 0, describe(packed)
