"""nginx from Debian, packed as a new user would, two ways:

- `litebox init --template nginx --port N`, then `litebox pack`, then the artifact started from
  the project directory. Its default master/worker configuration (nginx.conf as Debian ships
  it, `daemon off;` from the template) serves the default page on the loopback port, answered by
  a worker process, not the master.
- quick mode with nothing written by hand: `litebox pack /usr/sbin/nginx`, then at most two
  `litebox run --learn` rounds, each followed by the `litebox pack` command the round printed;
  the result serves Debian's default site, unchanged, on port 80 (as root; the broker binds it
  on the host).

Skipped only when nginx is not installed (scripts/setup installs Debian's nginx)."""

from __future__ import annotations

import http.client
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from litebox_e2e import BASE_ENV, describe, pack, run_cli

NGINX = Path("/usr/sbin/nginx")
READY_BOUND = 180.0  # seconds to wait for the port to answer (a busy machine is slow; no fixed sleep)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    if not NGINX.exists():
        pytest.skip("nginx is not installed (Debian: apt-get install nginx; scripts/setup does)")
    work = tmp_path_factory.mktemp("nginx")
    port = _free_port()
    made = run_cli("init", work / "site", "--template", "nginx", "--port", str(port))
    assert made.returncode == 0, describe(made)
    site = work / "site" / "sites-enabled" / "default"
    assert f"listen 127.0.0.1:{port} default_server;" in site.read_text()
    # Say which process answered: nginx's $pid, compared below with the master's pid file.
    site.write_text(site.read_text().replace("\tserver_name _;", "\tserver_name _;\n\tadd_header X-Pid $pid always;"))
    art = pack(work / "site", work / "site" / "dist")
    return work / "site", art.path, port


def _get(port: int) -> http.client.HTTPResponse | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        return conn.getresponse()
    except OSError:
        return None


def _no_answer(proc: subprocess.Popen[bytes], port: int) -> str:
    """The failure message when nginx did not answer: its exit status and what it printed
    (nginx says why it stopped on stderr, e.g. a bind() it was refused). Stops it first."""
    status = proc.poll()
    if status is None:
        proc.kill()
    try:
        _out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        err = b"(stderr not read: it did not close within 60 s)"
    said = err.decode(errors="replace")[-3000:]
    return f"nginx did not answer on port {port} (exit status {status}); stderr:\n{said}"


def test_nginx_serves_the_default_page_from_a_worker(project: tuple[Path, Path, int]) -> None:
    site, artifact, port = project
    proc = subprocess.Popen([artifact], cwd=site, env=BASE_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + READY_BOUND
        resp = _get(port)
        while resp is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # polling the port: readiness, not a stand-in for it
            resp = _get(port)
        assert resp is not None, _no_answer(proc, port)
        body = resp.read()
        assert resp.status == 200, body
        assert b"Welcome to nginx!" in body
        master = int((site / "run" / "nginx.pid").read_text())
        worker = int(resp.getheader("X-Pid") or "0")
        assert worker > 0 and worker != master, f"answered by pid {worker}; the master is {master}"
        log = (site / "var" / "log" / "nginx" / "access.log").read_text()
        assert '"GET / HTTP/1.1" 200' in log
    finally:
        proc.send_signal(signal.SIGTERM)  # nginx's fast shutdown: the master stops its workers
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode in (0, 128 + signal.SIGTERM, -signal.SIGTERM), describe(
        subprocess.CompletedProcess(proc.args, proc.returncode, out, err))


LEARN_ROUNDS = 2  # the bound: nginx serves after at most two --learn rounds
PACK_LINE = "#   litebox pack "


def _learned_pack_flags(artifact: Path) -> list[str] | None:
    """One `litebox run --learn` round: the flags of the `litebox pack` command it printed for
    this quick-mode artifact, or None when it printed none (nothing more to grant)."""
    learned = run_cli("run", "--learn", artifact, timeout=300)
    lines = [ln for ln in learned.stdout.splitlines() if ln.startswith(PACK_LINE)]
    if not lines:
        return None
    words = shlex.split(lines[0][len(PACK_LINE):])
    assert words[0] == str(NGINX), lines[0]
    return words[1:]


@pytest.fixture(scope="module")
def quick_nginx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """nginx packed in quick mode and repacked after each --learn round as the round says;
    returns the artifact and how many rounds asked for more."""
    if not NGINX.exists():
        pytest.skip("nginx is not installed (Debian: apt-get install nginx; scripts/setup does)")
    out = tmp_path_factory.mktemp("nginx-quick")
    cheap = ("--compression-level", "1")  # the bytes do not matter here; packing time does
    art = pack(NGINX, out, *cheap)
    rounds = 0
    for _ in range(LEARN_ROUNDS):
        flags = _learned_pack_flags(art.path)
        if flags is None:
            break
        rounds += 1
        art = pack(NGINX, out, *flags, *cheap)
    return art.path, rounds


def _port_80_free() -> bool:
    for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        with socket.socket(family) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((addr, 80))
            except OSError:
                return False
    return True


def test_quick_mode_nginx_serves_debians_default_site_after_two_learn_rounds(
        quick_nginx: tuple[Path, int]) -> None:
    artifact, rounds = quick_nginx
    assert 1 <= rounds <= LEARN_ROUNDS, rounds  # round 1 at least: the default policy denies :80
    assert _port_80_free(), "port 80 is taken on this host: the test serves Debian's default site there"
    proc = subprocess.Popen([artifact], cwd=artifact.parent, env=BASE_ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + READY_BOUND
        resp = _get(80)
        while resp is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)  # polling the port: readiness, not a stand-in for it
            resp = _get(80)
        assert resp is not None, _no_answer(proc, 80)
        body = resp.read()
        assert resp.status == 200, body
        assert b"Welcome to nginx!" in body  # /var/www/html/index.nginx-debian.html
        assert (resp.getheader("Server") or "").startswith("nginx/")
        assert proc.poll() is None, "the master exited: -g 'daemon off;' (hooks/nginx.toml) keeps it in front"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode in (0, 128 + signal.SIGTERM, -signal.SIGTERM), describe(
        subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
