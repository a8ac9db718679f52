"""Versions of every tool that decides the artifact's bytes, for the manifest."""
from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from packager.errors import PackError


def _pkg_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


PROBE_TIMEOUT = 60  # seconds for `rustc -V` and friends; a busy machine may be slow


def _command_version(argv: list[str]) -> str:
    """The tool's version line; ``absent`` only when the tool is not installed at all. A tool
    that is installed but fails, prints nothing or does not answer in time is a PackError:
    recording it as absent would make the manifest lie about what built the artifact."""
    shown = " ".join(argv)
    if shutil.which(argv[0]) is None:
        return "absent"
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT, check=False,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise PackError(f"toolchain probe `{shown}` did not answer within {PROBE_TIMEOUT} s") from None
    except OSError as exc:
        raise PackError(f"toolchain probe `{shown}` could not start: {exc.strerror}") from None
    version = out.stdout.strip()
    if out.returncode != 0 or not version:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise PackError(f"toolchain probe `{shown}` failed (exit {out.returncode}): {tail}")
    return version


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
