"""Debian's busybox-static packed in quick mode: shell scripts with pipelines, redirections,
command substitution, loops, tests and the file applets, that is fork/vfork, execve of programs
inside the image, wait4, pipe2, dup2 and file writes by children that their parent reads
afterwards. The packed run must print the same bytes and exit the same way as the native one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from litebox_e2e import describe, pack, run_program

BUSYBOX = Path("/bin/busybox")
SCRIPT = (Path(__file__).resolve().parent / "programs" / "busybox-script.sh").read_text()

pytestmark = pytest.mark.skipif(
    not BUSYBOX.is_file(), reason="busybox-static is not installed (scripts/setup installs it)"
)


@pytest.fixture(scope="module")
def packed_busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pack(BUSYBOX, tmp_path_factory.mktemp("busybox") / "dist").path


def clean_host_tmp() -> None:
    for p in ("/tmp/w", "/tmp/t.tar", "/tmp/both.txt"):
        shutil.rmtree(p, ignore_errors=True) if Path(p).is_dir() else Path(p).unlink(missing_ok=True)


# Fixed names in the host's /tmp that other tests use too (native runs write them, tests clear
# or check them): all such tests run on one pytest-xdist worker (scripts/test: --dist loadgroup).
@pytest.mark.xdist_group("host-tmp")
def test_script_matches_native(packed_busybox: Path) -> None:
    clean_host_tmp()
    native = run_program([BUSYBOX, "sh", "-c", SCRIPT])
    clean_host_tmp()
    packed = run_program([packed_busybox, "sh", "-c", SCRIPT])
    assert native.returncode == 7, describe(native)
    assert packed.stdout == native.stdout, describe(packed)
    assert packed.returncode == 7


@pytest.mark.parametrize(
    ("script", "stdout"),
    [
        ("echo hi > /tmp/f; cat /tmp/f", b"hi\n"),
        ("sh -c 'echo from-child > /tmp/g'; cat /tmp/g", b"from-child\n"),
        ("printf 'b\\na\\n' | sort | head -1", b"a\n"),
        ("echo $(echo nested $(echo deep))", b"nested deep\n"),
        ("exec echo replaced; echo not-reached", b"replaced\n"),
        ("false; echo $?", b"1\n"),
        ("kill -TERM $$; echo survived", b""),
    ],
)
def test_shell_features(packed_busybox: Path, script: str, stdout: bytes) -> None:
    packed = run_program([packed_busybox, "sh", "-c", script])
    assert packed.stdout == stdout, describe(packed)


def test_host_program_cannot_be_executed(packed_busybox: Path) -> None:
    """/usr/bin/env exists on the host but not in the image: execve fails with ENOENT (127)."""
    packed = run_program([packed_busybox, "sh", "-c", "/usr/bin/env; echo $?"])
    assert packed.stdout == b"127\n", describe(packed)


def test_child_sees_files_and_parent_sees_child_writes(packed_busybox: Path) -> None:
    script = "mkdir /tmp/d && echo p > /tmp/d/p && sh -c 'cat /tmp/d/p; echo c >> /tmp/d/p' && cat /tmp/d/p"
    packed = run_program([packed_busybox, "sh", "-c", script])
    assert packed.stdout == b"p\np\nc\n", describe(packed)
