"""Container images as input: oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE.

The images are written here by a small writer (the OCI image layout and `docker save` formats),
never pulled: busybox-static in a two-layer image whose second layer deletes a file with a
whiteout, with Entrypoint, Cmd, Env, WorkingDir, User and ExposedPorts in its config.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from litebox_e2e import describe, listing, parse_pack_json, run_cli, run_program

BUSYBOX = Path("/bin/busybox")
SCRIPT = 'echo "$GREETING"; pwd; ls /etc; id -u; id -g; cat msg.txt'
PASSWD = b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/data:/bin/sh\n"


def _tar(entries: list[tuple[str, Any]]) -> bytes:
    """A layer: (name, bytes) files (0755), (name, ("sym", target)), (name, None) directories."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, value in entries:
            info = tarfile.TarInfo(name)
            if value is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(value, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, value[1]
                tar.addfile(info)
            else:
                info.size, info.mode = len(value), 0o755
                tar.addfile(info, io.BytesIO(value))
    return out.getvalue()


def busybox_layers() -> list[bytes]:
    base = _tar([("bin", None), ("bin/busybox", BUSYBOX.read_bytes()), ("bin/sh", ("sym", "busybox")),
                 ("etc", None), ("etc/passwd", PASSWD), ("etc/group", b"root:x:0:\napp:x:1001:\n"),
                 ("etc/removed.conf", b"gone\n")])
    top = _tar([("etc/.wh.removed.conf", b""), ("data", None), ("data/msg.txt", b"hello from the image\n")])
    return [base, top]


def image_config(layers: list[bytes]) -> dict[str, Any]:
    return {"architecture": "amd64", "os": "linux",
            "config": {"Entrypoint": ["/bin/busybox"], "Cmd": ["sh", "-c", SCRIPT],
                       "Env": ["PATH=/bin", "GREETING=hi from env"], "WorkingDir": "/data", "User": "app",
                       "ExposedPorts": {"8080/tcp": {}}},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(x).hexdigest() for x in layers]}}


def _blob(root: Path, data: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def write_oci(root: Path, layers: list[bytes], tag: str = "v1", config: dict[str, Any] | None = None) -> str:
    """An OCI image layout at ``root``; returns the manifest digest."""
    root.mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    cfg = _blob(root, json.dumps(config or image_config(layers)).encode())
    descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
              **_blob(root, gzip.compress(layer, mtime=0))} for layer in layers]
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **cfg}, "layers": descs}
    m = _blob(root, json.dumps(manifest).encode())
    index = {"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", **m,
                                                "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    (root / "index.json").write_text(json.dumps(index))
    return m["digest"]


def write_archive(src: Path, dest: Path) -> None:
    with tarfile.open(dest, "w") as tar:
        for path in sorted(src.rglob("*")):
            tar.add(path, arcname=path.relative_to(src).as_posix(), recursive=False)


def write_docker(dest: Path, layers: list[bytes]) -> str:
    """What `docker save` writes; returns the image id (the config's digest)."""
    config = json.dumps(image_config(layers)).encode()
    cid = hashlib.sha256(config).hexdigest()
    with tarfile.open(dest, "w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add(f"{cid}.json", config)
        for i, layer in enumerate(layers):
            add(f"{i}/layer.tar", layer)
        add("manifest.json", json.dumps([{"Config": f"{cid}.json", "RepoTags": ["busybox:test"],
                                          "Layers": [f"{i}/layer.tar" for i in range(len(layers))]}]).encode())
    return f"sha256:{cid}"


# /etc/hosts is the runtime's fallback (the image has none: as a container engine provides
# one, docs/targets/linux-userland.md); group and passwd are the image's own.
EXPECTED = b"hi from env\n/data\ngroup\nhosts\npasswd\n1000\n1001\nhello from the image\n"


def _pack_ok(ref: str, out: Path) -> tuple[Any, dict[str, Any], str]:
    proc = run_cli("pack", ref, "--out-dir", out, "--json")
    assert proc.returncode == 0, describe(proc)
    art = parse_pack_json(proc.stdout)[0]
    return art, json.loads(art.manifest.read_bytes()), proc.stderr


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("images")
    layers = busybox_layers()
    digest = write_oci(root / "bb", layers)
    write_archive(root / "bb", root / "bb-oci.tar")
    docker_id = write_docker(root / "bb-docker.tar", layers)
    return {"root": root, "digest": digest, "docker_id": docker_id}


def test_oci_layout_packs_with_config_whiteouts_and_digest(images: dict[str, Any], tmp_path: Path) -> None:
    art, manifest, stderr = _pack_ok(f"oci:{images['root'] / 'bb'}:v1", tmp_path / "dist")
    assert run_program([art.path]).stdout == EXPECTED  # Entrypoint+Cmd, Env, WorkingDir, User, whiteout
    assert manifest["source"] == {"kind": "oci", "digest": images["digest"], "exposed_ports": ["8080"]}
    assert manifest["policy"]["network"]["listen"] == []  # ExposedPorts never granted silently
    assert 'exposes 8080; nothing is granted' in stderr and '"0.0.0.0:8080"' in stderr
    assert not any(i["image_path"] == "/etc/removed.conf" for i in manifest["inputs"])
    check = run_cli("verify", art.path)
    assert check.returncode == 0 and check.stdout.strip() == "verified", describe(check)


@pytest.mark.parametrize("kind", ["oci-archive", "docker-archive"])
def test_archives_pack_the_same_app(images: dict[str, Any], tmp_path: Path, kind: str) -> None:
    name = "bb-oci.tar" if kind == "oci-archive" else "bb-docker.tar"
    art, manifest, _ = _pack_ok(f"{kind}:{images['root'] / name}", tmp_path / "dist")
    assert run_program([art.path]).stdout == EXPECTED
    want = images["digest"] if kind == "oci-archive" else images["docker_id"]
    assert manifest["source"]["digest"] == want


def test_litebox_toml_beside_the_image_overrides(images: dict[str, Any], tmp_path: Path) -> None:
    """Keys of a litebox.toml beside the image win: args replaced, a port granted (no warning)."""
    folder = tmp_path / "proj"
    write_oci(folder / "img", busybox_layers())
    (folder / "litebox.toml").write_text('[app]\nname = "custom"\nargs = ["echo", "overridden"]\n'
                                         '[policy.network]\nlisten = ["127.0.0.1:8080"]\n')
    art, manifest, stderr = _pack_ok(f"oci:{folder / 'img'}", tmp_path / "dist")
    assert art.path.name == "custom-linux-userland"
    assert run_program([art.path]).stdout == b"overridden\n"
    assert manifest["policy"]["network"]["listen"] == ["127.0.0.1:8080"]
    assert "nothing is granted" not in stderr


def _bad(tmp_path: Path, ref: str, message: str) -> None:
    out = tmp_path / "out"
    proc = run_cli("pack", ref, "--out-dir", out, "--quiet")
    assert proc.returncode == 2, describe(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("litebox: error: ") and message in lines[0], proc.stderr
    assert listing(out) == []


def test_missing_blob_is_one_error(tmp_path: Path) -> None:
    layers = busybox_layers()
    write_oci(tmp_path / "img", layers)
    gone = hashlib.sha256(gzip.compress(layers[1], mtime=0)).hexdigest()
    (tmp_path / "img" / "blobs" / "sha256" / gone).unlink()
    _bad(tmp_path, f"oci:{tmp_path / 'img'}", f"layer 1 blob blobs/sha256/{gone} is missing")


def test_digest_mismatch_is_one_error(tmp_path: Path) -> None:
    layers = busybox_layers()
    write_oci(tmp_path / "img", layers)
    blob = tmp_path / "img" / "blobs" / "sha256" / hashlib.sha256(gzip.compress(layers[1], mtime=0)).hexdigest()
    blob.write_bytes(gzip.compress(layers[1] + b"\0" * 512, mtime=0))
    _bad(tmp_path, f"oci:{tmp_path / 'img'}", "does not match its digest")


def test_docker_layer_digest_mismatch_is_one_error(tmp_path: Path) -> None:
    layers = busybox_layers()
    config = image_config(layers)
    config["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64
    cfg = json.dumps(config).encode()
    cid = hashlib.sha256(cfg).hexdigest()
    with tarfile.open(tmp_path / "d.tar", "w") as tar:
        index = json.dumps([{"Config": f"{cid}.json", "Layers": ["0/layer.tar"]}]).encode()
        for name, data in ((f"{cid}.json", cfg), ("0/layer.tar", layers[0]), ("manifest.json", index)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    _bad(tmp_path, f"docker-archive:{tmp_path / 'd.tar'}", "layer 0 (0/layer.tar) does not match its digest")


@pytest.mark.parametrize("entries, message", [
    ([("../../evil", b"x")], "entry '../../evil' climbs out of the image root (path traversal)"),
    ([("bin", None), ("bin/esc", ("sym", "/../../../etc/shadow"))], "symlink /bin/esc -> /../../../etc/shadow "
                                                                     "escapes the image root"),
    ([("etc", ("sym", "/tmp")), ("etc/passwd", b"x")], "entry 'etc/passwd' would be written through the symlink /etc"),
], ids=["traversal", "symlink-escape", "write-through-symlink"])
def test_hostile_layer_is_one_error(tmp_path: Path, entries: list[tuple[str, Any]], message: str) -> None:
    layers = [busybox_layers()[0], _tar(entries)]
    write_oci(tmp_path / "img", layers)
    _bad(tmp_path, f"oci:{tmp_path / 'img'}", message)
    assert not (tmp_path / "evil").exists()
