"""The snp target end to end: examples packed as IGVM files, parsed by the `igvm` crate (the
test-only tools/igvm-dump, an independent parser and SNP measurement) and compared with the
manifest; `inspect` recomputing the measurement; `verify`; reproducibility; and the native
platform booted in QEMU (TCG) through our loader, compared with linux-userland.

Skipped with the reason when qemu-system-x86_64 (runs) or cargo (igvm-dump) is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import litebox_e2e
import pytest
from litebox_e2e import REPO, PackedExamples, copy_example, describe, parse_pack_json, run_cli, run_program

needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None,
                                reason="qemu-system-x86_64 is not installed (./scripts/setup installs it)")
TRICKY_ARGS = ["one", "two words", "", "ünïcödé", "--getenv", "GREETING", "a=b", "*", "$HOME", "100%"]


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> PackedExamples:
    """Each example packed once per module for snp and linux-userland."""
    return PackedExamples(tmp_path_factory.mktemp("snp"), ("snp", "linux-userland"))


@pytest.fixture(scope="session")
def igvm_dump() -> Path:
    """tools/igvm-dump, built once (cargo --locked --release) in the workspace's target dir."""
    if shutil.which("cargo") is None:
        pytest.skip("cargo is not installed: tools/igvm-dump cannot be built")
    proc = subprocess.run(["cargo", "build", "--locked", "--release", "-q", "-p", "igvm-dump"], cwd=REPO,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    return REPO / "target" / "release" / "igvm-dump"


def dump(tool: Path, artifact: Path) -> list[dict[str, str]]:
    """igvm-dump's lines as dicts (``kind`` plus the key=value fields)."""
    proc = subprocess.run([tool, artifact], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = []
    for line in proc.stdout.splitlines():
        kind, *fields = line.split(" ")
        rows.append({"kind": kind, **dict(f.split("=", 1) for f in fields if "=" in f)})
    return rows


def manifest_of(artifact: Path) -> dict:
    return json.loads(artifact.with_name(artifact.name + ".manifest.json").read_text())


def test_artifact_name_and_sidecar(packed: PackedExamples) -> None:
    art = packed.get("hello-static", "snp")
    assert art.name == "hello-static-snp.igvm"
    assert art.read_bytes()[:4] == b"IGVM"
    assert manifest_of(art)["target"] == "snp"


def test_igvm_crate_parses_it_and_agrees_with_the_manifest(packed: PackedExamples, igvm_dump: Path) -> None:
    art = packed.get("hello-static", "snp")
    rows = dump(igvm_dump, art)
    facts = manifest_of(art)["target_facts"]["snp"]
    assert rows[0] == {"kind": "revision", "arch": "0", "page_size": "4096"}
    platforms = {r["type"]: int(r["mask"], 16) for r in rows if r["kind"] == "platform"}
    assert set(platforms) == {"native", "sev-snp"}
    snp_mask = platforms["sev-snp"]
    assert [int(r["value"], 16) for r in rows if r["kind"] == "policy"] == [int(facts["guest_policy"]["value"], 16)]
    # The crate's own SNP measurement (VMSA in file order) is our "igvm" convention's digest.
    assert [r["digest"] for r in rows if r["kind"] == "snp_measurement"] == [facts["launch_digests"]["igvm"]]
    pages = [r for r in rows if r["kind"] == "page" and int(r["mask"], 16) & snp_mask]
    inserts = [r for r in rows if r["kind"] == "insert" and int(r["mask"], 16) & snp_mask]
    assert len(pages) + len(inserts) == facts["measured_pages"]
    assert {r["type"] for r in pages} == {"0", "1", "2"}  # normal, secrets, CPUID
    native = [r for r in rows if r["kind"] == "vp_native"]
    vmsa = [r for r in rows if r["kind"] == "vp_snp"]
    assert len(native) == len(vmsa) == 1
    assert (native[0]["rip"], native[0]["rbx"]) == (vmsa[0]["rip"], vmsa[0]["rbx"])
    assert vmsa[0]["gpa"] == facts["vmsa_gpa"] and vmsa[0]["sev_features"] == facts["sev_features"]
    assert [r["kind"] for r in rows].count("required") == 1


def test_inspect_recomputes_the_measurement(packed: PackedExamples) -> None:
    art = packed.get("hello-static", "snp")
    proc = run_cli("inspect", art, "--json")
    assert proc.returncode == 0, describe(proc)
    facts = json.loads(proc.stdout)["target_facts"]
    assert facts["matches_manifest"] is True
    assert facts["recomputed"]["snp"]["launch_digest"] == manifest_of(art)["target_facts"]["snp"]["launch_digest"]
    text = run_cli("inspect", art)
    assert "launch_digest:" in text.stdout and "matches manifest:   yes" in text.stdout


def test_inspect_sees_a_tampered_page(packed: PackedExamples, tmp_path: Path) -> None:
    art = packed.get("hello-static", "snp")
    data = bytearray(art.read_bytes())
    kernel_code = data.index(b"\xfa\xfc")  # cli; cld: the first bytes of the PVH entry
    data[kernel_code + 1] ^= 0x01
    bad = tmp_path / art.name
    bad.write_bytes(bytes(data))
    facts = json.loads(run_cli("inspect", bad, "--json").stdout)["target_facts"]
    assert facts["matches_manifest"] is False
    assert facts["recomputed"]["snp"]["launch_digest"] != facts["recorded"]["snp"]["launch_digest"]


def test_reproducible(packed: PackedExamples, tmp_path: Path) -> None:
    first = packed.get("hello-static", "snp")
    project = copy_example("hello-static", tmp_path)
    proc = run_cli("pack", project, "--target", "snp", "--out-dir", tmp_path / "again", "--json")
    assert proc.returncode == 0, describe(proc)
    again = parse_pack_json(proc.stdout)[0].path
    assert again.read_bytes() == first.read_bytes()


def test_verify(packed: PackedExamples) -> None:
    art = packed.get("hello-static", "snp")
    proc = run_cli("verify", art, "--project", art.parent.parent / "hello-static")
    assert proc.returncode == 0, describe(proc)
    assert "verified" in proc.stdout


def run_snp(artifact: Path, args: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*litebox_e2e.kvm_argv(artifact, args)], env=litebox_e2e.kvm_env(90), cwd=REPO,
                          input=stdin, capture_output=True, timeout=300)


@needs_qemu
@pytest.mark.parametrize("name", ["hello-static", "hello-dynamic"])
def test_native_boot_matches_linux_userland(packed: PackedExamples, name: str) -> None:
    snp = run_snp(packed.get(name, "snp"), TRICKY_ARGS)
    ref = run_program([packed.get(name, "linux-userland"), *TRICKY_ARGS])
    assert ref.returncode == 0, describe(ref)
    assert snp.stdout == ref.stdout, describe(snp)
    assert snp.returncode == 0


@needs_qemu
def test_static_pie_reads_stdin_like_linux_userland(packed: PackedExamples) -> None:
    data = bytes(range(256)) * 64
    snp = run_snp(packed.get("static-pie", "snp"), ["x", "y z"], stdin=data)
    ref = run_program([packed.get("static-pie", "linux-userland"), "x", "y z"], stdin=data)
    assert (snp.stdout, snp.returncode) == (ref.stdout, ref.returncode), describe(snp)


@needs_qemu
def test_cat_files_matches_linux_userland(packed: PackedExamples) -> None:
    args = ["first", "second arg"]
    snp = run_snp(packed.get("cat-files", "snp"), args)
    ref = run_program([packed.get("cat-files", "linux-userland"), *args])
    assert ref.returncode == 0, describe(ref)
    assert (snp.stdout, snp.returncode) == (ref.stdout, ref.returncode), describe(snp)
    assert b"== /tmp/cat-files-note.txt ==\nwritten to /tmp and read back\n" in snp.stdout


@needs_qemu
@pytest.mark.parametrize("code", [3, 255])
def test_exit_code_crosses_the_vm_boundary(packed: PackedExamples, code: int) -> None:
    snp = run_snp(packed.get("hello-static", "snp"), ["--exit", str(code)])
    assert snp.returncode == code, describe(snp)


@needs_qemu
def test_run_refuses_a_damaged_file(packed: PackedExamples, tmp_path: Path) -> None:
    data = bytearray(packed.get("hello-static", "snp").read_bytes())
    data[40] ^= 0x01  # inside the variable headers: the checksum no longer matches
    bad = tmp_path / "bad-snp.igvm"
    bad.write_bytes(bytes(data))
    proc = run_snp(bad, [])
    assert proc.returncode != 0
    assert b"checksum" in proc.stderr, describe(proc)


# ---------------------------------------------------------------------------------------------
# The ID block


def _project_with(tmp_path: Path, lines: str) -> Path:
    project = copy_example("hello-static", tmp_path)
    with open(project / "litebox.toml", "a", encoding="utf-8") as f:
        f.write("\n[target.snp]\n" + lines)
    return project


def test_throwaway_key_warns_and_signs(tmp_path: Path, igvm_dump: Path) -> None:
    project = _project_with(tmp_path, 'id_key_throwaway = true\nimage_id = "0123456789abcdef0123456789abcdef"\n')
    proc = run_cli("pack", project, "--target", "snp", "--out-dir", tmp_path / "dist", "--json")
    assert proc.returncode == 0, describe(proc)
    assert "PUBLIC THROWAWAY KEY" in proc.stderr
    art = parse_pack_json(proc.stdout)[0].path
    facts = manifest_of(art)["target_facts"]["snp"]
    assert facts["id_block"]["throwaway_key"] and facts["id_block"]["signature_valid"]
    rows = [r for r in dump(igvm_dump, art) if r["kind"] == "id_block"]
    assert len(rows) == 1
    assert rows[0]["ld"] == facts["launch_digest"] and rows[0]["image_id"] == "0123456789abcdef0123456789abcdef"
    assert rows[0]["algorithm"] == "1"


def test_the_id_key_named_by_the_environment_signs_and_its_rotation_repacks(tmp_path: Path) -> None:
    """LITEBOX_SNP_ID_KEY (documented as overriding [target.snp].id_key) signs the ID block of a
    project that names no key; a new key written at the same path signs the next pack into the
    same folder (not "up to date" with the old key's block)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    secret = tmp_path / "secrets" / "snp-id.pem"
    secret.parent.mkdir()

    def write_key() -> None:
        key = ec.generate_private_key(ec.SECP384R1())
        secret.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))

    project = copy_example("hello-static", tmp_path)
    out = tmp_path / "dist"

    def packed_id_block() -> dict:
        proc = run_cli("pack", project, "--target", "snp", "--out-dir", out, "--json",
                       env={"LITEBOX_SNP_ID_KEY": str(secret)})
        assert proc.returncode == 0, describe(proc)
        facts = manifest_of(parse_pack_json(proc.stdout)[0].path)["target_facts"]["snp"]
        block = facts["id_block"]
        assert block is not None, "no ID block: the environment's key was not used"
        assert block["signature_valid"] is True and block["throwaway_key"] is False
        return block

    write_key()
    first = packed_id_block()
    write_key()
    second = packed_id_block()
    assert second["id_key_sha384"] != first["id_key_sha384"], "the rotated key did not sign the re-pack"

    bad = run_cli("pack", project, "--target", "snp", "--out-dir", out,
                  env={"LITEBOX_SNP_ID_KEY": str(tmp_path / "missing.pem")})
    assert bad.returncode != 0, describe(bad)
    assert "LITEBOX_SNP_ID_KEY=" in bad.stderr and "[target.snp].id_key): no such file" in bad.stderr, describe(bad)


def test_hsm_flow_digest_out_signature_in(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    project = _project_with(tmp_path, 'id_public_key = "id.pub.pem"\n')
    (project / "id.pub.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    proc = run_cli("pack", project, "--target", "snp", "--out-dir", tmp_path / "out", "--json")
    assert proc.returncode == 0, describe(proc)
    art = parse_pack_json(proc.stdout)[0].path
    to_sign = art.with_name(art.name + ".id-block")
    block = to_sign.read_bytes()
    assert len(block) == 96 and block[:48].hex() == manifest_of(art)["target_facts"]["snp"]["launch_digest"]
    assert manifest_of(art)["target_facts"]["snp"]["id_block"] is None  # not signed yet

    (project / "sig.der").write_bytes(key.sign(block[:95] + bytes([block[95] ^ 1]), ec.ECDSA(hashes.SHA384())))
    with open(project / "litebox.toml", "a", encoding="utf-8") as f:
        f.write('id_signature = "sig.der"\n')
    bad = run_cli("pack", project, "--target", "snp", "--out-dir", tmp_path / "bad")
    assert bad.returncode != 0 and "does not sign this ID block" in bad.stderr, describe(bad)

    (project / "sig.der").write_bytes(key.sign(block, ec.ECDSA(hashes.SHA384())))
    proc = run_cli("pack", project, "--target", "snp", "--out-dir", tmp_path / "signed", "--json")
    assert proc.returncode == 0, describe(proc)
    signed = parse_pack_json(proc.stdout)[0].path
    facts = json.loads(run_cli("inspect", signed, "--json").stdout)["target_facts"]
    assert facts["matches_manifest"] is True
    assert facts["recomputed"]["snp"]["id_block"]["signature_valid"] is True
    assert facts["recomputed"]["snp"]["id_block"]["throwaway_key"] is False


ATTESTATION_WITHOUT_HARDWARE = (
    b"entry attestation_type\nentry report\nentry user_report_data\n"
    b"type none (4 bytes)\n"
    b"short write: -1 EINVAL\nwrite: 64\nread back: 64 same\n"
    b"open report for writing: EACCES\n"
    b"report: ENODEV\n"
)


@needs_qemu
def test_attestation_files_without_snp_hardware(tmp_path: Path) -> None:
    """/dev/attestation on the native boot: the files exist, the report data round-trips, and
    the report is ENODEV (no SEV-SNP here); linux-userland (no hardware report either) agrees."""
    prog = tmp_path / "attestation"
    cc = subprocess.run(["cc", "-static", "-O1", "-o", prog, REPO / "tests/e2e/programs/attestation.c"],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    proc = run_cli("pack", prog, "--target", "snp", "--target", "linux-userland", "--out-dir", tmp_path / "dist",
                   "--json")
    assert proc.returncode == 0, describe(proc)
    arts = {a.target: a.path for a in parse_pack_json(proc.stdout)}
    snp = run_snp(arts["snp"], [])
    assert (snp.stdout, snp.returncode) == (ATTESTATION_WITHOUT_HARDWARE, 0), describe(snp)
    ref = run_program([arts["linux-userland"]])
    assert (ref.stdout, ref.returncode) == (ATTESTATION_WITHOUT_HARDWARE, 0), describe(ref)


@needs_qemu
def test_host_arguments_are_ignored_under_the_snp_rules_unless_admitted(packed: PackedExamples,
                                                                        tmp_path: Path) -> None:
    """Under SEV-SNP the kernel drops what the measured start info does not admit
    (`[target.snp] host_input`, default nothing): tried on the native boot with
    LITEBOX_SNP_HOST_RULES=1. The default artifact runs with the image's argv and environment
    only; one that admits args gets them; the manifest records the choice."""
    default = packed.get("hello-static", "snp")
    assert manifest_of(default)["target_facts"]["snp"]["host_input"] == []
    rules = litebox_e2e.kvm_env(90, {"LITEBOX_SNP_HOST_RULES": "1", "LITEBOX_EXAMPLE_PASS": "from-host"})
    argv = litebox_e2e.kvm_argv(default, ["host-arg", "--getenv", "LITEBOX_EXAMPLE_PASS"])
    plain = subprocess.run(argv, env=litebox_e2e.kvm_env(90, {"LITEBOX_EXAMPLE_PASS": "from-host"}), cwd=REPO,
                           capture_output=True, timeout=300)
    ruled = subprocess.run(argv, env=rules, cwd=REPO, capture_output=True, timeout=300)
    ref = run_program([packed.get("hello-static", "linux-userland")])
    assert ruled.returncode == 0, describe(ruled)
    assert b"host-arg" in plain.stdout and b"from-host" in plain.stdout, describe(plain)
    assert ruled.stdout == ref.stdout, describe(ruled)

    project = copy_example("hello-static", tmp_path)
    with (project / "litebox.toml").open("a") as f:
        f.write('\n[target.snp]\nhost_input = ["args"]\n')
    proc = run_cli("pack", project, "--target", "snp", "--out-dir", tmp_path / "dist", "--json")
    assert proc.returncode == 0, describe(proc)
    (art,) = parse_pack_json(proc.stdout)
    assert manifest_of(art.path)["target_facts"]["snp"]["host_input"] == ["args"]
    admitted = subprocess.run(litebox_e2e.kvm_argv(art.path, ["host-arg", "--getenv", "LITEBOX_EXAMPLE_PASS"]),
                              env=rules, cwd=REPO, capture_output=True, timeout=300)
    assert admitted.returncode == 0, describe(admitted)
    assert b"host-arg" in admitted.stdout and b"from-host" not in admitted.stdout, describe(admitted)


@needs_qemu
def test_a_killed_runner_leaves_nothing_the_next_run_does_not_sweep(packed: PackedExamples, tmp_path: Path) -> None:
    """SIGKILL to `litebox run` of an snp artifact (nothing of it runs after that) ends its
    QEMU, and the directories it leaves (the boot blob's, tens of MB, and QEMU's run
    directory) are kvm-run directories naming it, which the next run removes
    (qemu.sweep_stale_run_dirs): killed runs do not fill /tmp."""
    src = tmp_path / "spin.c"
    src.write_text('#include <stdio.h>\nint main(void) { puts("spinning"); fflush(stdout); for (;;) {} }\n')
    exe = tmp_path / "spin"
    cc = subprocess.run(["cc", "-O0", "-static", "-o", exe, src], capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr
    made = run_cli("pack", exe, "--target", "snp", "--out-dir", tmp_path / "dist", "--json")
    assert made.returncode == 0, describe(made)
    (art,) = parse_pack_json(made.stdout)
    runs = tmp_path / "tmp"
    runs.mkdir()
    env = litebox_e2e.kvm_env(90, {"TMPDIR": str(runs)})
    pid = litebox_e2e.kill_spinning_runner(litebox_e2e.kvm_argv(art.path, []), env)
    left = sorted(p.name for p in runs.iterdir())
    assert left and all(n.startswith("kvm-run-") and n.split("-")[3] == str(pid) for n in left), left
    done = subprocess.run(litebox_e2e.kvm_argv(packed.get("hello-static", "snp"), ["--exit", "3"]), env=env,
                          cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
    assert done.returncode == 3, done.stderr
    assert list(runs.iterdir()) == []
