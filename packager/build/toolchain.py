"""Versions of every tool that decides the artifact's bytes, for the manifest."""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
from pathlib import Path

from packager.errors import PackError


def _pkg_version(name: str) -> str:
    """The version ``importlib.metadata.version(name)`` gives, or ``absent``. The usual layout
    is read directly (``_dist_info_version``): importing importlib.metadata costs ~35 ms, a
    tenth of a warm re-pack; anything else is left to importlib.metadata."""
    version = _dist_info_version(name)
    if version is not None:
        return version
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def _dist_info_version(name: str) -> str | None:
    """The Version of the distribution importlib.metadata would find first for ``name``: the
    first ``NAME-*.dist-info`` or ``NAME-*.egg-info`` folder (names compared as it compares
    them) in the first sys.path folder holding one, in listing order; None when that cannot
    be told this simply (a zip or egg on sys.path before it, no such folder, no Version
    header), which leaves the answer to importlib.metadata."""
    import re
    import sys
    from importlib.machinery import PathFinder

    def normalize(n: str) -> str:
        return re.sub(r"[-_.]+", "-", n).lower().replace("-", "_")

    if any(hasattr(f, "find_distributions") and f is not PathFinder for f in sys.meta_path):
        return None  # another finder may answer first
    wanted = normalize(name)
    for entry in sys.path:
        root = entry or "."
        if not os.path.isdir(root):
            if os.path.exists(root):
                return None  # a zip file: importlib.metadata looks inside
            continue
        if os.path.basename(root).lower().endswith(".egg"):
            return None
        try:
            children = os.listdir(root)
        except OSError:
            continue
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")) and \
                    normalize(low.rpartition(".")[0].partition("-")[0]) == wanted:
                return _metadata_version(os.path.join(root, child))
    return None


def _metadata_version(info: str) -> str | None:
    """The Version header of a dist-info's METADATA (or an egg-info's PKG-INFO), or None."""
    for fname in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(info, fname), encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        return None  # the end of the headers
                    key, sep, value = line.partition(":")
                    if sep and key.lower() == "version" and value.strip():
                        return value.strip()
        except OSError:
            continue
        return None
    return None


PROBE_TIMEOUT = 60  # seconds for `rustc -V` and friends; a busy machine may be slow


class VersionProbes:
    """``TOOL -V`` probes started at once and left running (the pack does other work while
    they answer); ``answers`` collects them."""

    def __init__(self, argvs: list[list[str]]) -> None:
        self.argvs = argvs
        self.procs: list[subprocess.Popen[str] | None] = []
        try:
            for argv in argvs:
                if shutil.which(argv[0]) is None:
                    self.procs.append(None)
                    continue
                try:
                    self.procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                       text=True, stdin=subprocess.DEVNULL))
                except OSError as exc:
                    raise PackError(f"toolchain probe `{' '.join(argv)}` could not start: {exc.strerror}") from None
        except BaseException:
            self.close()
            raise

    def answers(self) -> list[str]:
        """Each tool's version line (``absent`` for a tool not installed); PackError as
        ``_command_versions`` says."""
        try:
            return [_answer(argv, proc) for argv, proc in zip(self.argvs, self.procs)]
        finally:
            self.close()

    def close(self) -> None:
        """Stops any probe still running."""
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


class KnownVersions:
    """Version lines already known (remembered by packager/build/probecache.py under an
    unchanged toolchain stamp), standing in for ``VersionProbes``: nothing is started."""

    def __init__(self, versions: list[str]) -> None:
        self.versions = list(versions)

    def answers(self) -> list[str]:
        """The known version lines, in the probes' order."""
        return list(self.versions)

    def close(self) -> None:
        """Nothing to stop."""


def _command_versions(argvs: list[list[str]]) -> list[str]:
    """Each tool's version line, the probes running side by side; ``absent`` only when a tool
    is not installed at all. A tool that is installed but fails, prints nothing or does not
    answer in time is a PackError: recording it as absent would make the manifest lie about
    what built the artifact."""
    return VersionProbes(argvs).answers()


def _answer(argv: list[str], proc: subprocess.Popen[str] | None) -> str:
    if proc is None:
        return "absent"
    shown = " ".join(argv)
    try:
        out, err = proc.communicate(timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise PackError(f"toolchain probe `{shown}` did not answer within {PROBE_TIMEOUT} s") from None
    version = out.strip()
    if proc.returncode != 0 or not version:
        tail = (err.strip().splitlines() or ["no output"])[-1]
        raise PackError(f"toolchain probe `{shown}` failed (exit {proc.returncode}): {tail}")
    return version


def _command_version(argv: list[str]) -> str:
    """The tool's version line (``_command_versions`` for one tool)."""
    return _command_versions([argv])[0]


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


RUST_PROBES = [["rustc", "-V"], ["cargo", "-V"]]


def start_probes() -> VersionProbes:
    """Starts the rustc and cargo version probes for ``toolchain_info``."""
    return VersionProbes(RUST_PROBES)


def toolchain_info(repo: Path, probes: VersionProbes | KnownVersions | None = None) -> dict[str, str]:
    """The toolchain record of the manifest: python, rustc -V, cargo -V, Cargo.lock sha256,
    and the versions of scons, lief, zstandard, pyelftools and capstone (the rewriter's
    decoder). ``probes`` are version probes already started (``start_probes``)."""
    rustc, cargo = (probes or start_probes()).answers()
    return {
        "python": platform.python_version(),
        "rustc": rustc,
        "cargo": cargo,
        "cargo_lock_sha256": file_sha256(repo / "Cargo.lock"),
        "scons": _scons_version(),
        "lief": _pkg_version("lief"),
        "zstandard": _pkg_version("zstandard"),
        "capstone": _pkg_version("capstone"),
        "pyelftools": _pkg_version("pyelftools"),
    }
