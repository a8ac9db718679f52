"""A small Python client of the optee TA host's socket (docs/targets/optee.md, "Wire protocol"),
for tests and scripts: open a session, invoke commands with value and memref parameters,
close it. Results are GP codes; nothing here raises for a TEE error.

    with TeeClient("/tmp/hello.sock") as c:
        r = c.open_session("8aaaf200-2450-11e4-abe2-0002a5d5c51b")
        r = c.invoke(r.session, 0, [Value("inout", 41)])
        assert r.params[0].a == 42
"""
from __future__ import annotations

import socket
import struct
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Optional, Union

OP_OPEN, OP_INVOKE, OP_CLOSE = 1, 2, 3
VALUE_TYPES = {"input": 1, "output": 2, "inout": 3}
MEMREF_TYPES = {"input": 5, "output": 6, "inout": 7}
TEE_SUCCESS = 0
TEE_ERROR_BAD_FORMAT = 0xFFFF0005
TEE_ERROR_BAD_PARAMETERS = 0xFFFF0006
TEE_ERROR_ITEM_NOT_FOUND = 0xFFFF0008
TEE_ERROR_SHORT_BUFFER = 0xFFFF0010
TEE_ERROR_TARGET_DEAD = 0xFFFF3024
TEE_ERROR_CORRUPT_OBJECT = 0xF0100001


@dataclass
class Value:
    """A value parameter: direction "input", "output" or "inout", and a, b (u32)."""

    direction: str
    a: int = 0
    b: int = 0


@dataclass
class Memref:
    """A memref parameter: direction, the bytes sent (input/inout) and the buffer size
    (output/inout; default: len(data)). After a call ``data`` holds what the TA returned and
    ``size`` the size it reported."""

    direction: str
    data: bytes = b""
    size: Optional[int] = None


Param = Union[Value, Memref]


@dataclass
class Reply:
    """The result, its origin, the session id and the parameters as the TA left them."""

    result: int
    origin: int
    session: int
    params: list = field(default_factory=list)


def _encode_params(params: list) -> bytes:
    if len(params) > 4:
        raise ValueError("at most four parameters")
    types, body = 0, b""
    for i, p in enumerate(params):
        if p is None:
            continue
        if isinstance(p, Value):
            types |= VALUE_TYPES[p.direction] << (4 * i)
            body += struct.pack("<II", p.a & 0xFFFFFFFF, p.b & 0xFFFFFFFF)
        else:
            types |= MEMREF_TYPES[p.direction] << (4 * i)
            size = len(p.data) if p.size is None else p.size
            data = b"" if p.direction == "output" else p.data
            body += struct.pack("<QI", size, len(data)) + data
    return struct.pack("<I", types) + body


class TeeClient:
    """One connection to a TA host; sessions it opens close when it disconnects."""

    def __init__(self, path: str, timeout: float = 60.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))

    def __enter__(self) -> TeeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Disconnects (the TA host closes this connection's sessions)."""
        self.sock.close()

    def _recv(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("the TA host closed the connection")
            out += chunk
        return out

    def raw(self, body: bytes) -> Reply:
        """Sends ``body`` as one message (framed) and decodes the reply."""
        self.sock.sendall(struct.pack("<I", len(body)) + body)
        return self.read_reply()

    def read_reply(self) -> Reply:
        """Reads one reply message."""
        (n,) = struct.unpack("<I", self._recv(4))
        msg = self._recv(n)
        result, origin, session, types = struct.unpack_from("<IIII", msg)
        at, params = 16, []
        for i in range(4):
            t = (types >> (4 * i)) & 0xF
            if t == 0:
                params.append(None)
            elif t >= 5:
                size, dl = struct.unpack_from("<QI", msg, at)
                at += 12
                params.append(Memref({5: "input", 6: "output", 7: "inout"}[t], msg[at:at + dl], size))
                at += dl
            else:
                a, b = struct.unpack_from("<II", msg, at)
                at += 8
                params.append(Value({1: "input", 2: "output", 3: "inout"}[t], a, b))
        return Reply(result, origin, session, params)

    def open_session(self, ta_uuid: str, params: list | None = None, login: int = 0) -> Reply:
        """Opens a session on TA ``ta_uuid``; ``Reply.session`` is its id on success."""
        body = struct.pack("<I", OP_OPEN) + uuidlib.UUID(ta_uuid).bytes + struct.pack("<I", login)
        return self.raw(body + _encode_params(params or []))

    def invoke(self, session: int, cmd: int, params: list | None = None) -> Reply:
        """Runs command ``cmd`` in ``session``."""
        return self.raw(struct.pack("<III", OP_INVOKE, session, cmd) + _encode_params(params or []))

    def close_session(self, session: int) -> Reply:
        """Closes ``session``."""
        return self.raw(struct.pack("<II", OP_CLOSE, session))
