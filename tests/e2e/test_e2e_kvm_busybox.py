"""Processes on the kvm target: Debian's busybox-static and the processes probe packed for kvm,
booted in QEMU (TCG), must print the same bytes and exit the same way as natively. The scripts
fork, exec programs of the image, wait, pipe (beyond a pipe's capacity, and into readers that
exit early), redirect, substitute commands, kill children, and write files that the parent
reads back, so they exercise the kernel's processes (docs/targets/kvm.md, "Processes").

A handful of boots only: each is 1-5 s under TCG. The VM carries stdout and stderr apart (two
serial ports), so stdout is compared with native stdout alone.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import describe, pack_kvm, run_kvm, run_program

BUSYBOX = Path("/bin/busybox")
PROGRAMS = Path(__file__).resolve().parent / "programs"
SCRIPT = (PROGRAMS / "busybox-script.sh").read_text()
PROCESS_SCRIPT = (PROGRAMS / "busybox-processes.sh").read_text()
EXIT_SIGTERM = 128 + 15

pytestmark = [
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                       reason="qemu-system-x86_64 is not installed (./scripts/setup installs qemu-system-x86)"),
    pytest.mark.skipif(not BUSYBOX.is_file(), reason="busybox-static is not installed (scripts/setup installs it)"),
]


@pytest.fixture(scope="module")
def busybox_kvm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pack_kvm(BUSYBOX, tmp_path_factory.mktemp("busybox-kvm") / "dist")


def clean_host_tmp() -> None:
    for p in ("/tmp/w", "/tmp/t.tar", "/tmp/both.txt", "/tmp/kvmbb"):
        shutil.rmtree(p, ignore_errors=True) if Path(p).is_dir() else Path(p).unlink(missing_ok=True)


def native_sh(script: str) -> subprocess.CompletedProcess[bytes]:
    clean_host_tmp()
    try:
        return run_program([BUSYBOX, "sh", "-c", script])
    finally:
        clean_host_tmp()


# Fixed names in the host's /tmp that other tests use too (native runs write them, tests clear
# or check them): all such tests run on one pytest-xdist worker (scripts/test: --dist loadgroup).
@pytest.mark.xdist_group("host-tmp")
@pytest.mark.parametrize(("script", "status"), [(SCRIPT, 7), (PROCESS_SCRIPT, 0)], ids=["files", "processes"])
def test_script_matches_native(busybox_kvm: Path, script: str, status: int) -> None:
    native = native_sh(script)
    assert native.returncode == status, describe(native)
    kvm = run_kvm(busybox_kvm, ["sh", "-c", script])
    assert kvm.stdout == native.stdout, describe(kvm)
    assert kvm.returncode == status, describe(kvm)


# Fixed names in the host's /tmp that other tests use too (native runs write them, tests clear
# or check them): all such tests run on one pytest-xdist worker (scripts/test: --dist loadgroup).
@pytest.mark.xdist_group("host-tmp")
def test_a_signal_death_of_the_first_process_is_the_vm_status(busybox_kvm: Path) -> None:
    native = native_sh("kill -TERM $$; echo survived")
    assert native.returncode == -15 and native.stdout == b"", describe(native)
    kvm = run_kvm(busybox_kvm, ["sh", "-c", "kill -TERM $$; echo survived"])
    assert kvm.returncode == EXIT_SIGTERM, describe(kvm)
    assert kvm.stdout == b"", describe(kvm)


def test_a_host_program_cannot_be_executed(busybox_kvm: Path) -> None:
    """/usr/bin/env exists on the host but not in the image: execve fails with ENOENT (127)."""
    kvm = run_kvm(busybox_kvm, ["sh", "-c", "/usr/bin/env; echo $?"])
    assert kvm.stdout == b"127\n", describe(kvm)
    assert kvm.stderr.endswith(b"/usr/bin/env: not found\n"), describe(kvm)
    assert kvm.returncode == 0, describe(kvm)


def test_processes_probe_matches_native(tmp_path: Path) -> None:
    prog = tmp_path / "processes"
    cc = subprocess.run(["cc", "-static", "-O1", "-o", prog, PROGRAMS / "processes.c"], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    native = run_program([prog])
    assert native.returncode == 0 and b"posix_spawn: exited 42" in native.stdout, describe(native)
    kvm = run_kvm(pack_kvm(prog, tmp_path / "dist"), [])
    assert kvm.stdout == native.stdout, describe(kvm)
    assert kvm.returncode == 0, describe(kvm)
