"""Quick-mode hooks: the repo's hook files load, match programs/libraries/imports, exclude;
and the pack-time hint names paths a program mentions that are not packed."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from packager.analysis import pathhints, quickhooks
from packager.errors import PackError

EXPECTED = {"python3", "perl", "ruby", "tcl", "node", "gcc", "libmagic", "gconv", "locales", "terminfo",
            "ca-certificates", "shell"}


def test_every_runtime_the_issue_names_has_a_hook() -> None:
    assert EXPECTED <= {h.name for h in quickhooks.load_hooks()}


def test_matching_by_program_library_and_import(tmp_path: Path) -> None:
    hooks = quickhooks.load_hooks()
    by_name = {h.name: why for h, why in quickhooks.matching_hooks(hooks, Path("/usr/bin/python3"), set())}
    assert by_name["python3"].startswith("program python3")
    libs = {h.name for h, _ in quickhooks.matching_hooks(hooks, tmp_path / "x", {"libmagic.so.1", "libssl.so.3"})}
    assert {"libmagic", "ca-certificates"} <= libs and "python3" not in libs
    prog = tmp_path / "uses-iconv"
    prog.write_bytes(b"\x7fELF junk\0iconv_open\0more")
    assert "gconv" in {h.name for h, _ in quickhooks.matching_hooks(hooks, prog, set())}


def test_exclude_and_keep() -> None:
    hook = quickhooks.Hook("h", "doc", exclude=("test", "*.a"), keep=("libgcc.a",))
    assert quickhooks.excluded(hook, "test/test_os.py")
    assert quickhooks.excluded(hook, "12/libfoo.a")
    assert not quickhooks.excluded(hook, "12/libgcc.a")
    assert not quickhooks.excluded(hook, "json/__init__.py")


def test_a_bad_hook_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('doc = "x"\nprogramz = ["a"]\n')
    with pytest.raises(PackError, match=r"bad.toml: unknown hook key\(s\) programz"):
        quickhooks.load_hooks(tmp_path)


def test_paths_a_program_names_but_the_image_lacks(tmp_path: Path, cc: Callable[..., Path]) -> None:
    prog = cc(tmp_path / "prog", '#include <stdio.h>\nint main(void){puts("/etc/os-release"); '
              'puts("/usr/share/nonexistent-xyz"); puts("/usr/bin/env %s"); return 0;}\n')
    named = pathhints.named_paths(str(prog))
    assert "/etc/os-release" in named and "/usr/bin/env %s" not in named
    assert pathhints.missing_paths(str(prog), lambda p: False) == ["/etc/os-release"]
    assert pathhints.missing_paths(str(prog), lambda p: p == "/etc/os-release") == []


@pytest.mark.parametrize("patterns", [("*.pyc", "__pycache__", "test?"), ("[!a-c]*", "x[*]y"), ("*",), ()])
def test_the_compiled_globs_match_as_fnmatch(patterns: tuple[str, ...]) -> None:
    names = ["a.pyc", "__pycache__", "tests", "test1", "d", "b", "x*y", "x[*]y", "", ".hidden", "A.PYC",
             "new\nline", "a/b.pyc"]
    import fnmatch

    for name in names:
        assert quickhooks._any_glob(patterns)(name) == any(fnmatch.fnmatch(name, p) for p in patterns), name


def test_dpkg_answers_are_remembered_while_its_database_is_unchanged(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from packager.analysis.statcache import StatCache

    log, status = tmp_path / "log", tmp_path / "status"
    status.write_text("Package: demo\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dpkg = bin_dir / "dpkg"
    dpkg.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\n'
                    'case "$1" in -S) echo "demo: $2";; -L) echo /usr/share/demo/data;; esac\n')
    dpkg.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr(quickhooks, "DPKG_DATABASE", (str(status), str(tmp_path / "info")))
    cache = StatCache(tmp_path / "statcache.json")
    program = Path("/usr/bin/true")

    assert quickhooks.owning_package(program, cache) == "demo"
    quickhooks.package_data_files("demo", cache)
    cache.save()
    again = StatCache(tmp_path / "statcache.json")  # remembered across packs
    assert quickhooks.owning_package(program, again) == "demo"
    quickhooks.package_data_files("demo", again)
    assert log.read_text().splitlines() == [f"-S {program}", "-L demo"]

    (tmp_path / "info").mkdir()  # a package installed: the database changed, dpkg is asked again
    assert quickhooks.owning_package(program, again) == "demo"
    assert log.read_text().splitlines()[-1] == f"-S {program}"
    assert quickhooks.owning_package(program) == "demo"  # no cache: always asked
    assert len(log.read_text().splitlines()) == 4


def test_a_hook_file_changed_in_the_same_process_is_read_again(tmp_path: Path) -> None:
    hook = tmp_path / "h.toml"
    hook.write_text('doc = "first"\nprograms = ["a"]\n')
    assert quickhooks.load_hooks(tmp_path)[0].doc == "first"
    hook.write_text('doc = "again"\nprograms = ["a"]\n')  # same size: the ctime (or inode) tells
    assert quickhooks.load_hooks(tmp_path)[0].doc == "again"
