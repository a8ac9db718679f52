"""The snp artifact's guest-physical layout, as IGVM directives.

The guest is the LiteBox VM kernel with the image as a loaded segment: the kvm target's
bootable ELF (``pvh_elf.build``), whose PT_LOAD segments become page data at their physical
addresses. Past them, a boot area of fixed pages:

  +0x0000  hvm_start_info + memory map for the kernel's PVH entry (both platforms, measured)
  +0x1000  parameter area 0: the loader writes the command line there (IGVM_VHT_COMMAND_LINE)
  +0x2000  parameter area 1: the loader writes its memory map there (IGVM_VHT_MEMORY_MAP)
  +0x3000  SNP secrets page            (SEV-SNP only)
  +0x4000  SNP CPUID page              (SEV-SNP only)
  +0x5000  the VMSA                    (SEV-SNP only)
  +0x6000  parameter area 2, no IGVM parameter: the start info's module list (one entry). An
           IGVM loader leaves it zero (no module); our QEMU 7.2 loader may write the kvm
           runner's boot module entry there (host environment admitted by the policy, stdin)

Both platforms start the kernel at its PVH entry (32-bit protected mode, paging off, %ebx =
the start info), from the same register values: the native VP context, and a VMSA made from
it (SNPActive). The start info's command line points at parameter area 0, so an IGVM loader's
command line reaches the kernel as `-append` does on kvm.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

try:
    from . import igvm, launch_digest  # type: ignore[import-not-found]
except ImportError:  # loaded by path from target.py
    import litebox_target_snp_igvm as igvm  # type: ignore[no-redef]
    import litebox_target_snp_launch_digest as launch_digest  # type: ignore[no-redef]

PAGE = igvm.PAGE
NATIVE_MASK = 0x1
SNP_MASK = 0x2
BOTH = NATIVE_MASK | SNP_MASK
START_INFO_MAGIC = 0x336EC578
LOW_RAM_END = 0x9F000
HIGH_RAM_START = 0x100000
PT_LOAD = 1
PT_NOTE = 4
CMDLINE_AREA = 0
MEMMAP_AREA = 1
MODULES_AREA = 2
BOOT_AREA_PAGES = 7
# Flat 32-bit segments (descriptor attribute bits 40..55 with the limit nibble cleared).
CODE32 = 0xC09B
DATA32 = 0xC093


@dataclass(frozen=True)
class Layout:
    """Where things are: the boot area, the PVH entry, the guest memory size."""

    boot_area: int
    entry: int
    memory: int

    @property
    def start_info(self) -> int:
        """GPA of the hvm_start_info page."""
        return self.boot_area

    @property
    def cmdline(self) -> int:
        """GPA of the command-line parameter area."""
        return self.boot_area + 0x1000

    @property
    def memmap(self) -> int:
        """GPA of the memory-map parameter area."""
        return self.boot_area + 0x2000

    @property
    def secrets(self) -> int:
        """GPA of the SNP secrets page."""
        return self.boot_area + 0x3000

    @property
    def cpuid(self) -> int:
        """GPA of the SNP CPUID page."""
        return self.boot_area + 0x4000

    @property
    def vmsa(self) -> int:
        """GPA the file asks the VMSA to be placed at."""
        return self.boot_area + 0x5000

    @property
    def modules(self) -> int:
        """GPA of the module-list parameter area."""
        return self.boot_area + 0x6000


class LayoutError(ValueError):
    """The kernel cannot be laid out as an IGVM guest."""


def load_segments(elf: bytes) -> list[tuple[int, bytes, int]]:
    """The (physical address, file bytes, memory size) of each PT_LOAD of a 64-bit ELF."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise LayoutError("the kernel is not a 64-bit little-endian ELF file")
    phoff, = struct.unpack_from("<Q", elf, 32)
    phnum, = struct.unpack_from("<H", elf, 56)
    out = []
    for i in range(phnum):
        p_type, _fl, off, _va, pa, filesz, memsz, _al = struct.unpack_from("<IIQQQQQQ", elf, phoff + 56 * i)
        if p_type == PT_LOAD and memsz:
            out.append((pa, elf[off:off + filesz], memsz))
    return out


def pages_of(segments: list[tuple[int, bytes, int]]) -> dict[int, bytes]:
    """GPA → 4 KiB contents of every page the segments touch (LayoutError on overlap)."""
    pages: dict[int, bytearray] = {}
    owner: dict[int, int] = {}
    for n, (pa, data, memsz) in enumerate(segments):
        for gpa in range(pa & ~(PAGE - 1), pa + memsz, PAGE):
            if gpa in owner and owner[gpa] != n:
                lo, hi = max(gpa, pa), min(gpa + PAGE, pa + memsz)
                if any(pages[gpa][lo - gpa:hi - gpa]):
                    raise LayoutError(f"segments overlap at {gpa:#x}")
            pages.setdefault(gpa, bytearray(PAGE))
            owner[gpa] = n
        for i in range(0, len(data), PAGE):
            chunk = data[i:i + PAGE]
            at = pa + i
            # A chunk may straddle two pages when pa is not page aligned.
            first = at & ~(PAGE - 1)
            head = min(len(chunk), first + PAGE - at)
            pages[first][at - first:at - first + head] = chunk[:head]
            if head < len(chunk):
                pages[first + PAGE][:len(chunk) - head] = chunk[head:]
    return {gpa: bytes(b) for gpa, b in sorted(pages.items())}


# What the kernel may take from the host under SEV-SNP (`[target.snp] host_input`), recorded in
# the measured start-info page at HOST_RULES_OFFSET: the magic, then a u32 of these bits.
HOST_RULES_OFFSET = 0x800
HOST_RULES_MAGIC = b"LBXHOST1"
HOST_INPUTS = {"args": 1, "env": 2, "stdin": 4, "debug": 8}


def host_rules_bits(names: list[str] | tuple[str, ...]) -> int:
    """The bits for ``host_input`` names (ValueError on an unknown one)."""
    bits = 0
    for n in names:
        if n not in HOST_INPUTS:
            raise ValueError(f"unknown host input {n!r} (one of {', '.join(HOST_INPUTS)})")
        bits |= HOST_INPUTS[n]
    return bits


def host_rules_of(page: bytes) -> list[str] | None:
    """The host inputs a start-info page admits under SEV-SNP (None: the page has no rules)."""
    at = HOST_RULES_OFFSET
    if page[at:at + 8] != HOST_RULES_MAGIC:
        return None
    bits = struct.unpack_from("<I", page, at + 8)[0]
    return [n for n, b in HOST_INPUTS.items() if bits & b]


def start_info_page(lay: Layout, host_bits: int = 0) -> bytes:
    """hvm_start_info (version 1) with the command line in parameter area 0, one module whose
    list entry is parameter area 2, and a memory map of low RAM and RAM from 1 MiB to the
    required memory's end; at HOST_RULES_OFFSET, the host inputs the kernel accepts under SNP."""
    memmap = [(0, LOW_RAM_END, 1), (HIGH_RAM_START, lay.memory - HIGH_RAM_START, 1)]
    head = struct.pack("<IIIIQQQQII", START_INFO_MAGIC, 1, 0, 1, lay.modules, lay.cmdline, 0,
                       lay.start_info + 64, len(memmap), 0)
    body = head.ljust(64, b"\0") + b"".join(struct.pack("<QQII", a, s, t, 0) for a, s, t in memmap)
    rules = HOST_RULES_MAGIC + struct.pack("<I", host_bits)
    return (body.ljust(HOST_RULES_OFFSET, b"\0") + rules).ljust(PAGE, b"\0")


def native_context(lay: Layout) -> bytes:
    """The PVH entry state: 32-bit protected mode, flat segments, paging off, %ebx = start
    info, interrupts off."""
    return igvm.native_context(rbx=lay.start_info, rip=lay.entry, rflags=0x2, cr0=0x11,
                               code_selector=0x08, code_attributes=CODE32, code_limit=0xFFFF_FFFF,
                               data_selector=0x10, data_attributes=DATA32, data_limit=0xFFFF_FFFF)


def build(kernel_elf: bytes, entry: int, memory: int, policy: int,
          cbit: int = launch_digest.DEFAULT_CBIT, host_bits: int = 0) -> igvm.IgvmFile:
    """The IGVM file for ``kernel_elf`` (the kvm target's bootable ELF with its image segment),
    entered at ``entry`` (its PVH entry), needing ``memory`` bytes of RAM from GPA 0, with the
    SNP guest ``policy``; the VMSA tells the kernel to build its page tables with the C-bit at
    ``cbit``; under SNP it accepts the host inputs of ``host_bits`` (``host_rules_bits``)."""
    pages = pages_of(load_segments(kernel_elf))
    end = max(pages) + PAGE
    boot_area = (end + 0xFFFF) & ~0xFFFF
    lay = Layout(boot_area, entry, memory)
    if boot_area + BOOT_AREA_PAGES * PAGE > memory or memory > 0xFFFF_F000:
        raise LayoutError(f"the kernel and image ({end} bytes) do not fit in {memory >> 20} MiB of guest memory")
    if min(pages) < HIGH_RAM_START:
        raise LayoutError("the kernel loads below 1 MiB")
    f = igvm.IgvmFile(
        platforms=[igvm.Platform(NATIVE_MASK, igvm.PLATFORM_NATIVE), igvm.Platform(SNP_MASK, igvm.PLATFORM_SEV_SNP)],
        policies=[igvm.GuestPolicy(SNP_MASK, policy)])
    d = f.directives
    d.append(igvm.RequiredMemory(0, BOTH, memory))
    for gpa, data in pages.items():
        d.append(igvm.PageData(gpa, BOTH, data if any(data) else b""))
    d.append(igvm.PageData(lay.start_info, BOTH, start_info_page(lay, host_bits)))
    d.append(igvm.ParameterArea(PAGE, CMDLINE_AREA))
    d.append(igvm.Parameter(igvm.VHT_COMMAND_LINE, CMDLINE_AREA, 0))
    d.append(igvm.ParameterInsert(lay.cmdline, BOTH, CMDLINE_AREA))
    d.append(igvm.ParameterArea(PAGE, MEMMAP_AREA))
    d.append(igvm.Parameter(igvm.VHT_MEMORY_MAP, MEMMAP_AREA, 0))
    d.append(igvm.ParameterInsert(lay.memmap, BOTH, MEMMAP_AREA))
    d.append(igvm.ParameterArea(PAGE, MODULES_AREA))
    d.append(igvm.ParameterInsert(lay.modules, BOTH, MODULES_AREA))
    d.append(igvm.PageData(lay.secrets, SNP_MASK, b"", igvm.PAGE_SECRETS))
    d.append(igvm.PageData(lay.cpuid, SNP_MASK, b"", igvm.PAGE_CPUID))
    ctx = native_context(lay)
    d.append(igvm.VpContext(0, NATIVE_MASK, ctx))
    vmsa = launch_digest.vmsa_from_native(igvm.parse_native_context(ctx), cbit=cbit)
    d.append(igvm.VpContext(lay.vmsa, SNP_MASK, vmsa))
    return f
