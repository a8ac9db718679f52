"""The system name files a program needs that quick mode does not pack (/etc/hosts,
/etc/passwd, /etc/group): where the image and the writable layer have none, the runtime shows
minimal ones (crate::fs::synth::ETC_FALLBACKS), so localhost and the sandbox's own host name
resolve and the user has a name (before: getaddrinfo("localhost") failed with EAI_AGAIN and
getpwuid found no user). A fallback opened for writing becomes a file of the writable layer
with the same lines. tests/e2e/programs/etcprobe.c, dynamic, packed in quick mode; run packed
only (natively it would append to the host's /etc/hosts)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from litebox_e2e import describe, pack, run_program, session_scratch
from test_e2e_conformance import build

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")


def test_quick_mode_programs_resolve_localhost_and_name_their_user() -> None:
    work = session_scratch("litebox-etc-fallbacks-")
    prog: Path = build("etcprobe.c", work, static=False)
    packed = run_program([pack(prog, work / "dist").path])
    assert packed.returncode == 0, describe(packed)
    assert packed.stdout == (b"localhost resolves: yes\nown host name resolves: yes\nuser has a name: yes\n"
                             b"appended to /etc/hosts: yes, then resolves: yes\n"), describe(packed)
