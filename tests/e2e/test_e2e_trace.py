"""LITEBOX_TRACE (docs/targets/linux-userland.md, "Trace and learn"): one line per app syscall,
also for an execve that replaced the program. After such an execve the old program's memory,
where its pointer arguments pointed, is gone: the line shows them as numbers (before, decoding
the path there crashed every traced execve with SIGSEGV). tests/e2e/programs/execself.c."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from litebox_e2e import describe, pack, run_program
from test_e2e_conformance import build

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")


def test_a_traced_execve_runs_the_new_program(tmp_path: Path) -> None:
    prog: Path = build("execself.c", tmp_path, static=False)
    art = pack(prog, tmp_path / "dist")
    plain = run_program([art.path])
    assert (plain.returncode, plain.stdout) == (7, b"running again\n"), describe(plain)
    traced = run_program([art.path], env={"LITEBOX_TRACE": "1"})
    assert (traced.returncode, traced.stdout) == (7, b"running again\n"), describe(traced)
    line = rb"\] execve\(0x[0-9a-f]+, 0x[0-9a-f]+, 0x[0-9a-f]+, [^)]*\) = 0\n"
    assert re.search(line, traced.stderr), describe(traced)
