"""THE GATE TEST, packed only: the app finds the runtime's own gate `syscall` instruction (the
one instruction the interception filter lets reach the host) and calls it directly. The host
must still refuse what the policy does not grant: the gate's seccomp allow-list answers EPERM
(logged with the rule), Landlock answers EACCES for paths and ports, and its signal scope
EPERM for signals to processes outside the sandbox."""

from __future__ import annotations

import errno
import os

import pytest
from confine_probe import gate_address, probe, results, runtime_data_address
from litebox_e2e import describe, run_program

from packager.targets.hostprobe import landlock_abi, userns_errno


@pytest.fixture(scope="module")
def gate() -> tuple[dict[str, str], str]:
    p = probe()
    proc = p.run("gate", hex(gate_address(p.artifact)), str(p.secret), str(os.getpid()), "9",
                 str(p.base / "scratch"), env={"LITEBOX_LOG": "debug"})
    return results(proc), proc.stderr.decode()


def test_the_gate_really_reaches_the_host(gate: tuple[dict[str, str], str]) -> None:
    # The address is right: an allowed call goes through and gives the host's answer.
    r, _ = gate
    assert r["gate-getpid-matches"] == "ret=1 errno=0"
    assert r["gate-socket-unix"] == "ret=0 errno=0"
    # An IP socket is never made at the gate (the supervisor makes every one): EPERM.
    assert r["gate-socket-inet"] == f"ret=-1 errno={errno.EPERM}"
    # prctl reaches the host for PR_SET_CHILD_SUBREAPER only (docs/security.md).
    assert r["gate-prctl-subreaper"] == "ret=0 errno=0"
    # flock reaches the host: the app's flock is the host's (docs/security.md).
    assert r["gate-flock"] == "ret=0 errno=0"


@pytest.mark.parametrize("label", ["gate-openat-etc-rw", "gate-mount", "gate-ptrace", "gate-execve",
                                   "gate-unshare", "gate-reboot", "gate-socket-netlink", "gate-clone-newuser",
                                   "gate-ioctl-tiocsti", "gate-prctl", "gate-prctl-dumpable",
                                   "gate-prctl-seccomp", "gate-socket-inet", "gate-fchown",
                                   "gate-connect-loopback"])
def test_gate_allow_list_refuses_with_eperm(gate: tuple[dict[str, str], str], label: str) -> None:
    r, _ = gate
    assert r[label] == f"ret=-1 errno={errno.EPERM}"


def test_gate_denials_are_logged_with_the_rule(gate: tuple[dict[str, str], str]) -> None:
    _, log = gate
    for line in (
        "denied at the gate: mount (165) -> EPERM (rule: gate allow-list: syscall not needed by the runtime)",
        "denied at the gate: execve (59) -> EPERM (rule: gate allow-list: syscall not needed by the runtime)",
        "denied at the gate: openat (257) -> EPERM (rule: gate allow-list: openat for writing or creating)",
        "denied at the gate: ioctl (16) -> EPERM "
        "(rule: gate allow-list: ioctl command other than TCGETS/TIOCGWINSZ/TIOCGPGRP/TIOCSPGRP/FIONREAD)",
        "denied at the gate: clone (56) -> EPERM (rule: gate allow-list: clone with CLONE_NEW* flags)",
        "denied at the gate: socket (41) -> EPERM "
        "(rule: gate allow-list: socket other than AF_UNIX stream/seqpacket (datagram with a private root))",
        "denied at the gate: connect (42) -> EPERM (rule: gate allow-list: syscall not needed by the runtime)",
        "denied at the gate: prctl (157) -> EPERM "
        "(rule: gate allow-list: prctl option other than PR_SET_CHILD_SUBREAPER)",
    ):
        assert f"litebox: {line}" in log, log
    assert not os.path.exists("/etc/litebox-escape")


def test_a_host_file_is_out_of_reach_through_the_gate(gate: tuple[dict[str, str], str]) -> None:
    # openat for reading passes the allow-list (the runtime needs it). With the sandbox's
    # namespaces the path does not exist in its root; without them Landlock refuses it.
    r, log = gate
    if userns_errno() == 0:
        assert r["gate-openat-secret-ro"] == f"ret=-1 errno={errno.ENOENT}"
        assert "namespaces: user, mount (private root)" in log
    elif landlock_abi()[0] >= 1:
        assert r["gate-openat-secret-ro"] == f"ret=-1 errno={errno.EACCES}"
    else:
        pytest.skip("this host has neither user namespaces nor Landlock")


def test_a_signal_to_a_host_process_through_the_gate_is_refused(gate: tuple[dict[str, str], str]) -> None:
    # Signal 0 to this test process (the artifact's parent): nothing would be delivered anyway.
    # In the sandbox's own pid namespace no host process exists (ESRCH); without it,
    # Landlock's signal scope refuses (EPERM).
    r, _ = gate
    if userns_errno() == 0:
        assert r["gate-kill-parent"] == f"ret=-1 errno={errno.ESRCH}"
    elif landlock_abi()[0] >= 6:
        assert r["gate-kill-parent"] == f"ret=-1 errno={errno.EPERM}"
    else:
        pytest.skip("this host has neither user namespaces nor Landlock signal scoping")


def test_debug_log_names_the_active_layers() -> None:
    p = probe()
    proc = run_program([p.artifact, "fds"], env={"LITEBOX_LOG": "debug"})
    assert proc.returncode == 0, describe(proc)
    first = proc.stderr.decode().splitlines()[0]
    assert first.startswith("litebox: enforcement: seccomp interception + gate allow-list ("), first
    if landlock_abi()[0] >= 1:
        assert f"landlock ABI {landlock_abi()[0]}" in first


def test_a_host_pipe_never_reads_into_or_writes_from_the_runtimes_memory() -> None:
    """read and write of a host pipe (which the fast path hands to the host itself when every
    check passes) with the runtime's own writable data as the buffer: EFAULT, and the pipe's 8
    bytes stay queued (the host read nothing into the runtime, wrote nothing out of it)."""
    p = probe()
    proc = p.run("rtbuf", hex(runtime_data_address(p.artifact)))
    assert proc.returncode == 0, describe(proc)
    r = results(proc)
    efault = f"ret=-1 errno={errno.EFAULT}"
    assert (r["read-into-runtime"], r["read-into-runtime-1"], r["write-from-runtime"]) == (efault,) * 3, r
    assert r["queued"] == "8 ABCDEFGH", r


def test_a_host_socket_never_receives_into_or_sends_from_the_runtimes_memory() -> None:
    """recv and send (recvfrom and sendto without an address) of host sockets, which the fast
    path hands to the host itself when every check passes, with the runtime's own writable data
    as the buffer: EFAULT for each (a stream socket, MSG_PEEK, a datagram socket), the queued
    bytes stay queued (nothing was received into the runtime) and the peers got nothing
    (nothing was sent out of it); a send with MSG_FASTOPEN is still refused by the gate's
    allow-list."""
    p = probe()
    proc = p.run("rtsock", hex(runtime_data_address(p.artifact)))
    assert proc.returncode == 0, describe(proc)
    r = results(proc)
    efault = f"ret=-1 errno={errno.EFAULT}"
    labels = ("recv-into-runtime", "recv-into-runtime-1", "recv-into-runtime-peek", "recv-into-runtime-dgram",
              "send-from-runtime", "send-from-runtime-dgram")
    assert tuple(r[k] for k in labels) == (efault,) * len(labels), r
    # The filter still sees the call (issued from the gate): MSG_FASTOPEN is refused there.
    assert r["send-fastopen"] == f"ret=-1 errno={errno.EPERM}", r
    assert r["queued"] == "8 ABCDEFGH 8 abcdefgh", r
    eagain = f"ret=-1 errno={errno.EAGAIN}"
    assert (r["peer-stream"], r["peer-dgram"]) == (eagain, eagain), r
