"""[policy.limits] under the kvm target: the probe of tests/e2e/test_e2e_limits.py
(programs/limits.c), packed once for kvm and once for linux-userland under the same
litebox.toml, must print the same bytes and exit the same way on both, and that output must be
the one test_e2e_limits.py expects (Linux's errno for each refused call, the app alive after).

The process limit is the kvm kernel's own (one count over the whole VM); memory, open files and
threads are counted by the library OS of each process, as on linux-userland. Without a limit
in the policy the VM's RAM bounds the app: the kernel's default process limit, fallible
kernel stacks and an out-of-memory SIGKILL (docs/targets/kvm.md, "Resource limits"); the last tests
check that. Fork, thread and memory bombs run only packed for kvm (the bounded fork bomb and
the limited hog also under linux-userland, where the policy's limit stops them): inside the VM,
bounded by the limit, their own loop counts and the runner's VM time limit. Skipped as a whole
when qemu-system-x86_64 is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import litebox_e2e
import pytest
from litebox_e2e import describe, parse_pack_json, run_cli, run_program
from test_e2e_limits import EXPECTED

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-x86_64") is None,
    reason="qemu-system-x86_64 is not installed (./scripts/setup installs Debian's qemu-system-x86)",
)

PROGRAMS = Path(__file__).resolve().parent / "programs"
BOMB_EXPECTED = "forkbomb: some forks ok: 1, some refused with EAGAIN: 1, other errors: 0\nstill alive\n"


def pack_both(tmp_path: Path, limits: str, args: list[str]) -> dict[str, Path]:
    """Compiles limits.c into a project whose litebox.toml has `[policy.limits]` LIMITS (none
    when empty) and ARGS; packs it for kvm and linux-userland in one run. Returns {target: artifact}."""
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["cc", "-O1", "-Wall", "-pthread", "-o", str(project / "probe"), str(PROGRAMS / "limits.c")],
                   check=True)
    args_toml = ", ".join(f'"{a}"' for a in args)
    (project / "litebox.toml").write_text(
        f'[app]\nentry = "/app/probe"\nargs = [{args_toml}]\n\n[files]\n"/app/probe" = "probe"\n\n'
        + (f"[policy.limits]\n{limits}\n" if limits else ""),
        encoding="utf-8",
    )
    proc = run_cli("pack", project, "--target", "kvm", "--target", "linux-userland",
                   "--out-dir", tmp_path / "dist", "--json")
    assert proc.returncode == 0, describe(proc)
    return {a.target: a.path for a in parse_pack_json(proc.stdout)}


def run_kvm(artifact: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """litebox_e2e.run_kvm with no extra arguments (the probe's mode is in the policy)."""
    return litebox_e2e.run_kvm(artifact, [], env=env, vm_timeout=90)


@pytest.mark.parametrize("mode", sorted(EXPECTED))
def test_limit_under_kvm_matches_linux_userland(tmp_path: Path, mode: str) -> None:
    limit, expected = EXPECTED[mode]
    arts = pack_both(tmp_path, limit, [mode])
    kvm = run_kvm(arts["kvm"])
    ref = run_program([arts["linux-userland"]])
    assert ref.returncode == 0, describe(ref)
    assert ref.stdout.decode() == expected + "still alive\n", describe(ref)
    assert kvm.returncode == 0, describe(kvm)
    assert kvm.stdout == ref.stdout, f"kvm:\n{describe(kvm)}\nlinux-userland:\n{describe(ref)}"


def test_fork_bomb_under_kvm_is_stopped_like_on_linux_userland(tmp_path: Path) -> None:
    arts = pack_both(tmp_path, "processes = 5", ["forkbomb"])
    kvm = run_kvm(arts["kvm"])
    ref = run_program([arts["linux-userland"]])
    assert ref.returncode == 0, describe(ref)
    assert ref.stdout.decode() == BOMB_EXPECTED, describe(ref)
    assert kvm.returncode == 0, describe(kvm)
    assert kvm.stdout == ref.stdout, f"kvm:\n{describe(kvm)}\nlinux-userland:\n{describe(ref)}"


def test_endless_fork_bomb_ends_with_the_apps_exit_status(tmp_path: Path) -> None:
    """Every child forks forever and never exits; the first process waits until the whole tree
    fills the limit, sees one more fork refused, then exits 3 while the bomb still runs: the VM
    ends with that 3 (no hang, no kernel error)."""
    arts = pack_both(tmp_path, "processes = 8", ["endless"])
    kvm = run_kvm(arts["kvm"])
    assert kvm.returncode == 3, describe(kvm)
    assert kvm.stdout == (b"endless: refused with EAGAIN at the limit: 1, processes started: 7 of RLIMIT_NPROC 8, "
                          b"then fork: EAGAIN\n"), describe(kvm)


def test_without_a_policy_limit_the_kernel_caps_processes_by_ram(tmp_path: Path) -> None:
    """No [policy.limits] processes: the kernel's default (one live process per 4 MiB of the VM's
    RAM, reported by RLIMIT_NPROC) stops the endless bomb with EAGAIN before memory runs out."""
    arts = pack_both(tmp_path, "", ["endless"])
    kvm = run_kvm(arts["kvm"], env={"LITEBOX_LOG": "debug"})
    assert kvm.returncode == 3, describe(kvm)
    m = re.search(rb"^endless: refused with EAGAIN at the limit: 1, processes started: (\d+) of RLIMIT_NPROC (\d+), "
                  rb"then fork: EAGAIN$", kvm.stdout, re.M)
    assert m, describe(kvm)
    assert b"litebox: default process limit of the VM reached: fork EAGAIN" in kvm.stderr, describe(kvm)
    started, nproc = int(m[1]), int(m[2])
    assert started == nproc - 1, describe(kvm)
    # The runner gives the VM 512 MiB (platform_targets/kvm/qemu.py): about 127 processes.
    assert 100 <= nproc <= 128, describe(kvm)


def test_thread_bomb_without_a_policy_limit_gets_eagain(tmp_path: Path) -> None:
    """Threads that never end, without [policy.limits] threads: when the kernel has no memory
    left for another thread (its reserve excepted), pthread_create fails with EAGAIN and the
    app goes on."""
    arts = pack_both(tmp_path, "", ["threadbomb"])
    kvm = run_kvm(arts["kvm"])
    assert kvm.returncode == 0, describe(kvm)
    assert kvm.stdout == b"threadbomb: some threads ok: 1, then pthread_create: EAGAIN\nstill alive\n", describe(kvm)


def test_memory_exhaustion_kills_the_app_like_the_oom_killer(tmp_path: Path) -> None:
    """No [policy.limits] memory: an app that touches more memory than the VM has is ended with
    SIGKILL (status 137), as Linux's OOM killer ends it; the kernel keeps its own reserve, so
    this is never a kernel error (125)."""
    arts = pack_both(tmp_path, "", ["memhog"])
    kvm = run_kvm(arts["kvm"], env={"LITEBOX_LOG": "debug"})
    assert kvm.returncode == 128 + 9, describe(kvm)
    assert b"was killed by SIGKILL (out of memory)" in kvm.stderr, describe(kvm)
    assert b"internal error" not in kvm.stderr, describe(kvm)


def test_memory_limit_stops_the_hog_first(tmp_path: Path) -> None:
    """With [policy.limits] memory the hog's mmap gets ENOMEM at the limit and the app goes on."""
    arts = pack_both(tmp_path, 'memory = "64M"', ["memhog"])
    kvm = run_kvm(arts["kvm"])
    ref = run_program([arts["linux-userland"]])
    assert ref.returncode == 0, describe(ref)
    assert kvm.returncode == 0, describe(kvm)
    assert kvm.stdout == ref.stdout, f"kvm:\n{describe(kvm)}\nlinux-userland:\n{describe(ref)}"


def test_refusals_are_logged_under_kvm(tmp_path: Path) -> None:
    arts = pack_both(tmp_path, "processes = 3\nthreads = 4\nopen_files = 16", ["processes"])
    kvm = run_kvm(arts["kvm"], env={"LITEBOX_LOG": "debug"})
    assert kvm.returncode == 0, describe(kvm)
    assert b"litebox: process limit of the policy reached: fork EAGAIN" in kvm.stderr, describe(kvm)
