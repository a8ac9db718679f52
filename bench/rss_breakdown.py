#!/usr/bin/env python3
"""Where a packed app's resident memory goes, next to the same program run natively (issue 17,
rss). Not a test: a measuring aid for bench/RESULTS-issue17-rss.md.

    python3 bench/rss_breakdown.py [--out DIR] [--keep-cache]

Packs (with this checkout, quick mode) a static and a dynamic hello that then wait on stdin
(bench/src/rsswait.c), and python3 with its standard library (as bench/run.py packs it) running
`import sys; print("ready"); sys.stdin.read()`. Each program runs natively and packed; once it
printed "ready" (loaded, done with its work), every process of the run is read from the host's
/proc: VmHWM (the peak), VmRSS split into anon/file/shmem, and for the packed app's process
the resident KiB per kind of mapping: the app's own file mappings (its segments, mapped from
the artifact), the runtime's code and data, the image mapping (tables), the runtime's heap,
other anonymous memory (the app's heap, stacks), and shared anonymous memory. Then stdin is
closed and the run must exit 0. `--keep-cache` skips evicting the artifacts from the page
cache first (by default each packed run starts with them evicted, then runs again warm).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from startup_ab import evict  # drops a file's pages from the page cache

REPO = Path(__file__).resolve().parents[1]
SRC = Path(__file__).resolve().parent / "src"
PY_WAIT = "import sys; print('ready', flush=True); sys.stdin.read()"


def sh(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    """Runs argv, captured, unchecked."""
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]


def pack(app: Path, out: Path) -> Path:
    """Packs app (a program or a project directory) for linux-userland; returns the artifact."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = sh([sys.executable, "-m", "packager", "pack", str(app), "--target", "linux-userland", "--out-dir", str(out)],
           cwd=REPO, env=env)
    art = out / f"{app.name}-linux-userland"
    if r.returncode != 0 or not art.exists():
        raise SystemExit(f"rss_breakdown: cannot pack {app}: {r.stderr.strip()[-300:]}")
    return art


def descendants(pid: int) -> list[int]:
    """pid's descendants, parents first."""
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            for c in f.read().split():
                out += [int(c), *descendants(int(c))]
    return out


def status(pid: int) -> dict[str, int]:
    """VmHWM, VmRSS, RssAnon, RssFile, RssShmem of pid (KiB)."""
    text = open(f"/proc/{pid}/status").read()
    return {k: int(m.group(1)) if (m := re.search(rf"^{k}:\s+(\d+)", text, re.M)) else 0
            for k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem")}


def mappings(pid: int) -> list[tuple[int, int, str, int, str, int]]:
    """(start, end, perms, file offset, path, Rss KiB) of every mapping of pid."""
    out, cur = [], None
    for line in open(f"/proc/{pid}/smaps"):
        f = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+$", f[0]):
            a, b = (int(x, 16) for x in f[0].split("-"))
            cur = [a, b, f[1], int(f[2], 16), f[5] if len(f) > 5 else "", 0]
            out.append(cur)
        elif f[0] == "Rss:" and cur is not None:
            cur[5] = int(f[1])
    return [tuple(m) for m in out]  # type: ignore[misc]


def image_page_offset(artifact: Path) -> int:
    """File offset (page-aligned) at which the runtime maps the artifact's image section."""
    r = sh(["readelf", "-SW", str(artifact)])
    for line in r.stdout.splitlines():
        if ".litebox.image" in line:
            return int(line.split("]", 1)[1].split()[3], 16) & ~4095
    raise SystemExit(f"rss_breakdown: {artifact} has no .litebox.image section")


def heap_mappings(maps: list[tuple[int, int, str, int, str, int]]) -> set[int]:
    """Indices of the runtime heap's committed mappings: the anonymous read-write ones that run
    contiguously up to the heap's reservation (a PROT_NONE mapping of 1 GiB or more), from the
    one that starts the heap, 1 MiB into a 2 MiB span (runtime sys.rs, HEAP_PHASE; the heap is
    committed in steps that the host may keep as several mappings, and the app's stack may lie
    right below it)."""
    for i, (a, b, perms, _off, path, _rss) in enumerate(maps):
        if perms == "---p" and not path and b - a >= 1 << 30:
            run: list[int] = []
            j, at = i - 1, a
            while j >= 0 and maps[j][1] == at and maps[j][2] == "rw-p" and not maps[j][4]:
                run.append(j)
                if maps[j][0] % (2 << 20) == 1 << 20:
                    return set(run)
                at, j = maps[j][0], j - 1
    return set()


def kinds(maps: list[tuple[int, int, str, int, str, int]], artifact: Path | None, image_off: int) -> dict[str, int]:
    """Resident KiB per kind of mapping (see the module docstring)."""
    out: dict[str, int] = {}
    heap = heap_mappings(maps) if artifact is not None else set()
    for i, (a, b, perms, off, path, rss) in enumerate(maps):
        if artifact is not None and path == str(artifact):
            kind = ("image mapping (tables)" if off == image_off and perms.startswith("r--") and b - a > 4096
                    else "runtime code and data" if off < image_off
                    else "app's file mappings (from the artifact)")
        elif path == "/dev/zero" or perms.endswith("s") and not path:
            kind = "shared anonymous"
        elif path.startswith("/"):
            kind = "app's file mappings"
        elif i in heap:
            kind = "runtime heap"
        else:
            kind = f"anonymous ({path})" if path else "anonymous"
        out[kind] = out.get(kind, 0) + rss
    return out


def snapshot(argv: list[str], artifact: Path | None) -> list[tuple[int, dict[str, int], dict[str, int]]]:
    """Runs argv until it prints "ready"; returns (pid, status, kinds) for each of its processes."""
    image_off = image_page_offset(artifact) if artifact else 0
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert p.stdout is not None and p.stdin is not None
    try:
        for line in p.stdout:
            if line.strip() == b"ready":
                break
        else:
            raise SystemExit(f"rss_breakdown: {argv[0]} ended without printing ready")
        return [(pid, status(pid), kinds(mappings(pid), artifact, image_off)) for pid in [p.pid, *descendants(p.pid)]]
    finally:
        p.stdin.close()
        if p.wait(timeout=120) != 0:
            raise SystemExit(f"rss_breakdown: {argv[0]} exited {p.returncode}")


def report(name: str, variant: str, procs: list[tuple[int, dict[str, int], dict[str, int]]]) -> list[str]:
    """Markdown lines for one run."""
    lines = [f"### {name}, {variant}", "", "| process | VmHWM | VmRSS | anon | file | shmem |",
             "|---|---|---|---|---|---|"]
    roles = ["supervisor", "init", "app"]
    for i, (_pid, st, _k) in enumerate(procs):
        who = "the program" if len(procs) == 1 else roles[min(i, 2)] + (f" {i}" if i > 2 else "")
        cells = " | ".join(str(st[k]) for k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"))
        lines.append(f"| {who} | {cells} |")
    peak = max(procs, key=lambda p: p[1]["VmHWM"])
    lines += ["", "| resident in the largest process, by kind (KiB) | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(peak[2].items(), key=lambda kv: -kv[1]) if v]
    return [*lines, ""]


def main() -> int:
    """Builds, packs, measures; prints markdown."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "rss", help="work directory")
    ap.add_argument("--keep-cache", action="store_true", help="do not evict the artifacts from the page cache first")
    args = ap.parse_args()
    work = args.out.resolve()
    (work / "bin").mkdir(parents=True, exist_ok=True)
    progs: dict[str, tuple[list[str], Path]] = {}
    for name, flags in (("hello-static", ["-static"]), ("hello-dynamic", [])):
        exe = work / "bin" / name
        r = sh(["gcc", "-O2", *flags, "-o", str(exe), str(SRC / "rsswait.c")])
        if r.returncode != 0:
            raise SystemExit(f"rss_breakdown: gcc: {r.stderr.strip()}")
        progs[name] = ([str(exe)], pack(exe, work / "dist"))
    project = work / "python3"
    project.mkdir(exist_ok=True)
    (project / "litebox.toml").write_text(
        '[app]\nname = "python3"\nentry = "/usr/bin/python3"\nenv = { LANG = "C.UTF-8" }\n\n'
        '[files]\n"/usr/lib/python3.11" = "/usr/lib/python3.11"\n\n[build]\nsource_date_epoch = 0\n')
    progs["python3 -c (wait)"] = (["/usr/bin/python3", "-c", PY_WAIT], pack(project, work / "dist"))
    out = []
    for name, (native, art) in progs.items():
        out += report(name, "native", snapshot(native, None))
        packed = [str(art), *native[1:]]
        if not args.keep_cache:
            evict(str(art))
            out += report(name, "packed, artifact evicted from the page cache first", snapshot(packed, art))
        out += report(name, "packed, warm", snapshot(packed, art))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
