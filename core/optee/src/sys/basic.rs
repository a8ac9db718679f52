//! Trace, time and `TEE_Wait`, random numbers, access checks, cancellation, and the calls a
//! TA makes to other TAs (not offered: one TA per artifact).

use super::{read_in, write_u32, TeeContext, TeeHost, UserMemory};
use crate::abi::{
    Syscall, TeeResult, TEE_ERROR_ACCESS_DENIED, TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_CANCEL, TEE_ERROR_ITEM_NOT_FOUND,
    TEE_ERROR_NOT_SUPPORTED, TEE_ORIGIN_TEE,
};

/// `TEE_TIMEOUT_INFINITE`.
const TIMEOUT_INFINITE: u64 = 0xFFFF_FFFF;
/// `TEE_ERROR_TIME_NOT_SET`.
const TEE_ERROR_TIME_NOT_SET: TeeResult = 0xFFFF_5000;
/// `UTEE_TIME_CAT_*`.
const TIME_SYSTEM: u64 = 0;
const TIME_TA_PERSISTENT: u64 = 1;
const TIME_REE: u64 = 2;
/// The longest trace line kept (longer ones are cut).
const MAX_LOG: u64 = 4096;

fn write_time(mem: &mut dyn UserMemory, addr: u64, ms: u64) -> Result<(), TeeResult> {
    let mut t = [0u8; 8];
    t[..4].copy_from_slice(&((ms / 1000) as u32).to_le_bytes());
    t[4..].copy_from_slice(&((ms % 1000) as u32).to_le_bytes());
    mem.write(addr, &t)
}

pub(super) fn call(
    ctx: &mut TeeContext,
    host: &mut dyn TeeHost,
    mem: &mut dyn UserMemory,
    call: Syscall,
    a: [u64; 8],
) -> Result<(), TeeResult> {
    match call {
        Syscall::Log => {
            let msg = read_in(mem, a[0], a[1].min(MAX_LOG))?;
            host.log(&msg);
            Ok(())
        }
        Syscall::GetProperty | Syscall::GetPropertyNameToIndex => Err(TEE_ERROR_ITEM_NOT_FOUND),
        Syscall::CheckAccessRights => {
            // Readable is what we can check without side effects; a TA's own memory is also
            // writable by it, and memref buffers are placed in its memory read-write.
            let mut probe = [0u8; 1];
            let (start, len) = (a[1], a[2]);
            let end = start.checked_add(len).ok_or(TEE_ERROR_ACCESS_DENIED)?;
            let mut at = start;
            while at < end {
                mem.read(at, &mut probe).map_err(|_| TEE_ERROR_ACCESS_DENIED)?;
                at = (at | 0xFFF).saturating_add(1);
            }
            if len > 0 {
                mem.read(end - 1, &mut probe).map_err(|_| TEE_ERROR_ACCESS_DENIED)?;
            }
            Ok(())
        }
        Syscall::GetCancellationFlag | Syscall::UnmaskCancellation | Syscall::MaskCancellation => {
            write_u32(mem, a[0], 0)
        }
        Syscall::Wait => {
            if a[0] >= TIMEOUT_INFINITE {
                // Nothing can cancel a wait here, so an endless one would hang the TA host.
                return Err(TEE_ERROR_CANCEL);
            }
            host.sleep_ms(a[0] as u32);
            Ok(())
        }
        Syscall::GetTime => {
            let (ree, system) = host.now_ms();
            let ms = match a[0] {
                TIME_SYSTEM => system,
                TIME_REE => ree,
                TIME_TA_PERSISTENT => {
                    let off = ctx.ta_time_offset_ms.ok_or(TEE_ERROR_TIME_NOT_SET)?;
                    (system as i64).saturating_add(off).max(0) as u64
                }
                _ => return Err(TEE_ERROR_BAD_PARAMETERS),
            };
            write_time(mem, a[1], ms)
        }
        Syscall::SetTaTime => {
            let t = read_in(mem, a[0], 8)?;
            let secs = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
            let millis = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
            if millis >= 1000 {
                return Err(TEE_ERROR_BAD_PARAMETERS);
            }
            let (_, system) = host.now_ms();
            ctx.ta_time_offset_ms = Some(i64::from(secs) * 1000 + i64::from(millis) - system as i64);
            Ok(())
        }
        Syscall::CrypRandomNumberGenerate => {
            if a[1] > super::MAX_COPY {
                return Err(TEE_ERROR_BAD_PARAMETERS);
            }
            let mut buf = alloc::vec![0u8; a[1] as usize];
            host.random(&mut buf);
            mem.write(a[0], &buf)
        }
        Syscall::CacheOperation => Ok(()),
        Syscall::OpenTaSession | Syscall::InvokeTaCommand => {
            let ret_orig = a[4];
            if ret_orig != 0 {
                write_u32(mem, ret_orig, TEE_ORIGIN_TEE)?;
            }
            Err(TEE_ERROR_NOT_SUPPORTED)
        }
        _ => Err(TEE_ERROR_NOT_SUPPORTED),
    }
}
