#!/usr/bin/env python3
"""LiteBox Pack benchmarks (not tests): syscall cost, start-up and peak resident memory, pack
time and artifact size, HTTP throughput, byte-unixbench equivalents, kvm boot and start-up with a
large image: native and packed (rewritten fast path and trap path) side by side with peers, in
one run, ending with every row of issue 17's target table against its target.

    python3 bench/run.py [--rounds N] [--out DIR] [--results-md FILE] [--no-install]
                         [--no-unixbench] [--no-kvm] [--no-large-image]

Programs and variants alternate inside every round, so drift on a shared machine hits them
all alike; the tables report medians over rounds and ratios to native. Peers (bubblewrap,
gVisor's runsc with the ptrace platform, firejail) are installed from Debian with apt-get when
missing (best effort; a peer that cannot be installed or fails is reported, never fatal).
Writes DIR/results.json and DIR/RESULTS.md (default DIR: bench/out).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_load  # noqa: E402  (bench/ is not a package)

REPO = Path(__file__).resolve().parents[1]
SRC = Path(__file__).resolve().parent / "src"
OPS = ["getuid", "getpid", "getppid", "pread1", "openclose", "fstatat", "mmap", "devnull", "pipe_write", "futex_wake",
       "clock"]
OP_LABELS = {
    "getuid": "getuid (emulated, never reaches the host)",
    "getpid": "getpid",
    "getppid": "getppid (the first process's parent never changes: asked once)",
    "pread1": "pread 1 byte of a packed file",
    "openclose": "openat + close",
    "fstatat": "newfstatat",
    "mmap": "mmap + munmap 4 KiB",
    "devnull": "write 1 byte to /dev/null",
    "pipe_write": "write + read 1 byte through a pipe",
    "futex_wake": "futex wake, no waiter",
    "clock": "clock_gettime(CLOCK_MONOTONIC) (packed: the runtime reads the host's vDSO)",
}
# Iterations per timed round inside the probe, per variant (trap and gVisor are slow).
ITERS = {"native": 20000, "rewrite": 20000, "trap": 3000, "bwrap": 20000, "firejail": 20000, "runsc": 300}
PEERS = {"bwrap": "bubblewrap", "runsc": "runsc", "firejail": "firejail"}


def log(msg: str) -> None:
    """Progress on stderr."""
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def machine() -> dict[str, str]:
    """Which machine and kernel the numbers come from."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    distro = "?"
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                distro = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return {"cpu": model, "cores": str(os.cpu_count()), "kernel": platform.release(), "os": distro,
            "python": platform.python_version()}


def ensure_peers(install: bool) -> dict[str, str]:
    """Peer name -> "ok" or why it is skipped; installs missing Debian packages if allowed."""
    status: dict[str, str] = {}
    missing = [name for name in PEERS if shutil.which(name) is None]
    if missing and install and shutil.which("apt-get"):
        pkgs = [PEERS[m] for m in missing]
        log(f"installing peers from Debian: {' '.join(pkgs)}")
        root = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
        if root is not None:
            subprocess.run([*root, "apt-get", "install", "-y", "--no-install-recommends", *pkgs],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    for name in PEERS:
        status[name] = "ok" if shutil.which(name) else f"not available ({PEERS[name]} not installed)"
    if status["runsc"] == "ok" and os.geteuid() != 0:
        status["runsc"] = "skipped: `runsc do` needs root"
    return status


def sh(argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    """Runs argv, text output captured, never raising on failure."""
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kw)


def run_measured(argv: list[str], peakrss: Path | None = None) -> tuple[int, bytes, float, int | None]:
    """Runs argv (stdout discarded, stderr captured) and returns its exit status, stderr, wall
    seconds and, when `peakrss` (bench/src/peakrss.c, built by build_programs) is given and
    argv runs under it, the peak resident memory in KiB (the largest VmHWM of the process
    and of every descendant it waited for), else None. The wrapper's own fork and wait are in
    the wall time of every variant alike."""
    t0 = time.perf_counter()
    r = subprocess.run([str(peakrss), *argv] if peakrss else argv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, check=False)
    dt = time.perf_counter() - t0
    err, maxrss = r.stderr, None
    if peakrss:
        head, _, last = err.rstrip(b"\n").rpartition(b"\n")
        if last.startswith(b"peakrss: maxrss_kib="):
            maxrss = int(last.split(b"=")[1].split()[0])
            err = head
    return r.returncode, err, dt, maxrss


def litebox(*args: str) -> subprocess.CompletedProcess[str]:
    """Runs the CLI from this checkout."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "packager", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, check=False)


def build_programs(work: Path) -> dict[str, Path]:
    """Compiles the probe and the hello programs (gcc) into work/bin."""
    bindir = work / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    progs = {
        "sysbench": (SRC / "sysbench.c", ["-static"]),
        "hello-static": (REPO / "examples/hello-static/hello.c", ["-static"]),
        "hello-dynamic": (REPO / "examples/hello-dynamic/hello.c", []),
        "peakrss": (SRC / "peakrss.c", ["-static"]),
    }
    out = {}
    for name, (src, flags) in progs.items():
        dst = bindir / name
        r = sh(["gcc", "-O2", *flags, "-o", str(dst), str(src)])
        if r.returncode != 0:
            raise SystemExit(f"bench: cannot compile {src}: {r.stderr.strip()}")
        out[name] = dst
    return out


def pack(prog: Path, out_dir: Path, rewrite: bool, *extra: str) -> tuple[Path | None, float, str]:
    """Packs prog (quick mode); returns (artifact or None, seconds, error text)."""
    t0 = time.perf_counter()
    r = litebox("pack", str(prog), "--out-dir", str(out_dir), *([] if rewrite else ["--no-rewrite"]), *extra)
    dt = time.perf_counter() - t0
    art = out_dir / f"{prog.name}-linux-userland"
    if r.returncode != 0 or not art.exists():
        return None, dt, (r.stderr.strip().splitlines() or ["?"])[-1]
    return art, dt, ""


def warm_pack(prog: Path, out_dir: Path, rewrite: bool, runs: int) -> float:
    """Seconds of a warm re-pack of prog into out_dir (already packed there, nothing changed):
    the median of ``runs`` re-packs, as the other tables report medians (one re-pack varies by
    +-25% on a shared machine)."""
    return statistics.median(pack(prog, out_dir, rewrite)[1] for _ in range(max(1, runs)))


def wrap(variant: str, argv: list[str], runsc_root: Path, capture: bool) -> list[str]:
    """The command line running argv under a peer (or as is)."""
    if variant == "bwrap":
        return ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all",
                "--die-with-parent", *argv]
    if variant == "firejail":
        return ["firejail", "--quiet", "--noprofile", *argv]
    if variant == "runsc":
        base = ["runsc", "--root", str(runsc_root), "--network=none", "--platform=ptrace", "do"]
        # `runsc do` (2022-12 build) drops a direct child's stdout; a shell in between keeps it.
        if capture:
            return [*base, "/bin/sh", "-c", " ".join(f"'{a}'" for a in argv)]
        return [*base, *argv]
    return argv


def median(xs: list[float]) -> float | None:
    """Median, or None for no samples."""
    return statistics.median(xs) if xs else None


def main() -> int:
    """Runs every benchmark; returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7, help="alternating rounds per measurement (default 7)")
    ap.add_argument("--startup-runs", type=int, default=20, help="start-ups per variant per round (default 20)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out", help="output directory")
    ap.add_argument("--results-md", type=Path, help="also write the markdown table here")
    ap.add_argument("--no-install", action="store_true", help="do not apt-get missing peers")
    ap.add_argument("--no-unixbench", action="store_true", help="skip bench/unixbench.py (a few minutes)")
    ap.add_argument("--no-kvm", action="store_true", help="skip bench/kvm_boot.py (QEMU TCG boots)")
    ap.add_argument("--no-large-image", action="store_true",
                    help="skip bench/large_image.py (packs python3 with a 400 MB synthetic tree)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="work-", dir=args.out))
    runsc_root = work / "runsc-root"
    runsc_root.mkdir()
    results: dict[str, Any] = {"command": " ".join(["python3", "bench/run.py", *sys.argv[1:]]),
                               "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    peers = ensure_peers(not args.no_install)
    results["peers"] = peers
    progs = build_programs(work)
    # The packager as installed: pip byte-compiles a package, scripts/setup this checkout. Without
    # it, where PYTHONDONTWRITEBYTECODE is set, every pack would first compile the packager's
    # modules (~0.15 s of a warm re-pack). A .pyc older than its source is not used.
    log("byte-compiling the packager (python3 -m compileall, as scripts/setup does)")
    subprocess.run([sys.executable, "-m", "compileall", "-q", "packager", "platform_targets"], cwd=REPO,
                   check=True, capture_output=True)

    # --- pack time and size ---------------------------------------------------------------
    log("packing (cold, then warm)")
    packs: dict[str, Any] = {}
    arts: dict[tuple[str, str], Path | None] = {}
    for name in ["hello-static", "hello-dynamic", "sysbench"]:
        for mode in ("rewrite", "trap"):
            out_dir = work / f"pack-{mode}-{name}" / "dist"
            art, cold, err = pack(progs[name], out_dir, mode == "rewrite")
            warm = warm_pack(progs[name], out_dir, mode == "rewrite", args.rounds) if art else 0.0
            arts[(name, mode)] = art
            raw = progs[name].stat().st_size
            packs[f"{name}/{mode}"] = {
                "cold_s": round(cold, 3), "warm_s": round(warm, 3) if art else None, "error": err or None,
                "program_bytes": raw, "artifact_bytes": art.stat().st_size if art else None,
                "overhead_bytes": art.stat().st_size - raw if art else None}
    for name in ["hello-static", "hello-dynamic"]:
        art, cold, err = pack(progs[name], work / f"pack-stored-{name}" / "dist", True, "--compression-level", "0")
        arts[(name, "rewrite-stored")] = art
        packs[f"{name}/rewrite, level 0"] = {
            "cold_s": round(cold, 3), "error": err or None, "program_bytes": progs[name].stat().st_size,
            "artifact_bytes": art.stat().st_size if art else None,
            "overhead_bytes": art.stat().st_size - progs[name].stat().st_size if art else None}
    # Debian's interpreter with its standard library, packed as examples/python-app packs it
    # (quick mode would pack the interpreter without the library it needs to start).
    py = Path("/usr/bin/python3")
    project = work / "python3"
    project.mkdir(exist_ok=True)
    (project / "litebox.toml").write_text(
        '[app]\nname = "python3"\nentry = "/usr/bin/python3"\nenv = { LANG = "C.UTF-8" }\n\n'
        '[files]\n"/usr/lib/python3.11" = "/usr/lib/python3.11"\n\n[build]\nsource_date_epoch = 0\n',
        encoding="utf-8")
    art, cold, err = pack(project, work / "pack-python" / "dist", True)
    warm = warm_pack(project, work / "pack-python" / "dist", True, args.rounds) if art else 0.0
    arts[("python3", "rewrite")] = art
    packs["python3/rewrite"] = {"cold_s": round(cold, 3), "warm_s": round(warm, 3) if art else None,
                                "error": err or None, "artifact_bytes": art.stat().st_size if art else None}
    art, cold, err = pack(project, work / "pack-python-trap" / "dist", False)
    arts[("python3", "trap")] = art
    results["pack"] = packs

    variants = ["native", "rewrite", "trap"] + [p for p in ("bwrap", "firejail", "runsc") if peers[p] == "ok"]

    # --- syscall cost -------------------------------------------------------------------------
    log(f"syscall cost: {len(OPS)} operations x {len(variants)} variants x {args.rounds} rounds")
    sysbench = progs["sysbench"]
    entries = {}
    for v in ("rewrite", "trap"):
        art = arts[("sysbench", v)]
        if art is not None:
            entries[v] = json.loads(Path(f"{art}.manifest.json").read_text())["launch"]["entry"]
    samples: dict[str, dict[str, list[float]]] = {op: {v: [] for v in variants} for op in OPS}
    errors: dict[str, str] = {}
    for _round in range(args.rounds):
        for op in OPS:
            for v in variants:
                prog = {"rewrite": arts[("sysbench", "rewrite")], "trap": arts[("sysbench", "trap")]}.get(v, sysbench)
                if prog is None:
                    errors[f"{op}/{v}"] = "not packed"
                    continue
                # The file read is the probe itself (packed at the launch entry's image path).
                target = entries.get(v, str(sysbench))
                argv = wrap(v, [str(prog), op, str(ITERS[v]), target], runsc_root, True)
                r = sh(argv, timeout=300)
                try:
                    samples[op][v].append(float(r.stdout.split()[-1]))
                except (IndexError, ValueError):
                    errors[f"{op}/{v}"] = f"exit {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1][:120]}"
    results["syscall_ns"] = {op: {v: median(samples[op][v]) for v in variants} for op in OPS}
    results["syscall_errors"] = errors

    # --- start-up to exit ---------------------------------------------------------------------
    log("start-up to exit")
    programs: dict[str, Callable[[str], list[str] | None]] = {}
    for name in ("hello-static", "hello-dynamic"):
        def cmd(v: str, name: str = name) -> list[str] | None:
            p = arts.get((name, v)) if v in ("rewrite", "trap", "rewrite-stored") else progs[name]
            return [str(p)] if p else None
        programs[name] = cmd

    def py_cmd(v: str) -> list[str] | None:
        p = arts.get(("python3", v)) if v in ("rewrite", "trap") else None if v == "rewrite-stored" else py
        return [str(p), "-c", "pass"] if p else None
    programs["python3 -c pass"] = py_cmd
    svariants = variants[:3] + ["rewrite-stored"] + variants[3:]
    start: dict[str, dict[str, list[float]]] = {n: {v: [] for v in svariants} for n in programs}
    rss: dict[str, dict[str, list[float]]] = {n: {v: [] for v in svariants} for n in programs}
    cpu: dict[str, dict[str, list[float]]] = {n: {v: [] for v in svariants} for n in programs}
    perf = shutil.which("perf")
    start_err: dict[str, str] = {}
    for _round in range(args.rounds):
        for name, cmd in programs.items():
            for v in svariants:
                base = cmd(v)
                if base is None:
                    # python3 is not packed stored (level 0) by design: a blank cell, no failure.
                    if (name, v) != ("python3 -c pass", "rewrite-stored"):
                        start_err[f"{name}/{v}"] = "not packed"
                    continue
                argv = wrap(v, base, runsc_root, False)
                runs = args.startup_runs if v != "runsc" else max(2, args.startup_runs // 10)
                for _ in range(runs):
                    t0 = time.perf_counter()
                    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
                    dt = time.perf_counter() - t0
                    if r.returncode != 0:
                        last = (r.stderr.decode(errors="replace").strip().splitlines() or [""])[-1][:120]
                        start_err[f"{name}/{v}"] = f"failed: exit {r.returncode}: {last}"
                        break
                    start[name][v].append(dt * 1000)
                if f"{name}/{v}" not in start_err and v != "runsc":
                    # One more run under the peak-RSS wrapper (not timed: the wrapper adds a fork).
                    _, _, _, kib = run_measured(argv, progs["peakrss"])
                    if kib is not None:
                        rss[name][v].append(kib / 1024)
                    if perf is not None:
                        ms = tree_cpu_ms(perf, argv)
                        if ms is not None:
                            cpu[name][v].append(ms)
    results["peak_rss_mib"] = {n: {v: median(rss[n][v]) for v in svariants} for n in programs}
    results["startup_cpu_ms"] = {n: {v: median(cpu[n][v]) for v in svariants} for n in programs}
    results["startup_ms"] = {n: {v: (None if f"{n}/{v}" in start_err else median(start[n][v])) for v in svariants}
                             for n in programs}
    results["startup_variants"] = svariants
    results["startup_errors"] = start_err
    log("HTTP throughput")
    results["http_throughput"] = http_load.measure(work, args.rounds, litebox, log)
    results["variants"] = variants
    results["unixbench"] = None if args.no_unixbench else side_script(
        "unixbench", ["bench/unixbench.py", "--rounds", str(args.rounds), "--out", str(work / "unixbench")],
        work / "unixbench" / "unixbench.json")
    results["kvm_boot"] = None if args.no_kvm else side_script(
        "kvm boot", ["bench/kvm_boot.py", "--json", "--runs", str(max(5, args.rounds * 3))])
    results["large_image"] = None if args.no_large_image else side_script(
        "large image", ["bench/large_image.py", "--json", "--runs", str(max(5, args.rounds * 2))])
    results["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    (args.out / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    md = render(results)
    (args.out / "RESULTS.md").write_text(md)
    if args.results_md:
        args.results_md.write_text(md)
    print(md)
    shutil.rmtree(work, ignore_errors=True)
    return 0


def tree_cpu_ms(perf: str, argv: list[str]) -> float | None:
    """The CPU time (ms) of one run of argv and of every process it starts, namespaces
    included (`perf stat -e task-clock`, which follows children): what a busy machine inflates
    far less than the wall clock. None when perf cannot count here."""
    r = subprocess.run([perf, "stat", "-x,", "-e", "task-clock", "--", *argv], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, check=False)
    for line in r.stderr.splitlines():
        if "task-clock" in line:
            try:
                return float(line.split(",")[0])
            except ValueError:
                return None
    return None


def side_script(what: str, argv: list[str], json_file: Path | None = None) -> dict[str, Any]:
    """Runs another bench/ script from the repository root and returns its JSON result (read
    from ``json_file``, else its stdout), or {"error": ...} when it fails: a failed part is
    reported in the tables, never fatal."""
    log(f"{what}: {' '.join(argv)}")
    r = sh([sys.executable, *argv], cwd=REPO, timeout=3600)
    try:
        text = json_file.read_text() if json_file is not None else r.stdout
        out: dict[str, Any] = json.loads(text)
        return out
    except (OSError, ValueError):
        return {"error": f"exit {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1][:200]}"}


def fmt(x: float | None, unit: str = "") -> str:
    """A number for the table."""
    if x is None:
        return "—"
    return f"{x:,.0f}{unit}" if x >= 100 else f"{x:.1f}{unit}" if x >= 10 else f"{x:.2f}{unit}"


def ratio(x: float | None, base: float | None) -> str:
    """x / base for the table."""
    if x is None or not base:
        return "—"
    return f"{x / base:.2f}x"


def render(r: dict[str, Any]) -> str:
    """The markdown report."""
    v = r["variants"]
    m = r["machine"]
    out = ["# LiteBox Pack benchmark results", "",
           f"Command: `{r['command']}` (from the repository root), {r['date']}.", "",
           f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}, kernel {m['kernel']}, Python {m['python']}.",
           "Peers: " + ", ".join(f"{k}: {s}" for k, s in r["peers"].items()) + ".", "",
           "Variants: `native`; `rewrite` = packed, syscall sites rewritten at pack time (fast path); "
           "`trap` = packed with `--no-rewrite` (seccomp trap + SIGSYS); `rewrite-stored` (start-up only) = "
           "rewritten and packed with `--compression-level 0` (chunks stored, no decompression at start); "
           "`bwrap` = bubblewrap, read-only "
           "bind of `/`; `firejail --noprofile`; `runsc` = gVisor, ptrace platform. Medians over rounds; "
           "ratios are to native.", "",
           "## Syscall cost (ns per call)", "",
           "| operation | " + " | ".join(v) + " | " + " | ".join(f"{x}/native" for x in v if x != "native") + " |",
           "|---" * (len(v) * 2) + "|"]
    for op, row in r["syscall_ns"].items():
        base = row.get("native")
        out.append(f"| {OP_LABELS[op]} | " + " | ".join(fmt(row[x]) for x in v) + " | "
                   + " | ".join(ratio(row[x], base) for x in v if x != "native") + " |")
    if r["syscall_errors"]:
        out += ["", "Failures: " + "; ".join(f"{k}: {e}" for k, e in sorted(r["syscall_errors"].items()))]
    out += ["", "## Start-up to exit (ms, including fork/exec from Python)", "",
            "| program | " + " | ".join(v) + " | " + " | ".join(f"{x}/native" for x in v if x != "native") + " |",
            "|---" * (len(v) * 2) + "|"]
    sv = r["startup_variants"]
    out[-2:] = ["| program | " + " | ".join(sv) + " | " + " | ".join(f"{x}/native" for x in sv if x != "native") + " |",
                "|---" * (len(sv) * 2) + "|"]
    for name, row in r["startup_ms"].items():
        base = row.get("native")
        out.append(f"| {name} | " + " | ".join(fmt(row[x]) for x in sv) + " | "
                   + " | ".join(ratio(row[x], base) for x in sv if x != "native") + " |")
    if r["startup_errors"]:
        out += ["", "Failures: " + "; ".join(f"{k}: {e}" for k, e in sorted(r["startup_errors"].items()))]
    if any(x is not None for row in r.get("startup_cpu_ms", {}).values() for x in row.values()):
        out += ["", "CPU time of the same start-ups (ms, every process of the run: `perf stat -e task-clock`, "
                "one run per variant and round, median; a busy machine inflates it far less than the wall clock):",
                "", "| program | " + " | ".join(sv) + " | "
                + " | ".join(f"{x}/native" for x in sv if x != "native") + " |", "|---" * (len(sv) * 2) + "|"]
        for name, row in r["startup_cpu_ms"].items():
            base = row.get("native")
            out.append(f"| {name} | " + " | ".join(fmt(row.get(x)) for x in sv) + " | "
                       + " | ".join(ratio(row.get(x), base) for x in sv if x != "native") + " |")
    out += ["", "## Pack time and size", "",
            "| program / mode | cold pack (s) | warm pack (s) | program bytes | artifact bytes | overhead |",
            "|---|---|---|---|---|---|"]
    for key, p in r["pack"].items():
        out.append(f"| {key} | {p['cold_s']:.2f} | "
                   + (f"{p['warm_s']:.2f}" if p.get("warm_s") is not None else "—") + " | "
                   + f"{p.get('program_bytes') or '—'} | {p.get('artifact_bytes') or '—'} | "
                   + (f"{p['overhead_bytes']:,}" if p.get("overhead_bytes") is not None else "—")
                   + (f" (failed: {p['error']})" if p.get("error") else "") + " |")
    out += ["", "Cold = a fresh output and state directory (cargo's own target directory is warm, so "
            "the runtime is not recompiled); warm = the same command again, nothing changed (median of "
            "one re-pack per round).", "",
            *render_http(r["http_throughput"])]
    out += render_rss(r) + render_unixbench(r.get("unixbench")) + render_kvm(r.get("kvm_boot"))
    out += render_large(r.get("large_image")) + render_targets(r)
    if r.get("loadavg_end"):
        out += [f"Load average (1/5/15 min) at the end of the run: {r['loadavg_end']}.", ""]
    return "\n".join(out)


def render_rss(r: dict[str, Any]) -> list[str]:
    """The peak resident memory section."""
    # Peers are left out: bwrap and firejail run the program behind setuid helpers and pid
    # namespaces whose processes the wrapper cannot reap, so it saw only the helper's own memory.
    sv = [x for x in r["startup_variants"] if x in ("native", "rewrite", "trap", "rewrite-stored")]
    out = ["## Peak resident memory (MiB)", "",
           "The largest VmHWM among the run's processes (bench/src/peakrss.c: a subreaper that waits for "
           "every descendant and reports the largest `ru_maxrss`); one run per variant and round, median. "
           "Peers are not shown: their sandboxed processes are out of the wrapper's reach.", "",
           "| program | " + " | ".join(sv) + " | " + " | ".join(f"{x} − native" for x in sv if x != "native") + " |",
           "|---" * (len(sv) * 2) + "|"]
    for name, row in r.get("peak_rss_mib", {}).items():
        base = row.get("native")
        out.append(f"| {name} | " + " | ".join(fmt(row.get(x)) for x in sv) + " | "
                   + " | ".join(f"{row[x] - base:+.2f} ({ratio(row[x], base)})" if row.get(x) and base else "—"
                                for x in sv if x != "native") + " |")
    return out + [""]


def render_unixbench(u: dict[str, Any] | None) -> list[str]:
    """The byte-unixbench section (bench/unixbench.py's result)."""
    if u is None:
        return []
    out = ["## byte-unixbench equivalents (iterations per second; packed / native)", ""]
    if "error" in u:
        return out + [f"failed: {u['error']}", ""]
    variants = [v for v in ("native", "rewrite", "trap") if any(v in row for row in u["scores"].values())]
    out += ["bench/unixbench.py (bench/src/unixbench.c, written after byte-unixbench 5.1's loops).", "",
            "| test | " + " | ".join(variants) + " | " + " | ".join(f"{v}/native" for v in variants[1:]) + " |",
            "|---" * (2 * len(variants)) + "|"]
    for test, row in u["scores"].items():
        out.append(f"| {test} | " + " | ".join(fmt(row.get(v)) for v in variants) + " | "
                   + " | ".join(f"{u['ratios'][v][test]:.2f}x" if test in u["ratios"].get(v, {}) else "—"
                                for v in variants[1:]) + " |")
    out.append("| geometric mean | " + " | ".join("" for _ in variants) + " | "
               + " | ".join(f"{u['geomean'][v]:.2f}x" if u["geomean"].get(v) else "—" for v in variants[1:]) + " |")
    return out + [""] + render_unixbench_cpu(u, variants[1:]) + [""]


def render_unixbench_cpu(r: dict[str, Any], packed: list[str]) -> list[str]:
    """bench/unixbench.py's CPU-per-iteration table (µs of the whole process tree; native/packed,
    >= 1: the packed program costs no more), or a one-line note when the run measured none."""
    cpu, ratios = r.get("cpu_us") or {}, r.get("cpu_ratios") or {}
    if not any(x is not None for row in cpu.values() for x in row.values()):
        return ["CPU time per iteration: not measured (no cgroup or perf, or --no-cpu)."]
    meter = {"cgroup": "its cgroup's CPU usage", "perf": "`perf stat` task-clock"}.get(r.get("cpu_meter") or "perf")
    out = [f"CPU µs per iteration (user + system of every process of the run, {meter}, less a "
           "run of one iteration; median over rounds). native/packed >= 1: the sandbox adds no CPU; a wall "
           "ratio far below the CPU ratio is the scheduler's placement (e.g. context1's processes on two "
           "CPUs), not the sandbox's work.", "",
           "| test | native | " + " | ".join(packed) + " | " + " | ".join(f"native/{v} CPU" for v in packed) + " |",
           "|---" * (2 + 2 * len(packed)) + "|"]
    for t in r["iterations"]:
        row = cpu.get(t, {})
        out.append(f"| {t} | {fmt(row.get('native'))} | " + " | ".join(fmt(row.get(v)) for v in packed)
                   + " | " + " | ".join(f"{ratios[v][t]:.2f}x" if t in ratios.get(v, {}) else "—" for v in packed)
                   + " |")
    return out


def timing_table(rows: list[dict[str, Any]]) -> list[str]:
    """A table of a side script's cases: wall median and minimum, CPU median (ms)."""
    out = ["| case | wall median | wall min | CPU median |", "|---|---|---|---|"]
    for row in rows:
        out.append(f"| {row['case']} | {fmt(row['median_ms'])} | {fmt(row['min_ms'])} | {fmt(row['cpu_median_ms'])} |")
    return out


def render_kvm(k: dict[str, Any] | None) -> list[str]:
    """The kvm boot section (bench/kvm_boot.py's result)."""
    if k is None:
        return []
    out = ["## kvm boot to exit, hello-static (ms)", ""]
    if "error" in k:
        return out + [f"failed: {k['error']}", ""]
    if k.get("qemu"):
        out += [f"The runner's QEMU: {k['qemu']}. Where that is litebox's lean build (scripts/build-qemu), "
                "the rows \"the distribution's QEMU\" boot the same with the one on PATH.", ""]
    out += timing_table(k["rows"])
    return out + [""]


def render_large(g: dict[str, Any] | None) -> list[str]:
    """The large-image section (bench/large_image.py's result)."""
    if g is None:
        return []
    out = ["## Start-up with a large image: `python3 -S -c pass` (ms)", ""]
    if "error" in g:
        return out + [f"failed: {g['error']}", ""]
    out += [f"A synthetic tree of {g['files']} files ({g['tree_bytes'] / 1e6:.0f} MB) the app never opens, "
            "packed beside the standard library.", "", *timing_table(g["rows"])]
    out += ["", "Artifact / sidecar manifest bytes: " + "; ".join(
        f"{k}: {g['artifact_bytes'][k]:,} / {g['sidecar_bytes'][k]:,}" for k in g["artifact_bytes"])]
    return out + [""]


def _row(label: str, value: str, target: str, met: bool | None) -> str:
    return f"| {label} | {value} | {target} | {'met' if met else 'missed' if met is not None else '—'} |"


def unixbench_target_row(u: dict[str, Any] | None) -> str | None:
    """The targets table's byte-unixbench row from bench/unixbench.py's result (None without
    one): every row listed with its CPU ratio, the target judged on the six published tests
    (a pinned row such as context1-1cpu is listed, not judged)."""
    if not (u and "ratios" in u and u["ratios"].get("rewrite")):
        return None
    rs = u["ratios"]["rewrite"]
    worst = min(x for t, x in rs.items() if t not in u.get("pinned_rows", []))
    cpu = (u.get("cpu_ratios") or {}).get("rewrite", {})
    scores = ", ".join(f"{t} {x:.2f}" + (f" (CPU {cpu[t]:.2f})" if t in cpu else "") for t, x in rs.items())
    return _row("byte-unixbench (packed / native score)", f"{scores}; geometric mean {u['geomean']['rewrite']:.2f}",
                "every one >= 0.9x, geometric mean >= 1.0x", worst >= 0.9 and u["geomean"]["rewrite"] >= 1.0)


def render_targets(r: dict[str, Any]) -> list[str]:
    """Issue 17's target table, each row from this run's numbers."""
    out = ["## Issue 17 targets, from this run", "", "| measure | this run (rewrite) | target | |", "|---|---|---|---|"]
    st = r["startup_ms"]
    for name, extra in (("hello-static", 1.0), ("hello-dynamic", 2.0)):
        n, p = st[name].get("native"), st[name].get("rewrite")
        out.append(_row(f"start-up to exit, {name}", f"{fmt(p)} ms vs {fmt(n)} native",
                        f"<= native + {extra:.0f} ms", None if n is None or p is None else p <= n + extra))
    n, p = st["python3 -c pass"].get("native"), st["python3 -c pass"].get("rewrite")
    out.append(_row("start-up to exit, python3 -c pass", f"{fmt(p)} ms vs {fmt(n)} native ({ratio(p, n)})",
                    "<= 1.2x", None if n is None or p is None else p <= 1.2 * n))
    ns = r["syscall_ns"]
    for op, label, limit in (("pipe_write", "write + read 1 byte through a pipe", 1.2),
                             ("futex_wake", "futex wake", 1.1), ("mmap", "mmap + munmap", 1.1),
                             ("getppid", "getppid", 0.5)):
        n, p = ns[op].get("native"), ns[op].get("rewrite")
        out.append(_row(label, ratio(p, n), f"<= {limit}x", None if n is None or p is None else p <= limit * n))
    h = r["http_throughput"]
    q = http_row_ratio(h)
    if q is not None:
        out.append(_row("HTTP requests/s", f"{q:.2f}x", ">= 0.97x", q >= 0.97))
    for name in ("hello-static", "python3 -c pass"):
        row = r.get("peak_rss_mib", {}).get(name, {})
        n, p = row.get("native"), row.get("rewrite")
        out.append(_row(f"peak resident memory, {name}",
                        f"{fmt(p)} MiB vs {fmt(n)} ({'—' if not (n and p) else f'{p - n:+.2f} MiB, {p / n:.2f}x'})",
                        "<= +2 MiB and <= 1.1x", None if not (n and p) else (p - n <= 2 and p <= 1.1 * n)))
    pk = r["pack"].get("python3/rewrite", {})
    if pk.get("cold_s") is not None:
        out.append(_row("cold pack of python3 with its standard library", f"{pk['cold_s']:.1f} s", "<= 8 s",
                        pk["cold_s"] <= 8))
    if pk.get("warm_s") is not None:
        out.append(_row("warm re-pack of python3, nothing changed", f"{pk['warm_s']:.2f} s", "<= 0.3 s",
                        pk["warm_s"] <= 0.3))
    k = r.get("kvm_boot")
    if k and "rows" in k:
        micro = next((x for x in k["rows"] if x["case"].startswith("kvm, QEMU TCG -M microvm")), None)
        if micro:
            out.append(_row("kvm boot to exit, hello-static, TCG -M microvm", f"{fmt(micro['median_ms'])} ms",
                            "<= 50 ms", micro["median_ms"] <= 50))
    g = r.get("large_image")
    if g and "rows" in g and len(g["rows"]) >= 3:
        small, large = g["rows"][1]["median_ms"], g["rows"][2]["median_ms"]
        out.append(_row("start-up with a large image (python3 -S -c pass)",
                        f"{fmt(large)} ms vs {fmt(small)} stdlib only", "independent of untouched files",
                        large <= small * 1.1 + 1))
    ub = unixbench_target_row(r.get("unixbench"))
    if ub is not None:
        out.append(ub)
    return out + ["", "Wall-clock rows depend on the machine's load: the load average is given below; "
                  "compare the ratios, which this run measured with every variant alternating.", ""]


def http_row_ratio(h: dict[str, Any]) -> float | None:
    """The HTTP row's packed/native ratio: the median of the per-round ratios of the rewrite
    variant when bench/http_load.py measured them (native and packed loaded in turn within each
    round), else (an older results.json) the ratio of the medians."""
    if h.get("status") != "measured":
        return None
    q = (h.get("ratio") or {}).get("rewrite")
    if q is not None:
        return float(q)
    n, p = h["rps"].get("native"), h["rps"].get("rewrite")
    return p / n if n and p else None


def render_http(h: dict[str, Any]) -> list[str]:
    """The HTTP throughput section."""
    out = ["## HTTP throughput (requests per second)", ""]
    if h.get("status") != "measured":
        return out + [f"{h.get('status')}: {h.get('note', '')}", ""]
    rps = h["rps"]
    if "ratio" not in h:  # an older results.json: one 3-second load per variant and round
        out += [f"examples/http-service (python3 http.server, one request per connection) loaded by a native "
                f"Python client on loopback: {h['concurrency']} connections busy for {h['duration_s']:.0f} s per "
                "round; medians over rounds.", "",
                "| variant | requests/s | ratio to native | failed requests |", "|---|---|---|---|"]
        for v, x in rps.items():
            out.append(f"| {v} | {fmt(x)} | {ratio(x, rps.get('native'))} | {h['failed_requests'].get(v, 0)} |")
    else:
        pinned = h.get("pinned")
        where = (f"every server on CPU {','.join(map(str, pinned['server']))}, the client on "
                 f"{','.join(map(str, pinned['client']))}" if pinned else "no CPU pinning")
        out += [f"examples/http-service (python3 http.server, one request per connection) loaded on loopback by "
                f"{h['client']} ({h['concurrency']} connections). Each round starts native, rewrite and trap "
                f"together and loads them in turn, {h['windows']} windows of {h['window_s']:.2f} s each in a "
                f"mirrored order ({where}); the ratio is the median over {h['rounds']} rounds of each round's "
                "requests/s over native's in the same round [quartiles]; requests/s, the server's CPU per request "
                "(its whole process tree) and the share of a CPU it used while loaded are medians over rounds "
                "(bench/http_load.py, bench/README.md).", "",
                "| variant | requests/s | ratio to native [q1, q3] | server CPU µs/request | server busy "
                "| failed requests |", "|---|---|---|---|---|---|"]
        for v, x in rps.items():
            q, qs = h["ratio"].get(v), h["ratio_quartiles"].get(v)
            cell = f"{q:.3f}x [{qs[0]:.3f}, {qs[1]:.3f}]" if q is not None and qs else "—"
            cpu, busy = h["server_cpu_us"].get(v), h["server_busy"].get(v)
            out.append(f"| {v} | {fmt(x)} | {cell} | {fmt(cpu)} | {'—' if busy is None else f'{busy:.2f}'} "
                       f"| {h['failed_requests'].get(v, 0)} |")
        busy = h["server_busy"].get("native")
        if busy is not None and busy < 0.8:
            out += ["", f"The native server was busy {busy:.2f} of a CPU while loaded: not saturated (the machine's "
                    "other load or the client held it back), so the ratio is partly the machine's, not only the "
                    "sandbox's; the CPU µs per request are the sandbox's cost."]
    if h.get("errors"):
        out += ["", "Failures: " + "; ".join(f"{v}: {e}" for v, e in h["errors"].items())]
    return out + [""]


if __name__ == "__main__":
    sys.exit(main())
