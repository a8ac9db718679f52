"""What the packager reads from an OP-TEE TA's ELF: its ``.ta_head`` (``struct ta_head``:
UUID in native order, stack size, flags, deprecated entry), the same decoding as
core/optee/src/tahead.rs."""
from __future__ import annotations

import io
import struct
import uuid as uuidlib
from dataclasses import dataclass

TA_HEAD_SIZE = 32
TA_FLAG_SINGLE_INSTANCE = 1 << 2
TA_FLAG_MULTI_SESSION = 1 << 3
TA_FLAG_INSTANCE_KEEP_ALIVE = 1 << 4


class TaElfError(ValueError):
    """Not an x86-64 OP-TEE TA; the message is one line."""


@dataclass(frozen=True)
class TaHead:
    """A TA's ``struct ta_head``."""

    uuid: uuidlib.UUID
    stack_size: int
    flags: int
    entry: int


def decode_ta_head(raw: bytes) -> TaHead:
    """Decodes the 32 bytes of ``struct ta_head`` of an x86-64 TA."""
    if len(raw) < TA_HEAD_SIZE:
        raise TaElfError(f".ta_head has {len(raw)} bytes, struct ta_head needs {TA_HEAD_SIZE}")
    uuid_le, stack, flags, entry = struct.unpack_from("<16sIIQ", raw)
    return TaHead(uuidlib.UUID(bytes_le=uuid_le), stack, flags, entry)


def has_ta_head(data: bytes) -> bool:
    """True when ``data`` is an ELF file with a ``.ta_head`` section (of any machine or type)."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        return ELFFile(io.BytesIO(data)).get_section_by_name(".ta_head") is not None
    except (ELFError, struct.error):
        return False


def read_ta_head(data: bytes) -> TaHead:
    """The ``.ta_head`` of an x86-64 ET_DYN ELF TA; TaElfError says why not."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        elf = ELFFile(io.BytesIO(data))
        section = elf.get_section_by_name(".ta_head")
        if section is None:
            raise TaElfError("no .ta_head section: not an OP-TEE TA")
        head = decode_ta_head(section.data())
    except (ELFError, struct.error) as exc:
        raise TaElfError(f"not a readable ELF file ({exc})") from None
    if elf["e_machine"] != "EM_X86_64":
        raise TaElfError(f"a {elf['e_machine']} TA; this target runs x86-64 TAs")
    if elf["e_type"] != "ET_DYN":
        raise TaElfError("not a shared object (ET_DYN): link the TA with -shared or -pie")
    return head
