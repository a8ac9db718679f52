#!/usr/bin/env python3
"""Benchmark (not a test): boot-to-exit of examples/hello-static packed for the kvm target,
under QEMU TCG with ``-M microvm`` and with QEMU's default machine (``pc``), side by side with
the linux-userland artifact and the native program, in one run. Also each part of a kvm boot:
QEMU's own start-up and exit (a PVH stub kernel that leaves through isa-debug-exit at its first
instruction, with the runner's QEMU options), and the kernel's own share: the TSC from the PVH
entry to the app's first instruction, which the kernel prints when the command line has
``litebox.timing`` (with its boot phases, how its clock was calibrated, and when the VM
exited, so the app's own run shows too). The row "as `litebox run` boots" adds the runner's
host check of the image to a plain QEMU start; the row after it boots through the runner's
own ``qemu.boot`` (control FIFOs, QEMU started with its parent-death signal, the wait). Every
``-M microvm`` row boots without firmware as the runner does (``qemu.direct_boot``); the two
rows "through QEMU's firmware" boot the same with ``-kernel`` (qboot and its PVH option ROM).

    python3 bench/kvm_boot.py [--runs N] [--json] [--before KERNEL]

``--before KERNEL`` adds a "before" row: hello-static packed with that prebuilt kvm kernel (an
ELF with a PVH note, e.g. ``target/kvm/release/litebox-runtime-kvm`` of another checkout) and
booted as `litebox run` boots (this checkout's host check and QEMU options), so a kernel change
is measured against what it replaces in the same run. ``--before-machine OPTIONS`` boots it with
other ``-M microvm`` options instead (e.g. ``""`` for plain ``-M microvm``, to measure a change
of QEMU options as well).

The cases run interleaved (round by round, each case once per round), so a machine whose load
changes during the run weighs on every case alike. Wall-clock times are medians (and minimums)
over N rounds of subprocess start to exit, including the fork/exec of this Python; the CPU
column is the median user + system time of the processes each run started (QEMU's, for the kvm
rows). A busy machine inflates wall clock several times and CPU time far less, but CPU time
undercounts a guest that busy-waits on a clock (the wait ends by wall clock, however little of
it the process was scheduled for). Where QEMU runs with ``-async-teardown`` (``qemu_argv``'s
default for QEMU 7.2 and later), the unmapping of QEMU's memory after its exit is done by QEMU's
cleanup process, which is not a child of this one: it is in neither column, as it is not in
`litebox run`'s time (bench/RESULTS-issue17-kvm10.md measures it apart). Note the load average
with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from packager.targets.targets import get  # noqa: E402

BOOT_LINE = re.compile(rb"litebox: boot: (\d+) TSC ticks .*\((\d+) us at (\d+) MHz\)")
EXIT_LINE = re.compile(rb"litebox: exit: (\d+) us after")


def pack(project: Path, out: Path, *extra: str) -> dict[str, Path]:
    """Packs ``project`` for kvm and linux-userland; returns {target: artifact}."""
    proc = subprocess.run([sys.executable, "-m", "packager", "pack", str(project), "--target", "kvm",
                           "--target", "linux-userland", "--out-dir", str(out), "--json", *extra],
                          cwd=REPO, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"pack failed:\n{proc.stderr}")
    return {a["target"]: Path(a["path"]) for a in json.loads(proc.stdout)["artifacts"]}


def children_cpu_ms() -> float:
    """User + system CPU time (ms) of every finished child process so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1000


def timed(fn: Callable[[], bytes], runs: int, cpu: list[float] | None = None) -> tuple[list[float], list[bytes]]:
    """Runs ``fn`` ``runs`` times; returns the wall-clock times (ms) and the outputs, and
    appends each run's CPU time (ms, user + system of the processes it ran) to ``cpu``."""
    times, outs = [], []
    for _ in range(runs):
        c0, t0, h0 = children_cpu_ms(), time.perf_counter(), len(HOST_CPU)
        outs.append(fn())
        times.append((time.perf_counter() - t0) * 1000)
        if cpu is not None:
            cpu.append(children_cpu_ms() - c0 + sum(HOST_CPU[h0:]))
    return times, outs


def qemu_run(qemu: Any, kernel: Path, machine: str, cmdline: str, firmware: bool = False,
             **options: str) -> Callable[[], bytes]:
    """A closure booting ``kernel`` once with TCG, returning its console output and the kernel's
    log (stdout, then stderr); ``options`` go to ``qemu_argv`` (``microvm_options``). ``-M
    microvm`` boots without firmware as the runner does (``qemu.direct_boot``), or with
    ``firmware`` through QEMU's (qboot, its PVH option ROM, ``-kernel``)."""
    def go() -> bytes:
        with tempfile.TemporaryDirectory(dir=qemu.run_dir_root()) as tmp:
            control = Path(tmp) / "control"
            argv = qemu.qemu_argv(kernel, cmdline, qemu.file_chardev(control), "tcg", machine,
                                  direct=None if firmware else Path(tmp), **options)
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  env=qemu.qemu_env(), timeout=60, check=False)
            if qemu.read_exit(control) != 0:
                sys.exit(f"{machine}: the app did not exit 0 (QEMU {proc.returncode}): {proc.stdout!r} {proc.stderr!r}")
            # The kernel's own log lines (litebox.debug) arrive on stderr, the app's on stdout.
            return proc.stdout + proc.stderr
    return go


def runner_run(plugin: Any, kernel: Path, whole_runner: bool = False, firmware: bool = False,
               **options: str) -> Callable[[], bytes]:
    """A closure booting ``kernel`` as `litebox run` does: the host checks the image's chunk
    digests first (chunkcheck.py; timed with the boot, its CPU time added to the children's
    by ``timed``), then boots it with ``litebox.image-checked`` when they match: QEMU started
    plainly (``qemu_run``, ``options`` its ``-M microvm`` options), or with ``whole_runner``
    through the runner's own ``qemu.boot`` (its control FIFOs, its way of starting QEMU and
    of waiting for it)."""
    def go() -> bytes:
        c0 = time.process_time()
        image = plugin._image(kernel)
        checked = image is not None and plugin.chunkcheck.chunks_match(image)
        HOST_CPU.append((time.process_time() - c0) * 1000)
        if not checked:
            sys.exit(f"{kernel}: the host check of the image's chunks failed")
        if not whole_runner:
            return qemu_run(plugin.qemu, kernel, "microvm", "litebox.image-checked", firmware, **options)()
        cmdline = plugin.qemu.kernel_cmdline([], {}, image_checked=True)
        code, rc = plugin.qemu.boot(kernel, cmdline, "tcg", 60, None, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, direct=not firmware)
        if code != 0:
            sys.exit(f"{kernel}: the app did not exit 0 (QEMU {rc})")
        return b""
    return go


# CPU time (ms) this process spent in the host checks of `runner_run`, per boot.
HOST_CPU: list[float] = []


def pvh_stub(path: Path) -> Path:
    """Writes a PVH ELF whose 32-bit entry does ``out 0xf4, al`` with al = 0 (QEMU exits 1)."""
    code = bytes.fromhex("b000e6f4f4")  # mov al, 0; out 0xf4, al; hlt
    entry, code_off, phoff, phsize = 0x100000, 0x1000, 64, 56
    note = struct.pack("<III", 4, 4, 18) + b"Xen\0" + struct.pack("<I", entry)  # XEN_ELFNOTE_PHYS32_ENTRY
    note_off = phoff + 2 * phsize
    data = bytearray(code_off + len(code))
    data[0:16] = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    struct.pack_into("<HHIQQQIHHHHHH", data, 16, 2, 62, 1, entry, phoff, 0, 0, 64, phsize, 2, 64, 0, 0)
    struct.pack_into("<IIQQQQQQ", data, phoff, 1, 5, code_off, entry, entry, len(code), len(code), 0x1000)
    struct.pack_into("<IIQQQQQQ", data, phoff + phsize, 4, 4, note_off, 0, 0, len(note), len(note), 4)
    data[note_off:note_off + len(note)] = note
    data[code_off:] = code
    path.write_bytes(bytes(data))
    return path


def stub_run(qemu: Any, stub: Path, firmware: bool = False, **options: str) -> Callable[[], bytes]:
    """A closure booting the PVH stub with the runner's QEMU command line (QEMU alone), or with
    ``firmware`` through QEMU's firmware."""
    def go() -> bytes:
        with tempfile.TemporaryDirectory(dir=qemu.run_dir_root()) as tmp:
            argv = qemu.qemu_argv(stub, "", qemu.file_chardev(Path(tmp) / "control"), "tcg", "microvm",
                                  direct=None if firmware else Path(tmp), **options)
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  env=qemu.qemu_env(), timeout=60, check=False)
            if proc.returncode != 1:
                sys.exit(f"the PVH stub did not exit through isa-debug-exit: {proc.returncode} {proc.stderr!r}")
            return proc.stdout
    return go


def with_qemu(qemu: Any, exe: str, fn: Callable[[], bytes]) -> Callable[[], bytes]:
    """``fn`` run with LITEBOX_QEMU naming ``exe`` (the runner's way of choosing a QEMU)."""
    def go() -> bytes:
        saved = os.environ.get(qemu.QEMU_ENV)
        os.environ[qemu.QEMU_ENV] = exe
        try:
            return fn()
        finally:
            if saved is None:
                del os.environ[qemu.QEMU_ENV]
            else:
                os.environ[qemu.QEMU_ENV] = saved
    return go


def plain_run(argv: list[str]) -> Callable[[], bytes]:
    """A closure running ``argv`` once, returning its stdout."""
    def go() -> bytes:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=True)
        return proc.stdout
    return go


def pack_with(project: Path, out: Path, kernel: Path) -> Path:
    """Packs ``project`` for kvm with the prebuilt kernel ``kernel``; returns the artifact."""
    import os

    env = dict(os.environ, LITEBOX_RUNTIME_KVM=str(kernel.resolve()))
    proc = subprocess.run([sys.executable, "-m", "packager", "pack", str(project), "--target", "kvm",
                           "--out-dir", str(out), "--json"], cwd=REPO, capture_output=True, text=True, env=env,
                          check=False)
    if proc.returncode != 0:
        sys.exit(f"pack with {kernel} failed:\n{proc.stderr}")
    return Path(json.loads(proc.stdout)["artifacts"][0]["path"])


def kernel_share(outs: list[bytes]) -> dict[str, Any]:
    """The kernel's share (ms) from the ``litebox.debug`` boot lines of several boots, and the
    last boot's phase and clock lines."""
    shares = [int(m.group(2)) / 1000 for o in outs if (m := BOOT_LINE.search(o))]
    # The app's own run: its first instruction to the VM's exit (kernels that print both).
    apps = [(int(e.group(1)) - int(b.group(2))) / 1000 for o in outs
            if (b := BOOT_LINE.search(o)) and (e := EXIT_LINE.search(o))]
    phases = re.search(rb"litebox: boot phases.*", outs[-1]) if outs else None
    clock = re.search(rb"litebox: clock: .*", outs[-1]) if outs else None
    return {"median_ms": round(statistics.median(shares), 2) if shares else None,
            "min_ms": round(min(shares), 2) if shares else None,
            "app_median_ms": round(statistics.median(apps), 2) if apps else None,
            "phases": phases.group(0).decode() if phases else None,
            "clock": clock.group(0).decode() if clock else None}


def main() -> int:
    """Packs hello-static, measures each way of running it (interleaved), prints a table (or JSON)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10, help="rounds (each case runs once per round; default 10)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--before", type=Path, metavar="KERNEL",
                    help="a prebuilt kvm kernel to compare with (booted as `litebox run` boots)")
    ap.add_argument("--before-machine", metavar="OPTIONS",
                    help="-M microvm options for the --before kernel (default: the runner's; '' for none)")
    args = ap.parse_args()
    plugin = get("kvm").module
    qemu = plugin.qemu
    if qemu.qemu_path() is None:
        sys.exit("qemu-system-x86_64 not found (./scripts/setup installs it)")
    if args.before is not None and not args.before.is_file():
        sys.exit(f"--before: {args.before}: no such file")
    with tempfile.TemporaryDirectory(prefix="kvm-boot-bench-") as tmp:
        import shutil

        project = Path(tmp) / "work" / "hello-static"
        shutil.copytree(REPO / "examples" / "hello-static", project, ignore=shutil.ignore_patterns("build", "dist"))
        arts = pack(project, Path(tmp) / "work" / "dist")
        stored = pack(project, Path(tmp) / "work" / "dist-stored", "--compression-level", "0")
        native = project / "build" / "hello"
        stub = pvh_stub(Path(tmp) / "stub.elf")
        cases = [
            ("native", plain_run([str(native)])),
            ("linux-userland", plain_run([str(arts["linux-userland"])])),
            ("QEMU alone, -M microvm (PVH stub exits at once)", stub_run(qemu, stub)),
            ("QEMU alone, through QEMU's firmware", stub_run(qemu, stub, firmware=True)),
            ("kvm, QEMU TCG -M microvm, as `litebox run` boots", runner_run(plugin, arts["kvm"])),
            ("kvm, the same through QEMU's firmware (qboot, pvh.bin)",
             runner_run(plugin, arts["kvm"], firmware=True)),
            ("kvm, the same through the runner's qemu.boot", runner_run(plugin, arts["kvm"], whole_runner=True)),
            ("kvm, -M microvm, chunks checked in the VM", qemu_run(qemu, arts["kvm"], "microvm", "")),
            ("kvm, QEMU TCG -M pc (default machine)", qemu_run(qemu, arts["kvm"], "pc", "")),
            ("kvm, -M microvm, stored chunks (level 0)", qemu_run(qemu, stored["kvm"], "microvm", "")),
        ]
        # Where the runner uses litebox's lean QEMU (scripts/build-qemu), the distribution's
        # on PATH is measured beside it: QEMU's own share and the boot as `litebox run` boots.
        distribution = shutil.which(qemu.QEMU)
        if qemu.is_lean_qemu(qemu.qemu_path()) and distribution and not qemu.is_lean_qemu(distribution):
            cases[4:4] = [
                ("QEMU alone, -M microvm, the distribution's QEMU",
                 with_qemu(qemu, distribution, stub_run(qemu, stub))),
                ("kvm, as `litebox run` boots, the distribution's QEMU",
                 with_qemu(qemu, distribution, runner_run(plugin, arts["kvm"]))),
            ]
        # litebox.timing: the kernel's boot lines without the library OS's debug output (which
        # would slow the app down); the former kernel knows only litebox.debug.
        timing = "litebox.timing litebox.image-checked"
        debug = [("as `litebox run` boots", qemu_run(qemu, arts["kvm"], "microvm", timing)),
                 ("chunks checked in the VM", qemu_run(qemu, arts["kvm"], "microvm", "litebox.timing")),
                 ("stored chunks", qemu_run(qemu, stored["kvm"], "microvm", "litebox.timing"))]
        if args.before is not None:
            before = pack_with(project, Path(tmp) / "work" / "dist-before", args.before)
            opts = {} if args.before_machine is None else {"microvm_options": args.before_machine}
            cases[2:2] = [("before: kvm, as `litebox run` boots", runner_run(plugin, before, **opts))]
            if opts:
                cases[2:2] = [("before: QEMU alone, its -M microvm options", stub_run(qemu, stub, **opts))]
            debug.insert(0, ("before", qemu_run(qemu, before, "microvm", timing, **opts)))
        for _, fn in cases + debug:
            fn()  # warm the page cache
        times: dict[str, list[float]] = {name: [] for name, _ in cases}
        cpus: dict[str, list[float]] = {name: [] for name, _ in cases}
        outs: dict[str, list[bytes]] = {label: [] for label, _ in debug}
        load = [open("/proc/loadavg", encoding="ascii").read().split()[0]]
        for _ in range(args.runs):
            for name, fn in cases:
                t, _ = timed(fn, 1, cpus[name])
                times[name] += t
            for label, fn in debug:
                outs[label] += timed(fn, 1)[1]
        load.append(open("/proc/loadavg", encoding="ascii").read().split()[0])
        rows = [{"case": name, "median_ms": round(statistics.median(times[name]), 2),
                 "min_ms": round(min(times[name]), 2), "cpu_median_ms": round(statistics.median(cpus[name]), 1)}
                for name, _ in cases]
        kernel = {label: kernel_share(o) for label, o in outs.items()}
    vmm = qemu.qemu_description(qemu.qemu_path() or qemu.QEMU)
    base = rows[0]["median_ms"]
    for r in rows:
        r["x_native"] = round(r["median_ms"] / base, 1) if base else None
    if args.json:
        print(json.dumps({"runs": args.runs, "load_average": load, "qemu": vmm, "rows": rows,
                          "kvm_kernel_share": kernel}, indent=2))
        return 0
    print(f"hello-static, boot/start to exit, {args.runs} interleaved rounds (wall median / min, ms; x native by"
          f" median; CPU median, ms); 1-minute load average {load[0]} at the start, {load[1]} at the end")
    print(f"  QEMU (the runner's): {vmm}")
    for r in rows:
        print(f"  {r['case']:<52} {r['median_ms']:>9.2f} / {r['min_ms']:>8.2f}   x{r['x_native']:<6} "
              f"CPU {r['cpu_median_ms']:>7.1f}")
    for label, k in kernel.items():
        app = f"; then the app to the VM's exit {k['app_median_ms']} ms" if k["app_median_ms"] is not None else ""
        print(f"  kvm kernel share, {label} (PVH entry -> app's first instruction, TSC): "
              f"{k['median_ms']} / {k['min_ms']} ms{app}")
        for line in (k["phases"], k["clock"]):
            if line:
                print(f"    last run's {line[len('litebox: '):]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
