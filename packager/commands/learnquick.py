"""`litebox run --learn` on a quick-mode artifact: the same grants as `litebox pack` flags, so a
new user repacks the program without writing a litebox.toml. The command carries the grants
the artifact already has (from its manifest) plus those just learned, so each round's command
is the whole answer so far."""
from __future__ import annotations

import shlex
from typing import Any, Mapping

from packager.config.policy import SockRule, parse_sockaddr


def _listen_texts(manifest: Mapping[str, Any], learned: list[SockRule]) -> list[str]:
    recorded = [str(t) for t in manifest.get("policy", {}).get("network", {}).get("listen", [])]
    rules: list[SockRule] = []
    for text in recorded:
        try:
            rules.append(parse_sockaddr(text))
        except ValueError:
            continue
    rules += [r for r in learned if r not in rules]
    return [r.text() for r in rules]


def quick_pack_lines(manifest: Mapping[str, Any], listen: list[SockRule], connect: list[SockRule],
                     missing_dirs: list[str]) -> list[str]:
    """Comment lines with the `litebox pack` command that repacks a quick-mode artifact with its
    recorded grants and the learned ones (``--listen`` per refused bind, ``--mount DIR:DIR:rw``
    per missing writable directory, relative to where the artifact starts); [] for a project
    artifact or when nothing new was learned. Outbound ``connect`` grants have no flag: they
    need a project."""
    if manifest.get("mode") != "quick" or not (listen or missing_dirs or connect):
        return []
    app = manifest.get("config", {}).get("app", {})
    entry = str(app.get("entry", "PROGRAM"))
    program = "PROGRAM" if entry.startswith("/app/") else entry
    words = ["litebox", "pack", program]
    for text in _listen_texts(manifest, listen):
        words += ["--listen", text]
    mounts = [(str(m.get("host")), str(m.get("guest")), str(m.get("mode", "ro")))
              for m in manifest.get("policy", {}).get("mounts", [])]
    mounts += [(d.lstrip("/"), d, "rw") for d in missing_dirs if all(g != d for _, g, _ in mounts)]
    for host, guest, mode in mounts:
        words += ["--mount", f"{host}:{guest}:{mode}"]
    if app.get("cwd", "/") != "/":
        words += ["--cwd", str(app["cwd"])]
    if manifest.get("name") and manifest.get("name") != program.rsplit("/", 1)[-1]:
        words += ["--name", str(manifest["name"])]
    lines = ["", "# Quick mode (packed without a litebox.toml): pack the program again with these grants,",
             "# those it has and those learned now (or put the lines above in a project: litebox init):",
             f"#   {shlex.join(words)}"]
    if any(not host.startswith("/") for host, _, _ in mounts):
        lines.append("#   (make the --mount directories beside where you start the artifact first)")
    if connect:
        lines.append("#   outbound connections ([policy.network] connect) have no pack flag: use a project")
    return lines
