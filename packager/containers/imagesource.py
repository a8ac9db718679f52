"""Reading a container image: its config and its layers, every blob checked by digest.

Three forms, as skopeo names them: ``oci:DIR[:TAG]`` (an OCI image layout directory),
``oci-archive:FILE[:TAG]`` (that layout in a tar file) and ``docker-archive:FILE`` (what
``docker save`` / ``podman save`` write: manifest.json, the config and the layer tars).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packager.containers.reference import PREFIXES
from packager.errors import PackError

INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")


@dataclass(frozen=True)
class Layer:
    """One layer blob on disk (checked against ``digest``) and its media type."""

    path: Path
    digest: str
    media_type: str


@dataclass(frozen=True)
class ImageSource:
    """A read image: ``reference`` as given, ``digest`` (the manifest's, or for a docker
    archive the config's: the image id), the parsed config, and the layers, lowest first."""

    reference: str
    digest: str
    config: dict[str, Any]
    layers: tuple[Layer, ...]


def _split_tag(rest: str) -> tuple[str, str | None]:
    """``PATH[:TAG]``: a tag is what follows the last ':' when it has no '/'."""
    head, sep, tail = rest.rpartition(":")
    if sep and head and "/" not in tail:
        return head, tail
    return rest, None


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _Files:
    """The image's files: a directory, or a tar archive whose members are copied out on demand."""

    def __init__(self, where: str, root: Path, work: Path) -> None:
        self.where, self.root, self.work = where, root, work
        self.tar: tarfile.TarFile | None = None
        if root.is_file():
            try:
                self.tar = tarfile.open(root, "r:*")
            except (tarfile.TarError, OSError) as exc:
                raise PackError(f"{where}: not a readable tar archive ({exc})") from None
            self.members = {m.name.lstrip("./") if m.name.startswith("./") else m.name: m
                            for m in self.tar.getmembers() if m.isfile()}
        elif not root.is_dir():
            raise PackError(f"{where}: no such file or directory")

    def path(self, name: str, what: str) -> Path:
        """The file ``name`` of the image on disk; PackError naming ``what`` when it is missing."""
        if ".." in name.split("/") or name.startswith("/"):
            raise PackError(f"{self.where}: {what} {name!r} is not a path inside the image")
        if self.tar is None:
            path = self.root / name
            if not path.is_file():
                raise PackError(f"{self.where}: {what} {name} is missing")
            return path
        member = self.members.get(name)
        if member is None:
            raise PackError(f"{self.where}: {what} {name} is missing")
        out = self.work / "blobs" / hashlib.sha256(name.encode()).hexdigest()
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            src = self.tar.extractfile(member)
            assert src is not None
            with src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
        return out

    def json(self, name: str, what: str) -> Any:
        try:
            return json.loads(self.path(name, what).read_bytes())
        except ValueError as exc:
            raise PackError(f"{self.where}: {what} {name} is not JSON ({exc})") from None

    def blob(self, digest: str, what: str) -> Path:
        """The blob ``sha256:HEX``, checked: PackError when it is missing or its bytes differ."""
        algo, _, hexd = digest.partition(":")
        if algo != "sha256" or len(hexd) != 64 or not all(c in "0123456789abcdef" for c in hexd):
            raise PackError(f"{self.where}: {what} has an unsupported digest {digest!r}")
        path = self.path(f"blobs/sha256/{hexd}", f"{what} blob")
        actual = _sha256_file(path)
        if actual != hexd:
            raise PackError(f"{self.where}: {what} blob {digest} does not match its digest (its bytes hash to "
                            f"sha256:{actual})")
        return path


def _pick_manifest(files: _Files, index: dict[str, Any], tag: str | None) -> dict[str, Any]:
    manifests = index.get("manifests") or []
    if tag is not None:
        manifests = [m for m in manifests
                     if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag]
        if not manifests:
            raise PackError(f"{files.where}: no image tagged {tag!r} in index.json")
    if not manifests:
        raise PackError(f"{files.where}: index.json lists no image")
    amd64 = [m for m in manifests if m.get("platform", {}).get("architecture") in (None, "amd64")]
    if len(amd64) > 1 and tag is None:
        raise PackError(f"{files.where}: index.json lists {len(amd64)} images; name one as :TAG")
    if not amd64:
        raise PackError(f"{files.where}: no linux/amd64 image in index.json")
    desc = amd64[0]
    if desc.get("mediaType") in INDEX_TYPES:  # a nested index: pick linux/amd64 in it
        nested = json.loads(files.blob(desc["digest"], "image index").read_bytes())
        return _pick_manifest(files, nested, None) | {"_via": desc["digest"]}
    return desc


def _read_oci(files: _Files, reference: str, tag: str | None) -> ImageSource:
    layout = files.json("oci-layout", "oci-layout file")
    if not isinstance(layout, dict) or "imageLayoutVersion" not in layout:
        raise PackError(f"{files.where}: oci-layout has no imageLayoutVersion: not an OCI image layout")
    desc = _pick_manifest(files, files.json("index.json", "index"), tag)
    manifest = json.loads(files.blob(desc["digest"], "manifest").read_bytes())
    config = json.loads(files.blob(manifest["config"]["digest"], "config").read_bytes())
    layers = tuple(Layer(files.blob(d["digest"], f"layer {i}"), d["digest"], d.get("mediaType", ""))
                   for i, d in enumerate(manifest.get("layers", [])))
    return ImageSource(reference, desc["digest"], config, layers)


def _read_docker(files: _Files, reference: str) -> ImageSource:
    entries = files.json("manifest.json", "manifest")
    if not isinstance(entries, list) or len(entries) != 1:
        raise PackError(f"{files.where}: manifest.json must list exactly one image")
    entry = entries[0]
    config_path = files.path(entry["Config"], "config")
    config_digest = _sha256_file(config_path)
    named = Path(entry["Config"]).name.removesuffix(".json")
    if len(named) == 64 and named != config_digest:
        raise PackError(f"{files.where}: config {entry['Config']} does not match its digest "
                        f"(its bytes hash to sha256:{config_digest})")
    config = json.loads(config_path.read_bytes())
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    layers = []
    for i, name in enumerate(entry.get("Layers", [])):
        path = files.path(name, f"layer {i}")
        digest = "sha256:" + _sha256_file(path)
        if i < len(diff_ids) and diff_ids[i] != digest:
            raise PackError(f"{files.where}: layer {i} ({name}) does not match its digest {diff_ids[i]} "
                            f"(its bytes hash to {digest})")
        layers.append(Layer(path, digest, "application/vnd.docker.image.rootfs.diff.tar"))
    return ImageSource(reference, f"sha256:{config_digest}", config, tuple(layers))


def read_image(reference: str, work: Path) -> ImageSource:
    """Reads the image ``reference`` names, archive members copied under ``work``. Every
    problem (missing file or blob, digest mismatch, not an image) is a one-line PackError."""
    work.mkdir(parents=True, exist_ok=True)
    kind, _, rest = reference.partition(":")
    try:
        if kind == "oci":
            path, tag = _split_tag(rest)
            return _read_oci(_Files(reference, Path(path), work), reference, tag)
        if kind == "oci-archive":
            path, tag = _split_tag(rest) if not Path(rest).is_file() else (rest, None)
            return _read_oci(_Files(reference, Path(path), work), reference, tag)
        if kind == "docker-archive":
            return _read_docker(_Files(reference, Path(rest), work), reference)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        if isinstance(exc, PackError):
            raise
        raise PackError(f"{reference}: malformed image metadata ({type(exc).__name__}: {exc})") from None
    raise PackError(f"{reference}: unknown image kind (use {', '.join(p + '...' for p in PREFIXES)})")
