"""bench/sched_timeline.py: the spawn timeline and context1 hand-offs it reads from a
`perf script` of the scheduler's tracepoints (synthetic traces, no perf needed)."""
from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import sched_timeline as st  # noqa: E402  (bench/ is not a package)


def line(comm: str, pid: int, cpu: int, t_us: float, event: str, trace: str) -> str:
    """One `perf script -F comm,pid,tid,cpu,time,event,trace` line."""
    return f" {comm} {pid}/{pid} [{cpu:03d}] {t_us / 1e6:.9f}: {event}: {trace}"


def switch(cpu: int, t: float, prev: tuple[str, int], state: str, nxt: tuple[str, int]) -> str:
    """A sched_switch from prev to nxt on cpu."""
    return line(prev[0], prev[1], cpu, t, "sched:sched_switch",
                f"prev_comm={prev[0]} prev_pid={prev[1]} prev_prio=120 prev_state={state} ==> "
                f"next_comm={nxt[0]} next_pid={nxt[1]} next_prio=120")


def spawn_iteration(t0: float, child: int, child_cpu: int) -> list[str]:
    """One fork + exit + wait of parent 100 (on CPU 0): fork at t0, the child runs 10 µs after on
    child_cpu for 20 µs, its exit wakes the parent 30 µs later, which runs 5 µs after that."""
    app, idle, parent = "ub", ("swapper/0", 0), ("ub", 100)
    c = (app, child)
    new = f"comm={app} pid={child} prio=120 target_cpu={child_cpu:03d}"
    out = [line(app, 100, 0, t0, "sched:sched_wakeup_new", new)]
    if child_cpu == 0:
        out.append(switch(0, t0 + 10, parent, "S", c))
    else:
        out += [switch(0, t0 + 8, parent, "S", idle), switch(child_cpu, t0 + 10, idle, "R", c)]
    out.append(line(app, child, child_cpu, t0 + 30, "sched:sched_process_exit", f"comm={app} pid={child} prio=120"))
    wake = f"comm={app} pid=100 prio=120 target_cpu=000"
    out.append(line(app, child, child_cpu, t0 + 60, "sched:sched_wakeup", wake))
    if child_cpu == 0:
        out.append(switch(0, t0 + 65, c, "Z", parent))
    else:
        out += [switch(child_cpu, t0 + 62, c, "Z", idle), switch(0, t0 + 65, idle, "R", parent)]
    return out


def test_spawn_segments_placement_and_occupancy() -> None:
    lines = []
    for i in range(4):
        lines += spawn_iteration(100.0 * i, 200 + i, 0 if i % 2 == 0 else 1)
    r = st.spawn_timeline(st.parse(lines), "ub")
    assert r["iterations"] == 3
    seg = r["segments"]
    assert seg["fork -> child runs"] == 10.0
    assert seg["child runs -> exits"] == 20.0
    assert seg["exit -> parent woken"] == 30.0
    assert seg["parent woken -> runs"] == 5.0
    assert seg["parent runs -> next fork"] == 35.0
    assert seg["fork -> next fork"] == 100.0
    # Iterations 0 and 2 ran the child on the parent's CPU, 1 on the other; the woken parent
    # always ran on CPU 0, the child's CPU only when the child ran there.
    assert r["placement"] == {"child on the parent's CPU": 2, "child on the other CPU": 1,
                              "parent woken on the child's CPU": 2, "parent woken on the other CPU": 1}
    occ = r["occupancy"]
    # A cross-CPU iteration leaves 2 + 3 µs with no app process on a CPU.
    assert occ["two"] == 0.0
    assert abs(occ["no app process on a CPU"] * 4 - 2 * 5.0) < 1e-6
    assert abs(occ["wall"] - (365.0 - 10.0) / 4) < 1e-6


def test_context1_handoffs() -> None:
    a, b, idle = ("ub", 10), ("ub", 11), ("swapper/1", 0)
    lines = [
        line("ub", 10, 0, 0.0, "sched:sched_wakeup", "comm=ub pid=11 prio=120 target_cpu=000"),
        switch(0, 4.0, a, "S", b),                      # same CPU: 4 µs latency
        line("ub", 11, 0, 10.0, "sched:sched_wakeup", "comm=ub pid=10 prio=120 target_cpu=001"),
        switch(0, 11.0, b, "S", idle),                  # b ran 7 µs
        switch(1, 30.0, idle, "R", a),                  # other CPU: 20 µs latency
        line("ub", 10, 1, 36.0, "sched:sched_wakeup", "comm=other pid=5 prio=120 target_cpu=001"),
    ]
    r = st.handoffs(st.parse(lines), "ub")
    assert r["hand-offs"] == {"same CPU": 1, "other CPU": 1}
    assert r["latency"] == {"same CPU": 4.0, "other CPU": 20.0}
    assert r["burst"] == 7.0


def test_report_renders_every_variant() -> None:
    lines = []
    for i in range(3):
        lines += spawn_iteration(100.0 * i, 300 + i, 0)
    r = st.spawn_timeline(st.parse(lines), "ub")
    md = st.report("spawn", {"native": r, "packed": r})
    assert md.startswith("| | native | packed |")
    assert "| fork -> next fork, median µs | 100.0 | 100.0 |" in md
