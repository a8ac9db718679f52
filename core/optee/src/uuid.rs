//! `TEE_UUID`: how a TA is named, in memory and as text.

use core::fmt;

/// A GP `TEE_UUID` (timeLow, timeMid, timeHiAndVersion, clockSeqAndNode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TeeUuid {
    pub time_low: u32,
    pub time_mid: u16,
    pub time_hi_and_version: u16,
    pub clock_seq_and_node: [u8; 8],
}

impl TeeUuid {
    /// Decodes the 16-byte in-memory `TEE_UUID` of an x86-64 TA (native, little-endian fields).
    pub fn from_le_bytes(b: &[u8; 16]) -> Self {
        TeeUuid {
            time_low: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            time_mid: u16::from_le_bytes([b[4], b[5]]),
            time_hi_and_version: u16::from_le_bytes([b[6], b[7]]),
            clock_seq_and_node: [b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]],
        }
    }

    /// The in-memory `TEE_UUID` of an x86-64 TA.
    pub fn to_le_bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..4].copy_from_slice(&self.time_low.to_le_bytes());
        out[4..6].copy_from_slice(&self.time_mid.to_le_bytes());
        out[6..8].copy_from_slice(&self.time_hi_and_version.to_le_bytes());
        out[8..].copy_from_slice(&self.clock_seq_and_node);
        out
    }

    /// The RFC 4122 byte order (big-endian fields), as the signed header and the wire use.
    pub fn to_be_bytes(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..4].copy_from_slice(&self.time_low.to_be_bytes());
        out[4..6].copy_from_slice(&self.time_mid.to_be_bytes());
        out[6..8].copy_from_slice(&self.time_hi_and_version.to_be_bytes());
        out[8..].copy_from_slice(&self.clock_seq_and_node);
        out
    }

    /// Decodes the RFC 4122 byte order.
    pub fn from_be_bytes(b: &[u8; 16]) -> Self {
        TeeUuid {
            time_low: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            time_mid: u16::from_be_bytes([b[4], b[5]]),
            time_hi_and_version: u16::from_be_bytes([b[6], b[7]]),
            clock_seq_and_node: [b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]],
        }
    }

    /// Parses `8-4-4-4-12` hex text (either case); None if it is not that.
    pub fn parse(text: &str) -> Option<Self> {
        let s = text.as_bytes();
        if s.len() != 36 || s[8] != b'-' || s[13] != b'-' || s[18] != b'-' || s[23] != b'-' {
            return None;
        }
        let mut bytes = [0u8; 16];
        let mut n = 0;
        let mut i = 0;
        while i < 36 {
            if s[i] == b'-' {
                i += 1;
                continue;
            }
            let hi = (s[i] as char).to_digit(16)?;
            let lo = (*s.get(i + 1)? as char).to_digit(16)?;
            bytes[n] = (hi * 16 + lo) as u8;
            n += 1;
            i += 2;
        }
        (n == 16).then(|| TeeUuid::from_be_bytes(&bytes))
    }
}

impl fmt::Display for TeeUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.clock_seq_and_node;
        write!(
            f,
            "{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
            self.time_low, self.time_mid, self.time_hi_and_version, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn parses_prints_and_orders_bytes() {
        let u = TeeUuid::parse("8aaaf200-2450-11e4-abe2-0002a5d5c51b").unwrap();
        assert_eq!(u.time_low, 0x8aaa_f200);
        assert_eq!(u.to_string(), "8aaaf200-2450-11e4-abe2-0002a5d5c51b");
        assert_eq!(u.to_le_bytes()[..4], [0x00, 0xf2, 0xaa, 0x8a]);
        assert_eq!(u.to_be_bytes()[..4], [0x8a, 0xaa, 0xf2, 0x00]);
        assert_eq!(TeeUuid::from_le_bytes(&u.to_le_bytes()), u);
        assert_eq!(TeeUuid::parse("8AAAF200-2450-11E4-ABE2-0002A5D5C51B"), Some(u));
        assert_eq!(TeeUuid::parse("8aaaf200-2450-11e4-abe2-0002a5d5c51"), None);
        assert_eq!(TeeUuid::parse("8aaaf200x2450-11e4-abe2-0002a5d5c51b"), None);
        assert_eq!(TeeUuid::parse("zaaaf200-2450-11e4-abe2-0002a5d5c51b"), None);
    }
}
