"""CPython's own test of how its system calls meet signals (test_eintr, PEP 475), run by the
packed Debian python3: a timer sends SIGALRM every few milliseconds while the test blocks in
sleep, select, poll, epoll, accept, recv, send, wait, an open of a FIFO, flock, sigwaitinfo
and more; each call must go on (or end as Linux ends it) after the handler ran. Rewritten and
`--no-rewrite`.

It exercises where the runtime runs a handler for a signal that interrupts a call it serves
(docs/targets/linux-userland.md, "Blocking calls: the kernel's order"): at the call's exit,
then the call served again or ended with EINTR by Linux's rules. It passed with the runtime
before that change as well (handlers then ran inside the call): it guards the mechanism with a
real program, it does not reproduce a defect. Skipped where Debian's test package for the
host's python3 is missing (scripts/setup installs it).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from litebox_e2e import describe, pack_both_ways, run_program, session_scratch

PYTHON = Path("/usr/bin/python3")


def _stdlib() -> Path | None:
    """The host python3's standard library directory, if it has the test package's EINTR
    script."""
    if not PYTHON.exists():
        return None
    out = subprocess.run([PYTHON, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                         capture_output=True, text=True, check=False)
    lib = Path(out.stdout.strip())
    return lib if out.returncode == 0 and (lib / "test" / "_test_eintr.py").exists() else None


@pytest.fixture(scope="module")
def eintr() -> dict[str, Path]:
    """python3 with its whole standard library (test package included), /etc/hosts and leave
    to bind and connect on 127.0.0.1, packed both ways: {"native", "rewrite", "trap"}."""
    lib = _stdlib()
    if lib is None:
        pytest.skip(f"{PYTHON} without its test package (Debian: libpython3.X-testsuite)")
    exe = Path(subprocess.run([PYTHON, "-c", "import sys, os; print(os.path.realpath(sys.executable))"],
                              capture_output=True, text=True, check=True).stdout.strip())
    work = session_scratch("litebox-eintr-")
    project = work / "project"
    project.mkdir()
    (project / "litebox.toml").write_text(
        f'[app]\nname = "pyeintr"\nentry = "{exe}"\nargs = []\n'
        f'[files]\n"{exe}" = "{exe}"\n"{lib}" = "{lib}"\n"/etc/hosts" = "/etc/hosts"\n'
        '[policy.network]\nlisten = ["127.0.0.1:0"]\nconnect = ["127.0.0.1:0"]\n'
        "[build]\nsource_date_epoch = 0\n"
    )
    return {**pack_both_ways(project, work), "native": exe}


@pytest.mark.parametrize("variant", ["rewrite", "trap"])
def test_cpython_test_eintr_passes_packed(eintr: dict[str, Path], variant: str) -> None:
    argv = ["-m", "test", "test_eintr"]
    native = run_program([eintr["native"], *argv])
    assert native.returncode == 0 and b"Tests result: SUCCESS" in native.stdout, describe(native)
    packed = run_program([eintr[variant], *argv])
    assert packed.returncode == 0, describe(packed)
    assert b"Tests result: SUCCESS" in packed.stdout, describe(packed)
