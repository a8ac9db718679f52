"""bench/http_load.py, http_cpu.py, http_compare.py: the native server runs with exactly the
environment the packed http-service gets (its `[app].env`), so both sides run the same Python
with the same flags."""
from __future__ import annotations

import json
import sys
from pathlib import Path

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
