"""Debian's busybox-static packed in quick mode, on every target (the `target` fixture; kvm
boots it in QEMU with TCG): shell scripts with pipelines (beyond a pipe's capacity, and into
readers that exit early), redirections, command substitution, loops, tests, killed children and
the file applets, that is fork/vfork, execve of programs inside the image, wait4, pipe2, dup2 and
file writes by children that their parent reads afterwards; and the processes probe
(programs/processes.c). The packed run must print the same bytes and exit the same way as the
native one (docs/targets/kvm.md, "Processes", for the kvm kernel's side).

The kvm VM carries stdout and stderr apart (two serial ports), so stdout is compared with native
stdout alone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from litebox_e2e import describe, pack_for, run_native_private_tmp, run_on, run_program, signal_death_status

BUSYBOX = Path("/bin/busybox")
PROGRAMS = Path(__file__).resolve().parent / "programs"
SCRIPT = (PROGRAMS / "busybox-script.sh").read_text()
PROCESS_SCRIPT = (PROGRAMS / "busybox-processes.sh").read_text()

pytestmark = pytest.mark.skipif(
    not BUSYBOX.is_file(), reason="busybox-static is not installed (scripts/setup installs it)"
)


@pytest.fixture(scope="module")
def packed_busybox(tmp_path_factory: pytest.TempPathFactory, target: Any) -> Path:
    return pack_for(target, BUSYBOX, tmp_path_factory.mktemp(f"busybox-{target.name}") / "dist").path


def native_sh(script: str) -> subprocess.CompletedProcess[bytes]:
    """The native reference run of a busybox shell script, in a /tmp of its own: the scripts
    use fixed names there (/tmp/w, /tmp/t.tar, ...)."""
    return run_native_private_tmp([BUSYBOX, "sh", "-c", script])


# The native run has a /tmp of its own (native_sh); where that is not possible (not root) it
# falls back to the host's /tmp, so such tests still share one pytest-xdist worker.
@pytest.mark.xdist_group("host-tmp")
@pytest.mark.parametrize(("script", "status"), [(SCRIPT, 7), (PROCESS_SCRIPT, 0)], ids=["files", "processes"])
def test_script_matches_native(target: Any, packed_busybox: Path, script: str, status: int) -> None:
    native = native_sh(script)
    assert native.returncode == status, describe(native)
    packed = run_on(target, packed_busybox, ["sh", "-c", script])
    assert packed.stdout == native.stdout, describe(packed)
    assert packed.returncode == status, describe(packed)


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
def test_shell_features(target: Any, packed_busybox: Path, script: str, stdout: bytes) -> None:
    packed = run_on(target, packed_busybox, ["sh", "-c", script])
    assert packed.stdout == stdout, describe(packed)


# The native run has a /tmp of its own (native_sh); where that is not possible (not root) it
# falls back to the host's /tmp, so such tests still share one pytest-xdist worker.
@pytest.mark.xdist_group("host-tmp")
def test_a_signal_death_of_the_first_process_is_the_status(target: Any, packed_busybox: Path) -> None:
    """The shell kills itself with SIGTERM: natively -15; packed, the target's way of reporting
    a death by SIGTERM (litebox_e2e.SIGNAL_DEATH_STATUS: kvm's VM exits 128 + 15)."""
    native = native_sh("kill -TERM $$; echo survived")
    assert native.returncode == -15 and native.stdout == b"", describe(native)
    packed = run_on(target, packed_busybox, ["sh", "-c", "kill -TERM $$; echo survived"])
    assert packed.returncode == signal_death_status(target, 15), describe(packed)
    assert packed.stdout == b"", describe(packed)


def test_host_program_cannot_be_executed(target: Any, packed_busybox: Path) -> None:
    """/usr/bin/env exists on the host but not in the image: execve fails with ENOENT (127)."""
    packed = run_on(target, packed_busybox, ["sh", "-c", "/usr/bin/env; echo $?"])
    assert packed.stdout == b"127\n", describe(packed)
    assert packed.stderr.endswith(b"/usr/bin/env: not found\n"), describe(packed)
    assert packed.returncode == 0, describe(packed)


def test_child_sees_files_and_parent_sees_child_writes(target: Any, packed_busybox: Path) -> None:
    script = "mkdir /tmp/d && echo p > /tmp/d/p && sh -c 'cat /tmp/d/p; echo c >> /tmp/d/p' && cat /tmp/d/p"
    packed = run_on(target, packed_busybox, ["sh", "-c", script])
    assert packed.stdout == b"p\np\nc\n", describe(packed)


# The probe's children run alongside their parents, which a windows fork child does not.
@pytest.mark.needs("fork")
def test_processes_probe_matches_native(target: Any, tmp_path: Path) -> None:
    prog = tmp_path / "processes"
    cc = subprocess.run(["cc", "-static", "-O1", "-o", prog, PROGRAMS / "processes.c"], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    native = run_program([prog])
    assert native.returncode == 0 and b"posix_spawn: exited 42" in native.stdout, describe(native)
    packed = run_on(target, pack_for(target, prog, tmp_path / "dist"), [])
    assert packed.stdout == native.stdout, describe(packed)
    assert packed.returncode == 0, describe(packed)

