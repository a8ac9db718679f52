"""The linux-userland runtime is a static, self-relocating PIE (runtime/build.rs, `_start` in
runtime/src/main.rs): no interpreter, linked at 0, every dynamic relocation relative (packed
as DT_RELR; a leftover DT_RELA table may hold R_X86_64_RELATIVE only: the only kinds `_start`
applies, anything else stops it with ud2, which is checked here by running patched copies),
no text relocation, no writable and executable segment, the start-up order script still
applied, and the fast-path section a GS slot rather than an address."""
from __future__ import annotations

import io
import os
import shutil
import signal
import struct
import subprocess
from pathlib import Path
from typing import Callable

import pytest
from elftools.elf.elffile import ELFFile

from packager.image import rewrite as rw
from packager.targets.cargobuild import cargo_env

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "target/release/litebox-runtime-linux-userland"
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
PF_X, PF_W = 1, 2
# Dynamic tags `_start` reads or may ignore; any other is refused here.
HARMLESS_TAGS = {"DT_NULL", "DT_RELA", "DT_RELASZ", "DT_RELAENT", "DT_RELACOUNT", "DT_RELR", "DT_RELRSZ",
                 "DT_RELRENT", "DT_FLAGS", "DT_FLAGS_1", "DT_DEBUG", "DT_SYMTAB", "DT_SYMENT", "DT_STRTAB",
                 "DT_STRSZ", "DT_GNU_HASH", "DT_HASH"}
R_X86_64_RELATIVE = 8
DT_RELA, DT_RELASZ, DT_JMPREL, DT_DEBUG, DT_RELRENT = 7, 8, 23, 21, 37
EXIT_NO_IMAGE = 120  # litebox_rt::exit::NO_IMAGE: what the runtime does when run bare


@pytest.fixture(scope="module")
def runtime() -> bytes:
    """The runtime as the packer builds it (a no-op when it is current)."""
    if shutil.which("cargo") is None:
        pytest.skip("cargo not installed")
    subprocess.run(["cargo", "build", "--locked", "--release", "-p", "litebox-runtime-linux-userland"],
                   cwd=REPO, env=cargo_env(REPO), check=True, timeout=3600)
    return RUNTIME.read_bytes()


def _phdrs(data: bytes) -> list[tuple[int, ...]]:
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return [struct.unpack_from("<IIQQQQQQ", data, phoff + k * phentsize) for k in range(phnum)]


def test_runtime_is_a_static_pie_linked_at_zero(runtime: bytes) -> None:
    e_type, = struct.unpack_from("<H", runtime, 0x10)
    assert e_type == 3, "ET_DYN (a PIE)"
    phdrs = _phdrs(runtime)
    assert not [p for p in phdrs if p[0] == PT_INTERP], "no interpreter: the runtime relocates itself"
    loads = [p for p in phdrs if p[0] == PT_LOAD]
    # _start takes the ELF header's address as the load base: the header is at vaddr 0.
    assert min(p[3] for p in loads) == 0 and loads[0][2] == 0
    assert not [p for p in loads if p[1] & PF_W and p[1] & PF_X], "no writable and executable segment"
    assert [p for p in phdrs if p[0] == PT_DYNAMIC]


def relr_addresses(table: bytes) -> list[int]:
    """The addresses a DT_RELR table relocates: an even word is an address (the next base is
    the word after it), an odd word a bitmap of the 63 words from the base (bit k+1: word k)."""
    out: list[int] = []
    base = 0
    for (word,) in struct.iter_unpack("<Q", table):
        if word & 1 == 0:
            out.append(word)
            base = word + 8
        else:
            out += [base + 8 * k for k in range(63) if word >> (k + 1) & 1]
            base += 63 * 8
    return out


def dynamic_problems(data: bytes) -> list[str]:
    """What `_start` would not apply (it stops with ud2) or that would make it write outside
    its data; [] for a runtime it relocates completely."""
    elf = ELFFile(io.BytesIO(data))
    dyn = elf.get_section_by_name(".dynamic")
    if dyn is None:
        return ["no .dynamic"]
    tags = {t.entry.d_tag: t.entry.d_val for t in dyn.iter_tags()}
    problems = [f"dynamic tag {t}" for t in sorted(set(tags) - HARMLESS_TAGS, key=str)]
    if tags.get("DT_RELAENT", 24) != 24 or tags.get("DT_RELRENT", 8) != 8:
        problems.append("entry size")
    writable = [(p[3], p[3] + p[5]) for p in _phdrs(data) if p[0] == PT_LOAD and p[1] & PF_W and not p[1] & PF_X]
    for sec in elf.iter_sections():
        kind = sec["sh_type"]
        if kind == "SHT_REL":
            problems.append(f"{sec.name}: REL")
        elif kind == "SHT_RELA":
            if sec["sh_addr"] != tags.get("DT_RELA"):
                problems.append(f"{sec.name}: a RELA table DT_RELA does not name")
            kinds = {r["r_info_type"] for r in sec.iter_relocations()} - {R_X86_64_RELATIVE}
            problems += [f"{sec.name}: relocation type {k}" for k in sorted(kinds)]
            where = [r["r_offset"] for r in sec.iter_relocations()]
        elif kind in ("SHT_RELR", 19):
            if sec["sh_addr"] != tags.get("DT_RELR") or sec["sh_size"] != tags.get("DT_RELRSZ"):
                problems.append(f"{sec.name}: not the table DT_RELR/DT_RELRSZ name")
            where = relr_addresses(data[sec["sh_offset"]:sec["sh_offset"] + sec["sh_size"]])
        else:
            continue
        if not where:
            problems.append(f"{sec.name}: empty")
        # (x86-64 writes an unaligned word as well: only DT_RELR needs alignment, by its format.)
        outside = [a for a in where if not any(lo <= a and a + 8 <= hi for lo, hi in writable)]
        if outside:
            problems.append(f"{sec.name}: {len(outside)} relocation(s) outside the writable data, e.g. {outside[0]:#x}")
    return problems


def test_every_dynamic_relocation_is_relative(runtime: bytes) -> None:
    assert dynamic_problems(runtime) == []
    elf = ELFFile(io.BytesIO(runtime))
    tags = {t.entry.d_tag for t in elf.get_section_by_name(".dynamic").iter_tags()}
    assert "DT_TEXTREL" not in tags and "DT_JMPREL" not in tags
    # Packed (`-z pack-relative-relocs`): the 880-odd relative relocations are a few hundred
    # bytes of DT_RELR, not 24 bytes each of DT_RELA the supervisor reads at every start.
    assert {"DT_RELR", "DT_RELRSZ", "DT_RELRENT"} <= tags
    relr = [s for s in elf.iter_sections() if s["sh_type"] in ("SHT_RELR", 19)]
    assert len(relr) == 1 and relr[0]["sh_size"] < 1024
    where = relr_addresses(relr[0].data())
    assert where
    # Every relocated page is written at each start and copied (as page-table entries) into
    # every process the supervisor forks, counted in each one's resident memory: the
    # syscall-name and CPU-flag tables hold no pointers (nr.rs, procfs.rs) and what is left
    # (panic locations, vtables, .got) fits in 3 pages. A new table of `&str` or of function
    # pointers in the runtime's statics lands here; see docs/targets/linux-userland.md.
    pages = {a >> 12 for a in where}
    assert len(pages) <= 4, f"relocated words in {len(pages)} pages"


def test_relr_decoding() -> None:
    # Two addresses, then a bitmap of words 0 and 62 after the second one's successor.
    table = struct.pack("<QQQ", 0x1000, 0x2000, 1 | 1 << 1 | 1 << 63)
    assert relr_addresses(table) == [0x1000, 0x2000, 0x2008, 0x2008 + 62 * 8]


@pytest.mark.parametrize("source, refused", [
    # A word too unaligned for DT_RELR stays in .rela.dyn as R_X86_64_RELATIVE: handled.
    ("static int x; int *const p = &x;\n"
     "struct __attribute__((packed)) { char c; int *q; } s = {0, &x};\n"
     "void _start(void) { for (;;) ; }\n", []),
    # An ifunc's address in data: R_X86_64_IRELATIVE in .rela.dyn (and one in .rela.plt).
    ("static int x; int *const p = &x; static int impl(void) { return 1; }\n"
     "static void *resolve(void) { return (void *)impl; }\n"
     "int f(void) __attribute__((ifunc(\"resolve\")));\n"
     "int (*const fp)(void) = f; void _start(void) { for (;;) fp(); }\n",
     ["dynamic tag DT_JMPREL", ".rela.dyn: relocation type 37"]),
])
def test_a_build_with_other_relocations_is_refused(tmp_path: Path, cc: Callable[..., Path], source: str,
                                                   refused: list[str]) -> None:
    out = cc(tmp_path / "pie", source, "-O2", "-fPIC", "-nostdlib", "-nostartfiles", "-static-pie",
             "-Wl,-z,pack-relative-relocs", "-Wl,-z,text")
    problems = dynamic_problems(out.read_bytes())
    assert [p for p in refused if p not in problems] == []
    if not refused:
        assert problems == []
        assert [s.name for s in ELFFile(io.BytesIO(out.read_bytes())).iter_sections()
                if s["sh_type"] in ("SHT_RELA", "SHT_RELR", 19)] == [".rela.dyn", ".relr.dyn"]
    else:
        assert any("relocation type" in p for p in problems), problems


def _patched(runtime: bytes, changes: dict[int, tuple[int, int]]) -> bytes:
    """The runtime with dynamic entries retagged: {old tag: (new tag, new value)}."""
    elf = ELFFile(io.BytesIO(runtime))
    dyn = elf.get_section_by_name(".dynamic")
    out = bytearray(runtime)
    for k in range(dyn["sh_size"] // 16):
        at = dyn["sh_offset"] + 16 * k
        tag, _ = struct.unpack_from("<qQ", out, at)
        if tag in changes:
            struct.pack_into("<qQ", out, at, *changes.pop(tag))
    assert not changes, f"tags not in the runtime: {changes}"
    return bytes(out)


def _first_rodata_word_not_relative(runtime: bytes) -> int:
    """An address in the read-only data whose 24 bytes read as a RELA entry of a type other
    than R_X86_64_RELATIVE."""
    ro = ELFFile(io.BytesIO(runtime)).get_section_by_name(".rodata")
    for off in range(0, ro["sh_size"] - 24, 8):
        if struct.unpack_from("<I", runtime, ro["sh_offset"] + off + 8)[0] != R_X86_64_RELATIVE:
            return ro["sh_addr"] + off
    raise AssertionError("no such word")


def test_start_stops_on_what_it_does_not_apply(runtime: bytes, tmp_path: Path) -> None:
    # Run bare, the runtime relocates itself and stops for want of an image (its code reads
    # relocated pointers before that: a table applied wrongly would crash it).
    bare = subprocess.run([str(RUNTIME)], capture_output=True, timeout=30)
    assert bare.returncode == EXIT_NO_IMAGE, bare
    cases = {
        "DT_JMPREL": {DT_DEBUG: (DT_JMPREL, 0)},
        "DT_RELRENT 16": {DT_RELRENT: (DT_RELRENT, 16)},
        # A leftover RELA table with one entry that is not R_X86_64_RELATIVE (DT_SYMENT's
        # value, 24, is one entry's size).
        "RELA of another type": {DT_DEBUG: (DT_RELA, _first_rodata_word_not_relative(runtime)),
                                 11: (DT_RELASZ, 24)},
    }
    for name, change in cases.items():
        exe = tmp_path / name.replace(" ", "-")
        exe.write_bytes(_patched(runtime, change))
        exe.chmod(0o755)
        run = subprocess.run([str(exe)], capture_output=True, timeout=30)
        assert run.returncode == -signal.SIGILL, (name, run)


def test_the_startup_order_script_is_applied(runtime: bytes) -> None:
    # startup-order.ld puts the start-up functions in their own output section, first.
    names = [s.name for s in ELFFile(io.BytesIO(runtime)).iter_sections()]
    assert ".text.startup_order" in names


def test_the_fastpath_section_is_a_gs_slot(runtime: bytes) -> None:
    # The trampolines call through FastData.entry (gs:[0x28]): nothing the packer writes into
    # the app's files names the runtime's address.
    assert rw.fastpath_entry(runtime) == rw.GS_SLOT | 0x28


def test_runtime_embeds_no_path_of_this_machine(runtime: bytes) -> None:
    """The runtime's bytes hold no absolute path of the checkout or of cargo's home (cargo_env
    remaps both; the workspace's own panic locations are relative, core/libos/src/...): a
    checkout elsewhere (CI clones to its own path) builds the same runtime, and an artifact
    does not tell where it was built."""
    from packager.targets.cargobuild import cargo_home

    for path in (str(REPO), cargo_home()):
        assert os.fsencode(path) not in runtime, path
    assert b"core/libos/src/" in runtime, "panic locations are there (the check above reads the right file)"
