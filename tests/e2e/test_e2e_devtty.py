"""/dev/tty in a packed app (docs/targets/linux-userland.md, "What the app sees"): it reaches the terminal
the artifact was started on when one of its stdin/stdout/stderr is a terminal, and is ENXIO
otherwise, as natively for a process without a controlling terminal.

Packed only: natively the answer depends on the test runner's own controlling terminal.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import BASE_ENV, RUN_TIMEOUT, describe, pack, run_program

PROGRAMS = Path(__file__).resolve().parent / "programs"


@pytest.fixture(scope="module")
def tty_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("tty")
    prog = work / "tty"
    subprocess.run(["cc", "-O1", "-Wall", "-o", str(prog), str(PROGRAMS / "tty.c")], check=True)
    return pack(prog, work / "dist").path


def test_dev_tty_without_a_terminal_is_enxio(tty_artifact: Path) -> None:
    out = run_program([tty_artifact])
    assert out.returncode == 0, describe(out)
    assert out.stdout == b"open /dev/tty: ENXIO\n"


def test_dev_tty_reaches_the_terminal_stdin_is_on(tty_artifact: Path) -> None:
    master, slave = pty.openpty()
    try:
        proc = subprocess.run(
            [str(tty_artifact)], stdin=slave, capture_output=True, env=BASE_ENV, timeout=RUN_TIMEOUT, check=False
        )
        assert proc.returncode == 0, describe(proc)
        assert proc.stdout == b"open /dev/tty: ok isatty=1\nwrite: 10\n"
        seen = b""
        while select.select([master], [], [], 0)[0]:
            chunk = os.read(master, 1024)
            if not chunk:
                break
            seen += chunk
        assert b"hello-tty" in seen
    finally:
        os.close(master)
        os.close(slave)


def run_on_terminal(argv: list[str | Path]) -> subprocess.CompletedProcess[bytes]:
    """Runs argv in a new session whose controlling terminal is a fresh pseudo-terminal on its
    stdin (as a login shell's job would be), output captured."""
    import fcntl
    import termios

    master, slave = pty.openpty()
    try:
        return subprocess.run(
            [str(a) for a in argv],
            stdin=slave,
            capture_output=True,
            env=BASE_ENV,
            timeout=RUN_TIMEOUT,
            check=False,
            start_new_session=True,
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
        )
    finally:
        os.close(master)
        os.close(slave)


def test_job_control_on_a_terminal_matches_native(tmp_path: Path) -> None:
    """tcsetpgrp of the app's own process group, SIGTTIN stopping a background reader,
    waitpid(WUNTRACED), SIGCONT: as natively (programs/jobctl.c)."""
    prog = tmp_path / "jobctl"
    subprocess.run(["cc", "-O1", "-Wall", "-o", str(prog), str(PROGRAMS / "jobctl.c")], check=True)
    native = run_on_terminal([prog])
    assert native.returncode == 0 and b"stopped by signal 21" in native.stdout, describe(native)
    packed = run_on_terminal([pack(prog, tmp_path / "dist").path])
    assert packed.stdout == native.stdout, describe(packed)
    assert packed.returncode == 0, describe(packed)
