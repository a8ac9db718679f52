"""A container image turned into a litebox project: ``rootfs/`` from its layers and a
``litebox.toml`` from its config (Entrypoint + Cmd, Env, WorkingDir, User), merged with the
user's ``litebox.toml`` beside the image (or ``--config``), whose keys win.

ExposedPorts are never granted: each becomes a commented ``[policy.network]`` suggestion in the
generated file and one warning line.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packager.build.progress import Progress
from packager.config.config import load_toml
from packager.containers.imagesource import ImageSource, read_image
from packager.containers.layers import apply_layers
from packager.containers.reference import SOURCE_FILE
from packager.errors import PackError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DONE = ".complete"


@dataclass(frozen=True)
class ImageProject:
    """The generated project directory, its config file, and what the manifest records."""

    project_dir: Path
    config_file: Path
    source: dict[str, Any]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise PackError(f"cannot write {type(value).__name__} to litebox.toml")


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """TOML text for the nested tables of a litebox.toml (scalars, lists, inline env tables,
    sub-tables and arrays of tables)."""
    lines: list[str] = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) and not _is_table_list(v)}
    for key, value in scalars.items():
        lines.append(f"{json.dumps(key)} = {_toml_value(value)}")
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else key
        if key == "env" and prefix == "app":
            continue
        if isinstance(value, dict):
            lines.append(f"\n[{name}]")
            body = to_toml(value, name)
            if body:
                lines.append(body)
        elif _is_table_list(value):
            for item in value:
                lines.append(f"\n[[{name}]]")
                lines.append(to_toml(item, name))
    if prefix == "app" and "env" in data:
        lines.append(f"env = {_toml_value(data['env'])}")
    return "\n".join(lines)


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _resolve_entry(rootfs: Path, program: str, env: dict[str, str]) -> str:
    if program.startswith("/"):
        return posixpath.normpath(program)
    for folder in env.get("PATH", DEFAULT_PATH).split(":"):
        candidate = posixpath.join(folder or "/", program)
        if (rootfs / candidate.lstrip("/")).is_symlink() or (rootfs / candidate.lstrip("/")).is_file():
            return candidate
    raise PackError(f"the image's program {program!r} is not in its PATH ({env.get('PATH', DEFAULT_PATH)})")


def _lookup(rootfs: Path, table: str, name: str) -> int | None:
    try:
        for line in (rootfs / "etc" / table).read_text(encoding="utf-8", errors="replace").splitlines():
            fields = line.split(":")
            if len(fields) > 3 and fields[0] == name and fields[2].isdigit():
                return int(fields[2])
    except OSError:
        return None
    return None


def _ids(rootfs: Path, user: str, reference: str) -> dict[str, int]:
    """``policy`` uid/gid from the config's User (``name`` or ``uid`` [``:group`` or ``:gid``])."""
    if not user:
        return {}
    name, _, group = user.partition(":")
    uid = int(name) if name.isdigit() else _lookup(rootfs, "passwd", name)
    if uid is None:
        raise PackError(f"{reference}: User {user!r}: no user {name!r} in the image's /etc/passwd")
    if group:
        gid = int(group) if group.isdigit() else _lookup(rootfs, "group", group)
        if gid is None:
            raise PackError(f"{reference}: User {user!r}: no group {group!r} in the image's /etc/group")
    else:
        gid = None
        try:
            for line in (rootfs / "etc/passwd").read_text(encoding="utf-8", errors="replace").splitlines():
                fields = line.split(":")
                if len(fields) > 3 and fields[2] == str(uid) and fields[3].isdigit():
                    gid = int(fields[3])
                    break
        except OSError:
            pass
        gid = uid if gid is None else gid
    return {"uid": uid, "gid": gid}


def _name(reference: str) -> str:
    path = reference.split(":", 1)[1]
    base = Path(path.rsplit(":", 1)[0] if reference.startswith("oci:") and ":" in path else path).name
    base = re.sub(r"\.(tar|tar\.gz|tgz)$", "", base)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.") or "image"


def generated_config(image: ImageSource, rootfs: Path) -> tuple[dict[str, Any], list[str]]:
    """The litebox.toml tables the image's config implies, and the listen suggestions of its
    ExposedPorts (never put in the policy)."""
    cfg = image.config.get("config") or {}
    env = dict(e.split("=", 1) for e in cfg.get("Env") or [] if "=" in e)
    argv = list(cfg.get("Entrypoint") or []) + list(cfg.get("Cmd") or [])
    if not argv:
        raise PackError(f"{image.reference}: the image config has neither Entrypoint nor Cmd; set [app].entry "
                        "in a litebox.toml beside the image")
    files = {f"/{p.name}": f"rootfs/{p.name}" for p in sorted(rootfs.iterdir())}
    if not files:
        raise PackError(f"{image.reference}: the image's layers are empty")
    app: dict[str, Any] = {"entry": _resolve_entry(rootfs, argv[0], env), "args": argv[1:],
                           "cwd": cfg.get("WorkingDir") or "/", "env": env}
    policy: dict[str, Any] = dict(_ids(rootfs, cfg.get("User") or "", image.reference))
    ports = []
    for spec in sorted(cfg.get("ExposedPorts") or {}):
        port, _, proto = spec.partition("/")
        if port.isdigit() and proto in ("", "tcp"):
            ports.append(f"0.0.0.0:{port}")
    return {"app": app, "files": files, "policy": policy}, ports


def _merge(base: dict[str, Any], over: dict[str, Any], over_dir: Path) -> dict[str, Any]:
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in base.items()}
    for table, value in over.items():
        if table == "files" and isinstance(value, dict):  # relative host paths: against the user's file
            value = {img: host if Path(host).is_absolute() else str((over_dir / host).resolve())
                     for img, host in value.items()}
        if isinstance(value, dict) and isinstance(out.get(table), dict):
            out[table] = {**out[table], **value}
        else:
            out[table] = value
    return out


def materialize(reference: str, config_file: Path | None, work_root: Path, progress: Progress) -> ImageProject:
    """Reads image ``reference`` and writes its project under ``work_root`` (the layers are
    extracted again only when the image digest changes); the user's litebox.toml is
    ``config_file``, else the one beside the image, when present."""
    tmp = work_root / "incoming"
    shutil.rmtree(tmp, ignore_errors=True)
    image = read_image(reference, tmp)
    project = work_root / hashlib.sha256(reference.encode()).hexdigest()[:16]
    rootfs = project / "rootfs"
    done = (project / DONE).read_text(encoding="utf-8") if (project / DONE).is_file() else ""
    if done != image.digest:
        progress.step(f"unpacking {reference} ({len(image.layers)} layers)")
        shutil.rmtree(project, ignore_errors=True)
        try:
            skipped = apply_layers(image.layers, rootfs, reference)
        except BaseException:
            shutil.rmtree(project, ignore_errors=True)
            raise
        if skipped:
            progress.warn(f"{reference}: {skipped} device or FIFO entries skipped (the image format has none)")
        (project / DONE).write_text(image.digest, encoding="utf-8")
    shutil.rmtree(tmp, ignore_errors=True)
    generated, ports = generated_config(image, rootfs)
    generated["app"]["name"] = _name(reference)
    user_file = config_file
    if user_file is None:
        kind_path = reference.split(":", 1)[1]
        image_path = Path(kind_path.rsplit(":", 1)[0]) if not Path(kind_path).exists() else Path(kind_path)
        beside = image_path.resolve().parent / "litebox.toml"
        user_file = beside if beside.is_file() else None
    merged = _merge(generated, load_toml(user_file), user_file.parent.resolve()) if user_file else generated
    listen = (merged.get("policy", {}).get("network") or {}).get("listen") or []
    granted = {str(rule).rsplit(":", 1)[-1] for rule in listen}
    offered = [p for p in ports if p.rsplit(":", 1)[-1] not in granted]
    if offered:
        progress.warn(f"{reference}: the image exposes {', '.join(p.split(':')[1] for p in offered)}; nothing is "
                      "granted: to allow it, put [policy.network] listen = "
                      f"[{', '.join(json.dumps(p) for p in offered)}] in a litebox.toml beside the image")
    header = [f"# Generated by litebox pack from {reference} ({image.digest}).",
              f"# Overrides from: {user_file}" if user_file else "# No litebox.toml beside the image.",
              *(["# The image exposes ports; to allow them (NOT granted):", "# [policy.network]",
                 f"# listen = [{', '.join(json.dumps(p) for p in offered)}]"] if offered else []), ""]
    text = "\n".join(header) + to_toml(merged) + "\n"
    path = project / "litebox.toml"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    # No local path here: the manifest must not depend on where the image file lies.
    source = {"kind": reference.split(":", 1)[0], "digest": image.digest,
              "exposed_ports": [p.split(":")[1] for p in ports]}
    record = json.dumps(source, sort_keys=True)
    if not (project / SOURCE_FILE).is_file() or (project / SOURCE_FILE).read_text(encoding="utf-8") != record:
        (project / SOURCE_FILE).write_text(record, encoding="utf-8")
    return ImageProject(project, path, source)


