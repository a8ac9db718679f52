"""Building a target's Rust runtime with cargo, the same way for every target plugin:
``cargo build --locked --release`` with paths remapped, so the bytes do not depend on where the
checkout or the cargo home live; or a prebuilt runtime named by an environment variable."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from packager.errors import PackError
from packager.paths import display_path

SKIP_DIRS = {"target", ".git", "__pycache__"}
WORKSPACE_FILES = ("Cargo.toml", "Cargo.lock", "rust-toolchain", "rust-toolchain.toml",
                   ".cargo/config.toml", ".cargo/config")


def runtime_inputs(repo: Path, runtime_dir: Path, override_env: str) -> list[Path]:
    """Every file whose content decides the runtime's bytes: the workspace manifest and lock
    file, cargo config, and all files under core/ and ``runtime_dir``, in a stable order; or
    just the prebuilt runtime when ``override_env`` names one."""
    override = os.environ.get(override_env)
    if override:
        return [Path(override).resolve()]
    files = [repo / name for name in WORKSPACE_FILES if (repo / name).is_file()]
    for top in (repo / "core", runtime_dir):
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            files.extend(Path(dirpath) / f for f in sorted(filenames))
    return files


def cargo_env(repo: Path) -> dict[str, str]:
    """cargo's environment: paths remapped, no colour, no inherited encoded RUSTFLAGS."""
    cargo_home = os.environ.get("CARGO_HOME") or str(Path.home() / ".cargo")
    env = dict(os.environ)
    env["RUSTFLAGS"] = f"--remap-path-prefix={repo}=/litebox --remap-path-prefix={cargo_home}=/cargo"
    env["CARGO_TERM_COLOR"] = "never"
    env.pop("CARGO_ENCODED_RUSTFLAGS", None)
    return env


def build(ctx: Any, package: str, what: str, override_env: str, target_dir: Path | None = None) -> Path:
    """Builds executable ``package`` (``what`` names it in messages, e.g. "the kvm kernel") and
    returns its path, or the prebuilt file ``override_env`` names. Errors are one line with
    cargo's first diagnostics."""
    override = os.environ.get(override_env)
    if override:
        path = Path(override)
        if not path.is_file():
            raise PackError(f"{override_env}={override}: no such file")
        ctx.progress.detail(f"using prebuilt {what} {override}")
        return path
    if shutil.which("cargo") is None:
        raise PackError(f"cargo not found: {what} is built from source with cargo "
                        "(install Rust, or see `litebox targets`)")
    argv = ["cargo", "build", "--locked", "--release", "-p", package]
    if target_dir is not None:
        argv += ["--target-dir", str(target_dir)]
    argv.append("--message-format=json-render-diagnostics")
    ctx.progress.step(f"building {what} (cargo build --locked --release)")
    result = ctx.progress.run(argv, "cargo", cwd=ctx.repo, env=cargo_env(ctx.repo), capture_stdout=True)
    if result.returncode != 0:
        lines = result.error_lines or [line.strip() for line in result.stderr_tail[-6:] if line.strip()]
        raise PackError(f"cargo build of {what} failed (exit {result.returncode}): "
                        + " | ".join(lines) + " (run with -v for cargo's full output)")
    executable = None
    for line in result.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") and \
                msg.get("target", {}).get("name") == package:
            executable = msg["executable"]
    path = Path(executable) if executable else (target_dir or ctx.repo / "target") / "release" / package
    if not path.is_file():
        raise PackError(f"cargo finished but {what} {display_path(path)} does not exist")
    return path
