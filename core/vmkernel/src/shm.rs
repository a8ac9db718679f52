//! Shared memory objects for SysV segments (the library OS's `sysvshm` table holds their
//! handles): whole pages of zeroed app frames, owned by the object, that `vm::map_frames` maps
//! into any process. Each mapping is one more owner of every frame (`frames::share`), so a
//! frame goes when the object is destroyed and the last process unmapped it, in any order.
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use litebox_libos::errno::*;
use litebox_libos::sync::SpinMutex;

use crate::{frames, vm};

struct Objects {
    by_handle: BTreeMap<u64, Vec<usize>>,
    next: u64,
}

static OBJECTS: SpinMutex<Objects> = SpinMutex::new(Objects { by_handle: BTreeMap::new(), next: 1 });

/// A new object of `len` bytes (rounded up to pages), every page a zeroed frame; its handle.
/// ENOMEM when memory ran out (nothing is kept then).
pub fn create(len: usize) -> Result<u64, Errno> {
    let pages = len.div_ceil(frames::FRAME);
    let mut got = Vec::with_capacity(pages);
    for _ in 0..pages {
        match frames::alloc_zeroed_for_app() {
            Some(pa) => got.push(pa),
            None => {
                got.into_iter().for_each(frames::release);
                return Err(ENOMEM);
            }
        }
    }
    let mut o = OBJECTS.lock();
    let h = o.next;
    o.next += 1;
    o.by_handle.insert(h, got);
    Ok(h)
}

/// Maps object `handle` into the running process (see `vm::map_frames`); `len` must be its
/// size (EINVAL otherwise, or for an unknown handle).
pub fn attach(handle: u64, addr: usize, len: usize, prot: u32, replace: bool) -> Result<usize, Errno> {
    let pages = OBJECTS.lock().by_handle.get(&handle).cloned().ok_or(EINVAL)?;
    if pages.len() * frames::FRAME != len {
        return Err(EINVAL);
    }
    vm::map_frames(addr, &pages, prot, replace)
}

/// Drops the object's own hold on its frames: each goes once no process maps it any more.
pub fn destroy(handle: u64) {
    let pages = OBJECTS.lock().by_handle.remove(&handle);
    pages.into_iter().flatten().for_each(frames::release);
}
