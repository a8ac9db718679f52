from __future__ import annotations

import pytest

from packager.build.canonjson import canonical_json


def test_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "é→"]}) == '{"a":[true,null,"é→"],"b":1}'.encode()


def test_nested_keys_sorted() -> None:
    assert canonical_json({"z": {"y": 1, "x": 2}}) == b'{"z":{"x":2,"y":1}}'


@pytest.mark.parametrize("value", [1.5, {"a": [0.0]}, {1: "x"}, {"a": b"bytes"}, "\udcff"])
def test_refused(value: object) -> None:
    with pytest.raises(ValueError):
        canonical_json(value)
