"""linux-userland: the runtime is a static PIE the kernel places at a random address
(docs/security.md, "What is not enforced"; docs/targets/linux-userland.md, "The trampoline").

A packed program reads the runtime's fast-path entry where the rewritten sites' trampolines
find it (gs:[40]): eight runs must see it at two or more addresses (the kernel's mmap
randomisation gives 28 bits here; eight runs at one address would be a 2^-196 chance), always
at the entry's own offset in its page. The app cannot map over, unmap or re-protect the
runtime's code wherever it lands (MAP_FIXED: ENOMEM, MAP_FIXED_NOREPLACE: EEXIST, munmap:
EINVAL, mprotect: EACCES), and its rewritten syscalls are still served through the GS slot.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from litebox_e2e import describe, pack, run_program

SRC = Path(__file__).resolve().parent / "programs" / "runtime_aslr.c"

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed"),
    pytest.mark.skipif(os.environ.get("LITEBOX_E2E_NO_REWRITE") == "1", reason="chooses rewriting itself"),
]


def _entry_offset(artifact: Path) -> int:
    """The fast-path entry's link-time address (the runtime is linked at 0): its
    `.litebox.fastpath_at` word holds the entry's distance from that word."""
    elf = ELFFile(io.BytesIO(artifact.read_bytes()))
    at = elf.get_section_by_name(".litebox.fastpath_at")
    assert at is not None and at["sh_size"] == 8
    return int(at["sh_addr"]) + struct.unpack("<q", at.data())[0]


def test_the_runtime_is_at_a_random_address_and_keeps_its_code(tmp_path: Path) -> None:
    prog = tmp_path / "runtime_aslr"
    subprocess.run(["gcc", "-O2", "-static", "-Wall", "-o", str(prog), str(SRC)], check=True)
    art = pack(prog, tmp_path / "dist")
    offset = _entry_offset(art.path)
    seen = set()
    for _ in range(8):
        proc = run_program([art.path])
        assert proc.returncode == 0, describe(proc)
        lines = dict(line.split(": ", 1) for line in proc.stdout.decode().splitlines())
        entry = int(lines["entry"], 16)
        assert entry % 4096 == offset % 4096 and entry >= offset, (hex(entry), hex(offset))
        seen.add(entry - offset)
        assert lines["map-fixed"] == "refused errno=12"  # ENOMEM
        assert lines["map-noreplace"] == "refused errno=17"  # EEXIST
        assert lines["munmap"] == "refused errno=22"  # EINVAL
        assert lines["mprotect"] == "refused errno=13"  # EACCES
        assert lines["getppid"] == "1"
    assert len(seen) >= 2, f"the runtime was loaded at {sorted(hex(b) for b in seen)} in 8 runs"
    # Not the old fixed base, and page-aligned.
    assert all(b % 4096 == 0 and b != 0x7E00_0000_0000 for b in seen)
    # The rewritten getppid site went through the trampoline (the fast path): the manifest says
    # the program's sites were rewritten.
    report = json.loads(art.manifest.read_text())["rewrite"]
    assert report["enabled"] and report["entry"] == "0x8000000000000028"
    assert sum(f["rewritten"] for f in report["files"].values()) > 0
