"""`litebox run`: run an artifact with its target's runner, optionally tracing its syscalls
(LITEBOX_TRACE) or learning what it asked for beyond its policy (LITEBOX_LEARN)."""
from __future__ import annotations

import inspect
import os
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, TextIO

from packager.commands.learn import host_kind, snippet_from_records
from packager.errors import PackError
from packager.paths import display_path

TRACE_ENV = "LITEBOX_TRACE"
LEARN_ENV = "LITEBOX_LEARN"
FLAGS = ("--trace", "--learn")
VALUED = ("--trace-file", "--learn-out")


@dataclass(frozen=True)
class RunOptions:
    """What `litebox run` was asked for besides running: a trace (to stderr, or appended to
    ``trace_file``) and learning (snippet to stdout, or to ``learn_out``)."""

    trace: bool = False
    trace_file: Path | None = None
    learn: bool = False
    learn_out: Path | None = None


def split_run_args(rest: list[str]) -> tuple[dict[str, str | bool], list[str]]:
    """Separates run options written after ARTIFACT (up to ``--``) from the app's arguments.
    Everything after the first ``--`` goes to the app; so does everything from the first
    word that is not a run option. Raises PackError for an option that lacks its value."""
    opts: dict[str, str | bool] = {}
    i = 0
    while i < len(rest):
        word = rest[i]
        if word == "--":
            return opts, rest[i + 1:]
        name, eq, value = word.partition("=")
        if word in FLAGS:
            opts[word] = True
        elif name in VALUED and eq:
            opts[name] = value
        elif word in VALUED:
            if i + 1 >= len(rest):
                raise PackError(f"run: {word} needs a file name")
            opts[word] = rest[i + 1]
            i += 1
        else:
            break
        i += 1
    return opts, rest[i:]


def check_options(opts: RunOptions) -> None:
    """Refuses, before anything runs, a trace or learn file whose directory does not exist
    or that is a directory."""
    for flag, path in (("--trace-file", opts.trace_file), ("--learn-out", opts.learn_out)):
        if path is None:
            continue
        if path.is_dir():
            raise PackError(f"{display_path(path)}: {flag}: is a directory")
        if not path.absolute().parent.is_dir():
            raise PackError(f"{display_path(path)}: {flag}: directory {display_path(path.absolute().parent)} "
                            "does not exist")


def run_env(base: Mapping[str, str], opts: RunOptions, learn_file: Path | None) -> dict[str, str]:
    """The artifact's environment: ``base`` plus LITEBOX_TRACE (``1``, or the trace file's
    absolute path) and LITEBOX_LEARN (the learn file's absolute path) as asked."""
    env = dict(base)
    if opts.trace or opts.trace_file is not None:
        env[TRACE_ENV] = os.path.abspath(opts.trace_file) if opts.trace_file is not None else "1"
    if learn_file is not None:
        env[LEARN_ENV] = os.path.abspath(learn_file)
    return env


def _runner(run: Callable[..., Any], target: str, trace_learn: bool | None) -> Callable[..., Any]:
    """``run`` if the target can trace and learn (its capability; None: judged by whether
    ``run`` takes ``env`` and ``wait``), else a PackError."""
    if trace_learn is None:
        params = inspect.signature(run).parameters
        trace_learn = "env" in params and "wait" in params
    if not trace_learn:
        raise PackError(f"target {target}: its runner does not support --trace or --learn")
    return run


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8", errors="surrogateescape")
    tmp.replace(path)


def _image_paths(artifact: Path) -> tuple[Callable[[str], bool] | None, dict[str, Any] | None]:
    """Whether a path is in the artifact's image (directories included), and its embedded
    manifest; (None, None) if the artifact cannot be read (the snippet then names no missing
    directories and no pack command)."""
    from packager.commands.inspection import open_artifact

    try:
        view = open_artifact(artifact)
    except PackError:
        return None, None
    paths = {e.path for e in view.image.entries}
    return paths.__contains__, view.manifest


def run_artifact(artifact: Path, args: list[str], opts: RunOptions, run: Callable[..., Any],
                 target: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr,
                 trace_learn: bool | None = None) -> int:
    """Runs ``artifact`` with ``args`` through the target's ``run`` function. Without trace or
    learn it behaves as before (the runner may exec). With --learn the artifact runs as a
    child; afterwards its learn records become a TOML snippet (on ``out`` or in
    ``opts.learn_out``) and skipped records become warnings on ``err``. Promises the app's
    exit code either way. ``trace_learn`` is the target's capability (None: judged from
    ``run``'s parameters)."""
    check_options(opts)
    tracing = opts.trace or opts.trace_file is not None
    if not tracing and not opts.learn:
        return int(run(artifact, args))
    runner = _runner(run, target, trace_learn)
    if not opts.learn:
        out.flush()
        err.flush()
        return int(runner(artifact, args, env=run_env(os.environ, opts, None), wait=False))
    fd, name = tempfile.mkstemp(prefix="litebox-learn-", suffix=".tsv")
    os.close(fd)
    learn_file = Path(name)
    try:
        out.flush()
        err.flush()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C ends the app, not us
        try:
            code = int(runner(artifact, args, env=run_env(os.environ, opts, learn_file), wait=True))
        finally:
            signal.signal(signal.SIGINT, previous)
        data = learn_file.read_bytes()
    finally:
        learn_file.unlink(missing_ok=True)
    in_image, manifest = _image_paths(artifact)
    snippet, warnings = snippet_from_records(data, host_kind, display_path(artifact), in_image, manifest)
    for w in warnings:
        print(f"litebox: warning: {w}", file=err)
    if opts.learn_out is not None:
        _write_atomic(opts.learn_out, snippet)
        print(f"litebox: learned policy written to {display_path(opts.learn_out)} "
              "(nothing was granted: review it and copy what you want into litebox.toml)", file=err)
    else:
        out.write(snippet)
        out.flush()
    return code
