"""bench/startup_ab.py's paired differences (issue 17, hs12) and its page-cache states (hs13)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from startup_ab import evict, paired, program_file, read_back, resident_pages  # noqa: E402


def test_paired_takes_the_differences_round_by_round() -> None:
    # Sorted separately the medians differ by 0; round by round the variant is 1 faster in
    # four rounds of five.
    base = [5.0, 1.0, 4.0, 2.0, 3.0]
    new = [4.0, 2.0, 3.0, 1.0, 2.0]
    assert paired(new, base) == {"median": -1.0, "q1": -1.0, "q3": 0.0}


def test_paired_of_one_round_is_its_difference() -> None:
    assert paired([2.5], [1.0]) == {"median": 1.5, "q1": 1.5, "q3": 1.5}


def test_program_file_is_the_first_word_found_on_path() -> None:
    sh = shutil.which("sh")
    assert sh is not None
    assert program_file(["sh", "-c", "true"]) == os.path.realpath(sh)
    assert program_file(["/nonexistent/prog"]) is None
    assert program_file(["/"]) is None


def test_evict_says_whether_the_pages_left_the_page_cache(tmp_path: Path) -> None:
    f = tmp_path / "data"
    f.write_bytes(os.urandom(64 * 1024))
    assert resident_pages(str(f)) == (16, 16)  # just written: cached
    dropped = evict(str(f))
    assert dropped == (resident_pages(str(f))[0] == 0)
    assert f.read_bytes() and resident_pages(str(f))[0] > 0  # read back


def test_read_back_runs_the_named_variants_once_and_says_their_state(tmp_path: Path) -> None:
    true = shutil.which("true")
    assert true is not None
    prog = tmp_path / "prog"
    shutil.copy(true, prog)
    state = read_back(["a"], {"a": [str(prog)], "b": [true]})
    assert state["a"] in ("read back", "not dropped") and state["b"] == "as found"
    assert resident_pages(str(prog))[0] > 0  # its run read it back
    with pytest.raises(ValueError):
        read_back(["c"], {"c": [str(tmp_path / "missing")]})
