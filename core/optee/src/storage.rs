//! Sealed persistent objects: how a TA's secure-storage object is kept in a host directory.
//!
//! Each object is one host file named by [`object_file_name`] (a digest of the TA's UUID and
//! the object id, so the directory does not show the ids). Its content is
//! `"LBXO" ‖ version (1) ‖ nonce (12) ‖ AES-256-GCM(ciphertext ‖ tag)`, the key being
//! HMAC-SHA-256(storage key, "litebox-optee-storage" ‖ TA UUID) and the associated data the
//! TA's UUID and the object id, so an object cannot be edited, truncated, or moved to another
//! name or TA without [`unseal`] answering `TEE_ERROR_CORRUPT_OBJECT`. The storage key is the
//! platform's (see docs/targets/optee.md); the nonce comes from the platform's entropy.

use alloc::string::String;
use alloc::vec::Vec;

use hmac::{Hmac, Mac};
use sha2::Digest;

use crate::abi::{TeeResult, TEE_ERROR_CORRUPT_OBJECT};
use crate::crypto::{gcm_decrypt, gcm_encrypt};
use crate::uuid::TeeUuid;

const MAGIC: &[u8; 4] = b"LBXO";
const VERSION: u8 = 1;
const HEADER: usize = 4 + 1 + 12;

/// The longest object id GP allows (`TEE_OBJECT_ID_MAX_LEN`).
pub const OBJECT_ID_MAX_LEN: usize = 64;

fn ta_key(storage_key: &[u8; 32], ta: &TeeUuid) -> [u8; 32] {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(storage_key).unwrap_or_else(|_| unreachable!());
    mac.update(b"litebox-optee-storage");
    mac.update(&ta.to_be_bytes());
    mac.finalize().into_bytes().into()
}

fn associated(ta: &TeeUuid, id: &[u8]) -> Vec<u8> {
    let mut aad = ta.to_be_bytes().to_vec();
    aad.extend_from_slice(&(id.len() as u32).to_le_bytes());
    aad.extend_from_slice(id);
    aad
}

/// The host file name of object `id` of TA `ta`: 64 hex digits.
pub fn object_file_name(ta: &TeeUuid, id: &[u8]) -> String {
    let mut h = sha2::Sha256::new();
    h.update(b"litebox-optee-object");
    h.update(associated(ta, id));
    let mut name = String::with_capacity(64);
    for b in h.finalize() {
        name.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        name.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    name
}

/// The sealed bytes of object `id` holding `data`, under a fresh `nonce`.
pub fn seal(storage_key: &[u8; 32], ta: &TeeUuid, id: &[u8], data: &[u8], nonce: &[u8; 12]) -> Vec<u8> {
    let key = ta_key(storage_key, ta);
    let (ct, tag) = gcm_encrypt(&key, nonce, &associated(ta, id), data).unwrap_or_else(|_| unreachable!());
    let mut out = Vec::with_capacity(HEADER + ct.len() + 16);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ct);
    out.extend_from_slice(&tag);
    out
}

/// The data of sealed object `id`; `TEE_ERROR_CORRUPT_OBJECT` if the bytes were changed,
/// cut, or belong to another object or TA.
pub fn unseal(storage_key: &[u8; 32], ta: &TeeUuid, id: &[u8], sealed: &[u8]) -> Result<Vec<u8>, TeeResult> {
    if sealed.len() < HEADER + 16 || &sealed[..4] != MAGIC || sealed[4] != VERSION {
        return Err(TEE_ERROR_CORRUPT_OBJECT);
    }
    let key = ta_key(storage_key, ta);
    let (body, tag) = sealed[HEADER..].split_at(sealed.len() - HEADER - 16);
    gcm_decrypt(&key, &sealed[5..HEADER], &associated(ta, id), body, tag).map_err(|_| TEE_ERROR_CORRUPT_OBJECT)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn ta() -> TeeUuid {
        TeeUuid::parse("f4e750bb-1437-4fbf-8785-8d3580c34994").unwrap()
    }

    #[test]
    fn seals_and_unseals() {
        let sealed = seal(&KEY, &ta(), b"counter", b"\x05\0\0\0", &[1; 12]);
        assert_eq!(&sealed[..5], b"LBXO\x01");
        assert!(!sealed.windows(4).any(|w| w == b"\x05\0\0\0"), "the data is encrypted");
        assert_eq!(unseal(&KEY, &ta(), b"counter", &sealed).unwrap(), b"\x05\0\0\0");
        assert_eq!(object_file_name(&ta(), b"counter").len(), 64);
        assert_ne!(object_file_name(&ta(), b"counter"), object_file_name(&ta(), b"counter2"));
    }

    #[test]
    fn any_change_is_a_corrupt_object() {
        let sealed = seal(&KEY, &ta(), b"counter", b"hello world", &[1; 12]);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(unseal(&KEY, &ta(), b"counter", &bad), Err(TEE_ERROR_CORRUPT_OBJECT), "byte {i}");
        }
        assert_eq!(unseal(&KEY, &ta(), b"counter", &sealed[..sealed.len() - 1]), Err(TEE_ERROR_CORRUPT_OBJECT));
        assert_eq!(unseal(&KEY, &ta(), b"other", &sealed), Err(TEE_ERROR_CORRUPT_OBJECT), "moved to another name");
        let other_ta = TeeUuid::parse("8aaaf200-2450-11e4-abe2-0002a5d5c51b").unwrap();
        assert_eq!(unseal(&KEY, &other_ta, b"counter", &sealed), Err(TEE_ERROR_CORRUPT_OBJECT), "another TA");
        assert_eq!(unseal(&[8; 32], &ta(), b"counter", &sealed), Err(TEE_ERROR_CORRUPT_OBJECT), "another key");
    }
}
