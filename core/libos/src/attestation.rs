//! `/dev/attestation`, in the style of Gramine's: the app writes 64 bytes of its own data to
//! `/dev/attestation/user_report_data` and reads `/dev/attestation/report`, a report of the
//! platform's confidential-computing hardware that binds those bytes; `attestation_type` names
//! the kind of report ("sev-snp", or "none" where there is none). The platform makes the
//! report ([`crate::Platform::attestation_report`]); where it cannot (every target but snp on
//! SEV-SNP hardware) opening the report fails with ENODEV. See docs/targets/snp.md.
use alloc::vec::Vec;

use crate::errno::{Errno, EINVAL};
use crate::sync::SpinMutex;

/// Size of the app's report data.
pub const USER_DATA: usize = 64;

/// The process's attestation state: the last 64 bytes written to `user_report_data`.
pub struct Attestation {
    user_data: SpinMutex<[u8; USER_DATA]>,
}

impl Default for Attestation {
    fn default() -> Self {
        Attestation { user_data: SpinMutex::new([0; USER_DATA]) }
    }
}

impl Attestation {
    /// A copy for a forked child (it inherits the data, as it inherits memory).
    pub fn fork(&self) -> Self {
        Attestation { user_data: SpinMutex::new(*self.user_data.lock()) }
    }

    /// The current report data.
    pub fn user_data(&self) -> [u8; USER_DATA] {
        *self.user_data.lock()
    }

    /// Stores a write to `user_report_data`: exactly 64 bytes, else EINVAL (as on Gramine).
    pub fn write_user_data(&self, buf: &[u8]) -> Result<usize, Errno> {
        let data: [u8; USER_DATA] = buf.try_into().map_err(|_| EINVAL)?;
        *self.user_data.lock() = data;
        Ok(USER_DATA)
    }

    /// Reads `user_report_data` from offset `pos`: the bytes there (0 at the end).
    pub fn read_user_data(&self, pos: u64, buf: &mut [u8]) -> usize {
        let data = self.user_data();
        let off = (pos as usize).min(USER_DATA);
        let n = (USER_DATA - off).min(buf.len());
        buf[..n].copy_from_slice(&data[off..off + n]);
        n
    }
}

/// The content of `/dev/attestation/attestation_type` for a platform's answer.
pub fn type_file(kind: &str) -> Vec<u8> {
    kind.as_bytes().to_vec()
}
