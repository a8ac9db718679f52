"""Canonical JSON: one byte sequence per value, so digests of JSON documents are stable."""
from __future__ import annotations

import json
from typing import Any


def _check(value: Any, where: str) -> None:
    if isinstance(value, float):
        raise ValueError(f"{where}: floats are not allowed in canonical JSON")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: object key {k!r} is not a string")
            _check(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check(v, f"{where}[{i}]")
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{where}: string is not valid Unicode (a non-UTF-8 file name?)") from None
    elif value is not None and not isinstance(value, (bool, int)):
        raise ValueError(f"{where}: {type(value).__name__} is not a JSON value")


def _no_float(text: str) -> Any:
    raise ValueError(f"float {text}")


def canonical_json(value: Any) -> bytes:
    """``value`` as canonical JSON bytes: keys sorted, no whitespace, UTF-8 (not \\u escapes),
    no floats, no trailing newline. Raises ValueError for anything else."""
    try:
        # Fast path (C code only): the text parses back, without floats, to a value equal to
        # ``value``, so ``value`` held nothing but JSON values with string keys.
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        data = text.encode("utf-8")
        if json.loads(text, parse_float=_no_float) == value:
            return data
    except (TypeError, ValueError, UnicodeEncodeError):
        pass
    _check(value, "$")  # the slow path names what is wrong, or accepts tuples
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")
