"""Helpers shared by the end-to-end tests: driving the CLI, running artifacts, and a small,
independent reader of the image format (docs/image-format.md) used to find bytes to damage.

The reader here is deliberately separate from packager/image/image.py: a test that checked the writer
with the writer's own parser would prove little.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from elftools.elf.elffile import ELFFile

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
TARGET = "linux-userland"
IMAGE_SECTION = ".litebox.image"
MANIFEST_SECTION = ".litebox.manifest"

# Generous hang guards, not timing assertions: the first pack builds the Rust runtime.
PACK_TIMEOUT = 1800
RUN_TIMEOUT = 120

# The environment every packed and native program is run with, unless a test adds to it.
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C"}

# Runtime exit codes for a bad image (docs/image-format.md).
EXIT_NO_IMAGE = 120
EXIT_DAMAGED = 121
EXIT_TAMPERED = 122
EXIT_BAD_ENTRY = 123
EXIT_SANDBOX = 124


def cli_argv() -> list[str]:
    """The command line that starts the `litebox` CLI from this checkout."""
    if (REPO / "packager" / "__main__.py").exists():
        return [sys.executable, "-m", "packager"]
    cli = REPO / "packager" / "commands" / "cli.py"
    if cli.exists() and '__name__ == "__main__"' in cli.read_text(encoding="utf-8"):
        return [sys.executable, "-m", "packager.commands.cli"]
    # No `python -m` entry point: call main() the way the console script does.
    return [sys.executable, "-c", "import sys; from packager.commands.cli import main; sys.exit(main())"]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.pop("SOURCE_DATE_EPOCH", None)
    if extra:
        env.update(extra)
    return env


def run_cli(
    *args: str | os.PathLike[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = PACK_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Runs `litebox ARGS...` and returns its completed process (text, both streams captured).
    With LITEBOX_E2E_NO_REWRITE=1 in the environment, every `pack` gets --no-rewrite (the
    suites run a second time that way: scripts/test)."""
    argv = [os.fspath(a) for a in args]
    if argv[:1] == ["pack"] and os.environ.get("LITEBOX_E2E_NO_REWRITE") == "1":
        argv.append("--no-rewrite")
    return subprocess.run(
        [*cli_argv(), *argv],
        cwd=cwd or REPO,
        env=cli_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def describe(proc: subprocess.CompletedProcess[str] | subprocess.CompletedProcess[bytes]) -> str:
    """A failure message showing what a process did."""
    out, err = proc.stdout, proc.stderr
    if isinstance(out, bytes):
        out = out.decode("utf-8", "replace")
    if isinstance(err, bytes):
        err = err.decode("utf-8", "replace")
    return f"command {proc.args!r} exited {proc.returncode}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"


@dataclass(frozen=True)
class Artifact:
    target: str
    path: Path
    sha256: str
    manifest: Path


def pack(
    app: Path,
    out_dir: Path,
    *extra: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Artifact:
    """`litebox pack APP --out-dir OUT --json`, checked; returns the linux-userland artifact."""
    proc = run_cli("pack", app, "--target", TARGET, "--out-dir", out_dir, "--json", *extra, cwd=cwd, env=env)
    assert proc.returncode == 0, describe(proc)
    artifacts = parse_pack_json(proc.stdout)
    assert len(artifacts) == 1, f"one target asked for, got {artifacts!r}"
    art = artifacts[0]
    assert art.target == TARGET
    assert art.path.is_file(), f"pack reported {art.path} but it does not exist"
    assert art.manifest.is_file(), f"pack reported {art.manifest} but it does not exist"
    assert sha256_file(art.path) == art.sha256, "reported sha256 is not the artifact's"
    return art


def pack_both_ways(prog: Path, work: Path, prefix: str = "") -> dict[str, Path]:
    """PROG packed with its syscall sites rewritten and with `--no-rewrite`, into WORK:
    {PREFIX + "native": PROG, PREFIX + "rewrite": ..., PREFIX + "trap": ...}, for tests that
    compare a program's output packed both ways against native."""
    return {
        f"{prefix}native": prog,
        f"{prefix}rewrite": pack(prog, work / f"{prefix}rewrite").path,
        f"{prefix}trap": pack(prog, work / f"{prefix}trap", "--no-rewrite").path,
    }


def parse_pack_json(stdout: str) -> list[Artifact]:
    """`pack --json` prints exactly one JSON object on stdout."""
    try:
        doc = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"pack --json stdout is not one JSON object ({exc}):\n{stdout}") from exc
    assert isinstance(doc, dict) and isinstance(doc.get("artifacts"), list), stdout
    result = []
    for item in doc["artifacts"]:
        assert {"target", "path", "sha256", "manifest"} <= set(item), item
        result.append(
            Artifact(
                target=item["target"],
                path=Path(item["path"]).resolve(),
                sha256=item["sha256"],
                manifest=Path(item["manifest"]).resolve(),
            )
        )
    return result


def run_program(
    argv: list[str | os.PathLike[str]],
    *,
    env: dict[str, str] | None = None,
    stdin: bytes = b"",
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Runs a program (packed or native) with BASE_ENV plus `env`, stdin piped in, bytes out."""
    full_env = dict(BASE_ENV)
    if env:
        full_env.update(env)
    return subprocess.run(
        [os.fspath(a) for a in argv],
        input=stdin,
        env=full_env,
        cwd=cwd,
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )


def session_scratch(prefix: str) -> Path:
    """A new directory (named PREFIX...) under tempfile's directory, for what a test module
    builds once per session (a ``functools.cache`` function), removed with everything in it
    when this process (pytest, or its xdist worker) exits: session builds leave nothing behind
    in /tmp."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def private_tmp_available() -> bool:
    """Whether this process can give a child a mount namespace of its own (root, util-linux
    `unshare`): what run_native_private_tmp needs."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True)
    return probe.returncode == 0


def run_native_private_tmp(argv: list[str | os.PathLike[str]], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    """Runs a native reference program (run_program's arguments) with an empty tmpfs of its own
    on /tmp, in a private mount namespace: scripts that use fixed names in /tmp (/tmp/w, ...)
    then neither see nor disturb anything else on the machine, whatever runs beside them.
    Without root or `unshare` it runs on the host's /tmp (the caller then has to keep such tests
    apart; tests here also carry xdist_group("host-tmp"))."""
    if not private_tmp_available():
        return run_program(argv, **kwargs)
    wrapper = ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
               'mount -t tmpfs -o mode=1777 litebox-test-tmp /tmp && exec "$@"', "sh"]
    return run_program([*wrapper, *argv], **kwargs)


def kvm_env(vm_timeout: int = 120, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `litebox run` gets in kvm tests: TCG forced (never KVM: see docs/targets/kvm.md)
    and the runner's VM time limit (0 = none)."""
    full = dict(BASE_ENV)
    full.update({"PYTHONPATH": str(REPO), "LITEBOX_KVM_ACCEL": "tcg", "LITEBOX_KVM_TIMEOUT": str(vm_timeout)})
    if "HOME" in os.environ:
        full["HOME"] = os.environ["HOME"]
    full.update(extra or {})
    return full


def kvm_argv(artifact: Path, args: list[str]) -> list[str]:
    """The command line of `litebox run ARTIFACT -- ARGS` from this checkout."""
    return [*cli_argv(), "run", str(artifact), "--", *args]


def run_kvm(artifact: Path, args: list[str], stdin: bytes = b"", env: dict[str, str] | None = None,
            vm_timeout: int = 120) -> subprocess.CompletedProcess[bytes]:
    """`litebox run ARTIFACT -- ARGS` under QEMU with TCG, stdin piped in, bytes out; the
    runner ends the VM after `vm_timeout` seconds."""
    return subprocess.run(kvm_argv(artifact, args), input=stdin, env=kvm_env(vm_timeout, env), cwd=REPO,
                          capture_output=True, timeout=RUN_TIMEOUT)


# ---------------------------------------------------------------------------------------------
# Every target: the plugins of platform_targets/, packing for one and running through its own
# Plugin.run, so a test written once runs on every target (tests/conftest.py: the `target` fixture).


def discover_targets() -> dict[str, Any]:
    """The target plugins of this checkout (packager.targets.targets.discover), by name."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from packager.targets.targets import discover

    return discover()


def target_names() -> list[str]:
    """The names of the discovered targets that pack Linux programs, in folder order (the ids
    of the `target` fixture); targets of other kinds of app (optee: TAs) have their own tests."""
    return [name for name, t in discover_targets().items()
            if getattr(t.plugin.capabilities, "app_kind", "linux") == "linux"]


def unready_reason(target: Any) -> str | None:
    """Why ``target`` cannot run on this host: its first failing required doctor check, in the
    plugin's own words (``litebox targets``); None when it is ready."""
    for check in target.checklist():
        if check["required"] and not check["ok"]:
            return f"target {target.name} is not ready here: {check['item']}: {check['detail']}"
    return None


# Settings of a target's runner for the tests, by target name: kvm boots with TCG forced (never
# KVM: see docs/targets/kvm.md) and the VM time limit of the run (LITEBOX_KVM_TIMEOUT, 0 = none).
RUNNER_ENV: dict[str, Callable[[int], dict[str, str]]] = {
    "kvm": lambda vm_timeout: {"LITEBOX_KVM_ACCEL": "tcg", "LITEBOX_KVM_TIMEOUT": str(vm_timeout)},
    "snp": lambda vm_timeout: {"LITEBOX_KVM_ACCEL": "tcg", "LITEBOX_KVM_TIMEOUT": str(vm_timeout)},
    # windows runs under Wine, in a prefix of the test runs' own (never the user's ~/.wine), one
    # per pytest-xdist worker: a wineserver (and Wine's system processes) started by one run
    # inherits that run's stdout and stderr and lives while any process of its prefix does, so
    # a prefix shared with another worker's runs would keep this run's pipes open for as long
    # as that worker keeps Wine busy.
    "windows": lambda _: {"WINEDEBUG": "-all", "WINEPREFIX": str(Path(tempfile.gettempdir()) / (
        f"litebox-e2e-wine-{os.getuid()}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"))},
}

# What a target does not do yet, by feature: a test marked `@pytest.mark.needs("FEATURE", ...)`
# is skipped on such a target with this reason (tests/conftest.py, pytest_runtest_setup).
NOT_YET: dict[str, dict[str, str]] = {
    "windows": {
        "fork": "on the windows target a forked child runs in its parent's place until it execs or exits, "
                "so it cannot run alongside its parent (docs/targets/windows.md, Processes)",
        "mounts": "the windows target has no host directories yet (docs/targets/windows.md, Status)",
        "trap-path": "the windows target has no trap path: every syscall site is rewritten at pack time",
    },
}


# How the status of a run reports the app's death by signal N, by target: a linux-userland
# artifact dies of the same signal (subprocess's -N); the VM of kvm exits with 128 + N.
SIGNAL_DEATH_STATUS: dict[str, Callable[[int], int]] = {
    "linux-userland": lambda signum: -signum,
    "kvm": lambda signum: 128 + signum,
    "snp": lambda signum: 128 + signum,
    "windows": lambda signum: 128 + signum,
}

# Runs Plugin.run of one target in a fresh interpreter (argv: repo, target, artifact, the app's
# environment as JSON or null, args...). Python ignores SIGPIPE and SIGXFSZ; a runner that execs
# the artifact must not pass that on, so both go back to their defaults first.
_RUNNER = """
import json, signal, sys
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from packager.errors import PackError
from packager.targets.targets import get
for name in ("SIGPIPE", "SIGXFSZ"):
    signal.signal(getattr(signal, name), signal.SIG_DFL)
env = json.loads(sys.argv[4])
try:
    sys.exit(get(sys.argv[2]).plugin.run(Path(sys.argv[3]), sys.argv[5:], env=env, wait=False))
except PackError as exc:
    sys.stderr.write(f"litebox: {exc}\\n")
    sys.exit(2)
"""


def pack_for(
    target: Any,
    app: Path,
    out_dir: Path,
    *extra: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Artifact:
    """`litebox pack APP --target NAME --out-dir OUT --json`, checked; returns the artifact. A
    target without rewriting (``capabilities.rewrites``) is packed with --no-rewrite."""
    flags = [] if target.capabilities.rewrites else ["--no-rewrite"]
    proc = run_cli("pack", app, "--target", target.name, *flags, "--out-dir", out_dir, "--json", *extra,
                   cwd=cwd, env=env)
    assert proc.returncode == 0, describe(proc)
    artifacts = parse_pack_json(proc.stdout)
    assert len(artifacts) == 1, f"one target asked for, got {artifacts!r}"
    art = artifacts[0]
    assert art.target == target.name
    assert art.path.is_file(), f"pack reported {art.path} but it does not exist"
    assert art.manifest.is_file(), f"pack reported {art.manifest} but it does not exist"
    assert sha256_file(art.path) == art.sha256, "reported sha256 is not the artifact's"
    return art


def run_on_argv(target: Any, artifact: Path | Artifact, args: list[str], env: dict[str, str] | None = None,
                vm_timeout: int = 120) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of a process that runs ``artifact`` on ``target`` through its
    Plugin.run, for subprocess.Popen. The app gets BASE_ENV plus ``env``: passed to Plugin.run
    where the target honours it (``capabilities.trace_learn``), else the runner's own
    environment, with the target's RUNNER_ENV settings."""
    path = artifact.path if isinstance(artifact, Artifact) else artifact
    app_env = dict(BASE_ENV)
    app_env.update(env or {})
    if target.capabilities.trace_learn:
        host_env, passed = app_env, app_env
    else:
        host_env = {"PYTHONPATH": str(REPO), **app_env}
        if "HOME" in os.environ:
            host_env.setdefault("HOME", os.environ["HOME"])
        host_env.update(RUNNER_ENV.get(target.name, lambda _: {})(vm_timeout))
        host_env.update(env or {})
        passed = None
    argv = [sys.executable, "-c", _RUNNER, str(REPO), target.name, str(path), json.dumps(passed),
            *[os.fspath(a) for a in args]]
    return argv, host_env


def run_on(
    target: Any,
    artifact: Path | Artifact,
    args: list[str | os.PathLike[str]] | None = None,
    *,
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    vm_timeout: int = 120,
) -> subprocess.CompletedProcess[bytes]:
    """Runs ``artifact`` on ``target`` through its Plugin.run (see run_on_argv), stdin piped in,
    bytes out; a VM target's runner ends the VM after ``vm_timeout`` seconds."""
    argv, host_env = run_on_argv(target, artifact, [os.fspath(a) for a in args or []], env, vm_timeout)
    return subprocess.run(argv, input=stdin, env=host_env, cwd=cwd, capture_output=True,
                          timeout=max(RUN_TIMEOUT, vm_timeout + 60))


def signal_death_status(target: Any, signum: int) -> int:
    """The status run_on gives when the app dies of ``signum`` (SIGNAL_DEATH_STATUS)."""
    assert target.name in SIGNAL_DEATH_STATUS, f"add target {target.name} to SIGNAL_DEATH_STATUS"
    return SIGNAL_DEATH_STATUS[target.name](signum)


def kill_spinning_runner(argv: list[str], env: dict[str, str]) -> int:
    """Starts `litebox run` (ARGV, ENV) of a VM target's app that prints "spinning" and then
    spins, SIGKILLs the runner once QEMU runs the app, and asserts that QEMU (the runner's one
    child) ends as well; returns the killed runner's pid."""
    runner = subprocess.Popen(argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    try:
        assert runner.stdout is not None
        assert runner.stdout.readline() == b"spinning\n"  # QEMU runs the app
        children = Path(f"/proc/{runner.pid}/task/{runner.pid}/children").read_text().split()
        assert len(children) == 1, children
        qemu_pid = int(children[0])
        pidfd = os.pidfd_open(qemu_pid)
        try:
            runner.kill()
            runner.wait(timeout=RUN_TIMEOUT)
            ready, _, _ = select.select([pidfd], [], [], RUN_TIMEOUT)
            assert ready, f"QEMU (pid {qemu_pid}) outlived its runner"
        finally:
            os.close(pidfd)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    return runner.pid


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_example(name: str, dest_parent: Path) -> Path:
    """A fresh copy of examples/NAME (without any build/ output) under dest_parent."""
    dest = dest_parent / name
    shutil.copytree(EXAMPLES / name, dest, ignore=shutil.ignore_patterns("build", "dist"))
    return dest


def listing(directory: Path) -> list[str]:
    """Every file and folder under directory, relative, sorted (empty if it does not exist)."""
    if not directory.exists():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


class ExampleArtifacts:
    """Packs each example once per session, from a copy in a temporary directory, on demand.

    The first pack also builds the runtime (cargo), so every later pack in the session reuses it.
    """

    def __init__(self, root: Path) -> None:
        self._root = root
        self._packed: dict[str, tuple[Path, Artifact]] = {}

    def get(self, name: str) -> Artifact:
        return self._get(name)[1]

    def project(self, name: str) -> Path:
        """The copied project directory (after packing, its build/ holds the native program)."""
        return self._get(name)[0]

    def _get(self, name: str) -> tuple[Path, Artifact]:
        if name not in self._packed:
            work = self._root / name
            work.mkdir()
            project = copy_example(name, work)
            self._packed[name] = (project, pack(project, work / "dist"))
        return self._packed[name]


# ---------------------------------------------------------------------------------------------
# ELF sections of an artifact


@dataclass(frozen=True)
class Section:
    name: str
    offset: int
    size: int


def find_section(path: Path, name: str) -> Section:
    with path.open("rb") as f:
        elf = ELFFile(f)
        sec = elf.get_section_by_name(name)
        assert sec is not None, f"{path} has no {name} section"
        return Section(name, sec["sh_offset"], sec["sh_size"])


def runtime_text_offset(artifact: Path) -> int:
    """The file offset (page-aligned) at which a process maps a linux-userland artifact's
    runtime code: its executable PT_LOAD (the artifact is the runtime's ELF file, the image a
    section after it)."""
    with artifact.open("rb") as f:
        text = next(seg for seg in ELFFile(f).iter_segments() if seg["p_type"] == "PT_LOAD" and seg["p_flags"] & 1)
    return int(text["p_offset"]) & ~0xFFF


def has_interp(path: Path) -> bool:
    with path.open("rb") as f:
        return any(seg["p_type"] == "PT_INTERP" for seg in ELFFile(f).iter_segments())


def flip_byte(path: Path, offset: int, mask: int = 0xFF) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        (value,) = f.read(1)
        f.seek(offset)
        f.write(bytes([value ^ mask]))


# ---------------------------------------------------------------------------------------------
# Image format v3 (docs/image-format.md), read-only, just enough for the tests

HEADER = struct.Struct("<8sIIIIII" + "Q" * 12 + "32s")
ENTRY = struct.Struct("<IIB3sIIIqQQ")
CHUNK = struct.Struct("<QII32sQ")
KIND_DIR, KIND_FILE, KIND_SYMLINK = 1, 2, 3


@dataclass(frozen=True)
class Entry:
    path: bytes
    kind: int
    mode: int
    uid: int
    gid: int
    mtime: int
    size: int
    data: int


@dataclass(frozen=True)
class Chunk:
    offset: int
    comp_size: int
    raw_size: int
    digest: bytes
    check: int  # XXH3-64 of the stored bytes (format v3): what runtimes check


@dataclass(frozen=True)
class Image:
    magic: bytes
    version: int
    chunk_size: int
    config_offset: int
    config_size: int
    index_offset: int
    strings_offset: int
    chunks_offset: int
    data_offset: int
    data_size: int
    stream_size: int
    root_digest: bytes
    entries: list[Entry]
    chunks: list[Chunk]
    config: list[tuple[int, bytes]]

    def entry(self, path: str) -> Entry:
        for e in self.entries:
            if e.path == path.encode():
                return e
        raise KeyError(path)

    def paths(self) -> list[str]:
        return [e.path.decode("utf-8", "replace") for e in self.entries]

    def chunk_of(self, stream_offset: int) -> int:
        """Index of the chunk holding a byte of the uncompressed stream."""
        return stream_offset // self.chunk_size

    def chunk_data_range(self, k: int) -> tuple[int, int]:
        """Image-relative [start, end) of chunk k's compressed bytes."""
        c = self.chunks[k]
        start = self.data_offset + c.offset
        return start, start + c.comp_size


def parse_image(blob: bytes) -> Image:
    assert len(blob) >= HEADER.size, "image shorter than its header"
    (
        magic,
        version,
        header_size,
        flags,
        chunk_size,
        entry_count,
        chunk_count,
        config_offset,
        config_size,
        index_offset,
        index_size,
        strings_offset,
        strings_size,
        chunks_offset,
        chunks_size,
        data_offset,
        data_size,
        stream_size,
        _reserved,
        root_digest,
    ) = HEADER.unpack_from(blob, 0)
    assert header_size == 160 and flags == 0
    assert index_size == entry_count * ENTRY.size and chunks_size == chunk_count * CHUNK.size
    strings = blob[strings_offset : strings_offset + strings_size]
    entries = []
    for i in range(entry_count):
        p_off, p_len, kind, _r, mode, uid, gid, mtime, size, data = ENTRY.unpack_from(
            blob, index_offset + ENTRY.size * i
        )
        entries.append(Entry(strings[p_off : p_off + p_len], kind, mode, uid, gid, mtime, size, data))
    chunks = [Chunk(*CHUNK.unpack_from(blob, chunks_offset + CHUNK.size * k)) for k in range(chunk_count)]
    config = []
    pos, end = config_offset, config_offset + config_size
    while pos < end:
        tag, _r, length = struct.unpack_from("<HHI", blob, pos)
        config.append((tag, blob[pos + 8 : pos + 8 + length]))
        pos += 8 + length
    return Image(
        magic=magic,
        version=version,
        chunk_size=chunk_size,
        config_offset=config_offset,
        config_size=config_size,
        index_offset=index_offset,
        strings_offset=strings_offset,
        chunks_offset=chunks_offset,
        data_offset=data_offset,
        data_size=data_size,
        stream_size=stream_size,
        root_digest=root_digest,
        entries=entries,
        chunks=chunks,
        config=config,
    )


def read_image(artifact: Path) -> tuple[Section, Image]:
    sec = find_section(artifact, IMAGE_SECTION)
    with artifact.open("rb") as f:
        f.seek(sec.offset)
        blob = f.read(sec.size)
    return sec, parse_image(blob)


class PackedExamples:
    """examples/NAME packed once for several targets at a time (one `litebox pack` with every
    ``--target``), kept for the rest of the session: ``get(NAME, TARGET)`` is the artifact."""

    def __init__(self, root: Path, targets: tuple[str, ...]) -> None:
        self.root = root
        self.targets = targets
        self._done: dict[str, dict[str, Path]] = {}

    def get(self, name: str, target: str) -> Path:
        if name not in self._done:
            work = self.root / name
            work.mkdir()
            project = copy_example(name, work)
            flags = [f for t in self.targets for f in ("--target", t)]
            proc = run_cli("pack", project, *flags, "--out-dir", work / "dist", "--json")
            assert proc.returncode == 0, describe(proc)
            self._done[name] = {a.target: a.path for a in parse_pack_json(proc.stdout)}
        return self._done[name][target]
