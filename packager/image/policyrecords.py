"""The policy's launch records (docs/image-format.md, tags 8-12): encode a PolicyConfig, and
decode the records back (for ``litebox inspect``, the manifest and the tests)."""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from packager.config.policy import LIMIT_KINDS, MountRule, PolicyConfig, SockRule
from packager.image.imageformat import TAG_IDS, TAG_LIMIT, TAG_MOUNT, TAG_NET_CONNECT, TAG_NET_LISTEN

IDS = struct.Struct("<II")
SOCK_HEAD = struct.Struct("!BBH")  # family, reserved, port (network byte order)
MOUNT_HEAD = struct.Struct("<B3xI")  # mode, reserved[3], host_len
LIMIT = struct.Struct("<IIQ")  # kind, reserved, value
MODE_CODES = {"ro": 0, "rw": 1}
MODE_NAMES = {v: k for k, v in MODE_CODES.items()}
ADDR_LEN = {4: 4, 6: 16}


def _b(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def encode_sockaddr(rule: SockRule) -> bytes:
    """A NET_LISTEN / NET_CONNECT value: family, 0, port (big-endian), address bytes."""
    return SOCK_HEAD.pack(rule.family, 0, rule.port) + rule.address


def encode_mount(m: MountRule) -> bytes:
    """A MOUNT value: mode (0 ro, 1 rw), three zero bytes, host_len (LE), host, guest."""
    host = _b(m.host)
    return MOUNT_HEAD.pack(MODE_CODES[m.mode], len(host)) + host + _b(m.guest)


def encode_limit(kind: str, value: int) -> bytes:
    """A LIMIT value: kind (1 memory, 2 open_files, 3 threads, 4 processes), 0, value."""
    return LIMIT.pack(LIMIT_KINDS.index(kind) + 1, 0, value)


def policy_records(policy: PolicyConfig) -> list[tuple[int, bytes]]:
    """The records 8-12 for ``policy``, in a fixed order: IDS (when set), NET_LISTEN and
    NET_CONNECT in config order, MOUNT in config order, LIMIT by kind. The default policy
    gives no record (default deny)."""
    out: list[tuple[int, bytes]] = []
    if policy.uid is not None and policy.gid is not None:
        out.append((TAG_IDS, IDS.pack(policy.uid, policy.gid)))
    out += [(TAG_NET_LISTEN, encode_sockaddr(r)) for r in policy.listen]
    out += [(TAG_NET_CONNECT, encode_sockaddr(r)) for r in policy.connect]
    out += [(TAG_MOUNT, encode_mount(m)) for m in policy.mounts]
    limits = dict(policy.limits)
    out += [(TAG_LIMIT, encode_limit(k, limits[k])) for k in LIMIT_KINDS if k in limits]
    return out


@dataclass
class DecodedPolicy:
    """Records 8-12 read back: ids, network rules, mounts, limits (by kind name)."""

    ids: tuple[int, int] | None = None
    listen: list[SockRule] = field(default_factory=list)
    connect: list[SockRule] = field(default_factory=list)
    mounts: list[MountRule] = field(default_factory=list)
    limits: dict[str, int] = field(default_factory=dict)

    def add(self, tag: int, value: bytes) -> None:
        """Decodes one record into this policy. Raises ValueError for a malformed value, a
        repeated IDS or LIMIT kind, or a tag that is not a policy record."""
        if tag == TAG_IDS:
            if self.ids is not None or len(value) != IDS.size:
                raise ValueError("IDS is repeated or not 8 bytes")
            uid, gid = IDS.unpack(value)
            self.ids = (uid, gid)
        elif tag in (TAG_NET_LISTEN, TAG_NET_CONNECT):
            (self.listen if tag == TAG_NET_LISTEN else self.connect).append(decode_sockaddr(value))
        elif tag == TAG_MOUNT:
            self.mounts.append(decode_mount(value))
        elif tag == TAG_LIMIT:
            if len(value) != LIMIT.size:
                raise ValueError("LIMIT is not 16 bytes")
            kind, reserved, n = LIMIT.unpack(value)
            if reserved != 0 or not 1 <= kind <= len(LIMIT_KINDS):
                raise ValueError(f"LIMIT has an unknown kind {kind} or a non-zero reserved field")
            name = LIMIT_KINDS[kind - 1]
            if name in self.limits:
                raise ValueError(f"LIMIT kind {kind} ({name}) is repeated")
            self.limits[name] = n
        else:
            raise ValueError(f"tag {tag} is not a policy record")


def decode_sockaddr(value: bytes) -> SockRule:
    """The SockRule a NET_LISTEN / NET_CONNECT value holds (ValueError if malformed)."""
    if len(value) < SOCK_HEAD.size:
        raise ValueError("socket address record too short")
    family, reserved, port = SOCK_HEAD.unpack_from(value)
    if family not in ADDR_LEN or reserved != 0 or len(value) != SOCK_HEAD.size + ADDR_LEN[family]:
        raise ValueError("malformed socket address record")
    return SockRule(family, bytes(value[SOCK_HEAD.size:]), port)


def decode_mount(value: bytes) -> MountRule:
    """The MountRule a MOUNT value holds (ValueError if malformed)."""
    if len(value) < MOUNT_HEAD.size or value[1:4] != b"\0\0\0":
        raise ValueError("malformed MOUNT record")
    mode, host_len = MOUNT_HEAD.unpack_from(value)
    rest = value[MOUNT_HEAD.size:]
    if mode not in MODE_NAMES or host_len == 0 or host_len > len(rest):
        raise ValueError("malformed MOUNT record")
    host, guest = rest[:host_len], rest[host_len:]
    if not guest.startswith(b"/") or b"\0" in host or b"\0" in guest:
        raise ValueError("malformed MOUNT record")
    decode = "utf-8", "surrogateescape"
    return MountRule(host.decode(*decode), guest.decode(*decode), MODE_NAMES[mode])


def decoded_policy_json(p: DecodedPolicy) -> dict[str, object]:
    """Records 8-12 as plain JSON: ids (or None), listen, connect, mounts, limits."""
    return {
        "ids": None if p.ids is None else {"uid": p.ids[0], "gid": p.ids[1]},
        "listen": [r.text() for r in p.listen],
        "connect": [r.text() for r in p.connect],
        "mounts": [{"host": m.host, "guest": m.guest, "mode": m.mode} for m in p.mounts],
        "limits": {k: p.limits[k] for k in LIMIT_KINDS if k in p.limits},
    }
