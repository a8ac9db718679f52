"""What names a container image on the command line, and what a project generated from one
records: small enough to ask on every pack without importing the image readers."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PREFIXES = ("oci:", "oci-archive:", "docker-archive:")
SOURCE_FILE = "image-source.json"  # so a rebuild from the generated project (verify) records it too


def is_image_reference(arg: str) -> bool:
    """True if ``arg`` names a container image (one of PREFIXES)."""
    return arg.startswith(PREFIXES)


def recorded_source(project_dir: Path) -> dict[str, Any] | None:
    """The image a generated project came from, or None for any other project or program."""
    try:
        return json.loads((project_dir / SOURCE_FILE).read_text(encoding="utf-8")) if project_dir.is_dir() else None
    except (OSError, ValueError):
        return None
