"""`litebox verify`: bit-for-bit rebuild from the inputs the manifest records."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from litebox_e2e import IMAGE_SECTION, Artifact, ExampleArtifacts, describe, find_section, flip_byte, run_cli


def _copy(art: Artifact, dest: Path) -> Artifact:
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / art.path.name
    manifest = dest / art.manifest.name
    shutil.copy2(art.path, path)
    shutil.copy2(art.manifest, manifest)
    return Artifact(art.target, path, art.sha256, manifest)


@pytest.mark.parametrize("name", ["hello-static", "hello-dynamic", "cat-files"])
def test_verify_passes_on_a_fresh_artifact(examples: ExampleArtifacts, name: str) -> None:
    proc = run_cli("verify", examples.get(name).path)
    assert proc.returncode == 0, describe(proc)


def test_verify_with_explicit_manifest(examples: ExampleArtifacts) -> None:
    art = examples.get("hello-static")
    proc = run_cli("verify", art.path, "--manifest", art.manifest)
    assert proc.returncode == 0, describe(proc)


@pytest.mark.parametrize("where", ["image", "runtime"])
def test_verify_fails_on_a_flipped_byte(examples: ExampleArtifacts, tmp_path: Path, where: str) -> None:
    art = _copy(examples.get("hello-static"), tmp_path)
    if where == "image":
        sec = find_section(art.path, IMAGE_SECTION)
        offset = sec.offset + sec.size - 10  # inside the last chunk's compressed bytes
    else:
        sec = find_section(art.path, ".text")
        offset = sec.offset + sec.size // 2
    flip_byte(art.path, offset, 0x01)

    proc = run_cli("verify", art.path)
    assert proc.returncode == 1, describe(proc)
    said = proc.stdout + proc.stderr
    # It names what differs: the artifact (by name or digest).
    assert art.path.name in said or art.sha256 in said or "artifact" in said.lower(), describe(proc)
    assert "differ" in said.lower() or "mismatch" in said.lower(), describe(proc)
