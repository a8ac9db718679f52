"""bench/paired_ab.py's per-round dump and bench/maps_present.py's present-page count."""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import maps_present  # noqa: E402
import paired_ab  # noqa: E402


def test_dump_writes_the_rounds_by_variant(tmp_path: Path) -> None:
    res = {"base": [70.5, 71.0], "new": [69.25, 70.0]}
    paired_ab.dump(res, str(tmp_path / "r.json"))
    assert json.loads((tmp_path / "r.json").read_text()) == res


def test_present_pages_counts_the_touched_pages_of_a_mapping() -> None:
    page = mmap.PAGESIZE
    m = mmap.mmap(-1, 16 * page, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        for i in (0, 5, 9):
            m[i * page] = 1
        # The mapping's address, from a buffer over it.
        buf = (ctypes.c_char * (16 * page)).from_buffer(m)
        start = ctypes.addressof(buf)
        assert maps_present.present_pages(os.getpid(), start, start + 16 * page) == 3
        assert maps_present.present_pages(os.getpid(), start + page, start + 5 * page) == 0
        del buf
    finally:
        m.close()
