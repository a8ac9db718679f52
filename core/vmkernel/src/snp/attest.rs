//! Attestation reports: SNP_GUEST_REQUEST (MSG_REPORT_REQ) to the security processor, sealed
//! with VMPCK0 from the secrets page by `litebox-snp-guest-msg` (AES-256-GCM, sequence
//! numbers), carried through a shared request page and a shared response page and the GHCB
//! guest-request exit. The message layer never sees shared memory: requests are sealed in a
//! private page and copied out, responses copied in and then opened.
use alloc::boxed::Box;
use alloc::vec::Vec;

use litebox_snp_guest_msg::{self as gm, Channel};
use litebox_snp_sev::ghcb::EXIT_GUEST_REQUEST;

use super::ghcb;
use crate::layout::phys_to_virt;

/// Why no report was produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Not an SNP guest (the native platform, kvm).
    NoDevice,
    /// The channel was disabled (a response did not check) or the firmware refused.
    Failed,
    /// Out of memory for the shared pages.
    NoMemory,
}

struct State {
    channel: Channel,
    /// A guest-request exit failed after a request was sealed: its sequence number may have
    /// reached the security processor, so the channel is never used again (no IV reuse).
    broken: bool,
    /// Shared request and response pages (physical).
    req: usize,
    resp: usize,
}

static mut STATE: Option<State> = None;

fn state() -> Result<&'static mut State, Error> {
    if !super::active() {
        return Err(Error::NoDevice);
    }
    let s = &raw mut STATE;
    // SAFETY: one CPU, interrupts off in the kernel: no other reference to STATE is live.
    let s = unsafe { &mut *s };
    if s.is_none() {
        let req = crate::frames::alloc_zeroed().ok_or(Error::NoMemory)?;
        let resp = crate::frames::alloc_zeroed().ok_or(Error::NoMemory)?;
        super::mem::make_shared(req, 4096);
        super::mem::make_shared(resp, 4096);
        *s = Some(State { channel: Channel::from_secrets(super::secrets_page(), 0), broken: false, req, resp });
    }
    s.as_mut().ok_or(Error::Failed)
}

/// An SNP attestation report (the firmware's REPORT structure, 0x4A0 bytes) binding
/// `report_data` (64 bytes of the app's choosing), requested at VMPL 0.
pub fn report(report_data: &[u8; 64]) -> Result<Vec<u8>, Error> {
    let s = state()?;
    if s.broken {
        return Err(Error::Failed);
    }
    let mut page: Box<[u8; gm::PAGE]> = Box::new([0; gm::PAGE]);
    let req = gm::report_request(report_data, 0);
    s.channel.seal_request(gm::MSG_REPORT_REQ, 1, &req, &mut page).map_err(|_| Error::Failed)?;
    // SAFETY: the request and response pages are ours, shared, mapped without the C-bit.
    unsafe {
        core::ptr::copy_nonoverlapping(page.as_ptr(), phys_to_virt(s.req) as *mut u8, gm::PAGE);
        core::ptr::write_bytes(phys_to_virt(s.resp) as *mut u8, 0, gm::PAGE);
    }
    // SW_EXITINFO2 is 0 on success (else the VMM's error in bits 63:32, the firmware's below).
    let ok = ghcb::call(|g| g.set_exit(EXIT_GUEST_REQUEST, s.req as u64, s.resp as u64), |g| g.result() == Ok(0));
    if !ok {
        s.broken = true;
        s.channel = Channel::new([0; 32], 0);
        return Err(Error::Failed);
    }
    // SAFETY: as above; the copy is taken before anything is checked.
    unsafe { core::ptr::copy_nonoverlapping(phys_to_virt(s.resp) as *const u8, page.as_mut_ptr(), gm::PAGE) };
    let payload = s.channel.open_response(gm::MSG_REPORT_REQ, &mut page).map_err(|_| Error::Failed)?;
    gm::report_from_response(payload).map(|r| r.to_vec()).map_err(|_| Error::Failed)
}
