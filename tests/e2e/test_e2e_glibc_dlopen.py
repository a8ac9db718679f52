"""What glibc loads by itself at run time, packed with the program (packager/analysis/closure.py
`add_glibc_dlopens`): libgcc_s.so.1, which pthread_exit and pthread_cancel dlopen to unwind the
thread. Without it the packed program aborted at its first pthread_exit (CPython's daemon
threads at interpreter shutdown did: "libgcc_s.so.1 must be installed for pthread_exit to
work"). tests/e2e/programs/pthreadexit.c, dynamic, packed in quick mode: the same output as
natively."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from litebox_e2e import describe, pack, run_program, session_scratch
from test_e2e_conformance import build

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")


def test_pthread_exit_and_cancel_work_packed() -> None:
    work = session_scratch("litebox-glibc-dlopen-")
    prog: Path = build("pthreadexit.c", work, static=False)
    native = run_program([prog])
    assert native.returncode == 0 and native.stdout == b"exit value 7, cancelled 1\n", describe(native)
    packed = run_program([pack(prog, work / "dist").path])
    assert (packed.returncode, packed.stdout) == (0, native.stdout), describe(packed)
