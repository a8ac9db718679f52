"""[policy.limits] and [policy] uid/gid, enforced by the library OS (docs/config.md), on every
target (the `target` fixture; kvm boots the probe in QEMU with TCG).

Each probe (tests/e2e/programs/limits.c, ids.c) runs packed under a small litebox.toml and
prints the errno every over-limit call got; the tests compare the whole output, so a wrong
errno, a crash of the runtime or a limit that was not given back all fail. These are policy
behaviours: there is nothing native to compare with; every target must print the same bytes.

On kvm the process limit is the kernel's own (one count over the whole VM); memory, open files
and threads are counted by the library OS of each process, as on linux-userland. Without a
limit in the policy the VM's RAM bounds the app there: the kernel's default process limit,
fallible kernel stacks and an out-of-memory SIGKILL (docs/targets/kvm.md, "Resource limits"). Those
runaway probes (endless fork bomb, thread bomb, memory hog without a limit) run only on the
targets of VM_BOUNDED, where the VM contains them and ends with them; on linux-userland they
would be host processes that nothing bounds.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from litebox_e2e import describe, pack_for, run_on, signal_death_status

PROGRAMS = Path(__file__).resolve().parent / "programs"

# Targets whose app runs in a VM of bounded RAM, so an unbounded fork, thread or memory bomb
# stays inside it (the runner's VM time limit ends it at worst): the runaway tests run there.
VM_BOUNDED = ["kvm"]


def packed_probe(target: Any, tmp_path: Path, src: str, toml_tail: str, args: list[str]) -> Path:
    """Compiles PROGRAMS/SRC into a project whose litebox.toml ends with TOML_TAIL; packs it for
    ``target``."""
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["cc", "-O1", "-Wall", "-pthread", "-o", str(project / "probe"), str(PROGRAMS / src)], check=True)
    args_toml = ", ".join(f'"{a}"' for a in args)
    (project / "litebox.toml").write_text(
        f'[app]\nentry = "/app/probe"\nargs = [{args_toml}]\n\n[files]\n"/app/probe" = "probe"\n\n{toml_tail}',
        encoding="utf-8",
    )
    return pack_for(target, project, tmp_path / "dist").path


def limits_probe(target: Any, tmp_path: Path, limits: str, args: list[str]) -> Path:
    """limits.c packed for ``target`` with `[policy.limits]` LIMITS (none when empty)."""
    return packed_probe(target, tmp_path, "limits.c", f"[policy.limits]\n{limits}\n" if limits else "", args)


def run(target: Any, artifact: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The probe run on ``target`` with no extra arguments (its mode is in the policy); a VM
    is ended after 90 s."""
    return run_on(target, artifact, [], env=env, vm_timeout=90)


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
BOMB_EXPECTED = "forkbomb: some forks ok: 1, some refused with EAGAIN: 1, other errors: 0\nstill alive\n"
HOG_EXPECTED = "memhog: mmap refused after 48 MiB: ENOMEM\nstill alive\n"


@pytest.mark.parametrize("mode", [pytest.param(m, marks=pytest.mark.needs("fork")) if m == "processes" else m
                                  for m in sorted(EXPECTED)])
def test_limit_gives_linux_errno_and_app_survives(target: Any, tmp_path: Path, mode: str) -> None:
    limit, expected = EXPECTED[mode]
    out = run(target, limits_probe(target, tmp_path, limit, [mode]))
    assert out.returncode == 0, describe(out)
    assert out.stdout.decode() == expected + "still alive\n", describe(out)


# Known gaps, by target: the test runs there and is expected to fail (strict: it fails loudly
# once the gap is closed, so the entry must go).


def test_policy_ids_are_what_the_app_sees(target: Any, tmp_path: Path) -> None:
    art = packed_probe(target, tmp_path, "ids.c", "[policy]\nuid = 1234\ngid = 4321\n", [])
    out = run(target, art)
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


@pytest.mark.needs("fork")
def test_bounded_fork_bomb_is_stopped(target: Any, tmp_path: Path) -> None:
    out = run(target, limits_probe(target, tmp_path, "processes = 5", ["forkbomb"]))
    assert out.returncode == 0, describe(out)
    assert out.stdout.decode() == BOMB_EXPECTED, describe(out)


def test_memory_limit_stops_the_hog_first(target: Any, tmp_path: Path) -> None:
    """With [policy.limits] memory the hog's mmap gets ENOMEM at the limit and the app goes on."""
    out = run(target, limits_probe(target, tmp_path, 'memory = "64M"', ["memhog"]))
    assert out.returncode == 0, describe(out)
    assert out.stdout.decode() == HOG_EXPECTED, describe(out)


@pytest.mark.needs("fork")
def test_refusals_are_logged(target: Any, tmp_path: Path) -> None:
    art = limits_probe(target, tmp_path, "processes = 3\nthreads = 4\nopen_files = 16", ["processes"])
    out = run(target, art, env={"LITEBOX_LOG": "debug"})
    assert out.returncode == 0, describe(out)
    assert b"litebox: process limit of the policy reached: fork EAGAIN" in out.stderr, describe(out)


@pytest.mark.parametrize("target", VM_BOUNDED, indirect=True)
def test_endless_fork_bomb_ends_with_the_apps_exit_status(target: Any, tmp_path: Path) -> None:
    """Every child forks forever and never exits; the first process waits until the whole tree
    fills the limit, sees one more fork refused, then exits 3 while the bomb still runs: the VM
    ends with that 3 (no hang, no kernel error)."""
    out = run(target, limits_probe(target, tmp_path, "processes = 8", ["endless"]))
    assert out.returncode == 3, describe(out)
    assert out.stdout == (b"endless: refused with EAGAIN at the limit: 1, processes started: 7 of RLIMIT_NPROC 8, "
                          b"then fork: EAGAIN\n"), describe(out)


@pytest.mark.parametrize("target", VM_BOUNDED, indirect=True)
def test_without_a_policy_limit_the_kernel_caps_processes_by_ram(target: Any, tmp_path: Path) -> None:
    """No [policy.limits] processes: the kernel's default (one live process per 4 MiB of the VM's
    RAM, reported by RLIMIT_NPROC) stops the endless bomb with EAGAIN before memory runs out."""
    out = run(target, limits_probe(target, tmp_path, "", ["endless"]), env={"LITEBOX_LOG": "debug"})
    assert out.returncode == 3, describe(out)
    m = re.search(rb"^endless: refused with EAGAIN at the limit: 1, processes started: (\d+) of RLIMIT_NPROC (\d+), "
                  rb"then fork: EAGAIN$", out.stdout, re.M)
    assert m, describe(out)
    assert b"litebox: default process limit of the VM reached: fork EAGAIN" in out.stderr, describe(out)
    started, nproc = int(m[1]), int(m[2])
    assert started == nproc - 1, describe(out)
    # The runner gives the VM 512 MiB (platform_targets/kvm/qemu.py): about 127 processes.
    assert 100 <= nproc <= 128, describe(out)


@pytest.mark.parametrize("target", VM_BOUNDED, indirect=True)
def test_thread_bomb_without_a_policy_limit_gets_eagain(target: Any, tmp_path: Path) -> None:
    """Threads that never end, without [policy.limits] threads: when the kernel has no memory
    left for another thread (its reserve excepted), pthread_create fails with EAGAIN and the
    app goes on."""
    out = run(target, limits_probe(target, tmp_path, "", ["threadbomb"]))
    assert out.returncode == 0, describe(out)
    assert out.stdout == b"threadbomb: some threads ok: 1, then pthread_create: EAGAIN\nstill alive\n", describe(out)


@pytest.mark.parametrize("target", VM_BOUNDED, indirect=True)
def test_memory_exhaustion_kills_the_app_like_the_oom_killer(target: Any, tmp_path: Path) -> None:
    """No [policy.limits] memory: an app that touches more memory than the VM has is ended with
    SIGKILL (status 137), as Linux's OOM killer ends it; the kernel keeps its own reserve, so
    this is never a kernel error (125)."""
    out = run(target, limits_probe(target, tmp_path, "", ["memhog"]), env={"LITEBOX_LOG": "debug"})
    assert out.returncode == signal_death_status(target, 9), describe(out)
    assert b"was killed by SIGKILL (out of memory)" in out.stderr, describe(out)
    assert b"internal error" not in out.stderr, describe(out)
