"""The build steps as functions of files: image, runtime, manifest, artifact, sidecar, and the
targets' extra steps. The SConstruct calls these as its actions; each is a pure function of its
input files (and the target's options, which the graph carries as a value)."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from packager.build.artifact import atomic_output
from packager.build.canonjson import canonical_json
from packager.build.manifest import make_manifest, make_sidecar, manifest_bytes
from packager.build.plan import plan_entries, plan_settings, read_json
from packager.build.runtimecode import loaded_code_digest
from packager.build.sharedcache import SharedCache, key_of
from packager.config.config import relative_to_project
from packager.errors import PackError
from packager.image.image import write_image
from packager.image.rewrite import FASTPATH_SECTION, fastpath_entry
from packager.targets.targetapi import StepContext, TargetPlugin
from packager.targets.targets import BuildContext, get


def file_sha256(path: Path) -> tuple[str, int]:
    """The sha256 (hex) and size of the file at ``path``, read in 1 MiB pieces."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
            size += len(piece)
    return digest.hexdigest(), size


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    with atomic_output(path, mode) as tmp:
        tmp.write_bytes(data)


def step_image(plan_path: Path, image_out: Path, info_out: Path, runtime: Path | None = None,
               entry_section: str | None = None, progress: Any = None, reuse: Path | None = None) -> dict[str, Any]:
    """Plan (+ the runtime whose fast-path entry, in its ELF section ``entry_section``,
    rewritten syscalls call, when the plan asks for rewriting) → image file + image facts
    (digest, sizes, inputs with sha256, rewriting per ELF file) as JSON. ``reuse`` is the
    directory of the chunks and rewritten files of the previous build of this image
    (packager/image/reuse.py): what did not change is taken from there, not redone."""
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
    label = "image (rewriting syscalls, compressing)" if entry is not None else "image (compressing)"
    report = (lambda *counts: progress.counter(label, *counts)) if progress is not None else None
    cache = None
    if reuse is not None:
        from packager.image.reuse import ReuseCache

        cache = ReuseCache(reuse)
    with atomic_output(image_out, 0o644) as tmp, open(tmp, "wb") as out:
        result = write_image(plan_entries(plan), launch, plan_settings(plan, entry), out, image_out.parent, report,
                             cache)
    if cache is not None:
        cache.prune()
        if progress is not None and cache.hits:
            progress.detail(f"image: {cache.hits} chunks and rewritten files taken from the previous build, "
                            f"{cache.misses} made")
    project = Path(plan["project_dir"])
    inputs = [{"image_path": i.image_path, "host_path": relative_to_project(i.host_path, project),
               "size": i.size, "sha256": i.sha256, "reason": i.reason} for i in result.inputs]
    generated = [{"image_path": e["path"], "reason": e["reason"],
                  "sha256": hashlib.sha256(bytes.fromhex(e["data_hex"])).hexdigest(),
                  "size": len(e["data_hex"]) // 2}
                 for e in plan["entries"] if "data_hex" in e]
    info = {"digest": result.digest, "sha256": result.sha256,
            "size": result.size, "entries": result.entries, "chunks": result.chunks,
            "stream_size": result.stream_size, "inputs": inputs, "generated": generated,
            "rewrite": {"enabled": entry is not None, "entry": f"{entry:#x}" if entry is not None else None,
                        "files": result.rewrite}}
    _write(info_out, canonical_json(info))
    return info


def build_context(repo: Path, state_dir: Path, progress: Any, options: dict[str, Any] | None) -> BuildContext:
    """The BuildContext a plugin hook gets in the build graph."""
    return _context(repo, state_dir, progress, options)


def _context(repo: Path, state_dir: Path, progress: Any, options: dict[str, Any] | None) -> BuildContext:
    return BuildContext(repo=repo, state_dir=state_dir, progress=progress, options=dict(options or {}))


def runtime_cache_key(repo: Path, shared_key: str, inputs: list[str]) -> str:
    """The shared-cache key of a runtime: what decides it besides files (toolchain, plugin
    code, options) and every input file by its path (relative to the checkout when inside
    it) and sha256."""
    parts: list[str] = [shared_key]
    for name in inputs:
        path = Path(name)
        shown = path.relative_to(repo).as_posix() if path.is_relative_to(repo) else str(path)
        parts += [shown, hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "absent"]
    return key_of(*parts)


def step_runtime(target: str, repo: Path, state_dir: Path, out: Path, ctx_progress: Any,
                 options: dict[str, Any] | None = None, targets_dir: Path | None = None,
                 shared: tuple[Path, str, list[str]] | None = None) -> None:
    """Builds the target's runtime and copies it to ``out`` (the graph's stable node). With
    ``shared`` = (cache directory, shared key, input files) a runtime another pack already
    built from the same inputs is taken from that cache, and a new one is put there."""
    cache = key = None
    if shared is not None:
        cache, key = SharedCache(shared[0]), runtime_cache_key(repo, shared[1], shared[2])
        if cache.fetch("runtime", key, {"runtime": out}):
            ctx_progress.detail(f"runtime for {target}: taken from the shared cache {shared[0]}")
            return
    plugin = get(target, targets_dir)
    built = plugin.plugin.build_runtime(_context(repo, state_dir, ctx_progress, options))
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out, 0o755) as tmp:
        shutil.copyfile(built, tmp)
    if cache is not None and key is not None:
        cache.store("runtime", key, {"runtime": out})


def image_cache_key(plan_path: Path, code_key: str, runtime: Path | None, entry_section: str | None) -> str:
    """The shared-cache key of an image: the plan (every packed file by sha256, the settings
    and launch config; the project's location left out), the packager's code, and the
    runtime whose fast-path entry rewritten syscalls call."""
    plan = read_json(plan_path)
    text = json.dumps(plan, sort_keys=True)
    if plan.get("project_dir"):
        text = text.replace(json.dumps(plan["project_dir"])[1:-1], "<project>")
    runtime_digest = hashlib.sha256(runtime.read_bytes()).hexdigest() if runtime is not None else ""
    return key_of(text, code_key, runtime_digest, entry_section or "")


def step_image_cached(plan_path: Path, image_out: Path, info_out: Path, runtime: Path | None,
                      entry_section: str | None, shared: tuple[Path, str] | None, progress: Any,
                      reuse: Path | None = None) -> None:
    """``step_image``, or with ``shared`` = (cache directory, packager code key) the image and
    facts another pack made from the same plan, taken from that cache (new ones put there)."""
    if shared is None:
        step_image(plan_path, image_out, info_out, runtime, entry_section, progress, reuse)
        return
    cache = SharedCache(shared[0])
    key = image_cache_key(plan_path, shared[1], runtime, entry_section)
    if cache.fetch("image", key, {"image.bin": image_out, "image.json": info_out}):
        progress.detail(f"image {image_out.parent.name}: taken from the shared cache {shared[0]}")
        return
    step_image(plan_path, image_out, info_out, runtime, entry_section, progress, reuse)
    cache.store("image", key, {"image.bin": image_out, "image.json": info_out})


def step_manifest(plan_path: Path, info_path: Path, runtime_path: Path, toolchain_path: Path,
                  target: str, out: Path, options_record: dict[str, Any] | None = None,
                  origin: str | None = None, image_path: Path | None = None,
                  facts_ctx: BuildContext | None = None, targets_dir: Path | None = None,
                  repo: Path | None = None) -> None:
    """Plan + image facts + runtime + toolchain + the target's options → the embedded
    manifest (canonical JSON); the options are recorded as ``config.target.<name>``, where
    the runtime came from (built, prebuilt, bundled) as ``runtime.origin``, the plugin's
    ``manifest_facts`` (given the image and ``facts_ctx``) as ``target_facts`` when it has
    some; with ``repo``, the target's own toolchain entries (TargetPlugin.toolchain) replace
    the shared ones."""
    runtime_bytes = runtime_path.read_bytes()
    runtime: dict[str, Any] = {"sha256": hashlib.sha256(runtime_bytes).hexdigest(), "size": len(runtime_bytes)}
    if runtime_bytes[:4] == b"\x7fELF":  # what `inspect` checks the runtime inside an artifact by
        runtime["loaded_sha256"] = loaded_code_digest(runtime_bytes)
    if origin is not None:
        runtime["origin"] = origin
    plan = read_json(plan_path)
    plan["config"] = {**plan["config"], "target": {target: dict(options_record or {})}}
    tools = read_json(toolchain_path)
    if repo is not None:
        tools = {**tools, **get(target, targets_dir).plugin.toolchain(repo)}
    manifest = make_manifest(plan, target, read_json(info_path), runtime, tools)
    plugin = get(target, targets_dir).plugin
    # Only a target that states facts reads the image (whole): the others pack in flat memory.
    if image_path is not None and facts_ctx is not None and \
            type(plugin).manifest_facts is not TargetPlugin.manifest_facts:
        facts = plugin.manifest_facts(facts_ctx, runtime_path, image_path.read_bytes())
        if facts:
            manifest["target_facts"] = facts
    _write(out, manifest_bytes(manifest))


def step_artifact(target: str, repo: Path, state_dir: Path, runtime: Path, image: Path,
                  manifest: Path, out: Path, ctx_progress: Any, options: dict[str, Any] | None = None,
                  targets_dir: Path | None = None) -> None:
    """Runtime + image + embedded manifest → the artifact, by the target's plugin."""
    plugin = get(target, targets_dir)
    ctx = _context(repo, state_dir, ctx_progress, options)
    plugin.plugin.assemble_file(ctx, runtime, image, manifest.read_bytes(), out)


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
    digest, size = file_sha256(artifact)
    sidecar = make_sidecar(read_json(manifest), digest, size)
    _write(out, manifest_bytes(sidecar))
