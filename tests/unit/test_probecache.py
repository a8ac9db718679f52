"""Remembered toolchain answers (packager/build/probecache.py): an answer is used again only
under an unchanged stamp; the stamp changes with each thing the answer depends on; and a
warm re-pack asks rustc, cargo and cargo metadata nothing."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from packager.build.probecache import ProbeCache, metadata_stamp, toolchain_stamp
from packager.targets import cargobuild

REPO = Path(__file__).resolve().parents[2]


def _fake_tools(bin_dir: Path, log: Path) -> None:
    """rustc and cargo that log each call and then run the real ones."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for tool in ("rustc", "cargo"):
        real = shutil.which(tool)
        assert real, f"{tool} is needed for this test"
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\nexec "{real}" "$@"\n')
        script.chmod(0o755)


def _bump(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def test_cache_round_trip_and_stamp_mismatch(tmp_path: Path) -> None:
    cache = ProbeCache(tmp_path / "probes.json")
    assert cache.get("k", {"a": 1}) is None
    cache.put("k", {"a": 1}, ["rustc 1", "cargo 1"])
    cache.save()
    again = ProbeCache(tmp_path / "probes.json")
    assert again.get("k", {"a": 1}) == ["rustc 1", "cargo 1"]
    assert again.get("k", {"a": 2}) is None
    assert again.recorded("k") == ["rustc 1", "cargo 1"]
    (tmp_path / "probes.json").write_text("{not json")
    assert ProbeCache(tmp_path / "probes.json").get("k", {"a": 1}) is None


def test_toolchain_stamp_follows_what_chooses_the_toolchain(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tools(tmp_path / "bin", tmp_path / "log")
    home = tmp_path / "rustup"
    (home / "toolchains" / "stable" / "bin").mkdir(parents=True)
    (home / "toolchains" / "stable" / "bin" / "rustc").write_text("x")
    (home / "settings.toml").write_text('default_toolchain = "stable"\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:/usr/bin:/bin")
    monkeypatch.setenv("RUSTUP_HOME", str(home))
    monkeypatch.delenv("RUSTUP_TOOLCHAIN", raising=False)
    work = tmp_path / "work" / "sub"
    work.mkdir(parents=True)
    base = toolchain_stamp(work)
    assert toolchain_stamp(work) == base

    (tmp_path / "work" / "rust-toolchain.toml").write_text('[toolchain]\nchannel = "nightly"\n')
    assert toolchain_stamp(work) != base  # a parent folder's toolchain file
    (tmp_path / "work" / "rust-toolchain.toml").unlink()
    assert toolchain_stamp(work) == base

    changes = [
        lambda: _bump(tmp_path / "bin" / "rustc"),  # another rustc on PATH
        lambda: _bump(home / "settings.toml"),  # rustup default or override
        lambda: _bump(home / "toolchains" / "stable" / "bin" / "rustc"),  # toolchain updated in place
        lambda: (home / "toolchains" / "nightly").mkdir(),  # a toolchain installed
        lambda: monkeypatch.setenv("RUSTUP_TOOLCHAIN", "nightly"),
    ]
    for change in changes:
        before = toolchain_stamp(work)
        change()
        assert toolchain_stamp(work) != before


def _workspace(root: Path, members: str = '["a"]') -> Path:
    (root / "a" / "src").mkdir(parents=True)
    (root / "Cargo.toml").write_text(f'[workspace]\nresolver = "2"\nmembers = {members}\n')
    (root / "a" / "Cargo.toml").write_text('[package]\nname = "a"\nversion = "0.1.0"\nedition = "2021"\n')
    (root / "a" / "src" / "lib.rs").write_text("")
    return root


def test_metadata_stamp_covers_every_manifest_and_refuses_glob_members(tmp_path: Path) -> None:
    ws = _workspace(tmp_path / "ws")
    answer = {"packages": [{"manifest_path": str(ws / "a" / "Cargo.toml")}]}
    stamp = metadata_stamp(ws, answer, {})
    assert stamp is not None and str(ws / "a" / "Cargo.toml") in stamp["files"]
    _bump(ws / "a" / "Cargo.toml")
    assert metadata_stamp(ws, answer, {}) != stamp
    globbed = _workspace(tmp_path / "glob", '["*"]')
    assert metadata_stamp(globbed, {"packages": []}, {}) is None


@pytest.mark.skipif(shutil.which("cargo") is None, reason="needs cargo")
def test_cargo_metadata_is_asked_until_its_answer_is_stamped_then_remembered(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ws = _workspace(tmp_path / "ws")
    log = tmp_path / "log"
    _fake_tools(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    cache = ProbeCache(tmp_path / "probes.json")

    def ask() -> dict[str, object] | None:
        with cargobuild.CargoMetadata.start(ws, cache) as meta:
            return meta.get()

    first = ask()  # no answer yet: asked, recorded without a stamp (its manifests were unknown)
    second = ask()  # asked again, now stamped with the manifests the answer lists
    asked = log.read_text().count("cargo metadata")
    assert asked == 2 and first == second and first is not None
    assert ask() == first  # remembered
    assert log.read_text().count("cargo metadata") == asked
    _bump(ws / "a" / "Cargo.toml")  # a member's manifest changed: asked again
    assert ask() == first
    assert log.read_text().count("cargo metadata") == asked + 1


@pytest.mark.skipif(shutil.which("cargo") is None or shutil.which("rustc") is None, reason="needs Rust")
def test_a_warm_repack_asks_the_toolchain_nothing(tmp_path: Path, static_hello: Path) -> None:
    log = tmp_path / "log"
    _fake_tools(tmp_path / "bin", log)
    env = dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}", PYTHONPATH=str(REPO))
    runtime = REPO / "target" / "release" / "litebox-runtime-linux-userland"
    if runtime.is_file():  # a prebuilt runtime spares the test a cargo build; the questions stay
        env["LITEBOX_RUNTIME_LINUX_USERLAND"] = str(runtime)

    def pack() -> str:
        proc = subprocess.run([sys.executable, "-m", "packager", "pack", str(static_hello), "--out-dir",
                               str(tmp_path / "dist")], env=env, cwd=tmp_path, capture_output=True, text=True,
                              check=False)
        assert proc.returncode == 0, proc.stderr
        return log.read_text() if log.exists() else ""

    pack()
    pack()  # (cargo metadata's answer, when a runtime is built, is stamped on its second asking)
    before = pack()
    assert pack() == before, "a warm re-pack ran rustc or cargo"
    assert "rustc -V" in before and "cargo -V" in before
    _bump(tmp_path / "bin" / "rustc")  # another rustc: asked again
    assert pack().count("rustc -V") == before.count("rustc -V") + 1

