"""linux-userland: the app's program and library code is mapped from the artifact, not copied.

ELF files are stored raw and page-aligned in the image (docs/image-format.md, "Mappable
files"), so the loader (the program and its interpreter) and the shim's mmap of an image file
(ld.so mapping libc) map their whole pages straight from the artifact file: the host's
/proc/PID/maps of the app's process shows executable mappings of the artifact at offsets inside
the image section (the runtime's own code is at offsets before it).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import IMAGE_SECTION, describe, find_section, pack

CAT = shutil.which("cat")


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parents[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        found += kids
        todo += kids
    return found


def _code_from_image(pid: int, artifact: Path, image_offset: int) -> list[str]:
    """The executable mappings of `artifact` in `pid` whose file offset is inside the image."""
    out = []
    try:
        lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5] == str(artifact) and "x" in fields[1] and int(fields[2], 16) >= image_offset:
            out.append(line)
    return out


@pytest.mark.skipif(CAT is None or not Path(CAT).is_file(), reason="no cat on this host")
def test_program_interpreter_and_library_code_are_mapped_from_the_artifact(tmp_path: Path) -> None:
    assert CAT is not None
    art = pack(Path(CAT), tmp_path / "dist")
    image_offset = find_section(art.path, IMAGE_SECTION).offset
    assert image_offset % 4096 == 0
    proc = subprocess.Popen([str(art.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"ping\n")
        proc.stdin.flush()
        # cat echoed the line: the app runs, with its program, ld.so and libc mapped.
        assert proc.stdout.readline() == b"ping\n"
        mapped = {pid: _code_from_image(pid, art.path, image_offset) for pid in _descendants(proc.pid)}
        app = max(mapped.values(), key=len)
        # cat's own code (the loader), ld.so's (the loader) and libc's (ld.so's mmap, the shim).
        assert len(app) >= 3, f"executable mappings from the image: {mapped!r}"
    finally:
        out, err = proc.communicate(timeout=120)  # closes cat's stdin: it ends
    assert proc.returncode == 0, describe(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))


GAPS_C = r"""
#include <stdio.h>
int main(void) { getchar(); puts("done"); return 0; }
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
def test_gaps_between_segments_are_inaccessible_on_the_host(tmp_path: Path) -> None:
    # Segments aligned to 64 KiB leave gaps between them: the loader protects only the gaps
    # (PROT_NONE) and gives each segment its own protection (a layout without gaps needs no
    # call for the gaps at all). The host's maps of the app's process show both.
    src = tmp_path / "gaps.c"
    src.write_text(GAPS_C)
    app = tmp_path / "gaps"
    subprocess.run(["gcc", "-O2", "-static", "-Wl,-z,max-page-size=0x10000", "-Wl,-z,separate-code", "-o", str(app),
                    str(src)], check=True, timeout=300)
    art = pack(app, tmp_path / "dist")
    proc = subprocess.Popen([str(art.path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdin is not None
        maps: list[str] = []
        for _ in range(200):
            for pid in _descendants(proc.pid):
                try:
                    lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
                except OSError:
                    continue
                if any(str(art.path) in line and "r-xp" in line and line.startswith("0041") for line in lines):
                    maps = lines
            if maps:
                break
            subprocess.run(["sleep", "0.05"], check=True)
        low = [line.split()[:2] for line in maps if int(line.split("-")[0], 16) < 0x500000]
        # The first page (headers, read-only), the gap up to the code at 64 KiB, the code.
        assert ["00401000-00410000", "---p"] in low, low
        assert any(r.startswith("00410000-") and p == "r-xp" for r, p in low), low
        assert sum(p == "---p" for _, p in low) >= 2, low  # the gaps after the code and the rodata
    finally:
        out, err = proc.communicate(b"\n", timeout=120)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert proc.returncode == 0 and out == b"done\n", describe(done)


def _mprotects_before_seccomp(strace_out: str) -> list[str]:
    """The mprotect calls the process that installs the seccomp filter (the app's first
    process) made before it installed it (strace -f output, one call a line)."""
    lines = strace_out.splitlines()
    pid = next(line.split()[0] for line in lines if "seccomp(" in line)
    before = []
    for line in lines:
        if not line.startswith(pid + " "):
            continue
        if "seccomp(" in line:
            break
        if "mprotect(" in line:
            before.append(line)
    return before


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (scripts/setup installs it)")
def test_segments_get_their_protection_with_their_mapping(tmp_path: Path) -> None:
    # A segment mapped whole from the image (every page, nothing copied) and sharing no page
    # with another is mapped with its final protection, a writable one keeps the protection
    # the span was mapped with, the stack slot is writable already: the app's process makes
    # no mprotect before its filter, and each segment still has its protection (a write to
    # the read-only data or the code faults; the data and the stack are writable).
    app = tmp_path / "protect"
    src = Path(__file__).resolve().parent / "programs" / "protect.c"
    subprocess.run(["gcc", "-O2", "-static", "-o", str(app), str(src)], check=True, timeout=300)
    art = pack(app, tmp_path / "dist")
    want = b"rodata faults\ntext faults\ndata writes\nstack writes\n"
    native = subprocess.run([str(app)], capture_output=True, timeout=120, check=False)
    assert native.stdout == want, describe(native)
    r = subprocess.run(["strace", "-f", "-qq", "-o", str(tmp_path / "trace"), "-e", "trace=mprotect,seccomp",
                        str(art.path)], capture_output=True, timeout=120, check=False)
    assert r.returncode == 0 and r.stdout == want, describe(r)
    assert _mprotects_before_seccomp((tmp_path / "trace").read_text()) == []
    plain = subprocess.run([str(art.path)], capture_output=True, timeout=120, check=False)
    assert plain.returncode == 0 and plain.stdout == want, describe(plain)
