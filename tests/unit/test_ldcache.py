from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from packager.analysis.ldcache import build_ld_cache, dl_cache_libcmp


def test_libcmp_compares_digits_as_numbers() -> None:
    assert dl_cache_libcmp("libfoo.so.10", "libfoo.so.9") > 0
    assert dl_cache_libcmp("libfoo.so.9", "libfoo.so.10") < 0
    assert dl_cache_libcmp("liba.so", "liba.so") == 0
    assert dl_cache_libcmp("libb.so", "liba.so") > 0


def test_layout_and_determinism() -> None:
    entries = {"libz.so.1": "/opt/z/libz.so.1", "libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6"}
    data = build_ld_cache(entries)
    assert data[:20] == b"glibc-ld.so.cache1.1"
    assert int.from_bytes(data[20:24], "little") == 2
    assert build_ld_cache(dict(reversed(list(entries.items())))) == data


@pytest.mark.skipif(shutil.which("ldconfig") is None and not Path("/sbin/ldconfig").exists(),
                    reason="ldconfig not available")
def test_glibc_ldconfig_reads_it(tmp_path: Path) -> None:
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    cache = tmp_path / "ld.so.cache"
    cache.write_bytes(build_ld_cache({"libfoo.so.10": "/opt/x/libfoo.so.10", "libfoo.so.9": "/opt/x/libfoo.so.9",
                                      "libc.so.6": "/lib/x86_64-linux-gnu/libc.so.6"}))
    out = subprocess.run([ldconfig, "-p", "-C", str(cache)], capture_output=True, text=True, check=True).stdout
    assert "3 libs found" in out
    assert "libfoo.so.10 (libc6,x86-64) => /opt/x/libfoo.so.10" in out
    lines = [line.split()[0] for line in out.splitlines()[1:]]
    assert lines == ["libfoo.so.10", "libfoo.so.9", "libc.so.6"]


def test_real_ld_so_uses_generated_cache(tmp_path: Path, cc: Callable[..., Path]) -> None:
    """glibc's ld.so finds a library through our cache alone (bind-mounted over
    /etc/ld.so.cache in a user+mount namespace)."""
    from packager.analysis.collect import collect
    from packager.config.config import quick_config

    if shutil.which("unshare") is None:
        pytest.skip("unshare not available")
    libdir = tmp_path / "opt" / "mylib"
    libdir.mkdir(parents=True)
    cc(libdir / "libbaz.so.1", "int baz(void){return 41;}\n", "-shared", "-fPIC", "-Wl,-soname,libbaz.so.1")
    (libdir / "libbaz.so").symlink_to("libbaz.so.1")
    prog = cc(tmp_path / "prog", '#include <stdio.h>\nint baz(void);\nint main(void){printf("%d\\n",baz());}\n',
              f"-L{libdir}", "-lbaz")
    conf = tmp_path / "ld.so.conf"
    conf.write_text(f"{libdir}\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n")
    collected = collect(quick_config(prog), ld_so_conf=conf)
    entry = collected.rootfs.get("/etc/ld.so.cache")
    assert entry is not None and entry.data is not None
    cache = tmp_path / "cache"
    cache.write_bytes(entry.data)
    assert subprocess.run([str(prog)], capture_output=True).returncode != 0  # not in the host's cache
    probe = subprocess.run(["unshare", "-Urm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("unprivileged user+mount namespaces not available")
    run = subprocess.run(["unshare", "-Urm", "sh", "-c", f"mount --bind {cache} /etc/ld.so.cache && {prog}"],
                         capture_output=True, text=True)
    assert (run.returncode, run.stdout) == (0, "41\n"), run.stderr
