#!/usr/bin/env python3
"""Per-call cost of host-reaching calls and the unixbench rows, for prebuilt linux-userland
runtimes side by side (issue 17, hostcalls).

    python3 bench/hostcalls.py --runtime before=PATH --runtime after=PATH [--rounds N]
                               [--ops futex_wake,pipe_write,...] [--tests syscall,pipe,...]

Compiles bench/src/sysbench.c and bench/src/unixbench.c (gcc, static), packs each with every
given runtime binary (quick mode, syscall sites rewritten; the runtime is chosen through the
LITEBOX_RUNTIME_LINUX_USERLAND override), then runs, in every round, each operation and each
test natively and under every runtime one after the other, so that the load of a shared
machine hits all variants alike. Reports the median over rounds (and the best round) per
variant, the ratio to native, and the 1-minute load average after every round. With `--cpu`
it also reports CPU time (user + system of the whole process tree, from `perf stat`'s
task-clock, the start-up's share taken off with a run of one iteration): on a shared
machine the wall-clock rows mostly measure the other users' load (a fork child waits for a CPU),
while CPU time is what the sandbox itself adds. Build the
runtimes first, e.g. `cargo build --release -p litebox-runtime-linux-userland` at each
revision and copy target/release/litebox-runtime-linux-userland aside.
`sock_tcpname` (getsockname on an accepted TCP socket, as http.server's per request) runs from
a project pack allowing 127.0.0.1:45113 (quick mode has no connect rule).
Writes DIR/hostcalls.json and DIR/hostcalls.md (default DIR: bench/out).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/ is not a package)
import unixbench  # noqa: E402

OVERRIDE_ENV = "LITEBOX_RUNTIME_LINUX_USERLAND"
DEFAULT_OPS = ["getppid", "futex_wake", "devnull", "pipe_write", "mmap", "pread1", "clock"]
ITERS = 20_000


def parse_runtime(spec: str) -> tuple[str, Path]:
    """NAME=PATH of a runtime binary; exits with a one-line error when malformed or missing."""
    name, sep, path = spec.partition("=")
    if not sep or not name or name == "native":
        raise SystemExit(f"bench: --runtime wants NAME=PATH (NAME not 'native'), got {spec!r}")
    p = Path(path).resolve()
    if not p.is_file():
        raise SystemExit(f"bench: runtime {p} does not exist")
    return name, p


def compile_static(src: Path, dst: Path) -> Path:
    """gcc -O2 -static src -o dst; exits on failure."""
    r = bench.sh(["gcc", "-O2", "-static", "-o", str(dst), str(src)])
    if r.returncode != 0:
        raise SystemExit(f"bench: cannot compile {src}: {r.stderr.strip()}")
    return dst


def pack_with(prog: Path, runtime: Path, out_dir: Path) -> Path:
    """prog packed (rewritten) with the given runtime binary; exits when packing fails."""
    os.environ[OVERRIDE_ENV] = str(runtime)
    try:
        art, secs, err = bench.pack(prog, out_dir, True)
    finally:
        os.environ.pop(OVERRIDE_ENV, None)
    if art is None:
        raise SystemExit(f"bench: packing {prog.name} with {runtime} failed: {err}")
    bench.log(f"packed {prog.name} with {runtime.name} in {secs:.1f} s")
    return art


TCP_OPS = {"sock_tcpname"}  # need a listener on, and a connection to, 127.0.0.1:TCP_PORT
TCP_PORT = 45113  # bench/src/sysbench.c's default (SYSBENCH_TCP_PORT)


def pack_project_with(prog: Path, runtime: Path, out_dir: Path) -> Path:
    """prog packed as a project allowing listen on and connect to 127.0.0.1:TCP_PORT (quick mode
    has no connect rule), with the given runtime; exits when packing fails."""
    project = out_dir / prog.name
    project.mkdir(parents=True, exist_ok=True)
    shutil.copy2(prog, project / prog.name)
    rule = f'["127.0.0.1:{TCP_PORT}"]'
    (project / "litebox.toml").write_text(
        f'[app]\nname = "{prog.name}"\nentry = "/app/{prog.name}"\n\n[files]\n"/app/{prog.name}" = "{prog.name}"\n\n'
        f"[policy.network]\nlisten = {rule}\nconnect = {rule}\n", encoding="utf-8")
    return pack_with(project, runtime, out_dir / "dist")


def sysbench_ns(argv: list[str], op: str) -> float | None:
    """ns per call of one sysbench operation (best of its 5 inner loops), or None on failure."""
    r = subprocess.run([*argv, op, str(ITERS)], capture_output=True, text=True, check=False, timeout=300)
    parts = r.stdout.split()
    if r.returncode != 0 or len(parts) != 2 or parts[0] != op:
        return None
    return float(parts[1])


SYSBENCH_LOOPS = 5  # bench/src/sysbench.c runs every operation in 5 loops of N calls


def cpu_seconds(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Runs argv under `perf stat`; the CPU time (task-clock: user + system) it and every
    descendant used, and the run. (Not the rusage of reaped children: the sandbox's first
    process does not reap its supervisor, so the app's time would go uncounted.)"""
    r = subprocess.run(["perf", "stat", "-x,", "-e", "task-clock", "--", *argv], capture_output=True, text=True,
                       check=False, timeout=600)
    line = next((x for x in reversed(r.stderr.splitlines()) if ",task-clock" in x), "")
    try:
        msec = float(line.split(",")[0])
    except ValueError:
        return 0.0, subprocess.CompletedProcess(r.args, 1, r.stdout, r.stderr)
    return msec / 1e3, r


def cpu_ns_per_call(argv: list[str], op: str) -> float | None:
    """CPU ns per call of one sysbench operation: a run of ITERS calls per loop less a run of
    one (start-up and exit), over the calls in between; None on failure."""
    full, r = cpu_seconds([*argv, op, str(ITERS)])
    base, r1 = cpu_seconds([*argv, op, "1"])
    if r.returncode != 0 or r1.returncode != 0:
        return None
    return max(full - base, 0.0) * 1e9 / (SYSBENCH_LOOPS * (ITERS - 1))


def cpu_us_per_iteration(argv: list[str], test: str) -> float | None:
    """CPU µs per iteration of one unixbench test, measured like [`cpu_ns_per_call`]."""
    n = unixbench.TESTS[test]
    full, r = cpu_seconds([*argv, test, str(n)])
    base, r1 = cpu_seconds([*argv, test, "1"])
    if r.returncode != 0 or r1.returncode != 0:
        return None
    return max(full - base, 0.0) * 1e6 / (n - 1)


def fmt(x: float | None) -> str:
    """A number for the table (integers above 100)."""
    if x is None:
        return "failed"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def render(r: dict[str, Any]) -> str:
    """The markdown tables of a run."""
    names = r["variants"]
    out = [f"Command: `{r['command']}`, {r['date']}.", "",
           f"1-minute load average at the start and after each round: {', '.join(r['loadavg'])}.", ""]
    if r["ns"]:
        out += ["ns per call (median over rounds, best round in brackets; ratio to native's median):", "",
                "| operation | " + " | ".join(names) + " | " + " | ".join(f"{n}/native" for n in names[1:]) + " |",
                "|---" * (2 * len(names)) + "|"]
        for op, by in r["ns"].items():
            cells = [f"{fmt(by[n]['median'])} ({fmt(by[n]['min'])})" for n in names]
            nat = by["native"]["median"]
            rat = [f"{by[n]['median'] / nat:.2f}x" if by[n]["median"] and nat else "-" for n in names[1:]]
            out.append(f"| {op} | " + " | ".join(cells + rat) + " |")
        out.append("")
    if r["scores"]:
        out += ["unixbench equivalents, iterations per second (median over rounds; ratio packed/native):", "",
                "| test | " + " | ".join(names) + " | " + " | ".join(f"{n}/native" for n in names[1:]) + " |",
                "|---" * (2 * len(names)) + "|"]
        for t, by in r["scores"].items():
            nat = by["native"]
            rat = [f"{by[n] / nat:.2f}x" if by[n] and nat else "-" for n in names[1:]]
            out.append(f"| {t} | " + " | ".join(fmt(by[n]) for n in names) + " | " + " | ".join(rat) + " |")
        gm = [f"{r['geomean'][n]:.2f}x" if r["geomean"].get(n) else "-" for n in names[1:]]
        out.append("| geometric mean | " + " | ".join("" for _ in names) + " | " + " | ".join(gm) + " |")
        out.append("")
    out += render_cpu(r)
    return "\n".join(out)


def render_cpu(r: dict[str, Any]) -> list[str]:
    """The CPU-time tables of a run made with --cpu (none otherwise)."""
    names = r["variants"]
    out: list[str] = []
    tables = [("cpu_ns", "CPU ns per call (user + system; median over rounds, best round in brackets; "
                          "ratio to native's median, lower is better):", "operation", "{}/native"),
              ("cpu_us", "unixbench equivalents, CPU µs per iteration (median over rounds, best round in "
                         "brackets; ratio native/packed, so >= 1 means as cheap as native):", "test", "native/{}")]
    for key, title, col, ratio in tables:
        rows = r.get(key) or {}
        if not rows:
            continue
        out += [title, "", f"| {col} | " + " | ".join(names) + " | "
                + " | ".join(ratio.format(n) for n in names[1:]) + " |", "|---" * (2 * len(names)) + "|"]
        for row, by in rows.items():
            nat = by["native"]["median"]
            cells = [f"{fmt(by[n]['median'])} ({fmt(by[n]['min'])})" for n in names]
            if key == "cpu_ns":
                rat = [f"{by[n]['median'] / nat:.2f}x" if by[n]["median"] and nat else "-" for n in names[1:]]
            else:
                rat = [f"{nat / by[n]['median']:.2f}x" if by[n]["median"] and nat else "-" for n in names[1:]]
            out.append(f"| {row} | " + " | ".join(cells + rat) + " |")
        out.append("")
    return out


def main() -> int:
    """Builds, packs, measures; returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runtime", action="append", default=[], metavar="NAME=PATH",
                    help="a linux-userland runtime binary to pack with (repeat; order = column order)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--ops", default=",".join(DEFAULT_OPS),
                    help=f"sysbench operations, comma-separated ('' for none; default {','.join(DEFAULT_OPS)})")
    ap.add_argument("--tests", default=",".join(unixbench.TESTS),
                    help="unixbench tests, comma-separated ('' for none; default all six)")
    ap.add_argument("--out", type=Path, default=bench.REPO / "bench" / "out", help="output directory")
    ap.add_argument("--cpu", action="store_true",
                    help="also measure CPU time per call and per iteration (each run again, with a "
                         "one-iteration run to take off start-up)")
    args = ap.parse_args()
    if args.cpu and shutil.which("perf") is None:
        raise SystemExit("bench: --cpu needs perf (Debian: linux-perf)")
    runtimes = dict(parse_runtime(s) for s in args.runtime)
    if not runtimes:
        raise SystemExit("bench: give at least one --runtime NAME=PATH")
    ops = [o for o in args.ops.split(",") if o]
    tests = [t for t in args.tests.split(",") if t]
    unknown = [t for t in tests if t not in unixbench.TESTS]
    if unknown:
        raise SystemExit(f"bench: unknown unixbench test(s) {', '.join(unknown)}; known: {', '.join(unixbench.TESTS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="hostcalls-", dir=args.out)).resolve()
    sysb = compile_static(bench.SRC / "sysbench.c", work / "sysbench")
    unixb = compile_static(bench.SRC / "unixbench.c", work / "unixbench")
    names = ["native", *runtimes]
    sys_argv = {"native": [str(sysb)]}
    ub_argv = {"native": [str(unixb)]}
    tcp_argv = {"native": [str(sysb)]}
    for n, rt in runtimes.items():
        if ops:
            sys_argv[n] = [str(pack_with(sysb, rt, work / f"sys-{n}"))]
        if TCP_OPS & set(ops):
            tcp_argv[n] = [str(pack_project_with(sysb, rt, work / f"tcp-{n}"))]
        if tests:
            ub_argv[n] = [str(pack_with(unixb, rt, work / f"ub-{n}"))]
    ns: dict[str, dict[str, list[float]]] = {op: {n: [] for n in names} for op in ops}
    scores: dict[str, dict[str, list[float]]] = {t: {n: [] for n in names} for t in tests}
    cpu_ns: dict[str, dict[str, list[float]]] = {op: {n: [] for n in names} for op in ops} if args.cpu else {}
    cpu_us: dict[str, dict[str, list[float]]] = {t: {n: [] for n in names} for t in tests} if args.cpu else {}
    loads = [f"{os.getloadavg()[0]:.2f}"]
    for rnd in range(args.rounds):
        for op in ops:
            argv = tcp_argv if op in TCP_OPS else sys_argv
            for n in names:
                x = sysbench_ns(argv[n], op)
                if x is not None:
                    ns[op][n].append(x)
        for t in tests:
            for n in names:
                s = unixbench.run_test(ub_argv[n], t).score
                if s is not None:
                    scores[t][n].append(s)
        for op in cpu_ns:
            argv = tcp_argv if op in TCP_OPS else sys_argv
            for n in names:
                c = cpu_ns_per_call(argv[n], op)
                if c is not None:
                    cpu_ns[op][n].append(c)
        for t in cpu_us:
            for n in names:
                c = cpu_us_per_iteration(ub_argv[n], t)
                if c is not None:
                    cpu_us[t][n].append(c)
        loads.append(f"{os.getloadavg()[0]:.2f}")
        bench.log(f"round {rnd + 1}/{args.rounds} done (load {loads[-1]})")
    med_ns = {op: {n: {"median": bench.median(xs) if xs else None, "min": min(xs) if xs else None}
                   for n, xs in by.items()} for op, by in ns.items()}
    med_sc = {t: {n: bench.median(xs) if xs else None for n, xs in by.items()} for t, by in scores.items()}
    med_cpu = {key: {row: {n: {"median": bench.median(xs) if xs else None, "min": min(xs) if xs else None}
                           for n, xs in by.items()} for row, by in table.items()}
               for key, table in (("cpu_ns", cpu_ns), ("cpu_us", cpu_us))}
    geo = {n: unixbench.geomean([by[n] / by["native"] for by in med_sc.values() if by[n] and by["native"]])
           for n in names[1:]} if tests else {}
    results: dict[str, Any] = {
        "command": " ".join(["python3", "bench/hostcalls.py", *sys.argv[1:]]), "machine": bench.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "variants": names,
        "runtimes": {n: str(p) for n, p in runtimes.items()}, "ns": med_ns, "scores": med_sc, "geomean": geo,
        "loadavg": loads, **med_cpu}
    (args.out / "hostcalls.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    md = render(results)
    (args.out / "hostcalls.md").write_text(md)
    print(md)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
