"""mknodat at the gate, packed only: FIFOs are served (the writable layer's are the host's, made
by the runtime through the gate), so the gate lets `mknodat` through, but only with `S_IFIFO`
in the mode: app code that calls the gate itself cannot make a device node or any other node
(EPERM, logged with the rule), and the scratch directory stays empty."""

from __future__ import annotations

import errno

from confine_probe import gate_address, probe, results


def test_gate_lets_mknodat_make_only_fifos() -> None:
    p = probe()
    scratch = p.base / "scratch"
    proc = p.run("mknod", hex(gate_address(p.artifact)), str(scratch), env={"LITEBOX_LOG": "debug"})
    r = results(proc)
    assert r["gate-mknodat-chardev"] == f"ret=-1 errno={errno.EPERM}"
    assert r["gate-mknodat-regular"] == f"ret=-1 errno={errno.EPERM}"
    assert "rule: gate allow-list: mknodat of anything but a FIFO or a socket node" in proc.stderr.decode()
    assert r["mknod-fifo-served"] == "ret=0 errno=0"
    assert list(scratch.iterdir()) == []
