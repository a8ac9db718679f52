//! The safety net for faults in app code: a vectored exception handler that puts the host's FS
//! base back (the app's may be loaded when its code faults) and ends the process as Linux
//! would end the app on the matching signal, with status 128 + N, after one line on stderr.
//! Exceptions raised inside a PE module (the runtime, Windows' own DLLs) are left to their
//! handlers: only faults at addresses outside every module, in the app's code, are taken.
use crate::{fastpath, host, win};

/// The Linux signal for an exception code, for the faults an app can cause.
pub fn signal_for(code: u32) -> Option<i32> {
    match code {
        0xC000_0005 | 0xC000_0096 | 0xC000_00FD | 0x8000_0002 => Some(11), // access, privileged, stack, alignment
        0xC000_001D => Some(4),                                            // illegal instruction
        0xC000_0094 | 0xC000_0095 | 0xC000_008E | 0xC000_0091 => Some(8),  // divide, overflow, x87
        0x8000_0003 | 0x8000_0004 => Some(5),                              // breakpoint, single step
        _ => None,
    }
}

extern "system" fn on_exception(info: *const win::ExceptionPointers) -> i32 {
    const CONTINUE_SEARCH: i32 = 0;
    // SAFETY: Windows passes valid EXCEPTION_POINTERS to a vectored handler.
    let record = unsafe { &*(*info).record };
    let Some(sig) = signal_for(record.code) else {
        return CONTINUE_SEARCH;
    };
    let mut module = 0usize;
    // SAFETY: FROM_ADDRESS | UNCHANGED_REFCOUNT only looks the address up.
    let in_module = unsafe { win::GetModuleHandleExW(0x4 | 0x2, record.address as *const u16, &mut module) } != 0;
    if in_module {
        return CONTINUE_SEARCH;
    }
    fastpath::host_fs();
    let line = alloc::format!(
        "litebox: the app faulted (exception {:#x} at {:#x}): ended as by signal {}\n",
        record.code,
        record.address,
        sig
    );
    host::write_std(win::STD_ERROR_HANDLE, line.as_bytes());
    host::exit_process(128 + sig)
}

/// Installs the handler first in the vectored chain.
pub fn install() -> bool {
    // SAFETY: on_exception has the PVECTORED_EXCEPTION_HANDLER signature and lives forever.
    unsafe { win::AddVectoredExceptionHandler(1, on_exception) != 0 }
}
