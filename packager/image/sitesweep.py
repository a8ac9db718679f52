"""The rewriter's linear sweep, fast: the same instructions as ``rewrite.sweep`` decodes, but
only those near a ``syscall`` become Python objects.

``rewrite.sweep`` turns every instruction of a file into an ``Insn`` (libpython: 3 million,
~20 s). What the rewriter needs from the sweep is less: the instructions within
``BEFORE``/``AFTER`` of each ``syscall`` (the ones it moves or reads the number from) and the
set of direct branch targets of the whole sweep. Here capstone decodes batches in C
(``cs_disasm``), the batch's records are read as one buffer, and the mnemonic columns of the
records are matched with whole-buffer byte operations, so Python touches only syscalls and
branch candidates. The decoding (where a sweep restarts after an undecodable byte, which
instructions are "unsure") is exactly ``rewrite.sweep``'s; tests/unit/test_sitesweep.py
checks that both give the same rewrite of real libraries byte for byte.
"""
from __future__ import annotations

import ctypes
import functools
import re
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from packager.image.rewrite import Insn

BEFORE = 12  # syscall_number looks back this many instructions
AFTER = 4  # _plan_site moves at most MAX_MOVED (4) instructions after a syscall
BATCH = 16384  # instructions decoded per cs_disasm call (4 MB of records)
RESYNC_DISTANCE = 64  # as rewrite.RESYNC_DISTANCE
# Mnemonics whose operand may be a direct branch target start with these (rewrite._direct_target).
BRANCH_PREFIXES = ("j", "call", "loop", "bnd j", "notrack j")
# The first characters ``int(text, 0)`` accepts (capstone prints a direct target as 0x...).
NUMBER_START = b"0123456789+- "
BRANCH_BYTES = tuple(p.encode() for p in BRANCH_PREFIXES)
SMALL_BATCH = 48  # below this many records, a batch is scanned record by record


@functools.cache
def _table(ch: int) -> bytes:
    """A bytes.translate table mapping ``ch`` to 1 and every other byte to 0."""
    return bytes(1 if b == ch else 0 for b in range(256))


_ONE = re.compile(b"\x01")


@dataclass
class Swept:
    """What a sweep of all executable ranges yields: the instructions near syscalls (in
    address order, each window contiguous), the positions of the syscalls in that list, and
    every direct branch target."""

    insns: list[Insn] = field(default_factory=list)
    sites: list[int] = field(default_factory=list)
    targets: set[int] = field(default_factory=set)


class _Sweeper:
    """One sweep over consecutive ranges, numbering instructions as one list (as
    ``rewrite.analyze`` concatenates the ranges' sweeps)."""

    def __init__(self) -> None:
        import capstone
        from capstone import _cs, _cs_insn

        self._md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
        self._md.skipdata = False
        self._cs, self._insn_t = _cs, _cs_insn
        self._rec = ctypes.sizeof(_cs_insn)
        self._char_p = ctypes.POINTER(ctypes.c_char)
        self._off_addr = _cs_insn.address.offset
        self._off_mnem = _cs_insn.mnemonic.offset
        self._off_ops = _cs_insn.op_str.offset
        self._mnem_len = _cs_insn.op_str.offset - _cs_insn.mnemonic.offset
        self._ops_len = _cs_insn.op_str.size
        self.count = 0  # instructions decoded so far (global index of the next one)
        self.kept: dict[int, Insn] = {}  # global index -> instruction near a syscall
        self.site_ids: list[int] = []
        self.targets: set[int] = set()
        # The last BEFORE instructions decoded: (global index, their batch, record, unsure_until).
        self._tail: list[tuple[int, bytes, int, int]] = []
        self._pending_until = -1  # keep instructions up to this global index (after a syscall)

    def range(self, code: bytes, addr: int) -> None:
        """Sweeps ``code`` loaded at ``addr`` (rewrite.sweep's restarts and unsure marks)."""
        buf = (ctypes.c_char * max(len(code), 1)).from_buffer_copy(code or b"\0")
        pos = 0
        unsure_until = -1
        while pos < len(code):
            last = self._run(buf, code, pos, addr, unsure_until)
            if last >= len(code):
                break
            pos = last + 1
            unsure_until = addr + pos + RESYNC_DISTANCE

    def _run(self, buf: Any, code: bytes, pos: int, addr: int, unsure_until: int) -> int:
        """Decodes from ``pos`` until an undecodable byte or the end; returns the offset after
        the last instruction decoded (``pos`` when none)."""
        from capstone import CS_ERR_OK, CsError

        last = pos
        while last < len(code):
            ptr = ctypes.POINTER(self._insn_t)()
            start = ctypes.cast(ctypes.addressof(buf) + last, self._char_p)
            n = self._cs.cs_disasm(self._md.csh, start, len(code) - last, addr + last, BATCH, ctypes.byref(ptr))
            if n == 0:
                status = self._cs.cs_errno(self._md.csh)
                if status != CS_ERR_OK:
                    raise CsError(status)
                return last
            try:
                raw = ctypes.string_at(ptr, n * self._rec)
            finally:
                self._cs.cs_free(ptr, n)
            end = self._batch(raw, n, unsure_until)
            last = end - addr
            if n < BATCH:
                return last
        return last

    def _insn(self, raw: bytes, r: int, unsure_until: int) -> Insn:
        from packager.image.rewrite import Insn

        base = r * self._rec
        a, size = struct.unpack_from("<QH", raw, base + self._off_addr)
        mnem = raw[base + self._off_mnem:base + self._off_mnem + self._mnem_len].split(b"\0", 1)[0]
        ops = raw[base + self._off_ops:base + self._off_ops + self._ops_len].split(b"\0", 1)[0]
        return Insn(a, size, mnem.decode("ascii"), ops.decode("ascii"), a >= unsure_until)

    def _hits(self, raw: bytes, n: int) -> tuple[list[int], list[int]]:
        """The records of a batch that may name a direct branch target (a BRANCH_PREFIXES
        mnemonic with a numeric operand) and the ``syscall`` records, by record number."""
        rec, m, o = self._rec, self._off_mnem, self._off_ops
        if n <= SMALL_BATCH:  # a short run between undecodable bytes: look at each record
            branch, sys = [], []
            for r in range(n):
                mnem = raw[r * rec + m:r * rec + m + self._mnem_len]
                if mnem.startswith(BRANCH_BYTES) and raw[r * rec + o] in NUMBER_START:
                    branch.append(r)
                elif mnem.startswith(b"syscall\0"):
                    sys.append(r)
            return branch, sys
        masks: dict[tuple[int, int], int] = {}

        def column(off: int, ch: int) -> int:
            # bit r set when byte ``off`` of record r is ``ch``
            if (off, ch) not in masks:
                masks[off, ch] = int.from_bytes(raw[off::rec].translate(_table(ch)), "little")
            return masks[off, ch]

        def prefix(off: int, text: bytes) -> int:
            bits = -1
            for i, ch in enumerate(text):
                bits &= column(off + i, ch)
            return bits

        branch_bits = 0
        for p in BRANCH_BYTES:
            branch_bits |= prefix(m, p)
        numeric = 0
        for ch in NUMBER_START:
            numeric |= column(o, ch)
        return ([h.start() for h in _ONE.finditer((branch_bits & numeric).to_bytes(n, "little"))],
                [h.start() for h in _ONE.finditer(prefix(m, b"syscall\0").to_bytes(n, "little"))])

    def _batch(self, raw: bytes, n: int, unsure_until: int) -> int:
        """Takes one batch of ``n`` records: branch targets, syscall windows, the tail; returns
        the address after its last instruction."""
        rec, o = self._rec, self._off_ops
        branch, sys = self._hits(raw, n)
        for r in branch:
            at = r * rec + o
            try:
                self.targets.add(int(raw[at:at + self._ops_len].split(b"\0", 1)[0], 0))
            except ValueError:
                pass
        base = self.count
        wanted: set[int] = set()
        if self._pending_until >= base:
            wanted.update(range(base, min(self._pending_until, base + n - 1) + 1))
        tail = {g: (traw, r, u) for g, traw, r, u in self._tail}
        for r in sys:
            k = base + r
            self.site_ids.append(k)
            for j in range(max(k - BEFORE, 0), k + AFTER + 1):
                if j < base:
                    self.kept[j] = self._insn(*tail[j])
                elif j < base + n:
                    wanted.add(j)
            self._pending_until = max(self._pending_until, k + AFTER)
        for j in wanted:
            self.kept[j] = self._insn(raw, j - base, unsure_until)
        keep = min(n, BEFORE)
        self._tail = (self._tail + [(base + r, raw, r, unsure_until) for r in range(n - keep, n)])[-BEFORE:]
        self.count = base + n
        addr, size = struct.unpack_from("<QH", raw, (n - 1) * rec + self._off_addr)
        return int(addr + size)

    def result(self) -> Swept:
        """The kept instructions in order and the syscalls' positions among them."""
        order = sorted(self.kept)
        where = {g: p for p, g in enumerate(order)}
        return Swept([self.kept[g] for g in order], [where[k] for k in self.site_ids], self.targets)


def sweep_sites(ranges: list[tuple[bytes, int]]) -> Swept:
    """Sweeps each (code, load address) in order, as ``rewrite.analyze`` does, keeping only
    the instructions within BEFORE/AFTER of each syscall and the direct branch targets."""
    s = _Sweeper()
    for code, addr in ranges:
        s.range(code, addr)
    return s.result()
