//! The GHCB MSR protocol (GHCB specification, version 2, section 2.3.1): before the GHCB page is
//! usable (and to register it, to terminate, to change one page's state), the guest writes a
//! request to the GHCB MSR, executes VMGEXIT, and reads the response back from the same MSR.
//! Bits 11:0 of the value are the request or response code (GHCBInfo); the rest is its data.

/// The GHCB MSR (`MSR_AMD64_SEV_ES_GHCB`).
pub const MSR_GHCB: u32 = 0xC001_0130;
/// The SEV status MSR (read without a #VC): bit 0 SEV, bit 1 SEV-ES, bit 2 SEV-SNP.
pub const MSR_SEV_STATUS: u32 = 0xC001_0131;
/// SEV_STATUS bit: SEV-SNP is active.
pub const SEV_STATUS_SNP: u64 = 1 << 2;

/// SEV information response (hypervisor → guest).
pub const SEV_INFO_RESP: u64 = 0x001;
/// SEV information request.
pub const SEV_INFO_REQ: u64 = 0x002;
/// CPUID request.
pub const CPUID_REQ: u64 = 0x004;
/// CPUID response.
pub const CPUID_RESP: u64 = 0x005;
/// Register the GHCB's GPA.
pub const REGISTER_GHCB_REQ: u64 = 0x012;
/// Its response.
pub const REGISTER_GHCB_RESP: u64 = 0x013;
/// SNP page-state change of one 4 KiB page.
pub const PSC_REQ: u64 = 0x014;
/// Its response.
pub const PSC_RESP: u64 = 0x015;
/// Hypervisor feature support request.
pub const HV_FEATURES_REQ: u64 = 0x080;
/// Its response.
pub const HV_FEATURES_RESP: u64 = 0x081;
/// Termination request.
pub const TERM_REQ: u64 = 0x100;

/// The GHCB protocol version this guest speaks (2: SNP).
pub const PROTOCOL_VERSION: u16 = 2;

/// Termination reason set 0 (general), and LiteBox's own set 1.
pub const REASON_SET_GENERAL: u8 = 0;
/// Reason set 1: LiteBox's reasons (see [`Reason`]).
pub const REASON_SET_LITEBOX: u8 = 1;

/// Why the kernel asks the hypervisor to end the guest (reason set 1, LiteBox's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Reason {
    /// The app or the kernel ended normally; the exit code is not carried by this protocol.
    Exit = 0,
    /// The hypervisor does not speak GHCB protocol version 2.
    Protocol = 1,
    /// The C-bit position the page tables were measured with differs from the CPU's.
    CBitMismatch = 2,
    /// A GHCB call failed or answered something it must not.
    GhcbFailed = 3,
    /// PVALIDATE or a page-state change failed.
    Validation = 4,
    /// A #VC the handler does not emulate.
    UnhandledVc = 5,
    /// The memory map does not cover the RAM the measured image names.
    MemoryMap = 6,
}

/// The code (bits 11:0) of a GHCB MSR value.
pub fn code(v: u64) -> u64 {
    v & 0xfff
}

/// The SEV information request.
pub fn sev_info_request() -> u64 {
    SEV_INFO_REQ
}

/// What the SEV information response says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SevInfo {
    /// Highest GHCB protocol version the hypervisor speaks.
    pub max_version: u16,
    /// Lowest one.
    pub min_version: u16,
    /// The C-bit position the hypervisor reports.
    pub cbit: u8,
}

impl SevInfo {
    /// Whether the hypervisor speaks [`PROTOCOL_VERSION`].
    pub fn supports_v2(&self) -> bool {
        self.min_version <= PROTOCOL_VERSION && PROTOCOL_VERSION <= self.max_version
    }
}

/// Parses an SEV information response; None for any other code.
pub fn parse_sev_info(v: u64) -> Option<SevInfo> {
    (code(v) == SEV_INFO_RESP).then_some(SevInfo {
        max_version: (v >> 48) as u16,
        min_version: (v >> 32) as u16,
        cbit: (v >> 24) as u8,
    })
}

/// The CPUID request for one register (0 eax, 1 ebx, 2 ecx, 3 edx) of `leaf` (subleaf 0 only:
/// the MSR protocol carries none).
pub fn cpuid_request(leaf: u32, reg: u8) -> u64 {
    (leaf as u64) << 32 | ((reg as u64 & 3) << 30) | CPUID_REQ
}

/// The register value of a CPUID response; None for any other code.
pub fn parse_cpuid_response(v: u64) -> Option<u32> {
    (code(v) == CPUID_RESP).then_some((v >> 32) as u32)
}

/// The request that registers the GHCB at guest frame `gfn`.
pub fn register_ghcb_request(gfn: u64) -> u64 {
    (gfn << 12) | REGISTER_GHCB_REQ
}

/// Whether `v` is the response that registers exactly `gfn`.
pub fn register_ghcb_ok(v: u64, gfn: u64) -> bool {
    code(v) == REGISTER_GHCB_RESP && v >> 12 == gfn
}

/// A page-state change operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PageOp {
    /// Assign the page to the guest (private).
    Private = 1,
    /// Make it shared with the hypervisor.
    Shared = 2,
}

/// The MSR-protocol page-state change request for the 4 KiB page at guest frame `gfn`
/// (bits 51:12 the frame, 55:52 the operation).
pub fn psc_request(gfn: u64, op: PageOp) -> u64 {
    ((op as u64) << 52) | ((gfn & 0xff_ffff_ffff) << 12) | PSC_REQ
}

/// The error code of a page-state change response (0: done); None for any other code.
pub fn parse_psc_response(v: u64) -> Option<u32> {
    (code(v) == PSC_RESP).then_some((v >> 32) as u32)
}

/// The hypervisor feature request.
pub fn hv_features_request() -> u64 {
    HV_FEATURES_REQ
}

/// The feature bitmap of a hypervisor feature response; None for any other code.
pub fn parse_hv_features(v: u64) -> Option<u64> {
    (code(v) == HV_FEATURES_RESP).then_some(v >> 12)
}

/// Feature bit 0: SEV-SNP (the hypervisor supports the SNP-specific GHCB calls).
pub const HV_FEATURE_SNP: u64 = 1;

/// The termination request for `reason` in `set` (bits 15:12 the set, 23:16 the reason).
pub fn termination_request(set: u8, reason: u8) -> u64 {
    ((reason as u64) << 16) | (((set & 0xf) as u64) << 12) | TERM_REQ
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sev_info_response_fields() {
        // max 2, min 1, C-bit 51, code 1 (the values a Genoa host's KVM answers).
        let v = 0x0002_0001_3300_0001;
        let i = parse_sev_info(v).unwrap();
        assert_eq!(i, SevInfo { max_version: 2, min_version: 1, cbit: 51 });
        assert!(i.supports_v2());
        assert!(!SevInfo { max_version: 1, min_version: 1, cbit: 51 }.supports_v2());
        assert_eq!(parse_sev_info(0x0002_0001_3300_0005), None);
        assert_eq!(sev_info_request(), 2);
    }

    #[test]
    fn cpuid_request_and_response() {
        assert_eq!(cpuid_request(0x8000_001f, 1), 0x8000_001f_4000_0004);
        assert_eq!(cpuid_request(1, 3), 0x0000_0001_c000_0004);
        assert_eq!(parse_cpuid_response(0x0000_0173_0000_0005), Some(0x173));
        assert_eq!(parse_cpuid_response(0x0000_0173_0000_0004), None);
    }

    #[test]
    fn ghcb_registration() {
        let gfn = 0x1_2345;
        assert_eq!(register_ghcb_request(gfn), 0x1234_5012);
        assert!(register_ghcb_ok(0x1234_5013, gfn));
        assert!(!register_ghcb_ok(0x1234_6013, gfn));
        assert!(!register_ghcb_ok(0x1234_5012, gfn));
    }

    #[test]
    fn page_state_change_by_msr() {
        assert_eq!(psc_request(0x100, PageOp::Shared), 0x0020_0000_0010_0014);
        assert_eq!(psc_request(0x100, PageOp::Private), 0x0010_0000_0010_0014);
        assert_eq!(parse_psc_response(0x15), Some(0));
        assert_eq!(parse_psc_response(0x0000_0001_0000_0015), Some(1));
        assert_eq!(parse_psc_response(0x14), None);
    }

    #[test]
    fn hv_features() {
        assert_eq!(hv_features_request(), 0x80);
        assert_eq!(parse_hv_features(0x1081), Some(1));
        assert_eq!(parse_hv_features(0x1080), None);
    }

    #[test]
    fn termination_encoding() {
        assert_eq!(termination_request(REASON_SET_GENERAL, 0), 0x100);
        assert_eq!(termination_request(REASON_SET_LITEBOX, Reason::CBitMismatch as u8), 0x0002_1100);
        // The set is four bits: a wider value cannot spill into the reason.
        assert_eq!(termination_request(0x1f, 0), 0xf100);
    }
}
