"""The writable layer shared by the processes of one sandbox: each process caches the names it
found absent in the layer, against a generation counter all of them share. A name one process
looked up must reflect what another process created, removed or renamed since (the probe looks,
has a child change the layer, and looks again, twice), exactly as natively."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from litebox_e2e import describe, pack, run_program

PROBE = Path(__file__).resolve().parent / "programs" / "layer_cache.c"

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")


def test_changes_by_a_child_are_seen_by_the_parent(tmp_path: Path) -> None:
    prog = tmp_path / "layer_cache"
    subprocess.run(["gcc", "-O2", "-o", str(prog), str(PROBE)], check=True)
    shutil.rmtree("/tmp/lc", ignore_errors=True)
    native = run_program([prog])
    shutil.rmtree("/tmp/lc", ignore_errors=True)
    assert native.returncode == 0, describe(native)
    assert native.stdout.count(b"after a child") == 8
    art = pack(prog, tmp_path / "dist")
    packed = run_program([art.path])
    assert packed.returncode == 0, describe(packed)
    assert packed.stdout == native.stdout
    assert not Path("/tmp/lc").exists()  # the packed run wrote only to its own layer


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_a_fresh_layer_is_not_searched_on_the_host(tmp_path: Path) -> None:
    """Inside the namespaces the layer starts as an empty tmpfs of the sandbox's own, and every
    change of its names moves the shared generation: until then a lookup in it (glibc's
    readlink("/proc/self/exe") looks for "proc" and its whiteouts) makes no host call."""
    src = Path(__file__).resolve().parents[2] / "examples" / "hello-static" / "hello.c"
    prog = tmp_path / "hello"
    subprocess.run(["gcc", "-O2", "-static", "-o", str(prog), str(src)], check=True)
    art = pack(prog, tmp_path / "dist")
    trace = tmp_path / "trace"
    r = subprocess.run(["strace", "-f", "-qq", "-o", str(trace), str(art.path)], capture_output=True, timeout=120,
                       check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"Hello from litebox!"), r.stdout
    text = trace.read_text()
    assert ".wh." not in text
    assert not [line for line in text.splitlines() if "openat2(" in line and "ENOENT" in line]


def test_a_directory_keeps_its_identity_when_written_below(tmp_path: Path) -> None:
    """An image directory the app first writes below is made in the writable layer then; its
    stat, fstat and its parent's listing keep the image's device and number, as overlayfs
    keeps them (tar -C DIR failed with "Directory renamed before its status could be
    extracted" when DIR was an image directory). The probe writes in its own directory:
    /app packed (quick mode's place for the program, an image directory)."""
    prog = tmp_path / "dircopyup"
    subprocess.run(["gcc", "-O2", "-o", str(prog), str(PROBE.parent / "dircopyup.c")], check=True)
    native = run_program([prog, str(tmp_path)])
    assert native.returncode == 0, describe(native)
    assert native.stdout.count(b"stat 1, same as at first 1, fstat agrees 1, listing agrees 1\n") == 3, describe(native)
    art = pack(prog, tmp_path / "dist")
    packed = run_program([art.path, "/app"])
    assert (packed.returncode, packed.stdout) == (0, native.stdout), describe(packed)


def test_a_file_of_the_image_can_be_hard_linked(tmp_path: Path) -> None:
    """link() of an image file to a name in the writable layer copies the file up first and
    links it there, as overlayfs does (before: EPERM; `cp -al`, `ln` of packed files)."""
    prog = tmp_path / "linkimage"
    subprocess.run(["gcc", "-O2", "-o", str(prog), str(PROBE.parent / "linkimage.c")], check=True)
    src = tmp_path / "copy"
    shutil.copy(prog, src)
    native = run_program([prog, str(src), str(tmp_path / "linked")])
    assert (native.returncode, native.stdout) == (0, b"linked 0, one file 1, nlink 2, same bytes 1\n"), describe(native)
    art = pack(prog, tmp_path / "dist")
    packed = run_program([art.path, "/app/linkimage", "/tmp/linked"])
    assert (packed.returncode, packed.stdout) == (0, native.stdout), describe(packed)


def test_a_directory_without_search_permission(tmp_path: Path) -> None:
    """The sandbox's root has no CAP_DAC_OVERRIDE: a directory of the writable layer whose
    search permission the app took away refuses its files with EACCES (before: ENOENT), one
    without read permission refuses to be opened (before: it opened and listed nothing, so
    shutil.rmtree found it empty and failed on rmdir), and
    gives them back with the permission (before: ENOENT stayed, the refused lookup cached as
    an absence; Python's py_compile tests could not remove their directory). Packed only: as
    root natively every step succeeds."""
    prog = tmp_path / "searchperm"
    subprocess.run(["gcc", "-O2", "-o", str(prog), str(PROBE.parent / "searchperm.c")], check=True)
    art = pack(prog, tmp_path / "dist")
    packed = run_program([art.path, "/tmp/locked"])
    assert packed.returncode == 0, describe(packed)
    assert packed.stdout == (b"stat without search permission: EACCES\nopen without search permission: EACCES\n"
                             b"open without read permission: EACCES\n"
                             b"stat with it back: ok\nunlink: ok\nrmdir: ok\n"), describe(packed)


def test_processes_creating_one_file_at_once_all_open_it(tmp_path: Path) -> None:
    """open(O_CREAT) without O_EXCL is one step on Linux: processes that create the same new
    file at once all get it. Packed, the lookup and the create are two host calls; one that
    loses the race to another process looks again and opens the file (before: EEXIST, so
    sqlite's WAL file opened read-only, flock(1) and `>>` from several shells failed). Each
    round starts four children together; natively and packed no open may fail."""
    prog = tmp_path / "createrace"
    subprocess.run(["gcc", "-O2", "-o", str(prog), str(PROBE.parent / "createrace.c")], check=True)
    native = run_program([prog, str(tmp_path / "f"), "30"])
    assert (native.returncode, native.stdout) == (0, b"failed opens: 0\n"), describe(native)
    art = pack(prog, tmp_path / "dist")
    packed = run_program([art.path, "/tmp/f", "30"])
    assert (packed.returncode, packed.stdout) == (0, native.stdout), describe(packed)


def test_statfs_of_a_mount_is_the_hosts(tmp_path: Path) -> None:
    """statfs of a file of a mount is the host file system's (type, block size, size: df shows
    the disk), with ST_RDONLY in a read-only mount, whose writes fail with EROFS; before, every
    path reported the same invented tmpfs."""
    prog = tmp_path / "statfsprobe"
    subprocess.run(["gcc", "-O2", "-o", str(prog), str(PROBE.parent / "statfsprobe.c")], check=True)
    (tmp_path / "rw").mkdir()
    (tmp_path / "ro").mkdir()
    native = run_program([prog, str(tmp_path / "rw")])
    assert native.returncode == 0, describe(native)
    art = pack(prog, tmp_path / "dist", "--mount", f"{tmp_path / 'rw'}:/rw:rw", "--mount", f"{tmp_path / 'ro'}:/ro")
    packed = run_program([art.path, "/rw", "/ro"])
    assert packed.returncode == 0, describe(packed)
    assert packed.stdout == native.stdout + native.stdout.replace(b"read-only 0", b"read-only 1"), describe(packed)


def test_mounts_are_listed_as_linux_lists_them(tmp_path: Path) -> None:
    """The policy's mounts are in /proc/self/mounts and /proc/self/mountinfo (df and findmnt
    read them; plain `df` failed without mountinfo) with the device numbers stat gives their
    files, and each mount's directory is a name in its parent's listing (`ls /` did not show
    it), and a parent the image does not have (/data) is there (before, /data/rw was
    unreachable: ENOENT). Packed only: the mount points are the sandbox's."""
    prog = tmp_path / "mountprobe"
    subprocess.run(["gcc", "-O2", "-o", str(prog), str(PROBE.parent / "mountprobe.c")], check=True)
    (tmp_path / "rw").mkdir()
    (tmp_path / "ro").mkdir()
    art = pack(prog, tmp_path / "dist", "--mount", f"{tmp_path / 'rw'}:/data/rw:rw",
               "--mount", f"{tmp_path / 'ro'}:/ro")
    packed = run_program([art.path, "/data/rw", "/ro", "/"])
    assert packed.returncode == 0, describe(packed)
    assert packed.stdout == (b"/data/rw: listed 1 (rw), same device 1, in its parent 1\n"
                             b"/ro: listed 1 (ro), same device 1, in its parent 1\n"
                             b"/: listed 1 (rw), same device 1, in its parent 0\n"), describe(packed)


def test_a_received_file_descriptor_can_be_mapped(tmp_path: Path) -> None:
    """A file descriptor that came over a Unix socket (SCM_RIGHTS) maps as the host maps the
    file, shared with the sender (before: ENODEV; Python's multiprocessing forkserver children
    could not map the shared-memory arenas their parent sent)."""
    prog = tmp_path / "passmap"
    subprocess.run(["gcc", "-O2", "-o", str(prog), str(PROBE.parent / "passmap.c")], check=True)
    native = run_program([prog, str(tmp_path / "arena")])
    assert (native.returncode, native.stdout) == (0, b"child exit 0, file reads: written by the child\n"), \
        describe(native)
    art = pack(prog, tmp_path / "dist")
    packed = run_program([art.path, "/tmp/arena"])
    assert (packed.returncode, packed.stdout) == (0, native.stdout), describe(packed)


def test_files_the_app_makes_are_on_the_root_file_system(tmp_path: Path) -> None:
    """The writable layer is part of the root file system, as an overlay's upper layer: a file
    the app makes below an image directory has /'s device, and a number no image file has
    (before, the layer was a device of its own: df FILE named no file system, find -xdev and
    du -x stopped at the app's own directories). Packed only."""
    prog = tmp_path / "onedev"
    subprocess.run(["gcc", "-O2", "-o", str(prog), str(PROBE.parent / "onedev.c")], check=True)
    art = pack(prog, tmp_path / "dist")
    packed = run_program([art.path, "/tmp/onedev-new", "/app/onedev"])
    assert (packed.returncode, packed.stdout) == (
        0, b"new file on /'s device 1, image file on /'s device 1, numbers differ 1\n"), describe(packed)
