"""The SEV-SNP launch digest of an IGVM file's SEV-SNP platform, and the VMSA it starts from.

The digest is the PAGE_INFO chain of the SNP firmware ABI (SNP_LAUNCH_UPDATE): for every page
the loader adds, ``ld = SHA-384(PAGE_INFO)`` where PAGE_INFO (0x70 bytes) is the previous
digest, the SHA-384 of the page's contents (zeroes for zero, unmeasured, secrets and CPUID
pages), length 0x70, page type, IMI 0, three VMPL permission bytes (0) and a reserved byte,
then the page's guest physical address. Parameter-area inserts are UNMEASURED pages.

Two things depend on the VMM, so they are an input (``vmm``):
  qemu-kvm   page data without contents is a ZERO page (QEMU's IGVM loader gives a run of
             such pages to KVM as KVM_SEV_SNP_PAGE_TYPE_ZERO); KVM adds one VMSA per vCPU
             after every page (SNP_LAUNCH_FINISH), at GPA 0xFFFFFFFFF000; application
             processors start from the file's last VMSA.
  igvm       page data without contents is a NORMAL page of zeroes, and the VMSA is a page in
             the file's directive order at the GPA the file gives (the igvm crate's
             measurement, Hyper-V/OpenHCL loaders); ``vcpus`` is ignored.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

try:
    from . import igvm  # type: ignore[import-not-found]
except ImportError:  # loaded by path from target.py
    import litebox_target_snp_igvm as igvm  # type: ignore[no-redef]

PAGE_TYPE_NORMAL = 0x01
PAGE_TYPE_VMSA = 0x02
PAGE_TYPE_ZERO = 0x03
PAGE_TYPE_UNMEASURED = 0x04
PAGE_TYPE_SECRETS = 0x05
PAGE_TYPE_CPUID = 0x06
KVM_VMSA_GPA = 0xFFFF_FFFF_F000
ZERO_DIGEST = bytes(48)

# SEV_FEATURES bit 0: SNPActive.
SEV_FEATURE_SNP_ACTIVE = 0x1
# Guest policy: bit 17 must be one; bit 16 allows SMT. ABI 0.0, no debug, no migration agent.
DEFAULT_POLICY = 0x30000
POLICY_DEBUG = 1 << 19
POLICY_RESERVED_ONE = 1 << 17


VMMS = ("qemu-kvm", "igvm")


@dataclass(frozen=True)
class DigestInputs:
    """What changes the digest besides the file: the VMM convention (see the module doc) and
    the vCPU count."""

    vcpus: int = 1
    vmm: str = "qemu-kvm"


def page_info(ld: bytes, contents_digest: bytes, page_type: int, gpa: int) -> bytes:
    """The 0x70-byte PAGE_INFO structure for one page."""
    return ld + contents_digest + struct.pack("<HBBBBBBQ", 0x70, page_type, 0, 0, 0, 0, 0, gpa)


def _step(ld: bytes, contents_digest: bytes, page_type: int, gpa: int) -> bytes:
    return hashlib.sha384(page_info(ld, contents_digest, page_type, gpa)).digest()


def snp_pages(f: igvm.IgvmFile, with_vmsa: bool = False, zero_pages: bool = False) -> list[tuple[int, int, bytes]]:
    """The SNP platform's pages in load order as (page type, gpa, contents digest): page data
    (normal; with ``zero_pages`` those without contents as ZERO pages; unmeasured, secrets,
    CPUID), parameter-area inserts (unmeasured pages) and, with ``with_vmsa``, the VMSAs where
    the file places them."""
    mask = f.mask_of(igvm.PLATFORM_SEV_SNP)
    sizes = {d.index: d.size for d in f.directives if isinstance(d, igvm.ParameterArea)}
    out: list[tuple[int, int, bytes]] = []
    for d in f.directives:
        if isinstance(d, igvm.PageData) and d.mask & mask:
            if d.data_type == igvm.PAGE_SECRETS:
                out.append((PAGE_TYPE_SECRETS, d.gpa, ZERO_DIGEST))
            elif d.data_type == igvm.PAGE_CPUID:
                out.append((PAGE_TYPE_CPUID, d.gpa, ZERO_DIGEST))
            elif d.flags & igvm.PAGE_FLAG_UNMEASURED:
                out.append((PAGE_TYPE_UNMEASURED, d.gpa, ZERO_DIGEST))
            elif zero_pages and not d.data:
                out.append((PAGE_TYPE_ZERO, d.gpa, ZERO_DIGEST))
            else:
                out.append((PAGE_TYPE_NORMAL, d.gpa, hashlib.sha384(d.data or bytes(igvm.PAGE)).digest()))
        elif isinstance(d, igvm.ParameterInsert) and d.mask & mask:
            for off in range(0, sizes[d.index], igvm.PAGE):
                out.append((PAGE_TYPE_UNMEASURED, d.gpa + off, ZERO_DIGEST))
        elif isinstance(d, igvm.VpContext) and d.mask & mask and with_vmsa:
            out.append((PAGE_TYPE_VMSA, d.gpa, hashlib.sha384(d.data).digest()))
    return out


def snp_vmsas(f: igvm.IgvmFile) -> list[bytes]:
    """The SNP platform's VMSAs, by vp index (IgvmError if vp 0 has none)."""
    mask = f.mask_of(igvm.PLATFORM_SEV_SNP)
    found = {d.vp_index: d.data for d in f.directives if isinstance(d, igvm.VpContext) and d.mask & mask}
    if 0 not in found:
        raise igvm.IgvmError("the SEV-SNP platform has no VMSA for vp 0")
    return [found[i] for i in sorted(found)]


def snp_vmsa_gpa(f: igvm.IgvmFile) -> int:
    """The GPA the file places vp 0's VMSA at."""
    mask = f.mask_of(igvm.PLATFORM_SEV_SNP)
    return next(d.gpa for d in f.directives if isinstance(d, igvm.VpContext) and d.mask & mask and d.vp_index == 0)


def launch_digest(f: igvm.IgvmFile, inputs: DigestInputs = DigestInputs()) -> bytes:
    """The 48-byte launch digest of ``f``'s SEV-SNP platform under ``inputs`` (see the module
    doc for the two VMSA conventions)."""
    if inputs.vcpus < 1:
        raise ValueError("at least one vCPU")
    if inputs.vmm not in VMMS:
        raise ValueError(f"unknown VMM convention {inputs.vmm!r} (known: {', '.join(VMMS)})")
    ld = bytes(48)
    kvm = inputs.vmm == "qemu-kvm"
    for page_type, gpa, digest in snp_pages(f, with_vmsa=not kvm, zero_pages=kvm):
        ld = _step(ld, digest, page_type, gpa)
    if kvm:
        vmsas = snp_vmsas(f)
        for vp in range(inputs.vcpus):
            vmsa = vmsas[min(vp, len(vmsas) - 1)]
            ld = _step(ld, hashlib.sha384(vmsa).digest(), PAGE_TYPE_VMSA, KVM_VMSA_GPA)
    return ld


def _seg(selector: int, attrib: int, limit: int, base: int) -> bytes:
    return struct.pack("<HHIQ", selector, attrib, limit, base)


# Field offsets in the VMSA (the SEV-ES save area of the AMD APM, vol. 2, table B-4).
VMSA_OFFSETS = {"efer": 0xD0, "cr4": 0x148, "cr3": 0x150, "cr0": 0x158, "dr7": 0x160, "dr6": 0x168,
                "rflags": 0x170, "rip": 0x178, "rsp": 0x1D8, "rax": 0x1F8, "g_pat": 0x268,
                "rcx": 0x308, "rdx": 0x310, "rbx": 0x318, "rbp": 0x328, "rsi": 0x330, "rdi": 0x338,
                "sev_features": 0x3B0, "xcr0": 0x3E8}
VMSA_MXCSR = 0x408
VMSA_FCW = 0x410


# The SNP VMSA's marker for the kernel's boot stub ("SNP1" in EDI): EBP then holds the C-bit
# position the kernel puts in its boot page tables (core/vmkernel/src/snp).
SNP_MARKER = 0x31504E53
DEFAULT_CBIT = 51
EFER_SCE_LME = 0x101


def vmsa_from_native(ctx: dict[str, int], sev_features: int = SEV_FEATURE_SNP_ACTIVE,
                     cbit: int = DEFAULT_CBIT) -> bytes:
    """A VMSA page that starts a vCPU where the native context ``ctx`` does (flat segments from
    its code/data attributes, control registers, general registers), with ``sev_features``,
    the architectural PAT, XCR0 = x87 and the reset x87/SSE control words; plus what tells the
    kernel it runs under SNP: the marker in RDI, the C-bit position ``cbit`` in RBP, and
    EFER.SCE/LME set (the boot stub must not touch EFER before its #VC handler exists)."""
    if not 32 <= cbit <= 51:
        raise ValueError(f"C-bit position {cbit} is not between 32 and 51")
    page = bytearray(igvm.PAGE)
    code = _seg(ctx["code_selector"], ctx["code_attributes"], ctx["code_limit"], ctx["code_base"])
    data = _seg(ctx["data_selector"], ctx["data_attributes"], ctx["data_limit"], ctx["data_base"])
    segs = [data, code, data, data, data, data,  # es cs ss ds fs gs
            _seg(0, 0, ctx["gdtr_size"], ctx["gdtr_base"]), _seg(0, 0x82, 0xFFFF, 0),  # gdtr ldtr
            _seg(0, 0, ctx["idtr_size"], ctx["idtr_base"]), _seg(0, 0x8B, 0xFFFF, 0)]  # idtr tr
    page[0:len(segs) * 16] = b"".join(segs)
    values = {name: ctx.get(name, 0) for name in VMSA_OFFSETS}
    values.update(efer=ctx["efer"] | 0x1000 | EFER_SCE_LME,  # SVME: KVM sets it in every SEV guest's EFER
                  rdi=SNP_MARKER, rbp=cbit,
                  dr7=0x400, dr6=0xFFFF0FF0, g_pat=0x0007040600070406,
                  sev_features=sev_features, xcr0=0x1)
    for name, off in VMSA_OFFSETS.items():
        struct.pack_into("<Q", page, off, values[name])
    struct.pack_into("<I", page, VMSA_MXCSR, 0x1F80)
    struct.pack_into("<H", page, VMSA_FCW, 0x37F)
    return bytes(page)


def describe_policy(policy: int) -> dict[str, object]:
    """The guest policy's fields, for people (SNP firmware ABI, guest policy)."""
    return {"value": f"{policy:#x}", "abi_minor": policy & 0xFF, "abi_major": (policy >> 8) & 0xFF,
            "smt": bool(policy >> 16 & 1), "migrate_ma": bool(policy >> 18 & 1),
            "debug": bool(policy >> 19 & 1), "single_socket": bool(policy >> 20 & 1)}


def vmsa_cbit(vmsa: bytes) -> int | None:
    """The C-bit position a VMSA hands the kernel (None when it carries no SNP marker)."""
    rdi, rbp = (struct.unpack_from("<Q", vmsa, VMSA_OFFSETS[r])[0] for r in ("rdi", "rbp"))
    return rbp if rdi == SNP_MARKER else None
