"""The warm re-pack's short cut (packager/build/uptodate.py): a stamp is current only while the
request, the plan's bytes and every watched file's stat are what they were after the build."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from packager.build import uptodate


def _request(tmp: Path) -> tuple[dict[str, Any], list[Path]]:
    src, art, side, plan = tmp / "main.rs", tmp / "app-t", tmp / "app-t.manifest.json", tmp / "plan.json"
    for p, text in ((src, "fn main() {}"), (art, "artifact"), (side, "{}"), (plan, '{"entries": []}')):
        p.write_text(text)
    request = {"code_key": "c1", "progress_fd": 7, "quiet": False, "verbose": False,
               "runtimes": {"t": {"inputs": [str(src)]}},
               "apps": [{"plan": str(plan), "targets": [{"artifact": str(art), "sidecar": str(side),
                                                         "extra_steps": []}]}]}
    return request, [plan]


def _recorded(tmp: Path) -> tuple[dict[str, Any], list[Path], Path, str]:
    request, extra = _request(tmp)
    stamp = tmp / "state" / "uptodate.json"
    key = uptodate.request_key(request, extra)
    uptodate.record(stamp, request, key)
    return request, extra, stamp, key


def test_current_after_record_and_reporting_fields_do_not_matter(tmp_path: Path) -> None:
    request, extra, stamp, key = _recorded(tmp_path)
    assert uptodate.is_current(stamp, request, key)
    noisy = {**request, "progress_fd": 12, "quiet": True, "verbose": True}
    assert uptodate.is_current(stamp, noisy, uptodate.request_key(noisy, extra))


def test_touched_source_is_not_current(tmp_path: Path) -> None:
    request, _extra, stamp, key = _recorded(tmp_path)
    src = Path(request["runtimes"]["t"]["inputs"][0])
    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # same bytes, new mtime
    assert not uptodate.is_current(stamp, request, key)


def test_deleted_or_edited_output_is_not_current(tmp_path: Path) -> None:
    request, _extra, stamp, key = _recorded(tmp_path)
    art = Path(request["apps"][0]["targets"][0]["artifact"])
    art.write_text("tampered")
    assert not uptodate.is_current(stamp, request, key)
    uptodate.record(stamp, request, key)
    art.unlink()
    assert not uptodate.is_current(stamp, request, key)


def test_changed_plan_or_option_changes_the_key(tmp_path: Path) -> None:
    request, extra, stamp, key = _recorded(tmp_path)
    extra[0].write_text('{"entries": [1]}')
    assert uptodate.request_key(request, extra) != key
    other = {**request, "code_key": "c2"}
    assert not uptodate.is_current(stamp, other, uptodate.request_key(other, extra))


def test_missing_or_damaged_stamp_is_not_current(tmp_path: Path) -> None:
    request, _extra, stamp, key = _recorded(tmp_path)
    stamp.write_text("{not json")
    assert not uptodate.is_current(stamp, request, key)
    uptodate.forget(stamp)
    uptodate.forget(stamp)  # twice: no error
    assert not uptodate.is_current(stamp, request, key)


def test_edited_outputs_are_named_but_not_missing_or_unrecorded_ones(tmp_path: Path) -> None:
    request, _extra, stamp, _key = _recorded(tmp_path)
    target = request["apps"][0]["targets"][0]
    assert uptodate.edited_outputs(stamp, request) == []
    Path(target["artifact"]).write_text("tampered")
    Path(target["sidecar"]).unlink()
    assert uptodate.edited_outputs(stamp, request) == [Path(target["artifact"])]
    stamp.unlink()
    assert uptodate.edited_outputs(stamp, request) == []
