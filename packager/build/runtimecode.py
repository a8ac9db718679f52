"""The runtime's loaded-code digest: a digest of everything the loader maps from the runtime,
computed the same way from the bare runtime and from a finished artifact, so `inspect` can tell
whether the runtime inside an artifact is the one the manifest records."""
from __future__ import annotations

import hashlib
import io
import struct

from elftools.elf.elffile import ELFFile

from packager.errors import PackError

# ELF header fields that assembling an artifact may change: e_phoff and e_shoff (bytes 32..48),
# e_phnum (56..58), e_shnum and e_shstrndx (60..64). The loader reads e_phoff/e_phnum, but the
# program headers themselves are hashed below, so a change there is still caught.
ASSEMBLY_HEADER_FIELDS = ((32, 48), (56, 58), (60, 64))
# Sections of the runtime that the packer fills in at assembly (the kvm image slot); their
# bytes are left out. The image and manifest sections are checked by their own digests.
PATCHED_SECTIONS = (".litebox.slot",)
ADDED_SECTIONS = (".litebox.image", ".litebox.manifest")


def loaded_code_digest(data: bytes) -> str:
    """Hex SHA-256 over the entry point and every PT_LOAD segment (its header fields and the
    file bytes it maps) of the runtime, as found in ``data`` — a bare runtime or an artifact
    built from it give the same value. Segments that map only the added image are skipped;
    the assembly header fields and the patched sections' bytes count as zeros. PackError if
    ``data`` is not a readable ELF file."""
    try:
        elf = ELFFile(io.BytesIO(data))
        zeroed = list(ASSEMBLY_HEADER_FIELDS)
        added = []
        for sec in elf.iter_sections():
            rng = (sec["sh_offset"], sec["sh_offset"] + sec["sh_size"])
            if sec.name in PATCHED_SECTIONS:
                zeroed.append(rng)
            elif sec.name in ADDED_SECTIONS:
                added.append(rng)
        h = hashlib.sha256(struct.pack("<Q", elf["e_entry"]))
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD":
                continue
            start, end = seg["p_offset"], seg["p_offset"] + seg["p_filesz"]
            if end > start and any(lo <= start and end <= hi for lo, hi in added):
                continue
            if end > len(data):
                raise PackError("a PT_LOAD segment runs past the end of the file")
            body = bytearray(data[start:end])
            for lo, hi in zeroed:
                a, b = max(lo - start, 0), min(hi - start, len(body))
                if a < b:
                    body[a:b] = bytes(b - a)
            fields = (seg["p_flags"], seg["p_offset"], seg["p_vaddr"], seg["p_paddr"], seg["p_filesz"],
                      seg["p_memsz"], seg["p_align"])
            h.update(struct.pack("<7Q", *fields))
            h.update(hashlib.sha256(body).digest())
        return h.hexdigest()
    except PackError:
        raise
    except Exception as exc:
        raise PackError(f"not a readable ELF file ({type(exc).__name__}: {exc})") from None
