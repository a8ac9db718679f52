"""Versions of every tool that decides the artifact's bytes, for the manifest."""
from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path


def _pkg_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def _command_version(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return "absent"
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return "absent"
    return out.stdout.strip() or "absent"


def _scons_version() -> str:
    version = _pkg_version("SCons")
    if version == "absent":
        try:
            import SCons

            return str(SCons.__version__)
        except ImportError:
            return "absent"
    return version


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file's bytes, or ``absent`` if it cannot be read."""
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    except OSError:
        return "absent"


def toolchain_info(repo: Path) -> dict[str, str]:
    """The toolchain record of the manifest: python, rustc -V, cargo -V, Cargo.lock sha256,
    and the versions of scons, lief, zstandard, pyelftools and capstone (the rewriter's decoder)."""
    return {
        "python": platform.python_version(),
        "rustc": _command_version(["rustc", "-V"]),
        "cargo": _command_version(["cargo", "-V"]),
        "cargo_lock_sha256": file_sha256(repo / "Cargo.lock"),
        "scons": _scons_version(),
        "lief": _pkg_version("lief"),
        "zstandard": _pkg_version("zstandard"),
        "capstone": _pkg_version("capstone"),
        "pyelftools": _pkg_version("pyelftools"),
    }
