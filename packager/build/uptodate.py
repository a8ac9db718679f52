"""The warm re-pack's short cut: when nothing that decides a pack changed since the last
successful one, its outputs are known current without starting the build graph (SCons costs
about 0.3 s of start-up alone).

A stamp, written after every successful build, records the digest of the build request (the
plan's and the toolchain record's bytes included: every packed host file by sha256, which
packager/analysis/statcache.py keeps current by stat, hashing again only when a file's stat
changed) and a stat fingerprint (size, mtime, ctime, inode) of every file the graph reads
directly (the runtimes' source files) and of every output. The next pack with the same request
skips SCons when every fingerprint still matches; anything else (a touched source, an output
deleted or edited, a different option) runs the graph as before, which then decides by content.
An output edited since the last build is removed first, so the graph makes it again.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

STAMP_VERSION = 1
# Request fields that say how to report, not what to build.
VOLATILE = ("progress_fd", "quiet", "verbose")


def fingerprint(path: Path) -> list[int] | None:
    """(size, mtime ns, ctime ns, inode) of ``path``, or None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def request_key(request: dict[str, Any], extra_files: list[Path]) -> str:
    """The digest of what decides the build: the request without its reporting fields, and
    the bytes of ``extra_files`` (the plan and toolchain record it names by path)."""
    h = hashlib.sha256()
    h.update(json.dumps({k: v for k, v in request.items() if k not in VOLATILE}, sort_keys=True,
                        default=str).encode())
    for path in extra_files:
        try:
            h.update(b"\0" + path.read_bytes())
        except OSError:
            h.update(b"\0absent")
    return h.hexdigest()


def watched_files(request: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(inputs, outputs) of the request: the runtimes' source files; every artifact, sidecar
    manifest and extra step output."""
    inputs = sorted({p for spec in request["runtimes"].values() for p in spec["inputs"]})
    outputs = sorted({o for app in request["apps"] for t in app["targets"]
                      for o in [t["artifact"], t["sidecar"], *(x for s in t["extra_steps"] for x in s["outputs"])]})
    return inputs, outputs


def _state(request: dict[str, Any], key: str) -> dict[str, Any]:
    inputs, outputs = watched_files(request)
    return {"version": STAMP_VERSION, "key": key,
            "files": {p: fingerprint(Path(p)) for p in [*inputs, *outputs]}}


def is_current(stamp: Path, request: dict[str, Any], key: str) -> bool:
    """True when ``stamp`` records this request ``key`` and every watched file (each output
    present) has the fingerprint it had after that build."""
    try:
        recorded = json.loads(stamp.read_bytes())
    except (OSError, ValueError):
        return False
    now = _state(request, key)
    _inputs, outputs = watched_files(request)
    return recorded == now and all(now["files"][o] is not None for o in outputs)


def edited_outputs(stamp: Path, request: dict[str, Any]) -> list[Path]:
    """The outputs that exist but are not what the last successful build left (edited, replaced
    or truncated since): the build graph, which decides by its inputs, would not redo them
    (and would record an edited artifact's digest in a fresh sidecar), so the caller removes
    them first. Empty without a readable stamp."""
    try:
        recorded = json.loads(stamp.read_bytes())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    _inputs, outputs = watched_files(request)
    out = []
    for name in outputs:
        now = fingerprint(Path(name))
        if now is not None and name in recorded and recorded[name] != now:
            out.append(Path(name))
    return out


def record(stamp: Path, request: dict[str, Any], key: str) -> None:
    """Writes the stamp after a successful build (atomically)."""
    stamp.parent.mkdir(parents=True, exist_ok=True)
    tmp = stamp.with_name(f"{stamp.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_state(request, key), sort_keys=True), encoding="utf-8")
    tmp.replace(stamp)


def forget(stamp: Path) -> None:
    """Removes the stamp (before a build: a failed or interrupted one leaves none)."""
    try:
        stamp.unlink()
    except FileNotFoundError:
        pass
