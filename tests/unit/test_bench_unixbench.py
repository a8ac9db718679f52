"""bench/unixbench.py: the CPU time per iteration beside the wall-clock score, and how
bench/unixbench.py and bench/run.py render it."""
from __future__ import annotations

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
    busy = unixbench.run_test([str(fake_program(tmp_path, spin=20_000))], "spawn", 10, perf)
    if busy.cpu_s is None:
        pytest.skip("perf cannot count task-clock here")
    assert busy.score == pytest.approx(10 / 2e-3)
    (tmp_path / "idle").mkdir()
    idle = unixbench.run_test([str(fake_program(tmp_path / "idle"))], "spawn", 10, perf)
    assert idle.cpu_s is not None and busy.cpu_s > idle.cpu_s


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
