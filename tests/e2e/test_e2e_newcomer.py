"""What a new user runs into first: cache behaviour across output folders, where quick mode
puts a program, and what it finds beyond the shared libraries."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from litebox_e2e import describe, run_cli


def test_a_no_rewrite_pack_elsewhere_does_not_make_the_default_pack_rebuild(tmp_path: Path) -> None:
    first = run_cli("pack", "/usr/bin/expr", "--out-dir", tmp_path / "dist")
    assert first.returncode == 0, describe(first)
    other = run_cli("pack", "/usr/bin/expr", "--out-dir", tmp_path / "dist-plain", "--no-rewrite")
    assert other.returncode == 0, describe(other)
    again = run_cli("pack", "/usr/bin/expr", "--out-dir", tmp_path / "dist")
    assert again.returncode == 0 and "up to date" in again.stderr, describe(again)
    plain = run_cli("pack", "/usr/bin/expr", "--out-dir", tmp_path / "dist-plain", "--no-rewrite")
    assert plain.returncode == 0 and "up to date" in plain.stderr, describe(plain)


def test_a_program_outside_system_directories_is_packed_at_app_name(tmp_path: Path) -> None:
    prog = tmp_path / "mytool"
    shutil.copy("/usr/bin/expr", prog)
    packed = run_cli("pack", prog, "--out-dir", tmp_path / "dist", "--json")
    assert packed.returncode == 0, describe(packed)
    art = json.loads(packed.stdout)["artifacts"][0]["path"]
    doc = json.loads(run_cli("inspect", art, "--json").stdout)
    assert doc["entry"] == "/app/mytool"
    sys_doc = run_cli("pack", "/usr/bin/expr", "--out-dir", tmp_path / "dist2", "--json")
    art2 = json.loads(sys_doc.stdout)["artifacts"][0]["path"]
    assert json.loads(run_cli("inspect", art2, "--json").stdout)["entry"] == "/usr/bin/expr"
