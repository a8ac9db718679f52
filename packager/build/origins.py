"""Where an artifact's project lives, remembered by `pack` for `verify`.

The manifest deliberately does not record the project's absolute location (that would make
builds from two checkouts differ), so `pack` remembers it outside the artifact: in the build
state beside the output directory (by artifact name) and in the user's cache directory (by
the digest of the embedded manifest, so a copied artifact is still found)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from packager.build.canonjson import canonical_json


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/litebox`` (default ``~/.cache/litebox``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "litebox"


def manifest_key(embedded: dict[str, Any]) -> str:
    """The sha256 of the canonical embedded manifest (a sidecar's ``artifact`` key ignored)."""
    body = {k: v for k, v in embedded.items() if k != "artifact"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.read_bytes() == data:
            return
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError:
        pass  # a cache: failing to write it only makes `verify` need --project


MAX_REMEMBERED = 8


def _read_list(path: Path) -> list[dict[str, Any]]:
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return []
    items = value if isinstance(value, list) else [value]
    return [o for o in items if isinstance(o, dict) and isinstance(o.get("app"), str)]


def record(state_dir: Path, artifact_name: str, embedded: dict[str, Any], app: Path,
           config_file: Path | None) -> None:
    """Remembers that the artifact with this embedded manifest was built from ``app``. The
    same manifest can come from several copies of a project: the most recent few are kept."""
    origin = {"app": str(app.resolve()), "config": str(config_file.resolve()) if config_file else None}
    key = manifest_key(embedded)
    _write(state_dir / "origins" / f"{artifact_name}.json", canonical_json([{**origin, "key": key}]))
    by_digest = user_cache_dir() / "origins" / f"{key}.json"
    known = [o for o in _read_list(by_digest) if o != origin]
    _write(by_digest, canonical_json([origin, *known][:MAX_REMEMBERED]))


def candidates(artifact: Path, embedded: dict[str, Any], state_name: str) -> tuple[list[dict[str, Any]], bool]:
    """Recorded origins of an artifact that still exist, and whether the first is
    authoritative. The build state beside the artifact's directory is authoritative when it
    recorded this very manifest; otherwise every copy remembered under the manifest's digest
    (most recent first) is a candidate."""
    key = manifest_key(embedded)
    beside = artifact.resolve().parent.parent / state_name / "origins" / f"{artifact.name}.json"
    for origin in _read_list(beside):
        if origin.get("key") == key and Path(origin["app"]).exists():
            return [origin], True
    out = [o for o in _read_list(user_cache_dir() / "origins" / f"{key}.json") if Path(o["app"]).exists()]
    return out, False
