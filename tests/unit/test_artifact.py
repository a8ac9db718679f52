from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from packager.build.artifact import (
    IMAGE_SECTION,
    MANIFEST_SECTION,
    _layout,
    add_sections,
    atomic_output,
    check_artifact,
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
