"""bench/fork_timeline.py's account of a traced fork loop and bench/cpu_ab.py's helpers."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import cpu_ab  # noqa: E402
import fork_timeline  # noqa: E402

# One spawn: the parent clones (10 µs), waits (blocks), the child runs, calls exit_group and
# exits; the parent reaps. Times in seconds, as perf script --ns prints them.
TRACE = """\
  ub 100/100 [001] 1.000000000: raw_syscalls:sys_enter: NR 56 (1, 0, 0, 0, 0, 0)
  ub 100/100 [001] 1.000008000: sched:sched_process_fork: comm=ub pid=100 child_comm=ub child_pid=101
  ub 100/100 [001] 1.000010000: raw_syscalls:sys_exit: NR 56 = 101
  ub 100/100 [001] 1.000011000: raw_syscalls:sys_enter: NR 61 (65, 0, 0, 0, 0, 0)
  ub 100/100 [001] 1.000012000: sched:sched_switch: prev_comm=ub prev_pid=100 prev_prio=89 \
prev_state=S ==> next_comm=ub next_pid=101 next_prio=89
  ub 101/101 [001] 1.000016000: raw_syscalls:sys_enter: NR 231 (0, 0, 0, 0, 0, 0)
  ub 101/101 [001] 1.000017000: sched:sched_process_exit: comm=ub pid=101 prio=89 group_dead=1
  ub 101/101 [001] 1.000037000: sched:sched_switch: prev_comm=ub prev_pid=101 prev_prio=89 \
prev_state=X ==> next_comm=ub next_pid=100 next_prio=89
  ub 100/100 [001] 1.000040000: raw_syscalls:sys_exit: NR 61 = 101
  other 7/7 [000] 1.000041000: raw_syscalls:sys_enter: NR 0 (0, 0, 0, 0, 0, 0)
"""


def test_the_account_splits_a_spawn_by_process_and_phase() -> None:
    lines = TRACE.replace("\\\n", "").splitlines()
    evs = fork_timeline.parse(lines)
    assert len(evs) == 9  # the CPU 0 event is left out
    spawns, time, count = fork_timeline.account(evs)
    assert spawns == 1
    assert round(time[("parent", "sys clone")], 3) == 10.0
    assert round(time[("parent", "sys wait4")], 3) == 4.0  # 1 before blocking, 3 after the wake
    assert round(time[("child", "start: ret_from_fork .. first event")], 3) == 4.0
    assert round(time[("child", "sys exit_group")], 3) == 1.0
    assert round(time[("child", "exit: exit_mm .. last switch")], 3) == 20.0
    assert count[("parent", "sys clone")] == 1 and count[("child", "sys exit_group")] == 1


def test_cpu_ab_reads_the_programs_wall_figure_and_pairs_rounds() -> None:
    assert cpu_ab.wall_us("spawn iterations=3000 ns=241041187\n") == 241041.187
    assert cpu_ab.wall_us("no figure") == 0.0
    assert cpu_ab.paired([10.0, 12.0, 11.0], [9.0, 13.0, 10.0]) == "1.00 [-1.00, 1.00], 2/3 > 0"
