//! Objects: transient key objects (`TEE_AllocateTransientObject`, populate, generate, copy,
//! attributes, info) and the common part of persistent ones. Handles are u32 (0 is null).

use alloc::vec::Vec;

use super::persist::Persistent;
use super::{put, read_in, read_u32, read_u64, slot, take, write_out, TeeContext, TeeHost, UserMemory};
use crate::abi::{
    Syscall, TeeResult, TEE_ERROR_ACCESS_DENIED, TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_BAD_STATE,
    TEE_ERROR_ITEM_NOT_FOUND, TEE_ERROR_NOT_SUPPORTED, TEE_ERROR_SHORT_BUFFER,
};
use crate::crypto::{ec_generate, Curve};

pub const TEE_TYPE_AES: u32 = 0xA000_0010;
pub const TEE_TYPE_HMAC_SHA1: u32 = 0xA000_0002;
pub const TEE_TYPE_HMAC_SHA224: u32 = 0xA000_0003;
pub const TEE_TYPE_HMAC_SHA256: u32 = 0xA000_0004;
pub const TEE_TYPE_HMAC_SHA384: u32 = 0xA000_0005;
pub const TEE_TYPE_HMAC_SHA512: u32 = 0xA000_0006;
pub const TEE_TYPE_GENERIC_SECRET: u32 = 0xA000_0000;
pub const TEE_TYPE_ECDSA_PUBLIC_KEY: u32 = 0xA000_0041;
pub const TEE_TYPE_ECDSA_KEYPAIR: u32 = 0xA100_0041;
pub const TEE_TYPE_DATA: u32 = 0xA000_00BF;
pub const TEE_TYPE_RSA_PUBLIC_KEY: u32 = 0xA000_0030;
pub const TEE_TYPE_RSA_KEYPAIR: u32 = 0xA100_0030;
pub const TEE_ATTR_RSA_MODULUS: u32 = 0xD000_0130;
pub const TEE_ATTR_RSA_PUBLIC_EXPONENT: u32 = 0xD000_0230;
pub const TEE_ATTR_RSA_PRIVATE_EXPONENT: u32 = 0xC000_0330;

pub const TEE_ATTR_SECRET_VALUE: u32 = 0xC000_0000;
pub const TEE_ATTR_ECC_PUBLIC_VALUE_X: u32 = 0xD000_0141;
pub const TEE_ATTR_ECC_PUBLIC_VALUE_Y: u32 = 0xD000_0241;
pub const TEE_ATTR_ECC_PRIVATE_VALUE: u32 = 0xC000_0341;
pub const TEE_ATTR_ECC_CURVE: u32 = 0xF000_0441;
pub const TEE_ECC_CURVE_NIST_P256: u32 = 3;
pub const TEE_ECC_CURVE_NIST_P384: u32 = 4;
/// Attribute id bits: a value (a, b) rather than a buffer; readable without EXTRACTABLE.
pub const TEE_ATTR_FLAG_VALUE: u32 = 1 << 29;
pub const TEE_ATTR_FLAG_PUBLIC: u32 = 1 << 28;

pub const TEE_USAGE_EXTRACTABLE: u32 = 0x0000_0001;
pub const TEE_USAGE_DEFAULT: u32 = 0xFFFF_FFFF;
pub const TEE_HANDLE_FLAG_PERSISTENT: u32 = 0x0001_0000;
pub const TEE_HANDLE_FLAG_INITIALIZED: u32 = 0x0002_0000;

/// `sizeof(struct utee_attribute)`: u64 a, u64 b, u32 attribute_id, 4 bytes padding.
pub const UTEE_ATTRIBUTE_SIZE: u64 = 24;

/// An attribute's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attr {
    Ref(Vec<u8>),
    Value(u32, u32),
}

/// A transient or persistent object.
#[derive(Clone, Debug)]
pub struct Object {
    pub obj_type: u32,
    pub max_size: u32,
    /// Key size in bits (0 until populated or generated).
    pub size: u32,
    pub usage: u32,
    pub flags: u32,
    pub attrs: Vec<(u32, Attr)>,
    pub persistent: Option<Persistent>,
}

impl Object {
    /// A fresh transient object of `obj_type` for keys up to `max_size` bits.
    pub fn transient(obj_type: u32, max_size: u32) -> Self {
        Object { obj_type, max_size, size: 0, usage: TEE_USAGE_DEFAULT, flags: 0, attrs: Vec::new(), persistent: None }
    }

    /// The buffer attribute `id`, if set.
    pub fn attr_ref(&self, id: u32) -> Option<&[u8]> {
        self.attrs.iter().find_map(|(i, a)| match a {
            Attr::Ref(b) if *i == id => Some(b.as_slice()),
            _ => None,
        })
    }

    /// The value attribute `id`, if set.
    pub fn attr_value(&self, id: u32) -> Option<(u32, u32)> {
        self.attrs.iter().find_map(|(i, a)| match a {
            Attr::Value(x, y) if *i == id => Some((*x, *y)),
            _ => None,
        })
    }

    /// The EC curve of an ECDSA key object.
    pub fn curve(&self) -> Result<Curve, TeeResult> {
        match self.attr_value(TEE_ATTR_ECC_CURVE).map(|v| v.0) {
            Some(TEE_ECC_CURVE_NIST_P256) => Ok(Curve::P256),
            Some(TEE_ECC_CURVE_NIST_P384) => Ok(Curve::P384),
            _ => Err(TEE_ERROR_BAD_STATE),
        }
    }

    /// `struct utee_object_info`: type, size, max size, usage, data size, data position, flags.
    pub fn info(&self) -> [u8; 28] {
        let (data_size, pos) = self.persistent.as_ref().map_or((0, 0), |p| (p.data.len() as u32, p.pos as u32));
        let words = [self.obj_type, self.size, self.max_size, self.usage, data_size, pos, self.flags];
        let mut out = [0u8; 28];
        for (i, w) in words.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// The largest key size (bits) of `obj_type`, or None for a type we do not offer.
fn max_bits(obj_type: u32) -> Option<u32> {
    Some(match obj_type {
        TEE_TYPE_AES => 256,
        TEE_TYPE_HMAC_SHA1 | TEE_TYPE_HMAC_SHA224 | TEE_TYPE_HMAC_SHA256 => 512,
        TEE_TYPE_HMAC_SHA384 | TEE_TYPE_HMAC_SHA512 => 1024,
        TEE_TYPE_GENERIC_SECRET => 4096,
        TEE_TYPE_ECDSA_PUBLIC_KEY | TEE_TYPE_ECDSA_KEYPAIR => 521,
        TEE_TYPE_DATA => 0,
        TEE_TYPE_RSA_PUBLIC_KEY | TEE_TYPE_RSA_KEYPAIR => 4096,
        _ => return None,
    })
}

/// Reads `count` `struct utee_attribute`s at `addr`, copying buffer attributes in.
pub(crate) fn read_attrs(mem: &dyn UserMemory, addr: u64, count: u64) -> Result<Vec<(u32, Attr)>, TeeResult> {
    if count > 64 {
        return Err(TEE_ERROR_BAD_PARAMETERS);
    }
    let mut out = Vec::new();
    for i in 0..count {
        let base = addr.checked_add(i * UTEE_ATTRIBUTE_SIZE).ok_or(TEE_ERROR_BAD_PARAMETERS)?;
        let (a, b, id) = (read_u64(mem, base)?, read_u64(mem, base + 8)?, read_u32(mem, base + 16)?);
        let attr = if id & TEE_ATTR_FLAG_VALUE != 0 {
            Attr::Value(a as u32, b as u32)
        } else {
            Attr::Ref(read_in(mem, a, b)?)
        };
        out.push((id, attr));
    }
    Ok(out)
}

fn check_populate(obj: &Object, attrs: &[(u32, Attr)]) -> Result<u32, TeeResult> {
    let get = |id: u32| attrs.iter().find(|(i, _)| *i == id).map(|(_, a)| a);
    let len = |id: u32| match get(id) {
        Some(Attr::Ref(b)) => Ok(b.len() as u32),
        _ => Err(TEE_ERROR_BAD_PARAMETERS),
    };
    let bits = match obj.obj_type {
        TEE_TYPE_AES => {
            let n = len(TEE_ATTR_SECRET_VALUE)?;
            if !matches!(n, 16 | 24 | 32) {
                return Err(TEE_ERROR_NOT_SUPPORTED);
            }
            n * 8
        }
        TEE_TYPE_ECDSA_PUBLIC_KEY | TEE_TYPE_ECDSA_KEYPAIR => {
            let curve = match get(TEE_ATTR_ECC_CURVE) {
                Some(Attr::Value(TEE_ECC_CURVE_NIST_P256, _)) => Curve::P256,
                Some(Attr::Value(TEE_ECC_CURVE_NIST_P384, _)) => Curve::P384,
                Some(_) => return Err(TEE_ERROR_NOT_SUPPORTED),
                None => return Err(TEE_ERROR_BAD_PARAMETERS),
            };
            len(TEE_ATTR_ECC_PUBLIC_VALUE_X)?;
            len(TEE_ATTR_ECC_PUBLIC_VALUE_Y)?;
            if obj.obj_type == TEE_TYPE_ECDSA_KEYPAIR {
                len(TEE_ATTR_ECC_PRIVATE_VALUE)?;
            }
            curve.size() as u32 * 8
        }
        TEE_TYPE_RSA_PUBLIC_KEY | TEE_TYPE_RSA_KEYPAIR => {
            len(TEE_ATTR_RSA_PUBLIC_EXPONENT)?;
            if obj.obj_type == TEE_TYPE_RSA_KEYPAIR {
                len(TEE_ATTR_RSA_PRIVATE_EXPONENT)?;
            }
            match get(TEE_ATTR_RSA_MODULUS) {
                Some(Attr::Ref(n)) => {
                    let skip = n.iter().take_while(|b| **b == 0).count();
                    let bytes = (n.len() - skip) as u32;
                    let top = n.get(skip).map_or(0, |b| 8 - b.leading_zeros());
                    bytes.saturating_sub(1) * 8 + top
                }
                _ => return Err(TEE_ERROR_BAD_PARAMETERS),
            }
        }
        TEE_TYPE_DATA => return Err(TEE_ERROR_BAD_PARAMETERS),
        _ => len(TEE_ATTR_SECRET_VALUE)? * 8,
    };
    if bits > obj.max_size && obj.obj_type != TEE_TYPE_ECDSA_PUBLIC_KEY && obj.obj_type != TEE_TYPE_ECDSA_KEYPAIR {
        return Err(TEE_ERROR_BAD_PARAMETERS);
    }
    Ok(bits)
}

fn generate(obj: &mut Object, host: &mut dyn TeeHost, bits: u32, params: &[(u32, Attr)]) -> Result<(), TeeResult> {
    match obj.obj_type {
        TEE_TYPE_AES
        | TEE_TYPE_GENERIC_SECRET
        | TEE_TYPE_HMAC_SHA1
        | TEE_TYPE_HMAC_SHA224
        | TEE_TYPE_HMAC_SHA256
        | TEE_TYPE_HMAC_SHA384
        | TEE_TYPE_HMAC_SHA512 => {
            let ok =
                if obj.obj_type == TEE_TYPE_AES { matches!(bits, 128 | 192 | 256) } else { bits & 7 == 0 && bits > 0 };
            if !ok || bits > obj.max_size {
                return Err(TEE_ERROR_NOT_SUPPORTED);
            }
            let mut key = alloc::vec![0u8; bits as usize / 8];
            host.random(&mut key);
            obj.attrs = alloc::vec![(TEE_ATTR_SECRET_VALUE, Attr::Ref(key))];
        }
        TEE_TYPE_ECDSA_KEYPAIR => {
            let curve_id = params.iter().find_map(|(i, a)| match a {
                Attr::Value(c, _) if *i == TEE_ATTR_ECC_CURVE => Some(*c),
                _ => None,
            });
            let curve = match (curve_id, bits) {
                (Some(TEE_ECC_CURVE_NIST_P256), _) | (None, 256) => Curve::P256,
                (Some(TEE_ECC_CURVE_NIST_P384), _) | (None, 384) => Curve::P384,
                _ => return Err(TEE_ERROR_NOT_SUPPORTED),
            };
            let key = ec_generate(curve, &mut |buf: &mut [u8]| host.random(buf))?;
            let id = if curve == Curve::P256 { TEE_ECC_CURVE_NIST_P256 } else { TEE_ECC_CURVE_NIST_P384 };
            obj.attrs = alloc::vec![
                (TEE_ATTR_ECC_PRIVATE_VALUE, Attr::Ref(key.d)),
                (TEE_ATTR_ECC_PUBLIC_VALUE_X, Attr::Ref(key.x)),
                (TEE_ATTR_ECC_PUBLIC_VALUE_Y, Attr::Ref(key.y)),
                (TEE_ATTR_ECC_CURVE, Attr::Value(id, 0)),
            ];
            obj.size = curve.size() as u32 * 8;
            obj.flags |= TEE_HANDLE_FLAG_INITIALIZED;
            return Ok(());
        }
        TEE_TYPE_RSA_KEYPAIR => {
            if bits > obj.max_size {
                return Err(TEE_ERROR_NOT_SUPPORTED);
            }
            let key = crate::crypto::rsa_generate(bits as usize, &mut |buf: &mut [u8]| host.random(buf))?;
            obj.attrs = alloc::vec![
                (TEE_ATTR_RSA_MODULUS, Attr::Ref(key.n)),
                (TEE_ATTR_RSA_PUBLIC_EXPONENT, Attr::Ref(key.e)),
                (TEE_ATTR_RSA_PRIVATE_EXPONENT, Attr::Ref(key.d)),
            ];
        }
        _ => return Err(TEE_ERROR_NOT_SUPPORTED),
    }
    obj.size = bits;
    obj.flags |= TEE_HANDLE_FLAG_INITIALIZED;
    Ok(())
}

pub(super) fn call(
    ctx: &mut TeeContext,
    host: &mut dyn TeeHost,
    mem: &mut dyn UserMemory,
    call: Syscall,
    a: [u64; 8],
) -> Result<(), TeeResult> {
    match call {
        Syscall::CrypObjAlloc => {
            let obj_type = a[0] as u32;
            let limit = max_bits(obj_type).ok_or(TEE_ERROR_NOT_SUPPORTED)?;
            if obj_type != TEE_TYPE_DATA && (a[1] as u32 > limit) {
                return Err(TEE_ERROR_NOT_SUPPORTED);
            }
            let h = put(&mut ctx.objects, Object::transient(obj_type, a[1] as u32));
            super::write_u32(mem, a[2], h).inspect_err(|_| ctx.objects[h as usize - 1] = None)
        }
        Syscall::CrypObjClose => take(&mut ctx.objects, a[0]).map(|_| ()),
        Syscall::CrypObjGetInfo => {
            let info = slot(&mut ctx.objects, a[0])?.info();
            mem.write(a[1], &info)
        }
        Syscall::CrypObjRestrictUsage => {
            let obj = slot(&mut ctx.objects, a[0])?;
            obj.usage &= a[1] as u32;
            Ok(())
        }
        Syscall::CrypObjReset => {
            let obj = slot(&mut ctx.objects, a[0])?;
            if obj.persistent.is_some() {
                return Err(TEE_ERROR_BAD_STATE);
            }
            *obj = Object::transient(obj.obj_type, obj.max_size);
            Ok(())
        }
        Syscall::CrypObjGetAttr => {
            let obj = slot(&mut ctx.objects, a[0])?;
            let id = a[1] as u32;
            if obj.flags & TEE_HANDLE_FLAG_INITIALIZED == 0 {
                return Err(TEE_ERROR_ITEM_NOT_FOUND);
            }
            if id & TEE_ATTR_FLAG_PUBLIC == 0 && obj.usage & TEE_USAGE_EXTRACTABLE == 0 {
                return Err(TEE_ERROR_ACCESS_DENIED);
            }
            let found = obj.attrs.iter().find(|(i, _)| *i == id).map(|(_, v)| v.clone());
            match found.ok_or(TEE_ERROR_ITEM_NOT_FOUND)? {
                Attr::Ref(bytes) => write_out(mem, a[2], a[3], &bytes),
                Attr::Value(x, y) => {
                    let mut v = [0u8; 8];
                    v[..4].copy_from_slice(&x.to_le_bytes());
                    v[4..].copy_from_slice(&y.to_le_bytes());
                    write_out(mem, a[2], a[3], &v).map_err(|e| {
                        if e == TEE_ERROR_SHORT_BUFFER {
                            TEE_ERROR_BAD_PARAMETERS
                        } else {
                            e
                        }
                    })
                }
            }
        }
        Syscall::CrypObjPopulate => {
            let attrs = read_attrs(mem, a[1], a[2])?;
            let obj = slot(&mut ctx.objects, a[0])?;
            if obj.persistent.is_some() || obj.flags & TEE_HANDLE_FLAG_INITIALIZED != 0 {
                return Err(TEE_ERROR_BAD_STATE);
            }
            obj.size = check_populate(obj, &attrs)?;
            obj.attrs = attrs;
            obj.flags |= TEE_HANDLE_FLAG_INITIALIZED;
            Ok(())
        }
        Syscall::CrypObjCopy => {
            let src = slot(&mut ctx.objects, a[1])?.clone();
            let dst = slot(&mut ctx.objects, a[0])?;
            if dst.persistent.is_some() || dst.flags & TEE_HANDLE_FLAG_INITIALIZED != 0 {
                return Err(TEE_ERROR_BAD_STATE);
            }
            if src.flags & TEE_HANDLE_FLAG_INITIALIZED == 0 {
                return Err(TEE_ERROR_BAD_PARAMETERS);
            }
            let compatible = dst.obj_type == src.obj_type
                || (dst.obj_type == TEE_TYPE_ECDSA_PUBLIC_KEY && src.obj_type == TEE_TYPE_ECDSA_KEYPAIR)
                || (dst.obj_type == TEE_TYPE_RSA_PUBLIC_KEY && src.obj_type == TEE_TYPE_RSA_KEYPAIR)
                || dst.obj_type == TEE_TYPE_GENERIC_SECRET;
            if !compatible {
                return Err(TEE_ERROR_BAD_PARAMETERS);
            }
            dst.attrs = if dst.obj_type == TEE_TYPE_ECDSA_PUBLIC_KEY || dst.obj_type == TEE_TYPE_RSA_PUBLIC_KEY {
                // A public key keeps only the public attributes.
                src.attrs.into_iter().filter(|(i, _)| i & TEE_ATTR_FLAG_PUBLIC != 0).collect()
            } else {
                src.attrs
            };
            dst.size = src.size;
            dst.usage &= src.usage;
            dst.flags |= TEE_HANDLE_FLAG_INITIALIZED;
            Ok(())
        }
        Syscall::ObjGenerateKey => {
            let params = read_attrs(mem, a[2], a[3])?;
            let obj = slot(&mut ctx.objects, a[0])?;
            if obj.persistent.is_some() || obj.flags & TEE_HANDLE_FLAG_INITIALIZED != 0 {
                return Err(TEE_ERROR_BAD_STATE);
            }
            generate(obj, host, a[1] as u32, &params)
        }
        _ => Err(TEE_ERROR_NOT_SUPPORTED),
    }
}
