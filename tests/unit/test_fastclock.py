"""The linux-userland runtime's light clock path (runtime/src/fastclock.rs) saves no xmm
register, so the code it runs may not touch one: the built runtime's light-path callee is
disassembled (capstone, following its branches) and any vector register in it is refused."""
from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from packager.targets.cargobuild import cargo_env

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "target/release/litebox-runtime-linux-userland"
# Bytes of the entry searched for the light path's call (the entry is ~0x300 bytes long).
ENTRY_SPAN = 0x600
VECTOR = ("xmm", "ymm", "zmm", "mm0", "mm1", "mm2", "mm3", "mm4", "mm5", "mm6", "mm7")


def _reader(runtime: bytes):  # noqa: ANN202 - a closure over the ELF's segments
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(runtime))
    loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]

    def read(addr: int, n: int) -> bytes:
        for s in loads:
            if s["p_vaddr"] <= addr < s["p_vaddr"] + s["p_filesz"]:
                off = s["p_offset"] + addr - s["p_vaddr"]
                return runtime[off:off + min(n, s["p_vaddr"] + s["p_filesz"] - addr)]
        raise AssertionError(f"address {addr:#x} is in no loaded segment")
    return read


def fastpath_code(runtime: bytes) -> int:
    """The fast-path entry's address in the (stripped, PIE) runtime's file: its
    ``.litebox.fastpath_at`` word holds the entry's distance from that word (the
    ``.litebox.fastpath`` value the packer reads is a GS slot, not an address)."""
    import struct

    from elftools.elf.elffile import ELFFile

    sec = ELFFile(io.BytesIO(runtime)).get_section_by_name(".litebox.fastpath_at")
    assert sec is not None and sec["sh_size"] == 8, "no .litebox.fastpath_at section"
    return int(sec["sh_addr"]) + struct.unpack("<q", sec.data())[0]


def _md():  # noqa: ANN202
    import capstone

    return capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)


def light_path_callee(runtime: bytes) -> int:
    """The address the fast-path entry calls for the light clock path: the direct call that is
    followed by ``cmp rax, -0x1000`` (the DECLINE test). AssertionError if the entry has none."""
    entry = fastpath_code(runtime)
    insns = list(_md().disasm_lite(_reader(runtime)(entry, ENTRY_SPAN), entry))
    assert insns and insns[0][2] == "pushfq", "the .litebox.fastpath_at word does not name the entry"
    for call, nxt in zip(insns, insns[1:]):
        if call[2] == "call" and nxt[2] == "cmp" and nxt[3] == "rax, -0x1000":
            return int(call[3], 0)
    raise AssertionError("the fast-path entry has no light clock path (call; cmp rax, -0x1000)")


def vector_uses(runtime: bytes, start: int) -> list[str]:
    """Every instruction reachable from ``start`` (direct branches and calls followed, up to
    each ``ret``; indirect calls, i.e. the vDSO, not followed) that names a vector register."""
    read, md = _reader(runtime), _md()
    seen: set[int] = set()
    todo = [start]
    found: list[str] = []
    while todo:
        at = todo.pop()
        while at not in seen:
            seen.add(at)
            insn = next(md.disasm_lite(read(at, 16), at), None)
            assert insn is not None, f"undecodable code at {at:#x}"
            addr, size, mnem, ops = insn
            if any(v in ops for v in VECTOR) or mnem.startswith(("v", "fx", "xsave", "xrstor")):
                found.append(f"{addr:#x}: {mnem} {ops}")
            if mnem in ("ret", "ud2", "int3") or mnem.startswith("hlt"):
                break
            try:
                target = int(ops, 0)
            except ValueError:
                target = None
            if mnem.startswith("j") or mnem == "call":
                if target is None and mnem == "jmp":
                    break  # an indirect jump: nothing after it is reached from here
                if target is not None:
                    todo.append(target)
                if mnem == "jmp":
                    break
            at = addr + size
    return found


@pytest.fixture(scope="module")
def runtime() -> bytes:
    """The runtime as the packer builds it (the same cargo command and environment, so the
    build is shared with the packs of the e2e tests; a no-op when it is current)."""
    if shutil.which("cargo") is None:
        pytest.skip("cargo not installed")
    subprocess.run(["cargo", "build", "--locked", "--release", "-p", "litebox-runtime-linux-userland"],
                   cwd=REPO, env=cargo_env(REPO), check=True, timeout=3600)
    return RUNTIME.read_bytes()


def test_light_clock_path_touches_no_vector_register(runtime: bytes) -> None:
    callee = light_path_callee(runtime)
    assert vector_uses(runtime, callee) == []


def test_the_check_sees_vector_code(runtime: bytes) -> None:
    # The general path's dispatch (the entry's first call) is ordinary Rust that does use xmm:
    # the walk must find it there, or the test above proves nothing.
    entry = fastpath_code(runtime)
    insns = list(_md().disasm_lite(_reader(runtime)(entry, ENTRY_SPAN), entry))
    dispatch = next(int(i[3], 0) for i in insns if i[2] == "call")
    assert vector_uses(runtime, dispatch) != []
