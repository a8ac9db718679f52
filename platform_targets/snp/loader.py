"""A small IGVM loader for QEMU without one (QEMU < 10.1): the NATIVE platform of an IGVM file
as a PVH ELF "boot blob" that QEMU's own PVH boot (-kernel) loads.

The blob's PT_LOAD segments are exactly the native platform's pages (page data at their GPAs,
zero pages as zeroes) plus the parameter areas the file inserts, filled as an IGVM loader
fills them (the command line; the memory map as IGVM_VHS_MEMORY_MAP_ENTRY records), plus an
entry stub on its own page past all of them. QEMU enters the stub in 32-bit protected mode
with paging off; the stub loads the VP context's eight 32-bit registers and jumps to its rip.

One extension, for the kvm runner's boot module (the host environment the image's policy
admits, and stdin): when asked to pass a module, the loader writes its hvm_modlist_entry into
the page the start info's module list names, and only if that page is a parameter area with
no IGVM parameter in it (host-written, unmeasured memory by the file's own declaration), and
places the module's bytes past everything else. Standard IGVM loaders leave that page zero.

It is honest about what it cannot do: it refuses any directive it does not model and any VP
context other than flat 32-bit protected mode with paging off (what the stub can enter), and
parameters other than the command line and memory map.
"""
from __future__ import annotations

import struct

try:
    from . import igvm  # type: ignore[import-not-found]
except ImportError:  # loaded by path from target.py
    import litebox_target_snp_igvm as igvm  # type: ignore[no-redef]

PAGE = igvm.PAGE
LOW_RAM_END = 0x9F000
HIGH_RAM_START = 0x100000
FLAT_LIMIT = 0xFFFF_FFFF
STUB_REGS = (("rax", 0xB8), ("rcx", 0xB9), ("rdx", 0xBA), ("rbx", 0xBB), ("rsp", 0xBC), ("rbp", 0xBD),
             ("rsi", 0xBE), ("rdi", 0xBF))


class LoaderError(ValueError):
    """The file asks for something this loader does not do."""


def _check_context(ctx: dict[str, int]) -> None:
    want = {"cr0": lambda v: v & 0x8000_0001 == 1, "cr3": lambda v: v == 0, "cr4": lambda v: v == 0,
            "efer": lambda v: v == 0, "code_base": lambda v: v == 0, "data_base": lambda v: v == 0,
            "code_limit": lambda v: v == FLAT_LIMIT, "data_limit": lambda v: v == FLAT_LIMIT,
            "code_attributes": lambda v: v == 0xC09B, "data_attributes": lambda v: v == 0xC093,
            "rflags": lambda v: v & ~0x2 == 0, "gs_base": lambda v: v == 0}
    for name, ok in want.items():
        if not ok(ctx[name]):
            raise LoaderError(f"the native VP context has {name} = {ctx[name]:#x}: this loader enters only flat "
                              "32-bit protected mode with paging and interrupts off")
    for name in ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", *(r for r, _ in STUB_REGS)):
        if ctx[name] >> 32:
            raise LoaderError(f"the native VP context sets {name} = {ctx[name]:#x}, beyond 32-bit mode")


def memory_map_entries(memory: int) -> bytes:
    """IGVM_VHS_MEMORY_MAP_ENTRY records for low RAM and RAM from 1 MiB to ``memory``, then
    the terminating zero entry."""
    rows = [(0, LOW_RAM_END // PAGE), (HIGH_RAM_START // PAGE, (memory - HIGH_RAM_START) // PAGE), (0, 0)]
    return b"".join(struct.pack("<QQHHI", start, count, 0, 0, 0) for start, count in rows)


def native_pages(f: igvm.IgvmFile, cmdline: bytes,
                 free_areas: set[int] | None = None) -> tuple[dict[int, bytes], dict[str, int], int]:
    """(GPA → page contents, VP context, required memory end) of ``f``'s native platform, with
    the parameter areas filled (``cmdline`` NUL-terminated). LoaderError on anything else.
    ``free_areas``, when given, receives the GPAs of inserted parameter pages no IGVM parameter
    writes to."""
    mask = f.mask_of(igvm.PLATFORM_NATIVE)
    memory = 0
    areas: dict[int, bytearray] = {}
    pages: dict[int, bytes] = {}
    ctx = None
    pending: list[igvm.Parameter] = []
    for d in f.directives:
        if isinstance(d, igvm.RequiredMemory):
            if d.mask & mask:
                if d.gpa != 0:
                    raise LoaderError(f"required memory at {d.gpa:#x}: only RAM from GPA 0 is supported")
                memory = max(memory, d.size)
        elif isinstance(d, igvm.PageData):
            if d.mask & mask:
                if d.data_type != igvm.PAGE_NORMAL:
                    raise LoaderError(f"the native platform has a page of type {d.data_type} at {d.gpa:#x}")
                if d.gpa in pages:
                    raise LoaderError(f"the native platform loads {d.gpa:#x} twice")
                pages[d.gpa] = d.data or bytes(PAGE)
        elif isinstance(d, igvm.ParameterArea):
            areas[d.index] = bytearray(d.size)
        elif isinstance(d, igvm.Parameter):
            if d.index not in areas:
                raise LoaderError(f"parameter {d.kind:#x} names undeclared area {d.index}")
            pending.append(d)
        elif isinstance(d, igvm.ParameterInsert):
            if d.mask & mask:
                area = areas.pop(d.index)
                for p in [p for p in pending if p.index == d.index]:
                    value = {igvm.VHT_COMMAND_LINE: cmdline + b"\0",
                             igvm.VHT_MEMORY_MAP: memory_map_entries(memory)}.get(p.kind)
                    if value is None:
                        raise LoaderError(f"unsupported parameter type {p.kind:#x}")
                    if p.offset + len(value) > len(area):
                        raise LoaderError(f"parameter {p.kind:#x} does not fit its area ({len(area)} bytes)")
                    area[p.offset:p.offset + len(value)] = value
                for off in range(0, len(area), PAGE):
                    pages[d.gpa + off] = bytes(area[off:off + PAGE])
                    if free_areas is not None and not any(p.index == d.index for p in pending):
                        free_areas.add(d.gpa + off)
        elif isinstance(d, igvm.VpContext):
            if d.mask & mask:
                if d.vp_index != 0:
                    raise LoaderError("only one vCPU (vp 0) is supported")
                ctx = igvm.parse_native_context(d.data)
        elif isinstance(d, igvm.SnpIdBlock):
            continue
        else:
            raise LoaderError(f"unsupported directive {type(d).__name__}")
    if ctx is None:
        raise LoaderError("the native platform has no VP context")
    _check_context(ctx)
    if memory == 0 or max(pages, default=0) + PAGE > memory:
        raise LoaderError("the pages do not fit in the required memory")
    return pages, ctx, memory


def entry_stub(ctx: dict[str, int], at: int) -> bytes:
    """32-bit code at ``at``: mov imm32 into eax..edi from the context, then jmp [target]."""
    code = bytearray()
    for name, opcode in STUB_REGS:
        code += bytes([opcode]) + struct.pack("<I", ctx[name])
    target = at + len(code) + 6
    code += b"\xff\x25" + struct.pack("<I", target) + struct.pack("<I", ctx["rip"])
    return bytes(code)


def _place_module(pages: dict[int, bytes], ctx: dict[str, int], free: set[int], module: bytes,
                  at: int, memory: int) -> None:
    """Writes ``module`` at ``at`` and its hvm_modlist_entry where the start info (at %ebx)
    names its module list, which must be a free parameter page."""
    start_info = pages.get(ctx["rbx"] & ~(PAGE - 1))
    if start_info is None:
        raise LoaderError("the VP context's %ebx names no loaded start info: cannot pass a boot module")
    off = ctx["rbx"] % PAGE
    magic, nr_modules, modlist = struct.unpack_from("<I8xIQ", start_info, off)
    if magic != 0x336EC578 or nr_modules < 1 or modlist % PAGE + 32 > PAGE or modlist & ~(PAGE - 1) not in free:
        raise LoaderError("the file has no module list in a host-written parameter area: "
                          "cannot pass the host environment or stdin")
    if at + len(module) > memory:
        raise LoaderError("the boot module does not fit below the required memory's end")
    page = bytearray(pages[modlist & ~(PAGE - 1)])
    struct.pack_into("<QQQQ", page, modlist % PAGE, at, len(module), 0, 0)
    pages[modlist & ~(PAGE - 1)] = bytes(page)
    for i in range(0, len(module), PAGE):
        pages[at + i] = module[i:i + PAGE].ljust(PAGE, b"\0")


def boot_blob(f: igvm.IgvmFile, cmdline: bytes, module: bytes | None = None) -> tuple[bytes, int]:
    """(a PVH ELF that places the native platform's pages and enters its VP context, the guest
    memory size in bytes); with ``module``, the kvm runner's boot module passed as above."""
    free: set[int] = set()
    pages, ctx, memory = native_pages(f, cmdline, free)
    stub_at = (max(pages) + 2 * PAGE) & ~(PAGE - 1)
    if stub_at + PAGE > memory:
        raise LoaderError("no room for the entry stub below the required memory's end")
    pages[stub_at] = entry_stub(ctx, stub_at).ljust(PAGE, b"\0")
    if module:
        _place_module(pages, ctx, free, module, stub_at + PAGE, memory)
    runs: list[tuple[int, bytearray]] = []
    for gpa in sorted(pages):
        if runs and runs[-1][0] + len(runs[-1][1]) == gpa:
            runs[-1][1].extend(pages[gpa])
        else:
            runs.append((gpa, bytearray(pages[gpa])))
    note = struct.pack("<III4sI", 4, 4, 18, b"Xen\0", stub_at)
    phnum = len(runs) + 1
    data_off = 64 + 56 * phnum
    out = bytearray()
    phdrs = bytearray()
    off = (data_off + len(note) + PAGE - 1) & ~(PAGE - 1)
    for gpa, body in runs:
        phdrs += struct.pack("<IIQQQQQQ", 1, 7, off, gpa, gpa, len(body), len(body), PAGE)
        off += len(body)
    phdrs += struct.pack("<IIQQQQQQ", 4, 4, data_off, 0, 0, len(note), len(note), 4)
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack(
        "<HHIQQQIHHHHHH", 2, 62, 1, stub_at, 64, 0, 0, 64, 56, phnum, 64, 0, 0)
    out += ehdr + phdrs + note
    out += bytes(((len(out) + PAGE - 1) & ~(PAGE - 1)) - len(out))
    for _gpa, body in runs:
        out += body
    return bytes(out), memory
