//! [`WinHost`]: the library OS's Platform trait over Win32. The app's descriptors 0–2 are the
//! artifact's standard handles (console, pipes or redirected files, as natively); everything
//! Linux-shaped (files, paths, pipes between the app's threads, futexes, the ELF loader) is the
//! core's.
use core::sync::atomic::{AtomicU32, Ordering};

use litebox_libos::abi::{PollFd, Stat, Timespec};
use litebox_libos::errno::{Errno, EBADF, EFAULT, EINTR, EINVAL, EIO, ENOSYS, ENOTTY, EPIPE, ESPIPE};
use litebox_libos::Platform;

use crate::{fastpath, memory, signals, win, winsock};

/// Bumped by [`Platform::wake_all`]; blocked threads wait on it with WaitOnAddress.
static GENERATION: AtomicU32 = AtomicU32::new(0);

/// The Windows platform: what the app sees of the host.
pub struct WinHost {
    /// The standard handles the artifact started with (stdin, stdout, stderr); 0 once closed.
    pub std: [core::sync::atomic::AtomicUsize; 3],
    /// The pid the app sees (the Windows process id).
    pub pid: i32,
    /// uid and gid the app sees.
    pub ids: (u32, u32),
}

impl WinHost {
    /// The host's standard handles and this process's id.
    pub fn new(ids: (u32, u32)) -> Self {
        use core::sync::atomic::AtomicUsize;
        // SAFETY: GetStdHandle and GetCurrentProcessId have no preconditions.
        let (i, o, e, pid) = unsafe {
            (
                win::GetStdHandle(win::STD_INPUT_HANDLE),
                win::GetStdHandle(win::STD_OUTPUT_HANDLE),
                win::GetStdHandle(win::STD_ERROR_HANDLE),
                win::GetCurrentProcessId(),
            )
        };
        WinHost { std: [AtomicUsize::new(i), AtomicUsize::new(o), AtomicUsize::new(e)], pid: pid as i32, ids }
    }

    fn handle(&self, fd: i32) -> Result<win::HANDLE, Errno> {
        if let Some(h) = crate::winfs::handle(fd) {
            return Ok(h);
        }
        let h = self.std.get(usize::try_from(fd).map_err(|_| EBADF)?).ok_or(EBADF)?.load(Ordering::Relaxed);
        if h == 0 || h == win::INVALID_HANDLE_VALUE {
            return Err(EBADF);
        }
        Ok(h)
    }
}

/// Writes `buf` whole to the standard handle `which` (for the runtime's own messages).
pub fn write_std(which: u32, buf: &[u8]) {
    // SAFETY: GetStdHandle has no preconditions; WriteFile reads `buf` only.
    unsafe {
        let h = win::GetStdHandle(which);
        let mut done = 0usize;
        while done < buf.len() {
            let mut n = 0u32;
            let chunk = (buf.len() - done).min(1 << 30) as u32;
            if win::WriteFile(h, buf.as_ptr().add(done), chunk, &mut n, 0) == 0 || n == 0 {
                return;
            }
            done += n as usize;
        }
    }
}

/// Ends the process with the app's exit status `code`.
pub fn exit_process(code: i32) -> ! {
    fastpath::host_fs();
    win::end_process(code as u32 & 0xff)
}

/// Whether this instance runs a program an app's execve started (LITEBOX_EXEC): its parent
/// instance reads its exit code ([`wait_status`]).
pub static EXEC_CHILD: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// The exit code of an exec'd instance that died of signal N: this tag | N (an exit status
/// alone, 0-255, cannot say "killed by N", which a parent's wait must see).
const SIGNAL_EXIT: u32 = 0x4c42_5300;

/// Ends the process as the app's death by signal `sig`: exit code 128 + N, what a shell
/// reports (or, in an exec'd instance, a code its parent's wait reads as that death).
pub fn exit_by_signal(sig: i32) -> ! {
    fastpath::host_fs();
    if EXEC_CHILD.load(Ordering::Relaxed) {
        win::end_process(signal_exit_code(sig))
    }
    win::end_process((128 + sig) as u32 & 0xff)
}

/// The exit code an exec'd instance ends with when it dies of signal `sig`.
pub fn signal_exit_code(sig: i32) -> u32 {
    SIGNAL_EXIT | (sig as u32 & 0x7f)
}

/// The Linux wait status of an exec'd instance that ended with exit code `code`.
pub fn wait_status(code: u32) -> i32 {
    if code & !0x7f == SIGNAL_EXIT {
        (code & 0x7f) as i32
    } else {
        ((code & 0xff) as i32) << 8
    }
}

fn monotonic_ns() -> u64 {
    let (mut count, mut freq) = (0i64, 0i64);
    // SAFETY: both write one i64.
    unsafe {
        win::QueryPerformanceCounter(&mut count);
        win::QueryPerformanceFrequency(&mut freq);
    }
    let freq = freq.max(1) as u128;
    ((count as u128) * 1_000_000_000 / freq) as u64
}

/// How often a blocked thread re-checks host sockets (there is no readiness callback).
const SOCKET_RECHECK_NS: u64 = 10_000_000;

/// 100 ns intervals between 1601-01-01 (FILETIME) and 1970-01-01 (Unix).
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

impl Platform for WinHost {
    fn mmap_anon(&self, addr: usize, len: usize, prot: u32, flags: u32) -> Result<usize, Errno> {
        memory::map_anon(addr, len, prot, flags)
    }
    fn munmap(&self, addr: usize, len: usize) -> Result<(), Errno> {
        memory::unmap(addr, len)
    }
    fn mprotect(&self, addr: usize, len: usize, prot: u32) -> Result<(), Errno> {
        memory::protect(addr, len, prot)
    }
    fn mremap(&self, _old: usize, _old_len: usize, _new_len: usize, _flags: u32, _new: usize) -> Result<usize, Errno> {
        Err(ENOSYS)
    }
    fn madvise(&self, _addr: usize, _len: usize, _advice: u32) -> Result<(), Errno> {
        Ok(())
    }

    fn host_read(&self, fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
        if fd >= winsock::FIRST_FD {
            return winsock::read(fd, buf);
        }
        let h = self.handle(fd)?;
        let mut n = 0u32;
        let len = buf.len().min(1 << 30) as u32;
        // SAFETY: `buf` is writable for `len` bytes.
        if unsafe { win::ReadFile(h, buf.as_mut_ptr(), len, &mut n, 0) } == 0 {
            // SAFETY: no preconditions.
            return match unsafe { win::GetLastError() } {
                win::ERROR_BROKEN_PIPE | win::ERROR_HANDLE_EOF => Ok(0),
                _ => Err(EIO),
            };
        }
        Ok(n as usize)
    }
    fn host_write(&self, fd: i32, buf: &[u8]) -> Result<usize, Errno> {
        if fd >= winsock::FIRST_FD {
            return winsock::write(fd, buf);
        }
        let h = self.handle(fd)?;
        let mut n = 0u32;
        let len = buf.len().min(1 << 30) as u32;
        // SAFETY: `buf` is readable for `len` bytes.
        if unsafe { win::WriteFile(h, buf.as_ptr(), len, &mut n, 0) } == 0 {
            // SAFETY: no preconditions.
            return match unsafe { win::GetLastError() } {
                win::ERROR_BROKEN_PIPE | win::ERROR_NO_DATA => {
                    // As a Linux write into a pipe without readers: SIGPIPE too.
                    if let Some(os) = crate::try_os() {
                        os.raise_sigpipe();
                    }
                    Err(EPIPE)
                }
                _ => Err(EIO),
            };
        }
        Ok(n as usize)
    }
    fn host_stat(&self, fd: i32) -> Result<Stat, Errno> {
        let mut st = Stat { st_nlink: 1, st_blksize: 4096, st_uid: self.ids.0, st_gid: self.ids.1, ..Stat::default() };
        if winsock::is_socket(fd) {
            st.st_mode = 0o140777;
            st.st_ino = 0x10000 + fd as u64;
            return Ok(st);
        }
        if crate::winfs::is_file(fd) {
            return crate::winfs::fstat(fd);
        }
        let h = self.handle(fd)?;
        // SAFETY: h is a handle this process holds.
        match unsafe { win::GetFileType(h) } {
            win::FILE_TYPE_DISK => {
                st.st_mode = 0o100644;
                let mut size = 0i64;
                // SAFETY: writes one i64.
                if unsafe { win::GetFileSizeEx(h, &mut size) } != 0 {
                    st.st_size = size;
                    st.st_blocks = (size + 511) / 512;
                }
            }
            win::FILE_TYPE_PIPE => st.st_mode = 0o010600,
            _ => {
                st.st_mode = 0o020620;
                st.st_rdev = (136 << 8) | fd as u64;
            }
        }
        st.st_ino = 0x1000 + fd as u64;
        Ok(st)
    }
    fn host_lseek(&self, fd: i32, off: i64, whence: u32) -> Result<u64, Errno> {
        if winsock::is_socket(fd) {
            return Err(ESPIPE);
        }
        let h = self.handle(fd)?;
        // SAFETY: h is a handle this process holds.
        if unsafe { win::GetFileType(h) } != win::FILE_TYPE_DISK {
            return Err(ESPIPE);
        }
        if whence > 2 {
            return Err(EINVAL);
        }
        let mut new = 0i64;
        // SAFETY: writes one i64; FILE_BEGIN/CURRENT/END are SEEK_SET/CUR/END.
        if unsafe { win::SetFilePointerEx(h, off, &mut new, whence) } == 0 {
            return Err(EINVAL);
        }
        Ok(new as u64)
    }
    fn host_mmap(&self, addr: usize, len: usize, prot: u32, flags: u32, fd: i32, off: u64) -> Result<usize, Errno> {
        const MAP_TYPE: u32 = 0x0f;
        const MAP_SHARED: u32 = 1;
        const MAP_PRIVATE: u32 = 2;
        const PROT_READ_WRITE: u32 = 3;
        const PROT_WRITE: u32 = 2;
        // A file of the shared layer is mapped as a copy of its bytes: right for private
        // mappings and read-only shared ones; a writable shared mapping (whose writes must
        // reach the file) is not served.
        if !crate::winfs::is_file(fd) || (flags & MAP_TYPE == MAP_SHARED && prot & PROT_WRITE != 0) {
            return Err(litebox_libos::errno::ENODEV);
        }
        let at = memory::map_anon(addr, len, PROT_READ_WRITE, (flags & !MAP_TYPE) | MAP_PRIVATE)?;
        // SAFETY: the range was just mapped read-write for the app; nothing else uses it yet.
        let dst = unsafe { core::slice::from_raw_parts_mut(at as *mut u8, len) };
        let mut done = 0;
        while done < len {
            match crate::winfs::pread(fd, off + done as u64, &mut dst[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) => {
                    let _ = memory::unmap(at, len);
                    return Err(e);
                }
            }
        }
        memory::protect(at, len, prot)?;
        Ok(at)
    }
    fn host_ftruncate(&self, fd: i32, len: u64) -> Result<(), Errno> {
        crate::winfs::ftruncate(fd, len)
    }
    fn host_ioctl(&self, fd: i32, cmd: u32, arg: usize) -> Result<usize, Errno> {
        const FIONREAD: u32 = 0x541b;
        if winsock::is_socket(fd) {
            if cmd != FIONREAD {
                return Err(ENOTTY);
            }
            let n = winsock::pending_bytes(fd)? as i32;
            litebox_libos::user::write(arg, &n)?;
            return Ok(0);
        }
        self.handle(fd)?;
        Err(ENOTTY)
    }
    fn host_close(&self, fd: i32) {
        if fd >= winsock::FIRST_FD {
            return winsock::close(fd);
        }
        if crate::winfs::is_file(fd) {
            return crate::winfs::close_fd(fd);
        }
        if let Some(slot) = usize::try_from(fd).ok().and_then(|i| self.std.get(i)) {
            let h = slot.swap(0, Ordering::Relaxed);
            if h != 0 && h != win::INVALID_HANDLE_VALUE {
                // SAFETY: the handle was ours and is forgotten here.
                unsafe { win::CloseHandle(h) };
            }
        }
    }
    fn host_set_nonblock(&self, fd: i32, on: bool) -> Result<(), Errno> {
        if fd >= winsock::FIRST_FD {
            return winsock::nonblock(fd, on);
        }
        self.handle(fd).map(|_| ())
    }
    fn host_poll(&self, fds: &mut [PollFd], timeout_ms: i32) -> Result<usize, Errno> {
        // The standard handles are reported ready for what is asked: a read or write then
        // blocks as natively on a console or pipe. Sockets are polled by Winsock, and wait
        // for the timeout only when nothing else is ready.
        let mut n = 0;
        let mut sockets = false;
        for p in fds.iter_mut() {
            if winsock::is_socket(p.fd) {
                sockets = true;
                continue;
            }
            p.revents = if self.handle(p.fd).is_ok() { p.events & (0x001 | 0x004) } else { 0x020 };
            if p.revents != 0 {
                n += 1;
            }
        }
        if sockets {
            n += winsock::poll(fds, if n > 0 { 0 } else { timeout_ms })?;
        } else if n == 0 && timeout_ms != 0 {
            // Nothing that can become ready (no descriptors: poll as a sleep): the time passes,
            // or a handled signal ends the wait with EINTR, as on Linux. It returned at once.
            let deadline = u64::try_from(timeout_ms).ok().map(|ms| monotonic_ns().saturating_add(ms * 1_000_000));
            self.block_until(&mut || false, deadline)?;
        }
        Ok(n)
    }
    fn block_until(&self, ready: &mut dyn FnMut() -> bool, deadline: Option<u64>) -> Result<bool, Errno> {
        let os = crate::try_os();
        loop {
            let seen = GENERATION.load(Ordering::Acquire);
            if ready() {
                return Ok(true);
            }
            // A handled (or fatal) signal ends the wait; the interval timer wakes it.
            if os.is_some_and(signals::interrupted) {
                return Err(EINTR);
            }
            let timer = os.and_then(signals::timer_deadline);
            let wake = match (deadline, timer) {
                (Some(d), Some(t)) => Some(d.min(t)),
                (d, t) => d.or(t),
            };
            if let Some(d) = deadline {
                if monotonic_ns() >= d {
                    return Ok(false);
                }
            }
            // Host sockets do not bump GENERATION: while there are any, waits are short, so
            // an epoll or a kernel object's wait sees them become ready.
            let wake = if winsock::OPEN.load(Ordering::Relaxed) > 0 {
                let soon = monotonic_ns() + SOCKET_RECHECK_NS;
                Some(wake.map_or(soon, |w| w.min(soon)))
            } else {
                wake
            };
            let ms = match wake {
                Some(d) => {
                    let now = monotonic_ns();
                    if now >= d {
                        continue;
                    }
                    ((d - now).div_ceil(1_000_000)).min(u32::MAX as u64 - 1) as u32
                }
                None => win::INFINITE,
            };
            // SAFETY: both pointers are to live u32s.
            unsafe { win::WaitOnAddress(GENERATION.as_ptr(), &seen, 4, ms) };
        }
    }
    fn wake_all(&self) {
        GENERATION.fetch_add(1, Ordering::AcqRel);
        // SAFETY: a live u32.
        unsafe { win::WakeByAddressAll(GENERATION.as_ptr()) };
    }

    fn clock_gettime(&self, clock: u32) -> Result<Timespec, Errno> {
        match clock {
            // CLOCK_REALTIME, CLOCK_REALTIME_COARSE
            0 | 5 => {
                let mut ft = 0u64;
                // SAFETY: writes one FILETIME.
                unsafe { win::GetSystemTimePreciseAsFileTime(&mut ft) };
                let t = ft.saturating_sub(FILETIME_UNIX_EPOCH);
                Ok(Timespec { tv_sec: (t / 10_000_000) as i64, tv_nsec: ((t % 10_000_000) * 100) as i64 })
            }
            1 | 2 | 3 | 4 | 6 | 7 => {
                let ns = monotonic_ns();
                Ok(Timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 })
            }
            _ => Err(EINVAL),
        }
    }
    fn random(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(1 << 20) {
            // SAFETY: `chunk` is writable for its length.
            unsafe {
                win::BCryptGenRandom(0, chunk.as_mut_ptr(), chunk.len() as u32, win::BCRYPT_USE_SYSTEM_PREFERRED_RNG)
            };
        }
    }
    fn sleep(&self, dur: &Timespec) -> Result<(), Errno> {
        if dur.tv_sec < 0 || !(0..1_000_000_000).contains(&dur.tv_nsec) {
            return Err(EINVAL);
        }
        let deadline = monotonic_ns()
            .saturating_add((dur.tv_sec as u64).saturating_mul(1_000_000_000))
            .saturating_add(dur.tv_nsec as u64);
        self.block_until(&mut || false, Some(deadline)).map(|_| ())
    }
    fn net_call(&self, nr: usize, args: [usize; 6]) -> Result<usize, Errno> {
        winsock::net_call(nr, args)
    }
    fn sigaltstack(&self, new: usize, old: usize, sp: usize) -> Result<usize, Errno> {
        signals::sigaltstack(new, old, sp)
    }
    fn arm_timer(&self, _deadline: Option<u64>) {
        // Blocked threads wait again with the new expiry in view.
        self.wake_all()
    }
    fn set_tid_address(&self, addr: usize) -> Result<usize, Errno> {
        let td = fastpath::current();
        td.clear_tid.store(addr, Ordering::Relaxed);
        Ok(td.tid as usize)
    }
    fn arch_prctl(&self, code: u32, addr: usize) -> Result<usize, Errno> {
        const ARCH_SET_FS: u32 = 0x1002;
        const ARCH_GET_FS: u32 = 0x1003;
        match code {
            ARCH_SET_FS => {
                fastpath::set_app_fs(addr);
                Ok(0)
            }
            ARCH_GET_FS => {
                let v = fastpath::app_fs();
                litebox_libos::user::write(addr, &v).map_err(|_| EFAULT)?;
                Ok(0)
            }
            _ => Err(EINVAL),
        }
    }
    fn ids(&self) -> (i32, i32) {
        // A fork child running in its parent's place has its own process id; its thread keeps
        // the thread id it runs on (the core's thread-directed signals name threads by it).
        (crate::spawn::child_pid().unwrap_or(self.pid), fastpath::current().tid)
    }
    fn pid(&self) -> i32 {
        crate::spawn::child_pid().unwrap_or(self.pid)
    }
    fn creds(&self) -> (u32, u32) {
        self.ids
    }
    fn exit_group(&self, code: i32) -> ! {
        exit_process(code)
    }
    fn exit_thread(&self, code: i32) -> ! {
        fastpath::exit_thread(code)
    }
    fn log(&self, line: &[u8]) {
        let mut buf = alloc::vec::Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        write_std(win::STD_ERROR_HANDLE, &buf);
    }
}
