#!/usr/bin/env python3
"""HTTP requests per second and server CPU per request, native against examples/http-service
packed with prebuilt linux-userland runtimes, interleaved (issue 17, procs).

    python3 bench/http_compare.py --runtime before=PATH --runtime after=PATH [--rounds 7]

Packs examples/http-service once per runtime binary (rewritten; the runtime is chosen through
the LITEBOX_RUNTIME_LINUX_USERLAND override), then in every round starts each server in turn (the order
rotated by one each round, http_load.round_order)
(Debian's python3 natively, then every artifact), loads it with bench/http_load.py's client
(4 connections, one request per connection, 3 s) and reads the server's CPU time (user +
system of its whole process tree, from /proc, in clock ticks) before and after the load.
Prints the medians over rounds: requests per second and CPU µs per request, each with its
ratio to native, and the client's CPU µs and voluntary context switches (sleeps) per request
(a slower server lets the client threads sleep more often, and each sleep costs the server a
wake-up). The native server runs with exactly the packed app's environment (http_load.app_env).
On a shared machine the requests per second follow the other users' load;
the CPU per request is what the sandbox adds (at a 10 ms tick resolution: about 1% of a
3-second round).
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_load  # noqa: E402  (bench/ is not a package)

REPO = Path(__file__).resolve().parent.parent
OVERRIDE_ENV = "LITEBOX_RUNTIME_LINUX_USERLAND"


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and every process below it (from /proc)."""
    kids: dict[int, list[tuple[int, int]]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            f = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(f[1]), []).append((int(stat.parent.name), int(f[11]) + int(f[12])))
    total, todo = 0, [pid]
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(f[11]) + int(f[12])
    except OSError:
        pass
    while todo:
        for child, ticks in kids.get(todo.pop(), []):
            total += ticks
            todo.append(child)
    return total / os.sysconf("SC_CLK_TCK")


def litebox(*args: str) -> subprocess.CompletedProcess[str]:
    """`python3 -m packager ARGS` from this checkout."""
    return subprocess.run([sys.executable, "-m", "packager", *args], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), check=False)


def server_commands(runtimes: list[str], tmp: Path, port: int) -> dict[str, list[str]]:
    """The servers to compare, by variant: the native examples/http-service server first, then
    the service packed (into ``tmp``) with each NAME=PATH linux-userland runtime of
    ``runtimes``, in order; exits with a one-line message on a bad spec or a failed pack."""
    server = REPO / "examples" / "http-service" / "app" / "server.py"
    commands: dict[str, list[str]] = {"native": ["/usr/bin/python3", str(server), str(port)]}
    for spec in runtimes:
        name, sep, path = spec.partition("=")
        if not sep or not name or name == "native" or not Path(path).is_file():
            raise SystemExit(f"bench: --runtime wants NAME=PATH of an existing file, got {spec!r}")
        os.environ[OVERRIDE_ENV] = str(Path(path).resolve())
        try:
            art = http_load.pack_service(tmp / name, port, True, litebox)
        finally:
            os.environ.pop(OVERRIDE_ENV, None)
        if art is None:
            raise SystemExit(f"bench: packing examples/http-service with {path} failed")
        commands[name] = [str(art), str(port)]
    return commands


NO_ASLR_HELP = ("start every server under `setarch -R` (no address randomization): each start of a variant "
                "lays out its memory the same way, so a layout effect (the library OS's buffer-window slots, "
                "bench/RESULTS-issue17-http2.md) shows in every round or in none")


def without_aslr(commands: dict[str, list[str]]) -> dict[str, list[str]]:
    """The same servers, each started under `setarch -R` (which execs it: the pid stays)."""
    return {v: ["setarch", "-R", *argv] for v, argv in commands.items()}


def one_round(argv: list[str], port: int) -> tuple[float, float, float, float]:
    """(requests per second, server CPU µs per request, client CPU µs per request, the client's
    voluntary context switches per request) of one server run. The client is this process's
    load threads (getrusage counts them after they end): a slower server lets them go to sleep
    more often, and each sleep costs the server a wake-up in its sendto and shutdown."""
    # The native server gets the packed app's environment (http_load.app_env); an artifact
    # ignores the host's anyway.
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=http_load.app_env())
    try:
        if not http_load.wait_listening(port, proc):
            raise SystemExit(f"bench: {argv[0]} did not answer on 127.0.0.1:{port}")
        cpu0, t0 = tree_cpu_seconds(proc.pid), time.perf_counter()
        me0 = resource.getrusage(resource.RUSAGE_SELF)
        rps, _bad = http_load.load(port)
        me1 = resource.getrusage(resource.RUSAGE_SELF)
        requests = max(rps * (time.perf_counter() - t0), 1.0)
        cpu = tree_cpu_seconds(proc.pid) - cpu0
    finally:
        http_load.stop(proc)
    client = me1.ru_utime + me1.ru_stime - me0.ru_utime - me0.ru_stime
    return rps, cpu / requests * 1e6, client / requests * 1e6, (me1.ru_nvcsw - me0.ru_nvcsw) / requests


def main() -> int:
    """Packs, measures interleaved, prints the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runtime", action="append", default=[], metavar="NAME=PATH",
                    help="a linux-userland runtime binary to pack with (repeat; order = column order)")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    ap.add_argument("--no-aslr", action="store_true", help=NO_ASLR_HELP)
    args = ap.parse_args()
    port = http_load.free_port()
    with tempfile.TemporaryDirectory(prefix="http-compare-") as tmp:
        commands = server_commands(args.runtime, Path(tmp), port)
        if args.no_aslr:
            commands = without_aslr(commands)
        samples: dict[str, list[tuple[float, float, float, float]]] = {v: [] for v in commands}
        for r in range(args.rounds):
            for variant in http_load.round_order(list(commands), r):
                samples[variant].append(one_round(commands[variant], port))
            row = ", ".join(f"{v} {s[-1][0]:.0f}/s {s[-1][1]:.1f} µs" for v, s in samples.items())
            print(f"round {r + 1}: {row}; load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    rps, cpu, ccpu, csw = ({v: statistics.median(x[i] for x in s) for v, s in samples.items()} for i in range(4))
    print(f"python3 bench/http_compare.py {' '.join(sys.argv[1:])}: medians over {args.rounds} rounds")
    print("| variant | requests/s | ratio | server CPU µs/request | ratio | client CPU µs/request "
          "| client sleeps/request |")
    print("|---|---|---|---|---|---|---|")
    for v in commands:
        print(f"| {v} | {rps[v]:,.0f} | {rps[v] / rps['native']:.3f}x | {cpu[v]:.1f} | {cpu[v] / cpu['native']:.3f}x "
              f"| {ccpu[v]:.1f} | {csw[v]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
