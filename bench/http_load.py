"""HTTP throughput for bench/run.py: examples/http-service (Debian's python3 and http.server)
served natively and packed (rewritten and trap path), loaded by a native Python client on
loopback. The client keeps CONCURRENCY connections busy for DURATION seconds, one request per
connection (http.server answers HTTP/1.0 and closes), and counts complete 200 responses.
Variants alternate inside every round; the median requests per second is reported."""
from __future__ import annotations

import shutil
import socket
import statistics
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
BODY = b"hello from litebox\n"
CONCURRENCY = 4
DURATION = 3.0


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_request(port: int) -> bool:
    """One GET / on a fresh connection; True on a complete 200 with the example's body."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(REQUEST)
            data = b""
            while chunk := c.recv(4096):
                data += chunk
        return data.startswith(b"HTTP/1.0 200") and data.endswith(BODY)
    except OSError:
        return False


def load(port: int, duration: float = DURATION, concurrency: int = CONCURRENCY) -> tuple[float, int]:
    """(requests per second, failed requests) of `concurrency` clients for `duration` s."""
    ok = [0] * concurrency
    bad = [0] * concurrency
    stop = time.perf_counter() + duration

    def client(i: int) -> None:
        while time.perf_counter() < stop:
            if one_request(port):
                ok[i] += 1
            else:
                bad[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(ok) / (time.perf_counter() - t0), sum(bad)


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> bool:
    """True once the server answers on `port`; False if it exits or the time is up."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if one_request(port):
            return True
        time.sleep(0.05)
    return False


def pack_service(work: Path, port: int, rewrite: bool,
                 litebox: Callable[..., subprocess.CompletedProcess[str]]) -> Path | None:
    """examples/http-service packed with a listen rule for `port` (or None on failure)."""
    repo = Path(__file__).resolve().parent.parent
    name = "http-rewrite" if rewrite else "http-trap"
    project = work / name
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(repo / "examples" / "http-service", project)
    toml = project / "litebox.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('"127.0.0.1:8080"', f'"127.0.0.1:{port}"'),
                    encoding="utf-8")
    out = work / f"{name}-dist"
    r = litebox("pack", str(project), "--out-dir", str(out), *([] if rewrite else ["--no-rewrite"]))
    art = out / "http-service-linux-userland"
    return art if r.returncode == 0 and art.exists() else None


def measure(work: Path, rounds: int, litebox: Callable[..., subprocess.CompletedProcess[str]],
            log: Callable[[str], None]) -> dict[str, Any]:
    """Requests per second per variant (median over rounds) and any failures."""
    port = free_port()
    server_py = Path(__file__).resolve().parent.parent / "examples" / "http-service" / "app" / "server.py"
    commands: dict[str, list[str] | None] = {"native": ["/usr/bin/python3", str(server_py), str(port)]}
    for variant, rewrite in (("rewrite", True), ("trap", False)):
        art = pack_service(work, port, rewrite, litebox)
        commands[variant] = [str(art), str(port)] if art else None
    samples: dict[str, list[float]] = {v: [] for v in commands}
    errors: dict[str, str] = {v: "not packed" for v, c in commands.items() if c is None}
    failed: dict[str, int] = {v: 0 for v in commands}
    for _round in range(rounds):
        for variant, argv in commands.items():
            if argv is None or variant in errors:
                continue
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                if not wait_listening(port, proc):
                    errors[variant] = f"did not answer on 127.0.0.1:{port} (exit {proc.poll()})"
                    continue
                rps, bad = load(port)
                samples[variant].append(rps)
                failed[variant] += bad
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        log(f"http round done: {', '.join(f'{v} {s[-1]:.0f}/s' for v, s in samples.items() if s)}")
    return {"status": "measured", "port": port, "concurrency": CONCURRENCY, "duration_s": DURATION,
            "rps": {v: (statistics.median(s) if s else None) for v, s in samples.items()},
            "failed_requests": failed, "errors": errors}
