"""Applying container image layers (packager/containers/layers.py): whiteouts and order."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from packager.containers.imagesource import Layer
from packager.containers.layers import apply_layers
from packager.errors import PackError


def _layer(tmp: Path, name: str, entries: list[tuple[str, bytes | None | str]]) -> Layer:
    """A tar layer file: bytes are files, None directories, str symlink targets."""
    path = tmp / f"{name}.tar"
    with tarfile.open(path, "w") as tar:
        for entry, value in entries:
            info = tarfile.TarInfo(entry)
            if value is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(value, str):
                info.type, info.linkname = tarfile.SYMTYPE, value
                tar.addfile(info)
            else:
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
    return Layer(path, "sha256:" + "0" * 64, "application/vnd.oci.image.layer.v1.tar")


def _tree(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = "->" + str(p.readlink()) if p.is_symlink() else ("dir" if p.is_dir() else p.read_text())
    return out


def test_layers_in_order_with_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    low = _layer(tmp_path, "low", [("etc", None), ("etc/a", b"a1"), ("etc/b", b"b1"), ("opt", None),
                                   ("opt/old", b"old"), ("bin", None), ("bin/sh", "busybox")])
    high = _layer(tmp_path, "high", [("etc/.wh.a", b""), ("etc/b", b"b2"), ("opt/new", b"new"),
                                     ("opt/.wh..wh..opq", b""), ("bin/sh", b"real file")])
    apply_layers((low, high), tmp_path / "root", "oci:test")
    assert _tree(tmp_path / "root") == {"bin": "dir", "bin/sh": "real file", "etc": "dir", "etc/b": "b2",
                                        "opt": "dir", "opt/new": "new"}


def test_relative_symlink_climbing_above_root_is_refused(tmp_path: Path) -> None:
    bad = _layer(tmp_path, "bad", [("a", None), ("a/link", "../../etc/shadow")])
    with pytest.raises(PackError, match=r"layer 0 .*symlink /a/link -> \.\./\.\./etc/shadow escapes the image root"):
        apply_layers((bad,), tmp_path / "root", "oci:test")


def test_symlinks_inside_the_root_are_kept(tmp_path: Path) -> None:
    ok = _layer(tmp_path, "ok", [("usr", None), ("usr/bin", None), ("bin", "usr/bin"),
                                 ("usr/bin/abs", "/usr/bin/x"), ("usr/bin/up", "../../usr/bin/x")])
    apply_layers((ok,), tmp_path / "root", "oci:test")
    assert _tree(tmp_path / "root")["usr/bin/up"] == "->../../usr/bin/x"
