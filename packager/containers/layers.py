"""Applying an image's layers, lowest first, to a root file system directory on the host.

OCI whiteouts are honoured (``.wh.NAME`` removes NAME from the layers below, ``.wh..wh..opq``
empties its directory of what the layers below put there). A layer is hostile input: an entry
that is absolute after normalization or climbs with ``..``, that would be written through a
symlink, a symlink whose target climbs above the image root, or a hard link to something
outside the layers, is a one-line PackError naming the layer and the entry. Nothing is ever
written outside ``root``; devices and FIFOs are skipped (the image format has none).
"""
from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
from pathlib import Path
from typing import IO

from packager.containers.imagesource import Layer
from packager.errors import PackError

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


def _open_layer(layer: Layer, where: str) -> tarfile.TarFile:
    try:
        if layer.media_type.endswith("+zstd"):
            import zstandard

            stream: IO[bytes] = zstandard.ZstdDecompressor().stream_reader(open(layer.path, "rb"))  # noqa: SIM115
            return tarfile.open(fileobj=stream, mode="r|")
        return tarfile.open(layer.path, "r:*")
    except (tarfile.TarError, OSError) as exc:
        raise PackError(f"{where}: not a readable tar layer ({exc})") from None


def _clean_name(name: str, where: str) -> str:
    """The entry's path relative to the root, or PackError for a traversal."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise PackError(f"{where}: entry {name!r} climbs out of the image root (path traversal)")
    return "/".join(parts)


def _climbs_above_root(entry: str, target: str) -> bool:
    """True if symlink ``entry`` -> ``target``, resolved lexically inside the image, would
    climb above the image root (``/../x``, or ``../../x`` from one level down)."""
    base = [] if target.startswith("/") else entry.split("/")[:-1]
    depth = len(base)
    for part in target.split("/"):
        if part in ("", "."):
            continue
        depth += -1 if part == ".." else 1
        if depth < 0:
            return True
    return False


def _no_symlink_parents(root: Path, rel: str, where: str, name: str) -> None:
    path = root
    for part in rel.split("/")[:-1]:
        path = path / part
        if path.is_symlink():
            raise PackError(f"{where}: entry {name!r} would be written through the symlink /"
                            f"{path.relative_to(root).as_posix()}")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def apply_layers(layers: tuple[Layer, ...], root: Path, reference: str) -> int:
    """Extracts ``layers`` in order into the empty directory ``root``; returns how many special
    files (devices, FIFOs) were skipped."""
    root.mkdir(parents=True, exist_ok=True)
    skipped = 0
    for index, layer in enumerate(layers):
        where = f"{reference}: layer {index} ({layer.digest[:19]})"
        created: set[str] = set()
        with _open_layer(layer, where) as tar:
            for member in tar:
                rel = _clean_name(member.name, where)
                if not rel:
                    continue
                head, base = posixpath.split(rel)
                _no_symlink_parents(root, rel, where, member.name)
                if base == OPAQUE:
                    folder = root / head
                    if folder.is_dir() and not folder.is_symlink():
                        for child in list(folder.iterdir()):
                            if posixpath.join(head, child.name) not in created:
                                _remove(child)
                    continue
                if base.startswith(WHITEOUT):
                    _remove(root / head / base[len(WHITEOUT):])
                    continue
                dest = root / rel
                if member.isdir():
                    if dest.exists() and not dest.is_dir() or dest.is_symlink():
                        _remove(dest)
                    dest.mkdir(parents=True, exist_ok=True)
                    dest.chmod(member.mode & 0o7777 | 0o700)
                elif member.issym():
                    if _climbs_above_root(rel, member.linkname):
                        raise PackError(f"{where}: symlink /{rel} -> {member.linkname} escapes the image root")
                    _remove(dest) if dest.exists() or dest.is_symlink() else None
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.symlink(member.linkname, dest)
                elif member.islnk():
                    src_rel = _clean_name(member.linkname, where)
                    src = root / src_rel
                    _no_symlink_parents(root, src_rel, where, member.linkname)
                    if not src.is_file() or src.is_symlink():
                        raise PackError(f"{where}: hard link /{rel} -> {member.linkname}: no such file in the layers")
                    _remove(dest) if dest.exists() or dest.is_symlink() else None
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, dest)
                    dest.chmod(src.stat().st_mode & 0o7777)
                elif member.isfile():
                    _remove(dest) if dest.exists() or dest.is_symlink() else None
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    data = tar.extractfile(member)
                    assert data is not None
                    with data, open(dest, "wb") as out:
                        shutil.copyfileobj(data, out)
                    dest.chmod(member.mode & 0o7777)
                else:
                    skipped += 1
                    continue
                created.add(rel)
    return skipped
