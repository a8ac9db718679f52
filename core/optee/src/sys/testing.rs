//! A fake TA memory and host for the system-call tests, and the tests.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::objects::*;
use super::ops::*;
use super::persist::*;
use super::*;
use crate::abi::*;
use crate::crypto;

pub(crate) const BASE: u64 = 0x10_0000;

pub(crate) struct Mem(pub Vec<u8>);

impl UserMemory for Mem {
    fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), TeeResult> {
        let at = addr.checked_sub(BASE).ok_or(TEE_ERROR_ACCESS_DENIED)? as usize;
        let src = self.0.get(at..at + out.len()).ok_or(TEE_ERROR_ACCESS_DENIED)?;
        out.copy_from_slice(src);
        Ok(())
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), TeeResult> {
        let at = addr.checked_sub(BASE).ok_or(TEE_ERROR_ACCESS_DENIED)? as usize;
        let dst = self.0.get_mut(at..at + data.len()).ok_or(TEE_ERROR_ACCESS_DENIED)?;
        dst.copy_from_slice(data);
        Ok(())
    }
}

#[derive(Default)]
pub(crate) struct Host {
    pub files: BTreeMap<String, Vec<u8>>,
    pub log: Vec<u8>,
    pub slept: u32,
    pub no_key: bool,
    counter: u64,
}

impl TeeHost for Host {
    fn log(&mut self, msg: &[u8]) {
        self.log.extend_from_slice(msg);
    }
    fn now_ms(&mut self) -> (u64, u64) {
        (1_700_000_000_123, 5_000)
    }
    fn sleep_ms(&mut self, ms: u32) {
        self.slept += ms;
    }
    fn random(&mut self, buf: &mut [u8]) {
        // xorshift64*: deterministic, and with a long enough period for RSA prime searches.
        for b in buf {
            if self.counter == 0 {
                self.counter = 0x9E37_79B9_7F4A_7C15;
            }
            self.counter ^= self.counter >> 12;
            self.counter ^= self.counter << 25;
            self.counter ^= self.counter >> 27;
            *b = (self.counter.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
        }
    }
    fn storage_key(&mut self) -> Option<[u8; 32]> {
        (!self.no_key).then_some([9; 32])
    }
    fn store_read(&mut self, name: &str) -> Result<Option<Vec<u8>>, TeeResult> {
        Ok(self.files.get(name).cloned())
    }
    fn store_write(&mut self, name: &str, data: &[u8]) -> Result<(), TeeResult> {
        self.files.insert(name.into(), data.to_vec());
        Ok(())
    }
    fn store_delete(&mut self, name: &str) -> Result<(), TeeResult> {
        self.files.remove(name);
        Ok(())
    }
    fn store_list(&mut self) -> Result<Vec<String>, TeeResult> {
        Ok(self.files.keys().cloned().collect())
    }
}

/// A TA stand-in: its memory, a bump allocator in it, and the core's state for it.
pub(crate) struct Ta {
    pub mem: Mem,
    pub host: Host,
    pub ctx: TeeContext,
    top: u64,
}

impl Ta {
    pub fn new() -> Self {
        let uuid = crate::uuid::TeeUuid::parse("f4e750bb-1437-4fbf-8785-8d3580c34994").unwrap();
        Ta { mem: Mem(vec![0; 1 << 16]), host: Host::default(), ctx: TeeContext::new(uuid), top: BASE }
    }
    pub fn put(&mut self, data: &[u8]) -> u64 {
        let at = self.top;
        self.mem.write(at, data).unwrap();
        self.top += (data.len() as u64 + 15) & !15;
        at
    }
    pub fn alloc(&mut self, len: usize) -> u64 {
        self.put(&vec![0; len.max(8)])
    }
    pub fn u64_cell(&mut self, v: u64) -> u64 {
        self.put(&v.to_le_bytes())
    }
    pub fn get(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.mem.read(addr, &mut out).unwrap();
        out
    }
    pub fn get_u32(&self, addr: u64) -> u32 {
        u32::from_le_bytes(self.get(addr, 4).try_into().unwrap())
    }
    pub fn get_u64(&self, addr: u64) -> u64 {
        u64::from_le_bytes(self.get(addr, 8).try_into().unwrap())
    }
    pub fn sys(&mut self, which: Syscall, args: &[u64]) -> u32 {
        let mut a = [0u64; 8];
        a[..args.len()].copy_from_slice(args);
        match dispatch(&mut self.ctx, &mut self.host, &mut self.mem, which as u64, a) {
            Outcome::Value(v) => v as u32,
            other => panic!("{other:?}"),
        }
    }
    /// Calls that return a handle through their last pointer argument.
    pub fn handle(&mut self, which: Syscall, args: &[u64]) -> u32 {
        let cell = self.alloc(4);
        let mut all = args.to_vec();
        all.push(cell);
        assert_eq!(self.sys(which, &all), TEE_SUCCESS, "{which:?}");
        self.get_u32(cell)
    }
    pub fn attr_ref(&mut self, id: u32, data: &[u8]) -> Vec<u8> {
        let p = self.put(data);
        let mut a = Vec::new();
        a.extend_from_slice(&p.to_le_bytes());
        a.extend_from_slice(&(data.len() as u64).to_le_bytes());
        a.extend_from_slice(&id.to_le_bytes());
        a.extend_from_slice(&[0; 4]);
        a
    }
    pub fn attr_value(&mut self, id: u32, x: u32) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&u64::from(x).to_le_bytes());
        a.extend_from_slice(&0u64.to_le_bytes());
        a.extend_from_slice(&id.to_le_bytes());
        a.extend_from_slice(&[0; 4]);
        a
    }
    pub fn key_object(&mut self, obj_type: u32, bits: u32, attrs: &[u8], count: u64) -> u32 {
        let obj = self.handle(Syscall::CrypObjAlloc, &[obj_type as u64, bits as u64]);
        let p = self.put(attrs);
        assert_eq!(self.sys(Syscall::CrypObjPopulate, &[obj as u64, p, count]), TEE_SUCCESS);
        obj
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn return_panic_and_unknown_calls() {
    let mut ta = Ta::new();
    let mut a = [0u64; 8];
    a[0] = 0xFFFF_0006;
    assert_eq!(dispatch(&mut ta.ctx, &mut ta.host, &mut ta.mem, 0, a), Outcome::Return(0xFFFF_0006));
    a[0] = 0xdead;
    assert_eq!(dispatch(&mut ta.ctx, &mut ta.host, &mut ta.mem, 2, a), Outcome::Panic(0xdead));
    assert_eq!(
        dispatch(&mut ta.ctx, &mut ta.host, &mut ta.mem, 60, a),
        Outcome::Value(u64::from(TEE_ERROR_NOT_SUPPORTED))
    );
    assert_eq!(
        dispatch(&mut ta.ctx, &mut ta.host, &mut ta.mem, 1 << 40, a),
        Outcome::Value(u64::from(TEE_ERROR_NOT_SUPPORTED))
    );
}

#[test]
fn log_time_wait_random() {
    let mut ta = Ta::new();
    let msg = ta.put(b"hello from the TA\n");
    assert_eq!(ta.sys(Syscall::Log, &[msg, 18]), TEE_SUCCESS);
    assert_eq!(ta.host.log, b"hello from the TA\n");
    assert_eq!(ta.sys(Syscall::Log, &[0x10, 4]), TEE_ERROR_ACCESS_DENIED, "a bad pointer is refused");
    let t = ta.alloc(8);
    assert_eq!(ta.sys(Syscall::GetTime, &[2, t]), TEE_SUCCESS);
    assert_eq!((ta.get_u32(t), ta.get_u32(t + 4)), (1_700_000_000, 123));
    assert_eq!(ta.sys(Syscall::GetTime, &[1, t]), 0xFFFF_5000, "TA time not set");
    let set = ta.put(&[100, 0, 0, 0, 7, 0, 0, 0]);
    assert_eq!(ta.sys(Syscall::SetTaTime, &[set]), TEE_SUCCESS);
    assert_eq!(ta.sys(Syscall::GetTime, &[1, t]), TEE_SUCCESS);
    assert_eq!((ta.get_u32(t), ta.get_u32(t + 4)), (100, 7));
    assert_eq!(ta.sys(Syscall::Wait, &[250]), TEE_SUCCESS);
    assert_eq!(ta.host.slept, 250);
    assert_eq!(ta.sys(Syscall::Wait, &[0xFFFF_FFFF]), TEE_ERROR_CANCEL);
    let r = ta.alloc(32);
    assert_eq!(ta.sys(Syscall::CrypRandomNumberGenerate, &[r, 32]), TEE_SUCCESS);
    assert!(ta.get(r, 32).iter().any(|b| *b != 0));
}

#[test]
fn digest_and_hmac_through_the_calls() {
    let mut ta = Ta::new();
    let st = ta.handle(Syscall::CrypStateAlloc, &[crypto::TEE_ALG_SHA256 as u64, TEE_MODE_DIGEST as u64, 0, 0]);
    let abc = ta.put(b"abc");
    assert_eq!(ta.sys(Syscall::HashUpdate, &[st as u64, abc, 1]), TEE_SUCCESS);
    let out = ta.alloc(32);
    let small = ta.u64_cell(16);
    assert_eq!(ta.sys(Syscall::HashFinal, &[st as u64, abc + 1, 2, out, small]), TEE_ERROR_SHORT_BUFFER);
    assert_eq!(ta.get_u64(small), 32, "the size needed");
    let len = ta.u64_cell(32);
    assert_eq!(ta.sys(Syscall::HashFinal, &[st as u64, abc + 1, 2, out, len]), TEE_SUCCESS);
    assert_eq!(ta.get(out, 32), hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));

    let attr = ta.attr_ref(TEE_ATTR_SECRET_VALUE, b"Jefe");
    let key = ta.key_object(TEE_TYPE_HMAC_SHA256, 512, &attr, 1);
    let mac =
        ta.handle(Syscall::CrypStateAlloc, &[crypto::TEE_ALG_HMAC_SHA256 as u64, TEE_MODE_MAC as u64, key as u64, 0]);
    assert_eq!(ta.sys(Syscall::HashInit, &[mac as u64, 0, 0]), TEE_SUCCESS);
    let msg = ta.put(b"what do ya want for nothing?");
    let len = ta.u64_cell(32);
    assert_eq!(ta.sys(Syscall::HashFinal, &[mac as u64, msg, 28, out, len]), TEE_SUCCESS);
    assert_eq!(ta.get(out, 32), hex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
    assert_eq!(ta.sys(Syscall::CrypStateFree, &[mac as u64]), TEE_SUCCESS);
    assert_eq!(ta.sys(Syscall::CrypStateFree, &[mac as u64]), TEE_ERROR_BAD_PARAMETERS, "freed twice");
}

#[test]
fn aes_cbc_and_gcm_through_the_calls() {
    let mut ta = Ta::new();
    let attr = ta.attr_ref(TEE_ATTR_SECRET_VALUE, &hex("2b7e151628aed2a6abf7158809cf4f3c"));
    let key = ta.key_object(TEE_TYPE_AES, 128, &attr, 1);
    let info = ta.alloc(28);
    assert_eq!(ta.sys(Syscall::CrypObjGetInfo, &[key as u64, info]), TEE_SUCCESS);
    assert_eq!((ta.get_u32(info), ta.get_u32(info + 4)), (TEE_TYPE_AES, 128));
    let op = ta.handle(
        Syscall::CrypStateAlloc,
        &[crypto::TEE_ALG_AES_CBC_NOPAD as u64, TEE_MODE_ENCRYPT as u64, key as u64, 0],
    );
    let iv = ta.put(&hex("000102030405060708090a0b0c0d0e0f"));
    assert_eq!(ta.sys(Syscall::CipherInit, &[op as u64, iv, 16]), TEE_SUCCESS);
    let pt = ta.put(&hex("6bc1bee22e409f96e93d7e117393172a"));
    let out = ta.alloc(16);
    let len = ta.u64_cell(16);
    assert_eq!(ta.sys(Syscall::CipherFinal, &[op as u64, pt, 16, out, len]), TEE_SUCCESS);
    assert_eq!(ta.get(out, 16), hex("7649abac8119b246cee98e9b12e9197d"));

    let zero = ta.attr_ref(TEE_ATTR_SECRET_VALUE, &[0; 16]);
    let gkey = ta.key_object(TEE_TYPE_AES, 128, &zero, 1);
    let enc =
        ta.handle(Syscall::CrypStateAlloc, &[crypto::TEE_ALG_AES_GCM as u64, TEE_MODE_ENCRYPT as u64, gkey as u64, 0]);
    let nonce = ta.put(&[0; 12]);
    assert_eq!(ta.sys(Syscall::AuthencInit, &[enc as u64, nonce, 12, 128, 0, 16]), TEE_SUCCESS);
    let pt = ta.put(&[0; 16]);
    let ct = ta.alloc(16);
    let ct_len = ta.u64_cell(16);
    let tag = ta.alloc(16);
    let tag_len = ta.u64_cell(16);
    assert_eq!(ta.sys(Syscall::AuthencEncFinal, &[enc as u64, pt, 16, ct, ct_len, tag, tag_len]), TEE_SUCCESS);
    assert_eq!(ta.get(ct, 16), hex("0388dace60b6a392f328c2b971b2fe78"));
    assert_eq!(ta.get(tag, 16), hex("ab6e47d42cec13bdf53a67b21257bddf"));
    let dec =
        ta.handle(Syscall::CrypStateAlloc, &[crypto::TEE_ALG_AES_GCM as u64, TEE_MODE_DECRYPT as u64, gkey as u64, 0]);
    assert_eq!(ta.sys(Syscall::AuthencInit, &[dec as u64, nonce, 12, 128, 0, 16]), TEE_SUCCESS);
    let bad_tag = ta.put(&[0; 16]);
    let back = ta.alloc(16);
    let back_len = ta.u64_cell(16);
    assert_eq!(
        ta.sys(Syscall::AuthencDecFinal, &[dec as u64, ct, 16, back, back_len, bad_tag, 16]),
        TEE_ERROR_MAC_INVALID
    );
}

#[test]
fn ecdsa_generate_sign_verify_through_the_calls() {
    let mut ta = Ta::new();
    let kp = ta.handle(Syscall::CrypObjAlloc, &[TEE_TYPE_ECDSA_KEYPAIR as u64, 256]);
    let curve = ta.attr_value(TEE_ATTR_ECC_CURVE, TEE_ECC_CURVE_NIST_P256);
    let p = ta.put(&curve);
    assert_eq!(ta.sys(Syscall::ObjGenerateKey, &[kp as u64, 256, p, 1]), TEE_SUCCESS);
    let sign =
        ta.handle(Syscall::CrypStateAlloc, &[crypto::TEE_ALG_ECDSA_P256 as u64, TEE_MODE_SIGN as u64, kp as u64, 0]);
    let digest = ta.put(&[0x42; 32]);
    let sig = ta.alloc(64);
    let sig_len = ta.u64_cell(64);
    assert_eq!(ta.sys(Syscall::AsymmOperate, &[sign as u64, 0, 0, digest, 32, sig, sig_len]), TEE_SUCCESS);
    assert_eq!(ta.get_u64(sig_len), 64);
    let pubkey = ta.handle(Syscall::CrypObjAlloc, &[TEE_TYPE_ECDSA_PUBLIC_KEY as u64, 256]);
    assert_eq!(ta.sys(Syscall::CrypObjCopy, &[pubkey as u64, kp as u64]), TEE_SUCCESS);
    let verify = ta.handle(
        Syscall::CrypStateAlloc,
        &[crypto::TEE_ALG_ECDSA_P256 as u64, TEE_MODE_VERIFY as u64, pubkey as u64, 0],
    );
    assert_eq!(ta.sys(Syscall::AsymmVerify, &[verify as u64, 0, 0, digest, 32, sig, 64]), TEE_SUCCESS);
    let other = ta.put(&[0x43; 32]);
    assert_eq!(ta.sys(Syscall::AsymmVerify, &[verify as u64, 0, 0, other, 32, sig, 64]), TEE_ERROR_SIGNATURE_INVALID);
    // The private value of a key without EXTRACTABLE usage stays inside.
    assert_eq!(ta.sys(Syscall::CrypObjRestrictUsage, &[kp as u64, 0]), TEE_SUCCESS);
    let buf = ta.alloc(32);
    let len = ta.u64_cell(32);
    assert_eq!(
        ta.sys(Syscall::CrypObjGetAttr, &[kp as u64, TEE_ATTR_ECC_PRIVATE_VALUE as u64, buf, len]),
        TEE_ERROR_ACCESS_DENIED
    );
    assert_eq!(
        ta.sys(Syscall::CrypObjGetAttr, &[kp as u64, TEE_ATTR_ECC_PUBLIC_VALUE_X as u64, buf, len]),
        TEE_SUCCESS
    );
}

#[test]
fn storage_survives_reopen_and_detects_tampering() {
    let mut ta = Ta::new();
    let id = ta.put(b"counter");
    let rw = (TEE_DATA_FLAG_ACCESS_READ | TEE_DATA_FLAG_ACCESS_WRITE | TEE_DATA_FLAG_ACCESS_WRITE_META) as u64;
    let init = ta.put(&5u32.to_le_bytes());
    let obj = ta.handle(Syscall::StorageObjCreate, &[TEE_STORAGE_PRIVATE, id, 7, rw, 0, init, 4]);
    assert_eq!(ta.sys(Syscall::CrypObjClose, &[obj as u64]), TEE_SUCCESS);
    assert_eq!(ta.host.files.len(), 1);
    let file = ta.host.files.values().next().unwrap().clone();
    assert!(!file.windows(7).any(|w| w == b"counter"), "the id is not visible on the host");

    // A second create without OVERWRITE conflicts; a fresh context (a restart) reads it back.
    let cell = ta.alloc(4);
    assert_eq!(
        ta.sys(Syscall::StorageObjCreate, &[TEE_STORAGE_PRIVATE, id, 7, rw, 0, init, 4, cell]),
        TEE_ERROR_ACCESS_CONFLICT
    );
    ta.ctx = TeeContext::new(ta.ctx.uuid);
    let obj = ta.handle(Syscall::StorageObjOpen, &[TEE_STORAGE_PRIVATE, id, 7, rw]);
    let buf = ta.alloc(8);
    let count = ta.alloc(8);
    assert_eq!(ta.sys(Syscall::StorageObjRead, &[obj as u64, buf, 8, count]), TEE_SUCCESS);
    assert_eq!((ta.get_u64(count), ta.get_u32(buf)), (4, 5));
    assert_eq!(ta.sys(Syscall::StorageObjSeek, &[obj as u64, 0, 0]), TEE_SUCCESS);
    let six = ta.put(&6u32.to_le_bytes());
    assert_eq!(ta.sys(Syscall::StorageObjWrite, &[obj as u64, six, 4]), TEE_SUCCESS);
    let other = ta.alloc(4);
    assert_eq!(ta.sys(Syscall::StorageObjOpen, &[TEE_STORAGE_PRIVATE, id, 7, rw, other]), TEE_ERROR_ACCESS_CONFLICT);
    assert_eq!(ta.sys(Syscall::CrypObjClose, &[obj as u64]), TEE_SUCCESS);

    // Enumeration finds it by id.
    let e = ta.handle(Syscall::StorageAllocEnum, &[]);
    assert_eq!(ta.sys(Syscall::StorageStartEnum, &[e as u64, TEE_STORAGE_PRIVATE]), TEE_SUCCESS);
    let info = ta.alloc(28);
    let name = ta.alloc(64);
    let name_len = ta.u64_cell(64);
    assert_eq!(ta.sys(Syscall::StorageNextEnum, &[e as u64, info, name, name_len]), TEE_SUCCESS);
    assert_eq!(ta.get(name, ta.get_u64(name_len) as usize), b"counter");
    assert_eq!(ta.get_u32(info + 16), 4, "data size");
    assert_eq!(ta.sys(Syscall::StorageNextEnum, &[e as u64, info, name, name_len]), TEE_ERROR_ITEM_NOT_FOUND);

    // One flipped bit on the host: the object is corrupt.
    let (fname, data) = ta.host.files.iter().next().map(|(k, v)| (k.clone(), v.clone())).unwrap();
    let mut bad = data.clone();
    let n = bad.len();
    bad[n - 20] ^= 0x04;
    ta.host.files.insert(fname, bad);
    let cell = ta.alloc(4);
    assert_eq!(ta.sys(Syscall::StorageObjOpen, &[TEE_STORAGE_PRIVATE, id, 7, rw, cell]), TEE_ERROR_CORRUPT_OBJECT);
    let missing = ta.put(b"nothing");
    assert_eq!(ta.sys(Syscall::StorageObjOpen, &[TEE_STORAGE_PRIVATE, missing, 7, rw, cell]), TEE_ERROR_ITEM_NOT_FOUND);
    ta.host.no_key = true;
    assert_eq!(
        ta.sys(Syscall::StorageObjOpen, &[TEE_STORAGE_PRIVATE, missing, 7, rw, cell]),
        TEE_ERROR_STORAGE_NOT_AVAILABLE
    );
}

#[test]
fn rename_truncate_delete() {
    let mut ta = Ta::new();
    let rw = (TEE_DATA_FLAG_ACCESS_READ | TEE_DATA_FLAG_ACCESS_WRITE | TEE_DATA_FLAG_ACCESS_WRITE_META) as u64;
    let id = ta.put(b"a");
    let data = ta.put(b"0123456789");
    let obj = ta.handle(Syscall::StorageObjCreate, &[TEE_STORAGE_PRIVATE, id, 1, rw, 0, data, 10]);
    assert_eq!(ta.sys(Syscall::StorageObjTrunc, &[obj as u64, 3]), TEE_SUCCESS);
    let new_id = ta.put(b"b");
    assert_eq!(ta.sys(Syscall::StorageObjRename, &[obj as u64, new_id, 1]), TEE_SUCCESS);
    assert_eq!(ta.sys(Syscall::CrypObjClose, &[obj as u64]), TEE_SUCCESS);
    let cell = ta.alloc(4);
    assert_eq!(ta.sys(Syscall::StorageObjOpen, &[TEE_STORAGE_PRIVATE, id, 1, rw, cell]), TEE_ERROR_ITEM_NOT_FOUND);
    let obj = ta.handle(Syscall::StorageObjOpen, &[TEE_STORAGE_PRIVATE, new_id, 1, rw]);
    let info = ta.alloc(28);
    assert_eq!(ta.sys(Syscall::CrypObjGetInfo, &[obj as u64, info]), TEE_SUCCESS);
    assert_eq!(ta.get_u32(info + 16), 3);
    assert_eq!(ta.sys(Syscall::StorageObjDel, &[obj as u64]), TEE_SUCCESS);
    assert!(ta.host.files.is_empty());
    assert_eq!(ta.ctx.open_handles(), 0);
}

#[test]
fn rsa_generate_sign_verify_through_the_calls() {
    let mut ta = Ta::new();
    let kp = ta.handle(Syscall::CrypObjAlloc, &[TEE_TYPE_RSA_KEYPAIR as u64, 1024]);
    assert_eq!(ta.sys(Syscall::ObjGenerateKey, &[kp as u64, 1024, 0, 0]), TEE_SUCCESS);
    let info = ta.alloc(28);
    assert_eq!(ta.sys(Syscall::CrypObjGetInfo, &[kp as u64, info]), TEE_SUCCESS);
    assert_eq!(ta.get_u32(info + 4), 1024, "key size in bits");
    for alg in [0x7000_4830u64, 0x7041_4930] {
        let sign = ta.handle(Syscall::CrypStateAlloc, &[alg, TEE_MODE_SIGN as u64, kp as u64, 0]);
        let digest = ta.put(&[0x5a; 32]);
        let sig = ta.alloc(128);
        let small = ta.u64_cell(64);
        assert_eq!(ta.sys(Syscall::AsymmOperate, &[sign as u64, 0, 0, digest, 32, sig, small]), TEE_ERROR_SHORT_BUFFER);
        assert_eq!(ta.get_u64(small), 128);
        let len = ta.u64_cell(128);
        assert_eq!(ta.sys(Syscall::AsymmOperate, &[sign as u64, 0, 0, digest, 32, sig, len]), TEE_SUCCESS);
        let pubkey = ta.handle(Syscall::CrypObjAlloc, &[TEE_TYPE_RSA_PUBLIC_KEY as u64, 1024]);
        assert_eq!(ta.sys(Syscall::CrypObjCopy, &[pubkey as u64, kp as u64]), TEE_SUCCESS);
        let verify = ta.handle(Syscall::CrypStateAlloc, &[alg, TEE_MODE_VERIFY as u64, pubkey as u64, 0]);
        assert_eq!(ta.sys(Syscall::AsymmVerify, &[verify as u64, 0, 0, digest, 32, sig, 128]), TEE_SUCCESS);
        let other = ta.put(&[0x5b; 32]);
        assert_eq!(
            ta.sys(Syscall::AsymmVerify, &[verify as u64, 0, 0, other, 32, sig, 128]),
            TEE_ERROR_SIGNATURE_INVALID
        );
        let buf = ta.alloc(128);
        let blen = ta.u64_cell(128);
        assert_eq!(
            ta.sys(Syscall::CrypObjGetAttr, &[pubkey as u64, TEE_ATTR_RSA_PRIVATE_EXPONENT as u64, buf, blen]),
            TEE_ERROR_ITEM_NOT_FOUND,
            "the public copy has no private exponent"
        );
    }
}

/// A 1024-bit key and "LiteBox RSAES known answer" encrypted under it by Python's
/// `cryptography` (PKCS#1 v1.5, OAEP SHA-1, OAEP SHA-256 with label "label", raw m^e mod n).
const RSAES_N: &str = "a11fe8f21456f0d6db63580200f814a678ae7b2d59b602031a515aaa41f09fc44d17a4d9c03fb78adf521d55562595999ec19b8fab7d3413fc70a3e20fe72cbf3b7e0d71ea4177a8f851f03cb2097bf3658260543a06eefa561c812a2e53506ccbbd0119ecac91828321dbab5467b4f86c6dd212210025dbfdac263d83d34cc1";
const RSAES_D: &str = "11e86e0799e31fd98180c52353e03ecb51d672b253aa3b070541cd85e6d64bab91b5f30890a98448d71155594abddaa6bc52606bd36f92fe35ac7f4a7ce200c30340449f791795bc255c31d3832e5017a024202aeeb7bd4aa93f555c784218cbd972d0887a8eb449be0c3bf69f47c41359a6faa030a39df5114da11428414b01";
const RSAES_PKCS1: &str = "0d74f5f78a8302972cf9bdcd2ffaea2ce65d6dff868bd113ea3381adff52b342da44e3949ed98a5bcc8c132e6f9f4dd19035fffdda5b40e311755b85a82d499e96de66990c3fea1b513b73a0af9d9371f8fc83979aca089e01fad14643d63a3b4a77463e5189164b24edcc2280fbc26e23c0a83de2da825198e60b72c2a96f58";
const RSAES_OAEP1: &str = "00cfb7109848649635bb8ca945911b2ef22c046192926d232d367ccd4185df8c87ea168804961b6d11214ebe8d58161d0e964a903ed358d48f5ff8bcbc3b8070a93a6bf3e9c625a17595f1bc6dc5bfe1587794fec1d13e5f17a30b12f7cd455a8494339fbcff3920604d29fa9d49fc4f1ee8f147ff2bff3073f42c374c156bd9";
const RSAES_OAEP256_LABEL: &str = "73c7d6fead4be13adcde546af4f30409e81308f68277a2edb9b8f21ba03b4c0d694655ca185e5fb30be1e65c5dec1f5cc63baf924ae8c3f358d924538e2d9b440050925f4a76e3345067e1b8e5dccda5de1aabd4db047b4262bc5b6a612be14455e5e5127d5022d339a1f265f3fc105937d58cf358b4ac579bf8dbc02c74728b";
const RSAES_NOPAD: &str = "15aca6c860b7e1b94aeb6ee62218f34d195ff99061dc56f74272d50d88d66ba684f4310274cfb67ea1156a8584056e6971a2977d97e01346038ac58dbff794371a2e61bc9a5819ce96f22ee9a2375a6178ecc420589bba975313b606856ccf60383b20ea2224632ab8877546b7e7582b1f505f8a2f330e299b1909cab750e452";
const RSAES_MSG: &[u8] = b"LiteBox RSAES known answer";

fn rsa_keypair(ta: &mut Ta) -> u32 {
    let mut attrs = ta.attr_ref(TEE_ATTR_RSA_MODULUS, &hex(RSAES_N));
    attrs.extend(ta.attr_ref(TEE_ATTR_RSA_PUBLIC_EXPONENT, &[1, 0, 1]));
    attrs.extend(ta.attr_ref(TEE_ATTR_RSA_PRIVATE_EXPONENT, &hex(RSAES_D)));
    ta.key_object(TEE_TYPE_RSA_KEYPAIR, 1024, &attrs, 3)
}

/// `asymm_operate` of state `op` with `attrs` (count `n`) on `src`: the result and the output.
fn asymm(ta: &mut Ta, op: u32, attrs: (u64, u64), src: &[u8], cap: u64) -> (u32, Vec<u8>) {
    let s = ta.put(src);
    let out = ta.alloc(cap as usize);
    let len = ta.u64_cell(cap);
    let r = ta.sys(Syscall::AsymmOperate, &[op as u64, attrs.0, attrs.1, s, src.len() as u64, out, len]);
    let n = ta.get_u64(len) as usize;
    (r, if r == TEE_SUCCESS { ta.get(out, n) } else { vec![0; n] })
}

#[test]
fn rsaes_decrypts_python_cryptography_vectors_through_the_calls() {
    let mut ta = Ta::new();
    let kp = rsa_keypair(&mut ta);
    let label = ta.attr_ref(crate::rsaes::TEE_ATTR_RSA_OAEP_LABEL, b"label");
    let label = (ta.put(&label), 1);
    let cases = [
        (crate::rsaes::TEE_ALG_RSAES_PKCS1_V1_5, RSAES_PKCS1, (0, 0)),
        (crate::rsaes::TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA1, RSAES_OAEP1, (0, 0)),
        (crate::rsaes::TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA256, RSAES_OAEP256_LABEL, label),
        (crate::rsaes::TEE_ALG_RSA_NOPAD, RSAES_NOPAD, (0, 0)),
    ];
    for (alg, vector, attrs) in cases {
        let dec = ta.handle(Syscall::CrypStateAlloc, &[alg as u64, TEE_MODE_DECRYPT as u64, kp as u64, 0]);
        assert_eq!(asymm(&mut ta, dec, attrs, &hex(vector), 128), (TEE_SUCCESS, RSAES_MSG.to_vec()), "{alg:#x}");
        // Round trip: our encryption decrypts to the message (PKCS#1/OAEP are randomized).
        let enc = ta.handle(Syscall::CrypStateAlloc, &[alg as u64, TEE_MODE_ENCRYPT as u64, kp as u64, 0]);
        assert_eq!(asymm(&mut ta, enc, attrs, RSAES_MSG, 64), (TEE_ERROR_SHORT_BUFFER, vec![0; 128]));
        let (r, ct) = asymm(&mut ta, enc, attrs, RSAES_MSG, 128);
        assert_eq!(r, TEE_SUCCESS);
        if alg == crate::rsaes::TEE_ALG_RSA_NOPAD {
            assert_eq!(ct, hex(RSAES_NOPAD), "raw RSA is deterministic");
        }
        assert_eq!(asymm(&mut ta, dec, attrs, &ct, 128), (TEE_SUCCESS, RSAES_MSG.to_vec()));
    }
    // A wrong label, a damaged cipher text: BAD_PARAMETERS, as OP-TEE.
    let oaep = crate::rsaes::TEE_ALG_RSAES_PKCS1_OAEP_MGF1_SHA256;
    let dec = ta.handle(Syscall::CrypStateAlloc, &[oaep as u64, TEE_MODE_DECRYPT as u64, kp as u64, 0]);
    assert_eq!(asymm(&mut ta, dec, (0, 0), &hex(RSAES_OAEP256_LABEL), 128).0, TEE_ERROR_BAD_PARAMETERS);
    let mut bad = hex(RSAES_PKCS1);
    bad[5] ^= 1;
    let pkcs1 = crate::rsaes::TEE_ALG_RSAES_PKCS1_V1_5;
    let dec = ta.handle(Syscall::CrypStateAlloc, &[pkcs1 as u64, TEE_MODE_DECRYPT as u64, kp as u64, 0]);
    assert_eq!(asymm(&mut ta, dec, (0, 0), &bad, 128).0, TEE_ERROR_BAD_PARAMETERS);
    // RSAES in a sign mode is not an operation GP defines.
    assert_eq!(
        ta.sys(Syscall::CrypStateAlloc, &[pkcs1 as u64, TEE_MODE_SIGN as u64, kp as u64, 0, ta.top]),
        TEE_ERROR_NOT_SUPPORTED
    );
}

#[test]
fn aes_cmac_through_the_calls_rfc4493() {
    let mut ta = Ta::new();
    let attr = ta.attr_ref(TEE_ATTR_SECRET_VALUE, &hex("2b7e151628aed2a6abf7158809cf4f3c"));
    let key = ta.key_object(TEE_TYPE_AES, 128, &attr, 1);
    let alg = crypto::TEE_ALG_AES_CMAC as u64;
    let mac = ta.handle(Syscall::CrypStateAlloc, &[alg, TEE_MODE_MAC as u64, key as u64, 0]);
    assert_eq!(ta.sys(Syscall::HashInit, &[mac as u64, 0, 0]), TEE_SUCCESS);
    let msg = ta.put(&hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411"));
    assert_eq!(ta.sys(Syscall::HashUpdate, &[mac as u64, msg, 17]), TEE_SUCCESS);
    let out = ta.alloc(16);
    let len = ta.u64_cell(16);
    assert_eq!(ta.sys(Syscall::HashFinal, &[mac as u64, msg + 17, 23, out, len]), TEE_SUCCESS);
    assert_eq!(ta.get(out, 16), hex("dfa66747de9ae63030ca32611497c827"));
}
