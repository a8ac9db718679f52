//! The host's initial stack after start-up: a fork child does not get it.
//!
//! The runtime starts on the stack the kernel made for its `execve` (the host's argv,
//! environment and auxiliary vector, and `litebox_main`'s frames). Once the app is entered,
//! nothing runs on it or reads it any more: the first thread's runtime entries and signal
//! handlers use its block's stacks (threads.rs), the app has a stack of its own (the loader's),
//! and everything start-up took from the host's argv, environment and auxiliary vector was
//! copied (`launch::app_args`, `HOST_AUX`) or used at once (trace files, `vdso::init`). Its
//! pages stay in the process, and without this every fork copied their page-table entries
//! into the child: a 1 GiB and a 2 MiB page table allocated and freed per fork for memory the
//! child never touches (bench/RESULTS-issue17-unixb.md). `MADV_DONTFORK` makes fork leave
//! the mapping out: a fork child has no mapping there at all (a child that touched it would
//! fault, which nothing does), so each fork and exit also has one mapping less to copy and tear
//! down (issue 17, bench/RESULTS-issue17-spawn8.md; `MADV_WIPEONFORK`, used before, left the
//! child an empty mapping). The process itself keeps its pages, and its `execve` (exec.rs)
//! keeps the mapping as before; a fork child's `execve` unmaps whatever the app mapped there
//! since, like any app memory (`exec::unmap_app`). The host's own /proc/PID/cmdline and
//! environ of a fork child read empty (the kernel reads them there; with `MADV_WIPEONFORK`
//! they read zeros); the app's /proc is the library OS's and unchanged.

use crate::sys;

const MADVISE: usize = 28;
const MADV_DONTFORK: usize = 10;

/// Marks the host's initial stack (recorded by `exec::record_kernel_ranges`) to be left out of
/// every later fork. Call after start-up's last fork and last use of the host's argv,
/// environment and auxiliary vector. A failure (an old kernel) leaves forks as they were.
pub fn leave_out_of_forks() {
    if let Some((lo, hi)) = crate::exec::initial_stack() {
        sys::syscall3(MADVISE, lo, hi - lo, MADV_DONTFORK);
    }
}
