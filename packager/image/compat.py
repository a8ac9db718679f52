"""The compatibility report of the rewrite facts an image records: per ELF file, the constant
syscall numbers its code loads that the library OS does not implement, or that the sandbox
refuses. Kept apart from packager/image/rewrite.py (the rewriter itself) so that every
`litebox pack`, an up-to-date one included, can warn without importing the rewriter."""
from __future__ import annotations

from typing import Any


def compatibility(files: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Per file, the names of the constant syscall numbers its sites load that the library OS
    does not implement (those calls will get ENOSYS), from the rewrite facts of the image."""
    from packager.image.syscalls_implemented import DENIED, IMPLEMENTED, name

    out: dict[str, list[str]] = {}
    for path, facts in sorted(files.items()):
        missing = [f"{name(n)}({n})" for n in facts.get("syscalls", [])
                   if n not in IMPLEMENTED and n not in DENIED]
        if missing:
            out[path] = missing
    return out


def refused(files: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Per file, the names of the constant syscall numbers its sites load that the sandbox
    refuses on purpose (EPERM: ptrace, mount, ...; docs/security.md)."""
    from packager.image.syscalls_implemented import DENIED, name

    out: dict[str, list[str]] = {}
    for path, facts in sorted(files.items()):
        hit = [f"{name(n)}({n})" for n in facts.get("syscalls", []) if n in DENIED]
        if hit:
            out[path] = hit
    return out
