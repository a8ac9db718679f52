"""The snp plugin's pure parts on a crafted kernel ELF (no cargo, no QEMU): the IGVM writer and
reader, the SNP launch digest checked against PyPI's sev-snp-measure (an implementation we did
not write), tampering, and the QEMU 7.2 loader's boot blob."""

from __future__ import annotations

import hashlib
import struct

import pytest

from packager.errors import PackError
from packager.targets.targets import get

snp = get("snp").module
igvm, launch_digest, layout, loader = snp.igvm, snp.launch_digest, snp.layout, snp.loader

ENTRY = 0x100000
MEMORY = 64 << 20


def crafted_kernel() -> bytes:
    """A 64-bit ELF with two PT_LOADs at 1 MiB: 3 pages of varied code bytes (the second
    segment starts mid-page) and a .bss-like tail of zero pages."""
    text = bytes((i * 7 + 3) & 0xFF for i in range(3 * 4096))
    data = b"DATA" * 700  # 2800 bytes
    segs = [(ENTRY, text, len(text)), (ENTRY + 0x3800, data, 0x3000)]
    phoff = 64
    body_off = 0x1000
    out = bytearray(body_off)
    phdrs = b""
    for pa, content, memsz in segs:
        phdrs += struct.pack("<IIQQQQQQ", 1, 5, len(out), pa, pa, len(content), memsz, 0x1000)
        out += content
    out[:64] = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9) + struct.pack(
        "<HHIQQQIHHHHHH", 2, 62, 1, ENTRY, phoff, 0, 0, 64, 56, len(segs), 64, 0, 0)
    out[phoff:phoff + len(phdrs)] = phdrs
    return bytes(out)


@pytest.fixture(scope="module")
def guest() -> igvm.IgvmFile:
    return layout.build(crafted_kernel(), ENTRY, MEMORY, launch_digest.DEFAULT_POLICY)


@pytest.fixture(scope="module")
def blob(guest: igvm.IgvmFile) -> bytes:
    return igvm.write(guest)


def test_fixed_header_and_determinism(guest: igvm.IgvmFile, blob: bytes) -> None:
    magic, version, vh_off, vh_size, total, _crc, arch, page = struct.unpack_from("<8I", blob)
    assert (magic, version, arch, page) == (0x4D564749, 2, 0, 4096)
    assert blob[:4] == b"IGVM" and total == len(blob) and vh_off == 32 and vh_size % 8 == 0
    again = layout.build(crafted_kernel(), ENTRY, MEMORY, launch_digest.DEFAULT_POLICY)
    assert igvm.write(again) == blob


def test_read_gives_back_what_was_written(guest: igvm.IgvmFile, blob: bytes) -> None:
    back = igvm.read(blob)
    assert back.platforms == guest.platforms and back.policies == guest.policies
    assert back.directives == guest.directives


def test_pages_and_contexts(guest: igvm.IgvmFile) -> None:
    pages = {d.gpa: d for d in guest.directives if isinstance(d, igvm.PageData) and d.mask == layout.BOTH}
    kernel = crafted_kernel()
    assert pages[ENTRY].data == kernel[0x1000:0x2000]
    # The second segment starts at +0x3800: the page at +0x3000 holds 0x800 zero bytes, then data.
    assert pages[ENTRY + 0x3000].data[:0x800] == bytes(0x800)
    assert pages[ENTRY + 0x3000].data[0x800:0x1000] == (b"DATA" * 700)[:0x800]
    assert pages[ENTRY + 0x5000].data == b""  # all-zero: file offset 0
    native = next(d for d in guest.directives if isinstance(d, igvm.VpContext) and d.mask == layout.NATIVE_MASK)
    ctx = igvm.parse_native_context(native.data)
    assert (ctx["rip"], ctx["cr0"], ctx["code_attributes"]) == (ENTRY, 0x11, 0xC09B)
    start_info = pages[ctx["rbx"]].data
    assert struct.unpack_from("<II", start_info) == (0x336EC578, 1)
    vmsa = launch_digest.snp_vmsas(guest)[0]
    assert struct.unpack_from("<Q", vmsa, 0x178)[0] == ENTRY  # rip
    assert struct.unpack_from("<Q", vmsa, 0x318)[0] == ctx["rbx"]  # rbx
    assert struct.unpack_from("<Q", vmsa, 0x3B0)[0] == 1  # SNPActive


@pytest.mark.parametrize("damage, message", [
    (lambda b: b"XGVM" + b[4:], "bad magic"),
    (lambda b: b[:4] + struct.pack("<I", 1) + b[8:], "unsupported IGVM revision"),
    (lambda b: b[:40] + bytes([b[40] ^ 1]) + b[41:], "checksum"),
    (lambda b: b[:-1], "sizes do not match"),
])
def test_reader_refuses_damage(blob: bytes, damage: object, message: str) -> None:
    with pytest.raises(igvm.IgvmError, match=message):
        igvm.read(damage(blob))  # type: ignore[operator]


def test_reader_refuses_unknown_required_header(guest: igvm.IgvmFile) -> None:
    odd = igvm.IgvmFile(guest.platforms, guest.policies,
                        [*guest.directives, igvm.Parameter(0x3FF, 0, 0)])
    with pytest.raises(igvm.IgvmError, match="unknown directive type 0x3ff"):
        igvm.read(igvm.write(odd))


def gctx_digest(f: igvm.IgvmFile, vcpus: int) -> str:
    """The launch digest by sev-snp-measure's GCTX, driven straight from the file's directives
    (the QEMU/KVM convention: data-less pages are ZERO pages, VMSAs last, one per vCPU)."""
    gctx_mod = pytest.importorskip("sevsnpmeasure.gctx")
    gctx = gctx_mod.GCTX()
    sizes = {}
    vmsa = None
    for d in f.directives:
        if isinstance(d, igvm.ParameterArea):
            sizes[d.index] = d.size
        if getattr(d, "mask", 0) & layout.SNP_MASK == 0:
            continue
        if isinstance(d, igvm.PageData):
            if d.data_type == igvm.PAGE_SECRETS:
                gctx.update_secrets_page(d.gpa)
            elif d.data_type == igvm.PAGE_CPUID:
                gctx.update_cpuid_page(d.gpa)
            elif d.data:
                gctx.update_normal_pages(d.gpa, d.data)
            else:  # QEMU hands a run of data-less pages to KVM as ZERO pages
                gctx.update_zero_pages(d.gpa, 4096)
        elif isinstance(d, igvm.ParameterInsert):
            gctx.update_unmeasured_pages(d.gpa, sizes[d.index])
        elif isinstance(d, igvm.VpContext):
            vmsa = d.data
    for _ in range(vcpus):
        gctx.update_vmsa_page(vmsa)
    return gctx.hex_ld()


@pytest.mark.parametrize("vcpus", [1, 2])
def test_digest_equals_sev_snp_measure(guest: igvm.IgvmFile, vcpus: int) -> None:
    ours = launch_digest.launch_digest(guest, launch_digest.DigestInputs(vcpus=vcpus))
    assert ours.hex() == gctx_digest(guest, vcpus)


def _digest(data: bytes) -> bytes:
    return launch_digest.launch_digest(igvm.read(data))


def test_one_page_byte_changes_the_digest(guest: igvm.IgvmFile, blob: bytes) -> None:
    page = next(d.data for d in guest.directives if isinstance(d, igvm.PageData) and d.data)
    at = blob.index(page) + 100
    tampered = blob[:at] + bytes([blob[at] ^ 1]) + blob[at + 1:]
    assert _digest(tampered) != _digest(blob)


def test_one_vmsa_byte_changes_the_digest(guest: igvm.IgvmFile, blob: bytes) -> None:
    vmsa = launch_digest.snp_vmsas(guest)[0]
    at = blob.index(vmsa) + 0x178  # rip
    tampered = blob[:at] + bytes([blob[at] ^ 1]) + blob[at + 1:]
    assert _digest(tampered) != _digest(blob)
    assert launch_digest.launch_digest(igvm.read(tampered), launch_digest.DigestInputs(vmm="igvm")) != \
        launch_digest.launch_digest(igvm.read(blob), launch_digest.DigestInputs(vmm="igvm"))


def test_policy_is_not_in_the_page_chain_but_is_recorded(guest: igvm.IgvmFile) -> None:
    """The SNP firmware reports the policy beside the measurement, not inside it: a file
    whose policy was changed has the same digest and a different recorded guest_policy."""
    debug = igvm.IgvmFile(guest.platforms, [igvm.GuestPolicy(layout.SNP_MASK, 0x30000 | launch_digest.POLICY_DEBUG)],
                          guest.directives)
    a, b = snp.measurement(guest, 1, "qemu-kvm"), snp.measurement(debug, 1, "qemu-kvm")
    assert a["launch_digest"] == b["launch_digest"]
    assert (a["guest_policy"]["debug"], b["guest_policy"]["debug"]) == (False, True)


def test_vcpus_and_vmm_change_the_digest(guest: igvm.IgvmFile) -> None:
    digests = {launch_digest.launch_digest(guest, launch_digest.DigestInputs(v, m)).hex()
               for v in (1, 2) for m in ("qemu-kvm",)} | {launch_digest.launch_digest(
                   guest, launch_digest.DigestInputs(1, "igvm")).hex()}
    assert len(digests) == 3


def test_page_info_layout() -> None:
    info = launch_digest.page_info(bytes(48), hashlib.sha384(bytes(4096)).digest(), 1, 0x1000)
    assert len(info) == 0x70
    assert struct.unpack_from("<HBB", info, 96) == (0x70, 1, 0)
    assert struct.unpack_from("<Q", info, 104)[0] == 0x1000


def test_policy_option_requires_the_reserved_bit() -> None:
    assert snp.parse_policy("0x30000") == 0x30000
    with pytest.raises(Exception, match="bit 17"):
        snp.parse_policy("0x10000")


# ---------------------------------------------------------------------------------------------
# The QEMU 7.2 loader


def test_loader_places_native_pages_and_fills_parameters(guest: igvm.IgvmFile) -> None:
    pages, ctx, memory = loader.native_pages(guest, b"litebox.arg=hi")
    assert memory == MEMORY
    cmd_area = next(d.gpa for d in guest.directives if isinstance(d, igvm.ParameterInsert) and d.index == 0)
    assert pages[cmd_area].startswith(b"litebox.arg=hi\0")
    mm_area = next(d.gpa for d in guest.directives if isinstance(d, igvm.ParameterInsert) and d.index == 1)
    assert struct.unpack_from("<QQ", pages[mm_area], 24) == (0x100, (MEMORY - 0x100000) // 4096)
    snp_only = {d.gpa for d in guest.directives if isinstance(d, igvm.PageData) and d.mask == layout.SNP_MASK}
    assert not snp_only & set(pages), "SNP-only pages (secrets, CPUID) must not be placed natively"


def test_loader_stub_loads_registers_then_jumps(guest: igvm.IgvmFile) -> None:
    _pages, ctx, _ = loader.native_pages(guest, b"")
    stub = loader.entry_stub(ctx, 0x400000)
    assert stub[15:20] == b"\xbb" + struct.pack("<I", ctx["rbx"])  # mov ebx, start_info
    assert stub[40:42] == b"\xff\x25" and struct.unpack_from("<II", stub, 42) == (0x400000 + 46, ENTRY)


def test_loader_refuses_a_64_bit_context(guest: igvm.IgvmFile) -> None:
    long_mode = igvm.native_context(rip=ENTRY, cr0=0x80000011, cr3=0x1000, efer=0x500, code_attributes=0xA09B,
                                    data_attributes=0xC093, code_limit=0xFFFFFFFF, data_limit=0xFFFFFFFF)
    directives = [igvm.VpContext(0, d.mask, long_mode) if isinstance(d, igvm.VpContext) and d.mask == 1 else d
                  for d in guest.directives]
    with pytest.raises(loader.LoaderError, match="flat 32-bit protected mode"):
        loader.native_pages(igvm.IgvmFile(guest.platforms, guest.policies, directives), b"")


def test_loader_refuses_what_it_does_not_model(guest: igvm.IgvmFile) -> None:
    odd = [*guest.directives[:1], igvm.PageData(0x200000, layout.NATIVE_MASK, b"", igvm.PAGE_CPUID),
           *guest.directives[1:]]
    with pytest.raises(loader.LoaderError, match="page of type 2"):
        loader.native_pages(igvm.IgvmFile(guest.platforms, guest.policies, odd), b"")


def test_boot_blob_is_a_pvh_elf(guest: igvm.IgvmFile) -> None:
    data, _memory = loader.boot_blob(guest, b"")
    assert data[:4] == b"\x7fELF"
    phnum = struct.unpack_from("<H", data, 56)[0]
    heads = [struct.unpack_from("<IIQQQQQQ", data, 64 + 56 * i) for i in range(phnum)]
    loads = [h for h in heads if h[0] == 1]
    note = next(h for h in heads if h[0] == 4)
    stub_at = struct.unpack_from("<I", data, note[2] + 16)[0]
    assert any(h[4] <= stub_at < h[4] + h[6] for h in loads)
    assert any(h[4] == ENTRY for h in loads)


def test_loader_passes_a_boot_module_through_the_free_parameter_area(guest: igvm.IgvmFile) -> None:
    module = b"LBXBOOT1" + bytes(5000)
    data, _memory = loader.boot_blob(guest, b"", module)
    free: set[int] = set()
    pages, ctx, _ = loader.native_pages(guest, b"", free)
    modlist = struct.unpack_from("<Q", pages[ctx["rbx"]], 16)[0]
    assert modlist in free
    assert module in data  # placed whole, past every IGVM page
    entry_at = data.index(struct.pack("<Q", len(module))) - 8
    module_gpa = struct.unpack_from("<Q", data, entry_at)[0]
    assert module_gpa > max(pages)


def test_loader_refuses_a_module_list_in_measured_memory(guest: igvm.IgvmFile) -> None:
    area = (igvm.ParameterArea, igvm.ParameterInsert)
    without_area = [d for d in guest.directives if not (isinstance(d, area) and d.index == layout.MODULES_AREA)]
    f = igvm.IgvmFile(guest.platforms, guest.policies, without_area)
    assert loader.boot_blob(f, b"")[0][:4] == b"\x7fELF"  # no module asked for: fine
    with pytest.raises(loader.LoaderError, match="no module list in a host-written parameter area"):
        loader.boot_blob(f, b"", b"LBXBOOT1")


# ---------------------------------------------------------------------------------------------
# The ID block

id_block = snp.id_block


def test_id_block_layout() -> None:
    fields = id_block.Fields(bytes(range(16)), bytes(range(16, 32)), 7, 0x30000)
    data = id_block.block(bytes(range(48)), fields)
    assert len(data) == 0x60
    assert data[:48] == bytes(range(48)) and data[48:64] == bytes(range(16))
    assert struct.unpack_from("<IIQ", data, 80) == (1, 7, 0x30000)


def test_sign_and_verify_with_the_throwaway_key() -> None:
    key = id_block.throwaway_key()
    assert id_block.throwaway_key().private_numbers() == key.private_numbers()  # the same everywhere
    data = id_block.block(bytes(48), id_block.Fields(policy=0x30000))
    r, s = id_block.sign(key, data)
    assert (r, s) == id_block.sign(key, data)  # deterministic (RFC 6979): reproducible artifacts
    sig, pub = id_block.signature_field(r, s), id_block.public_key_field(key.public_key())
    assert len(sig) == 144 and len(pub) == 152 and struct.unpack_from("<I", pub)[0] == 2
    assert id_block.verify(data, sig, pub) and id_block.is_throwaway(pub)
    tampered = data[:90] + bytes([data[90] ^ 1]) + data[91:]  # the policy
    assert not id_block.verify(tampered, sig, pub)


def test_an_external_der_signature_is_accepted() -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    data = id_block.block(bytes(48), id_block.Fields())
    der = key.sign(data, ec.ECDSA(hashes.SHA384()))  # what openssl or a KMS returns
    r, s = id_block.signature_from_file(der, "sig.der")
    pub = id_block.public_key_field(key.public_key())
    assert id_block.verify(data, id_block.signature_field(r, s), pub)
    assert not id_block.is_throwaway(pub)
    raw = r.to_bytes(48, "big") + s.to_bytes(48, "big")
    assert id_block.signature_from_file(raw, "sig.bin") == (r, s)
    with pytest.raises(id_block.IdBlockError, match="sig.txt"):
        id_block.signature_from_file(b"not a signature", "sig.txt")


def test_wrong_curve_key_is_refused() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(id_block.IdBlockError, match="P-384"):
        id_block.load_private_key(pem, "k.pem")


def test_the_file_carries_a_signed_id_block(guest: igvm.IgvmFile) -> None:
    ld = launch_digest.launch_digest(guest)
    header = snp._id_block(ld, snp.id_fields({"guest_svn": 3}, 0x30000), {"id_key_throwaway": True})
    f = igvm.IgvmFile(guest.platforms, guest.policies, [*guest.directives, header])
    back = igvm.read(igvm.write(f))
    assert launch_digest.launch_digest(back) == ld  # the ID block is not measured
    facts = snp.id_block_facts(back, ld.hex())
    assert facts["signature_valid"] and facts["ld_is_launch_digest"] and facts["throwaway_key"]
    assert facts["guest_svn"] == 3
    # Another policy in the file than the one signed: the signature no longer checks.
    other = igvm.IgvmFile(back.platforms, [igvm.GuestPolicy(layout.SNP_MASK, 0x30000 | launch_digest.POLICY_DEBUG)],
                          back.directives)
    assert snp.id_block_facts(other, ld.hex())["signature_valid"] is False


def test_the_snp_vmsa_tells_the_kernel_it_runs_under_snp(guest: igvm.IgvmFile) -> None:
    """The SNP VMSA (not the native context) carries the marker, the C-bit position and
    EFER.SCE/LME; another C-bit position changes the VMSA and so the digest."""
    vmsa = launch_digest.snp_vmsas(guest)[0]
    assert launch_digest.vmsa_cbit(vmsa) == 51
    off = launch_digest.VMSA_OFFSETS
    assert struct.unpack_from("<Q", vmsa, off["rdi"])[0] == 0x31504E53
    assert struct.unpack_from("<Q", vmsa, off["efer"])[0] & 0x1101 == 0x1101
    native = next(d for d in guest.directives if isinstance(d, igvm.VpContext) and d.mask == layout.NATIVE_MASK)
    assert igvm.parse_native_context(native.data).get("rdi", 0) == 0
    other = layout.build(crafted_kernel(), ENTRY, MEMORY, launch_digest.DEFAULT_POLICY, cbit=47)
    assert launch_digest.vmsa_cbit(launch_digest.snp_vmsas(other)[0]) == 47
    inputs = launch_digest.DigestInputs(1, "qemu-kvm")
    assert launch_digest.launch_digest(other, inputs) != launch_digest.launch_digest(guest, inputs)
    with pytest.raises(ValueError):
        launch_digest.vmsa_from_native(igvm.parse_native_context(native.data), cbit=52)


def test_cbit_and_host_input_options() -> None:
    assert snp.parse_cbit("48") == 48
    for bad in (31, 52, "x"):
        with pytest.raises(PackError, match=r"\[target.snp\].cbit"):
            snp.parse_cbit(bad)
    assert snp.parse_host_input(["args", "stdin"]) == 5
    with pytest.raises(PackError, match="unknown host input 'argv'"):
        snp.parse_host_input(["argv"])


def test_host_input_is_recorded_in_the_measured_start_info(guest: igvm.IgvmFile) -> None:
    assert snp.host_input_facts(guest) == []
    admitted = layout.build(crafted_kernel(), ENTRY, MEMORY, launch_digest.DEFAULT_POLICY,
                            host_bits=layout.host_rules_bits(["env", "debug"]))
    assert snp.host_input_facts(admitted) == ["env", "debug"]
    inputs = launch_digest.DigestInputs(1, "qemu-kvm")
    assert launch_digest.launch_digest(admitted, inputs) != launch_digest.launch_digest(guest, inputs)
