"""Small helpers shared by the litebox.toml validators: type names and "did you mean" hints."""
from __future__ import annotations

import difflib
from typing import Any, Iterable, Mapping

from packager.errors import PackError


def type_name(v: Any) -> str:
    """The TOML name of a parsed value's type (``integer``, ``string``, ``table``...)."""
    names = {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
             dict: "table"}
    return names.get(type(v), type(v).__name__)


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def is_int(v: Any) -> bool:
    """True for a TOML integer (booleans are not integers)."""
    return isinstance(v, int) and not isinstance(v, bool)


class Where:
    """The file being validated: builds the one-line ``FILE: KEY: PROBLEM`` errors."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, key: str, problem: str) -> PackError:
        """A PackError naming the file, ``key`` and ``problem``."""
        return PackError(f"{self.where}: {key}: {problem}")

    def only_keys(self, table: Mapping[str, Any], known: Iterable[str], prefix: str) -> None:
        """Raises for the first key of ``table`` not in ``known`` (named as ``prefix.key``)."""
        allowed = tuple(known)
        for key in table:
            if key not in allowed:
                raise self.fail(f"{prefix}.{key}", "unknown key" + suggest(key, allowed))
