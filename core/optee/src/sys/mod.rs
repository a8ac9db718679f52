//! The utee system calls: what the TEE core does for a TA behind libutee.
//!
//! [`dispatch`] takes the call number and the eight argument registers (see [`crate::abi`]),
//! reads and writes the TA's memory only through [`UserMemory`] (every pointer checked), asks
//! the platform for time, entropy, sleeping and host files through [`TeeHost`], and keeps the
//! TA's crypto states, objects and enumerators in a [`TeeContext`]. A call the TA cannot make
//! (bad handle, bad pointer, unknown algorithm) returns a GP error code; it never panics.

mod basic;
mod objects;
mod ops;
mod persist;

use alloc::string::String;
use alloc::vec::Vec;

use crate::abi::{Syscall, TeeResult, TEE_ERROR_ACCESS_DENIED, TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_NOT_SUPPORTED};
use crate::uuid::TeeUuid;

pub use objects::{Attr, Object};
pub use ops::CrypState;

/// The TA's memory as the TEE core sees it: every access is checked against the TA's mappings.
pub trait UserMemory {
    /// Copies `out.len()` bytes from TA address `addr`; `TEE_ERROR_ACCESS_DENIED` if any is not readable.
    fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), TeeResult>;
    /// Copies `data` to TA address `addr`; `TEE_ERROR_ACCESS_DENIED` if any is not writable.
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), TeeResult>;
}

/// What the TEE core needs from the platform.
pub trait TeeHost {
    /// Writes a TA's trace message (already a whole line or part of one).
    fn log(&mut self, msg: &[u8]);
    /// Milliseconds since the Unix epoch (REE time) and since boot (system time).
    fn now_ms(&mut self) -> (u64, u64);
    /// Sleeps `ms` milliseconds.
    fn sleep_ms(&mut self, ms: u32);
    /// Fills `buf` from a cryptographic random source.
    fn random(&mut self, buf: &mut [u8]);
    /// The 32-byte storage key, or None when the TA has no secure storage.
    fn storage_key(&mut self) -> Option<[u8; 32]>;
    /// The content of storage file `name`, None if there is none.
    fn store_read(&mut self, name: &str) -> Result<Option<Vec<u8>>, TeeResult>;
    /// Replaces storage file `name` with `data`, atomically.
    fn store_write(&mut self, name: &str, data: &[u8]) -> Result<(), TeeResult>;
    /// Removes storage file `name` (no error if it is gone).
    fn store_delete(&mut self, name: &str) -> Result<(), TeeResult>;
    /// The names of the storage files, in a stable order.
    fn store_list(&mut self) -> Result<Vec<String>, TeeResult>;
}

/// How a system call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Back to the TA with this value in `rax`.
    Value(u64),
    /// `_utee_return(ret)`: the entry point is over with this result.
    Return(u32),
    /// `_utee_panic(code)`: the TA is dead.
    Panic(u32),
}

/// The per-TA-instance state of the TEE core: handles and what they name.
pub struct TeeContext {
    pub(crate) uuid: TeeUuid,
    pub(crate) objects: Vec<Option<Object>>,
    pub(crate) states: Vec<Option<CrypState>>,
    pub(crate) enums: Vec<Option<persist::Enumerator>>,
    /// Offset of TA persistent time from system time, once the TA has set it.
    pub(crate) ta_time_offset_ms: Option<i64>,
}

impl TeeContext {
    /// An empty context for the TA named `uuid`.
    pub fn new(uuid: TeeUuid) -> Self {
        TeeContext { uuid, objects: Vec::new(), states: Vec::new(), enums: Vec::new(), ta_time_offset_ms: None }
    }

    /// How many objects, crypto states and enumerators are open (for leak checks and limits).
    pub fn open_handles(&self) -> usize {
        self.objects.iter().flatten().count()
            + self.states.iter().flatten().count()
            + self.enums.iter().flatten().count()
    }
}

/// Handles are table index + 1 (0 is `TEE_HANDLE_NULL`).
pub(crate) fn put<T>(table: &mut Vec<Option<T>>, value: T) -> u32 {
    if let Some(i) = table.iter().position(Option::is_none) {
        table[i] = Some(value);
        return i as u32 + 1;
    }
    table.push(Some(value));
    table.len() as u32
}

pub(crate) fn slot<T>(table: &mut [Option<T>], handle: u64) -> Result<&mut T, TeeResult> {
    let i = usize::try_from(handle).ok().and_then(|h| h.checked_sub(1)).ok_or(TEE_ERROR_BAD_PARAMETERS)?;
    table.get_mut(i).and_then(Option::as_mut).ok_or(TEE_ERROR_BAD_PARAMETERS)
}

pub(crate) fn take<T>(table: &mut [Option<T>], handle: u64) -> Result<T, TeeResult> {
    let i = usize::try_from(handle).ok().and_then(|h| h.checked_sub(1)).ok_or(TEE_ERROR_BAD_PARAMETERS)?;
    table.get_mut(i).and_then(Option::take).ok_or(TEE_ERROR_BAD_PARAMETERS)
}

/// The largest buffer one call copies in or out (a TA asking for more gets BAD_PARAMETERS).
pub const MAX_COPY: u64 = 16 << 20;

/// Copies `len` bytes in from the TA.
pub(crate) fn read_in(mem: &dyn UserMemory, addr: u64, len: u64) -> Result<Vec<u8>, TeeResult> {
    if len > MAX_COPY {
        return Err(TEE_ERROR_BAD_PARAMETERS);
    }
    let mut buf = alloc::vec![0u8; len as usize];
    if len > 0 {
        mem.read(addr, &mut buf)?;
    }
    Ok(buf)
}

pub(crate) fn read_u32(mem: &dyn UserMemory, addr: u64) -> Result<u32, TeeResult> {
    let mut b = [0u8; 4];
    mem.read(addr, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

pub(crate) fn read_u64(mem: &dyn UserMemory, addr: u64) -> Result<u64, TeeResult> {
    let mut b = [0u8; 8];
    mem.read(addr, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

pub(crate) fn write_u32(mem: &mut dyn UserMemory, addr: u64, v: u32) -> Result<(), TeeResult> {
    if addr == 0 {
        return Err(TEE_ERROR_ACCESS_DENIED);
    }
    mem.write(addr, &v.to_le_bytes())
}

pub(crate) fn write_u64(mem: &mut dyn UserMemory, addr: u64, v: u64) -> Result<(), TeeResult> {
    if addr == 0 {
        return Err(TEE_ERROR_ACCESS_DENIED);
    }
    mem.write(addr, &v.to_le_bytes())
}

/// Writes `data` to an output buffer `(addr, *len_addr)` the GP way: if it does not fit,
/// `*len_addr` gets the size needed and the result is `TEE_ERROR_SHORT_BUFFER`.
pub(crate) fn write_out(mem: &mut dyn UserMemory, addr: u64, len_addr: u64, data: &[u8]) -> Result<(), TeeResult> {
    let cap = read_u64(mem, len_addr)?;
    write_u64(mem, len_addr, data.len() as u64)?;
    if (data.len() as u64) > cap {
        return Err(crate::abi::TEE_ERROR_SHORT_BUFFER);
    }
    if !data.is_empty() {
        mem.write(addr, data)?;
    }
    Ok(())
}

/// Serves system call `nr` with argument registers `a` for the TA whose state is `ctx`.
pub fn dispatch(
    ctx: &mut TeeContext,
    host: &mut dyn TeeHost,
    mem: &mut dyn UserMemory,
    nr: u64,
    a: [u64; 8],
) -> Outcome {
    let Some(call) = Syscall::from_number(nr) else {
        return Outcome::Value(u64::from(TEE_ERROR_NOT_SUPPORTED));
    };
    match call {
        Syscall::Return => return Outcome::Return(a[0] as u32),
        Syscall::Panic => return Outcome::Panic(a[0] as u32),
        _ => {}
    }
    let result = match call {
        Syscall::Log
        | Syscall::GetProperty
        | Syscall::GetPropertyNameToIndex
        | Syscall::CheckAccessRights
        | Syscall::GetCancellationFlag
        | Syscall::UnmaskCancellation
        | Syscall::MaskCancellation
        | Syscall::Wait
        | Syscall::GetTime
        | Syscall::SetTaTime
        | Syscall::CrypRandomNumberGenerate
        | Syscall::CacheOperation
        | Syscall::OpenTaSession
        | Syscall::CloseTaSession
        | Syscall::InvokeTaCommand => basic::call(ctx, host, mem, call, a),
        Syscall::CrypObjGetInfo
        | Syscall::CrypObjRestrictUsage
        | Syscall::CrypObjGetAttr
        | Syscall::CrypObjAlloc
        | Syscall::CrypObjClose
        | Syscall::CrypObjReset
        | Syscall::CrypObjPopulate
        | Syscall::CrypObjCopy
        | Syscall::ObjGenerateKey => objects::call(ctx, host, mem, call, a),
        Syscall::StorageObjOpen
        | Syscall::StorageObjCreate
        | Syscall::StorageObjDel
        | Syscall::StorageObjRename
        | Syscall::StorageAllocEnum
        | Syscall::StorageFreeEnum
        | Syscall::StorageResetEnum
        | Syscall::StorageStartEnum
        | Syscall::StorageNextEnum
        | Syscall::StorageObjRead
        | Syscall::StorageObjWrite
        | Syscall::StorageObjTrunc
        | Syscall::StorageObjSeek => persist::call(ctx, host, mem, call, a),
        _ => ops::call(ctx, host, mem, call, a),
    };
    Outcome::Value(u64::from(match result {
        Ok(()) => crate::abi::TEE_SUCCESS,
        Err(e) => e,
    }))
}

#[cfg(test)]
pub(crate) mod testing;
