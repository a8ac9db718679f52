//! Named pipes (FIFOs) of the in-memory writable layer: which in-memory files are FIFOs, the
//! pipe behind each, and open(2)'s rules for them, as Linux's fifo(7): a read-only open waits
//! for a writer and a write-only open for a reader (unless O_NONBLOCK: a reader then opens at
//! once, a writer gets ENXIO), O_RDWR never waits, and a signal the app handles interrupts the
//! wait (EINTR). One table for every process the library OS serves (kvm's processes share it);
//! FIFOs in host directories are the host's own (`HostDirOps::mkfifo`).
use alloc::collections::BTreeMap;
use alloc::sync::Arc;

use crate::errno::*;
use crate::kobj::{Obj, Pipe, PipeEnd};
use crate::platform::Platform;
use crate::sync::SpinMutex;

/// One FIFO: its pipe and how many read and write opens it has seen (a waiting open returns
/// once the other side has opened, even if that side has closed again since).
struct Fifo {
    pipe: Arc<Pipe>,
    read_opens: u64,
    write_opens: u64,
}

/// The FIFOs of the in-memory layer, by inode number.
static FIFOS: SpinMutex<BTreeMap<u64, Fifo>> = SpinMutex::new(BTreeMap::new());

/// Makes the in-memory file with inode `ino` a FIFO.
pub fn register(ino: u64) {
    FIFOS.lock().insert(ino, Fifo { pipe: PipeEnd::unopened(), read_opens: 0, write_opens: 0 });
}

/// Whether the in-memory file with inode `ino` is a FIFO.
pub fn is_fifo(ino: u64) -> bool {
    FIFOS.lock().contains_key(&ino)
}

/// Forgets FIFO `ino` (its last name is gone; open ends keep its pipe).
pub fn forget(ino: u64) {
    FIFOS.lock().remove(&ino);
}

/// Opens FIFO `ino` for reading and/or writing with Linux's rules (module docs): the pipe end,
/// or ENXIO (write-only, non-blocking, no reader), EINTR (a handled signal came while
/// waiting), ENOENT (not a FIFO).
pub fn open<P: Platform + ?Sized>(p: &P, ino: u64, read: bool, write: bool, nonblock: bool) -> Result<Obj, Errno> {
    let (pipe, seen_reads, seen_writes) = {
        let mut t = FIFOS.lock();
        let f = t.get_mut(&ino).ok_or(ENOENT)?;
        f.pipe.discard_if_closed();
        if write && !read && nonblock && f.pipe.ends().0 == 0 {
            return Err(ENXIO);
        }
        let seen = (f.read_opens, f.write_opens);
        f.read_opens += u64::from(read);
        f.write_opens += u64::from(write);
        (f.pipe.clone(), seen.0, seen.1)
    };
    let end = PipeEnd::attach(&pipe, read, write);
    p.wake_all();
    if nonblock || (read && write) {
        return Ok(end);
    }
    // Wait for the other side: an end open now, or an open since this one began.
    let other_came = || {
        let t = FIFOS.lock();
        let (readers, writers) = pipe.ends();
        let (r, w) = t.get(&ino).map_or((seen_reads, seen_writes), |f| (f.read_opens, f.write_opens));
        if read {
            writers > 0 || w != seen_writes
        } else {
            readers > 0 || r != seen_reads
        }
    };
    loop {
        if other_came() {
            return Ok(end);
        }
        match p.block_until(&mut || other_came(), None) {
            Ok(_) => continue,
            Err(e) => return Err(e),
        }
    }
}
