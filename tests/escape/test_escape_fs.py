"""File-system escapes, packed only: host files that were neither packed nor mounted, writes
outside a read-write mount, `..` and symlinks (absolute and relative, made on the host or by the
app) out of a mount, /proc/self/root, execve of a host path, and an app that closes or dup2s
over the runtime's own descriptor numbers."""

from __future__ import annotations

import errno

from confine_probe import SECRET, fs_results, probe, results


def test_host_paths_outside_the_policy_are_enoent() -> None:
    p = probe()
    r, _ = fs_results()
    enoent = f"ret=-1 errno={errno.ENOENT}"
    for label in ("read-secret", "read-etc-shadow", "dotdot-rw", "dotdot-ro-deep", "host-abs-symlink",
                  "host-rel-symlink", "app-abs-symlink", "app-rel-symlink", "proc-self-root"):
        assert r[label] == enoent, f"{label}: {r.get(label)}"
    assert SECRET.decode().strip() not in "\n".join(r.values())
    # The symlinks themselves were made (inside the rw mount), they just lead nowhere.
    assert r["make-abs-symlink"] == "ret=0 errno=0"
    assert r["make-rel-symlink"] == "ret=0 errno=0"
    # They exist on the host as the app wrote them; the runtime never follows them there.
    assert (p.rw / "app-abs-link").readlink() == p.secret
    assert (p.rw / "app-rel-link").is_symlink()


def test_writes_stay_inside_the_rw_mount() -> None:
    p = probe()
    r, before = fs_results()
    erofs = f"ret=-1 errno={errno.EROFS}"
    assert r["read-ro-inside"] == "ret=7 errno=0 data=inside"
    assert r["write-ro-inside"] == erofs
    assert r["create-in-ro"] == erofs
    assert (p.ro / "inside.txt").read_text() == "inside\n"
    assert not (p.ro / "new.txt").exists()
    # A host path outside the mounts does not exist for the app: its parent is ENOENT.
    assert r["create-host-path"] == f"ret=-1 errno={errno.ENOENT}"
    assert not p.base.joinpath("secret.txt.outside").exists()
    # /rw/.. is the sandbox's root: the file lands in the private writable layer, not beside
    # the mount on the host.
    assert r["create-beside-rw"] == "ret=1 errno=0 data="
    assert not (p.base / "outside.txt").exists()
    assert sorted(x.name for x in p.base.iterdir()) == before
    assert p.secret.read_bytes() == SECRET
    # The rw mount itself is writable, as granted.
    assert r["create-in-rw"] == "ret=1 errno=0 data="
    assert (p.rw / "ok.txt").read_text() == "x"


def test_execve_of_a_host_path_is_enoent() -> None:
    r, _ = fs_results()
    assert r["execve-host"] == f"ret=-1 errno={errno.ENOENT}"
    assert r["execve-secret"] == f"ret=-1 errno={errno.ENOENT}"


def test_closing_and_dup2_over_runtime_descriptors_does_not_break_the_runtime() -> None:
    p = probe()
    proc = p.run("fds")
    r = results(proc)
    # The app's descriptors are the library OS's own numbers: the runtime's host descriptors
    # (48 and up, sys.rs FD_BASE; 1000 and up before) are not in the app's table, so 48..63
    # and 1000..1015 are free for it to take.
    assert proc.stdout.decode().splitlines()[0] == "closed=0 duped=32"
    assert r["image-read"] == "4 ELF"
    assert r["layer-roundtrip"] == "5 5 layer"
