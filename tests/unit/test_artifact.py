from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from packager.build.artifact import (
    IMAGE_SECTION,
    MANIFEST_SECTION,
    _layout,
    add_sections,
    atomic_output,
    check_artifact,
    elf64_sections,
    read_embedded_manifest,
    read_sections,
    write_elf_artifact,
)
from packager.errors import PackError


def test_sections_added_and_program_unchanged(tmp_path: Path, static_hello: Path) -> None:
    image, manifest = bytes(range(256)) * 40, b'{"schema_version":1}'
    out = tmp_path / "art"
    write_elf_artifact(static_hello, image, manifest, out)
    data = out.read_bytes()
    assert read_sections(data) == {IMAGE_SECTION: image, MANIFEST_SECTION: manifest}
    assert _layout(data) == _layout(static_hello.read_bytes())
    assert out.stat().st_mode & 0o777 == 0o755
    run = subprocess.run([str(out), "x"], capture_output=True, text=True)
    assert (run.returncode, run.stdout) == (3, "hello 2\n")
    assert [p.name for p in tmp_path.iterdir()] == ["art"]


def test_the_section_table_read_with_struct_matches_pyelftools(tmp_path: Path, static_hello: Path) -> None:
    from elftools.elf.elffile import ELFFile

    out = tmp_path / "art"
    write_elf_artifact(static_hello, b"img" * 999, b'{"target": "x"}', out)
    data = out.read_bytes()
    table = elf64_sections(data)
    assert table is not None
    elf = ELFFile(io.BytesIO(data))
    assert [(name, flags, off, size) for name, _, flags, off, size in table] == [
        (s.name, s["sh_flags"], s["sh_offset"], s["sh_size"]) for s in elf.iter_sections()]
    kinds = {name: kind for name, kind, *_ in table}
    assert (kinds[IMAGE_SECTION], kinds[MANIFEST_SECTION], kinds[".text"]) == (1, 1, 1)  # SHT_PROGBITS
    assert read_embedded_manifest(out) == {"target": "x"}
    # A section table past the end of the file, or a 32-bit ELF: left to pyelftools.
    assert elf64_sections(data[:elf["e_shoff"] + 100]) is None
    with pytest.raises(PackError, match="not a readable ELF file"):
        read_sections(data[:elf["e_shoff"] + 100])
    assert elf64_sections(data[:4] + b"\x01" + data[5:]) is None
    # The image section made allocated: refused as before.
    i = [name for name, *_ in table].index(IMAGE_SECTION)
    flagged = bytearray(data)
    struct.pack_into("<Q", flagged, elf["e_shoff"] + 64 * i + 8, 2)
    with pytest.raises(PackError, match="not a non-allocated SHT_PROGBITS section"):
        read_sections(bytes(flagged))


def test_reading_a_manifest_imports_neither_pyelftools_nor_cryptography(tmp_path: Path, static_hello: Path) -> None:
    """`litebox run` reads the manifest of the artifact it starts: ~50 ms of imports it does not need."""
    out = tmp_path / "art"
    write_elf_artifact(static_hello, b"img", b'{"target": "y"}', out)
    code = ("import sys; from pathlib import Path; from packager.build.artifact import read_embedded_manifest as r; "
            f"assert r(Path({str(out)!r})) == {{'target': 'y'}}; "
            "print(sorted(m for m in ('elftools', 'cryptography') if m in sys.modules))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert (run.returncode, run.stdout) == (0, "[]\n"), run.stderr


def test_deterministic(static_hello: Path) -> None:
    runtime = static_hello.read_bytes()
    sections = {IMAGE_SECTION: b"img" * 1000, MANIFEST_SECTION: b"{}"}
    assert add_sections(runtime, sections) == add_sections(runtime, sections)


def test_silent_lief_failure_is_caught(static_hello: Path) -> None:
    runtime = static_hello.read_bytes()
    with pytest.raises(PackError, match="LIEF did not add section .litebox.image"):
        check_artifact(runtime, _layout(runtime), {IMAGE_SECTION: b"x"})


def test_changed_code_is_caught(static_hello: Path) -> None:
    runtime = static_hello.read_bytes()
    sections = {IMAGE_SECTION: b"x" * 100, MANIFEST_SECTION: b"{}"}
    good = add_sections(runtime, sections)
    text_off = next(load[0][0] for load in _layout(runtime).loads if load[0][5] & 1)
    bad = bytearray(good)
    bad[text_off + 16] ^= 0xFF
    with pytest.raises(PackError, match="changed the runtime's PT_LOAD segments"):
        check_artifact(bytes(bad), _layout(runtime), sections)


def test_section_already_present(static_hello: Path) -> None:
    once = add_sections(static_hello.read_bytes(), {IMAGE_SECTION: b"a"})
    with pytest.raises(PackError, match="already has a .litebox.image section"):
        add_sections(once, {IMAGE_SECTION: b"b"})


def test_atomic_output_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out" / "artifact"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert list((tmp_path / "out").iterdir()) == []


def test_not_elf_runtime(tmp_path: Path) -> None:
    bogus = tmp_path / "rt"
    bogus.write_bytes(b"#!/bin/sh\n")
    with pytest.raises(PackError, match="the runtime is not an ELF file"):
        write_elf_artifact(bogus, b"", b"", tmp_path / "out")
    assert not (tmp_path / "out").exists()
