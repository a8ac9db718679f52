"""The kvm artifact: the kernel ELF with the image as one more PT_LOAD segment (loaded by the
VMM at a physical address right after the kernel) and two non-allocated sections,
``.litebox.image`` (the same bytes) and ``.litebox.manifest``, so the packager's tools read
the artifact like any other ELF artifact.

Written here without LIEF: the kernel's own segments stay byte-for-byte where they were; a
new program header table and a new section header table are appended, and the kernel's
``.litebox.slot`` section (magic ``LBXSLOT1``, physical address, length, reserved) is patched
so the kernel finds the image.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

SLOT_SECTION = ".litebox.slot"
SLOT_MAGIC = b"LBXSLOT1"
IMAGE_SECTION = ".litebox.image"
MANIFEST_SECTION = ".litebox.manifest"
PT_LOAD = 1
PT_NOTE = 4
SHT_PROGBITS = 1
SHT_NOBITS = 8
SHT_STRTAB = 3
PAGE = 4096
# Where the kernel maps physical memory (boot.rs DIRECT_MAP): the image segment's p_vaddr.
DIRECT_MAP = 0xFFFF_8000_0000_0000
PHYS_LIMIT = 1 << 30
XEN_ELFNOTE_PHYS32_ENTRY = 18


class KernelError(ValueError):
    """The kernel ELF is not one this writer understands."""


@dataclass(frozen=True)
class Section:
    name: str
    fields: tuple[int, ...]  # sh_name, type, flags, addr, offset, size, link, info, addralign, entsize

    @property
    def type(self) -> int:
        """sh_type."""
        return self.fields[1]

    @property
    def offset(self) -> int:
        """sh_offset."""
        return self.fields[4]

    @property
    def size(self) -> int:
        """sh_size."""
        return self.fields[5]


def _align(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def _sections(data: bytes, shoff: int, shnum: int, shstrndx: int) -> list[Section]:
    raw = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + 64 * i) for i in range(shnum)]
    if shstrndx >= shnum:
        raise KernelError("no section name table")
    str_off, str_size = raw[shstrndx][4], raw[shstrndx][5]
    names = data[str_off:str_off + str_size]
    out = []
    for fields in raw:
        end = names.find(b"\0", fields[0])
        out.append(Section(names[fields[0]:end].decode("ascii", "replace"), tuple(fields)))
    return out


def _phdrs(data: bytes, phoff: int, phnum: int) -> list[tuple[int, ...]]:
    # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
    return [struct.unpack_from("<IIQQQQQQ", data, phoff + 56 * i) for i in range(phnum)]


def pvh_entry(data: bytes) -> int | None:
    """The 32-bit physical entry point from the Xen PVH note, or None."""
    if data[:4] != b"\x7fELF":
        return None
    phoff, phnum = struct.unpack_from("<Q", data, 32)[0], struct.unpack_from("<H", data, 56)[0]
    for p in _phdrs(data, phoff, phnum):
        if p[0] != PT_NOTE:
            continue
        pos, end = p[2], p[2] + p[5]
        while pos + 12 <= end:
            namesz, descsz, kind = struct.unpack_from("<III", data, pos)
            name = data[pos + 12:pos + 12 + namesz]
            desc_at = pos + 12 + _align(namesz, 4)
            if name == b"Xen\0" and kind == XEN_ELFNOTE_PHYS32_ENTRY and descsz in (4, 8):
                return int.from_bytes(data[desc_at:desc_at + descsz], "little")
            pos = desc_at + _align(descsz, 4)
    return None


def build(kernel: bytes, image: bytes, manifest: bytes) -> bytes:
    """The bootable artifact: ``kernel`` carrying ``image`` (loaded) and ``manifest``."""
    if kernel[:4] != b"\x7fELF" or kernel[4] != 2 or kernel[5] != 1:
        raise KernelError("the kernel is not a 64-bit little-endian ELF file")
    if pvh_entry(kernel) is None:
        raise KernelError("the kernel has no PVH entry note (Xen note type 18)")
    phoff, shoff = struct.unpack_from("<QQ", kernel, 32)
    phnum, shnum, shstrndx = struct.unpack_from("<HxxHH", kernel, 56)
    phdrs = _phdrs(kernel, phoff, phnum)
    sections = _sections(kernel, shoff, shnum, shstrndx)
    by_name = {s.name: s for s in sections}
    for name in (IMAGE_SECTION, MANIFEST_SECTION):
        if name in by_name:
            raise KernelError(f"the kernel already has a {name} section")
    slot = by_name.get(SLOT_SECTION)
    if slot is None or slot.size != 32 or kernel[slot.offset:slot.offset + 8] != SLOT_MAGIC:
        raise KernelError(f"the kernel has no {SLOT_SECTION} section with the {SLOT_MAGIC.decode()} magic")
    loads = [p for p in phdrs if p[0] == PT_LOAD]
    image_pa = _align(max(p[4] + p[6] for p in loads), PAGE)
    if image_pa + len(image) > PHYS_LIMIT:
        raise KernelError(f"the image ({len(image)} bytes) does not fit below {PHYS_LIMIT >> 20} MiB")

    content_end = max([s.offset + s.size for s in sections if s.type != SHT_NOBITS and s.offset]
                      + [p[2] + p[5] for p in phdrs] + [phoff + 56 * phnum])
    out = bytearray(kernel[:content_end])
    struct.pack_into("<8sQQQ", out, slot.offset, SLOT_MAGIC, image_pa, len(image), 0)

    out += bytes(_align(len(out), PAGE) - len(out))
    image_off = len(out)
    out += image
    manifest_off = len(out)
    out += manifest

    old_names = kernel[by_name[".shstrtab"].offset:][:by_name[".shstrtab"].size] if ".shstrtab" in by_name else b"\0"
    names = bytearray(old_names)
    image_name = len(names)
    names += IMAGE_SECTION.encode() + b"\0"
    manifest_name = len(names)
    names += MANIFEST_SECTION.encode() + b"\0"
    strtab_off = len(out)
    out += names

    out += bytes(_align(len(out), 8) - len(out))
    new_phoff = len(out)
    image_load = (PT_LOAD, 4, image_off, DIRECT_MAP + image_pa, image_pa, len(image), len(image), PAGE)
    for p in [*phdrs, image_load]:
        out += struct.pack("<IIQQQQQQ", *p)

    out += bytes(_align(len(out), 8) - len(out))
    new_shoff = len(out)
    rows = []
    for i, s in enumerate(sections):
        f = list(s.fields)
        if i == shstrndx:
            f[4], f[5] = strtab_off, len(names)
        rows.append(f)
    rows.append([image_name, SHT_PROGBITS, 0, 0, image_off, len(image), 0, 0, 1, 0])
    rows.append([manifest_name, SHT_PROGBITS, 0, 0, manifest_off, len(manifest), 0, 0, 1, 0])
    for f in rows:
        out += struct.pack("<IIQQQQIIQQ", *f)

    struct.pack_into("<QQ", out, 32, new_phoff, new_shoff)
    struct.pack_into("<H", out, 56, phnum + 1)
    struct.pack_into("<HH", out, 60, len(rows), shstrndx)
    return bytes(out)
