#!/usr/bin/env python3
"""Prices each piece of a packed process's layout in a native fork + exit + wait loop.

    python3 bench/spawn_layout.py [--rounds N] [--spawns N] [--file PATH] [--cpu CPU]

Compiles bench/src/spawn_layout.c (gcc, static) and runs it with every piece of the packed app
process's host layout ("all"), with none ("base"), and with all but one piece (or one group of
pieces), interleaved in every round, pinned to one CPU. For each variant it prints the median
CPU µs per spawn and the median over rounds of (all − variant), paired within each round, with
its quartiles: what the piece costs a spawn. Paired differences keep most of a shared
machine's drift out; a quartile range that spans 0 means the piece is below what the run can
show. bench/RESULTS-issue17-spawn4.md has the numbers and what they say.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ALL = 0x3FF
RT, HEAP, STACK, SHARED, SELF, TRAMP, BLOCK, CODE, HEAPPAGES, RTBSS = (1 << i for i in range(10))
NORES, NODATAW = 0x400, 0x4000
# The farthest byte spawn_layout.c maps from its file (the image tables: 0xd4000 + 0xd0000).
MIN_FILE = 0x1A4000
VARIANTS: list[tuple[str, int]] = [
    ("all", ALL),
    ("base (native layout)", 0),
    ("- runtime image, its .bss, child's code fault", ALL & ~(RT | CODE | RTBSS)),
    ("- child's code fault, .bss, .data write", (ALL & ~(CODE | RTBSS)) | NODATAW),
    ("- child's code fault", ALL & ~CODE),
    ("- heap (reservation, commit, pages, block)", ALL & ~(HEAP | BLOCK | HEAPPAGES)),
    ("- block page CoW (parent + child)", ALL & ~BLOCK),
    ("- 19 written heap pages", ALL & ~HEAPPAGES),
    ("+ no PROT_NONE reservation", ALL | NORES),
    ("- shared region", ALL & ~SHARED),
    ("- trampolines", ALL & ~TRAMP),
    ("- app stack and guard", ALL & ~STACK),
    ("- image tables mapping", ALL & ~SELF),
]


def quartiles(xs: list[float]) -> tuple[float, float]:
    s = sorted(xs)
    return s[len(s) // 4], s[3 * len(s) // 4]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    ap.add_argument("--spawns", type=int, default=3000, help="spawns per run (default 3000)")
    ap.add_argument("--file", type=Path, default=Path("/usr/bin/python3"),
                    help="a file of >= 1.7 MB to map as the runtime's image (default /usr/bin/python3)")
    ap.add_argument("--cpu", default="0", help="the CPU to pin the loop to (default 0)")
    args = ap.parse_args()
    if args.file.resolve().stat().st_size < MIN_FILE:
        ap.error(f"{args.file} is smaller than {MIN_FILE} bytes")
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "spawn_layout"
        subprocess.run(["gcc", "-O2", "-static", "-o", str(exe), str(REPO / "bench" / "src" / "spawn_layout.c")],
                       check=True)
        res: dict[str, list[float]] = {name: [] for name, _ in VARIANTS}
        loads: list[float] = []
        for _ in range(args.rounds):
            for name, flags in VARIANTS:
                out = subprocess.run(["taskset", "-c", args.cpu, str(exe), hex(flags), str(args.spawns),
                                      str(args.file.resolve())], capture_output=True, text=True, check=True).stdout
                res[name].append(float(out.split("cpu_us=")[1].split()[0]))
            loads.append(os.getloadavg()[0])
    print("1-minute load after each round:", " ".join(f"{x:.1f}" for x in loads))
    print("| variant | CPU µs per spawn, median (min) | all − variant, paired median [q1, q3] |")
    print("|---|---|---|")
    for name, _ in VARIANTS:
        v = res[name]
        d = [a - b for a, b in zip(res["all"], v)]
        q1, q3 = quartiles(d)
        med = statistics.median(d)
        print(f"| {name} | {statistics.median(v):.1f} ({min(v):.1f}) | {med:+.1f} [{q1:+.1f}, {q3:+.1f}] |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
