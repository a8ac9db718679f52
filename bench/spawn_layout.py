#!/usr/bin/env python3
"""Prices each piece of a packed process's layout in a native fork + exit + wait loop.

    python3 bench/spawn_layout.py [--rounds N] [--spawns N] [--file PATH] [--cpu CPU] [--levers]
                                  [--json PATH]

Compiles bench/src/spawn_layout.c (gcc, static) and runs it with every piece of the packed app
process's host layout ("all"), with none ("base"), and with all but one piece (or one group of
pieces), interleaved in every round, pinned to one CPU. For each variant it prints the median
CPU µs per spawn and the median over rounds of (all − variant), paired within each round, with
its quartiles: what the piece costs a spawn. Paired differences keep most of a shared
machine's drift out; a quartile range that spans 0 means the piece is below what the run can
show. bench/RESULTS-issue17-spawn4.md has the numbers and what they say. With --levers it
prices the layout changes a runtime could still make instead (a placed runtime, anonymous
trampolines, the app stack and the heap in one mapping): bench/RESULTS-issue17-spawn5.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ALL = 0x3FF
RT, HEAP, STACK, SHARED, SELF, TRAMP, BLOCK, CODE, HEAPPAGES, RTBSS = (1 << i for i in range(10))
NORES, RTLOW, NODATAW, TRAMPANON, STACKMERGE, STACKADJ = 0x400, 0x2000, 0x4000, 0x8000, 0x10000, 0x20000
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
# What a change of layout could remove (bench/RESULTS-issue17-spawn5.md): "+" variants are the
# packed layout changed, "-" variants a fault or copy the runtime would no longer cause.
LEVERS: list[tuple[str, int]] = [
    ("all", ALL),
    ("base (native layout)", 0),
    ("+ runtime image where the host maps (a placed, not fixed, runtime)", ALL | RTLOW),
    ("+ trampolines an anonymous r-x copy (no child fault)", ALL | TRAMPANON),
    ("+ both", ALL | RTLOW | TRAMPANON),
    ("+ app stack right below the heap, its own mapping (as the runtime has it)", ALL | STACKMERGE | STACKADJ),
    ("+ app stack and heap one mapping", ALL | STACKMERGE),
    ("- child's code fault", ALL & ~CODE),
    ("- block page CoW (parent + child)", ALL & ~BLOCK),
    ("- shared region", ALL & ~SHARED),
    ("- trampolines", ALL & ~TRAMP),
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
    ap.add_argument("--levers", action="store_true",
                    help="price the layout changes a runtime could make (LEVERS) instead of each piece")
    ap.add_argument("--json", type=Path, help="also write every round's CPU µs per variant here")
    args = ap.parse_args()
    variants = LEVERS if args.levers else VARIANTS
    if args.file.resolve().stat().st_size < MIN_FILE:
        ap.error(f"{args.file} is smaller than {MIN_FILE} bytes")
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "spawn_layout"
        subprocess.run(["gcc", "-O2", "-static", "-o", str(exe), str(REPO / "bench" / "src" / "spawn_layout.c")],
                       check=True)
        res: dict[str, list[float]] = {name: [] for name, _ in variants}
        loads: list[float] = []
        for _ in range(args.rounds):
            for name, flags in variants:
                out = subprocess.run(["taskset", "-c", args.cpu, str(exe), hex(flags), str(args.spawns),
                                      str(args.file.resolve())], capture_output=True, text=True, check=True).stdout
                res[name].append(float(out.split("cpu_us=")[1].split()[0]))
            loads.append(os.getloadavg()[0])
    if args.json:
        args.json.write_text(json.dumps({"loads": loads, "cpu_us": res}, indent=1))
    print("1-minute load after each round:", " ".join(f"{x:.1f}" for x in loads))
    print("| variant | CPU µs per spawn, median (min) | all − variant, paired median [q1, q3] |")
    print("|---|---|---|")
    for name, _ in variants:
        v = res[name]
        d = [a - b for a, b in zip(res["all"], v)]
        q1, q3 = quartiles(d)
        med = statistics.median(d)
        print(f"| {name} | {statistics.median(v):.1f} ({min(v):.1f}) | {med:+.1f} [{q1:+.1f}, {q3:+.1f}] |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
