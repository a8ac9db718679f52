"""Signed OP-TEE TA images (``UUID.ta``): the SHDR format that OP-TEE's ``sign_encrypt.py``
writes and checks, and OP-TEE OS verifies before it loads a TA.

Layout (all little-endian)::

    struct shdr                 magic "HSTO" (0x4f545348), img_type (1: bootstrap TA),
                                img_size (the ELF's size), algo (TEE_ALG_*), hash_size, sig_size
    digest                      SHA-256 over shdr ‖ bootstrap subheader ‖ ELF
    signature                   RSA over that digest (PKCS#1 v1.5, or PSS with salt = 32 bytes)
    struct shdr_bootstrap_ta    the TA's UUID (RFC 4122 byte order), ta_version (u32)
    the ELF

PKCS#1 v1.5 signatures are deterministic, so the same inputs give the same ``.ta``; PSS draws a
random salt, so a PSS-signed ``.ta`` differs on every build (reproducibility is then checked on
everything but the signature). For an HSM: :func:`digest_file_text` gives the digest to sign
(base64, as ``sign_encrypt.py digest`` writes it) and :func:`stitch` puts the returned
signature in place after checking it against the public key.

Run as a script for the same steps by hand:
``python3 platform_targets/optee/shdr.py {sign,digest,stitch,verify,info} --help``.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import os
import struct
import sys
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SHDR_MAGIC = 0x4F545348
SHDR_BOOTSTRAP_TA = 1
SHDR_ENCRYPTED_TA = 2
SHDR_SIZE = 20
BOOTSTRAP_SIZE = 20
DIGEST_SIZE = 32

ALGORITHMS = {
    "pkcs1v15": 0x70004830,  # TEE_ALG_RSASSA_PKCS1_V1_5_SHA256
    "pss": 0x70414930,  # TEE_ALG_RSASSA_PKCS1_PSS_MGF1_SHA256
}
ALGORITHM_NAMES = {value: name for name, value in ALGORITHMS.items()}

# SHA-256 of the big-endian modulus of OP-TEE's development TA key (optee_os keys/default.pem,
# published with OP-TEE): anyone can sign with it, so a .ta signed with it proves nothing.
DEV_KEY_MODULUS_SHA256 = "bc5c24a3c79f65ac783b4d6d091ac29bfac51578a3a13b675c253eb4a4057cef"

# An RSA private or public key of the `cryptography` package (imported when first needed).
KeyTypes = Any


class ShdrError(ValueError):
    """A signed TA that is malformed or does not verify; the message is one line."""


@dataclass(frozen=True)
class SignedTa:
    """What a signed TA's headers say."""

    img_type: int
    img_size: int
    algorithm: str
    digest: bytes
    signature: bytes
    uuid: uuidlib.UUID
    ta_version: int
    elf: bytes


def _crypto() -> tuple:
    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
    except ImportError:
        raise ShdrError("signing a TA needs the Python package 'cryptography' (pip install cryptography)") from None
    return hashes, serialization, padding, rsa, utils


def load_key(path: Path) -> KeyTypes:
    """The RSA key in PEM file ``path``: a private key, or (to verify or stitch) a public one."""
    _, serialization, _, rsa, _ = _crypto()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ShdrError(f"{path}: cannot read the key: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            raise ShdrError(f"{path}: not an unencrypted PEM RSA key") from None
    if not isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        raise ShdrError(f"{path}: not an RSA key (OP-TEE verifies TAs with RSA)")
    return key


def _public(key: KeyTypes) -> KeyTypes:
    return key.public_key() if hasattr(key, "private_numbers") else key


def is_dev_key(key: KeyTypes) -> bool:
    """True when ``key`` is OP-TEE's published development key."""
    n = _public(key).public_numbers().n
    return hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest() == DEV_KEY_MODULUS_SHA256


def _sig_size(key: KeyTypes) -> int:
    return (key.key_size + 7) // 8


def _headers(elf: bytes, ta_uuid: uuidlib.UUID, ta_version: int, algorithm: str, sig_size: int) -> tuple[bytes, bytes]:
    if algorithm not in ALGORITHMS:
        raise ShdrError(f"unknown signature algorithm {algorithm!r} (known: {', '.join(ALGORITHMS)})")
    if not 0 <= ta_version < 2**32:
        raise ShdrError(f"TA version {ta_version} is not a 32-bit unsigned integer")
    shdr = struct.pack("<IIIIHH", SHDR_MAGIC, SHDR_BOOTSTRAP_TA, len(elf), ALGORITHMS[algorithm], DIGEST_SIZE,
                       sig_size)
    return shdr, ta_uuid.bytes + struct.pack("<I", ta_version)


def image_digest(elf: bytes, ta_uuid: uuidlib.UUID, ta_version: int, algorithm: str, sig_size: int) -> bytes:
    """The SHA-256 digest a signer signs: over the header, the bootstrap subheader and the ELF."""
    shdr, boot = _headers(elf, ta_uuid, ta_version, algorithm, sig_size)
    return hashlib.sha256(shdr + boot + elf).digest()


def _padding(algorithm: str) -> object:
    hashes, _, padding, _, _ = _crypto()
    if algorithm == "pss":
        return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=DIGEST_SIZE)
    return padding.PKCS1v15()


def _check_signature(key: KeyTypes, algorithm: str, digest: bytes, signature: bytes) -> None:
    from cryptography.exceptions import InvalidSignature

    hashes, _, _, _, utils = _crypto()
    try:
        _public(key).verify(signature, digest, _padding(algorithm), utils.Prehashed(hashes.SHA256()))
    except InvalidSignature:
        raise ShdrError("the signature does not verify with this key") from None


def _assemble(elf: bytes, ta_uuid: uuidlib.UUID, ta_version: int, algorithm: str, signature: bytes) -> bytes:
    shdr, boot = _headers(elf, ta_uuid, ta_version, algorithm, len(signature))
    digest = hashlib.sha256(shdr + boot + elf).digest()
    return shdr + digest + signature + boot + elf


def sign(elf: bytes, ta_uuid: uuidlib.UUID, key: KeyTypes, algorithm: str = "pkcs1v15", ta_version: int = 0) -> bytes:
    """The signed TA (``UUID.ta`` bytes) for ``elf``, signed with private ``key``."""
    hashes, _, _, rsa, utils = _crypto()
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ShdrError("signing needs a private key; with only the public key use digest + stitch")
    digest = image_digest(elf, ta_uuid, ta_version, algorithm, _sig_size(key))
    signature = key.sign(digest, _padding(algorithm), utils.Prehashed(hashes.SHA256()))
    return _assemble(elf, ta_uuid, ta_version, algorithm, signature)


def digest_file_text(elf: bytes, ta_uuid: uuidlib.UUID, key: KeyTypes, algorithm: str = "pkcs1v15",
                     ta_version: int = 0) -> bytes:
    """The digest to sign offline, base64 (what ``sign_encrypt.py digest`` writes to UUID.dig)."""
    return base64.b64encode(image_digest(elf, ta_uuid, ta_version, algorithm, _sig_size(key)))


def stitch(elf: bytes, ta_uuid: uuidlib.UUID, key: KeyTypes, signature_b64: bytes, algorithm: str = "pkcs1v15",
           ta_version: int = 0) -> bytes:
    """The signed TA from an offline signature (base64, as UUID.sig); ShdrError unless it
    verifies with ``key`` (the public half is enough)."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except ValueError:
        raise ShdrError("the signature file is not base64") from None
    if len(signature) != _sig_size(key):
        raise ShdrError(f"the signature has {len(signature)} bytes; a {key.key_size}-bit key gives {_sig_size(key)}")
    _check_signature(key, algorithm, image_digest(elf, ta_uuid, ta_version, algorithm, len(signature)), signature)
    return _assemble(elf, ta_uuid, ta_version, algorithm, signature)


def parse(blob: bytes) -> SignedTa:
    """The headers and ELF of a signed TA; ShdrError (one line) when it is not well formed."""
    if len(blob) < SHDR_SIZE:
        raise ShdrError("too short for a signed TA header")
    magic, img_type, img_size, algo, hash_size, sig_size = struct.unpack_from("<IIIIHH", blob)
    if magic != SHDR_MAGIC:
        raise ShdrError(f"not a signed TA: magic 0x{magic:08x}, expected 0x{SHDR_MAGIC:08x}")
    if img_type != SHDR_BOOTSTRAP_TA:
        raise ShdrError(f"image type {img_type} is not a plain bootstrap TA (1)")
    if algo not in ALGORITHM_NAMES:
        raise ShdrError(f"unknown signature algorithm 0x{algo:08x}")
    if hash_size != DIGEST_SIZE:
        raise ShdrError(f"digest size {hash_size}, SHA-256 has {DIGEST_SIZE}")
    body = SHDR_SIZE + hash_size + sig_size
    if len(blob) != body + BOOTSTRAP_SIZE + img_size:
        raise ShdrError(f"size mismatch: the header says {body + BOOTSTRAP_SIZE + img_size} bytes, "
                        f"the file has {len(blob)}")
    raw_uuid, version = struct.unpack_from("<16sI", blob, body)
    return SignedTa(img_type, img_size, ALGORITHM_NAMES[algo], blob[SHDR_SIZE:SHDR_SIZE + hash_size],
                    blob[SHDR_SIZE + hash_size:body], uuidlib.UUID(bytes=raw_uuid), version,
                    blob[body + BOOTSTRAP_SIZE:])


def verify(blob: bytes, key: KeyTypes) -> SignedTa:
    """Checks a signed TA as OP-TEE does: the signature over the recorded digest, and the
    digest over the headers and the ELF. Returns its headers; ShdrError when anything fails."""
    ta = parse(blob)
    _check_signature(key, ta.algorithm, ta.digest, ta.signature)
    body = SHDR_SIZE + len(ta.digest) + len(ta.signature)
    computed = hashlib.sha256(blob[:SHDR_SIZE] + blob[body:body + BOOTSTRAP_SIZE] + ta.elf).digest()
    if computed != ta.digest:
        raise ShdrError("the digest does not match the image: it was changed after signing")
    return ta


def new_throwaway_key(path: Path) -> None:
    """Writes a fresh 2048-bit RSA key (PEM, mode 0600) at ``path``, atomically."""
    _, serialization, _, rsa, _ = _crypto()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.replace(tmp, path)


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="shdr.py", description="Sign, check and inspect OP-TEE TA images (UUID.ta, SHDR format).",
        epilog="Offline (HSM) signing: `digest` writes the base64 SHA-256 to sign; sign it with e.g. "
               "`base64 -d UUID.dig | openssl pkeyutl -sign -inkey KEY.pem -pkeyopt digest:sha256 "
               "-pkeyopt rsa_padding_mode:pkcs1 | base64 > UUID.sig`, then `stitch` with the public key.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("sign", "sign an ELF TA with a private key"), ("digest", "write the digest to sign offline"),
                       ("stitch", "combine an ELF TA and an offline signature"), ("verify", "check a signed TA"),
                       ("info", "print a signed TA's headers")):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--in", dest="inf", required=True, type=Path, help="the input (ELF, or .ta for verify/info)")
        if name != "info":
            p.add_argument("--key", required=True, type=Path, help="RSA key, PEM (public is enough for stitch/verify)")
        if name in ("sign", "digest", "stitch"):
            p.add_argument("--uuid", type=uuidlib.UUID, help="the TA's UUID (default: from its .ta_head)")
            p.add_argument("--ta-version", type=lambda s: int(s, 0), default=0, help="u32 TA version (default 0)")
            p.add_argument("--algo", choices=sorted(ALGORITHMS), default="pkcs1v15",
                           help="RSA padding: pkcs1v15 (deterministic, default) or pss")
            p.add_argument("--out", type=Path, help="output file (default: UUID.ta, or UUID.dig for digest)")
        if name == "stitch":
            p.add_argument("--sig", required=True, type=Path, help="the base64 signature file")
    args = parser.parse_args(argv)
    try:
        data = args.inf.read_bytes()
    except OSError as exc:
        print(f"shdr.py: {args.inf}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        if args.command == "info":
            ta = parse(data)
            print(f"uuid {ta.uuid}\nversion {ta.ta_version}\nalgorithm {ta.algorithm}\nelf {ta.img_size} bytes\n"
                  f"digest {ta.digest.hex()}")
            return 0
        key = load_key(args.key)
        if args.command == "verify":
            ta = verify(data, key)
            print(f"{args.inf}: signature OK ({ta.algorithm}, uuid {ta.uuid}, version {ta.ta_version})")
            return 0
        if is_dev_key(key):
            print("shdr.py: WARNING: this is OP-TEE's public development key; anyone can sign TAs with it",
                  file=sys.stderr)
        ta_uuid = args.uuid
        if ta_uuid is None:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from ta_elf import read_ta_head

            ta_uuid = read_ta_head(data).uuid
        if args.command == "digest":
            out, blob = args.out or Path(f"{ta_uuid}.dig"), digest_file_text(data, ta_uuid, key, args.algo,
                                                                            args.ta_version)
        elif args.command == "stitch":
            out = args.out or Path(f"{ta_uuid}.ta")
            blob = stitch(data, ta_uuid, key, args.sig.read_bytes(), args.algo, args.ta_version)
        else:
            out, blob = args.out or Path(f"{ta_uuid}.ta"), sign(data, ta_uuid, key, args.algo, args.ta_version)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, out)
        print(out)
        return 0
    except (ShdrError, ValueError, OSError) as exc:
        print(f"shdr.py: {args.inf}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(_main())
