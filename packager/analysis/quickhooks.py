"""Quick mode's knowledge of what programs load or run at run time: the hooks in the repo's
hooks/ directory (one TOML file per runtime, PyInstaller-style; hooks/README.md has the format)
and the data files of the Debian package that owns the program."""
from __future__ import annotations

import fnmatch
import functools
import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from packager.analysis.statcache import StatCache, stamp_of, stamp_or_none
from packager.errors import PackError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

HOOK_KEYS = {"doc", "programs", "libraries", "imports", "paths", "newest", "exclude", "keep", "max_mb",
             "writable", "args"}
DPKG_LIMIT = 64 << 20
DPKG_SKIP = ("/usr/share/doc/", "/usr/share/man/", "/usr/share/info/", "/usr/share/lintian/",
             "/usr/share/bug/", "/usr/share/locale/", "/usr/share/bash-completion/", "/usr/share/zsh/",
             "/usr/share/fish/", "/usr/share/applications/", "/usr/share/icons/", "/usr/share/pixmaps/",
             "/usr/share/menu/", "/usr/share/mime/", "/usr/share/metainfo/", "/usr/share/help/",
             "/usr/share/doc-base/", "/usr/share/gdb/")
DPKG_KEEP_TOPS = ("/usr/share/", "/usr/lib/", "/etc/")


@dataclass(frozen=True)
class Hook:
    """One hook file: when it applies (programs, libraries, imports) and what it packs."""

    name: str
    doc: str
    programs: tuple[str, ...] = ()
    libraries: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    newest: bool = False
    exclude: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    max_mb: int = 32
    writable: tuple[str, ...] = ()
    args: tuple[str, ...] = ()


def hooks_dir() -> Path:
    """The repo's hooks/ directory."""
    return Path(__file__).resolve().parents[2] / "hooks"


def load_hooks(directory: Path | None = None) -> list[Hook]:
    """Every ``*.toml`` hook in ``directory`` (default: the repo's hooks/), sorted by name.
    A hook file with an unknown key or a wrong type is a PackError naming it. A file read
    before in this process and not changed since (same stat) is not parsed again: one quick
    pack asks up to four times, and parsing the TOML is most of a hook's cost."""
    directory = directory or hooks_dir()
    hooks = []
    for path in sorted(directory.glob("*.toml")):
        try:
            data = _parsed(str(path), _stat_key(path))
        except (OSError, ValueError) as exc:
            raise PackError(f"{path}: not a readable hook ({exc})") from None
        unknown = set(data) - HOOK_KEYS
        if unknown:
            raise PackError(f"{path}: unknown hook key(s) {', '.join(sorted(unknown))}")
        try:
            hooks.append(Hook(name=path.stem, doc=str(data.get("doc", path.stem)),
                              programs=tuple(data.get("programs", ())), libraries=tuple(data.get("libraries", ())),
                              imports=tuple(data.get("imports", ())), paths=tuple(data.get("paths", ())),
                              newest=bool(data.get("newest", False)), exclude=tuple(data.get("exclude", ())),
                              keep=tuple(data.get("keep", ())), max_mb=int(data.get("max_mb", 32)),
                              writable=_writable(path, data.get("writable", ())),
                              args=_strings(path, "args", data.get("args", ()))))
        except (TypeError, ValueError) as exc:
            raise PackError(f"{path}: bad hook value ({exc})") from None
    return hooks


def _stat_key(path: Path) -> tuple[int, ...]:
    return tuple(stamp_of(os.stat(path)))


@functools.lru_cache(maxsize=256)
def _parsed(path: str, stat_key: tuple[int, ...]) -> dict[str, Any]:
    """The hook file's TOML (``stat_key`` keys the memo: a changed file is read again).
    Callers must not modify the returned dict."""
    return tomllib.loads(Path(path).read_text(encoding="utf-8"))


def _strings(path: Path, key: str, raw: Any) -> tuple[str, ...]:
    """A hook's list of strings (PackError naming the hook and key otherwise)."""
    if not isinstance(raw, (list, tuple)) or not all(isinstance(a, str) and "\0" not in a for a in raw):
        raise PackError(f"{path}: {key} must be a list of strings")
    return tuple(raw)


def _writable(path: Path, raw: Any) -> tuple[str, ...]:
    """A hook's ``writable`` list: absolute, normalized image directories (PackError otherwise)."""
    if not isinstance(raw, (list, tuple)) or not all(isinstance(d, str) for d in raw):
        raise PackError(f"{path}: writable must be a list of absolute directory paths")
    for d in raw:
        if not d.startswith("/") or os.path.normpath(d) != d or d == "/":
            raise PackError(f"{path}: writable {d!r} is not a normalized absolute directory (not /)")
    return tuple(raw)


def _names(program: Path) -> set[str]:
    names = {program.name}
    try:
        names.add(Path(os.path.realpath(program)).name)
    except OSError:
        pass
    return names


def _imports(program: Path, symbols: set[str]) -> set[str]:
    """Which of ``symbols`` the program's bytes name as NUL-delimited strings (its dynamic
    string table names every symbol it imports). Remembered in this process while the file's
    stat is unchanged (a quick pack asks once per round of hooks)."""
    if not symbols:
        return set()
    try:
        key = _stat_key(program)
    except OSError:
        return set()
    return set(_imports_of(str(program), key, frozenset(symbols)))


@functools.lru_cache(maxsize=64)
def _imports_of(program: str, stat_key: tuple[int, ...], symbols: frozenset[str]) -> frozenset[str]:
    try:
        with open(program, "rb") as f:
            data = f.read(256 << 20)
    except OSError:
        return frozenset()
    return frozenset(s for s in symbols if b"\0" + s.encode() + b"\0" in data)


def matching_hooks(hooks: list[Hook], program: Path, library_names: set[str]) -> list[tuple[Hook, str]]:
    """The hooks that apply to ``program`` with these packed library file names, each with the
    trigger that matched (for the reason shown by `litebox inspect`)."""
    names = _names(program)
    imported = _imports(program, {s for h in hooks for s in h.imports})
    out = []
    for h in hooks:
        why = next((f"program {n}" for n in sorted(names) for g in h.programs if fnmatch.fnmatch(n, g)), None)
        why = why or next((f"library {n}" for n in sorted(library_names) for g in h.libraries
                           if fnmatch.fnmatch(n, g)), None)
        why = why or next((f"imports {s}" for s in h.imports if s in imported), None)
        if why:
            out.append((h, why))
    return out


def program_args(program: Path, hooks: list[Hook] | None = None) -> tuple[str, ...]:
    """The arguments quick mode puts before those given at run time: the ``args`` of every hook
    whose ``programs`` match ``program`` (in hook-name order), e.g. nginx's ``-g "daemon off;"``."""
    names = _names(program)
    out: list[str] = []
    for h in hooks if hooks is not None else load_hooks():
        if any(fnmatch.fnmatch(n, g) for n in names for g in h.programs):
            out += h.args
    return tuple(out)


def hook_paths(hook: Hook) -> list[str]:
    """The host paths a hook names that exist here (globs expanded; only the newest match of
    each glob when ``newest``)."""
    out: list[str] = []
    for pattern in hook.paths:
        found = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        found = [p for p in found if os.path.lexists(p)]
        if hook.newest and found:
            found = found[-1:]
        out += [p for p in found if p not in out]
    return out


def excluded(hook: Hook, relative: str) -> bool:
    """True when a path relative to a packed directory is left out by the hook's ``exclude``
    globs (matched against each component and the whole path) and not kept by ``keep``
    (matched against the last component); globs as ``fnmatch.fnmatch`` matches them."""
    parts = relative.split("/")
    if _any_glob(hook.keep)(parts[-1]):
        return False
    matches = _any_glob(hook.exclude)
    return matches(relative) or any(matches(p) for p in parts)


@functools.lru_cache(maxsize=256)
def _any_glob(patterns: tuple[str, ...]) -> Callable[[str], bool]:
    """A test of whether a name matches any of ``patterns`` (fnmatch globs; POSIX, so case
    counts): their translations joined into one regular expression, compiled once. A quick
    pack asks tens of thousands of times (each file and directory of a hook's trees)."""
    if not patterns:
        return lambda _name: False
    union = re.compile("|".join(fnmatch.translate(p) for p in patterns))
    return lambda name: union.match(name) is not None


def tree_size(paths: list[str], hook: Hook) -> int:
    """Bytes a hook would pack (regular files, symlinks followed for the top paths only)."""
    total = 0
    for top in paths:
        if os.path.isfile(top):
            total += os.path.getsize(top)
            continue
        for root, dirs, files in os.walk(top):
            rel_root = os.path.relpath(root, top)
            dirs[:] = [d for d in dirs if not excluded(hook, os.path.normpath(os.path.join(rel_root, d)))]
            for name in files:
                rel = os.path.normpath(os.path.join(rel_root, name))
                full = os.path.join(root, name)
                if not excluded(hook, rel) and not os.path.islink(full):
                    try:
                        total += os.path.getsize(full)
                    except OSError:
                        pass
    return total


def _dpkg(args: list[str]) -> str | None:
    if shutil.which("dpkg") is None:
        return None
    try:
        out = subprocess.run(["dpkg", *args], capture_output=True, text=True, timeout=60, check=False,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


# What dpkg's answers about owners and file lists depend on: its database (the status file, the
# info folder whose entries change as packages come and go, diversions) and dpkg itself.
DPKG_DATABASE = ("/var/lib/dpkg/status", "/var/lib/dpkg/info", "/var/lib/dpkg/diversions")


def dpkg_stamp() -> list[Any]:
    """A record that changes whenever ``dpkg -S`` or ``dpkg -L`` could answer differently:
    the stat identity (device, inode, size, mtime, ctime) of dpkg's database files and of the
    dpkg executable, or None for each one missing."""
    dpkg = shutil.which("dpkg")
    return [*(stamp_or_none(path) for path in DPKG_DATABASE), stamp_or_none(dpkg) if dpkg else None]


def _dpkg_remembered(args: list[str], cache: StatCache | None) -> str | None:
    """``_dpkg(args)``, remembered in ``cache`` (when given) while ``dpkg_stamp`` is unchanged:
    each question costs dpkg ~0.1 s of reading its whole file database."""
    if cache is None:
        return _dpkg(args)
    answer = cache.remembered("dpkg\0" + "\0".join(args), dpkg_stamp(), lambda: _dpkg(args))
    return answer if isinstance(answer, str) else None


def owning_package(program: Path, cache: StatCache | None = None) -> str | None:
    """The Debian package that owns ``program`` (by its path or the file it links to), or None
    (not a Debian system, or a file no package owns). ``cache`` remembers dpkg's answers while
    its database is unchanged."""
    candidates = [str(program)]
    real = os.path.realpath(program)
    candidates += [real] if real != str(program) else []
    for path in candidates:
        found = _dpkg_remembered(["-S", path], cache)
        if found:
            first = found.splitlines()[0]
            return first.split(":", 1)[0].split(",")[0].strip() or None
    return None


def package_data_files(package: str, cache: StatCache | None = None) -> tuple[list[str], int]:
    """The package's data files (under /usr/share, /usr/lib and /etc, without documentation,
    manual pages, translations or desktop integration) and their total size; ([], 0) if
    dpkg cannot say. ``cache`` as for ``owning_package``."""
    listing = _dpkg_remembered(["-L", package], cache)
    if not listing:
        return [], 0
    files, total = [], 0
    for line in listing.splitlines():
        path = line.strip()
        if not path.startswith(DPKG_KEEP_TOPS) or path.startswith(DPKG_SKIP):
            continue
        if os.path.isfile(path) and not os.path.islink(path):
            files.append(path)
            total += os.path.getsize(path)
    return files, total
