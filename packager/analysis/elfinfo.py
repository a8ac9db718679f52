"""What the packager needs to know about one ELF file, read with pyelftools."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packager.errors import PackError
from packager.paths import display_path

ELF_MAGIC = b"\x7fELF"
EM_X86_64 = 62
ELFCLASS64 = 2
DF_1_NODEFLIB = 0x800
DF_1_PIE = 0x08000000

if TYPE_CHECKING:
    from elftools.elf.elffile import ELFFile


@dataclass(frozen=True)
class ElfInfo:
    """Facts about one x86-64 ELF64 file. ``kind`` is ``static``, ``static-pie``, ``dynamic``
    (has PT_INTERP), ``shared`` (a library) or ``relocatable``."""

    path: Path
    elfclass: int
    machine: str
    e_type: str
    kind: str
    interpreter: str | None
    needed: tuple[str, ...]
    soname: str | None
    runpath: tuple[str, ...]
    rpath: tuple[str, ...]  # as written; ld.so ignores it when runpath is present
    flags_1: int
    entry: int

    @property
    def nodeflib(self) -> bool:
        """True if DT_FLAGS_1 has DF_1_NODEFLIB (no ld.so.cache, no default dirs)."""
        return bool(self.flags_1 & DF_1_NODEFLIB)


def is_elf_file(path: Path) -> bool:
    """True if ``path`` is a regular file (after symlinks) whose first bytes are the ELF magic."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == ELF_MAGIC
    except OSError:
        return False


def is_x86_64_elf64(path: Path) -> bool:
    """True if ``path`` is an ELF64 x86-64 file, judged from its first 20 bytes only."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return False
    return (len(head) == 20 and head[:4] == ELF_MAGIC and head[4] == ELFCLASS64 and head[5] == 1
            and int.from_bytes(head[18:20], "little") == EM_X86_64)


def _check_header(path: Path, head: bytes, size: int) -> None:
    where = display_path(path)
    if head[:4] != ELF_MAGIC:
        raise PackError(f"{where}: not an ELF file")
    if len(head) < 20:
        raise PackError(f"{where}: truncated ELF file ({size} bytes, shorter than an ELF header)")
    if head[4] != ELFCLASS64:
        cls = {1: "32-bit (ELFCLASS32)"}.get(head[4], f"ELF class {head[4]}")
        raise PackError(f"{where}: {cls} ELF; only 64-bit x86-64 programs are supported")
    if head[5] != 1:
        raise PackError(f"{where}: big-endian ELF; only little-endian x86-64 is supported")
    machine = int.from_bytes(head[18:20], "little")
    if machine != EM_X86_64:
        raise PackError(f"{where}: ELF for machine {machine} ({_machine_name(machine)}), not x86-64")
    if len(head) < 64:
        raise PackError(f"{where}: truncated ELF file ({size} bytes, shorter than an ELF header)")
    phoff = int.from_bytes(head[32:40], "little")
    shoff = int.from_bytes(head[40:48], "little")
    phentsize = int.from_bytes(head[54:56], "little")
    phnum = int.from_bytes(head[56:58], "little")
    shentsize = int.from_bytes(head[58:60], "little")
    shnum = int.from_bytes(head[60:62], "little")
    if phnum and phoff + phentsize * phnum > size:
        raise PackError(f"{where}: truncated ELF file (program headers end at "
                        f"{phoff + phentsize * phnum}, file is {size} bytes)")
    if shnum and shoff + shentsize * shnum > size:
        raise PackError(f"{where}: truncated ELF file (section headers end at "
                        f"{shoff + shentsize * shnum}, file is {size} bytes)")


def _machine_name(machine: int) -> str:
    names = {3: "i386", 40: "ARM", 62: "x86-64", 183: "AArch64", 243: "RISC-V", 8: "MIPS",
             20: "PowerPC", 21: "PowerPC64", 22: "s390"}
    return names.get(machine, "unknown")


def _split_paths(value: str) -> tuple[str, ...]:
    return tuple(p for p in value.split(":") if p != "") if value else ()


def read_elf(path: Path) -> ElfInfo:
    """Reads ``path`` (symlinks followed). Promises an ElfInfo for a well-formed x86-64 ELF64
    file whose headers and segments lie inside the file, or a PackError naming the file and
    the problem (not ELF, wrong class or machine, truncated, malformed)."""
    # pyelftools (~40 ms to import) only when a file is read: a warm re-pack finds every
    # analysis in the stat cache.
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    where = display_path(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(64)
            _check_header(path, head, size)
            f.seek(0)
            return _parse(path, ELFFile(f), size)
    except PackError:
        raise
    except FileNotFoundError:
        raise PackError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise PackError(f"{where}: is a directory, not an ELF program") from None
    except OSError as exc:
        raise PackError(f"{where}: cannot read: {exc.strerror}") from None
    except (ELFError, ValueError, KeyError, IndexError, AssertionError) as exc:
        raise PackError(f"{where}: malformed ELF file ({exc})") from None
    except Exception as exc:  # construct.StreamError and friends: truncated tables
        raise PackError(f"{where}: malformed or truncated ELF file ({type(exc).__name__})") from None


def _parse(path: Path, elf: ELFFile, size: int) -> ElfInfo:
    where = display_path(path)
    interp: str | None = None
    dynamic = None
    for seg in elf.iter_segments():
        if seg["p_type"] in ("PT_LOAD", "PT_INTERP", "PT_DYNAMIC") and \
                seg["p_offset"] + seg["p_filesz"] > size:
            raise PackError(f"{where}: truncated ELF file ({seg['p_type']} ends at "
                            f"{seg['p_offset'] + seg['p_filesz']}, file is {size} bytes)")
        if seg["p_type"] == "PT_INTERP":
            interp = seg.get_interp_name()
        elif seg["p_type"] == "PT_DYNAMIC":
            dynamic = seg
    has_dynamic = dynamic is not None
    needed: list[str] = []
    runpath: tuple[str, ...] = ()
    rpath: tuple[str, ...] = ()
    soname: str | None = None
    flags_1 = 0
    if dynamic is not None:
        # Read through the PT_DYNAMIC segment (what ld.so reads), not the section headers.
        for tag in dynamic.iter_tags():
            t = tag.entry.d_tag
            if t == "DT_NEEDED":
                needed.append(tag.needed)
            elif t == "DT_RUNPATH":
                runpath = _split_paths(tag.runpath)
            elif t == "DT_RPATH":
                rpath = _split_paths(tag.rpath)
            elif t == "DT_SONAME":
                soname = tag.soname
            elif t == "DT_FLAGS_1":
                flags_1 = int(tag.entry.d_val)
    e_type = elf["e_type"]
    if e_type == "ET_REL":
        kind = "relocatable"
    elif interp is not None:
        kind = "dynamic"
    elif e_type == "ET_EXEC":
        kind = "static"
    elif e_type == "ET_DYN":
        kind = "static-pie" if (flags_1 & DF_1_PIE or not has_dynamic) else "shared"
    else:
        raise PackError(f"{where}: ELF type {e_type} is neither a program nor a library")
    return ElfInfo(path=path, elfclass=64, machine="x86-64", e_type=e_type, kind=kind,
                   interpreter=interp, needed=tuple(needed), soname=soname,
                   runpath=runpath, rpath=rpath, flags_1=flags_1,
                   entry=int(elf["e_entry"]))
