"""Constants and record layouts of image format v1 (docs/image-format.md), shared by the
writer and the reader."""
from __future__ import annotations

import struct

MAGIC = b"LITEBOX\0"
VERSION = 1
HEADER_SIZE = 160
HEADER_DIGESTED = 128
ENTRY_SIZE = 48
CHUNK_SIZE_RECORD = 48

# magic, version, header_size, flags, chunk_size, entry_count, chunk_count,
# config off/size, index off/size, strings off/size, chunks off/size, data off/size,
# stream_size, reserved
HEADER = struct.Struct("<8sIIIIII" + "QQ" * 5 + "QQ")
assert HEADER.size == HEADER_DIGESTED
# path_offset, path_len, kind, 3 reserved, mode, uid, gid, mtime, size, data
ENTRY = struct.Struct("<IIB3xIIIqQQ")
assert ENTRY.size == ENTRY_SIZE
# offset, comp_size, raw_size, digest
CHUNK = struct.Struct("<QII32s")
assert CHUNK.size == CHUNK_SIZE_RECORD
TLV = struct.Struct("<HHI")

KIND_DIR, KIND_FILE, KIND_SYMLINK = 1, 2, 3
KIND_CODES = {"dir": KIND_DIR, "file": KIND_FILE, "symlink": KIND_SYMLINK}
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}

TAG_ENTRY = 1
TAG_ARG = 2
TAG_ENV = 3
TAG_ENV_PASS = 4
TAG_ENV_INHERIT = 5
TAG_CWD = 6
TAG_HOSTNAME = 7
TAG_IDS = 8
TAG_NET_LISTEN = 9
TAG_NET_CONNECT = 10
TAG_MOUNT = 11
TAG_LIMIT = 12
TAG_NAMES = {TAG_ENTRY: "ENTRY", TAG_ARG: "ARG", TAG_ENV: "ENV", TAG_ENV_PASS: "ENV_PASS",
             TAG_ENV_INHERIT: "ENV_INHERIT", TAG_CWD: "CWD", TAG_HOSTNAME: "HOSTNAME",
             TAG_IDS: "IDS", TAG_NET_LISTEN: "NET_LISTEN", TAG_NET_CONNECT: "NET_CONNECT",
             TAG_MOUNT: "MOUNT", TAG_LIMIT: "LIMIT"}
SINGLE_TAGS = (TAG_ENTRY, TAG_ENV_INHERIT, TAG_CWD, TAG_HOSTNAME)
POLICY_TAGS = (TAG_IDS, TAG_NET_LISTEN, TAG_NET_CONNECT, TAG_MOUNT, TAG_LIMIT)


def encode_tlv(records: list[tuple[int, bytes]]) -> bytes:
    """The launch config region for ``records`` (tag, value), in the given order."""
    return b"".join(TLV.pack(tag, 0, len(value)) + value for tag, value in records)


def decode_tlv(region: bytes) -> list[tuple[int, bytes]]:
    """Splits a launch config region into (tag, value) records. Raises ValueError when a
    record runs past the region or its reserved field is not zero."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(region):
        if len(region) - pos < TLV.size:
            raise ValueError("launch config record header truncated")
        tag, reserved, length = TLV.unpack_from(region, pos)
        pos += TLV.size
        if reserved != 0 or length > len(region) - pos:
            raise ValueError("launch config record out of bounds")
        out.append((tag, region[pos:pos + length]))
        pos += length
    return out
