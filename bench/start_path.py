#!/usr/bin/env python3
"""Where a packed program's start-up wall time goes, on its critical path (issue 17, round hs11):
from the artifact's exec to the runner's `wait4` return, every microsecond attributed to a
process of the start, what it was doing, and whether it was on a CPU or waiting for one.

    python3 bench/start_path.py [--starts N] [--rt] NAME=ARTIFACT [NAME=ARTIFACT ...]
    python3 bench/start_path.py --script TRACE.txt NAME=PATH_SUBSTRING [...]

It records `perf record -a` of the scheduler's tracepoints, `raw_syscalls` and user page faults
over a shell loop that runs the artifacts in turn N times (under `chrt -f 10` with --rt), turns
the record into text with `perf script`, and for each start walks back from the runner's
`wait4` return: while the process on the path was on a CPU the time is its own (split by the
system call in progress, else "user", which includes page faults); while it was runnable it
waited for a CPU; at a wake-up the walk goes on in the process that woke it, at its first run in
its parent at the fork. Roles: S (the artifact's first process, the supervisor), I (S's first
child, init), A (I's first child, the app's first process), run (the runner). Phases split at
S's fork of I (S: start/end), I's fork of A (I: pre/post), A's `seccomp` return and its
`exit_group` (A: load/app/exit). Prints the mean µs per (role, phase or state) and per item,
and milestone medians. The trace adds ~1-2 µs to every event: compare variants, not with
untraced runs; under load perf may lose events (a process then seems to wait from before the
exec: such spans are cut at the exec). Needs root.
"""
from __future__ import annotations

import argparse
import bisect
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

EVENTS = [
    "sched:sched_process_exec", "sched:sched_process_fork", "sched:sched_process_exit",
    "sched:sched_switch", "sched:sched_wakeup", "sched:sched_wakeup_new",
    "raw_syscalls:sys_enter", "raw_syscalls:sys_exit", "exceptions:page_fault_user",
]
LINE = re.compile(r"^\s*(.+?)\s+(-?\d+)/(-?\d+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s*(.*)$")
WAIT4, SECCOMP, EXIT_GROUP = 61, 317, 231
NAMES = {0: "read", 1: "write", 3: "close", 9: "mmap", 10: "mprotect", 11: "munmap", 13: "rt_sigaction",
         15: "rt_sigreturn", 17: "pread64", 27: "mincore", 28: "madvise", 46: "sendmsg", 47: "recvmsg",
         53: "socketpair", 56: "clone", 61: "wait4", 72: "fcntl", 126: "capset", 157: "prctl",
         161: "chroot", 165: "mount", 202: "futex", 231: "exit_group", 257: "openat", 258: "mkdirat",
         272: "unshare", 293: "pipe2", 308: "setns", 317: "seccomp", 434: "pidfd_open", 436: "close_range",
         444: "landlock_create_ruleset", 445: "landlock_add_rule", 446: "landlock_restrict_self"}


@dataclass
class Trace:
    """The events of a `perf script -F comm,pid,tid,cpu,time,event,trace` text, per task."""
    states: dict[int, list[tuple[float, str, int]]] = field(default_factory=lambda: defaultdict(list))
    calls: dict[int, list[tuple[float, float, int]]] = field(default_factory=lambda: defaultdict(list))
    open_calls: dict[int, tuple[float, int]] = field(default_factory=dict)
    faults: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    parent: dict[int, int] = field(default_factory=dict)
    forked: dict[int, float] = field(default_factory=dict)
    exits: dict[int, float] = field(default_factory=dict)
    waits: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    execs: list[tuple[float, int, str]] = field(default_factory=list)


def fields(rest: str) -> dict[str, str]:
    """The `key=value` pairs of a tracepoint's text."""
    return dict(re.findall(r"(\w+)=(\S+)", rest.replace(" ==> ", " ")))


def parse(lines: list[str]) -> Trace:
    """A Trace from perf script lines (times in µs)."""
    evs = []
    for ln in lines:
        m = LINE.match(ln)
        if m:
            _comm, _pid, tid, cpu, t, ev, rest = m.groups()
            evs.append((float(t) * 1e6, int(tid), int(cpu), ev.split(":")[-1], rest))
    evs.sort(key=lambda e: e[0])
    tr = Trace()
    for t, tid, cpu, ev, rest in evs:
        if ev == "sched_switch":
            d = fields(rest)
            tr.states[int(d["prev_pid"])].append((t, "rq" if d["prev_state"].startswith("R") else "sleep", -1))
            tr.states[int(d["next_pid"])].append((t, "run", cpu))
        elif ev in ("sched_wakeup", "sched_wakeup_new"):
            tr.states[int(fields(rest)["pid"])].append((t, "wake" if ev == "sched_wakeup" else "new", tid))
        elif ev == "sched_process_fork":
            d = fields(rest)
            tr.parent[int(d["child_pid"])] = int(d["pid"])
            tr.forked[int(d["child_pid"])] = t
        elif ev == "sched_process_exec":
            d = fields(rest)
            tr.execs.append((t, int(d["pid"]), d.get("filename", "")))
        elif ev == "sched_process_exit":
            tr.exits[tid] = t
        elif ev == "sys_enter":
            tr.open_calls[tid] = (t, int(rest.split()[1]))
        elif ev == "sys_exit":
            nr = int(rest.split()[1])
            if tid in tr.open_calls:
                te, n0 = tr.open_calls.pop(tid)
                tr.calls[tid].append((te, t, n0))
            if nr == WAIT4:
                tr.waits[tid].append(t)
        elif ev == "page_fault_user":
            tr.faults[tid].append(t)
    return tr


@dataclass
class Start:
    """One start's critical path: µs per (role, kind, label) and its milestones (µs after exec)."""
    total: float
    items: dict[tuple[str, str, str], float]
    milestones: dict[str, float]


def roles_of(tr: Trace, s: int, runner: int) -> dict[int, str]:
    """The start's processes by role: run, S, I (S's first child), A (I's first child)."""
    roles = {runner: "run", s: "S"}
    kids = sorted((c for c, p in tr.parent.items() if p == s), key=lambda c: tr.forked[c])
    if kids:
        roles[kids[0]] = "I"
        grand = sorted((c for c, p in tr.parent.items() if p == kids[0]), key=lambda c: tr.forked[c])
        if grand:
            roles[grand[0]] = "A"
    return roles


def walk(tr: Trace, t0: float, s: int) -> Start | None:
    """The critical path of the start whose exec (of pid `s`) is at `t0`; None if incomplete."""
    runner = tr.parent.get(s)
    end = tr.exits.get(s)
    if runner is None or end is None:
        return None
    fin = next((w for w in tr.waits[runner] if w > end), None)
    if fin is None:
        return None
    roles = roles_of(tr, s, runner)
    by_role = {r: p for p, r in roles.items()}
    marks: dict[str, float] = {}
    if "I" in by_role:
        marks["I_forked"] = tr.forked[by_role["I"]]
    if "A" in by_role:
        a = by_role["A"]
        marks["A_forked"] = tr.forked[a]
        for _te, tx, nr in tr.calls[a]:
            if nr == SECCOMP:
                marks["A_seccomp_done"] = tx
        if a in tr.open_calls and tr.open_calls[a][1] == EXIT_GROUP:
            marks["A_exit_group"] = tr.open_calls[a][0]
        if a in tr.exits:
            marks["A_exit"] = tr.exits[a]

    def phase(role: str, t: float) -> str:
        if role == "S":
            return "start" if t < marks.get("I_forked", 1e30) else "end"
        if role == "I":
            return "pre" if t < marks.get("A_forked", 1e30) else "post"
        if role == "A":
            if t < marks.get("A_seccomp_done", 1e30):
                return "load"
            return "app" if t < marks.get("A_exit_group", 1e30) else "exit"
        return ""

    def on_cpu(pid: int, a: float, b: float) -> list[tuple[str, float, float]]:
        calls = list(tr.calls[pid])
        if pid in tr.open_calls:
            calls.append((tr.open_calls[pid][0], 1e30, tr.open_calls[pid][1]))
        out, cur = [], a
        for te, tx, nr in calls:
            if tx <= a or te >= b:
                continue
            lo, hi = max(te, a), min(tx, b)
            if lo > cur:
                out.append(("user", cur, lo))
            out.append((NAMES.get(nr, str(nr)), lo, hi))
            cur = hi
        if cur < b:
            out.append(("user", cur, b))
        return out

    items: dict[tuple[str, str, str], float] = defaultdict(float)
    pid, t = runner, fin
    for _ in range(100000):
        if t <= t0:
            break
        st = tr.states[pid]
        i = bisect.bisect_left(st, (t, "", -(1 << 62))) - 1
        if i < 0:
            break
        ts, kind, info = st[i]
        role = roles.get(pid, "other")
        if kind == "run":
            for label, x, y in on_cpu(pid, max(ts, t0), t):
                items[(role, "cpu", f"{phase(role, x)}:{label}" if phase(role, x) else label)] += y - x
            t = ts
        elif kind == "rq":
            t = ts
        elif kind in ("wake", "new"):
            # (A state before the exec means the trace lost the switch in between: clamped.)
            items[(role, "wait-cpu", "after-fork" if kind == "new" else "after-wake")] += t - max(ts, t0)
            nxt = tr.parent.get(pid, info) if kind == "new" else info
            if nxt in roles:
                pid = nxt
            elif i > 0:
                items[(role, "sleep", "woken-from-outside")] += ts - max(st[i - 1][0], t0)
                ts = st[i - 1][0]
            t = ts
        else:
            items[(role, "sleep", "unexplained")] += t - max(ts, t0)
            t = ts
    if t > t0:
        items[("?", "unwalked", "")] += t - t0
    ms = {k: v - t0 for k, v in marks.items()}
    ms["S_exit"], ms["total"] = end - t0, fin - t0
    for r in ("S", "I", "A"):
        if r in by_role:
            ms[f"{r}_faults"] = float(sum(1 for f in tr.faults[by_role[r]] if f > t0))
    return Start(fin - t0, dict(items), ms)


def starts(tr: Trace, path_part: str) -> list[Start]:
    """Every complete start of an executable whose path contains `path_part`."""
    out = []
    for t0, s, name in tr.execs:
        if path_part in name:
            st = walk(tr, t0, s)
            if st:
                out.append(st)
    return out


def report(name: str, runs: list[Start]) -> str:
    """The table of one variant: mean µs per role/phase and per item, milestone medians."""
    if not runs:
        return f"{name}: no complete start\n"
    n = len(runs)
    lines = [f"== {name}: {n} starts, exec -> runner's wait4 median {statistics.median(r.total for r in runs):.1f} us"]
    groups: dict[tuple[str, str], float] = defaultdict(float)
    per_item: dict[tuple[str, str, str], float] = defaultdict(float)
    for r in runs:
        for (role, kind, label), v in r.items.items():
            grp = label.split(":")[0] if kind == "cpu" and ":" in label else kind
            groups[(role, grp)] += v / n
            per_item[(role, kind, label)] += v / n
    lines.append("-- role, phase (on a CPU) or state: mean us per start")
    lines += [f"  {r:<4} {g:<20} {v:8.1f}" for (r, g), v in sorted(groups.items(), key=lambda x: -x[1])]
    lines.append("-- items, mean us per start (>= 3)")
    lines += [f"  {r:<4} {k:<9} {lab:<32} {v:8.1f}"
              for (r, k, lab), v in sorted(per_item.items(), key=lambda x: -x[1]) if v >= 3]
    lines.append("-- milestones, median (us after exec; faults: count)")
    keys = sorted({k for r in runs for k in r.milestones},
                  key=lambda k: statistics.median(r.milestones[k] for r in runs if k in r.milestones))
    lines += [f"  {k:<16} {statistics.median(r.milestones[k] for r in runs if k in r.milestones):8.1f}" for k in keys]
    return "\n".join(lines) + "\n"


def record(variants: list[tuple[str, str]], count: int, rt: bool, out: Path) -> Path:
    """Records `count` rounds of every artifact run in turn; returns the perf script text."""
    perf = shutil.which("perf")
    if perf is None:
        sys.exit("start_path.py: perf not found")
    loop = out / "loop.sh"
    arts = " ".join(f'"{a}"' for _, a in variants)
    loop.write_text(f'#!/bin/sh\ni=0\nwhile [ $i -lt {count} ]; do for a in {arts}; do "$a" >/dev/null; done; '
                    "i=$((i+1)); done\n", encoding="utf-8")
    loop.chmod(0o755)
    data = out / "perf.data"
    cmd = [perf, "record", "-q", "-a", "-o", str(data), "-e", ",".join(EVENTS), "--"]
    cmd += (["chrt", "-f", "10"] if rt else []) + [str(loop)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    text = out / "trace.txt"
    with text.open("w", encoding="utf-8") as f:
        subprocess.run([perf, "script", "-i", str(data), "-F", "comm,pid,tid,cpu,time,event,trace"],
                       check=True, stdout=f, stderr=subprocess.DEVNULL)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="+", metavar="NAME=ARTIFACT")
    ap.add_argument("--starts", type=int, default=30, help="starts of each artifact (default 30)")
    ap.add_argument("--rt", action="store_true", help="run the loop under chrt -f 10")
    ap.add_argument("--script", type=Path, help="analyse this perf script text instead of recording")
    args = ap.parse_args()
    variants = [tuple(v.split("=", 1)) for v in args.variants]
    if any(len(v) != 2 for v in variants):
        ap.error("expected NAME=ARTIFACT")
    pairs = [(v[0], v[1]) for v in variants]
    with tempfile.TemporaryDirectory() as tmp:
        text = args.script or record(pairs, args.starts, args.rt, Path(tmp))
        tr = parse(text.read_text(encoding="utf-8", errors="replace").splitlines())
    for name, art in pairs:
        sys.stdout.write(report(name, starts(tr, art)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
