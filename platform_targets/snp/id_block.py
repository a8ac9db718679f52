"""The SEV-SNP ID block and its ID key signature (ECDSA P-384 with SHA-384), as the SNP
firmware ABI lays them out (SNP_LAUNCH_FINISH) and the IGVM ``SNP_ID_BLOCK`` header carries
them.

ID block (0x60 bytes): LD (48), FAMILY_ID (16), IMAGE_ID (16), VERSION (u32, 1), GUEST_SVN
(u32), POLICY (u64). The signature is over those 96 bytes; R and S are little-endian,
zero-extended to 72 bytes each. The public key is CURVE (u32, 2 = P-384), reserved (u32), QX
and QY little-endian in 72 bytes each.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

# cryptography (~25 ms to import) is imported by the functions that sign or check: every
# `litebox pack` loads this target's plugin, and few packs make an ID block.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

ID_BLOCK = struct.Struct("<48s16s16sIIQ")
ALGO_ECDSA_P384_SHA384 = 1
CURVE_P384 = 2
ID_BLOCK_VERSION = 1
# The throwaway key: derived from this public constant, so it is the same everywhere and
# anyone can sign with it. Good for trying the flow out; worthless as an identity.
THROWAWAY_SEED = b"LiteBox Pack throwaway SNP ID key: public, for testing only"


class IdBlockError(ValueError):
    """A key, signature or ID block field is not usable."""


@dataclass(frozen=True)
class Fields:
    """The signed fields besides the digest."""

    family_id: bytes = bytes(16)
    image_id: bytes = bytes(16)
    guest_svn: int = 0
    policy: int = 0


def block(ld: bytes, fields: Fields) -> bytes:
    """The 96-byte ID block for launch digest ``ld``."""
    if len(ld) != 48 or len(fields.family_id) != 16 or len(fields.image_id) != 16:
        raise IdBlockError("the launch digest is 48 bytes, family and image ids 16")
    return ID_BLOCK.pack(ld, fields.family_id, fields.image_id, ID_BLOCK_VERSION, fields.guest_svn, fields.policy)


def throwaway_key() -> ec.EllipticCurvePrivateKey:
    """The public throwaway P-384 key (see THROWAWAY_SEED)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    order = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973
    scalar = int.from_bytes(hashlib.sha384(THROWAWAY_SEED).digest(), "big") % (order - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP384R1())


def load_private_key(pem: bytes, where: str) -> ec.EllipticCurvePrivateKey:
    """A P-384 private key from PEM (IdBlockError naming ``where`` otherwise)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise IdBlockError(f"{where}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp384r1":
        raise IdBlockError(f"{where}: the ID key must be an ECDSA P-384 (secp384r1) key")
    return key


def load_public_key(pem: bytes, where: str) -> ec.EllipticCurvePublicKey:
    """A P-384 public key from PEM (IdBlockError naming ``where`` otherwise)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise IdBlockError(f"{where}: not a PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp384r1":
        raise IdBlockError(f"{where}: the ID key must be an ECDSA P-384 (secp384r1) key")
    return key


def sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> tuple[int, int]:
    """(r, s) of a deterministic (RFC 6979) ECDSA P-384 / SHA-384 signature of ``data``."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    return decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA384(), deterministic_signing=True)))


def signature_from_file(raw: bytes, where: str) -> tuple[int, int]:
    """(r, s) from a DER ECDSA-Sig-Value (openssl, most KMS) or 96 raw bytes r || s big-endian."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    if len(raw) == 96:
        return int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big")
    try:
        return decode_dss_signature(raw)
    except ValueError:
        raise IdBlockError(f"{where}: not a DER ECDSA signature nor 96 raw bytes (r || s)") from None


def signature_field(r: int, s: int) -> bytes:
    """The 144-byte r_comp/s_comp form."""
    return r.to_bytes(72, "little") + s.to_bytes(72, "little")


def public_key_field(key: ec.EllipticCurvePublicKey) -> bytes:
    """The 152-byte curve/qx/qy form."""
    n = key.public_numbers()
    return struct.pack("<II", CURVE_P384, 0) + n.x.to_bytes(72, "little") + n.y.to_bytes(72, "little")


def verify(data: bytes, signature: bytes, public_key: bytes) -> bool:
    """Whether ``signature`` (144-byte form) over ``data`` checks with ``public_key`` (152)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    curve, _ = struct.unpack_from("<II", public_key)
    if curve != CURVE_P384 or len(signature) != 144 or len(public_key) != 152:
        return False
    x, y = int.from_bytes(public_key[8:80], "little"), int.from_bytes(public_key[80:152], "little")
    r, s = int.from_bytes(signature[:72], "little"), int.from_bytes(signature[72:], "little")
    try:
        key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP384R1()).public_key()
        key.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA384()))
    except (InvalidSignature, ValueError):
        return False
    return True


def is_throwaway(public_key: bytes) -> bool:
    """Whether ``public_key`` (152-byte form) is the public throwaway key."""
    return public_key == public_key_field(throwaway_key().public_key())
