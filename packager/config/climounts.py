"""`litebox pack --mount HOST:GUEST[:ro|rw]` and `--listen ADDR:PORT`: host directories and
listen addresses granted from the command line (quick mode); mounts are
checked by the same rules as `[[policy.mount]]` and added to the policy (so they are in the
image's launch config, the manifest and `litebox inspect`, like any mount)."""
from __future__ import annotations

import dataclasses
from typing import Any

from packager.config.policy import MODES, PolicyConfig, _mounts, _network
from packager.config.tomlcheck import Where
from packager.errors import PackError


def parse_mount_flag(text: str) -> dict[str, Any]:
    """``HOST:GUEST`` or ``HOST:GUEST:MODE`` as a [[policy.mount]] table (mode ro by default).
    A relative HOST (``.``) is resolved when the artifact starts, against the directory it is
    started from: ``--mount .:/work`` grants the current directory of each run."""
    parts = text.split(":")
    if len(parts) == 3 and parts[2] in MODES:
        host, guest, mode = parts
    elif len(parts) == 2:
        (host, guest), mode = parts, "ro"
    else:
        raise PackError(f"--mount {text}: expected HOST:GUEST or HOST:GUEST:ro|rw")
    return {"host": host, "guest": guest, "mode": mode}


def with_cli_mounts(policy: PolicyConfig, flags: tuple[str, ...]) -> PolicyConfig:
    """``policy`` with the ``--mount`` flags appended to its mounts, all checked together
    (a guest path inside another's is refused, as in litebox.toml)."""
    if not flags:
        return policy
    raw = [dataclasses.asdict(m) for m in policy.mounts] + [parse_mount_flag(f) for f in flags]
    mounts = _mounts(Where("--mount"), raw)
    return dataclasses.replace(policy, mounts=mounts)


def with_cli_listens(policy: PolicyConfig, flags: tuple[str, ...]) -> PolicyConfig:
    """``policy`` with the ``--listen ADDR:PORT`` flags added to [policy.network] listen,
    checked by the same rules (a bad address or a duplicate is a PackError naming the flag)."""
    if not flags:
        return policy
    listen = [r.text() for r in policy.listen] + list(flags)
    rules, _ = _network(Where("--listen"), {"listen": listen})
    return dataclasses.replace(policy, listen=rules)
