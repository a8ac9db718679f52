"""Pack-time syscall rewriting end to end: awkward syscall sites (tests/e2e/programs/rewrite/)
built from source, packed rewritten and not, run and compared with the native run; what
`inspect` and the manifest report about the sites; identical bytes from two packs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import describe, pack, run_cli, run_program, sha256_file

SRC = Path(__file__).resolve().parent / "programs" / "rewrite"

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed"),
    pytest.mark.skipif(os.environ.get("LITEBOX_E2E_NO_REWRITE") == "1", reason="chooses rewriting itself"),
]


@pytest.fixture(scope="module")
def programs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tricky (asm, no libc), uselib (+ libsite.so, found through $ORIGIN), sigloop (C)."""
    work = tmp_path_factory.mktemp("rewrite-progs")
    run = lambda *a: subprocess.run([str(x) for x in a], check=True)  # noqa: E731
    run("gcc", "-nostdlib", "-static", "-Wl,--build-id=sha1", "-o", work / "tricky", SRC / "tricky.S")
    run("gcc", "-O2", "-shared", "-fPIC", "-o", work / "libsite.so", SRC / "libsite.c")
    run("gcc", "-O2", "-o", work / "uselib", SRC / "uselib.c", f"-L{work}", "-lsite", "-Wl,-rpath,$ORIGIN")
    run("gcc", "-O2", "-o", work / "sigloop", SRC / "sigloop.c")
    run("gcc", "-O2", "-static", "-o", work / "sigloop-static", SRC / "sigloop.c")
    return {p.name: p for p in work.iterdir()}


def _inspect(art: Path) -> dict:
    proc = run_cli("inspect", art, "--json")
    assert proc.returncode == 0, describe(proc)
    return json.loads(proc.stdout)


@pytest.mark.parametrize("rewrite", [True, False], ids=["rewritten", "trapped"])
@pytest.mark.parametrize("name", ["tricky", "uselib", "sigloop", "sigloop-static"])
def test_same_as_native(programs: dict[str, Path], tmp_path: Path, name: str, rewrite: bool) -> None:
    prog = programs[name]
    native = run_program([prog])
    assert native.returncode == 0, native.stderr
    art = pack(prog, tmp_path / "dist", *([] if rewrite else ["--no-rewrite"]))
    packed = run_program([art.path])
    assert (packed.returncode, packed.stdout) == (native.returncode, native.stdout), packed.stderr.decode()
    report = _inspect(art.path)["rewrite"]
    manifest = json.loads(art.manifest.read_text())
    assert manifest["config"]["build"]["rewrite"] is rewrite
    assert report["enabled"] is rewrite
    if not rewrite:
        assert report["files"] == {}
        return
    files = report["files"]
    if name == "tricky":
        (facts,) = files.values()
        # Eleven sites; the last syscall is a branch target at the end of the segment.
        assert (facts["sites"], facts["rewritten"], facts["trapped"]) == (11, 10, 1)
        assert facts["trapped_reasons"] == {"the syscall is a branch target": 1}
    if name == "uselib":
        lib = next(f for p, f in files.items() if p.endswith("/libsite.so"))
        assert (lib["sites"], lib["rewritten"]) == (2, 2)
        libc = next(f for p, f in files.items() if "/libc.so" in p)
        assert libc["rewritten"] > 0 and "inotify_init(253)" in libc["unimplemented"]
        assert "io_setup(206)" in lib["unimplemented"]


def test_pack_warns_about_unimplemented_syscalls(programs: dict[str, Path], tmp_path: Path) -> None:
    proc = run_cli("pack", programs["uselib"], "--out-dir", tmp_path / "dist")
    assert proc.returncode == 0, describe(proc)
    # The app's own library is named with its calls; system libraries (libc wraps every
    # syscall) are summarised only with -v and listed by inspect.
    assert "libsite.so: may call syscalls the library OS does not implement (they get ENOSYS): io_setup(206)" \
        in proc.stderr
    assert "libc.so.6" not in proc.stderr


def test_rewritten_artifacts_are_reproducible(programs: dict[str, Path], tmp_path: Path) -> None:
    a = pack(programs["uselib"], tmp_path / "a" / "dist")
    b = pack(programs["uselib"], tmp_path / "b" / "dist")
    assert sha256_file(a.path) == sha256_file(b.path)


def test_inspect_text_reports_sites(programs: dict[str, Path], tmp_path: Path) -> None:
    art = pack(programs["tricky"], tmp_path / "dist")
    proc = run_cli("inspect", art.path)
    assert proc.returncode == 0, describe(proc)
    assert "11 sites, 10 rewritten, 1 left to the trap path" in proc.stdout
