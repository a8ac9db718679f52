"""The optee target end to end: the example TAs (examples/ta-*) packed, run through JSON
command lists (`litebox run ARTIFACT --commands`), served on a socket to C programs linked to
our libteec and to the Python client, known-answer vectors through the TEE Internal Core API,
secure storage across restarts and tampering, a panicking TA, malformed requests, the signed
.ta (checked as OP-TEE's sign_encrypt.py verify does), reproducibility and `litebox verify`.

Everything is packed once per session (the first pack builds the TA host with cargo)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litebox_e2e import REPO, describe, run_cli

pytest.importorskip("cryptography")
from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils  # noqa: E402

sys.path.insert(0, str(REPO / "platform_targets" / "optee" / "client"))
import teeclient  # noqa: E402
from teeclient import Memref, TeeClient, Value  # noqa: E402

EXAMPLES = ("hello", "random", "aes", "storage", "ecdsa")
UUIDS = {
    "hello": "8aaaf200-2450-11e4-abe2-0002a5d5c51b",
    "random": "b6c53aba-9669-4668-a7f2-205629d00f86",
    "aes": "5dbac793-f574-4871-8ad3-04331ec17f24",
    "storage": "f4e750bb-1437-4fbf-8785-8d3580c34994",
    "ecdsa": "6b3c1f52-0c7e-4a8e-9d51-3f2a710e5c84",
}
RUN_TIMEOUT = 120


def _copy_example(name: str, root: Path) -> Path:
    """examples/ta-NAME copied under root/examples (its build command reaches the SDK at
    ../../platform_targets, which a link provides), so parallel packs never share a build dir."""
    if not (root / "platform_targets").exists():
        root.mkdir(parents=True, exist_ok=True)
        (root / "platform_targets").symlink_to((REPO / "platform_targets").resolve())
    dst = root / "examples" / f"ta-{name}"
    if not dst.exists():
        shutil.copytree(REPO / "examples" / f"ta-{name}", dst, ignore=shutil.ignore_patterns("build"))
    return dst


@pytest.fixture(scope="session")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("optee-key") / "ta-key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path, key


def _pack(name: str, root: Path, out: Path, key: Path | None) -> subprocess.CompletedProcess[str]:
    proj = _copy_example(name, root)
    if key:
        with (proj / "litebox.toml").open("a") as f:
            f.write(f'\n[target.optee]\nsigning_key = "{key}"\n')
    return run_cli("pack", proj, "--target", "optee", "--out-dir", out)


@pytest.fixture(scope="session")
def packed(tmp_path_factory: pytest.TempPathFactory, signing_key: tuple[Path, Any]) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("optee")
    out = root / "dist"
    found = {}
    for name in EXAMPLES:
        proc = _pack(name, root, out, signing_key[0])
        assert proc.returncode == 0, describe(proc)
        found[name] = out / f"ta-{name}-optee"
    return found


@pytest.fixture(scope="session")
def libteec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    out = tmp_path_factory.mktemp("libteec")
    subprocess.run([str(REPO / "platform_targets" / "optee" / "client" / "build-libteec"), str(out)], check=True,
                   timeout=RUN_TIMEOUT)
    return out


def _client(libteec: Path, source: Path, out: Path) -> Path:
    subprocess.run(["cc", "-O1", f"-I{libteec}/include", str(source), f"-L{libteec}", "-lteec",
                    f"-Wl,-rpath,{libteec}", "-o", str(out)], check=True, timeout=RUN_TIMEOUT)
    return out


class Served:
    """A TA host serving on a socket; stopped (SIGTERM, then waited for) at the end."""

    def __init__(self, artifact: Path, sock: Path, storage: Path | None = None) -> None:
        self.sock = sock
        args = [str(artifact), "--socket", str(sock), "--quiet"]
        if storage:
            args += ["--storage", str(storage)]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + RUN_TIMEOUT  # a hang guard, not a timing assertion
        while not sock.exists():
            assert self.proc.poll() is None, self.proc.stderr.read().decode() if self.proc.stderr else ""
            assert time.monotonic() < deadline, "the TA host did not open its socket"
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=RUN_TIMEOUT)
        if self.proc.stderr:
            self.proc.stderr.close()


@pytest.fixture
def serve(socket_dir: Path) -> Iterator[Any]:
    """Starts TA hosts on sockets in socket_dir (tests/conftest.py: tmp_path can be too long
    for a socket's path); stops them at the end."""
    started: list[Served] = []

    def _serve(artifact: Path, storage: Path | None = None) -> Served:
        s = Served(artifact, socket_dir / f"ta{len(started)}.sock", storage)
        started.append(s)
        return s

    yield _serve
    for s in started:
        s.stop()


def _commands(artifact: Path, commands: Path | list[Any], tmp_path: Path,
              *extra: str) -> subprocess.CompletedProcess[str]:
    if not isinstance(commands, Path):
        path = tmp_path / "commands.json"
        path.write_text(json.dumps(commands))
        commands = path
    return run_cli("run", artifact, "--commands", commands, *extra, timeout=RUN_TIMEOUT)


# --- JSON command lists ----------------------------------------------------------------------

def test_hello_command_list_prints_outputs_like_litebox(packed: dict[str, Path], tmp_path: Path) -> None:
    proc = _commands(packed["hello"], REPO / "examples" / "ta-hello" / "commands.json", tmp_path)
    assert proc.returncode == 0, describe(proc)
    outputs = [line for line in proc.stderr.splitlines() if line.startswith("output")]
    assert outputs == ["output (index: 0): 0x65 0x0", "output (index: 0): 0xc7 0x0"]
    assert "Hello World!" in proc.stderr


def test_numeric_func_ids_of_older_command_lists(packed: dict[str, Path], tmp_path: Path) -> None:
    cmds = [{"func_id": 0, "cmd_id": 0, "args": []},
            {"func_id": 2, "cmd_id": 0, "args": [{"param_type": 3, "value_a": 7, "value_b": 9}]},
            {"func_id": 1, "cmd_id": 0, "args": []}]
    proc = _commands(packed["hello"], cmds, tmp_path)
    assert proc.returncode == 0 and "output (index: 0): 0x8 0x9" in proc.stderr, describe(proc)


@pytest.mark.parametrize("name", ["random", "aes", "storage", "ecdsa"])
def test_example_command_lists(packed: dict[str, Path], tmp_path: Path, name: str) -> None:
    proc = _commands(packed[name], REPO / "examples" / f"ta-{name}" / "commands.json", tmp_path,
                     "--storage", str(tmp_path / "storage"))
    assert proc.returncode == 0, describe(proc)
    outputs = [line for line in proc.stderr.splitlines() if line.startswith("output")]
    if name == "random":
        assert len(outputs) == 1 and outputs[0].endswith("(total 32 bytes)")
    elif name == "aes":  # SP 800-38A F.2.1, CBC-AES128.Encrypt
        assert outputs[0].startswith("output (index: 1): 0x") and outputs[0].endswith(
            " [118, 73, 171, 172, 129, 25, 178, 70, 206, 233, 142, 155, 18, 233, 25, 125]... (total 32 bytes)")
    elif name == "storage":
        assert outputs[0] == "output (index: 0): 0x1 0x0"
        assert outputs[1].endswith(str(list(b"secret data")))
    else:
        assert outputs[0].endswith("(total 64 bytes)") and outputs[1].endswith("(total 64 bytes)")


def test_failed_command_is_reported_and_exit_status_is_1(packed: dict[str, Path], tmp_path: Path) -> None:
    cmds = [{"func_id": "open_session"},
            {"func_id": "invoke_command", "cmd_id": 0, "args": [{"param_type": "value_input", "value_a": 1}]}]
    proc = _commands(packed["hello"], cmds, tmp_path)
    assert proc.returncode == 1
    assert "command 1 (invoke_command 0): error 0xffff0006 (origin 4)" in proc.stderr


def test_malformed_command_list_is_one_line_error(packed: dict[str, Path], tmp_path: Path) -> None:
    proc = _commands(packed["hello"], [{"func_id": "dance"}], tmp_path)
    assert proc.returncode == 2 and "func_id" in proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = run_cli("run", packed["hello"], "--commands", bad, timeout=RUN_TIMEOUT)
    assert proc.returncode == 2 and "not JSON" in proc.stderr


# --- C clients linked to our libteec ----------------------------------------------------------

def test_unmodified_hello_client(packed: dict[str, Path], libteec: Path, serve: Any, tmp_path: Path) -> None:
    client = _client(libteec, REPO / "examples" / "ta-hello" / "host" / "hello_client.c", tmp_path / "hello")
    s = serve(packed["hello"])
    proc = subprocess.run([str(client), "41"], env={**os.environ, "LITEBOX_OPTEE_SOCKET": str(s.sock)},
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    assert "TA incremented value to 42" in proc.stdout


@pytest.mark.parametrize("name", ["random", "aes", "storage", "ecdsa"])
def test_c_client_drives_each_example(packed: dict[str, Path], libteec: Path, serve: Any, tmp_path: Path,
                                      name: str) -> None:
    client = _client(libteec, REPO / "tests" / "e2e" / "programs" / "optee_client.c", tmp_path / "client")
    s = serve(packed[name], tmp_path / "storage")
    proc = subprocess.run([str(client), name], env={**os.environ, "LITEBOX_OPTEE_SOCKET": str(s.sock)},
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    out = proc.stdout
    assert "open 0x00000000 origin 4" in out
    if name == "random":
        line = next(x for x in out.splitlines() if x.startswith("random "))
        assert "random size 32" in out and line != "random " + "00" * 32
    elif name == "aes":
        assert "aes changed 1 roundtrip 1" in out
    elif name == "storage":
        assert "counter 1" in out and "short 0xffff0010 need 14" in out and "read hello, storage" in out
    else:
        assert "signature 64 bytes" in out
        assert out.count("cmd 2: 0x00000000") == 1 and "cmd 2: 0xffff3072 origin 4" in out


# --- the socket service ------------------------------------------------------------------------

def test_several_sessions_and_disconnect_closes_them(packed: dict[str, Path], serve: Any) -> None:
    s = serve(packed["hello"])
    a, b = TeeClient(str(s.sock)), TeeClient(str(s.sock))
    ra, rb = a.open_session(UUIDS["hello"]), b.open_session(UUIDS["hello"])
    assert ra.result == rb.result == 0 and ra.session != rb.session
    assert a.invoke(ra.session, 0, [Value("inout", 1)]).params[0].a == 2
    assert b.invoke(rb.session, 1, [Value("inout", 1)]).params[0].a == 0
    assert b.invoke(ra.session, 0, [Value("inout", 1)]).result == teeclient.TEE_ERROR_ITEM_NOT_FOUND, \
        "a session belongs to the connection that opened it"
    stats = a.invoke(ra.session, 3, [Value("output")])
    assert stats.params[0].a == 3, "one instance served both sessions (the refused call never reached it)"
    a.close()
    b.close()
    # Both clients went away without closing: the TA host closes their sessions (when it has
    # read the disconnects), unloading the instance, so a new client then meets a fresh one.
    deadline = time.monotonic() + RUN_TIMEOUT  # a hang guard for the host to notice, not a timing test
    with TeeClient(str(s.sock)) as c:
        while True:
            r = c.open_session(UUIDS["hello"])
            count = c.invoke(r.session, 3, [Value("output")]).params[0].a
            if count == 1:
                break
            assert time.monotonic() < deadline, f"the disconnected clients' sessions were never closed ({count})"
            assert c.close_session(r.session).result == 0
            time.sleep(0.05)
        assert c.close_session(r.session).result == 0
        assert c.invoke(r.session, 0, [Value("inout", 1)]).result == teeclient.TEE_ERROR_ITEM_NOT_FOUND


def test_a_panicking_ta_is_dead_and_comes_back_fresh(packed: dict[str, Path], serve: Any) -> None:
    s = serve(packed["hello"])
    with TeeClient(str(s.sock)) as c:
        r = c.open_session(UUIDS["hello"])
        dead = c.invoke(r.session, 2)
        assert (dead.result, dead.origin) == (teeclient.TEE_ERROR_TARGET_DEAD, 3)
        again = c.invoke(r.session, 0, [Value("inout", 5)])
        assert (again.result, again.origin) == (teeclient.TEE_ERROR_TARGET_DEAD, 3)
        r2 = c.open_session(UUIDS["hello"])
        assert r2.result == 0
        assert c.invoke(r2.session, 0, [Value("inout", 5)]).params[0].a == 6
        assert c.invoke(r2.session, 3, [Value("output")]).params[0].a == 2, "a fresh instance"


def test_bad_requests_get_teec_codes_and_the_host_lives_on(packed: dict[str, Path], serve: Any) -> None:
    s = serve(packed["hello"])
    with TeeClient(str(s.sock)) as c:
        bad = c.raw(b"\x09\x00\x00\x00garbage")
        assert (bad.result, bad.origin) == (teeclient.TEE_ERROR_BAD_FORMAT, 2)
        truncated = c.raw(struct.pack("<III", 2, 1, 0) + struct.pack("<I", 0x5))  # memref with no body
        assert truncated.result == teeclient.TEE_ERROR_BAD_FORMAT
        assert c.open_session("00000000-0000-0000-0000-000000000001").result == teeclient.TEE_ERROR_ITEM_NOT_FOUND
        r = c.open_session(UUIDS["hello"])
        wrong = c.invoke(r.session, 0, [Value("input", 1)])
        assert (wrong.result, wrong.origin) == (teeclient.TEE_ERROR_BAD_PARAMETERS, 4)
        assert c.invoke(r.session, 0, [Value("inout", 9)]).params[0].a == 10, "the connection still works"
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.settimeout(RUN_TIMEOUT)
    raw.connect(str(s.sock))
    raw.sendall(struct.pack("<I", 0xFFFFFFFF))
    reply = raw.recv(64)
    assert struct.unpack_from("<II", reply, 4) == (0xFFFF0004, 2)
    assert raw.recv(64) == b"", "an oversized message ends the connection"
    raw.close()
    with TeeClient(str(s.sock)) as c:
        assert c.open_session(UUIDS["hello"]).result == 0, "and the TA host serves the next client"


# --- known answers through the TEE Internal Core API ----------------------------------------

AES_KEY = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
AES_PT = bytes.fromhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
SP800_38A = {  # F.1.1 ECB, F.2.1 CBC, F.5.1 CTR (AES-128, two blocks)
    0: (b"", "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf"),
    1: (bytes(range(16)), "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"),
    2: (bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"),
        "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"),
}


@pytest.fixture
def aes_session(packed: dict[str, Path], serve: Any) -> Iterator[tuple[TeeClient, int]]:
    s = serve(packed["aes"])
    with TeeClient(str(s.sock)) as c:
        r = c.open_session(UUIDS["aes"])
        assert r.result == 0
        yield c, r.session


@pytest.mark.parametrize("algo", [0, 1, 2], ids=["ecb", "cbc", "ctr"])
def test_aes_sp800_38a(aes_session: tuple[TeeClient, int], algo: int) -> None:
    c, sid = aes_session
    iv, expected = SP800_38A[algo]
    for mode, data, want in ((1, AES_PT, expected), (0, bytes.fromhex(expected), AES_PT.hex())):
        assert c.invoke(sid, 0, [Value("input", algo), Value("input", 16), Value("input", mode)]).result == 0
        assert c.invoke(sid, 1, [Memref("input", AES_KEY)]).result == 0
        if iv:
            assert c.invoke(sid, 2, [Memref("input", iv)]).result == 0
        else:
            assert c.invoke(sid, 2, [Memref("input", b"")]).result == 0
        r = c.invoke(sid, 3, [Memref("input", data), Memref("output", size=32)])
        assert r.result == 0 and r.params[1].data.hex() == want


@pytest.mark.parametrize(("alg", "digest"), [
    (1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
    (256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (512, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
          "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
])
def test_sha_fips180_abc(aes_session: tuple[TeeClient, int], alg: int, digest: str) -> None:
    c, sid = aes_session
    r = c.invoke(sid, 5, [Value("input", alg), Memref("input", b"abc"), Memref("output", size=64)])
    assert r.result == 0 and r.params[2].data.hex() == digest


def test_hmac_sha256_rfc4231(aes_session: tuple[TeeClient, int]) -> None:
    c, sid = aes_session
    r = c.invoke(sid, 6, [Memref("input", b"Jefe"), Memref("input", b"what do ya want for nothing?"),
                          Memref("output", size=32)])
    assert r.result == 0
    assert r.params[2].data.hex() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    short = c.invoke(sid, 6, [Memref("input", b"Jefe"), Memref("input", b"x"), Memref("output", size=8)])
    assert short.result == teeclient.TEE_ERROR_SHORT_BUFFER and short.params[2].size == 32


RSAES = {"pkcs1": 0x60000130, "oaep-sha1": 0x60210230, "oaep-sha256": 0x60410230}


def _rsa_padding(name: str) -> Any:
    if name == "pkcs1":
        return padding.PKCS1v15()
    h = hashes.SHA1() if name == "oaep-sha1" else hashes.SHA256()
    return padding.OAEP(mgf=padding.MGF1(h), algorithm=h, label=None)


@pytest.fixture(scope="module")
def rsa_1024() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)


@pytest.mark.parametrize("scheme", sorted(RSAES))
def test_rsaes_against_python_cryptography(aes_session: tuple[TeeClient, int], rsa_1024: Any, scheme: str) -> None:
    """TEE_AsymmetricDecrypt of what `cryptography` encrypted, and the other way round."""
    c, sid = aes_session
    nums = rsa_1024.private_numbers()
    nd = nums.public_numbers.n.to_bytes(128, "big") + nums.d.to_bytes(128, "big")
    msg = b"RSAES through the TEE Internal Core API"
    ct = rsa_1024.public_key().encrypt(msg, _rsa_padding(scheme))
    r = c.invoke(sid, 7, [Value("input", RSAES[scheme], 1), Memref("input", nd), Memref("input", ct),
                          Memref("output", size=128)])
    assert r.result == 0 and r.params[3].data == msg
    r = c.invoke(sid, 7, [Value("input", RSAES[scheme], 0), Memref("input", nd), Memref("input", msg),
                          Memref("output", size=128)])
    assert r.result == 0 and len(r.params[3].data) == 128
    assert rsa_1024.decrypt(r.params[3].data, _rsa_padding(scheme)) == msg
    r = c.invoke(sid, 7, [Value("input", RSAES[scheme], 1), Memref("input", nd), Memref("input", ct[:-1]),
                          Memref("output", size=128)])
    assert r.result == teeclient.TEE_ERROR_BAD_PARAMETERS


def test_ecdsa_p256_verify_rfc6979(packed: dict[str, Path], serve: Any) -> None:
    # RFC 6979 A.2.5: P-256, SHA-256, message "sample".
    pub = bytes.fromhex("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
                        "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299")
    sig = bytes.fromhex("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716"
                        "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8")
    digest = hashlib.sha256(b"sample").digest()
    s = serve(packed["ecdsa"])
    with TeeClient(str(s.sock)) as c:
        sid = c.open_session(UUIDS["ecdsa"]).session
        args = [Value("input", 256), Memref("input", pub), Memref("input", digest), Memref("input", sig)]
        assert c.invoke(sid, 4, args).result == 0
        args[2] = Memref("input", hashlib.sha256(b"test").digest())
        assert c.invoke(sid, 4, args).result == 0xFFFF3072


def test_ecdsa_signature_verifies_outside_the_tee(packed: dict[str, Path], serve: Any) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    s = serve(packed["ecdsa"])
    with TeeClient(str(s.sock)) as c:
        sid = c.open_session(UUIDS["ecdsa"]).session
        for bits, curve, h in ((256, ec.SECP256R1(), hashes.SHA256()), (384, ec.SECP384R1(), hashes.SHA384())):
            n = bits // 8
            assert c.invoke(sid, 0, [Value("input", bits)]).result == 0
            sig = c.invoke(sid, 1, [Memref("input", b"signed in the TA"), Memref("output", size=2 * n)])
            pub = c.invoke(sid, 3, [Memref("output", size=2 * n)]).params[0].data
            assert sig.result == 0 and len(pub) == 2 * n
            key = ec.EllipticCurvePublicNumbers(int.from_bytes(pub[:n], "big"), int.from_bytes(pub[n:], "big"),
                                                curve).public_key()
            raw = sig.params[1].data
            der = encode_dss_signature(int.from_bytes(raw[:n], "big"), int.from_bytes(raw[n:], "big"))
            key.verify(der, b"signed in the TA", ec.ECDSA(h))


# --- secure storage --------------------------------------------------------------------------

def test_counter_survives_restart_and_tampering_is_detected(packed: dict[str, Path], serve: Any,
                                                           tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    for expected in (1, 2):
        s = serve(packed["storage"], storage)
        with TeeClient(str(s.sock)) as c:
            sid = c.open_session(UUIDS["storage"]).session
            assert c.invoke(sid, 3, [Value("output")]).params[0].a == expected
            if expected == 2:
                assert c.invoke(sid, 1, [Memref("input", b"doc"), Memref("input", b"top secret")]).result == 0
        s.stop()
    objects = [p for p in storage.iterdir() if len(p.name) == 64]
    assert len(objects) == 2
    assert not any(b"top secret" in p.read_bytes() or b"doc" in p.read_bytes() for p in objects), "sealed"
    s = serve(packed["storage"], storage)
    with TeeClient(str(s.sock)) as c:
        sid = c.open_session(UUIDS["storage"]).session
        r = c.invoke(sid, 0, [Memref("input", b"doc"), Memref("output", size=64)])
        assert r.result == 0 and r.params[1].data == b"top secret"
        for p in objects:
            data = bytearray(p.read_bytes())
            data[-20] ^= 0x01
            p.write_bytes(bytes(data))
        r = c.invoke(sid, 0, [Memref("input", b"doc"), Memref("output", size=64)])
        assert r.result == teeclient.TEE_ERROR_CORRUPT_OBJECT
        assert c.invoke(sid, 3, [Value("output")]).result == teeclient.TEE_ERROR_CORRUPT_OBJECT


# --- packing: the signed .ta, reproducibility, verify, refusals ----------------------------

def _sign_encrypt_verify(img: bytes, key: Any) -> str:
    """OP-TEE's sign_encrypt.py `verify`, restated with `cryptography`: raises on a mismatch."""
    magic, img_type, img_size, algo, digest_len, sig_len = struct.unpack("<IIIIHH", img[:20])
    digest, signature = img[20:20 + digest_len], img[20 + digest_len:20 + digest_len + sig_len]
    start = 20 + digest_len + sig_len
    end = start + 20
    raw_uuid, _ = struct.unpack("<16sI", img[start:end])
    assert (magic, img_type, algo) == (0x4F545348, 1, 0x70004830)
    key.public_key().verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    assert hashlib.sha256(img[:20] + img[start:end] + img[end:end + img_size]).digest() == digest
    import uuid

    return str(uuid.UUID(bytes=raw_uuid))


def test_signed_ta_files(packed: dict[str, Path], signing_key: tuple[Path, Any]) -> None:
    for name in EXAMPLES:
        art = packed[name]
        ta = art.with_name(f"{UUIDS[name]}.ta")
        assert ta.read_bytes() == Path(str(art) + ".ta").read_bytes()
        assert _sign_encrypt_verify(ta.read_bytes(), signing_key[1]) == UUIDS[name]
        record = json.loads(Path(str(art) + ".ta.json").read_text())
        assert record["ta_uuid"] == UUIDS[name] and not record["throwaway_key"] and not record["dev_key"]
        assert record["ta"]["sha256"] == hashlib.sha256(ta.read_bytes()).hexdigest()
        manifest = json.loads(Path(str(art) + ".manifest.json").read_text())
        assert manifest["target"] == "optee"


def test_reproducible_and_verify(packed: dict[str, Path], signing_key: tuple[Path, Any], tmp_path: Path) -> None:
    proc = _pack("hello", tmp_path / "again", tmp_path / "again" / "dist", signing_key[0])
    assert proc.returncode == 0, describe(proc)
    again = tmp_path / "again" / "dist" / "ta-hello-optee"
    assert again.read_bytes() == packed["hello"].read_bytes()
    assert Path(str(again) + ".ta").read_bytes() == Path(str(packed["hello"]) + ".ta").read_bytes()
    proc = run_cli("verify", packed["hello"])
    assert proc.returncode == 0, describe(proc)


def test_a_signing_key_replaced_at_the_same_path_signs_the_next_pack(tmp_path: Path) -> None:
    """Key rotation in place: the next pack signs with the key the file holds now (a pack that
    judged the options by the key's path alone said "up to date" and kept the old signature)."""
    def new_key() -> Any:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        return key

    path = tmp_path / "rotated.pem"
    old = new_key()
    out = tmp_path / "dist"
    proc = _pack("hello", tmp_path, out, path)
    assert proc.returncode == 0, describe(proc)
    ta = out / "ta-hello-optee.ta"
    assert _sign_encrypt_verify(ta.read_bytes(), old) == UUIDS["hello"]
    first = ta.read_bytes()

    new = new_key()
    proc = run_cli("pack", tmp_path / "examples" / "ta-hello", "--target", "optee", "--out-dir", out)
    assert proc.returncode == 0, describe(proc)
    assert "up to date" not in proc.stderr, describe(proc)
    assert ta.read_bytes() != first
    assert _sign_encrypt_verify(ta.read_bytes(), new) == UUIDS["hello"]
    with pytest.raises(InvalidSignature):
        _sign_encrypt_verify(ta.read_bytes(), old)


def test_throwaway_key_warns_loudly(tmp_path: Path) -> None:
    proc = _pack("hello", tmp_path, tmp_path / "dist", None)
    assert proc.returncode == 0, describe(proc)
    assert "THROWAWAY key" in proc.stderr
    record = json.loads((tmp_path / "dist" / "ta-hello-optee.ta.json").read_text())
    assert record["throwaway_key"] is True


def test_offline_signing_flow(packed: dict[str, Path], signing_key: tuple[Path, Any], tmp_path: Path) -> None:
    key = signing_key[1]
    pub = tmp_path / "pub.pem"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    root = tmp_path / "proj"
    proj = _copy_example("hello", root)
    with (proj / "litebox.toml").open("a") as f:
        f.write(f'\n[target.optee]\nsigning_key = "{pub}"\n')
    out = root / "dist"
    proc = run_cli("pack", proj, "--target", "optee", "--out-dir", out)
    assert proc.returncode == 0, describe(proc)
    import base64

    dig = base64.b64decode((out / "ta-hello-optee.ta.dig").read_bytes())
    assert not (out / "ta-hello-optee.ta").exists()
    sig = tmp_path / "ta.sig"
    sig.write_bytes(base64.b64encode(key.sign(dig, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))))
    with (proj / "litebox.toml").open("a") as f:
        f.write(f'signature = "{sig}"\n')
    proc = run_cli("pack", proj, "--target", "optee", "--out-dir", out)
    assert proc.returncode == 0, describe(proc)
    stitched = (out / "ta-hello-optee.ta").read_bytes()
    assert _sign_encrypt_verify(stitched, key) == UUIDS["hello"]
    assert stitched == Path(str(packed["hello"]) + ".ta").read_bytes(), "the same bytes as signing directly"


def test_a_program_that_is_not_a_ta_is_refused(tmp_path: Path) -> None:
    proc = run_cli("pack", "/usr/bin/true", "--target", "optee", "--out-dir", tmp_path / "dist")
    assert proc.returncode != 0
    assert "packs OP-TEE Trusted Applications" in proc.stderr and "no .ta_head" in proc.stderr
    assert not (tmp_path / "dist" / "true-optee").exists()


def test_kind_ta_for_an_elf_without_ta_head_is_a_pack_error(tmp_path: Path) -> None:
    proj = tmp_path / "not-a-ta"
    proj.mkdir()
    shutil.copy("/usr/bin/true", proj / "true")
    (proj / "litebox.toml").write_text('[app]\nentry = "/ta/true"\nkind = "ta"\n[files]\n"/ta/true" = "true"\n')
    proc = run_cli("pack", proj, "--target", "optee", "--out-dir", tmp_path / "dist")
    assert proc.returncode != 0
    assert '[app].kind = "ta" but /ta/true is not an x86-64 OP-TEE TA' in proc.stderr, describe(proc)
    assert "no .ta_head" in proc.stderr
    assert not (tmp_path / "dist" / "not-a-ta-optee").exists()


def test_kind_ta_refuses_a_linux_program_target(tmp_path: Path) -> None:
    proj = _copy_example("hello", tmp_path)
    text = (proj / "litebox.toml").read_text().replace('[app]\n', '[app]\nkind = "ta"\n', 1)
    (proj / "litebox.toml").write_text(text)
    proc = run_cli("pack", proj, "--target", "linux-userland", "--out-dir", tmp_path / "dist")
    assert proc.returncode != 0
    assert '[app].kind = "ta": target linux-userland packs Linux programs' in proc.stderr, describe(proc)


def _modulus_sha256(key: Any) -> str:
    n = key.public_key().public_numbers().n
    return hashlib.sha256(n.to_bytes((n.bit_length() + 7) // 8, "big")).hexdigest()


def test_manifest_records_the_signed_ta_and_inspect_recomputes_it(packed: dict[str, Path],
                                                                   signing_key: tuple[Path, Any]) -> None:
    artifact = packed["hello"]
    ta = (artifact.parent / f"{UUIDS['hello']}.ta").read_bytes()
    rec = json.loads(Path(str(artifact) + ".manifest.json").read_text())["target_facts"]["ta"]
    assert rec["name"] == f"{UUIDS['hello']}.ta" and rec["uuid"] == UUIDS["hello"]
    assert rec["sha256"] == hashlib.sha256(ta).hexdigest() and rec["size"] == len(ta)
    assert rec["algorithm"] == "pkcs1v15" and rec["signed"] is True and rec["version"] == 0
    assert rec["signer_modulus_sha256"] == _modulus_sha256(signing_key[1])
    assert rec["elf_sha256"] == hashlib.sha256(ta[-_elf_len(ta):]).hexdigest()
    proc = run_cli("inspect", artifact, "--json")
    assert proc.returncode == 0, describe(proc)
    facts = json.loads(proc.stdout)["target_facts"]
    assert facts["matches_manifest"] is True
    assert facts["recomputed"]["ta"]["sha256"] == hashlib.sha256(ta).hexdigest()


def _elf_len(ta: bytes) -> int:
    return struct.unpack_from("<I", ta, 8)[0]


def test_inspect_notices_a_changed_ta_signature(packed: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(packed["hello"].read_bytes())
    marker = b'"headers":"'
    at = data.index(marker) + len(marker) + 40  # inside the base64 of the signed headers' signature
    data[at] = ord("A") if data[at] != ord("A") else ord("B")
    bad = tmp_path / "ta-hello-optee"
    bad.write_bytes(bytes(data))
    shutil.copy(str(packed["hello"]) + ".manifest.json", str(bad) + ".manifest.json")
    proc = run_cli("inspect", bad, "--json")
    facts = json.loads(proc.stdout)["target_facts"]
    assert facts["matches_manifest"] is False
    assert "signed TA in the artifact" in facts["error"]


def test_default_throwaway_signing_reproduces_from_two_directories(tmp_path: Path) -> None:
    outs = []
    for where in ("one", "two"):
        proc = _pack("hello", tmp_path / where, tmp_path / where / "dist", None)
        assert proc.returncode == 0, describe(proc)
        assert "PUBLIC THROWAWAY key" in proc.stderr
        outs.append(tmp_path / where / "dist")
    for name in ("ta-hello-optee", "ta-hello-optee.ta", f"{UUIDS['hello']}.ta", "ta-hello-optee.manifest.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    proc = run_cli("verify", outs[0] / "ta-hello-optee")
    assert proc.returncode == 0, describe(proc)


def test_a_ta_built_without_our_sdk_at_O0_runs(tmp_path: Path) -> None:
    """tests/e2e/programs/ta-bare: its own .ta_head and entry, raw utee syscalls as libutee
    issues them, compiled -O0 with none of our SDK (see docs/targets/optee.md, "The utee ABI")."""
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    proj = tmp_path / "ta-bare"
    shutil.copytree(REPO / "tests" / "e2e" / "programs" / "ta-bare", proj, ignore=shutil.ignore_patterns("build"))
    proc = run_cli("pack", proj, "--target", "optee", "--out-dir", tmp_path / "dist")
    assert proc.returncode == 0, describe(proc)
    run = subprocess.run([str(tmp_path / "dist" / "ta-bare-optee"), "--commands", str(proj / "commands.json")],
                         capture_output=True, text=True, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.startswith("output")]
    assert "ta-bare: incremented" in run.stderr
    assert lines[0] == "output (index: 0): 0x2a 0x0"
    assert lines[1].endswith("... (total 32 bytes)")
    seconds = int(lines[2].split()[3], 16)
    assert abs(seconds - time.time()) < 24 * 3600, lines[2]  # REE time: the host's clock, not 0
