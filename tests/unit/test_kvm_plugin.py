"""The kvm plugin's pure parts: the PVH command line encoding, the exit-status mapping, and the
artifact writer on a crafted kernel ELF (no cargo, no QEMU)."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from packager.build.artifact import read_sections
from packager.targets.targets import get

kvm = get("kvm").module
qemu, pvh_elf, chunkcheck = kvm.qemu, kvm.pvh_elf, kvm.chunkcheck


def _unescape(token: str) -> bytes:
    """The kernel's rule (cmdline.rs): %XX is one byte, everything else is itself."""
    raw, out, i = token.encode("ascii"), bytearray(), 0
    while i < len(raw):
        if raw[i] == ord("%") and i + 2 < len(raw):
            out.append(int(raw[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


@pytest.mark.parametrize("arg", ["plain", "two words", "", "ünïcödé", "100%", "a=b", "tab\there", "q'\"$`"])
def test_arguments_survive_the_command_line(arg: str) -> None:
    line = qemu.kernel_cmdline(["first", arg], {})
    tokens = line.split(" ")
    assert all(t.isascii() and t.isprintable() for t in tokens)
    assert [_unescape(t[len("litebox.arg="):]) for t in tokens] == [b"first", arg.encode()]


def test_environment_and_debug_tokens() -> None:
    line = qemu.kernel_cmdline([], {"B": "x y", "A": "1"}, debug=True)
    assert line == "litebox.env=A=1 litebox.env=B=x%20y litebox.debug"


def test_boot_module_layout() -> None:
    m = qemu.boot_module({"B": "2", "A": "x y"}, b"in\0put")
    assert m[:8] == b"LBXBOOT1"
    env_len, in_len = struct.unpack_from("<QQ", m, 8)
    assert m[24:24 + env_len] == b"A=x y\0B=2\0"
    assert m[24 + env_len:] == b"in\0put" and in_len == 6


@pytest.mark.parametrize(("qemu_status", "app"), [(1, 0), (7, 3), (85, 42), (255, 127), (0, None), (2, None)])
def test_isa_debug_exit_status_maps_back(qemu_status: int, app: int | None) -> None:
    assert qemu.status_from_qemu(qemu_status) == app


def test_no_network_rules_means_no_card() -> None:
    assert qemu.net_plan([], []) is None
    argv = qemu.qemu_argv(Path("k"), "", "file,path=c", "tcg")
    assert "-netdev" not in argv and not any("virtio-net" in a for a in argv)


def _image(tmp_path: Path, level: int) -> bytes:
    """A small image with a few chunks (4 KiB), compressed at ``level``."""
    from packager.image.image import ImageSettings, build_image
    from packager.image.imageformat import TAG_ARG, TAG_ENTRY, encode_tlv
    from packager.image.rootfs import FILE, FsEntry, RootFS

    (tmp_path / "app").write_bytes(bytes(range(256)) * 64 + os.urandom(9000))
    fs = RootFS()
    fs.add(FsEntry("/bin/app", FILE, 0o755, "entry", host=tmp_path / "app"))
    launch = encode_tlv([(TAG_ENTRY, b"/bin/app"), (TAG_ARG, b"/bin/app")])
    return build_image(fs.entries(), launch, ImageSettings(chunk_size=4096, compression_level=level, mtime=1)).blob


@pytest.mark.parametrize("level", [0, 3])
def test_the_runner_vouches_for_chunks_only_when_every_digest_matches(tmp_path: Path, level: int) -> None:
    from packager.image.imagereader import read_image

    blob = _image(tmp_path, level)
    image = read_image(blob)
    assert image.chunk_count > 3
    assert chunkcheck.chunks_match(image)
    assert not chunkcheck.chunks_match(image, limit=image.data_size - 1)
    for k in (0, image.chunk_count - 1):
        damaged = bytearray(blob)
        damaged[image.data_off + image.data_size * k // image.chunk_count + 7] ^= 0x20
        assert not chunkcheck.chunks_match(read_image(bytes(damaged))), f"a flipped byte in chunk {k} passed"


def test_the_image_checked_token_is_one_plain_word_and_only_when_asked() -> None:
    assert "litebox.image-checked" not in qemu.kernel_cmdline(["a"], {}, True)
    line = qemu.kernel_cmdline(["litebox.image-checked"], {}, False, image_checked=True)
    assert line.split() == ["litebox.arg=litebox.image-checked", "litebox.image-checked"]


def test_microvm_boots_without_acpi_tables_and_pc_keeps_its_defaults() -> None:
    argv = qemu.qemu_argv(Path("k"), "", "file,path=c", "tcg")
    assert argv[argv.index("-M") + 1] == "microvm,acpi=off"
    pc = qemu.qemu_argv(Path("k"), "", "file,path=c", "tcg", machine="pc")
    assert pc[pc.index("-M") + 1] == "pc"


def test_listen_rules_become_host_forwards_and_no_outgoing_without_connect_rules() -> None:
    plan = qemu.net_plan([(4, "127.0.0.1", 8080), (4, "0.0.0.0", 9000), (4, "127.0.0.1", 8080),
                          (4, "127.0.0.1", 0), (6, "::1", 8081)], [])
    assert plan is not None
    assert plan.netdev() == ("user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:8080-:8080,"
                             "hostfwd=tcp:0.0.0.0:9000-:9000")
    assert plan.skipped == ("127.0.0.1:0", "[::1]:8081")
    argv = qemu.qemu_argv(Path("k"), "", "file,path=c", "tcg", net=plan)
    assert argv[argv.index("-netdev") + 1] == plan.netdev()
    assert argv[argv.index("-netdev") + 2:argv.index("-netdev") + 4] == ["-device", "virtio-net-device,netdev=net0"]
    # The PC machine has no virtio-mmio card the kernel drives: no network there.
    assert "-netdev" not in qemu.qemu_argv(Path("k"), "", "file,path=c", "tcg", machine="pc", net=plan)


def test_relayed_forwards_come_from_private_loopback_ports() -> None:
    plan = qemu.net_plan([(4, "127.0.0.1", 8080), (4, "0.0.0.0", 9000)], [])
    assert plan is not None
    assert plan.netdev({("127.0.0.1", 8080): 40001, ("0.0.0.0", 9000): 40002}) == (
        "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40001-:8080,hostfwd=tcp:127.0.0.1:40002-:9000")
    argv = qemu.qemu_argv(Path("k"), "", "file,path=c", "tcg", net=plan, via={("127.0.0.1", 8080): 40001})
    assert argv[argv.index("-netdev") + 1] == ("user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40001-:8080,"
                                               "hostfwd=tcp:0.0.0.0:9000-:9000")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def forward() -> Iterator[Callable[[Callable[[socket.socket], None], float], qemu.HostForward]]:
    """qemu.HostForward on a free port, in front of a stand-in for QEMU's forward: a listener
    with libslirp's backlog of 1 that accepts one connection every ``pause`` seconds and
    hands it to ``serve`` on a thread of its own."""
    made: list[tuple[qemu.HostForward, socket.socket]] = []

    def make(serve: Callable[[socket.socket], None], pause: float) -> qemu.HostForward:
        fwd = qemu.HostForward("127.0.0.1", _free_port())
        inner = socket.socket()
        inner.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        inner.bind(("127.0.0.1", fwd.inner))
        inner.listen(1)
        made.append((fwd, inner))

        def accept() -> None:
            while True:
                try:
                    conn, _ = inner.accept()
                except OSError:
                    return
                threading.Thread(target=serve, args=(conn,), daemon=True).start()
                time.sleep(pause)

        threading.Thread(target=accept, daemon=True).start()
        fwd.start()
        return fwd

    yield make
    for fwd, inner in made:
        fwd.close()
        inner.shutdown(socket.SHUT_RDWR)
        inner.close()


def _ask(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    return data


def _echo(conn: socket.socket) -> None:
    with conn:
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
        conn.sendall(b"got " + data)


def test_a_host_forward_serves_a_burst_that_a_backlog_of_one_would_drop(
        forward: Callable[[Callable[[socket.socket], None], float], qemu.HostForward]) -> None:
    """64 clients at once, relayed (half-close included) through a listener with a backlog of
    1 that accepts slowly: every one gets its whole answer (connected directly, most would
    have their handshakes dropped, and some a reset)."""
    fwd = forward(_echo, 0.005)
    with ThreadPoolExecutor(max_workers=64) as pool:
        replies = list(pool.map(lambda i: _ask(fwd.port, b"%d" % i + b"x" * 100_000), range(64)))
    assert replies == [b"got %d" % i + b"x" * 100_000 for i in range(64)]


def test_a_host_forward_passes_a_reset_on(
        forward: Callable[[Callable[[socket.socket], None], float], qemu.HostForward]) -> None:
    def reset(conn: socket.socket) -> None:
        conn.recv(1)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    fwd = forward(reset, 0)
    with pytest.raises(ConnectionResetError):
        _ask(fwd.port, b"GET / HTTP/1.0\r\n\r\n")


def test_a_host_forward_refuses_once_closed_and_reports_a_port_in_use() -> None:
    port = _free_port()
    fwd = qemu.HostForward("127.0.0.1", port)
    with pytest.raises(OSError):
        qemu.HostForward("127.0.0.1", port)
    fwd.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=10).close()


def test_connect_rules_open_the_way_out() -> None:
    plan = qemu.net_plan([], [(4, "127.0.0.1", 5432)])
    assert plan is not None and plan.forwards == () and plan.netdev() == "user,id=net0,restrict=off"


def test_stderr_has_its_own_port_that_never_truncates() -> None:
    argv = qemu.qemu_argv(Path("k"), "", "file,path=c", "tcg")
    assert "file,id=err,path=/dev/fd/2,append=on" in argv
    assert "isa-serial,chardev=err,iobase=0x3e8,irq=4" in argv
    assert "-chardev" in qemu.qemu_argv(Path("k"), "", "file,path=c", "tcg", stderr_port=False)
    assert not any("id=err" in a for a in qemu.qemu_argv(Path("k"), "", "file,path=c", "tcg", stderr_port=False))


def test_control_channel_carries_signals_in_and_the_status_out(tmp_path: Path) -> None:
    channel = qemu.ControlChannel(tmp_path)
    try:
        assert channel.chardev() == f"pipe,path={tmp_path / 'control'}"
        # What QEMU does: reads control.in (the kernel's COM2 input), writes control.out.
        qemu_in = os.open(tmp_path / "control.in", os.O_RDWR | os.O_NONBLOCK)
        qemu_out = os.open(tmp_path / "control.out", os.O_RDWR | os.O_NONBLOCK)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1):
            channel.send_signal(sig)
        assert os.read(qemu_in, 16) == b"ITHQ"  # SIGUSR1 has no byte: not forwarded
        assert channel.exit_status() is None
        os.write(qemu_out, b"litebox-ex")
        assert channel.exit_status() is None
        os.write(qemu_out, b"it 201\n")
        assert channel.exit_status() == 201
        os.close(qemu_in)
        os.close(qemu_out)
    finally:
        channel.close()


def test_qemu_dies_with_the_runner_through_setpriv_or_a_pre_exec_function(monkeypatch: pytest.MonkeyPatch,
                                                                           tmp_path: Path) -> None:
    argv = ["qemu-system-x86_64", "-M", "microvm"]
    new, old = tmp_path / "setpriv", tmp_path / "old-setpriv"
    new.write_bytes(b"\x7fELF...usage: --pdeathsig keep|clear|<signame>...")
    old.write_bytes(b"\x7fELF...usage: --reuid, --regid...")  # util-linux before 2.33
    monkeypatch.setattr(qemu.shutil, "which", lambda name: str(new) if name == "setpriv" else None)
    assert qemu.dies_with_runner(argv) == ([str(new), "--pdeathsig", "KILL", "--", *argv], None)
    monkeypatch.setattr(qemu.shutil, "which", lambda name: str(old) if name == "setpriv" else None)
    assert qemu.dies_with_runner(argv) == (argv, qemu._die_with_parent)
    monkeypatch.setattr(qemu.shutil, "which", lambda name: None)
    assert qemu.dies_with_runner(argv) == (argv, qemu._die_with_parent)


def test_the_runner_waits_for_qemu_without_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Popen.wait(timeout) sleeps between polls (up to 50 ms late); wait_exit is woken by the exit."""
    import subprocess

    ends = subprocess.Popen(["sh", "-c", "read x; exit 7"], stdin=subprocess.PIPE)
    hangs = subprocess.Popen(["sh", "-c", "read x"], stdin=subprocess.PIPE)
    try:
        def no_sleep(_s: float) -> None:
            raise AssertionError("polled")

        monkeypatch.setattr(time, "sleep", no_sleep)
        assert ends.stdin is not None
        ends.stdin.close()  # read gets EOF: the shell exits 7
        assert qemu.wait_exit(ends, 60) == 7
        with pytest.raises(subprocess.TimeoutExpired):
            qemu.wait_exit(hangs, 0.05)
        assert hangs.poll() is None
    finally:
        monkeypatch.undo()
        for p in (ends, hangs):
            p.kill()
            p.wait()


def test_timeout_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(qemu.TIMEOUT_ENV, "0")
    assert qemu.run_timeout() is None
    monkeypatch.setenv(qemu.TIMEOUT_ENV, "2.5")
    assert qemu.run_timeout() == 2.5
    monkeypatch.setenv(qemu.TIMEOUT_ENV, "soon")
    assert qemu.run_timeout() == qemu.DEFAULT_TIMEOUT
    monkeypatch.delenv(qemu.TIMEOUT_ENV)
    assert qemu.run_timeout() == qemu.DEFAULT_TIMEOUT


def test_control_line_carries_all_eight_bits(tmp_path: Path) -> None:
    control = tmp_path / "control"
    control.write_text("noise\nlitebox-exit 200\n")
    assert qemu.read_exit(control) == 200
    control.write_text("")
    assert qemu.read_exit(control) is None


def test_a_cached_kvm_probe_is_read_without_starting_qemu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import subprocess

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv(qemu.ACCEL_ENV, "auto")
    monkeypatch.setattr(qemu.os.path, "exists", lambda p: True)
    key = qemu._probe_key()
    (tmp_path / "litebox").mkdir()
    (tmp_path / "litebox" / "kvm-probe.json").write_text(json.dumps({"key": key, "ok": False}))

    def no_process(*_a: object, **_k: object) -> None:
        raise AssertionError("a process was started")

    monkeypatch.setattr(subprocess, "run", no_process)
    monkeypatch.setattr(subprocess, "Popen", no_process)
    assert qemu.choose_accel(None)[0] == "tcg"
    assert qemu.cached_probe() is False


def test_async_teardown_only_for_a_qemu_that_knows_it_and_told_once(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    """-async-teardown goes on the command line only for a QEMU whose binary holds the option
    (an older one stops at an unknown option); the answer is cached per binary and is read
    again without scanning the binary while its size and change time stay the same."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(qemu, "_QEMU_OPTIONS", {})
    new, old = tmp_path / "qemu-new", tmp_path / "qemu-old"
    new.write_bytes(b"\x7fELF...-async-teardown enable asynchronous teardown\n...")
    old.write_bytes(b"\x7fELF...-action reboot=...\n")
    assert qemu.async_teardown(str(new)) is True and qemu.async_teardown(str(old)) is False
    for exe, knows in ((new, True), (old, False)):
        monkeypatch.setattr(qemu, "qemu_path", lambda exe=exe: str(exe))
        argv = qemu.qemu_argv(Path("k"), "", "file,path=c", "tcg")
        assert argv[0] == str(exe) and (qemu.ASYNC_TEARDOWN in argv) is knows
    assert json.loads((tmp_path / "cache" / "litebox" / "qemu-options.json").read_text())["async_teardown"] is False
    # Cached on disk for this binary: a new process (no memo) does not read the binary again.
    monkeypatch.setattr(qemu, "_QEMU_OPTIONS", {})
    monkeypatch.setattr(qemu.mmap, "mmap", None)
    assert qemu.async_teardown(str(old)) is False
    assert qemu.async_teardown(str(tmp_path / "missing")) is False


def test_accel_override_and_no_kvm_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(qemu.ACCEL_ENV, "tcg")
    assert qemu.choose_accel(None)[0] == "tcg"
    monkeypatch.setenv(qemu.ACCEL_ENV, "auto")
    monkeypatch.setattr(qemu.os.path, "exists", lambda p: False)
    assert qemu.choose_accel(None) == ("tcg", "no /dev/kvm")


def _kernel() -> bytes:
    """A minimal kernel ELF: one PT_LOAD (code + slot) at phys 1 MiB, a PT_NOTE with the PVH
    entry, and sections .text, .litebox.slot, .note.Xen, .shstrtab."""
    names = b"\0.text\0.litebox.slot\0.note.Xen\0.shstrtab\0"
    code = b"\xf4" * 64
    slot = b"LBXSLOT1" + bytes(24)
    note = struct.pack("<III4sI", 4, 4, 18, b"Xen\0", 0x100000)
    body_off = 0x1000
    body = code + slot + note
    shstr_off = body_off + len(body)
    shoff = (shstr_off + len(names) + 7) & ~7
    ehdr = struct.pack("<4sBBBBB7sHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, bytes(7), 2, 62, 1,
                       0x100000, 64, shoff, 0, 64, 56, 2, 64, 5, 4)
    load = struct.pack("<IIQQQQQQ", 1, 5, body_off, 0x100000, 0x100000, len(body), len(body) + 0x3000, 0x1000)
    pnote = struct.pack("<IIQQQQQQ", 4, 4, body_off + 96, 0x100060, 0x100060, len(note), len(note), 4)
    out = bytearray(ehdr + load + pnote)
    out += bytes(body_off - len(out)) + body + names
    out += bytes(shoff - len(out))
    sh = [(0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
          (1, 1, 6, 0x100000, body_off, 64, 0, 0, 16, 0),
          (7, 1, 3, 0x100040, body_off + 64, 32, 0, 0, 8, 0),
          (21, 7, 2, 0x100060, body_off + 96, len(note), 0, 0, 4, 0),
          (31, 3, 0, 0, shstr_off, len(names), 0, 0, 1, 0)]
    for s in sh:
        out += struct.pack("<IIQQQQIIQQ", *s)
    return bytes(out)


def test_artifact_loads_the_image_after_the_kernel_and_patches_the_slot() -> None:
    kernel, image, manifest = _kernel(), b"LITEBOX\0" + bytes(range(256)) * 20, b'{"m": 1}'
    assert pvh_elf.pvh_entry(kernel) == 0x100000
    art = pvh_elf.build(kernel, image, manifest)
    assert pvh_elf.pvh_entry(art) == 0x100000
    assert read_sections(art) == {pvh_elf.IMAGE_SECTION: image, pvh_elf.MANIFEST_SECTION: manifest}
    assert art[0x1000:0x1000 + 64] == kernel[0x1000:0x1000 + 64]  # the kernel's bytes stay put
    import io

    elf = ELFFile(io.BytesIO(art))
    loads = [s.header for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
    assert len(loads) == 2
    img = loads[1]
    assert art[img["p_offset"]:img["p_offset"] + img["p_filesz"]] == image
    assert img["p_paddr"] == 0x100000 + 0x4000  # the kernel's memsz rounded up to a page
    slot = elf.get_section_by_name(".litebox.slot")
    assert struct.unpack("<8sQQQ", slot.data()) == (b"LBXSLOT1", img["p_paddr"], len(image), 0)
    assert pvh_elf.build(kernel, image, manifest) == art  # deterministic


def test_a_kernel_without_the_pvh_note_is_refused() -> None:
    kernel = bytearray(_kernel())
    kernel[0x1000 + 96 + 8] = 17  # the note's type
    with pytest.raises(pvh_elf.KernelError, match="PVH"):
        pvh_elf.build(bytes(kernel), b"img", b"{}")


def _pvh_elf(path: Path, entry: int, code: bytes, bss: int = 0) -> Path:
    """A PVH ELF: one loadable segment at ``entry`` holding ``code`` (plus ``bss`` zero bytes)
    and the Xen PHYS32_ENTRY note."""
    phoff, phsize, code_off = 64, 56, 0x1000
    note = struct.pack("<III", 4, 4, 18) + b"Xen\0" + struct.pack("<I", entry)
    note_off = phoff + 2 * phsize
    data = bytearray(code_off + len(code))
    data[0:16] = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    struct.pack_into("<HHIQQQIHHHHHH", data, 16, 2, 62, 1, entry, phoff, 0, 0, 64, phsize, 2, 64, 0, 0)
    struct.pack_into("<IIQQQQQQ", data, phoff, 1, 5, code_off, entry, entry, len(code), len(code) + bss, 0x1000)
    struct.pack_into("<IIQQQQQQ", data, phoff + phsize, 4, 4, note_off, 0, 0, len(note), len(note), 4)
    data[note_off:note_off + len(note)] = note
    data[code_off:] = code
    path.write_bytes(bytes(data))
    return path


def test_the_direct_boot_bios_enters_the_pvh_entry_with_the_start_info_in_ebx() -> None:
    bios = qemu.bios_image(0x0010_2030, 0x0040_5060)
    assert len(bios) == 0x10000
    # The reset vector (CS base 0xffff0000, IP 0xfff0) jumps back to the 16-bit start.
    assert bios[0xFFF0] == 0xE9
    assert (0xFFF3 + struct.unpack_from("<H", bios, 0xFFF1)[0]) & 0xFFFF == 0xFF1E
    assert bios[0xFF1E:0xFF20] == b"\xfa\xfc"  # cli; cld
    # The GDT descriptor (at 0xff18) names the GDT at 0xffffff00: null, flat code, flat data.
    assert struct.unpack_from("<HI", bios, 0xFF18) == (23, 0xFFFFFF00)
    assert struct.unpack_from("<QQQ", bios, 0xFF00) == (0, 0x00CF9A000000FFFF, 0x00CF92000000FFFF)
    # mov $start_info, %ebx; mov $entry, %eax; jmp *%eax
    assert bios[0xFF46:0xFF52] == b"\xbb" + (0x0040_5060).to_bytes(4, "little") + b"\xb8" + \
        (0x0010_2030).to_bytes(4, "little") + b"\xff\xe0"


def test_the_start_info_holds_the_command_line_the_module_and_all_of_ram() -> None:
    info = qemu.start_info(0x30_0000, b"litebox.arg=a", (0x30_1000, 77), 512 << 20)
    magic, version, _, nr_modules, modlist, cmdline, rsdp, memmap, entries = struct.unpack_from("<IIIIQQQQI", info)
    assert (magic, version, nr_modules, rsdp, entries) == (0x336EC578, 1, 1, 0, 1)

    def at(pa: int) -> int:
        return pa - 0x30_0000

    assert struct.unpack_from("<QQ", info, at(modlist)) == (0x30_1000, 77)
    assert struct.unpack_from("<QQI", info, at(memmap)) == (0, 512 << 20, 1)
    assert info[at(cmdline):] == b"litebox.arg=a\0"
    none = qemu.start_info(0x30_0000, b"", None, 512 << 20)
    assert struct.unpack_from("<IQ", none, 12) == (0, 0)


def test_direct_boot_places_the_start_info_and_module_after_the_kernel(tmp_path: Path) -> None:
    kernel = _pvh_elf(tmp_path / "k,1", 0x10_0000, b"\xf4" * 100, bss=0x2345)
    assert qemu.kernel_layout(kernel) == (0x10_0000, 0x10_0000 + 100 + 0x2345)
    module = tmp_path / "module"
    module.write_bytes(b"m" * 5000)
    out = tmp_path / "out"
    out.mkdir()
    argv = qemu.qemu_argv(kernel, "litebox.arg=x", "file,path=c", "tcg", initrd=module, direct=out)
    assert "-kernel" not in argv and "-append" not in argv and "-initrd" not in argv
    assert argv[argv.index("-bios") + 1] == str(out / "bios.bin")
    devices = [argv[i + 1] for i, a in enumerate(argv) if a == "-device" and argv[i + 1].startswith("loader,")]
    assert devices == [f"loader,file={str(kernel).replace(',', ',,')}",
                       f"loader,file={out / 'start-info'},addr=0x103000,force-raw=on",
                       f"loader,file={module},addr=0x104000,force-raw=on"]
    info = (out / "start-info").read_bytes()
    assert struct.unpack_from("<QQ", info, 64) == (0x10_4000, 5000)
    assert info.endswith(b"litebox.arg=x\0")
    assert qemu.bios_image(0x10_0000, 0x10_3000) == (out / "bios.bin").read_bytes()
    # -M pc, no directory, or a kernel without a PVH note: QEMU's firmware and -kernel.
    for other in (qemu.qemu_argv(kernel, "", "file,path=c", "tcg", machine="pc", direct=out),
                  qemu.qemu_argv(kernel, "", "file,path=c", "tcg"),
                  qemu.qemu_argv(module, "", "file,path=c", "tcg", direct=out)):
        assert "-kernel" in other and "-bios" not in other


def test_qemu_runs_with_one_malloc_arena_and_huge_pages_unless_told_otherwise() -> None:
    gslice = {"G_SLICE": "always-malloc"}
    huge = "glibc.malloc.hugetlb=1:glibc.malloc.top_pad=16777216"
    every = f"glibc.malloc.arena_max=1:{huge}"
    assert qemu.qemu_env({"PATH": "/bin"}) == {"PATH": "/bin", "GLIBC_TUNABLES": every, **gslice}
    # Added after the user's own tunables.
    mine = qemu.qemu_env({"GLIBC_TUNABLES": "glibc.malloc.tcache_count=0"})
    assert mine["GLIBC_TUNABLES"] == f"glibc.malloc.tcache_count=0:{every}"
    # A user's own setting of each (tunable or environment variable) and G_SLICE are kept.
    mine = qemu.qemu_env({"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"})
    assert mine["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=0:glibc.malloc.arena_max=1:glibc.malloc.top_pad=16777216"
    mine = qemu.qemu_env({"GLIBC_TUNABLES": "glibc.malloc.top_pad=0"})
    assert mine["GLIBC_TUNABLES"] == "glibc.malloc.top_pad=0:glibc.malloc.arena_max=1:glibc.malloc.hugetlb=1"
    mine = qemu.qemu_env({"MALLOC_TOP_PAD_": "65536"})
    assert mine["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=1:glibc.malloc.hugetlb=1"
    mine = qemu.qemu_env({"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"})
    assert mine["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=4:{huge}"
    assert qemu.qemu_env({"MALLOC_ARENA_MAX": "2"}) == {"MALLOC_ARENA_MAX": "2", "GLIBC_TUNABLES": huge, **gslice}
    own = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4:glibc.malloc.hugetlb=0:glibc.malloc.top_pad=0",
           "G_SLICE": "debug-blocks"}
    assert qemu.qemu_env(own) == own
    # Nothing else of the environment changes.
    assert {k: v for k, v in qemu.qemu_env().items() if k not in ("GLIBC_TUNABLES", "G_SLICE")} == \
        {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "G_SLICE")}


def test_a_killed_runs_directory_is_swept_and_nothing_else(tmp_path: Path) -> None:
    """Only directories of this user and pid namespace whose pid no process has are removed."""
    ns = os.stat("/proc/self/ns/pid").st_ino
    no_pid = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1  # kill() answers ESRCH
    names = {
        "stale": f"kvm-run-{ns}-{no_pid}-ab_cd12",
        "live": f"kvm-run-{ns}-{os.getpid()}-ab_cd12",
        "other-ns": f"kvm-run-{ns + 1}-{no_pid}-ab_cd12",
        "old-form": "kvm-run-ab_cd12",
        "not-ours": f"other-{ns}-{no_pid}-ab_cd12",
    }
    for name in names.values():
        (tmp_path / name).mkdir()
        (tmp_path / name / "boot-module").write_bytes(b"x")
    (tmp_path / f"kvm-run-{ns}-{no_pid}-file").write_bytes(b"a file, not a run's directory")
    assert qemu.run_dir_prefix() == f"kvm-run-{ns}-{os.getpid()}-"
    assert qemu.sweep_stale_run_dirs(tmp_path) == [tmp_path / names["stale"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [n for k, n in names.items() if k != "stale"] + [f"kvm-run-{ns}-{no_pid}-file"])
    assert qemu.sweep_stale_run_dirs(tmp_path / "missing") == []


def test_runs_are_made_in_dev_shm_unless_told_otherwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run directory goes to /dev/shm (a sticky, world-writable or private tmpfs) unless
    TMPDIR, TEMP or TMP names a directory or the boot module is over SHM_MODULE_LIMIT; a
    world-writable directory without the sticky bit is not used; the default sweep looks in both."""
    shm, tmp = tmp_path / "shm", tmp_path / "tmp"
    shm.mkdir()
    tmp.mkdir()
    monkeypatch.setattr(qemu, "SHM", str(shm))
    monkeypatch.setattr(qemu.tempfile, "tempdir", str(tmp))
    for variable in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.delenv(variable, raising=False)
    shm.chmod(0o1777)
    assert qemu.run_dir_root() == str(shm)
    assert qemu.run_dir_root(qemu.SHM_MODULE_LIMIT) == str(shm)
    assert qemu.run_dir_root(qemu.SHM_MODULE_LIMIT + 1) == str(tmp)
    for variable in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.setenv(variable, str(tmp))
        assert qemu.run_dir_root() == str(tmp)
        monkeypatch.delenv(variable)
    shm.chmod(0o700)
    assert qemu.run_dir_root() == str(shm)
    shm.chmod(0o777)  # others could rename or remove our directory
    assert qemu.run_dir_root() == str(tmp)
    shm.chmod(0o1777)
    monkeypatch.setattr(qemu, "SHM", str(tmp_path / "missing"))
    assert qemu.run_dir_root() == str(tmp)
    monkeypatch.setattr(qemu, "SHM", str(shm))
    ns = os.stat("/proc/self/ns/pid").st_ino
    no_pid = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    for root in (shm, tmp):
        (root / f"kvm-run-{ns}-{no_pid}-ab_cd12").mkdir()
    assert sorted(qemu.sweep_stale_run_dirs()) == sorted(
        [shm / f"kvm-run-{ns}-{no_pid}-ab_cd12", tmp / f"kvm-run-{ns}-{no_pid}-ab_cd12"])
    assert list(shm.iterdir()) == [] and list(tmp.iterdir()) == []


def test_qemu_is_looked_up_once_per_path_until_it_is_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """qemu_path remembers the binary found on a PATH, and looks again when it is no longer there."""
    first, second = tmp_path / "a", tmp_path / "b"
    for directory in (first, second):
        directory.mkdir()
        (directory / qemu.QEMU).write_bytes(b"#!/bin/sh\n")
        (directory / qemu.QEMU).chmod(0o755)
    monkeypatch.setenv("PATH", f"{first}:{second}")
    monkeypatch.setenv(qemu.QEMU_PREFIX_ENV, str(tmp_path / "no-lean-build"))
    monkeypatch.delenv(qemu.QEMU_ENV, raising=False)
    monkeypatch.setattr(qemu, "_QEMU_PATHS", {})
    searches: list[str] = []
    which = qemu.shutil.which
    monkeypatch.setattr(qemu.shutil, "which", lambda name: searches.append(name) or which(name))
    assert qemu.qemu_path() == str(first / qemu.QEMU)
    assert qemu.qemu_path() == str(first / qemu.QEMU)
    assert searches == [qemu.QEMU]
    (first / qemu.QEMU).unlink()
    assert qemu.qemu_path() == str(second / qemu.QEMU)
    (second / qemu.QEMU).unlink()
    assert qemu.qemu_path() is None
    monkeypatch.setenv("PATH", str(first))
    (first / qemu.QEMU).write_bytes(b"#!/bin/sh\n")
    (first / qemu.QEMU).chmod(0o755)
    assert qemu.qemu_path() == str(first / qemu.QEMU)


def _fake_qemu(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"#!/bin/sh\necho 'QEMU emulator version 0.0.0'\n")
    path.chmod(0o755)
    return path


def test_lean_qemu_is_preferred_over_the_one_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With scripts/build-qemu's build under LITEBOX_QEMU_PREFIX, `litebox run` uses it, not
    PATH's; the check line says which build it is; without it, PATH's is used again."""
    on_path = _fake_qemu(tmp_path / "path" / qemu.QEMU)
    lean = _fake_qemu(tmp_path / "prefix" / "bin" / qemu.QEMU)
    monkeypatch.setenv("PATH", str(on_path.parent))
    monkeypatch.setenv(qemu.QEMU_PREFIX_ENV, str(tmp_path / "prefix"))
    monkeypatch.delenv(qemu.QEMU_ENV, raising=False)
    monkeypatch.setattr(qemu, "_QEMU_PATHS", {})
    assert qemu.lean_qemu() == str(lean)
    assert qemu.qemu_path() == str(lean)
    assert qemu.is_lean_qemu(qemu.qemu_path())
    assert qemu.qemu_description(str(lean)) == f"{lean} (QEMU emulator version 0.0.0; litebox's lean build)"
    lean.chmod(0o644)
    assert qemu.qemu_path() == str(on_path)
    assert not qemu.is_lean_qemu(qemu.qemu_path())
    assert qemu.qemu_description(str(on_path)).endswith("; from PATH)")


def test_litebox_qemu_names_the_binary_and_is_never_replaced(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """LITEBOX_QEMU wins over the lean build and PATH; when it names no executable there is no
    QEMU (no silent fallback) and the message names the setting."""
    chosen = _fake_qemu(tmp_path / "mine" / "qemu-custom")
    _fake_qemu(tmp_path / "prefix" / "bin" / qemu.QEMU)
    on_path = _fake_qemu(tmp_path / "path" / qemu.QEMU)
    monkeypatch.setenv("PATH", f"{on_path.parent}:{chosen.parent}")
    monkeypatch.setenv(qemu.QEMU_PREFIX_ENV, str(tmp_path / "prefix"))
    monkeypatch.setattr(qemu, "_QEMU_PATHS", {})
    monkeypatch.setenv(qemu.QEMU_ENV, str(chosen))
    assert qemu.qemu_path() == str(chosen)
    assert qemu.qemu_description(str(chosen)).endswith(f"; from {qemu.QEMU_ENV})")
    monkeypatch.setenv(qemu.QEMU_ENV, "qemu-custom")
    assert qemu.qemu_path() == str(chosen)
    monkeypatch.setenv(qemu.QEMU_ENV, str(tmp_path / "missing"))
    assert qemu.qemu_path() is None
    assert qemu.qemu_missing() == f"{qemu.QEMU_ENV}={tmp_path / 'missing'} names no executable: fix or unset it"
    monkeypatch.delenv(qemu.QEMU_ENV)
    assert "apt-get install qemu-system-x86" in qemu.qemu_missing()


def test_lean_qemu_older_than_the_distribution_s_is_not_used(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A lean build made from another QEMU source version than the installed distribution
    QEMU (a security update installed since) gives way to the distribution's, and the check
    line says how to rebuild; with the same version the lean build is used."""
    import gzip

    on_path = _fake_qemu(tmp_path / "path" / qemu.QEMU)
    lean = _fake_qemu(tmp_path / "prefix" / "bin" / qemu.QEMU)
    changelog = tmp_path / "changelog.Debian.gz"
    with gzip.open(changelog, "wt") as f:
        f.write("qemu (1:7.2+dfsg-7+deb12u19) bookworm-security; urgency=medium\n\n  * fixes\n")
    monkeypatch.setattr(qemu, "DISTRIBUTION_CHANGELOG", str(changelog))
    monkeypatch.setenv("PATH", str(on_path.parent))
    monkeypatch.setenv(qemu.QEMU_PREFIX_ENV, str(tmp_path / "prefix"))
    monkeypatch.delenv(qemu.QEMU_ENV, raising=False)
    info = tmp_path / "prefix" / "BUILD-INFO"
    info.write_text("source qemu 1:7.2+dfsg-7+deb12u18; configure --target-list=x86_64-softmmu\n")
    monkeypatch.setattr(qemu, "_QEMU_PATHS", {})
    assert qemu.lean_qemu_source() == "1:7.2+dfsg-7+deb12u18"
    assert qemu.distribution_qemu_source() == "1:7.2+dfsg-7+deb12u19"
    assert qemu.qemu_path() == str(on_path)
    assert "./scripts/build-qemu rebuilds it" in qemu.qemu_description(str(on_path))
    info.write_text("source qemu 1:7.2+dfsg-7+deb12u19; configure --target-list=x86_64-softmmu\n")
    monkeypatch.setattr(qemu, "_QEMU_PATHS", {})
    assert qemu.qemu_path() == str(lean)
