"""Host metadata and the gate's argument allow-lists, packed only (programs/hostmeta.c).

- Through plain libc (the library OS): chmod, fchmodat, fchmod, chown, utimensat, truncate,
  rename, unlink, mkdir and symlink inside a read-only mount are EROFS and the host's modes do
  not change; chmod and fchmod in a read-write mount reach the host.
- Directly at the runtime's gate: no chmod by path (fchmodat); ioctl, fcntl, socket and socketpair
  take exact values only; clone refuses CLONE_PARENT, the sends MSG_FASTOPEN, rt_sigaction the
  runtime's own SIGSYS; fchmod is not there at all (the supervisor changes modes by path, for
  the library OS). Each refusal is EPERM and logged with its rule.
"""

from __future__ import annotations

import errno
import functools
import os
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from confine_probe import gate_address, pack_with_mounts, results
from litebox_e2e import describe, run_program, session_scratch

from packager.targets.hostprobe import userns_errno

EPERM = f"ret=-1 errno={errno.EPERM}"
EROFS = f"ret=-1 errno={errno.EROFS}"
OK = "ret=0 errno=0"


@dataclass(frozen=True)
class MetaProbe:
    artifact: Path
    base: Path  # ro/ (mounted read-only), rw/ (read-write), outside.txt (neither)

    @property
    def ro(self) -> Path:
        return self.base / "ro"

    @property
    def rw(self) -> Path:
        return self.base / "rw"

    def run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        """Runs the packed probe with ARGS (debug log on); fails the test unless it exits 0."""
        proc = run_program([self.artifact, *args], env={"LITEBOX_LOG": "debug"})
        assert proc.returncode == 0, describe(proc)
        return proc


def mode(p: Path) -> int:
    return stat.S_IMODE(p.lstat().st_mode)


@functools.cache
def meta_probe() -> MetaProbe:
    """Builds, lays out and packs the probe (once per session)."""
    base = session_scratch("litebox-hostmeta-")
    ro = base / "ro"
    ro.mkdir()
    (ro / "inside.txt").write_text("inside\n")
    rw = base / "rw"
    rw.mkdir()
    for name in ("mode.txt", "fmode.txt", "scratch.txt"):
        (rw / name).write_text("rw\n")
    (base / "outside.txt").write_text("outside\n")
    for p, m in ((ro, 0o755), (ro / "inside.txt", 0o644), (rw, 0o755), (base / "outside.txt", 0o644),
                 *((rw / n, 0o644) for n in ("mode.txt", "fmode.txt", "scratch.txt"))):
        p.chmod(m)
    return MetaProbe(artifact=pack_with_mounts("hostmeta", base), base=base)


def unused_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def meta() -> dict[str, str]:
    p = meta_probe()
    return results(p.run("meta", "/ro", "/rw"))


@pytest.fixture(scope="module")
def gate() -> tuple[dict[str, str], str]:
    p = meta_probe()
    # The mounts as the runtime itself reaches them: /m/N in the sandbox's private root (policy
    # order), or the host directories where the host has no user namespaces.
    ro_file, rw_file = ("/m/0/inside.txt", "/m/1/scratch.txt") if userns_errno() == 0 else \
        (str(p.ro / "inside.txt"), str(p.rw / "scratch.txt"))
    proc = p.run("gate", hex(gate_address(p.artifact)), ro_file, rw_file,
                 str(unused_port()), str(p.base / "outside.txt"))
    return results(proc), proc.stderr.decode()


@pytest.mark.parametrize("label", ["chmod-ro-file", "chmod-ro-dir", "fchmodat-ro-file", "fchmod-ro-fd",
                                   "fchmod-ro-dirfd", "fchown-ro-fd", "futimens-ro-fd", "truncate-ro-file",
                                   "utimensat-ro-file", "chown-ro-file", "lchown-ro-file", "rename-in-ro",
                                   "unlink-ro-file", "mkdir-in-ro", "symlink-in-ro"])
def test_metadata_changes_in_a_read_only_mount_are_erofs(meta: dict[str, str], label: str) -> None:
    assert meta[label] == EROFS


def test_read_only_mount_keeps_its_host_modes(meta: dict[str, str]) -> None:
    p = meta_probe()
    assert meta["chmod-ro-file"]  # the probe ran
    assert mode(p.ro / "inside.txt") == 0o644
    assert mode(p.ro) == 0o755
    assert sorted(x.name for x in p.ro.iterdir()) == ["inside.txt"]


def test_chmod_in_a_read_write_mount_reaches_the_host(meta: dict[str, str]) -> None:
    # By path, and by descriptor (the library OS changes it through its path, not the host fd).
    p = meta_probe()
    assert meta["chmod-rw-file"] == OK
    assert mode(p.rw / "mode.txt") == 0o600
    assert meta["fchmod-rw-fd"] == OK
    assert mode(p.rw / "fmode.txt") == 0o604


def test_the_gate_still_serves_what_the_runtime_needs(gate: tuple[dict[str, str], str]) -> None:
    r, _ = gate
    for label in ("gate-open-ro-file", "gate-open-rw-file", "gate-pipe2", "gate-ioctl-fionread", "gate-fcntl-getfl",
                  "gate-socket-unix-seqpacket", "gate-socketpair-unix"):
        assert r[label] == OK, label


@pytest.mark.parametrize("label", [
    "gate-fchmodat-outside",
    "gate-ioctl-fs-getflags", "gate-ioctl-fs-setflags", "gate-ioctl-tiocvhangup", "gate-ioctl-siocsifmtu",
    "gate-fcntl-setown", "gate-fcntl-setsig",
    "gate-clone-parent",
    "gate-sendto-fastopen", "gate-sendmsg-fastopen", "gate-sendmmsg-fastopen",
    "gate-socket-udp", "gate-socket-tcp",  # the supervisor makes every IP socket
    "gate-socket-raw", "gate-socket-packet", "gate-socket-icmp", "gate-socket-unix-raw",
    "gate-socketpair-unix-proto", "gate-socketpair-inet",
])
def test_gate_argument_allow_lists_refuse_with_eperm(gate: tuple[dict[str, str], str], label: str) -> None:
    r, _ = gate
    assert r[label] == EPERM


@pytest.mark.parametrize("label", ["gate-fchmod-ro-fd", "gate-fchmod-fd0", "gate-fchmod-fd1", "gate-fchmod-fd2"])
def test_gate_fchmod_is_refused(gate: tuple[dict[str, str], str], label: str) -> None:
    assert gate[0][label] == EPERM


def test_gate_fchmod_leaves_the_read_only_file_alone(gate: tuple[dict[str, str], str]) -> None:
    assert gate[0]["gate-fchmod-ro-fd"]
    assert mode(meta_probe().ro / "inside.txt") == 0o644


def test_gate_refusals_are_logged_with_their_rule(gate: tuple[dict[str, str], str]) -> None:
    _, log = gate
    for line in (
        "fchmodat (268) -> EPERM (rule: gate allow-list: syscall not needed by the runtime)",
        "ioctl (16) -> EPERM "
        "(rule: gate allow-list: ioctl command other than TCGETS/TIOCGWINSZ/TIOCGPGRP/TIOCSPGRP/FIONREAD)",
        "fcntl (72) -> EPERM "
        "(rule: gate allow-list: fcntl command other than F_DUPFD_CLOEXEC/F_GETFL/F_SETFL/record locks/pipe size)",
        "clone (56) -> EPERM (rule: gate allow-list: clone with CLONE_PARENT)",
        "sendto (44) -> EPERM (rule: gate allow-list: send with MSG_FASTOPEN)",
        "sendmsg (46) -> EPERM (rule: gate allow-list: send with MSG_FASTOPEN)",
        "sendmmsg (307) -> EPERM (rule: gate allow-list: send with MSG_FASTOPEN)",
        "socket (41) -> EPERM (rule: gate allow-list: socket other than AF_UNIX stream/seqpacket "
        "(datagram with a private root))",
        "socketpair (53) -> EPERM (rule: gate allow-list: socket other than AF_UNIX stream/seqpacket "
        "(datagram with a private root))",
    ):
        assert f"litebox: denied at the gate: {line}" in log, line


def test_gate_cannot_touch_the_runtimes_sigsys() -> None:
    # Had SIG_IGN got through, the next trapped call would kill the process with SIGSYS (159).
    p = meta_probe()
    proc = run_program([p.artifact, "sigsys", hex(gate_address(p.artifact))], env={"LITEBOX_LOG": "debug"})
    assert proc.returncode == 0, describe(proc)
    r = results(proc)
    assert r["gate-sigaction-sigsys-query"] == EPERM
    assert r["gate-sigaction-sigsys-ignore"] == EPERM
    assert r["trapped-getpid-matches"] == "1"
    assert r["gate-sigaction-sigusr1"] == OK
    assert ("litebox: denied at the gate: rt_sigaction (13) -> EPERM "
            "(rule: gate allow-list: rt_sigaction of the runtime's own signal (SIGSYS))") in proc.stderr.decode()


def test_host_files_outside_the_mounts_keep_their_modes(gate: tuple[dict[str, str], str]) -> None:
    assert gate[0]["gate-fchmodat-outside"]
    assert mode(meta_probe().base / "outside.txt") == 0o644
    assert os.path.exists(meta_probe().base / "outside.txt")
