"""The syscall conformance suite (tests/conformance, one C file per call family) run natively
and packed on every target (the `target` fixture; kvm boots it in QEMU with TCG).

Every case that passes natively must pass packed, except the known gaps listed with their
reasons in tests/e2e/syscall_suite.py; a known gap that starts passing fails the test too, so
the list stays true. The pass rate is printed (``pytest -s``) and bench/syscall_suite.py
writes it down.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import syscall_suite
from litebox_e2e import describe, pack_for, run_on, run_program


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The suite built once (dynamic, glibc, as a test suite usually is)."""
    return syscall_suite.build(tmp_path_factory.mktemp("suite") / "suite")


@pytest.fixture(scope="module")
def native(suite: Path) -> dict[str, syscall_suite.Outcome]:
    """The suite's results natively, in a fresh directory of the host's /tmp."""
    base = Path(f"/tmp/litebox-suite-native-{os.getpid()}")
    shutil.rmtree(base, ignore_errors=True)
    try:
        out = run_program([suite, base])
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert out.returncode == 0, describe(out)
    results = syscall_suite.parse(out.stdout)
    assert sum(o.passed for o in results.values()) >= 100, f"the suite ran too few cases natively: {describe(out)}"
    return results


# The suite runs each call family in a child process of its own (fork).
@pytest.mark.needs("fork")
def test_suite_passes_packed_as_natively(target: Any, suite: Path, native: dict[str, syscall_suite.Outcome],
                                         tmp_path: Path) -> None:
    art = pack_for(target, suite, tmp_path / "dist")
    out = run_on(target, art, ["/tmp/litebox-suite"], vm_timeout=300)
    packed = syscall_suite.parse(out.stdout)
    cmp = syscall_suite.compare(native, packed, target.name)
    print("\n" + cmp.summary(target.name))
    assert not cmp.unexpected_failures, (
        f"{cmp.summary(target.name)}; failing packed only: {cmp.unexpected_failures}\n{describe(out)}"
    )
    assert not cmp.fixed_gaps, f"known gaps that pass now (remove them from KNOWN_GAPS): {cmp.fixed_gaps}"
    assert out.returncode == 0, describe(out)
