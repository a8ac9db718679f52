"""The build plan: everything the analysis decided about one app, as canonical JSON, so the
build graph (SCons) can cache the later steps by content. Plan → entries is lossless."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packager.analysis.collect import Collected
from packager.analysis.statcache import StatCache
from packager.build.canonjson import canonical_json
from packager.config.config import Config
from packager.errors import PackError
from packager.image.imageformat import POLICY_TAGS, TAG_NAMES, decode_tlv
from packager.image.launch import launch_config_bytes
from packager.image.policyrecords import DecodedPolicy, decoded_policy_json
from packager.image.rootfs import FsEntry
from packager.paths import display_path

if TYPE_CHECKING:  # the image writer (zstandard, capstone) is imported only when an image is built
    from packager.image.image import ImageSettings

PLAN_VERSION = 2


def launch_summary(launch: bytes) -> dict[str, Any]:
    """The launch config as the manifest shows it: entry, argv, env, env_pass, env_inherit,
    cwd, hostname, and the policy records: ids, listen, connect, mounts, limits."""
    out: dict[str, Any] = {"argv": [], "env": [], "env_pass": [], "env_inherit": False,
                           "cwd": "/", "hostname": "litebox", "entry": ""}
    policy = DecodedPolicy()
    for tag, value in decode_tlv(launch):
        if tag in POLICY_TAGS:
            policy.add(tag, value)
            continue
        text = value.decode("utf-8", "surrogateescape")
        name = TAG_NAMES.get(tag)
        if name == "ENTRY":
            out["entry"] = text
        elif name == "ARG":
            out["argv"].append(text)
        elif name == "ENV":
            out["env"].append(text)
        elif name == "ENV_PASS":
            out["env_pass"].append(text)
        elif name == "ENV_INHERIT":
            out["env_inherit"] = value == b"\x01"
        elif name == "CWD":
            out["cwd"] = text
        elif name == "HOSTNAME":
            out["hostname"] = text
    out.update(decoded_policy_json(policy))
    return out


def make_plan(cfg: Config, collected: Collected, cache: StatCache | None = None) -> dict[str, Any]:
    """The plan for ``cfg``: resolved config and policy, launch config, image settings, and
    every entry with its host source (and that file's sha256), mode and reason. Equal plans
    give equal images, so the plan is the image step's whole content signature."""
    cache = cache or StatCache(None)
    launch = launch_config_bytes(cfg)
    entries = []
    for e in collected.rootfs.entries():
        item: dict[str, Any] = {"path": e.path, "kind": e.kind, "mode": e.mode, "reason": e.reason}
        if e.host is not None:
            item["host"] = str(e.host)
            try:
                item["sha256"] = cache.sha256(e.host, collected.stats.get(str(e.host)))
            except OSError as exc:
                raise PackError(f"{display_path(e.host)}: cannot read: {exc.strerror} ({e.reason})") from None
        if e.data is not None:
            item["data_hex"] = e.data.hex()
        if e.target is not None:
            item["target"] = e.target
        entries.append(item)
    return {
        "plan_version": PLAN_VERSION,
        "name": cfg.app.name,
        "mode": cfg.mode,
        "project_dir": str(cfg.project_dir),
        "config_file": str(cfg.config_file) if cfg.config_file else None,
        "entry_host": str(cfg.entry_host) if cfg.entry_host else None,
        "entry_kind": collected.entry_info.kind,
        "config": cfg.to_json(),
        "policy": cfg.policy.to_json(cfg.env_inherit),
        "launch": launch_summary(launch),
        "launch_hex": launch.hex(),
        "settings": {"chunk_size": cfg.build.chunk_size,
                     "compression_level": cfg.build.compression_level,
                     "mtime": cfg.build.source_date_epoch,
                     "rewrite": cfg.build.rewrite},
        "source_date_epoch": cfg.build.source_date_epoch,
        "ld_cache_generated": collected.ld_cache_generated,
        "entries": entries,
    }


def plan_entries(plan: dict[str, Any]) -> list[FsEntry]:
    """The FsEntry list the plan describes."""
    out = []
    for item in plan["entries"]:
        out.append(FsEntry(
            path=item["path"], kind=item["kind"], mode=item["mode"], reason=item["reason"],
            host=Path(item["host"]) if "host" in item else None,
            data=bytes.fromhex(item["data_hex"]) if "data_hex" in item else None,
            target=item.get("target"),
        ))
    return out


def plan_settings(plan: dict[str, Any], rewrite_entry: int | None = None) -> ImageSettings:
    """The image settings the plan records; ``rewrite_entry`` is the runtime's fast-path
    entry when the plan asks for syscall rewriting."""
    from packager.image.image import ImageSettings

    s = plan["settings"]
    expected = {e["path"]: e["sha256"] for e in plan["entries"] if "sha256" in e}
    return ImageSettings(chunk_size=s["chunk_size"], compression_level=s["compression_level"], mtime=s["mtime"],
                         expected=expected, rewrite_entry=rewrite_entry if s.get("rewrite") else None)


def write_plan(plan: dict[str, Any], path: Path) -> None:
    """Writes the plan as canonical JSON, leaving the file untouched when nothing changed."""
    try:
        data = canonical_json(plan)
    except ValueError as exc:
        raise PackError(f"cannot record the build plan: {exc}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def read_json(path: Path) -> Any:
    """Parses a JSON file the packager wrote."""
    return json.loads(path.read_bytes())
