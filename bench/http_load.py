"""HTTP throughput for bench/run.py: examples/http-service (Debian's python3 and http.server)
served natively and packed (rewritten and trap path, and for kvm booted by `litebox run` in
QEMU with TCG when QEMU is installed: the VM's TCP stack behind QEMU's user network), loaded on
loopback by bench/src/httpload.c (compiled here; the Python client `load_counts` when gcc is
missing). The client keeps CONCURRENCY connections busy, one request per connection
(http.server answers HTTP/1.0 and closes), and counts complete 200 responses.

How a round measures (issue 17, http8): the native, rewrite and trap servers are started
together (each on its own port), each warmed up with WARMUP s of load, and then loaded one at a
time in WINDOWS short windows of WINDOW s each, in a mirrored order (`window_order`: native
rewrite trap trap rewrite native ...), so every variant's windows have the same mean time
within the round and a load on the machine that drifts during the round favours none of them.
A round's ratio is a variant's requests per second over native's in the same round; the ratio
reported (and issue 17's row) is the median of the per-round ratios, with their quartiles; the
requests per second are the medians of the per-round rates. The server's CPU per request (the
scheduler's count for its whole process tree) and the share of a CPU it used while loaded are
reported beside them. The kvm variant (a QEMU TCG guest, which keeps a CPU busy even when idle)
runs alone after the others in each round; its ratio is to that round's native rate. With
`pin`, every server runs on one CPU and the client on the others (`cpu_plan`), the same for
every variant; off by default (bench/README.md says why). The native server runs Debian's
python3 with exactly the environment the packed app gets (examples/http-service's
`[app].env`, nothing of the host's), so both are the same Python with the same flags
(PYTHONUNBUFFERED changes how http.server's log line reaches stderr).

Alone: `python3 bench/http_load.py --rounds 3` prints the table (bench/run.py runs it too)."""
from __future__ import annotations

import argparse
import os
import resource
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
DURATION = 3.0  # seconds of load per variant and round, in WINDOWS windows
WINDOWS = 12  # even: the mirrored order (window_order) then balances every variant's mean time
WINDOW = DURATION / WINDOWS
WARMUP = 0.25  # seconds of unmeasured load on every server before a round's windows


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


def window_order(names: list[str], round_index: int, windows: int = WINDOWS) -> list[str]:
    """The load windows of round `round_index`: the variants in `round_order`, then reversed,
    then in order again, `windows` times each (native rewrite trap trap rewrite native ...).
    With an even `windows` every variant's windows have the same mean position in the round,
    so a load that rises or falls steadily through the round favours none of them."""
    base = round_order(names, round_index)
    out: list[str] = []
    for w in range(windows):
        out += base if w % 2 == 0 else base[::-1]
    return out


def cpu_plan(allowed: set[int] | None = None) -> tuple[set[int], set[int]] | None:
    """(the servers' CPUs, the client's CPUs): every server, native or packed, on the lowest
    allowed CPU, the client on all the others, so the client never competes with the server it
    loads for a CPU and every variant is placed the same way; None (no pinning) when fewer than
    two CPUs are allowed."""
    cpus = sorted(os.sched_getaffinity(0) if allowed is None else allowed)
    if len(cpus) < 2:
        return None
    return {cpus[0]}, set(cpus[1:])


def free_ports(n: int) -> list[int]:
    """`n` distinct loopback ports nothing listens on now."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tree_pids(root: int) -> list[int]:
    """`root` and every process below it now (from /proc)."""
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def tree_cpu_ns(root: int) -> int:
    """CPU nanoseconds every live task of `root`'s process tree has run so far (schedstat)."""
    total = 0
    for pid in tree_pids(root):
        for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                total += int(task.read_text().split()[0])
            except (OSError, IndexError, ValueError):
                continue
    return total


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

def load_counts(port: int, duration: float = DURATION, concurrency: int = CONCURRENCY) -> tuple[int, int, float]:
    """(complete requests, failed requests, seconds) of `concurrency` clients for `duration` s."""
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
    return sum(ok), sum(bad), time.perf_counter() - t0


def load(port: int, duration: float = DURATION, concurrency: int = CONCURRENCY) -> tuple[float, int]:
    """(requests per second, failed requests) of `concurrency` clients for `duration` s."""
    ok, bad, seconds = load_counts(port, duration, concurrency)
    return ok / seconds, bad


CLIENT_SRC = Path(__file__).resolve().parent / "src" / "httpload.c"


def build_client(work: Path) -> Path | None:
    """bench/src/httpload.c compiled into `work` (None when gcc cannot build it)."""
    out = work / "httpload"
    try:
        r = subprocess.run(["gcc", "-O2", "-pthread", "-o", str(out), str(CLIENT_SRC)], capture_output=True,
                           text=True, check=False)
    except OSError:
        return None
    return out if r.returncode == 0 and out.exists() else None


def c_load_counts(client: Path, port: int, duration: float = DURATION,
                  concurrency: int = CONCURRENCY) -> tuple[int, int, float, float]:
    """What `load_counts` measures, made by the compiled client (bench/src/httpload.c), and
    the client's own CPU seconds."""
    r = subprocess.run([str(client), str(port), f"{duration}", str(concurrency)], capture_output=True, text=True,
                       check=False, timeout=duration + 60)
    fields = r.stdout.split()
    if r.returncode != 0 or len(fields) != 4:
        raise RuntimeError(f"{client}: exit {r.returncode}: {r.stderr.strip()}")
    return int(fields[0]), int(fields[1]), float(fields[2]), float(fields[3])


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


def quartiles(xs: list[float]) -> tuple[float, float]:
    """The first and third quartiles of `xs` (both the one value when there is one)."""
    if len(xs) < 2:
        return (xs[0], xs[0]) if xs else (float("nan"), float("nan"))
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def start_server(argv: list[str], env: dict[str, str], cpus: set[int] | None, cwd: str) -> subprocess.Popen[bytes]:
    """One server, pinned to `cpus` (inherited by every process it starts) when given."""
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd,
                            preexec_fn=pin)


class Tally:
    """One variant's requests, failures, seconds of load and server CPU in one round."""

    def __init__(self) -> None:
        self.ok, self.bad, self.seconds, self.cpu_ns, self.client_cpu = 0, 0, 0.0, 0, 0.0

    def window(self, proc: subprocess.Popen[bytes], port: int, duration: float, client: Path | None) -> None:
        """Loads the server `proc` on `port` for `duration` s with `client` (bench/src/httpload.c;
        None: the Python client) and adds what it did."""
        cpu0 = tree_cpu_ns(proc.pid)
        if client:
            ok, bad, seconds, client_cpu = c_load_counts(client, port, duration)
        else:
            me0 = resource.getrusage(resource.RUSAGE_SELF)
            ok, bad, seconds = load_counts(port, duration)
            me1 = resource.getrusage(resource.RUSAGE_SELF)
            client_cpu = me1.ru_utime + me1.ru_stime - me0.ru_utime - me0.ru_stime
        self.cpu_ns += tree_cpu_ns(proc.pid) - cpu0
        self.client_cpu += client_cpu
        self.ok, self.bad, self.seconds = self.ok + ok, self.bad + bad, self.seconds + seconds

    def rate(self) -> float:
        """Requests per second over the round's windows."""
        return self.ok / self.seconds if self.seconds else 0.0


def run_round(commands: dict[str, list[str]], ports: dict[str, int], envs: dict[str, dict[str, str]],
              r: int, cpus: set[int] | None, cwd: str, errors: dict[str, str],
              client: Path | None) -> dict[str, Tally]:
    """One round of the paired variants: all started together, warmed up, then loaded in turn
    in `window_order`'s windows; a server that does not answer goes into `errors`."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    tallies: dict[str, Tally] = {}
    try:
        for v, argv in commands.items():
            procs[v] = start_server(argv, envs[v], cpus, cwd)
        for v, proc in procs.items():
            if wait_listening(ports[v], proc):
                Tally().window(proc, ports[v], WARMUP, client)
                tallies[v] = Tally()
            else:
                errors[v] = f"did not answer on 127.0.0.1:{ports[v]} (exit {proc.poll()})"
        for v in window_order(list(tallies), r, WINDOWS):
            tallies[v].window(procs[v], ports[v], WINDOW, client)
    finally:
        for proc in procs.values():
            stop(proc)
    return tallies


def measure(work: Path, rounds: int, litebox: Callable[..., subprocess.CompletedProcess[str]],
            log: Callable[[str], None], pin: bool = False, compiled_client: bool = True) -> dict[str, Any]:
    """Requests per second per variant (median over rounds), the median of the per-round
    ratios to native with their quartiles, the server's CPU µs per request and share of a CPU
    while loaded, and any failures (the module's docstring says how a round measures)."""
    repo = str(Path(__file__).resolve().parent.parent)
    server_py = Path(repo) / "examples" / "http-service" / "app" / "server.py"
    has_kvm = shutil.which("qemu-system-x86_64") is not None
    port_list = free_ports(4 if has_kvm else 3)
    ports = dict(zip(("native", "rewrite", "trap", "kvm (QEMU TCG)"), port_list))
    commands: dict[str, list[str] | None] = {"native": ["/usr/bin/python3", str(server_py), str(ports["native"])]}
    for variant, rewrite in (("rewrite", True), ("trap", False)):
        art = pack_service(work, ports[variant], rewrite, litebox)
        commands[variant] = [str(art), str(ports[variant])] if art else None
    kvm = "kvm (QEMU TCG)"
    if has_kvm:
        art = pack_service(work, ports[kvm], False, litebox, "kvm")
        commands[kvm] = [sys.executable, "-m", "packager", "run", str(art), "--", str(ports[kvm])] if art else None
    # `litebox run` from this checkout, TCG (never KVM on a software hypervisor), no time limit.
    env = dict(os.environ, PYTHONPATH=repo, LITEBOX_KVM_ACCEL="tcg", LITEBOX_KVM_TIMEOUT="0")
    envs = {v: app_env() if v == "native" else env for v in commands}
    errors: dict[str, str] = {v: "not packed" for v, c in commands.items() if c is None}
    client = build_client(work) if compiled_client else None
    plan = cpu_plan() if pin else None
    server_cpus, client_cpus = plan if plan else (None, None)
    mine = os.sched_getaffinity(0)
    rates: dict[str, list[float]] = {v: [] for v in commands}
    ratios: dict[str, list[float]] = {v: [] for v in commands}
    cpu_us: dict[str, list[float]] = {v: [] for v in commands}
    busy: dict[str, list[float]] = {v: [] for v in commands}
    client_us: dict[str, list[float]] = {v: [] for v in commands}
    failed: dict[str, int] = {v: 0 for v in commands}
    try:
        if client_cpus:
            # The load threads are started by this thread and inherit its CPUs.
            os.sched_setaffinity(0, client_cpus)
        for r in range(rounds):
            live = {v: c for v, c in commands.items() if c is not None and v not in errors}
            paired = {v: c for v, c in live.items() if v != kvm}
            tallies = run_round(paired, ports, envs, r, server_cpus, repo, errors, client)
            if kvm in live:
                tallies.update(run_round({kvm: live[kvm]}, ports, envs, 0, server_cpus, repo, errors, client))
            native = tallies.get("native")
            for v, t in tallies.items():
                rates[v].append(t.rate())
                failed[v] += t.bad
                if t.ok:
                    cpu_us[v].append(t.cpu_ns / t.ok / 1e3)
                    busy[v].append(t.cpu_ns / 1e9 / t.seconds)
                    client_us[v].append(t.client_cpu / t.ok * 1e6)
                if native and native.rate():
                    ratios[v].append(t.rate() / native.rate())
            log(f"http round {r + 1}: " + ", ".join(
                f"{v} {t.rate():.0f}/s" + (f" ({t.rate() / native.rate():.3f}x)" if native and native.rate() else "")
                for v, t in tallies.items()) + f"; load {os.getloadavg()[0]:.2f}")
    finally:
        os.sched_setaffinity(0, mine)

    def med(xs: dict[str, list[float]]) -> dict[str, float | None]:
        return {v: (statistics.median(x) if x else None) for v, x in xs.items()}

    return {"status": "measured", "ports": ports, "concurrency": CONCURRENCY, "duration_s": DURATION,
            "windows": WINDOWS, "window_s": WINDOW, "warmup_s": WARMUP, "rounds": rounds,
            "client": "bench/src/httpload.c" if client else "python",
            "pinned": None if not plan else {"server": sorted(plan[0]), "client": sorted(plan[1])},
            "rps": med(rates), "ratio": med(ratios),
            "ratio_quartiles": {v: (list(quartiles(x)) if x else None) for v, x in ratios.items()},
            "round_ratios": ratios, "server_cpu_us": med(cpu_us), "server_busy": med(busy),
            "client_cpu_us": med(client_us),
            "failed_requests": failed, "errors": errors}


def main() -> int:
    """Measures the HTTP job alone and prints its table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--pin", action="store_true",
                    help="every server on one CPU, the client on the others (cpu_plan; off by default: a busy "
                         "neighbour on the servers' CPU starves every variant, see bench/README.md)")
    ap.add_argument("--python-client", action="store_true",
                    help="load with the Python client (load_counts) instead of bench/src/httpload.c")
    args = ap.parse_args()
    repo = Path(__file__).resolve().parent.parent

    def litebox(*a: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "packager", *a], capture_output=True, text=True, cwd=repo,
                              env=dict(os.environ, PYTHONPATH=str(repo)), check=False)

    import tempfile

    with tempfile.TemporaryDirectory(prefix="http-load-") as tmp:
        h = measure(Path(tmp), args.rounds, litebox, lambda m: print(m, file=sys.stderr), pin=args.pin,
                    compiled_client=not args.python_client)
    print(f"python3 bench/http_load.py {' '.join(sys.argv[1:])}: {h['concurrency']} connections, "
          f"{h['windows']} windows of {h['window_s']:.2f} s per variant and round, pinned {h['pinned']}; "
          f"medians over {h['rounds']} rounds; load {os.getloadavg()[0]:.2f}")
    print("| variant | requests/s | ratio (median of rounds) [q1, q3] | server CPU µs/request | server busy "
          "| failed |")
    print("|---|---|---|---|---|---|")
    for v, x in h["rps"].items():
        q, qs = h["ratio"].get(v), h["ratio_quartiles"].get(v)
        ratio = f"{q:.3f}x [{qs[0]:.3f}, {qs[1]:.3f}]" if q is not None and qs else "-"
        cpu, b = h["server_cpu_us"].get(v), h["server_busy"].get(v)
        print(f"| {v} | {x or 0:,.0f} | {ratio} | {cpu or 0:.1f} | {b or 0:.2f} | {h['failed_requests'].get(v, 0)} |")
    for v, e in h["errors"].items():
        print(f"{v}: {e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
