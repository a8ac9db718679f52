"""The host layers below the library OS, attacked as app code that owns its process would
(tests/escape/programs/hostlayers.c, packed only): host Unix sockets (paths and abstract names), host path metadata, the
network policy held by address below the library OS, the sandbox's processes, capabilities and
the writable layer. Every attempted call is harmless if it got through: the sockets and paths
belong to this test."""

from __future__ import annotations

import functools
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from confine_probe import gate_address, results
from litebox_e2e import BASE_ENV, REPO, RUN_TIMEOUT, describe, pack, run_program, session_scratch
from netprobe import free_port

PROGRAMS = Path(__file__).resolve().parent / "programs"


@dataclass(frozen=True)
class Packed:
    artifact: Path
    gate: str


@functools.cache
def build() -> Path:
    """The attack program, built once per session."""
    out = session_scratch("litebox-hostlayers-") / "hostlayers"
    subprocess.run(["cc", "-static", "-O1", "-Wall", "-o", str(out), str(PROGRAMS / "hostlayers.c")], check=True)
    return out


@functools.cache
def packed(policy: str = "") -> Packed:
    """The attack program packed with POLICY (TOML appended to the project), once per session."""
    proj = session_scratch("litebox-hostlayers-proj-")
    (proj / "hostlayers").write_bytes(build().read_bytes())
    (proj / "litebox.toml").write_text(
        '[app]\nname = "hostlayers"\nentry = "/app/hostlayers"\n\n'
        '[files]\n"/app/hostlayers" = "hostlayers"\n\n'
        "[build]\nsource_date_epoch = 0\n\n" + policy
    )
    art = pack(proj, proj / "dist").path
    return Packed(art, hex(gate_address(art)))


def sandbox_processes(artifact: Path, root: int | None = None) -> set[int]:
    """Host pids of the processes running ARTIFACT (supervisor, init, the net helper and the
    app's). With ROOT (the supervisor's pid), only ROOT and its descendants: a test that looks
    at one run must not count what an earlier run of the same artifact is still ending (init and
    the net helper end after the supervisor has; docs/security.md, layer 4). Without ROOT, every
    process running ARTIFACT, for a test that looks for leftovers."""
    target = os.path.realpath(artifact)
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/exe") == target:
                    status = Path(f"/proc/{entry}/status").read_text()
                    parent[int(entry)] = int(re.search(r"^PPid:\s+(\d+)$", status, re.M).group(1))
            except (OSError, AttributeError):
                continue
    if root is None:
        return set(parent)
    tree = {root} if root in parent else set()
    grew = True
    while grew:
        found = {pid for pid, ppid in parent.items() if ppid in tree} - tree
        tree |= found
        grew = bool(found)
    return tree


def layers_on_host(pid: int, since: float) -> set[str]:
    """Writable layers a sandbox without namespaces would leave in /dev/shm or /tmp: those of
    the artifact started as PID at or after SINCE (`time.time()` before it was started), named
    `.litebox-upper-PID-RANDOM` by its supervisor (the artifact's first process). So neither
    the artifacts other tests run at the same time (pytest -n) nor a layer that a crashed run
    long ago left under a pid reused now are counted: a layer's directory was last changed no
    later than its sandbox ended (the 1 s of slack covers the file system's coarser clock)."""
    prefix = f".litebox-upper-{pid}-"
    found = set()
    for d in ("/dev/shm", "/tmp"):
        if not os.path.isdir(d):
            continue
        for n in os.listdir(d):
            if not n.startswith(prefix):
                continue
            try:
                changed = os.lstat(f"{d}/{n}").st_ctime
            except FileNotFoundError:
                continue
            if changed >= since - 1.0:
                found.add(f"{d}/{n}")
    return found


def wait_until_gone(pids: set[int], limit: float = 60.0) -> set[int]:
    """The pids of PIDS still alive once they are all gone, or LIMIT seconds have passed (a
    bound on a wait, not a measured time)."""
    end = time.monotonic() + limit
    alive = set(pids)
    while alive and time.monotonic() < end:
        alive = {p for p in alive if os.path.exists(f"/proc/{p}") and _state(p) != "Z"}
        if alive:
            time.sleep(0.05)
    return alive


def _inner_pid(pid: int) -> int | None:
    """Host process PID's pid in its innermost pid namespace (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError):
        return None
    return None


def _in_a_pid_namespace_of_its_own(pid: int) -> bool:
    """Whether host process PID is in a pid namespace other than this process's (False once it is
    gone)."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") != os.readlink("/proc/self/ns/pid")
    except OSError:
        return False


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def test_host_unix_sockets_are_unreachable(socket_dir: Path) -> None:
    p = packed()
    # In socket_dir, not tmp_path, which can be too long for a socket's path (tests/conftest.py).
    stream_path, dgram_path = socket_dir / "stream.sock", socket_dir / "dgram.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(stream_path))
    listener.listen(4)
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind(str(dgram_path))
    proc = run_program([p.artifact, "unix", p.gate, str(stream_path), str(dgram_path)])
    assert proc.returncode == 0, describe(proc)
    r = results(proc)
    assert r["libc-connect-stream"] == "ret=-1 errno=2"  # no such file in the sandbox's file system: ENOENT
    assert r["gate-socket-unix"] == "ret=0 errno=0"
    assert r["gate-connect-stream"] == "ret=-1 errno=1"  # connect is not on the gate's list
    assert r["gate-socketpair-dgram"] == "ret=0 errno=0"
    assert r["gate-sendto-dgram-path"] == "ret=-1 errno=2"  # no host path in the sandbox's root
    assert r["gate-connect-dgram-path"] == "ret=-1 errno=1"
    ready, _, _ = select.select([listener, dgram], [], [], 0)
    assert ready == [], "a host Unix socket was reached"


def test_host_unix_sockets_in_a_mounted_directory_are_unreachable(socket_dir: Path) -> None:
    """A path name is the sandbox's own file standing for an abstract name of its own network
    namespace (core/libos/src/shim/unixpath.rs): a socket a host process bound in a directory
    the policy mounts read-write is a socket file the app can see, but a connect to it finds
    no such name in the sandbox (ECONNREFUSED), and the host's listener is never reached."""
    p = packed(f'[[policy.mount]]\nhost = "{socket_dir}"\nguest = "/sockets"\nmode = "rw"\n')
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_dir / "stream.sock"))
    listener.listen(4)
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind(str(socket_dir / "dgram.sock"))
    with listener, dgram:
        proc = run_program([p.artifact, "unix", p.gate, "/sockets/stream.sock", "/sockets/dgram.sock"])
        assert proc.returncode == 0, describe(proc)
        r = results(proc)
        assert r["libc-connect-stream"] == "ret=-1 errno=111"  # the file is there; no such name: ECONNREFUSED
        assert r["gate-connect-stream"] == "ret=-1 errno=1"  # connect is not on the gate's list
        assert r["gate-sendto-dgram-path"] == "ret=-1 errno=2"  # the guest path is no host path
        ready, _, _ = select.select([listener, dgram], [], [], 0)
        assert ready == [], "a host Unix socket was reached"


def host_abstract_sockets(tag: str) -> tuple[str, socket.socket, socket.socket]:
    """A fresh abstract name and two host sockets under it, made outside the sandbox: a stream
    listener at NAME and a datagram socket at NAME-d (the caller closes both, e.g. `with`)."""
    name = f"litebox-escape-{tag}-{os.getpid()}-{time.monotonic_ns()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + name)
    listener.listen(4)
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind("\0" + name + "-d")
    return name, listener, dgram


def test_host_abstract_unix_names_are_unreachable() -> None:
    """Abstract names work inside the sandbox (its own network namespace), so a host listener
    and a host datagram socket under the same names stay out of reach, by libc and at the gate."""
    p = packed()
    name, listener, dgram = host_abstract_sockets("abstract")
    with listener, dgram:
        proc = run_program([p.artifact, "abstract", p.gate, name])
        assert proc.returncode == 0, describe(proc)
        r = results(proc)
        assert r["libc-connect-abstract"] == "ret=-1 errno=111"  # no such name in the sandbox: ECONNREFUSED
        assert r["libc-sendto-abstract-dgram"] == "ret=-1 errno=111"
        assert r["libc-bind-abstract"] == "ret=0 errno=0"  # the host's name is not the sandbox's
        assert r["libc-bind-abstract-dgram"] == "ret=0 errno=0"
        assert r["libc-recv-abstract-from-child"] == "ret=0 errno=0"  # the app's own processes meet
        assert r["gate-socket-unix"] == "ret=0 errno=0"
        assert r["gate-connect-abstract"] == "ret=-1 errno=1"  # connect and bind are not on the gate's list
        assert r["gate-bind-abstract"] == "ret=-1 errno=1"
        # The gate's own socket: of the sandbox's namespace where init makes it (no such name:
        # ECONNREFUSED), of the host's where it is made on the first abstract Unix name (Landlock's
        # scope, held by the supervisor's domain: EPERM; test_escape_lazy_netns.py).
        assert r["gate-sendto-abstract-dgram"] in ("ret=-1 errno=111", "ret=-1 errno=1"), r
        # dup3 at the gate (on its list for the lazy namespace's socket swap) puts a host socket
        # over the app's Unix sockets; it still reaches no host name, at the gate or by libc.
        assert r["gate-dup3-over-unix-sockets"] == "ret=0 errno=0", r
        assert r["gate-sendto-abstract-after-dup3"] in ("ret=-1 errno=111", "ret=-1 errno=1"), r
        assert r["libc-sendto-abstract-after-dup3"] == "ret=-1 errno=111", r
        ready, _, _ = select.select([listener, dgram], [], [], 0)
        assert ready == [], "a host abstract Unix socket was reached"


def test_host_unix_socket_stdin_gets_no_abstract_name() -> None:
    """A Unix socket of the host's network namespace that the app holds (here its standard
    input) is refused abstract names: the supervisor finds its namespace is the host's (bind,
    connect: EACCES), and so does the sandbox before a send through the gate (SO_NETNS_COOKIE:
    EACCES, where Landlock ABI >= 6 would say EPERM), so the host's socket under that name
    gets nothing."""
    p = packed()
    name, listener, dgram = host_abstract_sockets("stdin")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    with listener, dgram, ours, theirs:
        proc = subprocess.run([os.fspath(p.artifact), "abstract", p.gate, name], stdin=theirs.fileno(),
                              capture_output=True, env=BASE_ENV, timeout=RUN_TIMEOUT, check=False)
        assert proc.returncode == 0, describe(proc)
        r = results(proc)
        assert r["libc-connect-abstract-stdin"] == "ret=-1 errno=13"
        assert r["libc-bind-abstract-stdin"] == "ret=-1 errno=13"
        assert r["libc-sendto-abstract-stdin"] == "ret=-1 errno=13"  # the runtime's check, before Landlock
        ready, _, _ = select.select([listener, dgram], [], [], 0)
        assert ready == [], "a host abstract Unix socket was reached"


def test_host_paths_are_invisible_through_the_gate(tmp_path: Path) -> None:
    p = packed()
    target = tmp_path / "host-file"
    target.write_text("host\n")
    link = tmp_path / "host-link"
    link.symlink_to(target)
    proc = run_program([p.artifact, "stat", p.gate, str(target), str(link)])
    assert proc.returncode == 0, describe(proc)
    r = results(proc)
    assert r["gate-stat-host-file"] == "ret=-1 errno=2"
    assert r["gate-readlink-host-link"] == "ret=-1 errno=2"
    assert r["gate-stat-etc-passwd"] == "ret=-1 errno=2"
    # `..` at the sandbox's root stays there (the root is entered with chroot; the host's
    # mounts stay in the sandbox's mount namespace, out of reach: docs/security.md, layer 4).
    assert r["gate-stat-root-dotdot-host-file"] == "ret=-1 errno=2"
    assert r["gate-stat-root-dotdot-etc-passwd"] == "ret=-1 errno=2"
    assert r["gate-stat-upper-dotdot-etc-passwd"] == "ret=-1 errno=2"
    assert r["gate-stat-cwd-dotdot-etc-passwd"] == "ret=-1 errno=2"
    assert r["root-dotdot-is-root"] == "1"
    assert r["dirfds-reaching-etc-passwd"] == "0"


def test_the_network_policy_holds_below_the_library_os() -> None:
    allowed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    allowed.bind(("127.0.0.1", 0))
    allowed.listen(8)
    other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    other.bind(("127.0.0.1", 0))
    other.listen(8)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    a, o, u = allowed.getsockname()[1], other.getsockname()[1], udp.getsockname()[1]
    # A TCP rule for one port: the kind of policy a service ships with.
    p = packed(f'[policy.network]\nconnect = ["127.0.0.1:{a}"]\nlisten = ["127.0.0.1:{free_port()}"]\n')
    proc = run_program([p.artifact, "net", p.gate, str(a), str(o), str(u)])
    assert proc.returncode == 0, describe(proc)
    r = results(proc)
    assert r["libc-connect-allowed"] == "ret=0 errno=0"
    assert r["libc-connect-other"] == "ret=-1 errno=13"
    assert r["found-host-socket"] == "1"
    for label in ("gate-connect-other", "gate-bind-wildcard", "gate-listen", "gate-socket-udp", "gate-socket-tcp",
                  "gate-socket-raw"):
        assert r[label] == "ret=-1 errno=1", (label, describe(proc))
    assert r["libc-sendto-udp-other"] == "ret=-1 errno=13"
    assert r["gate-udp-datagrams-sent"] == "0"
    ready, _, _ = select.select([other, udp], [], [], 0)
    assert ready == [], "a port outside the policy was reached"


def test_nothing_the_app_started_outlives_it() -> None:
    p = packed()
    since = time.time()
    proc = subprocess.Popen([p.artifact, "bg"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(BASE_ENV))
    out, err = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, (out, err)
    assert out.decode() == "parent done: child 1\n"
    # The sandbox's pid namespace ends with the app's first process: by the time the artifact
    # has exited, init has killed and reaped the background child. Init itself (pid 1 of the
    # sandbox, the runtime's code only) may still be on its way out: the supervisor ends on its
    # report without waiting for its teardown (docs/security.md, layer 4).
    # The supervisor's net helper (of this run or an earlier one) is in the host's pid namespace
    # and also ends after the supervisor (PR_SET_PDEATHSIG): not one of the app's processes.
    left = sandbox_processes(p.artifact)
    apps = {pid for pid in left if _inner_pid(pid) not in (1, None) and _in_a_pid_namespace_of_its_own(pid)}
    assert apps == set(), left
    assert wait_until_gone(left) == set()
    assert layers_on_host(proc.pid, since) == set()


def _start_waiting(p: Packed, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([p.artifact, "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"waiting\n"
    return proc


def test_sigkill_of_the_artifact_leaves_nothing_behind() -> None:
    p = packed()
    since = time.time()
    proc = _start_waiting(p)
    tree = sandbox_processes(p.artifact, proc.pid)
    assert proc.pid in tree and len(tree) >= 2
    proc.kill()
    proc.wait()
    assert wait_until_gone(tree) == set()
    assert layers_on_host(proc.pid, since) == set()


def test_the_sandbox_holds_no_capabilities() -> None:
    p = packed()
    proc = _start_waiting(p)
    try:
        inside = sandbox_processes(p.artifact, proc.pid) - {proc.pid}
        # Init and the app's first process: each empties its own bounding set (neither
        # inherits an empty one any more: docs/security.md, layer 5), and both set
        # NO_NEW_PRIVS (init before it holds CAP_SETPCAP alone).
        assert len(inside) >= 2, inside
        assert any(_is_init(pid, proc.pid) for pid in inside), inside
        for pid in inside:
            status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                          if ":\t" in line)
            # Init keeps CAP_SETPCAP (alone) from just before its "R" until it has emptied its
            # bounding set right after it (layer 5), off the app's path: with no network
            # namespace to join any more, the app can say "waiting" inside that window. Wait
            # for init to leave it (a bound on a wait, not a measured time: RUN_TIMEOUT, as every
            # other wait here: load must not decide the outcome).
            end = time.monotonic() + RUN_TIMEOUT
            while _is_init(pid, proc.pid) and int(status["CapPrm"], 16) == 1 << 8 and time.monotonic() < end:
                time.sleep(0.01)
                status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                              if ":\t" in line)
            for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                assert int(status[field], 16) == 0, (pid, field, status[field])
            assert status["NoNewPrivs"].strip() == "1", (pid, status["NoNewPrivs"])
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()
    assert proc.returncode == 0


def test_every_sandbox_process_is_inside_the_private_root_and_network_namespace() -> None:
    # Init makes the network namespace after forking the app's first process, which joins it
    # before the app runs; both have the private root as their root (docs/security.md, layer 4).
    p = packed()
    proc = _start_waiting(p)
    try:
        inside = sandbox_processes(p.artifact, proc.pid) - {proc.pid}
        assert len(inside) >= 2, inside  # init and the app
        host = {ns: os.readlink(f"/proc/{proc.pid}/ns/{ns}") for ns in ("net", "mnt", "pid", "ipc")}
        for ns, mine in host.items():
            assert mine == os.readlink(f"/proc/self/ns/{ns}"), ns  # the supervisor is the host's
        seen = {ns: {os.readlink(f"/proc/{pid}/ns/{ns}") for pid in inside} for ns in host}
        # Where the network namespace is made on the app's first abstract Unix name (Landlock ABI >= 6:
        # docs/security.md), init and the app stay in the host's until then, and the namespace
        # is the supervisor's net helper's (test_escape_lazy_netns.py).
        if seen["net"] == {host["net"]}:
            assert "abstract sockets scoped" in _debug_line(p), "the host's network namespace without the scope"
            del seen["net"]
        for ns, values in seen.items():
            assert len(values) == 1 and host[ns] not in values, (ns, values, host[ns])
        for pid in inside:
            root = Path(f"/proc/{pid}/root")
            assert (root / "upper").is_dir(), pid
            assert not (root / "etc").exists() and not (root / "proc").exists(), pid
            assert os.path.samefile(f"/proc/{pid}/cwd", root), pid
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()
    assert proc.returncode == 0


def _debug_line(p: Packed) -> str:
    """The first line LITEBOX_LOG=debug prints (which layers are active)."""
    proc = subprocess.run([os.fspath(p.artifact), "bad"], capture_output=True, timeout=RUN_TIMEOUT, check=False,
                          env={**BASE_ENV, "LITEBOX_LOG": "debug"})
    return proc.stderr.decode().splitlines()[0]


def _is_init(pid: int, supervisor: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(supervisor)


def test_a_signal_sent_to_the_artifact_reaches_the_app() -> None:
    proc = _start_waiting(packed())
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    assert proc.returncode == -signal.SIGTERM


def test_the_writable_layer_counts_against_the_memory_limit() -> None:
    p = packed('[policy.limits]\nmemory = "64M"\n')
    # The layer alone cannot grow past the limit...
    proc = run_program([p.artifact, "fill", "200", "0"])
    assert proc.returncode == 0, describe(proc)
    first = proc.stdout.decode().splitlines()[0]
    assert first.startswith("fill: stopped at ") and first.endswith(" errno=28"), first
    assert int(first.split()[3]) <= 64, first
    # ...and what it holds leaves that much less for the app's memory: 40 MiB in the layer,
    # then 32 MiB of mappings, is over 64 MiB (either alone is not).
    proc = run_program([p.artifact, "fill", "40", "32"])
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.decode() == "fill: wrote 40 MiB\nmmap-after-fill: ret=-1 errno=12\n", describe(proc)
    proc = run_program([p.artifact, "fill", "0", "32"])
    assert proc.stdout.decode() == "fill: wrote 0 MiB\nmmap-after-fill: ret=0 errno=0\n", describe(proc)


def test_debug_log_names_the_namespaces_and_capabilities() -> None:
    p = packed()
    proc = run_program([p.artifact, "bg"], env={"LITEBOX_LOG": "debug"})
    assert proc.returncode == 0, describe(proc)
    first = proc.stderr.decode().splitlines()[0]
    assert "namespaces: user, mount (private root), pid, network, IPC, UTS, cgroup" in first, first
    assert "capabilities: none" in first, first


def test_the_apps_exit_code_passes_through_the_supervisor() -> None:
    bad = run_program([packed().artifact, "nonsense"])
    assert bad.returncode == 2, describe(bad)
    assert bad.stderr.decode().endswith("usage: hostlayers unix|abstract|stat|net|bg|wait|chmod|fill ...\n")


def test_modes_in_the_writable_layer_never_carry_set_id_bits() -> None:
    proc = run_program([packed().artifact, "chmod"])
    assert proc.returncode == 0, describe(proc)
    r = results(proc)
    assert r["chmod-0751"] == "ret=0 errno=0" and r["chmod-setuid"] == "ret=0 errno=0"
    assert r["mode"] == "755"  # 04755 asked: set-user-ID never reaches a host file


def _without_user_namespaces(*argv: str) -> tuple[subprocess.CompletedProcess[bytes], int]:
    """Runs ARGV where the host refuses new user namespaces: root of a user namespace whose
    user.max_user_namespaces is 0 (so the runtime's own clone(CLONE_NEWUSER) fails). Returns
    the completed process and its pid (unshare and sh exec ARGV: the same process)."""
    script = 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"'
    args = ["unshare", "--user", "--map-root-user", "sh", "-c", script, "sh", *argv]
    with subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env={**os.environ, "LITEBOX_LOG": "debug", "PYTHONPATH": str(REPO)}) as proc:
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err), proc.pid


def test_without_user_namespaces_the_log_and_targets_say_what_is_missing() -> None:
    p = packed()
    since = time.time()
    proc, pid = _without_user_namespaces(str(p.artifact), "chmod")
    if b"max_user_namespaces" in proc.stderr and proc.returncode != 0:
        raise AssertionError(describe(proc))
    assert proc.returncode == 0, describe(proc)
    first = proc.stderr.decode().splitlines()[0]
    assert "user namespaces unavailable: errno 28" in first, first
    assert "capabilities: none" in first, first
    # chmod still works through the supervisor, and the layer (now in /dev/shm) is removed.
    assert results(proc)["mode"] == "755"
    assert layers_on_host(pid, since) == set()
    probe, _ = _without_user_namespaces(sys.executable, "-c",
                                        "from packager.targets.hostprobe import userns_check; print(userns_check())")
    assert probe.returncode == 0, describe(probe)
    out = probe.stdout.decode()
    assert "False" in out and "the runtime does without them" in out and "host paths stay visible" in out, out


# A helper run as a child process: enters a new user namespace whose root maps every id (as
# the sandbox's own does for a root launch; the parent writes the maps), sets its
# user.max_net_namespaces to 0 and execs ARGV. The sandbox's user, mount, pid, IPC, UTS and
# cgroup namespaces can then be made inside it, but no network namespace.
_NO_NETNS = r"""
import ctypes, os, sys
r, w = int(sys.argv[1]), int(sys.argv[2])
if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0:
    sys.exit("unshare(CLONE_NEWUSER): errno %d" % ctypes.get_errno())
os.write(w, b"u")
os.close(w)
if os.read(r, 1) != b"m":
    sys.exit("no id maps")
with open("/proc/sys/user/max_net_namespaces", "w") as f:
    f.write("0")
os.execv(sys.argv[3], sys.argv[3:])
"""


def _without_network_namespaces(*argv: str) -> subprocess.CompletedProcess[bytes]:
    """Runs ARGV (with LITEBOX_LOG=debug) where the host allows user namespaces but no network
    namespace (user.max_net_namespaces 0 in an enclosing user namespace)."""
    up_r, up_w = os.pipe()
    go_r, go_w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", _NO_NETNS, str(go_r), str(up_w), *argv],
                            pass_fds=(go_r, up_w), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "LITEBOX_LOG": "debug"})
    os.close(go_r)
    os.close(up_w)
    try:
        if os.read(up_r, 1) == b"u":
            for name in ("uid_map", "gid_map"):
                Path(f"/proc/{proc.pid}/{name}").write_text("0 0 4294967295\n")
        os.write(go_w, b"m")
    finally:
        os.close(up_r)
        os.close(go_w)
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def test_without_a_network_namespace_the_private_root_stays_and_abstract_names_are_refused() -> None:
    # Init makes the network namespace after the clone (docs/security.md, layer 4); where the
    # host refuses it, the sandbox keeps its other namespaces and the private root, refuses
    # abstract names (the host's, in the namespace it shares), and says so. Landlock ABI >= 6
    # (this host has 7) scopes abstract sockets too; without it the artifact would not start.
    p = packed()
    name, listener, dgram = host_abstract_sockets("nonet")
    with listener, dgram:
        proc = _without_network_namespaces(str(p.artifact), "abstract", p.gate, name)
        assert proc.returncode == 0, describe(proc)
        err = proc.stderr.decode()
        first = err.splitlines()[0]
        assert "abstract sockets scoped" in first, first
        if "the network namespace is made on the first abstract Unix name" in first:
            # Made on the app's first abstract name (Landlock ABI >= 6): that request finds the
            # namespace cannot be made, says so, and the socket stays in the host's namespace.
            assert "network: cannot make the sandbox's network namespace (errno 28)" in err, err
        else:
            assert "namespaces: user, mount (private root), pid, IPC, UTS, cgroup; no network namespace (errno 28" \
                in first, first
        r = results(proc)
        for call in ("connect", "sendto", "bind"):
            suffix = "-dgram" if call == "sendto" else ""
            assert r[f"libc-{call}-abstract{suffix}"] == "ret=-1 errno=13", (call, r)  # EACCES
        assert r["gate-connect-abstract"] == "ret=-1 errno=1"
        assert r["gate-bind-abstract"] == "ret=-1 errno=1"
        assert r["gate-sendto-abstract-dgram"] == "ret=-1 errno=1"  # Landlock's scope: EPERM
        ready, _, _ = select.select([listener, dgram], [], [], 0)
        assert ready == [], "a host abstract Unix socket was reached"
    # The private root holds as with a network namespace.
    proc = _without_network_namespaces(str(p.artifact), "stat", p.gate, "/etc/hostname", "/etc/mtab")
    assert proc.returncode == 0, describe(proc)
    r = results(proc)
    assert r["gate-stat-host-file"] == "ret=-1 errno=2"
    assert r["gate-stat-root-dotdot-etc-passwd"] == "ret=-1 errno=2"
    assert r["dirfds-reaching-etc-passwd"] == "0"


# kill of the process's own group and TIOCSPGRP, where the host gives no pid namespace: the
# group the app started in holds the supervisor and whatever shares its group on the host
# (here the test runner), so the shim keeps kill to the process and its children, and
# host_ioctl refuses TIOCSPGRP. Signal 0 only: harmless even if it got through.
_GROUP_PROBE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
int main(void) {
    pid_t g = getpgrp();
    int r = kill(-g, 0);
    printf("kill-own-group=%d %s\n", r, r ? strerrorname_np(errno) : "-");
    r = kill(0, 0);
    printf("kill-0=%d %s\n", r, r ? strerrorname_np(errno) : "-");
    r = ioctl(0, TIOCSPGRP, &g);
    printf("tiocspgrp=%d %s\n", r, r ? strerrorname_np(errno) : "-");
    return 0;
}
"""


def test_without_a_pid_namespace_kill_and_tiocspgrp_stay_inside(tmp_path: Path) -> None:
    work = tmp_path
    src = work / "grp.c"
    src.write_text(_GROUP_PROBE)
    prog = work / "grp"
    subprocess.run(["cc", "-O1", "-o", str(prog), str(src)], check=True)
    art = pack(prog, work / "dist").path
    proc, _ = _without_user_namespaces(str(art))
    assert proc.returncode == 0, describe(proc)
    out = proc.stdout.decode()
    # The group is the host's (the supervisor's and the runner's): not the app's to signal.
    assert "kill-own-group=-1 ESRCH" in out, out
    # kill(0) reaches the process itself and its children only (it succeeds for itself).
    assert "kill-0=0 -" in out, out
    assert "tiocspgrp=-1 EPERM" in out, out
