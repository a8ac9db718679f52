"""prlimit64 at the gate, packed only: the app's RLIMIT_CPU is enforced by the host (app and
runtime are one host process), so the gate lets `prlimit64` through, but only on the calling
process (pid 0) and only for RLIMIT_CPU. App code that calls the gate itself cannot read or set
another process's limits nor any other resource of its own (EPERM, logged with the rule), and
cannot raise a hard limit once lowered (the sandbox holds no CAP_SYS_RESOURCE)."""

from __future__ import annotations

import errno
import os

from confine_probe import gate_address, probe, results


def test_gate_lets_prlimit64_reach_only_the_own_cpu_limit() -> None:
    p = probe()
    proc = p.run("prlimit", hex(gate_address(p.artifact)), str(os.getpid()), env={"LITEBOX_LOG": "debug"})
    r = results(proc)
    assert r["gate-prlimit-other-pid"] == f"ret=-1 errno={errno.EPERM}"
    assert r["gate-prlimit-nofile"] == f"ret=-1 errno={errno.EPERM}"
    assert r["gate-prlimit-nproc-read"] == f"ret=-1 errno={errno.EPERM}"
    assert r["gate-prlimit-as"] == f"ret=-1 errno={errno.EPERM}"
    assert "rule: gate allow-list: prlimit64 of another process or a resource other than RLIMIT_CPU" in (
        proc.stderr.decode())
    # The app's setrlimit is served and reaches the host; lowering through the gate works,
    # raising the hard limit again does not.
    assert r["prlimit-cpu-served"] == "ret=0 errno=0"
    assert r["host-cpu-limit"] == "4000 4500"
    assert r["gate-prlimit-cpu-lower"] == "ret=0 errno=0"
    assert r["gate-prlimit-cpu-raise-hard"] == f"ret=-1 errno={errno.EPERM}"
