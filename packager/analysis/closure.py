"""The transitive library closure of ELF objects, found the way glibc's ld.so finds libraries,
without running anything.

Paths live in two worlds: the *image* path where ld.so inside the sandbox will look, and the
*host* file that provides those bytes. ``HostMap`` turns an image path into its host file
([files] mappings first, else the same path on the host).
"""
from __future__ import annotations

import dataclasses
import os
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from packager.analysis.elfinfo import ElfInfo, is_x86_64_elf64, read_elf
from packager.analysis.ldconf import DEFAULT_DIRS
from packager.errors import PackError
from packager.paths import display_path

HostMap = Callable[[str], Optional[Path]]
"""Image path -> host path if a [files] mapping covers it, else None."""

LIB_EXPANSION = "lib/x86_64-linux-gnu" if os.path.isdir("/lib/x86_64-linux-gnu") else "lib64"
PLATFORM = "x86_64"

FOUND_RPATH = "RPATH"
FOUND_RUNPATH = "RUNPATH"
FOUND_LDCONF = "ld.so.conf"
FOUND_DEFAULT = "default dirs"
FOUND_PATH = "path"
FOUND_INTERP = "interpreter"


@dataclass(frozen=True)
class Library:
    """One object the closure brings in: where it goes in the image, which host file gives
    its bytes, and why (``chain``: image paths from the root object to the loader)."""

    image_path: str
    host_path: Path
    name: str
    chain: tuple[str, ...]
    found_in: str
    # Why, when it is no DT_NEEDED (a library glibc itself dlopens).
    note: str = ""

    def reason(self) -> str:
        """Why this file is packed, e.g. ``needed by /usr/bin/x → /lib/.../libfoo.so``."""
        if self.note:
            return self.note
        if self.found_in == FOUND_INTERP:
            return f"interpreter of {self.chain[-1]}"
        return "needed by " + " → ".join(self.chain)


@dataclass
class _Obj:
    image_path: str
    host_path: Path
    info: ElfInfo
    loader: _Obj | None
    image_origin: str
    host_origin: str
    chain: tuple[str, ...]


@dataclass
class _Namespace:
    main: _Obj | None = None
    by_name: dict[str, _Obj] = field(default_factory=dict)


@dataclass
class ClosureResult:
    """Every library (and interpreter) needed, in discovery order, and whether the image
    needs a generated /etc/ld.so.cache (a library was found through ld.so.conf in a
    directory ld.so would not search by itself)."""

    libraries: list[Library] = field(default_factory=list)
    needs_ld_cache: bool = False
    cache_entries: dict[str, str] = field(default_factory=dict)
    # (object, name): a DT_NEEDED of an object [files] brings in that ld.so's search finds
    # nowhere. Not an error (see ClosureFinder.add_object); collect() says which ones matter.
    unresolved: list[tuple[str, str]] = field(default_factory=list)


def expand_tokens(path: str, origin: str) -> str:
    """Expands $ORIGIN, $LIB and $PLATFORM (also in ``${...}`` form) as ld.so does."""
    def sub(m: re.Match[str]) -> str:
        token = m.group(1) or m.group(2)
        return {"ORIGIN": origin, "LIB": LIB_EXPANSION, "PLATFORM": PLATFORM}[token]
    return re.sub(r"\$\{(ORIGIN|LIB|PLATFORM)\}|\$(ORIGIN|LIB|PLATFORM)(?![A-Za-z0-9_])", sub, path)


class ClosureFinder:
    """Finds libraries for a set of root objects. One finder per pack: the entry (with its
    interpreter) first, then every ELF object [files] brings in."""

    def __init__(self, host_map: HostMap, ldconf_dirs: tuple[str, ...],
                 default_dirs: tuple[str, ...] = DEFAULT_DIRS,
                 elf_reader: Callable[[Path], ElfInfo] = read_elf) -> None:
        self.host_map = host_map
        self.elf_reader = elf_reader
        self.ldconf_dirs = ldconf_dirs
        self.default_dirs = default_dirs
        self.result = ClosureResult()
        self._packed: set[str] = set()
        self._main_ns = _Namespace()
        self._info_cache: dict[str, ElfInfo] = {}

    def _host_for(self, image_path: str) -> Path:
        mapped = self.host_map(image_path)
        return mapped if mapped is not None else Path(image_path)

    def _read(self, host: Path) -> ElfInfo:
        key = os.path.abspath(host)
        if key not in self._info_cache:
            self._info_cache[key] = self.elf_reader(host)
        return self._info_cache[key]

    def add_entry(self, image_path: str, host_path: Path) -> ElfInfo:
        """Adds the program to start: its interpreter and its libraries. Returns its ElfInfo."""
        info = self._read(host_path)
        if info.kind == "relocatable":
            raise PackError(f"{display_path(host_path)}: a relocatable object (.o), not a program")
        obj = self._root(image_path, host_path, info, is_main=True)
        self._main_ns.main = obj
        self._load_tree(obj, self._main_ns)
        return info

    def add_object(self, image_path: str, host_path: Path) -> None:
        """Adds an ELF object that [files] brings in: a program gets its own interpreter and
        namespace; a library (plugin, extension module) shares the entry's namespace. A library
        it needs that ld.so's search finds nowhere is recorded in `result.unresolved`, not
        raised: such an object is loaded, if ever, by dlopen after what it needs is loaded
        already (ld.so then matches the name against loaded objects' sonames: the JDK's
        libraries need libjvm.so from lib/server), and natively it has the same need."""
        info = self._read(host_path)
        if info.kind in ("relocatable", "static", "static-pie"):
            return
        if info.interpreter:
            ns = _Namespace()
            obj = self._root(image_path, host_path, info, is_main=True)
            ns.main = obj
        else:
            ns = self._main_ns
            obj = self._root(image_path, host_path, info, is_main=False)
        self._load_tree(obj, ns, lenient=True)

    def add_glibc_dlopens(self) -> None:
        """Adds what glibc's libc.so.6 dlopens by itself, where the entry's closure has it:
        libgcc_s.so.1, which pthread_exit, pthread_cancel and backtrace load to unwind (without
        it the process aborts: "libgcc_s.so.1 must be installed for pthread_exit to work"),
        found by ld.so's search from libc. Nothing when this host has none."""
        libc = self._main_ns.by_name.get("libc.so.6")
        name = "libgcc_s.so.1"
        if libc is None or libc.loader is None or name in self._main_ns.by_name:
            return
        try:
            obj = self._find(name, libc, self._main_ns)
        except PackError:
            return
        self._main_ns.by_name[name] = obj
        self._load_tree(obj, self._main_ns, lenient=True)
        for i, lib in enumerate(self.result.libraries):
            if lib.image_path == obj.image_path and not lib.note:
                self.result.libraries[i] = dataclasses.replace(
                    lib, note=f"dlopened by glibc ({libc.image_path}: pthread_exit, pthread_cancel, backtrace)")

    def _root(self, image_path: str, host_path: Path, info: ElfInfo, is_main: bool) -> _Obj:
        # The kernel gives ld.so the resolved path of the main program ($ORIGIN); a dlopened
        # object's $ORIGIN is the directory of the path it was opened by.
        host_origin = os.path.dirname(os.path.realpath(host_path) if is_main else
                                      os.path.abspath(host_path))
        obj = _Obj(image_path, host_path, info, None, os.path.dirname(image_path) or "/",
                   host_origin, (image_path,))
        if info.interpreter:
            self._add_interpreter(obj)
        return obj

    def _add_interpreter(self, obj: _Obj) -> None:
        interp = obj.info.interpreter
        assert interp is not None
        if not interp.startswith("/"):
            raise PackError(f"{display_path(obj.host_path)}: relative PT_INTERP {interp!r} is not supported")
        host = self._host_for(os.path.normpath(interp))
        if not host.exists():
            raise PackError(f"{display_path(obj.host_path)}: needs interpreter {interp}, "
                            "which does not exist on this host")
        self._read(host)
        self._record(Library(os.path.normpath(interp), host, os.path.basename(interp),
                             obj.chain, FOUND_INTERP))

    def _record(self, lib: Library) -> None:
        if lib.image_path not in self._packed:
            self._packed.add(lib.image_path)
            self.result.libraries.append(lib)

    def _load_tree(self, root: _Obj, ns: _Namespace, lenient: bool = False) -> None:
        if root.info.interpreter:
            interp_info = self._read(self._host_for(os.path.normpath(root.info.interpreter)))
            for name in (interp_info.soname, os.path.basename(root.info.interpreter)):
                if name:
                    ns.by_name.setdefault(name, root)  # provided by ld.so itself
        if root.info.soname:
            ns.by_name.setdefault(root.info.soname, root)
        queue: deque[_Obj] = deque([root])
        while queue:
            obj = queue.popleft()
            for name in obj.info.needed:
                if name in ns.by_name:
                    continue
                try:
                    child = self._find(name, obj, ns)
                except PackError:
                    if not lenient:
                        raise
                    self.result.unresolved.append((obj.image_path, name))
                    continue
                ns.by_name[name] = child
                if child.info.soname:
                    ns.by_name.setdefault(child.info.soname, child)
                queue.append(child)

    # -- the search, in ld.so's order ---------------------------------------------------------

    def _find(self, name: str, loader: _Obj, ns: _Namespace) -> _Obj:
        searched: list[str] = []
        if "/" in name:
            image = os.path.normpath(name if name.startswith("/") else "/" + name)
            hit = self._candidate(image, self._host_for(image))
            if hit:
                return self._adopt(name, image, hit, loader, FOUND_PATH)
            self._missing(name, loader, ["the given path"])
        if not loader.info.runpath:
            obj: _Obj | None = loader
            did_main = False
            while obj is not None:
                if obj.info.rpath and not obj.info.runpath:
                    searched.append(FOUND_RPATH)
                    found = self._search_list(name, obj.info.rpath, obj)
                    if found:
                        return self._adopt(name, found[0], found[1], loader, FOUND_RPATH)
                did_main |= obj is ns.main
                obj = obj.loader
            main = ns.main
            if not did_main and main is not None and main.info.rpath and not main.info.runpath:
                searched.append(FOUND_RPATH)
                found = self._search_list(name, main.info.rpath, main)
                if found:
                    return self._adopt(name, found[0], found[1], loader, FOUND_RPATH)
        if loader.info.runpath:
            searched.append(FOUND_RUNPATH)
            found = self._search_list(name, loader.info.runpath, loader)
            if found:
                return self._adopt(name, found[0], found[1], loader, FOUND_RUNPATH)
        if not loader.info.nodeflib:
            searched.append(FOUND_LDCONF)
            for d in self.ldconf_dirs:
                image = os.path.join(d, name)
                hit = self._candidate(image, self._host_for(image))
                if hit:
                    return self._adopt(name, image, hit, loader, FOUND_LDCONF)
            searched.append(FOUND_DEFAULT)
            for d in self.default_dirs:
                image = os.path.join(d, name)
                hit = self._candidate(image, self._host_for(image))
                if hit:
                    return self._adopt(name, image, hit, loader, FOUND_DEFAULT)
        self._missing(name, loader, list(dict.fromkeys(searched)))
        raise AssertionError("unreachable")

    def _search_list(self, name: str, dirs: tuple[str, ...], owner: _Obj) -> tuple[str, Path] | None:
        for d in dirs:
            image_dir = expand_tokens(d, owner.image_origin)
            if not image_dir.startswith("/"):
                continue  # relative to the working directory at run time: not predictable
            image_dir = os.path.normpath(image_dir)
            image = os.path.join(image_dir, name)
            host = self.host_map(image)
            if host is None:
                host_dir = expand_tokens(d, owner.host_origin) if "ORIGIN" in d else image_dir
                host = Path(os.path.normpath(os.path.join(host_dir, name)))
            hit = self._candidate(image, host)
            if hit:
                return image, hit
        return None

    @staticmethod
    def _candidate(image: str, host: Path) -> Path | None:
        return host if host.is_file() and is_x86_64_elf64(host) else None

    def _adopt(self, name: str, image: str, host: Path, loader: _Obj, found_in: str) -> _Obj:
        info = self._read(host)
        obj = _Obj(image, host, info, loader, os.path.dirname(image) or "/",
                   os.path.dirname(os.path.abspath(host)), loader.chain + (image,))
        self._record(Library(image, host, name, loader.chain, found_in))
        if found_in in (FOUND_LDCONF, FOUND_DEFAULT):
            self.result.cache_entries.setdefault(name, image)
            if found_in == FOUND_LDCONF and os.path.dirname(image) not in self.default_dirs:
                self.result.needs_ld_cache = True
        return obj

    def _missing(self, name: str, loader: _Obj, searched: list[str]) -> None:
        root = loader.chain[0]
        root_obj = loader
        while root_obj.loader is not None:
            root_obj = root_obj.loader
        via = [os.path.basename(p) for p in loader.chain[1:]]
        via_text = f" (via {' → '.join(via)})" if via else ""
        where = "/".join(searched) if searched else "nowhere (DF_1_NODEFLIB)"
        shown = display_path(root_obj.host_path) if root_obj.image_path == root else root
        raise PackError(f"{shown}: needs {name}{via_text}, not found in {where}")
