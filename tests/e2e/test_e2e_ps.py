"""`ps` packed (issue 16): a busybox shell starts two sleepers in the background, then runs
`busybox ps -o pid,ppid,pgid,stat,comm` and procps's `ps -e -o pid,ppid,pgid,stat,comm` (packed
beside it, project mode). Each listing must show exactly the app's four processes (the shell,
both sleepers, that ps itself) with the right parents, group and states. Compared against the
expected tree, not against native output: pids differ.

Targets: linux-userland (each process publishes itself in a table the app's processes share,
platform_targets/linux_userland/runtime/src/ptable.rs) and kvm (the core's process table).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litebox_e2e import describe, pack_for, run_on

BUSYBOX = Path("/bin/busybox")
PROCPS = Path("/usr/bin/ps")
FIELDS = "pid,ppid,pgid,stat,comm"
SCRIPT = (
    "echo shell $$; sleep 300 & a=$!; sleep 300 & b=$!; echo kids $a $b; "
    f"echo =busybox; busybox ps -o {FIELDS}; echo =procps; /usr/bin/ps -e -o {FIELDS}; echo =end; "
    "kill $a $b; wait; echo done"
)
TOML = """[app]
name = "ps-shell"
entry = "/bin/busybox"
args = ["sh"]

[files]
"/usr/bin/ps" = "/usr/bin/ps"

[build]
source_date_epoch = 0
"""

pytestmark = pytest.mark.skipif(
    not (BUSYBOX.is_file() and PROCPS.is_file()),
    reason="busybox-static or procps is missing (scripts/setup installs them)",
)


def listing(lines: list[str], marker: str) -> dict[int, tuple[int, int, str, str]]:
    """The rows ps printed after `=marker`: {pid: (ppid, pgid, stat, comm)}."""
    start = lines.index(f"={marker}") + 2  # the marker, then the header
    rows = {}
    for ln in lines[start:]:
        if ln.startswith("="):
            break
        pid, ppid, pgid, stat, comm = ln.split()
        rows[int(pid)] = (int(ppid), int(pgid), stat, comm)
    return rows


@pytest.mark.parametrize("target", ["linux-userland", "kvm"], indirect=True)
def test_ps_shows_the_apps_process_tree(target: Any, tmp_path: Path) -> None:
    project = tmp_path / "ps-shell"
    project.mkdir()
    (project / "litebox.toml").write_text(TOML)
    art = pack_for(target, project, tmp_path / "dist")
    out = run_on(target, art, ["-c", SCRIPT], vm_timeout=300)
    lines = out.stdout.decode(errors="replace").splitlines()
    assert out.returncode == 0 and lines and lines[-1] == "done", describe(out)
    shell = int(next(ln.split()[1] for ln in lines if ln.startswith("shell ")))
    kids = {int(p) for p in next(ln for ln in lines if ln.startswith("kids ")).split()[1:]}
    for marker, ps_comm in (("busybox", "busybox"), ("procps", "ps")):
        rows = listing(lines, marker)
        assert len(rows) == 4 and shell in rows and kids <= set(rows), f"{marker}: {describe(out)}"
        (ps_pid,) = set(rows) - kids - {shell}
        group = rows[shell][1]
        for kid in kids:
            assert rows[kid][:2] == (shell, group) and rows[kid][2][0] == "S", f"{marker}: {describe(out)}"
        assert rows[ps_pid][:2] == (shell, group) and rows[ps_pid][2][0] == "R", f"{marker}: {describe(out)}"
        assert rows[ps_pid][3] == ps_comm and rows[shell][3] == "busybox", f"{marker}: {describe(out)}"
        assert rows[shell][2][0] == "S", f"{marker}: {describe(out)}"
