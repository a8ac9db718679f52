"""Target plugin: windows — one PE32+ executable (``NAME-windows.exe``) that runs the Linux
x86-64 app on 64-bit Windows under the library OS, with no WSL, VM or installed runtime.

The runtime (``platform_targets/windows/runtime``, its own cargo workspace) is built for
``x86_64-pc-windows-gnu`` with Debian's rustc-web/cargo-web and ``-Zbuild-std=core,alloc``
(RUSTC_BOOTSTRAP=1) and linked by mingw-w64; the artifact is that executable with the image and
the manifest as two more PE sections (pe_artifact.py). Windows has no seccomp and no syscall
trap a program can catch portably, so every syscall site of the app must be rewritten at pack
time: a site the rewriter cannot move is a pack-time error naming the file and the address.
``litebox run`` uses Wine on Linux. See docs/targets/windows.md.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

from packager.errors import PackError
from packager.paths import display_path
from packager.targets.targetapi import BuildContext, Capabilities, Check, OptionSpec, TargetPlugin

HERE = Path(__file__).resolve().parent
RUNTIME_DIR = HERE / "runtime"
OVERRIDE_ENV = "LITEBOX_RUNTIME_WINDOWS"
TRIPLE = "x86_64-pc-windows-gnu"
PACKAGE = "litebox-runtime-windows"
# Debian's rustc-web/cargo-web: the only toolchain here whose std sources allow -Zbuild-std.
DEBIAN_CARGO = "/usr/bin/cargo"
DEBIAN_RUSTC = "/usr/bin/rustc"
STD_SOURCES = Path("/usr/lib/rustlib/src/rust/library")
MINGW_GCC = "x86_64-w64-mingw32-gcc"
CORE_CRATES = ("core/image", "core/libos", "core/rt")
SKIP_DIRS = {"target", ".git", "__pycache__"}
# Under Wine, the range non-PIE Linux programs are linked at (0x400000 up) is kept out of
# Wine's own early allocations (its NLS tables land at 0x740000 otherwise), so a program like
# Debian's python3.11 (0x400000-0x9f0000) can be loaded there. Windows itself leaves it free.
WINE_LOW_RESERVE = "400000-10000000"


def _helper(name: str) -> ModuleType:
    """A module of this folder (plugins are loaded by path, not as a package)."""
    spec = importlib.util.spec_from_file_location(f"litebox_target_windows_{name}", HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise PackError(f"{HERE / name}.py: cannot load")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def wine_path() -> str | None:
    """The wine64 loader: on PATH, or where Debian's wine64 package puts it."""
    for name in ("wine64", "wine"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/lib/wine/wine64" if Path("/usr/lib/wine/wine64").is_file() else None


def _walk(top: Path) -> list[Path]:
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        files.extend(Path(dirpath) / f for f in sorted(filenames))
    return files


# The rewriter's reason for a "syscall" its linear sweep decoded right after bytes it could not
# read: almost always data in a code section (OpenSSL's precomputed tables, for one), not code.
UNSURE = "near undecodable bytes"


def unrewritten_sites(manifest: dict[str, Any], project: Path | None) -> tuple[list[str], list[str]]:
    """(errors, warnings): one line per ELF file of the image with syscall sites the rewriter
    left alone, naming the file and the addresses (found again from the input when the manifest
    says where it came from). Sites the decoder was not sure are instructions at all (UNSURE)
    are warnings; every other one is an error."""
    from packager.image.rewrite import rewrite

    rw = manifest.get("rewrite", {})
    errors: list[str] = []
    warnings: list[str] = []
    hosts = {i.get("image_path"): i.get("host_path") for i in manifest.get("inputs", []) if isinstance(i, dict)}
    for path, facts in sorted(rw.get("files", {}).items()):
        if not facts.get("trapped"):
            continue
        reasons: dict[str, int] = facts.get("trapped_reasons", {})
        sure = {k: v for k, v in reasons.items() if k != UNSURE}
        addrs: dict[bool, list[str]] = {True: [], False: []}
        host = hosts.get(path)
        if host is not None:
            src = Path(host) if Path(host).is_absolute() or project is None else project / host
            try:
                for site in rewrite(src.read_bytes(), int(rw["entry"], 16)).sites:
                    if site.status != "rewritten":
                        addrs[site.status != UNSURE].append(f"{site.addr:#x}")
            except Exception:  # noqa: BLE001 — the counts alone still name the file
                pass

        def at(found: list[str]) -> str:
            return (" at " + ", ".join(found[:8]) + (" ..." if len(found) > 8 else "")) if found else ""

        if sure:
            why = ", ".join(f"{k}: {v}" for k, v in sorted(sure.items()))
            errors.append(f"{path}: {sum(sure.values())} syscall site(s) cannot be rewritten{at(addrs[True])} ({why})")
        if reasons.get(UNSURE):
            warnings.append(f"{path}: {reasons[UNSURE]} \"syscall\" byte pair(s) among bytes that do not decode "
                            f"as code{at(addrs[False])} left as they are (data, or code the app must not reach "
                            "on windows)")
    return errors, warnings


def _run_forwarding_signals(argv: list[str], env: dict[str, str]) -> int:
    """Runs argv and waits for it; SIGINT, SIGTERM and SIGHUP this process gets meanwhile go on
    to it (when called from the main thread, where Python can take signals)."""
    import signal
    import threading

    proc = subprocess.Popen(argv, env=env)
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, lambda signum, _frame: proc.send_signal(signum))
    try:
        return proc.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Plugin(TargetPlugin):
    """windows: the runtime PE with the image and manifest as PE sections; run with Wine here."""

    name = "windows"
    description = ("64-bit Windows executable (PE32+); every syscall site rewritten at pack time, "
                   "the app confined to a job object; runs under Wine on Linux")
    capabilities = Capabilities(artifact_kind="pe32plus-executable", rewrites=True,
                                rewrite_entry=".litebox.fastpath", artifact_suffix=".exe")
    options = (OptionSpec("runtime", "path", "a prebuilt windows runtime (.exe) to use instead of building it",
                          env=OVERRIDE_ENV),)

    def checks(self) -> list[Check]:
        """Can this machine build windows artifacts (Debian's rustc-web with std sources,
        mingw-w64) and run them (Wine, optional)?"""
        items = []
        if os.environ.get(OVERRIDE_ENV):
            items.append(Check("prebuilt runtime", Path(os.environ[OVERRIDE_ENV]).is_file(),
                               f"{OVERRIDE_ENV}={os.environ[OVERRIDE_ENV]}"))
        else:
            items.append(Check("cargo-web (Debian)", Path(DEBIAN_CARGO).is_file(),
                               DEBIAN_CARGO if Path(DEBIAN_CARGO).is_file() else
                               "not found: apt-get install rustc-web cargo-web rust-web-src"))
            items.append(Check("Rust std sources (-Zbuild-std)", STD_SOURCES.is_dir(),
                               str(STD_SOURCES) if STD_SOURCES.is_dir() else "not found: apt-get install rust-web-src"))
            gcc = shutil.which(MINGW_GCC)
            items.append(Check("mingw-w64 linker", gcc is not None,
                               gcc or "not found: apt-get install gcc-mingw-w64-x86-64"))
        wine = wine_path()
        items.append(Check("Wine (to run artifacts on Linux)", wine is not None,
                           wine or "not found: apt-get install wine64 (only `litebox run` needs it)", required=False))
        return items

    def runtime_inputs(self, repo: Path, options: Mapping[str, Any]) -> list[Path]:
        """The prebuilt runtime, or every file of the runtime crate and of the core crates it uses."""
        prebuilt = options.get("runtime") or os.environ.get(OVERRIDE_ENV)
        if prebuilt:
            if not Path(prebuilt).is_file():
                raise PackError(f"windows runtime {prebuilt}: no such file")
            return [Path(prebuilt).resolve()]
        files = _walk(repo / "platform_targets" / "windows" / "runtime")
        for crate in CORE_CRATES:
            files.extend(_walk(repo / crate))
        files.append(repo / "Cargo.toml")  # the core crates inherit their package fields from it
        return files

    def runtime_key(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The prebuilt runtime (if any) and the cargo target."""
        return {"prebuilt": options.get("runtime") or os.environ.get(OVERRIDE_ENV), "cargo_target": TRIPLE}

    def toolchain(self, repo: Path) -> dict[str, str]:
        """Debian's rustc-web and cargo-web, and the runtime's own Cargo.lock, which build this
        runtime (not the rustc on PATH and the main workspace's lock); none for a prebuilt one."""
        if os.environ.get(OVERRIDE_ENV):
            return {}
        import hashlib

        def version(tool: str) -> str:
            try:
                return subprocess.run([tool, "-V"], capture_output=True, text=True, check=False,
                                      timeout=60).stdout.strip() or "unknown"
            except OSError:
                return "not found"

        lock = repo / "platform_targets" / "windows" / "runtime" / "Cargo.lock"
        return {"rustc": version(DEBIAN_RUSTC), "cargo": version(DEBIAN_CARGO),
                "cargo_lock_sha256": hashlib.sha256(lock.read_bytes()).hexdigest() if lock.is_file() else "none"}

    def build_runtime(self, ctx: BuildContext) -> Path:
        """cargo build --locked --release -Zbuild-std=core,alloc --target x86_64-pc-windows-gnu
        with Debian's cargo-web, in target/windows-runtime/ of the checkout; or the prebuilt."""
        from packager.targets.cargobuild import cargo_env

        prebuilt = os.environ.get(OVERRIDE_ENV) or ctx.options.get("runtime")
        if prebuilt:
            if not Path(prebuilt).is_file():
                raise PackError(f"windows runtime {prebuilt}: no such file")
            return Path(prebuilt)
        missing = [what for what, ok in (("cargo-web (apt-get install rustc-web cargo-web rust-web-src)",
                                          Path(DEBIAN_CARGO).is_file()),
                                         ("rust-web-src", STD_SOURCES.is_dir()),
                                         ("mingw-w64 (apt-get install gcc-mingw-w64-x86-64)",
                                          shutil.which(MINGW_GCC) is not None)) if not ok]
        if missing:
            raise PackError("cannot build the windows runtime: missing " + ", ".join(missing)
                            + " (./scripts/setup installs them)")
        target_dir = ctx.repo / "target" / "windows-runtime"
        env = cargo_env(ctx.repo)
        env.update({"RUSTC_BOOTSTRAP": "1", "RUSTC": DEBIAN_RUSTC, "CARGO_TARGET_DIR": str(target_dir)})
        argv = [DEBIAN_CARGO, "build", "--locked", "--release", "-Zbuild-std=core,alloc",
                "--target", TRIPLE, "--manifest-path", str(ctx.repo / "platform_targets/windows/runtime/Cargo.toml")]
        ctx.progress.step("building the windows runtime (cargo build -Zbuild-std, x86_64-pc-windows-gnu)")
        result = ctx.progress.run(argv, "cargo", cwd=ctx.repo, env=env, capture_stdout=True)
        if result.returncode != 0:
            lines = result.error_lines or [line.strip() for line in result.stderr_tail[-6:] if line.strip()]
            raise PackError(f"cargo build of the windows runtime failed (exit {result.returncode}): "
                            + " | ".join(lines) + " (run with -v for cargo's full output)")
        path = target_dir / TRIPLE / "release" / f"{PACKAGE}.exe"
        if not path.is_file():
            raise PackError(f"cargo finished but {display_path(path)} does not exist")
        return path

    def assemble(self, ctx: BuildContext, runtime: Path, image: bytes, manifest: bytes, out: Path) -> None:
        """Refuses an image with a syscall site that was not rewritten (the error names the file
        and the addresses), then writes the runtime with sections .lbximg and .lbxman."""
        m = json.loads(manifest)
        if not m.get("rewrite", {}).get("enabled"):
            raise PackError("the windows target needs pack-time syscall rewriting "
                            "(Windows cannot trap a Linux syscall): pack without --no-rewrite")
        project = Path(m.get("config", {}).get("project_dir", ".")) if isinstance(m.get("config"), dict) else None
        errors, warnings = unrewritten_sites(m, project)
        if errors:
            raise PackError("windows: every syscall site must be rewritten; " + "; ".join(errors))
        for line in warnings:
            ctx.progress.warn(f"windows: {line}")
        _helper("pe_artifact").write_pe_artifact(runtime, image, manifest, out)

    def run(self, artifact: Path, args: list[str], env: dict[str, str] | None = None,
            wait: bool = False) -> int:
        """Runs the artifact: natively on Windows; on Linux under Wine when it is installed,
        with WINEDEBUG=-all and WINEPRELOADRESERVE=WINE_LOW_RESERVE unless set; Ctrl-C (SIGINT),
        SIGTERM and SIGHUP go on to Wine, which gives the app SIGINT as a console event. It says so on
        stderr when stderr is a terminal or LITEBOX_LOG is set (otherwise the app's stderr
        stays exactly its own)."""
        path = str(artifact.resolve())
        if sys.platform == "win32":
            return subprocess.run([path, *args], check=False).returncode
        wine = wine_path()
        if wine is None:
            raise PackError(f"{display_path(artifact)} is a Windows executable; install Wine "
                            "(apt-get install wine64) to run it on Linux")
        if sys.stderr.isatty() or os.environ.get("LITEBOX_LOG"):
            print(f"litebox: running {display_path(artifact)} under Wine ({wine})", file=sys.stderr)
        environ = dict(os.environ)
        environ.setdefault("WINEDEBUG", "-all")
        environ.setdefault("WINEPRELOADRESERVE", WINE_LOW_RESERVE)
        return _run_forwarding_signals([wine, path, *args], environ)
