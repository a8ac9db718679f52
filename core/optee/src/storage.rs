//! Sealed persistent objects: how a TA's secure-storage object is kept in a host directory.
//!
//! Each object is one host file named by [`object_file_name`] (a digest of the TA's UUID and
//! the object id, so the directory does not show the ids). Its content is
//! `"LBXO" ‖ version (1) ‖ nonce (12) ‖ AES-256-GCM(ciphertext ‖ tag)`, the key being
//! HMAC-SHA-256(storage key, "litebox-optee-storage" ‖ TA UUID), the associated data the TA's
//! UUID, and the plaintext the object id (length-prefixed) then the object, so an object cannot
//! be edited, truncated, or moved to another file or TA without [`unseal`] answering
//! `TEE_ERROR_CORRUPT_OBJECT`. The storage key is the
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

fn associated(ta: &TeeUuid) -> [u8; 16] {
    ta.to_be_bytes()
}

/// The host file name of object `id` of TA `ta`: 64 hex digits.
pub fn object_file_name(ta: &TeeUuid, id: &[u8]) -> String {
    let mut h = sha2::Sha256::new();
    h.update(b"litebox-optee-object");
    h.update(ta.to_be_bytes());
    h.update(id);
    let mut name = String::with_capacity(64);
    for b in h.finalize() {
        name.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        name.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
    }
    name
}

/// The sealed bytes of object `id` holding `data`, under a fresh `nonce`. The id travels
/// inside the encrypted part, so enumeration can recover it and a renamed file is detected.
pub fn seal(storage_key: &[u8; 32], ta: &TeeUuid, id: &[u8], data: &[u8], nonce: &[u8; 12]) -> Vec<u8> {
    let key = ta_key(storage_key, ta);
    let mut plain = Vec::with_capacity(4 + id.len() + data.len());
    plain.extend_from_slice(&(id.len() as u32).to_le_bytes());
    plain.extend_from_slice(id);
    plain.extend_from_slice(data);
    let (ct, tag) = gcm_encrypt(&key, nonce, &associated(ta), &plain).unwrap_or_else(|_| unreachable!());
    let mut out = Vec::with_capacity(HEADER + ct.len() + 16);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ct);
    out.extend_from_slice(&tag);
    out
}

/// The (id, data) of a sealed object found in file `file_name`; `TEE_ERROR_CORRUPT_OBJECT` if
/// the bytes were changed or cut, were sealed for another TA or key, or belong to another name.
pub fn unseal(
    storage_key: &[u8; 32],
    ta: &TeeUuid,
    file_name: &str,
    sealed: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), TeeResult> {
    if sealed.len() < HEADER + 16 || &sealed[..4] != MAGIC || sealed[4] != VERSION {
        return Err(TEE_ERROR_CORRUPT_OBJECT);
    }
    let key = ta_key(storage_key, ta);
    let (body, tag) = sealed[HEADER..].split_at(sealed.len() - HEADER - 16);
    let mut plain =
        gcm_decrypt(&key, &sealed[5..HEADER], &associated(ta), body, tag).map_err(|_| TEE_ERROR_CORRUPT_OBJECT)?;
    let id_len = plain.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let id_len = id_len.filter(|n| *n <= OBJECT_ID_MAX_LEN && 4 + n <= plain.len()).ok_or(TEE_ERROR_CORRUPT_OBJECT)?;
    let data = plain.split_off(4 + id_len);
    let id = plain[4..].to_vec();
    if object_file_name(ta, &id) != file_name {
        return Err(TEE_ERROR_CORRUPT_OBJECT);
    }
    Ok((id, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    fn name(id: &[u8]) -> String {
        object_file_name(&ta(), id)
    }

    fn ta() -> TeeUuid {
        TeeUuid::parse("f4e750bb-1437-4fbf-8785-8d3580c34994").unwrap()
    }

    #[test]
    fn seals_and_unseals() {
        let sealed = seal(&KEY, &ta(), b"counter", b"\x05\0\0\0", &[1; 12]);
        assert_eq!(&sealed[..5], b"LBXO\x01");
        assert!(!sealed.windows(4).any(|w| w == b"\x05\0\0\0"), "the data is encrypted");
        let (id, data) = unseal(&KEY, &ta(), &name(b"counter"), &sealed).unwrap();
        assert_eq!((id.as_slice(), data.as_slice()), (&b"counter"[..], &b"\x05\0\0\0"[..]));
        assert_eq!(object_file_name(&ta(), b"counter").len(), 64);
        assert_ne!(object_file_name(&ta(), b"counter"), object_file_name(&ta(), b"counter2"));
    }

    #[test]
    fn any_change_is_a_corrupt_object() {
        let sealed = seal(&KEY, &ta(), b"counter", b"hello world", &[1; 12]);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(unseal(&KEY, &ta(), &name(b"counter"), &bad), Err(TEE_ERROR_CORRUPT_OBJECT), "byte {i}");
        }
        assert_eq!(unseal(&KEY, &ta(), &name(b"counter"), &sealed[..sealed.len() - 1]), Err(TEE_ERROR_CORRUPT_OBJECT));
        assert_eq!(
            unseal(&KEY, &ta(), &name(b"other"), &sealed),
            Err(TEE_ERROR_CORRUPT_OBJECT),
            "moved to another name"
        );
        let other_ta = TeeUuid::parse("8aaaf200-2450-11e4-abe2-0002a5d5c51b").unwrap();
        assert_eq!(
            unseal(&KEY, &other_ta, &object_file_name(&other_ta, b"counter"), &sealed),
            Err(TEE_ERROR_CORRUPT_OBJECT),
            "another TA"
        );
        assert_eq!(unseal(&[8; 32], &ta(), &name(b"counter"), &sealed), Err(TEE_ERROR_CORRUPT_OBJECT), "another key");
    }
}
