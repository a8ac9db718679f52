"""The build steps as functions of files: image, runtime, manifest, artifact, sidecar, and the
targets' extra steps. The SConstruct calls these as its actions; each is a pure function of its
input files (and the target's options, which the graph carries as a value)."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from packager.build.artifact import atomic_output
from packager.build.canonjson import canonical_json
from packager.build.manifest import make_manifest, make_sidecar, manifest_bytes
from packager.build.plan import plan_entries, plan_settings, read_json
from packager.config.config import relative_to_project
from packager.errors import PackError
from packager.image.image import build_image
from packager.image.rewrite import FASTPATH_SECTION, fastpath_entry
from packager.targets.targetapi import StepContext
from packager.targets.targets import BuildContext, get


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    with atomic_output(path, mode) as tmp:
        tmp.write_bytes(data)


def step_image(plan_path: Path, image_out: Path, info_out: Path, runtime: Path | None = None,
               entry_section: str | None = None) -> dict[str, Any]:
    """Plan (+ the runtime whose fast-path entry, in its ELF section ``entry_section``,
    rewritten syscalls call, when the plan asks for rewriting) → image file + image facts
    (digest, sizes, inputs with sha256, rewriting per ELF file) as JSON."""
    plan = read_json(plan_path)
    launch = bytes.fromhex(plan["launch_hex"])
    entry = None
    # The build request passes a runtime only for targets with a fast path; the image for
    # the others is built without rewriting even when the config asks for it.
    if plan["settings"].get("rewrite") and runtime is not None:
        section = entry_section or FASTPATH_SECTION
        entry = fastpath_entry(runtime.read_bytes(), section)
        if entry is None:
            raise PackError(f"{runtime}: the runtime has no {section} section; pack with --no-rewrite")
    result = build_image(plan_entries(plan), launch, plan_settings(plan, entry))
    project = Path(plan["project_dir"])
    inputs = [{"image_path": i.image_path, "host_path": relative_to_project(i.host_path, project),
               "size": i.size, "sha256": i.sha256, "reason": i.reason} for i in result.inputs]
    generated = [{"image_path": e["path"], "reason": e["reason"],
                  "sha256": hashlib.sha256(bytes.fromhex(e["data_hex"])).hexdigest(),
                  "size": len(e["data_hex"]) // 2}
                 for e in plan["entries"] if "data_hex" in e]
    info = {"digest": result.digest, "sha256": hashlib.sha256(result.blob).hexdigest(),
            "size": len(result.blob), "entries": result.entries, "chunks": result.chunks,
            "stream_size": result.stream_size, "inputs": inputs, "generated": generated,
            "rewrite": {"enabled": entry is not None, "entry": f"{entry:#x}" if entry is not None else None,
                        "files": result.rewrite}}
    _write(image_out, result.blob)
    _write(info_out, canonical_json(info))
    return info


def _context(repo: Path, state_dir: Path, progress: Any, options: dict[str, Any] | None) -> BuildContext:
    return BuildContext(repo=repo, state_dir=state_dir, progress=progress, options=dict(options or {}))


def step_runtime(target: str, repo: Path, state_dir: Path, out: Path, ctx_progress: Any,
                 options: dict[str, Any] | None = None, targets_dir: Path | None = None) -> None:
    """Builds the target's runtime and copies it to ``out`` (the graph's stable node)."""
    plugin = get(target, targets_dir)
    built = plugin.plugin.build_runtime(_context(repo, state_dir, ctx_progress, options))
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out, 0o755) as tmp:
        shutil.copyfile(built, tmp)


def step_manifest(plan_path: Path, info_path: Path, runtime_path: Path, toolchain_path: Path,
                  target: str, out: Path, options_record: dict[str, Any] | None = None,
                  repo: Path | None = None, targets_dir: Path | None = None) -> None:
    """Plan + image facts + runtime + toolchain + the target's options → the embedded
    manifest (canonical JSON); the options are recorded as ``config.target.<name>``; with
    ``repo``, the target's own toolchain entries (TargetPlugin.toolchain) replace the shared ones."""
    runtime_bytes = runtime_path.read_bytes()
    runtime = {"sha256": hashlib.sha256(runtime_bytes).hexdigest(), "size": len(runtime_bytes)}
    plan = read_json(plan_path)
    plan["config"] = {**plan["config"], "target": {target: dict(options_record or {})}}
    tools = read_json(toolchain_path)
    if repo is not None:
        tools = {**tools, **get(target, targets_dir).plugin.toolchain(repo)}
    manifest = make_manifest(plan, target, read_json(info_path), runtime, tools)
    _write(out, manifest_bytes(manifest))


def step_artifact(target: str, repo: Path, state_dir: Path, runtime: Path, image: Path,
                  manifest: Path, out: Path, ctx_progress: Any, options: dict[str, Any] | None = None,
                  targets_dir: Path | None = None) -> None:
    """Runtime + image + embedded manifest → the artifact, by the target's plugin."""
    plugin = get(target, targets_dir)
    ctx = _context(repo, state_dir, ctx_progress, options)
    plugin.plugin.assemble(ctx, runtime, image.read_bytes(), manifest.read_bytes(), out)


def step_extra(target: str, step: str, repo: Path, state_dir: Path, artifact: Path, sidecar: Path,
               outputs: list[Path], ctx_progress: Any, options: dict[str, Any] | None = None,
               targets_dir: Path | None = None) -> None:
    """Artifact + sidecar manifest + options → the files of the target's extra step ``step``;
    a step that leaves one of its outputs unwritten is an error naming it."""
    plugin = get(target, targets_dir)
    found = {x.name: x for x in plugin.extra_steps(dict(options or {}))}
    if step not in found:
        raise PackError(f"target {target}: no extra step {step!r}")
    ctx = StepContext(build=_context(repo, state_dir, ctx_progress, options), artifact=artifact,
                      manifest=sidecar, outputs=tuple(outputs))
    found[step].action(ctx)
    missing = [str(o) for o in outputs if not o.is_file()]
    if missing:
        raise PackError(f"target {target}: extra step {step!r} did not write {', '.join(missing)}")


def step_sidecar(manifest: Path, artifact: Path, out: Path) -> None:
    """Embedded manifest + artifact → the sidecar manifest (adds the artifact digest)."""
    data = artifact.read_bytes()
    sidecar = make_sidecar(read_json(manifest), hashlib.sha256(data).hexdigest(), len(data))
    _write(out, manifest_bytes(sidecar))
