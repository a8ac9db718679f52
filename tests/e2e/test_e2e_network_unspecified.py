"""A destination at the unspecified address is this host's loopback, in the policy as on Linux
(tests/e2e/programs/netunspec.c, packed in project mode on linux-userland).

Linux sends a connect or send to 0.0.0.0 (or ::, or ::ffff:0.0.0.0) to the loopback address.
The library OS checks such a destination as 127.0.0.1 (::1) and hands the host that address,
so rules naming only loopback ports allow it, the program's output is native's, and on a port
no rule names it gets EACCES, logged with the address it would have reached (docs/config.md,
"Unspecified destination").
"""

from __future__ import annotations

import pytest
from litebox_e2e import describe, pack, run_cli, run_program
from netprobe import NetProbe, build_probe, probe_ports, write_project

DENIED = """\
tcp connect 0.0.0.0 outside policy = -1 EACCES
udp sendto 0.0.0.0 outside policy = -1 EACCES
tcp6 connect :: outside policy = -1 EACCES
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> NetProbe:
    work = tmp_path_factory.mktemp("netunspec")
    native = build_probe(work, "netunspec")
    tcp, udp, denied = probe_ports()
    # Loopback rules only: no wildcard rule anywhere.
    rules = [f"127.0.0.1:{tcp}", f"127.0.0.1:{udp}", f"[::1]:{tcp}"]
    project = write_project(work, native, rules, rules)
    return NetProbe(native, pack(project, work / "dist").path, tcp, udp, denied)


def test_unspecified_destinations_reach_loopback_under_loopback_rules(probe: NetProbe) -> None:
    args = ["allowed", str(probe.tcp), str(probe.udp)]
    native = run_program([probe.native, *args])
    assert native.returncode == 0, describe(native)
    packed = run_program([probe.artifact, *args])
    assert packed.returncode == 0, describe(packed)
    lines = native.stdout.decode().splitlines()
    for line in ["tcp connect 0.0.0.0 = 0", "tcp connect 0.0.0.0 peer 127.0.0.1",
                 "tcp6 connect ::ffff:0.0.0.0 peer ::ffff:127.0.0.1", "udp got d1 from 127.0.0.1",
                 "udp connect 0.0.0.0 peer 127.0.0.1", "udp got d2 from 127.0.0.1"]:
        assert line in lines, native.stdout.decode()
    assert packed.stdout == native.stdout


def test_unspecified_destinations_outside_the_policy_are_refused_and_logged(probe: NetProbe) -> None:
    packed = run_program([probe.artifact, "denied", str(probe.denied)], env={"LITEBOX_LOG": "debug"})
    assert packed.returncode == 0, describe(packed)
    assert packed.stdout.decode() == DENIED
    p = probe.denied
    err = packed.stderr.decode().splitlines()
    for line in [
        f"litebox: network: connect 0.0.0.0:{p} (this host: 127.0.0.1:{p}) denied: "
        f"no [policy.network] connect rule allows 127.0.0.1:{p} -> EACCES",
        f"litebox: network: sendto 0.0.0.0:{p} (this host: 127.0.0.1:{p}) denied: "
        f"no [policy.network] connect rule allows 127.0.0.1:{p} -> EACCES",
        f"litebox: network: connect [::]:{p} (this host: [::1]:{p}) denied: "
        f"no [policy.network] connect rule allows [::1]:{p} -> EACCES",
    ]:
        assert line in err, f"missing log line {line!r} in:\n{packed.stderr.decode()}"


def test_learn_names_the_loopback_rule_for_an_unspecified_destination(probe: NetProbe) -> None:
    proc = run_cli("run", "--learn", probe.artifact, "--", "denied", str(probe.denied))
    assert proc.returncode == 0, describe(proc)
    snippet = proc.stdout[len(DENIED):]
    p = probe.denied
    # Not offered as a rule (what getaddrinfo's probes of a server's passive address make),
    # but named with the rule that would allow it.
    lines = snippet.splitlines()
    assert not any(line.startswith("connect = ") for line in lines), snippet
    assert (f"# Refused connects to the unspecified address, not offered: 0.0.0.0:{p} (this host: "
            f"127.0.0.1:{p}), [::]:{p} (this host: [::1]:{p}).") in lines, snippet
    assert f'# connect = ["127.0.0.1:{p}", "[::1]:{p}"]' in lines, snippet
