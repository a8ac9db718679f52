#!/usr/bin/env python3
"""Paired, interleaved A/B of one unixbench/sysbench row in CPU time of the whole process tree.

    python3 bench/paired_ab.py ROUNDS N base=ARTIFACT name=ARTIFACT ...   (env TEST=spawn)

With env DUMP=FILE the per-round values (µs per iteration, by variant) are written there as
JSON, for a look at their distribution (issue 17, spawn10).

Each round runs every variant in rotating order as `ART TEST N` and `ART TEST 1` under
`perf stat -e task-clock,page-faults -- chrt -f 10 taskset -c 1` and takes (N run - 1 run) /
(N - 1): the per-iteration CPU of the tree, without start-up. Prints medians and [q1, q3],
faults per iteration, and per variant the paired difference to the first one (base - variant,
positive: the variant is cheaper) with the rounds in which it was cheaper. Issue 17, spawn8
(bench/RESULTS-issue17-spawn8.md); spawn6's and spawn7's scripts, kept.

For rows that fork (spawn) prefer bench/cpu_ab.py: on kernel 6.18 an inherited task-clock stops
counting a child before its memory is torn down (`perf_event_exit_task` runs before `exit_mm`),
so what a change saves in a child's exit is invisible here (bench/RESULTS-issue17-spawn11.md).
"""

import json
import os
import statistics
import subprocess
import sys


def run(art: str, test: str, n: int) -> tuple[float, float]:
    """(task-clock µs, page faults) of one run of `art test n`, pinned to CPU 1."""
    cmd = [
        "perf",
        "stat",
        "-x,",
        "-e",
        "task-clock,page-faults",
        "--",
        "chrt",
        "-f",
        "10",
        "taskset",
        "-c",
        "1",
        art,
        test,
        str(n),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, check=True)
    tc = pf = 0.0
    for line in p.stderr.splitlines():
        f = line.split(",")
        if len(f) > 2 and f[2] == "task-clock":
            tc = float(f[0]) * 1000.0  # µs
        if len(f) > 2 and f[2] == "page-faults":
            pf = float(f[0])
    return tc, pf


def q(xs: list[float]) -> str:
    """Median [q1, q3] of xs."""
    xs = sorted(xs)
    k = len(xs)
    return f"{statistics.median(xs):.2f} [{xs[k // 4]:.2f}, {xs[(3 * k) // 4]:.2f}]"


def main() -> None:
    """Runs the rounds and prints the table."""
    rounds, n = int(sys.argv[1]), int(sys.argv[2])
    test = os.environ.get("TEST", "spawn")
    arts = [a.split("=", 1) for a in sys.argv[3:]]
    res: dict[str, list[float]] = {k: [] for k, _ in arts}
    flt: dict[str, list[float]] = {k: [] for k, _ in arts}
    loads = []
    for r in range(rounds):
        order = arts[r % len(arts) :] + arts[: r % len(arts)]
        for name, art in order:
            t1, f1 = run(art, test, 1)
            t2, f2 = run(art, test, n)
            res[name].append((t2 - t1) / (n - 1))
            flt[name].append((f2 - f1) / (n - 1))
        loads.append(os.getloadavg()[0])
    base = arts[0][0]
    print(f"{test} rounds={rounds} n={n} load {min(loads):.1f}-{max(loads):.1f}")
    for name, _ in arts:
        faults = f"faults median {statistics.median(flt[name]):.2f} mean {statistics.mean(flt[name]):.3f}"
        line = f"{name}: {q(res[name])} µs, {faults}"
        if name != base:
            d = [b - x for b, x in zip(res[base], res[name])]
            pos = sum(1 for x in d if x > 0)
            line += f"; {base} - {name} = {q(d)}, {pos}/{len(d)} > 0"
        print(line, flush=True)
    if os.environ.get("DUMP"):
        dump(res, os.environ["DUMP"])


def dump(res: dict[str, list[float]], path: str) -> None:
    """Writes the per-round values (µs per iteration, by variant, in round order) to path as JSON."""
    with open(path, "w") as out:
        json.dump(res, out)


if __name__ == "__main__":
    main()
