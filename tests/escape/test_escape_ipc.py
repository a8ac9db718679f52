"""SysV IPC and POSIX message queues, packed only: the app's shmget/msgget/semget/mq_open reach
the objects of the app's own IPC namespace (linux-userland with its private root) or none at
all (ENOSYS without one), never the host's. A host segment, queue and semaphore set made under
a key, and a POSIX queue made under a name, before the probe runs stay invisible to it, through
the library OS and straight through the runtime's gate."""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator

import pytest
from confine_probe import gate_address, probe, results

from packager.targets.hostprobe import userns_errno

IPC_CREAT, IPC_EXCL, IPC_RMID = 0o1000, 0o2000, 0
KEY = 0x4C490000 | (os.getpid() & 0xFFFF)


@pytest.fixture(scope="module")
def host_objects() -> Iterator[int]:
    """A host shm segment, message queue and semaphore set under KEY, and a POSIX message
    queue called /lbesc-KEY, removed afterwards."""
    libc = ctypes.CDLL(None, use_errno=True)
    shm = libc.shmget(KEY, 4096, IPC_CREAT | IPC_EXCL | 0o600)
    msg = libc.msgget(KEY, IPC_CREAT | IPC_EXCL | 0o600)
    sem = libc.semget(KEY, 1, IPC_CREAT | IPC_EXCL | 0o600)
    mq_name = f"/lbesc-{KEY:x}".encode()
    mq = libc.mq_open(mq_name, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600, None)
    try:
        assert min(shm, msg, sem, mq) >= 0, f"cannot make host IPC objects: errno {ctypes.get_errno()}"
        yield KEY
    finally:
        if mq >= 0:
            os.close(mq)
            libc.mq_unlink(mq_name)
        if shm >= 0:
            libc.shmctl(shm, IPC_RMID, None)
        if msg >= 0:
            libc.msgctl(msg, IPC_RMID, None)
        if sem >= 0:
            libc.semctl(sem, 0, IPC_RMID)


def _probe(key: int) -> dict[str, str]:
    p = probe()
    return results(p.run("ipc", hex(gate_address(p.artifact)), hex(key)))


def test_host_sysv_objects_are_invisible(host_objects: int) -> None:
    r = _probe(host_objects)
    # With the app's IPC namespace the key names nothing (ENOENT); without one the library OS
    # serves no SysV IPC (ENOSYS) and the gate does not let the calls through (EPERM).
    for call in ("shmget", "msgget", "semget"):
        assert r[f"ipc-{call}-host-key"] in (f"ret=-1 errno={errno.ENOENT}", f"ret=-1 errno={errno.ENOSYS}"), r
    for call in ("shmget", "msgget"):
        assert r[f"gate-{call}-host-key"] in (f"ret=-1 errno={errno.ENOENT}", f"ret=-1 errno={errno.EPERM}"), r
    assert r["ipc-mq_open-host-name"] in (f"ret=-1 errno={errno.ENOENT}", f"ret=-1 errno={errno.ENOSYS}"), r
    assert r["gate-mq_open-host-name"] in (f"ret=-1 errno={errno.ENOENT}", f"ret=-1 errno={errno.EPERM}"), r


def test_with_the_private_root_the_app_has_an_ipc_namespace_of_its_own(host_objects: int) -> None:
    if userns_errno() != 0:
        pytest.skip("this host cannot make the sandbox's namespaces: SysV IPC is ENOSYS there")
    r = _probe(host_objects)
    # Served (not ENOSYS, not refused at the gate), and the host's key is unknown inside.
    for label in ("ipc-shmget", "ipc-msgget", "ipc-semget", "gate-shmget", "gate-msgget"):
        assert r[f"{label}-host-key"] == f"ret=-1 errno={errno.ENOENT}", r
    for label in ("ipc-mq_open", "gate-mq_open"):
        assert r[f"{label}-host-name"] == f"ret=-1 errno={errno.ENOENT}", r
