"""bench/unixbench.py: the CPU time per iteration beside the wall-clock score, and how
bench/unixbench.py and bench/run.py render it."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import run as bench_run  # noqa: E402  (bench/ is not a package)
import unixbench  # noqa: E402


def fake_program(tmp_path: Path, spin: int = 0) -> Path:
    """A stand-in for the unixbench binary: prints its test line (ns=2000000 for any count)
    after `spin` loops of shell arithmetic, so that it uses some CPU."""
    prog = tmp_path / "fake-unixbench"
    prog.write_text("#!/bin/sh\n"
                    f"i=0; while [ $i -lt {spin} ]; do i=$((i+1)); done\n"
                    'echo "$1 iterations=$2 ns=2000000"\n')
    prog.chmod(0o755)
    return prog


def results(cpu: dict[str, dict[str, float | None]] | None) -> dict[str, Any]:
    """A unixbench.json-shaped result for two tests, with or without CPU rows."""
    r: dict[str, Any] = {
        "command": "python3 bench/unixbench.py", "date": "today", "loadavg": ["1.00"],
        "machine": {"cpu": "cpu", "cores": 2, "os": "os", "kernel": "k"},
        "iterations": {"context1": 20_000, "spawn": 1_000},
        "scores": {"context1": {"native": 50_000.0, "rewrite": 30_000.0},
                   "spawn": {"native": 20_000.0, "rewrite": 12_000.0}},
        "ratios": {"rewrite": {"context1": 0.6, "spawn": 0.6}}, "geomean": {"rewrite": 0.6}, "errors": {}}
    if cpu is not None:
        r["cpu_us"] = cpu
        r["cpu_ratios"] = {"rewrite": {t: row["native"] / row["rewrite"] for t, row in cpu.items()
                                       if row.get("native") and row.get("rewrite")}}
    return r


def test_cpu_per_iteration_takes_the_one_iteration_run_off() -> None:
    full = unixbench.Run(1.0, 0.5, "")
    one = unixbench.Run(1.0, 0.1, "")
    assert unixbench.cpu_us_per_iteration(full, one, 1001) == pytest.approx(400.0)
    # A single-iteration run costing more than the full one (noise) gives 0, never negative.
    assert unixbench.cpu_us_per_iteration(one, full, 1001) == 0.0
    assert unixbench.cpu_us_per_iteration(unixbench.Run(1.0, None, ""), one, 1001) is None


def test_run_test_reports_score_and_error(tmp_path: Path) -> None:
    prog = fake_program(tmp_path)
    r = unixbench.run_test([str(prog)], "spawn", 500)
    assert r.score == pytest.approx(500 / 2e-3) and r.cpu_s is None and r.error == ""
    bad = tmp_path / "fails"
    bad.write_text("#!/bin/sh\necho broken >&2\nexit 3\n")
    bad.chmod(0o755)
    r = unixbench.run_test([str(bad)], "spawn", 500)
    assert r.score is None and r.error == "exit 3: broken"


@pytest.mark.skipif(shutil.which("perf") is None, reason="needs perf (linux-perf)")
def test_run_test_under_perf_counts_the_cpu_of_the_process_tree(tmp_path: Path) -> None:
    perf = shutil.which("perf")
    meter = unixbench.CpuMeter(perf=perf)
    busy = unixbench.run_test([str(fake_program(tmp_path, spin=20_000))], "spawn", 10, meter)
    if busy.cpu_s is None:
        pytest.skip("perf cannot count task-clock here")
    assert busy.score == pytest.approx(10 / 2e-3)
    (tmp_path / "idle").mkdir()
    idle = unixbench.run_test([str(fake_program(tmp_path / "idle"))], "spawn", 10, meter)
    assert idle.cpu_s is not None and busy.cpu_s > idle.cpu_s


def test_run_test_in_a_cgroup_counts_the_cpu_of_the_process_tree(tmp_path: Path) -> None:
    meter = unixbench.cpu_meter()
    if meter is None or meter.cgroup is None:
        pytest.skip("no cgroup can be made here (not root, or no cgroup file system)")
    busy = unixbench.run_test([str(fake_program(tmp_path, spin=20_000))], "spawn", 10, meter)
    assert busy.score == pytest.approx(10 / 2e-3)
    (tmp_path / "idle").mkdir()
    idle = unixbench.run_test([str(fake_program(tmp_path / "idle"))], "spawn", 10, meter)
    assert busy.cpu_s is not None and idle.cpu_s is not None and busy.cpu_s > idle.cpu_s > 0


def test_reports_show_cpu_per_iteration_beside_the_score() -> None:
    r = results({"context1": {"native": 2.4, "rewrite": 2.7}, "spawn": {"native": 36.0, "rewrite": 60.0}})
    for text in (unixbench.render(r, ["native", "rewrite"]), "\n".join(bench_run.render_unixbench(r))):
        assert "| test | native | rewrite | native/rewrite CPU |" in text
        assert "| context1 | 2.40 | 2.70 | 0.89x |" in text
        assert "| spawn | 36.0 | 60.0 | 0.60x |" in text


def test_reports_of_a_run_without_cpu_say_so() -> None:
    r = results(None)
    text = unixbench.render(r, ["native", "rewrite"])
    assert "CPU time per iteration: not measured" in text and "native/rewrite CPU" not in text
    assert "CPU time per iteration: not measured" in "\n".join(bench_run.render_unixbench(r))


def test_pinned_row_starts_every_variant_on_one_cpu() -> None:
    # The same prefix for native and packed: the whole tree inherits the affinity.
    for argv in (["/bin/native"], ["/x/app-linux-userland"]):
        assert unixbench.row_argv(argv, "context1-1cpu", 1) == (["taskset", "-c", "1", *argv], "context1")
        assert unixbench.row_argv(argv, "context1", 1) == (argv, "context1")
    assert unixbench.row_argv(["/bin/native"], "context1-1cpu", None) is None
    cpu = unixbench.pin_cpu()
    assert cpu is None or cpu in os.sched_getaffinity(0)


def test_pinned_row_is_reported_but_not_in_the_geometric_mean(tmp_path: Path) -> None:
    g = unixbench.published_geomeans({"rewrite": {"context1": 0.5, "spawn": 2.0, "context1-1cpu": 0.1}})
    assert g["rewrite"] == pytest.approx(1.0)
    prog = fake_program(tmp_path)
    argv, test = unixbench.row_argv([str(prog)], "context1-1cpu", 0)
    if shutil.which("taskset") is None:
        pytest.skip("needs taskset")
    r = unixbench.run_test(argv, test, 100)
    assert r.error == "" and r.score == pytest.approx(100 / 2e-3)
    res = results(None)
    res["iterations"]["context1-1cpu"] = 20_000
    res["scores"]["context1-1cpu"] = {"native": 60_000.0, "rewrite": 54_000.0}
    res["ratios"]["rewrite"]["context1-1cpu"] = 0.9
    res["pinned_cpu"] = 1
    text = unixbench.render(res, ["native", "rewrite"])
    assert "| context1-1cpu | 20,000 |" in text and "0.90x" in text
    assert "context1-1cpu: context1 with the whole process tree started on CPU 1" in text


def test_targets_row_judges_the_published_tests_only() -> None:
    res = results({"context1": {"native": 2.4, "rewrite": 2.6}, "spawn": {"native": 36.0, "rewrite": 30.0}})
    res["ratios"]["rewrite"] = {"context1": 0.95, "spawn": 1.2, "context1-1cpu": 0.5}
    res["geomean"]["rewrite"] = 1.07
    res["pinned_rows"] = ["context1-1cpu"]
    row = bench_run.unixbench_target_row(res)
    assert row is not None and row.endswith("| met |") and "context1-1cpu 0.50" in row
    res["ratios"]["rewrite"]["spawn"] = 0.8
    assert bench_run.unixbench_target_row(res).endswith("| missed |")
    assert bench_run.unixbench_target_row(None) is None
