"""examples/python-app: Debian's python3 and its standard library packed, running a script that
uses json, hashlib, sqlite3 (in memory and a file in /tmp), threads with a lock and a queue, and a
child process (the packed interpreter again). The packed run prints the same bytes and exits with
the same code (3) as the native one on every target (the `target` fixture; on kvm, booted in QEMU
with TCG, threads, sqlite's file in the in-memory /tmp and the child process all run in the VM's
kernel), and reads only part of the image (it is read on demand)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from litebox_e2e import Artifact, copy_example, describe, pack, pack_for, run_on, run_program

PYTHON = Path("/usr/bin/python3")

pytestmark = pytest.mark.skipif(
    not PYTHON.is_file() or not Path("/usr/lib/python3.11").is_dir(),
    reason="Debian's python3.11 is not installed",
)


@pytest.fixture(scope="module")
def example_pack(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Artifact]:
    """(the copied example folder, its linux-userland pack)."""
    work = tmp_path_factory.mktemp("python-app")
    src = copy_example("python-app", work)
    return src, pack(src, work / "dist")


@pytest.fixture(scope="module")
def example(example_pack: tuple[Path, Artifact]) -> tuple[Path, Path]:
    """(the copied example folder, its packed artifact)."""
    return example_pack[0], example_pack[1].path


@pytest.fixture(scope="module")
def packed(target: Any, example_pack: tuple[Path, Artifact], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example packed for ``target`` (the module's artifact when it is that target's)."""
    src, art = example_pack
    if art.target == target.name:
        return art.path
    return pack_for(target, src, tmp_path_factory.mktemp(f"python-app-{target.name}") / "dist").path


def native_run(src: Path) -> bytes:
    # What [app].env of the example sets, by hand; the host's own interpreter and library.
    proc = run_program([PYTHON, src / "app" / "main.py"],
                       env={"LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 3, describe(proc)
    return proc.stdout


# Fixed names in the host's /tmp that other tests use too (native runs write them, tests clear
# or check them): all such tests run on one pytest-xdist worker (scripts/test: --dist loadgroup).
@pytest.mark.xdist_group("host-tmp")
def test_same_output_and_exit_code_as_native(target: Any, example: tuple[Path, Path], packed: Path) -> None:
    expected = native_run(example[0])
    Path("/tmp/app.db").unlink(missing_ok=True)
    out = run_on(target, packed)
    assert out.returncode == 3, describe(out)
    assert out.stdout == expected
    lines = out.stdout.decode().splitlines()
    assert "subprocess: child ok exit 0" in lines
    assert lines[-1] == "done"


# Fixed names in the host's /tmp that other tests use too (native runs write them, tests clear
# or check them): all such tests run on one pytest-xdist worker (scripts/test: --dist loadgroup).
@pytest.mark.xdist_group("host-tmp")
def test_the_sqlite_file_lives_in_the_sandbox_not_on_the_host(example: tuple[Path, Path]) -> None:
    _, art = example
    Path("/tmp/app.db").unlink(missing_ok=True)
    packed = run_program([art])
    assert packed.returncode == 3, describe(packed)
    # The app wrote /tmp/app.db inside its writable layer, which is gone after exit.
    assert not Path("/tmp/app.db").exists()


def test_start_up_reads_the_image_on_demand(example: tuple[Path, Path]) -> None:
    _, art = example
    packed = run_program([art], env={"LITEBOX_LOG": "debug"})
    assert packed.returncode == 3, describe(packed)
    counts = re.findall(rb"litebox: image: (\d+) of (\d+) chunks read", packed.stderr)
    assert counts, describe(packed)
    read, total = (int(x) for x in counts[-1])  # the main process exits last
    # The whole standard library is packed; a run touches a small part of it.
    assert 0 < read < total // 2, (read, total)


# Not on targets without these yet (tests/e2e/litebox_e2e.py NOT_YET).
pytestmark = [pytestmark, pytest.mark.needs("fork")]


def test_damaged_code_chunk_at_the_top_of_python3s_text_exits_122(example: tuple[Path, Path], tmp_path: Path) -> None:
    """python3's text segment (~5 MB of stored chunks, mapped at start-up) is checked on two
    CPUs on linux-userland: the app's first process from the bottom, init from the top
    (docs/targets/linux-userland.md, "Chunk checks on both CPUs"). A damaged chunk at the top,
    the first one init takes, still stops every run with 122 before any app code runs,
    whichever side checks it."""
    import shutil

    from elftools.elf.elffile import ELFFile
    from litebox_e2e import EXIT_TAMPERED, flip_byte, read_image

    art = tmp_path / example[1].name
    shutil.copy2(example[1], art)
    sec, image = read_image(art)
    entry = next(e for e in image.entries if e.path.startswith(b"/usr/bin/python3") and e.size > 1 << 20)
    # The packed python3 is the host's (the example packs it from the same path).
    with PYTHON.resolve().open("rb") as f:
        text = max((seg for seg in ELFFile(f).iter_segments() if seg["p_type"] == "PT_LOAD" and seg["p_flags"] & 1),
                   key=lambda seg: seg["p_filesz"])
    assert entry.size == PYTHON.resolve().stat().st_size
    last_byte = entry.data + text["p_offset"] + text["p_filesz"] - 1
    k = image.chunk_of(last_byte) - 1  # the top chunk may be shared with the next segment
    first = image.chunk_of(entry.data + text["p_offset"])
    assert k - first >= 8, "the text spans many chunks"
    assert image.chunks[k].comp_size == image.chunks[k].raw_size, "code is stored raw"
    c0, c1 = image.chunk_data_range(k)
    flip_byte(art, sec.offset + (c0 + c1) // 2)
    for _ in range(3):
        proc = run_program([art])
        assert proc.returncode == EXIT_TAMPERED, describe(proc)
        assert proc.stdout == b"", describe(proc)
        assert b"chunk digest does not match" in proc.stderr, describe(proc)
