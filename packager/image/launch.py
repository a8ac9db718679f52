"""Config → the image's launch configuration records (ENTRY, ARG, ENV, ...)."""
from __future__ import annotations

from packager.config.config import Config
from packager.image.imageformat import (
    TAG_ARG,
    TAG_CWD,
    TAG_ENTRY,
    TAG_ENV,
    TAG_ENV_INHERIT,
    TAG_ENV_PASS,
    TAG_HOSTNAME,
    encode_tlv,
)
from packager.image.policyrecords import policy_records


def _b(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def launch_records(cfg: Config) -> list[tuple[int, bytes]]:
    """The launch records for ``cfg``: ENTRY; argv[0] (the entry's image path) then [app].args
    as ARG; [app].env as ENV; [policy].env_passthrough as ENV_PASS; ENV_INHERIT (1 in quick
    mode); CWD; HOSTNAME; then the policy records (IDS, NET_LISTEN, NET_CONNECT, MOUNT, LIMIT:
    packager/image/policyrecords.py). Always in this order, so equal configs give equal bytes."""
    records: list[tuple[int, bytes]] = [(TAG_ENTRY, _b(cfg.app.entry)), (TAG_ARG, _b(cfg.app.entry))]
    records += [(TAG_ARG, _b(a)) for a in cfg.app.args]
    records += [(TAG_ENV, _b(f"{k}={v}")) for k, v in cfg.app.env]
    records += [(TAG_ENV_PASS, _b(n)) for n in cfg.policy.env_passthrough]
    records.append((TAG_ENV_INHERIT, b"\x01" if cfg.env_inherit else b"\x00"))
    records.append((TAG_CWD, _b(cfg.app.cwd)))
    records.append((TAG_HOSTNAME, _b(cfg.policy.hostname)))
    records += policy_records(cfg.policy)
    return records


def launch_config_bytes(cfg: Config) -> bytes:
    """The encoded launch config region for ``cfg``."""
    return encode_tlv(launch_records(cfg))
