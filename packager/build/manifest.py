"""The reproducible-build manifest (schema: docs/manifest.md): the embedded copy and the
sidecar, both canonical JSON."""
from __future__ import annotations

from typing import Any

from packager import __version__
from packager.build.canonjson import canonical_json
from packager.errors import PackError

SCHEMA_VERSION = 2


def make_manifest(plan: dict[str, Any], target: str, image_info: dict[str, Any],
                  runtime: dict[str, Any], toolchain: dict[str, str]) -> dict[str, Any]:
    """The embedded manifest: what went in (inputs by digest, resolved config and policy,
    launch config, toolchain) and what the runtime and image are (by digest). It cannot
    hold the artifact's own digest; the sidecar adds that."""
    extra = {"source": plan["source"]} if plan.get("source") else {}  # a container image's kind and digest
    return {
        **extra,
        "schema_version": SCHEMA_VERSION,
        "packager": {"name": "litebox-pack", "version": __version__},
        "target": target,
        "name": plan["name"],
        "mode": plan["mode"],
        "source_date_epoch": plan["source_date_epoch"],
        "entry_kind": plan["entry_kind"],
        "inputs": image_info["inputs"],
        "generated": image_info["generated"],
        "config": plan["config"],
        "policy": plan["policy"],
        "launch": plan["launch"],
        "toolchain": toolchain,
        "runtime": runtime,
        "image": {
            "digest": image_info["digest"],
            "sha256": image_info["sha256"],
            "size": image_info["size"],
            "entries": image_info["entries"],
            "chunks": image_info["chunks"],
            "chunk_size": plan["settings"]["chunk_size"],
            "compression_level": plan["settings"]["compression_level"],
            "stream_size": image_info["stream_size"],
        },
        "rewrite": _rewrite_facts(image_info),
    }


def _rewrite_facts(image_info: dict[str, Any]) -> dict[str, Any]:
    """What pack-time syscall rewriting did: on or off, and per rewritten ELF file the sites
    found, rewritten and left to the trap path, and the constant syscall numbers seen."""
    rw = image_info.get("rewrite") or {"enabled": False, "entry": None, "files": {}}
    return {"enabled": bool(rw["enabled"]), "entry": rw["entry"], "files": rw["files"]}


def make_sidecar(embedded: dict[str, Any], artifact_sha256: str, artifact_size: int) -> dict[str, Any]:
    """The sidecar manifest: the embedded manifest plus ``artifact: {sha256, size}``."""
    if "artifact" in embedded:
        raise PackError("the embedded manifest must not carry an artifact digest")
    return {**embedded, "artifact": {"sha256": artifact_sha256, "size": artifact_size}}


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The canonical JSON bytes of a manifest (PackError if it cannot be encoded)."""
    try:
        return canonical_json(manifest)
    except ValueError as exc:
        raise PackError(f"cannot write the manifest: {exc}") from None
