"""Outgoing TCP under [policy.network].connect (tests/e2e/programs/tcpclient.c): a client that
talks to a server of this test on 127.0.0.1 (300 kB each way, half-close, EOF), meets a closed
port (blocking and non-blocking connect: ECONNREFUSED), a port outside its policy (EACCES), and
0.0.0.0 at the open port, which reaches 127.0.0.1 under a rule naming only 127.0.0.1.

Native and packed for every target (the `target` fixture) must print the same bytes. Under kvm the
VM reaches the host's loopback through QEMU's user network: 127.0.0.1 in the VM stands for it
(docs/targets/kvm.md, "Network"), so the peer the client sees is 127.0.0.1 there too.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litebox_e2e import describe, pack_for, run_on, run_program
from netprobe import build_probe, free_port, write_project


@dataclass(frozen=True)
class Ports:
    open: int
    closed: int
    denied: int

    def args(self) -> list[str]:
        return [str(self.open), str(self.closed), str(self.denied)]


def serve(listener: socket.socket) -> None:
    """Per connection: reads to EOF, answers with the byte count and sum, closes."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            total = count = 0
            while data := conn.recv(65536):
                count += len(data)
                total += sum(data)
            conn.sendall(f"got {count} bytes sum {total}\n".encode())


@pytest.fixture(scope="module")
def ports() -> Iterator[Ports]:
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=serve, args=(listener,), daemon=True)
    thread.start()
    taken = {listener.getsockname()[1]}
    closed = free_port()
    while closed in taken:
        closed = free_port()
    taken.add(closed)
    denied = free_port()
    while denied in taken:
        denied = free_port()
    yield Ports(listener.getsockname()[1], closed, denied)
    listener.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, ports: Ports) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("tcp-client")
    native = build_probe(work, "tcpclient")
    rules = [f"127.0.0.1:{ports.open}", f"127.0.0.1:{ports.closed}"]
    return native, write_project(work, native, [], rules)


def expected(ports: Ports) -> bytes:
    pattern_sum = sum((i * 7) & 0xFF for i in range(300000))
    return (
        "getpeername before connect = -1 ENOTCONN\n"
        "connect open = 0\n"
        "TCP_NODELAY = 0\n"
        "peer 127.0.0.1 same port 1\n"
        f"reply: got 300000 bytes sum {pattern_sum}\n"
        "recv after EOF = 0\n"
        "connect closed = -1 ECONNREFUSED\n"
        "nonblocking connect closed -> ECONNREFUSED\n"
        "connect denied = -1 EACCES\n"
        "poll = 1 POLLOUT 1\n"
        "nonblocking connect open -> 0\n"
        f"reply: got 10 bytes sum {sum((i * 7) & 0xFF for i in range(10))}\n"
        "recv after EOF = 0\n"
        "connect 0.0.0.0 open = 0 0\n"
        "peer 127.0.0.1\n"
        f"reply: got 5 bytes sum {sum((i * 7) & 0xFF for i in range(5))}\n"
        "recv after EOF = 0\n"
    ).encode()


def test_native_prints_the_expected_lines(project: tuple[Path, Path], ports: Ports) -> None:
    # The reference itself, without the denied step (natively every port is allowed).
    native = run_program([project[0], *ports.args()])
    assert native.returncode == 0, describe(native)
    want = expected(ports).replace(b"connect denied = -1 EACCES", b"connect denied = -1 ECONNREFUSED")
    assert native.stdout == want


@pytest.mark.needs("sockets")
def test_packed_matches(target: Any, project: tuple[Path, Path], ports: Ports, tmp_path: Path) -> None:
    art = pack_for(target, project[1], tmp_path / "dist")
    packed = run_on(target, art, ports.args())
    assert packed.returncode == 0, describe(packed)
    assert packed.stdout == expected(ports)
