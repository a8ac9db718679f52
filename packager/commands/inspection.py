"""Reading an artifact back: its embedded manifest and image, and a report of what is in it."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packager.build.artifact import (  # noqa: F401 - read_embedded_manifest: re-exported
    IMAGE_SECTION,
    MANIFEST_SECTION,
    has_section_trailer,
    read_artifact_bytes,
    read_embedded_manifest,
    read_sections,
)
from packager.commands.integrity import Check, artifact_checks, summary
from packager.errors import PackError
from packager.image.imagereader import Image, ImageError, read_image
from packager.image.policyrecords import decoded_policy_json
from packager.paths import display_path, is_under


@dataclass
class ArtifactView:
    """An artifact opened for reading: the embedded manifest (parsed) and the image."""

    path: Path
    manifest: dict[str, Any]
    image: Image
    data: bytes = b""  # the artifact file's bytes


def open_artifact(path: Path) -> ArtifactView:
    """Opens an artifact. Promises its embedded manifest and a validated image (root digest
    checked), or a PackError saying what is missing or damaged."""
    data = read_artifact_bytes(path)
    if data[:4] != b"\x7fELF" and data[:2] != b"MZ" and not has_section_trailer(data):
        raise PackError(f"{display_path(path)}: not a LiteBox artifact (not an ELF or PE file, no section trailer)")
    try:
        sections = read_sections(data)
    except PackError as exc:
        raise PackError(f"{display_path(path)}: {exc}") from None
    for name in (IMAGE_SECTION, MANIFEST_SECTION):
        if name not in sections:
            raise PackError(f"{display_path(path)}: not a LiteBox artifact (no {name} section)")
    try:
        manifest = json.loads(sections[MANIFEST_SECTION])
    except ValueError:
        raise PackError(f"{display_path(path)}: the embedded manifest is not JSON") from None
    try:
        image = read_image(sections[IMAGE_SECTION])
    except ImageError as exc:
        raise PackError(f"{display_path(path)}: {exc}") from None
    if not isinstance(manifest, dict):
        raise PackError(f"{display_path(path)}: the embedded manifest is not a JSON object")
    return ArtifactView(path, manifest, image, data)


def _reasons(manifest: dict[str, Any]) -> dict[str, str]:
    reasons = {i["image_path"]: i["reason"] for i in manifest.get("inputs", [])}
    reasons.update({g["image_path"]: g["reason"] for g in manifest.get("generated", [])})
    return reasons


def _fallback_reason(path: str, kind: str, manifest: dict[str, Any]) -> str:
    files = manifest.get("config", {}).get("files", {})
    for img in sorted(files, key=len, reverse=True):
        if is_under(path, img):
            return f'[files] "{img}" = "{files[img]}"'
    if path in ("/tmp", "/dev", "/proc"):
        return "runtime directory"
    if path == "/":
        return "root directory"
    return "parent directory" if kind == "dir" else "unknown"


def effective_policy(image: Image) -> dict[str, Any]:
    """The policy the runtime will apply, read from the image's launch config (not from the
    manifest): ids, network, mounts, limits, environment, hostname and what stays denied."""
    launch = image.launch
    p = decoded_policy_json(launch.policy)
    denied = []
    if not p["listen"] and not p["connect"]:
        denied.append("no network")
    if not p["mounts"]:
        denied.append("no host directories")
    return {
        "ids": p["ids"],
        "network": {"listen": p["listen"], "connect": p["connect"]},
        "mounts": p["mounts"],
        "limits": p["limits"],
        "env_inherit": launch.env_inherit,
        "env_passthrough": list(launch.env_pass),
        "hostname": launch.hostname,
        "default_deny": "default deny: " + ", ".join(denied) if denied else None,
    }


def format_policy(p: dict[str, Any]) -> list[str]:
    """The policy block of the inspect text, one line per fact."""
    ids = p["ids"]
    lines = ["  policy:"]
    if p["default_deny"]:
        lines.append(f"    {p['default_deny']}")
    lines.append("    ids:      " + (f"uid {ids['uid']}, gid {ids['gid']}" if ids else "the host's real uid and gid"))
    net = p["network"]
    lines.append("    listen:   " + (", ".join(net["listen"]) or "none"))
    lines.append("    connect:  " + (", ".join(net["connect"]) or "none"))
    if p["mounts"]:
        for m in p["mounts"]:
            where = "" if m["host"].startswith("/") else " (relative to the directory the artifact is started from)"
            lines.append(f"    mount:    {m['guest']} <- {m['host']} ({m['mode']}){where}")
    else:
        lines.append("    mounts:   none")
    limits = ", ".join(_limit_text(k, v) for k, v in p["limits"].items())
    lines.append("    limits:   " + (limits or "none"))
    if p["env_inherit"]:
        env = "the whole host environment passes through (quick mode)"
    else:
        env = ", ".join(p["env_passthrough"]) or "none (only [app].env)"
    lines.append(f"    host env: {env}")
    return lines


def _limit_text(kind: str, value: int) -> str:
    if kind != "memory":
        return f"{kind} {value}"
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if value % (1 << shift) == 0:
            return f"memory {value} bytes ({value >> shift} {unit})"
    return f"memory {value} bytes"


def integrity_checks(view: ArtifactView) -> list[Check]:
    """Every integrity check of the opened artifact, in order: runtime, image, launch config,
    embedded manifest against the sidecar beside it."""
    return artifact_checks(view.path, view.data, view.manifest, view.image)


def report(view: ArtifactView) -> dict[str, Any]:
    """The inspect report: manifest summary, every entry (path, kind, mode, size, reason),
    the policy, the argv/environment the app will see, and the integrity checks of the whole
    artifact (runtime, image, launch config, embedded manifest; ``integrity_ok``)."""
    m = view.manifest
    checks = integrity_checks(view)
    reasons = _reasons(m)
    entries = []
    for e in view.image.entries:
        item = {"path": e.path, "kind": e.kind, "mode": f"{e.mode:04o}",
                "size": e.size if e.kind != "dir" else 0,
                "reason": reasons.get(e.path) or _fallback_reason(e.path, e.kind, m)}
        if e.target is not None:
            item["target"] = e.target
        entries.append(item)
    launch = view.image.launch
    if launch.env_inherit:
        env_text = ["(the whole host environment)"] + list(launch.env)
    else:
        env_text = list(launch.env) + [f"{n}=<host value, if set>" for n in launch.env_pass]
    # The target's own facts recomputed from the artifact (snp: the launch digest over every
    # page) are part of its integrity.
    facts = _target_facts(view.path, m)
    facts_agree = facts is None or bool(facts.get("matches_manifest", "error" not in facts))
    checks = list(checks)
    if facts is not None:
        if "error" in facts:
            detail = f"cannot recompute: {facts['error']}"
        elif facts_agree:
            detail = "recomputed from the artifact: they match the manifest's target_facts"
        else:
            groups = ", ".join(sorted((facts.get("recomputed") or {}).keys()))
            detail = f"recomputed from the artifact: the {groups} facts differ from the manifest's target_facts"
        checks.append(Check("target facts", facts_agree, detail))
    return {
        "artifact": display_path(view.path),
        "name": m.get("name"),
        "target": m.get("target"),
        "mode": m.get("mode"),
        "packager": m.get("packager"),
        "source_date_epoch": m.get("source_date_epoch"),
        "entry": launch.entry,
        "entry_kind": m.get("entry_kind"),
        "argv": list(launch.args) + ["<arguments given at run time>"],
        "env": env_text,
        "cwd": launch.cwd,
        "hostname": launch.hostname,
        "policy": effective_policy(view.image),
        "runtime": m.get("runtime"),
        "image": {**m.get("image", {}), "integrity": summary(checks)},
        "integrity_ok": all(c.ok for c in checks) and facts_agree,
        "integrity_checks": [{"part": c.part, "ok": c.ok, "checked": c.checked, "detail": c.detail}
                             for c in checks],
        "toolchain": m.get("toolchain"),
        "rewrite": _rewrite_report(m),
        "target_facts": facts,
        "entries": entries,
    }


def _target_facts(path: Path, m: dict[str, Any]) -> dict[str, Any] | None:
    """The target plugin's facts (e.g. a launch measurement) recomputed from the artifact,
    with whether they equal what the manifest records; None when the target has none."""
    from packager.targets.targets import get

    recorded = m.get("target_facts")
    try:
        fresh = get(str(m.get("target"))).plugin.inspect_facts(path.read_bytes())
    except PackError as exc:
        return {"error": str(exc), "recorded": recorded, "matches_manifest": False}
    if not fresh and recorded is None:
        return None
    return {"recomputed": fresh, "recorded": recorded, "matches_manifest": fresh == recorded}


def _rewrite_report(m: dict[str, Any]) -> dict[str, Any]:
    """Pack-time syscall rewriting as the manifest records it, with the compatibility report:
    per ELF file the sites found, rewritten and left to the trap path, and the constant
    syscall numbers its code uses that the library OS does not implement."""
    from packager.image.compat import compatibility, refused

    rw = m.get("rewrite") or {"enabled": False, "entry": None, "files": {}}
    missing = compatibility(rw.get("files", {}))
    denied = refused(rw.get("files", {}))
    files = {path: {"sites": f.get("sites", 0), "rewritten": f.get("rewritten", 0), "trapped": f.get("trapped", 0),
                    "trapped_reasons": f.get("trapped_reasons", {}), "unimplemented": missing.get(path, []),
                    "refused": denied.get(path, []),
                    **({"note": f["note"]} if f.get("note") else {})}
             for path, f in sorted(rw.get("files", {}).items())}
    return {"enabled": bool(rw.get("enabled")), "entry": rw.get("entry"), "files": files}


def _integrity_lines(r: dict[str, Any]) -> list[str]:
    checks = r.get("integrity_checks") or []
    state = "intact" if r.get("integrity_ok") else "ALTERED (the artifact does not match its manifest)"
    head = f"  integrity: {state}"
    marks = {(True, True): "ok     ", (True, False): "n/a    ", (False, True): "DIFFERS", (False, False): "DIFFERS"}
    return [head] + [f"    {marks[c['ok'], c.get('checked', True)]}  {c['part']}: {c['detail']}" for c in checks]


def _format_facts(facts: dict[str, Any] | None) -> list[str]:
    """The target facts block: each recomputed fact, then whether the manifest agrees."""
    if facts is None:
        return []
    if "error" in facts:
        return [f"  target facts: cannot recompute: {facts['error']}"]
    lines = []
    for group, values in facts["recomputed"].items():
        lines.append(f"  {group} (recomputed from the artifact):")
        for key, value in values.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v}" for k, v in value.items())
            lines.append(f"    {key + ':':<20}{value}")
    agree = "yes" if facts["matches_manifest"] else "NO: the artifact does not match its manifest's target_facts"
    lines.append(f"    {'matches manifest:':<20}{agree}")
    return lines


def format_report(r: dict[str, Any]) -> str:
    """The inspect report as text for a terminal."""
    lines = [
        f"{r['artifact']}: {r['name']} for {r['target']} ({r['mode']} mode, "
        f"packager {r['packager'].get('version') if r['packager'] else '?'})",
        f"  entry:    {r['entry']} ({r['entry_kind']})",
        f"  argv:     {' '.join(json.dumps(a) if ' ' in a else a for a in r['argv'])}",
        f"  env:      {', '.join(r['env']) if r['env'] else '(empty)'}",
        f"  cwd:      {r['cwd']}",
        f"  hostname: {r['hostname']}",
        *format_policy(r["policy"]),
        f"  runtime:  sha256 {r['runtime'].get('sha256')} ({r['runtime'].get('size')} bytes)",
        f"  image:    digest {r['image'].get('digest')}, {r['image'].get('size')} bytes, "
        f"{r['image'].get('entries')} entries, {r['image'].get('chunks')} chunks of "
        f"{r['image'].get('chunk_size')} (zstd {r['image'].get('compression_level')})",
        *_integrity_lines(r),
        f"  epoch:    {r['source_date_epoch']}",
    ]
    rw = r.get("rewrite") or {}
    if not rw.get("enabled"):
        lines.append("  syscalls: not rewritten (--no-rewrite): every syscall traps (seccomp + SIGSYS)")
    else:
        lines.append(f"  syscalls: rewritten at pack time to the fast path at {rw.get('entry')}")
        for path, f in rw.get("files", {}).items():
            why = ", ".join(f"{n} {k}" for k, n in sorted(f["trapped_reasons"].items()))
            lines.append(f"    {path}: {f['sites']} sites, {f['rewritten']} rewritten, {f['trapped']} left to "
                         f"the trap path{f' ({why})' if why else ''}{'; ' + f['note'] if f.get('note') else ''}")
            if f["unimplemented"]:
                lines.append(f"      not implemented (ENOSYS): {', '.join(f['unimplemented'])}")
            if f.get("refused"):
                lines.append(f"      refused by the sandbox (EPERM): {', '.join(f['refused'])}")
    lines += _format_facts(r.get("target_facts"))
    lines += [
        "",
        "  mode  kind         size  path  (why)",
    ]
    for e in r["entries"]:
        tail = f" -> {e['target']}" if "target" in e else ""
        lines.append(f"  {e['mode']}  {e['kind']:<7} {e['size']:>9}  {e['path']}{tail}  ({e['reason']})")
    return "\n".join(lines)
