from __future__ import annotations

from pathlib import Path

import pytest

from packager.config.config import Overrides, load, load_project, quick_config, quick_entry_path
from packager.errors import PackError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "litebox.toml").write_text(text)
    return tmp_path


def test_minimal_project_gets_defaults(tmp_path: Path) -> None:
    cfg = load_project(write(tmp_path, '[app]\nentry = "/usr/bin/python3"\n'))
    assert cfg.mode == "project"
    assert cfg.app.name == "python3"
    assert cfg.app.cwd == "/"
    assert cfg.build.compression_level == 9
    assert cfg.build.chunk_size == 131072
    assert cfg.env_inherit is False


def test_unknown_key_names_file_key_and_suggestion(tmp_path: Path) -> None:
    write(tmp_path, '[app]\nentry = "/bin/true"\nargz = ["x"]\n')
    with pytest.raises(PackError) as err:
        load_project(tmp_path)
    msg = str(err.value)
    assert msg.endswith("litebox.toml: [app].argz: unknown key (did you mean 'args'?)")


def test_unknown_section_and_policy_key(tmp_path: Path) -> None:
    write(tmp_path, '[app]\nentry = "/bin/true"\n[polcy]\n')
    with pytest.raises(PackError, match=r"\[polcy\]: unknown section \(did you mean 'policy'\?\)"):
        load_project(tmp_path)
    write(tmp_path, '[app]\nentry = "/bin/true"\n[policy]\nnetworking = true\n')
    with pytest.raises(PackError, match=r"\[policy\]\.networking: unknown key \(did you mean 'network'\?\)"):
        load_project(tmp_path)


@pytest.mark.parametrize("body, key, expected", [
    ('[app]\nentry = "/bin/true"\nargs = "x"\n', "[app].args", "expected a list of strings, got string"),
    ('[app]\nentry = 5\n', "[app].entry", "expected a string, got integer"),
    ('[app]\nentry = "/bin/true"\n[build]\ncompression_level = "high"\n', "[build].compression_level",
     "expected an integer, got string"),
    ('[app]\nentry = "/bin/true"\n[build]\nsource_date_epoch = true\n', "[build].source_date_epoch",
     "expected an integer, got boolean"),
    ('[app]\nentry = "/bin/true"\nenv = { A = 1 }\n', "[app].env", "expected a table of strings"),
    ('[app]\nentry = "/bin/true"\n[files]\n"/app" = 3\n', '[files]."/app"', "expected a string"),
])
def test_wrong_types(tmp_path: Path, body: str, key: str, expected: str) -> None:
    write(tmp_path, body)
    with pytest.raises(PackError) as err:
        load_project(tmp_path)
    assert f"{key}: {expected}" in str(err.value)


@pytest.mark.parametrize("body, fragment", [
    ('[app]\nentry = "bin/true"\n', "[app].entry: 'bin/true' must be an absolute path"),
    ('[app]\nentry = "/bin/../true"\n', "not normalized"),
    ('[app]\nentry = "/bin/true"\n[build]\nchunk_size = 5000\n', "[build].chunk_size: 5000 is not a power of two"),
    ('[app]\nentry = "/bin/true"\n[build]\ncompression_level = 23\n', "[build].compression_level: 23 is not in 0..22"),
    ('[app]\nentry = "/bin/true"\n[files]\n"app" = "src"\n', '[files]."app": image path must be an absolute'),
    ('[app]\nargs = []\n', "[app].entry: missing"),
    ('[app\n', "invalid TOML"),
])
def test_bad_values(tmp_path: Path, body: str, fragment: str) -> None:
    write(tmp_path, body)
    with pytest.raises(PackError) as err:
        load_project(tmp_path)
    assert fragment in str(err.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="a directory without litebox.toml"):
        load_project(tmp_path)
    with pytest.raises(PackError, match="other.toml: no such file"):
        load_project(tmp_path, config_file=tmp_path / "other.toml")


def test_files_resolved_relative_to_config(tmp_path: Path) -> None:
    write(tmp_path, '[app]\nentry = "/app/main"\n[files]\n"/app" = "src"\n"/data" = "/srv/data"\n')
    cfg = load_project(tmp_path)
    assert cfg.files == (("/app", tmp_path.resolve() / "src"), ("/data", Path("/srv/data")))
    assert cfg.to_json()["files"] == {"/app": "src", "/data": "/srv/data"}


def test_source_date_epoch_env_only_when_key_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    write(tmp_path, '[app]\nentry = "/bin/true"\n')
    assert load_project(tmp_path).build.source_date_epoch == 1700000000
    write(tmp_path, '[app]\nentry = "/bin/true"\n[build]\nsource_date_epoch = 5\n')
    assert load_project(tmp_path).build.source_date_epoch == 5
    assert load_project(tmp_path, overrides=Overrides(source_date_epoch=9)).build.source_date_epoch == 9


def test_cli_overrides_win(tmp_path: Path) -> None:
    write(tmp_path, '[app]\nentry = "/bin/true"\nname = "a"\n[build]\ncompression_level = 3\n')
    cfg = load_project(tmp_path, overrides=Overrides(name="b", compression_level=7))
    assert (cfg.app.name, cfg.build.compression_level) == ("b", 7)


def test_quick_mode(tmp_path: Path) -> None:
    prog = tmp_path / "tool"
    prog.write_bytes(b"\x7fELF")
    cfg = load(prog)
    assert cfg.mode == "quick" and cfg.env_inherit
    assert cfg.app.entry == "/app/tool" and cfg.app.name == "tool"
    assert quick_entry_path(Path("/usr/bin/python3")) == "/usr/bin/python3"
    assert quick_entry_path(Path("/opt/x/bin/y")) == "/opt/x/bin/y"
    assert quick_entry_path(Path("/home/u/usr/bin/y")) == "/app/y"
    assert quick_config(Path("/bin/ls")).app.entry == "/bin/ls"


def test_config_flag_refused_in_quick_mode(tmp_path: Path) -> None:
    prog = tmp_path / "tool"
    prog.write_bytes(b"x")
    with pytest.raises(PackError, match="--config applies to a project directory"):
        load(prog, config_file=tmp_path / "x.toml")


def test_rewrite_defaults_on_and_can_be_turned_off(tmp_path: Path) -> None:
    write(tmp_path, '[app]\nentry = "/bin/true"\n')
    assert load_project(tmp_path).build.rewrite is True
    assert load_project(tmp_path, overrides=Overrides(rewrite=False)).build.rewrite is False
    write(tmp_path, '[app]\nentry = "/bin/true"\n[build]\nrewrite = false\n')
    cfg = load_project(tmp_path)
    assert cfg.build.rewrite is False and cfg.to_json()["build"]["rewrite"] is False
    write(tmp_path, '[app]\nentry = "/bin/true"\n[build]\nrewrite = "no"\n')
    with pytest.raises(PackError) as err:
        load_project(tmp_path)
    assert "[build].rewrite: expected a boolean, got string" in str(err.value)
