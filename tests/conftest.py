"""Shared pytest fixtures.

The end-to-end helpers live in tests/e2e/litebox_e2e.py; this file puts that folder on sys.path
so test modules can `from litebox_e2e import ...` whatever pytest's import mode is.
Nothing here is autouse: the unit tests pay for none of it.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "e2e"))

from litebox_e2e import (  # noqa: E402
    NOT_YET,
    TARGET,
    Artifact,
    ExampleArtifacts,
    discover_targets,
    pack,
    pack_for,
    target_names,
    unready_reason,
)

_READY: dict[str, str | None] = {}


@pytest.fixture(scope="session", params=target_names())
def target(request: pytest.FixtureRequest) -> Any:
    """Each discovered target plugin (packager.targets.targets.Target; ids: the target names) in turn:
    a test that takes it runs on every target, a new folder under platform_targets/ included.
    A target whose required doctor checks fail on this host is skipped with the failing check's
    own text. `@pytest.mark.parametrize("target", [NAMES], indirect=True)` narrows a test to
    the targets a behaviour belongs to (a named table in the test file says why)."""
    name = request.param
    found = discover_targets()
    assert name in found, f"no target {name!r} (known: {', '.join(found)})"
    if name not in _READY:
        _READY[name] = unready_reason(found[name])
    if _READY[name] is not None:
        pytest.skip(_READY[name])
    return found[name]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked `needs("FEATURE", ...)` is skipped on a target that does not do FEATURE
    yet (litebox_e2e.NOT_YET), with that target's reason; in the --no-rewrite run, so is every
    test of a target without a trap path."""
    callspec = getattr(item, "callspec", None)
    name = callspec.params.get("target") if callspec is not None else None
    if not isinstance(name, str):
        return
    # The --no-rewrite run (scripts/test) tests the trap path, which some targets do not have.
    if os.environ.get("LITEBOX_E2E_NO_REWRITE") == "1" and NOT_YET.get(name, {}).get("trap-path"):
        pytest.skip(NOT_YET[name]["trap-path"])
    for mark in item.iter_markers("needs"):
        for feature in mark.args:
            reason = NOT_YET.get(name, {}).get(feature)
            if reason:
                pytest.skip(reason)


@pytest.fixture(scope="session")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExampleArtifacts]:
    yield ExampleArtifacts(tmp_path_factory.mktemp("examples"))


@pytest.fixture(scope="session")
def quick_pack(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Artifact]:
    """Packs a host program in quick mode once per session and target: quick_pack("/usr/bin/echo")
    (linux-userland), quick_pack("/usr/bin/echo", target) (a plugin of the `target` fixture)."""
    root = tmp_path_factory.mktemp("quick")
    cache: dict[tuple[str, str], Artifact] = {}

    def _pack(program: str, target: Any = None) -> Artifact:
        key = (TARGET if target is None else target.name, program)
        if key not in cache:
            out = root / f"{len(cache):02d}-{Path(program).name}"
            cache[key] = pack(Path(program), out) if target is None else pack_for(target, Path(program), out)
        return cache[key]

    return _pack


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    """A fresh, short directory for Unix socket paths, removed afterwards. A socket's path must
    fit sockaddr_un's 108 bytes, and tmp_path does not on every machine: it grows with
    --basetemp, TMPDIR, the user's name, xdist's `popen-gwN` and the test's name (a long
    --basetemp made every test that bound a socket under tmp_path fail with "path must be
    shorter than SUN_LEN"). /tmp is short wherever the tests run; TMPDIR only when /tmp is not
    writable."""
    root = "/tmp" if os.access("/tmp", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="lb-sock-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
