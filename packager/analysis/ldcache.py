"""A minimal /etc/ld.so.cache in glibc's "glibc-ld.so.cache1.1" format for the packed libraries.

Layout (glibc sysdeps/generic/dl-cache.h, new format only):
header (48 bytes): magic "glibc-ld.so.cache" + version "1.1", nlibs u32, len_strings u32,
flags u8 (2 = little endian), 3 padding, extension_offset u32 (0: none), 3 unused u32;
then nlibs entries of 24 bytes: flags i32, key u32, value u32, osversion u32, hwcap u64;
then the string table. String offsets are relative to the start of the file. Entries are
sorted in descending ``_dl_cache_libcmp`` order, because ld.so binary-searches them that way.
"""
from __future__ import annotations

import functools
import struct

MAGIC = b"glibc-ld.so.cache1.1"
FLAG_ELF_LIBC6 = 0x0003
FLAG_X8664_LIB64 = 0x0300
FLAGS_ENDIAN_LITTLE = 2
HEADER = struct.Struct("<20sIIB3xI12x")
ENTRY = struct.Struct("<iIIIQ")


def dl_cache_libcmp(a: str, b: str) -> int:
    """glibc's ``_dl_cache_libcmp``: like strcmp, but runs of digits compare as numbers."""
    p1, p2 = a.encode() + b"\0", b.encode() + b"\0"
    i = j = 0
    while p1[i] != 0:
        c1, c2 = p1[i], p2[j]
        if 48 <= c1 <= 57:
            if 48 <= c2 <= 57:
                v1 = v2 = 0
                while 48 <= p1[i] <= 57:
                    v1 = v1 * 10 + p1[i] - 48
                    i += 1
                while 48 <= p2[j] <= 57:
                    v2 = v2 * 10 + p2[j] - 48
                    j += 1
                if v1 != v2:
                    return v1 - v2
            else:
                return 1
        elif 48 <= c2 <= 57:
            return -1
        elif c1 != c2:
            return c1 - c2
        else:
            i += 1
            j += 1
    return p1[i] - p2[j]


def build_ld_cache(entries: dict[str, str]) -> bytes:
    """The bytes of an ld.so.cache mapping each library name (what DT_NEEDED says) to its
    absolute image path. Deterministic: the same mapping gives the same bytes."""
    names = sorted(entries, key=functools.cmp_to_key(lambda x, y: -dl_cache_libcmp(x, y)))
    table_start = HEADER.size + ENTRY.size * len(names)
    strings = bytearray()
    records = bytearray()
    offsets: dict[str, int] = {}

    def intern(s: str) -> int:
        if s not in offsets:
            offsets[s] = table_start + len(strings)
            strings.extend(s.encode() + b"\0")
        return offsets[s]

    for name in names:
        key = intern(name)
        value = intern(entries[name])
        records += ENTRY.pack(FLAG_ELF_LIBC6 | FLAG_X8664_LIB64, key, value, 0, 0)
    header = HEADER.pack(MAGIC, len(names), len(strings), FLAGS_ENDIAN_LITTLE, 0)
    return header + bytes(records) + bytes(strings)
