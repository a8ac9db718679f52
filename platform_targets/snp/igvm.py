"""IGVM files (format revision 2, x64, 4 KiB pages): a writer and a strict reader.

Written from the IGVM specification (the structure layouts of ``igvm_defs``): a fixed header
(magic ``IGVM``, version, variable-header offset and size, total size, CRC32 of both headers,
architecture, page size), then the variable headers (type, length, body padded to 8 bytes) in
the three sections the format orders them by (platform, initialization, directives), then the
file data (page contents, VP contexts). Only the structures this project emits are modelled;
the reader refuses any other type whose "may ignore" bit (bit 31) is clear.

The writer is deterministic: the same directives give the same bytes. Page contents are stored
once per distinct content (a page of zeroes is stored as file offset 0, as the format says).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

MAGIC = 0x4D564749  # b"IGVM" little-endian
FORMAT_VERSION = 2
ARCH_X64 = 0
PAGE = 4096
FIXED_HEADER = struct.Struct("<8I")  # magic, version, vh offset, vh size, total, crc, arch, page size

# Variable header types.
VHT_SUPPORTED_PLATFORM = 0x001
VHT_GUEST_POLICY = 0x101
VHT_PARAMETER_AREA = 0x301
VHT_PAGE_DATA = 0x302
VHT_PARAMETER_INSERT = 0x303
VHT_VP_CONTEXT = 0x304
VHT_REQUIRED_MEMORY = 0x305
VHT_MEMORY_MAP = 0x30C
VHT_COMMAND_LINE = 0x30E
VHT_SNP_ID_BLOCK = 0x30B
IGNORABLE = 0x8000_0000

PLATFORM_NATIVE = 0x00
PLATFORM_SEV_SNP = 0x02
PLATFORM_NAMES = {PLATFORM_NATIVE: "native", PLATFORM_SEV_SNP: "sev-snp"}

# Page data types and flags.
PAGE_NORMAL = 0
PAGE_SECRETS = 1
PAGE_CPUID = 2
PAGE_FLAG_UNMEASURED = 0x2

# The native x64 VP context (IgvmNativeVpContextX64): 16 GPRs, rip, rflags, idtr base,
# idtr size + 2 reserved + gdtr size, gdtr base, code (sel, attr, base, limit), data (same),
# gs base, cr0, cr3, cr4, efer.
NATIVE_CONTEXT = struct.Struct("<16QQQQHHHHQHHIIHHIIQQQQQ")
NATIVE_REGS = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
               "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
NATIVE_FIELDS = (*NATIVE_REGS, "rip", "rflags", "idtr_base", "idtr_size", "reserved0", "reserved1",
                 "gdtr_size", "gdtr_base", "code_selector", "code_attributes", "code_base", "code_limit",
                 "data_selector", "data_attributes", "data_base", "data_limit", "gs_base",
                 "cr0", "cr3", "cr4", "efer")
SNP_ID_BLOCK = struct.Struct("<IB3x48s16s16sIIII144s152s144s152s")


class IgvmError(ValueError):
    """The bytes are not an IGVM file this reader understands."""


@dataclass(frozen=True)
class Platform:
    """IGVM_VHS_SUPPORTED_PLATFORM: one compatibility-mask bit per platform."""

    mask: int
    platform_type: int
    version: int = 1
    shared_gpa_boundary: int = 0


@dataclass(frozen=True)
class GuestPolicy:
    """IGVM_VHS_GUEST_POLICY: the SNP guest policy for the platforms in ``mask``."""

    mask: int
    policy: int


@dataclass(frozen=True)
class PageData:
    """IGVM_VHS_PAGE_DATA: one 4 KiB page at ``gpa`` (``data`` b"": a page of zeroes)."""

    gpa: int
    mask: int
    data: bytes = b""
    data_type: int = PAGE_NORMAL
    flags: int = 0


@dataclass(frozen=True)
class ParameterArea:
    """IGVM_VHS_PARAMETER_AREA: ``size`` bytes, filled by the loader, index ``index``."""

    size: int
    index: int


@dataclass(frozen=True)
class Parameter:
    """A loader-written parameter (``kind``: VHT_MEMORY_MAP, VHT_COMMAND_LINE...) at
    ``offset`` in parameter area ``index``."""

    kind: int
    index: int
    offset: int = 0


@dataclass(frozen=True)
class ParameterInsert:
    """IGVM_VHS_PARAMETER_INSERT: area ``index`` placed at ``gpa`` (unmeasured pages)."""

    gpa: int
    mask: int
    index: int


@dataclass(frozen=True)
class VpContext:
    """IGVM_VHS_VP_CONTEXT: 4 KiB of file data; for SNP a VMSA placed at ``gpa``; for native
    the 232-byte register context, zero-padded (``gpa`` 0)."""

    gpa: int
    mask: int
    data: bytes
    vp_index: int = 0


@dataclass(frozen=True)
class RequiredMemory:
    """IGVM_VHS_REQUIRED_MEMORY: RAM the guest needs at ``gpa``."""

    gpa: int
    mask: int
    size: int


@dataclass(frozen=True)
class SnpIdBlock:
    """IGVM_VHS_SNP_ID_BLOCK: the ID block fields and the ID key's signature and public key
    (the 144-byte r/s and 152-byte curve/qx/qy forms of the SNP firmware ABI)."""

    mask: int
    ld: bytes
    family_id: bytes
    image_id: bytes
    version: int
    guest_svn: int
    id_key_algorithm: int
    signature: bytes
    public_key: bytes


Directive = PageData | ParameterArea | Parameter | ParameterInsert | VpContext | RequiredMemory | SnpIdBlock


@dataclass
class IgvmFile:
    """The headers of one file, in order: platforms, initialization (guest policies),
    directives."""

    platforms: list[Platform] = field(default_factory=list)
    policies: list[GuestPolicy] = field(default_factory=list)
    directives: list[Directive] = field(default_factory=list)

    def mask_of(self, platform_type: int) -> int:
        """The compatibility mask of ``platform_type`` (IgvmError if the file has none)."""
        for p in self.platforms:
            if p.platform_type == platform_type:
                return p.mask
        raise IgvmError(f"the file has no {PLATFORM_NAMES.get(platform_type, platform_type)} platform")


def _align8(n: int) -> int:
    return (n + 7) & ~7


def _header(kind: int, body: bytes) -> bytes:
    return struct.pack("<II", kind, len(body)) + body + bytes(_align8(len(body)) - len(body))


def write(f: IgvmFile) -> bytes:
    """The file's bytes: fixed header, variable headers, then the file data, laid out in
    directive order with identical contents stored once. Deterministic."""
    # First pass: the file data blobs, so the headers can name their offsets.
    blobs: list[bytes] = []
    index: dict[bytes, int] = {}
    for d in f.directives:
        if isinstance(d, (PageData, VpContext)) and d.data and d.data not in index:
            if len(d.data) != PAGE:
                raise IgvmError(f"{type(d).__name__} data for {d.gpa:#x} is {len(d.data)} bytes, not {PAGE}")
            index[d.data] = len(blobs)
            blobs.append(d.data)

    def headers(data_start: int, offsets: list[int]) -> bytes:
        out = bytearray()
        for p in f.platforms:
            out += _header(VHT_SUPPORTED_PLATFORM, struct.pack("<IBBHQ", p.mask, 0, p.platform_type, p.version,
                                                               p.shared_gpa_boundary))
        for g in f.policies:
            out += _header(VHT_GUEST_POLICY, struct.pack("<QII", g.policy, g.mask, 0))

        def at(data: bytes) -> int:
            return data_start + offsets[index[data]] if data else 0

        for d in f.directives:
            if isinstance(d, PageData):
                if d.gpa % PAGE:
                    raise IgvmError(f"page data gpa {d.gpa:#x} is not page aligned")
                out += _header(VHT_PAGE_DATA, struct.pack("<QIIIHH", d.gpa, d.mask, at(d.data), d.flags,
                                                          d.data_type, 0))
            elif isinstance(d, ParameterArea):
                out += _header(VHT_PARAMETER_AREA, struct.pack("<QII", d.size, d.index, 0))
            elif isinstance(d, Parameter):
                out += _header(d.kind, struct.pack("<II", d.index, d.offset))
            elif isinstance(d, ParameterInsert):
                out += _header(VHT_PARAMETER_INSERT, struct.pack("<QII", d.gpa, d.mask, d.index))
            elif isinstance(d, VpContext):
                out += _header(VHT_VP_CONTEXT, struct.pack("<QIIHH", d.gpa, d.mask, at(d.data), d.vp_index, 0))
            elif isinstance(d, RequiredMemory):
                out += _header(VHT_REQUIRED_MEMORY, struct.pack("<QIIII", d.gpa, d.mask, d.size, 0, 0))
            elif isinstance(d, SnpIdBlock):
                out += _header(VHT_SNP_ID_BLOCK, SNP_ID_BLOCK.pack(
                    d.mask, 0, d.ld, d.family_id, d.image_id, d.version, d.guest_svn, d.id_key_algorithm, 0,
                    d.signature, d.public_key, bytes(144), bytes(152)))
            else:  # pragma: no cover - the type union is closed
                raise IgvmError(f"cannot write {d!r}")
        return bytes(out)

    offsets, pos = [], 0
    for b in blobs:
        offsets.append(pos)
        pos += len(b)
    vh_offset = FIXED_HEADER.size
    vh = headers(0, offsets)  # sized once; offsets do not change its length
    data_start = vh_offset + len(vh)
    vh = headers(data_start, offsets)
    total = data_start + pos
    fixed = FIXED_HEADER.pack(MAGIC, FORMAT_VERSION, vh_offset, len(vh), total, 0, ARCH_X64, PAGE)
    crc = zlib.crc32(fixed + vh) & 0xFFFF_FFFF
    fixed = FIXED_HEADER.pack(MAGIC, FORMAT_VERSION, vh_offset, len(vh), total, crc, ARCH_X64, PAGE)
    return fixed + vh + b"".join(blobs)


def read(data: bytes) -> IgvmFile:
    """Parses ``data`` strictly (checksum, sizes, section order, known types, page-aligned
    gpas, in-bounds file offsets). Raises IgvmError naming the first problem."""
    if len(data) < FIXED_HEADER.size:
        raise IgvmError("too short for an IGVM fixed header")
    magic, version, vh_off, vh_size, total, crc, arch, page = FIXED_HEADER.unpack_from(data)
    if magic != MAGIC:
        raise IgvmError("not an IGVM file (bad magic)")
    if version != FORMAT_VERSION or arch != ARCH_X64 or page != PAGE:
        raise IgvmError(f"unsupported IGVM revision {version}, architecture {arch}, page size {page} "
                        f"(this reader takes revision 2, x64, 4096)")
    if total != len(data) or vh_off < FIXED_HEADER.size or vh_off % 8 or vh_off + vh_size > total:
        raise IgvmError("the fixed header's sizes do not match the file")
    zeroed = bytearray(data[:FIXED_HEADER.size])
    struct.pack_into("<I", zeroed, 20, 0)
    if zlib.crc32(bytes(zeroed) + data[vh_off:vh_off + vh_size]) & 0xFFFF_FFFF != crc:
        raise IgvmError("header checksum mismatch")
    data_start = vh_off + vh_size

    def blob(offset: int, size: int) -> bytes:
        if offset == 0:
            return b""
        if offset < data_start or offset + size > total:
            raise IgvmError(f"file offset {offset:#x}+{size:#x} is outside the file data")
        return data[offset:offset + size]

    out = IgvmFile()
    stage = 0
    pos, end = vh_off, vh_off + vh_size
    while pos < end:
        if pos + 8 > end:
            raise IgvmError("truncated variable header")
        kind, length = struct.unpack_from("<II", data, pos)
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 8 + _align8(length) > end:
            raise IgvmError(f"variable header {kind:#x} runs past the header section")
        pos += 8 + _align8(length)
        section = 0 if kind <= 0x100 else 1 if kind <= 0x200 else 2
        if section < stage:
            raise IgvmError(f"variable header {kind:#x} is out of section order")
        stage = section
        try:
            out.directives.append(_directive(kind, body, blob)) if section == 2 else None
            if kind == VHT_SUPPORTED_PLATFORM:
                mask, _vtl, ptype, pver, shared = struct.unpack("<IBBHQ", body)
                out.platforms.append(Platform(mask, ptype, pver, shared))
            elif kind == VHT_GUEST_POLICY:
                policy, mask, _ = struct.unpack("<QII", body)
                out.policies.append(GuestPolicy(mask, policy))
            elif section != 2 and not kind & IGNORABLE:
                raise IgvmError(f"unknown variable header type {kind:#x}")
        except struct.error:
            raise IgvmError(f"variable header {kind:#x} has the wrong length {length}") from None
    return out


def _directive(kind: int, body: bytes, blob: object) -> Directive:
    read_blob = blob  # (offset, size) -> bytes
    if kind == VHT_PAGE_DATA:
        gpa, mask, off, flags, dtype, reserved = struct.unpack("<QIIIHH", body)
        if gpa % PAGE or reserved:
            raise IgvmError(f"page data at {gpa:#x}: unaligned or reserved bits set")
        return PageData(gpa, mask, read_blob(off, PAGE), dtype, flags)  # type: ignore[operator]
    if kind == VHT_PARAMETER_AREA:
        size, idx, off = struct.unpack("<QII", body)
        if off:
            raise IgvmError("parameter areas with initial contents are not supported")
        return ParameterArea(size, idx)
    if kind in (VHT_MEMORY_MAP, VHT_COMMAND_LINE):
        idx, off = struct.unpack("<II", body)
        return Parameter(kind, idx, off)
    if kind == VHT_PARAMETER_INSERT:
        return ParameterInsert(*struct.unpack("<QII", body))
    if kind == VHT_VP_CONTEXT:
        gpa, mask, off, vp, _ = struct.unpack("<QIIHH", body)
        return VpContext(gpa, mask, read_blob(off, PAGE), vp)  # type: ignore[operator]
    if kind == VHT_REQUIRED_MEMORY:
        gpa, mask, size, _flags, _ = struct.unpack("<QIIII", body)
        return RequiredMemory(gpa, mask, size)
    if kind == VHT_SNP_ID_BLOCK:
        f = SNP_ID_BLOCK.unpack(body)
        return SnpIdBlock(f[0], f[2], f[3], f[4], f[5], f[6], f[7], f[9], f[10])
    if kind & IGNORABLE:
        return Parameter(kind, 0, 0)
    raise IgvmError(f"unknown directive type {kind:#x}")


def native_context(**regs: int) -> bytes:
    """The native VP context's file data (4 KiB: the structure, then zeroes); unnamed fields
    are zero."""
    unknown = set(regs) - set(NATIVE_FIELDS)
    if unknown:
        raise IgvmError(f"unknown native context fields: {', '.join(sorted(unknown))}")
    return NATIVE_CONTEXT.pack(*(regs.get(name, 0) for name in NATIVE_FIELDS)).ljust(PAGE, b"\0")


def parse_native_context(data: bytes) -> dict[str, int]:
    """The native VP context as a field → value dict (IgvmError unless the bytes past the
    structure are zero)."""
    if len(data) != PAGE or any(data[NATIVE_CONTEXT.size:]):
        raise IgvmError("a native VP context is the structure and zeroes up to 4096 bytes")
    return dict(zip(NATIVE_FIELDS, NATIVE_CONTEXT.unpack_from(data)))
