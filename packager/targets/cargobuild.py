"""Building a target's Rust runtime with cargo, the same way for every target plugin:
``cargo build --locked --release`` with paths remapped, so the bytes do not depend on where the
checkout or the cargo home live; or a prebuilt runtime (an environment variable or a
``[target.<name>].runtime`` option, decided by packager/targets/targetapi.py's CargoTarget)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from packager.build.probecache import ProbeCache, metadata_stamp, toolchain_stamp
from packager.errors import PackError
from packager.paths import display_path

SKIP_DIRS = {"target", ".git", "__pycache__"}
WORKSPACE_FILES = ("Cargo.toml", "Cargo.lock", "rust-toolchain", "rust-toolchain.toml",
                   ".cargo/config.toml", ".cargo/config")


def _walk(top: Path) -> list[Path]:
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        files.extend(Path(dirpath) / f for f in sorted(filenames))
    return files


METADATA_ARGV = ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"]
METADATA_TIMEOUT = 120  # seconds
METADATA_KEY = "cargo-metadata"  # its entry in packager/build/probecache.py's file


class CargoMetadata:
    """``cargo metadata --no-deps`` of one repository, asked at most once: started in the
    background by ``start`` (so the runtime's input list, wanted by every pack that builds a
    runtime from source, finds its answer ready instead of waiting ~60 ms for it) and parsed on
    first use. One pack owns one (packager/build/driver.py) and ends it with ``close``; nothing
    outlives the pack."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.proc: subprocess.Popen[str] | None = None
        self.answered = False
        self.answer: dict[str, Any] | None = None
        self.cache: ProbeCache | None = None
        self.stamp: dict[str, Any] | None = None  # taken before cargo was asked

    @classmethod
    def start(cls, repo: Path, cache: ProbeCache | None = None, ahead: bool = True) -> CargoMetadata:
        """A CargoMetadata already answered by ``cache`` when nothing its answer depends on
        changed (packager/build/probecache.py), else one whose ``cargo metadata`` is already
        running (when ``ahead`` and cargo and a Cargo.toml are there; otherwise it asks nothing
        until ``get``). A new answer is recorded in ``cache``."""
        meta = cls(repo)
        if cache is not None:
            recorded = cache.recorded(METADATA_KEY)
            stamp = metadata_stamp(repo, recorded if isinstance(recorded, dict) else {"packages": []},
                                   toolchain_stamp(repo))
            if stamp is not None and isinstance(recorded, dict) and cache.get(METADATA_KEY, stamp) is not None:
                meta.answered, meta.answer = True, recorded
                return meta
            meta.cache, meta.stamp = cache, stamp
        if ahead and shutil.which("cargo") is not None and (repo / "Cargo.toml").is_file():
            try:
                meta.proc = subprocess.Popen(METADATA_ARGV, cwd=repo, stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
            except OSError:
                meta.proc = None
        return meta

    def get(self) -> dict[str, Any] | None:
        """The parsed answer (the started process's, else asked now), or None when cargo fails."""
        if self.answered:
            return self.answer
        meta = None
        try:
            if self.proc is not None:
                try:
                    out, _ = self.proc.communicate(timeout=METADATA_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.close()
                    raise
                meta = json.loads(out) if self.proc.returncode == 0 else None
            else:
                proc = subprocess.run(METADATA_ARGV, cwd=self.repo, capture_output=True, text=True, check=False,
                                      timeout=METADATA_TIMEOUT)
                meta = json.loads(proc.stdout) if proc.returncode == 0 else None
        except (OSError, ValueError, subprocess.TimeoutExpired):
            meta = None
        self.answered = True
        self.answer = meta if isinstance(meta, dict) else None
        if self.cache is not None and self.answer is not None:
            self._remember(self.cache, self.answer)
        return self.answer

    def _remember(self, cache: ProbeCache, answer: dict[str, Any]) -> None:
        """Records ``answer`` under the stamp taken before cargo was asked when that stamp
        covers every manifest the answer lists; otherwise under no stamp (the next pack asks
        again, and then knows which manifests to stamp)."""
        stamp = self.stamp
        listed = sorted({str(p.get("manifest_path")) for p in answer.get("packages", []) if isinstance(p, dict)})
        if stamp is None or not set(listed) <= set(stamp["files"]):
            cache.put(METADATA_KEY, None, answer)
            return
        cache.put(METADATA_KEY, stamp, answer)

    def close(self) -> None:
        """Stops a ``cargo metadata`` still running (a prefetch never used) and reaps it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> CargoMetadata:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def crate_dirs(repo: Path, package: str, metadata: CargoMetadata | None = None) -> list[Path] | None:
    """The directories of ``package`` and of every path dependency it needs to build (normal
    and build dependencies, transitively), from ``cargo metadata --no-deps`` (``metadata``'s
    answer when the caller started one for ``repo``); None when cargo cannot say (no cargo, a
    broken manifest, an unknown package)."""
    if shutil.which("cargo") is None:
        return None
    if metadata is None:
        with CargoMetadata(repo) as asked:
            meta = asked.get()
    else:
        meta = metadata.get()
    if not meta:
        return None
    by_name = {p["name"]: p for p in meta.get("packages", [])}
    if package not in by_name:
        return None
    dirs: list[Path] = []
    todo = [Path(by_name[package]["manifest_path"]).parent]
    while todo:
        d = todo.pop()
        if d in dirs:
            continue
        dirs.append(d)
        pkg = next((p for p in by_name.values() if Path(p["manifest_path"]).parent == d), None)
        for dep in pkg["dependencies"] if pkg else []:
            if dep.get("path") and dep.get("kind") in (None, "normal", "build"):
                todo.append(Path(dep["path"]))
    return sorted(dirs)


def runtime_inputs(repo: Path, package: str, metadata: CargoMetadata | None = None) -> list[Path]:
    """Every file whose content decides the bytes of ``package``: the workspace manifest, lock
    file and cargo config, and all files of the package and of each path dependency it has
    (``cargo metadata``, so a new shared crate is never missed; ``metadata`` when the caller
    started it ahead), in a stable order. Without cargo metadata: all of core/ and of every
    platform_targets/*/runtime/."""
    files = [repo / name for name in WORKSPACE_FILES if (repo / name).is_file()]
    dirs = crate_dirs(repo, package, metadata)
    if dirs is None:
        dirs = [repo / "core", *sorted((repo / "platform_targets").glob("*/runtime"))]
    for top in dirs:
        files.extend(_walk(top))
    return files


def cargo_home() -> str:
    """cargo's home directory: $CARGO_HOME, else ~/.cargo."""
    return os.environ.get("CARGO_HOME") or str(Path.home() / ".cargo")


def cargo_env(repo: Path) -> dict[str, str]:
    """cargo's environment: paths remapped, no colour, no inherited encoded RUSTFLAGS."""
    env = dict(os.environ)
    env["RUSTFLAGS"] = f"--remap-path-prefix={repo}=/litebox --remap-path-prefix={cargo_home()}=/cargo"
    env["CARGO_TERM_COLOR"] = "never"
    env.pop("CARGO_ENCODED_RUSTFLAGS", None)
    return env


def build(ctx: Any, package: str, what: str, prebuilt: tuple[str, str] | None = None,
          target_dir: Path | None = None, cargo_target: str | None = None) -> Path:
    """Builds executable ``package`` (``what`` names it in messages, e.g. "the kvm kernel") for
    ``cargo_target`` (a triple or a target-spec file; None: the host) and returns its path; or
    the prebuilt file ``prebuilt`` = (where it was named, path) names. Errors are one line with
    cargo's first diagnostics."""
    if prebuilt is not None:
        named, value = prebuilt
        path = Path(value)
        if not path.is_file():
            raise PackError(f"{named}: no such file")
        ctx.progress.detail(f"using prebuilt {what} {value}")
        return path
    if shutil.which("cargo") is None:
        raise PackError(f"cargo not found: {what} is built from source with cargo "
                        "(install Rust, or see `litebox targets`)")
    argv = ["cargo", "build", "--locked", "--release", "-p", package]
    if target_dir is not None:
        argv += ["--target-dir", str(target_dir)]
    if cargo_target is not None:
        argv += ["--target", cargo_target]
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
    out_dir = target_dir or ctx.repo / "target"
    if cargo_target is not None:  # a spec file "x/foo.json" builds into target/foo/
        out_dir = out_dir / (Path(cargo_target).stem if cargo_target.endswith(".json") else cargo_target)
    path = Path(executable) if executable else out_dir / "release" / package
    if not path.is_file():
        raise PackError(f"cargo finished but {what} {display_path(path)} does not exist")
    return path
