"""Target plugin: linux-userland — a static Linux ELF executable that runs the app under the
library OS in-process, confined by seccomp.

The runtime is the Rust package ``litebox-runtime-linux-userland``, built with
``cargo build --locked --release`` and paths remapped; the artifact is that executable with
the image and the manifest added as non-allocated ELF sections (packager/build/artifact.py).
``[target.linux-userland] runtime = "path"`` in litebox.toml (or, overriding it,
LITEBOX_RUNTIME_LINUX_USERLAND=/path/to/runtime) uses a prebuilt runtime instead.
"""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

from packager.build.artifact import write_elf_artifact
from packager.errors import PackError
from packager.paths import display_path
from packager.targets.hostprobe import landlock_check, netns_check, userns_check
from packager.targets.targetapi import BuildContext, Capabilities, CargoTarget, Check, OptionSpec

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
OVERRIDE_ENV = "LITEBOX_RUNTIME_LINUX_USERLAND"


def _seccomp() -> tuple[bool, str]:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Seccomp:"):
                return True, "the kernel supports seccomp filters"
    except OSError as exc:
        return False, f"cannot read /proc/self/status: {exc.strerror}"
    return False, "kernel built without seccomp (no Seccomp: line in /proc/self/status)"


def _check() -> list[tuple[str, bool, str, bool]]:
    """The doctor checklist: can this machine build and run linux-userland artifacts, and
    which enforcement layers will the runtime find (seccomp always; Landlock and user
    namespaces when present, so those two are optional items)?"""
    items: list[tuple[str, bool, str, bool]] = []
    machine = platform.machine()
    items.append(("x86-64 Linux host", platform.system() == "Linux" and machine in ("x86_64", "AMD64"),
                  f"{platform.system()} {machine}", True))
    ok, detail = _seccomp()
    items.append(("seccomp", ok, detail + ("; the runtime always uses it: interception of the app's syscalls "
                                           "and the allow-list for its own host calls" if ok else ""), True))
    ok, detail = landlock_check()
    items.append(("Landlock", ok, detail, False))
    name, ok, detail = userns_check()
    items.append((name, ok, detail, False))
    ok, detail = netns_check()
    items.append(("network namespace", ok, detail, False))
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        items.append(("prebuilt runtime", Path(override).is_file(), f"{OVERRIDE_ENV}={override}", True))
    else:
        cargo = shutil.which("cargo")
        items.append(("cargo", cargo is not None,
                      cargo or "not found: install Rust (rustup.rs) or Debian's cargo package", True))
        rustc = shutil.which("rustc")
        items.append(("rustc", rustc is not None, rustc or "not found: install Rust", True))
        src = RUNTIME_DIR / "Cargo.toml"
        items.append(("runtime sources", src.is_file(), display_path(src), True))
    try:
        import lief

        items.append(("LIEF", True, f"lief {getattr(lief, '__version__', '?')}", True))
    except ImportError:
        items.append(("LIEF", False, "not importable: pip install lief", True))
    return items


class Plugin(CargoTarget):
    """linux-userland: the runtime executable with the image and manifest as ELF sections."""

    name = "linux-userland"
    description = ("static x86-64 Linux executable; the app's syscalls are served in-process, "
                   "host access through a seccomp allow-list, namespaces and a supervisor that holds the policy")
    # The runtime has a fast-path entry (.litebox.fastpath): packing rewrites syscall sites to it.
    capabilities = Capabilities(artifact_kind="elf-executable", rewrites=True,
                                rewrite_entry=".litebox.fastpath", trace_learn=True)
    options = (OptionSpec("runtime", "path", "a prebuilt runtime executable to use instead of building "
                          "it with cargo", env=OVERRIDE_ENV),)
    package = "litebox-runtime-linux-userland"
    what = "the linux-userland runtime"
    override_env = OVERRIDE_ENV

    def checks(self) -> list[Check]:
        """The doctor checklist: can this machine build and run linux-userland artifacts, and
        which enforcement layers will the runtime find (seccomp always; Landlock and user
        namespaces when present, so those are optional items)?"""
        return [Check(*row) for row in _check()]

    def assemble(self, ctx: BuildContext, runtime: Path, image: bytes, manifest: bytes, out: Path) -> None:
        """Writes the artifact: the runtime plus sections .litebox.image and .litebox.manifest."""
        write_elf_artifact(runtime, image, manifest, out)

    def assemble_file(self, ctx: BuildContext, runtime: Path, image: Path, manifest: bytes, out: Path) -> None:
        """``assemble`` streaming the image from its file (memory stays flat whatever its size)."""
        write_elf_artifact(runtime, image, manifest, out)

    def run(self, artifact: Path, args: list[str], env: dict[str, str] | None = None, wait: bool = False) -> int:
        """Runs the artifact with ``env`` (default: ours). Without ``wait`` it replaces this
        process (its exit status becomes ours); with ``wait`` it runs as a child and its exit
        status is returned (128 + N when signal N ended it)."""
        path = str(artifact if artifact.is_absolute() or "/" in str(artifact) else Path(".") / artifact)
        environ = dict(os.environ) if env is None else env
        try:
            if not wait:
                os.execve(path, [path, *args], environ)
            proc = subprocess.run([path, *args], env=environ, check=False)
        except OSError as exc:
            raise PackError(f"{display_path(artifact)}: cannot execute: {exc.strerror}") from None
        return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
