"""Each example packed from source, run, and compared with the natively built program."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from litebox_e2e import (
    IMAGE_SECTION,
    MANIFEST_SECTION,
    TARGET,
    ExampleArtifacts,
    describe,
    find_section,
    has_interp,
    pack,
    read_image,
    run_cli,
    run_program,
)

HELLOS = ["hello-static", "hello-dynamic"]
HELLO_NATIVE = {"hello-static": "build/hello", "hello-dynamic": "build/hello"}
# What [app].env of the hello examples sets; a native run gets it by hand.
HELLO_CONFIG_ENV = {"GREETING": "hi"}

TRICKY_ARGS = ["one", "two words", "", "ünïcödé", "--getenv", "GREETING", "a=b", "*", "$HOME"]


def hello_expected(args: list[str], getenv_lines: list[str] | None = None) -> bytes:
    lines = ["Hello from litebox!", f"argc={len(args) + 1}"]
    lines += [f"argv[{i}]={a}" for i, a in enumerate(args, start=1)]
    lines += getenv_lines or []
    return ("\n".join(lines) + "\n").encode()


# ---------------------------------------------------------------------------------------------
# The artifact itself


@pytest.mark.parametrize("name", [*HELLOS, "cat-files", "static-pie"])
def test_artifact_shape(examples: ExampleArtifacts, name: str) -> None:
    art = examples.get(name)
    assert art.path.name == f"{name}-{TARGET}"
    assert art.manifest.name == f"{name}-{TARGET}.manifest.json"
    assert art.path.parent == art.manifest.parent
    assert stat.S_IMODE(art.path.stat().st_mode) == 0o755
    # A static executable that needs no host library.
    assert not has_interp(art.path), "the artifact must not have a PT_INTERP"
    assert find_section(art.path, IMAGE_SECTION).size > 0
    assert find_section(art.path, MANIFEST_SECTION).size > 0
    manifest = json.loads(art.manifest.read_text(encoding="utf-8"))
    assert isinstance(manifest, dict)
    out_files = sorted(p.name for p in art.path.parent.iterdir())
    assert out_files == sorted([art.path.name, art.manifest.name, art.path.name + ".spdx.json"]), out_files


def test_image_holds_the_dynamic_closure(examples: ExampleArtifacts) -> None:
    _, image = read_image(examples.get("hello-dynamic").path)
    assert image.magic == b"LITEBOX\0" and image.version == 3
    paths = image.paths()
    assert "/app/hello" in paths
    assert any(p.endswith("/libc.so.6") for p in paths), paths
    assert any(p.endswith("/ld-linux-x86-64.so.2") for p in paths), paths
    assert {"/tmp", "/dev", "/proc"} <= set(paths)
    assert not any(p.startswith("/etc/hostname") for p in paths)
    for e in image.entries:
        assert (e.uid, e.gid, e.mtime) == (0, 0, 0), e  # source_date_epoch = 0


def test_static_image_has_no_libraries(examples: ExampleArtifacts) -> None:
    _, image = read_image(examples.get("hello-static").path)
    files = [e.path.decode() for e in image.entries if e.kind == 2]
    assert files == ["/app/hello"], files


# ---------------------------------------------------------------------------------------------
# hello-static and hello-dynamic


@pytest.mark.parametrize("name", HELLOS)
def test_hello_matches_native(examples: ExampleArtifacts, name: str) -> None:
    art = examples.get(name)
    native = examples.project(name) / HELLO_NATIVE[name]
    packed = run_program([art.path, *TRICKY_ARGS])
    expected = run_program([native, *TRICKY_ARGS], env=HELLO_CONFIG_ENV)
    assert expected.returncode == 0, describe(expected)
    assert packed.returncode == 0, describe(packed)
    assert packed.stdout == expected.stdout
    assert packed.stdout == hello_expected(TRICKY_ARGS, ["GREETING=hi"])


@pytest.mark.parametrize("name", HELLOS)
@pytest.mark.parametrize("code", [0, 1, 3, 42, 255])
def test_exit_code_is_the_apps(examples: ExampleArtifacts, name: str, code: int) -> None:
    art = examples.get(name)
    proc = run_program([art.path, "--exit", str(code)])
    assert proc.returncode == code, describe(proc)
    assert proc.stdout == hello_expected(["--exit", str(code)])


@pytest.mark.parametrize("name", HELLOS)
def test_many_arguments(examples: ExampleArtifacts, name: str) -> None:
    args = [f"arg-{i}-" + "x" * (i % 50) for i in range(300)]
    proc = run_program([examples.get(name).path, *args])
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == hello_expected(args)


@pytest.mark.parametrize("name", HELLOS)
def test_project_mode_environment_is_default_deny(examples: ExampleArtifacts, name: str) -> None:
    art = examples.get(name)
    args = [
        "--getenv",
        "GREETING",
        "--getenv",
        "LITEBOX_EXAMPLE_PASS",
        "--getenv",
        "LITEBOX_EXAMPLE_SECRET",
        "--getenv",
        "EXIT_CODE",
        "--getenv",
        "PATH",
    ]
    proc = run_program(
        [art.path, *args],
        env={
            "GREETING": "from the host",
            "LITEBOX_EXAMPLE_PASS": "passed through",
            "LITEBOX_EXAMPLE_SECRET": "s3cret",
            "EXIT_CODE": "9",
        },
    )
    # [app].env wins for GREETING, the policy's env_passthrough lets LITEBOX_EXAMPLE_PASS in,
    # and nothing else of the host environment is visible (not even PATH or EXIT_CODE).
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == hello_expected(
        args,
        [
            "GREETING=hi",
            "LITEBOX_EXAMPLE_PASS=passed through",
            "LITEBOX_EXAMPLE_SECRET is not set",
            "EXIT_CODE is not set",
            "PATH is not set",
        ],
    )
    assert b"s3cret" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("name", HELLOS)
def test_passthrough_variable_absent_on_host(examples: ExampleArtifacts, name: str) -> None:
    args = ["--getenv", "LITEBOX_EXAMPLE_PASS"]
    proc = run_program([examples.get(name).path, *args])
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == hello_expected(args, ["LITEBOX_EXAMPLE_PASS is not set"])


@pytest.mark.parametrize("name", HELLOS)
def test_quick_mode_passes_the_host_environment(examples: ExampleArtifacts, name: str, tmp_path: Path) -> None:
    """The same built program packed as a bare ELF (quick mode) sees the host environment."""
    native = examples.project(name) / HELLO_NATIVE[name]
    art = pack(native, tmp_path / "dist")
    assert art.path.name == f"hello-{TARGET}"
    args = ["--getenv", "LITEBOX_EXAMPLE_SECRET", "--getenv", "GREETING"]
    env = {"LITEBOX_EXAMPLE_SECRET": "visible", "EXIT_CODE": "9"}
    packed = run_program([art.path, *args], env=env)
    expected = run_program([native, *args], env=env)
    assert packed.returncode == expected.returncode == 9, describe(packed)
    assert packed.stdout == expected.stdout
    assert packed.stdout == hello_expected(args, ["LITEBOX_EXAMPLE_SECRET=visible", "GREETING is not set"])


def test_litebox_run_passes_arguments(examples: ExampleArtifacts) -> None:
    art = examples.get("hello-static")
    proc = run_cli("run", art.path, "--", "via run", "--exit", "4")
    assert proc.returncode == 4, describe(proc)
    assert proc.stdout == hello_expected(["via run", "--exit", "4"]).decode()


# ---------------------------------------------------------------------------------------------
# cat-files

CAT_FILES_ARGS = ["first", "second arg"]
CAT_FILES_EXPECTED = b"""\
== listing of the data directory: 4 entries ==
alpha.txt
beta.txt
gamma.txt
notes/
== alpha.txt (29 bytes) ==
alpha: the first packed file
== beta.txt (33 bytes) ==
beta: second file
with two lines
== gamma.txt (21 bytes) ==
gamma: the last file
== /tmp/cat-files-note.txt ==
written to /tmp and read back
== arguments ==
argv[1]=first
argv[2]=second arg
GREETING=hello from the config
open /etc/hostname: errno=2 (No such file or directory)
"""


def test_cat_files_output(examples: ExampleArtifacts) -> None:
    proc = run_program([examples.get("cat-files").path, *CAT_FILES_ARGS])
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == CAT_FILES_EXPECTED


def test_cat_files_matches_native_but_for_the_host_file(examples: ExampleArtifacts) -> None:
    """Natively the program sees the host's /etc/hostname; packed it does not."""
    project = examples.project("cat-files")
    assert Path("/etc/hostname").exists(), "this test needs a host /etc/hostname"
    packed = run_program([examples.get("cat-files").path, *CAT_FILES_ARGS])
    native = run_program(
        [project / "build/cat-files", *CAT_FILES_ARGS],
        env={"CAT_FILES_DATA": str(project / "data"), "GREETING": "hello from the config"},
    )
    assert native.returncode == packed.returncode == 0, describe(packed)
    native_lines = native.stdout.splitlines(keepends=True)
    assert native_lines[-1] == b"open /etc/hostname: opened (the host file is visible)\n"
    packed_lines = packed.stdout.splitlines(keepends=True)
    assert packed_lines[:-1] == native_lines[:-1]
    assert packed_lines[-1] == b"open /etc/hostname: errno=2 (No such file or directory)\n"


# ---------------------------------------------------------------------------------------------
# static-pie (reads stdin)


@pytest.mark.parametrize(
    "data",
    [b"", b"one two\n  three\n", b"no newline at the end", bytes(range(256)) * 4096],
    ids=["empty", "two-lines", "no-newline", "1MiB-binary"],
)
def test_static_pie_stdin_matches_native(examples: ExampleArtifacts, data: bytes) -> None:
    art = examples.get("static-pie")
    native = examples.project("static-pie") / "build/wc"
    packed = run_program([art.path, "x", "y z"], stdin=data)
    expected = run_program([native, "x", "y z"], stdin=data)
    assert packed.returncode == expected.returncode == 0, describe(packed)
    assert packed.stdout == expected.stdout
    lines = data.count(b"\n")
    words = len(data.split())
    expected_text = f"lines={lines} words={words} bytes={len(data)}\nargv[1]=x\nargv[2]=y z\n"
    assert packed.stdout == expected_text.encode()
