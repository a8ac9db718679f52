"""The runtime's userfaultfd, packed only (linux-userland): the app's first process holds one,
registered on the runtime's own read-only mappings to turn fault-around off
(runtime/src/faultaround.rs, docs/security.md). The app must not be able to make a userfaultfd
or use the runtime's: `userfaultfd` is refused by the library OS and by the gate, and no UFFDIO
ioctl on any descriptor number (the runtime's included) gets through the gate."""

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
