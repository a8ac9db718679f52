"""Kernel-half pointers in socket calls (tests/e2e/programs/kptr.c), packed only: every call
whose pointers the library OS passes on to the platform fails with EFAULT, on every target
(the `target` fixture): on kvm too, where the kernel shares the app's address space and would
otherwise write there. A call that got through on kvm would fault the VM (the address is unmapped): the status and
the last line show it did not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litebox_e2e import describe, pack_for, run_on
from netprobe import build_probe, free_port, write_project

EXPECTED = """\
bind = 0
listen = 0
getsockname into the kernel = -1 EFAULT
getsockname length in the kernel = -1 EFAULT
getpeername into the kernel = -1 EFAULT
getsockopt into the kernel = -1 EFAULT
setsockopt from the kernel = -1 EFAULT
accept4 into the kernel = -1 EFAULT
recvfrom into the kernel = -1 EFAULT
sendto from the kernel = -1 EFAULT
getsockname still works = 0 port 1
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    work = tmp_path_factory.mktemp("kptr")
    port = free_port()
    return write_project(work, build_probe(work, "kptr"), [f"127.0.0.1:{port}"], []), port


@pytest.mark.needs("sockets")
def test_packed(target: Any, project: tuple[Path, int], tmp_path: Path) -> None:
    art = pack_for(target, project[0], tmp_path / "dist")
    proc = run_on(target, art, [str(project[1])])
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.decode() == EXPECTED
