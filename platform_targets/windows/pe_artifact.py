"""The windows artifact: the runtime PE32+ with the image and the manifest as two new sections
(``.lbximg``, ``.lbxman``), written deterministically: no time stamp, sections in file order,
the PE checksum set. Our own few lines of PE arithmetic, so nothing guesses at the layout."""
from __future__ import annotations

import struct
from pathlib import Path

from packager.build.artifact import atomic_output
from packager.build.pesections import SECTION_HEADER, parse
from packager.errors import PackError

IMAGE_SECTION = b".lbximg"
MANIFEST_SECTION = b".lbxman"
# IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ
READ_ONLY_DATA = 0x40000040


def _align(v: int, a: int) -> int:
    return (v + a - 1) // a * a


def checksum(data: bytes, field_offset: int) -> int:
    """The PE image checksum (as imagehlp's CheckSumMappedFile computes it): 16-bit one's
    complement style sum of the file with the checksum field taken as zero, plus the length."""
    buf = bytearray(data)
    buf[field_offset:field_offset + 4] = b"\0\0\0\0"
    if len(buf) % 2:
        buf.append(0)
    total = sum(struct.unpack(f"<{len(buf) // 2}H", buf))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (total + len(data)) & 0xFFFFFFFF


def add_sections(runtime: bytes, new: list[tuple[bytes, bytes]]) -> bytes:
    """``runtime`` with each (name, content) appended as a read-only initialized-data section
    after the last one, the headers updated, TimeDateStamp 0 and the checksum recomputed."""
    lay = parse(runtime)
    out = bytearray(runtime)
    if struct.unpack_from("<I", out, lay.pe + 12)[0]:  # PointerToSymbolTable
        raise PackError("runtime: has a COFF symbol table (build it stripped)")
    last = [struct.unpack_from("<IIII", out, lay.table + i * SECTION_HEADER + 8) for i in range(lay.sections)]
    end_va = max(va + _align(vs, lay.section_align) for vs, va, _rs, _ro in last)
    end_raw = max(ro + rs for _vs, _va, rs, ro in last)
    if len(out) != end_raw:
        raise PackError("runtime: has data after its last section; cannot add the image")
    count = lay.sections
    init_data = struct.unpack_from("<I", out, lay.pe + 24 + 8)[0]
    for name, content in new:
        header_at = lay.table + count * SECTION_HEADER
        if header_at + SECTION_HEADER > lay.size_of_headers or any(out[header_at:header_at + SECTION_HEADER]):
            raise PackError("runtime: no room in the PE headers for another section")
        raw_size = _align(max(len(content), 1), lay.file_align)
        raw_off = len(out)
        out += content + b"\0" * (raw_size - len(content))
        struct.pack_into("<8sIIIIIIHHI", out, header_at, name.ljust(8, b"\0"), len(content), end_va,
                         raw_size, raw_off, 0, 0, 0, 0, READ_ONLY_DATA)
        end_va += _align(len(content), lay.section_align)
        init_data += raw_size
        count += 1
    struct.pack_into("<H", out, lay.pe + 6, count)
    struct.pack_into("<I", out, lay.pe + 8, 0)  # TimeDateStamp
    struct.pack_into("<I", out, lay.pe + 24 + 8, init_data & 0xFFFFFFFF)
    struct.pack_into("<I", out, lay.pe + 24 + 56, end_va)  # SizeOfImage
    field = lay.pe + 24 + 64
    struct.pack_into("<I", out, field, checksum(bytes(out), field))
    return bytes(out)


def write_pe_artifact(runtime: Path, image: bytes, manifest: bytes, out: Path) -> None:
    """Writes the artifact at ``out`` atomically (mode 0755)."""
    data = add_sections(runtime.read_bytes(), [(IMAGE_SECTION, image), (MANIFEST_SECTION, manifest)])
    with atomic_output(out, 0o755) as tmp:
        tmp.write_bytes(data)
