"""What a packed syscall keeps, as the Linux x86-64 ABI promises (every register but rax, rcx
and r11; the flags; xmm0-15), around rewritten and trapped clock_gettime and getppid sites,
with SIGALRM handlers making calls of their own meanwhile; and the clocks the app reads:
CLOCK_MONOTONIC never goes back, EFAULT for buffers it cannot write (also one proven by an
earlier call and unmapped since), CLOCK_REALTIME within the host's time around the run.
tests/e2e/programs/rewrite/regsave.c does the checking; the light clock path
(runtime/src/fastclock.rs, no xmm save) is what this guards. The same for read and write of
host pipes (tests/e2e/programs/rewrite/rwpass.c), which the fast path passes to the host with
the app's registers and the host's descriptor swapped into rdi (runtime/src/fastpath.rs), and for
recvfrom and sendto without an address and shutdown of host sockets, which it passes the same
way (tests/e2e/programs/rewrite/sockpass.c)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from litebox_e2e import pack, run_program

SRC = Path(__file__).resolve().parent / "programs" / "rewrite" / "regsave.c"

pytestmark = [
    pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed"),
    pytest.mark.skipif(os.environ.get("LITEBOX_E2E_NO_REWRITE") == "1", reason="chooses rewriting itself"),
]


def _build(tmp_path_factory: pytest.TempPathFactory, src: Path) -> Path:
    """SRC (a program under programs/rewrite, with regsite.h) built static as the tests run it."""
    out = tmp_path_factory.mktemp(src.stem) / src.stem
    subprocess.run(["gcc", "-O2", "-static", "-masm=intel", "-mno-red-zone", "-o", str(out), str(src)],
                   check=True)
    return out


@pytest.fixture(scope="module")
def regsave(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory, SRC)


def _check(proc: subprocess.CompletedProcess[bytes], before: float, after: float) -> None:
    out = proc.stdout.decode()
    assert proc.returncode == 0 and out.startswith("ok "), out + proc.stderr.decode()
    _ok, calls, real0, real1 = out.split()
    assert int(calls) >= 20000
    # The app's CLOCK_REALTIME is the host's: inside the run, in order.
    assert before <= float(real0) <= float(real1) <= after


def test_native_baseline(regsave: Path) -> None:
    before = time.time()
    proc = run_program([regsave])
    _check(proc, before, time.time())


@pytest.mark.parametrize("rewrite", [True, False], ids=["rewritten", "trapped"])
def test_registers_and_clocks_packed(regsave: Path, tmp_path: Path, rewrite: bool) -> None:
    art = pack(regsave, tmp_path / "dist", *([] if rewrite else ["--no-rewrite"]))
    before = time.time()
    proc = run_program([art.path])
    _check(proc, before, time.time())


RWPASS = Path(__file__).resolve().parent / "programs" / "rewrite" / "rwpass.c"


@pytest.fixture(scope="module")
def rwpass(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory, RWPASS)


def _check_rw(proc: subprocess.CompletedProcess[bytes]) -> None:
    out = proc.stdout.decode()
    assert proc.returncode == 0 and out.startswith("ok "), out + proc.stderr.decode()
    assert int(out.split()[1]) >= 20000


def test_pipe_read_write_native_baseline(rwpass: Path) -> None:
    _check_rw(run_program([rwpass]))


@pytest.mark.parametrize("rewrite", [True, False], ids=["rewritten", "trapped"])
def test_pipe_read_write_keep_registers_packed(rwpass: Path, tmp_path: Path, rewrite: bool) -> None:
    """read and write of host pipes (the fast path passes them to the host with the host's
    descriptor in rdi): every register but rax, rcx and r11 kept, the echoed values right, with
    SIGALRM restarting blocking reads; EINTR without SA_RESTART; EBADF and EFAULT refusals; a
    partly writable buffer. A runtime that leaves the host descriptor in rdi fails it."""
    art = pack(rwpass, tmp_path / "dist", *([] if rewrite else ["--no-rewrite"]))
    _check_rw(run_program([art.path]))


SOCKPASS = Path(__file__).resolve().parent / "programs" / "rewrite" / "sockpass.c"


@pytest.fixture(scope="module")
def sockpass(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory, SOCKPASS)


def test_socket_recv_send_shutdown_native_baseline(sockpass: Path) -> None:
    _check_rw(run_program([sockpass]))


@pytest.mark.parametrize("rewrite", [True, False], ids=["rewritten", "trapped"])
def test_socket_recv_send_shutdown_keep_registers_packed(sockpass: Path, tmp_path: Path, rewrite: bool) -> None:
    """recvfrom and sendto without an address, and shutdown, of host sockets (the fast path
    passes them to the host with the host's descriptor in rdi and the app's r10, r8 and r9):
    every register but rax, rcx and r11 kept, the echoed values right, with SIGALRM restarting
    blocking receives; EINTR without SA_RESTART; MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_TRUNC
    on a datagram socket, MSG_NOSIGNAL; SIGPIPE and EPIPE; EBADF, ENOTSOCK, EFAULT and EINVAL
    refusals; a receive into a partly writable buffer, a send from a partly readable one;
    shutdown and the peer's end of file."""
    art = pack(sockpass, tmp_path / "dist", *([] if rewrite else ["--no-rewrite"]))
    _check_rw(run_program([art.path]))
