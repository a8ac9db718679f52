"""The windows target under Wine: examples packed for windows give the same stdout and exit
status as the native program (which the linux-userland suites hold linux-userland artifacts
to); the artifact is a PE32+ that independent tools read, with no time stamp, a correct
checksum, the image in its own section, and the same bytes when packed from two directories.

Skipped, with the doctor's reason, where the windows toolchain is not installed
(`./scripts/setup` installs it unless given --no-windows). The Wine prefix is created once per session in a temporary
directory (never the user's ~/.wine)."""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from litebox_e2e import (
    BASE_ENV,
    REPO,
    RUN_TIMEOUT,
    Artifact,
    cli_argv,
    copy_example,
    describe,
    discover_targets,
    pack_for,
    sha256_file,
    unready_reason,
)

WINE_TIMEOUT = 300


@pytest.fixture(scope="session")
def windows() -> Any:
    """The windows plugin, or a skip naming the missing tool."""
    target = discover_targets()["windows"]
    reason = unready_reason(target)
    if reason is not None:
        pytest.skip(reason)
    return target


@pytest.fixture(scope="session")
def wine(windows: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment for running under Wine with a prefix made for this session."""
    path = sys.modules[type(windows.plugin).__module__].wine_path()
    if path is None:
        pytest.skip("Wine is not installed (apt-get install wine64, or ./scripts/setup)")
    env = {**BASE_ENV, "WINEPREFIX": str(tmp_path_factory.mktemp("wineprefix")), "WINEDEBUG": "-all",
           "WINEPRELOADRESERVE": sys.modules[type(windows.plugin).__module__].WINE_LOW_RESERVE,
           "HOME": str(tmp_path_factory.mktemp("winehome"))}
    proc = subprocess.run([path, "wineboot", "--init"], env=env, capture_output=True, timeout=WINE_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    return {**env, "LITEBOX_WINE": path}


class Packed:
    """Examples copied to a temporary directory and packed for windows once per session."""

    def __init__(self, root: Path, target: Any) -> None:
        self.root, self.target = root, target
        self.done: dict[tuple[str, str], tuple[Path, Artifact]] = {}

    def get(self, name: str, copy: str = "a") -> tuple[Path, Artifact]:
        if (name, copy) not in self.done:
            work = self.root / copy / name
            work.mkdir(parents=True)
            project = copy_example(name, work)
            self.done[(name, copy)] = (project, pack_for(self.target, project, work / "dist"))
        return self.done[(name, copy)]


@pytest.fixture(scope="session")
def packed(windows: Any, tmp_path_factory: pytest.TempPathFactory) -> Packed:
    return Packed(tmp_path_factory.mktemp("windows"), windows)


def run_wine(wine: dict[str, str], exe: Path, args: list[str], env: dict[str, str] | None = None,
             stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([wine["LITEBOX_WINE"], str(exe), *args], env={**wine, **(env or {})}, input=stdin,
                          capture_output=True, timeout=RUN_TIMEOUT)


# (example, args, environment the native run needs to match the packed app's config)
CASES = [
    ("hello-static", ["one", "two", "--getenv", "GREETING", "--exit", "3"], {"GREETING": "hi"}),
    ("hello-dynamic", ["a", "b c"], None),
    ("cat-files", ["first", "second arg"], None),
]


@pytest.mark.parametrize(("example", "args", "native_env"), CASES, ids=[c[0] for c in CASES])
def test_example_same_as_native(packed: Packed, wine: dict[str, str], example: str, args: list[str],
                                native_env: dict[str, str] | None) -> None:
    project, art = packed.get(example)
    assert art.path.name == f"{example}-windows.exe"
    got = run_wine(wine, art.path, args)
    native_prog = project / "build" / next(p.name for p in (project / "build").iterdir() if os.access(p, os.X_OK))
    cwd = project if example == "cat-files" else None
    native = subprocess.run([str(native_prog), *args], env={**BASE_ENV, **(native_env or {})}, cwd=cwd,
                            capture_output=True, timeout=RUN_TIMEOUT)
    if example == "cat-files":
        # The native run reads the project's data/ from its cwd; the packed one its image's /data.
        assert got.returncode == 0, describe(got)
        assert b"alpha: the first packed file" in got.stdout and b"argv[2]=second arg" in got.stdout
        return
    assert (got.stdout, got.returncode) == (native.stdout, native.returncode), describe(got)


@pytest.fixture(scope="session")
def threads_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/e2e/programs/threads.c built natively (threads, a mutex, a condition variable,
    TLS, joins, exit() from a thread with status 7)."""
    out = tmp_path_factory.mktemp("threads") / "threads"
    subprocess.run(["cc", "-O2", "-pthread", "-o", str(out), str(REPO / "tests/e2e/programs/threads.c")],
                   check=True, timeout=RUN_TIMEOUT)
    return out


def test_threads_same_as_native(windows: Any, wine: dict[str, str], threads_program: Path,
                                tmp_path: Path) -> None:
    art = pack_for(windows, threads_program, tmp_path / "dist")
    native = subprocess.run([str(threads_program)], env=BASE_ENV, capture_output=True, timeout=RUN_TIMEOUT)
    got = run_wine(wine, art.path, [])
    assert (got.stdout, got.returncode) == (native.stdout, native.returncode), describe(got)
    assert native.returncode == 7


@pytest.fixture(scope="session")
def signal_probes(windows: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """tests/e2e/programs/signals.c (dynamic and static), sigaltstack.c (static) and faults.c, each
    built natively and packed for windows once: {name: (native program, artifact)}."""
    work = tmp_path_factory.mktemp("signals")
    out: dict[str, tuple[Path, Path]] = {}
    for name, src, static in (("signals", "signals.c", False), ("signals-static", "signals.c", True),
                              ("sigaltstack", "sigaltstack.c", True), ("faults", "faults.c", False)):
        prog = work / name
        cmd = ["cc", "-O1", "-pthread", "-o", str(prog), str(REPO / "tests/e2e/programs" / src)]
        subprocess.run(cmd[:1] + (["-static"] if static else []) + cmd[1:], check=True, timeout=RUN_TIMEOUT)
        out[name] = (prog, pack_for(windows, prog, work / "dist").path)
    return out


@pytest.mark.parametrize(("probe", "args"), [("signals", []), ("signals-static", []), ("signals", ["term"]),
                                             ("signals", ["abort"])],
                         ids=["dynamic", "static", "dies-of-sigterm", "dies-of-sigabrt"])
def test_signal_handlers_same_as_native(signal_probes: dict[str, tuple[Path, Path]], wine: dict[str, str],
                                        probe: str, args: list[str]) -> None:
    """Handlers run (raise, kill, sigqueue with its value, tgkill; pending while blocked and
    delivered on unblock; setitimer's SIGALRM ends sigsuspend with EINTR; alarm; a ppoll whose
    own mask lets in a blocked pending signal ends at once) with the same output as natively;
    a signal with the default action ends the app with 128 + N, the status a shell reports for
    the native death."""
    prog, art = signal_probes[probe]
    native = subprocess.run([str(prog), *args], env=BASE_ENV, capture_output=True, timeout=RUN_TIMEOUT)
    got = run_wine(wine, art, args)
    assert native.stdout.count(b"\n") == 12, describe(native)
    status = {"term": 128 + 15, "abort": 128 + 6}.get(args[0] if args else "", native.returncode)
    assert (got.stdout, got.returncode) == (native.stdout, status), describe(got)


@pytest.mark.parametrize(("probe", "args"), [("sigaltstack", []), ("faults", []), ("faults", ["unhandled"])],
                         ids=["sigaltstack", "faults-handled", "fault-unhandled"])
def test_faults_and_sigaltstack_same_as_native(signal_probes: dict[str, tuple[Path, Path]], wine: dict[str, str],
                                               probe: str, args: list[str]) -> None:
    """The app's handlers catch its own faults (SIGSEGV with si_code and si_addr, SIGILL,
    SIGFPE; a stack overflow on the alternate stack) and leave with siglongjmp; sigaltstack's
    answers, SA_ONSTACK handlers and the SSE state across handlers: the same output and status
    as natively. An unhandled fault ends the app with 128 + 11 and says so on stderr."""
    prog, art = signal_probes[probe]
    native = subprocess.run([str(prog), *args], env=BASE_ENV, capture_output=True, timeout=RUN_TIMEOUT)
    got = run_wine(wine, art, args)
    assert native.stdout or args == ["unhandled"], describe(native)
    status = 128 + 11 if args == ["unhandled"] else native.returncode
    assert (got.stdout, got.returncode) == (native.stdout, status), describe(got)
    if args == ["unhandled"]:
        assert native.returncode == -11, describe(native)
        assert b"litebox: the app faulted (exception 0xc0000005 at 0x" in got.stderr, describe(got)


def test_socket_calls_outside_the_policy_get_exact_errnos(windows: Any, wine: dict[str, str],
                                                          tmp_path: Path) -> None:
    """tests/e2e/programs/net.c's denied part on windows: bind, connect, sendto and sendmsg
    outside [policy.network], Unix-domain addresses, raw and netlink sockets get exactly the
    errnos linux-userland gives, before any Winsock call, except that an abstract Unix
    name is refused too (no network namespace of the sandbox's own)."""
    sys.path.insert(0, str(REPO / "tests/e2e"))
    from netprobe import DENIED_OUTPUT_NO_NETNS, build_probe, free_port, write_project

    allowed, denied = free_port(), free_port()
    while denied == allowed:
        denied = free_port()
    rules = [f"127.0.0.1:{allowed}"]
    art = pack_for(windows, write_project(tmp_path, build_probe(tmp_path), rules, rules), tmp_path / "dist")
    got = run_wine(wine, art.path, ["denied", str(denied)])
    assert got.returncode == 0, describe(got)
    assert got.stdout.decode() == DENIED_OUTPUT_NO_NETNS


def test_confinement_job_limits_and_weakened_token(windows: Any, wine: dict[str, str], tmp_path: Path) -> None:
    """The artifact puts itself in a job object with the policy's memory and process limits and
    removes every privilege of its token (read back from the token: none left), and, as the
    policy grants no network and no host directories, asks for a Low integrity level (Wine
    accepts the call but keeps its own level, which the line says: docs/targets/windows.md)."""
    project = copy_example("hello-static", tmp_path)
    toml = project / "litebox.toml"
    toml.write_text(toml.read_text() + '\n[policy.limits]\nmemory = "256M"\nprocesses = 3\n')
    art = pack_for(windows, project, tmp_path / "dist")
    got = run_wine(wine, art.path, ["x"], env={"LITEBOX_LOG": "debug"})
    assert got.returncode == 0, describe(got)
    lines = got.stderr.decode().splitlines()
    assert ("litebox: confinement: job object: kill-on-close, memory limit 268435456 bytes, process limit 3"
            in lines), describe(got)
    token = [line for line in lines if line.startswith("litebox: confinement: token: ")]
    assert len(token) == 1 and " privileges removed, 0 left; integrity level 0x" in token[0], describe(got)
    assert token[0].endswith(("(Low)", "(Low was asked for; the host kept this level)")), describe(got)
    quiet = run_wine(wine, art.path, ["x"])
    assert b"confinement" not in quiet.stderr and quiet.stdout == got.stdout, describe(quiet)


def test_vfork_and_posix_spawn_start_new_instances(windows: Any, wine: dict[str, str], tmp_path: Path) -> None:
    """tests/e2e/programs/spawn.c: vfork + dup2 of a pipe + execve (the child's stdout read
    back through the pipe, then EOF), posix_spawn (the child on the inherited stdout), vfork +
    _exit, each child waited for with its status, the parent's floating-point state intact:
    the same output as natively. Each exec'd child is a new instance of the artifact."""
    native_prog = tmp_path / "spawn"
    subprocess.run(["cc", "-O1", "-o", str(native_prog), str(REPO / "tests/e2e/programs/spawn.c")], check=True,
                   timeout=RUN_TIMEOUT)
    project = tmp_path / "project"
    project.mkdir()
    (project / "spawn").write_bytes(native_prog.read_bytes())
    (project / "litebox.toml").write_text('[app]\nname = "spawn"\nentry = "/app/spawn"\nargs = ["/app/spawn"]\n'
                                          '[files]\n"/app/spawn" = "spawn"\n')
    art = pack_for(windows, project, tmp_path / "dist")
    native = subprocess.run([str(native_prog), str(native_prog)], env=BASE_ENV, capture_output=True,
                            timeout=RUN_TIMEOUT)
    got = run_wine(wine, art.path, [])
    assert b"vfork+execve: read 17 [child says hello] waited 1 exit 7" in native.stdout, describe(native)
    assert (got.stdout, got.returncode) == (native.stdout, native.returncode), describe(got)


def test_fork_child_ids_same_as_native(windows: Any, wine: dict[str, str], tmp_path: Path) -> None:
    """tests/e2e/programs/forkpid.c: a fork child's getpid is its own and its getppid its
    parent's while it runs in its parent's place, a grandchild's getppid is the child, waitpid
    reports each child under the id fork returned, `kill(getpid())` in a child is that child's
    death, and an exec'd program keeps the id: the same output as natively."""
    prog = tmp_path / "forkpid"
    subprocess.run(["cc", "-static", "-O1", "-o", str(prog), str(REPO / "tests/e2e/programs/forkpid.c")],
                   check=True, timeout=RUN_TIMEOUT)
    native = subprocess.run([str(prog)], env=BASE_ENV, capture_output=True, timeout=RUN_TIMEOUT)
    assert native.returncode == 0 and b": 0" not in native.stdout, describe(native)
    got = run_wine(wine, pack_for(windows, prog, tmp_path / "dist").path, [])
    assert (got.stdout, got.returncode) == (native.stdout, native.returncode), describe(got)


def unix_processes_with(marker: bytes) -> list[int]:
    """Unix pids whose command line holds `marker` as one argument."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                args = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker in args:
                found.append(int(proc.name))
    return found


@pytest.fixture(scope="module")
def jobprobe_exe(windows: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/e2e/programs/jobprobe.c (non-PIE, 8 MiB of bss: exec'd under Wine, it starts
    through the Wine loader) packed for windows, once per module."""
    work = tmp_path_factory.mktemp("jobprobe")
    prog = work / "jobprobe"
    subprocess.run(["cc", "-static", "-no-pie", "-O1", "-o", str(prog), str(REPO / "tests/e2e/programs/jobprobe.c")],
                   check=True, timeout=RUN_TIMEOUT)
    return pack_for(windows, prog, work / "dist").path


def test_wine_loader_child_dies_with_the_job(jobprobe_exe: Path, wine: dict[str, str], tmp_path: Path) -> None:
    """jobprobe execs itself as a program that must load low, which under Wine starts through
    the Wine loader (wineexec.rs), not CreateProcess. It joins the first instance's job
    object, so killing the first instance ends it (kill-on-close); it would otherwise sleep on
    for ten minutes."""
    exe = jobprobe_exe
    token = f"jobprobe-{os.getpid()}-{tmp_path.name}"
    first = subprocess.Popen([wine["LITEBOX_WINE"], str(exe), token], env=wine, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        assert first.stdout is not None
        line = first.stdout.readline()
        assert line == f"child up {token}\n".encode(), (line, first.stderr.read() if first.poll() is not None else b"")
        children = sorted(set(unix_processes_with(token.encode())) & set(unix_processes_with(b"child")))
        assert children and first.pid not in children, children
        first.kill()
        first.wait(timeout=RUN_TIMEOUT)
        # The job's end is the wineserver's to carry out once it sees the first process gone:
        # wait for it as long as any run may take, then look.
        try:
            subprocess.run(["timeout", str(RUN_TIMEOUT), "sh", "-c",
                            " ; ".join(f"while kill -0 {p} 2>/dev/null; do sleep 0.2; done" for p in children)],
                           timeout=RUN_TIMEOUT + 10)
        except subprocess.TimeoutExpired:
            pass
        alive = sorted(set(children) & set(unix_processes_with(token.encode())))
        assert alive == [], f"the Wine-loader child outlived the first instance: {alive}"
    finally:
        first.kill()
        first.wait(timeout=RUN_TIMEOUT)
        for p in unix_processes_with(token.encode()):
            try:
                os.kill(p, 9)
            except OSError:
                pass


def test_wine_loader_child_gets_a_layer_file_as_stdout(jobprobe_exe: Path, wine: dict[str, str],
                                                      tmp_path: Path) -> None:
    """A program started through the Wine loader whose stdout is a file of the shared layer
    (opened for appending by its parent's fork child) writes into that file, after what the
    parent wrote: the same output as natively."""
    native_prog = jobprobe_exe.parent.parent / "jobprobe"
    native = subprocess.run([str(native_prog), "redirect", str(tmp_path)], env=BASE_ENV, capture_output=True,
                            timeout=RUN_TIMEOUT)
    assert native.stdout.endswith(b"head\nhello from a program that loads low\n"), describe(native)
    got = run_wine(wine, jobprobe_exe, ["redirect", "/tmp"])
    assert (got.stdout, got.returncode) == (native.stdout, native.returncode), describe(got)


# What a Linux program sees of the writable layer's files (docs/targets/windows.md, "The
# writable layer"): each script runs in DIR, `/tmp` packed and a fresh directory natively, and
# must print what Debian's busybox prints natively.
LAYER_CASES = {
    # Names Windows cannot spell or would merge: case, ':', a trailing dot, a device name.
    "names": "echo 1 > Makefile && echo 2 > makefile && echo 3 > 'a:b' && echo 4 > x. && echo 5 > con"
             " && cat Makefile makefile a:b x. con && ls | sort | tr '\\n' ' '",
    # Modes: creation (umask), chmod, mkdir -m; seen by a new instance (stat is exec'd).
    "modes": "umask 027 && echo > f && chmod 751 f && mkdir -m 700 d && touch g && mkdir h"
             " && stat -c '%a %F %s' f d g h",
    # rename over a file another instance holds open; unlink of an open file frees its name.
    "open-files": "echo old > t && echo new > n && exec 3< t && mv n t && cat t && cat <&3"
                  " && exec 4< t && rm t && echo again > t && cat t && cat <&4",
    # Symlinks, a directory renamed over an empty one, rmdir of a full one refused.
    "symlinks-dirs": "mkdir -p a/b && echo x > a/b/f && ln -s a/b/f l && readlink l && cat l && mkdir e"
                     " && mv -T a e && cat e/b/f && ls && (rmdir e 2>/dev/null || echo refused)",
    # O_APPEND through an exec'd program (cat's stdout is the shell's append-mode file), sizes.
    "append-size": "printf ab > o && printf cd > i && cat i >> o && cat i >> o && cat o && echo && wc -c < o"
                   " && truncate -s 3 o && cat o && echo",
}


# Cases whose native run is not a reliable reference on this machine kind, with Linux's bytes
# written out: natively, this append script printed `abc\0\0\0` instead of `abcdcd` about once in
# 300 runs (Debian's busybox alone in a fresh ext4 directory, plain O_APPEND writes: a host
# kernel effect, not the sandbox's), which failed a full run.
LAYER_EXPECTED = {"append-size": b"abcdcd\n6\nabc\n"}


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_writable_layer_keeps_linux_semantics(busybox_exe: Path, wine: dict[str, str], case: str,
                                              tmp_path: Path) -> None:
    script = LAYER_CASES[case]
    expected = LAYER_EXPECTED.get(case)
    if expected is None:
        native = subprocess.run([str(BUSYBOX), "sh", "-c", f"cd {tmp_path} && {script}"], env=BASE_ENV,
                                capture_output=True, timeout=RUN_TIMEOUT)
        assert native.returncode == 0, describe(native)
        expected = native.stdout
    got = run_wine(wine, busybox_exe, ["sh", "-c", f"cd /tmp && {script}"])
    assert (got.stdout, got.returncode) == (expected, 0), describe(got)


def test_writable_layer_is_removed_at_the_end(busybox_exe: Path, wine: dict[str, str]) -> None:
    """The first instance removes the shared layer's directory when it ends, and an abandoned
    one (its instances killed, its lock free) is removed by the next artifact that starts."""
    users = Path(wine["WINEPREFIX"]) / "drive_c" / "users"
    temp = next(iter(sorted(users.glob("*/Temp"))), users / "root" / "Temp")
    stale = temp / "litebox-layer-1-abandoned"
    (stale / "_trash").mkdir(parents=True, exist_ok=True)
    (stale / "_lock").write_bytes(b"")
    # Layers of runs still going in this prefix are theirs (none are expected here).
    before = set(temp.glob("litebox-layer-*")) - {stale}
    got = run_wine(wine, busybox_exe, ["sh", "-c", "echo kept > /tmp/k && cat /tmp/k && ls -d /tmp/k"])
    assert (got.stdout, got.returncode) == (b"kept\n/tmp/k\n", 0), describe(got)
    assert not stale.exists(), "the abandoned layer was not collected"
    assert set(temp.glob("litebox-layer-*")) <= before, "the run's own layer was left behind"


BUSYBOX = Path("/bin/busybox")


@pytest.fixture(scope="session")
def busybox_exe(windows: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Debian's busybox-static packed for windows (quick mode), once per session."""
    if not BUSYBOX.is_file():
        pytest.skip("busybox-static is not installed (scripts/setup installs it)")
    return pack_for(windows, BUSYBOX, tmp_path_factory.mktemp("busybox-windows") / "dist").path


@pytest.mark.parametrize(("script", "stdout"), [
    ("echo a | tr a b", b"b\n"),
    ('x=$(echo hi); echo "$x"', b"hi\n"),
    ("sh -c 'ls /bin/busybox | wc -l'", b"1\n"),
    # seq runs in the forked child without exec and writes 109 KB before tail starts.
    ("seq 1 20000 | tail -1", b"20000\n"),
    # The child's writes to its copy of the shell's memory do not reach the parent.
    ("x=1; (x=2; echo in $x); echo out $x", b"in 2\nout 1\n"),
    ('p=$(pwd); v=$(cd /bin; x=5; echo $x $(pwd)); test "$(pwd)" = "$p" && echo $v $x', b"5 /bin\n"),
    ("{ echo one; echo two; } | while read l; do echo got $l; done", b"got one\ngot two\n"),
    ("exec tr a-z A-Z <<EOF\nshout\nEOF", b"SHOUT\n"),
    ("sh -c 'exit 3'; echo $?", b"3\n"),
    # An exec'd program's standard streams redirected to files of the shared layer's /tmp.
    ("echo abc | tr a-c x-z > /tmp/o; read l < /tmp/o; echo $l", b"xyz\n"),
    ("seq 1 3000 | tr 0 o > /tmp/big; wc -c < /tmp/big", b"13893\n"),
])
def test_busybox_fork_then_exec(busybox_exe: Path, wine: dict[str, str], script: str, stdout: bytes) -> None:
    """Shell pipelines and command substitution under Wine: fork in place, exec as a new
    instance (docs/targets/windows.md, Processes)."""
    got = run_wine(wine, busybox_exe, ["sh", "-c", script])
    assert (got.stdout, got.returncode) == (stdout, 0), describe(got)


def test_python_app_same_as_native(windows: Any, wine: dict[str, str], tmp_path: Path) -> None:
    """examples/python-app (Debian's python3.11, non-PIE at 0x400000-0x9f0000, and its standard
    library: json, hashlib, sqlite3 in memory and in /tmp, threads with a queue, and a child
    python3 through subprocess.run with its output captured): same stdout and exit status as
    natively. Under Wine the child, which must load low, is started through the Wine loader
    with the low range reserved, as the first instance was (docs/targets/windows.md,
    Processes)."""
    project = copy_example("python-app", tmp_path)
    main = project / "app" / "main.py"
    assert "subprocess.run([sys.executable" in main.read_text(), "the example changed; update this test"
    art = pack_for(windows, project, tmp_path / "dist")
    native = subprocess.run(["/usr/bin/python3", str(main)], env={**BASE_ENV, "LANG": "C.UTF-8"},
                            capture_output=True, timeout=RUN_TIMEOUT)
    got = run_wine(wine, art.path, [])
    assert native.returncode == 3 and b"subprocess: child ok exit 0" in native.stdout, describe(native)
    assert (got.stdout, got.returncode) == (native.stdout, native.returncode), describe(got)


def _pe(data: bytes) -> tuple[int, list[tuple[bytes, int, int, int, int]]]:
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    n, opt = struct.unpack_from("<H", data, pe + 6)[0], struct.unpack_from("<H", data, pe + 20)[0]
    table = pe + 24 + opt
    out = []
    for i in range(n):
        at = table + 40 * i
        out.append((data[at:at + 8].rstrip(b"\0"), *struct.unpack_from("<IIII", data, at + 8)))
    return pe, out


def test_artifact_is_a_deterministic_pe(packed: Packed) -> None:
    from packager.build.pesections import PE_NAMES

    _project, art = packed.get("hello-static")
    data = art.path.read_bytes()
    pe, sections = _pe(data)
    assert data[:2] == b"MZ" and data[pe:pe + 4] == b"PE\0\0"
    assert struct.unpack_from("<I", data, pe + 8)[0] == 0, "TimeDateStamp must be 0"
    names = [s[0] for s in sections]
    assert names[-2:] == [PE_NAMES[".litebox.image"].encode(), PE_NAMES[".litebox.manifest"].encode()]
    offsets = [s[4] for s in sections if s[3]]
    assert offsets == sorted(offsets), "sections in file order"
    # The checksum as imagehlp computes it, independently of the packer's code.
    field = pe + 24 + 64
    buf = data[:field] + b"\0\0\0\0" + data[field + 4:]
    total = sum(struct.unpack(f"<{len(buf) // 2}H", buf[:len(buf) // 2 * 2]))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert struct.unpack_from("<I", data, field)[0] == (total + len(data)) & 0xFFFFFFFF
    objdump = shutil.which("x86_64-w64-mingw32-objdump")
    if objdump:
        out = subprocess.run([objdump, "-h", str(art.path)], capture_output=True, text=True, check=True).stdout
        assert ".lbximg" in out and ".lbxman" in out


def test_reproducible_from_two_directories(packed: Packed) -> None:
    _pa, a = packed.get("hello-static", "a")
    _pb, b = packed.get("hello-static", "b")
    assert a.path.parent != b.path.parent
    assert sha256_file(a.path) == sha256_file(b.path)


def test_inspect_and_verify_read_it(packed: Packed) -> None:
    _project, art = packed.get("hello-static")
    proc = subprocess.run([*cli_argv(), "inspect", str(art.path)], capture_output=True, text=True, cwd=REPO,
                          timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, describe(proc)
    assert "hello-static for windows" in proc.stdout and "/app/hello" in proc.stdout
    proc = subprocess.run([*cli_argv(), "verify", str(art.path)], capture_output=True, text=True, cwd=REPO,
                          timeout=RUN_TIMEOUT * 5)
    assert proc.returncode == 0, describe(proc)
    assert "verified" in proc.stdout + proc.stderr


def test_litebox_run_uses_wine_and_says_so(packed: Packed, wine: dict[str, str]) -> None:
    _project, art = packed.get("hello-static")
    env = {**wine, "PYTHONPATH": str(REPO), "LITEBOX_LOG": "info"}
    proc = subprocess.run([*cli_argv(), "run", str(art.path), "--", "x", "--exit", "5"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert proc.returncode == 5, describe(proc)
    assert "under Wine" in proc.stderr
    assert "argv[1]=x" in proc.stdout


def test_unrewritten_site_is_a_pack_error(windows: Any) -> None:
    mod = sys.modules[type(windows.plugin).__module__]
    manifest = {"rewrite": {"enabled": True, "entry": "0x7e0000001000",
                            "files": {"/app/x": {"sites": 3, "rewritten": 2, "trapped": 1,
                                                 "trapped_reasons": {"jump target": 1}},
                                      "/lib/ok.so": {"sites": 1, "rewritten": 1, "trapped": 0}}}}
    errors, warnings = mod.unrewritten_sites(manifest, None)
    assert errors == ["/app/x: 1 syscall site(s) cannot be rewritten (jump target: 1)"]
    assert warnings == []
    manifest["rewrite"]["files"]["/app/x"]["trapped_reasons"] = {"jump target": 1, mod.UNSURE: 2}
    manifest["rewrite"]["files"]["/app/x"]["trapped"] = 3
    errors, warnings = mod.unrewritten_sites(manifest, None)
    assert errors == ["/app/x: 1 syscall site(s) cannot be rewritten (jump target: 1)"]
    assert len(warnings) == 1 and warnings[0].startswith("/app/x: 2 ")
