"""Helpers for the socket probe tests/e2e/programs/net.c: building it, packing it in project
mode with a chosen [policy.network], picking free loopback ports, and what its `denied` mode
must print packed (linux-userland: DENIED_OUTPUT; a target without the sandbox's own network
namespace refuses abstract Unix names too: DENIED_OUTPUT_NO_NETNS)."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

PROGRAMS = Path(__file__).resolve().parent / "programs"

DENIED_OUTPUT = """\
bind outside policy = -1 EACCES
bind wildcard = -1 EACCES
connect outside policy = -1 EACCES
connect v4-mapped outside policy = -1 EACCES
listen unbound = -1 EACCES
sendto outside policy = -1 EACCES
sendmsg outside policy = -1 EACCES
bind short address = -1 EINVAL
unix bind path = 0
unix connect path = -1 ENOENT
unix bind abstract = 0
netlink socket = -1 EAFNOSUPPORT
raw socket = -1 EPERM
packet socket = -1 EAFNOSUPPORT
sendmsg SCM_RIGHTS image file = -1 EOPNOTSUPP
unix SO_PASSCRED = -1 EPERM
unix SO_PASSCRED off = 0
SO_BINDTODEVICE = -1 EPERM
connect on a file = -1 ENOTSOCK
"""
# Abstract Unix names are names of the network namespace, and path names stand in for them:
# allowed only where the sandbox has one of its own (linux-userland), refused elsewhere.
DENIED_OUTPUT_NO_NETNS = DENIED_OUTPUT.replace(
    "unix bind path = 0\nunix connect path = -1 ENOENT\nunix bind abstract = 0\n",
    "unix bind path = -1 EACCES\nunix connect path = -1 EACCES\nunix bind abstract = -1 EACCES\n")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A loopback port nobody is bound to right now (TCP and UDP both free)."""
    while True:
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, other) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


@dataclass(frozen=True)
class NetProbe:
    """A probe built natively and packed, with its three ports (`probe_ports`)."""

    native: Path
    artifact: Path
    tcp: int
    udp: int
    denied: int


def probe_ports() -> tuple[int, int, int]:
    """Three free loopback ports for a probe: one for TCP, one for UDP, and a third that is
    neither (the one no rule will name)."""
    tcp, udp = free_port(), free_port(socket.SOCK_DGRAM)
    denied = free_port()
    while denied in (tcp, udp):
        denied = free_port()
    return tcp, udp, denied


def build_probe(work: Path, name: str = "net") -> Path:
    """Compiles programs/NAME.c (dynamic) into WORK/NAME."""
    out = work / name
    subprocess.run(["cc", "-O1", "-Wall", "-o", str(out), str(PROGRAMS / f"{name}.c")], check=True)
    return out


def write_project(work: Path, program: Path, listen: list[str], connect: list[str]) -> Path:
    """A project directory packing PROGRAM as /app/net with the given network policy."""
    project = work / "project"
    project.mkdir()
    (project / "net").write_bytes(program.read_bytes())
    (project / "net").chmod(0o755)
    network = ""
    if listen or connect:
        q = ", ".join
        network = (f"\n[policy.network]\nlisten = [{q(repr(x) for x in listen)}]\n"
                   f"connect = [{q(repr(x) for x in connect)}]\n").replace("'", '"')
    (project / "litebox.toml").write_text(
        f'[app]\nname = "net"\nentry = "/app/net"\n\n[files]\n"/app/net" = "net"\n{network}',
        encoding="utf-8",
    )
    return project
