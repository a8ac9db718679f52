#!/usr/bin/env python3
"""Which of the linux-userland runtime's functions run when packed apps start, recorded with
uprobes, written as a linker symbol-ordering file (issue 17, rss2). Not a test: the tool behind
platform_targets/linux_userland/runtime/startup-order.txt.

    python3 bench/runtime_order.py --runtime SYMS --out FILE ARTIFACT [ARGS...] [-- ARTIFACT ...]

SYMS is a runtime built with symbols (`CARGO_PROFILE_RELEASE_STRIP=false CARGO_TARGET_DIR=DIR
cargo build --release -p litebox-runtime-linux-userland`), and each ARTIFACT an app packed with
it (`LITEBOX_RUNTIME_LINUX_USERLAND=SYMS litebox pack ...`). Puts one uprobe on every function
of the runtime's text in each artifact (tracefs, group `rss2order`, in a trace instance of its
own; root), runs every command line once, and writes to FILE a linker script that lays out the
functions that ran first and back to back: those the app's processes ran (in the order they
first ran; init's included, since the app's first process is forked from it and goes on
through them), then those only the supervisor ran. The kernel's
fault-around maps 64 KiB around each touched page of the runtime's code, so fewer pages that
never run become resident. Removes its probes at the end. Regenerate after large changes to
the runtime, e.g.:

    python3 bench/runtime_order.py --runtime SYMS \
        --out platform_targets/linux_userland/runtime/startup-order.ld \
        hello-static-linux-userland -- hello-dynamic-linux-userland -- \
        python3-linux-userland -c pass -- python3-linux-userland -c "import json, subprocess; ..."
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

TRACEFS = Path("/sys/kernel/tracing")
GROUP = "rss2order"
# A trace instance of its own: its own buffer (large enough that the first hits of a run are
# not overwritten), leaving the global one alone.
INSTANCE = TRACEFS / "instances" / GROUP
# The runtime's hand-written entry points (global_asm!): not probed (a probe's out-of-line step
# moves a `syscall` off the address the gate allows, and they run on borrowed stacks) and not
# ordered (their section is laid out as written).
# Functions the supervisor enters and init and the app's processes leave (they are on its
# stack when it clones init: litebox_main, supervisor::start, supervisor::spawn_init).
RETURNED_THROUGH = ("litebox_main", "10supervisor5start17h", "10supervisor10spawn_init17h")
ASM_STUBS = {"_start", "litebox_fastpath", "litebox_onstack_call", "litebox_gate", "litebox_gate_syscall",
             "litebox_gate_ret", "litebox_restorer", "litebox_child_entry", "litebox_enter"}


def functions(runtime: Path) -> list[tuple[int, str]]:
    """(file offset, mangled name) of every function in the runtime's executable segment."""
    loads = []
    for line in subprocess.run(["readelf", "-lW", str(runtime)], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        f = line.split()
        if f and f[0] == "LOAD" and "E" in f[6:-1]:
            loads.append((int(f[1], 16), int(f[2], 16), int(f[4], 16)))
    if len(loads) != 1:
        raise SystemExit(f"runtime_order: expected one executable segment in {runtime}")
    off, vaddr, size = loads[0]
    out = []
    for line in subprocess.run(["nm", "--defined-only", str(runtime)], capture_output=True, text=True,
                               check=True).stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "tTwW":
            addr = int(f[0], 16)
            if vaddr <= addr < vaddr + size and f[2] not in ASM_STUBS:
                out.append((addr - vaddr + off, f[2]))
    return sorted(set(out))


def write_events(text: str) -> None:
    """Appends probe definitions to tracefs's uprobe_events, one write per line (tracefs parses
    what each write holds)."""
    fd = os.open(TRACEFS / "uprobe_events", os.O_WRONLY | os.O_APPEND)  # (tracefs refuses lseek)
    try:
        for line in text.splitlines():
            os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def clear() -> None:
    """Disables and removes this tool's probes."""
    enable = INSTANCE / "events" / GROUP / "enable"
    if enable.exists():
        enable.write_text("0\n")
    kept = [ln for ln in (TRACEFS / "uprobe_events").read_text().splitlines() if not ln.startswith(f"p:{GROUP}/")]
    (TRACEFS / "uprobe_events").write_text("")  # only this tool's probes are dropped below
    if kept:
        write_events("".join(f"{ln}\n" for ln in kept))


# The functions a fork child returns through, from the syscall entry's dispatch down to fork's:
# laid out back to back where the first of them lands, so that the child, which gets no page
# tables for the runtime's code, faults in one 64 KiB window of them rather than two
# (tests/e2e/test_e2e_fork_faults.py). Name fragments of the mangled symbols. Since issue 17
# spawn2 all three are in the plain `.text` input section (a `link_section` attribute each),
# which `linker_script` writes first, so these patterns match nothing there; kept for a build
# where they are not.
FORK_RETURN = ("litebox_fastpath_dispatch", "13litebox_libos4shim8dispatch17h",
               "13litebox_libos4shim7process8dispatch17h")


# The read-only data a fork child reads on the same way: the jump tables LLVM makes of the
# entry's dispatch, of the shim's and of the process calls' `match` (each in `.rodata.<the
# function's mangled name>`), and the shim's routing table (`shim::DIRECT`, a `static` for the
# name). `linker_script` puts them right after the plain `.text`, in the window of code the
# child faults in anyway, rather than in the runtime's read-only data mapping, which fork leaves
# without page-table entries too: one fault fewer per fork child (issue 17 spawn3;
# tests/e2e/test_e2e_fork_faults.py). Input-section patterns.
FORK_TABLES = (".rodata.litebox_fastpath_dispatch", ".rodata._ZN13litebox_libos4shim8dispatch17h*",
               ".rodata._ZN13litebox_libos4shim7process8dispatch17h*", ".rodata._ZN13litebox_libos4shim6DIRECT17h*")


def keep_together(order: list[str], group: tuple[str, ...]) -> list[str]:
    """`order` with the first function matching each fragment of `group` moved, in `group`'s
    order, to where the earliest of them is; unchanged when fewer than two of them ran."""
    members = [m for m in (next((n for n in order if g in n), None) for g in group) if m is not None]
    if len(members) < 2:
        return order
    at = min(order.index(m) for m in members)
    rest = [n for n in order if n not in members]
    return rest[:at] + members + rest[at:]


def linker_script(order: list[str]) -> str:
    """An augmenting linker script (GNU ld and lld) that puts the runtime's `.text` input
    section (its hand-written entry points, run on every trapped call), the read-only data of
    `FORK_TABLES` and then the sections of the functions in `order` into one output section
    before `.text`. Rust names are matched
    without their hash (`17h<16 hex>E`), which changes with the build's settings but not with
    edits elsewhere; LLVM may put a function in `.text.unlikely.NAME`, matched too."""
    pats: list[str] = []
    for name in order:
        pat = re.sub(r"17h[0-9a-f]{16}E$", "17h*", name)
        if pat not in pats:
            pats.append(pat)
    body = "".join(f"    *(.text.{p} .text.unlikely.{p})\n" for p in pats)
    return ("/* Written by bench/runtime_order.py (issue 17, rss2): the linux-userland runtime's functions\n"
            "   that ran when packed apps started, app processes' first, laid out first and back to back\n"
            "   (docs/targets/linux-userland.md, \"Resident memory\"). */\n"
            "SECTIONS\n{\n  .text.startup_order : {\n    *(.text)\n"
            + f"    *({' '.join(FORK_TABLES)})\n" + body + "  }\n}\nINSERT BEFORE .text;\n")


def main() -> int:
    """Records and writes the ordering file; returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runtime", type=Path, required=True, help="the runtime built with symbols")
    ap.add_argument("--out", type=Path, required=True, help="the linker script to write")
    ap.add_argument("commands", nargs=argparse.REMAINDER, help="ARTIFACT [ARGS...] [-- ARTIFACT [ARGS...]]...")
    a = ap.parse_args()
    cmds: list[list[str]] = [[]]
    for w in a.commands:
        if w == "--":
            cmds.append([])
        else:
            cmds[-1].append(w)
    cmds = [c for c in cmds if c]
    if not cmds:
        ap.error("no artifact to run")
    funcs = functions(a.runtime)
    names = {f"f{i}": name for i, (_, name) in enumerate(funcs)}
    INSTANCE.mkdir(exist_ok=True)
    (INSTANCE / "buffer_size_kb").write_text("65536\n")
    try:
        # Per run: the first process is the supervisor, every later one init (pid 1 of the
        # sandbox) or an app process (the peak of resident memory, forked from init, so it goes
        # on through the rest of init's functions, which a probe on their entry cannot see).
        # The file lists what init and the app processes run first, then what only the
        # supervisor runs, but for the functions on the supervisor's stack when it clones init
        # (RETURNED_THROUGH): init and the app return through them.
        best: dict[str, tuple[int, int]] = {}  # name: (rank, order of first hit)
        for c in cmds:
            clear()
            write_events("".join(f"p:{GROUP}/f{i} {Path(c[0]).resolve()}:0x{off:x}\n"
                                 for i, (off, _) in enumerate(funcs)))
            (INSTANCE / "trace").write_text("")
            (INSTANCE / "events" / GROUP / "enable").write_text("1\n")
            r = subprocess.run(c, stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=False)
            (INSTANCE / "events" / GROUP / "enable").write_text("0\n")
            hits = re.findall(r"-(\d+)\s+\[\d+\].*? (f\d+): \(0x", (INSTANCE / "trace").read_text())
            if any(int(ln.split()[1]) for d in (INSTANCE / "per_cpu").iterdir()
                   for ln in (d / "stats").read_text().splitlines() if ln.startswith("overrun:")):
                print("runtime_order: the trace buffer overran: first hits may be lost", file=sys.stderr)
            # Host pids grow: the supervisor's is the smallest, init's (cloned by it) the next.
            pids = sorted({int(pid) for pid, _ in hits})
            first: dict[str, int] = {}
            for pid, f in hits:
                supervisor_only = int(pid) == pids[0] and not any(k in names[f] for k in RETURNED_THROUGH)
                rank = 1 if supervisor_only else 0
                first[f] = min(first.get(f, 3), rank)
            new = [f for f in first if names[f] not in best]
            for f, rank in first.items():
                was_rank, at = best.get(names[f], (rank, len(best)))
                best[names[f]] = (min(rank, was_rank), at)
            print(f"runtime_order: {' '.join(c)}: exit {r.returncode}, {len(first)} functions ran in "
                  f"{len(pids)} processes ({len(new)} new)", file=sys.stderr)
        order = keep_together(sorted(best, key=lambda n: best[n]), FORK_RETURN)
    finally:
        clear()
        INSTANCE.rmdir()
    a.out.write_text(linker_script(order))
    print(f"runtime_order: {len(order)} of {len(funcs)} functions written to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
