"""The runner's check of a kvm artifact's image, on the host, before the VM boots.

The image carries SHA-256 digests: a root digest over its metadata, one per table page, one per
chunk (docs/image-format.md). The kernel checks each the first time it uses the part, so a
damaged artifact stops with exit 122 before the damaged bytes reach the app. Under emulation
(TCG) that SHA-256 runs about 15 times slower than on the host (no SHA instructions, and the
hashing code must be translated first): for a static hello it was the largest part of the
kernel's boot. On kvm the host is trusted (it loads the kernel from the same file), so the
runner checks the image itself: ``packager.image.imagereader.read_image`` checks the root
digest and every table page, :func:`chunks_match` every chunk. When all match it tells the
kernel so on the command line (``litebox.image-checked``), and the kernel computes no digest
(``Image::open_checked``; its bounds checks stay). Images with more chunk data than
``HOST_CHECK_LIMIT`` are left to the kernel, which hashes only what the app reads. A mismatch
is not reported here: the boot goes ahead without the token and the kernel stops at the
damaged part as before. SEV-SNP ignores the token (its host is not trusted).
"""
from __future__ import annotations

import hashlib
from typing import Any

from packager.image.imageformat import CHUNK, CHUNK_SIZE_RECORD

# The most chunk data (bytes) the runner hashes before a boot: about 40 ms with SHA-NI.
HOST_CHECK_LIMIT = 64 << 20


def chunks_match(image: Any, limit: int = HOST_CHECK_LIMIT) -> bool:
    """True when the image (``packager.image.imagereader.Image``) holds at most ``limit`` bytes
    of chunk data and every chunk's stored bytes match the SHA-256 of its chunk-table record;
    False otherwise (a mismatch, a record out of bounds, or too much data to check here)."""
    if image.data_size > limit:
        return False
    blob = memoryview(image.blob)
    for k in range(image.chunk_count):
        off, comp, _raw, digest = CHUNK.unpack_from(blob, image.chunks_off + k * CHUNK_SIZE_RECORD)
        if comp == 0 or off + comp > image.data_size:
            return False
        start = image.data_off + off
        if hashlib.sha256(blob[start:start + comp]).digest() != digest:
            return False
    return True
