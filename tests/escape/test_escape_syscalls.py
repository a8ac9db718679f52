"""Privileged and host-reaching syscalls, packed only: each gets exactly the errno that
docs/security.md documents (EPERM, deliberately, never ENOSYS), and a raw `syscall` from a
freshly written RWX page or an RW-then-RX page is still served by the library OS."""

from __future__ import annotations

import errno

import pytest
from confine_probe import probe, results

# docs/security.md, "Privileged syscalls": the app gets EPERM for each, logged with the rule.
DENIED = {
    "ptrace": 101, "mount": 165, "umount2": 166, "unshare": 272, "setns": 308, "pivot_root": 155,
    "chroot": 161, "bpf": 321, "keyctl": 250, "init_module": 175, "finit_module": 313,
    "kexec_load": 246, "reboot": 169, "perf_event_open": 298, "process_vm_readv": 310,
    "userfaultfd": 323,
}


@pytest.fixture(scope="module")
def priv() -> tuple[dict[str, str], str]:
    p = probe()
    proc = p.run("priv", str(p.base / "scratch"), env={"LITEBOX_LOG": "debug"})
    return results(proc), proc.stderr.decode()


@pytest.mark.parametrize("name", sorted(DENIED))
def test_privileged_syscall_gets_eperm(priv: tuple[dict[str, str], str], name: str) -> None:
    r, _ = priv
    assert r[name] == f"ret=-1 errno={errno.EPERM}"


def test_each_denial_is_logged_with_its_rule(priv: tuple[dict[str, str], str]) -> None:
    _, log = priv
    for name, nr in DENIED.items():
        assert f"litebox: denied: {name} ({nr}) -> EPERM (rule: privileged syscall, never served)" in log, log
    # The scratch mount point is untouched: nothing was mounted there.
    assert list((probe().base / "scratch").iterdir()) == []


def test_denials_are_silent_without_debug() -> None:
    p = probe()
    proc = p.run("priv", str(p.base / "scratch"))
    assert results(proc)["mount"] == f"ret=-1 errno={errno.EPERM}"
    assert b"denied" not in proc.stderr


@pytest.mark.parametrize("kind", ["rwx", "rw-rx"])
def test_jit_syscall_is_served_by_the_library_os(kind: str) -> None:
    p = probe()
    r = results(p.run("jit", str(p.secret), str(p.base / "scratch")))
    # The host has the file; the library OS does not, and says so.
    assert r[f"{kind}-openat-secret"] == f"ret=-1 errno={errno.ENOENT}"
    # uname is the library OS's (node name from the policy, its own release), not the host's.
    assert r[f"{kind}-uname"] == "ret=0 nodename=litebox release=6.12.0-litebox"
    assert r[f"{kind}-getpid-matches"] == "1"
    assert r[f"{kind}-mount"] == f"ret=-1 errno={errno.EPERM}"
