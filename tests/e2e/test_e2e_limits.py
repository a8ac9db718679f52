"""[policy.limits] and [policy] uid/gid, enforced by the library OS (docs/config.md).

Each probe (tests/e2e/programs/limits.c, ids.c) runs packed under a small litebox.toml and
prints the errno every over-limit call got; the tests compare the whole output, so a wrong
errno, a crash of the runtime or a limit that was not given back all fail. These are policy
behaviours: there is nothing native to compare with.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from litebox_e2e import describe, pack, run_program

PROGRAMS = Path(__file__).resolve().parent / "programs"


def packed_probe(tmp_path: Path, src: str, toml_tail: str, args: list[str]) -> Path:
    """Compiles PROGRAMS/SRC into a project whose litebox.toml ends with TOML_TAIL; packs it."""
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["cc", "-O1", "-Wall", "-pthread", "-o", str(project / "probe"), str(PROGRAMS / src)], check=True)
    args_toml = ", ".join(f'"{a}"' for a in args)
    (project / "litebox.toml").write_text(
        f'[app]\nentry = "/app/probe"\nargs = [{args_toml}]\n\n[files]\n"/app/probe" = "probe"\n\n{toml_tail}',
        encoding="utf-8",
    )
    return pack(project, tmp_path / "dist").path


EXPECTED = {
    "memory": (
        'memory = "64M"',
        "RLIMIT_AS: 64 MiB\n"
        "mmap 128 MiB: ENOMEM\n"
        "mmap 16 MiB: ok\n"
        "mremap to 200 MiB: ENOMEM\n"
        "sbrk 100 MiB: ENOMEM\n"
        "malloc 200 MiB: ENOMEM\n"
        "mmap 32 MiB after munmap: ok\n"
        "MemTotal: 64 MiB\n"
        "sysinfo totalram: 64 MiB, freeram below it: 1\n",
    ),
    "files": (
        "open_files = 16",
        "RLIMIT_NOFILE: 16 16\n"
        "opened 13 more, then open: EMFILE\n"
        "pipe: EMFILE\n"
        "dup: EMFILE\n"
        "setrlimit above the policy: EPERM\n"
        "open after close: ok fd==last: 1\n",
    ),
    "threads": (
        "threads = 4",
        "created 3 threads, then pthread_create: EAGAIN\nafter joining, pthread_create: ok\n",
    ),
    "processes": (
        "processes = 3",
        "RLIMIT_NPROC: 3\n"
        "forked 2, then fork: EAGAIN\n"
        "raw clone: EAGAIN\n"
        "vfork: EAGAIN\n"
        "killed child reaped: signaled=1\n"
        "fork after reaping a killed child: ok\n"
        "forked 2, then fork: EAGAIN\n",
    ),
}


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_limit_gives_linux_errno_and_app_survives(tmp_path: Path, mode: str) -> None:
    limit, expected = EXPECTED[mode]
    art = packed_probe(tmp_path, "limits.c", f"[policy.limits]\n{limit}\n", [mode])
    out = run_program([art])
    assert out.returncode == 0, describe(out)
    assert out.stdout.decode() == expected + "still alive\n", describe(out)


def test_policy_ids_are_what_the_app_sees(tmp_path: Path) -> None:
    art = packed_probe(tmp_path, "ids.c", "[policy]\nuid = 1234\ngid = 4321\n", [])
    out = run_program([art])
    assert out.returncode == 0, describe(out)
    assert out.stdout.decode() == (
        "getuid=1234 geteuid=1234 getgid=4321 getegid=4321\n"
        "getresuid=1234,1234,1234 getresgid=4321,4321,4321\n"
        "image file owner=1234:4321\n"
        "new file owner=1234:4321\n"
        "new file owner by path=1234:4321\n"
        "Uid:\t1234\t1234\t1234\t1234\n"
        "Gid:\t4321\t4321\t4321\t4321\n"
    ), describe(out)
