"""The other verbs, end to end: inspect (checked against an independent reading of the image),
targets, and init followed by pack and run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from litebox_e2e import (
    IMAGE_SECTION,
    TARGET,
    ExampleArtifacts,
    describe,
    find_section,
    flip_byte,
    pack,
    read_image,
    run_cli,
    run_program,
)

KIND_NAMES = {1: "dir", 2: "file", 3: "symlink"}


def test_inspect_json_matches_the_image(examples: ExampleArtifacts) -> None:
    art = examples.get("cat-files")
    proc = run_cli("inspect", art.path, "--json")
    assert proc.returncode == 0, describe(proc)
    doc = json.loads(proc.stdout)
    _, image = read_image(art.path)
    listed = {e["path"]: e for e in doc["entries"]}
    assert sorted(listed) == sorted(image.paths())
    for entry in image.entries:
        item = listed[entry.path.decode()]
        assert item["kind"] == KIND_NAMES[entry.kind]
        assert int(item["mode"], 8) == entry.mode
        if entry.kind == 2:
            assert item["size"] == entry.size
    # Why each file is there: the dependency chain and the [files] line.
    assert listed["/app/cat-files"]["reason"].startswith("entry")
    libc = next(p for p in listed if p.endswith("/libc.so.6"))
    assert listed[libc]["reason"] == "needed by /app/cat-files"
    assert listed["/data/beta.txt"]["reason"] == '[files] "/data" = "data"'
    assert doc["policy"]["env_inherit"] is False
    assert doc["policy"]["env_passthrough"] == []


def test_inspect_text_shows_entry_env_and_files(examples: ExampleArtifacts) -> None:
    art = examples.get("hello-static")
    proc = run_cli("inspect", art.path)
    assert proc.returncode == 0, describe(proc)
    for needle in ("/app/hello", "GREETING=hi", "LITEBOX_EXAMPLE_PASS", "intact"):
        assert needle in proc.stdout, f"{needle!r} missing from inspect output\n{proc.stdout}"


def test_inspect_reports_a_tampered_image(examples: ExampleArtifacts, tmp_path: Path) -> None:
    copy = tmp_path / "tampered"
    shutil.copy2(examples.get("hello-static").path, copy)
    sec = find_section(copy, IMAGE_SECTION)
    flip_byte(copy, sec.offset + sec.size - 3)
    proc = run_cli("inspect", copy)
    assert "intact (" not in proc.stdout, describe(proc)
    assert "tampered" in proc.stdout, describe(proc)


def test_targets_lists_linux_userland_ready() -> None:
    proc = run_cli("targets", "--json")
    assert proc.returncode == 0, describe(proc)
    targets = {t["target"]: t for t in json.loads(proc.stdout)["targets"]}
    assert targets[TARGET]["ready"] is True
    assert all(check["ok"] for check in targets[TARGET]["checks"])


def test_init_then_pack_then_run(tmp_path: Path) -> None:
    project = tmp_path / "echo-app"
    proc = run_cli("init", project, "--app", "/usr/bin/echo")
    assert proc.returncode == 0, describe(proc)
    assert (project / "litebox.toml").is_file()
    again = run_cli("init", project, "--app", "/usr/bin/echo")
    assert again.returncode != 0, "init must refuse to overwrite"

    art = pack(project, tmp_path / "dist")
    out = run_program([art.path, "made", "by", "init"])
    assert out.returncode == 0, describe(out)
    assert out.stdout == b"made by init\n"
