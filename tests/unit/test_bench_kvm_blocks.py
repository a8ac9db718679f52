"""bench/kvm_blocks.py: a QEMU ``-d in_asm,exec,nochain`` log is split into the boot's phases
(each begins at the first block of its marker function, in order) and counted per function."""
from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))
import kvm_blocks  # noqa: E402  (bench/ is not a package)

K = 0xFFFFFFFF80100000
SYMS = kvm_blocks.Symbols([(K, "kernel_main"), (K + 0x1000, "litebox_vmkernel::os::start"),
                           (K + 0x2000, "litebox_libos::loader::load"), (K + 0x3000, "helper")])


def block(addr: int, insns: int) -> str:
    lines = ["----------------", "IN: "]
    lines += [f"0x{addr + 2 * i:016x}:  90                       nop" for i in range(insns)]
    return "\n".join(lines) + "\n\n"


def trace(addr: int) -> str:
    return f"Trace 0: 0x7f0000000000 [00000000/{addr:016x}/00000040/ff000200] \n"


def test_phases_and_functions(tmp_path: Path) -> None:
    log = "".join([
        block(0x100000, 3), trace(0x100000), trace(0x100000),  # the PVH stub, a loop
        block(K, 2), trace(K), block(K + 0x3000, 4), trace(K + 0x3000),  # machine set-up
        block(K + 0x1000, 1), trace(K + 0x1000), trace(K + 0x3000),  # os::start; helper runs again
        block(K + 0x2000, 5), trace(K + 0x2000),  # the program's load
        block(0x401000, 6), trace(0x401000), block(K + 0x3000 + 8, 2), trace(K + 0x3008),  # the app
    ])
    path = tmp_path / "qemu.log"
    path.write_text(log)
    rows = kvm_blocks.count(path, SYMS)
    assert [r["phase"] for r in rows] == [name for name, _ in kvm_blocks.PHASES]
    assert [(r["blocks"], r["insns"], r["execs"]) for r in rows] == [
        (1, 3, 2), (2, 6, 2), (1, 1, 2), (1, 5, 1), (2, 8, 2)]
    assert rows[1]["functions"] == {"kernel_main": 1, "helper": 1}
    assert rows[1]["function_insns"]["helper"] == 4
    assert rows[4]["functions"] == {"app": 1, "helper": 1}


def test_a_marker_out_of_order_does_not_skip_a_phase(tmp_path: Path) -> None:
    # The loader's symbol before os::start (it cannot happen in a boot) leaves the phase alone.
    log = block(K, 1) + trace(K) + block(K + 0x2000, 1) + trace(K + 0x2000)
    path = tmp_path / "qemu.log"
    path.write_text(log)
    rows = kvm_blocks.count(path, SYMS)
    assert rows[1]["blocks"] == 2 and rows[3]["blocks"] == 0


def test_symbol_names() -> None:
    assert SYMS.name(0xFFFFFFF0) == "firmware"
    assert SYMS.name(0x100000) == "low"
    assert SYMS.name(0x401000) == "app"
    assert SYMS.name(K + 0x1234) == "litebox_vmkernel::os::start"
