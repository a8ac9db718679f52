#!/usr/bin/env python3
"""The syscall conformance suite (tests/conformance) natively and packed on every ready target:
the share of natively passing cases that pass packed, and each packed failure with its reason.

    python3 bench/syscall_suite.py [--out FILE] [--static] [--targets NAME ...]

Builds the suite with cc, runs it natively in a fresh /tmp directory, packs it with
`python3 -m packager pack` from this checkout for each target and runs it there (kvm under QEMU
with TCG). Prints the table and, with --out, writes it as Markdown (bench/RESULTS-syscall-suite.md).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
import litebox_e2e  # noqa: E402  (tests/e2e is not a package)
import syscall_suite  # noqa: E402


def run_native(suite: Path) -> dict[str, syscall_suite.Outcome]:
    """The suite's results natively."""
    base = Path(f"/tmp/litebox-suite-bench-{os.getpid()}")
    shutil.rmtree(base, ignore_errors=True)
    try:
        out = litebox_e2e.run_program([suite, base])
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return syscall_suite.parse(out.stdout)


def run_packed(target: object, suite: Path, work: Path) -> dict[str, syscall_suite.Outcome]:
    """The suite packed for ``target`` and run there."""
    art = litebox_e2e.pack_for(target, suite, work / f"dist-{target.name}")  # type: ignore[attr-defined]
    out = litebox_e2e.run_on(target, art, ["/tmp/litebox-suite"], vm_timeout=300)
    return syscall_suite.parse(out.stdout)


def report(rows: list[tuple[str, syscall_suite.Comparison]], packed: dict[str, dict[str, syscall_suite.Outcome]],
           native_total: int, commit: str) -> str:
    """The Markdown report."""
    lines = ["# Syscall conformance suite, packed against native", "",
             f"Command: `python3 bench/syscall_suite.py` on {commit}. {native_total} cases pass natively "
             "(tests/conformance, one C file per call family; root on the host).", "",
             "| target | pass packed / pass natively | rate |", "|---|---:|---:|"]
    for name, cmp in rows:
        lines.append(f"| {name} | {len(cmp.packed_passing)} / {len(cmp.native_passing)} | {100 * cmp.rate:.1f}% |")
    for name, cmp in rows:
        failing = [c for c in cmp.native_passing if c not in cmp.packed_passing]
        lines += ["", f"## {name}: natively passing cases that fail packed", ""]
        gaps = syscall_suite.gaps_for(name)
        for c in failing:
            got = packed[name].get(c)
            why = gaps.get(c) or (got.detail if got else "not reported")
            lines.append(f"- `{c}`: {why}")
        if not failing:
            lines.append("- none")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the report as Markdown here")
    ap.add_argument("--static", action="store_true", help="build the suite statically linked")
    ap.add_argument("--targets", nargs="*", help="targets to run (default: every ready one)")
    args = ap.parse_args()
    targets = litebox_e2e.discover_targets()
    names = args.targets or list(targets)
    with tempfile.TemporaryDirectory(prefix="litebox-suite-") as tmp:
        work = Path(tmp)
        suite = syscall_suite.build(work / "suite", static=args.static)
        native = run_native(suite)
        rows: list[tuple[str, syscall_suite.Comparison]] = []
        packed: dict[str, dict[str, syscall_suite.Outcome]] = {}
        for name in names:
            target = targets[name]
            reason = litebox_e2e.unready_reason(target)
            if reason:
                print(f"skipped: {reason}", file=sys.stderr)
                continue
            packed[name] = run_packed(target, suite, work)
            cmp = syscall_suite.compare(native, packed[name], name)
            rows.append((name, cmp))
            print(cmp.summary(name))
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "?"
    text = report(rows, packed, sum(o.passed for o in native.values()), commit)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
