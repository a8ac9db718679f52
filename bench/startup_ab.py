#!/usr/bin/env python3
"""Start-up to exit of a few commands, interleaved: wall clock and CPU time of the whole tree.

    python3 bench/startup_ab.py [--rounds N] NAME=COMMAND [NAME=COMMAND ...]

Each COMMAND is split on spaces (`native=/usr/bin/python3 -c pass`). Every round runs every
variant once for the wall clock (`subprocess.run`, fork/exec included, output to /dev/null)
and once under `perf stat -e task-clock`, which counts every process the command starts,
namespaces included: what a busy machine inflates far less than the wall clock. Variants
alternate inside each round, so load changes hit them alike. Prints the median and the minimum
of each, and the load average before and after; `--json` prints the same as JSON.

Written for issue 17's fixed-cost round (bench/RESULTS-issue17-fixedcost.md): two artifacts
of the same program packed with two runtimes (`LITEBOX_RUNTIME_LINUX_USERLAND=PATH litebox
pack ...`), next to the native program.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time

from run import tree_cpu_ms  # bench/ is not a package: run as python3 bench/startup_ab.py


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    with open("/proc/loadavg", encoding="ascii") as f:
        return " ".join(f.read().split()[:3])


def wall_ms(argv: list[str]) -> float:
    """Wall clock (ms) of one run of argv, from fork to its exit; a failed run is an error."""
    t0 = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t0) * 1000


def parse_variant(spec: str) -> tuple[str, list[str]]:
    """NAME=COMMAND into (NAME, argv)."""
    name, sep, cmd = spec.partition("=")
    if not sep or not name or not cmd.split():
        raise argparse.ArgumentTypeError(f"expected NAME=COMMAND, got {spec!r}")
    return name, cmd.split()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="+", type=parse_variant, metavar="NAME=COMMAND")
    ap.add_argument("--rounds", type=int, default=20, help="rounds (each runs every variant twice)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    perf = shutil.which("perf")
    variants: dict[str, list[str]] = dict(args.variants)
    wall: dict[str, list[float]] = {n: [] for n in variants}
    cpu: dict[str, list[float]] = {n: [] for n in variants}
    before = load()
    for _ in range(args.rounds):
        for name, argv in variants.items():
            wall[name].append(wall_ms(argv))
            c = tree_cpu_ms(perf, argv) if perf else None
            if c is not None:
                cpu[name].append(c)
    out = {"load_before": before, "load_after": load(), "rounds": args.rounds, "variants": {
        n: {"wall_median_ms": round(statistics.median(wall[n]), 3), "wall_min_ms": round(min(wall[n]), 3),
            "cpu_median_ms": round(statistics.median(cpu[n]), 3) if cpu[n] else None,
            "cpu_min_ms": round(min(cpu[n]), 3) if cpu[n] else None} for n in variants}}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"load average before: {out['load_before']}; after: {out['load_after']}; rounds: {args.rounds}")
    print("| variant | wall median | wall min | CPU median | CPU min |")
    print("| --- | --- | --- | --- | --- |")
    for n, v in out["variants"].items():
        print(f"| {n} | {v['wall_median_ms']} | {v['wall_min_ms']} | {v['cpu_median_ms']} | {v['cpu_min_ms']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
