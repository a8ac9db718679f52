"""bench/startup_ab.py's paired differences (issue 17, hs12)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from startup_ab import paired  # noqa: E402


def test_paired_takes_the_differences_round_by_round() -> None:
    # Sorted separately the medians differ by 0; round by round the variant is 1 faster in
    # four rounds of five.
    base = [5.0, 1.0, 4.0, 2.0, 3.0]
    new = [4.0, 2.0, 3.0, 1.0, 2.0]
    assert paired(new, base) == {"median": -1.0, "q1": -1.0, "q3": 0.0}


def test_paired_of_one_round_is_its_difference() -> None:
    assert paired([2.5], [1.0]) == {"median": 1.5, "q1": 1.5, "q3": 1.5}
