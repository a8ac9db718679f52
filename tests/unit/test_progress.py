"""Progress output: live counts on a terminal, plain lines in pipes and CI, nothing when quiet."""
from __future__ import annotations

import io

import pytest

from packager.build.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_in_a_pipe() -> None:
    out = io.StringIO()
    p = Progress(out)
    p.step("image for app")
    p.counter("image", 1, 3, 10, 2048)
    p.counter("image", 3, 3, 2048, 2048)
    assert out.getvalue() == "litebox: image for app\nlitebox:   image: 3/3 files, 2.0 kB of 2.0 kB\n"


def test_live_counts_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    out = _Terminal()
    p = Progress(out)
    p.counter("image", 1, 3, 5 << 20, 3 << 30)
    assert "\r  image: 1/3 files, 5.0 MB of 3.0 GB" in out.getvalue()
    p.counter("image", 3, 3, 3 << 30, 3 << 30)
    assert out.getvalue().endswith("litebox:   image: 3/3 files, 3.0 GB of 3.0 GB\n")


def test_ci_means_plain_lines_even_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    out = _Terminal()
    Progress(out).counter("image", 1, 3, 10, 20)
    assert out.getvalue() == ""


def test_quiet_prints_nothing_but_warnings() -> None:
    out = io.StringIO()
    p = Progress(out, quiet=True)
    p.step("image")
    p.counter("image", 3, 3, 1, 1)
    p.done("wrote x")
    p.warn("careful")
    assert out.getvalue() == "litebox: warning: careful\n"
