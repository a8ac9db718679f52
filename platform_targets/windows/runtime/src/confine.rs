//! Confinement on Windows, in two layers set up before the app runs:
//! - a job object that kills every process in it when the last handle closes (this process's
//!   own, so children never outlive it), with no unhandled-exception dialogs and the policy's
//!   memory limit per process and process limit;
//! - the process's own token made weaker in place: every privilege removed, and, when the
//!   policy grants no network and no host directories, the integrity level lowered to Low (no
//!   write access to the user's files and registry, which carry Medium labels). Both are
//!   one-way: nothing in this process can take them back.
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::win;

/// This process's own job object (0 until [`job`] made it).
static JOB: AtomicUsize = AtomicUsize::new(0);

/// The environment variable that tells an instance started outside CreateProcess (under Wine,
/// through the Wine loader: wineexec.rs) which job to join: `PID:HANDLE`, the starting
/// process's id and its handle of its job object.
pub const JOB_VAR: &[u8] = b"LITEBOX_JOB";

/// `LITEBOX_JOB=PID:HANDLE` naming this process's job for an instance that CreateProcess did
/// not put in it, or None without a job.
pub fn job_var() -> Option<Vec<u8>> {
    let job = JOB.load(Ordering::Relaxed);
    // SAFETY: no preconditions.
    let pid = unsafe { win::GetCurrentProcessId() };
    (job != 0).then(|| format!("{}={pid}:{job}", String::from_utf8_lossy(JOB_VAR)).into_bytes())
}

/// Joins the job object of the instance that started this one through the Wine loader (named
/// by `LITEBOX_JOB`), so its kill-on-close and limits cover this process as they cover the
/// instances CreateProcess starts. The duplicated handle is closed at once: holding it would
/// keep the job open after its owner died. Ok(None) when there is nothing to join.
pub fn join_parent_job(value: Option<&[u8]>) -> Result<Option<String>, &'static str> {
    const PROCESS_DUP_HANDLE: u32 = 0x40;
    const DUPLICATE_SAME_ACCESS: u32 = 2;
    let Some(value) = value else { return Ok(None) };
    let text = core::str::from_utf8(value).map_err(|_| "LITEBOX_JOB is not PID:HANDLE")?;
    let (pid, handle) = text.split_once(':').ok_or("LITEBOX_JOB is not PID:HANDLE")?;
    let pid: u32 = pid.parse().map_err(|_| "LITEBOX_JOB is not PID:HANDLE")?;
    let handle: usize = handle.parse().map_err(|_| "LITEBOX_JOB is not PID:HANDLE")?;
    // SAFETY: opens the starting process by id (it waits for us, so it lives).
    let parent = unsafe { win::OpenProcess(PROCESS_DUP_HANDLE, 0, pid) };
    if parent == 0 {
        return Err("cannot open the starting process to join its job object");
    }
    let mut job = 0usize;
    // SAFETY: duplicates the parent's handle into this process; writes one handle.
    let ok = unsafe {
        let me = win::GetCurrentProcess();
        let ok = win::DuplicateHandle(parent, handle, me, &mut job, 0, 0, DUPLICATE_SAME_ACCESS);
        win::CloseHandle(parent);
        ok
    };
    if ok == 0 {
        return Err("cannot take the starting process's job object");
    }
    // SAFETY: our handle of the job; the pseudo-handle of this process.
    let joined = unsafe { win::AssignProcessToJobObject(job, win::GetCurrentProcess()) };
    // SAFETY: the duplicate is ours (closing it leaves the job to its owner's handle).
    unsafe { win::CloseHandle(job) };
    if joined == 0 {
        return Err("cannot join the starting process's job object");
    }
    Ok(Some(format!("joined the job object of process {pid}")))
}

/// Creates the job, sets its limits and assigns this process to it. The handle is kept open
/// for the life of the process (closing it would kill the job). Returns what was set.
pub fn job(memory_limit: Option<u64>, process_limit: Option<u64>) -> Result<String, &'static str> {
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
    if let Some(n) = process_limit {
        limits.limit_flags |= win::JOB_OBJECT_LIMIT_ACTIVE_PROCESS;
        limits.active_process_limit = u32::try_from(n).unwrap_or(u32::MAX).max(1);
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
    JOB.store(job, Ordering::Relaxed);
    Ok(format!(
        "job object: kill-on-close, memory limit {}, process limit {}",
        memory_limit.map_or(String::from("none"), |b| format!("{b} bytes")),
        process_limit.map_or(String::from("none"), |n| format!("{n}")),
    ))
}

const TOKEN_QUERY: u32 = 0x8;
const TOKEN_ADJUST_PRIVILEGES: u32 = 0x20;
const TOKEN_ADJUST_DEFAULT: u32 = 0x80;
const TOKEN_PRIVILEGES_CLASS: u32 = 3;
const TOKEN_INTEGRITY_LEVEL_CLASS: u32 = 25;
const SE_PRIVILEGE_REMOVED: u32 = 4;
const SE_GROUP_INTEGRITY: u32 = 0x20;
/// The RID of the Low mandatory level (S-1-16-4096).
const LOW_INTEGRITY: u32 = 0x1000;

/// Removes every privilege of this process's token and, with `lower`, sets its integrity
/// level to Low. Returns a line saying what the token holds afterwards (read back from it:
/// the privileges left and the integrity level), or why it could not.
pub fn weaken_token(lower: bool) -> Result<String, &'static str> {
    let mut token = 0usize;
    // SAFETY: the pseudo-handle of this process; writes one handle.
    let access = TOKEN_QUERY | TOKEN_ADJUST_PRIVILEGES | TOKEN_ADJUST_DEFAULT;
    if unsafe { win::OpenProcessToken(win::GetCurrentProcess(), access, &mut token) } == 0 {
        return Err("cannot open this process's token");
    }
    let result = weaken(token, lower);
    // SAFETY: the token handle is ours.
    unsafe { win::CloseHandle(token) };
    result
}

fn privileges(token: usize, buf: &mut [u32; 1024]) -> Result<usize, &'static str> {
    let mut len = 0u32;
    // SAFETY: buf is writable for its size in bytes.
    let ok =
        unsafe { win::GetTokenInformation(token, TOKEN_PRIVILEGES_CLASS, buf.as_mut_ptr().cast(), 4096, &mut len) };
    if ok == 0 {
        return Err("cannot read the token's privileges");
    }
    Ok((buf[0] as usize).min(340))
}

fn weaken(token: usize, lower: bool) -> Result<String, &'static str> {
    // TOKEN_PRIVILEGES: a count, then LUID_AND_ATTRIBUTES entries of three u32s.
    let mut buf = [0u32; 1024];
    let n = privileges(token, &mut buf)?;
    for i in 0..n {
        buf[1 + 3 * i + 2] = SE_PRIVILEGE_REMOVED;
    }
    if n > 0 {
        // SAFETY: buf holds a TOKEN_PRIVILEGES of n entries.
        let ok = unsafe {
            win::AdjustTokenPrivileges(token, 0, buf.as_ptr().cast(), 0, core::ptr::null_mut(), core::ptr::null_mut())
        };
        if ok == 0 {
            return Err("cannot remove the token's privileges");
        }
    }
    if lower {
        // S-1-16-4096: revision 1, one sub-authority, authority 16, RID 0x1000.
        let sid: [u8; 12] = [1, 1, 0, 0, 0, 0, 0, 16, 0x00, 0x10, 0, 0];
        // TOKEN_MANDATORY_LABEL: SID_AND_ATTRIBUTES { Sid, Attributes } (16 bytes).
        let mut label = [0usize; 2];
        label[0] = sid.as_ptr() as usize;
        label[1] = SE_GROUP_INTEGRITY as usize;
        // SAFETY: label points at a valid SID for the duration of the call.
        let ok = unsafe {
            win::SetTokenInformation(token, TOKEN_INTEGRITY_LEVEL_CLASS, label.as_ptr().cast(), 16 + sid.len() as u32)
        };
        if ok == 0 {
            return Err("cannot lower the token's integrity level");
        }
    }
    let left = privileges(token, &mut buf)?;
    let mut il = [0u8; 64];
    let mut len = 0u32;
    // SAFETY: il is writable for its size.
    let level = if unsafe {
        win::GetTokenInformation(token, TOKEN_INTEGRITY_LEVEL_CLASS, il.as_mut_ptr(), 64, &mut len)
    } != 0
    {
        // The label's SID follows it (a pointer into the same buffer); its last sub-authority
        // is the level.
        let sid_at = usize::from_le_bytes(il[0..8].try_into().unwrap_or([0; 8])).wrapping_sub(il.as_ptr() as usize);
        match il.get(sid_at..sid_at + 12) {
            Some(s) if s[1] >= 1 => {
                let k = 8 + 4 * (s[1] as usize - 1);
                il.get(sid_at + k..sid_at + k + 4)
                    .map_or(String::from("unknown"), |r| format!("{:#x}", u32::from_le_bytes([r[0], r[1], r[2], r[3]])))
            }
            _ => String::from("unknown"),
        }
    } else {
        String::from("unknown")
    };
    let applied = if !lower {
        ""
    } else if level == format!("{LOW_INTEGRITY:#x}") {
        " (Low)"
    } else {
        " (Low was asked for; the host kept this level)"
    };
    Ok(format!("token: {n} privileges removed, {left} left; integrity level {level}{applied}"))
}
