#!/usr/bin/env python3
"""Where a unixbench spawn or context1 loop's wall time goes, from the scheduler's tracepoints
(issue 17): the part of the wall that is not CPU time (waits, hand-offs between CPUs, other
users) for native and packed programs side by side.

    python3 bench/sched_timeline.py [--test spawn|context1] [--iterations N] [--rt]
                                    NAME=PROGRAM [NAME=PROGRAM ...]
    python3 bench/sched_timeline.py --script TRACE.txt --comm PREFIX [--test spawn|context1]

For every program (a static unixbench build, or its packed artifact) it runs
`perf record -a -e sched:...` over `PROGRAM TEST N` (under `chrt -f 10` with --rt), turns the
record into text with `perf script`, and reports:

- spawn: per iteration, the medians of the timeline's segments (fork to the child's first run,
  the child's run, its exit to the parent's wake-up, the wake-up latency, the parent's run to
  the next fork), on which CPU the child and the woken parent ran (the parent's CPU or the
  other one), and how the wall divides into time with no, one or two of the app's processes on
  a CPU;
- context1: per hand-off, the wake-up latency and whether it crossed CPUs, and the on-CPU burst
  between a process's wake-up and its next sleep.

Processes are the app's when their command name starts with --comm (default: the program's
file name, cut to the kernel's 15 characters). The trace adds a few µs to every event, so
compare variants with each other, not with untraced runs. Needs root (system-wide tracing).
"""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

EVENTS = ["sched:sched_switch", "sched:sched_wakeup", "sched:sched_wakeup_new", "sched:sched_process_exit"]
LINE = re.compile(r"^\s*(.*?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s+(.*)$")


@dataclass
class Event:
    """One tracepoint hit: the task it ran in, its CPU, time (µs), name and fields."""

    comm: str
    pid: int
    cpu: int
    t: float
    name: str
    fields: dict[str, str]


def parse(lines: Iterable[str]) -> list[Event]:
    """Events from `perf script -F comm,pid,tid,cpu,time,event,trace` text, in time order."""
    out = []
    for line in lines:
        m = LINE.match(line)
        if not m:
            continue
        comm, pid, _tid, cpu, t, name, rest = m.groups()
        fields: dict[str, str] = {}
        # prev_comm/next_comm/comm may hold spaces: take each key's value up to the next key.
        keys = list(re.finditer(r"(\w+)=", rest))
        for i, k in enumerate(keys):
            end = keys[i + 1].start() if i + 1 < len(keys) else len(rest)
            fields[k.group(1)] = rest[k.end():end].strip()
        out.append(Event(comm, int(pid), int(cpu), float(t) * 1e6, name.rstrip(":"), fields))
    out.sort(key=lambda e: e.t)
    return out


def median(xs: list[float]) -> Optional[float]:
    """The median, or None for no values."""
    return statistics.median(xs) if xs else None


SEGMENTS = ["fork -> child runs", "child runs -> exits", "exit -> parent woken", "parent woken -> runs",
            "parent runs -> next fork", "fork -> next fork"]


def spawn_timeline(events: list[Event], comm: str) -> dict[str, object]:
    """The spawn loop's per-iteration segments (medians, µs), placements and occupancy."""
    it: dict[int, dict[str, float]] = {}
    order: list[int] = []
    parent = -1
    for e in events:
        if e.name == "sched:sched_wakeup_new" and e.comm.startswith(comm):
            child = int(e.fields["pid"])
            it[child] = {"fork": e.t, "fork_cpu": e.cpu}
            order.append(child)
            parent = e.pid
        elif e.name == "sched:sched_switch":
            nxt = int(e.fields["next_pid"])
            if nxt in it and "run" not in it[nxt]:
                it[nxt].update(run=e.t, run_cpu=e.cpu)
            if nxt == parent and order:
                cur = it[order[-1]]
                if "woken" in cur and "parent_run" not in cur:
                    cur.update(parent_run=e.t, parent_cpu=e.cpu)
        elif e.name == "sched:sched_process_exit" and e.pid in it:
            it[e.pid]["exit"] = e.t
        elif e.name == "sched:sched_wakeup" and e.pid in it and int(e.fields["pid"]) == parent:
            it[e.pid].setdefault("woken", e.t)
            it[e.pid].setdefault("exit_cpu", e.cpu)
    seg: dict[str, list[float]] = {k: [] for k in SEGMENTS}
    where: Counter[str] = Counter()
    for a, b in zip(order, order[1:]):
        d = it[a]
        if not all(k in d for k in ("run", "exit", "woken", "parent_run")):
            continue
        seg["fork -> child runs"].append(d["run"] - d["fork"])
        seg["child runs -> exits"].append(d["exit"] - d["run"])
        seg["exit -> parent woken"].append(d["woken"] - d["exit"])
        seg["parent woken -> runs"].append(d["parent_run"] - d["woken"])
        seg["parent runs -> next fork"].append(it[b]["fork"] - d["parent_run"])
        seg["fork -> next fork"].append(it[b]["fork"] - d["fork"])
        where["child on the parent's CPU" if d["run_cpu"] == d["fork_cpu"] else "child on the other CPU"] += 1
        where["parent woken on the child's CPU" if d["parent_cpu"] == d["exit_cpu"]
              else "parent woken on the other CPU"] += 1
    return {"iterations": len(seg["fork -> next fork"]), "segments": {k: median(v) for k, v in seg.items()},
            "placement": dict(where), "occupancy": occupancy(events, {parent, *order}, max(len(order), 1))}


def occupancy(events: list[Event], pids: set[int], per: int) -> dict[str, float]:
    """µs per iteration (`per` iterations) with none, one or two of the processes `pids` on a
    CPU, between the first and the last switch that involves one of them."""
    sw = [e for e in events if e.name == "sched:sched_switch"]
    app_t = [e.t for e in sw if int(e.fields["next_pid"]) in pids or int(e.fields["prev_pid"]) in pids]
    if not app_t:
        return {}
    t0, t1 = app_t[0], app_t[-1]
    on: dict[int, bool] = {}
    acc = [0.0, 0.0, 0.0]
    last = t0
    for e in sw:
        if t0 <= e.t <= t1:
            acc[min(sum(on.values()), 2)] += e.t - last
            last = e.t
        on[e.cpu] = int(e.fields["next_pid"]) in pids
    return {"no app process on a CPU": acc[0] / per, "one": acc[1] / per, "two": acc[2] / per,
            "wall": (t1 - t0) / per}


def handoffs(events: list[Event], comm: str) -> dict[str, object]:
    """context1's hand-offs: wake-up latency (median µs) on the waker's CPU and on the other,
    their counts, and the median on-CPU burst from a wake-up's run to the next sleep."""
    woken: dict[int, tuple[float, int]] = {}
    running: dict[int, float] = {}
    lat: dict[str, list[float]] = {"same CPU": [], "other CPU": []}
    burst: list[float] = []
    for e in events:
        if e.name == "sched:sched_wakeup" and e.comm.startswith(comm) and e.fields.get("comm", "").startswith(comm):
            woken[int(e.fields["pid"])] = (e.t, e.cpu)
        elif e.name == "sched:sched_switch":
            prev, nxt = int(e.fields["prev_pid"]), int(e.fields["next_pid"])
            if prev in running and e.fields.get("prev_state", "").startswith("S"):
                burst.append(e.t - running.pop(prev))
            if nxt in woken:
                t, cpu = woken.pop(nxt)
                lat["same CPU" if cpu == e.cpu else "other CPU"].append(e.t - t)
                running[nxt] = e.t
    return {"hand-offs": {k: len(v) for k, v in lat.items()}, "latency": {k: median(v) for k, v in lat.items()},
            "burst": median(burst)}


def record(argv: list[str], rt: bool, out: Path) -> list[Event]:
    """Traces one run of argv system-wide and returns its events."""
    data = out / "sched.data"
    wrap = ["chrt", "-f", "10"] if rt else []
    events = [a for e in EVENTS for a in ("-e", e)]
    subprocess.run(["perf", "record", "-m", "4096", "-a", "-q", "-o", str(data), *events, "--", *wrap, *argv],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=600)
    text = subprocess.run(["perf", "script", "--ns", "-i", str(data), "-F", "comm,pid,tid,cpu,time,event,trace"],
                          capture_output=True, text=True, check=True, timeout=600).stdout
    return parse(text.splitlines())


def fmt(x: object) -> str:
    """A number to one decimal, or '-'."""
    return f"{x:.1f}" if isinstance(x, float) else ("-" if x is None else str(x))


def report(test: str, results: dict[str, dict[str, object]]) -> str:
    """Markdown tables, one column per variant."""
    names = list(results)
    rows: list[tuple[str, list[object]]] = []
    if test == "spawn":
        rows.append(("iterations", [results[n]["iterations"] for n in names]))
        for k in SEGMENTS:
            rows.append((f"{k}, median µs", [results[n]["segments"][k] for n in names]))  # type: ignore[index]
        keys = sorted({k for n in names for k in results[n]["placement"]})  # type: ignore[attr-defined]
        rows += [(k, [results[n]["placement"].get(k, 0) for n in names]) for k in keys]  # type: ignore[attr-defined]
        occ = ["no app process on a CPU", "one", "two", "wall"]
        rows += [(f"µs per iteration with {k}" if k != "wall" else "wall µs per iteration",
                  [results[n]["occupancy"].get(k) for n in names]) for k in occ]  # type: ignore[attr-defined]
    else:
        for k in ("same CPU", "other CPU"):
            rows.append((f"hand-offs, {k}", [results[n]["hand-offs"][k] for n in names]))  # type: ignore[index]
            rows.append((f"wake-up latency, {k}, median µs", [results[n]["latency"][k] for n in names]))  # type: ignore[index]
        rows.append(("on-CPU burst, median µs", [results[n]["burst"] for n in names]))
    out = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    out += ["| " + k + " | " + " | ".join(fmt(v) for v in vs) + " |" for k, vs in rows]
    return "\n".join(out) + "\n"


def main() -> int:
    """Records (or reads) traces and prints the tables."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("programs", nargs="*", help="NAME=PROGRAM (a unixbench build or its packed artifact)")
    ap.add_argument("--test", choices=["spawn", "context1"], default="spawn")
    ap.add_argument("--iterations", type=int, help="default: 1000 for spawn, 5000 for context1")
    ap.add_argument("--rt", action="store_true", help="run the program under chrt -f 10")
    ap.add_argument("--script", type=Path, help="analyse this `perf script` text instead of recording")
    ap.add_argument("--comm", help="command-name prefix of the app's processes")
    args = ap.parse_args()
    analyse = spawn_timeline if args.test == "spawn" else handoffs
    results: dict[str, dict[str, object]] = {}
    if args.script:
        if not args.comm:
            ap.error("--script needs --comm")
        results[args.script.name] = analyse(parse(args.script.read_text().splitlines()), args.comm)
    else:
        if not args.programs or shutil.which("perf") is None:
            ap.error("give NAME=PROGRAM arguments (and install perf)")
        n = args.iterations or (1000 if args.test == "spawn" else 5000)
        with tempfile.TemporaryDirectory() as tmp:
            for spec in args.programs:
                name, _, prog = spec.partition("=")
                comm = args.comm or Path(prog).name[:15]
                results[name] = analyse(record([prog, args.test, str(n)], args.rt, Path(tmp)), comm)
    sys.stdout.write(report(args.test, results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
