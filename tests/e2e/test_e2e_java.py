"""The JDK's java, packed as a project with its whole tree: threads, the collector and HotSpot's
signal-based null checks, output equal to native (rewritten and `--no-rewrite`).

The JDK's libraries need libjvm.so (in lib/server) without a search path that finds it: the
launcher loads it first, and ld.so matches the others' need against its soname. The packer used
to refuse such a tree ("needs libjvm.so, not found"); it now packs it and warns only about needs
no packed object provides (packager/analysis/collect.py `_warn_unresolved`). Skipped where this
machine has no JDK (java and javac on PATH).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import describe, pack_both_ways, run_program, session_scratch
from test_e2e_conformance import PROGRAMS, first_difference


@pytest.fixture(scope="module")
def java_app() -> dict[str, Path]:
    """JavaThreads compiled into a project that packs the JDK's tree, packed both ways:
    {"rewrite", "trap", "native-cp"} (native-cp: the class directory for the host's java)."""
    java, javac = shutil.which("java"), shutil.which("javac")
    if java is None or javac is None:
        pytest.skip("no JDK (java and javac on PATH)")
    jdk = Path(os.path.realpath(java)).parents[1]
    work = session_scratch("litebox-java-")
    project = work / "project"
    (project / "app").mkdir(parents=True)
    subprocess.run([javac, "-d", project / "app", PROGRAMS / "JavaThreads.java"], check=True)
    (project / "litebox.toml").write_text(
        f'[app]\nname = "javathreads"\nentry = "{jdk}/bin/java"\nargs = ["-cp", "/app", "JavaThreads"]\n'
        f'[files]\n"/app" = "app"\n"{jdk}" = "{jdk}"\n[build]\nsource_date_epoch = 0\n'
    )
    return {**pack_both_ways(project, work), "native-cp": project / "app"}


@pytest.mark.parametrize("variant", ["rewrite", "trap"])
def test_java_threads_collector_and_null_checks(java_app: dict[str, Path], variant: str) -> None:
    native = run_program(["java", "-cp", java_app["native-cp"], "JavaThreads"])
    assert native.returncode == 0, describe(native)
    assert native.stdout.startswith(b"sums [") and b"null checks caught 500\n" in native.stdout, describe(native)
    packed = run_program([java_app[variant]])
    assert packed.stdout == native.stdout, first_difference(native.stdout, packed.stdout)
    assert packed.returncode == 0, describe(packed)
