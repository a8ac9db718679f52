//! The four parameters of a client call, copied into the TA's memory before an entry point runs
//! and copied back after it returns, as the TEE core does for a TA.
//!
//! Memrefs get a fresh buffer in the TA's memory (input and in/out buffers filled with the
//! client's bytes); values travel in the `utee_params` block itself. After the call, output
//! values are read back, and each output memref's new size: a size larger than the client's
//! buffer means "give me a bigger buffer" (`TEE_ERROR_SHORT_BUFFER`, only the size is returned).

use alloc::vec::Vec;

use crate::abi::{ParamType, TeeResult, UteeParams, NUM_PARAMS, TEE_ERROR_BAD_PARAMETERS, TEE_ERROR_SHORT_BUFFER};

/// The TA's memory, as the host sees it: where parameter buffers are placed.
pub trait TaMemory {
    /// Reserves `len` bytes (at least one) readable and writable by the TA; returns the address.
    fn alloc(&mut self, len: usize) -> Result<u64, TeeResult>;
    /// Copies `data` to `addr` in the TA's memory.
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), TeeResult>;
    /// Copies `out.len()` bytes from `addr` in the TA's memory.
    fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), TeeResult>;
    /// Gives back what [`TaMemory::alloc`] returned.
    fn free(&mut self, addr: u64, len: usize);
}

/// One client parameter: its type, a value pair, and a memref's buffer and size. For a memref,
/// `size` is the size the client declares (at most `buf.len()` on the way in) and the size
/// the TA reports on the way out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Param {
    pub kind: Option<ParamType>,
    pub a: u32,
    pub b: u32,
    pub buf: Vec<u8>,
    pub size: u64,
    /// Where the buffer was in the TA's memory during the last call (diagnostics only).
    pub addr: u64,
}

impl Param {
    /// A value parameter of type `kind` with `a` and `b`.
    pub fn value(kind: ParamType, a: u32, b: u32) -> Self {
        Param { kind: Some(kind), a, b, ..Param::default() }
    }

    /// A memref parameter of type `kind` holding `buf` (its length is the declared size).
    pub fn memref(kind: ParamType, buf: Vec<u8>) -> Self {
        let size = buf.len() as u64;
        Param { kind: Some(kind), buf, size, ..Param::default() }
    }

    fn ty(&self) -> ParamType {
        self.kind.unwrap_or(ParamType::None)
    }
}

/// Where [`copy_in`] put each memref (address, capacity) so [`copy_out`] can read and free it.
#[derive(Debug, Default)]
pub struct Placement {
    slots: [Option<(u64, usize)>; NUM_PARAMS],
}

/// Builds the `utee_params` block for `params`, placing memref buffers in `mem`. A memref whose
/// declared size exceeds its buffer is `TEE_ERROR_BAD_PARAMETERS`; on error nothing stays allocated.
pub fn copy_in(params: &[Param; NUM_PARAMS], mem: &mut dyn TaMemory) -> Result<(UteeParams, Placement), TeeResult> {
    let mut up = UteeParams::default();
    let mut placed = Placement::default();
    for (i, p) in params.iter().enumerate() {
        let ty = p.ty();
        up.types |= (ty as u64) << (4 * i);
        if ty.is_memref() {
            let size = usize::try_from(p.size).map_err(|_| TEE_ERROR_BAD_PARAMETERS);
            let size = match size {
                Ok(s) if s <= p.buf.len() => s,
                _ => {
                    release(&mut placed, mem);
                    return Err(TEE_ERROR_BAD_PARAMETERS);
                }
            };
            let addr = match mem.alloc(size.max(1)) {
                Ok(a) => a,
                Err(e) => {
                    release(&mut placed, mem);
                    return Err(e);
                }
            };
            placed.slots[i] = Some((addr, size));
            if ty != ParamType::MemrefOutput {
                if let Err(e) = mem.write(addr, &p.buf[..size]) {
                    release(&mut placed, mem);
                    return Err(e);
                }
            }
            up.vals[2 * i] = addr;
            up.vals[2 * i + 1] = size as u64;
        } else if ty != ParamType::None && ty != ParamType::ValueOutput {
            up.vals[2 * i] = u64::from(p.a);
            up.vals[2 * i + 1] = u64::from(p.b);
        }
    }
    Ok((up, placed))
}

fn release(placed: &mut Placement, mem: &mut dyn TaMemory) {
    for slot in placed.slots.iter_mut() {
        if let Some((addr, len)) = slot.take() {
            mem.free(addr, len.max(1));
        }
    }
}

/// Copies the TA's outputs from `up` back into `params` and frees the buffers. Returns
/// `TEE_ERROR_SHORT_BUFFER` when a memref's reported size exceeds the client's buffer (its
/// `size` then tells how much is needed), else `result` unchanged.
pub fn copy_out(
    up: &UteeParams,
    mut placed: Placement,
    params: &mut [Param; NUM_PARAMS],
    mem: &mut dyn TaMemory,
    result: TeeResult,
) -> TeeResult {
    let mut outcome = result;
    for (i, p) in params.iter_mut().enumerate() {
        let ty = p.ty();
        if !ty.is_output() {
            continue;
        }
        if ty.is_memref() {
            let Some((addr, cap)) = placed.slots[i] else { continue };
            p.addr = addr;
            let reported = up.vals[2 * i + 1];
            p.size = reported;
            if reported > cap as u64 {
                outcome = if result == 0 { TEE_ERROR_SHORT_BUFFER } else { result };
                continue;
            }
            let n = reported as usize;
            if mem.read(addr, &mut p.buf[..n]).is_err() {
                p.size = 0;
            }
        } else {
            p.a = up.vals[2 * i] as u32;
            p.b = up.vals[2 * i + 1] as u32;
        }
    }
    release(&mut placed, mem);
    outcome
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec;

    /// A flat arena standing in for a TA's address space.
    #[derive(Default)]
    pub(crate) struct Arena {
        pub bytes: Vec<u8>,
        pub live: usize,
    }

    pub(crate) const BASE: u64 = 0x4000_0000;

    impl TaMemory for Arena {
        fn alloc(&mut self, len: usize) -> Result<u64, TeeResult> {
            let at = self.bytes.len();
            self.bytes.resize(at + len, 0);
            self.live += 1;
            Ok(BASE + at as u64)
        }
        fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), TeeResult> {
            let at = (addr - BASE) as usize;
            self.bytes[at..at + data.len()].copy_from_slice(data);
            Ok(())
        }
        fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), TeeResult> {
            let at = (addr - BASE) as usize;
            out.copy_from_slice(&self.bytes[at..at + out.len()]);
            Ok(())
        }
        fn free(&mut self, _addr: u64, _len: usize) {
            self.live -= 1;
        }
    }

    #[test]
    fn values_and_memrefs_travel_in_and_out() {
        let mut mem = Arena::default();
        let mut params = [
            Param::value(ParamType::ValueInout, 41, 7),
            Param::memref(ParamType::MemrefInput, b"abc".to_vec()),
            Param::memref(ParamType::MemrefOutput, vec![0; 8]),
            Param::value(ParamType::ValueInput, 1, 2),
        ];
        let (mut up, placed) = copy_in(&params, &mut mem).unwrap();
        assert_eq!(up.types, 0x1653);
        assert_eq!((up.vals[0], up.vals[1]), (41, 7));
        let mut seen = [0u8; 3];
        mem.read(up.vals[2], &mut seen).unwrap();
        assert_eq!(&seen, b"abc");
        // The TA increments the value, writes 5 bytes of output and changes the input value.
        up.vals[0] = 42;
        mem.write(up.vals[4], b"hello").unwrap();
        up.vals[5] = 5;
        up.vals[6] = 99;
        let r = copy_out(&up, placed, &mut params, &mut mem, 0);
        assert_eq!(r, 0);
        assert_eq!(params[0].a, 42);
        assert_eq!(params[2].size, 5);
        assert_eq!(&params[2].buf[..5], b"hello");
        assert_eq!(params[3].a, 1, "an input value is not copied back");
        assert_eq!(mem.live, 0, "every buffer is freed");
    }

    #[test]
    fn a_bigger_reported_size_is_short_buffer() {
        let mut mem = Arena::default();
        let mut params =
            [Param::memref(ParamType::MemrefOutput, vec![0; 4]), Param::default(), Param::default(), Param::default()];
        let (mut up, placed) = copy_in(&params, &mut mem).unwrap();
        up.vals[1] = 32;
        assert_eq!(copy_out(&up, placed, &mut params, &mut mem, 0), TEE_ERROR_SHORT_BUFFER);
        assert_eq!(params[0].size, 32);
        assert_eq!(mem.live, 0);
    }

    #[test]
    fn a_size_past_the_buffer_is_bad_parameters() {
        let mut mem = Arena::default();
        let mut p = Param::memref(ParamType::MemrefInput, vec![1, 2]);
        p.size = 3;
        let params = [Param::memref(ParamType::MemrefInput, vec![9]), p, Param::default(), Param::default()];
        assert_eq!(copy_in(&params, &mut mem).unwrap_err(), TEE_ERROR_BAD_PARAMETERS);
        assert_eq!(mem.live, 0, "nothing stays allocated");
    }
}
