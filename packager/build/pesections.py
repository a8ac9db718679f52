"""Reading a PE32+ executable's sections (artifacts of targets whose runtime is a Windows
executable). PE section names have 8 bytes, so the artifact sections ``.litebox.image`` and
``.litebox.manifest`` are stored as ``.lbximg`` and ``.lbxman``; the fast-path entry as ``.lbxfp``."""
from __future__ import annotations

import struct
from dataclasses import dataclass

from packager.errors import PackError

# The artifact section names (ELF spelling) and their PE spelling.
PE_NAMES = {".litebox.image": ".lbximg", ".litebox.manifest": ".lbxman", ".litebox.fastpath": ".lbxfp"}
SECTION_HEADER = 40


@dataclass(frozen=True)
class PeLayout:
    """Where a PE32+ file keeps its headers and section table."""

    pe: int  # offset of "PE\0\0"
    sections: int  # NumberOfSections
    table: int  # offset of the section table
    file_align: int
    section_align: int
    size_of_headers: int


def is_pe(data: bytes) -> bool:
    """True when ``data`` starts like a PE file (MZ header pointing at a PE signature)."""
    if len(data) < 0x40 or data[:2] != b"MZ":
        return False
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    return data[pe:pe + 4] == b"PE\0\0"


def parse(data: bytes, what: str = "runtime") -> PeLayout:
    """The layout of a PE32+ x86-64 executable, or a PackError naming ``what``."""
    if not is_pe(data):
        raise PackError(f"{what}: not a PE executable")
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    if pe + 24 + 64 > len(data):
        raise PackError(f"{what}: truncated PE headers")
    machine, sections = struct.unpack_from("<HH", data, pe + 4)
    opt_size = struct.unpack_from("<H", data, pe + 20)[0]
    if machine != 0x8664 or struct.unpack_from("<H", data, pe + 24)[0] != 0x20B:
        raise PackError(f"{what}: not a PE32+ x86-64 executable")
    section_align, file_align = struct.unpack_from("<II", data, pe + 24 + 32)
    size_of_headers = struct.unpack_from("<I", data, pe + 24 + 60)[0]
    table = pe + 24 + opt_size
    if table + sections * SECTION_HEADER > len(data):
        raise PackError(f"{what}: the section table runs past the end of the file")
    return PeLayout(pe, sections, table, file_align, section_align, size_of_headers)


def pe_sections(data: bytes, names: tuple[str, ...]) -> dict[str, bytes]:
    """The contents of the named sections (ELF spelling, mapped through PE_NAMES, or a PE name
    of 8 bytes at most), keyed by the names asked for. PackError when one runs past the file."""
    lay = parse(data, "artifact")
    want = {PE_NAMES.get(n, n).encode().ljust(8, b"\0"): n for n in names}
    out: dict[str, bytes] = {}
    for i in range(lay.sections):
        s = lay.table + i * SECTION_HEADER
        name = data[s:s + 8]
        if name in want:
            vsize, _va, raw_size, raw_off = struct.unpack_from("<IIII", data, s + 8)
            if raw_off + min(vsize, raw_size) > len(data):
                raise PackError(f"section {want[name]} runs past the end of the file")
            out[want[name]] = data[raw_off:raw_off + min(vsize, raw_size)]
    return out
