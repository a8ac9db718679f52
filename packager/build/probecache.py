"""Remembered answers of the toolchain questions a pack asks other programs (``rustc -V``,
``cargo -V``, ``cargo metadata --no-deps``), each kept with a stamp of everything its answer
depends on and used again only while that stamp is unchanged.

Why: every pack asked them afresh, three processes through rustup's proxies (~65 ms of CPU
and three forks of the packer) for answers that change only when the toolchain or a Cargo
manifest does. A warm re-pack that changes nothing is mostly such fixed costs.

What a stamp covers (``os.stat`` identity: device, inode, size, mtime, ctime; or absent):

- the toolchain (``toolchain_stamp``): the environment variables that choose it (PATH,
  RUSTUP_TOOLCHAIN, RUSTUP_HOME, CARGO_HOME, RUSTC, CARGO), the ``rustc`` and ``cargo``
  executables PATH finds and the files they resolve to, and under rustup's home its
  settings, its toolchains folder, each toolchain's ``bin/rustc`` and ``bin/cargo`` and
  the update hashes (``rustup update`` rewrites them); and the ``rust-toolchain`` files of the
  working directory and its parents, which rustup also reads;
- ``cargo metadata`` (``metadata_stamp``): the toolchain stamp, the workspace's
  Cargo.toml, Cargo.lock and cargo config, and the manifest of every package the last answer
  listed. A workspace whose members are globs is never cached (a new folder would join it
  without any of those files changing).

Anything else (a damaged file, a different stamp) asks the programs as before. The cache is a
JSON file in the build state directory, written only when an answer changed."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from packager.analysis.statcache import stamp_or_none

CACHE_VERSION = 1
TOOL_ENV = ("PATH", "RUSTUP_TOOLCHAIN", "RUSTUP_HOME", "CARGO_HOME", "RUSTC", "CARGO")
TOOLCHAIN_FILES = ("rust-toolchain", "rust-toolchain.toml")
WORKSPACE_FILES = ("Cargo.toml", "Cargo.lock", ".cargo/config.toml", ".cargo/config")


def _rustup_home() -> Path:
    home = os.environ.get("RUSTUP_HOME")
    return Path(home) if home else Path.home() / ".rustup"


def toolchain_stamp(cwd: Path | None = None) -> dict[str, Any]:
    """A record that changes whenever ``rustc -V`` or ``cargo -V`` run from ``cwd`` (default:
    the current directory) could answer differently (the module docstring lists its parts)."""
    files: dict[str, list[int] | None] = {}
    tools = {}
    for tool in ("rustc", "cargo"):
        found = shutil.which(tool)
        tools[tool] = found
        if found:
            files[found] = stamp_or_none(found)
            real = os.path.realpath(found)
            files[real] = stamp_or_none(real)
    home = _rustup_home()
    files[str(home / "settings.toml")] = stamp_or_none(home / "settings.toml")
    for folder in ("toolchains", "update-hashes"):
        files[str(home / folder)] = stamp_or_none(home / folder)
    try:
        names = sorted(os.listdir(home / "toolchains"))
    except OSError:
        names = []
    for name in names:
        for tool in ("rustc", "cargo"):
            path = home / "toolchains" / name / "bin" / tool
            files[str(path)] = stamp_or_none(path)
    try:
        hashes = sorted(os.listdir(home / "update-hashes"))
    except OSError:
        hashes = []
    for name in hashes:
        files[str(home / "update-hashes" / name)] = stamp_or_none(home / "update-hashes" / name)
    try:
        here: Path | None = (cwd or Path.cwd()).resolve()
    except OSError:  # a working directory removed under us: rustup finds no toolchain file there
        here = None
    for folder in (here, *here.parents) if here is not None else ():
        for name in TOOLCHAIN_FILES:
            files[str(folder / name)] = stamp_or_none(folder / name)
    return {"env": {k: os.environ.get(k) for k in TOOL_ENV}, "tools": tools, "files": files}


def metadata_stamp(repo: Path, answer: dict[str, Any], toolchain: dict[str, Any]) -> dict[str, Any] | None:
    """The stamp under which ``answer`` (``cargo metadata --no-deps`` of ``repo``) stays true, or
    None when it cannot be cached (a glob among the workspace members, an answer without its
    packages' manifests)."""
    try:
        root_manifest = (repo / "Cargo.toml").read_bytes()
    except OSError:
        return None
    if b"*" in root_manifest or b"?" in root_manifest:
        return None  # glob members (or a pattern we cannot rule out): a new folder joins silently
    try:
        manifests = sorted({str(p["manifest_path"]) for p in answer["packages"]})
    except (KeyError, TypeError):
        return None
    files = {str(repo / name): stamp_or_none(repo / name) for name in WORKSPACE_FILES}
    files.update({m: stamp_or_none(m) for m in manifests})
    return {"toolchain": toolchain, "files": files}


class ProbeCache:
    """The answers remembered in one JSON file; ``save`` writes it back when one changed. A
    damaged or foreign file counts as empty."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dirty = False
        self.entries: dict[str, Any] = {}
        try:
            loaded = json.loads(path.read_bytes())
            if isinstance(loaded, dict) and loaded.get("version") == CACHE_VERSION \
                    and isinstance(loaded.get("entries"), dict):
                self.entries = loaded["entries"]
        except (OSError, ValueError):
            pass

    def get(self, name: str, stamp: Any) -> Any | None:
        """The answer recorded for ``name`` under exactly ``stamp``, else None."""
        hit = self.entries.get(name)
        if isinstance(hit, dict) and hit.get("stamp") == stamp:
            return hit.get("answer")
        return None

    def recorded(self, name: str) -> Any | None:
        """The answer last recorded for ``name`` whatever its stamp (to find what to stamp)."""
        hit = self.entries.get(name)
        return hit.get("answer") if isinstance(hit, dict) else None

    def put(self, name: str, stamp: Any, answer: Any) -> None:
        """Records ``answer`` for ``name`` under ``stamp``."""
        entry = {"stamp": stamp, "answer": answer}
        if self.entries.get(name) != entry:
            self.entries[name] = entry
            self.dirty = True

    def save(self) -> None:
        """Writes the file back (atomically) when an answer changed; a state directory that
        cannot be written only costs the next pack its questions."""
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": CACHE_VERSION, "entries": self.entries}, sort_keys=True),
                           encoding="utf-8")
            tmp.replace(self.path)
            self.dirty = False
        except OSError:
            pass
