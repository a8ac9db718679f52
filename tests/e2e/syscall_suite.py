"""The syscall conformance suite of tests/conformance (C, one file per call family): building
it, running it natively and packed, and comparing the two by case. Used by
tests/e2e/test_e2e_syscall_suite.py (CI) and bench/syscall_suite.py (the pass-rate report).

The suite prints one line per case, ``PASS family.case`` or ``FAIL family.case: detail``, and
``FAIL family: ...`` when a whole family's child process died or timed out.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

SUITE_DIR = Path(__file__).resolve().parents[1] / "conformance"
_LINE = re.compile(r"^(PASS|FAIL) ([A-Za-z0-9_.]+)(?::\s*(.*))?$")

# Cases that pass natively but not packed yet, with the reason; the same on every target unless
# a target is named. The CI test fails when one of these starts passing (so the list shrinks
# with the work) and when any other natively passing case fails packed.
KNOWN_GAPS: dict[str, str] = {
    "partbuf.unix_stream_read_whole_messages": "a stream Unix socket's messages (as sent) are not kept apart: the "
                                               "library OS joins them, the host does not show them; a read into a "
                                               "buffer that stops being writable fails with EFAULT when more is "
                                               "queued than fits, where Linux first reads the whole messages that fit",
}

# Gaps of one target only: {target: {case: reason}}.
_VM_GAPS = {
    "memedge.mmap_shared_visible_to_read": "a MAP_SHARED mapping of a file of the VM's writable layer is a private "
                                           "copy: stores into it do not reach the file (docs/syscalls.md, mmap)",
    **{f"fserr.{c}": "the VM's in-memory writable layer keeps the times of regular files only: its directories and "
                     "symlinks read time 0 (docs/syscalls.md, utimensat)" for c in ("utimensat_dir",
                                                                                  "utimensat_symlink_itself")},
}
# linux-userland's Unix sockets are the host's; a path name is a socket file with an abstract
# stand-in in the sandbox's own network namespace (core/libos/src/shim/unixpath.rs), which the
# supervisor connects; the gate admits only the socket types it knows.
_BY_SUPERVISOR = ("the supervisor makes the connect (connect is not on the gate), so the listener sees its "
                  "credentials: SO_PEERCRED gives pid 0 (docs/targets/linux-userland.md)")
_USERLAND_GAPS = {
    "unixsock.named_peercred": _BY_SUPERVISOR,
    "unixsock.named_fork_client_peercred": _BY_SUPERVISOR,
    "unixsock.named_connect_wrong_type_eprototype": "an abstract stand-in is found by name and socket type: a "
                                                    "socket of another type finds none (ECONNREFUSED, not "
                                                    "EPROTOTYPE)",
    "unixsock.socket_bad_type": "the gate's allow-list refuses AF_UNIX socket types it does not know (EPERM)",
}
# A host pipe does not show where its page buffers begin: a read into a buffer that stops
# being writable fails with EFAULT (taking nothing) whenever more is queued than fits, where
# Linux first reads the whole buffers that fit (docs/syscalls.md). The suite runs each family
# in a forked child, where every pipe is the host's; a library-OS pipe of the first process
# knows its page buffers (tests/e2e/programs/partbuf.c).
_LINUX_PARTBUF_GAPS = {
    "partbuf.pipe_read_whole_buffers_then_stop": "a host pipe does not show its page buffers: EFAULT when more is "
                                                 "queued than fits, where Linux first reads the whole ones that fit",
}
_LINUX_FD_GAPS = {
    "procpid.fd_eventfd_label": "host eventfds, timerfds, signalfds and epoll instances all read as "
                                "anon_inode:[litebox] in /proc/self/fd: the library OS does not record which "
                                "host call made an anonymous-inode descriptor",
}
# kvm and snp run the same kernel (core/vmkernel), so they share their gaps.
TARGET_GAPS: dict[str, dict[str, str]] = {"kvm": _VM_GAPS, "snp": _VM_GAPS,
                                         "linux-userland": {**_USERLAND_GAPS, **_LINUX_FD_GAPS,
                                                            **_LINUX_PARTBUF_GAPS}}


@dataclass(frozen=True)
class Outcome:
    """One case's result and, for a failure, what the suite said."""

    passed: bool
    detail: str


def build(out: Path, static: bool = False) -> Path:
    """Compiles the suite (every tests/conformance/*.c) into OUT; returns OUT."""
    cmd = ["cc", "-O1", "-Wall", "-Werror", "-o", str(out), *sorted(str(p) for p in SUITE_DIR.glob("*.c"))]
    if static:
        cmd.insert(1, "-static")
    subprocess.run(cmd, check=True)
    return out


def parse(stdout: bytes) -> dict[str, Outcome]:
    """The suite's output as {case: outcome}; lines that are not results are ignored."""
    results: dict[str, Outcome] = {}
    for raw in stdout.decode("utf-8", "replace").splitlines():
        m = _LINE.match(raw.strip())
        if m:
            results[m.group(2)] = Outcome(m.group(1) == "PASS", m.group(3) or "")
    return results


def gaps_for(target: str) -> dict[str, str]:
    """The known gaps of ``target``: the shared ones and its own."""
    return {**KNOWN_GAPS, **TARGET_GAPS.get(target, {})}


@dataclass(frozen=True)
class Comparison:
    """How the packed run of the suite compares with the native one."""

    native_passing: list[str]
    packed_passing: list[str]
    unexpected_failures: dict[str, str]
    fixed_gaps: list[str]

    @property
    def rate(self) -> float:
        """The share of natively passing cases that pass packed (0..1)."""
        return len(self.packed_passing) / len(self.native_passing) if self.native_passing else 0.0

    def summary(self, target: str) -> str:
        """One line: N of M natively passing cases pass packed on TARGET (P%)."""
        n, m = len(self.packed_passing), len(self.native_passing)
        return f"{target}: {n} of {m} natively passing cases pass packed ({100 * self.rate:.1f}%)"


def compare(native: dict[str, Outcome], packed: dict[str, Outcome], target: str) -> Comparison:
    """Compares by case: a natively passing case must pass packed unless it is a known gap of
    ``target``; a known gap that passes is reported too (the list must be brought up to date)."""
    gaps = gaps_for(target)
    native_passing = sorted(c for c, o in native.items() if o.passed)
    packed_passing = [c for c in native_passing if c in packed and packed[c].passed]
    unexpected: dict[str, str] = {}
    for c in native_passing:
        if c in gaps:
            continue
        got = packed.get(c)
        if got is None:
            family = c.split(".")[0]
            whole = packed.get(family)
            unexpected[c] = f"not reported ({whole.detail})" if whole else "not reported"
        elif not got.passed:
            unexpected[c] = got.detail
    fixed = sorted(c for c in gaps if c in packed and packed[c].passed)
    return Comparison(native_passing, packed_passing, unexpected, fixed)
