"""bench/start_path.py: the critical-path walk over a small synthetic trace of one start."""
from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import start_path  # noqa: E402  (bench/ is not a package)


def line(comm: str, tid: int, cpu: int, us: float, event: str, rest: str) -> str:
    """One `perf script -F comm,pid,tid,cpu,time,event,trace` line at `us` µs."""
    return f"{comm:>16} {tid}/{tid} [{cpu:03d}] {1000 + us / 1e6:.6f}: {event}: {rest}"


def switch(cpu: int, us: float, prev: int, state: str, nxt: int) -> str:
    rest = f"prev_comm=x prev_pid={prev} prev_prio=89 prev_state={state} ==> next_comm=y next_pid={nxt} next_prio=89"
    return line("x", prev, cpu, us, "sched:sched_switch", rest)


def wake(cpu: int, us: float, waker: int, pid: int, new: bool = False) -> str:
    ev = "sched:sched_wakeup_new" if new else "sched:sched_wakeup"
    return line("x", waker, cpu, us, ev, f"comm=y pid={pid} prio=89 target_cpu={cpu:03d}")


def fork(us: float, parent: int, child: int) -> str:
    return line("x", parent, 0, us, "sched:sched_process_fork", f"comm=x pid={parent} child_comm=x child_pid={child}")


def call(us: float, tid: int, nr: int, enter: bool) -> str:
    if enter:
        return line("x", tid, 0, us, "raw_syscalls:sys_enter", f"NR {nr} (0, 0, 0, 0, 0, 0)")
    return line("x", tid, 0, us, "raw_syscalls:sys_exit", f"NR {nr} = 0")


# The runner (100) forks S (200), which execs the artifact at 10 µs; S forks I (300), I forks A
# (400); A installs its filter, runs the app and exits; I reports to S; S exits; the runner's
# wait4 returns at 205 µs.
TRACE = [
    call(4, 100, 61, True), switch(0, 5, 100, "S", 200), fork(1, 100, 200),
    line("x", 200, 0, 10, "sched:sched_process_exec", "filename=/d/app-linux-userland pid=200 old_pid=200"),
    fork(50, 200, 300), wake(1, 50, 200, 300, new=True), switch(0, 55, 200, "S", 0), switch(1, 60, 0, "R", 300),
    fork(80, 300, 400), wake(0, 80, 300, 400, new=True), switch(1, 85, 300, "S", 0), switch(0, 90, 0, "R", 400),
    call(100, 400, 317, True), call(110, 400, 317, False), call(150, 400, 231, True),
    line("x", 400, 0, 160, "sched:sched_process_exit", "comm=x pid=400 prio=89"),
    wake(1, 162, 400, 300), switch(0, 165, 400, "Z", 0), switch(1, 170, 0, "R", 300),
    call(175, 300, 1, True), wake(0, 177, 300, 200), call(177, 300, 1, False),
    line("x", 300, 1, 180, "sched:sched_process_exit", "comm=x pid=300 prio=89"), switch(0, 185, 0, "R", 200),
    call(190, 200, 231, True), line("x", 200, 0, 195, "sched:sched_process_exit", "comm=x pid=200 prio=89"),
    wake(1, 197, 200, 100), switch(1, 200, 0, "R", 100), call(205, 100, 61, False),
]


def test_every_microsecond_of_the_wait_is_attributed_along_the_path() -> None:
    tr = start_path.parse(TRACE)
    runs = start_path.starts(tr, "app-linux-userland")
    assert len(runs) == 1
    run = runs[0]
    assert abs(run.total - 195) < 0.01
    assert abs(sum(run.items.values()) - 195) < 0.01
    got = {k: round(v, 2) for k, v in run.items.items()}
    assert got[("S", "cpu", "start:user")] == 40  # exec -> fork of I
    assert got[("I", "wait-cpu", "after-fork")] == 10
    assert got[("I", "cpu", "pre:user")] == 20
    assert got[("A", "wait-cpu", "after-fork")] == 10
    assert got[("A", "cpu", "load:seccomp")] == 10
    assert got[("A", "cpu", "app:user")] == 40
    assert got[("A", "cpu", "exit:exit_group")] == 12
    assert got[("I", "cpu", "post:write")] == 2
    assert got[("S", "cpu", "end:exit_group")] == 7
    assert got[("run", "cpu", "wait4")] == 5
    assert round(run.milestones["A_seccomp_done"], 2) == 110 - 10
    assert round(run.milestones["I_forked"], 2) == 50 - 10


def test_a_start_without_the_runners_wait_is_left_out() -> None:
    tr = start_path.parse(TRACE[:-1])
    assert start_path.starts(tr, "app-linux-userland") == []
    assert "no complete start" in start_path.report("x", [])
