"""Streaming assembly of an ELF artifact: the runtime executable with non-allocated
SHT_PROGBITS sections appended (the image, the embedded manifest), written piece by piece to a
temporary file beside the output and renamed into place, so memory use does not grow with the
image's size (a multi-GB image is copied in 1 MiB pieces, never held whole).

Layout written: the runtime's bytes unchanged except ``e_shoff`` and ``e_shnum`` in the ELF
header; then each new section's contents (each at a multiple of SECTION_ALIGN, 16 KiB, in the
file, zeros between); then a new section-name table (the
old one plus the new names); then, 8-aligned, a new section-header table (the old headers,
the name table's header pointing at the new table, then one header per new section). The
runtime's PT_LOAD segments and entry point are untouched: the loader never reads sections."""
from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Union

from elftools.elf.elffile import ELFFile

from packager.build.artifact import SHF_ALLOC, _layout, atomic_output
from packager.errors import PackError
from packager.paths import display_path

PIECE = 1 << 20
# Bytes per write() of the artifact. The page cache keeps a file's pages in folios no larger
# than the write that created them, and Linux (6.18 here) maps a large folio whole when an
# address in it faults; a runtime maps the app's code straight from the artifact, so folios
# of the writes' size (1 MiB) made pages the app never touches resident in it: python3 -c pass
# peaked at 10.9 MiB with 1 MiB writes, 9.5-9.7 MiB with 4-16 KiB writes (bench/RESULTS-issue17-rss.md).
WRITE_PIECE = 16 << 10
# Each added section starts at a page boundary of the file: the runtime maps stored chunks of
# the image (page-aligned inside it) straight from the artifact (docs/image-format.md). And at
# a multiple of WRITE_PIECE: the page cache's folios are that size and naturally aligned, so the
# image's chunks sit at the same place in them whatever the runtime's length. At a mere 4 KiB
# boundary, a runtime 1.4 KB longer (or 2000 zero bytes appended to the same runtime) moved
# python3 -c pass from 13.2 to 13.8 ms CPU and 12.0 to 12.3 ms wall (+0.5 / +0.3 ms); at
# 16 KiB, the three runtimes measured all start at the better figure
# (bench/RESULTS-issue17-pid1.md). Costs at most 12 KiB of zeros in the artifact.
SECTION_ALIGN = WRITE_PIECE
# Bytes per write() of the runtime's own part of the artifact (its ELF file, up to the first
# added section), from offset 0: 64 KiB folios, naturally aligned. The kernel maps the
# runtime's code and constants in every process of the sandbox (supervisor, init, the app's
# processes) with fault-around, 64 KiB around each fault, so larger folios there make no more
# pages resident, but each fault-around maps, and each exit unmaps, one folio per window
# instead of 16-64 one- and two-page folios (a static hello's start-up to exit: ~0.05-0.1 ms
# less CPU; bench/RESULTS-issue17-exit1.md). The app's part (the image) keeps WRITE_PIECE.
RUNTIME_WRITE_PIECE = 64 << 10
SHDR = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr
SHT_PROGBITS = 1
SHT_STRTAB = 3

SectionSource = Union[bytes, Path]  # the contents, or a file holding them


@dataclass(frozen=True)
class _Header:
    shoff: int
    shnum: int
    shstrndx: int


def _read_header(runtime: bytes) -> _Header:
    if runtime[:4] != b"\x7fELF" or len(runtime) < 64:
        raise PackError("the runtime is not an ELF file")
    if runtime[4] != 2 or runtime[5] != 1:
        raise PackError("the runtime is not a 64-bit little-endian ELF file")
    shoff, = struct.unpack_from("<Q", runtime, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", runtime, 0x3A)
    if shentsize != SHDR.size or shnum == 0 or shstrndx >= shnum or shoff + shnum * SHDR.size > len(runtime):
        raise PackError("the runtime's section headers are missing or damaged")
    return _Header(shoff, shnum, shstrndx)


def _name_at(table: bytes, offset: int) -> bytes:
    end = table.find(b"\0", offset)
    return table[offset:end if end >= 0 else len(table)]


def _size(source: SectionSource) -> int:
    return len(source) if isinstance(source, bytes) else source.stat().st_size


def _write(dest: BinaryIO, data: bytes, piece: int = WRITE_PIECE) -> None:
    """Writes ``data`` to ``dest`` in pieces of at most ``piece`` bytes (WRITE_PIECE: see
    there)."""
    view = memoryview(data)
    for at in range(0, len(view), piece):
        dest.write(view[at:at + piece])


def _copy(source: SectionSource, dest: BinaryIO, digest: Any) -> int:
    if isinstance(source, bytes):
        _write(dest, source)
        digest.update(source)
        return len(source)
    copied = 0
    with open(source, "rb") as f:
        while piece := f.read(PIECE):
            _write(dest, piece)
            digest.update(piece)
            copied += len(piece)
    return copied


def write_sections(runtime: bytes, sections: list[tuple[str, SectionSource]], dest: BinaryIO) -> str:
    """Writes to ``dest`` the runtime with ``sections`` appended (see the module docstring);
    returns the sha256 of what was written. Raises PackError when the runtime is not a 64-bit
    little-endian ELF with section headers, already has one of the sections, or a section's
    file changes size while it is copied."""
    head = _read_header(runtime)
    headers = [list(SHDR.unpack_from(runtime, head.shoff + i * SHDR.size)) for i in range(head.shnum)]
    str_off, str_size = headers[head.shstrndx][4], headers[head.shstrndx][5]
    names = runtime[str_off:str_off + str_size]
    if len(names) != str_size:
        raise PackError("the runtime's section-name table runs past the end of the file")
    existing = {_name_at(names, h[0]) for h in headers}
    new_names = bytearray(names)
    pos = len(runtime)
    added = []
    for name, source in sections:
        if name.encode() in existing:
            raise PackError(f"the runtime already has a {name} section")
        size = _size(source)
        pos += -pos % SECTION_ALIGN
        added.append([len(new_names), SHT_PROGBITS, 0, 0, pos, size, 0, 0, SECTION_ALIGN, 0])
        new_names += name.encode() + b"\0"
        pos += size
    headers[head.shstrndx][4], headers[head.shstrndx][5] = pos, len(new_names)
    pad = -(pos + len(new_names)) % 8
    shoff = pos + len(new_names) + pad
    elf_header = bytearray(runtime[:64])
    struct.pack_into("<Q", elf_header, 0x28, shoff)
    struct.pack_into("<H", elf_header, 0x3C, head.shnum + len(added))

    digest = hashlib.sha256()
    # The runtime's part, with the padding up to the first added section, in one stream of
    # RUNTIME_WRITE_PIECE writes from offset 0 (see there).
    first = bytes(elf_header) + runtime[64:] + bytes((added[0][4] if added else pos) - len(runtime))
    _write(dest, first, RUNTIME_WRITE_PIECE)
    digest.update(first)
    written = len(first)
    for (name, source), header in zip(sections, added):
        pad_to = bytes(header[4] - written)
        _write(dest, pad_to)
        digest.update(pad_to)
        written = header[4] + header[5]
        if _copy(source, dest, digest) != header[5]:
            raise PackError(f"section {name}: its file changed size while the artifact was written")
    table = bytes(new_names) + bytes(pad) + b"".join(SHDR.pack(*h) for h in headers + added)
    _write(dest, table)
    digest.update(table)
    return digest.hexdigest()


def check_written(path: Path, runtime: bytes, sections: list[tuple[str, SectionSource]]) -> None:
    """Re-reads ``path`` with pyelftools (headers only, section bytes hashed in pieces) and
    raises PackError unless each section is there once, non-allocated PROGBITS, with exactly
    the given bytes, and the runtime's entry point and PT_LOAD segments are unchanged."""
    with open(path, "rb") as f:
        try:
            elf = ELFFile(f)
            found = {s.name: (s["sh_type"], s["sh_flags"], s["sh_offset"], s["sh_size"]) for s in elf.iter_sections()}
        except Exception as exc:
            raise PackError(f"the assembled artifact does not parse as ELF ({type(exc).__name__}: {exc})") from None
        for name, source in sections:
            if name not in found:
                raise PackError(f"the assembled artifact lacks section {name}")
            kind, flags, off, size = found[name]
            if kind != "SHT_PROGBITS" or flags & SHF_ALLOC or size != _size(source):
                raise PackError(f"the assembled artifact's section {name} is not as written")
            if _digest_range(f, off, size) != _digest_source(source):
                raise PackError(f"the assembled artifact's section {name} has different bytes")
        f.seek(0)
        prefix = f.read(len(runtime))
    if _layout(prefix) != _layout(runtime):
        raise PackError("the assembled artifact changed the runtime's entry point or PT_LOAD segments")


def _digest_range(f: BinaryIO, off: int, size: int) -> bytes:
    digest = hashlib.sha256()
    f.seek(off)
    while size > 0:
        piece = f.read(min(PIECE, size))
        if not piece:
            break
        digest.update(piece)
        size -= len(piece)
    return digest.digest()


def _digest_source(source: SectionSource) -> bytes:
    if isinstance(source, bytes):
        return hashlib.sha256(source).digest()
    with open(source, "rb") as f:
        return _digest_range(f, 0, os.fstat(f.fileno()).st_size)


def assemble_elf_streaming(runtime: Path, sections: list[tuple[str, SectionSource]], out: Path) -> str:
    """Assembles ``out`` (mode 0755) from the runtime and ``sections`` by streaming into a
    temporary file beside ``out``, checks it, and renames it into place; returns its sha256.
    Nothing is left at ``out`` (or beside it) if anything fails."""
    try:
        runtime_bytes = runtime.read_bytes()
    except OSError as exc:
        raise PackError(f"{display_path(runtime)}: cannot read the runtime: {exc.strerror}") from None
    try:
        _read_header(runtime_bytes)
    except PackError as exc:
        raise PackError(f"{display_path(runtime)}: {exc}") from None
    with atomic_output(out) as tmp:
        with open(tmp, "wb") as dest:
            digest = write_sections(runtime_bytes, sections, dest)
        check_written(tmp, runtime_bytes, sections)
    return digest
