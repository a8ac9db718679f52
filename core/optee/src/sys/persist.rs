//! Persistent objects (TEE_STORAGE_PRIVATE): open, create, read, write, seek, truncate, rename,
//! delete and enumerate, each object sealed by [`crate::storage`] into one host file that is
//! rewritten (atomically, by the platform) after every change.

use alloc::vec::Vec;

use super::objects::{
    Attr, Object, TEE_HANDLE_FLAG_INITIALIZED, TEE_HANDLE_FLAG_PERSISTENT, TEE_TYPE_DATA, TEE_USAGE_DEFAULT,
};
use super::{put, read_in, slot, take, write_out, write_u32, TeeContext, TeeHost, UserMemory};
use crate::abi::{
    Syscall, TeeResult, TEE_ERROR_ACCESS_CONFLICT, TEE_ERROR_ACCESS_DENIED, TEE_ERROR_BAD_PARAMETERS,
    TEE_ERROR_CORRUPT_OBJECT, TEE_ERROR_ITEM_NOT_FOUND, TEE_ERROR_NOT_SUPPORTED, TEE_ERROR_OVERFLOW,
    TEE_ERROR_STORAGE_NOT_AVAILABLE,
};
use crate::storage::{object_file_name, seal, unseal, OBJECT_ID_MAX_LEN};

pub const TEE_STORAGE_PRIVATE: u64 = 1;
pub const TEE_STORAGE_PRIVATE_REE: u64 = 0x8000_0000;
pub const TEE_DATA_FLAG_ACCESS_READ: u32 = 0x1;
pub const TEE_DATA_FLAG_ACCESS_WRITE: u32 = 0x2;
pub const TEE_DATA_FLAG_ACCESS_WRITE_META: u32 = 0x4;
pub const TEE_DATA_FLAG_SHARE_READ: u32 = 0x10;
pub const TEE_DATA_FLAG_SHARE_WRITE: u32 = 0x20;
pub const TEE_DATA_FLAG_OVERWRITE: u32 = 0x400;
/// `TEE_DATA_MAX_POSITION`.
pub const DATA_MAX_POSITION: u64 = 0xFFFF_FFFF;

/// The persistent part of an open object.
#[derive(Clone, Debug)]
pub struct Persistent {
    pub id: Vec<u8>,
    pub data: Vec<u8>,
    pub pos: u64,
    pub access: u32,
}

/// An enumeration of the TA's objects (ids, in file-name order).
pub(crate) struct Enumerator {
    items: Option<Vec<(Vec<u8>, Object)>>,
    next: usize,
}

fn encode(obj: &Object, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for w in [obj.obj_type, obj.size, obj.max_size, obj.usage, obj.attrs.len() as u32] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for (id, attr) in &obj.attrs {
        out.extend_from_slice(&id.to_le_bytes());
        match attr {
            Attr::Ref(b) => {
                out.push(0);
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(b);
            }
            Attr::Value(x, y) => {
                out.push(1);
                out.extend_from_slice(&x.to_le_bytes());
                out.extend_from_slice(&y.to_le_bytes());
            }
        }
    }
    out.extend_from_slice(data);
    out
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn u32(&mut self) -> Result<u32, TeeResult> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn bytes(&mut self, n: usize) -> Result<&[u8], TeeResult> {
        if self.0.len() < n {
            return Err(TEE_ERROR_CORRUPT_OBJECT);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
}

fn decode(bytes: &[u8]) -> Result<(Object, Vec<u8>), TeeResult> {
    let mut c = Cursor(bytes);
    let (obj_type, size, max_size, usage, count) = (c.u32()?, c.u32()?, c.u32()?, c.u32()?, c.u32()?);
    let mut obj = Object::transient(obj_type, max_size);
    obj.size = size;
    obj.usage = usage;
    for _ in 0..count.min(64) {
        let id = c.u32()?;
        let attr = match c.bytes(1)?[0] {
            0 => {
                let n = c.u32()? as usize;
                Attr::Ref(c.bytes(n)?.to_vec())
            }
            1 => Attr::Value(c.u32()?, c.u32()?),
            _ => return Err(TEE_ERROR_CORRUPT_OBJECT),
        };
        obj.attrs.push((id, attr));
    }
    Ok((obj, c.0.to_vec()))
}

fn key(host: &mut dyn TeeHost) -> Result<[u8; 32], TeeResult> {
    host.storage_key().ok_or(TEE_ERROR_STORAGE_NOT_AVAILABLE)
}

fn check_storage(id: u64) -> Result<(), TeeResult> {
    if id == TEE_STORAGE_PRIVATE || id == TEE_STORAGE_PRIVATE_REE {
        Ok(())
    } else {
        Err(TEE_ERROR_ITEM_NOT_FOUND)
    }
}

fn object_id(mem: &dyn UserMemory, addr: u64, len: u64) -> Result<Vec<u8>, TeeResult> {
    if len > OBJECT_ID_MAX_LEN as u64 {
        return Err(TEE_ERROR_BAD_PARAMETERS);
    }
    read_in(mem, addr, len)
}

fn load(ctx: &TeeContext, host: &mut dyn TeeHost, id: &[u8]) -> Result<Option<(Object, Vec<u8>)>, TeeResult> {
    let k = key(host)?;
    let name = object_file_name(&ctx.uuid, id);
    let Some(sealed) = host.store_read(&name)? else { return Ok(None) };
    let (_, plain) = unseal(&k, &ctx.uuid, &name, &sealed)?;
    decode(&plain).map(Some)
}

fn save(ctx: &TeeContext, host: &mut dyn TeeHost, obj: &Object) -> Result<(), TeeResult> {
    let p = obj.persistent.as_ref().ok_or(TEE_ERROR_BAD_PARAMETERS)?;
    let k = key(host)?;
    let mut nonce = [0u8; 12];
    host.random(&mut nonce);
    let sealed = seal(&k, &ctx.uuid, &p.id, &encode(obj, &p.data), &nonce);
    host.store_write(&object_file_name(&ctx.uuid, &p.id), &sealed)
}

/// Refuses an open that conflicts with handles already open on the same object.
fn check_sharing(ctx: &TeeContext, id: &[u8], flags: u32) -> Result<(), TeeResult> {
    for other in ctx.objects.iter().flatten().filter_map(|o| o.persistent.as_ref()).filter(|p| p.id == id) {
        let ok = |access: u32, share: u32| {
            (access & TEE_DATA_FLAG_ACCESS_READ == 0 || share & TEE_DATA_FLAG_SHARE_READ != 0)
                && (access & (TEE_DATA_FLAG_ACCESS_WRITE | TEE_DATA_FLAG_ACCESS_WRITE_META) == 0
                    || share & TEE_DATA_FLAG_SHARE_WRITE != 0)
        };
        if !ok(flags, other.access) || !ok(other.access, flags) {
            return Err(TEE_ERROR_ACCESS_CONFLICT);
        }
    }
    Ok(())
}

fn opened(mut obj: Object, id: Vec<u8>, data: Vec<u8>, flags: u32) -> Object {
    obj.flags = TEE_HANDLE_FLAG_PERSISTENT | TEE_HANDLE_FLAG_INITIALIZED | (flags & 0xFFFF);
    obj.persistent = Some(Persistent { id, data, pos: 0, access: flags });
    obj
}

fn persistent(ctx: &mut TeeContext, handle: u64, need: u32) -> Result<&mut Object, TeeResult> {
    let obj = slot(&mut ctx.objects, handle)?;
    let p = obj.persistent.as_ref().ok_or(TEE_ERROR_BAD_PARAMETERS)?;
    if p.access & need != need {
        return Err(TEE_ERROR_ACCESS_DENIED);
    }
    Ok(obj)
}

pub(super) fn call(
    ctx: &mut TeeContext,
    host: &mut dyn TeeHost,
    mem: &mut dyn UserMemory,
    call: Syscall,
    a: [u64; 8],
) -> Result<(), TeeResult> {
    match call {
        Syscall::StorageObjOpen => {
            check_storage(a[0])?;
            let id = object_id(mem, a[1], a[2])?;
            let flags = a[3] as u32;
            check_sharing(ctx, &id, flags)?;
            let (obj, data) = load(ctx, host, &id)?.ok_or(TEE_ERROR_ITEM_NOT_FOUND)?;
            let h = put(&mut ctx.objects, opened(obj, id, data, flags));
            write_u32(mem, a[4], h).inspect_err(|_| ctx.objects[h as usize - 1] = None)
        }
        Syscall::StorageObjCreate => {
            check_storage(a[0])?;
            let id = object_id(mem, a[1], a[2])?;
            let flags = a[3] as u32;
            let data = read_in(mem, a[5], a[6])?;
            check_sharing(ctx, &id, flags)?;
            if flags & TEE_DATA_FLAG_OVERWRITE == 0 && load(ctx, host, &id).map(|o| o.is_some()).unwrap_or(true) {
                return Err(TEE_ERROR_ACCESS_CONFLICT);
            }
            let mut base = Object::transient(TEE_TYPE_DATA, 0);
            if a[4] != 0 {
                let src = slot(&mut ctx.objects, a[4])?.clone();
                if src.flags & TEE_HANDLE_FLAG_INITIALIZED == 0 {
                    return Err(TEE_ERROR_BAD_PARAMETERS);
                }
                base = Object { persistent: None, flags: 0, ..src };
            }
            base.usage = if a[4] != 0 { base.usage } else { TEE_USAGE_DEFAULT };
            let obj = opened(base, id, data, flags);
            save(ctx, host, &obj)?;
            let h = put(&mut ctx.objects, obj);
            if a[7] == 0 {
                ctx.objects[h as usize - 1] = None;
                return Ok(());
            }
            write_u32(mem, a[7], h).inspect_err(|_| ctx.objects[h as usize - 1] = None)
        }
        Syscall::StorageObjDel => {
            let obj = persistent(ctx, a[0], TEE_DATA_FLAG_ACCESS_WRITE_META)?;
            let id = obj.persistent.as_ref().map(|p| p.id.clone()).unwrap_or_default();
            host.store_delete(&object_file_name(&ctx.uuid, &id))?;
            take(&mut ctx.objects, a[0]).map(|_| ())
        }
        Syscall::StorageObjRename => {
            let new_id = object_id(mem, a[1], a[2])?;
            persistent(ctx, a[0], TEE_DATA_FLAG_ACCESS_WRITE_META)?;
            if load(ctx, host, &new_id).map(|o| o.is_some()).unwrap_or(true) {
                return Err(TEE_ERROR_ACCESS_CONFLICT);
            }
            let obj = slot(&mut ctx.objects, a[0])?;
            let Some(p) = obj.persistent.as_mut() else { return Err(TEE_ERROR_BAD_PARAMETERS) };
            let old = core::mem::replace(&mut p.id, new_id);
            let snapshot = obj.clone();
            save(ctx, host, &snapshot)?;
            host.store_delete(&object_file_name(&ctx.uuid, &old))
        }
        Syscall::StorageObjRead => {
            let obj = persistent(ctx, a[0], TEE_DATA_FLAG_ACCESS_READ)?;
            let Some(p) = obj.persistent.as_mut() else { return Err(TEE_ERROR_BAD_PARAMETERS) };
            let start = (p.pos as usize).min(p.data.len());
            let n = (a[2] as usize).min(p.data.len() - start);
            let chunk = p.data[start..start + n].to_vec();
            p.pos = (start + n) as u64;
            if n > 0 {
                mem.write(a[1], &chunk)?;
            }
            super::write_u64(mem, a[3], n as u64)
        }
        Syscall::StorageObjWrite => {
            let data = read_in(mem, a[1], a[2])?;
            let obj = persistent(ctx, a[0], TEE_DATA_FLAG_ACCESS_WRITE)?;
            let Some(p) = obj.persistent.as_mut() else { return Err(TEE_ERROR_BAD_PARAMETERS) };
            let end =
                p.pos.checked_add(data.len() as u64).filter(|e| *e <= DATA_MAX_POSITION).ok_or(TEE_ERROR_OVERFLOW)?;
            if p.data.len() < end as usize {
                p.data.resize(end as usize, 0);
            }
            p.data[p.pos as usize..end as usize].copy_from_slice(&data);
            p.pos = end;
            let snapshot = obj.clone();
            save(ctx, host, &snapshot)
        }
        Syscall::StorageObjTrunc => {
            let obj = persistent(ctx, a[0], TEE_DATA_FLAG_ACCESS_WRITE)?;
            let Some(p) = obj.persistent.as_mut() else { return Err(TEE_ERROR_BAD_PARAMETERS) };
            if a[1] > DATA_MAX_POSITION {
                return Err(TEE_ERROR_OVERFLOW);
            }
            p.data.resize(a[1] as usize, 0);
            let snapshot = obj.clone();
            save(ctx, host, &snapshot)
        }
        Syscall::StorageObjSeek => {
            let obj = persistent(ctx, a[0], 0)?;
            let Some(p) = obj.persistent.as_mut() else { return Err(TEE_ERROR_BAD_PARAMETERS) };
            let base = match a[2] {
                0 => 0i64,
                1 => p.pos as i64,
                2 => p.data.len() as i64,
                _ => return Err(TEE_ERROR_BAD_PARAMETERS),
            };
            let pos = base + i64::from(a[1] as u32 as i32);
            if pos > DATA_MAX_POSITION as i64 {
                return Err(TEE_ERROR_OVERFLOW);
            }
            p.pos = pos.max(0) as u64;
            Ok(())
        }
        Syscall::StorageAllocEnum => {
            let h = put(&mut ctx.enums, Enumerator { items: None, next: 0 });
            write_u32(mem, a[0], h).inspect_err(|_| ctx.enums[h as usize - 1] = None)
        }
        Syscall::StorageFreeEnum => take(&mut ctx.enums, a[0]).map(|_| ()),
        Syscall::StorageResetEnum => {
            let e = slot(&mut ctx.enums, a[0])?;
            e.items = None;
            e.next = 0;
            Ok(())
        }
        Syscall::StorageStartEnum => {
            slot(&mut ctx.enums, a[0])?;
            check_storage(a[1])?;
            let k = key(host)?;
            let mut items = Vec::new();
            for name in host.store_list()? {
                let Some(sealed) = host.store_read(&name)? else { continue };
                // Objects of other TAs (or damaged ones) in the same directory are skipped.
                let Ok((id, plain)) = unseal(&k, &ctx.uuid, &name, &sealed) else { continue };
                let Ok((obj, data)) = decode(&plain) else { continue };
                items.push((id.clone(), opened(obj, id, data, 0)));
            }
            if items.is_empty() {
                return Err(TEE_ERROR_ITEM_NOT_FOUND);
            }
            let e = slot(&mut ctx.enums, a[0])?;
            e.items = Some(items);
            e.next = 0;
            Ok(())
        }
        Syscall::StorageNextEnum => {
            let e = slot(&mut ctx.enums, a[0])?;
            let items = e.items.as_ref().ok_or(TEE_ERROR_ITEM_NOT_FOUND)?;
            let (id, obj) = items.get(e.next).ok_or(TEE_ERROR_ITEM_NOT_FOUND)?.clone();
            e.next += 1;
            mem.write(a[1], &obj.info())?;
            write_out(mem, a[2], a[3], &id)
        }
        _ => Err(TEE_ERROR_NOT_SUPPORTED),
    }
}
