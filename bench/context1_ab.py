#!/usr/bin/env python3
"""Paired, interleaved A/B of unixbench's context1 (or another test) in CPU time that no counter
perturbs: the whole process tree runs in a cgroup of its own and its CPU is the cgroup's usage
(cpuacct v1, or cpu.stat on cgroup v2), not `perf stat`'s task-clock, which adds ~0.5 µs to
every context1 pass (two context switches each re-arm the counter; bench/RESULTS-issue17-ctx5.md).

    python3 bench/context1_ab.py [--pin CPU] [--test context1] ROUNDS N NAME=PROGRAM ...

Each round runs every variant in rotating order as `PROGRAM TEST N` and `PROGRAM TEST 1` (the
second takes start-up and exit off) and records wall µs per iteration (the program's own `ns=`)
and CPU µs per iteration. --pin starts the tree under `taskset -c CPU` (both processes share
that CPU on every pass). Prints each round with the 1-minute load, the medians and [q1, q3] per
variant, the rounds whose CPU per pass exceeds 12 µs (context1's processes split across CPUs),
and per variant the paired ratio first/variant (wall and CPU; > 1: the variant is cheaper).
Needs root (it makes the cgroup). Issue 17, ctx5.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
from pathlib import Path

V1 = Path("/sys/fs/cgroup/cpuacct")
V2 = Path("/sys/fs/cgroup")
NAME = "litebox-context1-ab"


def cgroup() -> tuple[Path, str]:
    """The measuring cgroup (made if missing) and the file its CPU usage is read from."""
    if (V1 / "cpuacct.usage").exists():
        cg = V1 / NAME
        cg.mkdir(exist_ok=True)
        return cg, "cpuacct.usage"
    cg = V2 / NAME
    cg.mkdir(exist_ok=True)
    return cg, "cpu.stat"


def usage_ns(cg: Path, file: str) -> int:
    """The cgroup's CPU usage so far, in ns."""
    text = (cg / file).read_text()
    if file == "cpu.stat":
        return int(next(x for x in text.splitlines() if x.startswith("usage_usec")).split()[1]) * 1000
    return int(text)


def in_cgroup(cg: Path) -> list[str]:
    """The prefix of a command line that runs the rest inside cgroup ``cg`` (its shell joins
    the cgroup, then execs the command: every process it starts is counted there)."""
    return ["sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec "$@"', "sh"]


def run(cg: Path, file: str, argv: list[str]) -> tuple[int, int]:
    """(the program's own ns, the tree's CPU ns) of one run of argv inside the cgroup."""
    u0 = usage_ns(cg, file)
    p = subprocess.run([*in_cgroup(cg), *argv], capture_output=True, text=True, check=True)
    u1 = usage_ns(cg, file)
    ns = int(next(x for x in p.stdout.split() if x.startswith("ns="))[3:])
    return ns, u1 - u0


def quartiles(xs: list[float]) -> tuple[float, float]:
    """q1 and q3 (the value itself for one sample)."""
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4)
    return q[0], q[2]


def main() -> int:
    """Runs the rounds and prints the tables."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rounds", type=int)
    ap.add_argument("n", type=int, help="iterations per run")
    ap.add_argument("variants", nargs="+", help="NAME=PROGRAM (a unixbench build or its packed artifact)")
    ap.add_argument("--pin", help="start the tree under taskset -c PIN")
    ap.add_argument("--test", default="context1")
    args = ap.parse_args()
    cg, file = cgroup()
    vs = [tuple(v.split("=", 1)) for v in args.variants]
    res: dict[str, list[tuple[float, float]]] = {k: [] for k, _ in vs}
    loads = []
    for r in range(args.rounds):
        for k, prog in vs[r % len(vs):] + vs[:r % len(vs)]:
            pre = ["taskset", "-c", args.pin] if args.pin else []
            ns, cpu = run(cg, file, [*pre, prog, args.test, str(args.n)])
            _, cpu1 = run(cg, file, [*pre, prog, args.test, "1"])
            res[k].append((ns / 1e3 / args.n, max(cpu - cpu1, 0) / 1e3 / (args.n - 1)))
        loads.append(os.getloadavg()[0])
        print(r, f"load {loads[-1]:.2f}", " ".join(f"{k}: w{res[k][-1][0]:.2f} c{res[k][-1][1]:.2f}" for k in res),
              flush=True)
    print(f"1-minute load {min(loads):.2f}-{max(loads):.2f}")
    for k, xs in res.items():
        w, c = [x[0] for x in xs], [x[1] for x in xs]
        (w1, w3), (c1, c3) = quartiles(w), quartiles(c)
        print(f"{k}: wall µs/iteration {statistics.median(w):.2f} [{w1:.2f}, {w3:.2f}], CPU µs/iteration "
              f"{statistics.median(c):.2f} [{c1:.2f}, {c3:.2f}], rounds with CPU > 12 µs: {sum(x > 12 for x in c)}")
    base = vs[0][0]
    for k, _ in vs[1:]:
        rw = [a[0] / b[0] for a, b in zip(res[base], res[k])]
        rc = [a[1] / b[1] for a, b in zip(res[base], res[k]) if b[1] > 0]
        (w1, w3), (c1, c3) = quartiles(rw), quartiles(rc)
        print(f"{base}/{k} paired: wall {statistics.median(rw):.3f} [{w1:.3f}, {w3:.3f}], "
              f"CPU {statistics.median(rc):.3f} [{c1:.3f}, {c3:.3f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
