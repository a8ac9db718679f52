"""`litebox verify`: rebuild an artifact from the inputs its manifest records and compare."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elftools.elf.elffile import ELFFile

from packager.build import origins
from packager.build.artifact import IMAGE_SECTION, MANIFEST_SECTION, read_sections
from packager.build.driver import STATE_NAME, pack
from packager.build.progress import Progress
from packager.build.toolchain import file_sha256, toolchain_info
from packager.commands.imagediff import first_image_difference
from packager.commands.integrity import artifact_checks
from packager.config.config import Overrides
from packager.errors import PackError
from packager.image.imagereader import ImageError, read_image
from packager.paths import display_path
from packager.targets.targets import repo_root


@dataclass(frozen=True)
class VerifyResult:
    """``ok`` and a one-line statement: "verified" or the first thing that differs."""

    ok: bool
    message: str


def _load_manifest(artifact: Path, manifest_file: Path | None) -> tuple[dict[str, Any], bytes]:
    try:
        data = artifact.read_bytes()
    except OSError as exc:
        raise PackError(f"{display_path(artifact)}: cannot read: {exc.strerror}") from None
    if manifest_file is not None:
        try:
            return json.loads(manifest_file.read_bytes()), data
        except OSError as exc:
            raise PackError(f"{display_path(manifest_file)}: cannot read: {exc.strerror}") from None
        except ValueError:
            raise PackError(f"{display_path(manifest_file)}: not JSON") from None
    try:
        sections = read_sections(data)
        return json.loads(sections[MANIFEST_SECTION]), data
    except (PackError, KeyError, ValueError):
        sidecar = artifact.with_name(artifact.name + ".manifest.json")
        if sidecar.is_file():
            return json.loads(sidecar.read_bytes()), data
        raise PackError(f"{display_path(artifact)}: no readable embedded manifest and no sidecar "
                        f"{display_path(sidecar)}; pass --manifest") from None


def _rebuild_sources(manifest: dict[str, Any], artifact: Path,
                     project: Path | None) -> list[tuple[Path, Path | None, Path]]:
    """Candidate (APP argument, --config file, project directory) triples to rebuild from:
    --project if given; else the project recorded beside the artifact's directory for this
    very manifest; else every remembered copy, then the current directory."""
    mode = manifest.get("mode")
    found: list[tuple[Path, Path | None, Path]] = []
    if project is None:
        recorded, authoritative = origins.candidates(artifact, manifest, STATE_NAME)
        for origin in recorded:
            app = Path(origin["app"])
            config = Path(origin["config"]) if origin.get("config") else None
            found.append((app, config, app if mode == "project" else app.parent))
        if authoritative:
            return found
    base = project if project is not None else Path.cwd()
    if mode == "quick":
        entry = manifest.get("launch", {}).get("entry")
        host = next((i["host_path"] for i in manifest.get("inputs", []) if i["image_path"] == entry), None)
        if host is None:
            raise PackError("the manifest does not record the entry program's host path")
        app = Path(host) if os.path.isabs(host) else base / host
        found.append((app, None, app.parent))
    else:
        found.append((base, None, base))
    return found


def _altered(artifact: Path, data: bytes, manifest_file: Path | None) -> str | None:
    """Why the artifact does not match its own manifests (runtime, image, launch config, the
    embedded manifest against the sidecar), checked before any input; None when it does or
    when the artifact is too damaged to say (the rebuild then names the bytes)."""
    try:
        sections = read_sections(data)
        embedded = json.loads(sections[MANIFEST_SECTION])
        image = read_image(sections[IMAGE_SECTION])
    except ImageError as exc:
        return f"the artifact's image is damaged or altered: {exc}"
    except (PackError, KeyError, ValueError):
        return None
    if not isinstance(embedded, dict):
        return "the artifact's embedded manifest is not a JSON object"
    bad = [c for c in artifact_checks(artifact, data, embedded, image, manifest_file) if not c.ok]
    if not bad:
        return None
    return ("the artifact differs from its manifest (altered after packing): "
            + "; ".join(f"{c.part}: {c.detail}" for c in bad))


def _input_mismatch(manifest: dict[str, Any], proj: Path) -> str | None:
    """The first recorded input whose file is missing or different, as a sentence; or None."""
    for item in manifest["inputs"]:
        host = Path(item["host_path"])
        host = host if host.is_absolute() else proj / host
        digest = file_sha256(host)
        if digest != item["sha256"]:
            what = "is missing" if digest == "absent" else f"has sha256 {digest}, recorded {item['sha256']}"
            return f"input {item['image_path']} ({display_path(host)}) {what}"
    return None


def _first_section_difference(a: bytes, b: bytes) -> str:
    if len(a) != len(b):
        return f"sizes differ ({len(a)} vs {len(b)} bytes)"
    offset = next(i for i in range(len(a)) if a[i] != b[i])
    return f"first differing byte at offset {offset} (in {_region_of(b, offset)})"


def _region_of(data: bytes, offset: int) -> str:
    """Which part of an ELF file ``offset`` falls in: header, a table, a section, or none."""
    try:
        elf = ELFFile(io.BytesIO(data))
        if offset < elf["e_ehsize"]:
            return "the ELF header"
        ph = elf["e_phoff"], elf["e_phoff"] + elf["e_phnum"] * elf["e_phentsize"]
        if ph[0] <= offset < ph[1]:
            return "the program headers"
        sh = elf["e_shoff"], elf["e_shoff"] + elf["e_shnum"] * elf["e_shentsize"]
        if sh[0] <= offset < sh[1]:
            return "the section header table"
        for sec in elf.iter_sections():
            if sec["sh_type"] != "SHT_NOBITS" and sec["sh_offset"] <= offset < sec["sh_offset"] + sec["sh_size"]:
                return f"section {sec.name}"
    except Exception:  # a damaged ELF still gets an offset
        return "a damaged ELF file"
    return "bytes outside any section"


def verify(artifact: Path, manifest_file: Path | None = None, project: Path | None = None,
           progress: Progress | None = None) -> VerifyResult:
    """Rebuilds ``artifact`` from the inputs its manifest records and compares, in order:
    every input's sha256, then the runtime digest, the image digest, the embedded manifest and
    the artifact's bytes. Promises VerifyResult(True, "verified") only on bit-for-bit equality."""
    progress = progress or Progress()
    manifest, artifact_bytes = _load_manifest(artifact, manifest_file)
    for key in ("inputs", "target", "config", "image", "runtime", "mode"):
        if key not in manifest:
            raise PackError(f"the manifest has no {key!r}: not a LiteBox manifest")
    altered = _altered(artifact, artifact_bytes, manifest_file)
    if altered is not None:
        return VerifyResult(False, altered)
    sources = _rebuild_sources(manifest, artifact, project)
    chosen: tuple[Path, Path | None, Path] | None = None
    first_problem = None
    for source in sources:
        problem = _input_mismatch(manifest, source[2])
        if problem is None:
            chosen = source
            break
        first_problem = first_problem or problem
    if chosen is None:
        return VerifyResult(False, str(first_problem))
    app, config_file, proj = chosen
    progress.detail(f"project: {display_path(proj)}")
    with tempfile.TemporaryDirectory(prefix="litebox-verify-") as tmp:
        if manifest["config"]["build"].get("command") and manifest.get("mode") == "project":
            # The build command writes build outputs: run it in a copy, never in the user's tree.
            app, config_file, proj = _copy_project(app, config_file, proj, Path(tmp) / "project", progress)
        return _rebuild_and_compare(manifest, artifact, artifact_bytes, app, config_file, Path(tmp), progress)


def _copy_project(app: Path, config_file: Path | None, proj: Path, dest: Path,
                  progress: Progress) -> tuple[Path, Path | None, Path]:
    """Copies the project directory ``proj`` to ``dest`` (symlinks as symlinks, build state
    directories left out) and maps ``app`` and ``config_file`` into the copy."""
    progress.step(f"copying {display_path(proj)} to a temporary directory for the build command")
    shutil.copytree(proj, dest, symlinks=True, ignore=shutil.ignore_patterns(STATE_NAME))

    def inside(p: Path) -> Path:
        try:
            return dest / p.resolve().relative_to(proj.resolve())
        except ValueError:
            return p
    return inside(app), inside(config_file) if config_file is not None else None, dest


def _rebuild_and_compare(manifest: dict[str, Any], artifact: Path, artifact_bytes: bytes, app: Path,
                         config_file: Path | None, tmp: Path, progress: Progress) -> VerifyResult:
    """Packs ``app`` again under ``tmp`` with the recorded settings and compares, in order:
    runtime digest, image digest (naming the first differing file and attribute), every other
    manifest field, the artifact's bytes."""
    build = manifest["config"]["build"]
    overrides = Overrides(name=manifest.get("name"), source_date_epoch=build["source_date_epoch"],
                          compression_level=build["compression_level"], chunk_size=build["chunk_size"],
                          rewrite=build.get("rewrite", False), mounts=_cli_mounts(manifest, app, config_file),
                          listens=_cli_listens(manifest, app, config_file),
                          cwd=manifest["config"].get("app", {}).get("cwd"))
    out_dir = tmp / "dist"
    progress.step(f"rebuilding {manifest.get('name')} for {manifest['target']} in a temporary directory")
    inner = progress if progress.verbose else Progress(progress.stream, verbose=False, quiet=True)
    result = pack(app, [manifest["target"]], out_dir, config_file, overrides, inner, state_dir=tmp / "state")
    rebuilt = result.artifacts[0]
    new_manifest = json.loads(rebuilt.manifest.read_bytes())
    new_bytes = rebuilt.path.read_bytes()
    hint = _toolchain_hint(manifest)
    if new_manifest["runtime"]["sha256"] != manifest["runtime"]["sha256"]:
        return VerifyResult(False, f"runtime differs: rebuilt sha256 {new_manifest['runtime']['sha256']}, "
                                   f"recorded {manifest['runtime']['sha256']}{hint}")
    for key in ("digest", "sha256"):
        if new_manifest["image"][key] != manifest["image"][key]:
            where = _image_difference(artifact_bytes, new_bytes)
            return VerifyResult(False, f"image {key} differs: rebuilt {new_manifest['image'][key]}, "
                                       f"recorded {manifest['image'][key]}{where}{hint}")
    recorded = {k: v for k, v in manifest.items() if k != "artifact"}
    fresh = {k: v for k, v in new_manifest.items() if k != "artifact"}
    if recorded != fresh:
        key = next(k for k in sorted(set(recorded) | set(fresh)) if recorded.get(k) != fresh.get(k))
        return VerifyResult(False, f"manifest field {key!r} differs from the rebuild{hint}")
    new_sha = hashlib.sha256(new_bytes).hexdigest()
    have_sha = hashlib.sha256(artifact_bytes).hexdigest()
    if "artifact" in manifest and manifest["artifact"]["sha256"] != new_sha:
        return VerifyResult(False, f"artifact sha256 differs: rebuilt {new_sha}, manifest records "
                                   f"{manifest['artifact']['sha256']}")
    if have_sha != new_sha:
        return VerifyResult(False, f"artifact {display_path(artifact)} differs from the rebuild: "
                                   f"{_first_section_difference(artifact_bytes, new_bytes)}")
    try:
        read_sections(artifact_bytes, (IMAGE_SECTION,))
    except PackError as exc:
        return VerifyResult(False, f"artifact {display_path(artifact)}: {exc}")
    return VerifyResult(True, "verified")


def _cli_mounts(manifest: dict[str, Any], app: Path, config_file: Path | None) -> tuple[str, ...]:
    """The recorded mounts that the config file does not declare: those `pack --mount` added."""
    from packager.config import config as config_mod
    from packager.config.policy import MountRule

    declared = config_mod.load(app, config_file).policy.mounts
    recorded = [MountRule(m["host"], m["guest"], m.get("mode", "ro")) for m in manifest["policy"].get("mounts", [])]
    return tuple(f"{m.host}:{m.guest}:{m.mode}" for m in recorded if m not in declared)


def _cli_listens(manifest: dict[str, Any], app: Path, config_file: Path | None) -> tuple[str, ...]:
    """The recorded listen addresses that the config file does not declare: those `pack --listen`
    added."""
    from packager.config import config as config_mod

    declared = [r.text() for r in config_mod.load(app, config_file).policy.listen]
    return tuple(t for t in manifest["policy"].get("network", {}).get("listen", []) if t not in declared)


def _image_difference(artifact_bytes: bytes, new_bytes: bytes) -> str:
    """``; first difference: …`` naming the file and attribute, or "" if it cannot be said."""
    try:
        old = read_sections(artifact_bytes, (IMAGE_SECTION,)).get(IMAGE_SECTION)
        new = read_sections(new_bytes, (IMAGE_SECTION,)).get(IMAGE_SECTION)
    except PackError:
        return ""
    if old is None or new is None:
        return ""
    found = first_image_difference(old, new)
    return f"; first difference: {found}" if found else ""


def _toolchain_hint(manifest: dict[str, Any]) -> str:
    recorded = manifest.get("toolchain", {})
    now = toolchain_info(repo_root())
    changed = [k for k in sorted(recorded) if recorded.get(k) != now.get(k)]
    return f" (toolchain differs: {', '.join(changed)})" if changed else ""
