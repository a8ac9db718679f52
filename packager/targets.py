"""Target plugins: every ``platform_targets/<name>/target.py`` is a target; nothing else in the
packager knows target names.

A plugin module defines:
  TARGET: str                      the target's name, e.g. "linux-userland"
  DESCRIPTION: str                 one line for ``litebox targets``
  check() -> list[(item, ok, detail[, required])]
                                   the doctor checklist for this machine; an item with
                                   required=False (default True) is an optional layer whose
                                   absence does not make the target "not ready"
  runtime_inputs(repo) -> list[Path]           files whose content decides the runtime's bytes
  build_runtime(ctx) -> Path                   builds (or finds) the runtime; returns its path
  assemble(ctx, runtime, image, manifest, out) writes the artifact at ``out`` atomically
  run(artifact, args, env=None, wait=False) -> int
                                   runs an artifact with environment ``env`` (None: ours);
                                   may exec and not return unless ``wait``, when it runs it as
                                   a child and returns its exit status (`litebox run --learn`).
                                   A runner without ``env``/``wait`` cannot trace or learn.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from packager.errors import PackError
from packager.progress import Progress

REQUIRED = ("TARGET", "DESCRIPTION", "check", "runtime_inputs", "build_runtime", "assemble", "run")


def repo_root() -> Path:
    """The checkout the packager runs from (the parent of the ``packager`` package)."""
    return Path(__file__).resolve().parent.parent


@dataclass
class BuildContext:
    """What a plugin may use while building: the checkout, a private state directory for
    this target, and where to report progress."""

    repo: Path
    state_dir: Path
    progress: Progress


@dataclass(frozen=True)
class Target:
    """A loaded target plugin."""

    name: str
    description: str
    folder: Path
    module: ModuleType

    def check(self) -> list[tuple[str, bool, str]]:
        """The plugin's doctor checklist as (item, ok, detail); a plugin that crashes gives
        one failed item."""
        return [(c["item"], c["ok"], c["detail"]) for c in self.checklist()]

    def checklist(self) -> list[dict[str, Any]]:
        """The checklist as ``{"item", "ok", "detail", "required"}`` objects, in the
        plugin's order; a plugin that crashes gives one failed required item."""
        try:
            out = []
            for row in self.module.check():
                item, ok, detail = row[:3]
                required = bool(row[3]) if len(row) > 3 else True
                out.append({"item": str(item), "ok": bool(ok), "detail": str(detail), "required": required})
            return out
        except Exception as exc:  # a broken plugin must not break `litebox targets`
            return [{"item": "plugin check", "ok": False, "detail": f"{type(exc).__name__}: {exc}",
                     "required": True}]

    def fn(self, name: str) -> Callable[..., Any]:
        """The plugin function ``name``."""
        return getattr(self.module, name)


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"litebox_target_{path.parent.name}", path)
    if spec is None or spec.loader is None:
        raise PackError(f"{path}: cannot load target plugin")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def discover(root: Path | None = None) -> dict[str, Target]:
    """All target plugins under ``root`` (default: the checkout's platform_targets/), by
    name, in folder order. A plugin missing a required name is a PackError."""
    base = root if root is not None else repo_root() / "platform_targets"
    found: dict[str, Target] = {}
    for folder in sorted(p for p in base.iterdir() if (p / "target.py").is_file()) if base.is_dir() else []:
        module = _load(folder / "target.py")
        missing = [n for n in REQUIRED if not hasattr(module, n)]
        if missing:
            raise PackError(f"{folder / 'target.py'}: target plugin lacks {', '.join(missing)}")
        found[module.TARGET] = Target(module.TARGET, module.DESCRIPTION, folder, module)
    return found


def get(name: str, root: Path | None = None) -> Target:
    """The plugin for target ``name``, or a PackError listing the known targets."""
    targets = discover(root)
    if name not in targets:
        known = ", ".join(targets) or "none"
        raise PackError(f"unknown target {name!r} (known: {known})")
    return targets[name]
