#!/usr/bin/env python3
"""Benchmark (not a test): cold and warm pack time of Debian's python3 with its standard
library (as bench/run.py packs it), for two checkouts side by side, interleaved.

    python3 bench/pack_time.py --before DIR [--after DIR] [--rounds 3] [--warm 5]
                               [--app PROGRAM_OR_PROJECT] [--chrt]

DIR is a checkout (a git worktree of the revision to compare; --after defaults to this one).
Each round packs cold with each checkout in turn (fresh output and state directory; cargo's
target directory is the checkout's own and warm), then re-packs with nothing changed --warm
times. Reports medians of wall clock and of CPU time (user+sys of the pack and its children)
and the load average, since the machine may be shared. Python's bytecode cache is allowed
(PYTHONDONTWRITEBYTECODE is dropped), as on a user's machine. ``--app`` packs that program (quick
mode) or project instead; ``--chrt`` runs each pack under ``chrt -f 10`` (on a loaded machine
the wall clock of a 0.3 s process otherwise measures the scheduler).
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


def timed_pack(checkout: Path, project: Path, out: Path, chrt: bool = False) -> tuple[float, float]:
    """One `litebox pack` from ``checkout`` (under ``chrt -f 10`` when ``chrt``); returns
    (wall s, CPU s)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(checkout)
    cpu0, t0 = children_cpu(), time.perf_counter()
    prefix = ["chrt", "-f", "10"] if chrt else []
    r = subprocess.run([*prefix, sys.executable, "-m", "packager", "pack", str(project), "--out-dir", str(out), "-q"],
                       cwd=checkout, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if r.returncode != 0:
        sys.exit(f"{checkout}: pack failed: {r.stderr.strip()}")
    return wall, cpu


def main() -> int:
    """Runs the rounds and prints a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, default=REPO)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warm", type=int, default=5)
    ap.add_argument("--app", type=Path, help="a program (quick mode) or project to pack instead of python3's")
    ap.add_argument("--chrt", action="store_true", help="run each pack under chrt -f 10")
    args = ap.parse_args()
    sides = {"before": args.before.resolve(), "after": args.after.resolve()}
    cold: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
    warm: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="pack-time-") as tmp:
        project = args.app.resolve() if args.app else Path(tmp) / "python3"
        if not args.app:
            project.mkdir()
            (project / "litebox.toml").write_text(PROJECT, encoding="utf-8")
        for _ in range(args.rounds):
            for name, checkout in sides.items():
                work = Path(tmp) / name
                shutil.rmtree(work, ignore_errors=True)
                cold[name].append(timed_pack(checkout, project, work / "dist", args.chrt))
                for _ in range(args.warm):
                    warm[name].append(timed_pack(checkout, project, work / "dist", args.chrt))
                loads.append(os.getloadavg()[0])
                print(f"{name}: cold {cold[name][-1]}", file=sys.stderr, flush=True)
    print(f"load average (1 min) during the run: {min(loads):.1f} to {max(loads):.1f}")
    print("| checkout | cold pack wall (s) | cold pack CPU (s) | warm re-pack wall (s) | warm re-pack CPU (s) |")
    print("|---|---|---|---|---|")
    for name, checkout in sides.items():
        c, w = cold[name], warm[name]
        print(f"| {name} ({checkout}) | {statistics.median(x[0] for x in c):.2f} | "
              f"{statistics.median(x[1] for x in c):.2f} | {statistics.median(x[0] for x in w):.3f} | "
              f"{statistics.median(x[1] for x in w):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
