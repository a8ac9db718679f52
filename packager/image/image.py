"""The image writer: sorted RootFS entries + launch config → image format v1 bytes."""
from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from packager.errors import PackError
from packager.image.imageformat import (
    CHUNK,
    ENTRY,
    ENTRY_SIZE,
    HEADER,
    HEADER_SIZE,
    KIND_CODES,
    MAGIC,
    VERSION,
)
from packager.image.imagereader import read_image  # noqa: F401  (re-exported: the reader half)
from packager.image.rewrite import RewriteError, is_rewritable_elf, rewrite
from packager.image.rootfs import DIR, FILE, SYMLINK, FsEntry, sort_key
from packager.paths import display_path, parent_of


@dataclass(frozen=True)
class ImageSettings:
    """What, besides the entries, decides the image bytes."""

    chunk_size: int = 128 * 1024
    compression_level: int = 19
    mtime: int = 0
    expected: dict[str, str] | None = None  # image path -> sha256 the plan recorded
    rewrite_entry: int | None = None  # fast-path entry for syscall rewriting; None: off


@dataclass(frozen=True)
class InputFile:
    """A host file whose bytes went into the image, as the manifest records it."""

    image_path: str
    host_path: Path
    size: int
    sha256: str
    reason: str


@dataclass
class ImageResult:
    """The image bytes and the facts the manifest records about them."""

    blob: bytes
    digest: str
    entries: int
    chunks: int
    stream_size: int
    inputs: list[InputFile] = field(default_factory=list)
    rewrite: dict[str, dict[str, Any]] = field(default_factory=dict)  # image path -> summary


def _enc(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _read_content(e: FsEntry) -> bytes:
    if e.data is not None:
        return e.data
    assert e.host is not None
    try:
        with open(e.host, "rb") as f:
            return f.read()
    except OSError as exc:
        raise PackError(f"{display_path(e.host)}: cannot read: {exc.strerror} ({e.reason})") from None


def _compress_chunks(stream: bytes, chunk_size: int, level: int) -> list[bytes]:
    pieces = [stream[i:i + chunk_size] for i in range(0, len(stream), chunk_size)]

    def one(piece: bytes) -> bytes:
        # Level 0 stores every chunk raw; otherwise a chunk is stored raw exactly when its zstd
        # frame would not be smaller (docs/image-format.md, "Chunks").
        if level == 0:
            return piece
        cctx = zstandard.ZstdCompressor(level=level, write_content_size=True, write_checksum=False,
                                        threads=0)
        frame = cctx.compress(piece)
        return frame if len(frame) < len(piece) else piece

    # Every frame is independent and single-threaded, so running them side by side gives
    # exactly the bytes a sequential loop would.
    if len(pieces) <= 1:
        return [one(p) for p in pieces]
    with ThreadPoolExecutor(max_workers=min(len(pieces), os.cpu_count() or 1)) as pool:
        return list(pool.map(one, pieces))


def build_image(entries: list[FsEntry], launch: bytes, settings: ImageSettings) -> ImageResult:
    """Writes the image for ``entries`` (any order; they are sorted here) and the encoded
    launch config. Promises the exact layout of docs/image-format.md, v1: entries in
    (parent, name) order, uid/gid 0, mtime = settings.mtime, identical file contents stored
    once, one zstd frame per chunk with content size and without checksum, and the root
    digest over header[0:128] and all metadata. Same inputs, same bytes."""
    ordered = sorted(entries, key=lambda e: sort_key(e.path))
    if not ordered or ordered[0].path != "/":
        raise PackError("image: the root directory entry is missing")
    children: dict[str, list[int]] = {}
    for i, e in enumerate(ordered[1:], start=1):
        children.setdefault(parent_of(e.path), []).append(i)

    strings = bytearray()
    stream = bytearray()
    by_digest: dict[str, tuple[int, int]] = {}
    inputs: list[InputFile] = []
    records = bytearray()
    rewritten: dict[str, tuple[bytes, dict[str, Any]]] = {}  # original sha256 -> (bytes, summary)
    rewrite_facts: dict[str, dict[str, Any]] = {}
    for e in ordered:
        path = _enc(e.path)
        path_off = len(strings)
        strings += path
        if e.kind == DIR:
            kids = children.get(e.path, [])
            size, data = len(kids), (kids[0] if kids else 0)
            if kids and kids != list(range(kids[0], kids[0] + len(kids))):
                raise PackError(f"image: children of {e.path} are not contiguous")
        elif e.kind == FILE:
            content = _read_content(e)
            digest = hashlib.sha256(content).hexdigest()
            want = (settings.expected or {}).get(e.path)
            if want is not None and want != digest and e.host is not None:
                raise PackError(f"{display_path(e.host)} changed while it was being packed; pack again")
            input_digest, input_size = digest, len(content)
            if settings.rewrite_entry is not None and is_rewritable_elf(content):
                if digest not in rewritten:
                    try:
                        r = rewrite(content, settings.rewrite_entry)
                        rewritten[digest] = (r.data, r.summary())
                    except RewriteError as exc:
                        rewritten[digest] = (content, {"sites": 0, "rewritten": 0, "trapped": 0,
                                                       "note": f"not rewritten: {exc}"})
                content, facts = rewritten[digest]
                rewrite_facts[e.path] = facts
                digest = hashlib.sha256(content).hexdigest()
            size = len(content)
            if size == 0:
                data = 0
            elif digest in by_digest:
                data = by_digest[digest][0]
            else:
                data = len(stream)
                by_digest[digest] = (data, size)
                stream += content
            if e.host is not None and e.data is None:
                inputs.append(InputFile(e.path, e.host, input_size, input_digest, e.reason))
        elif e.kind == SYMLINK:
            assert e.target is not None
            target = _enc(e.target)
            data = len(strings)
            size = len(target)
            strings += target
        else:
            raise PackError(f"image: unknown entry kind {e.kind!r} for {e.path}")
        records += ENTRY.pack(path_off, len(path), KIND_CODES[e.kind], e.mode & 0o7777, 0, 0,
                              settings.mtime, size, data)

    frames = _compress_chunks(bytes(stream), settings.chunk_size, settings.compression_level)
    chunk_table = bytearray()
    data_region = bytearray()
    for k, frame in enumerate(frames):
        raw = min(settings.chunk_size, len(stream) - k * settings.chunk_size)
        chunk_table += CHUNK.pack(len(data_region), len(frame), raw, hashlib.sha256(frame).digest())
        data_region += frame

    config_off = HEADER_SIZE
    index_off = config_off + len(launch)
    strings_off = index_off + len(ordered) * ENTRY_SIZE
    chunks_off = strings_off + len(strings)
    data_off = chunks_off + len(chunk_table)
    header = HEADER.pack(MAGIC, VERSION, HEADER_SIZE, 0, settings.chunk_size, len(ordered), len(frames),
                         config_off, len(launch), index_off, len(records), strings_off, len(strings),
                         chunks_off, len(chunk_table), data_off, len(data_region), len(stream), 0)
    root = hashlib.sha256(header + launch + bytes(records) + bytes(strings) + bytes(chunk_table)).digest()
    blob = b"".join([header, root, launch, bytes(records), bytes(strings), bytes(chunk_table),
                     bytes(data_region)])
    return ImageResult(blob=blob, digest=root.hex(), entries=len(ordered), chunks=len(frames),
                       stream_size=len(stream), inputs=inputs, rewrite=rewrite_facts)
