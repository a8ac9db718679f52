"""Target plugin: snp — an IGVM file (revision 2, x64) with two platforms, SEV-SNP and native,
and its SNP launch measurement in the manifest.

The guest is the kvm target's VM kernel (``litebox-runtime-kvm``, over ``core/vmkernel``) with
the image as a loaded segment, laid out as IGVM page data (``layout.py``, written by
``igvm.py``). The SNP launch digest is computed at pack time (``launch_digest.py``) and
recorded, with every input of it, under the manifest's ``target_facts.snp``. ``litebox run``
boots the NATIVE platform in QEMU through our own loader (``loader.py``): QEMU 7.2 has none.
The SNP machine layer (PVALIDATE, GHCB, #VC) is not written yet: see docs/targets/snp.md.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import struct
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

from packager.build.artifact import IMAGE_SECTION, MANIFEST_SECTION, atomic_output, read_sections, section_trailer
from packager.errors import PackError
from packager.paths import display_path
from packager.targets.targetapi import (
    BuildContext,
    Capabilities,
    CargoTarget,
    Check,
    ExtraStep,
    OptionSpec,
    StepContext,
)

HERE = Path(__file__).resolve().parent
KVM = HERE.parent / "kvm"
OVERRIDE_ENV = "LITEBOX_RUNTIME_SNP"
# `litebox run`: boot the native platform with the SNP platform's host-input rules.
SNP_HOST_RULES_ENV = "LITEBOX_SNP_HOST_RULES"
MEMORY = 512 << 20  # the kvm runner's -m 512M


def _load(path: Path, name: str) -> ModuleType:
    """Loads ``path`` as module ``name`` (plugins are loaded by path, not as a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PackError(f"{path}: cannot load")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# Loaded under prefixed names, which the siblings import each other by.
igvm = _load(HERE / "igvm.py", "litebox_target_snp_igvm")
launch_digest = _load(HERE / "launch_digest.py", "litebox_target_snp_launch_digest")
layout = _load(HERE / "layout.py", "litebox_target_snp_layout")
loader = _load(HERE / "loader.py", "litebox_target_snp_loader")
id_block = _load(HERE / "id_block.py", "litebox_target_snp_id_block")
pvh_elf = _load(KVM / "pvh_elf.py", "litebox_target_snp_pvh_elf")
qemu = _load(KVM / "qemu.py", "litebox_target_snp_qemu")


def parse_policy(value: Any) -> int:
    """The guest policy from the option (an integer or a "0x..." string); PackError if bit 17
    (must be one) is clear or it does not fit 64 bits."""
    try:
        policy = int(value, 0) if isinstance(value, str) else int(value)
    except ValueError:
        raise PackError(f"[target.snp].policy = {value!r} is not an integer") from None
    if not 0 <= policy < 1 << 64 or not policy & launch_digest.POLICY_RESERVED_ONE:
        raise PackError(f"[target.snp].policy = {value!r}: bit 17 must be set (SNP firmware ABI)")
    return policy


def _hex16(options: Mapping[str, Any], key: str) -> bytes:
    value = str(options.get(key) or "0" * 32)
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != 16:
        raise PackError(f"[target.snp].{key} = {value!r}: 32 hex digits (16 bytes)")
    return raw


def parse_cbit(value: Any) -> int:
    """The C-bit position the measured VMSA hands the kernel; PackError unless 32..51."""
    try:
        cbit = int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise PackError(f"[target.snp].cbit = {value!r} is not an integer") from None
    if not 32 <= cbit <= 51:
        raise PackError(f"[target.snp].cbit = {value!r}: the C-bit position must be 32..51 "
                        "(CPUID 0x8000001F EBX[5:0]; 51 on EPYC Milan, Genoa, Turin)")
    return cbit


def parse_host_input(value: Any) -> int:
    """The host-input bits of ``[target.snp] host_input``; PackError on an unknown name."""
    try:
        return layout.host_rules_bits(list(value))
    except ValueError as exc:
        raise PackError(f"[target.snp].host_input: {exc}") from None


def host_input_facts(f: Any) -> list[str] | None:
    """What the file's measured start info lets the kernel take from the host under SNP."""
    for d in f.directives:
        if isinstance(d, igvm.PageData) and d.mask & layout.SNP_MASK and d.data[:4] == struct.pack(
                "<I", layout.START_INFO_MAGIC):
            return layout.host_rules_of(d.data)
    return None


def id_fields(options: Mapping[str, Any], policy: int) -> Any:
    """The ID block's signed fields besides the digest, from the options."""
    svn = int(options.get("guest_svn") or 0)
    if not 0 <= svn < 1 << 32:
        raise PackError(f"[target.snp].guest_svn = {svn}: a 32-bit unsigned integer")
    return id_block.Fields(_hex16(options, "family_id"), _hex16(options, "image_id"), svn, policy)


def _read(options: Mapping[str, Any], key: str) -> tuple[bytes, str]:
    path = Path(str(options[key]))
    try:
        return path.read_bytes(), f"[target.snp].{key} ({display_path(path)})"
    except OSError as exc:
        raise PackError(f"[target.snp].{key}: {display_path(path)}: {exc.strerror}") from None


def signing_mode(options: Mapping[str, Any]) -> str:
    """How the ID block is signed: "key", "throwaway", "signature", "digest-out" or "none"."""
    if options.get("id_key"):
        return "key"
    if options.get("id_key_throwaway"):
        return "throwaway"
    if options.get("id_public_key"):
        return "signature" if options.get("id_signature") else "digest-out"
    if options.get("id_signature"):
        raise PackError("[target.snp].id_signature needs id_public_key (the key that made it)")
    return "none"


def _id_block(ld: bytes, fields: Any, options: Mapping[str, Any]) -> Any:
    """The SNP_ID_BLOCK header for ``ld``, signed as the options say; None when unsigned."""
    mode = signing_mode(options)
    data = id_block.block(ld, fields)
    try:
        if mode in ("key", "throwaway"):
            if mode == "throwaway":
                key = id_block.throwaway_key()
            else:
                key = id_block.load_private_key(*_read(options, "id_key"))
            sig = id_block.signature_field(*id_block.sign(key, data))
            pub = id_block.public_key_field(key.public_key())
        elif mode == "signature":
            pub = id_block.public_key_field(id_block.load_public_key(*_read(options, "id_public_key")))
            raw, where = _read(options, "id_signature")
            sig = id_block.signature_field(*id_block.signature_from_file(raw, where))
            if not id_block.verify(data, sig, pub):
                raise PackError(f"{where} does not sign this ID block with id_public_key: the launch digest or "
                                "the signed fields changed; sign the new NAME-snp.igvm.id-block again")
        else:
            return None
    except id_block.IdBlockError as exc:
        raise PackError(str(exc)) from None
    return igvm.SnpIdBlock(layout.SNP_MASK, ld, fields.family_id, fields.image_id, id_block.ID_BLOCK_VERSION,
                           fields.guest_svn, id_block.ALGO_ECDSA_P384_SHA384, sig, pub)


def guest_file(runtime: Path, image: bytes, options: Mapping[str, Any]) -> Any:
    """The IGVM structure for this runtime, image and options (deterministic), with the ID
    block when the options sign one."""
    kernel = runtime.read_bytes()
    policy = parse_policy(options.get("policy", "0x30000"))
    try:
        elf = pvh_elf.build(kernel, image, b"")
        entry = pvh_elf.pvh_entry(kernel)
        f = layout.build(elf, entry, MEMORY, policy, parse_cbit(options.get("cbit", launch_digest.DEFAULT_CBIT)),
                         parse_host_input(options.get("host_input") or []))
    except (pvh_elf.KernelError, layout.LayoutError) as exc:
        raise PackError(f"{display_path(runtime)}: {exc}") from None
    inputs = launch_digest.DigestInputs(int(options.get("vcpus") or 1), str(options.get("vmm") or "qemu-kvm"))
    header = _id_block(launch_digest.launch_digest(f, inputs), id_fields(options, policy), options)
    if header is not None:
        f.directives.append(header)
    return f


def id_block_facts(f: Any, expected_ld: str) -> dict[str, Any] | None:
    """The file's ID block as facts: fields, whether its digest is the launch digest and
    whether the signature checks; None without one."""
    found = [d for d in f.directives if isinstance(d, igvm.SnpIdBlock)]
    if not found:
        return None
    b = found[0]
    policy = f.policies[0].policy
    data = id_block.block(b.ld, id_block.Fields(b.family_id, b.image_id, b.guest_svn, policy))
    return {
        "ld": b.ld.hex(),
        "ld_is_launch_digest": b.ld.hex() == expected_ld,
        "family_id": b.family_id.hex(),
        "image_id": b.image_id.hex(),
        "version": b.version,
        "guest_svn": b.guest_svn,
        "policy": f"{policy:#x}",
        "id_key_algorithm": "ECDSA P-384 with SHA-384" if b.id_key_algorithm == 1 else b.id_key_algorithm,
        "id_key_sha384": hashlib.sha384(b.public_key).hexdigest(),
        "throwaway_key": id_block.is_throwaway(b.public_key),
        "signature_valid": id_block.verify(data, b.signature, b.public_key),
    }


def measurement(f: Any, vcpus: int, vmm: str) -> dict[str, Any]:
    """The launch digest of ``f``'s SEV-SNP platform and every input that changes it (the
    digest under each VMM convention too)."""
    policy = f.policies[0].policy
    vmsa = launch_digest.snp_vmsas(f)[0]
    digests = {v: launch_digest.launch_digest(f, launch_digest.DigestInputs(vcpus, v)).hex()
               for v in launch_digest.VMMS}
    return {
        "launch_digest": digests[vmm],
        "launch_digests": digests,
        "vcpus": vcpus,
        "vmm": vmm,
        "vmsa_gpa": f"{launch_digest.snp_vmsa_gpa(f):#x}",
        "guest_policy": launch_digest.describe_policy(policy),
        "sev_features": f"{int.from_bytes(vmsa[0x3B0:0x3B8], 'little'):#x}",
        "cbit": launch_digest.vmsa_cbit(vmsa),
        "host_input": host_input_facts(f),
        "vmsa_sha384": hashlib.sha384(vmsa).hexdigest(),
        "measured_pages": len(launch_digest.snp_pages(f)),
        "id_block": id_block_facts(f, digests[vmm]),
    }


def measure_artifact(data: bytes) -> dict[str, Any]:
    """Recomputes the measurement from the artifact's bytes alone (IgvmError if unreadable),
    for the vCPU count and VMM its embedded manifest states (1 and qemu-kvm without one)."""
    f = igvm.read(data)
    vcpus, vmm = 1, "qemu-kvm"
    try:
        import json

        stated = json.loads(read_sections(data, (MANIFEST_SECTION,))[MANIFEST_SECTION])["target_facts"]["snp"]
        vcpus, vmm = int(stated["vcpus"]), str(stated["vmm"])
    except (KeyError, ValueError, TypeError, PackError):
        pass
    return measurement(f, vcpus, vmm)


def _launch(data: bytes) -> Any:
    """The image's launch config, or None if it cannot be read (a damaged image is for the
    kernel to refuse, with its own exit code)."""
    from packager.image.imagereader import read_image

    try:
        return read_image(read_sections(data, (IMAGE_SECTION,))[IMAGE_SECTION]).launch
    except Exception:
        return None


def _write_id_block(ctx: StepContext) -> None:
    """Writes the ID block to sign (digest-out), from the sidecar manifest's measurement."""
    import json

    facts = json.loads(ctx.manifest.read_bytes())["target_facts"]["snp"]
    policy = int(facts["guest_policy"]["value"], 16)
    data = id_block.block(bytes.fromhex(facts["launch_digest"]), id_fields(ctx.build.options, policy))
    with atomic_output(ctx.outputs[0]) as tmp:
        tmp.write_bytes(data)


class Plugin(CargoTarget):
    """snp: the VM kernel and image as an IGVM file (SEV-SNP + native platforms)."""

    name = "snp"
    description = ("IGVM file (SEV-SNP + native platforms) with the SNP launch measurement in the manifest; "
                   "`litebox run` boots its native platform in QEMU")
    capabilities = Capabilities(artifact_kind="igvm", rewrites=False, trace_learn=False, artifact_suffix=".igvm")
    options = (
        OptionSpec("runtime", "path", "a prebuilt VM kernel (the kvm target's, ELF with a PVH entry note) "
                   "instead of building it with cargo", env=OVERRIDE_ENV),
        OptionSpec("policy", "string", "the SEV-SNP guest policy (bit 16 SMT allowed, 17 must be one, "
                   "19 debug)", default="0x30000"),
        OptionSpec("cbit", "integer", "the C-bit position the measured VMSA hands the kernel for its page "
                   "tables (checked at boot against CPUID 0x8000001F; 51 on EPYC Milan, Genoa, Turin)",
                   default=51),
        OptionSpec("host_input", "string-list", "what the kernel takes from the (untrusted) host under SEV-SNP: "
                   "any of args (run-time arguments), env (host variables the policy passes), stdin, debug; "
                   "default none (argv and env from the measured image only)", default=[]),
        OptionSpec("vcpus", "integer", "the vCPU count the launch measurement is computed for "
                   "(the kernel runs on one)", default=1, choices=(1,)),
        OptionSpec("vmm", "string", "whose VMSA convention the recorded launch digest follows: qemu-kvm "
                   "(VMSAs last, at 0xfffffffff000) or igvm (in file order, Hyper-V/OpenHCL)",
                   default="qemu-kvm", choices=("qemu-kvm", "igvm")),
        OptionSpec("id_key", "path", "sign the SNP ID block with this ECDSA P-384 private key (PEM)",
                   env="LITEBOX_SNP_ID_KEY"),
        OptionSpec("id_key_throwaway", "boolean", "sign the ID block with LiteBox's public throwaway key "
                   "(testing only: anyone can sign with it)", default=False),
        OptionSpec("id_public_key", "path", "the ID key's public half (PEM) for a key kept in an HSM or KMS: "
                   "without id_signature, packing writes NAME-snp.igvm.id-block to sign"),
        OptionSpec("id_signature", "path", "the HSM/KMS signature (DER, or 96 raw bytes r||s) of "
                   "NAME-snp.igvm.id-block, made with id_public_key's private half"),
        OptionSpec("family_id", "string", "the ID block's family id: 32 hex digits", default="0" * 32),
        OptionSpec("image_id", "string", "the ID block's image id: 32 hex digits", default="0" * 32),
        OptionSpec("guest_svn", "integer", "the ID block's guest security version number", default=0),
    )
    package = "litebox-runtime-kvm"
    what = "the VM kernel"
    override_env = OVERRIDE_ENV
    target_dir = "target/kvm"

    def checks(self) -> list[Check]:
        """Doctor: cargo (or a prebuilt kernel) to build; QEMU to run the native platform."""
        items = []
        override = os.environ.get(OVERRIDE_ENV)
        if override:
            items.append(Check("prebuilt kernel", Path(override).is_file(), f"{OVERRIDE_ENV}={override}"))
        else:
            import shutil

            cargo = shutil.which("cargo")
            items.append(Check("cargo", cargo is not None, cargo or "not found: install Rust"))
        exe = qemu.qemu_path()
        items.append(Check("qemu-system-x86_64 (to run the native platform)", exe is not None,
                           qemu.qemu_description(exe) if exe else qemu.qemu_missing(),
                           required=False))
        items.append(Check("SEV-SNP host (to launch the SNP platform)", False,
                           "not here: no SEV-SNP hardware; see docs/targets/snp.md", required=False))
        return items

    def extra_steps(self, options: Mapping[str, Any]) -> list[ExtraStep]:
        """With id_public_key and no id_signature: ``.id-block``, the 96 bytes to sign."""
        if signing_mode(options) != "digest-out":
            return []
        return [ExtraStep("id-block", (".id-block",), _write_id_block,
                          "the SNP ID block to sign with the HSM/KMS key (SHA-384, ECDSA P-384)")]

    def manifest_facts(self, ctx: BuildContext, runtime: Path, image: bytes) -> dict[str, Any]:
        """The SNP launch measurement and its inputs (``snp``)."""
        options = ctx.options
        if signing_mode(options) == "throwaway":
            ctx.progress.warn("[target.snp] signs the SNP ID block with the PUBLIC THROWAWAY KEY: ANYONE can "
                              "sign an ID block with it. Set id_key (or id_public_key + id_signature) before "
                              "this artifact leaves your machine")
        f = guest_file(runtime, image, options)
        return {"snp": measurement(f, int(options.get("vcpus", 1)), str(options.get("vmm", "qemu-kvm")))}

    def inspect_facts(self, artifact: bytes) -> dict[str, Any]:
        """The SNP launch measurement recomputed from the IGVM file alone."""
        try:
            return {"snp": measure_artifact(artifact)}
        except igvm.IgvmError as exc:
            raise PackError(f"not a readable IGVM file: {exc}") from None

    def assemble(self, ctx: BuildContext, runtime: Path, image: bytes, manifest: bytes, out: Path) -> None:
        """Writes the IGVM file, with the image and manifest in a section trailer after the
        file data (unmeasured, ignored by IGVM loaders); checked by re-reading."""
        data = igvm.write(guest_file(runtime, image, ctx.options))
        data += section_trailer({IMAGE_SECTION: image, MANIFEST_SECTION: manifest}, len(data))
        # The fixed header's total size covers the trailer: it is file data nothing refers to.
        import struct
        import zlib

        fixed = bytearray(data[:32])
        struct.pack_into("<II", fixed, 16, len(data), 0)
        vh_off, vh_size = struct.unpack_from("<II", fixed, 8)
        crc = zlib.crc32(bytes(fixed) + data[vh_off:vh_off + vh_size]) & 0xFFFF_FFFF
        struct.pack_into("<I", fixed, 20, crc)
        data = bytes(fixed) + data[32:]
        igvm.read(data)
        found = read_sections(data)
        if found.get(IMAGE_SECTION) != image or found.get(MANIFEST_SECTION) != manifest:
            raise PackError("the snp artifact does not read back the image and manifest it was given")
        with atomic_output(out) as tmp:
            tmp.write_bytes(data)

    def run(self, artifact: Path, args: list[str], env: dict[str, str] | None = None,
            wait: bool = False) -> int:
        """Boots the artifact's native platform in QEMU through our loader; returns the app's
        exit status. As on kvm: the arguments, the host variables the image's policy admits
        and stdin (when it is not a terminal) go in; stdout, stderr and the status come out."""
        if qemu.qemu_path() is None:
            raise PackError(f"qemu-system-x86_64: {qemu.qemu_missing()}")
        try:
            data = artifact.read_bytes()
        except FileNotFoundError:
            raise PackError(f"{display_path(artifact)}: no such file") from None
        debug = os.environ.get("LITEBOX_LOG") == "debug"
        cmdline = qemu.kernel_cmdline(args, {}, debug).encode()
        if os.environ.get(SNP_HOST_RULES_ENV) == "1":
            # The SNP platform's host-input rules on the native boot (they only take away).
            cmdline += b" litebox.snp-host-rules"
        launch = _launch(data)
        stdin_data = b""
        if not sys.stdin.isatty():
            stdin_data = sys.stdin.buffer.read(qemu.STDIN_LIMIT + 1)
            if len(stdin_data) > qemu.STDIN_LIMIT:
                sys.stderr.write(f"litebox: stdin is larger than {qemu.STDIN_LIMIT >> 20} MiB; the snp target "
                                 "passes stdin to the VM whole, as a boot module (docs/targets/snp.md)\n")
                return qemu.EXIT_VM_FAILED
        app_env = qemu.app_env(launch)
        module = qemu.boot_module(app_env, stdin_data) if app_env or stdin_data else None
        try:
            blob, _memory = loader.boot_blob(igvm.read(data), cmdline, module)
        except (igvm.IgvmError, loader.LoaderError) as exc:
            raise PackError(f"{display_path(artifact)}: {exc}") from None
        net = qemu.launch_net_plan(launch)
        accel, _ = qemu.choose_accel(None)
        timeout = qemu.run_timeout()
        sys.stdout.flush()
        # The blob (tens of MB) goes in a run directory of the kvm runner's kind: if this
        # process is killed (SIGKILL) before it can remove it, the next kvm or snp run sweeps
        # it (qemu.sweep_stale_run_dirs), so killed runs do not fill /tmp.
        with tempfile.TemporaryDirectory(prefix=qemu.run_dir_prefix(), dir=qemu.run_dir_root(len(blob))) as tmp:
            path = Path(tmp) / "boot-blob.elf"
            path.write_bytes(blob)
            try:
                code, rc = qemu.boot(path, "", accel, timeout, None, net=net, forward_signals=True)
            except KeyboardInterrupt:
                return 130
            except OSError as exc:
                sys.stderr.write(f"litebox: cannot start the VM: {exc}\n")
                return qemu.EXIT_VM_FAILED
        if code is not None:
            return code
        sys.stderr.write(f"litebox: the VM ended without reporting an exit status (QEMU exit {rc})\n")
        return qemu.EXIT_TIMEOUT if rc == -9 else qemu.EXIT_VM_FAILED
