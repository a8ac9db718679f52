"""Escape probes for the optee target: a hostile TA (tests/escape/programs/ta-escape) packed
and served, trying to reach Linux past the utee ABI.

- A raw `syscall` from the TA's own code is a utee call of that number, never a Linux call:
  execve's and openat's numbers are no utee call (TEE_ERROR_NOT_SUPPORTED), open's number (2)
  is utee panic (the session ends with TEE_ERROR_TARGET_DEAD).
- The same calls made through a `syscall; ret` sequence in the host's libc (the address found
  here from the host's /proc/PID/maps and handed to the TA) are held to the host's allow-list
  and Landlock: openat of /etc/shadow is EACCES (Landlock), execve and socket (AF_INET, and
  AF_UNIX too: the host opened its socket before) are EPERM (seccomp); getpid, on the list,
  works, which shows the probe really ran host code.
- A TA that jumps to an unmapped address dies (TEE_ERROR_TARGET_DEAD); the host serves the
  next session every time.

Every call is harmless even if it got through (a read-only open, /bin/true, a socket never
connected)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from litebox_e2e import REPO, describe, run_cli

sys.path.insert(0, str(REPO / "platform_targets" / "optee" / "client"))
from teeclient import TeeClient, Value  # noqa: E402

UUID = "3e5c0a7d-51b2-4c1e-9a44-6d0b2f815e17"
TEE_ERROR_NOT_SUPPORTED = 0xFFFF000A
TEE_ERROR_TARGET_DEAD = 0xFFFF3024
EACCES, EPERM = 13, 1
TIMEOUT = 120


@pytest.fixture(scope="session")
def escape_ta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    root = tmp_path_factory.mktemp("optee-escape")
    proj = root / "ta-escape"
    shutil.copytree(REPO / "tests" / "escape" / "programs" / "ta-escape", proj,
                    ignore=shutil.ignore_patterns("build"))
    proc = run_cli("pack", proj, "--target", "optee", "--out-dir", root / "dist")
    assert proc.returncode == 0, describe(proc)
    return root / "dist" / "ta-escape-optee"


@pytest.fixture
def host(escape_ta: Path, tmp_path: Path, socket_dir: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    sock = socket_dir / "escape.sock"  # tmp_path can be too long for a socket's path (conftest.py)
    proc = subprocess.Popen([str(escape_ta), "--socket", str(sock), "--storage", str(tmp_path / "store")],
                            stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + TIMEOUT  # a hang guard, not a timing assertion
    while not sock.exists():
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        assert time.monotonic() < deadline, "the TA host did not open its socket"
        time.sleep(0.05)
    yield proc, sock
    proc.terminate()
    proc.wait(timeout=TIMEOUT)
    if proc.stderr:
        proc.stderr.close()


def _syscall_ret_in_libc(pid: int) -> int:
    """The address of a `syscall; ret` byte sequence in process ``pid``'s libc code."""
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[1] == "r-xp" and "libc" in Path(parts[5]).name:
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            with open(f"/proc/{pid}/mem", "rb") as mem:
                mem.seek(lo)
                code = mem.read(hi - lo)
            at = code.find(b"\x0f\x05\xc3")
            if at >= 0:
                return lo + at
    pytest.skip("the TA host has no libc code mapping with a `syscall; ret` sequence")


def _signed(v: int) -> int:
    return v - (1 << 32) if v >> 31 else v


def _host_call(c: TeeClient, session: int, gadget: int, which: int) -> int:
    r = c.invoke(session, 1, [Value("input", gadget & 0xFFFFFFFF, gadget >> 32), Value("input", which),
                              Value("output")])
    assert r.result == 0, hex(r.result)
    return _signed(r.params[2].a)


def test_host_code_reached_by_the_ta_is_held_to_the_allow_list_and_landlock(
        host: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, sock = host
    gadget = _syscall_ret_in_libc(proc.pid)
    with TeeClient(str(sock)) as c:
        r = c.open_session(UUID)
        assert r.result == 0
        s = r.session
        assert _host_call(c, s, gadget, 4) == proc.pid  # getpid: on the list, so the probe ran host code
        assert _host_call(c, s, gadget, 0) == -EACCES  # openat /etc/shadow: Landlock
        assert _host_call(c, s, gadget, 1) == -EPERM  # execve: not on the list
        assert _host_call(c, s, gadget, 2) == -EPERM  # socket(AF_INET)
        assert _host_call(c, s, gadget, 3) == -EPERM  # socket(AF_UNIX): the host made its socket before
    assert proc.poll() is None


def test_raw_syscalls_from_ta_code_reach_only_the_utee_abi(host: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, sock = host
    with TeeClient(str(sock)) as c:
        s = c.open_session(UUID).session
        for linux_nr in (59, 257):  # execve, openat: no such utee call
            r = c.invoke(s, 0, [Value("input", linux_nr), Value("output")])
            assert r.result == 0 and r.params[1].a == TEE_ERROR_NOT_SUPPORTED
        r = c.invoke(s, 0, [Value("input", 2), Value("output")])  # open's number is utee panic
        assert r.result == TEE_ERROR_TARGET_DEAD
        again = c.open_session(UUID)
        assert again.result == 0
        r = c.invoke(again.session, 0, [Value("input", 59), Value("output")])
        assert r.result == 0 and r.params[1].a == TEE_ERROR_NOT_SUPPORTED
    assert proc.poll() is None


def test_a_ta_that_jumps_into_nowhere_dies_and_the_host_serves_on(host: tuple[subprocess.Popen[bytes], Path]) -> None:
    proc, sock = host
    with TeeClient(str(sock)) as c:
        s = c.open_session(UUID).session
        r = c.invoke(s, 1, [Value("input", 0x1000, 0), Value("input", 4), Value("output")])
        assert r.result == TEE_ERROR_TARGET_DEAD
        again = c.open_session(UUID)
        assert again.result == 0
        assert _host_call(c, again.session, _syscall_ret_in_libc(proc.pid), 4) == proc.pid
    assert proc.poll() is None
