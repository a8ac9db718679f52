"""bench/context1_ab.py: the cgroup usage it reads (v1 and v2) and its quartiles."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import context1_ab  # noqa: E402


def test_usage_ns_reads_cpuacct_and_cpu_stat(tmp_path: Path) -> None:
    (tmp_path / "cpuacct.usage").write_text("123456789\n")
    assert context1_ab.usage_ns(tmp_path, "cpuacct.usage") == 123456789
    (tmp_path / "cpu.stat").write_text("usage_usec 4242\nuser_usec 4000\nsystem_usec 242\n")
    assert context1_ab.usage_ns(tmp_path, "cpu.stat") == 4242000


def test_quartiles() -> None:
    assert context1_ab.quartiles([3.0]) == (3.0, 3.0)
    q1, q3 = context1_ab.quartiles([1.0, 2.0, 3.0, 4.0, 5.0])
    assert q1 < 3.0 < q3
