#!/usr/bin/env python3
"""Paired, interleaved A/B of one unixbench/sysbench row in CPU time of the whole process tree,
counted by a cpuacct cgroup (v1) instead of perf's inherited task-clock.

    python3 bench/cpu_ab.py ROUNDS N base=ARTIFACT name=ARTIFACT ...   (env TEST=spawn)

Why not bench/paired_ab.py for fork-heavy rows: on kernel 6.18 `do_exit` closes a task's
inherited perf counters (`perf_event_exit_task`) before it tears down the task's memory
(`exit_mm`), so `perf stat -e task-clock` never counts a fork child's `exit_mmap` (issue 17,
bench/RESULTS-issue17-spawn11.md: ~30 % of a spawn's CPU). cpuacct charges every task of the
group up to its last schedule. Each round runs every variant in rotating order as `ART TEST 1`
and `ART TEST N` under `chrt -f 10 taskset -c 1`, moved into the group first, and takes
(N run - 1 run) / (N - 1): CPU µs per iteration without start-up. Also prints the program's
own wall figure (its `ns=`) per iteration, and per variant the paired difference to the first
(base - variant, positive: the variant is cheaper) with the rounds in which it was cheaper.
Needs root and the cpuacct hierarchy at /sys/fs/cgroup/cpuacct (env CPUACCT to override).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

from context1_ab import V1, in_cgroup, usage_ns  # its cgroup plumbing (cpuacct v1)
from paired_ab import q  # the same median [q1, q3] as paired_ab's table

GROUP = "bench-cpu-ab"


def group_dir() -> Path:
    """The cgroup directory this script counts in: one of its own per run (created), so a
    second A/B at the same time is not counted here."""
    path = Path(os.environ.get("CPUACCT", str(V1))) / f"{GROUP}-{os.getpid()}"
    path.mkdir(exist_ok=True)
    return path


def wall_us(output: str) -> float:
    """The program's own wall figure (`TEST iterations=N ns=T`) in µs, 0 when it printed none."""
    m = re.search(r"\sns=(\d+)", output)
    return int(m.group(1)) / 1000.0 if m else 0.0


def run(group: Path, art: str, test: str, n: int) -> tuple[float, float]:
    """(CPU µs of the tree, wall µs the program reports) of one run of `art test n`, pinned."""
    before = usage_ns(group, "cpuacct.usage")
    argv = [*in_cgroup(group), "chrt", "-f", "10", "taskset", "-c", "1", art, test, str(n)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    return (usage_ns(group, "cpuacct.usage") - before) / 1000.0, wall_us(out.stdout)


def paired(base: list[float], other: list[float]) -> str:
    """Paired median [q1, q3] of base - other and the rounds where other was lower."""
    d = [b - x for b, x in zip(base, other)]
    return f"{q(d)}, {sum(1 for x in d if x > 0)}/{len(d)} > 0"


def main() -> None:
    """Runs the rounds and prints the table."""
    rounds, n = int(sys.argv[1]), int(sys.argv[2])
    test = os.environ.get("TEST", "spawn")
    arts = [a.split("=", 1) for a in sys.argv[3:]]
    group = group_dir()
    cpu: dict[str, list[float]] = {k: [] for k, _ in arts}
    wall: dict[str, list[float]] = {k: [] for k, _ in arts}
    loads = []
    for r in range(rounds):
        for name, art in arts[r % len(arts) :] + arts[: r % len(arts)]:
            c1, _ = run(group, art, test, 1)
            cn, wn = run(group, art, test, n)
            cpu[name].append((cn - c1) / (n - 1))
            wall[name].append(wn / n)
        loads.append(os.getloadavg()[0])
    base = arts[0][0]
    print(f"{test} rounds={rounds} n={n} load {min(loads):.1f}-{max(loads):.1f}")
    for name, _ in arts:
        line = f"{name}: cpu {q(cpu[name])} µs, wall {q(wall[name])} µs"
        if name != base:
            line += f"\n  {base} - {name}: cpu {paired(cpu[base], cpu[name])}; wall {paired(wall[base], wall[name])}"
        print(line, flush=True)
    remove_group(group)


def remove_group(group: Path) -> None:
    """Removes the cgroup once the last process of the runs has left it (a packed program's
    supervisor may still be ending), or leaves it with a note."""
    for _ in range(50):
        try:
            os.rmdir(group)
            return
        except OSError:
            time.sleep(0.1)
    print(f"note: {group} left behind (busy)", file=sys.stderr)


if __name__ == "__main__":
    main()
