//! The SEV-SNP guest message layer: how a guest talks to the AMD security processor through
//! SNP_GUEST_REQUEST (SNP firmware ABI, "Guest Messages"), for the attestation report the app
//! asks for.
//!
//! A message is one 4 KiB page: a 0x60-byte header, then the payload encrypted with
//! AES-256-GCM under a VM platform communication key (VMPCK, from the secrets page). The
//! header's bytes 0x30..0x60 are the additional authenticated data; the 96-bit IV is the
//! message sequence number (little-endian, zero-extended); the 16-byte tag goes in the
//! header's first 32 bytes. A request carries sequence number n + 1 (n: the last one used with
//! that key), its response must carry n + 2; a key whose numbers would wrap is used no more.
//!
//! Nothing here touches hardware: the GHCB call that carries the two pages is the SNP machine
//! layer's (not written yet). This crate is tested on the host against the published AES-GCM
//! vectors and a message vector made with an independent AES-GCM.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};

/// Bytes in a message page.
pub const PAGE: usize = 4096;
/// Bytes in the message header.
pub const HEADER_SIZE: usize = 0x60;
/// The largest payload a page holds.
pub const MAX_PAYLOAD: usize = PAGE - HEADER_SIZE;
/// `algo`: AES-256-GCM.
pub const AEAD_AES_256_GCM: u8 = 1;
/// `hdr_version`.
pub const HEADER_VERSION: u8 = 1;
/// Message type of an attestation report request.
pub const MSG_REPORT_REQ: u8 = 5;
/// Message type of an attestation report response.
pub const MSG_REPORT_RSP: u8 = 6;
/// Bytes in a report request payload: report data (64), VMPL (u32), reserved (28).
pub const REPORT_REQ_SIZE: usize = 0x60;
/// Where VMPCK0 starts in the secrets page (version 2+: four 32-byte keys from 0x20).
pub const SECRETS_VMPCK_OFFSET: usize = 0x20;

/// Why a message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The payload does not fit in a page after the header.
    PayloadTooLarge,
    /// The response's header is not one this layer sent for (field named).
    BadHeader(&'static str),
    /// The response carries another sequence number than the request's + 1.
    WrongSequence,
    /// The tag does not check: tampered, or another key.
    Authentication,
    /// The key's sequence numbers are used up.
    SequenceExhausted,
    /// The report response's status is not success (its value).
    Status(u32),
    /// The report response is shorter than it says.
    Short,
    /// A response failed to check earlier: the key is wiped and this channel sends no more
    /// (sending again would reuse a sequence number, i.e. an AES-GCM IV, under the same key).
    Disabled,
}

/// The header fields a message is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Message sequence number (also the IV).
    pub seqno: u64,
    /// Message type (e.g. [`MSG_REPORT_REQ`]).
    pub msg_type: u8,
    /// Message version.
    pub msg_version: u8,
    /// Payload bytes.
    pub msg_size: u16,
    /// Which VMPCK (0..3) encrypts it.
    pub vmpck: u8,
}

impl Header {
    /// The 0x60 header bytes with a zero tag: authtag[32], seqno (u64), reserved (8), algo,
    /// hdr_version, hdr_sz (u16), msg_type, msg_version, msg_sz (u16), reserved (u32),
    /// msg_vmpck, reserved (35).
    pub fn bytes(&self) -> [u8; HEADER_SIZE] {
        let mut h = [0u8; HEADER_SIZE];
        h[0x20..0x28].copy_from_slice(&self.seqno.to_le_bytes());
        h[0x30] = AEAD_AES_256_GCM;
        h[0x31] = HEADER_VERSION;
        h[0x32..0x34].copy_from_slice(&(HEADER_SIZE as u16).to_le_bytes());
        h[0x34] = self.msg_type;
        h[0x35] = self.msg_version;
        h[0x36..0x38].copy_from_slice(&self.msg_size.to_le_bytes());
        h[0x3C] = self.vmpck;
        h
    }

    /// Reads a header's fields (the tag and reserved bytes are not checked here).
    pub fn parse(h: &[u8; HEADER_SIZE]) -> Result<Header, Error> {
        if h[0x30] != AEAD_AES_256_GCM {
            return Err(Error::BadHeader("algo"));
        }
        if h[0x31] != HEADER_VERSION {
            return Err(Error::BadHeader("hdr_version"));
        }
        if u16::from_le_bytes([h[0x32], h[0x33]]) as usize != HEADER_SIZE {
            return Err(Error::BadHeader("hdr_sz"));
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&h[0x20..0x28]);
        Ok(Header {
            seqno: u64::from_le_bytes(seq),
            msg_type: h[0x34],
            msg_version: h[0x35],
            msg_size: u16::from_le_bytes([h[0x36], h[0x37]]),
            vmpck: h[0x3C],
        })
    }
}

fn iv(seqno: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(&seqno.to_le_bytes());
    iv
}

/// AES-256-GCM encryption in place: returns the tag.
pub fn seal_detached(key: &[u8; 32], iv: &[u8; 12], aad: &[u8], buf: &mut [u8]) -> [u8; 16] {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(iv), aad, buf)
        .expect("AES-GCM takes any length a page holds");
    tag.into()
}

/// AES-256-GCM decryption in place; Error::Authentication (and `buf` unchanged in meaning)
/// when the tag does not check.
pub fn open_detached(key: &[u8; 32], iv: &[u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8; 16]) -> Result<(), Error> {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    cipher
        .decrypt_in_place_detached(Nonce::from_slice(iv), aad, buf, Tag::from_slice(tag))
        .map_err(|_| Error::Authentication)
}

/// Seals ``payload`` under ``key`` with header ``h`` into ``page`` (any sequence number: the
/// security processor's side, for tests and tools).
pub fn seal_message(key: &[u8; 32], h: &Header, payload: &[u8], page: &mut [u8; PAGE]) -> Result<(), Error> {
    if payload.len() > MAX_PAYLOAD || payload.len() != h.msg_size as usize {
        return Err(Error::PayloadTooLarge);
    }
    page.fill(0);
    let header = h.bytes();
    page[..HEADER_SIZE].copy_from_slice(&header);
    let body = &mut page[HEADER_SIZE..HEADER_SIZE + payload.len()];
    body.copy_from_slice(payload);
    let tag = seal_detached(key, &iv(h.seqno), &header[0x30..], body);
    page[..16].copy_from_slice(&tag);
    Ok(())
}

/// One VMPCK and its sequence numbers: seals requests and opens their responses in order.
pub struct Channel {
    key: [u8; 32],
    vmpck: u8,
    last: u64,
    disabled: bool,
}

impl Channel {
    /// A channel over VMPCK number ``vmpck`` (0..3) with key ``key``; no message sent yet.
    pub fn new(key: [u8; 32], vmpck: u8) -> Channel {
        Channel { key, vmpck, last: 0, disabled: false }
    }

    /// The channel for VMPCK ``vmpck`` read from the secrets page.
    pub fn from_secrets(secrets: &[u8; PAGE], vmpck: u8) -> Channel {
        let at = SECRETS_VMPCK_OFFSET + 32 * usize::from(vmpck & 3);
        let mut key = [0u8; 32];
        key.copy_from_slice(&secrets[at..at + 32]);
        Channel::new(key, vmpck & 3)
    }

    /// The sequence number the next request will carry.
    pub fn next_seqno(&self) -> Result<u64, Error> {
        if self.disabled {
            return Err(Error::Disabled);
        }
        self.last.checked_add(2).map(|_| self.last + 1).ok_or(Error::SequenceExhausted)
    }

    /// Seals a request of ``msg_type`` into ``page``; returns its sequence number.
    pub fn seal_request(
        &self,
        msg_type: u8,
        msg_version: u8,
        payload: &[u8],
        page: &mut [u8; PAGE],
    ) -> Result<u64, Error> {
        let seqno = self.next_seqno()?;
        let size = u16::try_from(payload.len()).map_err(|_| Error::PayloadTooLarge)?;
        let h = Header { seqno, msg_type, msg_version, msg_size: size, vmpck: self.vmpck };
        seal_message(&self.key, &h, payload, page)?;
        Ok(seqno)
    }

    /// Opens the response to the last sealed request (type ``request_type`` + 1, sequence
    /// number + 1, the same VMPCK) in place; returns the payload and advances the sequence
    /// numbers. Any failure (a replay, a forgery, a wrong header) wipes the key and disables
    /// the channel, as Linux's sev-guest driver does: the security processor may have counted
    /// the request, and sending the next one under the same number would reuse an IV.
    pub fn open_response<'a>(&mut self, request_type: u8, page: &'a mut [u8; PAGE]) -> Result<&'a [u8], Error> {
        match self.check_response(request_type, page) {
            Ok(size) => Ok(&page[HEADER_SIZE..HEADER_SIZE + size]),
            Err(e) => {
                self.key = [0; 32];
                self.disabled = true;
                Err(e)
            }
        }
    }

    fn check_response(&mut self, request_type: u8, page: &mut [u8; PAGE]) -> Result<usize, Error> {
        let request = self.next_seqno()?;
        let mut header = [0u8; HEADER_SIZE];
        header.copy_from_slice(&page[..HEADER_SIZE]);
        let h = Header::parse(&header)?;
        if h.seqno != request + 1 {
            return Err(Error::WrongSequence);
        }
        if h.msg_type != request_type.wrapping_add(1) {
            return Err(Error::BadHeader("msg_type"));
        }
        if h.vmpck != self.vmpck {
            return Err(Error::BadHeader("msg_vmpck"));
        }
        let size = usize::from(h.msg_size);
        if size > MAX_PAYLOAD {
            return Err(Error::BadHeader("msg_sz"));
        }
        let mut tag = [0u8; 16];
        tag.copy_from_slice(&header[..16]);
        if header[16..32].iter().any(|b| *b != 0) {
            return Err(Error::BadHeader("authtag"));
        }
        let body = &mut page[HEADER_SIZE..HEADER_SIZE + size];
        open_detached(&self.key, &iv(h.seqno), &header[0x30..], body, &tag)?;
        self.last = h.seqno;
        Ok(size)
    }
}

/// The report request payload: the app's 64 bytes and the VMPL the report is for.
pub fn report_request(report_data: &[u8; 64], vmpl: u32) -> [u8; REPORT_REQ_SIZE] {
    let mut p = [0u8; REPORT_REQ_SIZE];
    p[..64].copy_from_slice(report_data);
    p[64..68].copy_from_slice(&vmpl.to_le_bytes());
    p
}

/// The attestation report in a report response payload: status (u32, 0 = success),
/// report_size (u32), reserved (24), then the report.
pub fn report_from_response(payload: &[u8]) -> Result<&[u8], Error> {
    if payload.len() < 0x20 {
        return Err(Error::Short);
    }
    let status = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
    if status != 0 {
        return Err(Error::Status(status));
    }
    let size = u32::from_le_bytes([payload[4], payload[5], payload[6], payload[7]]) as usize;
    payload.get(0x20..0x20 + size).ok_or(Error::Short)
}

#[cfg(test)]
mod tests;
