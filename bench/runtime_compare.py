#!/usr/bin/env python3
"""What a change to the linux-userland runtime costs, before vs after: start-up to exit and
syscall cost of the same programs packed with two builds of the runtime, next to native.

    python3 bench/runtime_compare.py --before REV [--after REV|worktree] [--rounds N]
                                     [--startup-runs N] [--out DIR] [--results-md FILE]
                                     [--no-python] [--own-packagers] [--no-syscalls]

Written for the sandbox isolation change (f72d256 -> f0a6811: the runtime became a supervisor
that clones an init process into new namespaces and forks the app as pid 2), but it compares
any two revisions. For each revision it makes a temporary `git worktree add --detach` and runs
`cargo build --locked --release -p litebox-runtime-linux-userland` with one shared target
directory (DIR/runtime-target); `--after` defaults to this checkout's own sources. Both
runtimes pack with this checkout's packager (or, with `--own-packagers`, each with its own
revision's: for a change to the image layout too) (quick mode, `python -m packager pack` with
LITEBOX_RUNTIME_LINUX_USERLAND naming the prebuilt runtime, syscall sites rewritten):
hello-static, hello-dynamic, Debian's python3 with /usr/lib/python3.11 (a project as in
bench/run.py) and bench/src/sysbench.c, the latter also with `--no-rewrite` (the trap path).

Measured, with the variants (native, before, after) alternating inside every round:

- start-up to exit (ms, wall clock of `subprocess.run`) of hello-static, hello-dynamic and
  `python3 -c pass`; medians over all runs, and the after/before ratio per round;
- syscall cost (ns per call) of bench/run.py's OPS with the rewritten artifacts (fast path)
  and the `--no-rewrite` ones (seccomp trap + SIGSYS); medians over rounds.

The machine's load average is recorded before and after every section (the numbers are only
as good as the machine is quiet). Writes DIR/runtime_compare.json and DIR/runtime_compare.md
(default DIR: bench/out); `--results-md FILE` also writes the markdown there.
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
import run as bench  # noqa: E402  (bench/run.py; bench/ is not a package)

REPO = bench.REPO
sys.path.insert(0, str(REPO))
from packager.targets import cargobuild  # noqa: E402

PACKAGE = "litebox-runtime-linux-userland"
OVERRIDE_ENV = "LITEBOX_RUNTIME_LINUX_USERLAND"
SIDES = ("before", "after")
STARTUP_VARIANTS = ("native", "before", "after")
SYSCALL_VARIANTS = ("native", "before/rewrite", "after/rewrite", "before/trap", "after/trap")
PY_TOML = ('[app]\nname = "python3"\nentry = "/usr/bin/python3"\nenv = { LANG = "C.UTF-8" }\n\n'
           '[files]\n"/usr/lib/python3.11" = "/usr/lib/python3.11"\n\n[build]\nsource_date_epoch = 0\n')


def git(*args: str, cwd: Path = REPO) -> str:
    """Runs git in cwd; its stdout, stripped. Exits on failure."""
    r = bench.sh(["git", *args], cwd=cwd)
    if r.returncode != 0:
        raise SystemExit(f"bench: git {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout.strip()


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cargo_build(src: Path, target_dir: Path, dst: Path) -> float:
    """Builds the runtime from the checkout at src into the shared target_dir (paths remapped
    as the packager builds it) and copies it to dst; returns the build's seconds."""
    t0 = time.perf_counter()
    r = subprocess.run(["cargo", "build", "--locked", "--release", "-p", PACKAGE, "--target-dir", str(target_dir)],
                       cwd=src, env=cargobuild.cargo_env(src), capture_output=True, text=True, check=False)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"bench: cargo build in {src} failed: {r.stderr.strip()[-2000:]}")
    shutil.copy2(target_dir / "release" / PACKAGE, dst)
    return dt


def build_runtime(rev: str | None, target_dir: Path, work: Path, side: str, keep: bool = False) -> dict[str, Any]:
    """The runtime of revision rev (None: this checkout's sources, as they are), copied to
    work/runtime-SIDE; the revision, commit and build time. With ``keep`` the temporary
    worktree of rev stays (its "src", for packing with that revision's packager; the caller
    removes it with ``remove_worktree``)."""
    dst = work / f"runtime-{side}"
    if rev is None:
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "core", "platform_targets",
                         "Cargo.toml", "Cargo.lock"))
        commit = git("rev-parse", "--short", "HEAD")
        bench.log(f"{side}: building the runtime from this worktree ({commit}{', modified' if dirty else ''})")
        secs = cargo_build(REPO, target_dir, dst)
        return {"rev": "worktree", "commit": commit + ("+modified" if dirty else ""), "build_s": round(secs, 1),
                "path": str(dst)}
    commit = git("rev-parse", "--short", f"{rev}^{{commit}}")
    src = work / f"src-{side}"
    git("worktree", "add", "--detach", str(src), commit)
    try:
        bench.log(f"{side}: building the runtime of {rev} ({commit}) in a temporary worktree")
        secs = cargo_build(src, target_dir, dst)
    except BaseException:
        remove_worktree(src)
        raise
    if not keep:
        remove_worktree(src)
    return {"rev": rev, "commit": commit, "build_s": round(secs, 1), "path": str(dst),
            **({"src": str(src)} if keep else {})}


def remove_worktree(src: Path) -> None:
    """Removes a temporary worktree made by build_runtime."""
    git("worktree", "remove", "--force", str(src))


def pack_with(repo: Path, prog: Path, out_dir: Path, rewrite: bool) -> tuple[Path | None, float, str]:
    """bench.pack with the packager of the checkout at ``repo``: (artifact or None, seconds,
    error text)."""
    t0 = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(repo))
    r = subprocess.run([sys.executable, "-m", "packager", "pack", str(prog), "--out-dir", str(out_dir),
                        *([] if rewrite else ["--no-rewrite"])], capture_output=True, text=True, cwd=repo,
                       env=env, check=False)
    dt = time.perf_counter() - t0
    art = out_dir / f"{prog.name}-linux-userland"
    if r.returncode != 0 or not art.exists():
        return None, dt, (r.stderr.strip().splitlines() or ["?"])[-1]
    return art, dt, ""


def pack_all(progs: dict[str, Path], runtime: Path, work: Path, side: str,
             python: bool = True, repo: Path = REPO) -> tuple[dict[str, Path], dict[str, str]]:
    """Packs every program with the given runtime and the packager of the checkout at ``repo``:
    {"hello-static", "hello-dynamic", "python3" (unless `python` is false), "sysbench/rewrite",
    "sysbench/trap"} -> artifact, and the failures."""
    os.environ[OVERRIDE_ENV] = str(runtime)
    arts: dict[str, Path] = {}
    errors: dict[str, str] = {}
    project = work / "python3"
    project.mkdir(exist_ok=True)
    (project / "litebox.toml").write_text(PY_TOML, encoding="utf-8")
    jobs = [("hello-static", progs["hello-static"], True), ("hello-dynamic", progs["hello-dynamic"], True),
            ("python3", project, True), ("sysbench/rewrite", progs["sysbench"], True),
            ("sysbench/trap", progs["sysbench"], False)]
    if not python:
        jobs = [j for j in jobs if j[0] != "python3"]
    try:
        for key, prog, rewrite in jobs:
            art, secs, err = pack_with(repo, prog, work / f"pack-{side}-{key.replace('/', '-')}", rewrite)
            bench.log(f"{side}: packed {key} in {secs:.1f} s" + (f" (FAILED: {err})" if err else ""))
            if art is None:
                errors[key] = err
            else:
                arts[key] = art
    finally:
        os.environ.pop(OVERRIDE_ENV, None)
    return arts, errors


def startup(progs: dict[str, Path], arts: dict[str, dict[str, Path]], rounds: int,
            runs: int) -> dict[str, Any]:
    """Start-up to exit of each program, every run alternating native, before, after."""
    cmds: dict[str, dict[str, list[str] | None]] = {}
    for name in ("hello-static", "hello-dynamic"):
        cmds[name] = {"native": [str(progs[name])]}
        cmds[name].update({s: [str(arts[s][name])] if name in arts[s] else None for s in SIDES})
    if any("python3" in arts[s] for s in SIDES):
        cmds["python3 -c pass"] = {"native": ["/usr/bin/python3", "-c", "pass"]}
        cmds["python3 -c pass"].update({s: [str(arts[s]["python3"]), "-c", "pass"] if "python3" in arts[s] else None
                                        for s in SIDES})
    samples = {n: {v: [[] for _ in range(rounds)] for v in STARTUP_VARIANTS} for n in cmds}
    rss: dict[str, dict[str, list[int]]] = {n: {v: [] for v in STARTUP_VARIANTS} for n in cmds}
    errors: dict[str, str] = {}
    loads: list[str] = []
    for rnd in range(rounds):
        for name, by_variant in cmds.items():
            for _ in range(runs):
                for v in STARTUP_VARIANTS:
                    argv = by_variant[v]
                    key = f"{name}/{v}"
                    if argv is None or key in errors:
                        errors.setdefault(key, "not packed")
                        continue
                    code, err, dt, _ = bench.run_measured(argv)
                    if code != 0:
                        last = (err.decode(errors="replace").strip().splitlines() or [""])[-1][:160]
                        errors[key] = f"exit {code}: {last}"
                        continue
                    samples[name][v][rnd].append(dt * 1000)
            # Peak memory: one run per variant and round under the wrapper, kept out of the
            # timed runs (the wrapper's fork would be in their wall time).
            for v in STARTUP_VARIANTS:
                argv = by_variant[v]
                if argv is not None and f"{name}/{v}" not in errors:
                    _, _, _, maxrss = bench.run_measured(argv, progs.get("peakrss"))
                    if maxrss is not None:
                        rss[name][v].append(maxrss)
        loads.append(loadavg())
        bench.log(f"start-up round {rnd + 1}/{rounds} done (load {loads[-1]})")
    out: dict[str, Any] = {}
    for name, by_v in samples.items():
        row: dict[str, Any] = {}
        for v in STARTUP_VARIANTS:
            flat = [x for rs in by_v[v] for x in rs]
            row[v] = None if f"{name}/{v}" in errors else bench.median(flat)
            row[f"{v}_round_medians"] = [bench.median(rs) for rs in by_v[v]]
        per_round = [a / b for a, b in zip(row["after_round_medians"], row["before_round_medians"]) if a and b]
        row["after_over_before_per_round"] = [round(x, 3) for x in per_round]
        out[name] = row
    peak = {n: {v: (None if f"{n}/{v}" in errors or not by_v[v] else bench.median([float(x) for x in by_v[v]]))
                for v in STARTUP_VARIANTS} for n, by_v in rss.items()}
    return {"ms": out, "maxrss_kib": peak, "errors": errors, "loadavg_per_round": loads}


def syscalls(progs: dict[str, Path], arts: dict[str, dict[str, Path]], rounds: int) -> dict[str, Any]:
    """Nanoseconds per call of each of bench/run.py's OPS, variants alternating per operation."""
    cmd: dict[str, tuple[Path, int, str] | None] = {"native": (progs["sysbench"], bench.ITERS["native"],
                                                               str(progs["sysbench"]))}
    for side in SIDES:
        for path in ("rewrite", "trap"):
            art = arts[side].get(f"sysbench/{path}")
            if art is None:
                cmd[f"{side}/{path}"] = None
                continue
            # The file read is the probe itself, at the launch entry's image path (as run.py does).
            entry = json.loads(Path(f"{art}.manifest.json").read_text())["launch"]["entry"]
            cmd[f"{side}/{path}"] = (art, bench.ITERS[path], entry)
    samples = {op: {v: [] for v in SYSCALL_VARIANTS} for op in bench.OPS}
    errors: dict[str, str] = {}
    loads: list[str] = []
    for rnd in range(rounds):
        for op in bench.OPS:
            for v in SYSCALL_VARIANTS:
                c = cmd[v]
                if c is None:
                    errors[f"{op}/{v}"] = "not packed"
                    continue
                prog, iters, target = c
                r = bench.sh([str(prog), op, str(iters), target], timeout=300)
                try:
                    samples[op][v].append(float(r.stdout.split()[-1]))
                except (IndexError, ValueError):
                    errors[f"{op}/{v}"] = f"exit {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1][:160]}"
        loads.append(loadavg())
        bench.log(f"syscall round {rnd + 1}/{rounds} done (load {loads[-1]})")
    return {"ns": {op: {v: bench.median(samples[op][v]) for v in SYSCALL_VARIANTS} for op in bench.OPS},
            "samples": samples, "errors": errors, "loadavg_per_round": loads}


def spread(xs: list[float]) -> str:
    """min–max of per-round ratios for the table."""
    return f"{min(xs):.2f}–{max(xs):.2f}" if xs else "—"


def load_range(section: dict[str, Any]) -> str:
    """min–max of the 1-minute load average after each round of a section."""
    xs = [float(x.split()[0]) for x in section.get("loadavg_per_round", [])]
    return f"{min(xs):.2f}–{max(xs):.2f}" if xs else "—"


def render(r: dict[str, Any]) -> str:
    """The markdown report."""
    m = r["machine"]
    b, a = r["runtimes"]["before"], r["runtimes"]["after"]
    out = ["# Runtime before vs after: start-up and syscall cost", "",
           f"Command: `{r['command']}` (from the repository root), {r['date']}.", "",
           f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}, kernel {m['kernel']}, Python {m['python']}; "
           f"running as uid {r['uid']}. Load average (1/5/15 min): " +
           "; ".join(f"{k} {v}" for k, v in r["loadavg"]) + "; 1-minute load after each round: "
           f"start-up {load_range(r['startup'])}, syscalls {load_range(r.get('syscalls', {}))}.", "",
           f"Runtimes: **before** = `{b['rev']}` ({b['commit']}), **after** = `{a['rev']}` ({a['commit']}), "
           "each built with `cargo build --locked --release` and packed by "
           f"{r.get('packagers', 'this checkout' + chr(39) + 's')} packager (quick mode, syscall sites "
           "rewritten; python3 as a project with /usr/lib/python3.11). "
           "`native` runs the same programs unpacked. Variants alternate inside every round.", ""]
    if r["pack_errors"]:
        out += ["Pack failures: " + "; ".join(f"{k}: {e}" for k, e in sorted(r["pack_errors"].items())), ""]
    s = r["startup"]
    out += [f"## Start-up to exit (ms, wall clock including fork/exec from Python; median of "
            f"{r['rounds']} rounds x {r['startup_runs']} runs)", "",
            "| program | native | before | after | after − before | after/before | per-round after/before "
            "| before/native | after/native |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, row in s["ms"].items():
        nat, bef, aft = row["native"], row["before"], row["after"]
        diff = f"{aft - bef:+.2f}" if aft is not None and bef is not None else "—"
        out.append(f"| {name} | {bench.fmt(nat)} | {bench.fmt(bef)} | {bench.fmt(aft)} | {diff} | "
                   f"{bench.ratio(aft, bef)} | {spread(row['after_over_before_per_round'])} | "
                   f"{bench.ratio(bef, nat)} | {bench.ratio(aft, nat)} |")
    if s["errors"]:
        out += ["", "Failures: " + "; ".join(f"{k}: {e}" for k, e in sorted(s["errors"].items()))]
    if s.get("maxrss_kib"):
        out += ["", "## Peak resident memory (MiB; the largest VmHWM among the run's processes, wait4's "
                "ru_maxrss; median over the same runs)", "",
                "| program | native | before | after | after − native | after/native |",
                "|---|---|---|---|---|---|"]
        for name, row in s["maxrss_kib"].items():
            mib = {v: (None if row[v] is None else row[v] / 1024) for v in STARTUP_VARIANTS}
            over = f"{mib['after'] - mib['native']:+.2f}" if mib["after"] is not None and mib["native"] else "—"
            out.append(f"| {name} | {bench.fmt(mib['native'])} | {bench.fmt(mib['before'])} | "
                       f"{bench.fmt(mib['after'])} | {over} | {bench.ratio(mib['after'], mib['native'])} |")
    sc = r.get("syscalls", {"ns": {}, "errors": {}})
    sections = (("rewrite", "syscall sites rewritten (fast path)"), ("trap", "`--no-rewrite` (seccomp trap + SIGSYS)"))
    for path, title in sections if "syscalls" in r else ():
        out += ["", f"## Syscall cost, {title} (ns per call; best of 5 inner loops of "
                f"{bench.ITERS[path]:,} calls, median of {r['rounds']} rounds)", "",
                "| operation | native | before | after | after/before | before/native | after/native |",
                "|---|---|---|---|---|---|---|"]
        for op, row in sc["ns"].items():
            nat, bef, aft = row["native"], row[f"before/{path}"], row[f"after/{path}"]
            out.append(f"| {bench.OP_LABELS[op]} | {bench.fmt(nat)} | {bench.fmt(bef)} | {bench.fmt(aft)} | "
                       f"{bench.ratio(aft, bef)} | {bench.ratio(bef, nat)} | {bench.ratio(aft, nat)} |")
    if sc.get("errors"):
        out += ["", "Failures: " + "; ".join(f"{k}: {e}" for k, e in sorted(sc["errors"].items()))]
    out += ["", "Artifact sizes (bytes): " + "; ".join(
        f"{k}: before {v.get('before') or '—'}, after {v.get('after') or '—'}" for k, v in r["artifact_bytes"].items()),
        ""]
    return "\n".join(out)


def main() -> int:
    """Builds both runtimes, packs, measures; returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="revision of the runtime before the change")
    ap.add_argument("--after", default="worktree",
                    help="revision after the change, or `worktree` for this checkout's sources (default)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds per measurement (default 5)")
    ap.add_argument("--startup-runs", type=int, default=10, help="start-ups per variant per round (default 10)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out", help="output directory")
    ap.add_argument("--results-md", type=Path, help="also write the markdown table here")
    ap.add_argument("--no-python", action="store_true",
                    help="leave python3 out (its pack takes minutes on a busy machine)")
    ap.add_argument("--own-packagers", action="store_true",
                    help="pack each side with its own revision's packager (default: this checkout's for "
                         "both); for changes to the image layout as well as the runtime")
    ap.add_argument("--no-syscalls", action="store_true", help="measure start-up and memory only")
    args = ap.parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    target_dir = args.out / "runtime-target"
    work = Path(tempfile.mkdtemp(prefix="cmp-", dir=args.out)).resolve()
    results: dict[str, Any] = {
        "command": " ".join(["python3", "bench/runtime_compare.py", *sys.argv[1:]]),
        "machine": bench.machine(), "uid": os.geteuid(), "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "rounds": args.rounds, "startup_runs": args.startup_runs, "loadavg": [["start", loadavg()]]}
    keep = args.own_packagers
    runtimes = {"before": build_runtime(args.before, target_dir, work, "before", keep),
                "after": build_runtime(None if args.after == "worktree" else args.after, target_dir, work, "after",
                                       keep)}
    results["runtimes"] = runtimes
    results["packagers"] = "each side's own" if keep else "this checkout's"
    progs = bench.build_programs(work)
    arts: dict[str, dict[str, Path]] = {}
    pack_errors: dict[str, str] = {}
    try:
        for side in SIDES:
            repo = Path(runtimes[side].get("src", REPO))
            arts[side], errs = pack_all(progs, Path(runtimes[side]["path"]), work, side, python=not args.no_python,
                                        repo=repo)
            pack_errors.update({f"{side}/{k}": e for k, e in errs.items()})
    finally:
        for side in SIDES:
            if "src" in runtimes[side]:
                remove_worktree(Path(runtimes[side]["src"]))
    results["pack_errors"] = pack_errors
    keys = sorted({k for side in SIDES for k in arts[side]})
    results["artifact_bytes"] = {k: {s: arts[s][k].stat().st_size if k in arts[s] else None for s in SIDES}
                                 for k in keys}

    results["loadavg"].append(["before start-up", loadavg()])
    bench.log(f"start-up to exit: 3 programs x {len(STARTUP_VARIANTS)} variants x {args.rounds} rounds "
              f"x {args.startup_runs} runs")
    results["startup"] = startup(progs, arts, args.rounds, args.startup_runs)
    if not args.no_syscalls:
        results["loadavg"].append(["before syscalls", loadavg()])
        bench.log(f"syscall cost: {len(bench.OPS)} operations x {len(SYSCALL_VARIANTS)} variants x "
                  f"{args.rounds} rounds")
        results["syscalls"] = syscalls(progs, arts, args.rounds)
    results["loadavg"].append(["end", loadavg()])

    (args.out / "runtime_compare.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    md = render(results)
    (args.out / "runtime_compare.md").write_text(md)
    if args.results_md:
        args.results_md.write_text(md)
    print(md)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
