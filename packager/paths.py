"""Image path rules: normalized absolute POSIX paths as docs/image-format.md defines them."""
from __future__ import annotations

import os

MAX_PATH = 4095


def image_path_problem(path: str) -> str | None:
    """Returns why ``path`` is not a normalized absolute image path, or None if it is one."""
    if not path.startswith("/"):
        return "must be an absolute path (starting with '/')"
    if "\0" in path:
        return "contains a NUL byte"
    if len(path.encode("utf-8", "surrogateescape")) > MAX_PATH:
        return f"is longer than {MAX_PATH} bytes"
    if path == "/":
        return None
    if path.endswith("/"):
        return "has a trailing '/'"
    for part in path[1:].split("/"):
        if part in ("", ".", ".."):
            return "is not normalized (empty, '.' or '..' component)"
    return None


def is_under(path: str, top: str) -> bool:
    """True if image path ``path`` is ``top`` or lies below it."""
    return top == "/" or path == top or path.startswith(top + "/")


def parent_of(path: str) -> str:
    """The parent of a normalized absolute image path (the root's parent is the root)."""
    if path == "/":
        return "/"
    head = path.rsplit("/", 1)[0]
    return head or "/"


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the current directory when it lies inside it, else absolute."""
    absolute = os.path.abspath(path)
    cwd = os.getcwd()
    if cwd == "/":
        return absolute
    if absolute == cwd or absolute.startswith(cwd.rstrip("/") + "/"):
        return os.path.relpath(absolute, cwd)
    return absolute
