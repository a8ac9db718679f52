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

With `--read-back NAME[,NAME]` (or `all`), those variants' program files are dropped from the
page cache before the rounds (`posix_fadvise(POSIX_FADV_DONTNEED)`) and read back by one
untimed run: the state after a reboot or memory pressure, where the kernel reads the file back
in small (4 KiB) page-cache folios, instead of the state the packer left (the runtime's part in
64 KiB folios); each start then costs ~0.15 ms more (bench/RESULTS-issue17-hs12.md, section 5).
The output says which state each variant was measured in.

Written for issue 17's fixed-cost round (bench/RESULTS-issue17-fixedcost.md): two artifacts
of the same program packed with two runtimes (`LITEBOX_RUNTIME_LINUX_USERLAND=PATH litebox
pack ...`), next to the native program.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import mmap
import os
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


def program_file(argv: list[str]) -> str | None:
    """The regular file argv starts: its first word, looked up on PATH when it has no slash."""
    path = argv[0] if "/" in argv[0] else shutil.which(argv[0])
    return os.path.realpath(path) if path and os.path.isfile(path) else None


def resident_pages(path: str) -> tuple[int, int]:
    """How many of the file's pages are in the page cache, and how many it has (mincore of a
    mapping that touches none of them)."""
    size = os.path.getsize(path)
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    if size == 0:
        return 0, 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    fd = os.open(path, os.O_RDONLY)
    try:
        at = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if at is None or at == ctypes.c_void_p(-1).value:
            raise OSError(ctypes.get_errno(), f"mmap {path}")
        try:
            vec = ctypes.create_string_buffer(pages)
            if libc.mincore(at, size, vec) != 0:
                raise OSError(ctypes.get_errno(), f"mincore {path}")
            return sum(b & 1 for b in vec.raw), pages
        finally:
            libc.munmap(at, size)
    finally:
        os.close(fd)


def evict(path: str) -> bool:
    """Drops the file's pages from the page cache (those no process maps; written back first).
    True when none is left (False on a file system that keeps them, such as tmpfs)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return resident_pages(path)[0] == 0


def read_back(names: list[str], variants: dict[str, list[str]]) -> dict[str, str]:
    """Drops each named variant's program file from the page cache and reads it back with one
    untimed run; returns every variant's page-cache state: "read back", "not dropped" (the
    file system kept the pages) or "as found" (not named)."""
    state = {n: "as found" for n in variants}
    for n in names:
        path = program_file(variants[n])
        if path is None:
            raise ValueError(f"{n}: {variants[n][0]} is not a file")
        state[n] = "read back" if evict(path) else "not dropped"
    for n in names:
        wall_ms(variants[n])
    return state


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
    ap.add_argument("--read-back", default="", metavar="NAMES",
                    help="variants (comma-separated, or 'all') whose program file is dropped from the page "
                         "cache and read back by one untimed run before the rounds")
    args = ap.parse_args()
    perf = shutil.which("perf")
    variants: dict[str, list[str]] = dict(args.variants)
    if args.base is not None and args.base not in variants:
        ap.error(f"--base {args.base}: no such variant")
    names = list(variants) if args.read_back == "all" else [n for n in args.read_back.split(",") if n]
    if unknown := [n for n in names if n not in variants]:
        ap.error(f"--read-back {','.join(unknown)}: no such variant")
    try:
        page_cache = read_back(names, variants)
    except ValueError as e:
        ap.error(f"--read-back {e}")
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
            "cpu_min_ms": round(min(cpu[n]), 3) if cpu[n] else None,
            "page_cache": page_cache[n]} for n in variants}}
    if args.base is not None:
        b = args.base
        out["paired"] = {n: {"wall": paired(wall[n], wall[b]),
                             "cpu": paired(cpu[n], cpu[b]) if len(cpu[n]) == len(cpu[b]) == args.rounds else None}
                         for n in variants if n != b}
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"load average before: {out['load_before']}; after: {out['load_after']}; rounds: {args.rounds}")
    print("| variant | page cache | wall median | wall min | CPU median | CPU min |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n, v in out["variants"].items():
        print(f"| {n} | {v['page_cache']} | {v['wall_median_ms']} | {v['wall_min_ms']} | {v['cpu_median_ms']} "
              f"| {v['cpu_min_ms']} |")
    for n, d in out.get("paired", {}).items():
        w, c = d["wall"], d["cpu"]
        cpu_text = f"{c['median']} [{c['q1']}, {c['q3']}]" if c else "-"
        print(f"{n} - {args.base}, paired: wall {w['median']} [{w['q1']}, {w['q3']}], CPU {cpu_text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
