//! Confinement on Windows: the artifact puts itself in a job object that kills every process
//! in it when the last handle closes (this process's own, so children never outlive it), with
//! the policy's memory limit per process and no unhandled-exception dialogs.
use crate::win;

/// Creates the job, sets its limits and assigns this process to it. The handle is kept open
/// for the life of the process (closing it would kill the job).
pub fn job(memory_limit: Option<u64>) -> Result<(), &'static str> {
    // SAFETY: an anonymous job object with default security.
    let job = unsafe { win::CreateJobObjectW(0, core::ptr::null()) };
    if job == 0 {
        return Err("cannot create a job object");
    }
    let mut limits = win::JobExtendedLimits {
        limit_flags: win::JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | win::JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION,
        ..Default::default()
    };
    if let Some(bytes) = memory_limit {
        limits.limit_flags |= win::JOB_OBJECT_LIMIT_PROCESS_MEMORY;
        limits.process_memory_limit = usize::try_from(bytes).unwrap_or(usize::MAX);
    }
    // SAFETY: `limits` is a JOBOBJECT_EXTENDED_LIMIT_INFORMATION of the size passed.
    let ok = unsafe {
        win::SetInformationJobObject(
            job,
            win::JOBOBJECT_EXTENDED_LIMIT_INFORMATION_CLASS,
            (&limits as *const win::JobExtendedLimits).cast(),
            core::mem::size_of::<win::JobExtendedLimits>() as u32,
        )
    };
    if ok == 0 {
        return Err("cannot set the job object's limits");
    }
    // SAFETY: the pseudo-handle of this process.
    if unsafe { win::AssignProcessToJobObject(job, win::GetCurrentProcess()) } == 0 {
        return Err("cannot put this process in its job object");
    }
    Ok(())
}
