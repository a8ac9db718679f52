"""Conformance probes (tests/e2e/programs/*.c): each is compiled, run natively and packed, and
the two runs must print the same bytes and exit the same way.

The probes print results and errno values of the syscalls the library OS serves, so a
difference names the first syscall whose behaviour differs from Linux.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import describe, pack, run_program

PROGRAMS = Path(__file__).resolve().parent / "programs"


def build(src: str, work: Path, static: bool, libs: tuple[str, ...] = ()) -> Path:
    """Compiles tests/e2e/programs/SRC into WORK, dynamic or static, linked with LIBS (`-lgc`)."""
    out = work / (Path(src).stem + ("-static" if static else ""))
    cmd = ["cc", "-O1", "-Wall", "-pthread", "-o", str(out), str(PROGRAMS / src), *libs]
    if static:
        cmd.insert(1, "-static")
    subprocess.run(cmd, check=True)
    return out


def first_difference(a: bytes, b: bytes) -> str:
    """The first differing line of two outputs, for a readable failure."""
    for i, (x, y) in enumerate(zip(a.splitlines(), b.splitlines(), strict=False)):
        if x != y:
            return f"line {i + 1}: native {x!r} packed {y!r}"
    return f"lengths differ: native {len(a)} bytes, packed {len(b)} bytes"


@pytest.mark.parametrize("static", [False, True], ids=["dynamic", "static"])
@pytest.mark.parametrize(
    ("src", "args"),
    [
        ("syscalls.c", ["/tmp/litebox-conformance-probe"]),
        ("threads.c", []),
        ("events.c", []),
        ("signals.c", []),
        ("signals.c", ["term"]),
        ("signals.c", ["abort"]),
        ("procfs.c", ["an arg", "x"]),
        ("sigaltstack.c", []),
        ("pgroups.c", []),
        ("sharedmem.c", []),
        ("children.c", []),
        ("partbuf.c", []),
    ],
    ids=["syscalls", "threads", "events", "signals", "signals-term", "signals-abort", "procfs", "sigaltstack",
         "pgroups", "sharedmem", "children", "partbuf"],
)
def test_probe_matches_native(tmp_path: Path, src: str, args: list[str], static: bool) -> None:
    prog = build(src, tmp_path, static)
    # The native run works in the host's /tmp: a name of this test's own, so parallel workers
    # (pytest -n) never share it. The probe prints no path, so both runs print the same.
    args = [f"{a}-{os.getpid()}-{tmp_path.name}" if a.startswith("/tmp/") else a for a in args]
    for a in args:
        if a.startswith("/tmp/"):
            shutil.rmtree(a, ignore_errors=True)
    native = run_program([prog, *args])
    for a in args:
        if a.startswith("/tmp/"):
            shutil.rmtree(a, ignore_errors=True)
    art = pack(prog, tmp_path / "dist")
    packed = run_program([art.path, *args])
    assert native.stdout, f"the native probe printed nothing: {describe(native)}"
    assert packed.stdout == native.stdout, first_difference(native.stdout, packed.stdout)
    assert packed.returncode == native.returncode, describe(packed)
