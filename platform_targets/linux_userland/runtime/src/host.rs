//! The linux-userland South platform: the library OS's [`Platform`] served by host syscalls
//! through the gate, refusing any memory operation that would touch the runtime's own ranges.
use litebox_libos::abi::{Stat, Timespec, MAP_FIXED, MAP_FIXED_NOREPLACE};
use litebox_libos::errno::*;
use litebox_libos::Platform;

use crate::sys::{self, check};
use crate::{guard, signals};

/// The host process as a platform.
pub struct LinuxHost {
    pub uid: u32,
    pub gid: u32,
}

fn r(v: isize) -> Result<usize, Errno> {
    check(v)
}

impl Platform for LinuxHost {
    fn mmap_anon(&self, addr: usize, len: usize, prot: u32, flags: u32) -> Result<usize, Errno> {
        const ALLOWED: u32 = 0x03 | MAP_FIXED | 0x20 | 0x100 | 0x800 | 0x2000 | 0x4000 | 0x8000 | 0x10000 | 0x20000
            | MAP_FIXED_NOREPLACE;
        let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        let mut hint = addr;
        if guard::overlaps(addr, len) {
            if fixed {
                return Err(if flags & MAP_FIXED_NOREPLACE != 0 { EEXIST } else { ENOMEM });
            }
            hint = 0;
        }
        let flags = (flags & ALLOWED) | 0x20; // always anonymous
        let prot = prot & 7;
        let at = r(sys::syscall6(sys::MMAP, hint, len, prot as usize, flags as usize, usize::MAX, 0))?;
        if guard::overlaps(at, len) {
            // Cannot happen (the kernel does not hand out mapped ranges), but never keep it.
            sys::syscall3(sys::MUNMAP, at, len, 0);
            return Err(ENOMEM);
        }
        Ok(at)
    }

    fn munmap(&self, addr: usize, len: usize) -> Result<(), Errno> {
        if guard::overlaps(addr, len) {
            return Err(EINVAL);
        }
        r(sys::syscall3(sys::MUNMAP, addr, len, 0)).map(|_| ())
    }

    fn mprotect(&self, addr: usize, len: usize, prot: u32) -> Result<(), Errno> {
        if guard::overlaps(addr, len) {
            return Err(EACCES);
        }
        r(sys::syscall3(sys::MPROTECT, addr, len, (prot & 7) as usize)).map(|_| ())
    }

    fn mremap(&self, old: usize, old_len: usize, new_len: usize, flags: u32, new_addr: usize) -> Result<usize, Errno> {
        const MREMAP_FIXED: u32 = 2;
        if guard::overlaps(old, old_len) || (flags & MREMAP_FIXED != 0 && guard::overlaps(new_addr, new_len)) {
            return Err(EINVAL);
        }
        let at = r(sys::syscall6(sys::MREMAP, old, old_len, new_len, flags as usize, new_addr, 0))?;
        if guard::overlaps(at, new_len) {
            return Err(ENOMEM);
        }
        Ok(at)
    }

    fn madvise(&self, addr: usize, len: usize, advice: u32) -> Result<(), Errno> {
        if guard::overlaps(addr, len) {
            return Err(EINVAL);
        }
        r(sys::syscall3(sys::MADVISE, addr, len, advice as usize)).map(|_| ())
    }

    fn stdio_read(&self, fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
        r(sys::syscall3(sys::READ, fd as usize, buf.as_mut_ptr() as usize, buf.len()))
    }

    fn stdio_write(&self, fd: i32, buf: &[u8]) -> Result<usize, Errno> {
        r(sys::syscall3(sys::WRITE, fd as usize, buf.as_ptr() as usize, buf.len()))
    }

    fn stdio_stat(&self, fd: i32) -> Result<Stat, Errno> {
        let mut st = Stat::default();
        r(sys::syscall3(sys::FSTAT, fd as usize, &mut st as *mut Stat as usize, 0))?;
        Ok(st)
    }

    fn stdio_lseek(&self, fd: i32, off: i64, whence: u32) -> Result<u64, Errno> {
        r(sys::syscall3(sys::LSEEK, fd as usize, off as usize, whence as usize)).map(|v| v as u64)
    }

    fn stdio_ioctl(&self, fd: i32, cmd: u32, arg: usize) -> Result<usize, Errno> {
        litebox_libos::user::slice_mut(arg, 64)?;
        r(sys::syscall3(sys::IOCTL, fd as usize, cmd as usize, arg))
    }

    fn clock_gettime(&self, clock: u32) -> Result<Timespec, Errno> {
        let mut t = Timespec::default();
        r(sys::syscall3(sys::CLOCK_GETTIME, clock as usize, &mut t as *mut Timespec as usize, 0))?;
        Ok(t)
    }

    fn random(&self, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let p = buf[done..].as_mut_ptr() as usize;
            match check(sys::syscall3(sys::GETRANDOM, p, buf.len() - done, 0)) {
                Ok(n) => done += n,
                Err(EINTR) => {}
                Err(_) => crate::fatal(124, b"getrandom failed"),
            }
        }
    }

    fn sleep(&self, dur: &Timespec) -> Result<(), Errno> {
        r(sys::syscall3(sys::NANOSLEEP, dur as *const Timespec as usize, 0, 0)).map(|_| ())
    }

    fn futex(&self, uaddr: usize, op: u32, val: u32, timeout: usize, uaddr2: usize, val3: u32) -> Result<usize, Errno> {
        litebox_libos::user::slice(uaddr, 4)?;
        r(sys::syscall6(sys::FUTEX, uaddr, op as usize, val as usize, timeout, uaddr2, val3 as usize))
    }

    fn thread_call(&self, nr: usize, a: [usize; 6]) -> Result<usize, Errno> {
        match nr {
            sys::SET_TID_ADDRESS | sys::SET_ROBUST_LIST | sys::RSEQ => r(sys::syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])),
            _ => Err(ENOSYS),
        }
    }

    fn arch_prctl(&self, code: u32, addr: usize) -> Result<usize, Errno> {
        match code {
            0x1001..=0x1004 => r(sys::syscall3(sys::ARCH_PRCTL, code as usize, addr, 0)),
            _ => Err(EINVAL),
        }
    }

    fn ids(&self) -> (i32, i32) {
        (sys::syscall3(sys::GETPID, 0, 0, 0) as i32, sys::syscall3(sys::GETTID, 0, 0, 0) as i32)
    }

    fn creds(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }

    fn sigaction(&self, sig: i32, new: usize, old: usize, size: usize) -> Result<usize, Errno> {
        signals::app_sigaction(sig, new, old, size)
    }

    fn exit_group(&self, code: i32) -> ! {
        sys::exit(code)
    }

    fn exit_thread(&self, code: i32) -> ! {
        loop {
            sys::syscall3(sys::EXIT, code as usize, 0, 0);
        }
    }

    fn log(&self, line: &[u8]) {
        let mut buf = alloc::vec::Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        sys::write_all(2, &buf);
    }
}
