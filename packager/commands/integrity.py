"""Checking a whole artifact against the digests its manifests record: the runtime's loaded
code, the image (root digest, blob digest, every chunk, launch config) and the embedded
manifest (against the sidecar when there is one, and the sidecar's digest of the file)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packager.build.plan import launch_summary
from packager.build.runtimecode import loaded_code_digest
from packager.errors import PackError
from packager.image.imagereader import Image, ImageError
from packager.paths import display_path


@dataclass(frozen=True)
class Check:
    """One integrity check: which part of the artifact, whether it holds, and what was found."""

    part: str
    ok: bool
    detail: str
    checked: bool = True  # False: could not be checked here (the detail says why)


def sidecar_of(artifact: Path) -> Path:
    """Where `litebox pack` writes the sidecar manifest of ``artifact``."""
    return artifact.with_name(artifact.name + ".manifest.json")


def _first_key_difference(a: dict[str, Any], b: dict[str, Any]) -> str:
    return next(k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))


def check_runtime(data: bytes, manifest: dict[str, Any]) -> Check:
    """The runtime's loaded code and data in the artifact against ``runtime.loaded_sha256``."""
    recorded = (manifest.get("runtime") or {}).get("loaded_sha256")
    if data[:4] != b"\x7fELF":
        # An IGVM file (snp) or a PE (windows): the runtime is not an ELF inside it. Where the
        # target records facts computed over the whole artifact (snp's launch digest covers
        # every kernel page), `inspect` checks those ("target facts").
        return Check("runtime", True, "not checked here: the artifact is not an ELF file (see the target's "
                                      "own facts, where it has some)", checked=False)
    if not recorded:
        return Check("runtime", True, "not checked: the manifest records no runtime.loaded_sha256 "
                                      "(packed by an older litebox)", checked=False)
    try:
        found = loaded_code_digest(data)
    except PackError as exc:
        return Check("runtime", False, f"cannot be read: {exc}")
    if found != recorded:
        return Check("runtime", False, f"loaded code differs from the manifest: sha256 {found}, "
                                       f"recorded runtime.loaded_sha256 {recorded}")
    return Check("runtime", True, "loaded code matches runtime.loaded_sha256")


def check_image(blob: bytes, image: Image, manifest: dict[str, Any]) -> list[Check]:
    """The image against ``image.digest``, ``image.sha256`` and ``image.size``, every chunk
    against its digest, and the launch config against the manifest's ``launch``."""
    rec = manifest.get("image") or {}
    out = []
    if rec.get("digest") != image.root_digest.hex():
        out.append(Check("image", False, f"root digest {image.root_digest.hex()} differs from the manifest's "
                                         f"image.digest {rec.get('digest')}"))
    sha = hashlib.sha256(blob).hexdigest()
    if rec.get("sha256") != sha or rec.get("size") != len(blob):
        out.append(Check("image", False, f"bytes differ from the manifest: sha256 {sha} ({len(blob)} bytes), "
                                         f"recorded image.sha256 {rec.get('sha256')} ({rec.get('size')} bytes)"))
    try:
        image.verify_all_chunks()
    except ImageError as exc:
        out.append(Check("image", False, str(exc)))
    if not out:
        out.append(Check("image", True, "root digest, sha256 and every chunk digest match"))
    launch = launch_summary(blob[image.config_off:image.config_off + image.config_size])
    if "launch" in manifest and manifest["launch"] != launch:
        key = _first_key_difference(manifest["launch"], launch)
        out.append(Check("launch config", False, f"the image's launch config and the manifest's launch.{key} "
                                                 "differ"))
    return out


def check_manifests(artifact: Path, data: bytes, embedded: dict[str, Any],
                    sidecar: Path | None = None) -> list[Check]:
    """The embedded manifest against the sidecar (``sidecar`` or the one beside the artifact),
    and the artifact's bytes against the sidecar's ``artifact.sha256``. Without a sidecar the
    embedded manifest's own bytes cannot be checked, and the check says so."""
    sidecar = sidecar or sidecar_of(artifact)
    if not sidecar.is_file():
        return [Check("manifest", True, f"not compared: no sidecar {display_path(sidecar)} (the embedded "
                                        "manifest is only checked against the runtime and image)", checked=False)]
    try:
        side = json.loads(sidecar.read_bytes())
    except (OSError, ValueError) as exc:
        return [Check("manifest", False, f"sidecar {display_path(sidecar)} is not readable JSON ({exc})")]
    out = []
    bare = {k: v for k, v in side.items() if k != "artifact"}
    if bare != embedded:
        key = _first_key_difference(bare, embedded)
        out.append(Check("manifest", False, f"the embedded manifest differs from the sidecar "
                                            f"{display_path(sidecar)} in field {key!r}"))
    recorded = (side.get("artifact") or {}).get("sha256")
    sha = hashlib.sha256(data).hexdigest()
    if recorded != sha:
        out.append(Check("artifact", False, f"file sha256 {sha} differs from the sidecar's artifact.sha256 "
                                            f"{recorded}"))
    if not out:
        out.append(Check("manifest", True, f"embedded manifest and file sha256 match the sidecar "
                                           f"{display_path(sidecar)}"))
    return out


def artifact_checks(artifact: Path, data: bytes, embedded: dict[str, Any], image: Image,
                    sidecar: Path | None = None) -> list[Check]:
    """Every integrity check of an artifact, in order: runtime, image, launch config, and the
    embedded manifest against ``sidecar`` (default: the sidecar beside the artifact)."""
    return [check_runtime(data, embedded), *check_image(image.blob, image, embedded),
            *check_manifests(artifact, data, embedded, sidecar)]


def summary(checks: list[Check]) -> str:
    """One line: "intact (…)" when every check holds, else every failed check, joined."""
    bad = [c for c in checks if not c.ok]
    if bad:
        return "ALTERED: " + "; ".join(f"{c.part}: {c.detail}" for c in bad)
    return "intact (" + "; ".join(f"{c.part}: {c.detail}" for c in checks if c.checked) + ")"
