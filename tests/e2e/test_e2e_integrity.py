"""`litebox inspect` checks the whole artifact (runtime code, image, launch config, embedded
manifest) against its recorded digests; `verify` names an altered artifact as the cause."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from litebox_e2e import Artifact, ExampleArtifacts, describe, find_section, flip_byte, run_cli

MANIFEST_SECTION = ".litebox.manifest"


def _copy(art: Artifact, dest: Path, sidecar: bool = True) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / art.path.name
    shutil.copy2(art.path, path)
    if sidecar:
        shutil.copy2(art.manifest, dest / art.manifest.name)
    return path


def _checks(path: Path) -> tuple[int, dict[str, list[dict[str, object]]]]:
    proc = run_cli("inspect", path, "--json")
    doc = json.loads(proc.stdout)
    by_part: dict[str, list[dict[str, object]]] = {}
    for c in doc["integrity_checks"]:
        by_part.setdefault(str(c["part"]), []).append(c)
    return proc.returncode, by_part


def _edit_embedded_manifest(path: Path, old: bytes, new: bytes) -> None:
    assert len(old) == len(new)
    sec = find_section(path, MANIFEST_SECTION)
    data = bytearray(path.read_bytes())
    at = data.find(old, sec.offset, sec.offset + sec.size)
    assert at >= 0, f"{old!r} not in the embedded manifest"
    data[at:at + len(old)] = new
    path.write_bytes(bytes(data))


def test_inspect_checks_every_part_of_an_intact_artifact(examples: ExampleArtifacts, tmp_path: Path) -> None:
    path = _copy(examples.get("hello-static"), tmp_path)
    code, checks = _checks(path)
    assert code == 0
    assert set(checks) == {"runtime", "image", "manifest"}
    assert all(c["ok"] and c["checked"] for group in checks.values() for c in group), checks


def test_inspect_names_altered_runtime_code(examples: ExampleArtifacts, tmp_path: Path) -> None:
    path = _copy(examples.get("hello-static"), tmp_path)
    text = find_section(path, ".text")
    flip_byte(path, text.offset + text.size // 2, 0x01)
    code, checks = _checks(path)
    assert code == 1
    assert checks["runtime"][0]["ok"] is False and "loaded code differs" in str(checks["runtime"][0]["detail"])
    assert all(c["ok"] for c in checks["image"]), checks  # the image itself is untouched
    proc = run_cli("inspect", path)
    assert proc.returncode == 1 and "ALTERED" in proc.stdout and "runtime:" in proc.stderr, describe(proc)
    ver = run_cli("verify", path)
    assert ver.returncode == 1 and "runtime: loaded code differs" in ver.stderr, describe(ver)


def test_tampered_embedded_manifest_is_named_not_blamed_on_an_input(examples: ExampleArtifacts,
                                                                     tmp_path: Path) -> None:
    art = examples.get("hello-static")
    path = _copy(art, tmp_path)
    embedded = json.loads(art.manifest.read_bytes())
    digest = embedded["inputs"][0]["sha256"].encode()
    _edit_embedded_manifest(path, digest, b"0" * len(digest))
    code, checks = _checks(path)
    assert code == 1
    bad = [c for c in checks["manifest"] if not c["ok"]]
    assert bad and "differs from the sidecar" in str(bad[0]["detail"]) and "'inputs'" in str(bad[0]["detail"])
    ver = run_cli("verify", path)
    assert ver.returncode == 1, describe(ver)
    assert "differs from the sidecar" in ver.stderr and "input /" not in ver.stderr, describe(ver)


def test_tampered_launch_claim_is_caught_without_a_sidecar(examples: ExampleArtifacts, tmp_path: Path) -> None:
    path = _copy(examples.get("hello-static"), tmp_path, sidecar=False)
    _edit_embedded_manifest(path, b'"hostname":"litebox"', b'"hostname":"litebix"')
    code, checks = _checks(path)
    assert code == 1
    assert checks["launch config"][0]["ok"] is False and "hostname" in str(checks["launch config"][0]["detail"])
    assert checks["manifest"][0]["checked"] is False  # no sidecar to compare with, and it says so


def test_inspect_into_a_closed_pipe_prints_no_traceback(examples: ExampleArtifacts) -> None:
    import subprocess

    from litebox_e2e import cli_argv, cli_env

    proc = subprocess.run(" ".join([*cli_argv(), "inspect", str(examples.get("hello-dynamic").path)])
                          + " | head -1", shell=True, capture_output=True, text=True, env=cli_env(), timeout=300)
    assert proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, describe(proc)
