"""CPython's own test of how its system calls meet signals (`_test_eintr.py`, PEP 475), run by
the packed Debian python3: a timer sends SIGALRM every few milliseconds while the test blocks
in sleep, select, poll, epoll, accept, recv, send, wait, an open of a FIFO, flock, sigwaitinfo
and more; each call must go on (or end as Linux ends it) after the handler ran. Rewritten and
`--no-rewrite`.

It exercises where the runtime runs a handler for a signal that interrupts a call it serves
(docs/targets/linux-userland.md, "Blocking calls: the kernel's order"): at the call's exit,
then the call served again or ended with EINTR by Linux's rules. It passed with the runtime
before that change as well (handlers then ran inside the call): it guards the mechanism with a
real program, it does not reproduce a defect.

The script comes from Debian's libpython3.X-testsuite, which scripts/setup unpacks into
.test-deps/pythonX.Y/ without installing it (installed, its tests would join the standard
library that bench/ packs whole); the test skips without it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from litebox_e2e import REPO, describe, pack_both_ways, run_program, session_scratch

PYTHON = Path("/usr/bin/python3")
SCRIPT = "/app/_test_eintr.py"


def _host_python() -> tuple[Path, Path, str] | None:
    """Debian's python3: (its real executable, its standard library, "X.Y"), if present."""
    if not PYTHON.exists():
        return None
    out = subprocess.run(
        [PYTHON, "-c", "import os, sys, sysconfig; print(os.path.realpath(sys.executable)); "
                       "print(sysconfig.get_path('stdlib')); print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return None
    exe, lib, ver = out.stdout.split()
    return Path(exe), Path(lib), ver


@pytest.fixture(scope="module")
def eintr() -> dict[str, Path]:
    """python3 with its standard library, _test_eintr.py at /app, /etc/hosts and leave to bind
    and connect on 127.0.0.1, packed both ways: {"native", "rewrite", "trap", "script"}."""
    host = _host_python()
    if host is None:
        pytest.skip(f"no {PYTHON}")
    exe, lib, ver = host
    script = REPO / ".test-deps" / f"python{ver}" / "_test_eintr.py"
    if not script.exists():
        pytest.skip(f"no {script.relative_to(REPO)} (scripts/setup unpacks it from libpython{ver}-testsuite)")
    work = session_scratch("litebox-eintr-")
    project = work / "project"
    project.mkdir()
    (project / "litebox.toml").write_text(
        f'[app]\nname = "pyeintr"\nentry = "{exe}"\nargs = []\n'
        f'[files]\n"{exe}" = "{exe}"\n"{lib}" = "{lib}"\n"{SCRIPT}" = "{script}"\n"/etc/hosts" = "/etc/hosts"\n'
        '[policy.network]\nlisten = ["127.0.0.1:0"]\nconnect = ["127.0.0.1:0"]\n'
        "[build]\nsource_date_epoch = 0\n"
    )
    return {**pack_both_ways(project, work), "native": exe, "script": script}


@pytest.mark.parametrize("variant", ["rewrite", "trap"])
def test_cpython_eintr_script_passes_packed(eintr: dict[str, Path], variant: str) -> None:
    native = run_program([eintr["native"], "-X", "faulthandler", "-u", eintr["script"]])
    assert native.returncode == 0 and b"\nOK" in native.stderr, describe(native)
    packed = run_program([eintr[variant], "-X", "faulthandler", "-u", SCRIPT])
    assert packed.returncode == 0, describe(packed)
    # unittest's summary: the same tests ran and were skipped as natively ("OK (skipped=2)").
    summary = [line for line in packed.stderr.splitlines() if line.startswith((b"Ran ", b"OK"))]
    native_summary = [line for line in native.stderr.splitlines() if line.startswith((b"Ran ", b"OK"))]
    assert [s.split(b" in ")[0] for s in summary] == [s.split(b" in ")[0] for s in native_summary], describe(packed)
