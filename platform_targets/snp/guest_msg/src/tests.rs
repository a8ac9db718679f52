//! Host tests: the AES-256-GCM test cases 13-16 of McGrew and Viega's GCM specification, and a
//! report request/response pair whose bytes were made with an independent AES-GCM (Python's
//! `cryptography`, key 00..1f, VMPCK 0, sequence numbers 1 and 2).
extern crate std;

use super::*;
use std::vec::Vec;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn arr<const N: usize>(v: &[u8]) -> [u8; N] {
    v.try_into().unwrap()
}

const TC15_KEY: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const TC15_IV: &str = "cafebabefacedbaddecaf888";
const TC15_P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
const TC15_C: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";

#[test]
fn gcm_test_cases_13_and_14() {
    let mut empty = [];
    assert_eq!(seal_detached(&[0; 32], &[0; 12], &[], &mut empty).to_vec(), hex("530f8afbc74536b9a963b4f1c4cb738b"));
    let mut block = [0u8; 16];
    let tag = seal_detached(&[0; 32], &[0; 12], &[], &mut block);
    assert_eq!(block.to_vec(), hex("cea7403d4d606b6e074ec5d3baf39d18"));
    assert_eq!(tag.to_vec(), hex("d0d1c8a799996bf0265b98b5d48ab919"));
}

#[test]
fn gcm_test_cases_15_and_16() {
    let (key, iv) = (arr::<32>(&hex(TC15_KEY)), arr::<12>(&hex(TC15_IV)));
    let mut buf = hex(TC15_P);
    let tag = seal_detached(&key, &iv, &[], &mut buf);
    assert_eq!(buf, hex(TC15_C));
    assert_eq!(tag.to_vec(), hex("b094dac5d93471bdec1a502270e3cc6c"));
    let aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let mut buf = hex(TC15_P)[..60].to_vec();
    let tag = seal_detached(&key, &iv, &aad, &mut buf);
    assert_eq!(buf, hex(TC15_C)[..60].to_vec());
    assert_eq!(tag.to_vec(), hex("76fc6ece0f4e1768cddf8853bb2d551b"));
    assert_eq!(open_detached(&key, &iv, &aad, &mut buf, &tag), Ok(()));
    assert_eq!(buf, hex(TC15_P)[..60].to_vec());
}

const KEY: [u8; 32] = {
    let mut k = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        k[i] = i as u8;
        i += 1;
    }
    k
};
const REQ_CT: &str = "e22d803ca0aaea00420d0fc830cc86c4dc70dd3d68bd7d05560647e5013b996fccddd2ea048788e8f0f437f862242ea7c0e4fcb7d1456ca0bbb1da492b891678bcafa49213c0f2445044cd48be94fd5eb5f3e8b761e80896f353185b4abd740d";
const REQ_TAG: &str = "0f354f26b13f7433d3674d8eebcaf847";
const RSP_CT: &str = "e66eeb60fea568bdadbd6e148c86f702510c68c0d6fb80134a76183a6881791347a41992";
const RSP_TAG: &str = "ad43e27acd2526f1259ea7d57859eab5";

fn report_data() -> [u8; 64] {
    core::array::from_fn(|i| i as u8)
}

fn response_page() -> [u8; PAGE] {
    let mut page = [0u8; PAGE];
    let h = Header { seqno: 2, msg_type: MSG_REPORT_RSP, msg_version: 1, msg_size: 0x24, vmpck: 0 };
    page[..HEADER_SIZE].copy_from_slice(&h.bytes());
    page[..16].copy_from_slice(&hex(RSP_TAG));
    page[HEADER_SIZE..HEADER_SIZE + 0x24].copy_from_slice(&hex(RSP_CT));
    page
}

#[test]
fn report_request_matches_the_vector() {
    let ch = Channel::new(KEY, 0);
    let mut page = [0u8; PAGE];
    let seq = ch.seal_request(MSG_REPORT_REQ, 1, &report_request(&report_data(), 0), &mut page).unwrap();
    assert_eq!(seq, 1);
    assert_eq!(page[..16].to_vec(), hex(REQ_TAG));
    assert_eq!(&page[16..32], &[0u8; 16]);
    assert_eq!(page[0x20..0x28], 1u64.to_le_bytes());
    assert_eq!(&page[0x30..0x38], &[1, 1, 0x60, 0, MSG_REPORT_REQ, 1, 0x60, 0]);
    assert_eq!(page[HEADER_SIZE..HEADER_SIZE + REPORT_REQ_SIZE].to_vec(), hex(REQ_CT));
}

#[test]
fn report_response_opens_and_advances_the_sequence() {
    let mut ch = Channel::new(KEY, 0);
    let mut page = response_page();
    let payload = ch.open_response(MSG_REPORT_REQ, &mut page).unwrap();
    assert_eq!(report_from_response(payload), Ok(&b"RPRT"[..]));
    assert_eq!(ch.next_seqno(), Ok(3));
    // The same response again is a replay: its number is not the next request's + 1; the
    // channel is disabled from then on (no IV reuse).
    let mut again = response_page();
    assert_eq!(ch.open_response(MSG_REPORT_REQ, &mut again), Err(Error::WrongSequence));
    assert_eq!(ch.next_seqno(), Err(Error::Disabled));
    assert_eq!(ch.seal_request(MSG_REPORT_REQ, 1, &[0; 4], &mut again), Err(Error::Disabled));
}

#[test]
fn tampering_is_refused_and_disables_the_channel() {
    for at in [0usize, 0x34 + 2, 0x3C, HEADER_SIZE + 5] {
        let mut ch = Channel::new(KEY, 0);
        let mut page = response_page();
        page[at] ^= 0x01;
        assert!(ch.open_response(MSG_REPORT_REQ, &mut page).is_err(), "byte {at:#x}");
        assert_eq!(ch.next_seqno(), Err(Error::Disabled));
    }
    let mut other_key = Channel::new([7; 32], 0);
    assert_eq!(other_key.open_response(MSG_REPORT_REQ, &mut response_page()), Err(Error::Authentication));
}

#[test]
fn header_fields_are_checked() {
    let mut ch = Channel::new(KEY, 1);
    assert_eq!(ch.open_response(MSG_REPORT_REQ, &mut response_page()), Err(Error::BadHeader("msg_vmpck")));
    let mut ch = Channel::new(KEY, 0);
    assert_eq!(ch.open_response(7, &mut response_page()), Err(Error::BadHeader("msg_type")));
    let mut page = response_page();
    page[0x30] = 2;
    let mut ch = Channel::new(KEY, 0);
    assert_eq!(ch.open_response(MSG_REPORT_REQ, &mut page), Err(Error::BadHeader("algo")));
}

#[test]
fn report_status_and_size() {
    let mut failed = [0u8; 0x20];
    failed[0] = 0x16;
    assert_eq!(report_from_response(&failed), Err(Error::Status(0x16)));
    let mut long = [0u8; 0x24];
    long[4] = 0xFF;
    assert_eq!(report_from_response(&long), Err(Error::Short));
}

#[test]
fn secrets_page_keys_and_exhausted_sequence() {
    let mut secrets = [0u8; PAGE];
    secrets[SECRETS_VMPCK_OFFSET + 32..SECRETS_VMPCK_OFFSET + 64].copy_from_slice(&KEY);
    let mut ch = Channel::from_secrets(&secrets, 1);
    let mut page = [0u8; PAGE];
    ch.seal_request(MSG_REPORT_REQ, 1, &[0; 4], &mut page).unwrap();
    assert_eq!(page[0x3C], 1);
    assert_eq!(ch.seal_request(MSG_REPORT_REQ, 1, &[0; MAX_PAYLOAD + 1], &mut page), Err(Error::PayloadTooLarge));
    ch.last = u64::MAX - 1;
    assert_eq!(ch.next_seqno(), Err(Error::SequenceExhausted));
    assert_eq!(ch.seal_request(MSG_REPORT_REQ, 1, &[0; 4], &mut page), Err(Error::SequenceExhausted));
}
