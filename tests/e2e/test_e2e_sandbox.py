"""The packed app sees the image, not the host file system."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from litebox_e2e import Artifact, ExampleArtifacts, describe, read_image, run_program

HOST_FILES = ["/etc/hostname", "/etc/shadow", "/etc/os-release"]


def test_cat_files_gets_enoent_for_the_host_hostname(examples: ExampleArtifacts) -> None:
    assert Path("/etc/hostname").is_file(), "this test needs a host /etc/hostname"
    art = examples.get("cat-files")
    _, image = read_image(art.path)
    assert "/etc/hostname" not in image.paths()
    proc = run_program([art.path])
    assert proc.returncode == 0, describe(proc)
    lines = proc.stdout.splitlines()
    assert lines[-1] == b"open /etc/hostname: errno=2 (No such file or directory)"


@pytest.mark.parametrize("host_file", HOST_FILES)
def test_quick_mode_cat_cannot_read_host_files(quick_pack: Callable[[str], Artifact], host_file: str) -> None:
    if not Path(host_file).is_file():
        pytest.skip(f"{host_file} is not on this host")
    art = quick_pack("/usr/bin/cat")
    native = run_program(["/usr/bin/cat", host_file])
    assert native.returncode == 0 and native.stdout == Path(host_file).read_bytes()
    packed = run_program([art.path, host_file])
    assert packed.returncode == 1, describe(packed)
    assert packed.stdout == b""
    assert b"No such file or directory" in packed.stderr, describe(packed)


def test_quick_mode_cat_gets_the_fallback_passwd_not_the_hosts(quick_pack: Callable[[str], Artifact]) -> None:
    """/etc/passwd is one of the runtime's fallback name files where the image has none
    (docs/targets/linux-userland.md): root and the app's own user, never the host's lines."""
    host = Path("/etc/passwd")
    if not host.is_file():
        pytest.skip("/etc/passwd is not on this host")
    art = quick_pack("/usr/bin/cat")
    packed = run_program([art.path, str(host)])
    assert packed.returncode == 0, describe(packed)
    assert packed.stdout != host.read_bytes()
    assert packed.stdout.startswith(b"root:x:0:0:root:/root:/bin/sh\n"), describe(packed)
    assert all(line.startswith((b"root:", b"user:")) for line in packed.stdout.splitlines()), describe(packed)


def test_quick_mode_test_e_sees_no_host_path(quick_pack: Callable[[str], Artifact], tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host only\n")
    art = quick_pack("/usr/bin/test")
    for path in (str(secret), str(tmp_path), "/etc/hostname", "/root", "/home"):
        if not Path(path).exists():
            continue
        assert run_program(["/usr/bin/test", "-e", path]).returncode == 0
        proc = run_program([art.path, "-e", path])
        assert proc.returncode == 1, f"{path} is visible inside the sandbox\n{describe(proc)}"
    # What the image has is visible: the program itself and the writable /tmp.
    assert run_program([art.path, "-x", "/usr/bin/test"]).returncode == 0
    assert run_program([art.path, "-d", "/tmp"]).returncode == 0


def test_quick_mode_ls_lists_the_image_root(quick_pack: Callable[[str], Artifact]) -> None:
    art = quick_pack("/usr/bin/ls")
    _, image = read_image(art.path)
    root_children = sorted(e.path.decode()[1:] for e in image.entries if e.path != b"/" and e.path.count(b"/") == 1)
    proc = run_program([art.path, "-1", "-a", "/"])
    assert proc.returncode == 0, describe(proc)
    names = proc.stdout.decode().split("\n")[:-1]
    assert names == sorted([".", "..", *root_children]), names
    for host_only in ("root", "home", "work", "srv"):
        assert host_only not in names


def test_hostname_is_the_images_not_the_hosts(quick_pack: Callable[[str], Artifact]) -> None:
    art = quick_pack("/usr/bin/uname")
    proc = run_program([art.path, "-n"])
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout == b"litebox\n"
    assert socket.gethostname() != "litebox"
