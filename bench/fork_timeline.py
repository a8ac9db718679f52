#!/usr/bin/env python3
"""Where a fork loop's time goes, by process and phase, from kernel tracepoints on one CPU.

    python3 bench/fork_timeline.py PROG [N]        # records and accounts `PROG spawn N`
    python3 bench/fork_timeline.py --script FILE   # accounts a saved `perf script` text

Records `raw_syscalls:sys_enter/sys_exit`, `sched:sched_switch`, `sched:sched_process_fork`
and `sched:sched_process_exit` system-wide on CPU 1 while `chrt -f 10 taskset -c 1 PROG spawn
N` runs (perf record -a -C 1), then gives every interval between two consecutive events on
that CPU to the task that ran then, in the phase it was in: a system call by name, user mode
(with any page faults), a fork child from its first run to its first event (`ret_from_fork`
and its first user instructions), and a child's exit after `sched_process_exit`, which on
kernel 6.18 is everything from `exit_mm` (the teardown of its memory) to its last switch.
The parent is the task with the most `clone` calls, the children the tasks it forked. Prints
µs per spawn (wall time inside the trace, so each event adds its own cost to both sides of
an A/B alike) and events per spawn (issue 17, bench/RESULTS-issue17-spawn11.md).
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from sched_timeline import LINE  # one `perf script` line: comm pid/tid [cpu] time: event: fields

EVENTS = [
    "raw_syscalls:sys_enter",
    "raw_syscalls:sys_exit",
    "sched:sched_switch",
    "sched:sched_process_fork",
    "sched:sched_process_exit",
]
NAMES = {56: "clone", 61: "wait4", 39: "getpid", 273: "set_robust_list", 231: "exit_group", 435: "clone3"}
Event = tuple[float, int, str, str]


def parse(lines: list[str], cpu: int = 1) -> list[Event]:
    """(time s, tid, event, rest) of every event on `cpu`, in time order."""
    out = []
    for line in lines:
        m = LINE.match(line)
        if m and int(m.group(4)) == cpu:
            out.append((float(m.group(5)), int(m.group(3)), m.group(6), m.group(7)))
    out.sort(key=lambda e: e[0])
    return out


def account(evs: list[Event]) -> tuple[int, dict[tuple[str, str], float], dict[tuple[str, str], float]]:
    """(spawns, µs per spawn by (role, phase), events per spawn by (role, phase))."""
    clones: collections.Counter[int] = collections.Counter()
    forked_by: dict[int, int] = {}
    for _, tid, ev, rest in evs:
        if ev == "raw_syscalls:sys_enter" and int(rest.split()[1]) in (56, 435):
            clones[tid] += 1
        if ev == "sched:sched_process_fork":
            m = re.search(r" pid=(\d+) child_comm=.* child_pid=(\d+)", rest)
            if m:
                forked_by[int(m.group(2))] = int(m.group(1))
    parent, spawns = clones.most_common(1)[0]
    children = {c for c, p in forked_by.items() if p == parent}

    def role(tid: int) -> str:
        return "parent" if tid == parent else "child" if tid in children else "other"

    phase: dict[int, str] = {}
    time: dict[tuple[str, str], float] = collections.defaultdict(float)
    count: dict[tuple[str, str], float] = collections.defaultdict(float)
    cur, last = None, None
    for t, tid, ev, rest in evs:
        if cur is not None and last is not None:
            time[(role(cur), phase.get(cur, "user"))] += (t - last) * 1e6 / spawns
        cur, last = tid, t
        if ev == "raw_syscalls:sys_enter":
            phase[tid] = "sys " + NAMES.get(int(rest.split()[1]), rest.split()[1])
            count[(role(tid), phase[tid])] += 1 / spawns
        elif ev == "raw_syscalls:sys_exit":
            phase[tid] = "user"
        elif ev == "sched:sched_process_exit":
            phase[tid] = "exit: exit_mm .. last switch"
        elif ev == "sched:sched_switch":
            m = re.search(r"prev_pid=(\d+) .* next_pid=(\d+)", rest)
            if m:
                cur = int(m.group(2))
                if cur in children and cur not in phase:
                    phase[cur] = "start: ret_from_fork .. first event"
    return spawns, dict(time), dict(count)


def record(prog: str, n: int, out: Path) -> list[str]:
    """Records `prog spawn n` on CPU 1 and returns perf script's lines."""
    data = out / "fork_timeline.data"
    subprocess.run(
        ["perf", "record", "-q", "-m", "4096", "-o", str(data), "-a", "-C", "1", "-e", ",".join(EVENTS), "--"]
        + ["chrt", "-f", "10", "taskset", "-c", "1", prog, "spawn", str(n)],
        check=True,
        capture_output=True,
    )
    fields = "comm,pid,tid,cpu,time,event,trace"
    p = subprocess.run(["perf", "script", "--ns", "-i", str(data), "-F", fields], capture_output=True, text=True)
    return p.stdout.splitlines()


def main() -> None:
    """Records (or reads) a trace and prints the account."""
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return
    if sys.argv[1] == "--script":
        lines = Path(sys.argv[2]).read_text(errors="replace").splitlines()
    else:
        with tempfile.TemporaryDirectory() as d:
            lines = record(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2000, Path(d))
    spawns, time, count = account(parse(lines))
    print(f"spawns {spawns}")
    for role in ("parent", "child"):
        keys = sorted((k for k in time if k[0] == role), key=lambda k: -time[k])
        for k in keys:
            if time[k] >= 0.05 or count.get(k, 0.0) >= 0.01:
                print(f"{role:7} {k[1]:40} {time[k]:8.2f} µs {count.get(k, 0.0):6.2f} calls")
        print(f"{role:7} {'total':40} {sum(time[k] for k in keys):8.2f} µs")


if __name__ == "__main__":
    main()
