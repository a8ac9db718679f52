from __future__ import annotations

import struct
from pathlib import Path
from typing import Callable

import pytest

from packager.analysis.elfinfo import read_elf
from packager.errors import PackError


def elf_header(elf_class: int = 2, machine: int = 62, e_type: int = 2) -> bytes:
    """A minimal ELF header with no program or section headers."""
    ident = b"\x7fELF" + bytes([elf_class, 1, 1, 0]) + bytes(8)
    if elf_class == 2:
        return ident + struct.pack("<HHIQQQIHHHHHH", e_type, machine, 1, 0x401000, 0, 0, 0, 64, 56, 0, 64, 0, 0)
    return ident + struct.pack("<HHIIIIIHHHHHH", e_type, machine, 1, 0x8048000, 0, 0, 0, 52, 32, 0, 40, 0, 0)


def test_not_elf(tmp_path: Path) -> None:
    p = tmp_path / "script.sh"
    p.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(PackError, match=r"script.sh: not an ELF file$"):
        read_elf(p)


def test_aarch64_refused(tmp_path: Path) -> None:
    p = tmp_path / "arm"
    p.write_bytes(elf_header(machine=183))
    with pytest.raises(PackError, match=r"arm: ELF for machine 183 \(AArch64\), not x86-64"):
        read_elf(p)


def test_32bit_refused(tmp_path: Path) -> None:
    p = tmp_path / "i386"
    p.write_bytes(elf_header(elf_class=1, machine=3))
    with pytest.raises(PackError, match=r"i386: 32-bit \(ELFCLASS32\) ELF; only 64-bit x86-64"):
        read_elf(p)


def test_truncated_header(tmp_path: Path) -> None:
    p = tmp_path / "short"
    p.write_bytes(elf_header()[:30])
    with pytest.raises(PackError, match=r"short: truncated ELF file \(30 bytes"):
        read_elf(p)


def test_truncated_program(tmp_path: Path) -> None:
    data = Path("/bin/true").read_bytes()
    p = tmp_path / "true"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(PackError, match=r"true: truncated ELF file"):
        read_elf(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="nope: no such file"):
        read_elf(tmp_path / "nope")


def test_dynamic_program() -> None:
    info = read_elf(Path("/bin/ls"))
    assert info.kind == "dynamic"
    assert info.machine == "x86-64" and info.elfclass == 64
    assert info.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert "libc.so.6" in info.needed


def test_library_has_soname() -> None:
    info = read_elf(Path("/lib64/ld-linux-x86-64.so.2"))
    assert info.soname == "ld-linux-x86-64.so.2"
    assert info.needed == ()


def test_static_and_static_pie(tmp_path: Path, cc: Callable[..., Path]) -> None:
    src = "int main(void) { return 0; }\n"
    assert read_elf(cc(tmp_path / "s", src, "-static")).kind == "static"
    spie = read_elf(cc(tmp_path / "sp", src, "-static-pie"))
    assert spie.kind == "static-pie" and spie.interpreter is None


def test_runpath_and_rpath(tmp_path: Path, cc: Callable[..., Path]) -> None:
    src = "int main(void) { return 0; }\n"
    rp = read_elf(cc(tmp_path / "rp", src, "-Wl,-rpath,$ORIGIN/lib:/opt/x", "-Wl,--enable-new-dtags"))
    assert rp.runpath == ("$ORIGIN/lib", "/opt/x") and rp.rpath == ()
    old = read_elf(cc(tmp_path / "old", src, "-Wl,-rpath,/opt/y", "-Wl,--disable-new-dtags"))
    assert old.rpath == ("/opt/y",) and old.runpath == ()


def test_directory_refused(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="is a directory"):
        read_elf(tmp_path)
