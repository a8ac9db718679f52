"""The SPDX 2.3 SBOM beside each artifact, checked by spdx-tools (the SPDX project's own parser
and validator, from PyPI) and against dpkg-query and Cargo.lock, not by our code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from litebox_e2e import REPO
from spdx_tools.spdx.model import RelationshipType
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROGRAM = "/usr/bin/expr"  # coreutils and libgmp10: both with machine-readable copyright files


def _dpkg_version(package: str) -> str:
    return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True,
                          check=True, timeout=60).stdout


@pytest.fixture(scope="module")
def sbom(quick_pack: Callable[..., Any]) -> tuple[Any, Path, dict[str, Any]]:
    art = quick_pack(PROGRAM)
    path = art.path.with_name(art.path.name + ".spdx.json")
    assert path.is_file(), f"no SBOM beside {art.path}"
    return parse_file(str(path)), path, json.loads(art.manifest.read_bytes())


def test_sbom_is_valid_spdx_2_3(sbom: tuple[Any, Path, dict[str, Any]]) -> None:
    doc, _, _ = sbom
    assert doc.creation_info.spdx_version == "SPDX-2.3"
    problems = validate_full_spdx_document(doc)
    assert problems == [], [p.validation_message for p in problems]


def test_sbom_describes_the_artifact_and_every_packed_file(sbom: tuple[Any, Path, dict[str, Any]]) -> None:
    doc, _, manifest = sbom
    described = [r.related_spdx_element_id for r in doc.relationships
                 if r.relationship_type == RelationshipType.DESCRIBES]
    artifact = next(p for p in doc.packages if p.spdx_id == described[0])
    assert [c.value for c in artifact.checksums] == [manifest["artifact"]["sha256"]]
    by_name = {f.name: {c.algorithm.name: c.value for c in f.checksums} for f in doc.files}
    for item in manifest["inputs"]:
        assert by_name["." + item["image_path"]]["SHA256"] == item["sha256"]


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="no dpkg on this host (not Debian)")
def test_sbom_names_debian_packages_with_version_and_license(sbom: tuple[Any, Path, dict[str, Any]]) -> None:
    doc, _, _ = sbom
    debs = {p.name: p for p in doc.packages if "Debian" in str(getattr(p.supplier, "name", ""))}
    assert debs["coreutils"].version == _dpkg_version("coreutils")
    assert str(debs["coreutils"].license_declared) == "GPL-3.0-or-later"
    assert debs["libgmp10"].version == _dpkg_version("libgmp10")
    assert str(debs["libgmp10"].license_declared) == "GPL-2.0-or-later OR LGPL-3.0-or-later"
    expr = next(f for f in doc.files if f.name == "./usr/bin/expr")
    owners = [r.related_spdx_element_id for r in doc.relationships if r.spdx_element_id == expr.spdx_id]
    assert debs["coreutils"].spdx_id in owners


def test_sbom_lists_the_runtime_crates_from_cargo_lock(sbom: tuple[Any, Path, dict[str, Any]]) -> None:
    doc, _, manifest = sbom
    runtime = next(p for p in doc.packages if p.name == "litebox-runtime-linux-userland")
    assert [c.value for c in runtime.checksums] == [manifest["runtime"]["sha256"]]
    deps = {r.related_spdx_element_id for r in doc.relationships
            if r.spdx_element_id == runtime.spdx_id and r.relationship_type == RelationshipType.DEPENDS_ON}
    crates = {(p.name, p.version) for p in doc.packages if p.spdx_id in deps}
    lock = {(p["name"], p["version"]) for p in tomllib.loads((REPO / "Cargo.lock").read_text())["package"]}
    assert crates and crates <= lock
    assert ("litebox-libos", "0.1.0") in crates  # the library OS, a path dependency of every runtime
