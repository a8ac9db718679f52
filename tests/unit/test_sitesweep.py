"""The rewriter's fast sweep (packager/image/sitesweep.py) against the reference sweep
(rewrite.sweep / rewrite.analyze): same instructions near every syscall, same branch targets,
same rewritten bytes."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from packager.image import rewrite as rw
from packager.image import sitesweep

REPO = Path(__file__).resolve().parents[2]
ENTRY = 0x7E00_0000_1000
LIBC = Path("/lib/x86_64-linux-gnu/libc.so.6")


def _reference(data: bytes) -> tuple[object, list[rw.Insn], set[int], list[tuple[int, int]], list[int]]:
    elf, insns, targets, bounds = rw.analyze(data)
    return elf, insns, targets, bounds, [k for k, i in enumerate(insns) if i.mnemonic == "syscall"]


def _windows(insns: list[rw.Insn], sites: list[int]) -> list[rw.Insn]:
    keep: set[int] = set()
    for k in sites:
        keep.update(range(max(k - sitesweep.BEFORE, 0), min(k + sitesweep.AFTER, len(insns) - 1) + 1))
    return [insns[k] for k in sorted(keep)]


def _same_as_reference(data: bytes, monkeypatch: pytest.MonkeyPatch) -> rw.RewriteResult:
    """Rewrites ``data`` with the fast sweep and with the reference; asserts equal results."""
    elf = rw._parse(data)
    ranges = [(data[off:off + size], vaddr) for vaddr, off, size in elf.exec_ranges]
    fast = sitesweep.sweep_sites(ranges)
    _e, ref_insns, ref_targets, _b, ref_sites = _reference(data)
    assert fast.insns == _windows(ref_insns, ref_sites)
    assert [fast.insns[k] for k in fast.sites] == [ref_insns[k] for k in ref_sites]
    assert fast.targets | elf.func_starts == ref_targets
    quick = rw.rewrite(data, ENTRY)
    monkeypatch.setattr(rw, "_analyze_sites", _reference)
    slow = rw.rewrite(data, ENTRY)
    assert quick.data == slow.data and quick.summary() == slow.summary()
    return quick


@pytest.mark.parametrize("batch", [sitesweep.BATCH, 5])
def test_short_runs_between_undecodable_bytes(batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sitesweep, "BATCH", batch)  # 5: windows cross batch edges
    # Undecodable bytes split the sweep into short runs (record-by-record path), a syscall
    # right after one is unsure, and one in a long run goes through the column masks.
    filler = bytes.fromhex("4889c3") * 200  # mov rbx, rax
    code = (bytes.fromhex("b827000000" "0f05") + b"\x06" + bytes.fromhex("e8f0ffffff" "0f05")
            + filler + bytes.fromhex("31c0" "0f05" "eb00" "c3"))
    fast = sitesweep.sweep_sites([(code, 0x1000)])
    ref = rw.sweep(code, 0x1000)
    ref_sites = [k for k, i in enumerate(ref) if i.mnemonic == "syscall"]
    assert len(ref_sites) == 3 and not ref[ref_sites[1]].sure
    assert fast.insns == _windows(ref, ref_sites)
    assert [fast.insns[k] for k in fast.sites] == [ref[k] for k in ref_sites]
    assert fast.targets == {t for i in ref if (t := rw._direct_target(i)) is not None}


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_tricky_program_rewrites_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "tricky"
    subprocess.run(["gcc", "-nostdlib", "-static", "-Wl,--build-id=sha1", "-o", str(out),
                    str(REPO / "tests/e2e/programs/rewrite/tricky.S")], check=True)
    assert _same_as_reference(out.read_bytes(), monkeypatch).rewritten == 10


@pytest.mark.skipif(not LIBC.is_file(), reason="no host libc")
def test_libc_rewrites_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    # Hundreds of sites, batches of BATCH instructions (windows across batch edges), data in code.
    result = _same_as_reference(LIBC.read_bytes(), monkeypatch)
    assert result.rewritten > 100


def test_file_without_syscall_bytes_is_not_swept(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(ranges: object) -> None:
        raise AssertionError("swept")

    monkeypatch.setattr(sitesweep, "sweep_sites", boom)
    data = Path("/bin/true").read_bytes() if Path("/bin/true").is_file() else b""
    if b"\x0f\x05" in data or not rw.is_rewritable_elf(data):
        pytest.skip("/bin/true has 0f 05 bytes or is not x86-64")
    assert rw.rewrite(data, ENTRY).sites == []
