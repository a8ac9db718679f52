//! The South interface: what a platform must provide so the library OS can run an app on it.
//! Everything else (files, fds, paths, ELF loading, the Linux shim) comes from the core.
use alloc::vec::Vec;

use crate::abi::{PollFd, Stat, Timespec};
use crate::errno::Errno;

/// Services of one host platform (linux-userland process, ring-0 kernel, ...).
///
/// Memory calls act on the app's address space. The `stdio_*` calls reach the three host
/// streams the app inherits as descriptors 0–2 (the terminal, pipes or files the artifact was
/// started with; a serial console on VM targets).
pub trait Platform: Send + Sync {
    /// Maps fresh zeroed anonymous memory. `flags` uses Linux MAP_* values (MAP_FIXED,
    /// MAP_FIXED_NOREPLACE, MAP_SHARED/PRIVATE, MAP_NORESERVE, ...). Must refuse ranges the
    /// runtime itself owns.
    fn mmap_anon(&self, addr: usize, len: usize, prot: u32, flags: u32) -> Result<usize, Errno>;
    /// Unmaps app memory. Must refuse ranges the runtime owns.
    fn munmap(&self, addr: usize, len: usize) -> Result<(), Errno>;
    /// Changes protection of app memory. Must refuse ranges the runtime owns.
    fn mprotect(&self, addr: usize, len: usize, prot: u32) -> Result<(), Errno>;
    /// Resizes a mapping (mremap semantics); may return ENOSYS.
    fn mremap(&self, old: usize, old_len: usize, new_len: usize, flags: u32, new_addr: usize) -> Result<usize, Errno>;
    /// madvise on app memory.
    fn madvise(&self, addr: usize, len: usize, advice: u32) -> Result<(), Errno>;

    /// Reads from host descriptor `fd` (one the library OS owns: a stream the artifact was
    /// started with, a pipe, ...). May block; the app's handled signals interrupt it as natively.
    fn host_read(&self, fd: i32, buf: &mut [u8]) -> Result<usize, Errno>;
    /// Writes to host descriptor `fd`. May block, like `host_read`.
    fn host_write(&self, fd: i32, buf: &[u8]) -> Result<usize, Errno>;
    /// fstat of host descriptor `fd`.
    fn host_stat(&self, fd: i32) -> Result<Stat, Errno>;
    /// ftruncate of host descriptor `fd` (a file of a host directory). Default: the
    /// passthrough's ftruncate, or ENOSYS without one.
    fn host_ftruncate(&self, fd: i32, len: u64) -> Result<(), Errno> {
        const FTRUNCATE: usize = 77;
        match self.passthrough() {
            Some(pt) => pt.fd_call(FTRUNCATE, [fd as usize, len as usize, 0, 0, 0, 0]).map(|_| ()),
            None => Err(crate::errno::ENOSYS),
        }
    }
    /// lseek on host descriptor `fd` (ESPIPE for pipes and terminals, as natively).
    fn host_lseek(&self, fd: i32, off: i64, whence: u32) -> Result<u64, Errno>;
    /// The ioctls the shim allows (TCGETS, TIOCGWINSZ, FIONREAD, ...) on host descriptor `fd`.
    /// `arg` points into app memory.
    fn host_ioctl(&self, fd: i32, cmd: u32, arg: usize) -> Result<usize, Errno>;
    /// Closes host descriptor `fd`.
    fn host_close(&self, fd: i32);
    /// Sets O_NONBLOCK on host descriptor `fd` (the only status flag that matters on the host).
    fn host_set_nonblock(&self, fd: i32, on: bool) -> Result<(), Errno>;
    /// poll(2) over host descriptors; `fds` is a `struct pollfd` array in runtime memory with
    /// host descriptor numbers. `timeout_ms < 0` waits forever. May block.
    fn host_poll(&self, fds: &mut [PollFd], timeout_ms: i32) -> Result<usize, Errno>;
    /// Blocks the calling thread until `ready()` returns true (`Ok(true)`), CLOCK_MONOTONIC
    /// reaches `deadline` (ns; `Ok(false)`), or a signal the app handles becomes deliverable
    /// (EINTR). `ready` must not block; it is called before any wait and again after every
    /// [`Platform::wake_all`] (a platform may call it more often, e.g. whenever the thread is
    /// scheduled). This is how the core's kernel objects (`kobj.rs`: pipes, eventfds,
    /// timerfds, epoll) wait; it takes no syscall number.
    fn block_until(&self, ready: &mut dyn FnMut() -> bool, deadline: Option<u64>) -> Result<bool, Errno>;
    /// Wakes every thread in [`Platform::block_until`] so it checks again; the core calls it
    /// after it changed a kernel object. Default: nothing (for a platform whose waiters
    /// re-check whenever they are scheduled).
    fn wake_all(&self) {}
    /// Host objects for pipes, eventfds, timerfds and epoll instead of the core's own: a
    /// platform that has a host kernel may serve them there (faster, and shared with host
    /// children). Default: none, and the core's kernel objects serve them.
    fn passthrough(&self) -> Option<&dyn HostPassthrough> {
        None
    }
    /// Whether, while the app process has one thread, nothing else runs library OS code at
    /// the same time (no helper threads of the platform, no interrupts that reach the
    /// descriptor table), and app code runs inside a call only where the platform lets app
    /// signal handlers in (blocking host calls). The shim may then find a host descriptor for
    /// read and write without the table's lock or a reference to the open file
    /// (`LibOs::fd_ref`). Default: no.
    fn single_thread_exclusive(&self) -> bool {
        false
    }
    /// Where the calling thread may keep its process's children list
    /// ([`crate::children::ChildList::move_to`]) while the process has one thread: the address
    /// of [`crate::children::SLOT_SIZE`] bytes aligned to [`crate::children::SLOT_ALIGN`] that
    /// nothing else uses, that stay mapped for the process's life, and that a fork writes in
    /// parent and child anyway (so keeping the list there costs neither a copy-on-write
    /// fault). Only asked on a platform whose [`Platform::single_thread_exclusive`] is true,
    /// from inside a syscall. Default: none (the list stays in the library OS's heap).
    fn children_slot(&self) -> Option<usize> {
        None
    }
    /// A range of `len` bytes the platform set aside for the app's initial stack, handed out
    /// at most once (later calls: `None`): private anonymous memory, zero-filled, nothing else
    /// uses it, its lowest `guard` bytes inaccessible and the rest readable and writable. A
    /// platform whose processes are forks of one that reserved memory can keep the stack in
    /// one host mapping with that memory: a mapping made after the fork never merges with one
    /// the fork inherited, and each mapping costs every later fork and exit. Default: none
    /// (the loader maps the stack itself).
    fn take_stack_slot(&self, _len: usize, _guard: usize) -> Option<usize> {
        None
    }
    /// Whether AF_UNIX sockets are the library OS's own (`crate::unixsock`: names, queues and
    /// descriptor passing inside the library OS, shared by the processes it serves). A platform
    /// without host sockets says yes (the VM kernel); one that has them keeps the host's
    /// (linux-userland through passthrough; windows, whose `net_call` emulates socketpair).
    /// Default: no.
    fn core_unix_sockets(&self) -> bool {
        false
    }
    /// A socket syscall on the host's network, after the shim applied the network policy
    /// (as [`HostPassthrough::net_call`] describes). Default: the passthrough's, or no host
    /// network (EAFNOSUPPORT); a platform with host sockets but no passthrough (windows:
    /// Winsock) serves them here.
    fn net_call(&self, nr: usize, args: [usize; 6]) -> Result<usize, Errno> {
        match self.passthrough() {
            Some(h) => h.net_call(nr, args),
            None => Err(crate::errno::EAFNOSUPPORT),
        }
    }
    /// [`Platform::net_call`] for the calls `shim::net::hot` serves inline (recvfrom,
    /// sendto without an address, shutdown, getpeername, getsockopt, getsockname; `args[0]`
    /// a host socket the app names by number), with the same effect. A platform may inline
    /// its answer into the shim's dispatch (linux-userland does: its host call then returns
    /// through fewer frames). Default: [`Platform::net_call`].
    fn net_hot(&self, nr: usize, args: [usize; 6]) -> Result<usize, Errno> {
        self.net_call(nr, args)
    }

    /// mmap of a regular file of a host directory (host descriptor `fd`), with the host's
    /// semantics (MAP_SHARED writes reach the file). Must refuse ranges the runtime owns.
    fn host_mmap(
        &self,
        _addr: usize,
        _len: usize,
        _prot: u32,
        _flags: u32,
        _fd: i32,
        _off: u64,
    ) -> Result<usize, Errno> {
        Err(crate::errno::ENODEV)
    }

    /// Maps `len` bytes of the packed image, from image offset `image_off`, privately at
    /// `addr` (which the library OS already mapped: the new mapping replaces those pages) with
    /// `prot`: the bytes are used in place, shared with every other mapping of them, instead of
    /// copied. The caller checked them (`Vfs::image_span`). `addr`, `len` and the file offset
    /// must be page-aligned. Default: ENOSYS, and the library OS copies the bytes instead.
    fn map_image(&self, _addr: usize, _len: usize, _prot: u32, _image_off: u64) -> Result<usize, Errno> {
        Err(crate::errno::ENOSYS)
    }

    /// The first half of execve, after the new program was checked: removes the old
    /// program's memory and resets its signal handlers (ignored signals stay ignored). From
    /// here a failure ends the process.
    fn exec_prepare(&self) -> Result<(), Errno> {
        Err(crate::errno::ENOSYS)
    }
    /// CPU facts for a new program's auxv (AT_HWCAP, AT_HWCAP2, AT_MINSIGSTKSZ, AT_CLKTCK).
    fn host_aux(&self) -> Vec<(usize, usize)> {
        Vec::new()
    }

    /// Current time of `clock` (CLOCK_REALTIME, CLOCK_MONOTONIC, ...).
    fn clock_gettime(&self, clock: u32) -> Result<Timespec, Errno>;
    /// Fills `buf` with random bytes.
    fn random(&self, buf: &mut [u8]);
    /// Sleeps for the given duration (relative).
    fn sleep(&self, dur: &Timespec) -> Result<(), Errno>;
    /// Parks the calling thread, a waiter of the core's futex table (`futex.rs`), until
    /// `woken()` returns true (`Ok(true)`), CLOCK_MONOTONIC reaches `deadline` (ns; `Ok(false)`),
    /// or a signal that ends the process is pending (EINTR). `woken` must not block; it is
    /// called before any wait and again after [`Platform::unpark`] of this thread. Default:
    /// [`Platform::block_until`].
    fn park(&self, woken: &mut dyn FnMut() -> bool, deadline: Option<u64>) -> Result<bool, Errno> {
        self.block_until(woken, deadline)
    }
    /// Makes thread `tid` (of this process), parked in [`Platform::park`], check again.
    /// Default: [`Platform::wake_all`].
    fn unpark(&self, _tid: i32) {
        self.wake_all()
    }
    /// set_tid_address: where to write 0 (and wake one futex waiter) when the calling thread
    /// exits. Returns its thread id.
    fn set_tid_address(&self, addr: usize) -> Result<usize, Errno>;
    /// set_robust_list for the calling thread (`len` checked by the shim): a platform whose
    /// host kernel releases robust futexes of a dying thread registers it there. Default:
    /// accepted (threads only die with their process).
    fn set_robust_list(&self, _head: usize, _len: usize) -> Result<usize, Errno> {
        Ok(0)
    }
    /// arch_prctl(code, addr): FS/GS base of the current thread.
    fn arch_prctl(&self, code: u32, addr: usize) -> Result<usize, Errno>;
    /// Process id and thread id as the app should see them.
    fn ids(&self) -> (i32, i32);
    /// Process id as the app should see it (`ids().0`; a platform may answer from a cache).
    fn pid(&self) -> i32 {
        self.ids().0
    }
    /// Parent process id as the app should see it.
    fn ids_parent(&self) -> i32 {
        0
    }
    /// Real uid and gid the app sees.
    fn creds(&self) -> (u32, u32);

    /// CPUs the app may run on (sched_getaffinity, /proc/cpuinfo). Default: one.
    fn cpu_count(&self) -> usize {
        1
    }
    /// Bytes of memory of the machine, for /proc/meminfo when the policy sets no memory limit.
    fn mem_total(&self) -> u64 {
        1 << 30
    }
    /// Bytes of memory the app's writable layer holds, when the platform keeps it in memory
    /// that the policy's memory limit covers (a private tmpfs). Default: 0.
    fn storage_used(&self) -> u64 {
        0
    }
    /// Bytes of the app's memory that are resident, if the platform knows (VmRSS).
    fn resident(&self) -> Option<u64> {
        None
    }
    /// Opens the terminal the app was started on (/dev/tty): a new host descriptor, or ENXIO
    /// when there is none (as natively without a controlling terminal).
    fn open_tty(&self) -> Result<i32, Errno> {
        Err(crate::errno::ENXIO)
    }
    /// A second host descriptor for the same open object (opening /proc/self/fd/N of a pipe).
    fn host_dup(&self, _fd: i32) -> Result<i32, Errno> {
        Err(crate::errno::ENXIO)
    }
    /// sigaltstack(2) for the calling thread: `new` and `old` are `stack_t` pointers in app
    /// memory (0 for none), `sp` the app's stack pointer at the call (for SS_ONSTACK/EPERM).
    fn sigaltstack(&self, _new: usize, _old: usize, _sp: usize) -> Result<usize, Errno> {
        Err(crate::errno::ENOSYS)
    }

    /// A signal was made pending for process `pid` of the app (by the core's own signal state,
    /// [`crate::signal::Signals`]): its threads that wait must check again, so a handled
    /// signal interrupts them (EINTR) and one that ends the process ends it. Default:
    /// [`Platform::wake_all`].
    fn notify_signal(&self, _pid: i32) {
        self.wake_all()
    }
    /// The calling process's interval timer (ITIMER_REAL, alarm) now expires at `deadline`
    /// (CLOCK_MONOTONIC ns), or is disarmed. A platform whose app can run without making
    /// syscalls must see to it that the app is interrupted then (a timer interrupt), so the
    /// core's SIGALRM reaches it. Default: nothing.
    fn arm_timer(&self, _deadline: Option<u64>) {}
    /// The calling process's RLIMIT_CPU is now `cur` soft, `max` hard (seconds of CPU time;
    /// `u64::MAX` is unlimited), already checked by the core (`cur <= max`, `max` not raised).
    /// The platform enforces it: SIGXCPU once the process's CPU time passes `cur` and every
    /// second after, SIGKILL at `max`. Default: the limit is kept but not enforced.
    fn set_cpu_limit(&self, _cur: u64, _max: u64) -> Result<(), Errno> {
        Ok(())
    }
    /// SysV shared memory where the library OS keeps the segments ([`crate::sysvshm`]): a new
    /// zeroed object of `len` bytes (whole pages) that [`Platform::shm_attach`] can map into
    /// any of the app's processes; its handle. Default: ENOSYS (no such objects).
    fn shm_create(&self, _len: usize) -> Result<u64, Errno> {
        Err(crate::errno::ENOSYS)
    }
    /// Maps the whole object `handle` (`len` bytes) into the calling process with `prot`, at
    /// `addr` (page-aligned; replacing what is there only if `replace`) or, for 0, where there
    /// is room; the address. The mapping is shared with every other mapping of the object and
    /// kept shared across fork; munmap and exit undo it. Default: ENOSYS.
    fn shm_attach(&self, _handle: u64, _addr: usize, _len: usize, _prot: u32, _replace: bool) -> Result<usize, Errno> {
        Err(crate::errno::ENOSYS)
    }
    /// The object `handle` is no longer needed by the table: its memory goes once no process
    /// maps it. Default: nothing.
    fn shm_destroy(&self, _handle: u64) {}
    /// Whether `tid` is a live thread of the calling process (tgkill). Default: only the
    /// calling thread.
    fn has_thread(&self, tid: i32) -> bool {
        tid == self.ids().1
    }
    /// Process `pid` was reaped by the core's process table ([`crate::proctab`]): free what the
    /// platform holds for it (its address space, its library OS instance). Default: nothing.
    fn release_process(&self, _pid: i32) {}

    /// Ends the whole process with `code`. Never returns.
    fn exit_group(&self, code: i32) -> !;
    /// Ends the calling thread (the process, if it is the last one) with `code`.
    fn exit_thread(&self, code: i32) -> !;
    /// Publishes what /proc shows of this process to the app's other processes (a platform
    /// whose processes are host processes, each with its own library OS, keeps a table they
    /// share). Called at each program load, PR_SET_NAME, setpgid and setsid. Default: nothing.
    fn publish_process(&self, _rec: &crate::procfs::ProcRecord) {}
    /// The other processes of the app as they published themselves (live and zombies),
    /// where the core's process table does not know them ([`HostPassthrough`]). Default: none.
    fn app_processes(&self) -> Vec<crate::procfs::ProcRecord> {
        Vec::new()
    }
    /// Memory of another process of the app, (virtual size, resident bytes), where the core's
    /// process table knows it but not its memory. Default: unknown.
    fn process_memory(&self, _pid: i32) -> Option<(u64, u64)> {
        None
    }
    /// Whether `--learn` records are wanted (so the shim builds them only then). Default: no.
    fn learning(&self) -> bool {
        false
    }
    /// Appends a `--learn` record (`kind` TAB `value`); called only when `learning()`.
    fn learn(&self, _kind: &[u8], _value: &[u8]) {}
    /// Writes one diagnostic line (already formatted, without newline) to the runtime's log.
    fn log(&self, line: &[u8]);

    /// The kind of attestation report [`Platform::attestation_report`] makes, as
    /// `/dev/attestation/attestation_type` shows it: "sev-snp", or "none" (the default).
    fn attestation_type(&self) -> &'static str {
        "none"
    }

    /// A hardware attestation report binding the app's 64 bytes of `report_data`
    /// (`/dev/attestation/report`); ENODEV (the default) where the platform has none.
    fn attestation_report(&self, report_data: &[u8; 64]) -> Result<Vec<u8>, Errno> {
        let _ = report_data;
        Err(crate::errno::ENODEV)
    }
}

/// Optional: host objects the library OS hands to the app as host descriptors (see
/// [`Platform::passthrough`]). The shim has translated every descriptor argument.
pub trait HostPassthrough {
    /// Creates a host pipe; returns (read end, write end), close-on-exec on the host.
    fn pipe(&self, flags: u32) -> Result<(i32, i32), Errno>;
    /// A host syscall on host descriptors only (eventfd2, timerfd_*, epoll_*, fcntl record
    /// locks and ftruncate on files of host directories, and write to a non-blocking host pipe
    /// when a library-OS pipe is promoted, `crate::pipes`). May block.
    fn fd_call(&self, nr: usize, args: [usize; 6]) -> Result<usize, Errno>;
    /// futex(2) on app memory with the host's futex (shared with host children over shared
    /// memory), instead of the core's table. May block.
    fn futex(&self, uaddr: usize, op: u32, val: u32, timeout: usize, uaddr2: usize, val3: u32) -> Result<usize, Errno>;
    /// rt_sigaction with the host's signals instead of the core's dispositions (raw pointers
    /// into app memory for the `struct sigaction`s; the shim has checked `sig` and `size`).
    fn sigaction(&self, sig: i32, new: usize, old: usize, size: usize) -> Result<usize, Errno>;
    /// Signal calls with the host's signals (kill, tgkill, rt_sigqueueinfo,
    /// rt_tgsigqueueinfo, alarm, setitimer, getitimer, rt_sigpending, rt_sigsuspend, pause;
    /// `nr` is the Linux number), already checked by the shim (which keeps the runtime's own
    /// signals and processes outside the app out of reach). Pointers are in app memory.
    /// rt_sigsuspend and pause block.
    fn signal_call(&self, nr: usize, args: [usize; 6]) -> Result<usize, Errno>;
    /// Process calls on the app's host processes (wait4, waitid, setpgid, setsid, getpgid,
    /// getsid). Pointers are in app memory. May block.
    fn process_call(&self, nr: usize, args: [usize; 6]) -> Result<usize, Errno>;
    /// Whether the app's processes have a pid namespace of their own, so a pid or process
    /// group the host resolves can only name a process of the app. Without one, the shim
    /// limits kill to the process itself and its children.
    fn private_pids(&self) -> bool {
        false
    }
    /// Whether the app's sockets live in a network namespace of the sandbox's own, so an
    /// abstract Unix name (and autobind) can only reach the app's own sockets. The shim then
    /// passes such addresses on to bind/connect/sendto; without one it refuses them (EACCES).
    fn private_net(&self) -> bool {
        false
    }
    /// A socket syscall (socket, socketpair, bind, listen, accept4, connect, getsockname,
    /// getpeername, setsockopt, getsockopt, sendto, recvfrom, sendmsg, recvmsg, sendmmsg,
    /// recvmmsg, shutdown; `nr` is the Linux number) on the host. The shim has already applied
    /// the network policy: descriptor arguments are host descriptors, every address the policy
    /// checked is a copy in runtime memory, other pointers are in app memory. New sockets must
    /// be close-on-exec on the host. May block. Default: no host network (EAFNOSUPPORT).
    fn net_call(&self, _nr: usize, _args: [usize; 6]) -> Result<usize, Errno> {
        Err(crate::errno::EAFNOSUPPORT)
    }
    /// A SysV IPC syscall (shmget, shmat, shmctl, shmdt, semget, semop, semtimedop, semctl,
    /// msgget, msgsnd, msgrcv, msgctl; `nr` is the Linux number) on the host, which a platform
    /// offers only where the app has an IPC namespace of its own (so no IPC object of the host
    /// is reachable). Pointers are in app memory. May block. Default: ENOSYS (none).
    fn ipc_call(&self, _nr: usize, _args: [usize; 6]) -> Result<usize, Errno> {
        Err(crate::errno::ENOSYS)
    }
    /// futex_waitv(2) with the host's futexes (the shim checked the waiter array, which is
    /// in app memory, and the timeout). May block. Default: ENOSYS.
    fn futex_waitv(&self, _args: [usize; 6]) -> Result<usize, Errno> {
        Err(crate::errno::ENOSYS)
    }
}

/// A new thread of the app: it resumes right after the clone syscall with rax = 0, the stack
/// pointer `stack` and, with CLONE_SETTLS, the FS base `tls`. `flags` are Linux CLONE_* flags
/// (already checked to describe a thread).
pub struct ThreadSpawn {
    pub flags: u64,
    pub stack: usize,
    pub parent_tid: usize,
    pub child_tid: usize,
    pub tls: usize,
}

/// The per-call view of the thread that issued a syscall: its number, arguments and the state
/// that the platform restores when the call returns (the signal mask).
pub trait SyscallContext {
    /// The syscall number.
    fn nr(&self) -> usize;
    /// Argument `i` (0..6) in Linux order: rdi, rsi, rdx, r10, r8, r9.
    fn arg(&self, i: usize) -> usize;
    /// The six arguments at once, as [`SyscallContext::arg`] gives them (the shim reads them
    /// on every call: one dynamic call instead of six).
    fn args(&self) -> [usize; 6] {
        [self.arg(0), self.arg(1), self.arg(2), self.arg(3), self.arg(4), self.arg(5)]
    }
    /// The app's signal mask as it will be when the call returns.
    fn sigmask(&self) -> u64;
    /// Replaces the app's signal mask for after the call (the platform keeps its own signals
    /// unblockable).
    fn set_sigmask(&mut self, mask: u64);
    /// rt_sigsuspend: the mask is `mask` until a signal is delivered at the end of this call;
    /// the delivered handler's frame then saves (and its return restores) the mask from
    /// before the call. Default: [`SyscallContext::set_sigmask`] (right only for a platform
    /// that never runs the core's rt_sigsuspend, i.e. one that passes signals through).
    fn suspend_mask(&mut self, mask: u64) {
        self.set_sigmask(mask)
    }
    /// ppoll, pselect6, epoll_pwait and epoll_pwait2 with a signal mask: `mask` is the app's
    /// mask while this call waits; when the call returns, the mask from before it is back (a
    /// handler the wait let in runs with `mask` and its return restores the old one), as the
    /// kernel's saved mask does. Default: the mask is not applied (a platform whose waits
    /// cannot take one; the wait then ends only on its own events).
    fn set_wait_mask(&mut self, _mask: u64) {}
    /// Starts a new thread that is a copy of this one at this syscall (see [`ThreadSpawn`]).
    /// Returns the new thread's id.
    fn spawn_thread(&mut self, t: &ThreadSpawn) -> Result<usize, Errno>;
    /// Starts a new process that is a copy of this one (fork): returns the child's pid here and
    /// 0 in the child, which resumes after the syscall with `stack` as its stack pointer if it
    /// is not 0. `flags` are the CLONE_* flags that still apply (exit signal, tid pointers).
    fn fork(&mut self, _flags: u64, _stack: usize, _ptid: usize, _ctid: usize) -> Result<usize, Errno> {
        Err(crate::errno::ENOSYS)
    }
    /// Makes the thread resume at `entry` with stack pointer `sp` and every other register
    /// zeroed (the end of execve).
    fn set_entry(&mut self, _entry: usize, _sp: usize) {}
    /// The app's stack pointer at the syscall (0 if the platform cannot tell).
    fn stack_pointer(&self) -> usize {
        0
    }
}
