"""`litebox pack` behind the CLI: config → analysis → build request → SCons → results."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packager import config as config_mod
from packager import origins
from packager.canonjson import canonical_json
from packager.collect import collect
from packager.config import Config, Overrides
from packager.errors import PackError
from packager.paths import display_path
from packager.plan import make_plan, write_plan
from packager.progress import Progress
from packager.statcache import StatCache
from packager.targets import Target, discover, repo_root
from packager.toolchain import toolchain_info

STATE_NAME = ".litebox-cache"


@dataclass(frozen=True)
class ArtifactResult:
    """One artifact written (or found up to date) by a pack."""

    target: str
    path: Path
    sha256: str
    manifest: Path


@dataclass(frozen=True)
class PackResult:
    """What a pack produced and whether anything had to be rebuilt."""

    artifacts: list[ArtifactResult]
    rebuilt: list[str]
    config: Config


def state_dir_for(out_dir: Path) -> Path:
    """The build state directory: ``.litebox-cache`` beside the output directory."""
    return out_dir.resolve().parent / STATE_NAME


SYSTEM_LIB_DIRS = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/")

# Modules that cannot change what a build produces (front ends and readers).
NOT_BUILD_CODE = {"__main__.py", "cli.py", "inspection.py", "verify.py", "initcmd.py", "origins.py"}


def _code_key(targets: list[Target]) -> str:
    """The digest of the code that decides the build's outputs: every step reruns when it changes."""
    h = hashlib.sha256()
    pkg = Path(__file__).resolve().parent
    code = sorted(p for p in pkg.glob("*.py") if p.name not in NOT_BUILD_CODE)
    for path in code + [repo_root() / "SConstruct"] + sorted(t.folder / "target.py" for t in targets):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _write_if_changed(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def run_build_command(cfg: Config, progress: Progress) -> None:
    """Runs [build].command in the project directory. A non-zero exit is a PackError naming
    the command; its output is shown with -v or on failure."""
    if not cfg.build.command:
        return
    shown = " ".join(cfg.build.command)
    progress.step(f"building the app: {shown}")
    result = progress.run(list(cfg.build.command), "build command", cwd=cfg.project_dir)
    if result.returncode != 0:
        if not progress.verbose:
            for line in result.stderr_tail:
                print(line, file=progress.stream)
        where = display_path(cfg.config_file) if cfg.config_file else display_path(cfg.project_dir)
        raise PackError(f"{where}: [build].command `{shown}` failed with exit code {result.returncode}")


def resolve_targets(names: list[str]) -> list[Target]:
    """The plugins for ``names`` (in order, without duplicates); PackError for unknown ones."""
    known = discover()
    out: list[Target] = []
    for name in names:
        if name not in known:
            raise PackError(f"unknown target {name!r} (known: {', '.join(known) or 'none'})")
        if known[name] not in out:
            out.append(known[name])
    return out


def pack(app: Path, target_names: list[str], out_dir: Path, config_file: Path | None = None,
         overrides: Overrides | None = None, progress: Progress | None = None,
         state_dir: Path | None = None) -> PackResult:
    """Packs ``app`` for every target into ``out_dir``. Promises on success: for each target
    ``out_dir/NAME-TARGET`` (0755) and ``NAME-TARGET.manifest.json`` are current, and only
    what changed was rebuilt. On failure a PackError and no partial artifact."""
    progress = progress or Progress()
    started = time.monotonic()
    cfg = config_mod.load(app, config_file, overrides)
    targets = resolve_targets(target_names)
    run_build_command(cfg, progress)
    progress.detail(f"{cfg.mode} mode: entry {cfg.app.entry}")
    repo = repo_root()
    state = (state_dir or state_dir_for(out_dir)).resolve()
    out_dir = out_dir.resolve()
    cache = StatCache(state / "statcache.json")
    collected = collect(cfg, cache=cache)
    for w in collected.warnings:
        progress.warn(w)
    app_state = state / "apps" / cfg.app.name
    plan = make_plan(cfg, collected, cache)
    cache.save()
    write_plan(plan, app_state / "plan.json")
    tools = toolchain_info(repo)
    _write_if_changed(state / "toolchain.json", canonical_json(tools))
    request = _request(cfg, plan, targets, out_dir, state, app_state, tools, progress.verbose)
    _run_scons(request, state, progress)
    events = _read_events(Path(request["events"]))
    _warn_compatibility(Path(request["apps"][0]["image_info"]), progress)
    results = []
    order = {t.name: i for i, t in enumerate(targets)}
    for t in sorted((t for a in request["apps"] for t in a["targets"]), key=lambda t: order[t["target"]]):
        sidecar = json.loads(Path(t["sidecar"]).read_bytes())
        results.append(ArtifactResult(t["target"], Path(t["artifact"]), sidecar["artifact"]["sha256"],
                                      Path(t["sidecar"])))
        embedded = {k: v for k, v in sidecar.items() if k != "artifact"}
        origins.record(state, Path(t["artifact"]).name, embedded, app, config_file)
    elapsed = time.monotonic() - started
    if not events:
        progress.done(f"{', '.join(display_path(r.path) for r in results)}: up to date ({elapsed:.2f} s)")
    else:
        for r in results:
            progress.done(f"wrote {display_path(r.path)} ({elapsed:.1f} s)")
    return PackResult(results, [f"{e['step']}:{e['what']}" for e in events], cfg)


def _warn_compatibility(image_info: Path, progress: Progress) -> None:
    """Warns, per packed ELF file, about syscalls its code makes with a constant number that the
    library OS does not implement (found by the rewriter; `litebox inspect` lists them all)."""
    from packager.rewrite import compatibility

    try:
        files = json.loads(image_info.read_bytes()).get("rewrite", {}).get("files", {})
    except (OSError, ValueError):
        return
    libs: set[str] = set()
    lib_files = 0
    for path, missing in compatibility(files).items():
        if path.startswith(SYSTEM_LIB_DIRS):
            # libc and friends wrap every syscall; listing them on each pack is noise.
            libs.update(missing)
            lib_files += 1
            continue
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        progress.warn(f"{path}: may call syscalls the library OS does not implement (they get ENOSYS): {shown}")
    if libs:
        progress.detail(f"{lib_files} system libraries reference {len(libs)} syscalls the library OS does "
                        "not implement (wrappers; ENOSYS if called): `litebox inspect` lists them")


def _request(cfg: Config, plan: dict[str, Any], targets: list[Target], out_dir: Path, state: Path,
             app_state: Path, tools: dict[str, str], verbose: bool) -> dict[str, Any]:
    repo = repo_root()
    runtimes = {}
    for t in targets:
        inputs = [str(p) for p in t.fn("runtime_inputs")(repo)]
        key = json.dumps({"target": t.name, "repo": str(repo), "rustc": tools["rustc"],
                          "cargo": tools["cargo"],
                          "plugin": hashlib.sha256((t.folder / "target.py").read_bytes()).hexdigest(),
                          "override": {k: v for k, v in os.environ.items()
                                       if k.startswith("LITEBOX_RUNTIME")}}, sort_keys=True)
        runtimes[t.name] = {"inputs": inputs, "key": key, "out": str(state / "runtime" / t.name / "runtime")}
    name = cfg.app.name
    # Syscall rewriting targets the fast-path entry of a runtime that has one (a plugin with
    # SYSCALL_REWRITE = True); such an image depends on that runtime's bytes. Targets without a
    # fast path (kvm: the app's `syscall` enters the kernel directly) get the image unrewritten,
    # built as a second image in its own state folder when one pack mixes both kinds.
    rewriters = [t for t in targets if getattr(t.module, "SYSCALL_REWRITE", False)]
    groups: list[tuple[list[Target], str | None]] = []
    if cfg.build.rewrite and rewriters:
        groups.append((rewriters, rewriters[0].name))
    plain = [t for t in targets if not (cfg.build.rewrite and t in rewriters)]
    if plain:
        groups.append((plain, None))
    apps = []
    for group, rewrite_target in groups:
        where = app_state if rewrite_target or len(groups) == 1 else app_state / "unrewritten"
        apps.append({
            "name": name,
            "level": cfg.build.compression_level,
            "plan": str(app_state / "plan.json"),
            "image": str(where / "image.bin"),
            "image_info": str(where / "image.json"),
            "rewrite_runtime": runtimes[rewrite_target]["out"] if rewrite_target else None,
            "rewrite_target": rewrite_target,
            "targets": [{"target": t.name,
                         "manifest": str(app_state / f"{t.name}.manifest.json"),
                         "artifact": str(out_dir / f"{name}-{t.name}"),
                         "sidecar": str(out_dir / f"{name}-{t.name}.manifest.json")} for t in group],
        })
    return {
        "repo": str(repo),
        "state_dir": str(state),
        "events": str(state / "events.jsonl"),
        "error": str(state / "error.txt"),
        "verbose": verbose,
        "progress_fd": None,
        "toolchain": str(state / "toolchain.json"),
        "code_key": _code_key(targets),
        "runtimes": runtimes,
        "apps": apps,
    }


def _run_scons(request: dict[str, Any], state: Path, progress: Progress) -> None:
    for name in ("events", "error"):
        try:
            os.unlink(request[name])
        except FileNotFoundError:
            pass
    try:
        progress_fd = os.dup(progress.stream.fileno())
    except (AttributeError, OSError, ValueError):
        progress_fd = os.dup(2)
    request["progress_fd"] = progress_fd
    req_path = state / "request.json"
    req_path.write_text(json.dumps(request, indent=1), encoding="utf-8")
    argv = [sys.executable, "-m", "SCons", "-f", str(repo_root() / "SConstruct"), "-Q", "-s",
            "--no-site-dir", f"request={req_path}"]
    try:
        proc = subprocess.run(argv, cwd=repo_root(), pass_fds=(progress_fd,), capture_output=True,
                              text=True, errors="replace", stdin=subprocess.DEVNULL, check=False)
    finally:
        os.close(progress_fd)
    error = Path(request["error"])
    if error.exists():
        raise PackError(error.read_text(encoding="utf-8").strip())
    if progress.verbose and (proc.stdout.strip() or proc.stderr.strip()):
        progress.detail("scons: " + (proc.stdout + proc.stderr).strip())
    if proc.returncode != 0:
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        raise PackError(f"the build graph failed (scons exit {proc.returncode}): {tail}")


def _read_events(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
