"""Target plugin: linux-userland — a static Linux ELF executable that runs the app under the
library OS in-process, confined by seccomp.

The runtime is the Rust package ``litebox-runtime-linux-userland``, built with
``cargo build --locked --release`` and paths remapped; the artifact is that executable with
the image and the manifest added as non-allocated ELF sections (packager/artifact.py).
Set LITEBOX_RUNTIME_LINUX_USERLAND=/path/to/runtime to use a prebuilt runtime instead.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from packager.artifact import write_elf_artifact
from packager.errors import PackError
from packager.paths import display_path

TARGET = "linux-userland"
DESCRIPTION = ("static x86-64 Linux executable; the app's syscalls are served in-process, "
               "host access through a seccomp allow-list")
PACKAGE = "litebox-runtime-linux-userland"
RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
OVERRIDE_ENV = "LITEBOX_RUNTIME_LINUX_USERLAND"
# The runtime has a fast-path entry (.litebox.fastpath): packing rewrites syscall sites to it.
SYSCALL_REWRITE = True
SKIP_DIRS = {"target", ".git", "__pycache__"}


def _seccomp() -> tuple[bool, str]:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Seccomp:"):
                return True, "the kernel supports seccomp filters"
    except OSError as exc:
        return False, f"cannot read /proc/self/status: {exc.strerror}"
    return False, "kernel built without seccomp (no Seccomp: line in /proc/self/status)"


def check() -> list[tuple[str, bool, str]]:
    """The doctor checklist: can this machine build and run linux-userland artifacts?"""
    items: list[tuple[str, bool, str]] = []
    machine = platform.machine()
    items.append(("x86-64 Linux host", platform.system() == "Linux" and machine in ("x86_64", "AMD64"),
                  f"{platform.system()} {machine}"))
    ok, detail = _seccomp()
    items.append(("seccomp", ok, detail))
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        items.append(("prebuilt runtime", Path(override).is_file(), f"{OVERRIDE_ENV}={override}"))
    else:
        cargo = shutil.which("cargo")
        items.append(("cargo", cargo is not None,
                      cargo or "not found: install Rust (rustup.rs) or Debian's cargo package"))
        rustc = shutil.which("rustc")
        items.append(("rustc", rustc is not None, rustc or "not found: install Rust"))
        src = RUNTIME_DIR / "Cargo.toml"
        items.append(("runtime sources", src.is_file(), display_path(src)))
    try:
        import lief

        items.append(("LIEF", True, f"lief {getattr(lief, '__version__', '?')}"))
    except ImportError:
        items.append(("LIEF", False, "not importable: pip install lief"))
    return items


def runtime_inputs(repo: Path) -> list[Path]:
    """Every file whose content decides the runtime's bytes: the workspace manifest and lock
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
    """The environment cargo runs with: paths remapped so the runtime's bytes do not depend
    on where the checkout or the cargo home live, no colour."""
    cargo_home = os.environ.get("CARGO_HOME") or str(Path.home() / ".cargo")
    env = dict(os.environ)
    env["RUSTFLAGS"] = f"--remap-path-prefix={repo}=/litebox --remap-path-prefix={cargo_home}=/cargo"
    env["CARGO_TERM_COLOR"] = "never"
    env.pop("CARGO_ENCODED_RUSTFLAGS", None)
    return env


def build_runtime(ctx: Any) -> Path:
    """Builds the runtime with cargo (--locked --release, paths remapped) and returns the
    executable's path; or the prebuilt runtime named by LITEBOX_RUNTIME_LINUX_USERLAND."""
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise PackError(f"{OVERRIDE_ENV}={override}: no such file")
        ctx.progress.detail(f"using prebuilt runtime {override}")
        return path
    if shutil.which("cargo") is None:
        raise PackError("cargo not found: the linux-userland runtime is built from source with "
                        "cargo (install Rust, or see `litebox targets`)")
    argv = ["cargo", "build", "--locked", "--release", "-p", PACKAGE,
            "--message-format=json-render-diagnostics"]
    ctx.progress.step(f"building the {TARGET} runtime (cargo build --locked --release)")
    result = ctx.progress.run(argv, "cargo", cwd=ctx.repo, env=cargo_env(ctx.repo), capture_stdout=True)
    if result.returncode != 0:
        lines = result.error_lines or [line.strip() for line in result.stderr_tail[-6:] if line.strip()]
        raise PackError(f"cargo build of the {TARGET} runtime failed (exit {result.returncode}): "
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
    path = Path(executable) if executable else ctx.repo / "target" / "release" / PACKAGE
    if not path.is_file():
        raise PackError(f"cargo finished but the runtime {display_path(path)} does not exist")
    return path


def assemble(ctx: Any, runtime: Path, image: bytes, manifest: bytes, out: Path) -> None:
    """Writes the artifact: the runtime plus sections .litebox.image and .litebox.manifest."""
    write_elf_artifact(runtime, image, manifest, out)


def run(artifact: Path, args: list[str]) -> int:
    """Runs the artifact in place of this process (its exit status becomes ours)."""
    path = str(artifact if artifact.is_absolute() or "/" in str(artifact) else Path(".") / artifact)
    try:
        os.execv(path, [path, *args])
    except OSError as exc:
        raise PackError(f"{display_path(artifact)}: cannot execute: {exc.strerror}") from None
    return 0  # not reached
