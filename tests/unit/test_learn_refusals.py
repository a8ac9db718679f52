"""`--learn` records of what the sandbox refused (``ioctl``) or lacks (``enosys``) become
comment lines that name the request and say what to do; they are never granted."""
from __future__ import annotations

from packager.commands.learn import parse_records, render_snippet, snippet_from_records


def _snippet(records: bytes) -> str:
    text, warnings = snippet_from_records(records, lambda p: None, "A")
    assert warnings == []
    return text


def test_a_refused_terminal_ioctl_is_named_with_advice() -> None:
    text = _snippet(b"ioctl\t0x00005402 1 host\n")
    assert "# ioctl TCSETS (0x5402) on fd 1 refused: the app got ENOTTY; the sandbox does not change " \
           "terminal settings" in text
    assert "Nothing to learn" not in text


def test_an_unknown_ioctl_is_shown_once_with_every_fd() -> None:
    text = _snippet(b"ioctl\t0x4c42ab01 3 file\nioctl\t0x4c42ab01 4 file\nioctl\t0x4c42ab01 3 file\n")
    assert text.count("ioctl 0x4c42ab01") == 1
    assert "on fds 3, 4 refused" in text and "on a file" in text


def test_an_unimplemented_syscall_is_named_with_its_workaround() -> None:
    text = _snippet(b"enosys\t206\nenosys\t206\nenosys\t99999\n")
    assert text.count("syscall io_setup (206) is not implemented by LiteBox: the app got ENOSYS") == 1
    assert "nginx: `aio off;`" in text
    assert "syscall syscall_99999 (99999) is not implemented" in text


def test_refusals_are_comments_not_grants() -> None:
    text = _snippet(b"ioctl\t0x00005402 1 host\nenosys\t206\n")
    assert all(line.startswith("#") or not line for line in text.splitlines())


def test_malformed_refusal_records_are_warned_about() -> None:
    learned = parse_records(b"ioctl\tnonsense\nenosys\tx\nioctl\t0x1 2 elsewhere\n")
    assert learned.ioctls == [] and learned.enosys == []
    assert [w.split(":")[0] for w in learned.warnings] == ["learn record 1", "learn record 2", "learn record 3"]
    assert "Nothing to learn" in render_snippet(learned, lambda p: None, "A")
