"""mknodat at the gate, packed only: FIFOs and socket nodes are served (the writable layer's are
the host's, made by the runtime through the gate), so the gate lets `mknodat` through, but only
with `S_IFIFO` or `S_IFSOCK` in the mode: app code that calls the gate itself cannot make a
device node or a regular file (EPERM, logged with the rule), nor a socket node in a host
directory the policy does not grant, and the scratch directory stays empty. renameat2 is on
the gate's list too; its RENAME_WHITEOUT is refused (it needs CAP_MKNOD)."""

from __future__ import annotations

import errno

from confine_probe import gate_address, probe, results


def test_gate_lets_mknodat_make_only_fifos_and_socket_nodes() -> None:
    p = probe()
    scratch = p.base / "scratch"
    proc = p.run("mknod", hex(gate_address(p.artifact)), str(scratch), env={"LITEBOX_LOG": "debug"})
    r = results(proc)
    assert r["gate-mknodat-chardev"] == f"ret=-1 errno={errno.EPERM}"
    assert r["gate-mknodat-regular"] == f"ret=-1 errno={errno.EPERM}"
    assert "rule: gate allow-list: mknodat of anything but a FIFO or a socket node" in proc.stderr.decode()
    assert r["mknod-fifo-served"] == "ret=0 errno=0"
    # A socket node passes the gate but Landlock and the private root keep it out of host
    # directories the policy does not grant; RENAME_WHITEOUT needs CAP_MKNOD.
    assert r["gate-mknodat-socket-outside"].startswith("ret=-1 "), r
    assert r["gate-renameat2-whiteout"].startswith("ret=-1 "), r
    assert list(scratch.iterdir()) == []
