"""The typed target plugin contract (packager/targets/targetapi.py): loading and checking plugins,
[target.<name>] options in litebox.toml, runtime inputs from cargo metadata, and a toy plugin
whose extra build step runs as an SCons node."""
from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from packager.build.driver import pack, target_options
from packager.build.progress import Progress
from packager.config.config import load_project
from packager.errors import PackError
from packager.targets import cargobuild
from packager.targets.targetapi import Capabilities
from packager.targets.targets import discover, get, repo_root

HEAD = "from packager.targets.targetapi import Capabilities, Check, ExtraStep, OptionSpec, TargetPlugin\n"
BODY = '''
class Plugin(TargetPlugin):
    name = "{name}"
    description = "a test target"
    capabilities = {caps}
    options = {options}
    def checks(self): return [Check("thing", True, "ok")]
    def runtime_inputs(self, repo, options): return []
    def build_runtime(self, ctx): return None
    def assemble(self, ctx, runtime, image, manifest, out): return None
    def run(self, artifact, args{run_params}): return 0
'''


def plugin_source(name: str = "toy", caps: str = 'Capabilities(artifact_kind="blob")', options: str = "()",
                  run_params: str = ", env=None, wait=False") -> str:
    return HEAD + BODY.format(name=name, caps=caps, options=options, run_params=run_params)


def write_plugin(root: Path, folder: str, source: str) -> Path:
    (root / folder).mkdir(parents=True, exist_ok=True)
    (root / folder / "target.py").write_text(source)
    return root / folder / "target.py"


def test_a_plugin_meeting_the_contract_loads(tmp_path: Path) -> None:
    write_plugin(tmp_path, "toy_folder", plugin_source(options='(OptionSpec("key", "integer", "doc", default=3),)'))
    t = discover(tmp_path)["toy"]
    assert t.folder == tmp_path / "toy_folder"
    assert t.capabilities == Capabilities(artifact_kind="blob")
    assert [o.name for o in t.options] == ["key"]
    assert t.checklist() == [{"item": "thing", "ok": True, "detail": "ok", "required": True}]


@pytest.mark.parametrize(("source", "problem"), [
    ("X = 1\n", r"lacks Plugin \(a subclass of packager.targets.targetapi.TargetPlugin\)"),
    ("class Plugin:\n    pass\n", r"lacks Plugin \(a subclass"),
    (plugin_source(name=""), "lacks name"),
    (plugin_source().replace('description = "a test target"', 'description = ""'), "lacks description"),
    (plugin_source(caps="None"), r"lacks capabilities \(a Capabilities\)"),
    (plugin_source(caps='Capabilities(artifact_kind="")'), "lacks capabilities.artifact_kind"),
    (plugin_source(caps='Capabilities(artifact_kind="x", rewrites=True)'), "lacks capabilities.rewrite_entry"),
    (plugin_source(caps='Capabilities(artifact_kind="x", rewrite_entry=".s")'), "lacks capabilities.rewrites"),
    (plugin_source(caps='Capabilities(artifact_kind="x", trace_learn=True)', run_params=""),
     r"lacks run\(artifact, args, env, wait\) \(trace_learn=True\)"),
    (plugin_source(options='(OptionSpec("k", "float", "doc"),)'), "option 'k': type 'float' is not one of"),
    (plugin_source(options='(OptionSpec("k", "integer", "doc", default="3"),)'),
     "option 'k': default '3' is not an integer"),
    (plugin_source(options='(OptionSpec("k", "integer", "d"), OptionSpec("k", "string", "d"))'),
     "option 'k': names must be unique"),
    (plugin_source(options='("k",)'), r"lacks options \(a tuple of OptionSpec\)"),
    ("import no_such_module_here\n", "cannot load target plugin: ModuleNotFoundError"),
])
def test_contract_problems_name_the_folder(tmp_path: Path, source: str, problem: str) -> None:
    path = write_plugin(tmp_path, "broken", source)
    with pytest.raises(PackError, match=re.escape(str(path)) + ": .*" + problem):
        discover(tmp_path)


def test_two_folders_one_name_refused(tmp_path: Path) -> None:
    write_plugin(tmp_path, "a", plugin_source())
    write_plugin(tmp_path, "b", plugin_source())
    with pytest.raises(PackError, match="b/target.py: target 'toy' is also defined in .*a/target.py"):
        discover(tmp_path)


def test_get_loads_the_named_folder_alone_and_falls_back_to_discovery(tmp_path: Path) -> None:
    """`litebox run` needs one plugin: the folder named after it is loaded alone (a broken
    neighbour is not even read); a plugin in a folder of another name is still found."""
    write_plugin(tmp_path, "toy", plugin_source())
    write_plugin(tmp_path, "broken", "raise RuntimeError('not loaded')\n")
    assert get("toy", tmp_path).folder == tmp_path / "toy"
    write_plugin(tmp_path / "more", "elsewhere", plugin_source(name="other"))
    assert get("other", tmp_path / "more").folder == tmp_path / "more" / "elsewhere"
    with pytest.raises(PackError, match="broken/target.py: cannot load target plugin"):
        get("missing", tmp_path)


def test_real_targets_declare_capabilities() -> None:
    found = discover()
    lu, kvm = found["linux-userland"].capabilities, found["kvm"].capabilities
    assert lu.rewrites and lu.rewrite_entry == ".litebox.fastpath" and lu.trace_learn
    assert not kvm.rewrites and not kvm.trace_learn and kvm.artifact_kind == "pvh-elf"
    snp = found["snp"].capabilities
    assert snp.artifact_kind == "igvm" and snp.artifact_suffix == ".igvm" and not snp.rewrites
    for t in (found["linux-userland"], found["kvm"]):
        assert [o.name for o in t.options] == ["runtime"]
        assert t.extra_steps(target_options_for(t)) == []
    assert [o.name for o in found["snp"].options] == ["runtime", "policy", "cbit", "host_input", "vcpus", "vmm",
                                                      "id_key", "id_key_throwaway", "id_public_key", "id_signature",
                                                      "family_id", "image_id", "guest_svn"]
    # The HSM flow's digest-out is an extra step: the ID block to sign, beside the artifact.
    steps = found["snp"].extra_steps({**target_options_for(found["snp"]), "id_public_key": "/k.pem"})
    assert [(x.name, x.outputs) for x in steps] == [("id-block", (".id-block",))]


def target_options_for(t: object) -> dict[str, object]:
    return {o.name: o.default for o in t.options}  # type: ignore[attr-defined]


def test_no_packager_module_tests_a_target_name() -> None:
    """Behaviour comes from capabilities: target names appear only under platform_targets/
    (and as the CLI's default --target)."""
    hits = []
    pkg = repo_root() / "packager"
    for path in sorted(pkg.rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"""["'](kvm|linux-userland)["']""", line):
                hits.append(f"{path.relative_to(pkg).as_posix()}:{n}: {line.strip()}")
    assert [h for h in hits if not h.startswith("commands/cli.py:") or "args.targets or" not in h] == []


# --------------------------------------------------------------------------------------------
# [target.<name>] options

OPTIONS = '''(
    OptionSpec("level", "integer", "a level", default=2),
    OptionSpec("mode", "string", "a mode", default="fast", choices=("fast", "slow")),
    OptionSpec("key", "path", "a signing key"),
    OptionSpec("flags", "string-list", "flags", default=[]),
    OptionSpec("strict", "boolean", "strict", default=False),
)'''


@pytest.fixture()
def plugins(tmp_path: Path) -> dict[str, object]:
    write_plugin(tmp_path / "plugins", "toy", plugin_source(options=OPTIONS))
    write_plugin(tmp_path / "plugins", "bare", plugin_source(name="bare"))
    return discover(tmp_path / "plugins")


def project(tmp_path: Path, text: str) -> Path:
    d = tmp_path / "proj"
    d.mkdir(exist_ok=True)
    (d / "litebox.toml").write_text('[app]\nentry = "/app/x"\n' + text)
    return d


@pytest.mark.parametrize(("text", "error"), [
    ("[target.toy]\nlevle = 1\n", r"\[target.toy\].levle: unknown key \(did you mean 'level'\?\)$"),
    ("[target.toy]\nlevel = \"1\"\n", r"\[target.toy\].level: expected an integer, got string$"),
    ("[target.toy]\nlevel = true\n", r"\[target.toy\].level: expected an integer, got boolean$"),
    ("[target.toy]\nmode = \"medium\"\n", r"\[target.toy\].mode: 'medium' is not one of 'fast', 'slow'$"),
    ("[target.toy]\nflags = [1]\n", r"\[target.toy\].flags: expected a list of strings, got array$"),
    ("[target.toy]\nkey = \"\"\n", r"\[target.toy\].key: expected a path \(a non-empty string\), got string$"),
    ("[target.bare]\nx = 1\n", r"\[target.bare\].x: unknown key \(target bare has no options\)$"),
    ("[target.tyo]\nlevel = 1\n", r"\[target.tyo\]: unknown target \(did you mean 'toy'\?\)$"),
    ("[target.zzz]\n", r"\[target.zzz\]: unknown target \(known: bare, toy\)$"),
    ("[target]\ntoy = 1\n", r"\[target.toy\]: expected a table, got integer$"),
])
def test_bad_options_are_one_line_errors_naming_the_key(tmp_path: Path, plugins: dict[str, object], text: str,
                                                        error: str) -> None:
    with pytest.raises(PackError, match=r"litebox.toml: " + error) as exc:
        load_project(project(tmp_path, text), plugins=plugins)
    assert "\n" not in str(exc.value)


def test_options_resolved_with_defaults_and_paths(tmp_path: Path, plugins: dict[str, object]) -> None:
    d = project(tmp_path, '[target.toy]\nlevel = 5\nkey = "keys/k.pem"\nflags = ["a"]\n')
    cfg = load_project(d, plugins=plugins)
    options, record = target_options(cfg, plugins["toy"])  # type: ignore[arg-type]
    assert options == {"level": 5, "mode": "fast", "key": str(d / "keys" / "k.pem"), "flags": ["a"],
                       "strict": False}
    assert record == {**options, "key": "keys/k.pem"}
    assert target_options(cfg, plugins["bare"]) == ({}, {})  # type: ignore[arg-type]


def test_real_config_accepts_target_tables(tmp_path: Path) -> None:
    d = project(tmp_path, '[target.kvm]\nruntime = "/opt/kernel"\n')
    assert load_project(d).target_table("kvm") == {"runtime": "/opt/kernel"}
    with pytest.raises(PackError, match=r"\[target.kvm\].runtime: expected a path"):
        load_project(project(tmp_path, "[target.kvm]\nruntime = 3\n"))


# --------------------------------------------------------------------------------------------
# runtime inputs from cargo metadata

needs_cargo = pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo not installed")


@needs_cargo
def test_runtime_inputs_follow_path_dependencies() -> None:
    repo = repo_root()
    dirs = cargobuild.crate_dirs(repo, "litebox-runtime-kvm")
    assert dirs is not None and repo / "platform_targets" / "kvm" / "runtime" in dirs
    assert repo / "core" / "libos" in dirs and repo / "platform_targets" / "linux_userland" / "runtime" not in dirs


@needs_cargo
def test_prefetched_cargo_metadata_gives_the_same_inputs_and_ends_with_the_pack(tmp_path: Path) -> None:
    """`litebox pack` starts cargo metadata ahead (CargoMetadata.start); the runtime's inputs are
    the same as asking when needed, shared by the pack's targets, and its process is gone at
    the pack's end."""
    repo = repo_root()
    expected = {p: cargobuild.crate_dirs(repo, p) for p in ("litebox-runtime-kvm", "litebox-runtime-linux-userland")}
    with cargobuild.CargoMetadata.start(repo) as meta:
        assert meta.proc is not None and not meta.answered
        assert {p: cargobuild.crate_dirs(repo, p, meta) for p in expected} == expected
        assert meta.answered and isinstance(meta.answer, dict)  # parsed once, for both
        first = meta.answer
        assert cargobuild.crate_dirs(repo, "litebox-runtime-kvm", meta) == expected["litebox-runtime-kvm"]
        assert meta.answer is first
    assert meta.proc.returncode == 0
    none = cargobuild.CargoMetadata.start(tmp_path)  # no Cargo.toml: nothing started
    assert none.proc is None
    none.close()
    unused = cargobuild.CargoMetadata.start(repo)
    unused.close()  # a prefetch never used is stopped and reaped
    assert unused.proc is not None and unused.proc.returncode is not None


@needs_cargo
def test_a_new_shared_crate_feeds_the_runtime(tmp_path: Path) -> None:
    (tmp_path / "Cargo.toml").write_text('[workspace]\nresolver = "2"\nmembers = ["app", "shared"]\n')
    for name, deps in (("shared", ""), ("app", 'shared = { path = "../shared" }\nfar = { path = "../../far" }\n')):
        (tmp_path / name / "src").mkdir(parents=True)
        (tmp_path / name / "Cargo.toml").write_text(
            f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n[dependencies]\n{deps}')
        (tmp_path / name / "src" / ("main.rs" if name == "app" else "lib.rs")).write_text("\n")
    far = tmp_path.parent / "far"
    (far / "src").mkdir(parents=True, exist_ok=True)
    (far / "Cargo.toml").write_text('[package]\nname = "far"\nversion = "0.1.0"\nedition = "2021"\n')
    (far / "src" / "lib.rs").write_text("\n")
    inputs = cargobuild.runtime_inputs(tmp_path, "app")
    assert tmp_path / "shared" / "src" / "lib.rs" in inputs
    assert far / "src" / "lib.rs" in inputs  # a path dependency outside the workspace too
    assert inputs[0] == tmp_path / "Cargo.toml"


# --------------------------------------------------------------------------------------------
# a toy plugin with an extra build step, packed for real

TOY = HEAD + '''
import hashlib
from pathlib import Path
from packager.build.artifact import atomic_output


def _checksum(ctx):
    (out,) = ctx.outputs
    with atomic_output(out) as tmp:
        tmp.write_text(hashlib.sha256(ctx.artifact.read_bytes()).hexdigest() + " " + ctx.build.options["label"]
                       + "\\n")


def _nothing(ctx):
    pass


class Plugin(TargetPlugin):
    name = "toy"
    description = "a runtime-less toy: the artifact is the image and the manifest"
    capabilities = Capabilities(artifact_kind="blob")
    options = (OptionSpec("label", "string", "written into the checksum file", default="none"),)

    def checks(self):
        return [Check("nothing", True, "needed")]

    def runtime_inputs(self, repo, options):
        return []

    def build_runtime(self, ctx):
        ctx.state_dir.mkdir(parents=True, exist_ok=True)
        path = ctx.state_dir / "toy-runtime"
        path.write_bytes(b"TOYRUNTIME")
        return path

    def assemble(self, ctx, runtime, image, manifest, out):
        with atomic_output(out, 0o755) as tmp:
            tmp.write_bytes(runtime.read_bytes() + image + manifest)

    def run(self, artifact, args, env=None, wait=False):
        return 0

    def extra_steps(self, options):
        return [ExtraStep("checksum", (".sha256",), _checksum, "the artifact's sha256")]
'''


def test_toy_plugin_extra_step_is_a_build_node(tmp_path: Path, cc: Callable[..., Path]) -> None:
    write_plugin(tmp_path / "plugins", "toy", TOY)
    app = cc(tmp_path / "app", "int main(void){return 0;}\n", "-static", "-O2")
    proj = tmp_path / "proj"
    proj.mkdir()
    shutil.copy(app, proj / "app")
    (proj / "litebox.toml").write_text('[app]\nentry = "/app/app"\n[files]\n"/app/app" = "app"\n'
                                       '[build]\ncompression_level = 1\n[target.toy]\nlabel = "first"\n')
    out, plugins = tmp_path / "dist", tmp_path / "plugins"

    def run() -> tuple[list[str], Path]:
        result = pack(proj, ["toy"], out, progress=Progress(io.StringIO()), targets_dir=plugins)
        assert result.extras == [out / "app-toy.sha256"]
        return result.rebuilt, result.artifacts[0].path

    rebuilt, artifact = run()
    assert "checksum:app-toy" in rebuilt and artifact == out / "app-toy"
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert (out / "app-toy.sha256").read_text() == f"{digest} first\n"
    manifest = json.loads((out / "app-toy.manifest.json").read_bytes())
    assert manifest["config"]["target"] == {"toy": {"label": "first"}}
    assert artifact.read_bytes().startswith(b"TOYRUNTIME")

    assert run()[0] == []  # up to date: nothing reran
    (out / "app-toy.sha256").unlink()
    assert run()[0] == ["checksum:app-toy"]  # only the missing output is rebuilt

    toml = (proj / "litebox.toml").read_text().replace('"first"', '"second"')
    (proj / "litebox.toml").write_text(toml)
    rebuilt, _ = run()
    assert "checksum:app-toy" in rebuilt and "manifest:app-toy" in rebuilt and not any(
        r.startswith("image:") for r in rebuilt)  # options do not touch the image
    assert (out / "app-toy.sha256").read_text().endswith(" second\n")


def test_extra_step_that_writes_nothing_fails(tmp_path: Path, cc: Callable[..., Path]) -> None:
    write_plugin(tmp_path / "plugins", "toy", TOY.replace('".sha256",), _checksum', '".sha256",), _nothing'))
    app = cc(tmp_path / "app", "int main(void){return 0;}\n", "-static", "-O2")
    with pytest.raises(PackError, match=r"target toy: extra step 'checksum' did not write .*app-toy.sha256"):
        pack(app, ["toy"], tmp_path / "dist", progress=Progress(io.StringIO()), targets_dir=tmp_path / "plugins")
    assert not (tmp_path / "dist" / "app-toy.sha256").exists()


def test_cargo_build_names_a_target_triple(tmp_path: Path) -> None:
    """--target reaches cargo's argv; the fallback output path follows cargo's layout."""
    seen: list[list[str]] = []

    class FakeProgress:
        def step(self, _msg: str) -> None:
            pass

        def run(self, argv: list[str], *_a: object, **_k: object) -> subprocess.CompletedProcess[str]:
            seen.append(argv)
            out = tmp_path / "t" / "x86_64-unknown-none" / "release" / "pkg"
            out.parent.mkdir(parents=True)
            out.write_bytes(b"x")
            return type("R", (), {"returncode": 0, "stdout": "", "error_lines": [], "stderr_tail": []})()

    class Ctx:
        repo = tmp_path
        progress = FakeProgress()

    if shutil.which("cargo") is None:
        pytest.skip("cargo not installed")
    path = cargobuild.build(Ctx(), "pkg", "the toy runtime", None, target_dir=tmp_path / "t",
                            cargo_target="x86_64-unknown-none")
    assert path == tmp_path / "t" / "x86_64-unknown-none" / "release" / "pkg"
    assert seen[0][seen[0].index("--target") + 1] == "x86_64-unknown-none"


def test_each_rewriting_target_gets_its_own_image(tmp_path: Path) -> None:
    """Two rewriting targets never share an image rewritten for the other's runtime; the
    targets without rewriting share one unrewritten image."""
    from packager.build.driver import _request
    from packager.config.config import Overrides, quick_config

    rw = 'Capabilities(artifact_kind="x", rewrites=True, rewrite_entry=".fast")'
    for name, caps in (("one", rw), ("two", rw), ("plain", 'Capabilities(artifact_kind="x")')):
        write_plugin(tmp_path / "plugins", name, plugin_source(name=name, caps=caps))
    known = discover(tmp_path / "plugins")
    targets = [known["one"], known["plain"], known["two"]]
    state = tmp_path / "state"
    tools = {"rustc": "r", "cargo": "c"}
    for rewrite, expected in ((True, [["one"], ["two"], ["plain"]]), (False, [["one", "plain", "two"]])):
        cfg = quick_config(Path("/bin/true"), Overrides(rewrite=rewrite))
        req = _request(cfg, {}, targets, tmp_path / "dist", state, state / "apps" / "true", tools, False)
        assert [[t["target"] for t in a["targets"]] for a in req["apps"]] == expected
        images = [a["image"] for a in req["apps"]]
        assert len(set(images)) == len(images)
        assert images[0] == str(state / "apps" / "true" / "image.bin")
        if rewrite:
            assert [a["rewrite_target"] for a in req["apps"]] == ["one", "two", None]
            assert [a["rewrite_entry"] for a in req["apps"]] == [".fast", ".fast", None]
            assert req["apps"][1]["rewrite_runtime"] == req["runtimes"]["two"]["out"]
        else:
            assert req["apps"][0]["rewrite_runtime"] is None
