"""The sandbox's network namespace made on the app's first abstract Unix name (docs/security.md, "The
network namespace is made on the first abstract Unix name"): abstract names work between the app's own
processes once it is made (by the parent or by a forked child first), the host's abstract names
stay out of reach before and after, the errno values, and the supervisor's net helper holds no
capability and ends with the artifact. tests/escape/programs/lazynet.c, packed only. Where the
host's Landlock cannot scope abstract sockets (ABI < 6) init makes the namespace at every start
instead; the tests say which values differ then."""

from __future__ import annotations

import functools
import os
import select
import subprocess
from pathlib import Path

from confine_probe import results
from litebox_e2e import BASE_ENV, RUN_TIMEOUT, describe, pack, run_program, session_scratch
from test_escape_host_layers import host_abstract_sockets, sandbox_processes, wait_until_gone

PROGRAMS = Path(__file__).resolve().parent / "programs"
LAZY_LINE = "the network namespace is made on the first abstract Unix name"


@functools.cache
def packed() -> Path:
    """The probe, built and packed once per session."""
    proj = session_scratch("litebox-lazynet-")
    subprocess.run(["cc", "-static", "-O1", "-Wall", "-o", str(proj / "lazynet"), str(PROGRAMS / "lazynet.c")],
                   check=True)
    (proj / "litebox.toml").write_text(
        '[app]\nname = "lazynet"\nentry = "/app/lazynet"\n\n'
        '[files]\n"/app/lazynet" = "lazynet"\n\n'
        "[build]\nsource_date_epoch = 0\n"
    )
    return pack(proj, proj / "dist").path


def _debug(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([os.fspath(packed()), *args], capture_output=True, timeout=RUN_TIMEOUT, check=False,
                          env={**BASE_ENV, "LITEBOX_LOG": "debug"})


@functools.cache
def lazy() -> bool:
    """Whether this host gets the lazy namespace (Landlock ABI >= 6), from the debug line."""
    proc = _debug("errno")
    assert proc.returncode == 0, describe(proc)
    return LAZY_LINE in proc.stderr.decode()


def test_the_debug_line_says_the_namespace_is_lazy_where_landlock_scopes_abstract_sockets() -> None:
    proc = _debug("errno")
    first = proc.stderr.decode().splitlines()[0]
    assert "namespaces: user, mount (private root), pid, network" in first, first
    assert lazy() == ("abstract sockets scoped" in first), first


def test_abstract_names_work_between_the_apps_processes() -> None:
    # child: the app's first abstract name is used after a fork; thread: by a process with a
    # second thread alive (the socket is replaced under its number with dup3, atomically).
    for mode in ("pair", "child", "thread"):
        proc = run_program([packed(), mode])
        assert proc.returncode == 0, describe(proc)
        assert results(proc)[mode] == "ok", describe(proc)


def test_host_abstract_names_stay_unreachable_before_and_after_the_first_unix_socket() -> None:
    for mode in ("host", "hostafter"):
        name, listener, dgram = host_abstract_sockets(f"lazynet-{mode}")
        with listener, dgram:
            proc = run_program([packed(), mode, name])
            assert proc.returncode == 0, describe(proc)
            r = results(proc)
            if mode == "hostafter":
                assert r["bind-own"] == "ret=0 errno=0", describe(proc)
            assert r["connect-host"] == "ret=-1 errno=111", describe(proc)  # not in the sandbox's namespace
            assert r["sendto-host"] == "ret=-1 errno=111", describe(proc)
            assert r["bind-host-name"] == "ret=0 errno=0", describe(proc)  # the host's name is not the sandbox's
            assert r["bind-host-name-dgram"] == "ret=0 errno=0", describe(proc)
            # A socketpair's sockets are of the host's namespace where it is lazy: the runtime
            # refuses their sends to an abstract name (EACCES) before Landlock would (EPERM).
            assert r["socketpair-sendto-host"] == ("ret=-1 errno=13" if lazy() else "ret=-1 errno=111"), r
            ready, _, _ = select.select([listener, dgram], [], [], 0)
            assert ready == [], "a host abstract Unix socket was reached"


def test_unix_socket_errno_values() -> None:
    proc = run_program([packed(), "errno"])
    assert proc.returncode == 0, describe(proc)
    r = results(proc)
    assert r["socket-raw"] == "ret=-1 errno=1"  # not a type the gate allows: EPERM
    assert r["socket-protocol"] == "ret=-1 errno=93"  # EPROTONOSUPPORT
    assert r["socket-nonblock-cloexec"] == "ret=0 errno=0"
    # A socketpair is made in the host's namespace where it is lazy: no name (EACCES).
    assert r["socketpair-bind-abstract"] == ("ret=-1 errno=13" if lazy() else "ret=0 errno=0"), r
    # A path name is a file of the app's own namespace (the host's /upper, where the private
    # root keeps the writable layer, is no path of the app's): ENOENT.
    assert r["bind-path"] == "ret=-1 errno=2"


def _status(pid: int) -> dict[str, str]:
    return dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)


def _start_waiting() -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([packed(), "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=dict(BASE_ENV))
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"waiting\n"
    return proc


def test_the_net_helper_holds_no_capability_and_ends_with_the_artifact() -> None:
    proc = _start_waiting()
    try:
        tree = sandbox_processes(packed(), proc.pid)
        inside = tree - {proc.pid}
        # The helper is the supervisor's child in the host's pid namespace (one NSpid entry);
        # init and the app's processes are in the sandbox's (two).
        helpers = {p for p in inside if len(_status(p)["NSpid"].split()) == 1}
        assert len(helpers) == (1 if lazy() else 0), (helpers, inside)
        sandbox_user = {os.readlink(f"/proc/{p}/ns/user") for p in inside - helpers}
        for pid in inside:
            status = _status(pid)
            for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                assert int(status[field], 16) == 0, (pid, field, status[field])
            assert status["NoNewPrivs"].strip() == "1", pid
        for pid in helpers:
            # In the sandbox's user namespace, in a network namespace of its own (the
            # sandbox's), and neither the host's nor the supervisor's.
            assert os.readlink(f"/proc/{pid}/ns/user") in sandbox_user, pid
            # It passes on none of the signals the supervisor forwards (it ignores them).
            forwarded = (1 << (2 - 1)) | (1 << (15 - 1))  # SIGINT, SIGTERM
            assert int(_status(pid)["SigIgn"], 16) & forwarded == forwarded, pid
            assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink(f"/proc/{proc.pid}/ns/net"), pid
            assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net"), pid
            # Only its end of the pair (and, for a moment after a request, the socket it made
            # and handed over): no file, directory or pipe of the host.
            fds = {fd: os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
            assert "0" in fds and all(t.startswith("socket:[") for t in fds.values()), (pid, fds)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()
    assert proc.returncode == 0
    assert wait_until_gone(tree) == set()


def test_sigkill_of_the_artifact_ends_the_net_helper_too() -> None:
    proc = _start_waiting()
    tree = sandbox_processes(packed(), proc.pid)
    assert proc.pid in tree and len(tree) >= (4 if lazy() else 3)
    proc.kill()
    proc.wait()
    assert wait_until_gone(tree) == set()
