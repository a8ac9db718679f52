"""Constants and record layouts of image format v3 (docs/image-format.md), shared by the
writer and the reader."""
from __future__ import annotations

import hashlib
import struct

MAGIC = b"LITEBOX\0"
VERSION = 3
HEADER_SIZE = 160
HEADER_DIGESTED = 128
ENTRY_SIZE = 48
CHUNK_SIZE_RECORD = 56
TABLE_PAGE = 4096  # the table area is checked in pages of this size, each with its own SHA-256

# magic, version, header_size, flags, chunk_size, entry_count, chunk_count,
# config off/size, index off/size, strings off/size, chunks off/size, data off/size,
# stream_size, reserved
HEADER = struct.Struct("<8sIIIIII" + "QQ" * 5 + "QQ")
assert HEADER.size == HEADER_DIGESTED
# path_offset, path_len, kind, 3 reserved, mode, uid, gid, mtime, size, data
ENTRY = struct.Struct("<IIB3xIIIqQQ")
assert ENTRY.size == ENTRY_SIZE
# offset, comp_size, raw_size, sha256, xxh3 (XXH3-64 of the stored bytes: what runtimes check)
CHUNK = struct.Struct("<QII32sQ")
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


def page_digests(tables: bytes) -> bytes:
    """The page digest table of a table area (entry table + string table + chunk table): the
    SHA-256 of each TABLE_PAGE bytes, the last page shorter."""
    return b"".join(hashlib.sha256(tables[i:i + TABLE_PAGE]).digest() for i in range(0, len(tables), TABLE_PAGE))


def root_digest(header: bytes, config: bytes, pages: bytes) -> bytes:
    """The root digest: SHA-256(header[0:128] || launch config || page digest table)."""
    return hashlib.sha256(header[:128] + config + pages).digest()


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
