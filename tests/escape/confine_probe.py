"""The confinement probe (programs/escape.c), packed once per test session with a policy that
mounts one host directory read-only and one read-write, plus host files beside them that the
app must never reach. Used by test_escape_fs.py, test_escape_syscalls.py and test_escape_gate.py.
"""

from __future__ import annotations

import functools
import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.elffile import ELFFile
from litebox_e2e import describe, pack, run_program, session_scratch

PROGRAMS = Path(__file__).resolve().parent / "programs"
SECRET = b"host-only secret\n"
# The gate's tail in sys.rs: mov r9, [rsp+8]; syscall; ret.
GATE_PATTERN = bytes.fromhex("4c8b4c24080f05c3")


@dataclass(frozen=True)
class Probe:
    artifact: Path
    base: Path  # host directory holding secret.txt, ro/, rw/ and the project

    @property
    def secret(self) -> Path:
        return self.base / "secret.txt"

    @property
    def ro(self) -> Path:
        return self.base / "ro"

    @property
    def rw(self) -> Path:
        return self.base / "rw"

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        """Runs the packed probe with ARGS; fails the test if it does not exit 0."""
        proc = run_program([self.artifact, *args], env=env)
        assert proc.returncode == 0, describe(proc)
        return proc


def results(proc: subprocess.CompletedProcess[bytes]) -> dict[str, str]:
    """`label: rest` lines of the probe's output, by label."""
    out = {}
    for line in proc.stdout.decode().splitlines():
        m = re.match(r"([\w-]+): (.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


@functools.cache
def probe() -> Probe:
    """Builds, lays out and packs the probe (once per session)."""
    base = session_scratch("litebox-escape-")
    (base / "secret.txt").write_bytes(SECRET)
    (base / "ro").mkdir()
    (base / "ro" / "inside.txt").write_text("inside\n")
    rw = base / "rw"
    rw.mkdir()
    (rw / "abs-link").symlink_to(base / "secret.txt")
    (rw / "rel-link").symlink_to("../secret.txt")
    (base / "scratch").mkdir()
    return Probe(artifact=pack_with_mounts("escape", base), base=base)


def pack_with_mounts(name: str, base: Path) -> Path:
    """Builds programs/NAME.c (static) and packs it with BASE/ro mounted read-only at /ro and
    BASE/rw read-write at /rw; returns the artifact (in BASE/dist)."""
    proj = base / "proj"
    proj.mkdir()
    subprocess.run(["cc", "-static", "-O1", "-Wall", "-o", str(proj / name), str(PROGRAMS / f"{name}.c")], check=True)
    (proj / "litebox.toml").write_text(
        f'[app]\nname = "{name}"\nentry = "/app/{name}"\n\n'
        f'[files]\n"/app/{name}" = "{name}"\n\n'
        f'[[policy.mount]]\nhost = "{base / "ro"}"\nguest = "/ro"\nmode = "ro"\n\n'
        f'[[policy.mount]]\nhost = "{base / "rw"}"\nguest = "/rw"\nmode = "rw"\n\n'
        "[build]\nsource_date_epoch = 0\n"
    )
    return pack(proj, base / "dist").path


def _fastpath_entry(elf: ELFFile) -> int:
    """The runtime's fast-path entry (link-time address) in ELF: what app code reads at gs:[40]."""
    at = elf.get_section_by_name(".litebox.fastpath_at")
    assert at is not None and at["sh_size"] == 8, "no .litebox.fastpath_at section in the runtime"
    return int(at["sh_addr"]) + struct.unpack("<q", at.data())[0]


def runtime_data_address(artifact: Path) -> int:
    """Where the runtime's writable segment starts in ARTIFACT, relative to its fast-path entry
    (as ``gate_address``; the probe adds the entry's address, programs/probe.h `gate_at`)."""
    with artifact.open("rb") as f:
        elf = ELFFile(f)
        entry = _fastpath_entry(elf)
        for seg in elf.iter_segments():
            if seg["p_type"] == "PT_LOAD" and seg["p_flags"] & 2:
                return seg["p_vaddr"] - entry
    raise AssertionError("no writable segment in the artifact")


def gate_address(artifact: Path) -> int:
    """Where the runtime's gate `syscall` instruction is in ARTIFACT, relative to its fast-path
    entry (the runtime is a static PIE placed at a random address: the probe adds the entry's
    address, which it reads at gs:[40], programs/probe.h `gate_at`). Pass it as
    ``hex(gate_address(...))``, a signed offset."""
    data = artifact.read_bytes()
    with artifact.open("rb") as f:
        elf = ELFFile(f)
        entry = _fastpath_entry(elf)
        for seg in elf.iter_segments():
            if seg["p_type"] != "PT_LOAD" or not seg["p_flags"] & 1:
                continue
            code = data[seg["p_offset"]:seg["p_offset"] + seg["p_filesz"]]
            assert code.count(GATE_PATTERN) == 1, "expected exactly one gate in the runtime's code"
            return seg["p_vaddr"] + code.index(GATE_PATTERN) + 5 - entry
    raise AssertionError("no executable segment in the artifact")


@functools.cache
def fs_results() -> tuple[dict[str, str], list[str]]:
    """The `fs` probe's results, run once (it creates files in the rw mount), and the names in
    the host directory around the mounts before it ran."""
    p = probe()
    before = sorted(x.name for x in p.base.iterdir())
    return results(p.run("fs", str(p.secret), "/ro", "/rw")), before
