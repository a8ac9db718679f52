"""Options set by environment variables at pack time (`OptionSpec.env`): targets.environment_overrides."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from packager.errors import PackError
from packager.targets.targetapi import OptionSpec
from packager.targets.targets import environment_overrides

OPTIONS = (
    OptionSpec("key", "path", "a key", env="T_KEY"),
    OptionSpec("count", "integer", "a count", env="T_COUNT"),
    OptionSpec("flag", "boolean", "a flag", env="T_FLAG"),
    OptionSpec("mode", "string", "a mode", choices=("a", "b"), env="T_MODE"),
    OptionSpec("names", "string-list", "names", env="T_NAMES"),
    OptionSpec("plain", "string", "no variable"),
)
TARGET: Any = SimpleNamespace(name="t", options=OPTIONS)


def test_set_variables_give_typed_values_and_unset_or_empty_ones_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rel").mkdir()
    (tmp_path / "rel" / "k.pem").write_text("key")
    got = environment_overrides(TARGET, {"T_KEY": "rel/k.pem", "T_COUNT": "0x10", "T_FLAG": "Yes",
                                         "T_MODE": "b", "T_NAMES": "x,,y", "plain": "ignored"})
    assert got == {"key": str(tmp_path / "rel" / "k.pem"), "count": 16, "flag": True, "mode": "b",
                   "names": ["x", "y"]}
    assert environment_overrides(TARGET, {"T_KEY": "", "T_FLAG": "off"}) == {"flag": False}
    assert environment_overrides(TARGET, {}) == {}


@pytest.mark.parametrize(("name", "value", "says"), [
    ("T_COUNT", "ten", "T_COUNT='ten' (for [target.t].count): not an integer"),
    ("T_FLAG", "maybe", "T_FLAG='maybe' (for [target.t].flag): not a boolean"),
    ("T_MODE", "c", "T_MODE='c' (for [target.t].mode): not one of 'a', 'b'"),
    ("T_KEY", "/no/such/key.pem", "T_KEY='/no/such/key.pem' (for [target.t].key): no such file"),
])
def test_a_value_that_does_not_read_as_its_type_names_the_variable(name: str, value: str, says: str) -> None:
    with pytest.raises(PackError) as err:
        environment_overrides(TARGET, {name: value})
    assert says in str(err.value)
