"""Escape probe: a fork bomb inside the sandbox is stopped by `[policy.limits] processes`.

Runs only packed (never natively). The bomb is bounded (40 forks from the top, 4 from each
child, every process sleeps briefly and exits), so even if the limit failed it would end; the
test asserts that forks beyond the limit got EAGAIN, that nothing else failed, and that the
app and the runtime survived.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from litebox_e2e import describe, pack, run_program

PROGRAMS = Path(__file__).resolve().parents[1] / "e2e" / "programs"


def test_fork_bomb_is_stopped_by_the_process_limit(tmp_path: Path) -> None:
    project = tmp_path / "bomb"
    project.mkdir()
    probe = project / "probe"
    subprocess.run(["cc", "-O1", "-Wall", "-pthread", "-o", str(probe), str(PROGRAMS / "limits.c")], check=True)
    (project / "litebox.toml").write_text(
        '[app]\nentry = "/app/probe"\nargs = ["forkbomb"]\n\n[files]\n"/app/probe" = "probe"\n\n'
        "[policy.limits]\nprocesses = 5\n",
        encoding="utf-8",
    )
    art = pack(project, tmp_path / "dist").path
    out = run_program([art])
    assert out.returncode == 0, describe(out)
    assert out.stdout.decode() == (
        "forkbomb: some forks ok: 1, some refused with EAGAIN: 1, other errors: 0\nstill alive\n"
    ), describe(out)
