#!/usr/bin/env python3
"""Write the shared image test vectors: core/image/tests/vectors/basic.{img,expect}, stored.img
and stored4k.img (the same tree stored raw), and
wide.img (3000 small files in 30 directories: tables of many pages, for the tests that
check the reader touches only the pages a lookup needs).

The image is written by the Python writer (packager/image/image.py); the Rust reader's tests
(core/image/tests/vectors.rs) read it back and compare with the .expect listing, so the two
halves of the format are checked against each other. Regenerate after a format change:
    python3 scripts/gen_image_vectors.py
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from packager.image.image import ImageSettings, build_image  # noqa: E402
from packager.image.imageformat import (  # noqa: E402
    TAG_ARG,
    TAG_CWD,
    TAG_ENTRY,
    TAG_ENV,
    TAG_ENV_INHERIT,
    TAG_ENV_PASS,
    TAG_HOSTNAME,
    encode_tlv,
)
from packager.image.rootfs import DIR, FILE, SYMLINK, FsEntry, RootFS  # noqa: E402

OUT = ROOT / "core/image/tests/vectors"


def entries() -> list[FsEntry]:
    """A small tree that exercises every entry kind, dedup, empty files and multi-chunk files."""
    big = bytes((i * 7 + i // 4096) % 251 for i in range(20000))
    fs = RootFS()
    fs.add(FsEntry("/app", DIR, 0o755, "vector"))
    fs.add(FsEntry("/app/hello.txt", FILE, 0o644, "vector", data=b"hello, world\n"))
    fs.add(FsEntry("/app/copy.txt", FILE, 0o644, "vector", data=b"hello, world\n"))
    fs.add(FsEntry("/app/empty", FILE, 0o600, "vector", data=b""))
    fs.add(FsEntry("/app/big.bin", FILE, 0o755, "vector", data=big))
    fs.add(FsEntry("/app/link", SYMLINK, 0o777, "vector", target="hello.txt"))
    fs.add(FsEntry("/app/abs-link", SYMLINK, 0o777, "vector", target="/app/sub"))
    fs.add(FsEntry("/app/sub/deeper/file", FILE, 0o444, "vector", data=b"deep\n"))
    fs.add(FsEntry("/a-b", FILE, 0o644, "vector", data=b"sorts between /a and /a/b\n"))
    return fs.entries()


def wide_entries() -> list[FsEntry]:
    """3000 small distinct files, 100 to a directory: an entry table of about 36 pages."""
    fs = RootFS()
    for d in range(30):
        fs.add(FsEntry(f"/lib/d{d:02d}", DIR, 0o755, "vector"))
        for f in range(100):
            fs.add(FsEntry(f"/lib/d{d:02d}/f{f:03d}.py", FILE, 0o644, "vector", data=f"{d} {f}\n".encode()))
    return fs.entries()


def main() -> int:
    """Writes the vectors; returns the exit code."""
    launch = encode_tlv([
        (TAG_ENTRY, b"/app/big.bin"), (TAG_ARG, b"/app/big.bin"), (TAG_ARG, b"one"),
        (TAG_ENV, b"LANG=C.UTF-8"), (TAG_ENV_PASS, b"TERM"), (TAG_ENV_INHERIT, b"\x00"),
        (TAG_CWD, b"/app"), (TAG_HOSTNAME, b"vector"),
    ])
    ents = entries()
    img = build_image(ents, launch, ImageSettings(chunk_size=4096, compression_level=3, mtime=1700000000))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "basic.img").write_bytes(img.blob)
    lines = [f"digest {img.digest}"]
    for e in ents:
        if e.kind == FILE:
            data = e.data or b""
            lines.append(f"file {e.path} {e.mode:o} {len(data)} {hashlib.sha256(data).hexdigest()}")
        elif e.kind == SYMLINK:
            lines.append(f"symlink {e.path} {e.target}")
        else:
            lines.append(f"dir {e.path} {e.mode:o}")
    (OUT / "basic.expect").write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}/basic.img ({len(img.blob)} bytes, {img.chunks} chunks)")
    # The same tree at level 0: every chunk stored raw (read and mapped in place by runtimes),
    # in 64 KiB chunks (a runtime's stored reader hashes those in 16 KiB pieces).
    stored = build_image(ents, launch, ImageSettings(chunk_size=65536, compression_level=0, mtime=1700000000))
    (OUT / "stored.img").write_bytes(stored.blob)
    print(f"wrote {OUT}/stored.img ({len(stored.blob)} bytes, {stored.chunks} chunks)")
    # Level 0 in 4 KiB chunks: big.bin spans several stored chunks, a span large enough for a
    # chunk check helper (core/image/tests/check_helper.rs).
    small = build_image(ents, launch, ImageSettings(chunk_size=4096, compression_level=0, mtime=1700000000))
    (OUT / "stored4k.img").write_bytes(small.blob)
    print(f"wrote {OUT}/stored4k.img ({len(small.blob)} bytes, {small.chunks} chunks)")
    wide = build_image(wide_entries(), encode_tlv([(TAG_ENTRY, b"/lib/d00/f000.py"), (TAG_ARG, b"x")]),
                       ImageSettings(chunk_size=4096, compression_level=3, mtime=1700000000))
    (OUT / "wide.img").write_bytes(wide.blob)
    print(f"wrote {OUT}/wide.img ({len(wide.blob)} bytes, {wide.entries} entries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
