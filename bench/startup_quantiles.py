#!/usr/bin/env python3
"""Wall clock of a few commands, interleaved, as quantiles: for differences that show in part
of the runs only (a gain that needs the second CPU free).

    python3 bench/startup_quantiles.py [--rounds N] NAME=COMMAND [NAME=COMMAND ...]

Each round runs every variant once (wall clock only: no `perf stat` run between them, unlike
bench/startup_ab.py), in the given order on even rounds and reversed on odd ones, so neither
variant always follows the same one. Prints min, p10, p30, median, p70 and p90 in ms, and the
load average before and after. Written for issue 17's parcheck round
(bench/RESULTS-issue17-parcheck.md).
"""
from __future__ import annotations

import argparse
import statistics

from startup_ab import load, parse_variant, wall_ms  # bench/ is not a package


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="+", type=parse_variant, metavar="NAME=COMMAND")
    ap.add_argument("--rounds", type=int, default=100, help="rounds (each runs every variant once)")
    args = ap.parse_args()
    if args.rounds < 10:
        ap.error("--rounds must be at least 10 (quantiles of fewer runs mean little)")
    variants: list[tuple[str, list[str]]] = args.variants
    wall: dict[str, list[float]] = {n: [] for n, _ in variants}
    before = load()
    for r in range(args.rounds):
        for name, argv in variants if r % 2 == 0 else variants[::-1]:
            wall[name].append(wall_ms(argv))
    print(f"load average before: {before}; after: {load()}; rounds: {args.rounds}")
    print("| variant | min | p10 | p30 | median | p70 | p90 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, v in wall.items():
        q = statistics.quantiles(v, n=10)
        cols = [min(v), q[0], q[2], statistics.median(v), q[6], q[8]]
        print(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cols) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
