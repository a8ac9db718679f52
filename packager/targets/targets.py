"""Target plugins: every ``platform_targets/<folder>/target.py`` is a target; nothing else in the
packager knows target names. The contract a plugin implements is in packager/targets/targetapi.py
(``Plugin``, a subclass of ``TargetPlugin``); this module loads and checks it, and validates a
``[target.<name>]`` table of litebox.toml against the plugin's options.
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Iterator, Mapping

from packager.config.tomlcheck import is_int, suggest, type_name
from packager.errors import PackError
from packager.targets.targetapi import (
    OPTION_TYPES,
    BuildContext,
    Capabilities,
    Check,
    ExtraStep,
    OptionSpec,
    TargetPlugin,
)

__all__ = ["BuildContext", "Target", "discover", "get", "repo_root", "targets_root", "validate_options",
           "default_options"]


def repo_root() -> Path:
    """The checkout the packager runs from (the parent of the ``packager`` package), or, in
    an installed wheel, the bundle it carries instead (packager/targets/bundle.py)."""
    from packager.targets.bundle import installed_root

    return installed_root()


def targets_root() -> Path:
    """Where the target plugins live: the checkout's platform_targets/."""
    return repo_root() / "platform_targets"


@dataclass(frozen=True)
class Target:
    """A loaded, checked target plugin: its folder, module and ``Plugin`` instance."""

    name: str
    description: str
    folder: Path
    module: ModuleType
    plugin: TargetPlugin

    @property
    def capabilities(self) -> Capabilities:
        """What the target supports (rewriting, trace/learn, artifact kind)."""
        return self.plugin.capabilities

    @property
    def options(self) -> tuple[OptionSpec, ...]:
        """The keys its ``[target.<name>]`` table may have."""
        return tuple(self.plugin.options)

    def check(self) -> list[tuple[str, bool, str]]:
        """The plugin's doctor checklist as (item, ok, detail); a plugin that crashes gives
        one failed item."""
        return [(c["item"], c["ok"], c["detail"]) for c in self.checklist()]

    def checklist(self) -> list[dict[str, Any]]:
        """The checklist as ``{"item", "ok", "detail", "required"}`` objects, in the
        plugin's order; a plugin that crashes gives one failed required item."""
        try:
            origin = self.runtime_origin()
            out = []
            for c in self.plugin.checks():
                if not isinstance(c, Check):
                    raise TypeError(f"checks() gave {type(c).__name__}, not a Check")
                row = {"item": str(c.item), "ok": bool(c.ok), "detail": str(c.detail),
                       "required": bool(c.required)}
                if origin["kind"] != "built" and row["item"] in self.plugin.build_checks:
                    row["required"] = False  # only for building the runtime, which is not built here
                    row["detail"] += f" (not needed: the runtime is {origin['kind']})"
                out.append(row)
            return out
        except Exception as exc:  # a broken plugin must not break `litebox targets`
            return [{"item": "plugin check", "ok": False, "detail": f"{type(exc).__name__}: {exc}",
                     "required": True}]

    def runtime_origin(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Where this target's runtime comes from for ``options`` (default: the defaults):
        ``{"kind", "detail", ...}`` (TargetPlugin.runtime_origin); a plugin that fails says so."""
        try:
            origin = dict(self.plugin.runtime_origin(default_options(self, options)))
        except Exception as exc:  # a damaged bundle or a broken plugin must not break `targets`
            return {"kind": "unavailable", "detail": f"{type(exc).__name__}: {exc}"}
        origin.setdefault("kind", "built")
        origin.setdefault("detail", "")
        return origin

    def extra_steps(self, options: Mapping[str, Any]) -> list[ExtraStep]:
        """The plugin's extra build steps for ``options``, checked (PackError naming the plugin)."""
        steps = self.plugin.extra_steps(options)
        where = self.folder / "target.py"
        names: set[str] = set()
        for s in steps:
            if not isinstance(s, ExtraStep):
                raise PackError(f"{where}: extra_steps() gave {type(s).__name__}, not an ExtraStep")
            if not s.name or s.name in names:
                raise PackError(f"{where}: extra step names must be unique and non-empty ({s.name!r})")
            names.add(s.name)
            if not s.outputs or not all(isinstance(o, str) and o and "/" not in o for o in s.outputs):
                raise PackError(f"{where}: extra step {s.name!r}: outputs must be file-name suffixes")
            if not callable(s.action):
                raise PackError(f"{where}: extra step {s.name!r}: action is not callable")
        return steps


def _load(path: Path) -> ModuleType:
    name = f"litebox_target_{path.parent.name}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PackError(f"{path}: cannot load target plugin")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses in the plugin look their module up there
    try:
        spec.loader.exec_module(module)
    except PackError:
        raise
    except Exception as exc:
        sys.modules.pop(name, None)
        raise PackError(f"{path}: cannot load target plugin: {type(exc).__name__}: {exc}") from None
    return module


def _contract_problems(plugin: TargetPlugin) -> list[str]:
    """What ``plugin`` lacks or gets wrong of the contract, one phrase each."""
    problems = []
    if not isinstance(plugin.name, str) or not plugin.name or "/" in plugin.name:
        problems.append("name (a non-empty string without '/')")
    if not isinstance(plugin.description, str) or not plugin.description:
        problems.append("description (a non-empty string)")
    caps = plugin.capabilities
    if not isinstance(caps, Capabilities):
        problems.append("capabilities (a Capabilities)")
    else:
        if not caps.artifact_kind:
            problems.append("capabilities.artifact_kind")
        if caps.rewrites and not caps.rewrite_entry:
            problems.append("capabilities.rewrite_entry (rewrites=True needs the fast-path section's name)")
        if not caps.rewrites and caps.rewrite_entry:
            problems.append("capabilities.rewrites (rewrite_entry is set but rewrites is False)")
        if caps.trace_learn:
            params = inspect.signature(plugin.run).parameters
            if "env" not in params or "wait" not in params:
                problems.append("run(artifact, args, env, wait) (trace_learn=True)")
    seen: set[str] = set()
    options = plugin.options
    if not isinstance(options, (tuple, list)) or not all(isinstance(o, OptionSpec) for o in options):
        problems.append("options (a tuple of OptionSpec)")
    else:
        for o in options:
            if o.type not in OPTION_TYPES:
                problems.append(f"option {o.name!r}: type {o.type!r} is not one of {', '.join(OPTION_TYPES)}")
            if not o.name or o.name in seen:
                problems.append(f"option {o.name!r}: names must be unique and non-empty")
            seen.add(o.name)
            if o.default is not None and o.type in OPTION_TYPES and _type_problem(o, o.default):
                problems.append(f"option {o.name!r}: default {o.default!r} is not {_expected(o)}")
    return problems


def _check_plugin(folder: Path, module: ModuleType) -> TargetPlugin:
    where = folder / "target.py"
    cls = getattr(module, "Plugin", None)
    if not (isinstance(cls, type) and issubclass(cls, TargetPlugin)):
        raise PackError(f"{where}: target plugin lacks Plugin (a subclass of packager.targets.targetapi.TargetPlugin)")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise PackError(f"{where}: target plugin lacks {', '.join(missing)}")
    plugin = cls()
    problems = _contract_problems(plugin)
    if problems:
        raise PackError(f"{where}: target plugin lacks {'; '.join(problems)}")
    return plugin


def discover(root: Path | None = None) -> dict[str, Target]:
    """All target plugins under ``root`` (default: the checkout's platform_targets/), by
    name, in folder order. A plugin that does not meet the contract is a PackError naming its
    folder and what it lacks."""
    base = root if root is not None else targets_root()
    found: dict[str, Target] = {}
    for folder in sorted(p for p in base.iterdir() if (p / "target.py").is_file()) if base.is_dir() else []:
        module = _load(folder / "target.py")
        plugin = _check_plugin(folder, module)
        if plugin.name in found:
            raise PackError(f"{folder / 'target.py'}: target {plugin.name!r} is also defined in "
                            f"{found[plugin.name].folder / 'target.py'}")
        found[plugin.name] = Target(plugin.name, plugin.description, folder, module, plugin)
    return found


def _load_alone(name: str, base: Path) -> Target | None:
    """The plugin for ``name`` loaded by itself from the folder named after it (``name`` or,
    for a name with dashes, with underscores: linux-userland lives in linux_userland/), when
    that folder's plugin has that name; else None."""
    if "/" in name or name in ("", ".", ".."):
        return None
    for folder_name in dict.fromkeys((name, name.replace("-", "_"))):
        folder = base / folder_name
        if (folder / "target.py").is_file():
            module = _load(folder / "target.py")
            plugin = _check_plugin(folder, module)
            if plugin.name == name:
                return Target(plugin.name, plugin.description, folder, module, plugin)
    return None


def get(name: str, root: Path | None = None) -> Target:
    """The plugin for target ``name``, or a PackError listing the known targets. The folder
    named after the target is loaded alone when its plugin has that name (`litebox run`
    needs one plugin: loading every one cost ~0.1 s per run); otherwise every plugin is
    discovered (``discover``, which also refuses a name defined twice)."""
    alone = _load_alone(name, root if root is not None else targets_root())
    if alone is not None:
        return alone
    targets = discover(root)
    if name not in targets:
        known = ", ".join(targets) or "none"
        raise PackError(f"unknown target {name!r} (known: {known})")
    return targets[name]


class LazyTargets(Mapping[str, Target]):
    """The target plugins under ``root`` as ``discover`` gives them, each loaded only when asked
    for: a pack for one target loads that plugin alone (``_load_alone``), not all five (their
    modules were ~0.03 s of every warm re-pack). Listing or counting them, or asking for a name
    no folder is named after, discovers them all (``discover``'s checks then apply, and it
    answers from then on). Unlike ``discover``, a name also defined in another folder goes
    unnoticed while only its own folder is loaded, as with ``get``."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root
        self.loaded: dict[str, Target] = {}
        self.everything: dict[str, Target] | None = None

    def _all(self) -> dict[str, Target]:
        if self.everything is None:
            self.everything = discover(self.root)
        return self.everything

    def _find(self, name: str) -> Target | None:
        if self.everything is not None:
            return self.everything.get(name)
        if name not in self.loaded:
            alone = _load_alone(name, self.root if self.root is not None else targets_root())
            if alone is None:
                return self._all().get(name)
            self.loaded[name] = alone
        return self.loaded[name]

    def __getitem__(self, name: str) -> Target:
        found = self._find(name) if isinstance(name, str) else None
        if found is None:
            raise KeyError(name)
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._find(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


# ---------------------------------------------------------------------------------------------
# [target.<name>] options

_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "string": (lambda v: isinstance(v, str), "a string"),
    "path": (lambda v: isinstance(v, str) and v != "", "a path (a non-empty string)"),
    "integer": (is_int, "an integer"),
    "boolean": (lambda v: isinstance(v, bool), "a boolean"),
    "string-list": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings"),
}


def _expected(spec: OptionSpec) -> str:
    return _CHECKS[spec.type][1]


def _type_problem(spec: OptionSpec, value: Any) -> str | None:
    ok, expected = _CHECKS[spec.type]
    if not ok(value):
        return f"expected {expected}, got {type_name(value)}"
    if spec.choices and value not in spec.choices:
        return f"{value!r} is not one of {', '.join(repr(c) for c in spec.choices)}"
    return None


def validate_options(target: Target, table: Any, fail: Callable[[str, str], PackError],
                     base: Path) -> dict[str, Any]:
    """The ``[target.<name>]`` table checked against the plugin's options: only the keys given,
    each of the right type (``path`` values made absolute against ``base``); else the
    ``fail(key, problem)`` error for the first bad key."""
    prefix = f"[target.{target.name}]"
    if not isinstance(table, dict):
        raise fail(prefix, f"expected a table, got {type_name(table)}")
    specs = {o.name: o for o in target.options}
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in specs:
            known = f" (known: {', '.join(specs)})" if specs else f" (target {target.name} has no options)"
            raise fail(f"{prefix}.{key}", "unknown key" + (suggest(key, specs) or known))
        problem = _type_problem(specs[key], value)
        if problem:
            raise fail(f"{prefix}.{key}", problem)
        out[key] = os.path.normpath(base / value) if specs[key].type == "path" else value
    return out


def default_options(target: Target, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every option of ``target``: the ``given`` value, else its default (None: unset)."""
    given = given or {}
    return {o.name: given.get(o.name, o.default) for o in target.options}


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def environment_overrides(target: Target, environ: Mapping[str, str]) -> dict[str, Any]:
    """The options of ``target`` that an environment variable (``OptionSpec.env``) sets at pack
    time, set and not empty in ``environ``; they win over ``[target.<name>]``. A ``path`` is made
    absolute against the working directory and must exist; an ``integer`` or ``boolean`` must
    read as one, and a value outside ``choices`` is refused (a PackError naming the variable)."""
    out: dict[str, Any] = {}
    for spec in target.options:
        raw = environ.get(spec.env, "") if spec.env else ""
        if not raw:
            continue
        value: Any = raw
        if spec.type == "path":
            value = os.path.abspath(raw)
            if not os.path.exists(value):  # said here, with the variable's name, not later as the option's
                raise PackError(f"{spec.env}={raw!r} (for [target.{target.name}].{spec.name}): no such file")
        elif spec.type == "integer":
            try:
                value = int(raw, 0)
            except ValueError:
                raise PackError(f"{spec.env}={raw!r} (for [target.{target.name}].{spec.name}): "
                                "not an integer") from None
        elif spec.type == "boolean":
            if raw.lower() not in _TRUE + _FALSE:
                raise PackError(f"{spec.env}={raw!r} (for [target.{target.name}].{spec.name}): "
                                f"not a boolean ({'/'.join(_TRUE)} or {'/'.join(_FALSE)})")
            value = raw.lower() in _TRUE
        elif spec.type == "string-list":
            value = [x for x in raw.split(",") if x]
        if spec.choices and value not in spec.choices:
            raise PackError(f"{spec.env}={raw!r} (for [target.{target.name}].{spec.name}): not one of "
                            f"{', '.join(repr(c) for c in spec.choices)}")
        out[spec.name] = value
    return out
