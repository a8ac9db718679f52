"""The syscall rewriter (packager/image/rewrite.py) on synthetic code: site finding, the syscall
number, the choice of moved instructions, the trampoline's bytes, the new segment, and the
generated table of implemented syscalls."""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from packager.image import compat
from packager.image import rewrite as rw

REPO = Path(__file__).resolve().parents[2]
TRICKY = REPO / "tests/e2e/programs/rewrite/tricky.S"
ENTRY = 0x7E00_0000_1000
# The linux-userland runtime's entry: a GS slot (FastData.entry at gs:[0x28]), not an address.
GS_ENTRY = rw.GS_SLOT | 0x28


def _disasm(code: bytes, addr: int) -> list[tuple[int, int, str, str]]:
    import capstone

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    return list(md.disasm_lite(code, addr))


def test_generated_syscall_table_is_current() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_implemented", REPO / "scripts/gen_implemented.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    current = (REPO / "packager/image/syscalls_implemented.py").read_text(encoding="utf-8")
    assert gen.render() == current, "run scripts/gen_implemented.py: a HANDLED array changed"
    from packager.image.syscalls_implemented import IMPLEMENTED, name

    assert 39 in IMPLEMENTED and name(39) == "getpid"
    assert 206 not in IMPLEMENTED  # io_setup: Linux AIO is not served
    assert 41 in IMPLEMENTED and 165 not in IMPLEMENTED  # socket: served; mount: refused
    assert 15 in IMPLEMENTED  # rt_sigreturn: served by the platforms (SERVED_BY_PLATFORM)
    doc = (REPO / "docs/syscalls.md").read_text(encoding="utf-8")
    assert gen.render_doc() == doc, "run scripts/gen_implemented.py: a shim table changed"


def test_syscalls_doc_rows_reflect_the_shim_tables() -> None:
    rows = {}
    for line in (REPO / "docs/syscalls.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[0].isdigit():
            rows[int(cells[0])] = cells
    assert len(rows) >= 360 and rows[0][1] == "`read`"
    assert rows[39][2] == "full"  # getpid
    assert rows[58][2] == "partial" and "not suspended" in rows[58][4]  # vfork
    assert rows[206][2] == "ENOSYS"  # io_setup


def test_sweep_finds_syscall_and_its_number() -> None:
    code = bytes.fromhex("b827000000" "0f05" "c3")  # mov eax, 39; syscall; ret
    insns = rw.sweep(code, 0x1000)
    assert [i.mnemonic for i in insns] == ["mov", "syscall", "ret"]
    assert rw.syscall_number(insns, 1, set()) == 39


def test_bytes_0f05_inside_an_instruction_are_not_a_site() -> None:
    code = bytes.fromhex("b80f050000" "c3")  # mov eax, 0x50f; ret: the bytes 0f 05, no syscall
    insns = rw.sweep(code, 0x1000)
    assert not any(i.mnemonic == "syscall" for i in insns)


def test_number_unknown_when_eax_comes_from_elsewhere() -> None:
    code = bytes.fromhex("4889f8" "0f05")  # mov rax, rdi; syscall
    insns = rw.sweep(code, 0x1000)
    assert rw.syscall_number(insns, 1, set()) is None


def test_plan_moves_backward_over_mov() -> None:
    code = bytes.fromhex("b827000000" "0f05" "c3")
    insns = rw.sweep(code, 0x1000)
    plan = rw._plan_site(insns, 1, set(), 0x1000, 0x1000 + len(code))
    assert isinstance(plan, rw._Plan) and [i.mnemonic for i in plan.before] == ["mov"] and not plan.after


def test_plan_moves_forward_when_the_syscall_is_a_branch_target() -> None:
    # mov eax, 39; syscall (a branch target); cmp rax, -4095; ret
    code = bytes.fromhex("b827000000" "0f05" "483d01f0ffff" "c3")
    insns = rw.sweep(code, 0x1000)
    plan = rw._plan_site(insns, 1, {0x1005}, 0x1000, 0x1000 + len(code))
    assert isinstance(plan, rw._Plan) and not plan.before and [i.mnemonic for i in plan.after] == ["cmp"]


def test_plan_refuses_branch_target_inside_and_control_flow() -> None:
    # syscall (a branch target) followed by ret: neither way works
    code = bytes.fromhex("b827000000" "0f05" "c3")
    insns = rw.sweep(code, 0x1000)
    assert isinstance(rw._plan_site(insns, 1, {0x1005}, 0x1000, 0x1008), str)
    # a target inside the moved range (on the syscall) with the mov before it
    code = bytes.fromhex("31ff" "b827000000" "0f05" "c3")
    insns = rw.sweep(code, 0x1000)
    assert isinstance(rw._plan_site(insns, 2, {0x1007}, 0x1000, 0x100A), str)


def test_plan_refuses_end_of_range() -> None:
    code = bytes.fromhex("0f05")  # a lone syscall at the end of its section
    insns = rw.sweep(code, 0x1000)
    assert isinstance(rw._plan_site(insns, 0, set(), 0x1000, 0x1002), str)


@pytest.fixture(scope="module")
def tricky(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    out = tmp_path_factory.mktemp("tricky") / "tricky"
    subprocess.run(["gcc", "-nostdlib", "-static", "-Wl,--build-id=sha1", "-o", str(out), str(TRICKY)], check=True)
    return out.read_bytes()


def _phdrs(data: bytes) -> list[tuple[int, ...]]:
    phoff = struct.unpack_from("<Q", data, 32)[0]
    phnum = struct.unpack_from("<H", data, 56)[0]
    return [struct.unpack_from("<IIQQQQQQ", data, phoff + 56 * i) for i in range(phnum)]


def test_rewrite_is_deterministic_and_adds_one_segment(tricky: bytes) -> None:
    a = rw.rewrite(tricky, ENTRY)
    b = rw.rewrite(tricky, ENTRY)
    assert a.data == b.data
    assert a.rewritten == 10 and len(a.sites) == 11
    before, after = _phdrs(tricky), _phdrs(a.data)
    assert len(before) == len(after)
    loads = [p for p in after if p[0] == rw.PT_LOAD]
    new = loads[-1]
    assert new[1] == rw.PF_R | rw.PF_X and new[3] % rw.PAGE == 0 and new[2] % rw.PAGE == 0
    assert new[3] >= max(p[3] + p[6] for p in before if p[0] == rw.PT_LOAD)
    assert sum(1 for p in after if p[0] == rw.PT_NOTE) == sum(1 for p in before if p[0] == rw.PT_NOTE) - 1
    # Nothing outside the patched sites changed.
    assert a.data[:len(tricky)] != tricky and len(a.data) > len(tricky)
    # The file ends on a page boundary, int3 after the trampolines, so the loader can map the
    # new segment's last page from the file; the segment's own size excludes the padding.
    end = new[2] + new[5]
    assert len(a.data) % rw.PAGE == 0 and len(a.data) - end < rw.PAGE
    assert set(a.data[end:]) <= {rw.INT3}


@pytest.mark.parametrize("entry", [ENTRY, GS_ENTRY], ids=["absolute", "gs-slot"])
def test_trampolines_decode_and_jump_back(tricky: bytes, entry: int) -> None:
    r = rw.rewrite(tricky, entry)
    new = [p for p in _phdrs(r.data) if p[0] == rw.PT_LOAD][-1]
    seg_off, seg_va, seg_len = new[2], new[3], new[5]
    code = r.data[seg_off:seg_off + seg_len]
    elf = rw._parse(tricky)
    for site in (s for s in r.sites if s.status == "rewritten"):
        # The site's window starts with `jmp` into the segment (the window starts at or
        # before the syscall).
        starts = [a for a in range(site.addr - 16, site.addr + 1)
                  if (o := rw._vaddr_to_offset(elf, a)) is not None and r.data[o] == rw.JMP_REL32
                  and seg_va <= a + 5 + struct.unpack_from("<i", r.data, o + 1)[0] < seg_va + seg_len]
        assert starts, hex(site.addr)
        start = starts[-1]
        o = rw._vaddr_to_offset(elf, start)
        assert o is not None
        tramp = start + 5 + struct.unpack_from("<i", r.data, o + 1)[0]
        insns = _disasm(code[tramp - seg_va:], tramp)
        text = [f"{m} {ops}".strip() for _a, _s, m, ops in insns[:20]]
        k = text.index("lea rsp, [rsp - 0x80]")
        if entry == GS_ENTRY:
            # Nothing in the file names the runtime's address: the call goes through GS.
            assert text[k + 1] == "call qword ptr gs:[0x28]"
            k -= 1
        else:
            assert text[k + 1] == f"movabs r11, {ENTRY:#x}" and text[k + 2] == "call r11"
        assert text[k + 3] == "lea rsp, [rsp + 0x80]" and text[k + 4].startswith("jrcxz")
        assert text[k + 5].startswith("jmp") and text[k + 6] == "syscall"
        back = next(i for i in insns if i[2] == "jmp" and int(i[3], 0) < seg_va)
        assert int(back[3], 0) > site.addr  # resumes after the moved range


def test_rip_relative_operand_is_relocated(tricky: bytes) -> None:
    # Case 4 of tricky.S: `lea rsi, [rip + msg_world]` right before a syscall is moved.
    r = rw.rewrite(tricky, ENTRY)
    orig = {i.addr: i for i in rw.analyze(tricky)[1]}
    syscalls = {i.addr for i in orig.values() if i.mnemonic == "syscall"}
    leas = [i for i in orig.values() if i.mnemonic == "lea" and i.op_str.startswith("rsi, [rip")
            and i.end in syscalls]
    assert leas
    new = [p for p in _phdrs(r.data) if p[0] == rw.PT_LOAD][-1]
    moved = _disasm(r.data[new[2]:new[2] + new[5]], new[3])

    def disp(ops: str) -> int:
        inner = ops.split("[rip ")[1].rstrip("]")
        sign, value = inner.split(" ")
        return int(value, 0) * (-1 if sign == "-" else 1)

    for lea in leas:
        want = lea.end + disp(lea.op_str)
        got = [a + s + disp(ops) for a, s, m, ops in moved if m == "lea" and ops.startswith("rsi, [rip")]
        assert want in got


def test_without_a_note_nothing_is_rewritten(tricky: bytes) -> None:
    data = bytearray(tricky)
    phoff = struct.unpack_from("<Q", data, 32)[0]
    for i, p in enumerate(_phdrs(tricky)):
        if p[0] == rw.PT_NOTE:
            struct.pack_into("<I", data, phoff + 56 * i, 0)  # PT_NULL
    r = rw.rewrite(bytes(data), ENTRY)
    assert r.data == bytes(data) and r.rewritten == 0 and r.sites and r.note


def test_analysis_only_changes_nothing(tricky: bytes) -> None:
    r = rw.rewrite(tricky, None)
    assert r.data == tricky and {s.status for s in r.sites} <= {"rewritable", "the syscall is a branch target"}


def test_compatibility_lists_unimplemented_names() -> None:
    files = {"/app/x": {"syscalls": [15, 39, 41, 165, 206]}}
    assert compat.compatibility(files) == {"/app/x": ["io_setup(206)"]}


def test_fastpath_entry_of_the_built_runtime() -> None:
    runtime = REPO / "target/release/litebox-runtime-linux-userland"
    if not runtime.exists():
        pytest.skip("runtime not built yet")
    entry = rw.fastpath_entry(runtime.read_bytes())
    # A GS slot (the runtime is a static PIE at a random address): FastData.entry, gs:[0x28].
    assert entry == GS_ENTRY


def test_compatibility_separates_unimplemented_from_refused() -> None:
    files = {"/app/x": {"syscalls": [39, 206, 101, 165]}, "/app/ok": {"syscalls": [0, 1]}}
    # getpid is served; io_setup is not implemented (ENOSYS); ptrace and mount are refused (EPERM).
    assert compat.compatibility(files) == {"/app/x": ["io_setup(206)"]}
    assert compat.refused(files) == {"/app/x": ["ptrace(101)", "mount(165)"]}
