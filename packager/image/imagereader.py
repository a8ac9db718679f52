"""A checking reader for image format v3: for ``litebox inspect``, ``verify`` and the tests.

It follows the same rules as the Rust reader in core/image (bounds, order, root digest, table
page digests, chunk digest before decompression), but checks every table page and entry at
open, where the runtime checks each page on first use."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import xxhash
import zstandard

from packager.errors import PackError
from packager.image.imageformat import (
    CHUNK,
    CHUNK_SIZE_RECORD,
    ENTRY,
    ENTRY_SIZE,
    HEADER,
    HEADER_DIGESTED,
    HEADER_SIZE,
    KIND_DIR,
    KIND_FILE,
    KIND_NAMES,
    KIND_SYMLINK,
    MAGIC,
    POLICY_TAGS,
    SINGLE_TAGS,
    TABLE_PAGE,
    TAG_ARG,
    TAG_CWD,
    TAG_ENTRY,
    TAG_ENV,
    TAG_ENV_INHERIT,
    TAG_ENV_PASS,
    TAG_HOSTNAME,
    TAG_NAMES,
    VERSION,
    decode_tlv,
    page_digests,
    root_digest,
)
from packager.image.policyrecords import DecodedPolicy


class ImageError(PackError):
    """The image is damaged (``tampered`` False) or fails a digest (``tampered`` True)."""

    def __init__(self, message: str, tampered: bool = False) -> None:
        super().__init__(("image tampered: " if tampered else "image damaged: ") + message)
        self.tampered = tampered


@dataclass(frozen=True)
class ImageEntry:
    """One decoded entry of the entry table."""

    index: int
    path: str
    kind: str
    mode: int
    uid: int
    gid: int
    mtime: int
    size: int
    data: int
    target: str | None = None


@dataclass(frozen=True)
class LaunchConfig:
    """The decoded launch records."""

    entry: str
    args: tuple[str, ...]
    env: tuple[str, ...]
    env_pass: tuple[str, ...]
    env_inherit: bool
    cwd: str
    hostname: str
    policy: DecodedPolicy = field(default_factory=DecodedPolicy)


def _split(path: bytes) -> tuple[bytes, bytes]:
    if path == b"/":
        return b"", b""
    i = path.rfind(b"/")
    return (b"/" if i == 0 else path[:i]), path[i + 1:]


def _normalized(p: bytes) -> bool:
    if p == b"/":
        return True
    if not p.startswith(b"/") or len(p) > 4095 or p.endswith(b"/") or b"\0" in p:
        return False
    return all(c not in (b"", b".", b"..") for c in p[1:].split(b"/"))


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


class Image:
    """An opened, validated image. ``entries`` lists every entry; ``read_file`` returns a
    file's bytes with each chunk checked against its digest before it is decompressed."""

    def __init__(self, blob: bytes) -> None:
        self.blob = blob
        self._parse_header()
        config = blob[self.config_off:self.config_off + self.config_size]
        pages = blob[self.pages_off:self.pages_off + self.pages_size]
        if root_digest(blob, config, pages) != self.root_digest:
            raise ImageError("root digest does not match the image metadata", tampered=True)
        # This reader checks the whole image at open (the runtime checks each page on first use).
        if page_digests(blob[self.index_off:self.chunks_off + self.chunks_size]) != pages:
            raise ImageError("a table page digest does not match", tampered=True)
        self.entries = self._parse_entries()
        self._by_path = {e.path: e for e in self.entries}
        self._validate_chunks()
        self._chunk_cache: dict[int, bytes] = {}

    def _parse_header(self) -> None:
        b = self.blob
        if len(b) < HEADER_SIZE:
            raise ImageError(f"shorter than the header ({len(b)} bytes)")
        f = HEADER.unpack_from(b, 0)
        if f[0] != MAGIC:
            raise ImageError("bad magic (expected LITEBOX\\0)")
        if f[1] != VERSION:
            raise ImageError(f"image version {f[1]}, this reader reads version {VERSION}")
        if f[2] != HEADER_SIZE or f[3] != 0 or f[18] != 0:
            raise ImageError("bad header size, flags or reserved field")
        self.chunk_size, self.entry_count, self.chunk_count = f[4], f[5], f[6]
        cs = self.chunk_size
        if cs < 4096 or cs > 16 << 20 or cs & (cs - 1):
            raise ImageError(f"bad chunk size {cs}")
        regions = [(f[7], f[8]), (f[9], f[10]), (f[11], f[12]), (f[13], f[14]), (f[15], f[16])]
        cursor = HEADER_SIZE
        for n, (off, size) in enumerate(regions):
            if off != cursor or off + size > len(b):
                raise ImageError("region out of bounds or out of order")
            cursor = off + size
            if n == 3:  # the page digest table follows the chunk table; its size is implied
                self.pages_off = cursor
                self.pages_size = -(-(cursor - regions[1][0]) // TABLE_PAGE) * 32
                cursor += self.pages_size
        (self.config_off, self.config_size), (self.index_off, self.index_size), \
            (self.strings_off, self.strings_size), (self.chunks_off, self.chunks_size), \
            (self.data_off, self.data_size) = regions
        self.end = cursor
        if self.entry_count == 0 or self.index_size != self.entry_count * ENTRY_SIZE:
            raise ImageError("entry table size does not match entry count")
        if self.chunks_size != self.chunk_count * CHUNK_SIZE_RECORD:
            raise ImageError("chunk table size does not match chunk count")
        self.stream_size = f[17]
        if -(-self.stream_size // cs) != self.chunk_count:
            raise ImageError("chunk count does not match stream size")
        self.root_digest = b[HEADER_DIGESTED:HEADER_SIZE]

    def _string(self, off: int, length: int) -> bytes:
        if off + length > self.strings_size:
            raise ImageError("string out of bounds")
        start = self.strings_off + off
        return self.blob[start:start + length]

    def _parse_entries(self) -> list[ImageEntry]:
        raw: list[tuple[bytes, int, int, int, int, int, int, int]] = []
        for i in range(self.entry_count):
            po, pl, kind, mode, uid, gid, mtime, size, data = ENTRY.unpack_from(
                self.blob, self.index_off + i * ENTRY_SIZE)
            if self.blob[self.index_off + i * ENTRY_SIZE + 9:self.index_off + i * ENTRY_SIZE + 12] != b"\0\0\0":
                raise ImageError(f"entry {i}: reserved bytes are not zero")
            if kind not in KIND_NAMES:
                raise ImageError(f"entry {i}: unknown kind {kind}")
            raw.append((self._string(po, pl), kind, mode, uid, gid, mtime, size, data))
        if raw[0][0] != b"/" or raw[0][1] != KIND_DIR:
            raise ImageError("entry 0 is not the root directory")
        out: list[ImageEntry] = []
        paths = {r[0]: i for i, r in enumerate(raw)}
        prev: tuple[bytes, bytes] | None = None
        for i, (path, kind, mode, uid, gid, mtime, size, data) in enumerate(raw):
            if not _normalized(path):
                raise ImageError(f"entry {i}: path is not normalized")
            key = _split(path)
            if prev is not None and not prev < key:
                raise ImageError(f"entry {i}: entries are not sorted or not unique")
            prev = key
            if i > 0:
                p = paths.get(key[0])
                if p is None or raw[p][1] != KIND_DIR:
                    raise ImageError(f"entry {i}: parent is not a directory")
            target = None
            if kind == KIND_FILE and data + size > self.stream_size:
                raise ImageError(f"entry {i}: file data out of bounds")
            if kind == KIND_SYMLINK:
                if size == 0 or size > 4095:
                    raise ImageError(f"entry {i}: bad symlink target length")
                target = _s(self._string(data, size))
            if kind == KIND_DIR:
                if data + size > self.entry_count or (size and data <= i):
                    raise ImageError(f"entry {i}: directory children out of bounds")
                if any(_split(raw[c][0])[0] != path for c in range(data, data + size)):
                    raise ImageError(f"entry {i}: directory child has another parent")
            out.append(ImageEntry(i, _s(path), KIND_NAMES[kind], mode & 0o7777, uid, gid, mtime,
                                  size, data, target))
        return out

    def _chunk_record(self, k: int) -> tuple[int, int, int, bytes, int]:
        return CHUNK.unpack_from(self.blob, self.chunks_off + k * CHUNK_SIZE_RECORD)

    def _validate_chunks(self) -> None:
        for k in range(self.chunk_count):
            off, comp, raw, _, _ = self._chunk_record(k)
            if comp == 0 or comp > raw or off + comp > self.data_size:
                raise ImageError(f"chunk {k} out of bounds")
            last = k + 1 == self.chunk_count
            want = self.stream_size - k * self.chunk_size if last else self.chunk_size
            if raw != want:
                raise ImageError(f"chunk {k} has the wrong uncompressed size")

    def chunk(self, k: int) -> bytes:
        """Chunk ``k``, checked against its digest, then decompressed."""
        if k in self._chunk_cache:
            return self._chunk_cache[k]
        off, comp, raw, digest, check = self._chunk_record(k)
        frame = self.blob[self.data_off + off:self.data_off + off + comp]
        if hashlib.sha256(frame).digest() != digest:
            raise ImageError(f"chunk {k} digest does not match", tampered=True)
        if xxhash.xxh3_64_intdigest(frame) != check:  # what runtimes check (docs/image-format.md)
            raise ImageError(f"chunk {k} check (XXH3-64) does not match", tampered=True)
        if comp == raw:
            out = bytes(frame)  # stored raw
            self._chunk_cache[k] = out
            return out
        try:
            params = zstandard.get_frame_parameters(frame)
            if params.content_size != raw:
                raise ImageError(f"chunk {k}: zstd frame content size is not {raw}")
            out = zstandard.ZstdDecompressor().decompress(frame, max_output_size=raw)
        except zstandard.ZstdError as exc:
            raise ImageError(f"chunk {k}: bad zstd frame ({exc})") from None
        if len(out) != raw:
            raise ImageError(f"chunk {k}: frame gives {len(out)} bytes, expected {raw}")
        self._chunk_cache[k] = out
        return out

    def entry(self, path: str) -> ImageEntry | None:
        """The entry at ``path``, or None."""
        return self._by_path.get(path)

    def read_file(self, path: str) -> bytes:
        """The bytes of the regular file at ``path`` (KeyError if there is none)."""
        e = self._by_path.get(path)
        if e is None or e.kind != "file":
            raise KeyError(path)
        out = bytearray()
        pos, end = e.data, e.data + e.size
        while pos < end:
            k, within = divmod(pos, self.chunk_size)
            piece = self.chunk(k)[within:within + (end - pos)]
            if not piece:
                raise ImageError(f"{path}: data past the end of chunk {k}")
            out += piece
            pos += len(piece)
        return bytes(out)

    def verify_all_chunks(self) -> None:
        """Checks every chunk's digest and frame (raises ImageError on the first bad one)."""
        for k in range(self.chunk_count):
            self.chunk(k)

    @cached_property
    def launch(self) -> LaunchConfig:
        """The decoded and validated launch config."""
        try:
            records = decode_tlv(self.blob[self.config_off:self.config_off + self.config_size])
        except ValueError as exc:
            raise ImageError(str(exc)) from None
        seen: set[int] = set()
        entry, cwd, host, inherit = "", "/", "litebox", False
        args: list[str] = []
        env: list[str] = []
        env_pass: list[str] = []
        policy = DecodedPolicy()
        for tag, value in records:
            if tag in SINGLE_TAGS:
                if tag in seen:
                    raise ImageError(f"launch config repeats {TAG_NAMES[tag]}")
                seen.add(tag)
            if tag == TAG_ENTRY:
                entry = _s(value)
            elif tag == TAG_ARG:
                args.append(_s(value))
            elif tag == TAG_ENV:
                if b"=" not in value:
                    raise ImageError("launch config ENV record without '='")
                env.append(_s(value))
            elif tag == TAG_ENV_PASS:
                env_pass.append(_s(value))
            elif tag == TAG_ENV_INHERIT:
                if value not in (b"\0", b"\1"):
                    raise ImageError("launch config ENV_INHERIT is not 0 or 1")
                inherit = value == b"\1"
            elif tag == TAG_CWD:
                cwd = _s(value)
            elif tag == TAG_HOSTNAME:
                host = _s(value)
            elif tag in POLICY_TAGS:
                try:
                    policy.add(tag, value)
                except ValueError as exc:
                    raise ImageError(f"launch config: {exc}") from None
            elif tag < 0x8000:
                raise ImageError(f"launch config has an unknown required record {tag}")
        if not entry.startswith("/"):
            raise ImageError("launch config has no absolute ENTRY")
        if not args:
            raise ImageError("launch config has no ARG (argv[0])")
        if not cwd.startswith("/"):
            raise ImageError("launch config CWD is not absolute")
        return LaunchConfig(entry, tuple(args), tuple(env), tuple(env_pass), inherit, cwd, host, policy)


def read_image(blob: bytes) -> Image:
    """Opens ``blob`` as an image. Promises: the root digest matches, every entry and chunk
    record is in bounds and in order; or an ImageError (a PackError) saying what is wrong."""
    return Image(blob)
