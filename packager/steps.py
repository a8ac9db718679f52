"""The build steps as functions of files: image, runtime, manifest, artifact, sidecar. The
SConstruct calls these as its actions; each is a pure function of its input files."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from packager.artifact import atomic_output
from packager.canonjson import canonical_json
from packager.config import relative_to_project
from packager.errors import PackError
from packager.image import build_image
from packager.manifest import make_manifest, make_sidecar, manifest_bytes
from packager.plan import plan_entries, plan_settings, read_json
from packager.rewrite import fastpath_entry
from packager.targets import BuildContext, get


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    with atomic_output(path, mode) as tmp:
        tmp.write_bytes(data)


def step_image(plan_path: Path, image_out: Path, info_out: Path, runtime: Path | None = None) -> dict[str, Any]:
    """Plan (+ the runtime whose fast-path entry rewritten syscalls call, when the plan asks
    for rewriting) → image file + image facts (digest, sizes, inputs with sha256, rewriting
    per ELF file) as JSON."""
    plan = read_json(plan_path)
    launch = bytes.fromhex(plan["launch_hex"])
    entry = None
    # The build request passes a runtime only for targets with a fast path; the image for
    # the others (kvm) is built without rewriting even when the config asks for it.
    if plan["settings"].get("rewrite") and runtime is not None:
        entry = fastpath_entry(runtime.read_bytes())
        if entry is None:
            raise PackError(f"{runtime}: the runtime has no .litebox.fastpath section; pack with --no-rewrite")
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


def step_runtime(target: str, repo: Path, state_dir: Path, out: Path, ctx_progress: Any) -> None:
    """Builds the target's runtime and copies it to ``out`` (the graph's stable node)."""
    plugin = get(target)
    ctx = BuildContext(repo=repo, state_dir=state_dir, progress=ctx_progress)
    built = plugin.fn("build_runtime")(ctx)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out, 0o755) as tmp:
        shutil.copyfile(built, tmp)


def step_manifest(plan_path: Path, info_path: Path, runtime_path: Path, toolchain_path: Path,
                  target: str, out: Path) -> None:
    """Plan + image facts + runtime + toolchain → the embedded manifest (canonical JSON)."""
    runtime_bytes = runtime_path.read_bytes()
    runtime = {"sha256": hashlib.sha256(runtime_bytes).hexdigest(), "size": len(runtime_bytes)}
    manifest = make_manifest(read_json(plan_path), target, read_json(info_path), runtime,
                             read_json(toolchain_path))
    _write(out, manifest_bytes(manifest))


def step_artifact(target: str, repo: Path, state_dir: Path, runtime: Path, image: Path,
                  manifest: Path, out: Path, ctx_progress: Any) -> None:
    """Runtime + image + embedded manifest → the artifact, by the target's plugin."""
    plugin = get(target)
    ctx = BuildContext(repo=repo, state_dir=state_dir, progress=ctx_progress)
    plugin.fn("assemble")(ctx, runtime, image.read_bytes(), manifest.read_bytes(), out)


def step_sidecar(manifest: Path, artifact: Path, out: Path) -> None:
    """Embedded manifest + artifact → the sidecar manifest (adds the artifact digest)."""
    data = artifact.read_bytes()
    sidecar = make_sidecar(read_json(manifest), hashlib.sha256(data).hexdigest(), len(data))
    _write(out, manifest_bytes(sidecar))
