"""`litebox run --learn`: the runtime's learn records → a TOML snippet for the user to review.

Record format (docs/targets/linux-userland.md, "Trace and learn"): one record per line, ``KIND<TAB>VALUE``;
kinds ``path``, ``exec``, ``create`` (absolute paths), ``connect``, ``listen`` (``ADDR:PORT``), ``ioctl``
(``CMD FD WHAT``: a request the library OS refused) and ``enosys`` (a syscall number). Values
escape backslash, tab, newline and other bytes as ``\\\\``, ``\\t``, ``\\n``, ``\\xHH``."""
from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from packager.commands.learnadvice import group_ioctls, ioctl_advice, parse_ioctl, syscall_advice
from packager.commands.learnquick import quick_pack_lines
from packager.config.policy import SockRule, parse_sockaddr
from packager.paths import image_path_problem, is_under

KINDS = ("path", "exec", "create", "connect", "listen", "ioctl", "enosys")
KERNEL_TREES = ("/proc", "/sys", "/dev")
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|.)", re.DOTALL)
_SIMPLE = {b"\\": b"\\", b"t": b"\t", b"n": b"\n", b"r": b"\r", b"0": b"\0"}


@dataclass
class Learned:
    """What one run asked for beyond its image and policy (deduplicated)."""

    paths: dict[str, str] = field(default_factory=dict)  # path -> "path" or "exec"
    connect: list[SockRule] = field(default_factory=list)
    listen: list[SockRule] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ioctls: list[tuple[int, int, str]] = field(default_factory=list)  # (request, fd, what), refused
    creates: list[str] = field(default_factory=list)  # mkdir / open(O_CREAT) that found no parent
    enosys: list[int] = field(default_factory=list)  # syscall numbers, in first-seen order


def unescape(value: bytes) -> bytes:
    """Undoes the record escapes (``\\\\ \\t \\n \\r \\0 \\xHH``); an unknown escape is kept as is."""
    def sub(m: re.Match[bytes]) -> bytes:
        code = m.group(1)
        if code[:1] == b"x" and len(code) == 3:
            return bytes([int(code[1:], 16)])
        return _SIMPLE.get(code, b"\\" + code)
    return _ESCAPE.sub(sub, value)


def parse_records(data: bytes) -> Learned:
    """Parses the learn file's bytes. Promises every well-formed record kept once (exec wins
    over path for the same path), and a warning (with the line number) for each line skipped:
    an unknown kind, no tab, a relative path or a bad address."""
    out = Learned()
    for number, raw in enumerate(data.split(b"\n"), 1):
        if not raw.strip():
            continue
        kind_b, tab, value_b = raw.partition(b"\t")
        kind = kind_b.decode("utf-8", "replace")
        if not tab:
            out.warnings.append(f"learn record {number}: no tab between kind and value, skipped")
            continue
        if kind not in KINDS:
            out.warnings.append(f"learn record {number}: unknown kind {kind!r}, skipped")
            continue
        value = unescape(value_b).decode("utf-8", "surrogateescape")
        if kind in ("ioctl", "enosys"):
            _add_refusal(out, number, kind, value)
            continue
        if kind in ("path", "exec", "create"):
            value = tidy_path(value)
            if image_path_problem(value) or value == "/":
                out.warnings.append(f"learn record {number}: {kind} {value!r} is not a normalized "
                                    "absolute path, skipped")
                continue
            if kind == "create":
                if value not in out.creates:
                    out.creates.append(value)
            elif out.paths.get(value) != "exec":
                out.paths[value] = kind
            continue
        try:
            rule = parse_sockaddr(value)
        except ValueError as exc:
            out.warnings.append(f"learn record {number}: {kind} {value!r}: {exc}, skipped")
            continue
        rules = out.connect if kind == "connect" else out.listen
        if rule not in rules:
            rules.append(rule)
    return out


def _add_refusal(out: Learned, number: int, kind: str, value: str) -> None:
    try:
        if kind == "ioctl":
            item = parse_ioctl(value)
            if item not in out.ioctls:
                out.ioctls.append(item)
        elif int(value) not in out.enosys:
            out.enosys.append(int(value))
    except ValueError:
        out.warnings.append(f"learn record {number}: {kind} {value!r} is malformed, skipped")


def refusal_lines(learned: Learned) -> list[str]:
    """Comment lines for what the sandbox refused (ioctls) or lacks (syscalls): each names
    the request and what to do; none when nothing was refused."""
    if not (learned.ioctls or learned.enosys):
        return []
    lines = ["", "# Refused by the sandbox (nothing in litebox.toml grants these):"]
    lines += [ioctl_advice(item) for item in group_ioctls(learned.ioctls)]
    lines += [syscall_advice(n) for n in sorted(learned.enosys)]
    return lines


def tidy_path(path: str) -> str:
    """An absolute path as the app wrote it, without the trailing and repeated slashes that
    do not change what it names (``/etc/nginx/`` → ``/etc/nginx``); others are left alone."""
    if not path.startswith("/"):
        return path
    tidy = re.sub("/{2,}", "/", path)
    return tidy.rstrip("/") or "/"


# What ld.so probes on every start for optimized library variants (glibc-hwcaps, the legacy
# tls/platform subdirectories) and its optional files: absent on most hosts, never needed.
LD_SO_PROBES = re.compile(r"/(glibc-hwcaps|tls|haswell|avx512_1|x86_64|i686|sse2|x86-64-v[234])(/|$)"
                          r"|^/etc/ld\.so\.(preload|cache)$")


def is_loader_probe(path: str) -> bool:
    """True for the paths ld.so looks for on its own (hwcaps subdirectories, ld.so.preload,
    ld.so.cache)."""
    return bool(LD_SO_PROBES.search(path))


def missing_parents(paths: list[str], in_image: Callable[[str], bool]) -> dict[str, list[str]]:
    """For learned paths whose parent directory the image lacks: that directory → the learned
    paths in it, sorted. Where a service's mkdir or create failed for want of a directory
    (nginx's /var/lib/nginx for /var/lib/nginx/body), that directory is named; a learned
    path that is itself such a directory is not listed again."""
    out: dict[str, list[str]] = {}
    for path in sorted(paths):
        parent = path.rsplit("/", 1)[0] or "/"
        if parent != "/" and not in_image(parent):
            out.setdefault(parent, []).append(path)
    for parent in list(out):
        if any(parent != other and parent.startswith(other + "/") for other in out):
            del out[parent]  # inside another missing directory: one grant covers both
    return out


def toml_string(s: str) -> str | None:
    """``s`` as a TOML basic string, or None when it is not valid Unicode (a non-UTF-8 path)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _comment_safe(s: str) -> str:
    text = s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if (c >= " " and c != "\x7f") or c == "\t" else f"\\x{ord(c):02x}" for c in text)


def render_snippet(learned: Learned, exists: Callable[[str], str | None], source: str,
                   in_image: Callable[[str], bool] | None = None,
                   manifest: Mapping[str, Any] | None = None) -> str:
    """The TOML snippet to review. ``exists(path)`` says what the host has at ``path``: "dir",
    "file" or None. Promises: a header saying nothing was granted; a [files] table mapping each
    learned path the host has to itself (sorted; paths under a listed directory dropped);
    learned paths the host lacks (and kernel file systems) as comments; [policy.network]
    listen/connect lists (sorted) when the run tried the network."""
    lines = [
        f"# Learned by `litebox run --learn` from one run of {source}.",
        "# NOTHING WAS GRANTED. This is a suggestion to review: copy what you want into",
        "# litebox.toml and pack again. Every line widens what the packed app can reach.",
    ]
    present: list[tuple[str, str]] = []
    absent: list[tuple[str, str]] = []
    # ld.so's own probes are never needed: the image holds the libraries at the paths the
    # closure found (the host's ld.so.cache describes the host, not the image).
    wanted = [p for p in sorted(learned.paths) if not is_loader_probe(p)]
    # Missing directories come from failed creates only (a read of a missing file is a [files]
    # matter); /tmp is the in-memory writable layer, and the kernel trees are the runtime's.
    creates = [p for p in learned.creates
               if not is_under(p, "/tmp") and not any(is_under(p, top) for top in KERNEL_TREES)]
    parents = missing_parents(creates, in_image) if in_image is not None else {}
    for path in wanted:
        if any(is_under(path, top) for top in KERNEL_TREES):
            absent.append((path, "a kernel file system: the runtime provides what it has; not packable"))
            continue
        kind = exists(path)
        if kind is None:
            absent.append((path, "does not exist on this host"))
        else:
            present.append((path, kind))
    dirs = [p for p, k in present if k == "dir"]
    present = [(p, k) for p, k in present if not any(p != d and is_under(p, d) for d in dirs)]
    if present or absent:
        lines += ["", "[files]"]
        for path, kind in present:
            key = toml_string(path)
            if key is None:
                lines.append(f"# {_comment_safe(path)}  (not UTF-8: cannot be written in litebox.toml)")
                continue
            notes = []
            if kind == "dir":
                notes.append("a directory: packs everything under it")
            if learned.paths[path] == "exec":
                notes.append("executed: its libraries come with it")
            tail = f"  # {'; '.join(notes)}" if notes else ""
            lines.append(f"{key} = {key}{tail}")
        for path, why in absent:
            lines.append(f"# {_comment_safe(path)}  ({why})")
    if parents:
        lines += ["", "# Missing directories: the app made a directory or created a file in these, and the",
                  "# image has no such directory (logs, caches, pid and temporary files). Grant a writable",
                  "# directory (relative: beside where the artifact starts; make it before the first run):"]
        for top, inside in parents.items():
            shown = ", ".join(_comment_safe(p) for p in inside[:4]) + (" …" if len(inside) > 4 else "")
            lines += [f"#   it looked for: {shown}",
                      "# [[policy.mount]]",
                      f"# host = {json.dumps(top.lstrip('/'))}",
                      f"# guest = {json.dumps(top)}",
                      '# mode = "rw"']
    # A connect to the unspecified address (0.0.0.0, [::]) reaches this host's loopback, and the
    # sandbox checks it as such (docs/config.md, "Unspecified destination"): the rule that
    # allows it names 127.0.0.1 or [::1]. It is shown with that rule, not offered: it is mostly
    # glibc's getaddrinfo ordering its answers for a server that asked for its own passive
    # address (a UDP connect, nothing sent), which the server does not need.
    connect = [r for r in learned.connect if not is_unspecified(r)]
    wildcard = sorted((r for r in learned.connect if is_unspecified(r)), key=SockRule.sort_key)
    if learned.listen or connect:
        lines += ["", "[policy.network]"]
        for name, rules in (("listen", learned.listen), ("connect", connect)):
            if rules:
                items = ", ".join(json.dumps(r.text()) for r in sorted(rules, key=SockRule.sort_key))
                lines.append(f"{name} = [{items}]")
    if wildcard:
        shown = ", ".join(f"{r.text()} (this host: {loopback_of(r).text()})" for r in wildcard)
        rules = ", ".join(json.dumps(loopback_of(r).text()) for r in wildcard)
        lines += ["", f"# Refused connects to the unspecified address, not offered: {shown}.",
                  "# A server that asks getaddrinfo for its own listening address makes these (glibc",
                  "# probes each answer with a UDP connect; nothing is sent) and works without them.",
                  "# An app that really connects there reaches this host's loopback; the rule is:",
                  f"# connect = [{rules}]"]
    if manifest is not None:
        lines += quick_pack_lines(manifest, learned.listen, connect, list(parents))
    lines += refusal_lines(learned)
    if not (learned.paths or learned.listen or learned.connect or learned.ioctls or learned.enosys
            or parents):
        lines += ["", "# Nothing to learn: the app asked for nothing outside its image and policy."]
    return "\n".join(lines) + "\n"


def is_unspecified(rule: SockRule) -> bool:
    """Whether ``rule``'s address is the unspecified one (0.0.0.0 or ::)."""
    return not any(rule.address)


def loopback_of(rule: SockRule) -> SockRule:
    """The loopback endpoint (127.0.0.1 or ::1, same port) that a destination at the
    unspecified address reaches, and that the sandbox checks it as."""
    address = bytes([127, 0, 0, 1]) if rule.family == 4 else bytes(15) + b"\x01"
    return dataclasses.replace(rule, address=address)


def snippet_from_records(data: bytes, exists: Callable[[str], str | None], source: str,
                         in_image: Callable[[str], bool] | None = None,
                         manifest: Mapping[str, Any] | None = None) -> tuple[str, list[str]]:
    """The snippet for a learn file's bytes, and the warnings for records that were skipped.
    ``in_image(path)`` says whether the artifact's image has ``path`` (for missing directories);
    with the artifact's ``manifest`` a quick-mode artifact also gets the `litebox pack` command."""
    learned = parse_records(data)
    return render_snippet(learned, exists, source, in_image, manifest), learned.warnings


def host_kind(path: str) -> str | None:
    """What this host has at ``path`` (symlinks followed): "dir", "file", or None."""
    try:
        return "dir" if os.path.isdir(path) else ("file" if os.path.exists(path) else None)
    except (OSError, ValueError):
        return None

