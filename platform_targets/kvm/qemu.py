"""Booting a kvm artifact in QEMU: the command line, the acceleration decision, and the run
itself (console to the terminal, args in, exit status out, the VM always cleaned up).

How things cross the VM boundary:
  in   arguments: the PVH command line (``-append``), percent-encoded ``litebox.arg=`` tokens
       (platform_targets/kvm/runtime/src/cmdline.rs)
  in   host environment (what the image's policy admits) and stdin: PVH module 0 (``-initrd``),
       ``LBXBOOT1`` + env length + stdin length (u64 LE) + NUL-terminated KEY=VALUE entries +
       stdin bytes; kept off the command line, which other users can read in ``ps``. Stdin is
       the runner's own, read to EOF when it is not a terminal (a terminal gives none).
  out  stdout: COM1 (0x3f8), wired to the runner's stdout; stderr and the kernel's messages:
       COM3 (0x3e8), wired to the runner's stderr
  out  the exit status: a line ``litebox-exit N`` on COM2 (0x2f8: a FIFO pair the runner
       holds, QEMU's ``pipe`` chardev), and QEMU's isa-debug-exit (port 0xf4), which exits
       QEMU with ``(N << 1) | 1``
  in   signals: the runner's first Ctrl-C, SIGTERM, SIGHUP or SIGQUIT goes to the app as one
       byte on COM2 (``I``, ``T``, ``H``, ``Q``: control.rs); a second one stops the VM
  both the network, only when the image's policy grants some ([policy.network]): a virtio-net
       card on QEMU's user-mode network (slirp; the VM is 10.0.2.15); each listen rule
       ``ADDR:PORT`` becomes a forward of the host's ADDR:PORT to the VM's PORT: the runner
       listens on ADDR:PORT itself and relays each client through a QEMU forward of a private
       loopback port (``HostForward``: QEMU's own forward listens with a backlog of 1); without
       connect rules the network is ``restrict=on`` (nothing leaves the VM but answers on
       forwarded connections). See docs/targets/kvm.md "Network".
"""
from __future__ import annotations

import contextlib
import json
import mmap
import os
import re
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

QEMU = "qemu-system-x86_64"
DEBUG_EXIT = "isa-debug-exit,iobase=0xf4,iosize=0x04"
MEMORY = "512M"
# microvm's machine options: no ACPI tables (nothing in the kernel reads them). The PIT (the
# clock's calibration), the RTC (CLOCK_REALTIME) and the ISA serial ports stay; turning off
# option ROMs or the PIC made no measurable difference (bench/RESULTS-kvm-boot.md).
MICROVM_OPTIONS = "acpi=off"
SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.,:/+@=")
# What `litebox run` returns when the VM died without reporting an exit status.
EXIT_VM_FAILED = 125
EXIT_TIMEOUT = 124
PROBE_CODE = 42
ACCEL_ENV = "LITEBOX_KVM_ACCEL"
TIMEOUT_ENV = "LITEBOX_KVM_TIMEOUT"
# `litebox run` never waits on QEMU without a limit (a hung guest would hang the caller).
DEFAULT_TIMEOUT = 600.0
# stdin travels as a boot module, read whole before the VM starts: an endless stream must not
# make the runner read forever.
STDIN_LIMIT = 64 << 20
# QEMU's own allocator (glibc): one malloc arena for all of QEMU's threads. Each thread that
# allocates (the vCPU's, the RCU thread) otherwise gets an arena of its own, which grows by one
# mprotect per step: ~60 of a hello boot's ~120 mprotect calls, ~1 ms of QEMU's CPU time per
# boot (bench/RESULTS-issue17-kvm.md, "Round five"). QEMU's allocations only; the guest, its
# devices and the sandbox are unchanged. A user's own arena setting is left alone.
ARENA_TUNABLE = ("glibc.malloc.arena_max", "1", "MALLOC_ARENA_MAX")
# malloc's memory (QEMU's brk heap and its large mmap'd chunks) madvised MADV_HUGEPAGE
# (glibc 2.35 and later; older ones ignore the name), and the heap grown 16 MiB at a time
# (top_pad; default 128 KiB) so that the 2 MiB-aligned ranges of its first megabytes are inside
# the heap when QEMU first writes them: where transparent huge pages are "madvise" or "always",
# a boot's ~5 MB of start-up heap then faults in 2 MiB at a time instead of 4 KiB, ~3,570 ->
# ~2,220 host page faults and ~2-3 ms less of each boot, for ~3 MB more resident memory
# (bench/RESULTS-issue17-kvm.md, "Round nine"). Where they are "never" only the heap's
# growth step changes. QEMU's allocations only, as above; a user's own setting of either is
# left alone.
# Every tunable QEMU gets: (tunable, value, the environment variable that sets it too).
QEMU_TUNABLES: tuple[tuple[str, str, str | None], ...] = (
    ARENA_TUNABLE,
    ("glibc.malloc.hugetlb", "1", None),
    ("glibc.malloc.top_pad", "16777216", "MALLOC_TOP_PAD_"),
)
# GLib's slice allocator (GLib before 2.76; Debian 12 has 2.74) as plain malloc, what GLib
# 2.76 and later always do: QEMU's start-up then skips the slice allocator's per-thread
# magazines and chunk pages, -0.3 to -0.5 ms of each boot (bench/RESULTS-issue17-kvm.md,
# "Round eight"). QEMU's allocations only, as above; a user's own G_SLICE is left alone.
GSLICE = ("G_SLICE", "always-malloc")


def escape(value: bytes) -> str:
    """Percent-encodes every byte outside a small safe set (spaces, quotes, %, non-ASCII...)."""
    return "".join(chr(b) if b in SAFE else f"%{b:02X}" for b in value)


def boot_module(env: dict[str, str], stdin: bytes) -> bytes:
    """PVH module 0 as the kernel reads it (main.rs split_boot_module)."""
    block = b"".join(os.fsencode(k) + b"=" + os.fsencode(v) + b"\0" for k, v in sorted(env.items()))
    return b"LBXBOOT1" + len(block).to_bytes(8, "little") + len(stdin).to_bytes(8, "little") + block + stdin


def kernel_cmdline(args: list[str], env: dict[str, str], debug: bool = False, image_checked: bool = False) -> str:
    """The PVH command line carrying ``args`` and ``env`` (see cmdline.rs); `litebox run`
    passes the environment in the boot module instead (``env`` empty). ``image_checked``: the
    runner checked the whole image's digests (chunkcheck.py), the kernel need not."""
    tokens = [f"litebox.arg={escape(os.fsencode(a))}" for a in args]
    tokens += [f"litebox.env={escape(os.fsencode(k) + b'=' + os.fsencode(v))}" for k, v in sorted(env.items())]
    if debug:
        tokens.append("litebox.debug")
    if image_checked:
        tokens.append("litebox.image-checked")
    return " ".join(tokens)


# The VMM `litebox run` boots kvm and snp artifacts with (docs/targets/kvm.md, "The VMM"):
# LITEBOX_QEMU names one explicitly (a path, or a name looked up on PATH); otherwise the lean
# build scripts/build-qemu installs under LITEBOX_QEMU_PREFIX (default LEAN_PREFIX) is
# preferred, and qemu-system-x86_64 on PATH (the distribution's) is the fallback.
QEMU_ENV = "LITEBOX_QEMU"
QEMU_PREFIX_ENV = "LITEBOX_QEMU_PREFIX"
LEAN_PREFIX = "/usr/local/lib/litebox/qemu"
_QEMU_PATHS: dict[str, str] = {}


def lean_qemu() -> str:
    """Where scripts/build-qemu installs the lean QEMU (whether or not it is there):
    ``$LITEBOX_QEMU_PREFIX/bin/qemu-system-x86_64``, the prefix defaulting to LEAN_PREFIX."""
    return os.path.join(os.environ.get(QEMU_PREFIX_ENV) or LEAN_PREFIX, "bin", QEMU)


# The distribution's QEMU source version, as its package's changelog names it on its first line.
DISTRIBUTION_CHANGELOG = "/usr/share/doc/qemu-system-x86/changelog.Debian.gz"


def lean_qemu_source() -> str | None:
    """The QEMU source version the lean build was made from (its BUILD-INFO line
    ``source qemu VERSION; configure ...``), or None when there is no readable BUILD-INFO."""
    info = os.path.join(os.path.dirname(os.path.dirname(lean_qemu())), "BUILD-INFO")
    try:
        with open(info, encoding="utf-8") as f:
            first = f.readline()
    except OSError:
        return None
    m = re.match(r"source qemu ([^;\s]+);", first)
    return m.group(1) if m else None


def distribution_qemu_source() -> str | None:
    """The source version of the installed distribution QEMU (qemu-system-x86's changelog), or
    None when it cannot be read (no package, or its documentation left out)."""
    import gzip

    try:
        with gzip.open(DISTRIBUTION_CHANGELOG, "rt", encoding="utf-8", errors="replace") as f:
            first = f.readline()
    except (OSError, EOFError):
        return None
    m = re.match(r"qemu \(([^)]+)\)", first)
    return m.group(1) if m else None


def lean_qemu_is_current() -> bool:
    """False when the lean build was made from another QEMU source than the distribution's
    installed QEMU (e.g. a security update installed since: the runner then uses the
    distribution's until ./scripts/build-qemu rebuilds); True when they match or either is unknown."""
    lean, dist = lean_qemu_source(), distribution_qemu_source()
    return lean is None or dist is None or lean == dist


def is_lean_qemu(exe: str | None) -> bool:
    """Whether ``exe`` is the lean build at ``lean_qemu()``'s path."""
    return exe is not None and os.path.abspath(exe) == os.path.abspath(lean_qemu())


def qemu_path() -> str | None:
    """The QEMU binary `litebox run` uses, or None when there is none: LITEBOX_QEMU when set
    (None if that names no executable: an explicit choice is never silently replaced), else
    the lean build at ``lean_qemu()`` when it is an executable file, else qemu-system-x86_64 on
    PATH. Found once per (setting, prefix, PATH) in a process (a `litebox run` asks four
    times; each PATH search is ~20 stat calls), and looked up again when the binary found is
    no longer executable."""
    explicit = os.environ.get(QEMU_ENV, "")
    lean = lean_qemu()
    search = os.environ.get("PATH", os.defpath)
    key = f"{explicit}\0{lean}\0{search}"
    found = _QEMU_PATHS.get(key)
    if found is not None and os.access(found, os.X_OK):
        return found
    if explicit:
        found = shutil.which(explicit)
    elif os.path.isfile(lean) and os.access(lean, os.X_OK) and lean_qemu_is_current():
        found = lean
    else:
        found = shutil.which(QEMU)
    if found is not None:
        _QEMU_PATHS[key] = found
    return found


def qemu_missing() -> str:
    """Why ``qemu_path()`` found no QEMU and what to do, for error messages and checks."""
    explicit = os.environ.get(QEMU_ENV, "")
    if explicit:
        return f"{QEMU_ENV}={explicit} names no executable: fix or unset it"
    return ("not found: apt-get install qemu-system-x86 (then ./scripts/build-qemu builds "
            "litebox's lean QEMU, which boots faster)")


def qemu_description(exe: str) -> str:
    """``exe`` with its version and which build it is, for `litebox targets` and checks."""
    kind = "litebox's lean build" if is_lean_qemu(exe) else (
        f"from {QEMU_ENV}" if os.environ.get(QEMU_ENV) else "from PATH")
    lean = lean_qemu()
    if not is_lean_qemu(exe) and not os.environ.get(QEMU_ENV) and os.access(lean, os.X_OK) \
            and not lean_qemu_is_current():
        kind += (f"; the lean build at {lean} is from qemu {lean_qemu_source()}, the installed "
                 f"qemu-system-x86 from {distribution_qemu_source()}: ./scripts/build-qemu rebuilds it")
    return f"{exe} ({qemu_version(exe)}; {kind})"


def qemu_version(exe: str | None = None) -> str:
    """The first version line of ``exe`` (default: ``qemu_path()``'s), or '' if it cannot be run."""
    exe = exe or qemu_path()
    if exe is None:
        return ""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.splitlines()[0].strip() if out else ""


@dataclass(frozen=True)
class NetPlan:
    """The VM's network as the policy asks for it: host forwards for the listen rules, and
    whether the VM may open connections (connect rules exist)."""

    forwards: tuple[tuple[str, int], ...]
    outgoing: bool
    skipped: tuple[str, ...] = ()

    def netdev(self, via: dict[tuple[str, int], int] | None = None) -> str:
        """The ``-netdev`` value: user-mode networking with the forwards, each from the host's
        ADDR:PORT, or from 127.0.0.1:``via[(ADDR, PORT)]`` where the runner relays it
        (``HostForward``)."""
        parts = ["user", "id=net0", f"restrict={'off' if self.outgoing else 'on'}"]
        for addr, port in self.forwards:
            host = f"127.0.0.1:{via[(addr, port)]}" if via and (addr, port) in via else f"{addr}:{port}"
            parts.append(f"hostfwd=tcp:{host}-:{port}")
        return ",".join(parts)


def app_env(launch: Any) -> dict[str, str]:
    """The host variables an image's launch config lets in (ENV_PASS names; all with
    ENV_INHERIT); none for an unreadable image (``launch`` None)."""
    if launch is None:
        return {}
    if launch.env_inherit:
        return dict(os.environ)
    return {k: os.environ[k] for k in launch.env_pass if k in os.environ}


def launch_net_plan(launch: Any) -> NetPlan | None:
    """The VM's network for an image's [policy.network] (None: no card, also for an
    unreadable image)."""
    if launch is None:
        return None
    import ipaddress

    def rules(items: list[Any]) -> list[tuple[int, str, int]]:
        return [(r.family, str(ipaddress.ip_address(r.address)), r.port) for r in items]

    return net_plan(rules(launch.policy.listen), rules(launch.policy.connect))


def net_plan(listen: list[tuple[int, str, int]], connect: list[tuple[int, str, int]]) -> NetPlan | None:
    """The network for rules given as (family, address, port); None when the policy grants no
    network (the VM then has no card at all). Listen rules on port 0 (any port) or IPv6 cannot
    be forwarded (the port is not known before the app binds; the VM has no IPv6): they are
    listed in ``skipped``."""
    if not listen and not connect:
        return None
    forwards: list[tuple[str, int]] = []
    skipped: list[str] = []
    for family, addr, port in listen:
        if family != 4 or port == 0:
            skipped.append(f"[{addr}]:{port}" if family == 6 else f"{addr}:{port}")
        elif (addr, port) not in forwards:
            forwards.append((addr, port))
    return NetPlan(tuple(forwards), bool(connect), tuple(skipped))


# The backlog of the runner's listening socket for a listen rule: Linux's default somaxconn, and
# as many connections as the VM's kernel holds for accept() on one port (core/libos/src/netstack/).
FORWARD_BACKLOG = 128
# How long a relay retries a refused connection to QEMU's forward while QEMU starts (s).
FORWARD_STARTUP = 10.0


class HostForward:
    """The host side of one listen rule: the runner listens on the rule's ADDR:PORT with a
    backlog of ``FORWARD_BACKLOG`` and relays every client, byte for byte, through QEMU's
    forward of a private loopback port to the VM's PORT.

    QEMU's own forward (libslirp's ``hostfwd``) listens with a backlog of 1: a burst of
    clients overflows it at once, Linux drops their SYNs and handshake ACKs, the clients back
    off (1 s, 3 s, 7 s...), and one whose half-open connection Linux prunes meanwhile gets a
    reset on its next retransmission; under load, about one burst of 32 in two lost a client
    that way. The relay connects to the private forward one connection at a time, so that
    listener never holds more than one connection waiting for QEMU to accept it, and clients
    wait in the runner's backlog instead. An end of stream passes on as a half-close; a reset or
    error on either side resets both (a client sees the VM's resets as it would without the
    relay)."""

    def __init__(self, addr: str, port: int) -> None:
        self.addr, self.port = addr, port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._reserve = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.listener.bind((addr, port))
            self.listener.listen(FORWARD_BACKLOG)
            # The private port stays bound while the VM runs (not listening; SO_REUSEADDR, as
            # QEMU binds it too), so nothing else takes it before QEMU does.
            self._reserve.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._reserve.bind(("127.0.0.1", 0))
        except OSError:
            self.close()
            raise
        self.inner: int = self._reserve.getsockname()[1]
        self._connecting = threading.Lock()
        self._started = 0.0

    def start(self) -> None:
        """Starts accepting clients (QEMU has been started with the forward of ``inner``)."""
        self._started = time.monotonic()
        threading.Thread(target=self._serve, name=f"forward-{self.port}", daemon=True).start()

    def close(self) -> None:
        """Stops accepting (new clients are refused); relayed connections go on until they end."""
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self.listener.close()
        self._reserve.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), name=f"relay-{self.port}", daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        inner = None
        with self._connecting:
            # A SYN that finds the listener's queue full (2 connections with a backlog of 1) is
            # dropped and only retried a second later: wait (briefly) for QEMU to accept.
            end = time.monotonic() + 1.0
            while (waiting := listen_queue(self.inner)) is not None and waiting > 1 and time.monotonic() < end:
                time.sleep(0.002)
            while inner is None:
                try:
                    inner = socket.create_connection(("127.0.0.1", self.inner))
                except ConnectionRefusedError:
                    if time.monotonic() - self._started > FORWARD_STARTUP:
                        break
                    time.sleep(0.05)
                except OSError:
                    break
        if inner is None:
            _Relay.reset(client)
            client.close()
            return
        _Relay(client, inner).start()


def listen_queue(port: int) -> int | None:
    """How many connections wait for accept() on the socket listening on 127.0.0.1:``port``
    (Linux's /proc/net/tcp), or None when there is none or it cannot be read."""
    local = f"0100007F:{port:04X}"
    try:
        with open("/proc/net/tcp", encoding="ascii") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and fields[1] == local and fields[3] == "0A":
                    return int(fields[4].split(":")[1], 16)
    except (OSError, ValueError):
        return None
    return None


class _Relay:
    """Two connected sockets relayed both ways, one thread per direction."""

    def __init__(self, a: socket.socket, b: socket.socket) -> None:
        self.socks = (a, b)
        self.lock = threading.Lock()
        self.running = 2
        self.failed = False

    def start(self) -> None:
        a, b = self.socks
        for src, dst in ((a, b), (b, a)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def reset(sock: socket.socket) -> None:
        """Makes the coming close() of ``sock`` send a reset."""
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
            with self.lock:
                failed = self.failed
            if not failed:
                dst.shutdown(socket.SHUT_WR)  # the end of stream passes on
        except OSError:
            with self.lock:
                self.failed = True
            for sock in self.socks:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RD)  # wakes the other direction; sends nothing
        with self.lock:
            self.running -= 1
            last, failed = self.running == 0, self.failed
        if last:
            for sock in self.socks:
                if failed:
                    self.reset(sock)
                sock.close()


def file_chardev(path: Path) -> str:
    """A chardev backend writing to a file (the control port of a boot without signals in)."""
    return f"file,path={path}"


# Direct boot (``-M microvm`` only): instead of QEMU's firmware (qboot) running its PVH option
# ROM (pvh.bin), which reads the kernel, command line and module through fw_cfg and builds the
# start info, QEMU's generic loader puts the kernel's segments, a start info the runner built,
# and the boot module in guest RAM before the CPU starts, and a 64 KiB BIOS of a few
# instructions enters 32-bit protected mode and jumps to the PVH entry with %ebx at the start
# info: the state the PVH boot protocol defines. The firmware's ~1,100 guest instructions were
# ~2 ms of each boot under TCG (bench/RESULTS-issue17-kvm.md).
#
# The BIOS (GNU as, --32): at offset 0xff00 (linear 0xffffff00) a flat GDT (null, 32-bit code
# 0x08, data 0x10) and its descriptor, then
#     cli; cld; lgdtl %cs:0xff18; mov %cr0,%eax; or $1,%al; mov %eax,%cr0
#     ljmpl $0x08,$0xffffff37
#   start32: mov $0x10,%eax; mov %eax,%ds; ...%es, %ss, %fs, %gs
#     mov $START_INFO,%ebx; mov $ENTRY,%eax; jmp *%eax
# and at the reset vector (offset 0xfff0) ``jmp start16`` (16-bit).
_BIOS_CODE = bytes.fromhex(
    "0000000000000000ffff0000009acf00ffff00000092cf001700" "00ffffff"
    "fafc2e660f011618ff0f20c00c010f22c066ea37ffffff0800"
    "b8100000008ed88ec08ed08ee08ee8" "bb44332211" "b888776655" "ffe0")
_BIOS_START_INFO = 0x47  # offsets of the two patched immediates in _BIOS_CODE
_BIOS_ENTRY = 0x4C
_BIOS_RESET = bytes.fromhex("e92bff")  # at 0xfff0: jmp 0xff1e (start16)
BIOS_SIZE = 0x10000
# hvm_start_info (version 1) and the structures it points to, as pvh.bin builds them.
_START_INFO_MAGIC = 0x336EC578
_PAGE = 4096


def bios_image(entry: int, start_info: int) -> bytes:
    """The 64 KiB BIOS that enters ``entry`` (32-bit, physical) with %ebx = ``start_info``."""
    code = bytearray(_BIOS_CODE)
    code[_BIOS_START_INFO:_BIOS_START_INFO + 4] = start_info.to_bytes(4, "little")
    code[_BIOS_ENTRY:_BIOS_ENTRY + 4] = entry.to_bytes(4, "little")
    image = bytearray(b"\xf4" * BIOS_SIZE)  # hlt
    image[0xFF00:0xFF00 + len(code)] = code
    image[0xFFF0:0xFFF0 + len(_BIOS_RESET)] = _BIOS_RESET
    return bytes(image)


def memory_bytes(memory: str) -> int:
    """QEMU's ``-m`` size (``512M``, ``1G``, a plain number of MiB) in bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if memory[-1:].upper() in units:
        return int(memory[:-1]) * units[memory[-1].upper()]
    return int(memory) << 20


class DirectBootError(ValueError):
    """The kernel cannot be booted without firmware (no PVH note, not a 64-bit ELF...)."""


def kernel_layout(kernel: Path) -> tuple[int, int]:
    """(the PVH entry, the end of the loaded segments: physical addresses) of a PVH ELF, read
    from its headers and notes (not the whole file: an artifact holds the app's image)."""
    with open(kernel, "rb") as f:
        head = f.read(64)
        if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            raise DirectBootError(f"{kernel}: not a 64-bit little-endian ELF")
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
        entry, end = None, 0
        for i in range(phnum):
            kind, _, off, _, paddr, filesz, memsz, _ = struct.unpack_from("<IIQQQQQQ", table, i * phentsize)
            if kind == 1:
                end = max(end, paddr + memsz)
            elif kind == 4 and entry is None:
                f.seek(off)
                notes, pos = f.read(filesz), 0
                while pos + 12 <= len(notes):
                    namesz, descsz, ntype = struct.unpack_from("<III", notes, pos)
                    desc = pos + 12 + ((namesz + 3) & ~3)
                    if notes[pos + 12:pos + 12 + namesz] == b"Xen\0" and ntype == 18 and descsz in (4, 8):
                        entry = int.from_bytes(notes[desc:desc + descsz], "little")
                        break
                    pos = desc + ((descsz + 3) & ~3)
    if entry is None or entry >= 1 << 32 or not end:
        raise DirectBootError(f"{kernel}: no PVH entry note or no loadable segment")
    return entry, end


def start_info(at: int, cmdline: bytes, module: tuple[int, int] | None, memory: int) -> bytes:
    """The start info, placed at physical ``at``, then the module list, the memory map and the
    NUL-terminated command line: all of RAM in one entry, as QEMU's e820 table for microvm
    holds it (the kernel keeps its own frames below 1 MiB and reserves these structures)."""
    modlist = at + 64
    memmap = modlist + 32
    line = memmap + 24
    info = struct.pack("<IIIIQQQQII", _START_INFO_MAGIC, 1, 0, 1 if module else 0, modlist if module else 0,
                       line, 0, memmap, 1, 0).ljust(64, b"\0")
    mods = struct.pack("<QQQQ", module[0], module[1], 0, 0) if module else bytes(32)
    ram = struct.pack("<QQII", 0, memory, 1, 0)
    return info + mods + ram + cmdline + b"\0"


def direct_boot(kernel: Path, cmdline: str, initrd: Path | None, memory: str, directory: Path) -> list[str]:
    """QEMU options booting ``kernel`` without firmware (see ``bios_image``): writes the BIOS
    and the start info into ``directory``; the module (``initrd``) is loaded after them."""
    entry, end = kernel_layout(kernel)
    info_at = (end + _PAGE - 1) & ~(_PAGE - 1)
    line = cmdline.encode()
    module = None
    if initrd is not None:
        size = initrd.stat().st_size
        mod_at = (info_at + 152 + len(line) + 1 + _PAGE - 1) & ~(_PAGE - 1)
        module = (mod_at, size)
    info = start_info(info_at, line, module, memory_bytes(memory))
    if (module[0] + module[1] if module else info_at + len(info)) > memory_bytes(memory):
        raise DirectBootError("the kernel, its start info and module do not fit in the VM's memory")
    bios = directory / "bios.bin"
    bios.write_bytes(bios_image(entry, info_at))
    info_file = directory / "start-info"
    info_file.write_bytes(info)
    argv = ["-bios", str(bios), "-device", f"loader,file={_opt(kernel)}",
            "-device", f"loader,file={_opt(info_file)},addr={info_at:#x},force-raw=on"]
    if initrd is not None and module is not None:
        argv += ["-device", f"loader,file={_opt(initrd)},addr={module[0]:#x},force-raw=on"]
    return argv


def _opt(path: Path) -> str:
    """``path`` as a value in a QEMU option list (a comma doubled)."""
    return str(path).replace(",", ",,")


def qemu_argv(kernel: Path, cmdline: str, control: str, accel: str, machine: str = "microvm",
              initrd: Path | None = None, memory: str = MEMORY, net: NetPlan | None = None,
              stderr_port: bool = True, via: dict[tuple[str, int], int] | None = None,
              microvm_options: str = MICROVM_OPTIONS, direct: Path | None = None) -> list[str]:
    """The QEMU command line that boots ``kernel`` with our devices and nothing else: COM1 on
    QEMU's stdout, COM2 on the ``control`` chardev backend (``file,path=...`` or
    ``pipe,path=...``), COM3 on QEMU's stderr (``stderr_port``), a virtio-mmio network card
    when ``net`` is given (microvm only), its forwards from the private ports ``via`` where
    the runner relays them (``NetPlan.netdev``). ``-M microvm`` gets no ACPI tables (the
    kernel reads the PVH start info and probes its devices at fixed addresses; building the
    tables cost QEMU about 4 ms of each boot: ``microvm_options``). With ``direct`` (a
    directory for two small files) ``-M microvm`` boots the kernel without firmware
    (``direct_boot``); without it, or for a kernel it cannot place, through QEMU's firmware
    and ``-kernel``."""
    spec = f"{machine},{microvm_options}" if machine == "microvm" and microvm_options else machine
    exe = qemu_path() or QEMU
    argv = [exe, "-M", spec, "-accel", accel, "-m", memory, "-nodefaults",
            "-no-user-config", "-display", "none", "-no-reboot", *([ASYNC_TEARDOWN] if async_teardown(exe) else []),
            "-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con",
            "-chardev", f"{control},id=ctl",
            "-device", "isa-serial,chardev=ctl,iobase=0x2f8,irq=3"]
    if stderr_port:
        # QEMU's own descriptor 2, reopened; append=on never truncates a file behind it.
        argv += ["-chardev", "file,id=err,path=/dev/fd/2,append=on",
                 "-device", "isa-serial,chardev=err,iobase=0x3e8,irq=4"]
    argv += ["-device", DEBUG_EXIT]
    boot = None
    if direct is not None and machine == "microvm":
        try:
            boot = direct_boot(kernel, cmdline, initrd, memory, direct)
        except (DirectBootError, OSError):
            boot = None  # QEMU's own PVH boot reports what is wrong with the kernel
    if boot is None:
        boot = ["-kernel", str(kernel), "-append", cmdline]
        if initrd is not None:
            boot += ["-initrd", str(initrd)]
    argv += boot
    if net is not None and machine == "microvm":
        argv += ["-netdev", net.netdev(via), "-device", "virtio-net-device,netdev=net0"]
    return argv


def parse_exit(text: str) -> int | None:
    """The exit status in the kernel's control output (a ``litebox-exit N`` line), or None."""
    for line in text.splitlines():
        if line.startswith("litebox-exit "):
            try:
                return int(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


def read_exit(control: Path) -> int | None:
    """The exit status the kernel wrote to the control file, or None."""
    try:
        return parse_exit(control.read_text(encoding="ascii", errors="replace"))
    except OSError:
        return None


def status_from_qemu(returncode: int) -> int | None:
    """The app's exit status from QEMU's own (isa-debug-exit: (code << 1) | 1; low 7 bits)."""
    if returncode > 0 and returncode & 1:
        return returncode >> 1
    return None


# The byte the kernel reads on COM2 for each signal the runner forwards (control.rs).
SIGNAL_BYTES = {signal.SIGINT: b"I", signal.SIGTERM: b"T", signal.SIGHUP: b"H", signal.SIGQUIT: b"Q"}


class ControlChannel:
    """COM2 as QEMU's ``pipe`` chardev: FIFOs ``control.in`` (signals to the kernel) and
    ``control.out`` (its exit line). Both are opened read-write and non-blocking before QEMU
    starts, so neither side ever blocks on the other."""

    def __init__(self, directory: Path) -> None:
        self.base = directory / "control"
        os.mkfifo(f"{self.base}.in", 0o600)
        os.mkfifo(f"{self.base}.out", 0o600)
        self._in = os.open(f"{self.base}.in", os.O_RDWR | os.O_NONBLOCK)
        self._out = os.open(f"{self.base}.out", os.O_RDWR | os.O_NONBLOCK)
        self._received = b""

    def chardev(self) -> str:
        """The ``-chardev`` backend for COM2."""
        return f"pipe,path={self.base}"

    def send_signal(self, signum: int) -> None:
        """Forwards ``signum`` to the app (ignored if it has no byte or the FIFO is full)."""
        byte = SIGNAL_BYTES.get(signal.Signals(signum))
        if byte is not None:
            try:
                os.write(self._in, byte)
            except BlockingIOError:
                pass

    def exit_status(self) -> int | None:
        """The status the kernel reported so far (reads what is waiting), or None."""
        while True:
            try:
                chunk = os.read(self._out, 4096)
            except BlockingIOError:
                break
            if not chunk:
                break
            self._received += chunk
        return parse_exit(self._received.decode("ascii", errors="replace"))

    def close(self) -> None:
        """Closes the runner's ends of both FIFOs."""
        for fd in (self._in, self._out):
            os.close(fd)


class _Forwarder:
    """While installed: the first SIGINT/SIGTERM/SIGHUP/SIGQUIT goes to the app through the
    control channel; a second one of any of them stops the VM (KeyboardInterrupt)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)

    def __init__(self, channel: ControlChannel) -> None:
        self.channel = channel
        self.count = 0
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> _Forwarder:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self.saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self.saved.items():
            signal.signal(sig, old)

    def _handle(self, signum: int, _frame: object) -> None:
        self.count += 1
        if self.count > 1:
            raise KeyboardInterrupt
        self.channel.send_signal(signum)


def boot(kernel: Path, cmdline: str, accel: str, timeout: float | None, module: bytes | None,
         stdout: int | None = None, machine: str = "microvm",
         stderr: int | None = None, net: NetPlan | None = None,
         forward_signals: bool = False, direct: bool = False) -> tuple[int | None, int]:
    """Boots ``kernel`` once; returns (app exit status or None, QEMU's exit status).
    QEMU never outlives this call: it is killed on timeout and on Ctrl-C (KeyboardInterrupt
    is re-raised after the kill). With ``forward_signals`` the first Ctrl-C (or SIGTERM,
    SIGHUP, SIGQUIT) is delivered to the app instead, and only a second one stops the VM.
    The listen rules' host ports are the runner's while QEMU runs (``HostForward``); OSError
    when one cannot be listened on. ``direct``: boot a kvm kernel without firmware
    (``direct_boot``)."""
    sweeper = threading.Thread(target=sweep_stale_run_dirs, name="kvm-run-sweep", daemon=True)
    sweeper.start()  # runs while QEMU boots: the runner only waits then
    root = run_dir_root(len(module) if module else 0)
    with tempfile.TemporaryDirectory(prefix=run_dir_prefix(), dir=root) as tmp, contextlib.ExitStack() as forwards:
        forwards.callback(sweeper.join)
        hosts: list[HostForward] = []
        if net is not None and machine == "microvm":
            for addr, port in net.forwards:
                hosts.append(HostForward(addr, port))
                forwards.callback(hosts[-1].close)
        channel = ControlChannel(Path(tmp))
        initrd = None
        if module:
            initrd = Path(tmp) / "boot-module"
            initrd.write_bytes(module)
        argv = qemu_argv(kernel, cmdline, channel.chardev(), accel, machine, initrd, net=net,
                         via={(h.addr, h.port): h.inner for h in hosts}, direct=Path(tmp) if direct else None)
        try:
            with _Forwarder(channel) if forward_signals else contextlib.nullcontext():
                argv, preexec = dies_with_runner(argv)
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                        start_new_session=True, preexec_fn=preexec, env=qemu_env())
                for host in hosts:
                    host.start()
                try:
                    rc = wait_exit(proc, timeout)
                except subprocess.TimeoutExpired:
                    _kill(proc)
                    return None, -signal.SIGKILL
                except BaseException:
                    _kill(proc)
                    raise
            code = channel.exit_status()
        finally:
            channel.close()
        if code is None:
            code = status_from_qemu(rc)
        return code, rc


RUN_DIR = "kvm-run-"


def _pid_namespace() -> str:
    """An identifier of this process's pid namespace (the inode of /proc/self/ns/pid), or
    "0" where /proc does not say."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"


def run_dir_prefix() -> str:
    """The prefix of a run's temporary directory: ``kvm-run-<pid namespace>-<pid>-``, so that
    a later run can tell that the run which made it has ended (``sweep_stale_run_dirs``)."""
    return f"{RUN_DIR}{_pid_namespace()}-{os.getpid()}-"


# A tmpfs for the run directory when the user has not chosen one (TMPDIR, TEMP, TMP): making,
# writing and removing the run's files there (the BIOS, the start info, the control FIFOs or
# file, the directory) costs ~0.4 ms less per boot than on an ext4 /tmp (a disk file system's
# journal, here with online discard; bench/RESULTS-issue17-kvm11.md). Only for a boot module up
# to SHM_MODULE_LIMIT: /dev/shm is small in some containers (Docker's default is 64 MB), and
# stdin may be up to STDIN_LIMIT.
SHM = "/dev/shm"
SHM_MODULE_LIMIT = 1 << 20
_TMP_VARIABLES = ("TMPDIR", "TEMP", "TMP")


def _shared_tmpfs() -> Path | None:
    """/dev/shm when it is a directory we can make entries in and, if others can too, one
    with the sticky bit (as /tmp: no other user can rename or remove our entries), else None."""
    try:
        st = os.stat(SHM)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or not os.access(SHM, os.W_OK | os.X_OK):
        return None
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        return None
    return Path(SHM)


def run_dir_root(module_size: int = 0) -> str:
    """Where a run's temporary directory is made: tempfile's directory when the environment
    names one (TMPDIR, TEMP or TMP) or the boot module is larger than SHM_MODULE_LIMIT, else
    /dev/shm where usable (``_shared_tmpfs``). The directory itself is made by ``mkdtemp``
    (mode 0700, a random name) wherever it is."""
    if module_size <= SHM_MODULE_LIMIT and not any(os.environ.get(v) for v in _TMP_VARIABLES):
        shm = _shared_tmpfs()
        if shm is not None:
            return str(shm)
    return tempfile.gettempdir()


def sweep_stale_run_dirs(root: Path | None = None) -> list[Path]:
    """Removes the temporary directories that runs killed with SIGKILL left behind (every
    other end removes its own) and returns them: in ``root``, or by default in both places a
    run may make one (``run_dir_root``: tempfile's directory and /dev/shm). A directory is
    stale when it is ours (same owner), names this pid namespace, and names a pid that no
    process has now. Others (another user's, another namespace's, or the older unnamed form)
    are left alone: from here they cannot be told from a live run's. Never raises."""
    if root is None:
        roots = [Path(tempfile.gettempdir())]
        shm = _shared_tmpfs()
        if shm is not None and shm.resolve() != roots[0].resolve():
            roots.append(shm)
        return [path for each in roots for path in sweep_stale_run_dirs(each)]
    ns = _pid_namespace()
    removed: list[Path] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(RUN_DIR):
            continue
        parts = entry.name[len(RUN_DIR):].split("-")  # namespace, pid, tempfile's suffix
        if len(parts) != 3 or parts[0] != ns or not parts[1].isdigit():
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat(follow_symlinks=False).st_uid != os.getuid():
                continue
            os.kill(int(parts[1]), 0)
            continue  # that process exists (or one with its pid): not stale
        except ProcessLookupError:
            pass
        except OSError:  # PermissionError: another user's process has the pid
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    return removed


def wait_exit(proc: subprocess.Popen[bytes], timeout: float | None) -> int:
    """Waits for ``proc`` to end (at most ``timeout`` seconds, else TimeoutExpired) and returns
    its status. Woken by the child's exit itself (a pidfd), not by polling: Popen.wait with a
    timeout sleeps between polls, up to 50 ms at a time, which made `litebox run` notice a
    ~60 ms boot's end ~5-30 ms late. Signals still interrupt the wait (a handler that raises
    ends it)."""
    if timeout is None:
        return proc.wait()
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # no pidfd (Linux < 5.3): Popen's own polling
        return proc.wait(timeout=timeout)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    if not ready:
        raise subprocess.TimeoutExpired(proc.args, timeout)
    return proc.wait()


# util-linux's setpriv: sets the parent-death signal, then execs the command.
SETPRIV = "setpriv"


def qemu_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment QEMU runs with: ``base`` (default: ours) with each of
    ``QEMU_TUNABLES`` added to GLIBC_TUNABLES unless it sets that tunable already (in
    GLIBC_TUNABLES or by its environment variable, e.g. MALLOC_ARENA_MAX), and ``GSLICE`` unless
    it sets G_SLICE."""
    env = dict(os.environ if base is None else base)
    env.setdefault(*GSLICE)
    tunables = env.get("GLIBC_TUNABLES", "")
    added = [f"{name}={value}" for name, value, variable in QEMU_TUNABLES
             if f"{name}=" not in tunables and (variable is None or variable not in env)]
    if added:
        env["GLIBC_TUNABLES"] = ":".join([tunables, *added] if tunables else added)
    return env


def dies_with_runner(argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """The command line to start QEMU with, and the function (if any) to run in the child
    before its exec, so that QEMU gets SIGKILL when the runner dies (PR_SET_PDEATHSIG):
    ``setpriv --pdeathsig KILL -- ARGV`` where util-linux's setpriv is installed, else
    ``ARGV`` with a pre-exec function. A pre-exec function makes Python fork and run code
    in the child before the exec, which held `litebox run` ~5-9 ms per boot here; setpriv
    costs one more exec (~1-2 ms)."""
    setpriv = _setpriv_with_pdeathsig()
    if setpriv is not None:
        return [setpriv, "--pdeathsig", "KILL", "--", *argv], None
    return argv, _die_with_parent


def _setpriv_with_pdeathsig() -> str | None:
    """setpriv's path when it knows ``--pdeathsig`` (util-linux 2.33 and later), else None.
    Told from the option's name in its help text, inside the binary: running it to ask would
    cost every boot one more exec, and an older setpriv would fail before QEMU starts."""
    path = shutil.which(SETPRIV)
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            return path if b"--pdeathsig" in f.read(8 << 20) else None
    except OSError:
        return None


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the runner dies (PR_SET_PDEATHSIG), so QEMU never
    outlives it, even when the runner itself is killed."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _probe_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "litebox" / "kvm-probe.json"


def _probe_key() -> str:
    """What a cached probe result holds for: this QEMU binary (its path, size and change
    time, which an upgrade changes; read with stat, not by running ``--version``, which cost
    every `litebox run` one more QEMU start) and the host kernel."""
    return f"{_binary_key(qemu_path() or QEMU)}|{os.uname().release}"


def _binary_key(exe: str) -> str:
    """What identifies a QEMU binary for a cached answer about it: its path, size and change
    time (an upgrade changes them), read with stat."""
    try:
        st = os.stat(exe)
        return f"{exe}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return exe


# QEMU 7.2 and later: -async-teardown starts, at QEMU's start, a process "cleanup/<pid>" that
# shares QEMU's address space (clone with CLONE_VM), closes every descriptor and only waits for
# QEMU to end; QEMU's own exit then skips unmapping its ~40 MB (~10,000 page-table entries,
# 3-4 ms of each hello boot on the benchmark's VM, bench/RESULTS-issue17-kvm10.md), which the
# cleanup process does when it ends (at once, or after up to a second: it checks each second
# whether QEMU is gone). It runs no guest or device code and holds no descriptor.
ASYNC_TEARDOWN = "-async-teardown"
_QEMU_OPTIONS: dict[str, bool] = {}


def _options_cache() -> Path:
    return _probe_cache().parent / "qemu-options.json"


def async_teardown(exe: str | None = None) -> bool:
    """Whether the QEMU binary ``exe`` (default: the one on PATH) knows ``-async-teardown``:
    told from the option's help text inside the binary (older QEMU stops at an unknown option),
    remembered per binary (``_binary_key``) in this process and in the user's cache."""
    exe = exe or qemu_path()
    if exe is None:
        return False
    key = _binary_key(exe)
    known = _QEMU_OPTIONS.get(key)
    if known is not None:
        return known
    try:
        data = json.loads(_options_cache().read_text(encoding="utf-8"))
        cached = data.get("async_teardown") if isinstance(data, dict) and data.get("key") == key else None
    except (OSError, ValueError):
        cached = None
    if isinstance(cached, bool):
        known = cached
    else:
        try:
            with open(exe, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as text:
                known = text.find(ASYNC_TEARDOWN.encode() + b" ") >= 0
        except (OSError, ValueError):
            return False
        try:
            _options_cache().parent.mkdir(parents=True, exist_ok=True)
            _options_cache().write_text(json.dumps({"key": key, "async_teardown": known}), encoding="utf-8")
        except OSError:
            pass
    _QEMU_OPTIONS[key] = known
    return known


def cached_probe() -> bool | None:
    """The last KVM probe's result for this QEMU and host kernel, or None if never probed."""
    try:
        data = json.loads(_probe_cache().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("ok") if data.get("key") == _probe_key() else None


def probe_kvm(kernel: Path, timeout: float = 5.0) -> bool:
    """Boots ``kernel`` with KVM in probe mode (a few ring-3 instructions that exit with 42
    through a syscall, exercising the whole path); caches and returns whether it worked."""
    ok = False
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        try:
            code, _ = boot(kernel, "litebox.probe", "kvm", timeout, None, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, direct=True)
            ok = code == PROBE_CODE
        except OSError:
            ok = False
    try:
        path = _probe_cache()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"key": _probe_key(), "ok": ok}), encoding="utf-8")
    except OSError:
        pass
    return ok


def choose_accel(kernel: Path | None) -> tuple[str, str]:
    """(accel, why): ``tcg`` unless a probe boot with KVM succeeded (never because /dev/kvm
    merely exists: some hypervisors expose one that hangs ordinary guests).
    LITEBOX_KVM_ACCEL=tcg|kvm|auto overrides."""
    forced = os.environ.get(ACCEL_ENV, "auto")
    if forced in ("tcg", "kvm"):
        return forced, f"{ACCEL_ENV}={forced}"
    if not os.path.exists("/dev/kvm"):
        return "tcg", "no /dev/kvm"
    cached = cached_probe()
    if cached is None and kernel is not None:
        cached = probe_kvm(kernel)
    if cached is None:
        return "tcg", "/dev/kvm present, KVM not probed yet (probed at the first `litebox run`)"
    if cached:
        return "kvm", "a KVM probe boot succeeded"
    return "tcg", "/dev/kvm present but a KVM probe boot failed (e.g. a software hypervisor)"


def run_timeout() -> float | None:
    """The limit on one run: LITEBOX_KVM_TIMEOUT seconds (0 = none, for services), else
    DEFAULT_TIMEOUT."""
    raw = os.environ.get(TIMEOUT_ENV) or ""
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        sys.stderr.write(f"litebox: {TIMEOUT_ENV}={raw!r} is not a number of seconds; using {DEFAULT_TIMEOUT:g}\n")
        value = DEFAULT_TIMEOUT
    return None if value <= 0 else value


def run(kernel: Path, args: list[str], env: dict[str, str], net: NetPlan | None = None,
        image_checked: bool = False) -> int:
    """`litebox run`: boots the artifact, console on our stdout, returns the app's status.
    ``image_checked``: the image's digests were all checked here (chunkcheck.py)."""
    debug = os.environ.get("LITEBOX_LOG") == "debug"
    timeout = run_timeout()
    if net is not None and net.skipped:
        sys.stderr.write(f"litebox: not forwarded into the VM (any-port or IPv6 listen rules): "
                         f"{', '.join(net.skipped)}\n")
    stdin_data = None
    if not sys.stdin.isatty():
        stdin_data = sys.stdin.buffer.read(STDIN_LIMIT + 1)
        if len(stdin_data) > STDIN_LIMIT:
            sys.stderr.write(f"litebox: stdin is larger than {STDIN_LIMIT >> 20} MiB; the kvm target passes "
                             "stdin to the VM whole, as a boot module (docs/targets/kvm.md)\n")
            return EXIT_VM_FAILED
    accel, _ = choose_accel(kernel)
    sys.stdout.flush()
    try:
        module = boot_module(env, stdin_data or b"") if env or stdin_data else None
        code, rc = boot(kernel, kernel_cmdline(args, {}, debug, image_checked), accel, timeout, module, net=net,
                        forward_signals=True, direct=True)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        sys.stderr.write(f"litebox: cannot start the VM: {exc}\n")
        return EXIT_VM_FAILED
    if code is not None:
        return code
    if rc == -signal.SIGKILL:
        sys.stderr.write(f"litebox: the VM did not finish within {timeout:g} s; stopped it "
                         f"({TIMEOUT_ENV}=0 for no limit)\n")
        return EXIT_TIMEOUT
    sys.stderr.write(f"litebox: the VM ended without reporting an exit status (QEMU exit {rc})\n")
    return EXIT_VM_FAILED
