"""Re-packing after outputs were changed by hand: an edited or deleted artifact or sidecar is
made again, identical to the first pack, and the sidecar never vouches for edited bytes."""

from __future__ import annotations

import json
from pathlib import Path

from litebox_e2e import copy_example, pack, sha256_file


def test_edited_or_deleted_outputs_are_made_again(tmp_path: Path) -> None:
    project = copy_example("hello-static", tmp_path)
    out = tmp_path / "dist"
    first = pack(project, out)
    original = first.path.read_bytes()
    sidecar = first.manifest.read_bytes()

    with open(first.path, "ab") as f:
        f.write(b"appended by hand")
    again = pack(project, out)
    assert again.path.read_bytes() == original
    assert json.loads(again.manifest.read_bytes())["artifact"]["sha256"] == sha256_file(again.path)
    assert again.manifest.read_bytes() == sidecar

    first.manifest.unlink()
    third = pack(project, out)
    assert third.manifest.read_bytes() == sidecar and third.path.read_bytes() == original
