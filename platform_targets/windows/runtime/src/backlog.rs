//! Pipe writes of a fork child that runs in its parent's place (`spawn.rs`).
//!
//! Such a child runs to its end before the parent goes on, so the reader of a pipeline it
//! writes into has usually not started yet (`ls | wc -l`: busybox ash runs `ls` in the forked
//! child without exec, then forks `wc`). A write that would wait for room in the pipe would
//! wait forever; here it never waits: what does not fit now is queued, and a drain thread per
//! pipe writes the queue into the pipe as the reader makes room (the child's later writes to
//! that pipe go behind the queue, so the order is kept). The queues together are capped at
//! [`CAP`] bytes: a child writing more than that before its reader runs (`yes | head -2`) gets
//! EPIPE and SIGPIPE, as if the reader had gone (one line on stderr says so).
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use litebox_libos::errno::*;
use litebox_libos::fd::{FileKind, OpenFile};
use litebox_libos::kobj::Obj;
use litebox_libos::sync::SpinMutex;
use litebox_libos::{user, LibOs, Platform};

use crate::host::WinHost;
use crate::win;

/// The most bytes queued for all pipes at once.
pub const CAP: usize = 64 << 20;
const O_NONBLOCK: u32 = 0o4000;
const WRITE: usize = 1;
const WRITEV: usize = 20;

struct Queue {
    file: Arc<OpenFile>,
    data: VecDeque<u8>,
}

static QUEUES: SpinMutex<Vec<Queue>> = SpinMutex::new(Vec::new());
static WARNED: AtomicBool = AtomicBool::new(false);

/// Serves the fork child's `write`/`writev` (`nr`) to a blocking pipe without waiting; None
/// for every other call or descriptor (served as usual).
pub fn child_write(os: &LibOs<WinHost>, nr: usize, fd: usize, buf: usize, len: usize) -> Option<isize> {
    if nr != WRITE && nr != WRITEV {
        return None;
    }
    let file = os.fds.lock().get(fd as i32).ok()?;
    match &file.kind {
        FileKind::Obj(Obj::Pipe(_)) if file.flags() & 3 != 0 && file.flags() & O_NONBLOCK == 0 => {}
        _ => return None,
    }
    let data = match gather(nr, buf, len) {
        Ok(d) => d,
        Err(e) => return Some(-(e as isize)),
    };
    Some(match write(os, file, &data) {
        Ok(n) => n as isize,
        Err(e) => -(e as isize),
    })
}

/// The bytes of a write (one buffer) or writev (an iovec array).
fn gather(nr: usize, buf: usize, len: usize) -> Result<Vec<u8>, Errno> {
    if nr == WRITE {
        return Ok(user::slice(buf, len)?.to_vec());
    }
    if len > 1024 {
        return Err(EINVAL);
    }
    let mut out = Vec::new();
    for i in 0..len {
        let base: usize = user::read(buf + 16 * i)?;
        let n: usize = user::read(buf + 16 * i + 8)?;
        out.extend_from_slice(user::slice(base, n)?);
    }
    Ok(out)
}

fn write(os: &LibOs<WinHost>, file: Arc<OpenFile>, data: &[u8]) -> Result<usize, Errno> {
    let FileKind::Obj(obj) = &file.kind else { return Err(EBADF) };
    if data.is_empty() {
        return Ok(0);
    }
    let mut queues = QUEUES.lock();
    let queued: usize = queues.iter().map(|q| q.data.len()).sum();
    if let Some(q) = queues.iter_mut().find(|q| Arc::ptr_eq(&q.file, &file)) {
        if queued + data.len() > CAP {
            drop(queues);
            return Err(overflow(os));
        }
        q.data.extend(data);
        return Ok(data.len());
    }
    // No queue for this pipe (and none can appear: only this thread makes them).
    drop(queues);
    let done = match obj.write(&os.platform, data, true, &|| os.raise_sigpipe()) {
        Ok(n) => n,
        Err(EAGAIN) => 0,
        Err(e) => return Err(e),
    };
    if done == data.len() {
        return Ok(done);
    }
    if queued + data.len() - done > CAP {
        return if done > 0 { Ok(done) } else { Err(overflow(os)) };
    }
    QUEUES.lock().push(Queue { file: file.clone(), data: data[done..].iter().copied().collect() });
    let arg = Arc::into_raw(file) as usize;
    // SAFETY: the thread takes the reference `arg` holds.
    let h = unsafe { win::CreateThread(0, 256 * 1024, drain, arg, 0, core::ptr::null_mut()) };
    if h == 0 {
        // SAFETY: the thread did not start: the reference is ours again.
        let file = unsafe { Arc::from_raw(arg as *const OpenFile) };
        QUEUES.lock().retain(|q| !Arc::ptr_eq(&q.file, &file));
        return if done > 0 { Ok(done) } else { Err(EAGAIN) };
    }
    // SAFETY: the thread runs on without our handle.
    unsafe { win::CloseHandle(h) };
    Ok(data.len())
}

/// The queues are full: the child's write fails as into a pipe without readers.
fn overflow(os: &LibOs<WinHost>) -> Errno {
    if !WARNED.swap(true, Ordering::Relaxed) {
        os.platform.log(
            b"litebox: a forked child that did not exec wrote more than 64 MiB into a pipe before its reader ran; \
              it got EPIPE (docs/targets/windows.md, Processes)",
        );
    }
    os.raise_sigpipe();
    EPIPE
}

/// Writes one pipe's queue into it, waiting for room; ends when the queue is empty (then the
/// queue is removed under the lock, so a later write starts a new one) or the readers are gone.
extern "system" fn drain(arg: usize) -> u32 {
    // SAFETY: `arg` is the reference `write` leaked for this thread.
    let file = unsafe { Arc::from_raw(arg as *const OpenFile) };
    crate::fastpath::set_current(crate::fastpath::ThreadData::new(0, 0));
    crate::fastpath::current().sigmask.store(usize::MAX, Ordering::Relaxed);
    let os = crate::os();
    let FileKind::Obj(obj) = &file.kind else { return 0 };
    let mut chunk = Vec::new();
    loop {
        chunk.clear();
        {
            let mut queues = QUEUES.lock();
            let Some(i) = queues.iter().position(|q| Arc::ptr_eq(&q.file, &file)) else { break };
            if queues[i].data.is_empty() {
                queues.swap_remove(i);
                break;
            }
            let n = queues[i].data.len().min(65536);
            chunk.extend(queues[i].data.drain(..n));
        }
        let mut done = 0;
        while done < chunk.len() {
            match obj.write(&os.platform, &chunk[done..], false, &|| {}) {
                Ok(k) if k > 0 => done += k,
                _ => break,
            }
        }
        if done < chunk.len() {
            QUEUES.lock().retain(|q| !Arc::ptr_eq(&q.file, &file));
            break;
        }
    }
    drop(file);
    os.platform.wake_all();
    0
}
