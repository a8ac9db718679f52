"""Shared fixtures for the packager's unit tests: small C programs and libraries built on the fly."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

HELLO_C = '#include <stdio.h>\nint main(int c, char **v) { printf("hello %d\\n", c); return 3; }\n'


@pytest.fixture(scope="session")
def cc() -> Callable[..., Path]:
    """Compiles C source with gcc: cc(out_path, source_text, *flags) -> out_path."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")

    def build(out: Path, source: str, *flags: str) -> Path:
        src = out.with_suffix(out.suffix + ".c") if out.suffix else out.with_name(out.name + ".c")
        src.write_text(source)
        subprocess.run(["gcc", "-o", str(out), str(src), *flags], check=True, capture_output=True)
        return out

    return build


@pytest.fixture(scope="session")
def static_hello(tmp_path_factory: pytest.TempPathFactory, cc: Callable[..., Path]) -> Path:
    """A statically linked hello world (prints `hello <argc>`, exits 3)."""
    return cc(tmp_path_factory.mktemp("static") / "hello", HELLO_C, "-static", "-O2")
