"""Network outside the policy: with the default policy (no [policy.network]) every bind,
connect, sendto and sendmsg to an IP address and every netlink, packet or raw socket is
refused before any host call (Unix-domain names are the sandbox's own: its network namespace's
abstract names, and path names of its own files that stand for them), and LITEBOX_LOG=debug names the
rule. Packed only. The addresses are loopback ports nobody listens on, so a call that got
through would do nothing either."""

from __future__ import annotations

from pathlib import Path

import pytest
from litebox_e2e import describe, pack, run_program
from netprobe import DENIED_OUTPUT, build_probe, free_port, write_project


@pytest.fixture(scope="module")
def default_deny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("escape-net")
    return pack(write_project(work, build_probe(work), [], []), work / "dist").path


def test_default_policy_refuses_bind_and_connect(default_deny: Path) -> None:
    port = free_port()
    proc = run_program([default_deny, "denied", str(port)], env={"LITEBOX_LOG": "debug"})
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.decode() == DENIED_OUTPUT
    log = proc.stderr.decode().splitlines()
    for line in [
        f"litebox: network: bind 127.0.0.1:{port} denied: no [policy.network] listen rule allows it -> EACCES",
        f"litebox: network: connect 127.0.0.1:{port} denied: no [policy.network] connect rule allows it -> EACCES",
        f"litebox: network: sendto 127.0.0.1:{port} denied: no [policy.network] connect rule allows it -> EACCES",
    ]:
        assert line in log, f"missing {line!r} in:\n{proc.stderr.decode()}"


def test_default_policy_still_allows_socketpair(default_deny: Path) -> None:
    """Default deny is about the network: a Unix socketpair between the app's own processes works."""
    proc = run_program([default_deny, "pairs"])
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.decode().splitlines() == [
        "socketpair stream = 0", "write pair = 4", "read pair = 4", "read from child = 10", "child said from child",
        "shutdown = 0", "read after shutdown = 0", "socketpair dgram = 0", "send dgram = 3", "send dgram = 5",
        "recv dgram = 3", "recv dgram = 5", "recv dgram nonblock = -1 EAGAIN", "socketpair inet = -1 EOPNOTSUPP",
        "sendmsg SCM_RIGHTS = 1", "recvmsg SCM_RIGHTS = 1", "rights 1, one fd 1, controllen 24, flags 1073741824",
        "cloexec 1", "write via passed fd = 6", "read pipe = 6", "pipe got passed", "read pipe eof = 0",
    ], describe(proc)
