"""userfaultfd, packed only (linux-userland): the app must not be able to make a userfaultfd
(a classic aid to kernel exploits, it lets a process stall the kernel on a page fault) nor
reach one through the gate: `userfaultfd` is refused by the library OS and by the gate, and no
UFFDIO ioctl on any descriptor number gets through the gate's ioctl rule."""

from __future__ import annotations

import errno

from confine_probe import gate_address, probe, results


def test_the_app_cannot_make_or_use_a_userfaultfd() -> None:
    p = probe()
    r = results(p.run("uffd", hex(gate_address(p.artifact))))
    assert r["uffd-create"] == f"ret=-1 errno={errno.EPERM}", r
    assert r["gate-uffd-create"] == f"ret=-1 errno={errno.EPERM}", r
    # 1024 descriptor numbers x UFFDIO_API, UFFDIO_REGISTER, UFFDIO_UNREGISTER: all refused by
    # the gate's ioctl rule before the host looks at the descriptor.
    assert r["gate-uffd-ioctls"] == "calls=3072 eperm=3072", r
