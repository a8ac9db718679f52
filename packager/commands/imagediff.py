"""The first difference between two images, named by file and attribute, for `litebox verify`."""
from __future__ import annotations

from packager.image.imagereader import Image, ImageError, read_image

ATTRIBUTES = ("kind", "mode", "uid", "gid", "mtime", "size", "target")


def _fmt(attr: str, value: object) -> str:
    return f"{value:04o}" if attr == "mode" and isinstance(value, int) else repr(value)


def first_image_difference(recorded: bytes, rebuilt: bytes) -> str | None:
    """A sentence naming the first entry (in image order) that is missing from one image or
    differs in an attribute (kind, mode, owner, mtime, size, symlink target), its contents, or
    the launch config; None when neither entries nor launch config differ."""
    try:
        old, new = read_image(recorded), read_image(rebuilt)
    except ImageError as exc:
        return f"an image cannot be read ({exc})"
    old_by = {e.path: e for e in old.entries}
    new_by = {e.path: e for e in new.entries}
    for path in sorted(set(old_by) | set(new_by), key=lambda p: p.encode("utf-8", "surrogateescape")):
        a, b = old_by.get(path), new_by.get(path)
        if a is None:
            return f"{path} is in the rebuild but not in the artifact"
        if b is None:
            return f"{path} is in the artifact but not in the rebuild"
        for attr in ATTRIBUTES:
            if getattr(a, attr) != getattr(b, attr):
                return (f"{path}: {attr} differs (artifact {_fmt(attr, getattr(a, attr))}, "
                        f"rebuild {_fmt(attr, getattr(b, attr))})")
        if a.kind == "file" and _contents(old, path) != _contents(new, path):
            return f"{path}: contents differ ({a.size} bytes each)"
    if _launch(old) != _launch(new):
        return "the launch config differs"
    return None


def _contents(image: Image, path: str) -> bytes | str:
    try:
        return image.read_file(path)
    except ImageError as exc:
        return f"unreadable: {exc}"


def _launch(image: Image) -> bytes:
    return image.blob[image.config_off:image.config_off + image.config_size]
