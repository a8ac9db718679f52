"""The linux-userland runtime is a static, self-relocating PIE (runtime/build.rs, `_start` in
runtime/src/main.rs): no interpreter, linked at 0, every dynamic relocation R_X86_64_RELATIVE
(the only kind `_start` applies; anything else would stop it with ud2), no text relocation,
no writable and executable segment, the start-up order script still applied, and the
fast-path section a GS slot rather than an address."""
from __future__ import annotations

import io
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from packager.image import rewrite as rw
from packager.targets.cargobuild import cargo_env

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "target/release/litebox-runtime-linux-userland"
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
PF_X, PF_W = 1, 2
# Dynamic tags `_start` reads or may ignore; any other is refused here.
HARMLESS_TAGS = {"DT_NULL", "DT_RELA", "DT_RELASZ", "DT_RELAENT", "DT_RELACOUNT", "DT_FLAGS", "DT_FLAGS_1",
                 "DT_DEBUG", "DT_SYMTAB", "DT_SYMENT", "DT_STRTAB", "DT_STRSZ", "DT_GNU_HASH", "DT_HASH"}


@pytest.fixture(scope="module")
def runtime() -> bytes:
    """The runtime as the packer builds it (a no-op when it is current)."""
    if shutil.which("cargo") is None:
        pytest.skip("cargo not installed")
    subprocess.run(["cargo", "build", "--locked", "--release", "-p", "litebox-runtime-linux-userland"],
                   cwd=REPO, env=cargo_env(REPO), check=True, timeout=3600)
    return RUNTIME.read_bytes()


def _phdrs(data: bytes) -> list[tuple[int, ...]]:
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return [struct.unpack_from("<IIQQQQQQ", data, phoff + k * phentsize) for k in range(phnum)]


def test_runtime_is_a_static_pie_linked_at_zero(runtime: bytes) -> None:
    e_type, = struct.unpack_from("<H", runtime, 0x10)
    assert e_type == 3, "ET_DYN (a PIE)"
    phdrs = _phdrs(runtime)
    assert not [p for p in phdrs if p[0] == PT_INTERP], "no interpreter: the runtime relocates itself"
    loads = [p for p in phdrs if p[0] == PT_LOAD]
    # _start takes the ELF header's address as the load base: the header is at vaddr 0.
    assert min(p[3] for p in loads) == 0 and loads[0][2] == 0
    assert not [p for p in loads if p[1] & PF_W and p[1] & PF_X], "no writable and executable segment"
    assert [p for p in phdrs if p[0] == PT_DYNAMIC]


def test_every_dynamic_relocation_is_relative(runtime: bytes) -> None:
    elf = ELFFile(io.BytesIO(runtime))
    dyn = elf.get_section_by_name(".dynamic")
    assert dyn is not None
    tags = {t.entry.d_tag for t in dyn.iter_tags()}
    assert tags <= HARMLESS_TAGS, f"dynamic tags _start does not handle: {sorted(tags - HARMLESS_TAGS)}"
    assert "DT_TEXTREL" not in tags and "DT_JMPREL" not in tags
    relas = [s for s in elf.iter_sections() if s["sh_type"] in ("SHT_RELA", "SHT_REL", "SHT_RELR")]
    assert [s.name for s in relas] == [".rela.dyn"]
    kinds = {r["r_info_type"] for r in relas[0].iter_relocations()}
    assert kinds == {8}, f"relocation types other than R_X86_64_RELATIVE: {kinds}"
    assert relas[0].num_relocations() > 0


def test_the_startup_order_script_is_applied(runtime: bytes) -> None:
    # startup-order.ld puts the start-up functions in their own output section, first.
    names = [s.name for s in ELFFile(io.BytesIO(runtime)).iter_sections()]
    assert ".text.startup_order" in names


def test_the_fastpath_section_is_a_gs_slot(runtime: bytes) -> None:
    # The trampolines call through FastData.entry (gs:[0x28]): nothing the packer writes into
    # the app's files names the runtime's address.
    assert rw.fastpath_entry(runtime) == rw.GS_SLOT | 0x28
