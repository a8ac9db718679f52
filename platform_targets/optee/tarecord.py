"""The signed ``.ta`` in the artifact: its record in the manifest (``target_facts["ta"]``) and
the section ``.litebox.optee-ta`` of the TA host that lets ``litebox inspect`` recompute that
record from the artifact alone.

The section holds, as canonical JSON, the signer's public key (DER, base64) and the signed
headers of the ``.ta`` (everything before the ELF: ``struct shdr``, digest, signature,
bootstrap subheader); the ELF is the packed TA itself, so header + ELF are the ``.ta``'s
bytes. Before the signature exists (the digest-out flow) it holds the key, the algorithm and
the version only.
"""
from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Callable

SECTION = ".litebox.optee-ta"


def _modulus_sha256(public: Any) -> str:
    n = public.public_numbers().n
    return hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest()


def facts(elf: bytes, blob: bytes | None, public: Any, algorithm: str, version: int,
          read_head: Callable[[bytes], Any], is_dev_key: Callable[[Any], bool]) -> dict[str, Any]:
    """The manifest's ``target_facts`` for a TA ``elf`` signed as ``blob`` (None: not signed
    yet) by the key whose public half is ``public``."""
    head = read_head(elf)
    record: dict[str, Any] = {
        "name": f"{head.uuid}.ta",
        "uuid": str(head.uuid),
        "version": version,
        "algorithm": algorithm,
        "signer_modulus_sha256": _modulus_sha256(public),
        "dev_key": is_dev_key(public),
        "elf_sha256": hashlib.sha256(elf).hexdigest(),
        "signed": blob is not None,
    }
    if blob is not None:
        record.update(sha256=hashlib.sha256(blob).hexdigest(), size=len(blob))
    return {"ta": record}


def section(elf: bytes, blob: bytes | None, public: Any, algorithm: str, version: int) -> bytes:
    """The ``.litebox.optee-ta`` section's bytes for ``blob`` (the signed .ta of ``elf``, or None)."""
    from cryptography.hazmat.primitives import serialization

    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    doc: dict[str, Any] = {"public_key": base64.b64encode(der).decode(), "algorithm": algorithm, "version": version}
    if blob is not None:
        if not blob.endswith(elf):
            raise ValueError("the signed TA does not end with the packed ELF")
        doc["headers"] = base64.b64encode(blob[:len(blob) - len(elf)]).decode()
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def facts_from_section(elf: bytes, data: bytes, shdr: Any, read_head: Callable[[bytes], Any]) -> dict[str, Any]:
    """``facts`` recomputed from the packed ``elf`` and the section: the .ta is rebuilt from
    the section's headers and the ELF and checked as OP-TEE checks it (``shdr.verify`` with the
    section's key). Raises ValueError (one line) when the section is damaged or does not verify."""
    from cryptography.hazmat.primitives import serialization

    try:
        doc = json.loads(data)
        public = serialization.load_der_public_key(base64.b64decode(doc["public_key"], validate=True))
        algorithm, version = str(doc["algorithm"]), int(doc["version"])
        headers = base64.b64decode(doc["headers"], validate=True) if "headers" in doc else None
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"section {SECTION} is damaged: {exc}") from None
    blob = None
    if headers is not None:
        blob = headers + elf
        ta = shdr.verify(blob, public)
        algorithm, version = ta.algorithm, ta.ta_version
    return facts(elf, blob, public, algorithm, version, read_head, shdr.is_dev_key)
