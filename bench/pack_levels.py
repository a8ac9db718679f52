#!/usr/bin/env python3
"""Benchmark (not a test): how the zstd level trades pack time against artifact size and
start-up, for Debian's python3 with its standard library (as bench/run.py packs it).

    python3 bench/pack_levels.py [--levels 1,3,6,9,12,19] [--runs 5] [--target linux-userland]

For each level: a cold pack (fresh output and state directory; cargo's target directory warm),
its wall clock and CPU time (user+sys of the pack and its children), the artifact's size, and
the median wall clock of `python3 -c pass` packed, over --runs start-ups. Levels are measured in
turn, then the whole sweep once more in reverse order (interleaved), and the best of the two
passes is shown per level. Prints a markdown table.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROJECT = ('[app]\nname = "python3"\nentry = "/usr/bin/python3"\nenv = { LANG = "C.UTF-8" }\n\n'
           '[files]\n"/usr/lib/python3.11" = "/usr/lib/python3.11"\n\n[build]\nsource_date_epoch = 0\n')


def children_cpu() -> float:
    """User+sys seconds of every waited-for child so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cold_pack(project: Path, work: Path, level: int, target: str) -> tuple[float, float, Path]:
    """Packs with a fresh output and state directory; returns (wall s, CPU s, artifact)."""
    if work.exists():
        shutil.rmtree(work)
    out = work / "dist"
    cpu0, t0 = children_cpu(), time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "packager", "pack", str(project), "--out-dir", str(out), "--target",
                        target, "--compression-level", str(level), "-q"], cwd=REPO, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, check=False)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if r.returncode != 0:
        sys.exit(f"pack at level {level} failed: {r.stderr.strip()}")
    return wall, cpu, out / f"python3-{target}"


def startup(artifact: Path, runs: int) -> float:
    """Median ms of `ARTIFACT -c pass`."""
    times = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        subprocess.run([str(artifact), "-c", "pass"], stdin=subprocess.DEVNULL, capture_output=True, timeout=60,
                       check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times[1:])


def main() -> int:
    """Runs the sweep and prints the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="1,3,6,9,12,19")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--target", default="linux-userland")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    best: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="pack-levels-") as tmp:
        project = Path(tmp) / "python3"
        project.mkdir()
        (project / "litebox.toml").write_text(PROJECT, encoding="utf-8")
        for order in (levels, list(reversed(levels))):
            for level in order:
                wall, cpu, art = cold_pack(project, Path(tmp) / f"l{level}", level, args.target)
                start = startup(art, args.runs) if args.target == "linux-userland" else float("nan")
                row = {"wall": wall, "cpu": cpu, "size": art.stat().st_size, "start": start}
                prev = best.get(level)
                best[level] = row if prev is None else {k: min(prev[k], row[k]) for k in row}
                print(f"level {level}: {row}", file=sys.stderr, flush=True)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| level | cold pack wall (s) | cold pack CPU (s) | artifact (MB) | `python3 -c pass` (ms) |")
    print("|---|---|---|---|---|")
    for level in levels:
        b = best[level]
        print(f"| {level} | {b['wall']:.1f} | {b['cpu']:.1f} | {b['size'] / 1e6:.1f} | {b['start']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
