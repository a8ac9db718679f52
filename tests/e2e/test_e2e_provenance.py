"""Signed provenance: in-toto Statement v1 + SLSA Provenance v1 in a DSSE envelope, signed at
pack time with a PEM key or afterwards with a signature made elsewhere (openssl standing in
for a KMS), and checked by `litebox verify --provenance FILE --key PUB`."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from litebox_e2e import describe, parse_pack_json, run_cli

PROGRAM = "/usr/bin/echo"
OTHER = "/usr/bin/true"
BUILDER = "https://ci.example/runs/42"


def _pem_pair(key: Any, folder: Path, name: str) -> tuple[Path, Path]:
    priv, pub = folder / f"{name}.pem", folder / f"{name}.pub"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("keys")
    return {"ed": _pem_pair(ed25519.Ed25519PrivateKey.generate(), folder, "ed"),
            "ec": _pem_pair(ec.generate_private_key(ec.SECP256R1()), folder, "ec")}


def _pack(program: str, out: Path, *extra: str) -> dict[str, Any]:
    proc = run_cli("pack", program, "--out-dir", out, "--json", *extra)
    assert proc.returncode == 0, describe(proc)
    art = parse_pack_json(proc.stdout)[0]
    envelope = json.loads(proc.stdout)["artifacts"][0]["provenance"]
    return {"path": art.path, "sha256": art.sha256, "manifest": art.manifest,
            "provenance": Path(envelope) if envelope else None}


@pytest.fixture(scope="module")
def signed(keys: dict[str, tuple[Path, Path]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("signed")
    return _pack(PROGRAM, out / "dist", "--provenance-key", str(keys["ed"][0]), "--builder-id", BUILDER)


def _statement(envelope: Path) -> dict[str, Any]:
    return json.loads(base64.b64decode(json.loads(envelope.read_bytes())["payload"]))


def test_statement_names_builder_subject_and_every_input(signed: dict[str, Any]) -> None:
    st = _statement(signed["provenance"])
    assert st["_type"] == "https://in-toto.io/Statement/v1"
    assert st["predicateType"] == "https://slsa.dev/provenance/v1"
    assert st["subject"] == [{"name": signed["path"].name, "digest": {"sha256": signed["sha256"]}}]
    pred = st["predicate"]
    assert pred["runDetails"]["builder"]["id"] == BUILDER
    manifest = json.loads(signed["manifest"].read_bytes())
    deps = {(d["name"], d["digest"]["sha256"]) for d in pred["buildDefinition"]["resolvedDependencies"]}
    for item in manifest["inputs"]:
        assert (item["image_path"], item["sha256"]) in deps
    assert ("runtime:linux-userland", manifest["runtime"]["sha256"]) in deps
    assert pred["buildDefinition"]["externalParameters"]["config"] == manifest["config"]
    byproducts = {b["name"]: b["digest"]["sha256"] for b in pred["runDetails"]["byproducts"]}
    assert byproducts[signed["manifest"].name] == hashlib.sha256(signed["manifest"].read_bytes()).hexdigest()


def test_verify_checks_signature_subject_and_inputs(signed: dict[str, Any], keys: dict[str, tuple[Path, Path]]) -> None:
    ok = run_cli("verify", signed["path"], "--provenance", signed["provenance"], "--key", keys["ed"][1])
    assert ok.returncode == 0 and ok.stdout.strip() == "verified", describe(ok)
    assert "signature, subject and inputs match" in ok.stderr
    wrong = run_cli("verify", signed["path"], "--provenance", signed["provenance"], "--key", keys["ec"][1])
    assert wrong.returncode == 1
    assert wrong.stderr.strip().endswith(f"provenance signature does not verify with {keys['ec'][1]}")


def test_provenance_of_another_artifact_is_refused(signed: dict[str, Any], keys: dict[str, tuple[Path, Path]],
                                                  tmp_path: Path) -> None:
    other = _pack(OTHER, tmp_path / "dist")
    proc = run_cli("verify", other["path"], "--provenance", signed["provenance"], "--key", keys["ed"][1])
    assert proc.returncode == 1
    assert "provenance subject is not this artifact" in proc.stderr


def test_signed_statement_with_a_changed_input_is_refused(signed: dict[str, Any],
                                                          keys: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    """A correctly signed statement that lies about one input (its digest) fails on that input."""
    from packager.build.provenance import load_private_key, write_envelope

    st = _statement(signed["provenance"])
    dep = st["predicate"]["buildDefinition"]["resolvedDependencies"][0]
    dep["digest"]["sha256"] = "0" * 64
    forged = tmp_path / "forged.intoto.json"
    write_envelope(st, forged, load_private_key(keys["ed"][0]))
    proc = run_cli("verify", signed["path"], "--provenance", forged, "--key", keys["ed"][1])
    assert proc.returncode == 1
    assert f"provenance does not record input {dep['name']} with sha256" in proc.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl (the stand-in KMS) is not installed")
def test_kms_flow_digest_out_signature_in(keys: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    """pack --provenance writes the PAE to sign and its sha256; a signature made by another tool
    over it (openssl, ECDSA P-256 SHA-256, as a KMS would) is attached and verifies; a
    signature over other bytes is refused."""
    art = _pack(PROGRAM, tmp_path / "dist", "--provenance")
    envelope = art["provenance"]
    pae = envelope.with_name(envelope.name + ".pae")
    assert envelope.with_name(envelope.name + ".pae.sha256").read_text().strip() == \
        hashlib.sha256(pae.read_bytes()).hexdigest()
    assert json.loads(envelope.read_bytes())["signatures"] == []
    unsigned = run_cli("verify", art["path"], "--provenance", envelope, "--key", keys["ec"][1])
    assert unsigned.returncode == 1 and "signature does not verify" in unsigned.stderr

    bad = tmp_path / "bad.sig"
    subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(keys["ec"][0]), "-out", str(bad), "/dev/null"],
                   check=True, timeout=60)
    refused = run_cli("sign-provenance", envelope, "--signature", bad, "--public-key", keys["ec"][1])
    assert refused.returncode == 2 and "the signature does not verify" in refused.stderr

    sig = tmp_path / "kms.sig"
    subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(keys["ec"][0]), "-out", str(sig), str(pae)],
                   check=True, timeout=60)
    b64 = tmp_path / "kms.sig.b64"
    b64.write_bytes(base64.b64encode(sig.read_bytes()) + b"\n")  # as `aws kms sign --output text` gives it
    added = run_cli("sign-provenance", envelope, "--signature", b64, "--public-key", keys["ec"][1])
    assert added.returncode == 0, describe(added)
    ok = run_cli("verify", art["path"], "--provenance", envelope, "--key", keys["ec"][1])
    assert ok.returncode == 0 and ok.stdout.strip() == "verified", describe(ok)
