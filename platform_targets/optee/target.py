"""Target plugin: optee — an OP-TEE Trusted Application, packed twice: a TA host executable
that runs the TA under the OP-TEE North (core/optee) on an ordinary x86-64 Linux host and
serves GP TEE Client API programs on a Unix socket, and a signed ``UUID.ta`` (SHDR) for an
OP-TEE OS that loads x86-64 TAs.

The app's entry must be a TA: an x86-64 ET_DYN ELF with a ``.ta_head`` section (build one with
platform_targets/optee/sdk/build-ta). The runtime is the Rust package ``litebox-runtime-optee``;
the artifact is it plus the image and manifest sections, like linux-userland's. The extra step
``sign-ta`` writes ``NAME-optee.ta`` (and a copy named ``UUID.ta``) with a ``.ta.json`` record,
or, with only a public key and no signature yet, ``NAME-optee.ta.dig`` to sign offline.
See docs/targets/optee.md.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

from packager.build.artifact import atomic_output, read_sections, write_elf_artifact
from packager.errors import PackError
from packager.paths import display_path
from packager.targets.targetapi import (
    BuildContext,
    Capabilities,
    CargoTarget,
    Check,
    ExtraStep,
    OptionSpec,
    StepContext,
)

HERE = Path(__file__).resolve().parent
RUNTIME_DIR = HERE / "runtime"
OVERRIDE_ENV = "LITEBOX_RUNTIME_OPTEE"
THROWAWAY_KEY = "throwaway-ta-signing-key.pem"


def _sibling(name: str) -> ModuleType:
    qualified = f"litebox_target_optee_{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise PackError(f"{HERE / name}.py: cannot load")
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    spec.loader.exec_module(module)
    return module


shdr = _sibling("shdr")
ta_elf = _sibling("ta_elf")


def _ta_from_artifact(artifact: Path) -> bytes:
    """The TA ELF packed in ``artifact`` (the image's entry file)."""
    from packager.image.imagereader import read_image

    blob = read_sections(artifact.read_bytes(), (".litebox.image",))[".litebox.image"]
    image = read_image(blob)
    return image.read_file(image.launch.entry)


def _declared_kind(manifest: bytes) -> str | None:
    """``[app].kind`` as the embedded manifest's resolved config records it (None: unset)."""
    try:
        kind = json.loads(manifest)["config"]["app"].get("kind")
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return kind if isinstance(kind, str) else None


def _signing_key(ctx: StepContext) -> tuple[Any, str]:
    """The key to sign with and how to describe it; a throwaway key (kept in the target's state
    directory, so later builds reuse it) when none is configured."""
    configured = ctx.build.options.get("signing_key")
    if configured:
        path = Path(configured)
        try:
            return shdr.load_key(path), display_path(path)
        except shdr.ShdrError as exc:
            raise PackError(f"[target.optee].signing_key: {exc}") from None
    path = ctx.build.state_dir / THROWAWAY_KEY
    if not path.is_file():
        shdr.new_throwaway_key(path)
    ctx.build.progress.warn(
        "optee: WARNING: no [target.optee].signing_key: the .ta is signed with a THROWAWAY key "
        f"({display_path(path)}); no OP-TEE OS will trust it. Set signing_key for a real release.")
    return shdr.load_key(path), display_path(path)


def _sign_ta(ctx: StepContext) -> None:
    """Writes the signed TA (or the digest to sign offline) for the artifact's TA."""
    try:
        elf = _ta_from_artifact(ctx.artifact)
        head = ta_elf.read_ta_head(elf)
    except (ta_elf.TaElfError, KeyError) as exc:
        raise PackError(f"{display_path(ctx.artifact)}: the packed TA: {exc}") from None
    key, where = _signing_key(ctx)
    if shdr.is_dev_key(key):
        ctx.build.progress.warn(
            f"optee: WARNING: {where} is OP-TEE's public DEVELOPMENT key: anyone can sign TAs with it; "
            "never ship a .ta signed with it")
    algorithm = ctx.build.options.get("signing_algorithm") or "pkcs1v15"
    version = int(ctx.build.options.get("ta_version") or 0)
    signature = ctx.build.options.get("signature")
    is_private = hasattr(key, "private_numbers")
    try:
        if not is_private and not signature:
            (dig,) = ctx.outputs
            with atomic_output(dig, 0o644) as tmp:
                tmp.write_bytes(shdr.digest_file_text(elf, head.uuid, key, algorithm, version))
            ctx.build.progress.warn(
                f"optee: {display_path(dig)}: sign this digest offline (see docs/targets/optee.md), then set "
                "[target.optee].signature to the base64 signature file and pack again")
            return
        if signature:
            blob = shdr.stitch(elf, head.uuid, key, Path(signature).read_bytes(), algorithm, version)
        else:
            blob = shdr.sign(elf, head.uuid, key, algorithm, version)
        shdr.verify(blob, key)
    except (shdr.ShdrError, OSError) as exc:
        raise PackError(f"optee: signing {display_path(ctx.artifact)}: {exc}") from None
    ta_out, record_out = ctx.outputs
    with atomic_output(ta_out, 0o644) as tmp:
        tmp.write_bytes(blob)
    by_uuid = ta_out.with_name(f"{head.uuid}.ta")
    with atomic_output(by_uuid, 0o644) as tmp:
        tmp.write_bytes(blob)
    n = shdr._public(key).public_numbers().n
    record = {
        "ta_uuid": str(head.uuid),
        "ta_version": version,
        "algorithm": algorithm,
        "signer_modulus_sha256": hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest(),
        "dev_key": shdr.is_dev_key(key),
        "throwaway_key": not ctx.build.options.get("signing_key"),
        "ta": {"file": by_uuid.name, "sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)},
        "elf_sha256": hashlib.sha256(elf).hexdigest(),
        "artifact_sha256": hashlib.sha256(ctx.artifact.read_bytes()).hexdigest(),
    }
    with atomic_output(record_out, 0o644) as tmp:
        tmp.write_text(json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")


def _check() -> list[tuple[str, bool, str, bool]]:
    items: list[tuple[str, bool, str, bool]] = []
    machine = platform.machine()
    items.append(("x86-64 Linux host", platform.system() == "Linux" and machine in ("x86_64", "AMD64"),
                  f"{platform.system()} {machine}", True))
    override = os.environ.get(OVERRIDE_ENV)
    if override:
        items.append(("prebuilt TA host", Path(override).is_file(), f"{OVERRIDE_ENV}={override}", True))
    else:
        cargo = shutil.which("cargo")
        items.append(("cargo", cargo is not None, cargo or "not found: install Rust", True))
        src = RUNTIME_DIR / "Cargo.toml"
        items.append(("TA host sources", src.is_file(), display_path(src), True))
    try:
        import cryptography

        items.append(("cryptography (signs .ta)", True, f"cryptography {cryptography.__version__}", True))
    except ImportError:
        items.append(("cryptography (signs .ta)", False, "not importable: pip install cryptography", True))
    cc = shutil.which("cc") or shutil.which("gcc")
    items.append(("C compiler (builds TAs with the SDK)", cc is not None, cc or "not found: apt-get install gcc",
                  False))
    return items


class Plugin(CargoTarget):
    """optee: the TA host executable (runtime + image + manifest sections) and the signed .ta."""

    name = "optee"
    description = ("OP-TEE Trusted Application: a TA host executable serving GP TEE Client API programs on a "
                   "Unix socket, plus a signed UUID.ta (SHDR) for OP-TEE OSes that load x86-64 TAs")
    capabilities = Capabilities(artifact_kind="optee-ta-host", rewrites=False, trace_learn=False, app_kind="optee-ta")
    options = (
        OptionSpec("runtime", "path", "a prebuilt TA host (litebox-runtime-optee) instead of building it",
                   env=OVERRIDE_ENV),
        OptionSpec("signing_key", "path", "RSA key (PEM) to sign the .ta; a public key alone gives the digest "
                   "to sign offline. Unset: a throwaway key (with a warning)"),
        OptionSpec("signing_algorithm", "string", "RSA padding of the .ta signature", default="pkcs1v15",
                   choices=("pkcs1v15", "pss")),
        OptionSpec("ta_version", "integer", "the TA version in the signed header (rollback protection)",
                   default=0),
        OptionSpec("signature", "path", "a base64 signature made offline over the .ta.dig digest; "
                   "needs signing_key to be the matching (public) key"),
    )
    package = "litebox-runtime-optee"
    what = "the optee TA host"
    override_env = OVERRIDE_ENV

    def checks(self) -> list[Check]:
        """The doctor checklist: can this machine build TA hosts and sign .ta files?"""
        return [Check(*row) for row in _check()]

    def assemble(self, ctx: BuildContext, runtime: Path, image: bytes, manifest: bytes, out: Path) -> None:
        """Writes the TA host: the runtime plus sections .litebox.image and .litebox.manifest.
        PackError (before anything is written) when the image's entry is not an x86-64 TA."""
        from packager.image.imagereader import read_image

        img = read_image(image)
        try:
            ta_elf.read_ta_head(img.read_file(img.launch.entry))
        except ta_elf.TaElfError as exc:
            if _declared_kind(manifest) == "ta":
                raise PackError(f'[app].kind = "ta" but {img.launch.entry} is not an x86-64 OP-TEE TA: {exc} '
                                "(build it with platform_targets/optee/sdk/build-ta)") from None
            raise PackError(f"target optee packs OP-TEE Trusted Applications; {img.launch.entry}: {exc}") from None
        write_elf_artifact(runtime, image, manifest, out)

    def extra_steps(self, options: Mapping[str, Any]) -> list[ExtraStep]:
        """sign-ta: the signed .ta (+ .ta.json), or the .ta.dig digest when only a public key is
        configured and no signature is given yet."""
        key = options.get("signing_key")
        public_only = False
        if key and not options.get("signature"):
            try:
                public_only = b"PRIVATE KEY" not in Path(key).read_bytes()
            except OSError:
                public_only = False
        outputs = (".ta.dig",) if public_only else (".ta", ".ta.json")
        return [ExtraStep("sign-ta", outputs, _sign_ta, doc="the signed OP-TEE TA (SHDR) of the packed TA")]

    def run(self, artifact: Path, args: list[str], env: dict[str, str] | None = None, wait: bool = False) -> int:
        """Runs the TA host with ``args`` (``--commands FILE.json`` runs a command list; otherwise
        it serves clients on its socket until interrupted); returns its exit status."""
        path = str(artifact if artifact.is_absolute() or "/" in str(artifact) else Path(".") / artifact)
        if not artifact.is_file():
            raise PackError(f"{display_path(artifact)}: no such file")
        try:
            proc = subprocess.run([path, *args], check=False)
        except OSError as exc:
            raise PackError(f"{display_path(artifact)}: cannot execute: {exc.strerror}") from None
        return proc.returncode if proc.returncode >= 0 else 128 - proc.returncode

