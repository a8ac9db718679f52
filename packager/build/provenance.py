"""Signed build provenance: an in-toto Statement (v1) with a SLSA Provenance v1 predicate, in a
DSSE envelope (``NAME-TARGET.intoto.json``).

The formats come from maintained libraries: the Statement and predicate are checked against
in-toto-attestation's protobuf schemas before they are written, and the envelope, its
pre-authentication encoding (PAE) and the signatures are securesystemslib's DSSE with keys
loaded by ``cryptography`` (Ed25519, ECDSA, RSA). For a key that never leaves a KMS, pack
writes the envelope unsigned plus the exact PAE bytes to sign (``.intoto.pae``) and their
sha256 (``.intoto.pae.sha256``); ``litebox sign-provenance`` then adds the KMS's signature.
"""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from packager import __version__
from packager.build.artifact import atomic_output
from packager.build.canonjson import canonical_json
from packager.errors import PackError

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://github.com/litebox-pack/litebox-pack/buildtypes/pack/v1"
DEFAULT_BUILDER = f"https://github.com/litebox-pack/litebox-pack@{__version__}"
SUFFIX = ".intoto.json"


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_statement(sidecar: dict[str, Any], artifact: Path, byproducts: list[Path], builder_id: str) -> dict[str, Any]:
    """The in-toto Statement for ``artifact`` from its sidecar manifest: subject = the artifact by
    sha256; buildDefinition = build type, the resolved configuration and policy (external
    parameters), toolchain (internal), every input by sha256 plus runtime, image and Cargo.lock
    (resolved dependencies); runDetails = the builder and the byproducts (manifest, SBOM)."""
    deps: list[dict[str, Any]] = []
    for item in sidecar.get("inputs", []):
        dep: dict[str, Any] = {"name": item["image_path"], "digest": {"sha256": item["sha256"]},
                               "annotations": {"host_path": item["host_path"], "reason": item["reason"]}}
        deps.append(dep)
    for item in sidecar.get("generated", []):
        deps.append({"name": item["image_path"], "digest": {"sha256": item["sha256"]},
                     "annotations": {"reason": item["reason"]}})
    runtime = sidecar["runtime"]
    deps.append({"name": f"runtime:{sidecar['target']}", "digest": {"sha256": runtime["sha256"]},
                 "annotations": {"origin": runtime.get("origin", "built")}})
    deps.append({"name": "image", "digest": {"sha256": sidecar["image"]["sha256"]},
                 "annotations": {"image_digest": sidecar["image"]["digest"]}})
    lock = sidecar.get("toolchain", {}).get("cargo_lock_sha256")
    if lock and lock != "absent":
        deps.append({"name": "Cargo.lock", "digest": {"sha256": lock}})
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {"target": sidecar["target"], "name": sidecar["name"], "mode": sidecar["mode"],
                                   "config": sidecar["config"], "source_date_epoch": sidecar["source_date_epoch"]},
            "internalParameters": {"toolchain": sidecar.get("toolchain", {}), "policy": sidecar.get("policy", {}),
                                   "packager": sidecar.get("packager", {})},
            "resolvedDependencies": deps,
        },
        "runDetails": {
            "builder": {"id": builder_id, "version": {"litebox-pack": __version__}},
            "metadata": {},
            "byproducts": [{"name": p.name, "digest": {"sha256": _sha256_file(p)}} for p in byproducts],
        },
    }
    statement = {"_type": STATEMENT_TYPE,
                 "subject": [{"name": artifact.name, "digest": {"sha256": sidecar["artifact"]["sha256"]}}],
                 "predicateType": PREDICATE_TYPE, "predicate": predicate}
    check_statement(statement)
    return statement


def check_statement(statement: dict[str, Any]) -> None:
    """Checks ``statement`` against in-toto-attestation's Statement and SLSA Provenance v1
    schemas (unknown fields, wrong types, missing subject digest: a PackError)."""
    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    try:
        pb = json_format.ParseDict(statement, statement_pb2.Statement())
        Statement.copy_from_pb(pb).validate()
        if statement.get("predicateType") != PREDICATE_TYPE:
            raise ValueError(f"predicateType is not {PREDICATE_TYPE}")
        json_format.ParseDict(statement["predicate"], provenance_pb2.Provenance())
    except (json_format.ParseError, ValueError, KeyError, TypeError) as exc:
        raise PackError(f"provenance statement does not match the in-toto/SLSA schema: {exc}") from None


def load_private_key(path: Path) -> Any:
    """A securesystemslib signer for the PEM private key at ``path`` (one-line PackError)."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner

    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
        return CryptoSigner(key)
    except OSError as exc:
        raise PackError(f"{path}: cannot read the provenance key: {exc.strerror}") from None
    except (ValueError, TypeError, Exception) as exc:  # cryptography and sslib raise various
        raise PackError(f"{path}: not a usable unencrypted PEM private key ({exc})") from None


def load_public_key(path: Path) -> Any:
    """A securesystemslib key for the PEM public key at ``path`` (one-line PackError)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    try:
        return SSlibKey.from_crypto(load_pem_public_key(path.read_bytes()))
    except OSError as exc:
        raise PackError(f"{path}: cannot read the public key: {exc.strerror}") from None
    except Exception as exc:  # cryptography and sslib raise various
        raise PackError(f"{path}: not a usable PEM public key ({exc})") from None


def _write(path: Path, data: bytes) -> None:
    with atomic_output(path, 0o644) as tmp:
        tmp.write_bytes(data)


def write_envelope(statement: dict[str, Any], out: Path, signer: Any | None) -> list[Path]:
    """Writes the DSSE envelope of ``statement`` at ``out``: signed by ``signer``, or unsigned
    with the PAE to sign beside it (``.pae`` and ``.pae.sha256``). Returns the files written."""
    from securesystemslib.dsse import Envelope

    envelope = Envelope(canonical_json(statement), PAYLOAD_TYPE, {})
    written = [out]
    if signer is not None:
        envelope.sign(signer)
    else:
        pae = envelope.pae()
        _write(out.with_name(out.name + ".pae"), pae)
        _write(out.with_name(out.name + ".pae.sha256"), (hashlib.sha256(pae).hexdigest() + "\n").encode())
        written += [out.with_name(out.name + ".pae"), out.with_name(out.name + ".pae.sha256")]
    _write(out, (json.dumps(envelope.to_dict(), sort_keys=True) + "\n").encode())
    return written


def read_envelope(path: Path) -> Any:
    """The DSSE envelope in ``path`` (one-line PackError when it is not one)."""
    from securesystemslib.dsse import Envelope

    try:
        envelope = Envelope.from_dict(json.loads(path.read_bytes()))
    except OSError as exc:
        raise PackError(f"{path}: cannot read: {exc.strerror}") from None
    except Exception as exc:
        raise PackError(f"{path}: not a DSSE envelope ({type(exc).__name__}: {exc})") from None
    if envelope.payload_type != PAYLOAD_TYPE:
        raise PackError(f"{path}: payloadType is {envelope.payload_type!r}, not {PAYLOAD_TYPE!r}")
    return envelope


def attach_signature(envelope_path: Path, signature: bytes, public_key: Path) -> str:
    """Adds ``signature`` (raw bytes, or base64 text, over the envelope's PAE, e.g. from a KMS)
    made by the key whose public half is ``public_key``; it must verify. Returns the keyid."""
    from securesystemslib.signer import Signature

    envelope = read_envelope(envelope_path)
    key = load_public_key(public_key)
    text = signature.strip()
    try:
        raw = base64.b64decode(text, validate=True) if text and all(32 < b < 127 for b in text) else signature
    except ValueError:
        raw = signature
    envelope.signatures[key.keyid] = Signature(key.keyid, raw.hex())
    try:
        envelope.verify([key], 1)
    except Exception:
        raise PackError(f"the signature does not verify with {public_key} over {envelope_path}'s PAE") from None
    _write(envelope_path, (json.dumps(envelope.to_dict(), sort_keys=True) + "\n").encode())
    return key.keyid


def check_provenance(envelope_path: Path, public_key: Path, artifact_sha256: str,
                     embedded: dict[str, Any]) -> str | None:
    """None when ``envelope_path`` is signed by ``public_key``, holds a valid in-toto/SLSA v1
    statement whose subject is the artifact (by sha256), and records as resolved dependencies
    exactly the inputs, runtime and image the artifact's embedded manifest names; else the
    first problem, one line."""
    envelope = read_envelope(envelope_path)
    key = load_public_key(public_key)
    try:
        envelope.verify([key], 1)
    except Exception:
        return f"provenance signature does not verify with {public_key}"
    try:
        statement = json.loads(envelope.payload)
    except ValueError:
        return "provenance payload is not JSON"
    try:
        check_statement(statement)
    except PackError as exc:
        return str(exc)
    if not any(s.get("digest", {}).get("sha256") == artifact_sha256 for s in statement["subject"]):
        return f"provenance subject is not this artifact (sha256 {artifact_sha256})"
    recorded = {(d.get("name"), d.get("digest", {}).get("sha256"))
                for d in statement["predicate"]["buildDefinition"].get("resolvedDependencies", [])}
    wanted = [(i["image_path"], i["sha256"]) for i in embedded.get("inputs", []) + embedded.get("generated", [])]
    wanted += [(f"runtime:{embedded['target']}", embedded["runtime"]["sha256"]),
               ("image", embedded["image"]["sha256"])]
    lock = embedded.get("toolchain", {}).get("cargo_lock_sha256")
    if lock and lock != "absent":
        wanted.append(("Cargo.lock", lock))
    for name, digest in wanted:
        if (name, digest) not in recorded:
            return f"provenance does not record input {name} with sha256 {digest}"
    extra = recorded - set(wanted)
    if extra:
        name, digest = sorted(extra, key=str)[0]
        return f"provenance records input {name} (sha256 {digest}) that the artifact does not contain"
    return None
