"""Stopping child processes on interruption: a child started in its own process group is
stopped with everything it started; and SIGTERM becomes an interruption like Ctrl-C."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from types import FrameType

GRACE_SECONDS = 5.0  # how long a child gets to clean up after SIGINT before SIGKILL


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM (see ``terminate_as_interrupt``)."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def terminate_as_interrupt() -> None:
    """From now on SIGTERM raises Terminated (a KeyboardInterrupt) in the main thread, so the
    same clean-up runs for `kill PID` as for Ctrl-C. Call it only from the CLI."""
    signal.signal(signal.SIGTERM, _raise_terminated)


def stop(proc: subprocess.Popen[str] | subprocess.Popen[bytes], own_group: bool) -> None:
    """Stops ``proc`` and, when it leads its own process group (``start_new_session=True``),
    everything in that group: SIGINT first (so it can remove its temporary files), then
    SIGKILL to whatever is left after GRACE_SECONDS. Returns once ``proc`` has exited."""

    def send(sig: int) -> bool:
        try:
            if own_group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False

    if proc.poll() is None and send(signal.SIGINT):
        try:
            proc.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            proc.wait()
    if own_group:
        send(signal.SIGKILL)  # what the leader started and left behind
    proc.wait()


def remove_temporaries(directory: Path, pattern: str) -> list[Path]:
    """Removes the files matching ``pattern`` (a glob, recursive with ``**``) under
    ``directory``; returns them. For the temporary names our own writers use."""
    removed = []
    if not directory.is_dir():
        return removed
    for path in directory.glob(pattern):
        try:
            if path.is_file() or path.is_symlink():
                path.unlink()
                removed.append(path)
        except FileNotFoundError:
            pass
    return removed
