"""Packs Debian programs the tests do not use in quick mode (`litebox pack PROG`) and runs each
with the same arguments, input and environment as natively; prints a Markdown table: same stdout
and exit code, or what differs, and the pack-time warnings that name what may be missing.

    python3 bench/quick_programs.py [--out DIR]      (from the repository root)

Programs that read files get the documented grant: `--mount .:/work --cwd /work`, run from a
directory holding the files (tests nothing beyond quick mode; not part of CI)."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TIMEOUT = 120


@dataclass(frozen=True)
class Case:
    """One program run: argv (argv[0] found on PATH), stdin, files in the run directory."""

    argv: tuple[str, ...]
    stdin: bytes = b""
    files: dict[str, bytes] = field(default_factory=dict)
    mode: str = "ro"  # of the --mount .:/work grant when there are files


A = b"one\ntwo\nthree\n"
B = b"one\n2\nthree\nfour\n"
PATCH = b"--- a.txt\n+++ a.txt\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"
CASES = [
    Case(("tclsh",), b"puts [string toupper hello]; puts [expr {6*7}]; puts [lsort {c a b}]\n"),
    Case(("jq", "-c", "{b: (.a + 1), k: (keys)}"), b'{"a": 41, "z": true}\n'),
    Case(("sqlite3", ":memory:"), b"create table t(x); insert into t values (6),(7); select x*7 from t;\n"),
    # a recipe that runs tools through /bin/sh (not pwd: quick mode's working directory is /)
    Case(("make", "-f", "-", "all"), b"all: one\n\t@echo built $$((6*7)) $$(basename /a/b.c .c) | tr a-z A-Z\n"
                                      b"one:\n\t@printf '%s\\n' one | sed s/one/ONE/\n"),
    Case(("xxd",), b"hello, world\n"),
    Case(("diff", "-u", "a.txt", "b.txt"), files={"a.txt": A, "b.txt": B}),
    # patch writes a temporary file beside its output even with -o -: read-only, it stops with EROFS
    Case(("patch", "-o", "-", "a.txt", "d.patch"), files={"a.txt": A, "d.patch": PATCH}, mode="rw"),
    Case(("xz", "-c", "-6"), A * 100),
    Case(("zstd", "-c", "-q", "-19"), A * 100),
    Case(("bzip2", "-c"), A * 100),
    Case(("od", "-A", "x", "-t", "x1z"), b"\x00\x01hello\xff\n"),
    Case(("nl", "-ba"), A),
    Case(("md5sum",), A),
    Case(("column", "-t"), b"a bb ccc\ndddd e f\n"),
]


def run(argv: list[str], stdin: bytes, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Runs argv with the environment we have, capturing both streams."""
    return subprocess.run(argv, input=stdin, cwd=cwd, capture_output=True, timeout=TIMEOUT, check=False)


def pack(program: str, out: Path, mounts: str | None) -> tuple[Path | None, list[str], str]:
    """`litebox pack PROGRAM` in quick mode; returns the artifact (None on failure), its warnings
    and the error line."""
    argv = [sys.executable, "-m", "packager", "pack", program, "--out-dir", str(out), "-q"]
    if mounts is not None:
        argv += ["--mount", f".:/work:{mounts}", "--cwd", "/work"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800, check=False)
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    if proc.returncode != 0:
        return None, warnings, proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
    return out / f"{Path(program).name}-linux-userland", warnings, ""


def main() -> int:
    """Packs and runs every case; prints the table; exit 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="where artifacts go (default: a temporary dir)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="quick-programs-"))
    print("| program | arguments | native exit | packed exit | same stdout | pack-time warning |")
    print("| --- | --- | --- | --- | --- | --- |")
    for case in CASES:
        program = shutil.which(case.argv[0])
        if program is None:
            print(f"| {case.argv[0]} | | not installed | | | |")
            continue
        program = os.path.realpath(program)
        with tempfile.TemporaryDirectory() as work:
            cwd = Path(work)
            for name, data in case.files.items():
                (cwd / name).write_bytes(data)
            native = run([program, *case.argv[1:]], case.stdin, cwd)
            artifact, warnings, error = pack(program, out / case.argv[0], case.mode if case.files else None)
            if artifact is None:
                shown = " ".join(case.argv[1:])
                print(f"| {case.argv[0]} | `{shown}` | {native.returncode} | pack failed | | {error} |")
                continue
            packed = run([str(artifact), *case.argv[1:]], case.stdin, cwd)
        same = "yes" if packed.stdout == native.stdout else "NO"
        warn = "; ".join(w.replace("|", "/") for w in warnings)[:300] or "none"
        shown = " ".join(case.argv[1:]).replace("|", "/")
        print(f"| {case.argv[0]} | `{shown}` | {native.returncode} | {packed.returncode} | {same} | {warn} |")
        if same == "NO" or packed.returncode != native.returncode:
            sys.stderr.write(f"--- {case.argv[0]}: packed stderr:\n{packed.stderr.decode(errors='replace')[:800]}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
