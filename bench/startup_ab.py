#!/usr/bin/env python3
"""Start-up to exit of a few commands, interleaved: wall clock and CPU time of the whole tree.

    python3 bench/startup_ab.py [--rounds N] NAME=COMMAND [NAME=COMMAND ...]

Each COMMAND is split on spaces (`native=/usr/bin/python3 -c pass`). Every round runs every
variant once for the wall clock (`subprocess.run`, fork/exec included, output to /dev/null)
and once under `perf stat -e task-clock`, which counts every process the command starts,
namespaces included: what a busy machine inflates far less than the wall clock. Variants
alternate inside each round, so load changes hit them alike. Prints the median and the minimum
of each, and the load average before and after; `--json` prints the same as JSON. With
`--base NAME`, also each other variant's paired difference from NAME (the same round's run of
each, variant minus NAME): median and [q1, q3] of the per-round differences, wall and CPU.

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


def paired(values: list[float], base: list[float]) -> dict[str, float]:
    """Median, first and third quartile of the per-round differences values[i] - base[i] (the
    two lists are the same rounds in the same order), rounded to the µs."""
    d = [v - b for v, b in zip(values, base, strict=True)]
    if len(d) < 2:
        m = d[0] if d else 0.0
        return {"median": round(m, 3), "q1": round(m, 3), "q3": round(m, 3)}
    q1, _, q3 = statistics.quantiles(d, n=4)
    return {"median": round(statistics.median(d), 3), "q1": round(q1, 3), "q3": round(q3, 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="+", type=parse_variant, metavar="NAME=COMMAND")
    ap.add_argument("--rounds", type=int, default=20, help="rounds (each runs every variant twice)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--base", help="the variant the others' paired differences are taken from")
    args = ap.parse_args()
    perf = shutil.which("perf")
    variants: dict[str, list[str]] = dict(args.variants)
    if args.base is not None and args.base not in variants:
        ap.error(f"--base {args.base}: no such variant")
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
    if args.base is not None:
        b = args.base
        out["paired"] = {n: {"wall": paired(wall[n], wall[b]),
                             "cpu": paired(cpu[n], cpu[b]) if len(cpu[n]) == len(cpu[b]) == args.rounds else None}
                         for n in variants if n != b}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"load average before: {out['load_before']}; after: {out['load_after']}; rounds: {args.rounds}")
    print("| variant | wall median | wall min | CPU median | CPU min |")
    print("| --- | --- | --- | --- | --- |")
    for n, v in out["variants"].items():
        print(f"| {n} | {v['wall_median_ms']} | {v['wall_min_ms']} | {v['cpu_median_ms']} | {v['cpu_min_ms']} |")
    for n, d in out.get("paired", {}).items():
        w, c = d["wall"], d["cpu"]
        cpu_text = f"{c['median']} [{c['q1']}, {c['q3']}]" if c else "-"
        print(f"{n} - {args.base}, paired: wall {w['median']} [{w['q1']}, {w['q3']}], CPU {cpu_text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
