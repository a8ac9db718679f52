#!/usr/bin/env python3
"""Where the HTTP server's kernel time goes, native against examples/http-service packed with
prebuilt linux-userland runtimes, interleaved (issue 17, http6).

    chrt -f 10 python3 bench/http_kernel.py --runtime main=PATH [--runtime new=PATH] [--rounds 3]

Packs like bench/http_compare.py (native first, then each runtime). Every round starts each
server in turn, warms it with 300 requests, then loads it with bench/http_load.py's client for
--duration seconds while two perf sessions watch the server's process tree:
`perf record -F 4999 -e cpu-clock -g --kernel-callchains` (kernel call chains only: the app's
stacks are not unwound, so the sampling costs both sides the same) and `perf stat` of the
scheduler's wake-ups, the IPIs the tree sends, context switches, page faults and syscalls.
Prints, per variant, averaged over rounds and per 1,000 requests: samples (200 µs each) in the
app, the runtime (its code's mapping, read from the server's /proc/PID/maps: the runtime is
placed at a random address) and the kernel; the kernel's samples by the
syscall they ran under (`__x64_sys_*`; seccomp's entry work has no such frame and counts as
`entry`), the samples where a wake-up re-enabled interrupts (`_raw_spin_unlock_irqrestore`)
by caller, and the per-request counts. Needs perf and root (or perf_event_paranoid <= 1).
Requests/s here are not the row (sampling slows both sides): use bench/http_compare.py.
"""
from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_compare  # noqa: E402  (bench/ is not a package)
import http_load  # noqa: E402

EVENTS = ("task-clock,context-switches,page-faults,sched:sched_waking,ipi:ipi_send_cpu,"
          "irq_vectors:reschedule_entry,raw_syscalls:sys_enter")
KERNEL = 0xffff800000000000
NO_RUNTIME = (0, 0)
FRAME = re.compile(r"^\s*([0-9a-f]+)\s+(\S+)")


def tree(pid: int) -> list[int]:
    """`pid` and every process below it now."""
    kids: dict[int, list[int]] = collections.defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            kids[int(stat.read_text().rsplit(")", 1)[1].split()[1])].append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def runtime_code(pid: int, artifact: str) -> tuple[int, int]:
    """The runtime's code in `pid` (the executable mapping of `artifact` with the lowest file
    offset: the runtime's own text comes before the image the app's code is mapped from), or
    NO_RUNTIME for a native server."""
    best: tuple[int, int, int] | None = None
    try:
        lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    except OSError:
        return NO_RUNTIME
    path = str(Path(artifact).resolve())
    for line in lines:
        f = line.split(maxsplit=5)
        if len(f) == 6 and f[5] == path and "x" in f[1]:
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if best is None or int(f[2], 16) < best[0]:
                best = (int(f[2], 16), lo, hi)
    return (best[1], best[2]) if best else NO_RUNTIME


def one_round(argv: list[str], port: int, duration: float, data: Path, stat: Path) -> tuple[float, tuple[int, int]]:
    """Runs one server under the two perf sessions; returns the requests it served and where
    the runtime's code was (NO_RUNTIME: native)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=http_load.app_env())
    try:
        if not http_load.wait_listening(port, proc):
            raise SystemExit(f"bench: {argv[0]} did not answer on 127.0.0.1:{port}")
        for _ in range(300):
            http_load.one_request(port)
        pids = ",".join(str(p) for p in tree(proc.pid))
        runtime = runtime_code(proc.pid, argv[0])
        perfs = [
            subprocess.Popen(["perf", "record", "-q", "-F", "4999", "-e", "cpu-clock", "-g", "--kernel-callchains",
                              "-o", str(data), "-p", pids], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen(["perf", "stat", "-x,", "-o", str(stat), "-e", EVENTS, "-p", pids],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]
        time.sleep(0.5)
        rps, _bad = http_load.load(port, duration=duration)
        for p in perfs:
            p.send_signal(signal.SIGINT)
        for p in perfs:
            p.wait()
    finally:
        http_load.stop(proc)
    return max(rps * duration, 1.0), runtime


Counts = collections.Counter[str]


def samples(data: Path, runtime: tuple[int, int] = NO_RUNTIME) -> tuple[Counts, Counts, Counts]:
    """(samples by class, kernel samples by syscall, interrupt re-enables by caller chain);
    `runtime` is the runtime's code range in the server's processes."""
    out = subprocess.run(["perf", "script", "-i", str(data), "-F", "ip,sym"], capture_output=True, text=True,
                         check=False).stdout
    cls: collections.Counter[str] = collections.Counter()
    by_call: collections.Counter[str] = collections.Counter()
    wake: collections.Counter[str] = collections.Counter()
    # The sampled address of every sample (-G: no call chain; a user-space sample's kernel
    # chain is empty, so the chained output below has no line for it).
    ips = subprocess.run(["perf", "script", "-G", "-i", str(data), "-F", "ip"], capture_output=True, text=True,
                         check=False).stdout
    for word in ips.split():
        ip = int(word, 16)
        cls["kernel" if ip >= KERNEL else "runtime" if runtime[0] <= ip < runtime[1] else "app"] += 1
    for block in out.split("\n\n"):
        names = [m.group(2).split("+")[0] for m in map(FRAME.match, block.splitlines()) if m]
        if not names:
            continue
        call = next((n[len("__x64_sys_"):] for n in names if n.startswith("__x64_sys_")), None)
        by_call[call or ("entry" if names[-1].startswith("entry_SYSCALL") else "interrupt")] += 1
        if names[0] == "_raw_spin_unlock_irqrestore":
            wake[" < ".join(names[1:4])] += 1
    return cls, by_call, wake


def counts(stat: Path) -> dict[str, float]:
    """perf stat's -x, output: event name -> value."""
    got: dict[str, float] = {}
    for line in stat.read_text().splitlines():
        f = line.split(",")
        if len(f) > 2 and f[0][:1].isdigit():
            got[f[2]] = float(f[0])
    return got


def main() -> int:
    """Packs, records interleaved, prints the tables."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runtime", action="append", default=[], metavar="NAME=PATH",
                    help="a linux-userland runtime binary to pack with (repeat; order = column order)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds of load per server and round (default 3)")
    ap.add_argument("--top", type=int, default=8, help="rows of the wake-up table (default 8)")
    args = ap.parse_args()
    port = http_load.free_port()
    per: dict[str, list[tuple[float, tuple[collections.Counter[str], ...], dict[str, float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="http-kernel-") as tmp:
        commands = http_compare.server_commands(args.runtime, Path(tmp), port)
        per = {v: [] for v in commands}
        for r in range(args.rounds):
            for v in http_load.round_order(list(commands), r):
                data, stat = Path(tmp) / f"{v}-{r}.data", Path(tmp) / f"{v}-{r}.stat"
                n, runtime = one_round(commands[v], port, args.duration, data, stat)
                per[v].append((n, samples(data, runtime), counts(stat)))
            print(f"round {r + 1} done; load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    names = list(per)

    def mean(v: str, pick: int, key: str) -> float:
        """Samples of class/call/wake `key` (pick 0/1/2) per 1,000 requests, mean over rounds."""
        return sum(s[pick][key] * 1000 / n for n, s, _ in per[v]) / len(per[v])

    def rate(v: str, event: str) -> float:
        """perf stat's `event` per request, mean over rounds."""
        return sum(c.get(event, 0.0) / n for n, _, c in per[v]) / len(per[v])

    head = "| " + " | ".join(names) + " |"
    rule = "|---" * (len(names) + 1) + "|"
    print(f"python3 bench/http_kernel.py {' '.join(sys.argv[1:])}: means over {args.rounds} rounds")
    print("\nSamples per 1,000 requests (200 µs each):\n\n| class " + head + "\n" + rule)
    for key in ("app", "runtime", "kernel"):
        print(f"| {key} | " + " | ".join(f"{mean(v, 0, key):.1f}" for v in names) + " |")
    calls = sorted({k for v in names for _, s, _ in per[v] for k in s[1]}, key=lambda k: -mean(names[-1], 1, k))
    print("\nKernel samples per 1,000 requests by syscall:\n\n| syscall " + head + "\n" + rule)
    for key in calls:
        print(f"| {key} | " + " | ".join(f"{mean(v, 1, key):.1f}" for v in names) + " |")
    wakes = sorted({k for v in names for _, s, _ in per[v] for k in s[2]}, key=lambda k: -mean(names[-1], 2, k))
    print("\n`_raw_spin_unlock_irqrestore` (interrupts re-enabled) by caller, per 1,000 requests:\n\n| caller "
          + head + "\n" + rule)
    for key in wakes[:args.top]:
        print(f"| {key} | " + " | ".join(f"{mean(v, 2, key):.1f}" for v in names) + " |")
    print("\nPer request (perf stat of the server's tree):\n\n| event " + head + "\n" + rule)
    for event in EVENTS.split(","):
        scale = 1e3 if event == "task-clock" else 1.0  # task-clock is in ms: µs per request
        label = "task-clock (µs)" if event == "task-clock" else event
        print(f"| {label} | " + " | ".join(f"{rate(v, event) * scale:.3f}" for v in names) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
