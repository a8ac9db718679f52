"""Target plugin: kvm — a bootable x86-64 micro-VM image: the LiteBox kernel (PVH entry, ring 0)
with the image loaded beside it; the app runs in ring 3 and its syscalls are served by the
same library OS as on linux-userland.

The runtime is the Rust package ``litebox-runtime-kvm`` (a freestanding kernel ELF), built with
``cargo build --locked --release`` into its own target directory, paths remapped. The artifact
is written by ``pvh_elf.py`` (no LIEF); ``litebox run`` boots it with QEMU ``-M microvm``
(``qemu.py``). Set LITEBOX_RUNTIME_KVM=/path/to/kernel to use a prebuilt kernel.
"""
from __future__ import annotations

import importlib.util
import json
import os
import platform
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from packager.artifact import atomic_output, read_sections
from packager.errors import PackError
from packager.paths import display_path

TARGET = "kvm"
DESCRIPTION = ("bootable x86-64 micro-VM (ELF with a PVH entry): the app in ring 3 over the library OS "
               "in ring 0; `litebox run` boots it in QEMU -M microvm")
PACKAGE = "litebox-runtime-kvm"
HERE = Path(__file__).resolve().parent
RUNTIME_DIR = HERE / "runtime"
OVERRIDE_ENV = "LITEBOX_RUNTIME_KVM"
SKIP_DIRS = {"target", ".git", "__pycache__"}


def _sibling(name: str) -> ModuleType:
    """Loads ``name``.py from this folder (plugins are loaded by path, not as a package)."""
    spec = importlib.util.spec_from_file_location(f"litebox_target_kvm_{name}", HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise PackError(f"{HERE / name}.py: cannot load")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


pvh_elf = _sibling("pvh_elf")
qemu = _sibling("qemu")


def check() -> list[tuple[str, bool, str]]:
    """The doctor checklist: can this machine build kvm artifacts, and boot them?"""
    items: list[tuple[str, bool, str]] = []
    machine = platform.machine()
    items.append(("x86-64 host", machine in ("x86_64", "AMD64"), f"{platform.system()} {machine}"))
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        items.append(("prebuilt kernel", Path(override).is_file(), f"{OVERRIDE_ENV}={override}"))
    else:
        cargo = shutil.which("cargo")
        items.append(("cargo", cargo is not None, cargo or "not found: install Rust"))
        src = RUNTIME_DIR / "Cargo.toml"
        items.append(("kernel sources", src.is_file(), display_path(src)))
    exe = qemu.qemu_path()
    items.append(("qemu-system-x86_64 (to run)", exe is not None,
                  f"{exe} ({qemu.qemu_version()})" if exe else
                  "not found: apt-get install qemu-system-x86 (needed by `litebox run` only)"))
    accel, why = qemu.choose_accel(None)
    items.append(("acceleration", True, f"{accel}: {why}"))
    return items


def runtime_inputs(repo: Path) -> list[Path]:
    """Every file whose content decides the kernel's bytes: the workspace manifest and lock
    file, cargo config, and all files under core/ and this target's runtime/."""
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        return [Path(override).resolve()]
    files: list[Path] = []
    for name in ("Cargo.toml", "Cargo.lock", "rust-toolchain", "rust-toolchain.toml",
                 ".cargo/config.toml", ".cargo/config"):
        if (repo / name).is_file():
            files.append(repo / name)
    for top in (repo / "core", RUNTIME_DIR):
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            files.extend(Path(dirpath) / f for f in sorted(filenames))
    return files


def cargo_env(repo: Path) -> dict[str, str]:
    """cargo's environment: paths remapped (the kernel's bytes do not depend on where the
    checkout or cargo home live), no colour."""
    cargo_home = os.environ.get("CARGO_HOME") or str(Path.home() / ".cargo")
    env = dict(os.environ)
    env["RUSTFLAGS"] = f"--remap-path-prefix={repo}=/litebox --remap-path-prefix={cargo_home}=/cargo"
    env["CARGO_TERM_COLOR"] = "never"
    env.pop("CARGO_ENCODED_RUSTFLAGS", None)
    return env


def build_runtime(ctx: Any) -> Path:
    """Builds the kernel (cargo --locked --release, own target directory) and returns its path;
    or the prebuilt kernel named by LITEBOX_RUNTIME_KVM."""
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise PackError(f"{OVERRIDE_ENV}={override}: no such file")
        return path
    if shutil.which("cargo") is None:
        raise PackError("cargo not found: the kvm kernel is built from source with cargo")
    target_dir = ctx.repo / "target" / "kvm"
    argv = ["cargo", "build", "--locked", "--release", "-p", PACKAGE, "--target-dir", str(target_dir),
            "--message-format=json-render-diagnostics"]
    ctx.progress.step(f"building the {TARGET} kernel (cargo build --locked --release)")
    result = ctx.progress.run(argv, "cargo", cwd=ctx.repo, env=cargo_env(ctx.repo), capture_stdout=True)
    if result.returncode != 0:
        lines = result.error_lines or [line.strip() for line in result.stderr_tail[-6:] if line.strip()]
        raise PackError(f"cargo build of the {TARGET} kernel failed (exit {result.returncode}): "
                        + " | ".join(lines) + " (run with -v for cargo's full output)")
    executable = None
    for line in result.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and \
                msg.get("target", {}).get("name") == PACKAGE:
            executable = msg["executable"]
    path = Path(executable) if executable else target_dir / "release" / PACKAGE
    if not path.is_file():
        raise PackError(f"cargo finished but the kernel {display_path(path)} does not exist")
    return path


def assemble(ctx: Any, runtime: Path, image: bytes, manifest: bytes, out: Path) -> None:
    """Writes the artifact: the kernel with the image as a loaded segment (and section) and the
    manifest section; checked by re-reading before it is renamed into place."""
    try:
        data = pvh_elf.build(runtime.read_bytes(), image, manifest)
    except pvh_elf.KernelError as exc:
        raise PackError(f"{display_path(runtime)}: {exc}") from None
    found = read_sections(data)
    if found.get(pvh_elf.IMAGE_SECTION) != image or found.get(pvh_elf.MANIFEST_SECTION) != manifest:
        raise PackError("the kvm artifact does not read back the image and manifest it was given")
    with atomic_output(out) as tmp:
        tmp.write_bytes(data)


def _app_env(artifact: Path) -> dict[str, str]:
    """The host variables the image's policy lets in (ENV_PASS names; all with ENV_INHERIT)."""
    from packager.imagereader import read_image

    try:
        blob = read_sections(artifact.read_bytes(), (pvh_elf.IMAGE_SECTION,))[pvh_elf.IMAGE_SECTION]
        launch = read_image(blob).launch
    except Exception:  # a damaged image is for the kernel to refuse, with its own exit code
        return {}
    if launch.env_inherit:
        return dict(os.environ)
    return {k: os.environ[k] for k in launch.env_pass if k in os.environ}


def run(artifact: Path, args: list[str]) -> int:
    """Boots the artifact in QEMU (-M microvm; TCG unless a KVM probe boot succeeded) and
    returns the app's exit status."""
    if qemu.qemu_path() is None:
        raise PackError("qemu-system-x86_64 not found: apt-get install qemu-system-x86 "
                        "(see `litebox targets`)")
    if not artifact.is_file():
        raise PackError(f"{display_path(artifact)}: no such file")
    return qemu.run(artifact, args, _app_env(artifact))
