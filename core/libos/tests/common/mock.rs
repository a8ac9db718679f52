//! A mock South platform, so `cargo test` can drive the syscall shim (`shim::dispatch`) with no
//! runtime: anonymous memory from the host allocator, a fake clock that moves only when the app
//! sleeps, deterministic entropy and captured console streams. It offers no host passthrough, so
//! pipes, eventfds, timerfds and epoll are the library OS's own kernel objects (`kobj.rs`).
//!
//! It lives in the tests (not behind a cargo feature of the library) so the production build
//! of the no_std library OS is unchanged and never sees std.
//!
//! App memory is the test's own memory: the shim reads and writes app pointers directly, so a
//! test passes the addresses of its own buffers (see [`Sys`]).
//!
//! Nothing here blocks: `block_until` with a deadline moves the fake clock there (so a timerfd
//! or a poll timeout expires at once); without one nothing could ever wake the single thread,
//! so it answers EINTR. A futex wait with a timeout moves the fake clock and times out at once;
//! one without waits (really, a few seconds at most) for another test thread to wake it.
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::collections::{BTreeMap, VecDeque};
use std::ffi::CString;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use litebox_libos::abi::{PollFd, Stat, Timespec, MAP_FIXED, POLLIN, POLLOUT, S_IFCHR};
use litebox_libos::errno::*;
use litebox_libos::platform::{Platform, SyscallContext, ThreadSpawn};
use litebox_libos::shim::nr;
use litebox_libos::{user, LibOs};

const PAGE: usize = 4096;
/// Where the fake CLOCK_REALTIME starts (the image's mtimes are 1_700_000_000).
pub const REALTIME_START: i64 = 1_750_000_000;
/// Where the fake CLOCK_MONOTONIC starts.
pub const MONOTONIC_START: i64 = 1000;
/// How an app process sees itself through the mock.
#[derive(Clone, Copy, Debug)]
pub struct Ids {
    pub pid: i32,
    pub tid: i32,
    pub ppid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl Default for Ids {
    fn default() -> Self {
        Ids { pid: 42, tid: 42, ppid: 41, uid: 1000, gid: 1000 }
    }
}

/// The mock platform.
pub struct Mock {
    pub ids: Ids,
    /// Nanoseconds the fake clocks moved since start (by `sleep`).
    elapsed: Mutex<i128>,
    rng: Mutex<u64>,
    /// What the app wrote to descriptors 1 and 2 (the host streams).
    pub stdout: Mutex<Vec<u8>>,
    pub stderr: Mutex<Vec<u8>>,
    /// What descriptor 0 will read.
    pub stdin: Mutex<VecDeque<u8>>,
    /// Lines the library OS logged.
    pub log: Mutex<Vec<Vec<u8>>>,
    /// Anonymous mappings: start -> layout of the allocation.
    maps: Mutex<BTreeMap<usize, Layout>>,
    fs_base: Mutex<usize>,
    pub exits: AtomicU32,
    /// Nanoseconds `block_until` moved the fake clock.
    pub blocked_ns: Mutex<u64>,
    /// Signals the library OS sent to a thread of its own (tgkill): (tid, signal).
    pub signals: Mutex<Vec<(i32, i32)>>,
}

/// What `exit_group`/`exit_thread` unwind with (see [`Sys::exit`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Exited {
    pub code: i32,
    pub group: bool,
}

impl Mock {
    pub fn new(ids: Ids) -> Self {
        Mock {
            ids,
            elapsed: Mutex::new(0),
            rng: Mutex::new(0x5eed_1234_abcd_0001),
            stdout: Mutex::new(Vec::new()),
            stderr: Mutex::new(Vec::new()),
            stdin: Mutex::new(VecDeque::new()),
            log: Mutex::new(Vec::new()),
            maps: Mutex::new(BTreeMap::new()),
            fs_base: Mutex::new(0),
            exits: AtomicU32::new(0),
            blocked_ns: Mutex::new(0),
            signals: Mutex::new(Vec::new()),
        }
    }

    fn next_random(&self) -> u64 {
        let mut s = self.rng.lock().unwrap();
        *s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        for (addr, layout) in std::mem::take(&mut *self.maps.lock().unwrap()) {
            // SAFETY: each entry was allocated by `mmap_anon` with exactly this layout and is
            // removed from the table before it is freed, so it is freed once.
            unsafe { dealloc(addr as *mut u8, layout) };
        }
    }
}

impl Platform for Mock {
    fn core_unix_sockets(&self) -> bool {
        true // as the VM kernel
    }

    fn mmap_anon(&self, addr: usize, len: usize, _prot: u32, flags: u32) -> Result<usize, Errno> {
        if len == 0 {
            return Err(EINVAL);
        }
        let len = len.next_multiple_of(PAGE);
        let mut maps = self.maps.lock().unwrap();
        if flags & MAP_FIXED != 0 {
            // Only inside a mapping the mock made: zero it again, as a fresh mapping is.
            let (&start, layout) = maps.range(..=addr).next_back().ok_or(ENOMEM)?;
            if addr + len > start + layout.size() {
                return Err(ENOMEM);
            }
            // SAFETY: [addr, addr+len) lies inside the live allocation at `start`.
            unsafe { std::ptr::write_bytes(addr as *mut u8, 0, len) };
            return Ok(addr);
        }
        let layout = Layout::from_size_align(len, PAGE).map_err(|_| ENOMEM)?;
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc_zeroed(layout) };
        if p.is_null() {
            return Err(ENOMEM);
        }
        maps.insert(p as usize, layout);
        Ok(p as usize)
    }

    fn munmap(&self, addr: usize, _len: usize) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE) {
            return Err(EINVAL);
        }
        if let Some(layout) = self.maps.lock().unwrap().remove(&addr) {
            // SAFETY: allocated by `mmap_anon` with this layout; just removed from the table.
            unsafe { dealloc(addr as *mut u8, layout) };
        }
        // Unmapping part of a mapping, or nothing, succeeds as on Linux (the memory stays).
        Ok(())
    }

    fn mprotect(&self, addr: usize, _len: usize, _prot: u32) -> Result<(), Errno> {
        if addr.is_multiple_of(PAGE) {
            Ok(())
        } else {
            Err(EINVAL)
        }
    }

    fn mremap(
        &self,
        _old: usize,
        _old_len: usize,
        _new_len: usize,
        _flags: u32,
        _new_addr: usize,
    ) -> Result<usize, Errno> {
        Err(ENOSYS)
    }

    fn madvise(&self, _addr: usize, _len: usize, _advice: u32) -> Result<(), Errno> {
        Ok(())
    }

    fn host_read(&self, fd: i32, buf: &mut [u8]) -> Result<usize, Errno> {
        if fd == 0 {
            let mut s = self.stdin.lock().unwrap();
            let n = buf.len().min(s.len());
            for (b, v) in buf.iter_mut().zip(s.drain(..n)) {
                *b = v;
            }
            return Ok(n);
        }
        Err(EBADF)
    }

    fn host_write(&self, fd: i32, buf: &[u8]) -> Result<usize, Errno> {
        match fd {
            1 => self.stdout.lock().unwrap().extend_from_slice(buf),
            2 => self.stderr.lock().unwrap().extend_from_slice(buf),
            _ => return Err(EBADF),
        }
        Ok(buf.len())
    }

    fn host_stat(&self, fd: i32) -> Result<Stat, Errno> {
        if fd >= 3 {
            return Err(EBADF);
        }
        // A terminal, /dev/pts/0.
        Ok(Stat {
            st_mode: S_IFCHR | 0o620,
            st_rdev: 136 << 8,
            st_ino: 3,
            st_nlink: 1,
            st_blksize: 1024,
            ..Default::default()
        })
    }

    fn host_lseek(&self, fd: i32, _off: i64, _whence: u32) -> Result<u64, Errno> {
        Err(if fd >= 3 { EBADF } else { ESPIPE })
    }

    fn host_ioctl(&self, _fd: i32, _cmd: u32, _arg: usize) -> Result<usize, Errno> {
        Err(ENOTTY)
    }

    fn host_close(&self, _fd: i32) {}

    fn host_set_nonblock(&self, fd: i32, _on: bool) -> Result<(), Errno> {
        if fd < 3 {
            Ok(())
        } else {
            Err(EBADF)
        }
    }

    fn host_poll(&self, fds: &mut [PollFd], _timeout_ms: i32) -> Result<usize, Errno> {
        let mut n = 0;
        for p in fds.iter_mut() {
            p.revents = match p.fd {
                0 => POLLIN & p.events,
                1 | 2 => POLLOUT & p.events,
                _ => litebox_libos::abi::POLLNVAL,
            };
            if p.revents != 0 {
                n += 1;
            }
        }
        Ok(n)
    }

    fn block_until(&self, ready: &mut dyn FnMut() -> bool, deadline: Option<u64>) -> Result<bool, Errno> {
        if ready() {
            return Ok(true);
        }
        let Some(d) = deadline else { return Err(EINTR) };
        let now = self.clock_gettime(1)?;
        let now = now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64;
        if d > now {
            *self.elapsed.lock().unwrap() += (d - now) as i128;
            *self.blocked_ns.lock().unwrap() += d - now;
        }
        Ok(ready())
    }

    fn clock_gettime(&self, clock: u32) -> Result<Timespec, Errno> {
        let base = match clock {
            0 | 5 | 8 | 11 => REALTIME_START,     // REALTIME, REALTIME_COARSE, REALTIME_ALARM, TAI
            1 | 4 | 6 | 7 | 9 => MONOTONIC_START, // MONOTONIC(_RAW/_COARSE), BOOTTIME(_ALARM)
            2 | 3 => 0,                           // process and thread CPU time
            _ => return Err(EINVAL),
        };
        let ns = *self.elapsed.lock().unwrap() + base as i128 * 1_000_000_000;
        Ok(Timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 })
    }

    fn random(&self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_random().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    fn sleep(&self, dur: &Timespec) -> Result<(), Errno> {
        *self.elapsed.lock().unwrap() += dur.tv_sec as i128 * 1_000_000_000 + dur.tv_nsec as i128;
        Ok(())
    }

    fn park(&self, woken: &mut dyn FnMut() -> bool, deadline: Option<u64>) -> Result<bool, Errno> {
        // Futex waiters may be real threads of the test (woken by another one); a deadline
        // moves the fake clock there at once. Without one, give up after a few real seconds.
        if let Some(d) = deadline {
            if woken() {
                return Ok(true);
            }
            let now = self.clock_gettime(1)?;
            let now = now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64;
            let ns = d.saturating_sub(now);
            *self.elapsed.lock().unwrap() += ns as i128;
            return Ok(false);
        }
        for _ in 0..5000 {
            if woken() {
                return Ok(true);
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Err(EINTR)
    }

    fn set_tid_address(&self, _addr: usize) -> Result<usize, Errno> {
        Ok(self.ids.tid as usize)
    }

    fn arch_prctl(&self, code: u32, addr: usize) -> Result<usize, Errno> {
        match code {
            0x1002 => {
                // ARCH_SET_FS
                *self.fs_base.lock().unwrap() = addr;
                Ok(0)
            }
            0x1003 => user::write(addr, &(*self.fs_base.lock().unwrap() as u64)).map(|_| 0), // ARCH_GET_FS
            _ => Err(EINVAL),
        }
    }

    fn ids(&self) -> (i32, i32) {
        (self.ids.pid, self.ids.tid)
    }

    fn ids_parent(&self) -> i32 {
        self.ids.ppid
    }

    fn creds(&self) -> (u32, u32) {
        (self.ids.uid, self.ids.gid)
    }

    fn exit_group(&self, code: i32) -> ! {
        self.exits.fetch_add(1, Ordering::Relaxed);
        std::panic::panic_any(Exited { code, group: true })
    }

    fn exit_thread(&self, code: i32) -> ! {
        self.exits.fetch_add(1, Ordering::Relaxed);
        std::panic::panic_any(Exited { code, group: false })
    }

    fn log(&self, line: &[u8]) {
        self.log.lock().unwrap().push(line.to_vec());
    }
}

/// The calling thread of one syscall.
pub struct Ctx {
    pub nr: usize,
    pub args: [usize; 6],
    pub sigmask: u64,
    /// Threads the shim asked this context to start.
    pub spawned: Vec<ThreadSpawn>,
}

impl Ctx {
    pub fn new(nr: usize, args: &[usize]) -> Self {
        assert!(args.len() <= 6, "at most six syscall arguments");
        let mut a = [0usize; 6];
        a[..args.len()].copy_from_slice(args);
        Ctx { nr, args: a, sigmask: 0, spawned: Vec::new() }
    }
}

impl SyscallContext for Ctx {
    fn nr(&self) -> usize {
        self.nr
    }
    fn arg(&self, i: usize) -> usize {
        self.args[i]
    }
    fn sigmask(&self) -> u64 {
        self.sigmask
    }
    fn set_sigmask(&mut self, mask: u64) {
        self.sigmask = mask;
    }
    fn spawn_thread(&mut self, t: &ThreadSpawn) -> Result<usize, Errno> {
        self.spawned.push(ThreadSpawn { ..*t });
        Ok(100 + self.spawned.len())
    }
}

/// A library OS on the mock over the shared image vector, with cwd `/` and host name
/// `litebox-test`, attached to /proc (so it lives for the rest of the test binary).
pub struct Sys {
    pub os: &'static LibOs<Mock>,
    /// The signal mask that the thread carries from call to call.
    pub sigmask: u64,
}

impl Sys {
    pub fn new() -> Self {
        Self::with_ids(Ids::default())
    }

    pub fn with_ids(ids: Ids) -> Self {
        let os: &'static LibOs<Mock> =
            Box::leak(Box::new(LibOs::new(Mock::new(ids), super::vfs(), b"/", b"litebox-test", false)));
        os.attach_proc();
        Sys { os, sigmask: 0 }
    }

    pub fn mock(&self) -> &Mock {
        &self.os.platform
    }

    /// Makes syscall `nr` with `args` through `shim::dispatch`: the value rax gets (a result,
    /// or `-errno`).
    pub fn call(&mut self, nr: usize, args: &[usize]) -> isize {
        let mut ctx = Ctx::new(nr, args);
        ctx.sigmask = self.sigmask;
        let r = litebox_libos::shim::dispatch(self.os, &mut ctx);
        self.sigmask = ctx.sigmask;
        r
    }

    /// Like [`Sys::call`], as `Ok(value)` or `Err(errno)`.
    pub fn sys(&mut self, nr: usize, args: &[usize]) -> Result<usize, Errno> {
        let r = self.call(nr, args);
        if (-4095..0).contains(&r) {
            Err(-r as Errno)
        } else {
            Ok(r as usize)
        }
    }

    /// A syscall that ends the process or thread: what it ended with.
    pub fn exit(&mut self, nr: usize, args: &[usize]) -> Exited {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.call(nr, args)));
        *r.expect_err("the call returned").downcast::<Exited>().expect("ended through the platform")
    }

    /// open(path, flags, mode).
    pub fn open(&mut self, path: &str, flags: u32, mode: u32) -> Result<usize, Errno> {
        let p = cs(path);
        self.sys(nr::OPEN, &[p.as_ptr() as usize, flags as usize, mode as usize])
    }

    /// read(fd, len) into a fresh buffer, which comes back cut to what was read.
    pub fn read(&mut self, fd: usize, len: usize) -> Result<Vec<u8>, Errno> {
        let mut buf = vec![0u8; len];
        let n = self.sys(nr::READ, &[fd, buf.as_mut_ptr() as usize, len])?;
        buf.truncate(n);
        Ok(buf)
    }

    /// write(fd, data).
    pub fn write(&mut self, fd: usize, data: &[u8]) -> Result<usize, Errno> {
        self.sys(nr::WRITE, &[fd, data.as_ptr() as usize, data.len()])
    }

    pub fn close(&mut self, fd: usize) -> Result<usize, Errno> {
        self.sys(nr::CLOSE, &[fd])
    }

    /// stat(path) (follows symlinks).
    pub fn stat(&mut self, path: &str) -> Result<Stat, Errno> {
        let p = cs(path);
        let mut st = Stat::default();
        self.sys(nr::STAT, &[p.as_ptr() as usize, &mut st as *mut Stat as usize])?;
        Ok(st)
    }

    /// fstat(fd).
    pub fn fstat(&mut self, fd: usize) -> Result<Stat, Errno> {
        let mut st = Stat::default();
        self.sys(nr::FSTAT, &[fd, &mut st as *mut Stat as usize])?;
        Ok(st)
    }

    /// readlink(path) with a buffer of `size` bytes.
    pub fn readlink(&mut self, path: &str, size: usize) -> Result<Vec<u8>, Errno> {
        let p = cs(path);
        let mut buf = vec![0u8; size];
        let n = self.sys(nr::READLINK, &[p.as_ptr() as usize, buf.as_mut_ptr() as usize, size])?;
        buf.truncate(n);
        Ok(buf)
    }

    /// A syscall whose only arguments are paths (unlink, rmdir, rename, chdir, ...), then
    /// plain numbers.
    pub fn path_call(&mut self, nr: usize, paths: &[&str], rest: &[usize]) -> Result<usize, Errno> {
        let owned: Vec<CString> = paths.iter().map(|p| cs(p)).collect();
        let mut args: Vec<usize> = owned.iter().map(|c| c.as_ptr() as usize).collect();
        args.extend_from_slice(rest);
        self.sys(nr, &args)
    }
}

/// A NUL-terminated copy of `s` (keep it alive while the call uses its pointer).
pub fn cs(s: &str) -> CString {
    CString::new(s).unwrap()
}
