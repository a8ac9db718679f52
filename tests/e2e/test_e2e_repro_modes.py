"""Reproducible whatever the umask and checkout owner; `verify` rebuilds in a temporary copy
(never in the user's tree) and names the first differing file and attribute."""

from __future__ import annotations

import os
from pathlib import Path

from litebox_e2e import copy_example, describe, pack, run_cli


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under root with its mode, size and mtime in ns (what a build would change)."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


def test_umask_and_owner_do_not_change_the_bytes(tmp_path: Path) -> None:
    a = copy_example("cat-files", tmp_path / "a")
    b = copy_example("cat-files", tmp_path / "b")
    # b as a checkout made under umask 077 by another user.
    for p in [b, *b.rglob("*")]:
        os.chmod(p, p.stat().st_mode & 0o700)
        os.chown(p, 12345, 12345)
    art_a = pack(a, tmp_path / "out-a")
    old = os.umask(0o077)
    try:
        art_b = pack(b, tmp_path / "out-b")  # the build command's outputs are 0700 too
    finally:
        os.umask(old)
    assert (b / "build" / "cat-files").stat().st_mode & 0o777 == 0o700
    assert art_a.path.read_bytes() == art_b.path.read_bytes(), f"{art_a.sha256} vs {art_b.sha256}"
    assert art_a.manifest.read_bytes() == art_b.manifest.read_bytes()


def test_verify_leaves_the_project_alone_and_names_a_mode_change(tmp_path: Path) -> None:
    project = copy_example("cat-files", tmp_path)
    art = pack(project, tmp_path / "dist")
    before = _tree(project)
    ok = run_cli("verify", art.path)
    assert ok.returncode == 0, describe(ok)
    assert _tree(project) == before, "verify changed the user's project tree"

    os.chmod(project / "data" / "alpha.txt", 0o755)
    bad = run_cli("verify", art.path)
    assert bad.returncode == 1, describe(bad)
    assert "/data/alpha.txt: mode differs (artifact 0644, rebuild 0755)" in bad.stderr, describe(bad)
