"""The windows artifact writer (platform_targets/windows/pe_artifact.py) and the PE section
reader (packager/build/pesections.py) on a crafted PE32+ (no cargo, no Wine)."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest

from packager.build.artifact import IMAGE_SECTION, MANIFEST_SECTION, read_sections
from packager.build.pesections import is_pe, parse, pe_sections
from packager.errors import PackError
from packager.image.rewrite import fastpath_entry
from packager.targets.targets import get

# The plugin's helper module (plugins are loaded by path, not imported as a package).
pe_artifact = sys.modules[type(get("windows").plugin).__module__]._helper("pe_artifact")


PE_AT = 0x80
FILE_ALIGN, SECTION_ALIGN = 0x200, 0x1000


def crafted_pe(time_stamp: int = 0x12345678) -> bytes:
    """A PE32+ x86-64 image with one code section (.text) and one 8-byte section (.lbxfp)."""
    out = bytearray(0x400)
    out[:2] = b"MZ"
    struct.pack_into("<I", out, 0x3C, PE_AT)
    out[PE_AT:PE_AT + 4] = b"PE\0\0"
    opt_size = 240
    struct.pack_into("<HHIIIHH", out, PE_AT + 4, 0x8664, 2, time_stamp, 0, 0, opt_size, 0x22)
    opt = PE_AT + 24
    struct.pack_into("<H", out, opt, 0x20B)
    struct.pack_into("<II", out, opt + 32, SECTION_ALIGN, FILE_ALIGN)
    struct.pack_into("<I", out, opt + 56, 0x3000)  # SizeOfImage
    struct.pack_into("<I", out, opt + 60, 0x400)  # SizeOfHeaders
    table = opt + opt_size
    struct.pack_into("<8sIIIIIIHHI", out, table, b".text", 0x10, 0x1000, FILE_ALIGN, 0x400, 0, 0, 0, 0, 0x60000020)
    struct.pack_into("<8sIIIIIIHHI", out, table + 40, b".lbxfp", 8, 0x2000, FILE_ALIGN, 0x600, 0, 0, 0, 0,
                     0x40000040)
    text = b"\xc3".ljust(FILE_ALIGN, b"\0")
    fastpath = struct.pack("<Q", 0x7E0000001234).ljust(FILE_ALIGN, b"\0")
    return bytes(out) + text + fastpath


def _checksum(data: bytes, field: int) -> int:
    buf = data[:field] + b"\0\0\0\0" + data[field + 4:]
    buf += b"\0" * (len(buf) % 2)
    total = sum(struct.unpack(f"<{len(buf) // 2}H", buf))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (total + len(data)) & 0xFFFFFFFF


def test_sections_are_added_deterministically(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime.exe"
    runtime.write_bytes(crafted_pe())
    out_a, out_b = tmp_path / "a.exe", tmp_path / "b.exe"
    pe_artifact.write_pe_artifact(runtime, b"IMAGE" * 300, b'{"m": 1}', out_a)
    pe_artifact.write_pe_artifact(runtime, b"IMAGE" * 300, b'{"m": 1}', out_b)
    data = out_a.read_bytes()
    assert data == out_b.read_bytes()
    lay = parse(data)
    assert lay.sections == 4
    assert struct.unpack_from("<I", data, PE_AT + 8)[0] == 0  # TimeDateStamp
    field = PE_AT + 24 + 64
    assert struct.unpack_from("<I", data, field)[0] == _checksum(data, field)
    # SizeOfImage covers the last section, rounded to the section alignment.
    assert struct.unpack_from("<I", data, PE_AT + 24 + 56)[0] == 0x5000
    got = read_sections(data)
    assert got == {IMAGE_SECTION: b"IMAGE" * 300, MANIFEST_SECTION: b'{"m": 1}'}
    assert fastpath_entry(data, ".litebox.fastpath") == 0x7E0000001234


def test_reader_refuses_what_is_not_a_pe32plus() -> None:
    assert not is_pe(b"\x7fELF" + bytes(100))
    with pytest.raises(PackError, match="not a PE executable"):
        parse(b"MZ" + bytes(10))
    bad = bytearray(crafted_pe())
    struct.pack_into("<H", bad, PE_AT + 4, 0x14C)  # i386
    with pytest.raises(PackError, match="not a PE32\\+ x86-64"):
        parse(bytes(bad))
    truncated = crafted_pe()[:0x500]
    with pytest.raises(PackError, match="runs past the end"):
        pe_sections(truncated, (".litebox.fastpath",))


def test_writer_refuses_a_runtime_with_trailing_data(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime.exe"
    runtime.write_bytes(crafted_pe() + b"overlay")
    with pytest.raises(PackError, match="data after its last section"):
        pe_artifact.write_pe_artifact(runtime, b"i", b"m", tmp_path / "out.exe")
    assert not (tmp_path / "out.exe").exists()
