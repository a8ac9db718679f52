"""What an installed litebox-pack carries instead of a checkout: ``packager/_bundle/``.

A wheel has no checkout beside the ``packager`` package, so its build step (setup.py) copies in
what the packer needs at run time: the build graph (SConstruct), the target plugins
(``platform_targets/<folder>/*.py``, every folder that has a target.py), the templates,
Cargo.lock, and one prebuilt runtime per target, built by the plugin itself from the sources
being packaged (``cargo build --locked --release``, paths remapped: the same bytes a checkout
builds). ``runtimes.json`` records each runtime by sha256 with the toolchain that built it.

``repo_root()`` is the checkout when the package runs from one, else this bundle. A target
uses its bundled runtime when it cannot build one itself (no cargo, or no runtime sources).
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Callable

from packager.errors import PackError

PACKAGE_DIR = Path(__file__).resolve().parents[1]
BUNDLE_DIR = PACKAGE_DIR / "_bundle"
RECORD = "runtimes.json"
CHECKOUT_FILES = ("SConstruct", "Cargo.lock")
CHECKOUT_DIRS = ("templates",)


def is_source_tree(root: Path) -> bool:
    """True if ``root`` has what the packer runs from: SConstruct and platform_targets/."""
    return (root / "SConstruct").is_file() and (root / "platform_targets").is_dir()


def installed_root() -> Path:
    """The checkout the package runs from, else the bundle of an installed wheel (else the
    package's parent, where a checkout would be)."""
    checkout = PACKAGE_DIR.parent
    if is_source_tree(checkout):
        return checkout
    if is_source_tree(BUNDLE_DIR):
        return BUNDLE_DIR
    return checkout


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_record(root: Path | None = None) -> dict[str, Any]:
    """The bundle's runtime record (``{"targets": {name: {...}}}``); empty when there is none."""
    path = (root or BUNDLE_DIR) / RECORD
    try:
        record = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {"targets": {}}
    return record if isinstance(record.get("targets"), dict) else {"targets": {}}


def bundled_runtime(target: str, root: Path | None = None) -> tuple[Path, dict[str, Any]] | None:
    """(path, record) of the runtime bundled for ``target``, or None when there is none. A
    bundled file whose sha256 is not the recorded one is a PackError (a damaged install)."""
    base = root or BUNDLE_DIR
    entry = read_record(base)["targets"].get(target)
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        return None
    path = base / entry["file"]
    if not path.is_file():
        raise PackError(f"{path}: the runtime bundled for {target} is missing (reinstall litebox-pack)")
    if _sha256(path) != entry.get("sha256"):
        raise PackError(f"{path}: the runtime bundled for {target} does not match its recorded sha256 "
                        "(reinstall litebox-pack)")
    return path, entry


def copy_plugins(source: Path, dest: Path) -> list[str]:
    """Copies SConstruct, Cargo.lock, templates/ and every target plugin folder's Python files
    from checkout ``source`` into bundle ``dest``; returns the plugin folders copied."""
    for name in CHECKOUT_FILES:
        if (source / name).is_file():
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, dest / name)
    for name in CHECKOUT_DIRS:
        if (source / name).is_dir():
            shutil.copytree(source / name, dest / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
    folders = []
    for folder in sorted(p for p in (source / "platform_targets").iterdir() if (p / "target.py").is_file()):
        out = dest / "platform_targets" / folder.name
        out.mkdir(parents=True, exist_ok=True)
        for py in sorted(folder.glob("*.py")):
            shutil.copyfile(py, out / py.name)
        folders.append(folder.name)
    return folders


def bundle_runtimes(source: Path, dest: Path, wanted: list[str] | None,
                    build: Callable[[Any], Path], toolchain: dict[str, str]) -> dict[str, Any]:
    """Builds the runtime of every target plugin in checkout ``source`` (or of those ``wanted``
    names) with ``build(target)`` and copies each into ``dest/runtimes/<name>``; writes and
    returns the record. An unknown name in ``wanted`` is a PackError."""
    from packager.targets.targets import discover

    found = discover(source / "platform_targets")
    names = list(found) if wanted is None else wanted
    unknown = [n for n in names if n not in found]
    if unknown:
        raise PackError(f"no target {', '.join(unknown)} to bundle (known: {', '.join(found)})")
    record: dict[str, Any] = {"targets": {}}
    for name in names:
        built = build(found[name])
        out = dest / "runtimes" / name
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, out)
        out.chmod(0o755)
        record["targets"][name] = {"file": f"runtimes/{name}", "sha256": _sha256(out),
                                   "size": out.stat().st_size, "built_from": "litebox-pack sources",
                                   "rustc": toolchain.get("rustc", "absent"),
                                   "cargo": toolchain.get("cargo", "absent"),
                                   "cargo_lock_sha256": toolchain.get("cargo_lock_sha256", "absent")}
    (dest / RECORD).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return record


WHEEL_TARGETS_ENV = "LITEBOX_WHEEL_TARGETS"


def make_bundle(source: Path, dest: Path) -> dict[str, Any]:
    """Fills bundle ``dest`` from checkout ``source``: plugins, build graph, templates, and the
    runtime of every target (``$LITEBOX_WHEEL_TARGETS``, comma-separated, narrows the list),
    each built by its plugin from ``source`` as a checkout pack would build it; prebuilt
    runtimes named by LITEBOX_RUNTIME_* variables are ignored. Returns the runtime record."""
    import os
    import sys
    import tempfile

    from packager.build.progress import Progress
    from packager.build.toolchain import toolchain_info
    from packager.targets.targetapi import BuildContext
    from packager.targets.targets import default_options

    if dest.exists():
        shutil.rmtree(dest)
    copy_plugins(source, dest)
    for name in [k for k in os.environ if k.startswith("LITEBOX_RUNTIME")]:
        del os.environ[name]  # the bundle is built from the sources, never copied from elsewhere
    wanted_env = os.environ.get(WHEEL_TARGETS_ENV, "").strip()
    wanted = [n.strip() for n in wanted_env.split(",") if n.strip()] if wanted_env else None
    progress = Progress(sys.stderr, verbose=True)

    with tempfile.TemporaryDirectory(prefix="litebox-bundle-") as tmp:
        def build(target: Any) -> Path:
            progress.step(f"bundling the runtime of {target.name}")
            ctx = BuildContext(repo=source, state_dir=Path(tmp) / target.name, progress=progress,
                               options=default_options(target))
            ctx.state_dir.mkdir(parents=True, exist_ok=True)
            return target.plugin.build_runtime(ctx)

        return bundle_runtimes(source, dest, wanted, build, toolchain_info(source))
