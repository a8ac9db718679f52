//! Under Wine only: a new instance for a program that must load low (non-PIE, reaching past
//! Wine's early mappings at 0x740000, such as Debian's python3.11), started the way the first
//! instance was: the Wine loader as a Unix process with `WINEPRELOADRESERVE=400000-10000000`
//! (Wine's CreateProcess sets that variable to the executable's own range instead, so the new
//! process's early mappings take the low range). The Unix side is reached with raw Linux
//! calls, as `faults.rs` does: vfork + dup2 + execve of the loader, pipes to the library OS's
//! pipes pumped by threads here, wait4 for the exit status, kill for the app's signals.
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use litebox_libos::errno::*;
use litebox_libos::fd::{FileKind, OpenFile};
use litebox_libos::LibOs;

use crate::host::WinHost;
use crate::win;

/// The low range the first instance is started with (`litebox run`).
const LOW_RESERVE: &[u8] = b"WINEPRELOADRESERVE=400000-10000000";
/// A program whose segments end above this address needs the low range kept free.
const LOW_LIMIT: u64 = 0x70_0000;

/// One raw Linux call (Wine runs on Linux; the runtime's FS base is the host's here).
fn sys(nr: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
    let r: isize;
    // SAFETY: the callers pass arguments valid for the call: buffers they own, fds they own.
    unsafe {
        core::arch::asm!("syscall", inlateout("rax") nr as isize => r, in("rdi") a, in("rsi") b, in("rdx") c,
            in("r10") d, lateout("rcx") _, lateout("r11") _, options(nostack));
    }
    r
}

const READ: usize = 0;
const WRITE: usize = 1;
const OPEN: usize = 2;
const CLOSE: usize = 3;
const KILL: usize = 62;
const WAIT4: usize = 61;
const READLINK: usize = 89;
const PIPE2: usize = 293;
const O_CLOEXEC: usize = 0o2000000;

/// Whether the program at `path` (an image path) must load in the low range: an ELF
/// executable that is not position-independent with a segment ending above [`LOW_LIMIT`].
pub fn needs_low_range(os: &LibOs<WinHost>, path: &[u8]) -> bool {
    let Ok(r) = os.vfs.resolve(b"/", path, true) else { return false };
    let Some(node) = r.node else { return false };
    let mut head = [0u8; 64 + 56 * 16];
    let Ok(n) = os.vfs.read_at(&node, 0, &mut head) else { return false };
    let head = &head[..n];
    if n < 64 || &head[..4] != b"\x7fELF" || u16::from_le_bytes([head[16], head[17]]) != 2 {
        return false;
    }
    let phoff = u64::from_le_bytes(head[32..40].try_into().unwrap_or_default()) as usize;
    let phnum = u16::from_le_bytes([head[56], head[57]]) as usize;
    (0..phnum).any(|i| {
        let at = phoff + 56 * i;
        let Some(ph) = head.get(at..at + 56) else { return false };
        let kind = u32::from_le_bytes(ph[0..4].try_into().unwrap_or_default());
        let vaddr = u64::from_le_bytes(ph[16..24].try_into().unwrap_or_default());
        let memsz = u64::from_le_bytes(ph[40..48].try_into().unwrap_or_default());
        kind == 1 && vaddr.saturating_add(memsz) > LOW_LIMIT
    })
}

/// A whole small file of the Unix side (/proc/self/environ).
fn read_unix_file(path: &core::ffi::CStr) -> Vec<u8> {
    let fd = sys(OPEN, path.as_ptr() as usize, O_CLOEXEC, 0, 0);
    let mut out = Vec::new();
    if fd < 0 {
        return out;
    }
    let mut buf = [0u8; 4096];
    loop {
        let n = sys(READ, fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0);
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    sys(CLOSE, fd as usize, 0, 0, 0);
    out
}

/// The Wine loader this process was started by (its preloader's name without "-preloader").
fn loader() -> Option<Vec<u8>> {
    let mut buf = [0u8; 4096];
    let n = sys(READLINK, c"/proc/self/exe".as_ptr() as usize, buf.as_mut_ptr() as usize, buf.len() - 1, 0);
    if n <= 0 {
        return None;
    }
    let mut p = buf[..n as usize].to_vec();
    if p.ends_with(b"-preloader") {
        p.truncate(p.len() - b"-preloader".len());
    }
    Some(p)
}

/// What happens to one of the new process's standard descriptors.
enum Std {
    /// Our own Unix descriptor of that number, inherited as it is.
    Inherit,
    /// A Unix pipe: the new process gets `child`; a pump joins `ours` to the library OS's pipe.
    Pipe { child: i32, ours: i32, file: alloc::sync::Arc<OpenFile>, child_writes: bool },
    /// A Unix descriptor of its own (a file of the shared layer, opened by its Unix path),
    /// closed here once the new process has it.
    Own(i32),
    /// Nothing (the descriptor is closed or not passable): /dev/null.
    Null,
}

fn std_for(os: &LibOs<WinHost>, fd: i32) -> Std {
    let Ok(f) = os.fds.lock().get(fd) else { return Std::Null };
    match &f.kind {
        FileKind::Host(h) if h.0 == fd => Std::Inherit,
        // A file of the shared layer: the same file, opened again on the Unix side at the same
        // position (its own offset from there on).
        FileKind::Host(h) if crate::winfs::is_file(h.0) => {
            const O_WRONLY: usize = 1;
            const O_RDWR: usize = 2;
            const O_APPEND: usize = 0o2000;
            const LSEEK: usize = 8;
            let Some((path, append, pos)) = crate::winfs::unix_view(h.0) else { return Std::Null };
            let flags = match f.flags() & 3 {
                0 => 0,
                1 => O_WRONLY,
                _ => O_RDWR,
            } | if append { O_APPEND } else { 0 }
                | O_CLOEXEC;
            let u = sys(OPEN, path.as_ptr() as usize, flags, 0, 0);
            if u < 0 {
                return Std::Null;
            }
            sys(LSEEK, u as usize, pos as usize, 0, 0);
            Std::Own(u as i32)
        }
        FileKind::Obj(litebox_libos::kobj::Obj::Pipe(_)) => {
            let child_writes = f.flags() & 3 != 0;
            let mut fds = [0i32; 2];
            if sys(PIPE2, fds.as_mut_ptr() as usize, O_CLOEXEC, 0, 0) != 0 {
                return Std::Null;
            }
            let (child, ours) = if child_writes { (fds[1], fds[0]) } else { (fds[0], fds[1]) };
            Std::Pipe { child, ours, file: f.clone(), child_writes }
        }
        _ => Std::Null,
    }
}

/// NUL-terminated copies and the pointer array execve wants.
struct CStrings {
    _owned: Vec<Vec<u8>>,
    ptrs: Vec<usize>,
}

fn c_strings(items: Vec<Vec<u8>>) -> CStrings {
    let owned: Vec<Vec<u8>> = items
        .into_iter()
        .map(|mut v| {
            v.retain(|&b| b != 0);
            v.push(0);
            v
        })
        .collect();
    let mut ptrs: Vec<usize> = owned.iter().map(|v| v.as_ptr() as usize).collect();
    ptrs.push(0);
    CStrings { _owned: owned, ptrs }
}

/// Starts the Wine loader for this executable (`exe`, its Windows path as UTF-8) with the
/// app's `argv` and the `LITEBOX_EXEC*` variables (`exec_vars`); returns the Unix pid.
pub fn start(os: &LibOs<WinHost>, exe: &[u8], argv: &[Vec<u8>], exec_vars: &[Vec<u8>]) -> Result<i32, Errno> {
    let loader = loader().ok_or(ENOENT)?;
    let mut env: Vec<Vec<u8>> = read_unix_file(c"/proc/self/environ")
        .split(|&b| b == 0)
        .filter(|e| {
            !e.is_empty()
                && !e.starts_with(b"WINESERVERSOCKET=")
                && !e.starts_with(b"WINELOADERNOEXEC=")
                && !e.starts_with(b"WINEPRELOADRESERVE=")
                && !e.starts_with(b"LITEBOX_EXEC")
                && !e.starts_with(b"LITEBOX_LAYER=")
                && !e.starts_with(b"LITEBOX_JOB=")
        })
        .map(<[u8]>::to_vec)
        .collect();
    env.push(LOW_RESERVE.to_vec());
    env.extend(exec_vars.iter().cloned());
    let mut args = alloc::vec![loader.clone(), exe.to_vec()];
    args.extend(argv.iter().cloned());
    let (path, args, env) = (c_strings(alloc::vec![loader]), c_strings(args), c_strings(env));
    let stds = [std_for(os, 0), std_for(os, 1), std_for(os, 2)];
    let null = sys(OPEN, c"/dev/null".as_ptr() as usize, 2 | O_CLOEXEC, 0, 0);
    let plan: [usize; 6] = {
        let src = |k: usize| match &stds[k] {
            Std::Inherit => k as isize,
            Std::Pipe { child, .. } => *child as isize,
            Std::Own(fd) => *fd as isize,
            Std::Null => null,
        };
        [
            src(0) as usize,
            src(1) as usize,
            src(2) as usize,
            path.ptrs[0],
            args.ptrs.as_ptr() as usize,
            env.ptrs.as_ptr() as usize,
        ]
    };
    let pid: isize;
    // SAFETY: vfork: the child shares this memory and stack and runs only the instructions
    // below (dup2 of the three descriptors, execve of the loader, exit 127 if that fails),
    // using no stack; the parent resumes once the child has exec'd or exited. `plan` and
    // the strings it points to outlive the call.
    unsafe {
        core::arch::asm!(
            "mov eax, 58",
            "syscall",
            "test rax, rax",
            "jnz 3f",
            "mov rdi, [r12]", "xor esi, esi", "mov eax, 33", "syscall",
            "mov rdi, [r12 + 8]", "mov esi, 1", "mov eax, 33", "syscall",
            "mov rdi, [r12 + 16]", "mov esi, 2", "mov eax, 33", "syscall",
            "mov rdi, [r12 + 24]", "mov rsi, [r12 + 32]", "mov rdx, [r12 + 40]", "mov eax, 59", "syscall",
            "mov edi, 127", "mov eax, 60", "syscall",
            "3:",
            in("r12") plan.as_ptr(),
            lateout("rax") pid, lateout("rdi") _, lateout("rsi") _, lateout("rdx") _,
            lateout("rcx") _, lateout("r11") _,
        );
    }
    if null >= 0 {
        sys(CLOSE, null as usize, 0, 0, 0);
    }
    for s in stds {
        if let Std::Own(fd) = s {
            sys(CLOSE, fd as usize, 0, 0, 0);
        }
        if let Std::Pipe { child, ours, file, child_writes } = s {
            sys(CLOSE, child as usize, 0, 0, 0);
            if pid < 0 {
                sys(CLOSE, ours as usize, 0, 0, 0);
                continue;
            }
            let arg =
                alloc::boxed::Box::into_raw(alloc::boxed::Box::new(Pump { file, fd: ours, child_writes })) as usize;
            // SAFETY: the thread takes the box.
            let h = unsafe { win::CreateThread(0, 256 * 1024, pump, arg, 0, core::ptr::null_mut()) };
            if h == 0 {
                // SAFETY: the thread did not start: the box is ours again.
                drop(unsafe { alloc::boxed::Box::from_raw(arg as *mut Pump) });
            } else {
                // SAFETY: the thread runs on without our handle.
                unsafe { win::CloseHandle(h) };
            }
        }
    }
    if pid < 0 {
        return Err(-pid as Errno);
    }
    Ok(pid as i32)
}

struct Pump {
    file: alloc::sync::Arc<OpenFile>,
    fd: i32,
    child_writes: bool,
}

/// Joins a Unix pipe end to a library OS pipe until either side ends.
extern "system" fn pump(arg: usize) -> u32 {
    // SAFETY: `arg` is the Box<Pump> leaked for this thread.
    let p = unsafe { alloc::boxed::Box::from_raw(arg as *mut Pump) };
    crate::fastpath::set_current(crate::fastpath::ThreadData::new(0, 0));
    crate::fastpath::current().sigmask.store(usize::MAX, Ordering::Relaxed);
    let os = crate::os();
    let FileKind::Obj(obj) = &p.file.kind else { return 0 };
    let mut buf = alloc::vec![0u8; 65536];
    loop {
        if p.child_writes {
            let n = sys(READ, p.fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0);
            if n == -4 {
                continue; // EINTR
            }
            if n <= 0 {
                break;
            }
            let n = n as usize;
            let mut done = 0;
            while done < n {
                match obj.write(&os.platform, &buf[done..n], false, &|| {}) {
                    Ok(k) if k > 0 => done += k,
                    _ => break,
                }
            }
            if done < n {
                break;
            }
        } else {
            let n = match obj.read(&os.platform, &mut buf, false) {
                Ok(n) if n > 0 => n,
                _ => break,
            };
            let mut done = 0;
            while done < n {
                let k = sys(WRITE, p.fd as usize, buf[done..].as_ptr() as usize, n - done, 0);
                if k == -4 {
                    continue;
                }
                if k <= 0 {
                    break;
                }
                done += k as usize;
            }
            if done < n {
                break;
            }
        }
    }
    sys(CLOSE, p.fd as usize, 0, 0, 0);
    drop(p);
    litebox_libos::Platform::wake_all(&os.platform);
    0
}

/// Waits for the Unix process `pid` (polling every `poll_ms` for a signal `pending` yields,
/// which ends it); returns its Linux wait status (a death by the app's signal N as N).
pub fn wait(pid: i32, poll_ms: u32, mut pending: impl FnMut() -> Option<usize>) -> i32 {
    let mut sent: Option<usize> = None;
    loop {
        let mut status = 0i32;
        let r = sys(WAIT4, pid as usize, &mut status as *mut i32 as usize, 1, 0); // WNOHANG
        if r == pid as isize {
            let signaled = status & 0x7f;
            return match sent {
                Some(s) if signaled != 0 => s as i32,
                _ => status,
            };
        }
        if r < 0 && r != -4 {
            return 127 << 8;
        }
        if let Some(s) = pending() {
            sent = Some(s);
            sys(KILL, pid as usize, 9, 0, 0);
        }
        // SAFETY: no preconditions.
        unsafe { win::Sleep(poll_ms) };
    }
}
