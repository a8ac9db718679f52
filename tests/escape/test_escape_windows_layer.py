r"""The windows target's shared writable layer is a host directory (docs/targets/windows.md,
"The writable layer"): a Linux name that is a Windows path (`..\\`, a drive, `\\?\`, a stream,
a device name, a trailing dot) must stay one file inside it. Debian's busybox, packed for
windows and run under Wine, writes such names in /tmp and reads them back; afterwards no file
of that name exists in the Wine prefix or in the host's /tmp (Wine's Z: drive), and the layer
itself is gone. Packed only: each name, if it got out, would only create an empty scratch file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from litebox_e2e import describe, discover_targets, pack_for, run_on, unready_reason

BUSYBOX = Path("/bin/busybox")
MARK = f"lbx-escape-{os.getpid()}"
NAMES = [
    f"..\\..\\..\\..\\{MARK}-1",
    f"C:\\{MARK}-2",
    f"Z:\\tmp\\{MARK}-3",
    f"\\\\?\\Z:\\tmp\\{MARK}-4",
    f"{MARK}-5:stream",
    "CON",
    "nul.txt",
    f"{MARK}-6.",
    f"{MARK}-7 ",
]


@pytest.fixture(scope="module")
def windows() -> Any:
    if os.environ.get("LITEBOX_E2E_NO_REWRITE") == "1":
        pytest.skip("the windows target has no trap path: every syscall site is rewritten at pack time")
    target = discover_targets()["windows"]
    reason = unready_reason(target)
    if reason is not None:
        pytest.skip(reason)
    if not BUSYBOX.is_file():
        pytest.skip("busybox-static is not installed (scripts/setup installs it)")
    return target


def test_names_that_are_windows_paths_stay_in_the_layer(windows: Any, tmp_path: Path) -> None:
    art = pack_for(windows, BUSYBOX, tmp_path / "dist")
    # run_on's Wine prefix (litebox_e2e.RUNNER_ENV); Z:\tmp is the host's /tmp. Layers of other
    # runs still going in the prefix (a server another test left running) are theirs.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    prefix = Path(tempfile.gettempdir()) / f"litebox-e2e-wine-{os.getuid()}-{worker}"
    before = set((prefix / "drive_c").rglob("litebox-layer-*"))
    quoted = " ".join("'" + n.replace("'", "'\\''") + "'" for n in NAMES)
    script = f"cd /tmp && for n in {quoted}; do echo \"$n\" > \"$n\" && cat \"$n\"; done && ls -A | sort"
    got = run_on(windows, art, ["sh", "-c", script])
    expected = "".join(n + "\n" for n in NAMES) + "".join(n + "\n" for n in sorted(NAMES))
    assert (got.stdout.decode(), got.returncode) == (expected, 0), describe(got)
    escaped = [str(p) for p in [*prefix.rglob(f"*{MARK}*"), *Path("/tmp").glob(f"*{MARK}*")]]
    assert escaped == [], escaped
    assert set((prefix / "drive_c").rglob("litebox-layer-*")) <= before, "the run's layer was left behind"
