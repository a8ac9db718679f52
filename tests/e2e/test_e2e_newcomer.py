"""What a new user runs into first: cache behaviour across output folders, where quick mode
puts a program, and what it finds beyond the shared libraries."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from litebox_e2e import describe, run_cli


def test_a_no_rewrite_pack_elsewhere_does_not_make_the_default_pack_rebuild(tmp_path: Path) -> None:
    first = run_cli("pack", "/usr/bin/expr", "--out-dir", tmp_path / "dist")
    assert first.returncode == 0, describe(first)
    other = run_cli("pack", "/usr/bin/expr", "--out-dir", tmp_path / "dist-plain", "--no-rewrite")
    assert other.returncode == 0, describe(other)
    again = run_cli("pack", "/usr/bin/expr", "--out-dir", tmp_path / "dist")
    assert again.returncode == 0 and "up to date" in again.stderr, describe(again)
    plain = run_cli("pack", "/usr/bin/expr", "--out-dir", tmp_path / "dist-plain", "--no-rewrite")
    assert plain.returncode == 0 and "up to date" in plain.stderr, describe(plain)


def test_a_program_outside_system_directories_is_packed_at_app_name(tmp_path: Path) -> None:
    prog = tmp_path / "mytool"
    shutil.copy("/usr/bin/expr", prog)
    packed = run_cli("pack", prog, "--out-dir", tmp_path / "dist", "--json")
    assert packed.returncode == 0, describe(packed)
    art = json.loads(packed.stdout)["artifacts"][0]["path"]
    doc = json.loads(run_cli("inspect", art, "--json").stdout)
    assert doc["entry"] == "/app/mytool"
    sys_doc = run_cli("pack", "/usr/bin/expr", "--out-dir", tmp_path / "dist2", "--json")
    art2 = json.loads(sys_doc.stdout)["artifacts"][0]["path"]
    assert json.loads(run_cli("inspect", art2, "--json").stdout)["entry"] == "/usr/bin/expr"


def _quick(prog: str, out: Path) -> tuple[Path, str]:
    packed = run_cli("pack", prog, "--out-dir", out, "--json")
    assert packed.returncode == 0, describe(packed)
    return Path(json.loads(packed.stdout)["artifacts"][0]["path"]), packed.stderr


def _native_and_packed(argv_tail: list[str], artifact: Path, prog: str, stdin: bytes = b"") -> None:

    native = subprocess.run([prog, *argv_tail], input=stdin, capture_output=True, timeout=120)
    packed = subprocess.run([str(artifact), *argv_tail], input=stdin, capture_output=True, timeout=120)
    assert (packed.returncode, packed.stdout) == (native.returncode, native.stdout), describe(packed)


SCRIPT = b"""import collections, json, re, hashlib, textwrap, datetime, decimal, fractions, struct, zlib
words = re.findall(r"[a-z]+", "the quick brown fox jumps over the lazy dog the end")
print(json.dumps(collections.Counter(words).most_common(2)), hashlib.sha256(b"x").hexdigest()[:12])
print(decimal.Decimal("1.1") + decimal.Decimal("2.2"), fractions.Fraction(3, 9), zlib.crc32(b"abc"))
print(textwrap.fill("a b c d e f", 5).replace("\\n", "|"), datetime.date(2024, 2, 29).isoformat())
"""


def test_python3_in_quick_mode_runs_a_script_using_the_standard_library(tmp_path: Path) -> None:
    art, _ = _quick("/usr/bin/python3", tmp_path / "dist")
    _native_and_packed(["-"], art, "/usr/bin/python3", SCRIPT)
    doc = json.loads(run_cli("inspect", art, "--json").stdout)
    reasons = {e["path"]: e["reason"] for e in doc["entries"]}
    assert reasons["/usr/lib/python3.11/json/__init__.py"].startswith("quick-mode hook python3")
    assert not any("/test/" in p or p.endswith((".opt-1.pyc", ".opt-2.pyc")) for p in reasons)  # the hook's excludes
    # The bytecode caches are packed and valid in the image (their sources keep the mtime they
    # record): the packed interpreter compiles nothing at start.
    assert "/usr/lib/python3.11/json/__pycache__/__init__.cpython-311.pyc" in reasons
    verbose = subprocess.run([str(art), "-v", "-c", "import json, decimal"], capture_output=True, timeout=120)
    assert verbose.returncode == 0, describe(verbose)
    assert b"code object from '/usr/lib/python3.11/json/__pycache__/__init__.cpython-311.pyc'" in verbose.stderr
    assert b"bytecode is stale" not in verbose.stderr, describe(verbose)


def test_file_and_iconv_find_their_run_time_data(tmp_path: Path) -> None:
    file_art, _ = _quick("/usr/bin/file", tmp_path / "dist")
    _native_and_packed(["-"], file_art, "/usr/bin/file", Path("/usr/bin/expr").read_bytes())
    iconv_art, _ = _quick("/usr/bin/iconv", tmp_path / "dist")
    text = "h\u00e9llo \u20ac\n".encode()
    _native_and_packed(["-f", "UTF-8", "-t", "ISO-8859-15"], iconv_art, "/usr/bin/iconv", text)


def test_mount_flag_grants_the_current_directory_of_each_run(tmp_path: Path) -> None:
    import subprocess

    art, _ = _quick_with(tmp_path / "dist", "/usr/bin/wc", "--mount", ".:/work", "--cwd", "/work")
    manifest = json.loads(Path(str(art) + ".manifest.json").read_bytes())
    assert manifest["policy"]["mounts"] == [{"host": ".", "guest": "/work", "mode": "ro"}]
    shown = run_cli("inspect", art)
    assert "mount:    /work <- . (ro) (relative to the directory the artifact is started from)" in shown.stdout
    for name, text in (("a", "one two\nthree\n"), ("b", "four\n")):
        here = tmp_path / name
        here.mkdir()
        (here / "notes.txt").write_text(text)
        native = subprocess.run(["wc", "notes.txt"], cwd=here, capture_output=True, timeout=60)
        packed = subprocess.run([str(art), "notes.txt"], cwd=here, capture_output=True, timeout=60)
        assert (packed.returncode, packed.stdout) == (0, native.stdout), describe(packed)
    ver = run_cli("verify", art)
    assert ver.returncode == 0, describe(ver)


def test_bad_mount_flag_is_one_line(tmp_path: Path) -> None:
    bad = run_cli("pack", "/usr/bin/wc", "--out-dir", tmp_path / "d", "--mount", "nocolon", "-q")
    assert bad.returncode == 2 and bad.stderr == "litebox: error: --mount nocolon: expected HOST:GUEST or " \
                                                 "HOST:GUEST:ro|rw\n", describe(bad)
    bad = run_cli("pack", "/usr/bin/wc", "--out-dir", tmp_path / "d", "--mount", ".:/proc/x", "-q")
    assert bad.returncode == 2 and "lies in /proc" in bad.stderr, describe(bad)


def _quick_with(out: Path, prog: str, *flags: str) -> tuple[Path, str]:
    packed = run_cli("pack", prog, "--out-dir", out, "--json", *flags)
    assert packed.returncode == 0, describe(packed)
    return Path(json.loads(packed.stdout)["artifacts"][0]["path"]), packed.stderr


def test_mount_flag_is_refused_in_project_mode(tmp_path: Path) -> None:
    from litebox_e2e import copy_example

    project = copy_example("hello-static", tmp_path)
    bad = run_cli("pack", project, "--out-dir", tmp_path / "d", "--mount", ".:/work", "-q")
    assert bad.returncode == 2 and "project mode takes its mounts from [[policy.mount]]" in bad.stderr, describe(bad)


def test_init_templates_write_configs_that_pack(tmp_path: Path) -> None:
    import subprocess

    made = run_cli("init", tmp_path / "web", "--template", "python-http")
    assert made.returncode == 0, describe(made)
    text = (tmp_path / "web" / "litebox.toml").read_text()
    assert 'listen = ["127.0.0.1:8080"]' in text and '"/usr/lib/python3.' in text
    art, _ = _quick_with(tmp_path / "dist", str(tmp_path / "web"))
    assert (tmp_path / "web" / "www" / "index.html").exists()  # the template's build command
    # run-time arguments are appended to the template's: `--help` makes http.server print its usage
    packed = subprocess.run([str(art), "--help"], capture_output=True, timeout=120)
    assert packed.returncode == 0 and b"usage:" in packed.stdout and b"--directory" in packed.stdout, describe(packed)

    static = run_cli("init", tmp_path / "svc", "--template", "static-binary")
    assert static.returncode == 2 and "needs --app PATH" in static.stderr, describe(static)
    unknown = run_cli("init", tmp_path / "x", "--template", "nope", "--app", "/usr/bin/true")
    assert unknown.returncode == 2 and "known: default, nginx, python-http, static-binary" in unknown.stderr


MAKEFILE = b"""all: one
\t@echo built $$((6*7)) $$(basename /a/b.c .c) | tr a-z A-Z
one:
\t@printf '%s\\n' one | sed s/one/ONE/ && test -n "$$(dirname /x/y)" && mkdir -p /tmp/m && ls -d /tmp/m
"""


def test_make_in_quick_mode_runs_recipes_that_call_common_tools(tmp_path: Path) -> None:
    """hooks/make.toml: a recipe's commands run by name through /bin/sh; the usual ones are packed."""
    art, _ = _quick("/usr/bin/make", tmp_path / "dist")
    _native_and_packed(["-s", "-f", "-", "all"], art, "/usr/bin/make", MAKEFILE)
