from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

import pytest

from packager.analysis.closure import ClosureFinder, expand_tokens
from packager.analysis.collect import collect
from packager.analysis.ldconf import read_ld_so_conf
from packager.config.config import quick_config
from packager.errors import PackError

MAIN_C = '#include <stdio.h>\nint bar(void);\nint main(void) { printf("%d\\n", bar()); return 0; }\n'
BAR_C = "int baz(void);\nint bar(void) { return baz() + 1; }\n"
BAZ_C = "#include <unistd.h>\nint baz(void) { return 41 + (getpid() < 0); }\n"  # needs libc


def no_map(_: str) -> None:
    return None


def make_tree(tmp: Path, cc: Callable[..., Path], prog_rpath: list[str], bar_rpath: list[str]) -> Path:
    """prog → libbar.so → libbaz.so, both libraries in tmp/lib."""
    lib = tmp / "lib"
    lib.mkdir()
    cc(lib / "libbaz.so", BAZ_C, "-shared", "-fPIC", "-Wl,-soname,libbaz.so")
    cc(lib / "libbar.so", BAR_C, "-shared", "-fPIC", "-Wl,-soname,libbar.so", f"-L{lib}", "-lbaz", *bar_rpath)
    return cc(tmp / "prog", MAIN_C, f"-L{lib}", "-lbar", f"-Wl,-rpath-link,{lib}", *prog_rpath)


def native_ok(prog: Path) -> bool:
    return subprocess.run([str(prog)], capture_output=True).returncode == 0


def test_expand_tokens() -> None:
    assert expand_tokens("$ORIGIN/../lib", "/app/bin") == "/app/bin/../lib"
    assert expand_tokens("${ORIGIN}/x:$PLATFORM", "/o") == "/o/x:x86_64"
    assert expand_tokens("$ORIGINAL", "/o") == "$ORIGINAL"


def test_bin_ls_closure() -> None:
    finder = ClosureFinder(no_map, read_ld_so_conf())
    finder.add_entry("/bin/ls", Path("/bin/ls"))
    libs = {lib.image_path: lib for lib in finder.result.libraries}
    assert "/lib64/ld-linux-x86-64.so.2" in libs
    assert libs["/lib64/ld-linux-x86-64.so.2"].reason() == "interpreter of /bin/ls"
    libc = next(p for p in libs if p.endswith("/libc.so.6"))
    assert libs[libc].reason() == "needed by /bin/ls"
    # libpcre2 comes through libselinux: the chain says so
    pcre = next((lib for lib in libs.values() if lib.name.startswith("libpcre2")), None)
    if pcre is not None:
        assert pcre.chain[0] == "/bin/ls" and "libselinux" in pcre.chain[1]
    # ld.so provides itself: libc's DT_NEEDED ld-linux-x86-64.so.2 adds no second copy
    assert not any(p.endswith("ld-linux-x86-64.so.2") and p != "/lib64/ld-linux-x86-64.so.2" for p in libs)


def test_runpath_origin_in_quick_mode(tmp_path: Path, cc: Callable[..., Path]) -> None:
    prog = make_tree(tmp_path, cc, ["-Wl,-rpath,$ORIGIN/lib", "-Wl,--enable-new-dtags"],
                     ["-Wl,-rpath,$ORIGIN", "-Wl,--enable-new-dtags"])
    assert native_ok(prog)
    fs = collect(quick_config(prog)).rootfs
    bar, baz = fs.get("/app/lib/libbar.so"), fs.get("/app/lib/libbaz.so")
    assert bar is not None and bar.host == tmp_path / "lib" / "libbar.so"
    assert bar.reason == "needed by /app/prog"
    assert baz is not None and baz.reason == "needed by /app/prog → /app/lib/libbar.so"
    assert fs.get("/app/prog").reason == "entry"


def test_runpath_is_not_inherited(tmp_path: Path, cc: Callable[..., Path]) -> None:
    prog = make_tree(tmp_path, cc, ["-Wl,-rpath,$ORIGIN/lib", "-Wl,--enable-new-dtags"], [])
    assert not native_ok(prog)  # ld.so agrees: libbaz.so cannot be found
    with pytest.raises(PackError) as err:
        collect(quick_config(prog))
    assert str(err.value) == (f"{prog}: needs libbaz.so (via libbar.so), "
                              "not found in ld.so.conf/default dirs")


def test_rpath_is_inherited(tmp_path: Path, cc: Callable[..., Path]) -> None:
    prog = make_tree(tmp_path, cc, ["-Wl,-rpath,$ORIGIN/lib", "-Wl,--disable-new-dtags"], [])
    assert native_ok(prog)
    fs = collect(quick_config(prog)).rootfs
    assert fs.get("/app/lib/libbaz.so").reason == "needed by /app/prog → /app/lib/libbar.so"


def test_missing_direct_library(tmp_path: Path, cc: Callable[..., Path]) -> None:
    prog = make_tree(tmp_path, cc, ["-Wl,-rpath,/nonexistent", "-Wl,--enable-new-dtags"], [])
    with pytest.raises(PackError, match=r"prog: needs libbar.so, not found in RUNPATH/ld.so.conf/default dirs$"):
        collect(quick_config(prog))


def test_ld_so_conf_includes_and_cache(tmp_path: Path, cc: Callable[..., Path]) -> None:
    prog = make_tree(tmp_path, cc, [], ["-Wl,-rpath,$ORIGIN", "-Wl,--enable-new-dtags"])
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (tmp_path / "ld.so.conf").write_text("# test\ninclude conf.d/*.conf\n/usr/lib/x86_64-linux-gnu\n")
    (conf_d / "b.conf").write_text(f"{tmp_path / 'lib'}\n")
    (conf_d / "a.conf").write_text("/nonexistent/a  # comment\n")
    dirs = read_ld_so_conf(tmp_path / "ld.so.conf")
    assert dirs == ("/nonexistent/a", str(tmp_path / "lib"), "/usr/lib/x86_64-linux-gnu")
    collected = collect(quick_config(prog), ld_so_conf=tmp_path / "ld.so.conf")
    fs = collected.rootfs
    assert fs.get(str(tmp_path / "lib" / "libbar.so")) is not None
    assert collected.ld_cache_generated
    cache = fs.get("/etc/ld.so.cache")
    assert cache is not None and cache.data is not None
    assert str(tmp_path / "lib" / "libbar.so").encode() in cache.data


def test_no_cache_for_default_dirs() -> None:
    collected = collect(quick_config(Path("/bin/ls")))
    assert not collected.ld_cache_generated
    assert "/etc/ld.so.cache" not in collected.rootfs


def test_files_elf_objects_get_their_closure(tmp_path: Path, cc: Callable[..., Path]) -> None:
    """A plugin brought in by [files] gets its libraries too, at the paths ld.so searches."""
    make_tree(tmp_path, cc, [], ["-Wl,-rpath,$ORIGIN", "-Wl,--enable-new-dtags"])
    src = tmp_path / "plugins"
    src.mkdir()
    (tmp_path / "lib" / "libbar.so").rename(src / "libbar.so")
    (tmp_path / "lib" / "libbaz.so").rename(src / "libbaz.so")
    static = cc(tmp_path / "main", "int main(void){return 0;}\n", "-static")
    (tmp_path / "litebox.toml").write_text(
        f'[app]\nentry = "/app/main"\n[files]\n"/app/main" = "{static.name}"\n"/plugins" = "plugins"\n')
    from packager.config.config import load_project

    fs = collect(load_project(tmp_path)).rootfs
    assert fs.get("/plugins/libbaz.so").reason == '[files] "/plugins" = "plugins"; needed by /plugins/libbar.so'
    assert fs.get("/lib64/ld-linux-x86-64.so.2") is None  # static entry, plugins have no PT_INTERP
    assert any(e.path.endswith("/libc.so.6") for e in fs.entries())


def _plugin_tree(tmp_path: Path, cc: Callable[..., Path], pack_provider: bool) -> Path:
    """A project whose [files] holds libp.so, which needs libq.so without any RPATH that finds
    it: the JDK's shape (lib/libattach.so needs lib/server/libjvm.so, loaded first)."""
    build = tmp_path / "build"
    build.mkdir()
    cc(build / "libq.so", "int q(void) { return 1; }\n", "-shared", "-fPIC", "-Wl,-soname,libq.so")
    tree = tmp_path / "tree"
    (tree / "server").mkdir(parents=True)
    cc(tree / "libp.so", "int q(void);\nint p(void) { return q(); }\n", "-shared", "-fPIC", f"-L{build}", "-lq")
    if pack_provider:
        (build / "libq.so").rename(tree / "server" / "libq.so")
    static = cc(tmp_path / "main", "int main(void){return 0;}\n", "-static")
    (tmp_path / "litebox.toml").write_text(
        f'[app]\nentry = "/app/main"\n[files]\n"/app/main" = "{static.name}"\n"/opt/jdk" = "tree"\n')
    return tmp_path


def test_files_object_need_provided_by_another_packed_object(tmp_path: Path, cc: Callable[..., Path]) -> None:
    from packager.config.config import load_project

    collected = collect(load_project(_plugin_tree(tmp_path, cc, pack_provider=True)))
    assert collected.rootfs.get("/opt/jdk/libp.so") is not None
    assert collected.rootfs.get("/opt/jdk/server/libq.so") is not None
    assert not [w for w in collected.warnings if "libq.so" in w], collected.warnings


def test_files_object_need_found_nowhere_is_a_warning(tmp_path: Path, cc: Callable[..., Path]) -> None:
    from packager.config.config import load_project

    collected = collect(load_project(_plugin_tree(tmp_path, cc, pack_provider=False)))
    assert collected.rootfs.get("/opt/jdk/libp.so") is not None
    assert [w for w in collected.warnings if "libq.so (needed by /opt/jdk/libp.so)" in w], collected.warnings


def test_glibc_dlopens_libgcc_s_when_libc_is_packed() -> None:
    """pthread_exit, pthread_cancel and backtrace make glibc dlopen libgcc_s.so.1; without it a
    packed program aborts ("libgcc_s.so.1 must be installed for pthread_exit to work")."""
    finder = ClosureFinder(no_map, read_ld_so_conf())
    finder.add_entry("/bin/ls", Path("/bin/ls"))
    finder.add_glibc_dlopens()
    libs = {lib.name: lib for lib in finder.result.libraries}
    if not any(Path(d, "libgcc_s.so.1").is_file() for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu")):
        pytest.skip("no libgcc_s.so.1 on this host")
    assert "libgcc_s.so.1" in libs
    assert libs["libgcc_s.so.1"].reason().startswith("dlopened by glibc (")
    assert libs["libc.so.6"].reason() == "needed by /bin/ls"


def test_no_libgcc_s_without_glibc(tmp_path: Path, cc: Callable[..., Path]) -> None:
    """A static program has no libc.so.6 to dlopen anything."""
    prog = cc(tmp_path / "static", "int main(void) { return 0; }\n", "-static")
    finder = ClosureFinder(no_map, read_ld_so_conf())
    finder.add_entry("/app/static", prog)
    finder.add_glibc_dlopens()
    assert not any(lib.name == "libgcc_s.so.1" for lib in finder.result.libraries)
