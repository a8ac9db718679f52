"""`litebox run --learn` names what the sandbox refused: an ioctl the library OS does not serve
and a syscall it does not implement, each with what the app saw and what to do
(docs/targets/linux-userland.md, "Trace and learn")."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from litebox_e2e import describe, pack, run_cli

PROGRAMS = Path(__file__).resolve().parent / "programs"


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    work = tmp_path_factory.mktemp("learnprobe")
    prog = work / "learnprobe"
    subprocess.run(["cc", "-O1", "-Wall", "-o", str(prog), str(PROGRAMS / "learnprobe.c")], check=True)
    art = pack(prog, work / "dist")
    proc = run_cli("run", "--learn", art.path)
    assert proc.returncode == 0, describe(proc)
    return proc


def test_the_app_saw_enotty_and_enosys(learned: subprocess.CompletedProcess[str]) -> None:
    assert learned.stdout.startswith("ioctl: -1 ENOTTY\nio_setup: -1 ENOSYS\n"), describe(learned)


def test_learn_names_the_refused_ioctl(learned: subprocess.CompletedProcess[str]) -> None:
    assert "# ioctl 0x4c42ab01 on fd 1 refused: the app got ENOTTY; LiteBox does not serve this request" \
        in learned.stdout, describe(learned)


def test_learn_names_the_unimplemented_syscall(learned: subprocess.CompletedProcess[str]) -> None:
    assert "# syscall io_setup (206) is not implemented by LiteBox: the app got ENOSYS; Linux AIO" \
        in learned.stdout, describe(learned)


def test_learn_output_has_no_loader_noise(learned: subprocess.CompletedProcess[str]) -> None:
    for noise in ("hwcaps", "ld.so", "not a normalized"):
        assert noise not in learned.stdout + learned.stderr, describe(learned)
