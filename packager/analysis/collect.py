"""Config → RootFS: walks the [files] lines, adds the entry program, its interpreter and the
library closure of every ELF object, and a generated /etc/ld.so.cache when ld.so needs one."""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from packager.analysis.closure import ClosureFinder
from packager.analysis.elfinfo import ElfInfo, is_elf_file, is_x86_64_elf64, read_elf
from packager.analysis.ldcache import build_ld_cache
from packager.analysis.ldconf import DEFAULT_CONF, read_ld_so_conf
from packager.analysis.statcache import StatCache
from packager.config.config import Config
from packager.config.policy import mount_collision
from packager.errors import PackError
from packager.image.rootfs import DIR, FILE, SYMLINK, FsEntry, RootFS, normalize_mode
from packager.paths import display_path, is_under

LD_CACHE_PATH = "/etc/ld.so.cache"
# A regular file the walk packed: (image path, host path, the stat the walk took of it).
Added = tuple[str, Path, os.stat_result]


@dataclass
class Collected:
    """The root file system of one app plus what the analysis learned on the way."""

    rootfs: RootFS
    entry_info: ElfInfo
    warnings: list[str] = field(default_factory=list)
    ld_cache_generated: bool = False
    # The stat the walk took of each regular file it packed, by host path (symlinks followed):
    # the plan's sha256 lookups use it instead of taking it again.
    stats: dict[str, os.stat_result] = field(default_factory=dict)


class _HostMap:
    """Image path → host path through the [files] mappings (the longest covering line wins)."""

    def __init__(self, files: tuple[tuple[str, Path], ...]) -> None:
        self.files = sorted(files, key=lambda f: len(f[0]), reverse=True)

    def __call__(self, image_path: str) -> Path | None:
        for img, host in self.files:
            if is_under(image_path, img):
                rest = image_path[len(img):].lstrip("/") if img != "/" else image_path.lstrip("/")
                return host / rest if rest else host
        return None


def _walk_line(cfg: Config, img: str, host: Path, fs: RootFS, added: list[Added], warnings: list[str]) -> None:
    line = cfg.files_line(img)
    try:
        st = os.stat(host)  # the top of a [files] line is followed through symlinks
    except FileNotFoundError:
        raise PackError(f"{_cfg_name(cfg)}: [files].\"{img}\": host path "
                        f"{display_path(host)} does not exist") from None
    except OSError as exc:
        raise PackError(f"{_cfg_name(cfg)}: [files].\"{img}\": cannot read "
                        f"{display_path(host)}: {exc.strerror}") from None
    if stat.S_ISREG(st.st_mode):
        _add_file(fs, img, host, st, line, added)
        return
    if not stat.S_ISDIR(st.st_mode):
        raise PackError(f"{_cfg_name(cfg)}: [files].\"{img}\": {display_path(host)} is neither "
                        "a file nor a directory")
    _walk_tree(img, host, st, line, fs, added, warnings)


def _walk_tree(img: str, host: Path, st: os.stat_result, line: str, fs: RootFS,
               added: list[Added], warnings: list[str],
               skip: Callable[[str], bool] | None = None) -> None:
    """Adds the directory ``host`` at ``img`` and everything under it, each with reason ``line``.
    With ``skip`` (quick-mode hooks): paths relative to ``img`` it names are left out, and so
    is anything already packed at the same image path."""
    fs.add(FsEntry(img, DIR, normalize_mode(DIR, st.st_mode, img), line))
    stack = [(img, host)]
    while stack:
        img_dir, host_dir = stack.pop()
        try:
            children = sorted(os.scandir(host_dir), key=lambda e: e.name)
        except OSError as exc:
            raise PackError(f"{display_path(host_dir)}: cannot list directory: {exc.strerror}") from None
        for child in children:
            child_img = f"{img_dir}/{child.name}" if img_dir != "/" else f"/{child.name}"
            child_host = Path(child.path)
            cst = child.stat(follow_symlinks=False)
            if skip is not None and (skip(child_img[len(img):].lstrip("/"))
                                     or (child_img in fs and not stat.S_ISDIR(cst.st_mode))):
                continue
            if stat.S_ISLNK(cst.st_mode):
                target = os.readlink(child_host)
                if not target or len(target.encode("utf-8", "surrogateescape")) > 4095:
                    warnings.append(f"{display_path(child_host)}: symlink target unusable, skipped")
                    continue
                fs.add(FsEntry(child_img, SYMLINK, 0o777, line, target=target))
            elif stat.S_ISDIR(cst.st_mode):
                fs.add(FsEntry(child_img, DIR, normalize_mode(DIR, cst.st_mode, child_img), line))
                stack.append((child_img, child_host))
            elif stat.S_ISREG(cst.st_mode):
                _add_file(fs, child_img, child_host, cst, line, added)
            else:
                warnings.append(f"{display_path(child_host)}: not a file, directory or symlink, skipped")


# Quick mode packs one program with the host environment passed through; glibc programs then
# look for the locale LANG names. Debian's C.UTF-8 (the usual LANG of CI runners and containers,
# 400 KiB) comes along so they do not warn or fall back; other locales need project mode.
QUICK_LOCALES = (("/usr/lib/locale/C.utf8", Path("/usr/lib/locale/C.utf8")),)


def _add_quick_extras(fs: RootFS, added: list[Added], warnings: list[str]) -> None:
    for img, host in QUICK_LOCALES:
        try:
            st = os.stat(host)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode) and img not in fs:
            _walk_tree(img, host, st, "quick mode: the C.UTF-8 locale", fs, added, warnings)


def _apply_hooks(entry_host: Path, fs: RootFS, finder: ClosureFinder, warnings: list[str],
                 applied: set[str], scratch: list[str]) -> list[Added]:
    """Packs what the quick-mode hooks that match (and were not applied yet) name; returns the
    regular files they added (the ELF objects among them have libraries still to be found),
    and appends their writable scratch directories to ``scratch``."""
    from packager.analysis import quickhooks  # quick mode only

    added: list[Added] = []
    libs = {Path(lib.image_path).name for lib in finder.result.libraries}
    for hook, why in quickhooks.matching_hooks(quickhooks.load_hooks(), entry_host, libs):
        if hook.name in applied:
            continue
        applied.add(hook.name)
        paths = quickhooks.hook_paths(hook)
        size = quickhooks.tree_size(paths, hook)
        if size > hook.max_mb << 20:
            warnings.append(f"quick mode: hook {hook.name} ({hook.doc}) would pack {size >> 20} MB, more than its "
                            f"max_mb {hook.max_mb}: skipped; pack a project to choose what goes in")
            continue
        reason = f"quick-mode hook {hook.name} ({why})"
        for path in paths:
            _add_host_path(path, reason, fs, added, warnings, lambda rel, h=hook: quickhooks.excluded(h, rel))
        for directory in hook.writable:
            _add_scratch_dir(directory, f"{reason}: writable scratch directory", fs, warnings)
            scratch.append(directory)
    return added


def _add_scratch_dir(directory: str, reason: str, fs: RootFS, warnings: list[str]) -> None:
    """Packs an empty directory at ``directory`` (none of the host's contents): what the app
    writes there goes to the runtime's in-memory layer and is gone when it exits."""
    existing = fs.get(directory)
    if existing is not None and existing.kind != DIR:
        warnings.append(f"quick mode: {directory} is packed as a {existing.kind} ({existing.reason}); "
                        f"not made a writable directory")
        return
    fs.add(FsEntry(directory, DIR, 0o755, reason))


def _add_host_path(path: str, reason: str, fs: RootFS, added: list[Added], warnings: list[str],
                   skip: Callable[[str], bool]) -> None:
    """Adds a host file or directory at its own path (a symlink to a file as that file),
    never replacing what is already packed there."""
    try:
        st = os.stat(path)
    except OSError:
        return
    if stat.S_ISDIR(st.st_mode):
        try:
            _walk_tree(path, Path(path), st, reason, fs, added, warnings, skip)
        except PackError as exc:
            warnings.append(f"quick mode: {path} not packed: {exc}")
    elif stat.S_ISREG(st.st_mode) and path not in fs and os.access(path, os.R_OK):
        try:
            _add_file(fs, path, Path(os.path.realpath(path)), st, reason, added)
        except PackError as exc:
            warnings.append(f"quick mode: {path} not packed: {exc}")


def _add_package_data(entry_host: Path, fs: RootFS, added: list[Added], warnings: list[str],
                      cache: StatCache | None) -> None:
    """Packs the data files of the Debian package that owns the program (at most 64 MB);
    ``cache`` remembers dpkg's answers while its database is unchanged."""
    from packager.analysis import quickhooks  # quick mode only

    package = quickhooks.owning_package(entry_host, cache)
    if package is None:
        return
    files, total = quickhooks.package_data_files(package, cache)
    if total > quickhooks.DPKG_LIMIT:
        warnings.append(f"quick mode: the data files of Debian package {package} ({total >> 20} MB) were not "
                        "packed (more than 64 MB); pack a project to choose what goes in")
        return
    reason = f"quick mode: data of Debian package {package} (dpkg -L)"
    for path in files:
        if path == LD_CACHE_PATH:
            continue  # generated for the packed libraries when ld.so needs one
        _add_host_path(path, reason, fs, added, warnings, lambda rel: False)


def _warn_unresolved(finder: ClosureFinder, fs: RootFS, warnings: list[str]) -> None:
    """One warning for the libraries that objects [files] (or a quick-mode hook) brings in
    need and ld.so's search finds nowhere, but for those a packed file provides by name
    (loaded first, it satisfies the need, as the JDK's libjvm.so does for its plugins)."""
    provided = {os.path.basename(e.path) for e in fs.entries()}
    missing = sorted({f"{name} (needed by {obj})" for obj, name in finder.result.unresolved
                      if name not in provided})
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        warnings.append(f"not found on this host, not packed: {shown}; a dlopen of those objects "
                        "fails as it would natively unless what they need is loaded first")


def _is_packed(fs: RootFS, path: str) -> bool:
    return path in fs


def _warn_missing(entry_host: Path, fs: RootFS, warnings: list[str], scratch: list[str]) -> None:
    """Warns about absolute paths the program names that exist here but are not packed (those
    inside a hook's writable scratch directories are the app's to make)."""
    from packager.analysis import pathhints  # quick mode only

    missing = pathhints.missing_paths(str(entry_host),
                                      lambda p: _is_packed(fs, p) or any(is_under(p, d) for d in scratch))
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        warnings.append(f"quick mode: {display_path(entry_host)} names paths that exist on this host but are not "
                        f"packed (it may need them at run time): {shown}; pack a project with them in [files] "
                        "(litebox init), or grant them with --mount")


def _add_file(fs: RootFS, img: str, host: Path, st: os.stat_result, reason: str, added: list[Added]) -> None:
    """Packs the regular file ``host`` (whose stat is ``st``) at ``img`` and notes it in
    ``added``; which of the added files are ELF objects is decided afterwards (``_elf_objects``)."""
    if not os.access(host, os.R_OK):
        raise PackError(f"{display_path(host)}: not readable ({reason})")
    fs.add(FsEntry(img, FILE, normalize_mode(FILE, st.st_mode, img), reason, host=host))
    added.append((img, host, st))


def _elf_objects(added: list[Added], is_elf: Callable[[Path, os.stat_result], bool]) -> list[tuple[str, Path]]:
    """The added files whose first bytes are the ELF magic, as (image path, host path)."""
    return [(img, host) for img, host, st in added if is_elf(host, st)]


def _is_elf_uncached(host: Path, st: os.stat_result) -> bool:
    return is_elf_file(host)


def _cfg_name(cfg: Config) -> str:
    return display_path(cfg.config_file) if cfg.config_file else display_path(cfg.project_dir)


def _check_mounts(cfg: Config, fs: RootFS) -> None:
    """A mount may not hide or replace anything the image packs (the in-memory /tmp aside)."""
    if not cfg.policy.mounts:
        return
    packed = [(e.path, e.kind, e.reason) for e in fs.entries() if e.path != "/tmp"]
    clash = mount_collision(cfg.policy.mounts, packed)
    if clash:
        raise PackError(f"{_cfg_name(cfg)}: {clash}")


def collect(cfg: Config, ld_so_conf: Path = DEFAULT_CONF, cache: StatCache | None = None) -> Collected:
    """Builds the RootFS for ``cfg``. Promises: every [files] line expanded, the entry as a
    regular file, its interpreter and libraries (and those of every x86-64 ELF object [files]
    brings in) at the paths ld.so will search, each with its reason; or a PackError.
    ``cache`` remembers ELF analyses of files whose stat did not change."""
    fs = RootFS()
    warnings: list[str] = []
    # Whether a file is ELF is remembered by the stat the walk took of it: an unchanged file
    # is not opened again (a warm re-pack walks thousands of files).
    is_elf = cache.is_elf if cache is not None else _is_elf_uncached
    added: list[Added] = []
    for img, host in cfg.files:
        _walk_line(cfg, img, host, fs, added, warnings)
    if cfg.mode == "quick":
        _add_quick_extras(fs, added, warnings)
    walked = {str(host): st for _img, host, st in added}
    elf_objects = _elf_objects(added, is_elf)
    mappings = cfg.files + (((cfg.app.entry, cfg.entry_host),) if cfg.entry_host else ())
    host_map = _HostMap(mappings)
    entry_host = host_map(cfg.app.entry) or Path(cfg.app.entry)
    if not os.path.exists(entry_host):
        where = _cfg_name(cfg) + ": [app].entry: " if cfg.mode == "project" else ""
        raise PackError(f"{where}{display_path(entry_host)}: no such file")
    reader: Callable[[Path], ElfInfo] = read_elf
    if cache is not None:
        stat_cache = cache

        def reader(path: Path) -> ElfInfo:
            return stat_cache.elf(path, read_elf)
    finder = ClosureFinder(host_map, read_ld_so_conf(ld_so_conf), elf_reader=reader)
    entry_info = finder.add_entry(cfg.app.entry, entry_host)
    finder.add_glibc_dlopens()
    st = os.stat(entry_host)
    if not stat.S_ISREG(st.st_mode):
        raise PackError(f"{display_path(entry_host)}: the entry is not a regular file")
    fs.force_file(FsEntry(cfg.app.entry, FILE, normalize_mode(FILE, st.st_mode, cfg.app.entry),
                          "entry", host=entry_host))
    for img, host in elf_objects:
        if img == cfg.app.entry:
            continue
        if not is_x86_64_elf64(host):
            warnings.append(f"{display_path(host)}: ELF for another machine or class; "
                            "its libraries are not analysed")
            continue
        try:
            finder.add_object(img, host)
        except PackError as exc:
            if "needs " in str(exc):
                raise
            warnings.append(f"{exc}; its libraries are not analysed")
    scratch: list[str] = []  # quick mode: the hooks' writable scratch directories
    if cfg.mode == "quick":
        applied: set[str] = set()
        added = []
        _add_package_data(entry_host, fs, added, warnings, cache)
        for _ in range(3):  # hooks a library brought in can match libraries of what they add
            added += _apply_hooks(entry_host, fs, finder, warnings, applied, scratch)
            walked.update((str(host), st) for _img, host, st in added)
            extra = _elf_objects(added, is_elf)
            added = []
            if not extra:
                break
            for img, host in extra:
                if is_x86_64_elf64(host):
                    try:
                        finder.add_object(img, host)
                    except PackError as exc:
                        warnings.append(f"quick mode: {exc}; its libraries are not analysed")
    for lib in finder.result.libraries:
        existing = fs.get(lib.image_path)
        if existing is not None:
            fs.note(lib.image_path, lib.reason())
            continue
        lst = os.stat(lib.host_path)
        fs.add(FsEntry(lib.image_path, FILE, normalize_mode(FILE, lst.st_mode, lib.image_path),
                       lib.reason(), host=lib.host_path))
    _warn_unresolved(finder, fs, warnings)
    generated = False
    if finder.result.needs_ld_cache:
        if LD_CACHE_PATH in fs:
            warnings.append(f"{LD_CACHE_PATH} comes from [files]; a generated cache was not added "
                            "although a library was found through /etc/ld.so.conf")
        else:
            data = build_ld_cache(finder.result.cache_entries)
            fs.add(FsEntry(LD_CACHE_PATH, FILE, 0o644,
                           "generated: ld.so.cache for libraries found through /etc/ld.so.conf",
                           data=data))
            generated = True
    if cfg.mode == "quick":
        _warn_missing(entry_host, fs, warnings, scratch)
    _check_mounts(cfg, fs)
    return Collected(rootfs=fs, entry_info=entry_info, warnings=warnings, ld_cache_generated=generated,
                     stats=walked)
