"""One pack at a time per build state directory.

Packs whose output folders share a parent share ``.litebox-cache`` (its signature database,
plan, request and event files); two at once would read each other's half-written files. The
pack holds an exclusive ``flock`` on ``STATE/lock`` from before it touches the state until it
is done; a second pack waits for it (saying so) and then finds most of its work done.
"""
from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from packager.build.progress import Progress
from packager.errors import PackError

LOCK_NAME = "lock"


@contextmanager
def state_lock(state: Path, progress: Progress) -> Iterator[None]:
    """Holds the exclusive lock of build state directory ``state`` (created if missing) for
    the ``with`` block; waits, after one progress line, while another pack holds it. The lock
    goes with the process, so a killed pack never leaves it held."""
    try:
        state.mkdir(parents=True, exist_ok=True)
        fd = os.open(state / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise PackError(f"{state}: cannot use the build state directory: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not progress.quiet:  # always said: a silent wait looks like a hang in CI logs
                print(f"litebox: waiting for another litebox pack that uses {state}", file=progress.stream,
                      flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
