"""Python bytecode caches that stay valid in the image.

A timestamp-based ``.pyc`` (PEP 552 flags 0) is used by the interpreter only when the mtime and
size it records equal its source's ``stat``. The image gives every entry the same mtime
(``[build] source_date_epoch``), so without this pass every packed ``.pyc`` would be stale: the
packed interpreter would compile each module it imports from source at every start and try to
write fresh ``.pyc`` files into the writable layer (measured: ``python3 -c pass`` compiled the
``encodings`` modules on every run).

The rule kept here: a source file keeps the mtime its ``.pyc`` records exactly when that
``.pyc`` is valid for it on the packing host (same mtime and size there). The interpreter then
makes the same choice packed as natively, and the recorded value comes from the ``.pyc``'s own
bytes, so the image stays reproducible. Hash-based ``.pyc`` files do not depend on mtimes and are
left alone; a stale ``.pyc`` stays stale, as it is on the host.
"""

from __future__ import annotations

import os
import struct

from packager.image.rootfs import FILE, FsEntry

PYC_HEADER = struct.Struct("<4sIII")  # magic, flags, source mtime, source size
U32 = 0xFFFFFFFF


def _source_of(pyc_path: str) -> str | None:
    """``/a/__pycache__/mod.cpython-311.opt-1.pyc`` → ``/a/mod.py``; None for other paths."""
    head, _, name = pyc_path.rpartition("/")
    parent, _, cache_dir = head.rpartition("/")
    if cache_dir != "__pycache__" or not name.endswith(".pyc"):
        return None
    module = name.split(".", 1)[0]
    return f"{parent}/{module}.py" if module else None


def _header(e: FsEntry) -> tuple[int, int, int] | None:
    """(flags, recorded mtime, recorded size) of a ``.pyc`` entry, or None if unreadable."""
    try:
        if e.data is not None:
            head = e.data[:PYC_HEADER.size]
        elif e.host is not None:
            with open(e.host, "rb") as f:
                head = f.read(PYC_HEADER.size)
        else:
            return None
    except OSError:
        return None
    if len(head) < PYC_HEADER.size:
        return None
    _, flags, mtime, size = PYC_HEADER.unpack(head)
    return flags, mtime, size


def source_mtimes(entries: list[FsEntry]) -> dict[str, int]:
    """The image mtime for every Python source whose packed timestamp ``.pyc`` is valid for it on
    the host (its host file's ``int(st_mtime)`` and size, modulo 2**32, are what the ``.pyc``
    records). Sources with several such ``.pyc`` files that disagree get none. Only files read
    from the host qualify (a generated source has no host stat to agree with)."""
    files = {e.path: e for e in entries if e.kind == FILE}
    found: dict[str, int | None] = {}
    for path, e in files.items():
        source_path = _source_of(path)
        if source_path is None:
            continue
        source = files.get(source_path)
        if source is None or source.host is None or source.data is not None:
            continue
        head = _header(e)
        if head is None or head[0] != 0:  # hash-based or unreadable: mtimes do not matter
            continue
        try:
            st = os.stat(source.host)
        except OSError:
            continue
        _, mtime, size = head
        if int(st.st_mtime) & U32 != mtime or st.st_size & U32 != size:
            continue  # stale on the host too: leave it stale
        prev = found.get(source_path, mtime)
        found[source_path] = mtime if prev == mtime else None
    return {p: m for p, m in found.items() if m is not None}
