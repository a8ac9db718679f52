#!/usr/bin/env python3
"""byte-unixbench's syscall, pipe, context1, spawn, execl and fstime, packed vs native.

    python3 bench/unixbench.py [--rounds N] [--no-trap] [--no-cpu] [--out DIR] [--results-md FILE]

bench/src/unixbench.c holds small equivalents of the six programs, written after byte-unixbench
5.1's published loops (its sources are not on the registries this project may use): each runs
a fixed number of iterations and prints its time. This script compiles it (gcc, static), packs
it with this checkout (quick mode, syscall sites rewritten, `--no-rewrite` too unless
`--no-trap`), then runs every test natively and packed, alternating inside every round. The
score is iterations per second; the table gives the median over rounds and packed/native (>= 1
means the packed program is as fast), with the geometric mean over the six tests.

Beside each wall-clock score it reports the CPU time per iteration (user + system of the whole
process tree in a run of its own, less a run of one iteration for start-up and exit: the usage
of a cgroup the run is started in (bench/context1_ab.py's) where this process may make one, as
root; else `perf stat`'s task-clock, whose counting at every context switch adds ~0.5 µs to a
context1 pass and pulls the ratios towards 1, bench/RESULTS-issue17-ctx5.md) and native/packed
CPU (>= 1: the packed program costs no more CPU). The two
tell apart what the sandbox costs from where the machine's scheduler put the processes:
context1's two processes hand a counter back and forth, and on a VM a pass costs ~2 µs when
both share a CPU but 20-90 µs when they are split and every hand-off wakes a halted vCPU,
whatever runs inside them. Without a cgroup or perf (or with --no-cpu) the CPU table is left out.

context1 is measured twice. The `context1` row runs as the others do, wherever the scheduler
puts the two processes; whether they share a CPU or are split is drawn per run (on a quiet
2-vCPU guest mostly split, under load mostly shared) and moves CPU per pass 5x, the same for
native and packed, so over 5 rounds its ratio swings by more than the sandbox's cost
(bench/RESULTS-issue17-ctx3.md, -ctx4.md). The `context1-1cpu` row runs the same test with the
whole process tree started under `taskset -c CPU` (the highest CPU this script may use), for
native and packed alike: both processes then share that CPU on every pass in every variant, so
its ratio is the sandbox's per-pass cost without the placement draw. Only the start is pinned,
never one side: the packed launcher, its init and the app inherit the affinity as a native
program's fork child does, and the runtime never changes it. Read its CPU column: its wall
rate still depends on what else runs on that one CPU (on a shared machine, other users' work
takes turns with both processes), while its CPU per pass does not. It is left out of the
geometric mean (that stays the six published tests').

Writes DIR/unixbench.json and DIR/unixbench.md (default DIR: bench/out).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
import context1_ab  # noqa: E402  (bench/context1_ab.py: the measuring cgroup)
import run as bench  # noqa: E402  (bench/run.py; bench/ is not a package)

# Iterations per run: about 0.1-0.5 s natively on the 2-core development machine.
TESTS = {"syscall": 100_000, "pipe": 100_000, "context1": 20_000, "spawn": 1_000, "execl": 200, "fstime": 40}
# Extra rows: a test run with its whole process tree on one CPU (see the module docstring).
PINNED = {"context1-1cpu": "context1"}


def pin_cpu() -> int | None:
    """The CPU the pinned rows run on (the highest this process may use), or None without
    taskset."""
    if shutil.which("taskset") is None:
        return None
    return max(os.sched_getaffinity(0))


def row_argv(argv: list[str], row: str, cpu: int | None) -> tuple[list[str], str] | None:
    """The command line and the program's test name for `row` of a variant run by `argv`: a
    pinned row starts the variant under `taskset -c cpu` (None when it cannot: no taskset)."""
    if row not in PINNED:
        return argv, row
    if cpu is None:
        return None
    return ["taskset", "-c", str(cpu), *argv], PINNED[row]


class Run(NamedTuple):
    """One run of one test: its score (iterations per second) and the CPU seconds of its
    whole process tree (None when not counted), or the error text."""

    score: float | None
    cpu_s: float | None
    error: str


class CpuMeter(NamedTuple):
    """How `run_test` counts a run's CPU: as the usage of the cgroup ``cgroup`` (its directory
    and usage file, context1_ab.cgroup) that the run is started in, or else under ``perf``
    (`perf stat`'s task-clock)."""

    cgroup: tuple[Path, str] | None = None
    perf: str | None = None


def cpu_meter() -> CpuMeter | None:
    """The cgroup meter where this process can make the cgroup (root, a cgroup file system),
    else perf's when perf is installed, else None."""
    try:
        return CpuMeter(cgroup=context1_ab.cgroup())
    except OSError:
        perf = shutil.which("perf")
        return CpuMeter(perf=perf) if perf else None


def task_clock_s(stderr: str) -> float | None:
    """The task-clock (CPU seconds) in `perf stat -x,` output, or None."""
    line = next((x for x in reversed(stderr.splitlines()) if ",task-clock" in x), "")
    try:
        return float(line.split(",")[0]) / 1e3
    except ValueError:
        return None


def run_test(argv: list[str], test: str, iterations: int | None = None, cpu: CpuMeter | None = None) -> Run:
    """Runs one test (TESTS[test] iterations unless given), counted by ``cpu`` when given: its
    score, the CPU time it and every process it started used, or the error."""
    n = TESTS[test] if iterations is None else iterations
    wrap: list[str] = []
    before = 0
    if cpu is not None and cpu.cgroup is not None:
        cg, usage = cpu.cgroup
        wrap = context1_ab.in_cgroup(cg)
        before = context1_ab.usage_ns(cg, usage)
    elif cpu is not None and cpu.perf is not None:
        wrap = [cpu.perf, "stat", "-x,", "-e", "task-clock", "--"]
    r = subprocess.run([*wrap, *argv, test, str(n)], capture_output=True, text=True, check=False, timeout=600)
    cpu_s = None
    if cpu is not None and cpu.cgroup is not None:
        cpu_s = (context1_ab.usage_ns(*cpu.cgroup) - before) / 1e9
    elif cpu is not None and cpu.perf is not None:
        cpu_s = task_clock_s(r.stderr)
    line = next((x for x in r.stdout.splitlines() if x.startswith(f"{test} iterations=")), None)
    if r.returncode != 0 or line is None:
        return Run(None, None, f"exit {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1][:160]}")
    fields = dict(kv.split("=") for kv in line.split()[1:])
    return Run(int(fields["iterations"]) / (max(int(fields["ns"]), 1) / 1e9), cpu_s, "")


def cpu_us_per_iteration(full: Run, one: Run, n: int) -> float | None:
    """CPU µs per iteration from a run of n iterations and one of a single iteration (which
    takes start-up and exit off), or None when either has no CPU time."""
    if full.cpu_s is None or one.cpu_s is None or n <= 1:
        return None
    return max(full.cpu_s - one.cpu_s, 0.0) * 1e6 / (n - 1)


def published_geomeans(ratios: dict[str, dict[str, float]]) -> dict[str, float | None]:
    """Per variant, the geometric mean of its ratios over the published tests (TESTS): the
    pinned rows are left out."""
    return {v: geomean([x for t, x in rs.items() if t in TESTS]) for v, rs in ratios.items()}


def geomean(xs: list[float]) -> float | None:
    """The geometric mean of xs (None when empty)."""
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def main() -> int:
    """Builds, packs, measures; returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds (default 5)")
    ap.add_argument("--no-trap", action="store_true", help="leave out the --no-rewrite (trap path) variant")
    ap.add_argument("--no-cpu", action="store_true",
                    help="skip the CPU time per iteration (perf stat and a one-iteration run per test)")
    ap.add_argument("--out", type=Path, default=bench.REPO / "bench" / "out", help="output directory")
    ap.add_argument("--results-md", type=Path, help="also write the markdown table here")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="unixbench-", dir=args.out)).resolve()
    prog = work / "unixbench"
    r = bench.sh(["gcc", "-O2", "-static", "-o", str(prog), str(bench.SRC / "unixbench.c")])
    if r.returncode != 0:
        raise SystemExit(f"bench: cannot compile unixbench.c: {r.stderr.strip()}")
    variants: dict[str, list[str]] = {"native": [str(prog)]}
    for v, rewrite in (("rewrite", True), ("trap", False)):
        if v == "trap" and args.no_trap:
            continue
        art, secs, err = bench.pack(prog, work / f"pack-{v}", rewrite)
        bench.log(f"packed unixbench ({v}) in {secs:.1f} s" + (f" (FAILED: {err})" if err else ""))
        if art is not None:
            variants[v] = [str(art)]
    meter = None if args.no_cpu else cpu_meter()
    if meter is None and not args.no_cpu:
        bench.log("no cgroup can be made here and perf is not found (Debian: linux-perf): no CPU time per iteration")
    cpu_pin = pin_cpu()
    iterations = {**TESTS, **{row: TESTS[t] for row, t in PINNED.items()}}
    scores: dict[str, dict[str, list[float]]] = {t: {v: [] for v in variants} for t in iterations}
    cpu: dict[str, dict[str, list[float]]] = {t: {v: [] for v in variants} for t in iterations}
    errors: dict[str, str] = {}
    loads = [" ".join(f"{x:.2f}" for x in os.getloadavg())]
    for rnd in range(args.rounds):
        for row in iterations:
            for v, base in variants.items():
                cmd = row_argv(base, row, cpu_pin)
                if f"{row}/{v}" in errors or cmd is None:
                    continue
                argv, test = cmd
                n = iterations[row]
                wall = run_test(argv, test, n)  # unperturbed by any counting
                if wall.score is None:
                    errors[f"{row}/{v}"] = wall.error
                    continue
                scores[row][v].append(wall.score)
                if meter:
                    c = cpu_us_per_iteration(run_test(argv, test, n, meter), run_test(argv, test, 1, meter), n)
                    if c is not None:
                        cpu[row][v].append(c)
        loads.append(" ".join(f"{x:.2f}" for x in os.getloadavg()))
        bench.log(f"round {rnd + 1}/{args.rounds} done (load {loads[-1]})")
    med = {t: {v: (bench.median(s) if s else None) for v, s in by_v.items()} for t, by_v in scores.items()}
    ratios = {v: {t: med[t][v] / med[t]["native"] for t in iterations if med[t].get(v) and med[t]["native"]}
              for v in variants if v != "native"}
    cpu_med = {t: {v: (bench.median(s) if s else None) for v, s in by_v.items()} for t, by_v in cpu.items()}
    cpu_ratios = {v: {t: cpu_med[t]["native"] / cpu_med[t][v] for t in iterations
                      if cpu_med[t].get(v) and cpu_med[t]["native"]} for v in variants if v != "native"}
    results: dict[str, Any] = {
        "command": " ".join(["python3", "bench/unixbench.py", *sys.argv[1:]]), "machine": bench.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "iterations": iterations, "scores": med,
        "ratios": ratios, "pinned_cpu": cpu_pin, "pinned_rows": list(PINNED),
        "geomean": published_geomeans(ratios),
        "errors": errors, "loadavg": loads, "cpu_us": cpu_med, "cpu_ratios": cpu_ratios,
        "cpu_meter": None if meter is None else ("cgroup" if meter.cgroup else "perf")}
    (args.out / "unixbench.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    md = render(results, list(variants))
    (args.out / "unixbench.md").write_text(md)
    if args.results_md:
        args.results_md.write_text(md)
    print(md)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def render(r: dict[str, Any], variants: list[str]) -> str:
    """The markdown report."""
    m = r["machine"]
    packed = [v for v in variants if v != "native"]
    out = ["# byte-unixbench equivalents, packed vs native", "",
           f"Command: `{r['command']}` (from the repository root), {r['date']}.", "",
           f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}, kernel {m['kernel']}. "
           f"1-minute load average at the start and after each round: {', '.join(x.split()[0] for x in r['loadavg'])}.",
           "", "Scores are iterations per second (median over rounds); ratios are packed/native (>= 1: as fast).", "",
           "| test | iterations | native | " + " | ".join(packed) + " | "
           + " | ".join(f"{v}/native" for v in packed) + " |",
           "|---" * (2 + 2 * len(packed) + 1) + "|"]
    for t, n in r["iterations"].items():
        row = r["scores"][t]
        out.append(f"| {t} | {n:,} | {bench.fmt(row.get('native'))} | " +
                   " | ".join(bench.fmt(row.get(v)) for v in packed) + " | " +
                   " | ".join(f"{r['ratios'][v][t]:.2f}x" if t in r["ratios"][v] else "—" for v in packed) + " |")
    out.append("| geometric mean | | | " + " | ".join("" for _ in packed) + " | " +
               " | ".join(f"{g:.2f}x" if g else "—" for g in (r["geomean"][v] for v in packed)) + " |")
    pinned = [t for t in PINNED if t in r["iterations"]]
    if pinned:
        where = f"CPU {r['pinned_cpu']}" if r.get("pinned_cpu") is not None else "one CPU (not run: no taskset)"
        out += ["", f"{', '.join(pinned)}: {', '.join(PINNED[t] for t in pinned)} with the whole process tree "
                f"started on {where}, native and packed alike (the two processes share it on every pass); "
                "not in the geometric mean."]
    out += [""] + bench.render_unixbench_cpu(r, packed)
    if r["errors"]:
        out += ["", "Failures: " + "; ".join(f"{k}: {e}" for k, e in sorted(r["errors"].items()))]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
