"""examples/http-service packed and served: python3's http.server inside the sandbox, reached
from outside (this test process) on loopback, at a port its policy allows; and the same
artifact refused (the app's own PermissionError, EACCES) at a port its policy does not allow.
On every target (the `target` fixture, run through its plugin: on kvm QEMU boots it with TCG,
the listen rule becomes a forward of the host's port into the VM, and the runner's Ctrl-C
reaches the app as SIGINT): the same responses, stderr and exit status.

The example's litebox.toml allows 127.0.0.1:8080; the test packs a copy whose rule names a
free port instead, so parallel runs do not collide.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litebox_e2e import RUN_TIMEOUT, copy_example, describe, pack_for, run_on, run_on_argv
from netprobe import free_port


@dataclass(frozen=True)
class Service:
    port: int
    project: Path


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Service:
    work = tmp_path_factory.mktemp("http-service")
    project = copy_example("http-service", work)
    port = free_port()
    toml = project / "litebox.toml"
    text = toml.read_text(encoding="utf-8")
    assert 'listen = ["127.0.0.1:8080"]' in text, "the example's policy changed; update this test"
    text = text.replace('listen = ["127.0.0.1:8080"]', f'listen = ["127.0.0.1:{port}"]')
    # Lighter compression of the standard library, only to keep the pack quick.
    text = text.replace("[build]\n", "[build]\ncompression_level = 3\n")
    toml.write_text(text, encoding="utf-8")
    return Service(port, project)


@pytest.fixture(scope="module")
def packed(target: Any, service: Service) -> Path:
    """The project packed for ``target``."""
    return pack_for(target, service.project, service.project.parent / f"dist-{target.name}").path


def start(target: Any, artifact: Path, service: Service) -> subprocess.Popen[bytes]:
    """The service serving on its port, run through the target's plugin (no VM time limit)."""
    argv, env = run_on_argv(target, artifact, [str(service.port)], vm_timeout=0)
    # A session of its own, so the fixture can end every process of the run (under Wine the
    # artifact is a process of its own beside the loader `litebox run` started).
    return subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The first line of the process's stdout, or b"" if it ends or the guard expires."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    line = b""
    while not line.endswith(b"\n"):
        if not sel.select(timeout):
            break
        chunk = proc.stdout.read1(1) if hasattr(proc.stdout, "read1") else proc.stdout.read(1)
        if not chunk:
            break
        line += chunk
    sel.close()
    return line


@pytest.fixture
def running(target: Any, packed: Path, service: Service) -> Iterator[subprocess.Popen[bytes]]:
    proc = start(target, packed, service)
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole run, not only the process started
        except ProcessLookupError:
            pass
        proc.wait(timeout=RUN_TIMEOUT)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def raw_get(port: int, path: str) -> bytes:
    """One HTTP/1.0 request over a plain socket; the whole response as bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=RUN_TIMEOUT) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data


def test_packed_service_answers_from_outside(service: Service, running: subprocess.Popen[bytes]) -> None:
    first = read_line(running, RUN_TIMEOUT)
    assert first == f"listening on 127.0.0.1:{service.port}\n".encode(), first

    head, _, body = raw_get(service.port, "/").partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.0 200 OK"
    assert b"Content-Type: text/plain; charset=utf-8" in lines
    assert b"Content-Length: 19" in lines
    assert body == b"hello from litebox\n"

    with urllib.request.urlopen(f"http://127.0.0.1:{service.port}/health", timeout=RUN_TIMEOUT) as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == {"status": "ok"}
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://127.0.0.1:{service.port}/missing", timeout=RUN_TIMEOUT)
    assert missing.value.code == 404
    assert missing.value.read() == b"not found\n"
    missing.value.close()

    # Ctrl-C: Python's KeyboardInterrupt ends serve_forever, the server closes and exits 0.
    running.send_signal(signal.SIGINT)
    assert running.wait(timeout=RUN_TIMEOUT) == 0
    assert running.stderr is not None
    assert running.stderr.read().decode().splitlines() == ["GET /", "GET /health", "GET /missing"]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", service.port), timeout=RUN_TIMEOUT).close()


def test_a_burst_of_clients_is_served(service: Service, running: subprocess.Popen[bytes]) -> None:
    """32 clients at once, against http.server's listen backlog of 5: every one gets its answer
    (under kvm none is reset: the VM holds waiting connections instead of refusing them)."""
    assert read_line(running, RUN_TIMEOUT) == f"listening on 127.0.0.1:{service.port}\n".encode()
    with ThreadPoolExecutor(max_workers=32) as pool:
        replies = list(pool.map(lambda _: raw_get(service.port, "/"), range(32)))
    assert all(r.startswith(b"HTTP/1.0 200 OK\r\n") and r.endswith(b"hello from litebox\n") for r in replies)


def test_port_outside_policy_fails_with_eacces(target: Any, service: Service, packed: Path) -> None:
    other = free_port()
    while other == service.port:
        other = free_port()
    check_refused(run_on(target, packed, [str(other)], env={"LITEBOX_LOG": "debug"}), other)


def check_refused(proc: subprocess.CompletedProcess[bytes], other: int) -> None:
    """The app ended with Python's PermissionError (exit 1), the denial logged with its rule."""
    assert proc.returncode == 1, describe(proc)
    err = proc.stderr.decode()
    app_err = [line for line in err.splitlines() if not line.startswith("litebox: ")]
    assert app_err[-1] == "PermissionError: [Errno 13] Permission denied", err
    assert (f"litebox: network: bind 127.0.0.1:{other} denied: no [policy.network] listen rule allows it -> EACCES"
            in err.splitlines()), err
    assert proc.stdout == b""


# Not on targets without these yet (tests/e2e/litebox_e2e.py NOT_YET).
pytestmark = pytest.mark.needs("sockets")
