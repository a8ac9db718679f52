"""`litebox pack` behind the CLI: config → analysis → build request → SCons → results."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from packager.analysis.collect import collect
from packager.analysis.statcache import StatCache, sha256_file
from packager.build import children, origins
from packager.build.canonjson import canonical_json
from packager.build.plan import make_plan, write_plan
from packager.build.probecache import ProbeCache, toolchain_stamp
from packager.build.progress import Progress
from packager.build.statelock import state_lock
from packager.build.toolchain import RUST_PROBES, KnownVersions, VersionProbes, start_probes, toolchain_info
from packager.config import config as config_mod
from packager.config.config import Config, Overrides, relative_to_project
from packager.containers.reference import is_image_reference, recorded_source
from packager.errors import PackError
from packager.paths import display_path
from packager.targets import cargobuild
from packager.targets.targets import LazyTargets, Target, default_options, discover, environment_overrides, repo_root

STATE_NAME = ".litebox-cache"


@dataclass(frozen=True)
class ArtifactResult:
    """One artifact written (or found up to date) by a pack."""

    target: str
    path: Path
    sha256: str
    manifest: Path
    sbom: Path | None = None  # the SPDX 2.3 document beside it (packager/build/sbom.py)


@dataclass(frozen=True)
class PackResult:
    """What a pack produced and whether anything had to be rebuilt."""

    artifacts: list[ArtifactResult]
    rebuilt: list[str]
    config: Config
    extras: list[Path] = field(default_factory=list)  # files written by the targets' extra steps
    toolchain: dict[str, str] = field(default_factory=dict)  # the manifest's toolchain record


def state_dir_for(out_dir: Path) -> Path:
    """The build state directory: ``.litebox-cache`` beside the output directory."""
    return out_dir.resolve().parent / STATE_NAME


SYSTEM_LIB_DIRS = ("/lib/", "/lib64/", "/usr/lib/", "/usr/lib64/")
VERSIONS_KEY = "rust-versions"  # rustc -V and cargo -V in packager/build/probecache.py's file

# Code that cannot change what a build produces, relative to packager/: the command-line front
# ends (the commands/ subpackage) and where `pack` remembers a project for `verify`.
NOT_BUILD_CODE = ("__main__.py", "commands/", "build/origins.py")


def build_code(targets: list[Target]) -> list[tuple[str, Path]]:
    """The code that decides the build's outputs, by name: every module of the packager's
    stage subpackages (but NOT_BUILD_CODE), the SConstruct and the targets' plugin folders."""
    pkg = Path(__file__).resolve().parents[1]
    code = [(p.relative_to(pkg).as_posix(), p) for p in pkg.rglob("*.py")]
    code = [(f"packager/{rel}", p) for rel, p in code if not rel.startswith(NOT_BUILD_CODE)]
    code.append(("SConstruct", repo_root() / "SConstruct"))
    for t in targets:  # target.py and its helpers (runtime/ is cargo's)
        code += [(f"platform_targets/{t.folder.name}/{p.name}", p) for p in t.folder.glob("*.py")]
    return sorted(code)


def _runtime_code_key(target: Target) -> str:
    """The digest of the code that decides a runtime's bytes: the plugin's folder and the
    packager's cargo build (the Rust sources are the runtime step's file inputs)."""
    h = hashlib.sha256()
    plugin_api = Path(__file__).resolve().parents[1] / "targets"
    for path in sorted(target.folder.glob("*.py")) + [plugin_api / "targetapi.py", plugin_api / "cargobuild.py"]:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _code_key(targets: list[Target]) -> str:
    """The digest of the code that decides the build's outputs: every step reruns when it changes."""
    h = hashlib.sha256()
    for name, path in build_code(targets):
        h.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _write_if_changed(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def run_build_command(cfg: Config, progress: Progress) -> None:
    """Runs [build].command in the project directory, with ``LITEBOX_ROOT`` naming litebox's
    own folder (the checkout, or an installed wheel's bundle: where ``platform_targets/`` and
    the target SDKs are), so a command can find an SDK wherever the project is copied (`verify`
    rebuilds in a temporary copy). A non-zero exit is a PackError naming the command; its
    output is shown with -v or on failure."""
    if not cfg.build.command:
        return
    from packager.targets.targets import repo_root

    shown = " ".join(cfg.build.command)
    progress.step(f"building the app: {shown}")
    env = {**os.environ, "LITEBOX_ROOT": str(repo_root())}
    result = progress.run(list(cfg.build.command), "build command", cwd=cfg.project_dir, env=env, own_group=True)
    if result.returncode != 0:
        if not progress.verbose:
            for line in result.stderr_tail:
                print(line, file=progress.stream)
        where = display_path(cfg.config_file) if cfg.config_file else display_path(cfg.project_dir)
        raise PackError(f"{where}: [build].command `{shown}` failed with exit code {result.returncode}")


def resolve_targets(names: list[str], known: Mapping[str, Target] | None = None) -> list[Target]:
    """The plugins for ``names`` (in order, without duplicates) among ``known`` (default: the
    checkout's); PackError for unknown ones."""
    known = discover() if known is None else known
    out: list[Target] = []
    for name in names:
        if name not in known:
            raise PackError(f"unknown target {name!r} (known: {', '.join(known) or 'none'})")
        if known[name] not in out:
            out.append(known[name])
    return out


def pack(app: Path, target_names: list[str], out_dir: Path, config_file: Path | None = None,
         overrides: Overrides | None = None, progress: Progress | None = None,
         state_dir: Path | None = None, targets_dir: Path | None = None,
         cache_dir: Path | None = None) -> PackResult:
    """Packs ``app`` for every target into ``out_dir``. Promises on success: for each target
    ``out_dir/NAME-TARGET`` (0755) and ``NAME-TARGET.manifest.json`` are current, and only
    what changed was rebuilt; so are the files of the targets' extra steps. On failure a
    PackError and no partial artifact. ``targets_dir`` holds the target plugins (default: the
    checkout's platform_targets/). ``cache_dir`` is a build cache shared with other packs and
    runners (packager/build/sharedcache.py; the CLI resolves ``$LITEBOX_CACHE_DIR``). Packs
    that share a build state directory run one at a time (packager/build/statelock.py)."""
    progress = progress or Progress()
    started = time.monotonic()
    # Checked before anything is built: a file (or a file in the way) there would otherwise
    # surface as a build-graph traceback.
    for parent in (out_dir, *out_dir.parents):
        if parent.exists():
            if not parent.is_dir():
                raise PackError(f"--out-dir {out_dir}: {parent} is not a directory")
            break
    shared = cache_dir.resolve() if cache_dir is not None else None
    state = (state_dir or state_dir_for(out_dir)).resolve()
    with state_lock(state, progress):
        source = None
        if is_image_reference(str(app)):  # a container image: unpacked into a generated project
            from packager.containers.imageproject import materialize

            made = materialize(str(app), config_file, state / "images", progress)
            app, config_file, source = made.project_dir, made.config_file, made.source
        elif app.is_dir():  # a project generated from an image, rebuilt (verify)
            source = recorded_source(app)
        known = LazyTargets(targets_dir)  # only the plugins this pack names are loaded
        cfg = config_mod.load(app, config_file, overrides, known)
        targets = resolve_targets(target_names, known)
        run_build_command(cfg, progress)
        progress.detail(f"{cfg.mode} mode: entry {cfg.app.entry}")
        return _pack_locked(app, cfg, targets, out_dir.resolve(), state, shared, config_file, progress,
                            targets_dir, started, source)


def _pack_locked(app: Path, cfg: Config, targets: list[Target], out_dir: Path, state: Path,
                 shared: Path | None, config_file: Path | None, progress: Progress,
                 targets_dir: Path | None, started: float, source: dict[str, Any] | None = None) -> PackResult:
    """The part of ``pack`` that uses the build state directory (its lock held)."""
    repo = repo_root()
    # rustc -V and cargo -V answer while the app is analysed, and so does cargo metadata (the
    # runtime's inputs); or their answers are remembered from an earlier pack under a stamp of
    # everything they depend on (packager/build/probecache.py).
    asked = ProbeCache(state / "probes.json")
    tool_stamp = toolchain_stamp()
    known = asked.get(VERSIONS_KEY, tool_stamp)
    probes: VersionProbes | KnownVersions
    if isinstance(known, list) and len(known) == len(RUST_PROBES) and all(isinstance(v, str) for v in known):
        probes = KnownVersions(known)
    else:
        probes = start_probes()
    # Started ahead only when a runtime is built from source: a prebuilt or bundled one needs no
    # crate list (asked on demand if a plugin wants it all the same).
    ahead = any(t.runtime_origin(cfg.target_table(t.name)).get("kind") == "built" for t in targets)
    metadata = cargobuild.CargoMetadata.start(repo, asked, ahead)
    try:
        result = _pack_probed(app, cfg, targets, out_dir, state, shared, config_file, progress, targets_dir,
                              started, source, repo, probes, metadata)
        rust = result.toolchain
        asked.put(VERSIONS_KEY, tool_stamp, [rust["rustc"], rust["cargo"]])
        return result
    finally:
        probes.close()
        metadata.close()
        asked.save()


def _pack_probed(app: Path, cfg: Config, targets: list[Target], out_dir: Path, state: Path,
                 shared: Path | None, config_file: Path | None, progress: Progress,
                 targets_dir: Path | None, started: float, source: dict[str, Any] | None, repo: Path,
                 probes: VersionProbes | KnownVersions, metadata: cargobuild.CargoMetadata) -> PackResult:
    cache = StatCache(state / "statcache.json")
    collected = collect(cfg, cache=cache)
    for w in collected.warnings:
        progress.warn(w)
    # Per output directory: packs of one app into two folders (say one with --no-rewrite)
    # keep their own plan, image and manifests, so neither makes the other rebuild.
    app_state = state / "apps" / cfg.app.name / ("out-" + hashlib.sha256(str(out_dir).encode()).hexdigest()[:16])
    plan = make_plan(cfg, collected, cache)
    if source is not None:
        plan["source"] = source  # the container image it came from (the manifest's "source")
    cache.save()
    write_plan(plan, app_state / "plan.json")
    tools = toolchain_info(repo, probes)
    _write_if_changed(state / "toolchain.json", canonical_json(tools))
    request = _request(cfg, plan, targets, out_dir, state, app_state, tools, progress.verbose, metadata)
    request["targets_dir"] = str(targets_dir.resolve()) if targets_dir is not None else None
    request["quiet"] = progress.quiet
    request["cache_dir"] = str(shared) if shared is not None else None
    events = _build(request, state, app_state, progress)
    _warn_compatibility(Path(request["apps"][0]["image_info"]), progress)
    results = []
    order = {t.name: i for i, t in enumerate(targets)}
    by_name = {t.name: t for t in targets}
    for t in sorted((t for a in request["apps"] for t in a["targets"]), key=lambda t: order[t["target"]]):
        sidecar = json.loads(Path(t["sidecar"]).read_bytes())
        sbom = _write_sbom(sidecar, Path(t["artifact"]), cfg, plan, by_name[t["target"]], repo, bool(events))
        results.append(ArtifactResult(t["target"], Path(t["artifact"]), sidecar["artifact"]["sha256"],
                                      Path(t["sidecar"]), sbom))
        embedded = {k: v for k, v in sidecar.items() if k != "artifact"}
        origins.record(state, Path(t["artifact"]).name, embedded, app, config_file)
    elapsed = time.monotonic() - started
    if not events:
        progress.done(f"{', '.join(display_path(r.path) for r in results)}: up to date ({elapsed:.2f} s)")
    else:
        for r in results:
            progress.done(f"wrote {display_path(r.path)} ({elapsed:.1f} s)")
    extras = [Path(o) for a in request["apps"] for t in a["targets"] for x in t["extra_steps"] for o in x["outputs"]]
    return PackResult(results, [f"{e['step']}:{e['what']}" for e in events], cfg, extras, tools)


def _write_sbom(sidecar: dict[str, Any], artifact: Path, cfg: Config, plan: dict[str, Any], target: Target,
                repo: Path, rebuilt: bool) -> Path:
    """Writes ``ARTIFACT.spdx.json`` (when anything was rebuilt or it is missing; only when its
    bytes change) and returns its path."""
    from packager.build.sbom import SUFFIX, make_sbom, sbom_bytes

    path = artifact.with_name(artifact.name + SUFFIX)
    if not rebuilt and path.is_file():
        return path
    doc = make_sbom(sidecar, artifact.name, cfg.project_dir, plan, repo / "Cargo.lock",
                    getattr(target.plugin, "package", None) or None)
    _write_if_changed(path, sbom_bytes(doc))
    return path


def _warn_compatibility(image_info: Path, progress: Progress) -> None:
    """Warns, per packed ELF file, about syscalls its code makes with a constant number that the
    library OS does not implement (found by the rewriter; `litebox inspect` lists them all)."""
    from packager.image.compat import compatibility, refused

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
    for path, hit in refused(files).items():
        if not path.startswith(SYSTEM_LIB_DIRS):
            progress.warn(f"{path}: may call syscalls the sandbox refuses (they get EPERM): {', '.join(hit)}")
    if libs:
        progress.detail(f"{lib_files} system libraries reference {len(libs)} syscalls the library OS does "
                        "not implement (wrappers; ENOSYS if called): `litebox inspect` lists them")


def target_options(cfg: Config, target: Target) -> tuple[dict[str, Any], dict[str, Any]]:
    """The target's resolved options, ``[target.<name>]`` under the options' environment
    variables (``environment_overrides``): (for the plugin: ``path`` values absolute; for the
    manifest: ``path`` values relative to the project when inside it)."""
    options = default_options(target, {**cfg.target_table(target.name),
                                       **environment_overrides(target, os.environ)})
    record = dict(options)
    for spec in target.options:
        if spec.type == "path" and record.get(spec.name):
            record[spec.name] = relative_to_project(Path(record[spec.name]), cfg.project_dir)
    return options, record


def _request(cfg: Config, plan: dict[str, Any], targets: list[Target], out_dir: Path, state: Path,
             app_state: Path, tools: dict[str, str], verbose: bool,
             metadata: cargobuild.CargoMetadata | None = None) -> dict[str, Any]:
    repo = repo_root()
    for t in targets:
        _check_app_kind(cfg, t)
    runtimes = {}
    options = {t.name: target_options(cfg, t) for t in targets}
    for t in targets:
        opts = options[t.name][0]
        inputs = [str(p) for p in t.plugin.pack_runtime_inputs(repo, opts, metadata)]
        env_names = {o.env for o in t.options if o.env}
        decides = {"target": t.name, "rustc": tools["rustc"], "cargo": tools["cargo"],
                   "plugin": _runtime_code_key(t),
                   "plugin_key": t.plugin.runtime_key(opts),
                   "override": {k: v for k, v in os.environ.items()
                                if k.startswith("LITEBOX_RUNTIME") or k in env_names}}
        key = json.dumps({**decides, "repo": str(repo)}, sort_keys=True, default=str)
        # The shared cache's key leaves the checkout's location out (cargo's paths are remapped).
        shared_key = json.dumps(decides, sort_keys=True, default=str)
        runtimes[t.name] = {"inputs": inputs, "key": key, "out": str(state / "runtime" / t.name / "runtime"),
                            "options": opts, "shared_key": shared_key,
                            "origin": t.runtime_origin(opts)["kind"]}
    name = cfg.app.name
    # Syscall rewriting targets the fast-path entry of a runtime that has one (capabilities.
    # rewrites); such an image depends on that runtime's bytes, so each rewriting target gets
    # its own image. Targets without a fast path (the app's `syscall` enters their kernel
    # directly) share one unrewritten image.
    groups: list[tuple[list[Target], Target | None]] = []
    if cfg.build.rewrite:
        groups += [([t], t) for t in targets if t.capabilities.rewrites]
    plain = [t for t in targets if not (cfg.build.rewrite and t.capabilities.rewrites)]
    if plain:
        groups.append((plain, None))
    apps = []
    for i, (group, rewriter) in enumerate(groups):
        if len(groups) == 1 or i == 0 and rewriter is not None:
            where = app_state  # the common case keeps its image where it always was
        elif rewriter is not None:
            where = app_state / "rewritten" / rewriter.name
        else:
            where = app_state / "unrewritten"
        apps.append({
            "name": name,
            "level": cfg.build.compression_level,
            "plan": str(app_state / "plan.json"),
            "image": str(where / "image.bin"),
            "image_info": str(where / "image.json"),
            "rewrite_runtime": runtimes[rewriter.name]["out"] if rewriter else None,
            "rewrite_target": rewriter.name if rewriter else None,
            "rewrite_entry": rewriter.capabilities.rewrite_entry if rewriter else None,
            "targets": [_target_request(t, name, app_state, out_dir, *options[t.name]) for t in group],
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


def _check_app_kind(cfg: Config, t: Target) -> None:
    """PackError when ``[app].kind`` says what ``t`` does not pack (a TA for a Linux-program
    target, or a program for a TA target); an unset kind is left to the target to detect."""
    packs_tas = t.capabilities.app_kind == "optee-ta"
    if cfg.app.kind == "ta" and not packs_tas:
        raise PackError(f'[app].kind = "ta": target {t.name} packs Linux programs; a Trusted Application packs '
                        "with --target optee")
    if cfg.app.kind == "program" and packs_tas:
        raise PackError(f'[app].kind = "program": target {t.name} packs OP-TEE Trusted Applications '
                        '(set kind = "ta", or pack this app for another target)')


def path_option_digests(t: Target, options: Mapping[str, Any]) -> dict[str, str]:
    """The sha256 of the file each set ``path`` option of ``t`` names ("unreadable" when it
    cannot be read). Part of what decides the target's outputs: a signing key, signature or
    prebuilt runtime replaced at the same path is packed again, where the path alone left the
    last pack's signature in place ("up to date")."""
    digests = {}
    for spec in t.options:
        value = options.get(spec.name)
        if spec.type != "path" or not value:
            continue
        try:
            digests[spec.name] = sha256_file(Path(value))
        except OSError:
            digests[spec.name] = "unreadable"
    return digests


def _target_request(t: Target, name: str, app_state: Path, out_dir: Path, options: dict[str, Any],
                    record: dict[str, Any]) -> dict[str, Any]:
    """One target's part of the build request: its outputs, options and extra steps."""
    artifact = out_dir / f"{name}-{t.name}{t.capabilities.artifact_suffix}"
    extra = [{"name": x.name, "outputs": [str(artifact) + suffix for suffix in x.outputs]}
             for x in t.extra_steps(options)]
    key = {"options": options, "record": record, "files": path_option_digests(t, options)}
    return {"target": t.name,
            "manifest": str(app_state / f"{t.name}.manifest.json"),
            "artifact": str(artifact),
            "sidecar": str(out_dir / f"{artifact.name}.manifest.json"),
            "options": options,
            "options_record": record,
            "options_key": json.dumps(key, sort_keys=True, default=str),
            "extra_steps": extra}


def _build(request: dict[str, Any], state: Path, app_state: Path, progress: Progress) -> list[dict[str, str]]:
    """Brings every output of ``request`` up to date; returns the steps that ran (none when
    the up-to-date stamp shows nothing changed: packager/build/uptodate.py)."""
    from packager.build import uptodate

    stamp = app_state / "uptodate.json"
    decided_by = sorted({Path(a["plan"]) for a in request["apps"]}) + [Path(request["toolchain"])]
    key = uptodate.request_key(request, decided_by)
    if uptodate.is_current(stamp, request, key):
        progress.detail("nothing changed since the last pack (up-to-date stamp): the build graph is not run")
        return []
    for edited in uptodate.edited_outputs(stamp, request):
        progress.detail(f"{display_path(edited)} changed since the last pack: made again")
        edited.unlink()
    uptodate.forget(stamp)
    _run_scons(request, state, progress)
    events = _read_events(Path(request["events"]))
    uptodate.record(stamp, request, key)
    return events


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
        # Its own process group, so an interruption stops SCons and everything it started
        # (cargo, rustc, the image step) and no temporary file is left behind.
        scons = subprocess.Popen(argv, cwd=repo_root(), pass_fds=(progress_fd,), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, errors="replace", stdin=subprocess.DEVNULL,
                                 start_new_session=True)
        try:
            out, err = scons.communicate()
        except BaseException:
            children.stop(scons, own_group=True)
            _remove_temporaries(request)
            raise
        proc = subprocess.CompletedProcess(argv, scons.returncode, out, err)
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


def _remove_temporaries(request: dict[str, Any]) -> None:
    """Removes what an interrupted build leaves: the writers' temporary files beside each
    artifact and sidecar (``.NAME.*.tmp``) and anywhere in the build state directory."""
    for app in request["apps"]:
        for t in app["targets"]:
            for out in [t["artifact"], t["sidecar"], *(o for x in t["extra_steps"] for o in x["outputs"])]:
                children.remove_temporaries(Path(out).parent, f".{Path(out).name}.*.tmp")
    children.remove_temporaries(Path(request["state_dir"]), "**/*.tmp")


def _read_events(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
