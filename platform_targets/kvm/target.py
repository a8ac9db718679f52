"""Target plugin: kvm — a bootable x86-64 micro-VM image: the LiteBox kernel (PVH entry, ring 0)
with the image loaded beside it; the app runs in ring 3 and its syscalls are served by the
same library OS as on linux-userland.

The runtime is the Rust package ``litebox-runtime-kvm`` (a freestanding kernel ELF), built with
``cargo build --locked --release`` into its own target directory, paths remapped. The artifact
is written by ``pvh_elf.py`` (no LIEF); ``litebox run`` boots it with QEMU ``-M microvm``
(``qemu.py``). ``[target.kvm] runtime = "path"`` in litebox.toml (or, overriding it,
LITEBOX_RUNTIME_KVM=/path/to/kernel) uses a prebuilt kernel instead.
"""
from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from packager.build.artifact import atomic_output, read_sections
from packager.errors import PackError
from packager.paths import display_path
from packager.targets.targetapi import BuildContext, Capabilities, CargoTarget, Check, OptionSpec

HERE = Path(__file__).resolve().parent
RUNTIME_DIR = HERE / "runtime"
OVERRIDE_ENV = "LITEBOX_RUNTIME_KVM"


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
chunkcheck = _sibling("chunkcheck")


def _check() -> list[tuple[str, bool, str]]:
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
                  qemu.qemu_description(exe) if exe else
                  f"{qemu.qemu_missing()}; needed by `litebox run` only"))
    accel, why = qemu.choose_accel(None)
    items.append(("acceleration", True, f"{accel}: {why}"))
    return items


def _image(artifact: Path) -> Any:
    """The artifact's image (``packager.image.imagereader.Image``), or None if it cannot be
    read (a damaged image is for the kernel to refuse, with its own exit code)."""
    from packager.image.imagereader import read_image

    try:
        blob = read_sections(artifact.read_bytes(), (pvh_elf.IMAGE_SECTION,))[pvh_elf.IMAGE_SECTION]
        image = read_image(blob)
        image.launch  # noqa: B018 - decoded now: a bad launch config means no image
        return image
    except Exception:
        return None


class Plugin(CargoTarget):
    """kvm: the kernel with the image as a loaded segment; booted by QEMU -M microvm."""

    name = "kvm"
    description = ("bootable x86-64 micro-VM (ELF with a PVH entry): the app in ring 3 over the library OS "
                   "in ring 0; `litebox run` boots it in QEMU -M microvm")
    # The app's `syscall` enters the kernel directly: no fast path, no rewriting; the runner
    # boots a VM and cannot pass LITEBOX_TRACE/LITEBOX_LEARN through.
    capabilities = Capabilities(artifact_kind="pvh-elf", rewrites=False, trace_learn=False)
    options = (OptionSpec("runtime", "path", "a prebuilt kernel (ELF with a PVH entry note) to use instead "
                          "of building it with cargo", env=OVERRIDE_ENV),)
    package = "litebox-runtime-kvm"
    what = "the kvm kernel"
    override_env = OVERRIDE_ENV
    target_dir = "target/kvm"

    def checks(self) -> list[Check]:
        """The doctor checklist: can this machine build kvm artifacts, and boot them?"""
        return [Check(*row) for row in _check()]

    def assemble(self, ctx: BuildContext, runtime: Path, image: bytes, manifest: bytes, out: Path) -> None:
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

    def run(self, artifact: Path, args: list[str], env: dict[str, str] | None = None,
            wait: bool = False) -> int:
        """Boots the artifact in QEMU (-M microvm; TCG unless a KVM probe boot succeeded) and
        returns the app's exit status."""
        if qemu.qemu_path() is None:
            raise PackError(f"qemu-system-x86_64: {qemu.qemu_missing()} (see `litebox targets`)")
        if not artifact.is_file():
            raise PackError(f"{display_path(artifact)}: no such file")
        image = _image(artifact)
        launch = image.launch if image is not None else None
        # read_image checked the root digest and every table page; chunks_match the chunks.
        checked = image is not None and chunkcheck.chunks_match(image)
        return qemu.run(artifact, args, qemu.app_env(launch), qemu.launch_net_plan(launch), image_checked=checked)
