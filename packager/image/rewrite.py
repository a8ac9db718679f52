"""Pack-time syscall rewriting (linux-userland fast path).

Every ``syscall`` instruction of an x86-64 ELF executable or shared object is found by
disassembling its executable sections (capstone, a linear sweep; never a byte search). A site
is rewritten when a 5-byte ``jmp rel32`` fits over the syscall and neighbouring instructions
that can be moved: the moved instructions go to a per-site trampoline in a new ``PT_LOAD``
segment appended to the file, which calls the runtime's fast-path entry and jumps back. The
trampoline keeps the Linux syscall ABI: it steps over the 128-byte red zone before its ``call``,
and when the entry declines a call (it returns with rcx = 0) it executes the original
``syscall``, which seccomp traps as before. Sites that cannot be moved safely are left alone
(still trapped).

How the trampoline reaches the entry depends on the runtime (``fastpath_entry``): the
linux-userland runtime is a static PIE placed at a random address, so the trampoline calls
through a slot of the thread's runtime data, which the GS base points at (``call qword ptr
gs:[SLOT]``: nothing in the app's files names the runtime's address); a runtime at a fixed
base (windows) is called at its absolute address (``mov r11, ENTRY; call r11``).

Trampoline for one site (position-independent)::

    <moved instructions before the syscall>
    lea  rsp, [rsp-0x80]         ; skip the red zone
    call qword ptr gs:[SLOT]     ; or: mov r11, ENTRY; call r11
    lea  rsp, [rsp+0x80]
    jrcxz fallback               ; rcx == 0: the runtime declined, trap instead
    jmp  done
  fallback:
    syscall
  done:
    <moved instructions after the syscall>
    jmp  <end of the moved range>

The patched site is ``jmp trampoline`` followed by ``int3`` bytes up to the end of the moved
range (a jump into the middle, which the checks below rule out for direct branches, would stop
loudly rather than run something else).

The new segment takes the place of a ``PT_NOTE`` program header (the one duplicated by
``PT_GNU_PROPERTY`` when there is one), so the program header table stays where it is, in the
first page, and keeps its size. A file with no ``PT_NOTE`` is not rewritten.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Iterable

PAGE = 0x1000
PT_LOAD = 1
PT_NOTE = 4
PT_GNU_PROPERTY = 0x6474E553
PF_X, PF_R = 1, 4
SHF_EXECINSTR = 0x4
SHT_PROGBITS = 1
SHT_SYMTAB, SHT_DYNSYM = 2, 11
STT_FUNC = 2

SYSCALL = b"\x0f\x05"
JMP_REL32 = 0xE9
INT3 = 0xCC
LEA_RSP_MINUS_128 = bytes.fromhex("488d642480")
LEA_RSP_PLUS_128 = bytes.fromhex("488da42480000000")
CALL_R11 = bytes.fromhex("41ffd3")
# An entry value with bit 63 set names a GS slot (its low 32 bits: the offset from the GS base)
# rather than an address: no user-space address has bit 63 set.
GS_SLOT = 1 << 63
CALL_GS_ABS32 = bytes.fromhex("65ff1425")  # call qword ptr gs:[disp32]


def entry_call(entry: int) -> bytes:
    """The trampoline's call of the fast-path ``entry`` (an absolute address, or GS_SLOT |
    offset: ``call qword ptr gs:[offset]``)."""
    if entry & GS_SLOT:
        slot = entry & ~GS_SLOT
        if slot >= 1 << 31:
            raise ValueError(f"GS slot offset {slot:#x} does not fit a disp32")
        return CALL_GS_ABS32 + struct.pack("<i", slot)
    return b"\x49\xbb" + struct.pack("<Q", entry) + CALL_R11
JRCXZ_2_JMP_2 = bytes.fromhex("e302eb02")
# Instructions decoded this close after a byte the decoder could not read are not trusted.
RESYNC_DISTANCE = 64
# At most this many instructions are moved on either side of a syscall.
MAX_MOVED = 4

CONTROL_FLOW = ("j", "call", "ret", "loop", "iret", "int", "syscall", "sysenter", "sysret", "ud", "hlt",
                "xbegin", "xabort", "xend", "enter", "leave")
# Instructions that write rax/eax without naming it as their first operand.
IMPLICIT_RAX_WRITERS = {"cpuid", "rdtsc", "rdtscp", "rdpid", "mul", "div", "idiv", "lodsb", "lodsw", "lodsd",
                        "lodsq", "cdqe", "cwde", "cbw", "xgetbv", "rdrand", "rdseed", "cmpxchg", "cmpxchg8b",
                        "cmpxchg16b", "lahf", "in", "xlatb", "pop", "xchg", "xadd", "call"}
NOT_WRITING_FIRST = {"cmp", "test", "push", "bt"}
RAX_NAMES = ("rax", "eax", "ax", "al", "ah")


class RewriteError(Exception):
    """An ELF file the rewriter cannot read (truncated tables, not x86-64)."""


@dataclass(frozen=True)
class Insn:
    """One decoded instruction of a linear sweep."""

    addr: int
    size: int
    mnemonic: str
    op_str: str
    sure: bool  # False when decoded shortly after an undecodable byte

    @property
    def end(self) -> int:
        """The address after the instruction."""
        return self.addr + self.size


@dataclass(frozen=True)
class Site:
    """One syscall instruction: its address, its syscall number when a constant is loaded
    into eax right before it, and what the rewriter did (``rewritten`` or why it did not)."""

    addr: int
    nr: int | None
    status: str


@dataclass
class RewriteResult:
    """The (possibly) rewritten file and what was found in it."""

    data: bytes
    sites: list[Site] = field(default_factory=list)
    note: str = ""

    @property
    def rewritten(self) -> int:
        """How many sites now enter the runtime directly."""
        return sum(1 for s in self.sites if s.status == "rewritten")

    def summary(self) -> dict[str, Any]:
        """Counts and syscall numbers, as the image facts and the manifest record them."""
        reasons: dict[str, int] = {}
        for s in self.sites:
            if s.status != "rewritten":
                reasons[s.status] = reasons.get(s.status, 0) + 1
        nrs = sorted({s.nr for s in self.sites if s.nr is not None})
        out: dict[str, Any] = {"sites": len(self.sites), "rewritten": self.rewritten,
                               "trapped": len(self.sites) - self.rewritten, "trapped_reasons": reasons,
                               "syscalls": nrs, "unknown_number_sites": sum(1 for s in self.sites if s.nr is None)}
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class _Elf:
    etype: int
    phoff: int
    phnum: int
    phdrs: list[tuple[int, int, int, int, int, int, int, int]]  # type, flags, off, vaddr, paddr, filesz, memsz, align
    exec_ranges: list[tuple[int, int, int]]  # (vaddr, file offset, size)
    func_starts: set[int]


def is_rewritable_elf(data: bytes) -> bool:
    """True for a 64-bit little-endian x86-64 executable or shared object."""
    return (len(data) >= 64 and data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1
            and struct.unpack_from("<H", data, 18)[0] == 62 and struct.unpack_from("<H", data, 16)[0] in (2, 3))


def _parse(data: bytes) -> _Elf:
    if not is_rewritable_elf(data):
        raise RewriteError("not an x86-64 ELF executable or shared object")
    etype = struct.unpack_from("<H", data, 16)[0]
    phoff, shoff = struct.unpack_from("<QQ", data, 32)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", data, 54)
    if phentsize != 56 or phoff + phnum * 56 > len(data):
        raise RewriteError("bad program header table")
    phdrs = [struct.unpack_from("<IIQQQQQQ", data, phoff + 56 * i) for i in range(phnum)]
    exec_ranges: list[tuple[int, int, int]] = []
    func_starts: set[int] = set()
    sections = []
    if shoff and shentsize == 64 and shoff + shnum * 64 <= len(data):
        sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + 64 * i) for i in range(shnum)]
    for _name, stype, flags, addr, off, size, _link, _info, _align, entsize in sections:
        if stype == SHT_PROGBITS and flags & SHF_EXECINSTR and size and off + size <= len(data):
            exec_ranges.append((addr, off, size))
        if stype in (SHT_SYMTAB, SHT_DYNSYM) and entsize == 24 and off + size <= len(data):
            for k in range(size // 24):
                st_info = data[off + 24 * k + 4]
                value = struct.unpack_from("<Q", data, off + 24 * k + 8)[0]
                if st_info & 0xF == STT_FUNC and value:
                    func_starts.add(value)
    if not exec_ranges:  # no section headers: fall back to the executable segments
        for ptype, flags, off, vaddr, _pa, filesz, _memsz, _al in phdrs:
            if ptype == PT_LOAD and flags & PF_X and off + filesz <= len(data):
                exec_ranges.append((vaddr, off, filesz))
    exec_ranges.sort()
    return _Elf(etype, phoff, phnum, phdrs, exec_ranges, func_starts)


def _disassembler() -> Any:
    import capstone

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md.skipdata = False
    return md


def sweep(code: bytes, addr: int) -> list[Insn]:
    """A linear sweep of ``code`` loaded at ``addr``. A byte the decoder cannot read is
    skipped; the instructions decoded in the next RESYNC_DISTANCE bytes are marked unsure."""
    md = _disassembler()
    out: list[Insn] = []
    pos = 0
    unsure_until = -1
    while pos < len(code):
        last = pos
        for a, size, mnem, ops in md.disasm_lite(code[pos:], addr + pos):
            out.append(Insn(a, size, mnem, ops, a >= unsure_until))
            last = a - addr + size
        if last >= len(code):
            break
        pos = last + 1
        unsure_until = addr + pos + RESYNC_DISTANCE
    return out


def _is_control_flow(i: Insn) -> bool:
    return i.mnemonic.startswith(CONTROL_FLOW) or i.mnemonic in ("bnd jmp", "notrack jmp")


def _direct_target(i: Insn) -> int | None:
    if not (i.mnemonic.startswith(("j", "call", "loop")) or i.mnemonic.startswith(("bnd j", "notrack j"))):
        return None
    try:
        return int(i.op_str, 0)
    except ValueError:
        return None


def syscall_number(insns: list[Insn], k: int, targets: set[int]) -> int | None:
    """The constant in eax when ``insns[k]`` (a syscall) runs, if the instructions before it in
    the same straight-line block load one (``mov eax, N``, ``mov rax, N``, ``xor eax, eax``)."""
    j = k - 1
    while j >= 0 and k - j <= 12:
        i = insns[j]
        if insns[j].end != insns[j + 1].addr or _is_control_flow(i):
            return None
        first = i.op_str.split(",")[0].strip()
        if i.mnemonic == "mov" and first in ("eax", "rax"):
            src = i.op_str.split(",", 1)[1].strip()
            try:
                return int(src, 0) & 0xFFFFFFFF
            except ValueError:
                return None
        if i.mnemonic == "xor" and i.op_str in ("eax, eax", "rax, rax"):
            return 0
        if i.mnemonic in IMPLICIT_RAX_WRITERS or (first in RAX_NAMES and i.mnemonic not in NOT_WRITING_FIRST):
            return None
        if i.addr in targets:
            return None
        j -= 1
    return None


@dataclass(frozen=True)
class _Plan:
    site: int  # index of the syscall in the sweep
    before: list[Insn]
    after: list[Insn]

    @property
    def start(self) -> int:
        return self.before[0].addr if self.before else -1


def _movable(i: Insn) -> bool:
    # rip-relative operands are re-encoded with a new displacement (see _relocate); anything
    # else that depends on its own address (branches) is never moved.
    return i.sure and not _is_control_flow(i)


def _plan_site(insns: list[Insn], k: int, targets: set[int], lo: int, hi: int) -> _Plan | str:
    sc = insns[k]
    if not sc.sure:
        return "near undecodable bytes"
    # Backward: the syscall and the instructions right before it (the usual `mov eax, N`).
    reason = "no room for a jump"
    if sc.addr not in targets:
        before: list[Insn] = []
        j = k - 1
        while j >= 0 and len(before) < MAX_MOVED:
            i = insns[j]
            if i.end != (before[0].addr if before else sc.addr) or i.addr < lo:
                break
            if not _movable(i):
                reason = f"neighbour cannot be moved ({i.mnemonic})"
                break
            before.insert(0, i)
            if sc.end - i.addr >= 5:
                inner = [x.addr for x in before[1:]] + [sc.addr]
                if any(a in targets for a in inner):
                    reason = "branch target inside the moved range"
                    break
                return _Plan(k, before, [])
            j -= 1
    else:
        reason = "the syscall is a branch target"
    # Forward: the syscall and the instructions right after it.
    after: list[Insn] = []
    j = k + 1
    while j < len(insns) and len(after) < MAX_MOVED:
        i = insns[j]
        if i.addr != (after[-1].end if after else sc.end) or i.end > hi:
            break
        if i.addr in targets:
            return "branch target inside the moved range"
        if not _movable(i):
            return reason if reason != "no room for a jump" else f"neighbour cannot be moved ({i.mnemonic})"
        after.append(i)
        if i.end - sc.addr >= 5:
            return _Plan(k, [], after)
        j += 1
    return reason


def _relocate(md_detail: Any, code_at: dict[int, bytes], i: Insn, new_addr: int) -> bytes | None:
    raw = code_at[i.addr]
    if "rip" not in i.op_str:
        return raw
    insn = next(md_detail.disasm(raw, i.addr), None)
    if insn is None or not getattr(insn, "disp_offset", 0) or getattr(insn, "disp_size", 0) != 4:
        return None
    off = insn.disp_offset
    disp = struct.unpack_from("<i", raw, off)[0] + (i.addr - new_addr)
    if not -(1 << 31) <= disp < (1 << 31):
        return None
    return raw[:off] + struct.pack("<i", disp) + raw[off + 4:]


def _trampoline(plan: _Plan, insns: list[Insn], at: int, entry: int, md_detail: Any,
                code_at: dict[int, bytes]) -> bytes | None:
    out = bytearray()
    for i in plan.before:
        b = _relocate(md_detail, code_at, i, at + len(out))
        if b is None:
            return None
        out += b
    out += LEA_RSP_MINUS_128 + entry_call(entry) + LEA_RSP_PLUS_128
    out += JRCXZ_2_JMP_2 + SYSCALL
    for i in plan.after:
        b = _relocate(md_detail, code_at, i, at + len(out))
        if b is None:
            return None
        out += b
    back = (plan.after[-1].end if plan.after else insns[plan.site].end)
    out += bytes([JMP_REL32]) + struct.pack("<i", back - (at + len(out) + 5))
    return bytes(out)


def _vaddr_to_offset(elf: _Elf, vaddr: int) -> int | None:
    for ptype, _f, off, va, _pa, filesz, _m, _a in elf.phdrs:
        if ptype == PT_LOAD and va <= vaddr < va + filesz:
            return off + vaddr - va
    return None


def _note_slot(elf: _Elf) -> int | None:
    notes = [k for k, p in enumerate(elf.phdrs) if p[0] == PT_NOTE]
    if not notes:
        return None
    props = [(p[2], p[5]) for p in elf.phdrs if p[0] == PT_GNU_PROPERTY]
    for k in notes:
        if (elf.phdrs[k][2], elf.phdrs[k][5]) in props:
            return k
    return notes[-1]


def analyze(data: bytes) -> tuple[_Elf, list[Insn], set[int], list[tuple[int, int]]]:
    """Sweeps every executable range of ``data``; returns the parsed file, all instructions,
    the direct branch targets and function starts, and the (lo, hi) bounds per range."""
    elf = _parse(data)
    insns: list[Insn] = []
    bounds: list[tuple[int, int]] = []
    for vaddr, off, size in elf.exec_ranges:
        insns.extend(sweep(data[off:off + size], vaddr))
        bounds.append((vaddr, vaddr + size))
    targets = set(elf.func_starts)
    for i in insns:
        t = _direct_target(i)
        if t is not None:
            targets.add(t)
    return elf, insns, targets, bounds


def _analyze_sites(data: bytes) -> tuple[_Elf, list[Insn], set[int], list[tuple[int, int]], list[int]]:
    """What ``rewrite`` needs of ``analyze``, fast (packager/image/sitesweep.py): the parsed
    file, the instructions near each syscall (windows in address order), the direct branch
    targets and function starts, the (lo, hi) bounds per range, and the syscalls' positions
    in that instruction list. A file without a ``0f 05`` byte pair in its code has no
    syscall instruction, so it is not swept at all."""
    from packager.image.sitesweep import sweep_sites

    elf = _parse(data)
    bounds = [(vaddr, vaddr + size) for vaddr, _off, size in elf.exec_ranges]
    if not any(SYSCALL in data[off:off + size] for _va, off, size in elf.exec_ranges):
        return elf, [], set(elf.func_starts), bounds, []
    swept = sweep_sites([(data[off:off + size], vaddr) for vaddr, off, size in elf.exec_ranges])
    return elf, swept.insns, swept.targets | elf.func_starts, bounds, swept.sites


def rewrite(data: bytes, entry: int | None) -> RewriteResult:
    """Rewrites every safely movable syscall site of ``data`` into a call of the runtime's
    fast-path ``entry`` (an absolute address, or GS_SLOT | offset: see ``entry_call``). With
    ``entry`` None, only finds and classifies the
    sites (nothing changes). Same input, same output bytes."""
    elf, insns, targets, bounds, site_ids = _analyze_sites(data)
    idx_bounds = []
    for k in site_ids:
        i = insns[k]
        lo, hi = next(((a, b) for a, b in bounds if a <= i.addr < b), (i.addr, i.end))
        idx_bounds.append((k, lo, hi))
    result = RewriteResult(data=data)
    if not idx_bounds:
        return result
    slot = _note_slot(elf)
    plans: dict[int, _Plan | str] = {}
    claimed: set[int] = set()
    for k, lo, hi in idx_bounds:
        p = _plan_site(insns, k, targets, lo, hi)
        if isinstance(p, _Plan):
            span = [x.addr for x in p.before] + [insns[k].addr] + [x.addr for x in p.after]
            if claimed.intersection(span):
                p = "overlaps another site"
            else:
                claimed.update(span)
        plans[k] = p
    if entry is None:
        status = {k: "rewritable" if isinstance(p, _Plan) else p for k, p in plans.items()}
        result.sites = [Site(insns[k].addr, syscall_number(insns, k, targets), status[k]) for k, _l, _h in idx_bounds]
        return result
    if slot is None:
        result.note = "no PT_NOTE program header to turn into the trampoline segment"
        plans = {k: "no room for a trampoline segment" for k in plans}
    import capstone

    md_detail = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    md_detail.detail = True
    out = bytearray(data)
    seg_off = (len(data) + PAGE - 1) & ~(PAGE - 1)
    load_end = max(p[3] + p[6] for p in elf.phdrs if p[0] == PT_LOAD)
    seg_vaddr = (load_end + PAGE - 1) & ~(PAGE - 1)
    code = bytearray()
    statuses: dict[int, str] = {}
    for k, _lo, _hi in idx_bounds:
        p = plans[k]
        if not isinstance(p, _Plan):
            statuses[k] = p
            continue
        moved = p.before + [insns[k]] + p.after
        code_at: dict[int, bytes] = {}
        ok = True
        for i in moved:
            o = _vaddr_to_offset(elf, i.addr)
            if o is None:
                ok = False
                break
            code_at[i.addr] = bytes(data[o:o + i.size])
        tramp = _trampoline(p, insns, seg_vaddr + len(code), entry, md_detail, code_at) if ok else None
        if tramp is None:
            statuses[k] = "operand cannot be relocated"
            continue
        start = moved[0].addr
        end = moved[-1].end
        jump = bytes([JMP_REL32]) + struct.pack("<i", seg_vaddr + len(code) - (start + 5))
        o = _vaddr_to_offset(elf, start)
        assert o is not None
        out[o:o + (end - start)] = jump + bytes([INT3]) * (end - start - 5)
        code += tramp
        statuses[k] = "rewritten"
    result.sites = [Site(insns[k].addr, syscall_number(insns, k, targets), statuses[k]) for k, _l, _h in idx_bounds]
    if not code:
        result.data = data
        return result
    assert slot is not None
    phdrs = [p for k, p in enumerate(elf.phdrs) if k != slot]
    new = (PT_LOAD, PF_R | PF_X, seg_off, seg_vaddr, seg_vaddr, len(code), len(code), PAGE)
    last_load = max(k for k, p in enumerate(phdrs) if p[0] == PT_LOAD)
    phdrs.insert(last_load + 1, new)
    for k, p in enumerate(phdrs):
        struct.pack_into("<IIQQQQQQ", out, elf.phoff + 56 * k, *p)
    out += bytes(seg_off - len(out))
    out += code
    # The file ends on a page boundary (int3 after the trampolines, outside the segment's
    # file size): the runtime's loader then maps the segment's partial last page from the
    # file like the others, one host mapping and no copied page (issue 17, bench/RESULTS-issue17-ctx.md).
    out += bytes([INT3]) * (-len(out) % PAGE)
    result.data = bytes(out)
    return result


def rewrite_many(files: Iterable[tuple[str, bytes]], entry: int | None) -> dict[str, RewriteResult]:
    """Rewrites each (name, bytes) that is an x86-64 ELF; other files are not in the result."""
    return {name: rewrite(data, entry) for name, data in files if is_rewritable_elf(data)}


FASTPATH_SECTION = ".litebox.fastpath"
def fastpath_entry(runtime: bytes, section: str = FASTPATH_SECTION) -> int | None:
    """The runtime's fast-path entry: the 8-byte value of its ``section`` (default
    ``.litebox.fastpath``; a plugin's ``capabilities.rewrite_entry``). Either GS_SLOT | offset
    (the linux-userland runtime, a static PIE: the trampolines call through the thread's GS
    slot) or the entry's absolute address (a runtime at a fixed base, whose section value is
    final). None if absent."""
    import io

    from elftools.elf.elffile import ELFFile

    from packager.build.pesections import is_pe, pe_sections

    if is_pe(runtime):  # a Windows runtime: the section's PE name (8 bytes at most)
        data = pe_sections(runtime, (section,)).get(section)
        return int(struct.unpack("<Q", data)[0]) if data is not None and len(data) == 8 else None
    sec = ELFFile(io.BytesIO(runtime)).get_section_by_name(section)
    if sec is None or sec["sh_size"] != 8:
        return None
    return int(struct.unpack("<Q", sec.data())[0])
