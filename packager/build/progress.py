"""Progress output on stderr: step lines, a spinner for long commands, and -v detail."""
from __future__ import annotations

import collections
import itertools
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Mapping, Sequence

from packager.build import children


@dataclass
class CommandResult:
    """Exit status, stdout, and the last lines of stderr of a finished command."""

    returncode: int
    stdout: str
    stderr_tail: list[str] = field(default_factory=list)
    error_lines: list[str] = field(default_factory=list)  # the first stderr lines starting "error"


def _size(n: int) -> str:
    for unit, shift in (("GB", 30), ("MB", 20), ("kB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{n} B"


class Progress:
    """Writes progress for humans to ``stream`` (stderr by default). ``verbose`` shows
    detail lines and the output of commands; a spinner appears only on a terminal."""

    def __init__(self, stream: IO[str] | None = None, verbose: bool = False, quiet: bool = False) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.verbose = verbose
        self.quiet = quiet
        self._last_draw = 0.0
        self._drawn = False

    @classmethod
    def from_fd(cls, fd: int | None, verbose: bool, quiet: bool = False) -> Progress:
        """A Progress writing to file descriptor ``fd`` (stderr if None or unusable)."""
        if fd is not None:
            try:
                return cls(os.fdopen(os.dup(fd), "w", buffering=1, encoding="utf-8",
                                     errors="replace"), verbose, quiet)
            except OSError:
                pass
        return cls(sys.stderr, verbose, quiet)

    def _tty(self) -> bool:
        """True on an interactive terminal (and not in CI, where CI=true means plain lines)."""
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            return False
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def step(self, message: str) -> None:
        """One line saying what is happening now, unless quiet (plain lines in pipes and CI)."""
        if not self.quiet:
            print(f"litebox: {message}", file=self.stream, flush=True)

    def counter(self, label: str, done: int, total: int, nbytes: int, total_bytes: int) -> None:
        """Progress inside a long step, in files and bytes: a line redrawn in place on a
        terminal (at most ten times a second), one summary line when ``done == total``; in
        pipes and CI only the summary line; nothing when quiet."""
        if self.quiet:
            return
        text = f"{label}: {done}/{total} files, {_size(nbytes)} of {_size(total_bytes)}"
        if done >= total:
            if self._drawn:
                self.stream.write("\r" + " " * 100 + "\r")
                self._drawn = False
            print(f"litebox:   {text}", file=self.stream, flush=True)
            return
        now = time.monotonic()
        if self._tty() and now - self._last_draw >= 0.1:
            self._last_draw = now
            self._drawn = True
            self.stream.write(f"\r  {text}"[:100].ljust(100))
            self.stream.flush()

    def done(self, message: str) -> None:
        """The one summary line of a successful command, always shown."""
        if not self.quiet:
            print(f"litebox: {message}", file=self.stream, flush=True)

    def detail(self, message: str) -> None:
        """One line shown only with -v."""
        if self.verbose and not self.quiet:
            print(f"litebox:   {message}", file=self.stream, flush=True)

    def warn(self, message: str) -> None:
        """A warning line, always shown."""
        print(f"litebox: warning: {message}", file=self.stream, flush=True)

    def run(self, argv: Sequence[str], label: str, cwd: Path | None = None,
            env: Mapping[str, str] | None = None, capture_stdout: bool = False,
            own_group: bool = False) -> CommandResult:
        """Runs ``argv``. With -v its stderr (and stdout unless captured) is shown as it comes;
        otherwise a spinner with the latest stderr line turns on a terminal. Promises the
        exit status, the captured stdout, the last 20 stderr lines and the first lines
        starting with "error". ``own_group`` starts it in its own process group; an
        interruption (KeyboardInterrupt, SIGTERM via children.Terminated) stops it (and its
        group) before propagating."""
        tail: collections.deque[str] = collections.deque(maxlen=20)
        try:
            proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env) if env is not None else None,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, text=True, errors="replace",
                                    start_new_session=own_group)
        except OSError as exc:
            return CommandResult(127, "", [f"{argv[0]}: {exc.strerror}"])
        out_parts: list[str] = []
        errors: list[str] = []
        latest = [label]

        def read_out() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if capture_stdout:
                    out_parts.append(line)
                else:
                    tail.append(line.rstrip("\n"))
                    if self.verbose:
                        self.stream.write(line)

        def read_err() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                tail.append(line.rstrip("\n"))
                if line.startswith("error") and len(errors) < 5:
                    errors.append(line.strip())
                latest[0] = line.strip() or latest[0]
                if self.verbose:
                    self.stream.write(line)
                    self.stream.flush()

        threads = [threading.Thread(target=read_out, daemon=True), threading.Thread(target=read_err, daemon=True)]
        spin = self._tty() and not self.verbose and not self.quiet
        frames = itertools.cycle("|/-\\")
        try:
            # Inside the try: the child may already be printing while a reader thread starts,
            # and an interruption there must stop it too.
            for t in threads:
                t.start()
            while proc.poll() is None:
                if spin:
                    text = f"\r{next(frames)} {label}: {latest[0]}"[:100]
                    self.stream.write(text.ljust(100))
                    self.stream.flush()
                time.sleep(0.1)
        except BaseException:
            children.stop(proc, own_group)
            raise
        for t in threads:
            t.join()
        if spin:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()
        return CommandResult(proc.returncode, "".join(out_parts), list(tail), errors)
