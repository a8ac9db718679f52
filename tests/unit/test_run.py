"""`litebox run` with --trace / --learn, through a stand-in runtime: a static C program that
prints the LITEBOX_TRACE / LITEBOX_LEARN it was given, appends learn records and exits 5."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from packager.commands.runcmd import RunOptions, run_env, split_run_args
from packager.errors import PackError

REPO = Path(__file__).resolve().parents[2]

STAND_IN = r'''
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    const char *t = getenv("LITEBOX_TRACE"), *l = getenv("LITEBOX_LEARN");
    printf("trace=%s\nlearn=%s\n", t ? t : "-", l ? l : "-");
    for (int i = 1; i < argc; i++) printf("arg=%s\n", argv[i]);
    if (l) {
        FILE *f = fopen(l, "a");
        for (int i = 1; i < argc; i++) fprintf(f, "path\t%s\n", argv[i]);
        fputs("connect\t127.0.0.1:5432\nbogus\tx\n", f);
        fclose(f);
    }
    return 5;
}
'''


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory, cc: Callable[..., Path]) -> Path:
    work = tmp_path_factory.mktemp("run")
    runtime = cc(work / "standin", STAND_IN, "-static", "-O2")
    app = cc(work / "app", "int main(void){return 0;}\n", "-O2")
    env = dict(os.environ, LITEBOX_RUNTIME_LINUX_USERLAND=str(runtime), PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-m", "packager.commands.cli", "pack", str(app), "--json", "--no-rewrite",
                          "--out-dir", str(work / "dist")], cwd=work, env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return Path(json.loads(res.stdout)["artifacts"][0]["path"])


def litebox_run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITEBOX_")}
    env["PYTHONPATH"] = str(REPO)  # this checkout's packager, whatever pip installed
    return subprocess.run([sys.executable, "-m", "packager.commands.cli", "run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)


def test_plain_run_passes_args_and_exit_code(artifact: Path, tmp_path: Path) -> None:
    res = litebox_run([str(artifact), "--", "a", "--trace"], tmp_path)
    assert res.returncode == 5
    assert res.stdout == "trace=-\nlearn=-\narg=a\narg=--trace\n"


@pytest.mark.parametrize("before", [True, False])
def test_trace_sets_env(artifact: Path, tmp_path: Path, before: bool) -> None:
    args = ["--trace", str(artifact)] if before else [str(artifact), "--trace"]
    res = litebox_run(args + ["--", "x"], tmp_path)
    assert res.returncode == 5
    assert res.stdout == "trace=1\nlearn=-\narg=x\n"


def test_trace_file_is_absolute(artifact: Path, tmp_path: Path) -> None:
    res = litebox_run(["--trace", "--trace-file", "t.txt", str(artifact)], tmp_path)
    assert res.returncode == 5
    assert res.stdout.splitlines()[0] == f"trace={tmp_path / 't.txt'}"


def test_learn_prints_snippet_and_keeps_exit_code(artifact: Path, tmp_path: Path) -> None:
    present = tmp_path / "present.txt"
    present.write_text("x")
    absent = tmp_path / "absent.txt"
    res = litebox_run(["--learn", str(artifact), "--", str(present), str(absent)], tmp_path)
    assert res.returncode == 5
    lines = res.stdout.splitlines()
    learn_file = Path(lines[1].removeprefix("learn="))
    assert learn_file.is_absolute() and not learn_file.exists()  # the temp file is removed
    snippet = "\n".join(lines[4:]) + "\n"
    assert snippet.startswith("# Learned by `litebox run --learn`")
    assert f'"{present}" = "{present}"\n' in snippet
    assert f"# {absent}  (does not exist on this host)\n" in snippet
    assert 'connect = ["127.0.0.1:5432"]\n' in snippet
    assert res.stderr == "litebox: warning: learn record 4: unknown kind 'bogus', skipped\n"


def test_learn_out_writes_file(artifact: Path, tmp_path: Path) -> None:
    res = litebox_run([str(artifact), "--learn-out", "learned.toml", "--", "/etc"], tmp_path)
    assert res.returncode == 5
    assert res.stdout.startswith("trace=-\nlearn=/") and "[files]" not in res.stdout
    text = (tmp_path / "learned.toml").read_text()
    assert '"/etc" = "/etc"  # a directory: packs everything under it\n' in text
    assert "learned policy written to learned.toml" in res.stderr


def test_bad_learn_out_fails_before_running(artifact: Path, tmp_path: Path) -> None:
    res = litebox_run(["--learn-out", "no/such/dir/out.toml", str(artifact)], tmp_path)
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1
    assert "no/such/dir/out.toml: --learn-out: directory" in res.stderr and "does not exist" in res.stderr


def test_split_run_args() -> None:
    assert split_run_args(["--trace", "--learn-out=f", "--", "--trace"]) == (
        {"--trace": True, "--learn-out": "f"}, ["--trace"])
    assert split_run_args(["a", "--trace"]) == ({}, ["a", "--trace"])
    assert split_run_args(["--trace-file", "t", "b"]) == ({"--trace-file": "t"}, ["b"])
    with pytest.raises(PackError, match="--trace-file needs a file name"):
        split_run_args(["--trace-file"])


def test_run_env() -> None:
    base = {"PATH": "/bin"}
    assert run_env(base, RunOptions(), None) == base
    assert run_env(base, RunOptions(trace=True), None)["LITEBOX_TRACE"] == "1"
    env = run_env(base, RunOptions(trace=True, trace_file=Path("/x/t")), Path("/y/l"))
    assert env == {"PATH": "/bin", "LITEBOX_TRACE": "/x/t", "LITEBOX_LEARN": "/y/l"}
