#!/usr/bin/env python3
"""Peak resident memory (bench/src/peakrss.c) of hello-static, hello-dynamic and python3 -c pass,
native and packed by two checkouts, in three page-cache states, interleaved (issue 17, rss).
Not a test: the measurement behind bench/RESULTS-issue17-rss.md.

    python3 bench/rss_states.py ROUNDS WORKDIR [BASE_WRITE_KIB]

WORKDIR holds bin/peakrss, bin/hello-static, bin/hello-dynamic (built as bench/run.py builds
them) and the packed artifacts WORKDIR/base/NAME-linux-userland (the reference checkout) and
WORKDIR/final/NAME-linux-userland (this one), NAME being hello-static, hello-dynamic, python3
(packed as bench/run.py packs it). States: "fresh", the artifact rewritten just before the run
the way its packer writes it (reference: BASE_WRITE_KIB, default 1024, the packer before
b86b67b; this checkout: 16 KiB), as right after
`litebox pack`; "cold", the artifact evicted from the page cache (POSIX_FADV_DONTNEED) first;
"warm", run again as it is.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from startup_ab import evict  # drops a file's pages from the page cache

MODES = ("fresh", "cold", "warm")
VARIANTS = ("native", "base", "final")
WRITE = {"base": 1 << 20, "final": 16 << 10}


def rewrite(path: str, piece: int) -> None:
    """Rewrites path (renamed into place) in writes of `piece` bytes."""
    data = Path(path).read_bytes()
    tmp = path + ".tmp"
    with open(tmp, "wb", buffering=0) as f:
        for i in range(0, len(data), piece):
            f.write(data[i:i + piece])
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def peak_mib(peakrss: str, argv: list[str]) -> float:
    """The run's peak resident memory (MiB); the run must exit 0."""
    r = subprocess.run([peakrss, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120, check=False)
    line = r.stderr.decode().strip().splitlines()[-1]
    if "status=0" not in line:
        raise SystemExit(f"rss_states: {argv[0]} failed: {line}")
    return int(line.split("maxrss_kib=")[1].split()[0]) / 1024


def main() -> int:
    """Measures and prints one line per state and program."""
    rounds, work = int(sys.argv[1]), sys.argv[2]
    if len(sys.argv) > 3:
        WRITE["base"] = int(sys.argv[3]) << 10
    progs = {
        "hello-static": ([f"{work}/bin/hello-static"], "hello-static", []),
        "hello-dynamic": ([f"{work}/bin/hello-dynamic"], "hello-dynamic", []),
        "python3 -c pass": (["/usr/bin/python3.11", "-c", "pass"], "python3", ["-c", "pass"]),
    }
    res: dict[tuple[str, str, str], list[float]] = {(m, n, v): [] for m in MODES for n in progs for v in VARIANTS}
    for _ in range(rounds):
        for mode in MODES:
            for n, (native, art, args) in progs.items():
                for v in VARIANTS:
                    argv = native if v == "native" else [f"{work}/{v}/{art}-linux-userland", *args]
                    if mode == "cold":
                        evict(argv[0])
                    if mode == "fresh" and v != "native":
                        rewrite(argv[0], WRITE[v])
                    res[(mode, n, v)].append(peak_mib(f"{work}/bin/peakrss", argv))
    print(f"{rounds} rounds, medians (MiB): native, reference (base), this checkout (final)")
    for mode in MODES:
        for n in progs:
            m = {v: statistics.median(res[(mode, n, v)]) for v in VARIANTS}
            d = {v: f"{m[v]:.2f} (+{m[v] - m['native']:.2f}, {m[v] / m['native']:.2f}x)" for v in ("base", "final")}
            runs = " ".join(f"{x:.2f}" for x in res[(mode, n, "final")])
            print(f"{mode:5s} {n:16s} native {m['native']:.2f}  base {d['base']}  final {d['final']}  [final: {runs}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
