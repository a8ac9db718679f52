"""Bad input: a clear one-line error naming the file, a non-zero exit, and no artifact left behind."""

from __future__ import annotations

import shutil
import struct
import subprocess
from io import BytesIO
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from litebox_e2e import copy_example, describe, listing, pack, run_cli

EXIT_INPUT_ERROR = 2  # the CLI's code for usage and input errors (`litebox --help`)


def _assert_rejected(app: Path, out: Path, *must_name: str, extra: tuple[str, ...] = ()) -> str:
    """Packs `app` into `out`, expects failure; returns the error line."""
    proc = run_cli("pack", app, "--out-dir", out, "--quiet", *extra)  # quiet: no progress lines
    assert proc.returncode == EXIT_INPUT_ERROR, describe(proc)
    assert listing(out) == [], f"left behind in {out}: {listing(out)}"
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected a one-line error\n{describe(proc)}"
    error = lines[0]
    for word in must_name:
        assert word in error, f"the error does not name {word!r}: {error}"
    assert "Traceback" not in proc.stderr
    return error


# ---------------------------------------------------------------------------------------------
# Not a usable program (quick mode)


def _aarch64_elf() -> bytes:
    """A minimal, valid AArch64 executable: exit(0) via svc."""
    code = struct.pack("<III", 0xD2800000, 0xD2800BA8, 0xD4000001)  # mov x0,#0; mov x8,#93; svc #0
    size = 64 + 56 + len(code)
    ehdr = struct.pack(
        "<4sBBBBB7sHHIQQQIHHHHHH",
        b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7,  # ELFCLASS64, little-endian, SYSV
        2, 183, 1, 0x400000 + 64 + 56,  # ET_EXEC, EM_AARCH64, version, e_entry
        64, 0, 0, 64, 56, 1, 64, 0, 0,  # phoff, shoff, flags, sizes, 1 phdr, no sections
    )  # fmt: skip
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, 0x400000, 0x400000, size, size, 0x1000)  # PT_LOAD R+X
    return ehdr + phdr + code


def _i386_elf() -> bytes:
    """A minimal 32-bit x86 executable header (ELFCLASS32, EM_386)."""
    code = bytes.fromhex("31dbb801000000cd80")  # xor ebx,ebx; mov eax,1; int 0x80
    size = 52 + 32 + len(code)
    ehdr = struct.pack(
        "<4sBBBBB7sHHIIIIIHHHHHH",
        b"\x7fELF", 1, 1, 1, 0, 0, b"\0" * 7,
        2, 3, 1, 0x08048000 + 52 + 32, 52, 0, 0, 52, 32, 1, 40, 0, 0,
    )  # fmt: skip
    phdr = struct.pack("<IIIIIIII", 1, 0, 0x08048000, 0x08048000, size, size, 5, 0x1000)
    return ehdr + phdr + code


def test_crafted_elves_are_what_they_claim() -> None:
    assert ELFFile(BytesIO(_aarch64_elf()))["e_machine"] == "EM_AARCH64"
    assert ELFFile(BytesIO(_i386_elf()))["e_machine"] == "EM_386"


def test_text_file(tmp_path: Path) -> None:
    app = tmp_path / "notes.txt"
    app.write_text("#!/bin/sh\necho I am not an ELF\n")
    app.chmod(0o755)
    _assert_rejected(app, tmp_path / "out", "notes.txt")


def test_empty_file(tmp_path: Path) -> None:
    app = tmp_path / "empty"
    app.write_bytes(b"")
    _assert_rejected(app, tmp_path / "out", "empty")


def test_truncated_elf(tmp_path: Path) -> None:
    app = tmp_path / "truncated-true"
    app.write_bytes(Path("/usr/bin/true").read_bytes()[:100])
    app.chmod(0o755)
    _assert_rejected(app, tmp_path / "out", "truncated-true")


@pytest.mark.parametrize("kind", ["aarch64", "i386"])
def test_not_x86_64(tmp_path: Path, kind: str) -> None:
    app = tmp_path / f"prog-{kind}"
    app.write_bytes(_aarch64_elf() if kind == "aarch64" else _i386_elf())
    app.chmod(0o755)
    error = _assert_rejected(app, tmp_path / "out", app.name)
    lowered = error.lower()
    assert any(w in lowered for w in ("x86-64", "x86_64", "aarch64", "machine", "architecture", "32-bit")), error


def test_missing_app(tmp_path: Path) -> None:
    _assert_rejected(tmp_path / "does-not-exist", tmp_path / "out", "does-not-exist")


def test_dynamic_program_with_missing_library(tmp_path: Path) -> None:
    (tmp_path / "lib.c").write_text("int litebox_answer(void) { return 42; }\n")
    (tmp_path / "main.c").write_text(
        "int litebox_answer(void);\nint main(void) { return litebox_answer() == 42 ? 0 : 1; }\n"
    )
    cc = ["cc", "-O2"]
    subprocess.run([*cc, "-shared", "-fPIC", "-o", "libmissingdep.so", "lib.c"], cwd=tmp_path, check=True)
    subprocess.run(
        [*cc, "-o", "needs-lib", "main.c", "-L.", "-lmissingdep", "-Wl,-rpath,$ORIGIN"],
        cwd=tmp_path,
        check=True,
    )
    app = tmp_path / "needs-lib"
    # With the library present it runs natively (and packs): the test program itself is fine.
    assert subprocess.run([app], check=False).returncode == 0
    (tmp_path / "libmissingdep.so").unlink()
    assert subprocess.run([app], capture_output=True, check=False).returncode != 0
    _assert_rejected(app, tmp_path / "out", "libmissingdep.so")


# ---------------------------------------------------------------------------------------------
# Bad project configuration


def _project(tmp_path: Path, edit: str | None = None, replace: str | None = None) -> Path:
    """A copy of hello-static whose litebox.toml has `edit` appended, or is replaced by `replace`."""
    project = copy_example("hello-static", tmp_path)
    toml = project / "litebox.toml"
    if replace is not None:
        toml.write_text(replace)
    if edit is not None:
        toml.write_text(toml.read_text() + edit)
    return project


def test_unknown_key_in_app_table(tmp_path: Path) -> None:
    project = copy_example("hello-static", tmp_path)
    toml = project / "litebox.toml"
    toml.write_text(toml.read_text().replace('entry = "/app/hello"', 'entry = "/app/hello"\nentyr = "/x"'))
    _assert_rejected(project, tmp_path / "out", "litebox.toml", "entyr")


def test_unknown_table(tmp_path: Path) -> None:
    project = _project(tmp_path, edit='\n[netwrok]\nallow = ["0.0.0.0/0"]\n')
    _assert_rejected(project, tmp_path / "out", "litebox.toml", "netwrok")


def test_invalid_toml(tmp_path: Path) -> None:
    project = _project(tmp_path, replace='[app\nname = "broken"\n')
    _assert_rejected(project, tmp_path / "out", "litebox.toml")


def test_wrong_type(tmp_path: Path) -> None:
    project = copy_example("hello-static", tmp_path)
    toml = project / "litebox.toml"
    toml.write_text(toml.read_text().replace("args = []", 'args = "--not-a-list"'))
    _assert_rejected(project, tmp_path / "out", "litebox.toml", "args")


def test_missing_files_source(tmp_path: Path) -> None:
    project = copy_example("cat-files", tmp_path)
    shutil.rmtree(project / "data")
    _assert_rejected(project, tmp_path / "out", "data")


def test_entry_not_in_image(tmp_path: Path) -> None:
    project = copy_example("hello-static", tmp_path)
    toml = project / "litebox.toml"
    toml.write_text(toml.read_text().replace('entry = "/app/hello"', 'entry = "/app/nothere"'))
    _assert_rejected(project, tmp_path / "out", "/app/nothere")


def test_directory_without_config(tmp_path: Path) -> None:
    empty = tmp_path / "no-config"
    empty.mkdir()
    _assert_rejected(empty, tmp_path / "out", "no-config")


def test_failing_build_command(tmp_path: Path) -> None:
    project = copy_example("hello-static", tmp_path)
    (project / "hello.c").write_text("int main(void) { this is not C; }\n")
    out = tmp_path / "out"
    proc = run_cli("pack", project, "--out-dir", out)
    assert proc.returncode != 0, describe(proc)
    assert listing(out) == []
    assert "Traceback" not in proc.stderr


def test_unknown_target(tmp_path: Path) -> None:
    proc = run_cli("pack", "/usr/bin/true", "--target", "no-such-target", "--out-dir", tmp_path / "out")
    assert proc.returncode != 0, describe(proc)
    assert "no-such-target" in proc.stderr
    assert listing(tmp_path / "out") == []


def test_existing_artifact_survives_a_failed_pack(tmp_path: Path) -> None:
    """A failed pack leaves the previous good artifact as it was (write to a temp name, rename)."""
    project = copy_example("hello-static", tmp_path)
    out = tmp_path / "out"
    good = pack(project, out)
    before = good.path.read_bytes()
    toml = project / "litebox.toml"
    toml.write_text(toml.read_text() + "\n[bogus_table]\n")
    proc = run_cli("pack", project, "--out-dir", out)
    assert proc.returncode != 0, describe(proc)
    assert good.path.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == sorted([good.path.name, good.manifest.name,
                                                            good.path.name + ".spdx.json"])


@pytest.mark.parametrize("below", ["", "sub"])
def test_out_dir_that_is_a_file(tmp_path: Path, below: str) -> None:
    """--out-dir naming a file (or a path through one) is a one-line error naming it, before
    anything is built; the file is left as it was."""
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me\n")
    out = blocker / below if below else blocker
    proc = run_cli("pack", Path("/usr/bin/true"), "--out-dir", out)
    assert proc.returncode == EXIT_INPUT_ERROR, describe(proc)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"litebox: error: --out-dir {out}: {blocker} is not a directory"], describe(proc)
    assert blocker.read_text() == "keep me\n"
