"""Shared pytest fixtures.

The end-to-end helpers live in tests/e2e/litebox_e2e.py; this file puts that folder on sys.path
so test modules can `from litebox_e2e import ...` whatever pytest's import mode is.
Nothing here is autouse: the unit tests pay for none of it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "e2e"))

from litebox_e2e import Artifact, ExampleArtifacts, pack  # noqa: E402


@pytest.fixture(scope="session")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleArtifacts]:
    yield ExampleArtifacts(tmp_path_factory.mktemp("examples"))


@pytest.fixture(scope="session")
def quick_pack(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Artifact]:
    """Packs a host program in quick mode once per session: quick_pack("/usr/bin/echo")."""
    root = tmp_path_factory.mktemp("quick")
    cache: dict[str, Artifact] = {}

    def _pack(program: str) -> Artifact:
        if program not in cache:
            out = root / f"{len(cache):02d}-{Path(program).name}"
            cache[program] = pack(Path(program), out)
        return cache[program]

    return _pack
