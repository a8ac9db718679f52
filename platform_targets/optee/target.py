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
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

from packager.build.artifact import IMAGE_SECTION, MANIFEST_SECTION, add_sections, atomic_output, read_sections
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
THROWAWAY_KEY = HERE / "keys" / "public-throwaway-ta-key.pem"


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
tarecord = _sibling("tarecord")


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


def _signing_key(build: BuildContext, warn: bool) -> tuple[Any, str]:
    """The key to sign with and how to describe it: ``signing_key``, else the public throwaway
    key shipped with the target (the same everywhere, so default builds reproduce). With
    ``warn``, a loud warning for the throwaway key and for OP-TEE's development key."""
    configured = build.options.get("signing_key")
    path = Path(configured) if configured else THROWAWAY_KEY
    try:
        key = shdr.load_key(path)
    except shdr.ShdrError as exc:
        raise PackError(f"[target.optee].signing_key: {exc}") from None
    if warn and not configured:
        build.progress.warn(
            "optee: WARNING: no [target.optee].signing_key: the .ta is signed with the PUBLIC THROWAWAY key "
            f"({display_path(path)}); ANYONE can sign with it and no OP-TEE OS should trust it. Set signing_key "
            "for a real release.")
    if warn and shdr.is_dev_key(key):
        build.progress.warn(
            f"optee: WARNING: {display_path(path)} is OP-TEE's public DEVELOPMENT key: anyone can sign TAs with it; "
            "never ship a .ta signed with it")
    return key, display_path(path)


@dataclass(frozen=True)
class Signing:
    """How the packed TA is signed: the key, algorithm and version, and the signed .ta (None
    while only the public key is known and no offline signature is given yet)."""

    key: Any
    algorithm: str
    version: int
    blob: bytes | None

    @property
    def public(self) -> Any:
        return self.key.public_key() if hasattr(self.key, "private_numbers") else self.key


def _sign(build: BuildContext, elf: bytes, warn: bool) -> Signing:
    """Signs ``elf`` as the options say (a PackError when the key or signature is unusable).
    PSS signatures are kept in the state directory by digest, so the manifest, the artifact's
    section and the .ta written by the sign-ta step are the same bytes."""
    head = ta_elf.read_ta_head(elf)
    key, _ = _signing_key(build, warn)
    algorithm = build.options.get("signing_algorithm") or "pkcs1v15"
    version = int(build.options.get("ta_version") or 0)
    signature = build.options.get("signature")
    try:
        if not hasattr(key, "private_numbers") and not signature:
            return Signing(key, algorithm, version, None)
        if signature:
            blob = shdr.stitch(elf, head.uuid, key, Path(signature).read_bytes(), algorithm, version)
        else:
            blob = _stashed_pss(build, elf, head, key, algorithm, version) or shdr.sign(elf, head.uuid, key, algorithm,
                                                                                       version)
        shdr.verify(blob, key)
    except (shdr.ShdrError, OSError) as exc:
        raise PackError(f"optee: signing the TA: {exc}") from None
    if algorithm == "pss":
        _stash(build, elf, key, algorithm, version, blob)
    return Signing(key, algorithm, version, blob)


def _stash_path(build: BuildContext, elf: bytes, key: Any, algorithm: str, version: int) -> Path:
    pub = key.public_key() if hasattr(key, "private_numbers") else key
    n = pub.public_numbers().n
    ident = hashlib.sha256(elf + n.to_bytes((n.bit_length() + 7) // 8, "big")
                           + f"{algorithm}:{version}".encode()).hexdigest()
    return build.state_dir / "signed-ta" / f"{ident}.ta"


def _stashed_pss(build: BuildContext, elf: bytes, head: Any, key: Any, algorithm: str, version: int) -> bytes | None:
    """A PSS-signed .ta made earlier in this build for the same ELF, key and settings."""
    if algorithm != "pss":
        return None
    path = _stash_path(build, elf, key, algorithm, version)
    try:
        return path.read_bytes()
    except OSError:
        return None


def _stash(build: BuildContext, elf: bytes, key: Any, algorithm: str, version: int, blob: bytes) -> None:
    path = _stash_path(build, elf, key, algorithm, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path, 0o644) as tmp:
        tmp.write_bytes(blob)


def _packed_ta(image: bytes) -> bytes | None:
    """The TA ELF packed in ``image`` (its entry), or None when the entry is not a TA."""
    from packager.image.imagereader import read_image

    img = read_image(image)
    elf = img.read_file(img.launch.entry)
    return elf if ta_elf.has_ta_head(elf) else None


def _sign_ta(ctx: StepContext) -> None:
    """Writes the signed TA (or the digest to sign offline) for the artifact's TA: the same
    .ta the artifact's manifest records (checked)."""
    try:
        elf = _ta_from_artifact(ctx.artifact)
        head = ta_elf.read_ta_head(elf)
    except (ta_elf.TaElfError, KeyError) as exc:
        raise PackError(f"{display_path(ctx.artifact)}: the packed TA: {exc}") from None
    signing = _sign(ctx.build, elf, warn=False)
    if signing.blob is None:
        (dig,) = ctx.outputs
        with atomic_output(dig, 0o644) as tmp:
            tmp.write_bytes(shdr.digest_file_text(elf, head.uuid, signing.key, signing.algorithm, signing.version))
        ctx.build.progress.warn(
            f"optee: {display_path(dig)}: sign this digest offline (see docs/targets/optee.md), then set "
            "[target.optee].signature to the base64 signature file and pack again")
        return
    blob = signing.blob
    recorded = json.loads(ctx.manifest.read_bytes()).get("target_facts", {}).get("ta", {})
    if recorded.get("sha256") != hashlib.sha256(blob).hexdigest():
        raise PackError(f"optee: the .ta signed now differs from the one {display_path(ctx.manifest)} records; "
                        "pack again")
    ta_out, record_out = ctx.outputs
    with atomic_output(ta_out, 0o644) as tmp:
        tmp.write_bytes(blob)
    by_uuid = ta_out.with_name(f"{head.uuid}.ta")
    with atomic_output(by_uuid, 0o644) as tmp:
        tmp.write_bytes(blob)
    n = signing.public.public_numbers().n
    record = {
        "ta_uuid": str(head.uuid),
        "ta_version": signing.version,
        "algorithm": signing.algorithm,
        "signer_modulus_sha256": hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest(),
        "dev_key": shdr.is_dev_key(signing.key),
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

    def manifest_facts(self, ctx: BuildContext, runtime: Path, image: bytes) -> dict[str, Any]:
        """The signed .ta (``ta``): its name, UUID, version, signing algorithm, the signer's
        modulus SHA-256, the ELF's and the .ta's SHA-256 and size (none when the entry is not a
        TA: assemble reports that)."""
        elf = _packed_ta(image)
        if elf is None:
            return {}
        signing = _sign(ctx, elf, warn=True)
        return tarecord.facts(elf, signing.blob, signing.public, signing.algorithm, signing.version,
                              ta_elf.read_ta_head, shdr.is_dev_key)

    def inspect_facts(self, artifact: bytes) -> dict[str, Any]:
        """The .ta's record recomputed from the artifact: the packed ELF and the signed headers and
        key of section .litebox.optee-ta, checked as OP-TEE checks a .ta."""
        from packager.image.imagereader import read_image

        sections = read_sections(artifact, (IMAGE_SECTION, tarecord.SECTION))
        if tarecord.SECTION not in sections:
            return {}
        img = read_image(sections[IMAGE_SECTION])
        try:
            return tarecord.facts_from_section(img.read_file(img.launch.entry), sections[tarecord.SECTION], shdr,
                                               ta_elf.read_ta_head)
        except (ValueError, ta_elf.TaElfError) as exc:
            raise PackError(f"the signed TA in the artifact: {exc}") from None

    def assemble(self, ctx: BuildContext, runtime: Path, image: bytes, manifest: bytes, out: Path) -> None:
        """Writes the TA host: the runtime plus sections .litebox.image, .litebox.manifest and
        .litebox.optee-ta (the signed .ta's headers and key). PackError (before anything is
        written) when the image's entry is not an x86-64 TA."""
        from packager.image.imagereader import read_image

        img = read_image(image)
        elf = img.read_file(img.launch.entry)
        try:
            ta_elf.read_ta_head(elf)
        except ta_elf.TaElfError as exc:
            if _declared_kind(manifest) == "ta":
                raise PackError(f'[app].kind = "ta" but {img.launch.entry} is not an x86-64 OP-TEE TA: {exc} '
                                "(build it with platform_targets/optee/sdk/build-ta)") from None
            raise PackError(f"target optee packs OP-TEE Trusted Applications; {img.launch.entry}: {exc}") from None
        signing = _sign(ctx, elf, warn=False)
        recorded = json.loads(manifest).get("target_facts", {}).get("ta", {})
        if signing.blob is not None and recorded.get("sha256") != hashlib.sha256(signing.blob).hexdigest():
            raise PackError("optee: the .ta signed now differs from the one the manifest records; pack again")
        try:
            runtime_bytes = runtime.read_bytes()
        except OSError as exc:
            raise PackError(f"{display_path(runtime)}: cannot read the runtime: {exc.strerror}") from None
        ta_section = tarecord.section(elf, signing.blob, signing.public, signing.algorithm, signing.version)
        data = add_sections(runtime_bytes, {IMAGE_SECTION: image, MANIFEST_SECTION: manifest,
                                            tarecord.SECTION: ta_section})
        with atomic_output(out) as tmp:
            tmp.write_bytes(data)

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

