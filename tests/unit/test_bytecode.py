"""scripts/setup and bench/run.py byte-compile the packager with `python3 -m compileall`: the
bytecode is written even where PYTHONDONTWRITEBYTECODE is set, used by the next run, and a
module edited afterwards runs as edited (its stale .pyc is not used)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(code: str, path: Path) -> tuple[str, str]:
    """(stdout, stderr) of ``python3 -v -c CODE`` (-v: stderr names each code object's source)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(path))
    proc = subprocess.run([sys.executable, "-v", "-c", code], env=env, capture_output=True, text=True, check=True)
    return proc.stdout.strip(), proc.stderr


def test_compileall_writes_bytecode_that_an_edit_makes_unused(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    mod = pkg / "mod.py"
    mod.write_text("VALUE = 'compiled'\n")
    os.utime(mod, (1_600_000_000, 1_600_000_000))
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(pkg)], env=env, check=True)
    pyc = list((pkg / "__pycache__").glob("mod.*.pyc"))
    assert len(pyc) == 1, "compileall wrote no bytecode"
    out, err = _run("import pkg.mod; print(pkg.mod.VALUE)", tmp_path)
    assert out == "compiled" and f"code object from '{pyc[0]}'" in err
    before = pyc[0].read_bytes()

    mod.write_text("VALUE = 'edited'\n")  # same size, a later mtime
    out, err = _run("import pkg.mod; print(pkg.mod.VALUE)", tmp_path)
    assert out == "edited" and f"code object from '{pyc[0]}'" not in err
    assert pyc[0].read_bytes() == before  # not rewritten here (PYTHONDONTWRITEBYTECODE) and harmless


def test_setup_and_bench_byte_compile_the_packager() -> None:
    """The two places that stand for an installed packager compile the same trees."""
    for script in (REPO / "scripts" / "setup", REPO / "bench" / "run.py"):
        text = script.read_text()
        assert "compileall" in text and "packager" in text and "platform_targets" in text, script
