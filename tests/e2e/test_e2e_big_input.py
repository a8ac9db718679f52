"""Packing streams files: a multi-GB (sparse, so cheap) input packs with bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from litebox_e2e import cli_argv, cli_env, describe, pack, run_cli

BIG = 2 << 30  # 2 GiB, sparse: no disk blocks, little time
RSS_BOUND_KIB = 400 * 1024  # "a few hundred MB" whatever the file's size; before streaming it was > BIG

MEASURE = """
import resource, subprocess, sys
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def test_a_multi_gigabyte_file_packs_in_bounded_memory(tmp_path: Path) -> None:
    project = tmp_path / "big"
    project.mkdir()
    (project / "true").write_bytes(Path("/usr/bin/true").read_bytes())
    (project / "true").chmod(0o755)
    toml = '[app]\nname = "big"\nentry = "/app/true"\n\n[files]\n"/app/true" = "true"\n'
    (project / "litebox.toml").write_text(toml)
    pack(project, tmp_path / "warm")  # the runtime is built (or found) here, not measured below

    with open(project / "big.bin", "wb") as f:
        f.truncate(BIG)
        f.seek(BIG)
        f.write(b"tail")
    (project / "litebox.toml").write_text(toml + '"/data/big.bin" = "big.bin"\n')
    out = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-c", MEASURE, *cli_argv(), "pack", str(project), "--out-dir", str(out)],
                          capture_output=True, text=True, env=cli_env(), timeout=1800)
    rc, max_rss = (int(x) for x in proc.stdout.split())
    assert rc == 0, describe(proc)
    assert max_rss < RSS_BOUND_KIB, f"packing a {BIG >> 30} GiB file peaked at {max_rss >> 10} MiB of RSS"

    ins = run_cli("inspect", out / "big-linux-userland", "--json")
    assert ins.returncode == 0, describe(ins)
    sizes = {e["path"]: e["size"] for e in json.loads(ins.stdout)["entries"]}
    assert sizes["/data/big.bin"] == BIG + 4


RANDOM = 300 << 20  # incompressible: the image (and the artifact) is as large as the file
GROWTH_BOUND_KIB = 150 * 1024  # below one whole-file copy: the image and the artifact stream


def _measured_pack(project: Path, out: Path) -> int:
    proc = subprocess.run([sys.executable, "-c", MEASURE, *cli_argv(), "pack", str(project), "--out-dir", str(out),
                           "--compression-level", "1"], capture_output=True, text=True, env=cli_env(), timeout=1800)
    rc, max_rss = (int(x) for x in proc.stdout.split())
    assert rc == 0, describe(proc)
    return max_rss


def test_an_incompressible_file_is_streamed_into_image_and_artifact(tmp_path: Path) -> None:
    """The image and the final artifact are written in pieces to temporary files beside the
    output, never held whole: peak RSS packing a 300 MiB random file stays within 150 MiB of
    packing nothing (before, the image was held three times and the artifact twice)."""
    project = tmp_path / "rand"
    project.mkdir()
    (project / "true").write_bytes(Path("/usr/bin/true").read_bytes())
    (project / "true").chmod(0o755)
    toml = '[app]\nname = "rand"\nentry = "/app/true"\n\n[files]\n"/app/true" = "true"\n'
    (project / "litebox.toml").write_text(toml)
    pack(project, tmp_path / "warm")
    baseline = _measured_pack(project, tmp_path / "small")

    with open(project / "rand.bin", "wb") as f:
        for _ in range(RANDOM >> 20):
            f.write(os.urandom(1 << 20))
    (project / "litebox.toml").write_text(toml + '"/data/rand.bin" = "rand.bin"\n')
    out = tmp_path / "dist"
    max_rss = _measured_pack(project, out)
    assert max_rss - baseline < GROWTH_BOUND_KIB, \
        f"a {RANDOM >> 20} MiB file raised peak RSS from {baseline >> 10} to {max_rss >> 10} MiB"
    artifact = out / "rand-linux-userland"
    assert artifact.stat().st_size > RANDOM
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no temporary files left
    ins = run_cli("inspect", artifact)
    assert ins.returncode == 0 and "integrity: intact" in ins.stdout, describe(ins)
    assert subprocess.run([artifact], timeout=120).returncode == 0
