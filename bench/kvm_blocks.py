#!/usr/bin/env python3
"""Benchmark aid (not a test): where a kvm boot's guest code goes under QEMU TCG, counted
rather than timed. Boots a packed kvm artifact once the way `litebox run` does (the runner's
QEMU options, ``qemu.direct_boot``) with QEMU's ``-d in_asm,exec,nochain`` log, and reports per
boot phase the guest blocks QEMU translated, their instructions, and the block executions,
with the kernel functions (symbols of the artifact's kernel, through ``nm``) that translated
the most.

    python3 bench/kvm_blocks.py ARTIFACT [--cmdline "litebox.image-checked"] [--top 15] [--json] [--again]

Under TCG a guest block translated once costs about 5 us of QEMU's CPU on this machine kind
(bench/RESULTS-issue17-kvm.md, "Round two"), and executing translated code is nearly free, so
the translated-block count is the boot's guest cost; unlike a time it does not depend on the
machine's load. Phases begin at the first block of a function: the PVH stub, ``kernel_main``
(the machine's set-up), ``litebox_vmkernel::os::start`` (image open, launch config, library OS
set-up), ``litebox_libos::loader::load`` (the program's load, the clock, the tick), the app's
first instruction, to the VM's exit. The log slows QEMU several times, so the kernel's
background tick (first one 50 ms after the app starts) may fire during the app's run here
when it does not in a plain boot: its blocks (``irq_stubs``, ``sched``) are counted in "app run".
``--again`` splits the program load's blocks into those executed there alone and those the
app executes again later (its syscalls reuse the path lookup, ``mprotect``...): only the
former shorten the boot when the load stops running them.
"""
from __future__ import annotations

import argparse
import bisect
import collections
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from packager.targets.targets import get  # noqa: E402

KERNEL_BASE = 0xFFFFFFFF80000000
USER_END = 0x800000000000
PHASES = [("PVH stub", None), ("machine set-up", "kernel_main"),
          ("image open + library OS set-up", "litebox_vmkernel::os::start"),
          ("program load + clock", "litebox_libos::loader::load"), ("app run to exit", "app")]
TRACE = re.compile(r"^Trace \d+: 0x[0-9a-f]+ \[[0-9a-f]+/([0-9a-f]+)/")
INSN = re.compile(r"^0x([0-9a-f]+):")


class Symbols:
    """The kernel's function symbols (demangled), for naming guest addresses."""

    def __init__(self, syms: list[tuple[int, str]]) -> None:
        syms = sorted(syms)
        self.addrs = [a for a, _ in syms]
        self.names = [n for _, n in syms]

    @classmethod
    def of(cls, elf: Path) -> Symbols:
        """The function symbols of ``elf`` (``nm -C``)."""
        out = subprocess.run(["nm", "-C", str(elf)], capture_output=True, text=True, check=False).stdout
        syms = [(int(p[0], 16), p[2]) for p in (line.split(maxsplit=2) for line in out.splitlines())
                if len(p) == 3 and p[1] in "tTwW"]
        if not syms:
            sys.exit(f"{elf}: no symbols (nm from binutils is needed)")
        return cls(syms)

    def name(self, addr: int) -> str:
        """The function holding ``addr``; "firmware" for the runner's BIOS (top of 4 GiB),
        "low" below 4 MiB (the PVH stub runs at physical addresses), "app" for the rest of the
        lower half."""
        if 0xFFF00000 <= addr < 1 << 32:
            return "firmware"
        if addr < USER_END:
            return "app" if addr >= 0x400000 else "low"
        if addr < KERNEL_BASE:
            return "?"
        i = bisect.bisect_right(self.addrs, addr) - 1
        return self.names[i] if i >= 0 else "?"


def boot_log(artifact: Path, cmdline: str, log: Path) -> None:
    """Boots ``artifact`` once with QEMU's translation and execution log in ``log``."""
    qemu = get("kvm").module.qemu
    directory = log.parent
    argv = qemu.qemu_argv(artifact, cmdline, qemu.file_chardev(directory / "control"), "tcg", "microvm",
                          direct=directory)
    argv += ["-d", "in_asm,exec,nochain", "-D", str(log)]
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=300, check=False)
    if qemu.read_exit(directory / "control") is None:
        sys.exit(f"the boot did not report an exit (QEMU {proc.returncode}): {proc.stderr[-500:]!r}")


def count(log: Path, syms: Symbols) -> list[dict[str, Any]]:
    """Per phase: translated blocks, instructions, executions, and per function."""
    markers = {marker: i for i, (_, marker) in enumerate(PHASES) if marker}
    phase = 0
    rows = [{"phase": name, "blocks": 0, "insns": 0, "execs": 0, "functions": collections.Counter(),
             "function_insns": collections.Counter()} for name, _ in PHASES]
    block: str | None = None  # the function of the block being listed (after "IN:")
    listing = False

    def enter(fn: str) -> None:
        nonlocal phase
        i = markers.get(fn)
        if i is not None and i == phase + 1:  # the phases come in this order
            phase = i

    with open(log, errors="replace") as f:
        for line in f:
            if line.startswith("Trace"):
                m = TRACE.match(line)
                if m:
                    fn = syms.name(int(m.group(1), 16))
                    enter(fn)
                    rows[phase]["execs"] += 1
                listing = False
            elif line.startswith("IN:"):
                listing, block = True, None
            elif listing:
                m = INSN.match(line)
                if m is None:
                    listing = bool(line.strip()) and block is None
                    continue
                if block is None:
                    block = syms.name(int(m.group(1), 16))
                    enter(block)
                    rows[phase]["blocks"] += 1
                    rows[phase]["functions"][block] += 1
                rows[phase]["insns"] += 1
                rows[phase]["function_insns"][block] += 1
    return rows


def again(log: Path, syms: Symbols, phase: int = 3) -> tuple[collections.Counter[str], collections.Counter[str]]:
    """Of the blocks first executed in phase ``phase`` (default: the program load), per
    function: those executed in no later phase (translated for that phase alone) and those
    executed again later (e.g. by the app's syscalls): shortening the latter in that phase
    only moves their translation."""
    markers = {marker: i for i, (_, marker) in enumerate(PHASES) if marker}
    current = 0
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    with open(log, errors="replace") as f:
        for line in f:
            m = TRACE.match(line) if line.startswith("Trace") else None
            if m is None:
                continue
            pc = int(m.group(1), 16)
            i = markers.get(syms.name(pc))
            if i is not None and i == current + 1:
                current = i
            first.setdefault(pc, current)
            last[pc] = current
    alone: collections.Counter[str] = collections.Counter()
    later: collections.Counter[str] = collections.Counter()
    for pc, ph in first.items():
        if ph == phase:
            (later if last[pc] > phase else alone)[syms.name(pc)] += 1
    return alone, later


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("artifact", type=Path, help="a packed kvm artifact (its kernel carries its symbols)")
    ap.add_argument("--cmdline", default="litebox.image-checked", help="the kernel command line")
    ap.add_argument("--top", type=int, default=15, help="functions shown per phase")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--again", action="store_true",
                    help="also: which of the program load's blocks the app executes again")
    args = ap.parse_args()
    syms = Symbols.of(args.artifact)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "qemu.log"
        boot_log(args.artifact.resolve(), args.cmdline, log)
        rows = count(log, syms)
        alone, later = again(log, syms) if args.again else (collections.Counter(), collections.Counter())
    if args.json:
        out = [{k: (dict(v.most_common(args.top)) if isinstance(v, collections.Counter) else v)
                for k, v in r.items() if k != "function_insns"} for r in rows]
        print(json.dumps(out, indent=1))
        return
    total = [sum(r[k] for r in rows) for k in ("blocks", "insns", "execs")]
    print(f"translated blocks {total[0]}, guest instructions {total[1]}, block executions {total[2]}")
    for r in rows:
        print(f"\n{r['phase']}: {r['blocks']} blocks, {r['insns']} instructions, {r['execs']} executions")
        for fn, n in r["functions"].most_common(args.top):
            print(f"  {n:5d} {r['function_insns'][fn]:6d}  {fn[:110]}")
    if args.again:
        print(f"\nprogram load's blocks: {sum(alone.values())} executed there alone, "
              f"{sum(later.values())} executed again later (alone / again, per function)")
        for fn, _ in (alone + later).most_common(args.top):
            print(f"  {alone[fn]:5d} {later[fn]:5d}  {fn[:110]}")


if __name__ == "__main__":
    main()
