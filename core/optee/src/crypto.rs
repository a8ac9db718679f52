//! The TEE's cryptography behind GP algorithm identifiers (`TEE_ALG_*`), with RustCrypto crates:
//! digests (SHA-1, SHA-224, SHA-256, SHA-384, SHA-512), HMAC over them, AES (128/192/256) in
//! ECB and CBC without padding and CTR, AES-GCM, and ECDSA on P-256 and P-384 (signatures as
//! GP gives them: r then s, each the size of the curve's order).

use alloc::vec::Vec;

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use hmac::{Hmac, Mac as _};
use sha2::Digest as _;

use crate::abi::{
    TeeResult, TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_BAD_STATE, TEE_ERROR_MAC_INVALID, TEE_ERROR_NOT_SUPPORTED,
    TEE_ERROR_SIGNATURE_INVALID,
};

pub const TEE_ALG_AES_ECB_NOPAD: u32 = 0x1000_0010;
pub const TEE_ALG_AES_CBC_NOPAD: u32 = 0x1000_0110;
pub const TEE_ALG_AES_CTR: u32 = 0x1000_0210;
pub const TEE_ALG_AES_GCM: u32 = 0x4000_0810;
pub const TEE_ALG_SHA1: u32 = 0x5000_0002;
pub const TEE_ALG_SHA224: u32 = 0x5000_0003;
pub const TEE_ALG_SHA256: u32 = 0x5000_0004;
pub const TEE_ALG_SHA384: u32 = 0x5000_0005;
pub const TEE_ALG_SHA512: u32 = 0x5000_0006;
pub const TEE_ALG_HMAC_SHA1: u32 = 0x3000_0002;
pub const TEE_ALG_HMAC_SHA224: u32 = 0x3000_0003;
pub const TEE_ALG_HMAC_SHA256: u32 = 0x3000_0004;
pub const TEE_ALG_HMAC_SHA384: u32 = 0x3000_0005;
pub const TEE_ALG_HMAC_SHA512: u32 = 0x3000_0006;
pub const TEE_ALG_AES_CMAC: u32 = 0x3000_0610;
pub const TEE_ALG_ECDSA_P256: u32 = 0x7000_3041;
pub const TEE_ALG_ECDSA_P384: u32 = 0x7000_4041;

/// `TEE_OperationMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Encrypt = 0,
    Decrypt = 1,
}

/// A running digest.
#[derive(Clone)]
pub enum Digest {
    Sha1(sha1::Sha1),
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Digest {
    /// A fresh digest for `TEE_ALG_SHA*`; `TEE_ERROR_NOT_SUPPORTED` for anything else.
    pub fn new(alg: u32) -> Result<Self, TeeResult> {
        Ok(match alg {
            TEE_ALG_SHA1 => Digest::Sha1(sha1::Sha1::new()),
            TEE_ALG_SHA224 => Digest::Sha224(sha2::Sha224::new()),
            TEE_ALG_SHA256 => Digest::Sha256(sha2::Sha256::new()),
            TEE_ALG_SHA384 => Digest::Sha384(sha2::Sha384::new()),
            TEE_ALG_SHA512 => Digest::Sha512(sha2::Sha512::new()),
            _ => return Err(TEE_ERROR_NOT_SUPPORTED),
        })
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Digest::Sha1(h) => h.update(data),
            Digest::Sha224(h) => h.update(data),
            Digest::Sha256(h) => h.update(data),
            Digest::Sha384(h) => h.update(data),
            Digest::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Digest::Sha1(h) => h.finalize().to_vec(),
            Digest::Sha224(h) => h.finalize().to_vec(),
            Digest::Sha256(h) => h.finalize().to_vec(),
            Digest::Sha384(h) => h.finalize().to_vec(),
            Digest::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// A running MAC: HMAC, or AES-CMAC (NIST SP 800-38B).
#[derive(Clone)]
pub enum Mac {
    Cmac(alloc::boxed::Box<AesCmac>),
    Sha1(Hmac<sha1::Sha1>),
    Sha224(Hmac<sha2::Sha224>),
    Sha256(Hmac<sha2::Sha256>),
    Sha384(Hmac<sha2::Sha384>),
    Sha512(Hmac<sha2::Sha512>),
}

impl Mac {
    /// A fresh MAC for `TEE_ALG_HMAC_*` or `TEE_ALG_AES_CMAC` keyed with `key`.
    pub fn new(alg: u32, key: &[u8]) -> Result<Self, TeeResult> {
        let bad = |_| TEE_ERROR_BAD_PARAMETERS;
        Ok(match alg {
            TEE_ALG_AES_CMAC => Mac::Cmac(alloc::boxed::Box::new(AesCmac::new(key)?)),
            TEE_ALG_HMAC_SHA1 => Mac::Sha1(<_ as hmac::Mac>::new_from_slice(key).map_err(bad)?),
            TEE_ALG_HMAC_SHA224 => Mac::Sha224(<_ as hmac::Mac>::new_from_slice(key).map_err(bad)?),
            TEE_ALG_HMAC_SHA256 => Mac::Sha256(<_ as hmac::Mac>::new_from_slice(key).map_err(bad)?),
            TEE_ALG_HMAC_SHA384 => Mac::Sha384(<_ as hmac::Mac>::new_from_slice(key).map_err(bad)?),
            TEE_ALG_HMAC_SHA512 => Mac::Sha512(<_ as hmac::Mac>::new_from_slice(key).map_err(bad)?),
            _ => return Err(TEE_ERROR_NOT_SUPPORTED),
        })
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Mac::Cmac(m) => m.update(data),
            Mac::Sha1(m) => m.update(data),
            Mac::Sha224(m) => m.update(data),
            Mac::Sha256(m) => m.update(data),
            Mac::Sha384(m) => m.update(data),
            Mac::Sha512(m) => m.update(data),
        }
    }

    /// The MAC of everything fed.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Mac::Cmac(m) => m.finish().to_vec(),
            Mac::Sha1(m) => m.finalize().into_bytes().to_vec(),
            Mac::Sha224(m) => m.finalize().into_bytes().to_vec(),
            Mac::Sha256(m) => m.finalize().into_bytes().to_vec(),
            Mac::Sha384(m) => m.finalize().into_bytes().to_vec(),
            Mac::Sha512(m) => m.finalize().into_bytes().to_vec(),
        }
    }

    /// `TEE_MACCompareFinal`: `TEE_ERROR_MAC_INVALID` unless the MAC equals `expected`
    /// (compared in constant time).
    pub fn compare(self, expected: &[u8]) -> Result<(), TeeResult> {
        let mac = self.finish();
        let mut diff = (mac.len() ^ expected.len()) as u8;
        for (a, b) in mac.iter().zip(expected) {
            diff |= a ^ b;
        }
        if diff == 0 {
            Ok(())
        } else {
            Err(TEE_ERROR_MAC_INVALID)
        }
    }
}

#[derive(Clone)]
enum AesKey {
    A128(aes::Aes128),
    A192(aes::Aes192),
    A256(aes::Aes256),
}

impl AesKey {
    fn new(key: &[u8]) -> Result<Self, TeeResult> {
        let bad = |_| TEE_ERROR_BAD_PARAMETERS;
        Ok(match key.len() {
            16 => AesKey::A128(aes::Aes128::new_from_slice(key).map_err(bad)?),
            24 => AesKey::A192(aes::Aes192::new_from_slice(key).map_err(bad)?),
            32 => AesKey::A256(aes::Aes256::new_from_slice(key).map_err(bad)?),
            _ => return Err(TEE_ERROR_BAD_PARAMETERS),
        })
    }

    fn encrypt(&self, block: &mut [u8; 16]) {
        let b: &mut aes::Block = block.into();
        match self {
            AesKey::A128(k) => k.encrypt_block(b),
            AesKey::A192(k) => k.encrypt_block(b),
            AesKey::A256(k) => k.encrypt_block(b),
        }
    }

    fn decrypt(&self, block: &mut [u8; 16]) {
        let b: &mut aes::Block = block.into();
        match self {
            AesKey::A128(k) => k.decrypt_block(b),
            AesKey::A192(k) => k.decrypt_block(b),
            AesKey::A256(k) => k.decrypt_block(b),
        }
    }
}

/// AES-CMAC (NIST SP 800-38B, RFC 4493) over a 128/192/256-bit key.
#[derive(Clone)]
pub struct AesCmac {
    key: AesKey,
    /// The chaining value after every block fed but the last.
    x: [u8; 16],
    /// The data not yet chained: at most one block (the last one is kept for `finish`).
    pending: Vec<u8>,
}

impl AesCmac {
    fn new(key: &[u8]) -> Result<Self, TeeResult> {
        Ok(AesCmac { key: AesKey::new(key)?, x: [0; 16], pending: Vec::new() })
    }

    fn update(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
        while self.pending.len() > 16 {
            for (x, b) in self.x.iter_mut().zip(&self.pending[..16]) {
                *x ^= b;
            }
            self.key.encrypt(&mut self.x);
            self.pending.drain(..16);
        }
    }

    fn finish(mut self) -> [u8; 16] {
        fn double(b: &[u8; 16]) -> [u8; 16] {
            let mut out = [0u8; 16];
            for i in 0..16 {
                out[i] = (b[i] << 1) | b.get(i + 1).map_or(0, |n| n >> 7);
            }
            if b[0] & 0x80 != 0 {
                out[15] ^= 0x87;
            }
            out
        }
        let mut l = [0u8; 16];
        self.key.encrypt(&mut l);
        let k1 = double(&l);
        let mut last = [0u8; 16];
        let subkey = if self.pending.len() == 16 {
            last.copy_from_slice(&self.pending);
            k1
        } else {
            last[..self.pending.len()].copy_from_slice(&self.pending);
            last[self.pending.len()] = 0x80;
            double(&k1)
        };
        for i in 0..16 {
            self.x[i] ^= last[i] ^ subkey[i];
        }
        self.key.encrypt(&mut self.x);
        self.x
    }
}

/// A running AES cipher in ECB (no padding), CBC (no padding) or CTR mode.
#[derive(Clone)]
pub struct Cipher {
    alg: u32,
    mode: Mode,
    key: AesKey,
    /// CBC: the chaining block; CTR: the counter block.
    iv: [u8; 16],
    /// Input not yet a whole block (ECB/CBC), or unused key stream (CTR: `stream[used..]`).
    pending: Vec<u8>,
    stream: [u8; 16],
    used: usize,
}

impl Cipher {
    /// `TEE_CipherInit`: AES key of 16, 24 or 32 bytes; `iv` 16 bytes for CBC and CTR, empty for ECB.
    pub fn new(alg: u32, mode: Mode, key: &[u8], iv: &[u8]) -> Result<Self, TeeResult> {
        let key = AesKey::new(key)?;
        let mut block = [0u8; 16];
        match alg {
            TEE_ALG_AES_ECB_NOPAD => {}
            TEE_ALG_AES_CBC_NOPAD | TEE_ALG_AES_CTR => {
                block = iv.try_into().map_err(|_| TEE_ERROR_BAD_PARAMETERS)?;
            }
            _ => return Err(TEE_ERROR_NOT_SUPPORTED),
        }
        Ok(Cipher { alg, mode, key, iv: block, pending: Vec::new(), stream: [0; 16], used: 16 })
    }

    /// `TEE_CipherUpdate`: the output for `data` (whole blocks only in ECB/CBC; the rest waits).
    pub fn update(&mut self, data: &[u8]) -> Vec<u8> {
        if self.alg == TEE_ALG_AES_CTR {
            return data.iter().map(|b| b ^ self.next_stream_byte()).collect();
        }
        self.pending.extend_from_slice(data);
        let whole = self.pending.len() / 16 * 16;
        let mut out: Vec<u8> = self.pending.drain(..whole).collect();
        for chunk in out.chunks_exact_mut(16) {
            let block: &mut [u8; 16] = chunk.try_into().unwrap_or_else(|_| unreachable!());
            self.block(block);
        }
        out
    }

    /// `TEE_CipherDoFinal`: the output for the last `data`; ECB/CBC input that does not end
    /// on a block boundary is `TEE_ERROR_BAD_PARAMETERS`.
    pub fn finish(mut self, data: &[u8]) -> Result<Vec<u8>, TeeResult> {
        let out = self.update(data);
        if !self.pending.is_empty() {
            return Err(TEE_ERROR_BAD_PARAMETERS);
        }
        Ok(out)
    }

    fn block(&mut self, block: &mut [u8; 16]) {
        match (self.alg, self.mode) {
            (TEE_ALG_AES_ECB_NOPAD, Mode::Encrypt) => self.key.encrypt(block),
            (TEE_ALG_AES_ECB_NOPAD, Mode::Decrypt) => self.key.decrypt(block),
            (_, Mode::Encrypt) => {
                for (b, c) in block.iter_mut().zip(self.iv) {
                    *b ^= c;
                }
                self.key.encrypt(block);
                self.iv = *block;
            }
            (_, Mode::Decrypt) => {
                let cipher = *block;
                self.key.decrypt(block);
                for (b, c) in block.iter_mut().zip(self.iv) {
                    *b ^= c;
                }
                self.iv = cipher;
            }
        }
    }

    fn next_stream_byte(&mut self) -> u8 {
        if self.used == 16 {
            self.stream = self.iv;
            self.key.encrypt(&mut self.stream);
            // The whole 128-bit counter block counts up, big-endian, as GP's AES-CTR does.
            for byte in self.iv.iter_mut().rev() {
                *byte = byte.wrapping_add(1);
                if *byte != 0 {
                    break;
                }
            }
            self.used = 0;
        }
        self.used += 1;
        self.stream[self.used - 1]
    }
}

/// AES-GCM with a 12-byte nonce and a 16-byte tag: (ciphertext, tag).
pub fn gcm_encrypt(key: &[u8], nonce: &[u8], aad: &[u8], plain: &[u8]) -> Result<(Vec<u8>, [u8; 16]), TeeResult> {
    use aes_gcm::aead::AeadInPlace;
    if nonce.len() != 12 {
        return Err(TEE_ERROR_NOT_SUPPORTED);
    }
    let nonce: &[u8; 12] = nonce.try_into().map_err(|_| TEE_ERROR_NOT_SUPPORTED)?;
    let nonce = nonce.into();
    let mut buf = plain.to_vec();
    let bad = |_| TEE_ERROR_BAD_PARAMETERS;
    let tag = match key.len() {
        16 => aes_gcm::Aes128Gcm::new_from_slice(key).map_err(bad)?.encrypt_in_place_detached(nonce, aad, &mut buf),
        32 => aes_gcm::Aes256Gcm::new_from_slice(key).map_err(bad)?.encrypt_in_place_detached(nonce, aad, &mut buf),
        _ => return Err(TEE_ERROR_NOT_SUPPORTED),
    }
    .map_err(|_| TEE_ERROR_BAD_PARAMETERS)?;
    Ok((buf, tag.into()))
}

/// AES-GCM decryption; `TEE_ERROR_MAC_INVALID` when the tag does not match.
pub fn gcm_decrypt(key: &[u8], nonce: &[u8], aad: &[u8], cipher: &[u8], tag: &[u8]) -> Result<Vec<u8>, TeeResult> {
    use aes_gcm::aead::AeadInPlace;
    if nonce.len() != 12 || tag.len() != 16 {
        return Err(TEE_ERROR_NOT_SUPPORTED);
    }
    let nonce: &[u8; 12] = nonce.try_into().map_err(|_| TEE_ERROR_NOT_SUPPORTED)?;
    let nonce = nonce.into();
    let tag: &[u8; 16] = tag.try_into().map_err(|_| TEE_ERROR_NOT_SUPPORTED)?;
    let tag = tag.into();
    let mut buf = cipher.to_vec();
    let bad = |_| TEE_ERROR_BAD_PARAMETERS;
    match key.len() {
        16 => {
            aes_gcm::Aes128Gcm::new_from_slice(key).map_err(bad)?.decrypt_in_place_detached(nonce, aad, &mut buf, tag)
        }
        32 => {
            aes_gcm::Aes256Gcm::new_from_slice(key).map_err(bad)?.decrypt_in_place_detached(nonce, aad, &mut buf, tag)
        }
        _ => return Err(TEE_ERROR_NOT_SUPPORTED),
    }
    .map_err(|_| TEE_ERROR_MAC_INVALID)?;
    Ok(buf)
}

/// The curves ECDSA is offered on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    P256,
    P384,
}

impl Curve {
    /// The curve of `TEE_ALG_ECDSA_P256` / `_P384`.
    pub fn of_alg(alg: u32) -> Result<Self, TeeResult> {
        match alg {
            TEE_ALG_ECDSA_P256 => Ok(Curve::P256),
            TEE_ALG_ECDSA_P384 => Ok(Curve::P384),
            _ => Err(TEE_ERROR_NOT_SUPPORTED),
        }
    }

    /// Bytes in a scalar or a coordinate.
    pub fn size(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
        }
    }
}

/// A generated or imported EC key: private scalar `d` and public point (`x`, `y`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcKey {
    pub curve: Curve,
    pub d: Vec<u8>,
    pub x: Vec<u8>,
    pub y: Vec<u8>,
}

/// Generates a key on `curve`, drawing candidate scalars from `fill` until one is in range.
pub fn ec_generate(curve: Curve, fill: &mut dyn FnMut(&mut [u8])) -> Result<EcKey, TeeResult> {
    let mut d = alloc::vec![0u8; curve.size()];
    for _ in 0..64 {
        fill(&mut d);
        if let Ok(key) = ec_from_private(curve, &d) {
            return Ok(key);
        }
    }
    Err(TEE_ERROR_BAD_STATE)
}

/// The full key for private scalar `d`; `TEE_ERROR_BAD_PARAMETERS` when `d` is not a valid scalar.
pub fn ec_from_private(curve: Curve, d: &[u8]) -> Result<EcKey, TeeResult> {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let bad = |_| TEE_ERROR_BAD_PARAMETERS;
    let point = match curve {
        Curve::P256 => {
            p256::SecretKey::from_slice(d).map_err(bad)?.public_key().to_encoded_point(false).as_bytes().to_vec()
        }
        Curve::P384 => {
            p384::SecretKey::from_slice(d).map_err(bad)?.public_key().to_encoded_point(false).as_bytes().to_vec()
        }
    };
    let n = curve.size();
    Ok(EcKey { curve, d: d.to_vec(), x: point[1..1 + n].to_vec(), y: point[1 + n..].to_vec() })
}

/// ECDSA signature (r ‖ s) of `digest` with private scalar `d` (deterministic, RFC 6979).
pub fn ecdsa_sign(curve: Curve, d: &[u8], digest: &[u8]) -> Result<Vec<u8>, TeeResult> {
    use p256::ecdsa::signature::hazmat::PrehashSigner;
    let bad = |_| TEE_ERROR_BAD_PARAMETERS;
    Ok(match curve {
        Curve::P256 => {
            let key = p256::ecdsa::SigningKey::from_slice(d).map_err(bad)?;
            let sig: p256::ecdsa::Signature = key.sign_prehash(digest).map_err(bad)?;
            sig.to_bytes().to_vec()
        }
        Curve::P384 => {
            let key = p384::ecdsa::SigningKey::from_slice(d).map_err(bad)?;
            let sig: p384::ecdsa::Signature = key.sign_prehash(digest).map_err(bad)?;
            sig.to_bytes().to_vec()
        }
    })
}

/// Checks ECDSA signature `sig` (r ‖ s) of `digest` under public point (`x`, `y`):
/// `TEE_ERROR_SIGNATURE_INVALID` when it does not verify or is malformed.
pub fn ecdsa_verify(curve: Curve, x: &[u8], y: &[u8], digest: &[u8], sig: &[u8]) -> Result<(), TeeResult> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let n = curve.size();
    if x.len() != n || y.len() != n || sig.len() != 2 * n {
        return Err(TEE_ERROR_SIGNATURE_INVALID);
    }
    let mut sec1 = alloc::vec![4u8];
    sec1.extend_from_slice(x);
    sec1.extend_from_slice(y);
    let invalid = |_| TEE_ERROR_SIGNATURE_INVALID;
    match curve {
        Curve::P256 => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(invalid)?;
            let sig = p256::ecdsa::Signature::from_slice(sig).map_err(invalid)?;
            key.verify_prehash(digest, &sig).map_err(invalid)
        }
        Curve::P384 => {
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).map_err(invalid)?;
            let sig = p384::ecdsa::Signature::from_slice(sig).map_err(invalid)?;
            key.verify_prehash(digest, &sig).map_err(invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        s.chunks(2).map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
    }

    fn digest(alg: u32, data: &[u8]) -> Vec<u8> {
        let mut d = Digest::new(alg).unwrap();
        d.update(data);
        d.finish()
    }

    #[test]
    fn sha_known_answers_fips180() {
        assert_eq!(digest(TEE_ALG_SHA1, b"abc"), hex("a9993e364706816aba3e25717850c26c9cd0d89d"));
        assert_eq!(
            digest(TEE_ALG_SHA256, b"abc"),
            hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            digest(TEE_ALG_SHA512, b"abc"),
            hex("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
        );
        let mut split = Digest::new(TEE_ALG_SHA256).unwrap();
        split.update(b"a");
        split.update(b"bc");
        assert_eq!(split.finish(), digest(TEE_ALG_SHA256, b"abc"));
        assert!(Digest::new(0x5000_0001).is_err(), "MD5 is not offered");
    }

    #[test]
    fn aes_cmac_known_answers_rfc4493() {
        let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let m = hex(
            "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
        );
        for (len, tag) in [
            (0, "bb1d6929e95937287fa37d129b756746"),
            (16, "070a16b46b4d4144f79bdd9dd04a287c"),
            (40, "dfa66747de9ae63030ca32611497c827"),
            (64, "51f0bebf7e3b9d92fc49741779363cfe"),
        ] {
            let mut mac = Mac::new(TEE_ALG_AES_CMAC, &key).unwrap();
            mac.update(&m[..len / 3]);
            mac.update(&m[len / 3..len]);
            assert_eq!(mac.finish(), hex(tag), "{len} bytes");
        }
        assert!(Mac::new(TEE_ALG_AES_CMAC, &[0; 15]).is_err());
    }

    #[test]
    fn hmac_known_answers_rfc4231_and_rfc2202() {
        let mut m = Mac::new(TEE_ALG_HMAC_SHA256, b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        assert_eq!(m.finish(), hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
        let mut m = Mac::new(TEE_ALG_HMAC_SHA1, b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        assert_eq!(m.finish(), hex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"));
        let mut m = Mac::new(TEE_ALG_HMAC_SHA256, b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        assert_eq!(m.compare(&[0; 32]), Err(TEE_ERROR_MAC_INVALID));
    }

    #[test]
    fn aes_known_answers_fips197_and_sp800_38a() {
        let key = hex("000102030405060708090a0b0c0d0e0f");
        let c = Cipher::new(TEE_ALG_AES_ECB_NOPAD, Mode::Encrypt, &key, &[]).unwrap();
        assert_eq!(
            c.finish(&hex("00112233445566778899aabbccddeeff")).unwrap(),
            hex("69c4e0d86a7b0430d8cdb78070b4c55a")
        );

        let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
        let pt = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
        let iv = hex("000102030405060708090a0b0c0d0e0f");
        let mut c = Cipher::new(TEE_ALG_AES_CBC_NOPAD, Mode::Encrypt, &key, &iv).unwrap();
        let mut ct = c.update(&pt[..5]);
        assert!(ct.is_empty(), "no whole block yet");
        ct.extend(c.finish(&pt[5..]).unwrap());
        assert_eq!(ct, hex("7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"));
        let d = Cipher::new(TEE_ALG_AES_CBC_NOPAD, Mode::Decrypt, &key, &iv).unwrap();
        assert_eq!(d.finish(&ct).unwrap(), pt);

        let ctr_iv = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
        let mut c = Cipher::new(TEE_ALG_AES_CTR, Mode::Encrypt, &key, &ctr_iv).unwrap();
        let mut ct = c.update(&pt[..7]);
        ct.extend(c.finish(&pt[7..]).unwrap());
        assert_eq!(ct, hex("874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff"));

        let c = Cipher::new(TEE_ALG_AES_ECB_NOPAD, Mode::Encrypt, &key, &[]).unwrap();
        assert_eq!(c.finish(&[0; 15]).unwrap_err(), TEE_ERROR_BAD_PARAMETERS);
        assert!(Cipher::new(TEE_ALG_AES_CBC_NOPAD, Mode::Encrypt, &[0; 15], &iv).is_err());
    }

    #[test]
    fn gcm_known_answer_and_tamper() {
        // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 2.
        let (ct, tag) = gcm_encrypt(&[0; 16], &[0; 12], &[], &[0; 16]).unwrap();
        assert_eq!(ct, hex("0388dace60b6a392f328c2b971b2fe78"));
        assert_eq!(tag.to_vec(), hex("ab6e47d42cec13bdf53a67b21257bddf"));
        assert_eq!(gcm_decrypt(&[0; 16], &[0; 12], &[], &ct, &tag).unwrap(), [0; 16]);
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert_eq!(gcm_decrypt(&[0; 16], &[0; 12], &[], &bad, &tag), Err(TEE_ERROR_MAC_INVALID));
    }

    #[test]
    fn ecdsa_p256_rfc6979_vector() {
        // RFC 6979 A.2.5, P-256 with SHA-256, message "sample".
        let d = hex("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721");
        let key = ec_from_private(Curve::P256, &d).unwrap();
        assert_eq!(key.x, hex("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"));
        assert_eq!(key.y, hex("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"));
        let h = digest(TEE_ALG_SHA256, b"sample");
        let sig = hex("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716
             F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8");
        assert_eq!(ecdsa_verify(Curve::P256, &key.x, &key.y, &h, &sig), Ok(()));
        assert_eq!(ecdsa_sign(Curve::P256, &d, &h).unwrap(), sig);
        let other = digest(TEE_ALG_SHA256, b"test");
        assert_eq!(ecdsa_verify(Curve::P256, &key.x, &key.y, &other, &sig), Err(TEE_ERROR_SIGNATURE_INVALID));
        assert_eq!(ecdsa_verify(Curve::P256, &key.x, &key.y, &h, &sig[..63]), Err(TEE_ERROR_SIGNATURE_INVALID));
    }

    #[test]
    fn ecdsa_p384_generate_sign_verify() {
        let mut n = 0u8;
        let mut fill = |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                n = n.wrapping_mul(31).wrapping_add(7);
                *b = n;
            }
        };
        let key = ec_generate(Curve::P384, &mut fill).unwrap();
        assert_eq!((key.x.len(), key.y.len()), (48, 48));
        let h = digest(TEE_ALG_SHA384, b"message");
        let sig = ecdsa_sign(Curve::P384, &key.d, &h).unwrap();
        assert_eq!(sig.len(), 96);
        assert_eq!(ecdsa_verify(Curve::P384, &key.x, &key.y, &h, &sig), Ok(()));
        let mut bad = sig.clone();
        bad[10] ^= 0x80;
        assert_eq!(ecdsa_verify(Curve::P384, &key.x, &key.y, &h, &bad), Err(TEE_ERROR_SIGNATURE_INVALID));
    }

    /// A 1024-bit key and signatures of SHA-256("abc") made by OpenSSL (through Python's
    /// `cryptography`): PKCS#1 v1.5 is deterministic, so ours must equal it; PSS is salted, so
    /// OpenSSL's must verify here and ours must verify too.
    const RSA_N: &str = "d17466c7e58ddc2330e23a5ffda4a53296b8f43fe68083b88830d7e0f7a56f4bcc7d717a346f74c01fee16c4fd72debeed1825d613c0fc09f7cabcb904a340c847849ed49ca13af69463bcd17dad8734e0ab11aa5ad220d372f9566c4167a24fddc44ef2fc2196300bbfca969f598c6aa5ed9b41f22a61b2759f68f7c441fa25";
    const RSA_D: &str = "9c03c84b3d81dd679911e9c976751d58014ce32275df643e1fb3c219a05d69f95be8548e626062e678e22fb3abd5d47502c5e9e8fbedd3ced8f3fa7f1625442a9116212b327d19d3803a1d856c731861361a2f48a425a460bdd691eea45bf72178d47edd3e1f31097e544b52d6294b5759612073e9285b9ea2662edc964e8201";
    const RSA_PKCS1_SIG: &str = "3e5db1c4e78dcc94c2b9b3c9526decf1127a2a3f4f08a902a4e80b315ed604c3a2633093d997425336cd5c8d25c263938505c6044bfdd932abfca2b78bf3a17150ec43d3eb385fb0e06bb8945e4665ac6ecac775559364203e9f13727bbffd43ee2da47cbb44e52b1c5e1293c8f9806124e6bc87cb3c7e6b2148ab219b34c9bb";
    const RSA_PSS_SIG: &str = "2212ed7229daf31cc029040238d76d98a16d2d36718247c0750875161c6b39fc3456ac531f3d347d086f763367174d12af4ec181b14db3f4f1e6e61652a72dfd4fd7ad6b2208065a409c4b0176951b185db5b9d32bad449bd39d3f0b7ca7eba3e1f1985826dc1ad0001e72861ba3b73f1d8ebca82a9ea9d72a97ece242c2f1e8";

    #[test]
    fn rsa_pkcs1_and_pss_against_openssl() {
        let key = RsaKey { n: hex(RSA_N), e: alloc::vec![1, 0, 1], d: hex(RSA_D) };
        let h = digest(TEE_ALG_SHA256, b"abc");
        let pkcs1 = RsaAlg::of(0x7000_4830).unwrap();
        let pss = RsaAlg::of(0x7041_4930).unwrap();
        let mut n = 7u8;
        let mut fill = |b: &mut [u8]| {
            for x in b.iter_mut() {
                n = n.wrapping_mul(13).wrapping_add(1);
                *x = n;
            }
        };
        assert_eq!(rsa_sign(pkcs1, &key, &h, &mut fill).unwrap(), hex(RSA_PKCS1_SIG));
        assert_eq!(rsa_verify(pkcs1, &key.n, &key.e, &h, &hex(RSA_PKCS1_SIG)), Ok(()));
        assert_eq!(rsa_verify(pss, &key.n, &key.e, &h, &hex(RSA_PSS_SIG)), Ok(()));
        let ours = rsa_sign(pss, &key, &h, &mut fill).unwrap();
        assert_eq!(rsa_verify(pss, &key.n, &key.e, &h, &ours), Ok(()));
        let other = digest(TEE_ALG_SHA256, b"abd");
        assert_eq!(rsa_verify(pkcs1, &key.n, &key.e, &other, &hex(RSA_PKCS1_SIG)), Err(TEE_ERROR_SIGNATURE_INVALID));
        assert_eq!(rsa_verify(pss, &key.n, &key.e, &other, &hex(RSA_PSS_SIG)), Err(TEE_ERROR_SIGNATURE_INVALID));
        assert_eq!(rsa_sign(pkcs1, &key, &h[..20], &mut fill), Err(TEE_ERROR_BAD_PARAMETERS), "digest size");
        assert!(RsaAlg::of(0x7000_4831).is_err());
    }
}

/// RSA signature algorithms GP names: PKCS#1 v1.5 and PSS (MGF1 with the same hash, salt the
/// hash's length) over SHA-1, SHA-224, SHA-256, SHA-384, SHA-512.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RsaAlg {
    pub pss: bool,
    pub hash: u32,
}

impl RsaAlg {
    /// The scheme of `TEE_ALG_RSASSA_*`, or `TEE_ERROR_NOT_SUPPORTED`.
    pub fn of(alg: u32) -> Result<Self, TeeResult> {
        let (pss, hash) = match alg {
            0x7000_2830 => (false, TEE_ALG_SHA1),
            0x7000_3830 => (false, TEE_ALG_SHA224),
            0x7000_4830 => (false, TEE_ALG_SHA256),
            0x7000_5830 => (false, TEE_ALG_SHA384),
            0x7000_6830 => (false, TEE_ALG_SHA512),
            0x7021_2930 => (true, TEE_ALG_SHA1),
            0x7031_3930 => (true, TEE_ALG_SHA224),
            0x7041_4930 => (true, TEE_ALG_SHA256),
            0x7051_5930 => (true, TEE_ALG_SHA384),
            0x7061_6930 => (true, TEE_ALG_SHA512),
            _ => return Err(TEE_ERROR_NOT_SUPPORTED),
        };
        Ok(RsaAlg { pss, hash })
    }

    fn digest_len(self) -> usize {
        match self.hash {
            TEE_ALG_SHA1 => 20,
            TEE_ALG_SHA224 => 28,
            TEE_ALG_SHA256 => 32,
            TEE_ALG_SHA384 => 48,
            _ => 64,
        }
    }

    fn pkcs1(self) -> rsa::Pkcs1v15Sign {
        match self.hash {
            TEE_ALG_SHA1 => rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
            TEE_ALG_SHA224 => rsa::Pkcs1v15Sign::new::<sha2::Sha224>(),
            TEE_ALG_SHA256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            TEE_ALG_SHA384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
            _ => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
        }
    }

    fn pss_scheme(self) -> rsa::Pss {
        let salt = self.digest_len();
        match self.hash {
            TEE_ALG_SHA1 => rsa::Pss::new_with_salt::<sha1::Sha1>(salt),
            TEE_ALG_SHA224 => rsa::Pss::new_with_salt::<sha2::Sha224>(salt),
            TEE_ALG_SHA256 => rsa::Pss::new_with_salt::<sha2::Sha256>(salt),
            TEE_ALG_SHA384 => rsa::Pss::new_with_salt::<sha2::Sha384>(salt),
            _ => rsa::Pss::new_with_salt::<sha2::Sha512>(salt),
        }
    }
}

/// The platform's entropy as the RNG the RSA crate wants.
pub(crate) struct HostRng<'a>(pub(crate) &'a mut dyn FnMut(&mut [u8]));

impl rand_core::RngCore for HostRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        (self.0)(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        (self.0)(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        (self.0)(dest)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        (self.0)(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for HostRng<'_> {}

pub(crate) fn big(b: &[u8]) -> rsa::BigUint {
    rsa::BigUint::from_bytes_be(b)
}

/// An RSA key as GP attributes (big-endian): modulus, public exponent, private exponent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaKey {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    pub d: Vec<u8>,
}

/// Generates an RSA key of `bits` (public exponent 65537) from the platform's entropy.
pub fn rsa_generate(bits: usize, fill: &mut dyn FnMut(&mut [u8])) -> Result<RsaKey, TeeResult> {
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    if !(512..=4096).contains(&bits) || bits & 7 != 0 {
        return Err(TEE_ERROR_NOT_SUPPORTED);
    }
    let key = rsa::RsaPrivateKey::new(&mut HostRng(fill), bits).map_err(|_| TEE_ERROR_BAD_STATE)?;
    Ok(RsaKey { n: key.n().to_bytes_be(), e: key.e().to_bytes_be(), d: key.d().to_bytes_be() })
}

/// RSA signature of `digest` (already hashed with the algorithm's hash) with private key (n, e, d).
pub fn rsa_sign(
    alg: RsaAlg,
    key: &RsaKey,
    digest: &[u8],
    fill: &mut dyn FnMut(&mut [u8]),
) -> Result<Vec<u8>, TeeResult> {
    if digest.len() != alg.digest_len() {
        return Err(TEE_ERROR_BAD_PARAMETERS);
    }
    let private = rsa::RsaPrivateKey::from_components(big(&key.n), big(&key.e), big(&key.d), Vec::new())
        .map_err(|_| TEE_ERROR_BAD_PARAMETERS)?;
    let sig = if alg.pss {
        private.sign_with_rng(&mut HostRng(fill), alg.pss_scheme(), digest)
    } else {
        private.sign(alg.pkcs1(), digest)
    };
    sig.map_err(|_| TEE_ERROR_BAD_PARAMETERS)
}

/// Checks RSA signature `sig` of `digest` under public key (n, e):
/// `TEE_ERROR_SIGNATURE_INVALID` when it does not verify.
pub fn rsa_verify(alg: RsaAlg, n: &[u8], e: &[u8], digest: &[u8], sig: &[u8]) -> Result<(), TeeResult> {
    let public = rsa::RsaPublicKey::new(big(n), big(e)).map_err(|_| TEE_ERROR_BAD_PARAMETERS)?;
    let ok =
        if alg.pss { public.verify(alg.pss_scheme(), digest, sig) } else { public.verify(alg.pkcs1(), digest, sig) };
    ok.map_err(|_| TEE_ERROR_SIGNATURE_INVALID)
}
