"""HTTP throughput for bench/run.py: examples/http-service (Debian's python3 and http.server)
served natively and packed (rewritten and trap path, and for kvm booted by `litebox run` in
QEMU with TCG when QEMU is installed: the VM's TCP stack behind QEMU's user network), loaded by
a native Python client on loopback. The client keeps CONCURRENCY connections busy for DURATION
seconds, one request per connection (http.server answers HTTP/1.0 and closes), and counts
complete 200 responses. Variants alternate inside every round (the order rotated by one each
round: `round_order`); the median requests per second
is reported. The native server runs Debian's python3 with exactly the environment the packed
app gets (examples/http-service's `[app].env`, nothing of the host's), so both are the same
Python with the same flags (PYTHONUNBUFFERED changes how http.server's log line reaches
stderr).

Alone: `python3 bench/http_load.py --rounds 3` prints the table (bench/run.py runs it too)."""
from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
BODY = b"hello from litebox\n"
CONCURRENCY = 4
DURATION = 3.0


SERVICE = Path(__file__).resolve().parent.parent / "examples" / "http-service"


def app_env(project: Path = SERVICE) -> dict[str, str]:
    """The environment the packed app of `project` runs with: its litebox.toml's `[app].env`
    and nothing else (project mode passes none of the host's); the native server gets the same."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    with open(project / "litebox.toml", "rb") as f:
        env = tomllib.load(f).get("app", {}).get("env", {})
    return {str(k): str(v) for k, v in env.items()}


def round_order(names: list[str], round_index: int) -> list[str]:
    """The variants in the order round `round_index` runs them: rotated by one each round, so
    that no variant always comes first or last (a server that runs after others in a round
    meets the TIME_WAIT connections they left on the port, and whatever else a round builds
    up); over len(names) rounds each variant takes every place once."""
    if not names:
        return []
    k = round_index % len(names)
    return names[k:] + names[:k]


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



def stop(proc: subprocess.Popen[Any]) -> None:
    """Ends a server started for a round: SIGTERM, then SIGKILL if it is still there after 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()

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


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> bool:
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
                 litebox: Callable[..., subprocess.CompletedProcess[str]],
                 target: str = "linux-userland") -> Path | None:
    """examples/http-service packed for `target` with a listen rule for `port` (or None on
    failure)."""
    repo = Path(__file__).resolve().parent.parent
    name = f"http-{target}-{'rewrite' if rewrite else 'trap'}"
    project = work / name
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(repo / "examples" / "http-service", project)
    toml = project / "litebox.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('"127.0.0.1:8080"', f'"127.0.0.1:{port}"'),
                    encoding="utf-8")
    out = work / f"{name}-dist"
    r = litebox("pack", str(project), "--target", target, "--out-dir", str(out), *([] if rewrite else ["--no-rewrite"]))
    art = out / f"http-service-{target}"
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
    if shutil.which("qemu-system-x86_64"):
        art = pack_service(work, port, False, litebox, "kvm")
        run = [sys.executable, "-m", "packager", "run", str(art), "--", str(port)]
        commands["kvm (QEMU TCG)"] = run if art else None
    repo = str(Path(__file__).resolve().parent.parent)
    # `litebox run` from this checkout, TCG (never KVM on a software hypervisor), no time limit.
    env = dict(os.environ, PYTHONPATH=repo, LITEBOX_KVM_ACCEL="tcg", LITEBOX_KVM_TIMEOUT="0")
    samples: dict[str, list[float]] = {v: [] for v in commands}
    errors: dict[str, str] = {v: "not packed" for v, c in commands.items() if c is None}
    failed: dict[str, int] = {v: 0 for v in commands}
    for r in range(rounds):
        for variant in round_order(list(commands), r):
            argv = commands[variant]
            if argv is None or variant in errors:
                continue
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env=app_env() if variant == "native" else env, cwd=repo)
            try:
                if not wait_listening(port, proc):
                    errors[variant] = f"did not answer on 127.0.0.1:{port} (exit {proc.poll()})"
                    continue
                rps, bad = load(port)
                samples[variant].append(rps)
                failed[variant] += bad
            finally:
                stop(proc)
        log(f"http round done: {', '.join(f'{v} {s[-1]:.0f}/s' for v, s in samples.items() if s)}")
    return {"status": "measured", "port": port, "concurrency": CONCURRENCY, "duration_s": DURATION,
            "rps": {v: (statistics.median(s) if s else None) for v, s in samples.items()},
            "failed_requests": failed, "errors": errors}


def main() -> int:
    """Measures the HTTP job alone and prints its table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    args = ap.parse_args()
    repo = Path(__file__).resolve().parent.parent

    def litebox(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "packager", *a], capture_output=True, text=True, cwd=repo,
                              env=dict(os.environ, PYTHONPATH=str(repo)), check=False)

    import tempfile

    with tempfile.TemporaryDirectory(prefix="http-load-") as tmp:
        h = measure(Path(tmp), args.rounds, litebox, lambda m: print(m, file=sys.stderr))
    native = h["rps"].get("native")
    print(f"python3 bench/http_load.py --rounds {args.rounds}: {h['concurrency']} connections, "
          f"{h['duration_s']:.0f} s per round, medians")
    for v, x in h["rps"].items():
        ratio = f"{x / native:.2f}x" if x and native else "-"
        print(f"{v:>16}: {x or 0:8.0f} requests/s  {ratio:>6}  failed {h['failed_requests'].get(v, 0)}")
    for v, e in h["errors"].items():
        print(f"{v}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
