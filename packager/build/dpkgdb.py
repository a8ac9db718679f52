"""Which Debian package installed a host file, read from the dpkg database (no dpkg needed).

``/var/lib/dpkg/status`` gives each installed package's version, architecture and source;
``/var/lib/dpkg/info/<pkg>[:arch].list`` the paths it installed; ``/usr/share/doc/<pkg>/
copyright``, when machine-readable (DEP-5), the license of its main files.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Merged-/usr aliases: a file found at one is installed by dpkg under the other.
USR_ALIASES = (("/usr/lib64/", "/lib64/"), ("/usr/lib/", "/lib/"), ("/usr/bin/", "/bin/"),
               ("/usr/sbin/", "/sbin/"))


@dataclass(frozen=True)
class DebPackage:
    """An installed Debian package: ``license`` is the Debian short name from its copyright
    file's ``Files: *`` paragraph, or None when the file does not say (not DEP-5)."""

    name: str
    version: str
    architecture: str
    source: str
    license: str | None


def _status(root: Path) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    try:
        text = (root / "var/lib/dpkg/status").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for para in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in para.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") and "installed" in fields.get("Status", "").split():
            out[f"{fields['Package']}:{fields.get('Architecture', '')}"] = fields
    return out


def _license(root: Path, package: str) -> str | None:
    """The License of the ``Files: *`` paragraph of a DEP-5 copyright file, else None."""
    try:
        text = (root / "usr/share/doc" / package / "copyright").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    if not text.startswith("Format:"):
        return None
    for para in text.split("\n\n"):
        if re.search(r"^Files:\s*\*\s*$", para, re.M):
            found = re.search(r"^License:[ \t]*(\S[^\n]*)$", para, re.M)
            return found.group(1).strip() if found else None
    return None


class DpkgDatabase:
    """The dpkg database under ``root`` (default ``/``), read once: ``owner(path)``."""

    def __init__(self, root: Path = Path("/")) -> None:
        self.root = root
        self._owners: dict[str, str] | None = None
        self._status = _status(root)

    def _load(self) -> dict[str, str]:
        owners: dict[str, str] = {}
        info = self.root / "var/lib/dpkg/info"
        for lst in sorted(info.glob("*.list")) if info.is_dir() else []:
            key = lst.stem
            try:
                lines = lst.read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                continue
            for line in lines:
                owners.setdefault(line, key)
        return owners

    def owner(self, path: str) -> DebPackage | None:
        """The installed package that owns ``path`` (merged-/usr aliases tried), or None."""
        if self._owners is None:
            self._owners = self._load()
        candidates = [path]
        for usr, short in USR_ALIASES:
            if path.startswith(usr):
                candidates.append(short + path[len(usr):])
            elif path.startswith(short):
                candidates.append(usr + path[len(short):])
        for candidate in candidates:
            key = self._owners.get(candidate)
            if key is not None:
                return self._package(key)
        return None

    def _package(self, key: str) -> DebPackage | None:
        name, _, arch = key.partition(":")
        fields = self._status.get(key) or next((f for k, f in self._status.items() if k.split(":")[0] == name), None)
        if fields is None:
            return None
        return DebPackage(name=name, version=fields.get("Version", ""), architecture=fields.get("Architecture", arch),
                          source=fields.get("Source", name).split(" ")[0], license=_license(self.root, name))
