"""bench/http_load.py, http_cpu.py, http_compare.py: the native server runs with exactly the
environment the packed http-service gets (its `[app].env`), so both sides run the same Python
with the same flags."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import http_compare  # noqa: E402  (bench/ is not a package)
import http_cpu  # noqa: E402
import http_load  # noqa: E402

# A stand-in for examples/http-service: answers like it, and writes its environment to the
# file named by its second argument before it serves.
FAKE_SERVER = """
import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello from litebox\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass

with open(sys.argv[2], "w") as f:
    json.dump(dict(os.environ), f)
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def test_app_env_is_the_service_projects_app_env() -> None:
    assert http_load.app_env() == {"LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


def test_round_order_puts_every_variant_in_every_place_once_per_cycle() -> None:
    names = ["native", "before", "after"]
    orders = [http_load.round_order(names, r) for r in range(6)]
    assert orders[0] == names
    assert orders[1] == ["before", "after", "native"]
    assert orders[3] == names
    for place in range(3):
        assert sorted(o[place] for o in orders[:3]) == sorted(names)
    assert http_load.round_order([], 4) == []


def test_app_env_of_a_project_without_one_is_empty(tmp_path: Path) -> None:
    (tmp_path / "litebox.toml").write_text('[app]\nname = "x"\nentry = "/bin/true"\n')
    assert http_load.app_env(tmp_path) == {}


@pytest.mark.parametrize("bench", ["http_cpu", "http_compare"])
def test_a_measured_server_sees_only_the_apps_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          bench: str) -> None:
    monkeypatch.setenv("LITEBOX_BENCH_HOST_ONLY", "1")
    # A few requests instead of http_load's 3-second load.
    monkeypatch.setattr(http_load, "load", lambda port: (float(sum(http_load.one_request(port) for _ in range(3))), 0))
    script = tmp_path / "server.py"
    script.write_text(FAKE_SERVER)
    seen = tmp_path / "env.json"
    port = http_load.free_port()
    argv = [sys.executable, str(script), str(port), str(seen)]
    if bench == "http_cpu":
        assert http_cpu.one_round(argv, port, 3) > 0
    else:
        rps, server_cpu, client_cpu, sleeps = http_compare.one_round(argv, port)
        assert rps == 3 and server_cpu >= 0 and client_cpu >= 0 and sleeps >= 0
    assert json.loads(seen.read_text()) == http_load.app_env()


def test_window_order_mirrors_so_every_variant_has_the_same_mean_place() -> None:
    names = ["native", "rewrite", "trap"]
    for r in range(6):
        order = http_load.window_order(names, r, 4)
        assert order[:3] == http_load.round_order(names, r)
        assert order[3:6] == order[:3][::-1]
        assert sorted(order) == sorted(names * 4)
        means = {v: sum(i for i, x in enumerate(order) if x == v) / 4 for v in names}
        assert len(set(means.values())) == 1
    assert http_load.window_order(["native"], 3, 2) == ["native", "native"]


def test_cpu_plan_puts_every_server_on_one_cpu_and_the_client_on_the_others() -> None:
    assert http_load.cpu_plan({3, 1, 2}) == ({1}, {2, 3})
    assert http_load.cpu_plan({0, 1}) == ({0}, {1})
    assert http_load.cpu_plan({5}) is None


def test_free_ports_are_distinct() -> None:
    ports = http_load.free_ports(4)
    assert len(set(ports)) == 4 and all(0 < p < 65536 for p in ports)


def test_quartiles() -> None:
    assert http_load.quartiles([2.0]) == (2.0, 2.0)
    assert http_load.quartiles([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 4.0)


def test_the_compiled_client_counts_complete_answers(tmp_path: Path) -> None:
    client = http_load.build_client(tmp_path)
    if client is None:
        pytest.skip("no gcc")
    import subprocess

    script = tmp_path / "server.py"
    script.write_text(FAKE_SERVER)
    port = http_load.free_port()
    proc = subprocess.Popen([sys.executable, str(script), str(port), str(tmp_path / "env.json")])
    try:
        assert http_load.wait_listening(port, proc)
        ok, bad, seconds, cpu = http_load.c_load_counts(client, port, 0.2, 2)
        assert ok > 0 and bad == 0 and seconds >= 0.2 and cpu >= 0
    finally:
        http_load.stop(proc)
    # Nothing listens: every request fails, none counts.
    ok, bad, _seconds, _cpu = http_load.c_load_counts(client, http_load.free_port(), 0.1, 1)
    assert ok == 0 and bad > 0


# A stand-in for a packed artifact: the fake server above, which also records the CPUs it may
# run on (in its second argument's file + ".cpus").
FAKE_PACK = """#!/bin/sh
exec {python} {script} "$1" {seen}
"""
RECORD_CPUS = 'json.dump(sorted(os.sched_getaffinity(0)), open(sys.argv[2] + ".cpus", "w"))\n'


def test_measure_pairs_native_and_packed_in_every_round(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    monkeypatch.setattr(http_load, "WINDOWS", 2)
    monkeypatch.setattr(http_load, "WINDOW", 0.05)
    monkeypatch.setattr(http_load, "WARMUP", 0.02)
    monkeypatch.setattr(http_load.shutil, "which", lambda name: None)  # no kvm variant
    script = tmp_path / "server.py"
    script.write_text(FAKE_SERVER.replace("HTTPServer((", RECORD_CPUS + "HTTPServer(("))
    packed: list[str] = []

    def litebox(*args: str) -> subprocess.CompletedProcess[str]:
        out = Path(args[args.index("--out-dir") + 1])
        out.mkdir(parents=True)
        art = out / "http-service-linux-userland"
        seen = tmp_path / f"seen-{'trap' if '--no-rewrite' in args else 'rewrite'}"
        packed.append(seen.name)
        art.write_text(FAKE_PACK.format(python=sys.executable, script=script, seen=seen))
        art.chmod(0o755)
        return subprocess.CompletedProcess(list(args), 0, "", "")

    logs: list[str] = []
    mine = http_load.os.sched_getaffinity(0)
    h = http_load.measure(tmp_path / "work", 2, litebox, logs.append, pin=True)
    assert http_load.os.sched_getaffinity(0) == mine  # the bench's own CPUs given back
    assert sorted(packed) == ["seen-rewrite", "seen-trap"]
    assert h["status"] == "measured" and not h["errors"]
    assert set(h["rps"]) == {"native", "rewrite", "trap"}
    assert h["ratio"]["native"] == 1.0
    for v in ("rewrite", "trap"):
        assert len(h["round_ratios"][v]) == 2 and h["ratio"][v] > 0
        q1, q3 = h["ratio_quartiles"][v]
        assert q1 <= h["ratio"][v] <= q3
        assert h["failed_requests"][v] == 0
        assert h["server_cpu_us"][v] > 0
    assert len(logs) == 2
    plan = http_load.cpu_plan()
    cpus = json.loads((tmp_path / "seen-rewrite.cpus").read_text())
    assert h["pinned"] == (None if plan is None else {"server": sorted(plan[0]), "client": sorted(plan[1])})
    if plan:
        assert cpus == sorted(plan[0])
    assert h["client"] in ("bench/src/httpload.c", "python")


def test_measure_leaves_the_cpus_alone_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    monkeypatch.setattr(http_load, "WINDOWS", 2)
    monkeypatch.setattr(http_load, "WINDOW", 0.05)
    monkeypatch.setattr(http_load, "WARMUP", 0.02)
    monkeypatch.setattr(http_load.shutil, "which", lambda name: None)
    script = tmp_path / "server.py"
    script.write_text(FAKE_SERVER.replace("HTTPServer((", RECORD_CPUS + "HTTPServer(("))

    def litebox(*args: str) -> subprocess.CompletedProcess[str]:
        out = Path(args[args.index("--out-dir") + 1])
        out.mkdir(parents=True)
        art = out / "http-service-linux-userland"
        art.write_text(FAKE_PACK.format(python=sys.executable, script=script, seen=tmp_path / "seen"))
        art.chmod(0o755)
        return subprocess.CompletedProcess(list(args), 0, "", "")

    calls: list[tuple[int, float]] = []
    real = http_load.load_counts

    def counted(port: int, duration: float = 1.0, concurrency: int = 4) -> tuple[int, int, float]:
        calls.append((port, duration))
        return real(port, duration, concurrency)

    monkeypatch.setattr(http_load, "load_counts", counted)
    mine = sorted(http_load.os.sched_getaffinity(0))
    h = http_load.measure(tmp_path / "work", 1, litebox, lambda m: None, compiled_client=False)
    # Per variant: one warm-up, then WINDOWS windows of WINDOW seconds.
    for port in h["ports"].values():
        assert sorted(d for p, d in calls if p == port) == [0.02, 0.05, 0.05]
    assert h["pinned"] is None and h["client"] == "python" and not h["errors"]
    assert json.loads((tmp_path / "seen.cpus").read_text()) == mine
    assert sorted(http_load.os.sched_getaffinity(0)) == mine


def _measured(**extra: Any) -> dict[str, Any]:
    h: dict[str, Any] = {"status": "measured", "concurrency": 4, "duration_s": 3.0,
                         "rps": {"native": 8000.0, "rewrite": 7000.0, "trap": 5000.0},
                         "failed_requests": {"native": 0, "rewrite": 0, "trap": 0}, "errors": {}}
    h.update(extra)
    return h


def test_the_row_is_the_median_of_the_per_round_ratios_when_measured() -> None:
    import run as bench_run

    h = _measured(ratio={"native": 1.0, "rewrite": 0.96, "trap": 0.7},
                  ratio_quartiles={"native": [1.0, 1.0], "rewrite": [0.95, 0.97], "trap": [0.69, 0.71]},
                  server_cpu_us={"native": 90.0, "rewrite": 95.0, "trap": 120.0},
                  server_busy={"native": 0.9, "rewrite": 0.92, "trap": 0.95}, windows=12, window_s=0.25,
                  rounds=7, client="bench/src/httpload.c", pinned=None)
    assert bench_run.http_row_ratio(h) == 0.96
    text = "\n".join(bench_run.render_http(h))
    assert "| rewrite | 7,000 | 0.960x [0.950, 0.970] | 95.0 | 0.92 | 0 |" in text
    assert "median over 7 rounds" in text and "no CPU pinning" in text and "not saturated" not in text
    h["server_busy"]["native"] = 0.5
    assert "busy 0.50 of a CPU while loaded: not saturated" in "\n".join(bench_run.render_http(h))
    # An older results.json: the ratio of the medians, the old table.
    old = _measured()
    assert bench_run.http_row_ratio(old) == 7000.0 / 8000.0
    assert "| rewrite | 7,000 | 0.88x | 0 |" in "\n".join(bench_run.render_http(old))
    assert bench_run.http_row_ratio({"status": "skipped"}) is None
