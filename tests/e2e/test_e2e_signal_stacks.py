"""An app's SA_ONSTACK handler runs where the kernel would run it, also when its signal comes
while the thread is inside a system call the runtime serves (docs/targets/linux-userland.md,
"Alternate signal stacks"; runtime fastpath.rs `run_on_app_stack`).

The runtime serves a call on a stack of its own. A signal let in during a blocking call (or
on the way into or out of a call) used to run the app's handler there, not on the app's
alternate stack. C programs rarely notice; Go does: its handlers check the stack, and a static
Go program then waits forever. Packed Go programs hung when a child exited during `os/exec`
and on SIGTERM to a service waiting in `signal.Notify`.

- tests/e2e/programs/sigaltcall.c: SIGCHLD during `waitid` and released by `sigsuspend` (and
  each handler's mask), a storm of SIGUSR1 and SIGUSR2 from a second thread over calls of every
  kind, a second signal while a handler blocks in `read`, a handler without SA_ONSTACK (on the
  thread's own stack), and SA_ONSTACK without an alternate stack. Its output must be the
  native output, byte for byte (rewritten and `--no-rewrite`, dynamic and static). The storm
  and the blocked handler were out of the probe for a while: they hung now and then on signals
  left deferred and blocked for good (docs/targets/linux-userland.md, "Alternate signal
  stacks").
- tests/e2e/programs/gcstop.c: Boehm GC collects while two threads block, one in `read` with
  its object in a register, one in a condition wait with it on the stack. The collector's
  stop signal handler runs without SA_ONSTACK and scans the thread's stack from its own stack
  pointer up: run on the runtime's stack, the packed program crashed; without the call's
  registers on the app's stack, the reader's object was freed.
- tests/e2e/programs/sigjmp.c: a handler that leaves by `siglongjmp` while a thread blocks in
  a read, 300 times, and one with SA_RESTART that returns. The runtime once ran such handlers
  inside the call it served, and a jump out abandoned the call's reference to the open file:
  closed descriptors stayed open on the host, and the program hung in about half the runs.
- tests/e2e/programs/gosignals: a static Go program (skipped without a Go toolchain) that runs
  children from 8 goroutines, and one that waits for SIGTERM or SIGINT and exits cleanly.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import BASE_ENV, describe, pack_both_ways, run_program, session_scratch
from test_e2e_conformance import PROGRAMS, build, first_difference

pytestmark = pytest.mark.skipif(
    os.environ.get("LITEBOX_E2E_NO_REWRITE") == "1", reason="chooses rewriting itself"
)

ROUNDS = "50"


@pytest.fixture(scope="module")
def probe() -> dict[str, Path]:
    """sigaltcall.c built dynamic and static, each packed both ways: {"static-trap", ...}."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    work = session_scratch("litebox-sigaltcall-")
    out: dict[str, Path] = {}
    for static in (False, True):
        kind = "static" if static else "dynamic"
        out.update(pack_both_ways(build("sigaltcall.c", work, static=static), work, f"{kind}-"))
    return out


@pytest.mark.parametrize("kind", ["dynamic", "static"])
@pytest.mark.parametrize("variant", ["rewrite", "trap"])
def test_onstack_handlers_run_where_the_kernel_would_run_them(
    probe: dict[str, Path], kind: str, variant: str
) -> None:
    native = run_program([probe[f"{kind}-native"], ROUNDS])
    assert native.returncode == 0 and native.stdout.endswith(b"done\n"), describe(native)
    assert b"50 handlers, 0 off the alternate stack, 0 not SS_ONSTACK, 0 wrong masks" in native.stdout, describe(native)
    packed = run_program([probe[f"{kind}-{variant}"], ROUNDS])
    assert packed.stdout == native.stdout, first_difference(native.stdout, packed.stdout)
    assert packed.returncode == 0, describe(packed)


@pytest.fixture(scope="module")
def gcstop() -> dict[str, Path]:
    """gcstop.c built against Boehm GC (libgc-dev, which scripts/setup installs) and packed
    both ways: {"native", "rewrite", "trap"}."""
    if shutil.which("gcc") is None or not Path("/usr/include/gc.h").exists():
        pytest.skip("gcc or libgc-dev not installed")
    work = session_scratch("litebox-gcstop-")
    return pack_both_ways(build("gcstop.c", work, static=False, libs=("-lgc",)), work)


@pytest.mark.parametrize("variant", ["rewrite", "trap"])
def test_collector_stops_threads_blocked_in_calls(gcstop: dict[str, Path], variant: str) -> None:
    native = run_program([gcstop["native"]])
    assert native.returncode == 0, describe(native)
    assert native.stdout == (
        b"collections while blocked: yes\nreader's object intact\nwaiter's object intact\n"
    ), describe(native)
    packed = run_program([gcstop[variant]])
    assert packed.stdout == native.stdout, first_difference(native.stdout, packed.stdout)
    # Nothing on stderr either: the collector warns when it cannot read /proc/stat.
    assert (packed.returncode, packed.stderr) == (0, native.stderr), describe(packed)


@pytest.fixture(scope="module")
def sigjmp() -> dict[str, Path]:
    """sigjmp.c built dynamic and packed both ways: {"native", "rewrite", "trap"}."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    work = session_scratch("litebox-sigjmp-")
    return pack_both_ways(build("sigjmp.c", work, static=False), work)


SIGJMP_EXPECTED = b"".join(
    b"%s: 300 rounds, helper saw end-of-file after 300, write after close: EPIPE\n" % case
    for case in (b"siglongjmp, plain handler", b"siglongjmp, SA_ONSTACK handler")
) + (
    b"SA_RESTART handler: 300 reads got their byte, 0 did not, 300 handlers ran\n"
    b"SA_RESTART handler: 300 rounds, helper saw end-of-file after 300, write after close: EPIPE\n"
    b"done\n"
)


@pytest.mark.parametrize("variant", ["rewrite", "trap"])
def test_handler_that_jumps_out_of_a_blocked_call_abandons_nothing(
    sigjmp: dict[str, Path], variant: str
) -> None:
    """A handler that leaves by siglongjmp while a thread blocks in a read of a host pipe,
    300 times: the descriptors it closed afterwards are closed on the host (end-of-file for
    the other thread, EPIPE for a write); a handler with SA_RESTART that returns lets the read
    go on. Before the runtime ran handlers at the call's exit, about half the runs hung."""
    native = run_program([sigjmp["native"], "300"])
    assert (native.returncode, native.stdout) == (0, SIGJMP_EXPECTED), describe(native)
    packed = run_program([sigjmp[variant], "300"])
    assert packed.stdout == native.stdout, first_difference(native.stdout, packed.stdout)
    assert packed.returncode == 0, describe(packed)


def _go() -> str | None:
    found = shutil.which("go")
    if found is None and os.access("/usr/local/go/bin/go", os.X_OK):
        found = "/usr/local/go/bin/go"
    return found


@pytest.fixture(scope="module")
def gosignals() -> dict[str, Path]:
    """gosignals built static (CGO_ENABLED=0) with the local toolchain, and packed both ways:
    {"native", "rewrite", "trap"}."""
    go = _go()
    if go is None:
        pytest.skip("no Go toolchain (go on PATH or /usr/local/go)")
    work = session_scratch("litebox-gosignals-")
    prog = work / "gosignals"
    env = {
        **os.environ,
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-trimpath",
        "GOCACHE": str(work / "gocache"),
        "GOPATH": str(work / "gopath"),
    }
    build = subprocess.run([go, "build", "-o", str(prog), "."], cwd=PROGRAMS / "gosignals", env=env,
                           capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stderr
    return pack_both_ways(prog, work)


@pytest.mark.parametrize("variant", ["rewrite", "trap"])
def test_go_runs_children_from_many_goroutines(gosignals: dict[str, Path], variant: str) -> None:
    native = run_program([gosignals["native"], "exec", "8", "10"])
    assert native.stdout == b"80 of 80 children ran\n" and native.returncode == 0, describe(native)
    packed = run_program([gosignals[variant], "exec", "8", "10"])
    assert packed.stdout == native.stdout, describe(packed)
    assert packed.returncode == 0, describe(packed)


@pytest.mark.parametrize("variant", ["rewrite", "trap"])
@pytest.mark.parametrize(("signum", "name"), [(signal.SIGTERM, b"terminated"), (signal.SIGINT, b"interrupt")],
                         ids=["SIGTERM", "SIGINT"])
def test_go_service_stops_cleanly_on_a_signal(
    gosignals: dict[str, Path], variant: str, signum: int, name: bytes
) -> None:
    """The signal goes to the artifact (which passes it to the app, as a service manager's
    stop does); the app, idle in blocking calls, must take it and exit 0."""
    proc = subprocess.Popen([gosignals[variant], "wait"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(BASE_ENV))
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first == b"ready\n", first + proc.stdout.read()
        proc.send_signal(signum)
        # A hang shows as the timeout: the stop itself takes milliseconds.
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rest == b"got " + name + b"\n", err
    assert proc.returncode == 0, err
