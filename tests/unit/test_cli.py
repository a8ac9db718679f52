"""The CLI end to end with a stand-in runtime (a static hello world), so these tests do not
need cargo: pack, up-to-date, --json, inspect, verify, bad input, init, targets."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from packager.build.artifact import MANIFEST_SECTION, read_sections

ENV_KEY = "LITEBOX_RUNTIME_LINUX_USERLAND"


@pytest.fixture()
def env(static_hello: Path) -> dict[str, str]:
    e = dict(os.environ)
    e[ENV_KEY] = str(static_hello)
    e["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])  # this checkout, not the pip-installed one
    e.pop("SOURCE_DATE_EPOCH", None)
    return e


def litebox(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # The stand-in runtime (a static hello) has no fast-path entry to rewrite syscall sites to.
    if args[:1] == ["pack"]:
        args = [*args, "--no-rewrite"]
    return subprocess.run([sys.executable, "-m", "packager.commands.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)


@pytest.fixture()
def dyn_prog(tmp_path: Path, cc: Callable[..., Path]) -> Path:
    d = tmp_path / "src"
    d.mkdir()
    return cc(d / "hello", '#include <stdio.h>\nint main(void){puts("hi");return 0;}\n', "-O2")


def test_pack_json_up_to_date_inspect_verify(tmp_path: Path, dyn_prog: Path, env: dict[str, str]) -> None:
    first = litebox(["pack", str(dyn_prog), "--json", "--out-dir", "dist"], tmp_path, env)
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert list(doc) == ["artifacts"] and len(doc["artifacts"]) == 1
    art = doc["artifacts"][0]
    assert art["target"] == "linux-userland"
    path = Path(art["path"])
    assert path == tmp_path / "dist" / "hello-linux-userland"
    assert path.stat().st_mode & 0o777 == 0o755
    assert hashlib.sha256(path.read_bytes()).hexdigest() == art["sha256"]
    sidecar = json.loads(Path(art["manifest"]).read_bytes())
    embedded = json.loads(read_sections(path.read_bytes())[MANIFEST_SECTION])
    assert {k: v for k, v in sidecar.items() if k != "artifact"} == embedded
    assert sidecar["artifact"] == {"sha256": art["sha256"], "size": path.stat().st_size}
    assert embedded["inputs"][0] == {"image_path": "/app/hello", "host_path": "hello", "reason": "entry",
                                     "size": dyn_prog.stat().st_size,
                                     "sha256": hashlib.sha256(dyn_prog.read_bytes()).hexdigest()}

    again = litebox(["pack", str(dyn_prog), "--json", "--out-dir", "dist"], tmp_path, env)
    assert again.returncode == 0 and "up to date" in again.stderr
    assert json.loads(again.stdout) == doc

    ins = litebox(["inspect", str(path), "--json"], tmp_path, env)
    report = json.loads(ins.stdout)
    reasons = {e["path"]: e["reason"] for e in report["entries"]}
    assert reasons["/app/hello"] == "entry"
    assert reasons["/lib64/ld-linux-x86-64.so.2"] == "interpreter of /app/hello"
    assert report["image"]["integrity"].startswith("intact")
    assert report["env"] == ["(the whole host environment)"]

    ok = litebox(["verify", str(path)], tmp_path, env)
    assert (ok.returncode, ok.stdout) == (0, "verified\n"), ok.stderr

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    bad = litebox(["verify", str(path)], tmp_path, env)
    assert bad.returncode == 1
    assert "differs" in bad.stderr


def test_changed_input_named_by_verify(tmp_path: Path, dyn_prog: Path, env: dict[str, str]) -> None:
    assert litebox(["pack", str(dyn_prog)], tmp_path, env).returncode == 0
    with open(dyn_prog, "ab") as f:
        f.write(b"\0")
    res = litebox(["verify", "dist/hello-linux-userland"], tmp_path, env)
    assert res.returncode == 1
    assert "input /app/hello" in res.stderr and "has sha256" in res.stderr


def test_reproducible_across_directories(tmp_path: Path, dyn_prog: Path, env: dict[str, str]) -> None:
    outs = []
    for name, mtime in (("one", 1_000_000), ("two", 2_000_000)):
        d = tmp_path / name / "deeper"
        d.mkdir(parents=True)
        prog = d / "hello"
        shutil.copy(dyn_prog, prog)
        os.utime(prog, (mtime, mtime))
        res = litebox(["pack", str(prog), "--json"], d, env)
        assert res.returncode == 0, res.stderr
        outs.append(Path(json.loads(res.stdout)["artifacts"][0]["path"]).read_bytes())
    assert outs[0] == outs[1]


@pytest.mark.parametrize("content, message", [
    (b"#!/bin/sh\necho hi\n", "notelf: not an ELF file"),
    (b"\x7fELF\x01\x01\x01" + bytes(60), "notelf: 32-bit (ELFCLASS32) ELF"),
])
def test_bad_program_no_artifact(tmp_path: Path, env: dict[str, str], content: bytes, message: str) -> None:
    (tmp_path / "notelf").write_bytes(content)
    res = litebox(["pack", "notelf", "--json"], tmp_path, env)
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("litebox: error: ") and message in lines[0]
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())


def test_bad_config_fails_before_work(tmp_path: Path, env: dict[str, str]) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "litebox.toml").write_text('[app]\nentry = "/bin/true"\nargz = []\n[build]\ncommand = ["false"]\n')
    res = litebox(["pack", "proj"], tmp_path, env)
    assert res.returncode == 2
    assert res.stderr == "litebox: error: proj/litebox.toml: [app].argz: unknown key (did you mean 'args'?)\n"


def test_failing_build_command(tmp_path: Path, env: dict[str, str]) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "litebox.toml").write_text(
        '[app]\nentry = "/bin/true"\n[build]\ncommand = ["sh", "-c", "echo oops >&2; exit 4"]\n')
    res = litebox(["pack", "proj"], tmp_path, env)
    assert res.returncode == 2
    assert "oops" in res.stderr
    assert "[build].command `sh -c echo oops >&2; exit 4` failed with exit code 4" in res.stderr


def test_project_mode_env_and_args(tmp_path: Path, env: dict[str, str], static_hello: Path) -> None:
    proj = tmp_path / "proj"
    (proj / "data").mkdir(parents=True)
    (proj / "data" / "a.txt").write_text("a")
    os.symlink("a.txt", proj / "data" / "b.txt")
    shutil.copy(static_hello, proj / "app")
    (proj / "litebox.toml").write_text(
        '[app]\nname = "demo"\nentry = "/app/main"\nargs = ["--x"]\nenv = { LANG = "C.UTF-8" }\n'
        '[files]\n"/app/main" = "app"\n"/data" = "data"\n[policy]\nenv_passthrough = ["TERM"]\n')
    res = litebox(["pack", "proj", "--json"], tmp_path, env)
    assert res.returncode == 0, res.stderr
    path = json.loads(res.stdout)["artifacts"][0]["path"]
    report = json.loads(litebox(["inspect", path, "--json"], tmp_path, env).stdout)
    assert report["argv"] == ["/app/main", "--x", "<arguments given at run time>"]
    assert report["env"] == ["LANG=C.UTF-8", "TERM=<host value, if set>"]
    kinds = {e["path"]: (e["kind"], e.get("target"), e["reason"]) for e in report["entries"]}
    assert kinds["/data/b.txt"] == ("symlink", "a.txt", '[files] "/data" = "data"')
    assert kinds["/app/main"][0] == "file"


def test_init(tmp_path: Path, env: dict[str, str], static_hello: Path) -> None:
    res = litebox(["init", "proj", "--app", str(static_hello)], tmp_path, env)
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "proj" / "litebox.toml").read_text()
    assert 'entry = "/app/hello"' in text and "[policy]" in text
    again = litebox(["init", "proj", "--app", str(static_hello)], tmp_path, env)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_targets_json(tmp_path: Path, env: dict[str, str]) -> None:
    res = litebox(["targets", "--json"], tmp_path, env)
    doc = json.loads(res.stdout)
    names = [t["target"] for t in doc["targets"]]
    assert "linux-userland" in names
    lu = doc["targets"][names.index("linux-userland")]
    assert all(set(c) == {"item", "ok", "detail", "required"} for c in lu["checks"])
    assert lu["ready"] == all(c["ok"] for c in lu["checks"] if c["required"])
    assert lu["capabilities"]["rewrites"] is True and lu["capabilities"]["artifact_kind"] == "elf-executable"
    assert [o["key"] for o in lu["options"]] == ["runtime"]


def test_inspect_shows_effective_policy(tmp_path: Path, env: dict[str, str], static_hello: Path) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy(static_hello, proj / "app")
    (proj / "litebox.toml").write_text(
        '[app]\nentry = "/app/main"\n[files]\n"/app/main" = "app"\n'
        '[policy]\nuid = 1000\ngid = 1001\nenv_passthrough = ["TERM"]\n'
        '[policy.network]\nlisten = ["127.0.0.1:8080"]\nconnect = ["[::1]:0"]\n'
        '[[policy.mount]]\nhost = "./data"\nguest = "/data"\nmode = "rw"\n'
        '[policy.limits]\nmemory = "64M"\nthreads = 4\n')
    res = litebox(["pack", "proj", "--json"], tmp_path, env)
    assert res.returncode == 0, res.stderr
    path = json.loads(res.stdout)["artifacts"][0]["path"]
    report = json.loads(litebox(["inspect", path, "--json"], tmp_path, env).stdout)
    assert report["policy"] == {
        "ids": {"uid": 1000, "gid": 1001},
        "network": {"listen": ["127.0.0.1:8080"], "connect": ["[::1]:0"]},
        "mounts": [{"host": "data", "guest": "/data", "mode": "rw"}],
        "limits": {"memory": 64 << 20, "threads": 4},
        "env_inherit": False, "env_passthrough": ["TERM"], "hostname": "litebox",
        "default_deny": None,
    }
    text = litebox(["inspect", path], tmp_path, env).stdout
    assert "    listen:   127.0.0.1:8080\n    connect:  [::1]:0\n" in text
    assert "    mount:    /data <- data (rw) (relative to the directory the artifact is started from)\n" in text
    assert "    limits:   memory 67108864 bytes (64 MiB), threads 4\n" in text
    assert "default deny" not in text
    manifest = json.loads(Path(path + ".manifest.json").read_bytes())
    assert manifest["schema_version"] == 2
    assert manifest["policy"]["mounts"] == [{"host": "data", "guest": "/data", "mode": "rw"}]
    assert manifest["launch"]["limits"] == {"memory": 64 << 20, "threads": 4}


def test_inspect_quick_mode_is_default_deny(tmp_path: Path, dyn_prog: Path, env: dict[str, str]) -> None:
    res = litebox(["pack", str(dyn_prog), "--json"], tmp_path, env)
    assert res.returncode == 0, res.stderr
    path = json.loads(res.stdout)["artifacts"][0]["path"]
    text = litebox(["inspect", path], tmp_path, env).stdout
    assert "    default deny: no network, no host directories\n" in text
    assert "    ids:      the host's real uid and gid\n" in text
    report = json.loads(litebox(["inspect", path, "--json"], tmp_path, env).stdout)
    assert report["policy"]["default_deny"] == "default deny: no network, no host directories"
    assert report["policy"]["env_inherit"] is True


def test_mount_over_library_fails_before_artifact(tmp_path: Path, dyn_prog: Path, env: dict[str, str]) -> None:
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy(dyn_prog, proj / "app")
    (proj / "litebox.toml").write_text('[app]\nentry = "/app/main"\n[files]\n"/app/main" = "app"\n'
                                       '[[policy.mount]]\nhost = "/srv"\nguest = "/lib"\n')
    res = litebox(["pack", "proj"], tmp_path, env)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1
    assert "litebox.toml: [policy.mount][1].guest: '/lib' " in res.stderr
    assert "which the image already packs (" in res.stderr
    assert not (tmp_path / "dist").exists() or not any((tmp_path / "dist").iterdir())
