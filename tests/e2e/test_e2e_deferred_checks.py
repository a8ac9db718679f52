"""Deferred checks of mapped code and the effect gate (linux-userland; docs/targets/linux-userland.md,
"Deferred checks of mapped code and the effect gate"): python3's text is mapped before its chunks
are checked, and init checks them in the background, but no effect of the app leaves the sandbox
before every one of them is known good. A damaged chunk ends every run with 122 and nothing
else: no line on stdout, no file in a writable mount, whether the app runs the damaged code early
(and crashes in it) or never runs it at all.

Two apps: Debian's python3 (its start-up modules are frozen into the binary: only `encodings`
and the `os.py` landmark are packed) running `-S -c` a line that creates a file in a `rw` mount
and prints 1; and programs/bigtext.c, a static program with 16 MiB of code that does the same at
once. With python3, init usually finds the damaged chunk before python3 gets to its first effect
anyway; with bigtext the program gets there long before init reaches the chunk, so only the
effect gate (and init's check before it reports a crash) keep the effect in: without them its
runs print 1 and create the file, or end as the crash did."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from litebox_e2e import EXIT_TAMPERED, describe, flip_byte, pack, read_image, run_program

PYTHON = Path("/usr/bin/python3")
LIB = Path("/usr/lib/python3.11")
BIGTEXT = Path(__file__).resolve().parent / "programs" / "bigtext.c"

needs_python = pytest.mark.skipif(
    not PYTHON.is_file() or not (LIB / "encodings").is_dir(),
    reason="Debian's python3.11 is not installed",
)
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")

CONFIG = """\
[app]
name = "deferred"
entry = "/usr/bin/python3"
args = ["-S", "-c", "open('/out/made', 'w').write('x'); print(1)"]
env = {{ LANG = "C.UTF-8" }}

[files]
"/usr/lib/python3.11/encodings" = "/usr/lib/python3.11/encodings"
"/usr/lib/python3.11/os.py" = "/usr/lib/python3.11/os.py"
"/usr/lib/python3.11/lib-dynload" = "empty"

[[policy.mount]]
host = "{out}"
guest = "/out"
mode = "rw"

[build]
source_date_epoch = 0
"""


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the packed python3 artifact, the host directory mounted read-write at /out)."""
    work = tmp_path_factory.mktemp("deferred")
    out = work / "out"
    out.mkdir()
    (work / "app").mkdir()
    (work / "app" / "empty").mkdir()
    (work / "app" / "litebox.toml").write_text(CONFIG.format(out=out))
    return pack(work / "app", work / "dist").path, out


def python_text() -> tuple[int, int]:
    """File offset and size of python3's executable (text) segment."""
    with PYTHON.resolve().open("rb") as f:
        seg = max((s for s in ELFFile(f).iter_segments() if s["p_type"] == "PT_LOAD" and s["p_flags"] & 1),
                  key=lambda s: s["p_filesz"])
        return seg["p_offset"], seg["p_filesz"]


def file_offset(vaddr: int) -> int:
    """The file offset of python3's virtual address `vaddr`."""
    with PYTHON.resolve().open("rb") as f:
        for s in ELFFile(f).iter_segments():
            if s["p_type"] == "PT_LOAD" and s["p_vaddr"] <= vaddr < s["p_vaddr"] + s["p_filesz"]:
                return vaddr - s["p_vaddr"] + s["p_offset"]
    raise AssertionError(f"{vaddr:#x} is in no segment of {PYTHON}")


def damaged_copy(art: Path, dest: Path, python_offset: int) -> Path:
    """A copy of `art` with the byte at `python_offset` of the packed python3 flipped (every bit),
    after checking that it lies in python3's text, a span of many stored (raw) chunks: the kind
    mapped before it is checked."""
    shutil.copy2(art, dest)
    sec, image = read_image(dest)
    entry = next(e for e in image.entries if e.path.startswith(b"/usr/bin/python3") and e.size > 1 << 20)
    assert entry.size == PYTHON.resolve().stat().st_size, "the packed python3 is the host's"
    text_at, text_size = python_text()
    assert text_at <= python_offset < text_at + text_size
    first, last = image.chunk_of(entry.data + text_at), image.chunk_of(entry.data + text_at + text_size - 1)
    assert last - first + 1 >= 8, "python3's text is a span of at least 8 chunks"
    k = image.chunk_of(entry.data + python_offset)
    assert image.chunks[k].comp_size == image.chunks[k].raw_size, "code is stored raw"
    c0, _ = image.chunk_data_range(k)
    flip_byte(dest, sec.offset + c0 + (entry.data + python_offset) % image.chunk_size)
    return dest


def assert_no_effect(art: Path, out: Path, *args: str) -> None:
    """Three runs: each exits 122 saying why, prints nothing and creates nothing in /out."""
    for _ in range(3):
        made = out / "made"
        made.unlink(missing_ok=True)
        proc = run_program([art, *args])
        assert proc.returncode == EXIT_TAMPERED, describe(proc)
        assert proc.stdout == b"", describe(proc)
        assert b"chunk digest does not match" in proc.stderr, describe(proc)
        assert not made.exists(), "the app's file reached the host"


@needs_python
def test_the_intact_app_prints_and_creates_its_file(packed: tuple[Path, Path]) -> None:
    art, out = packed
    (out / "made").unlink(missing_ok=True)
    proc = run_program([art])
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == b"1\n", describe(proc)
    assert (out / "made").read_text() == "x"


@needs_python
def test_damaged_code_at_the_entry_point_exits_122_not_as_the_crash(packed: tuple[Path, Path], tmp_path: Path) -> None:
    """python3's first instruction (`xor ebp, ebp` at e_entry) becomes an invalid opcode: the app
    crashes (SIGILL) in the damaged code, maybe before init's verdict; the run still ends with 122,
    never with the crash's status, and nothing the app did leaves the sandbox."""
    art, out = packed
    with PYTHON.resolve().open("rb") as f:
        entry = ELFFile(f).header["e_entry"]
    assert_no_effect(damaged_copy(art, tmp_path / "entry", file_offset(entry)), out)


@needs_python
def test_damaged_code_the_app_never_runs_still_holds_back_every_effect(
    packed: tuple[Path, Path], tmp_path: Path
) -> None:
    """A byte inside PyMarshal_WriteObjectToFile (C API for embedders; nothing in `print(1)`
    calls it): the app runs normally to its first effect, and the effect gate holds it back until
    the damaged chunk's check fails."""
    art, out = packed
    with PYTHON.resolve().open("rb") as f:
        symbols = ELFFile(f).get_section_by_name(".dynsym")
        (sym,) = symbols.get_symbol_by_name("PyMarshal_WriteObjectToFile")
        at, size = sym["st_value"], sym["st_size"]
    assert size > 0x40
    assert_no_effect(damaged_copy(art, tmp_path / "unused", file_offset(at + 0x40)), out)


@pytest.fixture(scope="module")
def bigtext(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(programs/bigtext.c packed, the host directory mounted read-write at /out)."""
    work = tmp_path_factory.mktemp("bigtext")
    out = work / "out"
    out.mkdir()
    app = work / "app"
    app.mkdir()
    subprocess.run(["gcc", "-O2", "-static", "-o", app / "bigtext", BIGTEXT], check=True, timeout=300)
    subprocess.run(["gcc", "-O2", "-static", "-DBLOB", "-o", app / "blob", BIGTEXT], check=True, timeout=300)
    (app / "litebox.toml").write_text(
        '[app]\nname = "bigtext"\nentry = "/app/bigtext"\n\n'
        '[files]\n"/app/bigtext" = "bigtext"\n"/app/blob" = "blob"\n\n'
        f'[[policy.mount]]\nhost = "{out}"\nguest = "/out"\nmode = "rw"\n\n[build]\nsource_date_epoch = 0\n'
    )
    return pack(app, work / "dist").path, out


def bigtext_damaged(art: Path, dest: Path, symbol: str, delta: int, mask: int, path: bytes = b"/app/bigtext") -> Path:
    """A copy of the packed bigtext with the byte at `symbol` + `delta` of the packed program
    `path` xor-ed with `mask`, after checking that its chunk is stored raw and lies deep inside
    the text's span."""
    shutil.copy2(art, dest)
    sec, image = read_image(dest)
    entry = next(e for e in image.entries if e.path == path)
    # The packed program (its syscall sites rewritten by the packer): find the symbol there.
    blob = art.read_bytes()
    program = bytearray()
    for k in range(image.chunk_of(entry.data), image.chunk_of(entry.data + entry.size - 1) + 1):
        assert image.chunks[k].comp_size == image.chunks[k].raw_size, "code is stored raw"
        c0, c1 = image.chunk_data_range(k)
        program += blob[sec.offset + c0:sec.offset + c1]
    start = entry.data % image.chunk_size
    with io.BytesIO(bytes(program[start:start + entry.size])) as f:
        elf = ELFFile(f)
        (sym,) = elf.get_section_by_name(".symtab").get_symbol_by_name(symbol)
        seg = next(s for s in elf.iter_segments()
                   if s["p_type"] == "PT_LOAD" and s["p_vaddr"] <= sym["st_value"] < s["p_vaddr"] + s["p_filesz"])
        offset = sym["st_value"] + delta - seg["p_vaddr"] + seg["p_offset"]
        text = (seg["p_offset"], seg["p_offset"] + seg["p_filesz"])
    k = image.chunk_of(entry.data + offset)
    assert image.chunks[k].comp_size == image.chunks[k].raw_size, "code is stored raw"
    top = image.chunk_of(entry.data + text[1] - 1)
    assert top - k >= 60, "init reaches the chunk only after many others"
    assert k > image.chunk_of(entry.data), "not the file's first chunk (the ELF header's, checked at once)"
    c0, _ = image.chunk_data_range(k)
    flip_byte(dest, sec.offset + c0 + (entry.data + offset) % image.chunk_size, mask)
    return dest


@needs_gcc
def test_the_intact_bigtext_prints_and_creates_its_file(bigtext: tuple[Path, Path]) -> None:
    art, out = bigtext
    for args in ([], ["early"], ["fork"]):
        (out / "made").unlink(missing_ok=True)
        proc = run_program([art, *args])
        assert proc.returncode == 0, describe(proc)
        assert proc.stdout == b"1\n", describe(proc)
        assert (out / "made").read_text() == "x"


@needs_gcc
def test_the_gate_holds_an_effect_until_a_damaged_chunk_never_run_is_found(
    bigtext: tuple[Path, Path], tmp_path: Path
) -> None:
    """The program opens, writes and prints within microseconds of its start; init finds the
    damaged chunk (8 MiB into code never run) only after checking ~64 others. Every run still
    ends with 122 and nothing of the program's reaches the host."""
    art, out = bigtext
    assert_no_effect(bigtext_damaged(art, tmp_path / "unused", "unused_code", 8 << 20, 0x01), out)


@needs_gcc
def test_a_crash_in_damaged_code_before_the_verdict_ends_as_122(bigtext: tuple[Path, Path], tmp_path: Path) -> None:
    """`early_code`'s `ret` (0xc3) becomes 0x06, an invalid opcode in 64-bit mode: the program
    dies of SIGILL right after its start, long before init reaches that chunk (its last). Its
    end is reported as 122, never as the crash."""
    art, out = bigtext
    assert_no_effect(bigtext_damaged(art, tmp_path / "early", "early_code", 0, 0xC5), out, "early")


@needs_gcc
def test_a_forked_child_waits_for_a_span_its_parent_maps_after_the_fork(
    bigtext: tuple[Path, Path], tmp_path: Path
) -> None:
    """The parent forks, then maps /app/blob (16 MiB of code, a chunk in its middle damaged) and
    tells the child through shared memory, with no system call; the child then creates its file
    and prints at once. The table of deferred spans is the sandbox's, not the process's: the
    child's first effect waits for the parent's span and the run ends with 122."""
    art, out = bigtext
    damaged = bigtext_damaged(art, tmp_path / "blob", "unused_code", 8 << 20, 0x01, b"/app/blob")
    assert_no_effect(damaged, out, "fork")
