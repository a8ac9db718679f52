"""Sockets under [policy.network] (tests/e2e/programs/net.c, packed in project mode).

The allowed part (socketpair across fork, TCP listen/connect/accept on loopback, UDP,
getsockname, poll/epoll, readv/writev, sendmmsg/recvmmsg) must print the same bytes natively
and packed. The denied part runs packed only (natively everything is allowed) and must give
exactly EACCES for bind/connect/sendto/sendmsg outside the policy, without reaching the host;
the denial is logged with its rule, recorded by --learn and decoded by --trace.
tests/e2e/programs/sockname.c's getsockname/getpeername answers must be native's, and a socket
accepted from a listener bound to a specific address gets its name without a host call.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from litebox_e2e import describe, pack, run_cli, run_program
from netprobe import DENIED_OUTPUT, NetProbe, build_probe, free_port, probe_ports, write_project
from test_e2e_conformance import first_difference


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> NetProbe:
    work = tmp_path_factory.mktemp("net")
    native = build_probe(work)
    tcp, udp, denied = probe_ports()
    rules = [f"127.0.0.1:{tcp}", f"127.0.0.1:{udp}"]
    project = write_project(work, native, rules, rules)
    art = pack(project, work / "dist")
    return NetProbe(native, art.path, tcp, udp, denied)


def test_allowed_sockets_match_native(probe: NetProbe) -> None:
    args = ["allowed", str(probe.tcp), str(probe.udp)]
    native = run_program([probe.native, *args])
    assert native.returncode == 0, describe(native)
    packed = run_program([probe.artifact, *args])
    assert packed.returncode == 0, describe(packed)
    assert b"client got reply" in native.stdout and b"udp got datagram from 127.0.0.1" in native.stdout
    # A UDP socket looks like one packed too (the app holds the supervisor's relay, udprelay.rs).
    assert b"udp type 2 domain 2\n" in native.stdout and b"udp fionread 10\n" in native.stdout
    assert packed.stdout == native.stdout


def test_denied_calls_get_exact_errnos(probe: NetProbe) -> None:
    packed = run_program([probe.artifact, "denied", str(probe.denied)])
    assert packed.returncode == 0, describe(packed)
    assert packed.stdout.decode() == DENIED_OUTPUT
    assert packed.stderr == b"", "no log without LITEBOX_LOG=debug"


def test_denials_are_logged_with_their_rule(probe: NetProbe) -> None:
    packed = run_program([probe.artifact, "denied", str(probe.denied)], env={"LITEBOX_LOG": "debug"})
    assert packed.stdout.decode() == DENIED_OUTPUT
    err = packed.stderr.decode()
    p = probe.denied
    for line in [
        f"litebox: network: bind 127.0.0.1:{p} denied: no [policy.network] listen rule allows it -> EACCES",
        f"litebox: network: bind 0.0.0.0:{p} denied: no [policy.network] listen rule allows it -> EACCES",
        f"litebox: network: connect 127.0.0.1:{p} denied: no [policy.network] connect rule allows it -> EACCES",
        "litebox: network: listen 0.0.0.0:0 denied: no [policy.network] listen rule allows it -> EACCES",
        f"litebox: network: sendto 127.0.0.1:{p} denied: no [policy.network] connect rule allows it -> EACCES",
        f"litebox: network: sendmsg 127.0.0.1:{p} denied: no [policy.network] connect rule allows it -> EACCES",
        "litebox: network: socket(family 16) denied (only AF_UNIX, AF_INET, AF_INET6) -> EAFNOSUPPORT",
        "litebox: network: socket(SOCK_RAW) denied (raw and packet sockets are never allowed) -> EPERM",
    ]:
        assert line in err.splitlines(), f"missing log line {line!r} in:\n{err}"


def test_learn_turns_denials_into_a_policy_snippet(probe: NetProbe) -> None:
    proc = run_cli("run", "--learn", probe.artifact, "--", "denied", str(probe.denied))
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.startswith(DENIED_OUTPUT), describe(proc)
    p = probe.denied
    snippet = proc.stdout[len(DENIED_OUTPUT):]
    assert "[policy.network]" in snippet.splitlines(), snippet
    assert f'listen = ["0.0.0.0:0", "0.0.0.0:{p}", "127.0.0.1:{p}"]' in snippet.splitlines(), snippet
    assert f'connect = ["127.0.0.1:{p}"]' in snippet.splitlines(), snippet


def test_trace_decodes_socket_addresses(probe: NetProbe) -> None:
    packed = run_program([probe.artifact, "denied", str(probe.denied)], env={"LITEBOX_TRACE": "1"})
    err = packed.stderr.decode()
    p = probe.denied
    assert re.search(rf"\] bind\(0x3, \{{AF_INET, 127\.0\.0\.1:{p}\}}, 0x10, [^)]*\) = -13 \(EACCES\)", err), err
    assert re.search(rf"\] connect\(0x4, \{{AF_INET6, 127\.0\.0\.1:{p}\}}, 0x1c, [^)]*\) = -13 \(EACCES\)", err), err
    sendto = rf"\] sendto\(0x3, 0x[0-9a-f]+, 0x1, 0x0, \{{AF_INET, 127\.0\.0\.1:{p}\}}, 0x10\) = -13 \(EACCES\)"
    assert re.search(sendto, err), err


@dataclass(frozen=True)
class NameProbe:
    native: Path
    artifact: Path
    port: int


@pytest.fixture(scope="module")
def name_probe(tmp_path_factory: pytest.TempPathFactory) -> NameProbe:
    """tests/e2e/programs/sockname.c, packed allowing its port on 127.0.0.1, 0.0.0.0, ::1, ::."""
    work = tmp_path_factory.mktemp("sockname")
    native = build_probe(work, "sockname")
    port = free_port()
    listen = [f"127.0.0.1:{port}", f"0.0.0.0:{port}", f"[::1]:{port}", f"[::]:{port}"]
    project = write_project(work, native, listen, [f"127.0.0.1:{port}", f"[::1]:{port}"])
    return NameProbe(native, pack(project, work / "dist").path, port)


def test_socket_names_match_native(name_probe: NameProbe) -> None:
    # getsockname on a socket accepted from a listener bound to a specific address is answered
    # by the library OS (no host call): every answer, errno, truncation and fault must be
    # Linux's, on every kind of listener and in every state of the connection.
    args = ["sockname", str(name_probe.port)]
    native = run_program([name_probe.native, *args])
    assert native.returncode == 0 and native.stdout.endswith(b"done\n"), describe(native)
    assert b"[::] v4 accepted name = family 10 ::ffff:127.0.0.1" in native.stdout
    packed = run_program([name_probe.artifact, *args])
    assert packed.returncode == 0, describe(packed)
    assert packed.stdout == native.stdout, first_difference(native.stdout, packed.stdout)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/setup installs it)")
def test_accepted_socket_name_needs_no_host_call(name_probe: NameProbe, tmp_path: Path) -> None:
    conns = 50
    log = tmp_path / "strace.log"
    r = subprocess.run(["strace", "-f", "-qq", "-e", "signal=none", "-e", "trace=getsockname", "-o", str(log),
                        str(name_probe.artifact), "count", str(name_probe.port), str(conns)],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0 and f"names {conns} same {conns}\n" in r.stdout, describe(r)
    # Calls the host ran return 0 or -1; an app call the gate trapped (--no-rewrite packs)
    # never ran on the host, and strace shows it returning its own number (51).
    lines = log.read_text().splitlines()
    calls = sum(1 for ln in lines if re.search(r"getsockname(\(| resumed>).*\) += (0|-1 E)", ln))
    # bind's probe of the host's order, listen's look at the listener's name: a few, not one
    # per connection.
    assert calls < 10, f"{calls} host getsockname calls for {conns} accepted sockets:\n" + "\n".join(lines)
