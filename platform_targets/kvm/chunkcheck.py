"""The runner's check of a kvm artifact's image, on the host, before the VM boots.

The image carries SHA-256 digests (a root digest over its metadata, one per table page) and a
check per chunk (XXH3-64 since image format v3; docs/image-format.md). The kernel checks each
the first time it uses the part, so a damaged artifact stops with exit 122 before the damaged
bytes reach the app. Under emulation (TCG) hashing runs many times slower than on the host (no
SHA instructions, and the hashing code must be translated first): for a static hello it was the
largest part of the kernel's boot. On kvm the host is trusted (it loads the kernel from the same file), so the
runner checks the image itself: ``packager.image.imagereader.read_image`` checks the root
digest and every table page, :func:`chunks_match` every chunk (the same XXH3-64 the kernel
would check). When all match it tells the kernel so on the command line
(``litebox.image-checked``), and the kernel computes no digest
(``Image::open_checked``; its bounds checks stay). Images with more chunk data than
``HOST_CHECK_LIMIT`` are left to the kernel, which hashes only what the app reads. A mismatch
is not reported here: the boot goes ahead without the token and the kernel stops at the
damaged part as before. SEV-SNP ignores the token (its host is not trusted).
"""
from __future__ import annotations

from typing import Any

import xxhash

from packager.image.imageformat import CHUNK, CHUNK_SIZE_RECORD

# The most chunk data (bytes) the runner checks before a boot: about 25 ms with XXH3-64 here.
HOST_CHECK_LIMIT = 256 << 20


def chunks_match(image: Any, limit: int = HOST_CHECK_LIMIT) -> bool:
    """True when the image (``packager.image.imagereader.Image``) holds at most ``limit`` bytes
    of chunk data and every chunk's stored bytes match the XXH3-64 of its chunk-table record;
    False otherwise (a mismatch, a record out of bounds, or too much data to check here)."""
    if image.data_size > limit:
        return False
    blob = memoryview(image.blob)
    for k in range(image.chunk_count):
        off, comp, _raw, _digest, check = CHUNK.unpack_from(blob, image.chunks_off + k * CHUNK_SIZE_RECORD)
        if comp == 0 or off + comp > image.data_size:
            return False
        start = image.data_off + off
        if xxhash.xxh3_64_intdigest(blob[start:start + comp]) != check:
            return False
    return True
