"""Artifact assembly for ELF targets: the runtime executable plus two non-allocated
SHT_PROGBITS sections (``.litebox.image``, ``.litebox.manifest``), added with LIEF and then
checked independently with pyelftools, written atomically."""
from __future__ import annotations

import hashlib
import io
import os
import struct
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from packager.errors import PackError

IMAGE_SECTION = ".litebox.image"
MANIFEST_SECTION = ".litebox.manifest"
SHF_ALLOC = 0x2
TRAILER_MAGIC = b"LBXSECT1"
# ELF header fields that adding sections must change (e_shoff, e_shnum + e_shstrndx); the
# loader never reads them, so they are left out when PT_LOAD bytes are compared.
SECTION_HEADER_FIELDS = ((40, 48), (60, 64))


@dataclass(frozen=True)
class ElfLayout:
    """What must not change when sections are added: the entry point and every PT_LOAD
    (header fields and the file bytes it maps, except the section-header fields of the ELF
    header)."""

    entry: int
    loads: tuple[tuple[tuple[int, int, int, int, int, int, int], str], ...]


def _layout(data: bytes) -> ElfLayout:
    # The program headers are read with struct, not pyelftools' segments: a PIE runtime (the
    # linux-userland one is a static PIE) has a PT_DYNAMIC, whose pyelftools segment reads the
    # section headers, and ``data`` may be an artifact's runtime prefix whose section headers
    # lie past its end.
    if data[:4] != b"\x7fELF" or len(data) < 64:
        raise ValueError("not an ELF file")
    entry, phoff = struct.unpack_from("<QQ", data, 0x18)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    loads = []
    for k in range(phnum):
        ptype, flags, off, vaddr, paddr, filesz, memsz, align = struct.unpack_from(
            "<IIQQQQQQ", data, phoff + k * phentsize)
        if ptype != 1:  # PT_LOAD
            continue
        fields = (off, vaddr, paddr, filesz, memsz, flags, align)
        body = bytearray(data[off:off + filesz])
        for start, end in SECTION_HEADER_FIELDS:
            lo, hi = max(start - off, 0), min(end - off, len(body))
            if lo < hi:
                body[lo:hi] = bytes(hi - lo)
        loads.append((fields, hashlib.sha256(body).hexdigest()))
    return ElfLayout(entry=entry, loads=tuple(loads))


def section_trailer(sections: dict[str, bytes], base: int) -> bytes:
    """A section trailer for a non-ELF artifact (e.g. an IGVM file) whose own bytes end at
    ``base``: the sections' contents, then a table of (name NUL-terminated, u64 offset, u64
    size) entries, then u32 count, u64 table offset and the 8-byte magic ``LBXSECT1`` at the
    very end. Offsets are from the start of the file."""
    body, table, pos = bytearray(), bytearray(), base
    for name, data in sections.items():
        table += name.encode() + b"\0" + struct.pack("<QQ", pos, len(data))
        body += data
        pos += len(data)
    return bytes(body + table + struct.pack("<IQ", len(sections), pos) + TRAILER_MAGIC)


def has_section_trailer(data: bytes) -> bool:
    """Whether ``data`` ends with a section trailer (see ``section_trailer``)."""
    return data[:4] != b"\x7fELF" and data.endswith(TRAILER_MAGIC)


def _read_trailer(data: bytes, names: tuple[str, ...]) -> dict[str, bytes]:
    end = len(data) - len(TRAILER_MAGIC) - 12
    if end < 0:
        raise PackError("the section trailer is truncated")
    count, pos = struct.unpack_from("<IQ", data, end)
    out: dict[str, bytes] = {}
    for _ in range(count):
        nul = data.find(b"\0", pos, end)
        if nul < 0 or nul + 17 > end:
            raise PackError("the section trailer's table is damaged")
        name = data[pos:nul].decode("utf-8", "replace")
        off, size = struct.unpack_from("<QQ", data, nul + 1)
        pos = nul + 17
        if off + size > end:
            raise PackError(f"section {name} runs past the end of the file")
        if name in names:
            out[name] = data[off:off + size]
    return out


SHT_PROGBITS = 1


def elf64_sections(data: bytes) -> list[tuple[str, int, int, int, int]] | None:
    """(name, sh_type, sh_flags, sh_offset, sh_size) of every section of a 64-bit
    little-endian ELF file, read from its section header table with ``struct`` alone (no
    pyelftools import, ~0.05 ms: `litebox run` reads the manifest of every artifact it
    starts); None when the file is not one or its table or name table lies outside the file."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff = struct.unpack_from("<Q", data, 40)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 58)
    if shentsize != 64 or shnum == 0 or shstrndx >= shnum or shoff + 64 * shnum > len(data):
        return None
    rows = [struct.unpack_from("<IIQQQQ", data, shoff + 64 * i) for i in range(shnum)]
    str_off, str_size = rows[shstrndx][4], rows[shstrndx][5]
    if str_off + str_size > len(data):
        return None
    strtab = data[str_off:str_off + str_size]
    out = []
    for name_at, kind, flags, _addr, off, size in rows:
        end = strtab.find(b"\0", name_at)
        if name_at >= len(strtab) or end < 0:
            return None
        out.append((strtab[name_at:end].decode("utf-8", "replace"), kind, flags, off, size))
    return out


def read_artifact_bytes(path: Path) -> bytes:
    """The file's bytes, or a PackError naming it ("no such file", "cannot read: ...")."""
    from packager.paths import display_path

    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PackError(f"{display_path(path)}: no such file") from None
    except OSError as exc:
        raise PackError(f"{display_path(path)}: cannot read: {exc.strerror}") from None


def read_embedded_manifest(path: Path) -> dict[str, Any]:
    """The artifact's embedded manifest alone (the image is not checked), or a PackError."""
    import json

    from packager.paths import display_path

    data = read_artifact_bytes(path)
    try:
        section = read_sections(data, (MANIFEST_SECTION,)).get(MANIFEST_SECTION)
    except PackError as exc:
        raise PackError(f"{display_path(path)}: not a LiteBox artifact ({exc})") from None
    if section is None:
        raise PackError(f"{display_path(path)}: not a LiteBox artifact (no {MANIFEST_SECTION} section)")
    try:
        manifest = json.loads(section)
    except ValueError:
        raise PackError(f"{display_path(path)}: the embedded manifest is not JSON") from None
    if not isinstance(manifest, dict):
        raise PackError(f"{display_path(path)}: the embedded manifest is not a JSON object")
    return manifest


def read_sections(data: bytes, names: tuple[str, ...] = (IMAGE_SECTION, MANIFEST_SECTION)) -> dict[str, bytes]:
    """The contents of the named sections of an ELF file (pyelftools, not LIEF), of a PE
    artifact (packager/build/pesections.py), or of a non-ELF artifact's section trailer (an
    IGVM file). Raises PackError if a section is allocated, not PROGBITS, or runs past the end
    of the file."""
    from packager.build.pesections import is_pe, pe_sections

    if has_section_trailer(data):
        return _read_trailer(data, names)
    if is_pe(data):
        return pe_sections(data, names)
    table = elf64_sections(data)
    if table is not None:
        out: dict[str, bytes] = {}
        for name, kind, flags, off, size in table:
            if name not in names:
                continue
            if kind != SHT_PROGBITS or flags & SHF_ALLOC:
                raise PackError(f"section {name} is not a non-allocated SHT_PROGBITS section")
            if off + size > len(data):
                raise PackError(f"section {name} runs past the end of the file")
            out[name] = data[off:off + size]
        return out
    # Anything else (another ELF class, a damaged table): pyelftools, whose errors say what is wrong.
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        out = {}
        for sec in elf.iter_sections():
            if sec.name not in names:
                continue
            if sec["sh_type"] != "SHT_PROGBITS" or sec["sh_flags"] & SHF_ALLOC:
                raise PackError(f"section {sec.name} is not a non-allocated SHT_PROGBITS section")
            off, size = sec["sh_offset"], sec["sh_size"]
            if off + size > len(data):
                raise PackError(f"section {sec.name} runs past the end of the file")
            out[sec.name] = data[off:off + size]
        return out
    except PackError:
        raise
    except Exception as exc:
        raise PackError(f"not a readable ELF file ({type(exc).__name__}: {exc})") from None


def _keep_everything_config(lief: Any) -> Any:
    """A LIEF builder config that rebuilds none of the loaded structures (dynamic table,
    relocations, symbol tables, notes...): only the new sections and the section headers."""
    config = lief.ELF.Builder.config_t()
    for name in dir(config):
        if not name.startswith("_") and isinstance(getattr(config, name), bool):
            setattr(config, name, False)
    if hasattr(config, "skip_dynamic"):
        config.skip_dynamic = True
    return config


def add_sections(runtime: bytes, sections: dict[str, bytes]) -> bytes:
    """The runtime with ``sections`` added by LIEF. Promises, after an independent re-parse
    with pyelftools: each section present exactly once with exactly the given bytes, the
    entry point and every PT_LOAD (headers and bytes) unchanged; else a PackError."""
    import lief

    before = _layout(runtime)
    try:
        lief.logging.disable()
    except AttributeError:  # pragma: no cover - older LIEF
        pass
    binary = lief.ELF.parse(list(runtime))
    if binary is None:
        raise PackError("LIEF could not parse the runtime executable")
    for name in sections:
        if binary.get_section(name) is not None:
            raise PackError(f"the runtime already has a {name} section")
    for name, content in sections.items():
        sec = lief.ELF.Section(name, lief.ELF.Section.TYPE.PROGBITS)
        sec.content = list(content)
        sec.alignment = 1
        sec.flags = 0
        binary.add(sec, loaded=False)
    builder = lief.ELF.Builder(binary, _keep_everything_config(lief))
    builder.build()
    out = bytes(builder.get_build())
    check_artifact(out, before, sections)
    return out


def check_artifact(out: bytes, before: ElfLayout, sections: dict[str, bytes]) -> None:
    """Raises PackError unless ``out`` has exactly ``sections`` and the layout ``before``."""
    try:
        found = read_sections(out, tuple(sections))
        after = _layout(out)
    except PackError as exc:
        raise PackError(f"LIEF wrote a damaged artifact: {exc}") from None
    for name, content in sections.items():
        if name not in found:
            raise PackError(f"LIEF did not add section {name} (it can fail silently); "
                            "the runtime's layout may be one LIEF cannot extend")
        if found[name] != content:
            raise PackError(f"LIEF wrote section {name} with different bytes")
    if after.entry != before.entry:
        raise PackError(f"LIEF moved the entry point ({before.entry:#x} → {after.entry:#x})")
    if after.loads != before.loads:
        raise PackError("LIEF changed the runtime's PT_LOAD segments; refusing the artifact")


@contextmanager
def atomic_output(path: Path, mode: int = 0o755) -> Iterator[Path]:
    """Yields a temporary path in ``path``'s directory; on success it is renamed to ``path``
    with ``mode``; on any failure it is removed, so no partial file remains."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_elf_artifact(runtime: Path, image: bytes | Path, manifest: bytes, out: Path) -> str:
    """Assembles ``out`` (mode 0755) from the runtime, the image (its bytes or its file) and the
    embedded manifest, streamed into a temporary file beside ``out`` and renamed into place
    (packager/build/elfstream.py); returns its sha256. Nothing is left at ``out`` (or beside
    it) if anything fails."""
    from packager.build.elfstream import assemble_elf_streaming

    return assemble_elf_streaming(runtime, [(IMAGE_SECTION, image), (MANIFEST_SECTION, manifest)], out)
