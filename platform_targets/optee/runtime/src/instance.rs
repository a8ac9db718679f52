//! One loaded TA: its window, its TEE-core state, and the two views of its memory (the core's
//! checked [`UserMemory`] and the parameter arena the session layer places buffers in).

use litebox_optee::abi::{
    EntryFunc, TeeResult, UteeParams, TEE_ERROR_ACCESS_DENIED, TEE_ERROR_OUT_OF_MEMORY, UTEE_PARAMS_SIZE,
};
use litebox_optee::params::TaMemory;
use litebox_optee::session::{Panicked, TaInstance};
use litebox_optee::sys::{dispatch, Outcome, TeeContext, UserMemory};
use litebox_optee::tahead::TaHead;

use crate::host::Host;
use crate::loader::{self, LoadedTa, Region, Window};
use crate::sandbox::{self, Exit, SyscallServer};

/// The panic code reported for a TA killed by a fault: 0xFA17_0000 | signal number.
pub const FAULT_CODE: u32 = 0xFA17_0000;

/// The TA's mapped regions: what the core may read and write on its behalf.
pub struct TaMem {
    regions: Vec<Region>,
}

impl TaMem {
    fn check(&self, addr: u64, len: usize, write: bool) -> Result<(), TeeResult> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len as u64).ok_or(TEE_ERROR_ACCESS_DENIED)?;
        // Regions are sorted and adjacent ones may differ only in writability.
        let mut at = addr;
        while at < end {
            let r = self.regions.iter().find(|r| r.start <= at && at < r.end).ok_or(TEE_ERROR_ACCESS_DENIED)?;
            if write && !r.writable {
                return Err(TEE_ERROR_ACCESS_DENIED);
            }
            at = r.end;
        }
        Ok(())
    }
}

impl UserMemory for TaMem {
    fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), TeeResult> {
        self.check(addr, out.len(), false)?;
        // SAFETY: the range lies inside mapped TA regions (checked above); TA code is stopped
        // while the core runs, so nothing changes the bytes meanwhile.
        unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, out.as_mut_ptr(), out.len()) };
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), TeeResult> {
        self.check(addr, data.len(), true)?;
        // SAFETY: the range lies inside writable mapped TA regions (checked above).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), addr as *mut u8, data.len()) };
        Ok(())
    }
}

struct Server<'a> {
    ctx: &'a mut TeeContext,
    host: &'a mut Host,
    mem: &'a mut TaMem,
}

impl SyscallServer for Server<'_> {
    fn serve(&mut self, nr: u64, args: [u64; 8]) -> Outcome {
        dispatch(self.ctx, self.host, self.mem, nr, args)
    }
}

/// A TA loaded in the window, ready for its entry points.
pub struct Instance {
    loaded: LoadedTa,
    mem: TaMem,
    pub ctx: TeeContext,
    pub host: Host,
    arena: (u64, u64),
    next: u64,
    live: usize,
}

impl Instance {
    /// Loads `image` (whose `.ta_head` is `head`) into `window`.
    pub fn load(window: &Window, image: &[u8], head: &TaHead, host: Host) -> Result<Self, String> {
        let loaded = loader::load(window, image, u64::from(head.stack_size))?;
        let mem = TaMem { regions: loaded.regions.clone() };
        let arena = window.arena();
        Ok(Instance { loaded, mem, ctx: TeeContext::new(head.uuid), host, arena, next: arena.0, live: 0 })
    }
}

impl TaMemory for Instance {
    fn alloc(&mut self, len: usize) -> Result<u64, TeeResult> {
        let at = (self.next + 15) & !15;
        let end = at.checked_add(len as u64).filter(|e| *e <= self.arena.1).ok_or(TEE_ERROR_OUT_OF_MEMORY)?;
        self.next = end;
        self.live += 1;
        Ok(at)
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), TeeResult> {
        self.mem.write(addr, data)
    }

    fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), TeeResult> {
        self.mem.read(addr, out)
    }

    fn free(&mut self, _addr: u64, _len: usize) {
        self.live = self.live.saturating_sub(1);
        if self.live == 0 {
            self.next = self.arena.0;
        }
    }
}

impl TaInstance for Instance {
    fn memory(&mut self) -> &mut dyn TaMemory {
        self
    }

    fn enter(
        &mut self,
        func: EntryFunc,
        session: u32,
        params: &mut UteeParams,
        cmd: u32,
    ) -> Result<TeeResult, Panicked> {
        let block = self.alloc(UTEE_PARAMS_SIZE).map_err(|_| Panicked { code: FAULT_CODE })?;
        let result = (|| {
            self.mem.write(block, &params.to_bytes()).map_err(|_| Panicked { code: FAULT_CODE })?;
            let mut server = Server { ctx: &mut self.ctx, host: &mut self.host, mem: &mut self.mem };
            let exit = sandbox::enter(
                &mut server,
                self.loaded.entry,
                [func as u64, u64::from(session), block, u64::from(cmd)],
                self.loaded.stack_top,
            )
            .map_err(|_| Panicked { code: FAULT_CODE })?;
            let mut raw = [0u8; UTEE_PARAMS_SIZE];
            self.mem.read(block, &mut raw).map_err(|_| Panicked { code: FAULT_CODE })?;
            *params = UteeParams::from_bytes(&raw);
            match exit {
                Exit::Returned(r) => Ok(r),
                Exit::Panicked(code) => Err(Panicked { code }),
                Exit::Faulted(sig) => Err(Panicked { code: FAULT_CODE | sig }),
            }
        })();
        self.free(block, UTEE_PARAMS_SIZE);
        result
    }
}
