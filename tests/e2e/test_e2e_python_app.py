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
