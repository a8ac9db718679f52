"""The typed contract of a target plugin (``platform_targets/<folder>/target.py``).

A plugin module defines ``Plugin``, a subclass of :class:`TargetPlugin`, with:

  name: str                    the target's name (``--target NAME``), e.g. linux-userland
  description: str             one line for ``litebox targets``
  capabilities: Capabilities   what the packager may do with it (rewriting, trace/learn, artifact)
  options: tuple[OptionSpec]   the keys of its ``[target.<name>]`` table in litebox.toml
  checks() -> list[Check]      the doctor checklist for this machine
  runtime_inputs(repo, options) -> list[Path]     files whose content decides the runtime's bytes
  build_runtime(ctx) -> Path                      builds (or finds) the runtime
  assemble(ctx, runtime, image, manifest, out)    writes the artifact at ``out`` atomically
  assemble_file(ctx, runtime, image_path, manifest, out)   optional: the same from the image's
                                                  file, streamed (default: reads it and calls assemble)
  extra_steps(options) -> list[ExtraStep]         further build-graph nodes after the artifact
  manifest_facts(ctx, runtime, image) -> dict      optional: recorded as the manifest's target_facts
  inspect_facts(artifact_bytes) -> dict            optional: the same, recomputed by `litebox inspect`
  run(artifact, args, env=None, wait=False) -> int  runs an artifact (``litebox run``)

The packager decides behaviour from these declarations, never from a target's name.
:class:`CargoTarget` implements the runtime half for a Rust runtime built with cargo.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from packager.build.progress import Progress

OPTION_TYPES = ("string", "integer", "boolean", "path", "string-list")


@dataclass(frozen=True)
class Capabilities:
    """What a target supports.

    ``rewrites``: packing rewrites the app's syscall sites to the runtime's fast-path entry,
    found in the runtime's ELF section ``rewrite_entry`` (an 8-byte address); such an image is
    specific to that runtime. ``trace_learn``: its runner takes ``env`` and ``wait``, so
    `litebox run --trace/--learn` work. ``artifact_kind``: what the artifact is (for people and
    tools, e.g. "elf-executable", "pvh-elf"). ``artifact_suffix``: appended to the artifact's
    name ``NAME-TARGET`` (e.g. ".igvm"); the sidecar is the artifact's name + ".manifest.json".
    ``app_kind``: what it packs: ``"linux"`` (a Linux program, the default) or ``"optee-ta"``
    (an OP-TEE Trusted Application)."""

    artifact_kind: str
    rewrites: bool = False
    rewrite_entry: str | None = None
    trace_learn: bool = False
    artifact_suffix: str = ""
    app_kind: str = "linux"


@dataclass(frozen=True)
class OptionSpec:
    """One key of ``[target.<name>]``: its type (one of OPTION_TYPES), default (None: unset),
    one line of documentation, allowed values (``choices``) and an environment variable that
    overrides it at pack time (``env``). A ``path`` is resolved against the config file's
    directory and recorded relative to the project."""

    name: str
    type: str
    doc: str
    default: Any = None
    choices: tuple[Any, ...] = ()
    env: str | None = None


@dataclass(frozen=True)
class Check:
    """One doctor item: ``ok`` with ``detail``; ``required=False`` marks an optional layer whose
    absence does not make the target "not ready"."""

    item: str
    ok: bool
    detail: str
    required: bool = True


@dataclass
class BuildContext:
    """What a plugin may use while building: the checkout, a private state directory for this
    target, where to report progress, and its resolved ``[target.<name>]`` options."""

    repo: Path
    state_dir: Path
    progress: Progress
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepContext:
    """What an extra step sees: the build context, the finished artifact and its sidecar
    manifest, and the paths it must write (``outputs``, in the order the step declared)."""

    build: BuildContext
    artifact: Path
    manifest: Path
    outputs: tuple[Path, ...]


@dataclass(frozen=True)
class ExtraStep:
    """A build-graph node a target adds after its artifact (signing, launch measurement...).

    It writes ``outputs``: suffixes appended to the artifact's path (``".sig"`` gives
    ``DIR/NAME-TARGET.sig``), from the artifact, its sidecar manifest and the target's options;
    SCons reruns it when any of those change. ``action`` must write every output atomically."""

    name: str
    outputs: tuple[str, ...]
    action: Callable[[StepContext], None]
    doc: str = ""


class TargetPlugin(abc.ABC):
    """The base of every target plugin; see the module docstring for the contract."""

    name: str = ""
    description: str = ""
    capabilities: Capabilities = Capabilities(artifact_kind="")
    options: tuple[OptionSpec, ...] = ()

    @abc.abstractmethod
    def checks(self) -> list[Check]:
        """The doctor checklist: can this machine build (and run) this target's artifacts?"""

    @abc.abstractmethod
    def runtime_inputs(self, repo: Path, options: Mapping[str, Any]) -> list[Path]:
        """Every file whose content decides the runtime's bytes, in a stable order."""

    def pack_runtime_inputs(self, repo: Path, options: Mapping[str, Any], cargo_metadata: Any = None) -> list[Path]:
        """``runtime_inputs`` as one pack asks for it: ``cargo_metadata`` is the pack's
        ``cargobuild.CargoMetadata`` of ``repo``, started ahead and shared by its targets
        (default: unused)."""
        return self.runtime_inputs(repo, options)

    @abc.abstractmethod
    def build_runtime(self, ctx: BuildContext) -> Path:
        """Builds (or finds) the runtime and returns its path."""

    @abc.abstractmethod
    def assemble(self, ctx: BuildContext, runtime: Path, image: bytes, manifest: bytes, out: Path) -> None:
        """Writes the artifact (runtime + image + embedded manifest) at ``out``, atomically."""

    def assemble_file(self, ctx: BuildContext, runtime: Path, image: Path, manifest: bytes, out: Path) -> None:
        """``assemble`` with the image given as a file, which the build graph calls. A target
        that can stream the image into the artifact overrides it so memory does not grow with
        the image; the default reads the file and calls ``assemble``."""
        self.assemble(ctx, runtime, image.read_bytes(), manifest, out)

    @abc.abstractmethod
    def run(self, artifact: Path, args: list[str], env: dict[str, str] | None = None,
            wait: bool = False) -> int:
        """Runs ``artifact`` with ``args``; returns the app's exit status. With
        ``capabilities.trace_learn`` it honours ``env`` (None: ours) and ``wait`` (run as a
        child and return, instead of possibly exec'ing); otherwise both are ignored."""

    def extra_steps(self, options: Mapping[str, Any]) -> list[ExtraStep]:
        """Build-graph steps after the artifact for these options (default: none)."""
        return []

    def runtime_key(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """What, besides the input files, decides the runtime (default: nothing)."""
        return {}

    # Doctor items that matter only for building the runtime from source: when the runtime
    # comes bundled with an installed litebox-pack they are shown as not needed.
    build_checks: tuple[str, ...] = ()

    def runtime_origin(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Where the runtime for ``options`` comes from, for `litebox targets` and the
        manifest: ``{"kind": "built" | "prebuilt" | "bundled" | ..., "detail": str}``
        (default: built by the plugin)."""
        return {"kind": "built", "detail": "built by the target plugin"}

    def manifest_facts(self, ctx: BuildContext, runtime: Path, image: bytes) -> dict[str, Any]:
        """Facts the manifest records under ``target_facts`` that follow from the runtime,
        the image and the options (``ctx.options``) alone (e.g. a launch measurement and every
        input of it); warnings go to ``ctx.progress``. Default: none (the manifest then has
        no ``target_facts``)."""
        return {}

    def inspect_facts(self, artifact: bytes) -> dict[str, Any]:
        """``manifest_facts`` recomputed from the artifact's bytes alone, for ``litebox
        inspect`` to show beside what the manifest records (default: none). Raises
        PackError when the artifact cannot be read."""
        return {}

    def toolchain(self, repo: Path) -> dict[str, str]:
        """Entries of the manifest's ``toolchain`` record that differ for this target's runtime
        (a target built with another rustc or lock file replaces those keys; default: none)."""
        return {}


class CargoTarget(TargetPlugin):
    """A target whose runtime is a Rust package built with cargo (packager/targets/cargobuild.py):
    ``package`` in the workspace, ``what`` names it in messages, ``override_env`` (and the
    ``runtime`` option, when the plugin declares one) name a prebuilt runtime instead,
    ``target_dir`` is its own cargo target directory (relative to the checkout) and
    ``cargo_target`` a ``--target`` triple or target-spec file (``.json``, relative to the
    checkout; it is one of the runtime's inputs)."""

    package: str = ""
    what: str = ""
    override_env: str = ""
    target_dir: str | None = None
    cargo_target: str | None = None

    build_checks = ("cargo", "rustc", "runtime sources", "kernel sources")

    def named_prebuilt(self, options: Mapping[str, Any]) -> tuple[str, str] | None:
        """(where it was named, path) of a prebuilt runtime the user named, or None: the
        environment variable wins over the ``runtime`` option."""
        import os

        if self.override_env and os.environ.get(self.override_env):
            return f"{self.override_env}={os.environ[self.override_env]}", os.environ[self.override_env]
        value = options.get("runtime")
        if value:
            return f"[target.{self.name}].runtime = {value!r}", str(value)
        return None

    def bundled(self) -> tuple[Path, dict[str, Any]] | None:
        """The runtime an installed litebox-pack carries for this target (packager/targets/
        bundle.py), when this machine cannot build one: no cargo on PATH or no Rust sources
        beside the packager. None when a build is possible or nothing is bundled."""
        import shutil

        from packager.targets.bundle import bundled_runtime
        from packager.targets.targets import repo_root

        if shutil.which("cargo") is not None and (repo_root() / "Cargo.toml").is_file():
            return None
        return bundled_runtime(self.name)

    def prebuilt(self, options: Mapping[str, Any]) -> tuple[str, str] | None:
        """(where it was named, path) of the prebuilt runtime, or None to build from source:
        the environment variable, then the ``runtime`` option, then the bundled runtime."""
        named = self.named_prebuilt(options)
        if named is not None:
            return named
        bundled = self.bundled()
        if bundled is not None:
            return f"the runtime bundled with litebox-pack ({bundled[0]})", str(bundled[0])
        return None

    def runtime_origin(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """``built`` (cargo, from the sources beside the packager), ``prebuilt`` (named by the
        user) or ``bundled`` (carried by the installed package, with the toolchain that built
        it and its sha256)."""
        named = self.named_prebuilt(options)
        if named is not None:
            return {"kind": "prebuilt", "detail": named[0]}
        bundled = self.bundled()
        if bundled is not None:
            path, entry = bundled
            return {"kind": "bundled", "detail": f"{path} (built by {entry.get('rustc', '?')})",
                    "sha256": entry.get("sha256"), "rustc": entry.get("rustc")}
        return {"kind": "built", "detail": f"cargo build --locked --release -p {self.package}"}

    def runtime_inputs(self, repo: Path, options: Mapping[str, Any]) -> list[Path]:
        """The prebuilt runtime (PackError if it does not exist), or the workspace files and the
        sources of the package and of every path dependency it has, as ``cargo metadata``
        reports them."""
        return self.pack_runtime_inputs(repo, options)

    def pack_runtime_inputs(self, repo: Path, options: Mapping[str, Any], cargo_metadata: Any = None) -> list[Path]:
        """``runtime_inputs``, reading the runtime's crates from ``cargo_metadata`` (the pack's
        ``cargobuild.CargoMetadata``, started ahead) when given."""
        from packager.targets import cargobuild

        prebuilt = self.prebuilt(options)
        if prebuilt is not None:
            if not Path(prebuilt[1]).is_file():
                from packager.errors import PackError

                raise PackError(f"{prebuilt[0]}: no such file")
            return [Path(prebuilt[1]).resolve()]
        inputs = cargobuild.runtime_inputs(repo, self.package, cargo_metadata)
        if self.cargo_target and self.cargo_target.endswith(".json"):  # a target spec file
            inputs.append(repo / self.cargo_target)
        return inputs

    def runtime_key(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The prebuilt runtime's name (if any) and the cargo target."""
        prebuilt = self.prebuilt(options)
        return {"prebuilt": prebuilt[1] if prebuilt else None, "cargo_target": self.cargo_target}

    def build_runtime(self, ctx: BuildContext) -> Path:
        """Builds the package (--locked --release, paths remapped) or returns the prebuilt one."""
        from packager.targets import cargobuild

        prebuilt = self.prebuilt(ctx.options)
        target_dir = ctx.repo / self.target_dir if self.target_dir else None
        return cargobuild.build(ctx, self.package, self.what, prebuilt, target_dir=target_dir,
                                cargo_target=self.cargo_target)
