"""The image writer: sorted RootFS entries + launch config → image format v1 bytes."""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import xxhash
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
    TABLE_PAGE,
    VERSION,
    page_digests,
    root_digest,
)
from packager.image.imagereader import read_image  # noqa: F401  (re-exported: the reader half)
from packager.image.pycache import source_mtimes
from packager.image.reuse import ReuseCache
from packager.image.rewrite import RewriteError, is_rewritable_elf, rewrite
from packager.image.rootfs import DIR, FILE, SYMLINK, FsEntry, sort_key
from packager.paths import display_path, parent_of


@dataclass(frozen=True)
class ImageSettings:
    """What, besides the entries, decides the image bytes."""

    chunk_size: int = 128 * 1024
    compression_level: int = 9
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
    sha256: str = ""  # of the image's bytes (set by write_image, whose blob is empty)
    size: int = 0


def _enc(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


READ_BLOCK = 1 << 20  # bytes read from a host file at a time


def _read_content(e: FsEntry) -> bytes:
    """The whole content of an entry (only for ELF files that are rewritten)."""
    if e.data is not None:
        return e.data
    assert e.host is not None
    try:
        with open(e.host, "rb") as f:
            return f.read()
    except OSError as exc:
        raise PackError(f"{display_path(e.host)}: cannot read: {exc.strerror} ({e.reason})") from None


def _blocks(e: FsEntry) -> Iterator[bytes]:
    """The content of an entry in blocks of at most READ_BLOCK bytes: memory stays bounded
    whatever the file's size."""
    if e.data is not None:
        yield e.data
        return
    assert e.host is not None
    try:
        with open(e.host, "rb") as f:
            while block := f.read(READ_BLOCK):
                yield block
    except OSError as exc:
        raise PackError(f"{display_path(e.host)}: cannot read: {exc.strerror} ({e.reason})") from None


def _head(e: FsEntry, n: int = 64) -> bytes:
    if e.data is not None:
        return e.data[:n]
    assert e.host is not None
    try:
        with open(e.host, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise PackError(f"{display_path(e.host)}: cannot read: {exc.strerror} ({e.reason})") from None


def _digest(e: FsEntry) -> tuple[str, int]:
    """(sha256 hex, size) of an entry's content, read in blocks."""
    h = hashlib.sha256()
    size = 0
    for block in _blocks(e):
        h.update(block)
        size += len(block)
    return h.hexdigest(), size


def _compress_one(piece: bytes, level: int) -> bytes:
    # Level 0 stores every chunk raw; otherwise a chunk is stored raw exactly when its zstd
    # frame would not be smaller (docs/image-format.md, "Chunks").
    if level == 0:
        return piece
    cctx = zstandard.ZstdCompressor(level=level, write_content_size=True, write_checksum=False, threads=0)
    frame = cctx.compress(piece)
    # A copy: the frame zstandard returns keeps the whole compress-bound allocation (~chunk
    # size) behind it, so holding thousands of small frames would hold gigabytes.
    return bytes(memoryview(frame)) if len(frame) < len(piece) else piece


class ChunkStream:
    """The image's data stream, compressed as it is written: each full chunk is handed to a
    pool of threads at once (zstd releases the GIL), at most a few chunks are in flight, and
    only the compressed frames are kept. Every frame is independent and single-threaded, so
    the bytes are those of a sequential loop, in order."""

    def __init__(self, chunk_size: int, level: int, workers: int | None = None,
                 spill: BinaryIO | None = None, reuse: ReuseCache | None = None) -> None:
        self.chunk_size, self.level = chunk_size, level
        self.reuse = reuse  # frames of the previous build, by content (packager/image/reuse.py)
        self.size = 0
        self.frames: list[bytes] = []  # kept only without ``spill``
        self.spill = spill  # where finished frames go, in order, instead of ``frames``
        self.meta: list[tuple[int, bytes, int]] = []  # each frame's length, SHA-256 and XXH3-64
        self._pending = bytearray()
        self._workers = workers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(max_workers=self._workers) if self._workers > 1 else None
        self._flight: deque[tuple[str | None, Future[bytes]]] = deque()
        self._raw: deque[tuple[int, int]] = deque()  # stream ranges whose chunks are stored raw
        self._submitted = 0  # stream bytes handed to _submit so far
        self.data_pos = 0  # where the next frame goes in the data region
        self.offsets: list[int] = []  # each frame's offset in the data region
        self.aligned = False  # whether some frame was placed at a page boundary

    def align(self, boundary: int) -> None:
        """Pads the stream with zeros up to a multiple of ``boundary`` (bytes of no file)."""
        if self.size % boundary:
            self.write(bytes(-self.size % boundary))

    def store_raw(self, start: int, end: int) -> None:
        """Every chunk that overlaps stream bytes [start, end) is stored raw (uncompressed) and
        placed at a multiple of 4096 in the data region, so a runtime can map those bytes
        straight from the image (docs/image-format.md, "Mappable files"). Call before writing
        the bytes; ranges come in stream order."""
        if end > start:
            self._raw.append((start, end))

    def write(self, data: bytes) -> None:
        """Appends ``data`` to the stream."""
        self.size += len(data)
        self._pending += data
        if len(self._pending) >= self.chunk_size:
            view = memoryview(self._pending)
            whole = len(self._pending) // self.chunk_size * self.chunk_size
            for off in range(0, whole, self.chunk_size):
                self._submit(bytes(view[off:off + self.chunk_size]))
            rest = bytearray(view[whole:])  # a new buffer: deleting a bytearray's head keeps its memory
            view.release()
            self._pending = rest

    def _forced_raw(self, start: int, end: int) -> bool:
        while self._raw and self._raw[0][1] <= start:
            self._raw.popleft()
        return bool(self._raw) and self._raw[0][0] < end

    def _submit(self, piece: bytes) -> None:
        start = self._submitted
        self._submitted += len(piece)
        if self._forced_raw(start, self._submitted):
            kept: Future[bytes] = Future()
            kept.set_result(piece)
            self._flight.append((RAW, kept))
            self._drain(2 * self._workers)
            return
        name = None
        if self.reuse is not None and self.level != 0:
            name, frame = self.reuse.chunk(piece, self.level)
            if frame is not None:
                done: Future[bytes] = Future()
                done.set_result(frame)
                self._flight.append((None, done))
                self._drain(2 * self._workers)
                return
        if self._pool is None:
            future: Future[bytes] = Future()
            future.set_result(_compress_one(piece, self.level))
        else:
            future = self._pool.submit(_compress_one, piece, self.level)
        self._flight.append((name, future))
        self._drain(2 * self._workers)

    def _drain(self, keep: int) -> None:
        """Takes finished frames in order until at most ``keep`` are in flight (storing new
        ones in the reuse cache)."""
        while len(self._flight) > keep:
            name, future = self._flight.popleft()
            frame = future.result()
            if name is not None and name is not RAW and self.reuse is not None:
                self.reuse.put_chunk(name, frame)
            self._keep(frame, aligned=name is RAW)

    def _keep(self, frame: bytes, aligned: bool = False) -> None:
        if aligned:
            self.aligned = True
            if self.data_pos % PAGE:
                self._put(bytes(-self.data_pos % PAGE))
        self.meta.append((len(frame), hashlib.sha256(frame).digest(), xxhash.xxh3_64_intdigest(frame)))
        self.offsets.append(self.data_pos)
        self._put(frame)

    def _put(self, data: bytes) -> None:
        self.data_pos += len(data)
        if self.spill is not None:
            self.spill.write(data)
        else:
            self.frames.append(data)

    def finish(self) -> list[bytes]:
        """Compresses the last partial chunk, waits for every frame and returns them in order
        (none when they went to ``spill``)."""
        if self._pending:
            self._submit(bytes(self._pending))
            self._pending.clear()
        self._drain(0)
        self.close()
        return self.frames

    def close(self) -> None:
        """Stops the worker threads (pending work is dropped)."""
        if self._pool is not None:
            for _name, f in self._flight:
                f.cancel()
            self._pool.shutdown(wait=True)
            self._pool = None


PAGE = 4096
RAW = "raw"  # the name of a chunk stored raw because it holds a mappable file's bytes


# The first four bytes (little-endian u32) of the data files glibc maps read-only whole rather
# than reads: a locale category file (LC_CTYPE 0x20090720, LC_COLLATE 0x20051014 ^ 3, the others
# 0x20031115 ^ their category: glibc's LIMAGIC), the locale archive (AR_MAGIC) and the gconv
# module cache (GCONVCACHE_MAGIC). Stored raw, such a file is mapped from the artifact (pages
# shared with the page cache, only those touched resident) instead of decoded whole into
# private memory: C.UTF-8's LC_CTYPE is 345 KiB, of which python3 touches ~128.
GLIBC_MAPPED_MAGICS = frozenset(
    [0x20090720, 0x20051014 ^ 3] + [0x20031115 ^ c for c in (1, 2, 4, 5, 7, 8, 9, 10, 11, 12)]
    + [0xDE020109, 0x20010324])


def _is_mappable(e: FsEntry, content: bytes | None, size: int) -> bool:
    """Whether a file's chunks are stored raw and page-aligned: a file of at least a page that
    programs map rather than read, i.e. an ELF file (a program or library the runtime maps from
    the image instead of copying) or one of glibc's mapped data files (GLIBC_MAPPED_MAGICS)."""
    if size < PAGE:
        return False
    head = content[:4] if content is not None else _head(e, 4)
    return head == b"\x7fELF" or (len(head) == 4 and int.from_bytes(head, "little") in GLIBC_MAPPED_MAGICS)


def _compress_chunks(stream: bytes, chunk_size: int, level: int) -> list[bytes]:
    """The frames of ``stream`` cut into chunks (what ChunkStream produces for it)."""
    out = ChunkStream(chunk_size, level)
    out.write(stream)
    return out.finish()


ProgressReport = Callable[[int, int, int, int], None]  # files done, files, bytes done, bytes


def build_image(entries: list[FsEntry], launch: bytes, settings: ImageSettings,
                report: ProgressReport | None = None, reuse: ReuseCache | None = None) -> ImageResult:
    """Writes the image for ``entries`` (any order; they are sorted here) and the encoded
    launch config. Promises the exact layout of docs/image-format.md, v1: entries in
    (parent, name) order, uid/gid 0, mtime = settings.mtime (Python sources with a valid
    timestamp .pyc: the mtime it records, see pycache.py), identical file contents stored
    once, one zstd frame per chunk with content size and without checksum, and the root
    digest over header[0:128] and all metadata. Same inputs, same bytes. ``report`` is
    called with (files done, files, bytes read, bytes) as files are read. ``reuse`` supplies
    chunks and rewritten files of an earlier build by content (the same bytes either way)."""
    stream = ChunkStream(settings.chunk_size, settings.compression_level, reuse=reuse)
    result, parts = _build(entries, launch, settings, report, stream, reuse)
    result.blob = b"".join([*parts, *stream.frames])
    return result


def write_image(entries: list[FsEntry], launch: bytes, settings: ImageSettings, out: BinaryIO,
                spill_dir: Path | None = None, report: ProgressReport | None = None,
                reuse: ReuseCache | None = None) -> ImageResult:
    """``build_image`` written to ``out`` instead of returned: the compressed frames wait in an
    unnamed temporary file in ``spill_dir`` (default: the system's), so memory does not grow
    with the image. Same bytes as ``build_image``; the result's ``blob`` is empty and its
    ``sha256`` and ``size`` describe what was written."""
    with tempfile.TemporaryFile(dir=spill_dir) as spill:
        stream = ChunkStream(settings.chunk_size, settings.compression_level, spill=spill, reuse=reuse)
        result, parts = _build(entries, launch, settings, report, stream, reuse)
        digest, size = hashlib.sha256(), 0
        for part in parts:
            out.write(part)
            digest.update(part)
            size += len(part)
        spill.seek(0)
        while piece := spill.read(READ_BLOCK):
            out.write(piece)
            digest.update(piece)
            size += len(piece)
    result.sha256, result.size = digest.hexdigest(), size
    return result


def _build(entries: list[FsEntry], launch: bytes, settings: ImageSettings, report: ProgressReport | None,
           stream: ChunkStream, reuse: ReuseCache | None = None) -> tuple[ImageResult, list[bytes]]:
    """Writes every entry into ``stream``; returns the facts and the bytes that precede the
    frames (header, root digest, launch config, index, strings, chunk table, page digest table)."""
    ordered = sorted(entries, key=lambda e: sort_key(e.path))
    if not ordered or ordered[0].path != "/":
        stream.close()
        raise PackError("image: the root directory entry is missing")
    children: dict[str, list[int]] = {}
    for i, e in enumerate(ordered[1:], start=1):
        children.setdefault(parent_of(e.path), []).append(i)

    strings = bytearray()
    try:
        counts = _Counts(ordered, report)
        records, inputs, rewrite_facts = _write_entries(ordered, children, strings, stream, settings, counts,
                                                        reuse, source_mtimes(ordered))
        counts.finish()
        stream.finish()
    finally:
        stream.close()
    stream_size = stream.size
    config_off = HEADER_SIZE
    index_off = config_off + len(launch)
    strings_off = index_off + len(ordered) * ENTRY_SIZE
    chunks_off = strings_off + len(strings)
    table_size = len(stream.meta) * CHUNK.size
    tables_size = len(records) + len(strings) + table_size
    # One digest per TABLE_PAGE of the table area; its size is known before the chunk table's
    # bytes are (they depend on where the data region starts, which follows the digests).
    pages_size = -(-tables_size // TABLE_PAGE) * 32
    data_off = chunks_off + table_size + pages_size
    # Zeros at the head of the data region put the frames' page-aligned offsets at page
    # boundaries of the image (whose section starts at a page boundary of the artifact).
    lead = -data_off % PAGE if stream.aligned else 0
    chunk_table = bytearray()
    for k, ((length, frame_digest, frame_check), off) in enumerate(zip(stream.meta, stream.offsets)):
        raw = min(settings.chunk_size, stream.size - k * settings.chunk_size)
        chunk_table += CHUNK.pack(lead + off, length, raw, frame_digest, frame_check)
    data_size = lead + stream.data_pos
    pages = page_digests(bytes(records) + bytes(strings) + bytes(chunk_table))
    assert len(pages) == pages_size
    header = HEADER.pack(MAGIC, VERSION, HEADER_SIZE, 0, settings.chunk_size, len(ordered), len(stream.meta),
                         config_off, len(launch), index_off, len(records), strings_off, len(strings),
                         chunks_off, len(chunk_table), data_off, data_size, stream_size, 0)
    root = root_digest(header, launch, pages)
    result = ImageResult(blob=b"", digest=root.hex(), entries=len(ordered), chunks=len(stream.meta),
                         stream_size=stream_size, inputs=inputs, rewrite=rewrite_facts)
    return result, [header, root, launch, bytes(records), bytes(strings), bytes(chunk_table), pages, bytes(lead)]


class _Counts:
    """Files and bytes read so far, passed on to a progress report."""

    def __init__(self, entries: list[FsEntry], report: ProgressReport | None) -> None:
        self.report = report
        files = [e for e in entries if e.kind == FILE]
        self.files, self.done, self.nbytes = len(files), 0, 0
        self.total = sum(len(e.data) if e.data is not None else _host_size(e) for e in files) if report else 0

    def add(self, nbytes: int, file_done: bool) -> None:
        """Counts ``nbytes`` more bytes read (and one more file when ``file_done``)."""
        self.nbytes += nbytes
        self.done += file_done
        if self.report is not None and self.done < self.files:
            self.report(self.done, self.files, self.nbytes, self.total)

    def finish(self) -> None:
        """The final report: every file done."""
        if self.report is not None:
            self.report(self.files, self.files, self.total, self.total)


def _host_size(e: FsEntry) -> int:
    try:
        return os.stat(e.host).st_size if e.host is not None else 0
    except OSError:
        return 0


def _write_entries(ordered: list[FsEntry], children: dict[str, list[int]], strings: bytearray,
                   stream: ChunkStream, settings: ImageSettings, counts: _Counts, reuse: ReuseCache | None = None,
                   mtimes: dict[str, int] | None = None
                   ) -> tuple[bytearray, list[InputFile], dict[str, dict[str, Any]]]:
    """Appends every entry's path (and symlink target) to ``strings`` and every distinct file
    content to ``stream``, reading host files in blocks; returns the entry records, the
    inputs and the rewriting facts. Only ELF files that are rewritten are read whole. Every
    entry gets mtime ``settings.mtime`` except the files ``mtimes`` names (pycache.py)."""
    by_digest: dict[str, tuple[int, int]] = {}
    ahead = RewriteAhead(ordered, settings.rewrite_entry, reuse=reuse) if settings.rewrite_entry is not None else None
    try:
        return _write_entries_with(ordered, children, strings, stream, settings, counts, by_digest, ahead,
                                   mtimes or {})
    finally:
        if ahead is not None:
            ahead.close()


def _write_entries_with(ordered: list[FsEntry], children: dict[str, list[int]], strings: bytearray,
                        stream: ChunkStream, settings: ImageSettings, counts: _Counts,
                        by_digest: dict[str, tuple[int, int]], ahead: RewriteAhead | None,
                        mtimes: dict[str, int]) -> tuple[bytearray, list[InputFile], dict[str, dict[str, Any]]]:
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
            digest, input_size = _digest(e)
            want = (settings.expected or {}).get(e.path)
            if want is not None and want != digest and e.host is not None:
                raise PackError(f"{display_path(e.host)} changed while it was being packed; pack again")
            input_digest = digest
            content: bytes | None = None
            if ahead is not None and ahead.wants(e):
                whole_digest, done = ahead.take(e)
                if whole_digest != input_digest:
                    raise PackError(f"{display_path(e.host or e.path)} changed while it was being packed; "
                                    "pack again")
                rewritten.setdefault(digest, done)
                content, facts = rewritten[digest]
                rewrite_facts[e.path] = facts
                digest = hashlib.sha256(content).hexdigest()
            size = len(content) if content is not None else input_size
            if size == 0:
                data = 0
            elif digest in by_digest:
                data = by_digest[digest][0]
            else:
                if _is_mappable(e, content, size):
                    stream.align(PAGE)
                    stream.store_raw(stream.size, stream.size + size)
                data = stream.size
                by_digest[digest] = (data, size)
                _append(stream, e, content, digest, size, counts)
            if e.host is not None and e.data is None:
                inputs.append(InputFile(e.path, e.host, input_size, input_digest, e.reason))
            counts.add(0, True)
        elif e.kind == SYMLINK:
            assert e.target is not None
            target = _enc(e.target)
            data = len(strings)
            size = len(target)
            strings += target
        else:
            raise PackError(f"image: unknown entry kind {e.kind!r} for {e.path}")
        records += ENTRY.pack(path_off, len(path), KIND_CODES[e.kind], e.mode & 0o7777, 0, 0,
                              mtimes.get(e.path, settings.mtime), size, data)
    return records, inputs, rewrite_facts


RewriteDone = tuple[bytes, dict[str, Any]]  # (the file's bytes for the image, its rewrite summary)


def _rewrite_file(e: FsEntry, entry: int, reuse: ReuseCache | None = None) -> tuple[str, RewriteDone]:
    """Reads an ELF entry whole and rewrites it (or takes the result from ``reuse``): (sha256
    of what was read, (bytes, summary)); a file the rewriter cannot read is kept as it is,
    with a note."""
    whole = _read_content(e)
    digest = hashlib.sha256(whole).hexdigest()
    name = None
    if reuse is not None:
        name, found = reuse.rewritten(digest, entry)
        if found is not None:
            return digest, found
    try:
        r = rewrite(whole, entry)
        done: RewriteDone = (r.data, r.summary())
    except RewriteError as exc:
        done = (whole, {"sites": 0, "rewritten": 0, "trapped": 0, "note": f"not rewritten: {exc}"})
    if reuse is not None and name is not None:
        reuse.put_rewritten(name, *done)
    return digest, done


class RewriteAhead:
    """Rewrites the image's ELF files in worker threads ahead of the writer, which takes the
    results in entry order (capstone decodes outside the GIL). Same bytes as rewriting each
    file when the writer reaches it; at most ``window`` files are read ahead."""

    def __init__(self, ordered: list[FsEntry], entry: int, workers: int | None = None, window: int = 8,
                 reuse: ReuseCache | None = None) -> None:
        self.entry, self.reuse = entry, reuse
        self._todo = deque(e for e in ordered if e.kind == FILE and is_rewritable_elf(_head(e)))
        self._paths = {e.path for e in self._todo}
        self._window = window
        n = workers or os.cpu_count() or 1
        self._pool = ThreadPoolExecutor(max_workers=n)
        self._flight: dict[str, Future[tuple[str, RewriteDone]]] = {}
        self._fill()

    def _fill(self) -> None:
        while self._todo and len(self._flight) < self._window:
            e = self._todo.popleft()
            self._flight[e.path] = self._pool.submit(_rewrite_file, e, self.entry, self.reuse)

    def wants(self, e: FsEntry) -> bool:
        """Whether ``e`` is one of the files rewritten here."""
        return e.path in self._paths

    def take(self, e: FsEntry) -> tuple[str, RewriteDone]:
        """The result for ``e`` (files must be taken in entry order)."""
        future = self._flight.pop(e.path)
        self._fill()
        return future.result()

    def close(self) -> None:
        """Stops the workers (files not yet rewritten are dropped)."""
        for f in self._flight.values():
            f.cancel()
        self._pool.shutdown(wait=True)


def _append(stream: ChunkStream, e: FsEntry, content: bytes | None, digest: str, size: int,
            counts: _Counts) -> None:
    """Writes an entry's content to the stream: ``content`` when given (rewritten bytes), else
    the file again in blocks, checked against the digest taken before (a file that changed
    in between is an error, never a silently inconsistent image)."""
    if content is not None:
        stream.write(content)
        counts.add(size, False)
        return
    h = hashlib.sha256()
    written = 0
    for block in _blocks(e):
        h.update(block)
        written += len(block)
        stream.write(block)
        counts.add(len(block), False)
    if written != size or h.hexdigest() != digest:
        raise PackError(f"{display_path(e.host or e.path)} changed while it was being packed; pack again")
