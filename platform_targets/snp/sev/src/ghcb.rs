//! The GHCB page (GHCB specification v2, table 3): the save-area fields the guest fills before a
//! VMGEXIT and reads after it, the valid bitmap that tells the hypervisor which fields it may
//! read, the shared buffer, and the exit codes and IOIO exit information LiteBox uses. The page
//! itself is a shared (unencrypted) 4 KiB page; [`Ghcb`] is a typed view of its bytes.

/// `SW_EXITCODE`: RDTSC.
pub const EXIT_RDTSC: u64 = 0x6e;
/// CPUID.
pub const EXIT_CPUID: u64 = 0x72;
/// Port I/O.
pub const EXIT_IOIO: u64 = 0x7b;
/// RDMSR / WRMSR.
pub const EXIT_MSR: u64 = 0x7c;
/// RDTSCP.
pub const EXIT_RDTSCP: u64 = 0x87;
/// A nested page fault (the #VC of an MMIO access: the page is mapped without the C-bit).
pub const EXIT_NPF: u64 = 0x400;
/// MMIO read (`SW_EXITINFO1` the GPA, `SW_EXITINFO2` the length, `SW_SCRATCH` the buffer).
pub const EXIT_MMIO_READ: u64 = 0x8000_0001;
/// MMIO write.
pub const EXIT_MMIO_WRITE: u64 = 0x8000_0002;
/// SNP page-state change (the buffer holds a [`crate::psc`] descriptor).
pub const EXIT_PSC: u64 = 0x8000_0010;
/// SNP guest request (`SW_EXITINFO1` the request page's GPA, `SW_EXITINFO2` the response's).
pub const EXIT_GUEST_REQUEST: u64 = 0x8000_0011;

/// Offsets of the fields in the page.
pub mod off {
    /// CPL.
    pub const CPL: usize = 0x0cb;
    /// RAX.
    pub const RAX: usize = 0x1f8;
    /// RCX.
    pub const RCX: usize = 0x308;
    /// RDX.
    pub const RDX: usize = 0x310;
    /// RBX.
    pub const RBX: usize = 0x318;
    /// SW_EXITCODE.
    pub const SW_EXIT_CODE: usize = 0x390;
    /// SW_EXITINFO1.
    pub const SW_EXIT_INFO_1: usize = 0x398;
    /// SW_EXITINFO2.
    pub const SW_EXIT_INFO_2: usize = 0x3a0;
    /// SW_SCRATCH: the GPA of the shared buffer when an exit uses it.
    pub const SW_SCRATCH: usize = 0x3a8;
    /// XCR0.
    pub const XCR0: usize = 0x3e8;
    /// The valid bitmap (16 bytes: one bit per quadword of the save area).
    pub const VALID_BITMAP: usize = 0x3f0;
    /// The shared buffer.
    pub const SHARED_BUFFER: usize = 0x800;
    /// The protocol version (u16).
    pub const PROTOCOL_VERSION: usize = 0xffa;
    /// The GHCB usage (u32; 0: the standard format).
    pub const USAGE: usize = 0xffc;
}

/// Size of the shared buffer.
pub const SHARED_BUFFER_SIZE: usize = 0x7f0;

/// A typed view of the bytes of one GHCB page.
pub struct Ghcb<'a> {
    page: &'a mut [u8; 4096],
}

impl<'a> Ghcb<'a> {
    /// Views `page` as a GHCB.
    pub fn new(page: &'a mut [u8; 4096]) -> Self {
        Ghcb { page }
    }

    /// Clears the save area and the valid bitmap before a new exit (the shared buffer is left
    /// alone) and sets the protocol version and usage.
    pub fn clear(&mut self) {
        self.page[..off::SHARED_BUFFER].fill(0);
        self.page[off::PROTOCOL_VERSION..off::PROTOCOL_VERSION + 2]
            .copy_from_slice(&crate::msr_protocol::PROTOCOL_VERSION.to_le_bytes());
        self.page[off::USAGE..off::USAGE + 4].fill(0);
    }

    /// Writes the quadword field at `offset` and marks it valid.
    pub fn set(&mut self, offset: usize, v: u64) {
        self.page[offset..offset + 8].copy_from_slice(&v.to_le_bytes());
        let bit = offset / 8;
        self.page[off::VALID_BITMAP + bit / 8] |= 1 << (bit % 8);
    }

    /// Writes the byte field at `offset` and marks its quadword valid.
    pub fn set_u8(&mut self, offset: usize, v: u8) {
        self.page[offset] = v;
        let bit = offset / 8;
        self.page[off::VALID_BITMAP + bit / 8] |= 1 << (bit % 8);
    }

    /// The quadword field at `offset`.
    pub fn get(&self, offset: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.page[offset..offset + 8]);
        u64::from_le_bytes(b)
    }

    /// Whether the hypervisor marked the field at `offset` valid (set it in its response).
    pub fn is_valid(&self, offset: usize) -> bool {
        let bit = offset / 8;
        self.page[off::VALID_BITMAP + bit / 8] & (1 << (bit % 8)) != 0
    }

    /// Sets the three exit fields.
    pub fn set_exit(&mut self, code: u64, info1: u64, info2: u64) {
        self.set(off::SW_EXIT_CODE, code);
        self.set(off::SW_EXIT_INFO_1, info1);
        self.set(off::SW_EXIT_INFO_2, info2);
    }

    /// The shared buffer.
    pub fn buffer(&mut self) -> &mut [u8] {
        &mut self.page[off::SHARED_BUFFER..off::SHARED_BUFFER + SHARED_BUFFER_SIZE]
    }

    /// The outcome of an exit: `SW_EXITINFO1`'s low 32 bits are 0 on success; 1 means the
    /// hypervisor reports an error whose details are in `SW_EXITINFO2`. Ok(info2) or Err(info2).
    pub fn result(&self) -> Result<u64, u64> {
        let (i1, i2) = (self.get(off::SW_EXIT_INFO_1), self.get(off::SW_EXIT_INFO_2));
        if i1 as u32 == 0 {
            Ok(i2)
        } else {
            Err(i2)
        }
    }
}

/// The direction of a port access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoDir {
    /// IN: the port is read.
    In,
    /// OUT: the port is written.
    Out,
}

/// `SW_EXITINFO1` of an IOIO exit (AMD APM vol. 2, 15.10.2): bit 0 the direction (1 = IN),
/// bits 6:4 the operand size (8, 16, 32 bits), bit 7 a 16-bit address size (what a non-string
/// access reports), bits 31:16 the port. None for a size other than 1, 2, 4.
pub fn ioio_exit_info(port: u16, size: u8, dir: IoDir) -> Option<u64> {
    let sz = match size {
        1 => 1 << 4,
        2 => 1 << 5,
        4 => 1 << 6,
        _ => return None,
    };
    Some((port as u64) << 16 | 1 << 7 | sz | if dir == IoDir::In { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_offsets_and_valid_bits() {
        let mut page = [0u8; 4096];
        let mut g = Ghcb::new(&mut page);
        g.clear();
        g.set(off::RAX, 0x1122_3344_5566_7788);
        g.set_exit(EXIT_IOIO, 0x3f8_0091, 0);
        assert_eq!(g.get(off::RAX), 0x1122_3344_5566_7788);
        assert!(g.is_valid(off::RAX) && g.is_valid(off::SW_EXIT_CODE) && g.is_valid(off::SW_EXIT_INFO_2));
        assert!(!g.is_valid(off::RCX));
        // RAX at 0x1f8 is quadword 63: bit 7 of the bitmap's byte 7; SW_EXITCODE (0x390) is
        // quadword 114: bit 2 of byte 14.
        assert_eq!(page[off::VALID_BITMAP + 7], 0x80);
        assert_eq!(page[off::VALID_BITMAP + 14] & 0x04, 0x04);
        assert_eq!(&page[0xffa..0xffc], &[2, 0]);
        assert_eq!(&page[0x1f8..0x200], &0x1122_3344_5566_7788u64.to_le_bytes());
    }

    #[test]
    fn clear_keeps_the_buffer() {
        let mut page = [0xaau8; 4096];
        let mut g = Ghcb::new(&mut page);
        g.clear();
        assert!(!g.is_valid(off::RAX));
        assert_eq!(g.buffer()[0], 0xaa);
        assert_eq!(g.buffer().len(), 0x7f0);
        assert_eq!(g.get(off::RAX), 0);
    }

    #[test]
    fn exit_result() {
        let mut page = [0u8; 4096];
        let mut g = Ghcb::new(&mut page);
        g.set_exit(EXIT_CPUID, 0, 7);
        assert_eq!(g.result(), Ok(7));
        g.set(off::SW_EXIT_INFO_1, 1);
        assert_eq!(g.result(), Err(7));
    }

    #[test]
    fn ioio_info() {
        // out dx, al to COM1 (0x3f8): size 8, address size 16, OUT.
        assert_eq!(ioio_exit_info(0x3f8, 1, IoDir::Out), Some(0x03f8_0090));
        // in eax, dx from 0xcfc.
        assert_eq!(ioio_exit_info(0xcfc, 4, IoDir::In), Some(0x0cfc_00c1));
        assert_eq!(ioio_exit_info(0x60, 2, IoDir::In), Some(0x0060_00a1));
        assert_eq!(ioio_exit_info(0x60, 8, IoDir::In), None);
    }
}
