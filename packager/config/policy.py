"""[policy] of litebox.toml → a validated ``PolicyConfig``: ids, network rules, mounts, limits.

The policy is default deny: with no [policy.network] and no [[policy.mount]] the app has no
network and sees no host directory. Run-time meaning: docs/config.md; encoding:
docs/image-format.md (launch records 8-12)."""
from __future__ import annotations

import ipaddress
import posixpath
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from packager.config.tomlcheck import Where, is_int, suggest, type_name
from packager.paths import image_path_problem, is_under

DEFAULT_HOSTNAME = "litebox"
MAX_ID = 2**32 - 2  # (u32)-1 means "unchanged" to the kernel's set*id calls
MAX_U64 = 2**64 - 1
MIN_MEMORY = 4096
LIMIT_KINDS = ("memory", "open_files", "threads", "processes")  # kinds 1..4, in this order
RESERVED_GUEST = ("/dev", "/proc")
POLICY_KEYS = ("env_passthrough", "hostname", "uid", "gid", "network", "mount", "limits")
NETWORK_KEYS = ("listen", "connect")
MOUNT_KEYS = ("host", "guest", "mode")
MODES = ("ro", "rw")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^([0-9]+)\s*([KMGTkmgt]?)(?:i?B)?$")


@dataclass(frozen=True)
class SockRule:
    """One ``ADDR:PORT`` of [policy.network]: family 4 or 6, the address, port (0 = any)."""

    family: int
    address: bytes
    port: int

    def text(self) -> str:
        """The canonical ``ADDR:PORT`` form (IPv6 in brackets, compressed)."""
        addr = ipaddress.ip_address(self.address)
        host = f"[{addr.compressed}]" if self.family == 6 else addr.compressed
        return f"{host}:{self.port}"

    def sort_key(self) -> tuple[int, bytes, int]:
        """A total order: family, address bytes, port."""
        return (self.family, self.address, self.port)


@dataclass(frozen=True)
class MountRule:
    """One [[policy.mount]]: ``host`` as written (relative paths resolve at run time against
    the directory the artifact is started from), ``guest`` absolute, ``mode`` ro or rw."""

    host: str
    guest: str
    mode: str = "ro"


@dataclass(frozen=True)
class PolicyConfig:
    """[policy]: what of the host the app may see. ``uid``/``gid`` None = the host's real
    ids; ``limits`` holds only the limits that are set, by kind name."""

    env_passthrough: tuple[str, ...] = ()
    hostname: str = DEFAULT_HOSTNAME
    uid: int | None = None
    gid: int | None = None
    listen: tuple[SockRule, ...] = ()
    connect: tuple[SockRule, ...] = ()
    mounts: tuple[MountRule, ...] = ()
    limits: tuple[tuple[str, int], ...] = ()

    def default_deny(self) -> str | None:
        """The words saying what stays denied by default, or None when both are granted."""
        parts = []
        if not self.listen and not self.connect:
            parts.append("no network")
        if not self.mounts:
            parts.append("no host directories")
        return "default deny: " + ", ".join(parts) if parts else None

    def to_json(self, env_inherit: bool) -> dict[str, Any]:
        """The resolved policy as the manifest records it (docs/manifest.md)."""
        return {
            "env_inherit": env_inherit,
            "env_passthrough": list(self.env_passthrough),
            "hostname": self.hostname,
            "ids": None if self.uid is None else {"uid": self.uid, "gid": self.gid},
            "network": {"listen": [r.text() for r in self.listen],
                        "connect": [r.text() for r in self.connect]},
            "mounts": [{"host": m.host, "guest": m.guest, "mode": m.mode} for m in self.mounts],
            "limits": dict(self.limits),
        }


def parse_sockaddr(text: str) -> SockRule:
    """Parses ``ADDR:PORT`` (IPv4, or IPv6 in brackets; port 0..65535, 0 = any).
    Raises ValueError with a sentence saying what is wrong."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError("an IPv6 address needs a closing ']' (e.g. \"[::1]:8080\")")
        host, rest = text[1:close], text[close + 1:]
        if not rest.startswith(":"):
            raise ValueError("missing ':PORT' after the address (use :0 for any port)")
        port_text = rest[1:]
    else:
        if text.count(":") > 1:
            raise ValueError("an IPv6 address goes in brackets, e.g. \"[::1]:8080\"")
        if ":" not in text:
            raise ValueError("missing ':PORT' (use :0 for any port)")
        host, port_text = text.rsplit(":", 1)
    if not port_text.isascii() or not port_text.isdigit():
        raise ValueError(f"port {port_text!r} is not a number 0..65535")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"port {port} is not in 0..65535")
    if "%" in host:
        raise ValueError("IPv6 scope ids (%...) are not supported")
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address (only addresses, not host names)") from None
    if text.startswith("[") and addr.version != 6:
        raise ValueError("brackets are for IPv6 addresses only")
    return SockRule(addr.version, addr.packed, port)


def parse_size(value: Any) -> int | None:
    """Bytes from an integer or a string like ``512M``, ``2G``, ``64K`` (binary units);
    None when the value is neither."""
    if is_int(value):
        return int(value)
    if isinstance(value, str):
        m = _SIZE.match(value.strip())
        if m:
            return int(m.group(1)) * _UNITS[m.group(2).upper()]
    return None


def _ids(w: Where, p: Mapping[str, Any]) -> tuple[int | None, int | None]:
    for key in ("uid", "gid"):
        if key in p:
            v = p[key]
            if not is_int(v):
                raise w.fail(f"[policy].{key}", f"expected an integer, got {type_name(v)}")
            if not 0 <= v <= MAX_ID:
                raise w.fail(f"[policy].{key}", f"{v} is not in 0..{MAX_ID}")
    if ("uid" in p) != ("gid" in p):
        missing = "gid" if "uid" in p else "uid"
        raise w.fail(f"[policy].{missing}", "missing (uid and gid are set together; "
                                            "leave both out to show the host's real ids)")
    return p.get("uid"), p.get("gid")


def _network(w: Where, net: Any) -> tuple[tuple[SockRule, ...], tuple[SockRule, ...]]:
    if not isinstance(net, dict):
        raise w.fail("[policy.network]", f"expected a table, got {type_name(net)}")
    w.only_keys(net, NETWORK_KEYS, "[policy.network]")
    out: list[tuple[SockRule, ...]] = []
    for key in NETWORK_KEYS:
        items = net.get(key, [])
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            raise w.fail(f"[policy.network].{key}",
                         f"expected a list of strings like \"127.0.0.1:8080\", got {type_name(items)}")
        rules: list[SockRule] = []
        for text in items:
            try:
                rule = parse_sockaddr(text)
            except ValueError as exc:
                raise w.fail(f"[policy.network].{key}", f"{text!r}: {exc}") from None
            if rule in rules:
                raise w.fail(f"[policy.network].{key}", f"{text!r} is listed twice")
            rules.append(rule)
        out.append(tuple(rules))
    return out[0], out[1]


def _mount(w: Where, i: int, m: Any) -> MountRule:
    name = f"[policy.mount][{i}]"
    if not isinstance(m, dict):
        raise w.fail(name, f"expected a table, got {type_name(m)}")
    w.only_keys(m, MOUNT_KEYS, name)
    for key in ("host", "guest"):
        if key not in m:
            raise w.fail(f"{name}.{key}", "missing")
    for key in MOUNT_KEYS:
        if key in m and not isinstance(m[key], str):
            raise w.fail(f"{name}.{key}", f"expected a string, got {type_name(m[key])}")
    host, guest, mode = m["host"], m["guest"], m.get("mode", "ro")
    if not host or "\0" in host:
        raise w.fail(f"{name}.host", "must be a non-empty path without NUL bytes")
    problem = image_path_problem(guest)
    if problem:
        raise w.fail(f"{name}.guest", f"{guest!r} {problem}")
    if guest == "/":
        raise w.fail(f"{name}.guest", "cannot mount over the root directory")
    for top in RESERVED_GUEST:
        if is_under(guest, top):
            raise w.fail(f"{name}.guest", f"{guest!r} lies in {top}, which the runtime provides")
    if mode not in MODES:
        raise w.fail(f"{name}.mode", f"{mode!r} is not \"ro\" or \"rw\"" + suggest(mode, MODES))
    return MountRule(posixpath.normpath(host), guest, mode)


def _mounts(w: Where, raw: Any) -> tuple[MountRule, ...]:
    if not isinstance(raw, list):
        raise w.fail("[policy].mount", f"expected an array of tables ([[policy.mount]]), got {type_name(raw)}")
    mounts = [_mount(w, i, m) for i, m in enumerate(raw, 1)]
    for i, a in enumerate(mounts, 1):
        for j, b in enumerate(mounts[:i - 1], 1):
            if is_under(a.guest, b.guest) or is_under(b.guest, a.guest):
                how = "is the same as" if a.guest == b.guest else (
                    "lies inside" if is_under(a.guest, b.guest) else "contains")
                raise w.fail(f"[policy.mount][{i}].guest",
                             f"{a.guest!r} {how} [policy.mount][{j}].guest {b.guest!r}")
    return tuple(mounts)


def _limits(w: Where, raw: Any) -> tuple[tuple[str, int], ...]:
    if not isinstance(raw, dict):
        raise w.fail("[policy.limits]", f"expected a table, got {type_name(raw)}")
    w.only_keys(raw, LIMIT_KINDS, "[policy.limits]")
    out: list[tuple[str, int]] = []
    for kind in LIMIT_KINDS:
        if kind not in raw:
            continue
        v = raw[kind]
        key = f"[policy.limits].{kind}"
        if kind == "memory":
            n = parse_size(v)
            if n is None:
                raise w.fail(key, f"expected bytes as an integer or a string like \"512M\", \"2G\", "
                                  f"\"64K\", got {v!r}")
            if not MIN_MEMORY <= n <= MAX_U64:
                raise w.fail(key, f"{n} bytes is not in {MIN_MEMORY}..{MAX_U64}")
        else:
            if not is_int(v):
                raise w.fail(key, f"expected a positive integer, got {type_name(v)}")
            n = int(v)
            if not 1 <= n <= MAX_U64:
                raise w.fail(key, f"{n} is not a positive integer")
        out.append((kind, n))
    return tuple(out)


def parse_policy(w: Where, p: Mapping[str, Any]) -> PolicyConfig:
    """The [policy] table ``p`` as a PolicyConfig. Promises every key known and every value
    valid (addresses, ports, mount paths and modes, limits), or a PackError from ``w`` naming
    the file, the key and the problem. Host paths of mounts are kept as written."""
    w.only_keys(p, POLICY_KEYS, "[policy]")
    env = p.get("env_passthrough", [])
    if not isinstance(env, list) or not all(isinstance(x, str) for x in env):
        raise w.fail("[policy].env_passthrough", f"expected a list of strings, got {type_name(env)}")
    for n in env:
        if not n or "=" in n or "\0" in n:
            raise w.fail("[policy].env_passthrough", f"{n!r} is not a valid variable name")
    hostname = p.get("hostname", DEFAULT_HOSTNAME)
    if not isinstance(hostname, str):
        raise w.fail("[policy].hostname", f"expected a string, got {type_name(hostname)}")
    if not hostname or len(hostname.encode()) > 64 or "\0" in hostname:
        raise w.fail("[policy].hostname", "must be 1 to 64 bytes")
    uid, gid = _ids(w, p)
    listen, connect = _network(w, p.get("network", {}))
    mounts = _mounts(w, p.get("mount", []))
    limits = _limits(w, p.get("limits", {}))
    return PolicyConfig(tuple(env), hostname, uid, gid, listen, connect, mounts, limits)


def mount_collision(mounts: Iterable[MountRule], packed: Iterable[tuple[str, str, str]]) -> str | None:
    """The first clash between a mount's guest path and a packed image path, as
    ``"[policy.mount][i].guest: ..."`` naming both, or None. ``packed`` holds (path, kind,
    why) triples. A guest clashes when it is a packed path, contains one, or lies below a
    packed non-directory; a guest below a packed directory is fine (a new mount point)."""
    items = list(packed)
    for i, m in enumerate(mounts, 1):
        for path, kind, why in items:
            if path == "/":
                continue
            if path == m.guest:
                how = "is"
            elif is_under(path, m.guest):
                how = "contains"
            elif is_under(m.guest, path) and kind != "dir":
                how = f"lies below the {kind}"
            else:
                continue
            return (f"[policy.mount][{i}].guest: {m.guest!r} {how} {path!r}, which the image "
                    f"already packs ({why}); choose another guest path")
    return None
