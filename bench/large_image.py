#!/usr/bin/env python3
"""Benchmark (not a test): start-up of a packed python3 when the image is large. Packs the
host's python3 with its standard library twice for linux-userland: once alone, once with a
synthetic library tree of many files the app never opens (``/usr/lib/big``), and times
``python3 -S -c pass`` in each, interleaved, plus the native interpreter. Also reports the
artifact and sidecar manifest sizes and the pack times.

    python3 bench/large_image.py [--files 50000] [--mb 400] [--runs 15] [--ref CHECKOUT] [--json]

With ``--ref CHECKOUT`` (another checkout of this repository, e.g. a ``git worktree`` of main)
both projects are packed by that checkout's packager too, and its artifacts are timed in the
same interleaved rounds: a before/after comparison in one run.

The tree's files are distinct (so the writer's deduplication cannot fold them) but cheap to
make: each is a slice of one random block with its own index stamped in front. Compression
level 1 keeps the pack of hundreds of MB short; the level does not change the index, which is
what this measures. Wall-clock times are medians (and minimums) of subprocess start to exit;
the CPU column is the median user + system time of the run (what a busy machine inflates least).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = """[app]
name = "{name}"
entry = "/usr/bin/python3"
env = {{ LANG = "C.UTF-8", PYTHONDONTWRITEBYTECODE = "1" }}

[files]
"/usr/lib/python3.11" = "/usr/lib/python3.11"
{extra}
[build]
source_date_epoch = 0
compression_level = 1
"""


def make_tree(root: Path, files: int, total_mb: int) -> int:
    """Writes ``files`` distinct files totalling about ``total_mb`` MB under ``root``, 100 to a
    directory, two directory levels deep; returns the bytes written."""
    rng = random.Random(17)
    block = rng.randbytes(1 << 20)
    size = max(64, total_mb * (1 << 20) // files)
    written = 0
    for i in range(files):
        d = root / f"pkg{i // 10000:02d}" / f"mod{i // 100:04d}"
        if i % 100 == 0:
            d.mkdir(parents=True, exist_ok=True)
        start = (i * 7919) % (len(block) - size) if size < len(block) else 0
        data = f"{i:08d}".encode() + block[start:start + size - 8]
        (d / f"file{i:06d}.py").write_bytes(data)
        written += len(data)
    return written


def pack(project: Path, out: Path, repo: Path = REPO) -> tuple[Path, Path, float]:
    """Packs ``project`` for linux-userland with the packager of ``repo``; returns (artifact,
    sidecar, seconds)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "packager", "pack", str(project), "--out-dir", str(out), "--json",
                           "-q"], cwd=repo, capture_output=True, text=True, check=False)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"pack of {project.name} failed:\n{proc.stderr}")
    art = json.loads(proc.stdout)["artifacts"][0]
    return Path(art["path"]), Path(art["manifest"]), took


def children_cpu_ms() -> float:
    """User + system CPU time (ms) of every finished child process so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1000


def timed(argv: list[str]) -> tuple[float, float]:
    """Runs ``argv`` once (it must exit 0); returns its wall-clock and CPU times in ms."""
    c0, t0 = children_cpu_ms(), time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=True)
    return (time.perf_counter() - t0) * 1000, children_cpu_ms() - c0


def main() -> int:
    """Builds the tree, packs both projects, times each way of running ``-S -c pass``."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=50000, help="files in the synthetic tree (default 50000)")
    ap.add_argument("--mb", type=int, default=400, help="total size of the tree in MB (default 400)")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--ref", type=Path, help="another checkout whose packager packs the same projects (before/after)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="large-image-bench-", dir=os.environ.get("TMPDIR")) as tmp:
        work = Path(tmp)
        small, large = work / "small", work / "large"
        small.mkdir()
        large.mkdir()
        t0 = time.perf_counter()
        written = make_tree(large / "big", args.files, args.mb)
        gen_s = time.perf_counter() - t0
        (small / "litebox.toml").write_text(CONFIG.format(name="py-small", extra=""))
        (large / "litebox.toml").write_text(CONFIG.format(name="py-large", extra='"/usr/lib/big" = "big"\n'))
        small_art, small_side, small_pack = pack(small, work / "dist")
        large_art, large_side, large_pack = pack(large, work / "dist")
        cases = {"native": ["/usr/bin/python3"],
                 "packed, stdlib only": [str(small_art)],
                 f"packed, stdlib + {args.files} files": [str(large_art)]}
        sizes = {"small": (small_art, small_side, small_pack), "large": (large_art, large_side, large_pack)}
        if args.ref:
            ref_small = pack(small, work / "dist-ref", args.ref.resolve())
            ref_large = pack(large, work / "dist-ref", args.ref.resolve())
            cases["ref: packed, stdlib only"] = [str(ref_small[0])]
            cases[f"ref: packed, stdlib + {args.files} files"] = [str(ref_large[0])]
            sizes |= {"ref small": ref_small, "ref large": ref_large}
        times: dict[str, list[float]] = {k: [] for k in cases}
        cpus: dict[str, list[float]] = {k: [] for k in cases}
        for argv in cases.values():
            timed([*argv, "-S", "-c", "pass"])  # warm the page cache
        for _ in range(args.runs):
            for name, argv in cases.items():
                wall, cpu = timed([*argv, "-S", "-c", "pass"])
                times[name].append(wall)
                cpus[name].append(cpu)
        result = {
            "files": args.files, "tree_bytes": written, "tree_generate_s": round(gen_s, 1), "runs": args.runs,
            "rows": [{"case": k, "median_ms": round(statistics.median(v), 2), "min_ms": round(min(v), 2),
                      "cpu_median_ms": round(statistics.median(cpus[k]), 1)} for k, v in times.items()],
            "artifact_bytes": {k: a.stat().st_size for k, (a, _, _) in sizes.items()},
            "sidecar_bytes": {k: m.stat().st_size for k, (_, m, _) in sizes.items()},
            "pack_s": {k: round(t, 1) for k, (_, _, t) in sizes.items()},
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"python3 -S -c pass, {args.runs} interleaved runs (wall median / min, ms; CPU median, ms); "
          f"synthetic tree: {args.files} files, {written / 1e6:.0f} MB (made in {gen_s:.1f} s)")
    for r in result["rows"]:
        print(f"  {r['case']:<42} {r['median_ms']:>9.2f} / {r['min_ms']:>8.2f}   CPU {r['cpu_median_ms']:>7.1f}")
    for k in result["pack_s"]:
        print(f"  {k}: artifact {result['artifact_bytes'][k] / 1e6:.1f} MB, sidecar manifest "
              f"{result['sidecar_bytes'][k] / 1e3:.0f} kB, pack {result['pack_s'][k]} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
