//! The host's initial stack after start-up: a fork child gets it empty.
//!
//! The runtime starts on the stack the kernel made for its `execve` (the host's argv,
//! environment and auxiliary vector, and `litebox_main`'s frames). Once the app is entered,
//! nothing runs on it or reads it any more: the first thread's runtime entries and signal
//! handlers use its block's stacks (threads.rs), the app has a stack of its own (the loader's),
//! and everything start-up took from the host's argv, environment and auxiliary vector was
//! copied (`launch::app_args`, `HOST_AUX`) or used at once (trace files, `vdso::init`). Its
//! pages stay in the process, and without this every fork copied their page-table entries
//! into the child: a 1 GiB and a 2 MiB page table allocated and freed per fork for memory the
//! child never touches (bench/RESULTS-issue17-unixb.md). `MADV_WIPEONFORK` makes fork leave
//! the range out: a child that touched it would read zeros, which nothing does. The process
//! itself keeps its pages, and `execve` (exec.rs) keeps the mapping as before.

use crate::sys;

const MADVISE: usize = 28;
const MADV_WIPEONFORK: usize = 18;

/// Marks the host's initial stack (recorded by `exec::record_kernel_ranges`) to be left out of
/// every later fork. Call after start-up's last fork and last use of the host's argv,
/// environment and auxiliary vector. A failure (an old kernel) leaves forks as they were.
pub fn leave_out_of_forks() {
    if let Some((lo, hi)) = crate::exec::initial_stack() {
        sys::syscall3(MADVISE, lo, hi - lo, MADV_WIPEONFORK);
    }
}
