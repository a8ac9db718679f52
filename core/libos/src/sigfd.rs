//! signalfd(2) with the core's signals (kvm, snp): a descriptor that reads the pending signals
//! of a mask as 128-byte `struct signalfd_siginfo` records, readable in poll/epoll while one is
//! pending. It reads the signal state of the process that made it (a forked child that
//! inherits the descriptor still reads its parent's; Linux reads the reader's).
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::signal::{Info, Signals, SI_TKILL, UNBLOCKABLE};

/// si_code of rt_sigqueueinfo's signals.
const SI_QUEUE: i32 = -1;

/// One signalfd.
pub struct SignalFd {
    signals: Arc<Signals>,
    mask: AtomicU64,
    /// The process that made it: the sender of its SI_TKILL and SI_QUEUE signals, which the
    /// core lets a process send only to itself.
    pid: i32,
}

impl SignalFd {
    /// A signalfd over `signals` (process `pid`) for `mask` (SIGKILL and SIGSTOP dropped).
    pub fn new(signals: Arc<Signals>, pid: i32, mask: u64) -> Self {
        SignalFd { signals, mask: AtomicU64::new(mask & !UNBLOCKABLE), pid }
    }

    /// Changes the mask (signalfd on an existing descriptor).
    pub fn set_mask(&self, mask: u64) {
        self.mask.store(mask & !UNBLOCKABLE, Ordering::Relaxed);
    }

    /// Whether a signal of the mask is pending for thread `tid` (its own or the process's):
    /// POLLIN.
    pub fn readable(&self, tid: i32) -> bool {
        self.signals.pending.lock().set_for(tid) & self.mask.load(Ordering::Relaxed) != 0
    }

    /// Takes signals of the mask pending for thread `tid` (its own first, then the process's)
    /// into `buf`, one 128-byte record each, as many as fit; the bytes written (0: none pending).
    pub fn take(&self, tid: i32, buf: &mut [u8]) -> usize {
        let mask = self.mask.load(Ordering::Relaxed);
        let mut done = 0;
        let mut p = self.signals.pending.lock();
        while buf.len() - done >= 128 {
            let ready = p.set_for(tid) & mask;
            if ready == 0 {
                break;
            }
            let sig = ready.trailing_zeros() as usize + 1;
            let info = p.take_for(tid, sig);
            buf[done..done + 128].copy_from_slice(&self.record(sig, info));
            done += 128;
        }
        done
    }

    fn record(&self, sig: usize, info: Info) -> [u8; 128] {
        let mut r = [0u8; 128];
        r[0..4].copy_from_slice(&(sig as u32).to_le_bytes());
        r[8..12].copy_from_slice(&info.code.to_le_bytes());
        if info.code == SI_TKILL || info.code == SI_QUEUE {
            r[12..16].copy_from_slice(&(self.pid as u32).to_le_bytes());
        }
        r[44..48].copy_from_slice(&(info.value as u32).to_le_bytes());
        r[48..56].copy_from_slice(&info.value.to_le_bytes());
        r
    }
}
