//! Crypto operations: states (`TEE_AllocateOperation` in the core), digests and MACs (the
//! `hash_*` calls), AES ciphers, AES-GCM (`authenc_*`), and ECDSA sign/verify (`asymm_*`).
//! Output buffers follow GP: too small, and the call returns `TEE_ERROR_SHORT_BUFFER` with the
//! size needed and leaves the operation as it was.

use alloc::vec::Vec;

use super::objects::{
    Object, TEE_ATTR_ECC_PRIVATE_VALUE, TEE_ATTR_ECC_PUBLIC_VALUE_X, TEE_ATTR_ECC_PUBLIC_VALUE_Y, TEE_ATTR_SECRET_VALUE,
};
use super::{put, read_in, slot, take, write_out, write_u32, write_u64, TeeContext, TeeHost, UserMemory};
use crate::abi::{Syscall, TeeResult, TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_BAD_STATE, TEE_ERROR_NOT_SUPPORTED};
use crate::crypto::{self, Cipher, Curve, Digest, Mac, Mode};
use crate::rsaes::{self, RsaCipher};

/// `TEE_OperationMode`.
pub const TEE_MODE_ENCRYPT: u32 = 0;
pub const TEE_MODE_DECRYPT: u32 = 1;
pub const TEE_MODE_SIGN: u32 = 2;
pub const TEE_MODE_VERIFY: u32 = 3;
pub const TEE_MODE_MAC: u32 = 4;
pub const TEE_MODE_DIGEST: u32 = 5;

/// ECDSA identifiers: GP 1.1 names the curve (`TEE_ALG_ECDSA_P256`), GP 1.3 the hash
/// (`TEE_ALG_ECDSA_SHA256`, the curve then comes from the key).
const ECDSA_ALGS: [u32; 4] = [crypto::TEE_ALG_ECDSA_P256, crypto::TEE_ALG_ECDSA_P384, 0x7000_3042, 0x7000_4042];

#[derive(Clone)]
enum Running {
    Idle,
    Digest(Digest),
    Mac(Mac),
    Cipher(alloc::boxed::Box<Cipher>),
    Gcm { key: Vec<u8>, nonce: Vec<u8>, tag_bytes: usize, aad: Vec<u8>, payload: Vec<u8> },
}

/// One crypto operation's state in the core.
#[derive(Clone)]
pub struct CrypState {
    algo: u32,
    mode: u32,
    key1: u64,
    running: Running,
}

fn class(algo: u32) -> u32 {
    algo >> 28
}

fn supported(algo: u32, mode: u32) -> bool {
    match class(algo) {
        0x1 => {
            matches!(algo, crypto::TEE_ALG_AES_ECB_NOPAD | crypto::TEE_ALG_AES_CBC_NOPAD | crypto::TEE_ALG_AES_CTR)
                && mode <= TEE_MODE_DECRYPT
        }
        0x3 => Mac::new(algo, &[0; 16]).is_ok() && mode == TEE_MODE_MAC,
        0x4 => algo == crypto::TEE_ALG_AES_GCM && mode <= TEE_MODE_DECRYPT,
        0x5 => Digest::new(algo).is_ok() && mode == TEE_MODE_DIGEST,
        0x6 => RsaCipher::of(algo).is_ok() && mode <= TEE_MODE_DECRYPT,
        0x7 => {
            (ECDSA_ALGS.contains(&algo) || crypto::RsaAlg::of(algo).is_ok())
                && (mode == TEE_MODE_SIGN || mode == TEE_MODE_VERIFY)
        }
        _ => false,
    }
}

fn key_object(ctx: &mut TeeContext, handle: u64) -> Result<Object, TeeResult> {
    let obj = slot(&mut ctx.objects, handle).map_err(|_| TEE_ERROR_BAD_STATE)?;
    if obj.flags & super::objects::TEE_HANDLE_FLAG_INITIALIZED == 0 {
        return Err(TEE_ERROR_BAD_STATE);
    }
    Ok(obj.clone())
}

fn secret(ctx: &mut TeeContext, handle: u64) -> Result<Vec<u8>, TeeResult> {
    key_object(ctx, handle)?.attr_ref(TEE_ATTR_SECRET_VALUE).map(<[u8]>::to_vec).ok_or(TEE_ERROR_BAD_STATE)
}

fn state(ctx: &mut TeeContext, handle: u64) -> Result<&mut CrypState, TeeResult> {
    slot(&mut ctx.states, handle)
}

fn ec_key(ctx: &mut TeeContext, st: &CrypState) -> Result<(Curve, Object), TeeResult> {
    let obj = key_object(ctx, st.key1)?;
    let curve = obj.curve()?;
    let named = match st.algo {
        crypto::TEE_ALG_ECDSA_P256 => Some(Curve::P256),
        crypto::TEE_ALG_ECDSA_P384 => Some(Curve::P384),
        _ => None,
    };
    if named.is_some_and(|c| c != curve) {
        return Err(TEE_ERROR_BAD_PARAMETERS);
    }
    Ok((curve, obj))
}

/// `asymm_operate` in modes ENCRYPT / DECRYPT of an RSA cipher (`TEE_AsymmetricEncrypt` /
/// `TEE_AsymmetricDecrypt`): state a[0], attributes a[1] (count a[2]; an OAEP label), source
/// a[3] (length a[4]), destination a[5] with its size at a[6] (`TEE_ERROR_SHORT_BUFFER` and
/// the size needed when it is too small).
fn rsa_cipher(
    ctx: &mut TeeContext,
    host: &mut dyn TeeHost,
    mem: &mut dyn UserMemory,
    a: [u64; 8],
) -> Result<(), TeeResult> {
    let st = state(ctx, a[0])?.clone();
    let scheme = RsaCipher::of(st.algo)?;
    let params = super::objects::read_attrs(mem, a[1], a[2])?;
    let label = params.iter().find_map(|(id, attr)| match attr {
        super::objects::Attr::Ref(bytes) if *id == rsaes::TEE_ATTR_RSA_OAEP_LABEL => Some(bytes.as_slice()),
        _ => None,
    });
    let src = read_in(mem, a[3], a[4])?;
    let key = key_object(ctx, st.key1)?;
    let part = |id| key.attr_ref(id).map(<[u8]>::to_vec).ok_or(TEE_ERROR_BAD_PARAMETERS);
    let n = part(super::objects::TEE_ATTR_RSA_MODULUS)?;
    let e = part(super::objects::TEE_ATTR_RSA_PUBLIC_EXPONENT)?;
    let mut fill = |b: &mut [u8]| host.random(b);
    let out = match st.mode {
        TEE_MODE_ENCRYPT => {
            let k = rsaes::modulus_len(&n);
            if super::read_u64(mem, a[6])? < k as u64 {
                super::write_u64(mem, a[6], k as u64)?;
                return Err(crate::abi::TEE_ERROR_SHORT_BUFFER);
            }
            rsaes::rsa_encrypt(scheme, &n, &e, label, &src, &mut fill)?
        }
        TEE_MODE_DECRYPT => {
            let d = part(super::objects::TEE_ATTR_RSA_PRIVATE_EXPONENT)?;
            rsaes::rsa_decrypt(scheme, &crypto::RsaKey { n, e, d }, label, &src, &mut fill)?
        }
        _ => return Err(TEE_ERROR_BAD_PARAMETERS),
    };
    write_out(mem, a[5], a[6], &out)
}

pub(super) fn call(
    ctx: &mut TeeContext,
    host: &mut dyn TeeHost,
    mem: &mut dyn UserMemory,
    call: Syscall,
    a: [u64; 8],
) -> Result<(), TeeResult> {
    match call {
        Syscall::CrypStateAlloc => {
            let (algo, mode) = (a[0] as u32, a[1] as u32);
            if !supported(algo, mode) {
                return Err(TEE_ERROR_NOT_SUPPORTED);
            }
            if a[2] != 0 {
                slot(&mut ctx.objects, a[2])?;
            }
            let h = put(&mut ctx.states, CrypState { algo, mode, key1: a[2], running: Running::Idle });
            write_u32(mem, a[4], h).inspect_err(|_| ctx.states[h as usize - 1] = None)
        }
        Syscall::CrypStateFree => take(&mut ctx.states, a[0]).map(|_| ()),
        Syscall::CrypStateCopy => {
            let src = state(ctx, a[1])?.clone();
            let dst = state(ctx, a[0])?;
            if dst.algo != src.algo || dst.mode != src.mode {
                return Err(TEE_ERROR_BAD_PARAMETERS);
            }
            dst.running = src.running;
            Ok(())
        }
        Syscall::HashInit => {
            let (algo, key1) = {
                let st = state(ctx, a[0])?;
                (st.algo, st.key1)
            };
            let running = match class(algo) {
                0x5 => Running::Digest(Digest::new(algo)?),
                0x3 => Running::Mac(Mac::new(algo, &secret(ctx, key1)?)?),
                _ => return Err(TEE_ERROR_BAD_PARAMETERS),
            };
            state(ctx, a[0])?.running = running;
            Ok(())
        }
        Syscall::HashUpdate => {
            let data = read_in(mem, a[1], a[2])?;
            let st = state(ctx, a[0])?;
            if matches!(st.running, Running::Idle) && class(st.algo) == 0x5 {
                st.running = Running::Digest(Digest::new(st.algo)?);
            }
            match &mut st.running {
                Running::Digest(d) => d.update(&data),
                Running::Mac(m) => m.update(&data),
                _ => return Err(TEE_ERROR_BAD_STATE),
            }
            Ok(())
        }
        Syscall::HashFinal => {
            let data = read_in(mem, a[1], a[2])?;
            let st = state(ctx, a[0])?;
            if matches!(st.running, Running::Idle) && class(st.algo) == 0x5 {
                st.running = Running::Digest(Digest::new(st.algo)?);
            }
            let out = match st.running.clone() {
                Running::Digest(mut d) => {
                    d.update(&data);
                    d.finish()
                }
                Running::Mac(mut m) => {
                    m.update(&data);
                    m.finish()
                }
                _ => return Err(TEE_ERROR_BAD_STATE),
            };
            write_out(mem, a[3], a[4], &out)?;
            // A digest starts over; a MAC needs a new init.
            st.running = if class(st.algo) == 0x5 { Running::Digest(Digest::new(st.algo)?) } else { Running::Idle };
            Ok(())
        }
        Syscall::CipherInit => {
            let (algo, mode, key1) = {
                let st = state(ctx, a[0])?;
                (st.algo, st.mode, st.key1)
            };
            if class(algo) != 0x1 {
                return Err(TEE_ERROR_BAD_PARAMETERS);
            }
            let iv = read_in(mem, a[1], a[2])?;
            let m = if mode == TEE_MODE_ENCRYPT { Mode::Encrypt } else { Mode::Decrypt };
            let cipher = Cipher::new(algo, m, &secret(ctx, key1)?, &iv)?;
            state(ctx, a[0])?.running = Running::Cipher(alloc::boxed::Box::new(cipher));
            Ok(())
        }
        Syscall::CipherUpdate | Syscall::CipherFinal => {
            let data = read_in(mem, a[1], a[2])?;
            let st = state(ctx, a[0])?;
            let Running::Cipher(c) = &st.running else { return Err(TEE_ERROR_BAD_STATE) };
            let mut next = (**c).clone();
            let out = if call == Syscall::CipherUpdate { next.update(&data) } else { next.clone().finish(&data)? };
            write_out(mem, a[3], a[4], &out)?;
            st.running = if call == Syscall::CipherUpdate {
                Running::Cipher(alloc::boxed::Box::new(next))
            } else {
                Running::Idle
            };
            Ok(())
        }
        Syscall::AuthencInit => {
            let (algo, key1) = {
                let st = state(ctx, a[0])?;
                (st.algo, st.key1)
            };
            if algo != crypto::TEE_ALG_AES_GCM {
                return Err(TEE_ERROR_BAD_PARAMETERS);
            }
            let nonce = read_in(mem, a[1], a[2])?;
            let tag_bits = a[3];
            if nonce.len() != 12 || !matches!(tag_bits, 96 | 104 | 112 | 120 | 128) {
                return Err(TEE_ERROR_NOT_SUPPORTED);
            }
            let key = secret(ctx, key1)?;
            state(ctx, a[0])?.running =
                Running::Gcm { key, nonce, tag_bytes: tag_bits as usize / 8, aad: Vec::new(), payload: Vec::new() };
            Ok(())
        }
        Syscall::AuthencUpdateAad => {
            let data = read_in(mem, a[1], a[2])?;
            let Running::Gcm { aad, payload, .. } = &mut state(ctx, a[0])?.running else {
                return Err(TEE_ERROR_BAD_STATE);
            };
            if !payload.is_empty() {
                return Err(TEE_ERROR_BAD_STATE);
            }
            aad.extend_from_slice(&data);
            Ok(())
        }
        Syscall::AuthencUpdatePayload => {
            // GCM output is produced at the final call (the whole payload is authenticated first
            // on decryption); GP lets an update give less output than input.
            let data = read_in(mem, a[1], a[2])?;
            let Running::Gcm { payload, .. } = &mut state(ctx, a[0])?.running else { return Err(TEE_ERROR_BAD_STATE) };
            payload.extend_from_slice(&data);
            write_u64(mem, a[4], 0)
        }
        Syscall::AuthencEncFinal | Syscall::AuthencDecFinal => {
            let data = read_in(mem, a[1], a[2])?;
            let st = state(ctx, a[0])?;
            let mode = st.mode;
            let Running::Gcm { key, nonce, tag_bytes, aad, payload } = &st.running else {
                return Err(TEE_ERROR_BAD_STATE);
            };
            let mut all = payload.clone();
            all.extend_from_slice(&data);
            if call == Syscall::AuthencEncFinal {
                if mode != TEE_MODE_ENCRYPT {
                    return Err(TEE_ERROR_BAD_PARAMETERS);
                }
                let (ct, tag) = crypto::gcm_encrypt(key, nonce, aad, &all)?;
                let tag = tag[..*tag_bytes].to_vec();
                let tag_cap = super::read_u64(mem, a[6])?;
                if tag_cap < tag.len() as u64 {
                    write_u64(mem, a[6], tag.len() as u64)?;
                    return Err(crate::abi::TEE_ERROR_SHORT_BUFFER);
                }
                write_out(mem, a[3], a[4], &ct)?;
                write_out(mem, a[5], a[6], &tag)?;
            } else {
                if mode != TEE_MODE_DECRYPT {
                    return Err(TEE_ERROR_BAD_PARAMETERS);
                }
                let tag = read_in(mem, a[5], a[6])?;
                if tag.len() != 16 {
                    return Err(TEE_ERROR_NOT_SUPPORTED);
                }
                let plain = crypto::gcm_decrypt(key, nonce, aad, &all, &tag)?;
                write_out(mem, a[3], a[4], &plain)?;
            }
            st.running = Running::Idle;
            Ok(())
        }
        Syscall::AsymmOperate if class(state(ctx, a[0])?.algo) == 0x6 => rsa_cipher(ctx, host, mem, a),
        Syscall::AsymmOperate => {
            let st = state(ctx, a[0])?.clone();
            if class(st.algo) != 0x7 || st.mode != TEE_MODE_SIGN {
                return Err(TEE_ERROR_BAD_PARAMETERS);
            }
            let digest = read_in(mem, a[3], a[4])?;
            if let Ok(alg) = crypto::RsaAlg::of(st.algo) {
                let key = key_object(ctx, st.key1)?;
                let part = |id| key.attr_ref(id).map(<[u8]>::to_vec).ok_or(TEE_ERROR_BAD_PARAMETERS);
                let rsa_key = crypto::RsaKey {
                    n: part(super::objects::TEE_ATTR_RSA_MODULUS)?,
                    e: part(super::objects::TEE_ATTR_RSA_PUBLIC_EXPONENT)?,
                    d: part(super::objects::TEE_ATTR_RSA_PRIVATE_EXPONENT)?,
                };
                let need = rsa_key.n.iter().skip_while(|b| **b == 0).count();
                if super::read_u64(mem, a[6])? < need as u64 {
                    super::write_u64(mem, a[6], need as u64)?;
                    return Err(crate::abi::TEE_ERROR_SHORT_BUFFER);
                }
                let sig = crypto::rsa_sign(alg, &rsa_key, &digest, &mut |b: &mut [u8]| host.random(b))?;
                return write_out(mem, a[5], a[6], &sig);
            }
            let (curve, key) = ec_key(ctx, &st)?;
            let d = key.attr_ref(TEE_ATTR_ECC_PRIVATE_VALUE).ok_or(TEE_ERROR_BAD_PARAMETERS)?;
            let sig = crypto::ecdsa_sign(curve, d, &digest)?;
            write_out(mem, a[5], a[6], &sig)
        }
        Syscall::AsymmVerify => {
            let st = state(ctx, a[0])?.clone();
            if class(st.algo) != 0x7 || st.mode != TEE_MODE_VERIFY {
                return Err(TEE_ERROR_BAD_PARAMETERS);
            }
            let digest = read_in(mem, a[3], a[4])?;
            let sig = read_in(mem, a[5], a[6])?;
            if let Ok(alg) = crypto::RsaAlg::of(st.algo) {
                let key = key_object(ctx, st.key1)?;
                let n = key.attr_ref(super::objects::TEE_ATTR_RSA_MODULUS).ok_or(TEE_ERROR_BAD_PARAMETERS)?;
                let e = key.attr_ref(super::objects::TEE_ATTR_RSA_PUBLIC_EXPONENT).ok_or(TEE_ERROR_BAD_PARAMETERS)?;
                return crypto::rsa_verify(alg, n, e, &digest, &sig);
            }
            let (curve, key) = ec_key(ctx, &st)?;
            let x = key.attr_ref(TEE_ATTR_ECC_PUBLIC_VALUE_X).ok_or(TEE_ERROR_BAD_PARAMETERS)?;
            let y = key.attr_ref(TEE_ATTR_ECC_PUBLIC_VALUE_Y).ok_or(TEE_ERROR_BAD_PARAMETERS)?;
            crypto::ecdsa_verify(curve, x, y, &digest, &sig)
        }
        _ => Err(TEE_ERROR_NOT_SUPPORTED),
    }
}
