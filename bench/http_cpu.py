#!/usr/bin/env python3
"""Server CPU per HTTP request, nanosecond-exact, native against examples/http-service packed
with prebuilt linux-userland runtimes, interleaved (issue 17, callpath).

    python3 bench/http_cpu.py --runtime before=PATH --runtime after=PATH [--rounds 7] [--requests 3000]

bench/http_compare.py reads the server's CPU from /proc/PID/stat in 10 ms ticks while four
clients race it; this one reads the scheduler's own count (/proc/PID/task/TID/schedstat, ns) of
every task of the server's process tree just before and just after REQUESTS sequential
requests (one connection each, as bench/http_load.py makes them), while the server runs, so
start-up and exit are not in it and a busy machine changes only how long a round takes. Each
round starts every server in turn (Debian's python3 natively and every artifact, the order
rotated by one each round: http_load.round_order). Prints the
median (and best) CPU µs per request over rounds and the ratio to native.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_compare  # noqa: E402  (bench/ is not a package)
import http_load  # noqa: E402

# The server tree's CPU count, shared with bench/http_load.py's row.
tree_pids = http_load.tree_pids
tree_cpu_ns = http_load.tree_cpu_ns


def one_round(argv: list[str], port: int, requests: int) -> float:
    """Server CPU µs per request over `requests` sequential requests of one server run."""
    # The native server gets the packed app's environment (http_load.app_env); an artifact
    # ignores the host's anyway.
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=http_load.app_env())
    try:
        if not http_load.wait_listening(port, proc):
            raise SystemExit(f"bench: {argv[0]} did not answer on 127.0.0.1:{port}")
        before = tree_cpu_ns(proc.pid)
        bad = sum(not http_load.one_request(port) for _ in range(requests))
        after = tree_cpu_ns(proc.pid)
        if bad:
            raise SystemExit(f"bench: {argv[0]}: {bad} of {requests} requests failed")
    finally:
        http_load.stop(proc)
    return (after - before) / requests / 1e3


def main() -> int:
    """Packs, measures interleaved, prints the table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runtime", action="append", default=[], metavar="NAME=PATH",
                    help="a linux-userland runtime binary to pack with (repeat; order = column order)")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    ap.add_argument("--requests", type=int, default=3000, help="sequential requests per server run (default 3000)")
    ap.add_argument("--no-aslr", action="store_true", help=http_compare.NO_ASLR_HELP)
    args = ap.parse_args()
    port = http_load.free_port()
    with tempfile.TemporaryDirectory(prefix="http-cpu-") as tmp:
        commands = http_compare.server_commands(args.runtime, Path(tmp), port)
        if args.no_aslr:
            commands = http_compare.without_aslr(commands)
        samples: dict[str, list[float]] = {v: [] for v in commands}
        loads = [f"{os.getloadavg()[0]:.2f}"]
        for r in range(args.rounds):
            for variant in http_load.round_order(list(commands), r):
                samples[variant].append(one_round(commands[variant], port, args.requests))
            loads.append(f"{os.getloadavg()[0]:.2f}")
            row = ", ".join(f"{v} {s[-1]:.1f} µs" for v, s in samples.items())
            print(f"round {r + 1}: {row}; load {loads[-1]}", file=sys.stderr)
    med = {v: statistics.median(s) for v, s in samples.items()}
    print(f"python3 bench/http_cpu.py {' '.join(sys.argv[1:])}: medians over {args.rounds} rounds "
          f"of {args.requests} requests; 1-minute load at the start and after each round: {', '.join(loads)}")
    print("| variant | server CPU µs/request (best) | ratio to native |")
    print("|---|---|---|")
    for v in commands:
        print(f"| {v} | {med[v]:.1f} ({min(samples[v]):.1f}) | {med[v] / med['native']:.3f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
