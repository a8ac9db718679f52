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
