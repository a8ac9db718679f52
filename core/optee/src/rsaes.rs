//! RSA encryption and decryption behind the GP asymmetric-cipher algorithms
//! (`TEE_AsymmetricEncrypt` / `TEE_AsymmetricDecrypt`, the `asymm_operate` call in modes
//! ENCRYPT and DECRYPT): RSAES-PKCS1-v1_5, RSAES-OAEP with MGF1 over SHA-1/224/256/384/512 (the
//! OAEP hash also MGF1's, as OP-TEE does; a label from `TEE_ATTR_RSA_OAEP_LABEL` when it is
//! UTF-8) and raw RSA (`TEE_ALG_RSA_NOPAD`, leading zero bytes of the result dropped, as OP-TEE
//! does). Decryption is blinded but, like every private-key operation of the `rsa` crate, not
//! constant-time (RUSTSEC-2023-0071).

use alloc::vec::Vec;

use crate::abi::{TeeResult, TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_NOT_SUPPORTED};
use crate::crypto::{big, HostRng, RsaKey};

pub const TEE_ALG_RSAES_PKCS1_V1_5: u32 = 0x6000_0130;
pub const TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA1: u32 = 0x6021_0230;
pub const TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA224: u32 = 0x6031_0230;
pub const TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA256: u32 = 0x6041_0230;
pub const TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA384: u32 = 0x6051_0230;
pub const TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA512: u32 = 0x6061_0230;
pub const TEE_ALG_RSA_NOPAD: u32 = 0x6000_0030;
/// The OAEP label attribute.
pub const TEE_ATTR_RSA_OAEP_LABEL: u32 = 0xD000_0930;

/// Which RSA encryption scheme a `TEE_ALG_RSAES_*` / `TEE_ALG_RSA_NOPAD` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaCipher {
    Pkcs1,
    /// OAEP with this SHA (1, 224, 256, 384, 512).
    Oaep(u32),
    NoPad,
}

impl RsaCipher {
    /// The scheme of `alg`; `TEE_ERROR_NOT_SUPPORTED` for anything else.
    pub fn of(alg: u32) -> Result<Self, TeeResult> {
        Ok(match alg {
            TEE_ALG_RSAES_PKCS1_V1_5 => RsaCipher::Pkcs1,
            TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA1 => RsaCipher::Oaep(1),
            TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA224 => RsaCipher::Oaep(224),
            TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA256 => RsaCipher::Oaep(256),
            TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA384 => RsaCipher::Oaep(384),
            TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA512 => RsaCipher::Oaep(512),
            TEE_ALG_RSA_NOPAD => RsaCipher::NoPad,
            _ => return Err(TEE_ERROR_NOT_SUPPORTED),
        })
    }

    fn oaep(sha: u32, label: Option<&[u8]>) -> Result<rsa::Oaep, TeeResult> {
        let label = match label {
            None | Some([]) => None,
            Some(l) => Some(core::str::from_utf8(l).map_err(|_| TEE_ERROR_NOT_SUPPORTED)?),
        };
        Ok(match (sha, label) {
            (1, None) => rsa::Oaep::new::<sha1::Sha1>(),
            (224, None) => rsa::Oaep::new::<sha2::Sha224>(),
            (256, None) => rsa::Oaep::new::<sha2::Sha256>(),
            (384, None) => rsa::Oaep::new::<sha2::Sha384>(),
            (_, None) => rsa::Oaep::new::<sha2::Sha512>(),
            (1, Some(l)) => rsa::Oaep::new_with_label::<sha1::Sha1, _>(l),
            (224, Some(l)) => rsa::Oaep::new_with_label::<sha2::Sha224, _>(l),
            (256, Some(l)) => rsa::Oaep::new_with_label::<sha2::Sha256, _>(l),
            (384, Some(l)) => rsa::Oaep::new_with_label::<sha2::Sha384, _>(l),
            (_, Some(l)) => rsa::Oaep::new_with_label::<sha2::Sha512, _>(l),
        })
    }
}

/// The modulus size in bytes (leading zero bytes of the attribute not counted).
pub fn modulus_len(n: &[u8]) -> usize {
    n.iter().skip_while(|b| **b == 0).count()
}

fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let lead = v.iter().take_while(|b| **b == 0).count().min(v.len().saturating_sub(1));
    v.drain(..lead);
    v
}

/// Encrypts `msg` under public key (n, e). `TEE_ERROR_BAD_PARAMETERS` for a message the
/// scheme cannot carry (too long, or for NOPAD not below the modulus).
pub fn rsa_encrypt(
    scheme: RsaCipher,
    n: &[u8],
    e: &[u8],
    label: Option<&[u8]>,
    msg: &[u8],
    fill: &mut dyn FnMut(&mut [u8]),
) -> Result<Vec<u8>, TeeResult> {
    let public = rsa::RsaPublicKey::new(big(n), big(e)).map_err(|_| TEE_ERROR_BAD_PARAMETERS)?;
    let mut rng = HostRng(fill);
    let out = match scheme {
        RsaCipher::Pkcs1 => public.encrypt(&mut rng, rsa::Pkcs1v15Encrypt, msg),
        RsaCipher::Oaep(sha) => public.encrypt(&mut rng, RsaCipher::oaep(sha, label)?, msg),
        RsaCipher::NoPad => {
            if big(msg) >= big(n) {
                return Err(TEE_ERROR_BAD_PARAMETERS);
            }
            return rsa::hazmat::rsa_encrypt(&public, &big(msg))
                .map(|c| strip_zeros(c.to_bytes_be()))
                .map_err(|_| TEE_ERROR_BAD_PARAMETERS);
        }
    };
    out.map_err(|_| TEE_ERROR_BAD_PARAMETERS)
}

/// Decrypts `cipher` with private key (n, e, d). `TEE_ERROR_BAD_PARAMETERS` when it does not
/// decrypt (wrong size, bad padding), as OP-TEE answers.
pub fn rsa_decrypt(
    scheme: RsaCipher,
    key: &RsaKey,
    label: Option<&[u8]>,
    cipher: &[u8],
    fill: &mut dyn FnMut(&mut [u8]),
) -> Result<Vec<u8>, TeeResult> {
    let private = rsa::RsaPrivateKey::from_components(big(&key.n), big(&key.e), big(&key.d), Vec::new())
        .map_err(|_| TEE_ERROR_BAD_PARAMETERS)?;
    let mut rng = HostRng(fill);
    let out = match scheme {
        RsaCipher::Pkcs1 => private.decrypt_blinded(&mut rng, rsa::Pkcs1v15Encrypt, cipher),
        RsaCipher::Oaep(sha) => private.decrypt_blinded(&mut rng, RsaCipher::oaep(sha, label)?, cipher),
        RsaCipher::NoPad => {
            if big(cipher) >= big(&key.n) {
                return Err(TEE_ERROR_BAD_PARAMETERS);
            }
            return rsa::hazmat::rsa_decrypt_and_check(&private, Some(&mut rng), &big(cipher))
                .map(|m| strip_zeros(m.to_bytes_be()))
                .map_err(|_| TEE_ERROR_BAD_PARAMETERS);
        }
    };
    out.map_err(|_| TEE_ERROR_BAD_PARAMETERS)
}
