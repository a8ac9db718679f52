"""The optee target's signed TA images (platform_targets/optee/shdr.py) and .ta_head reader
(ta_elf.py). Each .ta is checked by an independent verifier written here the way OP-TEE's
scripts/sign_encrypt.py `verify` does it (header fields, signature over the recorded digest,
digest over header + bootstrap subheader + ELF), with the `cryptography` package."""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import struct
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

import pytest

cryptography = pytest.importorskip("cryptography")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils  # noqa: E402

HERE = Path(__file__).resolve().parents[2] / "platform_targets" / "optee"
TA_UUID = uuid.UUID("8aaaf200-2450-11e4-abe2-0002a5d5c51b")


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"optee_test_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


shdr = _load("shdr")
ta_elf = _load("ta_elf")

TA_C = """
#include <stdint.h>
struct ta_head { uint32_t t; uint16_t m; uint16_t h; uint8_t c[8]; uint32_t stack; uint32_t flags; uint64_t entry; };
int ta_entry(void) { return 0; }
const struct ta_head ta_head __attribute__((section(".ta_head"), used)) = {
    0x8aaaf200, 0x2450, 0x11e4, {0xab, 0xe2, 0x00, 0x02, 0xa5, 0xd5, 0xc5, 0x1b}, 0x800, 0xc, 0x1234 };
"""


def sign_encrypt_verify(img: bytes, key: Any) -> uuid.UUID:
    """sign_encrypt.py's verify, re-stated: raises on any mismatch, returns the UUID."""
    magic, img_type, img_size, algo, digest_len, sig_len = struct.unpack("<IIIIHH", img[:20])
    digest = img[20:20 + digest_len]
    signature = img[20 + digest_len:20 + digest_len + sig_len]
    start = 20 + digest_len + sig_len
    end = start + 20
    raw_uuid, _version = struct.unpack("<16sI", img[start:end])
    assert magic == 0x4F545348 and img_type == 1 and algo in (0x70414930, 0x70004830)
    pad = (padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=digest_len) if algo == 0x70414930
           else padding.PKCS1v15())
    key.public_key().verify(signature, digest, pad, utils.Prehashed(hashes.SHA256()))
    h = hashlib.sha256(img[:20] + img[start:end] + img[end:end + img_size]).digest()
    assert h == digest, "Hash digest does not match"
    assert len(img) == end + img_size
    return uuid.UUID(bytes=raw_uuid)


@pytest.fixture(scope="module")
def key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key_files(key: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("keys")
    priv, pub = d / "ta.pem", d / "ta.pub.pem"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


@pytest.fixture(scope="module")
def ta(tmp_path_factory: pytest.TempPathFactory, cc: Callable[..., Path]) -> Path:
    out = tmp_path_factory.mktemp("ta") / "hello.elf"
    return cc(out, TA_C, "-shared", "-fPIC", "-nostdlib", "-O1")


def test_ta_head_is_read_from_a_real_elf(ta: Path) -> None:
    head = ta_elf.read_ta_head(ta.read_bytes())
    assert (head.uuid, head.stack_size, head.flags, head.entry) == (TA_UUID, 0x800, 0xC, 0x1234)
    assert ta_elf.has_ta_head(ta.read_bytes())


def test_a_program_without_ta_head_is_refused() -> None:
    data = Path(sys.executable).resolve().read_bytes()
    assert not ta_elf.has_ta_head(data)
    with pytest.raises(ta_elf.TaElfError, match="no .ta_head section"):
        ta_elf.read_ta_head(data)
    with pytest.raises(ta_elf.TaElfError, match="not a readable ELF"):
        ta_elf.read_ta_head(b"\x7fELF garbage")


@pytest.mark.parametrize("algorithm", ["pkcs1v15", "pss"])
def test_signed_ta_passes_sign_encrypt_verification(ta: Path, key: Any, algorithm: str) -> None:
    elf = ta.read_bytes()
    blob = shdr.sign(elf, TA_UUID, key, algorithm, ta_version=7)
    assert sign_encrypt_verify(blob, key) == TA_UUID
    info = shdr.verify(blob, key.public_key())
    assert (info.uuid, info.ta_version, info.algorithm, info.elf) == (TA_UUID, 7, algorithm, elf)
    assert blob[:4] == b"HSTO" and blob.endswith(elf)


def test_pkcs1v15_is_deterministic(ta: Path, key: Any) -> None:
    elf = ta.read_bytes()
    assert shdr.sign(elf, TA_UUID, key) == shdr.sign(elf, TA_UUID, key)


def test_tampering_is_detected(ta: Path, key: Any) -> None:
    blob = bytearray(shdr.sign(ta.read_bytes(), TA_UUID, key))
    changed_elf = bytes(blob[:-1]) + bytes([blob[-1] ^ 1])
    with pytest.raises(shdr.ShdrError, match="digest does not match"):
        shdr.verify(changed_elf, key)
    changed_sig = bytearray(blob)
    changed_sig[60] ^= 1
    with pytest.raises(shdr.ShdrError, match="signature does not verify"):
        shdr.verify(bytes(changed_sig), key)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(shdr.ShdrError, match="signature does not verify"):
        shdr.verify(bytes(blob), other)
    with pytest.raises(shdr.ShdrError, match="size mismatch"):
        shdr.verify(bytes(blob[:-5]), key)
    with pytest.raises(shdr.ShdrError, match="not a signed TA"):
        shdr.verify(b"\x7fELF" + bytes(blob[4:]), key)


def test_offline_digest_and_stitch(ta: Path, key: Any) -> None:
    elf = ta.read_bytes()
    dig = base64.b64decode(shdr.digest_file_text(elf, TA_UUID, key))
    # The HSM's part: sign the digest (as `openssl pkeyutl -pkeyopt rsa_padding_mode:pkcs1` does).
    sig = base64.b64encode(key.sign(dig, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())))
    stitched = shdr.stitch(elf, TA_UUID, key.public_key(), sig)
    assert stitched == shdr.sign(elf, TA_UUID, key)
    wrong = base64.b64encode(key.sign(b"x" * 32, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())))
    with pytest.raises(shdr.ShdrError, match="does not verify"):
        shdr.stitch(elf, TA_UUID, key.public_key(), wrong)
    with pytest.raises(shdr.ShdrError, match="not base64"):
        shdr.stitch(elf, TA_UUID, key.public_key(), b"!!!")


def test_dev_key_is_recognised_by_its_modulus(key: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not shdr.is_dev_key(key)
    n = key.public_key().public_numbers().n
    monkeypatch.setattr(shdr, "DEV_KEY_MODULUS_SHA256", hashlib.sha256(n.to_bytes(256, "big")).hexdigest())
    assert shdr.is_dev_key(key) and shdr.is_dev_key(key.public_key())


def test_command_line_sign_verify_info(ta: Path, key_files: tuple[Path, Path], tmp_path: Path, key: Any) -> None:
    priv, pub = key_files
    script = str(HERE / "shdr.py")
    out = tmp_path / "x.ta"
    run = subprocess.run([sys.executable, script, "sign", "--in", str(ta), "--key", str(priv), "--out", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert sign_encrypt_verify(out.read_bytes(), key) == TA_UUID, "UUID taken from .ta_head"
    ok = subprocess.run([sys.executable, script, "verify", "--in", str(out), "--key", str(pub)],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "signature OK" in ok.stdout
    info = subprocess.run([sys.executable, script, "info", "--in", str(out)], capture_output=True, text=True,
                          timeout=60)
    assert f"uuid {TA_UUID}" in info.stdout
    data = out.read_bytes()
    out.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    bad = subprocess.run([sys.executable, script, "verify", "--in", str(out), "--key", str(pub)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "digest does not match" in bad.stderr
