//! The writable layer shared by every instance of one sandbox ([`HostDirOps`] over the Win32
//! file API): a host directory `%TEMP%\litebox-layer-PID-RANDOM` that the first instance
//! creates and removes when it ends, whose path every instance it starts finds in
//! `LITEBOX_LAYER` (spawn.rs and wineexec.rs pass this process's environment on). The library
//! OS's vfs layers it over the image as it does linux-userland's `/upper` (whiteouts, opaque
//! directories and copy-up are the core's); this file only stores names, bytes and modes.
//!
//! Linux names are not Windows names (case, `:*?"<>|\`, trailing dots, device names such as
//! `con`), so each component is escaped: `a`-`z`, `0`-`9`, `-` and `.` (not last) stay, every
//! other byte is `_hh` (lowercase hex), and a name whose base is a device name has its first
//! byte escaped. What Windows files cannot hold lives in sidecar names that no escaped name can
//! be (`_` followed by a byte that is not a hex digit): a symlink NAME is the file `_sNAME`
//! holding its target; a mode other than the default (0644 files, 0755 directories) is the
//! file `_mNAME` holding it (4 bytes). An unlinked file is first renamed into `_trash` (so its
//! name is free at once, as on Linux, while it stays open) and then deleted, which Windows
//! completes when its last handle closes. `_lock` is held open by every instance without
//! delete sharing: a layer whose `_lock` can be deleted belongs to no live instance, and the
//! next first instance removes it (after a crash, when nothing ran the clean-up).
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use litebox_libos::abi::Stat;
use litebox_libos::errno::*;
use litebox_libos::fs::hostdir::{HostDirOps, UpperLookup};
use litebox_libos::fs::{DirEntry, NodeKind};
use litebox_libos::sync::SpinMutex;

use crate::win::{self, HANDLE};

/// The environment variable that names the layer's directory for the instances an app starts.
pub const LAYER_VAR: &[u8] = b"LITEBOX_LAYER";
/// The first host descriptor number of an open file of the layer (below winsock's).
pub const FIRST_FD: i32 = 100;
/// Files of the layer open at once in one instance.
const MAX_FILES: usize = (crate::winsock::FIRST_FD - FIRST_FD) as usize;
/// Name prefix of layer directories under the temp directory (only these are ever collected).
const PREFIX: &str = "litebox-layer-";

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const O_CREAT: u32 = 0o100;
const O_EXCL: u32 = 0o200;
const O_TRUNC: u32 = 0o1000;
const O_APPEND: u32 = 0o2000;
/// 100 ns intervals between 1601-01-01 (FILETIME) and 1970-01-01 (Unix).
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;
/// Size of WIN32_FIND_DATAW and the offset of its cFileName.
const FIND_DATA: usize = 592;
const FIND_NAME: usize = 44;

struct OpenFile {
    handle: HANDLE,
    /// The Linux mode (type and permission bits) fstat reports.
    mode: u32,
    /// Opened with O_APPEND (the handle writes only at the end).
    append: bool,
}

/// Open files of the layer, by host descriptor - FIRST_FD.
static FILES: SpinMutex<Vec<Option<OpenFile>>> = SpinMutex::new(Vec::new());
/// The layer directory, `\\?\`-prefixed, without a trailing backslash or NUL.
static ROOT: SpinMutex<Vec<u16>> = SpinMutex::new(Vec::new());
/// This instance's handle of `_lock`.
static LOCK: AtomicUsize = AtomicUsize::new(0);
/// Whether this instance created the layer (and so removes it when it ends).
static OWNER: AtomicBool = AtomicBool::new(false);
/// Names for unlinked files in `_trash`.
static TRASH_SEQ: AtomicUsize = AtomicUsize::new(0);

/// The layer as the library OS reaches it.
pub struct Layer;

/// The library OS's operations on the layer, once [`attach`] succeeded.
pub static LAYER: Layer = Layer;

fn wide(s: &str) -> impl Iterator<Item = u16> + '_ {
    s.encode_utf16()
}

fn hex(b: u8) -> u16 {
    u16::from(b"0123456789abcdef"[usize::from(b & 15)])
}

fn is_device_name(base: &[u16]) -> bool {
    let b: Vec<u8> = base.iter().map(|&c| c as u8).collect();
    matches!(&b[..], b"con" | b"prn" | b"aux" | b"nul")
        || (b.len() == 4 && (b.starts_with(b"com") || b.starts_with(b"lpt")) && b[3].is_ascii_digit())
}

/// Appends the Windows spelling of the Linux name `name` (one component) to `out`.
fn escape(name: &[u8], out: &mut Vec<u16>) {
    let start = out.len();
    for (i, &b) in name.iter().enumerate() {
        let plain = b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (b == b'.' && i + 1 < name.len());
        if plain {
            out.push(u16::from(b));
        } else {
            out.extend([u16::from(b'_'), hex(b >> 4), hex(b)]);
        }
    }
    let base_end = out[start..].iter().position(|&c| c == u16::from(b'.')).map_or(out.len(), |i| start + i);
    if is_device_name(&out[start..base_end]) {
        let first = out[start] as u8;
        out.splice(start..start + 1, [u16::from(b'_'), hex(first >> 4), hex(first)]);
    }
}

fn hex_value(c: u16) -> Option<u8> {
    match c {
        0x30..=0x39 => Some((c - 0x30) as u8),
        0x61..=0x66 => Some((c - 0x61 + 10) as u8),
        _ => None,
    }
}

/// The Linux name of a host name made by [`escape`]; None for anything else (sidecars,
/// `_lock`, `_trash`, names other programs left there).
fn unescape(host: &[u16]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(host.len());
    let mut i = 0;
    while i < host.len() {
        let c = host[i];
        if c == u16::from(b'_') {
            let hi = hex_value(*host.get(i + 1)?)?;
            let lo = hex_value(*host.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            if c > 0x7f {
                return None;
            }
            out.push(c as u8);
            i += 1;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The NUL-terminated host path of `rel` (a normalized relative path; empty: the layer
/// itself), its last component with `sidecar` (b"", b"_s" or b"_m") before it.
fn host_path(rel: &[u8], sidecar: &[u8]) -> Result<Vec<u16>, Errno> {
    let mut p = ROOT.lock().clone();
    if p.is_empty() {
        return Err(ENOENT);
    }
    if !rel.is_empty() {
        let comps: Vec<&[u8]> = rel.split(|&b| b == b'/').collect();
        for (i, c) in comps.iter().enumerate() {
            p.push(u16::from(b'\\'));
            let at = p.len();
            if i + 1 == comps.len() {
                p.extend(sidecar.iter().map(|&b| u16::from(b)));
            }
            escape(c, &mut p);
            if p.len() - at > 255 {
                return Err(ENAMETOOLONG);
            }
        }
    }
    p.push(0);
    Ok(p)
}

/// A path below the layer directory for its own files (`_lock`, `_trash\...`).
fn own_path(tail: &str) -> Vec<u16> {
    let mut p = ROOT.lock().clone();
    p.push(u16::from(b'\\'));
    p.extend(wide(tail));
    p.push(0);
    p
}

fn last_error() -> u32 {
    // SAFETY: no preconditions.
    unsafe { win::GetLastError() }
}

/// The Linux errno for a Win32 error code of a file call.
fn errno_of(code: u32) -> Errno {
    match code {
        win::ERROR_FILE_NOT_FOUND | win::ERROR_PATH_NOT_FOUND => ENOENT,
        win::ERROR_ACCESS_DENIED => EACCES,
        win::ERROR_SHARING_VIOLATION => EBUSY,
        win::ERROR_FILE_EXISTS | win::ERROR_ALREADY_EXISTS => EEXIST,
        win::ERROR_DISK_FULL => ENOSPC,
        win::ERROR_DIR_NOT_EMPTY => ENOTEMPTY,
        win::ERROR_FILENAME_EXCED_RANGE => ENAMETOOLONG,
        win::ERROR_DIRECTORY => ENOTDIR,
        win::ERROR_INVALID_NAME => EINVAL,
        _ => EIO,
    }
}

fn create(path: &[u16], access: u32, disposition: u32, flags: u32) -> Result<HANDLE, u32> {
    // SAFETY: `path` is NUL-terminated; no security attributes or template.
    let h = unsafe { win::CreateFileW(path.as_ptr(), access, win::FILE_SHARE_ALL, 0, disposition, flags, 0) };
    if h == win::INVALID_HANDLE_VALUE {
        Err(last_error())
    } else {
        Ok(h)
    }
}

fn close_handle(h: HANDLE) {
    // SAFETY: a handle this module opened and forgets here.
    unsafe { win::CloseHandle(h) };
}

/// Opens `path` (file or directory) for its attributes only.
fn open_meta(path: &[u16]) -> Result<HANDLE, u32> {
    create(
        path,
        win::FILE_READ_ATTRIBUTES,
        win::OPEN_EXISTING,
        win::FILE_FLAG_BACKUP_SEMANTICS | win::FILE_FLAG_OPEN_REPARSE_POINT,
    )
}

fn exists(path: &[u16]) -> bool {
    open_meta(path).map(close_handle).is_ok()
}

fn time(ft: u64) -> (i64, i64) {
    let t = ft.saturating_sub(FILETIME_UNIX_EPOCH);
    ((t / 10_000_000) as i64, ((t % 10_000_000) * 100) as i64)
}

/// What GetFileInformationByHandle says of `h`, as a Stat without the permission bits.
fn stat_of(h: HANDLE) -> Result<Stat, Errno> {
    let mut info = [0u32; 13];
    // SAFETY: BY_HANDLE_FILE_INFORMATION is 13 u32s.
    if unsafe { win::GetFileInformationByHandle(h, info.as_mut_ptr()) } == 0 {
        return Err(errno_of(last_error()));
    }
    let ft = |i: usize| u64::from(info[i]) | u64::from(info[i + 1]) << 32;
    let size = (u64::from(info[8]) << 32 | u64::from(info[9])) as i64;
    let dir = info[0] & win::FILE_ATTRIBUTE_DIRECTORY != 0;
    let (atime, atime_nsec) = time(ft(3));
    let (mtime, mtime_nsec) = time(ft(5));
    let ino = u64::from(info[11]) << 32 | u64::from(info[12]);
    Ok(Stat {
        st_ino: if ino == 0 { 1 } else { ino },
        st_nlink: u64::from(info[10].max(1)),
        st_mode: if dir { S_IFDIR } else { S_IFREG },
        st_size: if dir { 4096 } else { size },
        st_blksize: 4096,
        st_blocks: (size + 511) / 512,
        st_atime: atime,
        st_atime_nsec: atime_nsec,
        st_mtime: mtime,
        st_mtime_nsec: mtime_nsec,
        st_ctime: mtime,
        st_ctime_nsec: mtime_nsec,
        ..Stat::default()
    })
}

/// A whole small file (a sidecar), or None.
fn read_small(path: &[u16]) -> Option<Vec<u8>> {
    let h = create(path, win::GENERIC_READ, win::OPEN_EXISTING, 0).ok()?;
    let mut buf = alloc::vec![0u8; 4096];
    let mut n = 0u32;
    // SAFETY: buf is writable for its length.
    let ok = unsafe { win::ReadFile(h, buf.as_mut_ptr(), buf.len() as u32, &mut n, 0) };
    close_handle(h);
    (ok != 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

/// Writes `data` as the whole content of `path` (`disposition`: CREATE_NEW or CREATE_ALWAYS).
fn write_small(path: &[u16], data: &[u8], disposition: u32) -> Result<(), Errno> {
    let h = create(path, win::GENERIC_WRITE, disposition, 0).map_err(errno_of)?;
    let mut n = 0u32;
    // SAFETY: data is readable for its length.
    let ok = unsafe { win::WriteFile(h, data.as_ptr(), data.len() as u32, &mut n, 0) };
    close_handle(h);
    if ok == 0 || n as usize != data.len() {
        return Err(ENOSPC);
    }
    Ok(())
}

fn delete(path: &[u16]) -> Result<(), u32> {
    // SAFETY: NUL-terminated path.
    if unsafe { win::DeleteFileW(path.as_ptr()) } == 0 {
        Err(last_error())
    } else {
        Ok(())
    }
}

fn move_to(from: &[u16], to: &[u16], flags: u32) -> Result<(), u32> {
    // SAFETY: NUL-terminated paths.
    if unsafe { win::MoveFileExW(from.as_ptr(), to.as_ptr(), flags) } == 0 {
        Err(last_error())
    } else {
        Ok(())
    }
}

fn remove_dir(path: &[u16]) -> Result<(), u32> {
    // SAFETY: NUL-terminated path.
    if unsafe { win::RemoveDirectoryW(path.as_ptr()) } == 0 {
        Err(last_error())
    } else {
        Ok(())
    }
}

/// The permission bits a node of this type has when no `_m` sidecar says otherwise.
fn default_mode(kind: u32) -> u32 {
    match kind {
        S_IFDIR => 0o755,
        S_IFLNK => 0o777,
        _ => 0o644,
    }
}

/// Records permission bits `mode` for the node `rel` of type `kind`.
fn set_mode(rel: &[u8], kind: u32, mode: u32) -> Result<(), Errno> {
    let m = host_path(rel, b"_m")?;
    if mode & 0o7777 == default_mode(kind) {
        let _ = delete(&m);
        Ok(())
    } else {
        write_small(&m, &(mode & 0o7777).to_le_bytes(), win::CREATE_ALWAYS)
    }
}

fn mode_of(rel: &[u8], kind: u32) -> u32 {
    host_path(rel, b"_m")
        .ok()
        .and_then(|m| read_small(&m))
        .and_then(|b| b.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .map_or(default_mode(kind), |m| m & 0o7777)
}

/// lstat of `rel`, or the Win32 error of looking up its plain name.
fn lstat_raw(rel: &[u8]) -> Result<Stat, u32> {
    let p = host_path(rel, b"").map_err(|_| win::ERROR_INVALID_NAME)?;
    match open_meta(&p) {
        Ok(h) => {
            let st = stat_of(h);
            close_handle(h);
            let mut st = st.map_err(|_| win::ERROR_ACCESS_DENIED)?;
            st.st_mode |= mode_of(rel, st.st_mode);
            Ok(st)
        }
        Err(code) if rel.is_empty() => Err(code),
        Err(code) => {
            let s = host_path(rel, b"_s").map_err(|_| win::ERROR_INVALID_NAME)?;
            let h = open_meta(&s).map_err(|_| code)?;
            let st = stat_of(h);
            close_handle(h);
            let mut st = st.map_err(|_| code)?;
            st.st_mode = S_IFLNK | mode_of(rel, S_IFLNK);
            Ok(st)
        }
    }
}

/// The type of the node at `rel` (S_IFDIR, S_IFREG, S_IFLNK), or ENOENT.
fn kind_at(rel: &[u8]) -> Result<u32, Errno> {
    lstat_raw(rel).map(|st| st.st_mode & 0o170000).map_err(errno_of)
}

/// Takes the name `rel` (a regular file) away at once, even while the file is open: renamed
/// into `_trash`, then deleted (Windows deletes it when its last handle closes).
fn remove_file(rel: &[u8]) -> Result<(), Errno> {
    let p = host_path(rel, b"")?;
    let seq = TRASH_SEQ.fetch_add(1, Ordering::Relaxed);
    // SAFETY: no preconditions.
    let pid = unsafe { win::GetCurrentProcessId() };
    let trash = own_path(&alloc::format!("_trash\\{pid}-{seq}"));
    match move_to(&p, &trash, 0) {
        Ok(()) => {
            let _ = delete(&trash);
        }
        Err(_) => delete(&p).map_err(errno_of)?,
    }
    if let Ok(m) = host_path(rel, b"_m") {
        let _ = delete(&m);
    }
    Ok(())
}

fn register(handle: HANDLE, mode: u32, append: bool) -> Result<i32, Errno> {
    let mut t = FILES.lock();
    let slot = OpenFile { handle, mode, append };
    let i = match t.iter().position(Option::is_none) {
        Some(i) => {
            t[i] = Some(slot);
            i
        }
        None if t.len() < MAX_FILES => {
            t.push(Some(slot));
            t.len() - 1
        }
        None => {
            drop(t);
            close_handle(handle);
            return Err(ENFILE);
        }
    };
    Ok(FIRST_FD + i as i32)
}

/// Whether host descriptor `fd` is an open file of the layer.
pub fn is_file(fd: i32) -> bool {
    handle(fd).is_some()
}

/// The Windows handle of the layer's open file `fd`.
pub fn handle(fd: i32) -> Option<HANDLE> {
    let i = usize::try_from(fd.checked_sub(FIRST_FD)?).ok()?;
    FILES.lock().get(i).and_then(|s| s.as_ref().map(|s| s.handle))
}

/// Closes the layer's open file `fd` (nothing for other descriptors).
pub fn close_fd(fd: i32) {
    let Some(i) = fd.checked_sub(FIRST_FD).and_then(|i| usize::try_from(i).ok()) else { return };
    let slot = FILES.lock().get_mut(i).and_then(Option::take);
    if let Some(s) = slot {
        close_handle(s.handle);
    }
}

/// fstat of the layer's open file `fd`.
pub fn fstat(fd: i32) -> Result<Stat, Errno> {
    let i = usize::try_from(fd - FIRST_FD).map_err(|_| EBADF)?;
    let (h, mode) = FILES.lock().get(i).and_then(|s| s.as_ref().map(|s| (s.handle, s.mode))).ok_or(EBADF)?;
    let mut st = stat_of(h)?;
    st.st_mode = mode;
    Ok(st)
}

/// Under Wine: the Unix path of the layer's open file `fd` (NUL-terminated), whether it was
/// opened for appending, and its position, for a program started as a Unix process
/// (wineexec.rs) that gets it as a standard stream.
pub fn unix_view(fd: i32) -> Option<(Vec<u8>, bool, u64)> {
    type UnixName = unsafe extern "system" fn(*const u16) -> *mut u8;
    let i = usize::try_from(fd.checked_sub(FIRST_FD)?).ok()?;
    let (h, append) = FILES.lock().get(i).and_then(|s| s.as_ref().map(|s| (s.handle, s.append)))?;
    let mut name = alloc::vec![0u16; 1024];
    // SAFETY: `name` is writable for its length.
    let n = unsafe { win::GetFinalPathNameByHandleW(h, name.as_mut_ptr(), name.len() as u32 - 1, 0) } as usize;
    if n == 0 || n >= name.len() {
        return None;
    }
    name.truncate(n);
    name.push(0);
    let kernel32 = utf16_z(b"kernel32.dll");
    // SAFETY: NUL-terminated names; the export, where it exists, has this signature (Wine's
    // kernel32: the Unix name of a DOS path, allocated on the process heap, or NULL).
    let unix = unsafe {
        let f =
            win::GetProcAddress(win::GetModuleHandleW(kernel32.as_ptr()), c"wine_get_unix_file_name".as_ptr().cast());
        if f == 0 {
            return None;
        }
        core::mem::transmute::<usize, UnixName>(f)(name.as_ptr())
    };
    if unix.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string Wine allocated for us; freed here after the copy.
    let path = unsafe {
        let c = core::ffi::CStr::from_ptr(unix.cast());
        let v = c.to_bytes_with_nul().to_vec();
        win::HeapFree(win::GetProcessHeap(), 0, unix as usize);
        v
    };
    let mut pos = 0i64;
    // SAFETY: writes one i64.
    unsafe { win::SetFilePointerEx(h, 0, &mut pos, 1) };
    Some((path, append, pos as u64))
}

/// Reads the layer's open file `fd` at `off` (its position unchanged), as pread.
pub fn pread(fd: i32, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    at_offset(fd, off, buf.as_mut_ptr(), buf.len(), false)
}

/// Sets the end of the layer's open file `fd` to `len` (its position unchanged).
pub fn ftruncate(fd: i32, len: u64) -> Result<(), Errno> {
    let h = handle(fd).ok_or(EBADF)?;
    set_end(h, len)
}

fn set_end(h: HANDLE, len: u64) -> Result<(), Errno> {
    let mut cur = 0i64;
    // SAFETY: each call writes one i64 at most; the handle is open.
    unsafe {
        if win::SetFilePointerEx(h, 0, &mut cur, 1) == 0
            || win::SetFilePointerEx(h, len as i64, core::ptr::null_mut(), 0) == 0
        {
            return Err(EINVAL);
        }
        let ok = win::SetEndOfFile(h);
        let code = win::GetLastError();
        win::SetFilePointerEx(h, cur, core::ptr::null_mut(), 0);
        if ok == 0 {
            return Err(if code == win::ERROR_ACCESS_DENIED { EINVAL } else { errno_of(code) });
        }
    }
    Ok(())
}

/// ReadFile or WriteFile at `off`, the handle's own position kept (as pread/pwrite).
fn at_offset(fd: i32, off: u64, buf: *mut u8, len: usize, write: bool) -> Result<usize, Errno> {
    let h = handle(fd).ok_or(EBADF)?;
    let mut cur = 0i64;
    // SAFETY: writes one i64.
    unsafe { win::SetFilePointerEx(h, 0, &mut cur, 1) };
    // OVERLAPPED: Internal, InternalHigh, Offset, OffsetHigh, hEvent.
    let mut ov = [0u32; 8];
    ov[4] = off as u32;
    ov[5] = (off >> 32) as u32;
    let mut n = 0u32;
    let len = len.min(1 << 30) as u32;
    // SAFETY: the caller's buffer is valid for `len` bytes; `ov` outlives the synchronous call.
    let ok = unsafe {
        if write {
            win::WriteFile(h, buf, len, &mut n, ov.as_mut_ptr() as usize)
        } else {
            win::ReadFile(h, buf, len, &mut n, ov.as_mut_ptr() as usize)
        }
    };
    let code = last_error();
    // SAFETY: puts the position back.
    unsafe { win::SetFilePointerEx(h, cur, core::ptr::null_mut(), 0) };
    if ok == 0 {
        return match code {
            win::ERROR_HANDLE_EOF => Ok(0),
            win::ERROR_ACCESS_DENIED => Err(EBADF),
            win::ERROR_DISK_FULL => Err(ENOSPC),
            _ => Err(EIO),
        };
    }
    Ok(n as usize)
}

/// The entries of one FindFirstFileW search (`pattern` NUL-terminated): (name, attributes),
/// without "." and "..".
fn find(pattern: &[u16]) -> Result<Vec<(Vec<u16>, u32)>, u32> {
    let mut data = [0u8; FIND_DATA];
    // SAFETY: `data` is a WIN32_FIND_DATAW; the pattern is NUL-terminated.
    let h = unsafe { win::FindFirstFileW(pattern.as_ptr(), data.as_mut_ptr()) };
    if h == win::INVALID_HANDLE_VALUE {
        return Err(last_error());
    }
    let mut out = Vec::new();
    loop {
        let attrs = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        let name: Vec<u16> = data[FIND_NAME..FIND_NAME + 520]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&c| c != 0)
            .collect();
        if name != [0x2e] && name != [0x2e, 0x2e] {
            out.push((name, attrs));
        }
        // SAFETY: as above.
        if unsafe { win::FindNextFileW(h, data.as_mut_ptr()) } == 0 {
            break;
        }
    }
    // SAFETY: the search handle is ours.
    unsafe { win::FindClose(h) };
    Ok(out)
}

fn is_dir_attr(attrs: u32) -> bool {
    attrs & win::FILE_ATTRIBUTE_DIRECTORY != 0
}

impl HostDirOps for Layer {
    fn lstat(&self, _dir: usize, rel: &[u8]) -> Result<Stat, Errno> {
        lstat_raw(rel).map_err(errno_of)
    }

    fn open(&self, _dir: usize, rel: &[u8], flags: u32, mode: u32) -> Result<i32, Errno> {
        // O_TMPFILE (its __O_TMPFILE bit): no unnamed files here; the library OS keeps them in
        // memory instead (`Vfs::host_tmpfile`).
        if flags & 0o20000000 != 0 {
            return Err(EOPNOTSUPP);
        }
        let p = host_path(rel, b"")?;
        let acc = flags & 3;
        let mut access = match acc {
            0 => win::GENERIC_READ,
            1 => win::GENERIC_WRITE,
            _ => win::GENERIC_READ | win::GENERIC_WRITE,
        };
        if flags & O_APPEND != 0 && acc != 0 {
            // Without FILE_WRITE_DATA every write goes to the end (as Linux's O_APPEND), in
            // every process this handle is passed on to.
            access = if acc == 2 { win::GENERIC_READ } else { 0 }
                | win::FILE_APPEND_DATA
                | win::FILE_READ_ATTRIBUTES
                | win::FILE_WRITE_ATTRIBUTES
                | win::SYNCHRONIZE;
        }
        let disposition = match (flags & O_CREAT != 0, flags & O_EXCL != 0) {
            (true, true) => win::CREATE_NEW,
            (true, false) => win::OPEN_ALWAYS,
            _ => win::OPEN_EXISTING,
        };
        if flags & O_CREAT != 0 && host_path(rel, b"_s").is_ok_and(|s| exists(&s)) {
            return Err(EEXIST);
        }
        let h = match create(&p, access, disposition, 0) {
            Ok(h) => h,
            Err(win::ERROR_ACCESS_DENIED) if kind_at(rel) == Ok(S_IFDIR) => return Err(EISDIR),
            Err(code) => return Err(errno_of(code)),
        };
        // OPEN_ALWAYS says ERROR_ALREADY_EXISTS when the file was there.
        let created = disposition == win::CREATE_NEW || (disposition == win::OPEN_ALWAYS && last_error() == 0);
        let perm = if created {
            let _ = set_mode(rel, S_IFREG, mode);
            mode & 0o7777
        } else {
            mode_of(rel, S_IFREG)
        };
        if flags & O_TRUNC != 0 && acc != 0 && !created {
            match create(&p, win::GENERIC_WRITE, win::TRUNCATE_EXISTING, 0) {
                Ok(t) => close_handle(t),
                Err(code) => {
                    close_handle(h);
                    return Err(errno_of(code));
                }
            }
        }
        register(h, S_IFREG | perm, flags & O_APPEND != 0 && acc != 0)
    }

    fn mkdir(&self, _dir: usize, rel: &[u8], mode: u32) -> Result<(), Errno> {
        let p = host_path(rel, b"")?;
        if host_path(rel, b"_s").is_ok_and(|s| exists(&s)) {
            return Err(EEXIST);
        }
        // SAFETY: NUL-terminated path, default security.
        if unsafe { win::CreateDirectoryW(p.as_ptr(), 0) } == 0 {
            return Err(errno_of(last_error()));
        }
        set_mode(rel, S_IFDIR, mode)
    }

    fn symlink(&self, _dir: usize, target: &[u8], rel: &[u8]) -> Result<(), Errno> {
        if lstat_raw(rel).is_ok() {
            return Err(EEXIST);
        }
        write_small(&host_path(rel, b"_s")?, target, win::CREATE_NEW)?;
        let _ = delete(&host_path(rel, b"_m")?);
        Ok(())
    }

    fn readlink(&self, _dir: usize, rel: &[u8]) -> Result<Vec<u8>, Errno> {
        match read_small(&host_path(rel, b"_s")?) {
            Some(t) => Ok(t),
            None if lstat_raw(rel).is_ok() => Err(EINVAL),
            None => Err(ENOENT),
        }
    }

    fn unlink(&self, _dir: usize, rel: &[u8], is_dir: bool) -> Result<(), Errno> {
        match (kind_at(rel)?, is_dir) {
            (S_IFDIR, true) => {
                remove_dir(&host_path(rel, b"")?).map_err(errno_of)?;
                let _ = delete(&host_path(rel, b"_m")?);
                Ok(())
            }
            (S_IFDIR, false) => Err(EISDIR),
            (_, true) => Err(ENOTDIR),
            (S_IFLNK, false) => {
                delete(&host_path(rel, b"_s")?).map_err(errno_of)?;
                let _ = delete(&host_path(rel, b"_m")?);
                Ok(())
            }
            _ => remove_file(rel),
        }
    }

    fn rename(&self, _dir: usize, from: &[u8], to: &[u8]) -> Result<(), Errno> {
        let kind = kind_at(from)?;
        if from == to {
            return Ok(());
        }
        match (kind, kind_at(to)) {
            (_, Err(ENOENT)) => {}
            (_, Err(e)) => return Err(e),
            (S_IFDIR, Ok(S_IFDIR)) => remove_dir(&host_path(to, b"")?).map_err(errno_of)?,
            (S_IFDIR, Ok(_)) => return Err(ENOTDIR),
            (_, Ok(S_IFDIR)) => return Err(EISDIR),
            (_, Ok(S_IFLNK)) => delete(&host_path(to, b"_s")?).map_err(errno_of)?,
            // Replaced while it may be open elsewhere: its name goes first (remove_file).
            (_, Ok(_)) => remove_file(to)?,
        }
        let side: &[u8] = if kind == S_IFLNK { b"_s" } else { b"" };
        move_to(&host_path(from, side)?, &host_path(to, side)?, 0).map_err(errno_of)?;
        let (mf, mt) = (host_path(from, b"_m")?, host_path(to, b"_m")?);
        let _ = delete(&mt);
        let _ = move_to(&mf, &mt, 0);
        Ok(())
    }

    fn list(&self, _dir: usize, rel: &[u8]) -> Result<Vec<DirEntry>, Errno> {
        let mut pattern = host_path(rel, b"")?;
        pattern.pop();
        pattern.extend(wide("\\*"));
        pattern.push(0);
        let mut out = Vec::new();
        for (name, attrs) in find(&pattern).map_err(errno_of)? {
            let entry = match name.get(..2) {
                Some([0x5f, 0x73]) => unescape(&name[2..]).map(|n| (n, NodeKind::Symlink)),
                _ => unescape(&name).map(|n| (n, if is_dir_attr(attrs) { NodeKind::Dir } else { NodeKind::File })),
            };
            if let Some((name, kind)) = entry {
                // FNV-1a of the name: stable, never 0 (readdir's d_ino; stat has the real one).
                let ino = name
                    .iter()
                    .fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
                out.push(DirEntry { name, ino: ino | 1, kind });
            }
        }
        Ok(out)
    }

    fn chmod(&self, _dir: usize, rel: &[u8], mode: u32) -> Result<(), Errno> {
        let kind = kind_at(rel)?;
        set_mode(rel, kind, mode)
    }

    fn pread(&self, fd: i32, off: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        at_offset(fd, off, buf.as_mut_ptr(), buf.len(), false)
    }

    fn pwrite(&self, fd: i32, off: u64, buf: &[u8]) -> Result<usize, Errno> {
        at_offset(fd, off, buf.as_ptr() as *mut u8, buf.len(), true)
    }

    fn close(&self, fd: i32) {
        close_fd(fd);
    }

    fn truncate(&self, _dir: usize, rel: &[u8], len: u64) -> Result<(), Errno> {
        let p = host_path(rel, b"")?;
        let h = match create(&p, win::GENERIC_WRITE, win::OPEN_EXISTING, 0) {
            Ok(h) => h,
            Err(win::ERROR_ACCESS_DENIED) if kind_at(rel) == Ok(S_IFDIR) => return Err(EISDIR),
            Err(code) => return Err(errno_of(code)),
        };
        let r = set_end(h, len);
        close_handle(h);
        r
    }

    fn lookup_upper(&self, rel: &[u8]) -> UpperLookup {
        match lstat_raw(rel) {
            Ok(st) => return UpperLookup::Found(st),
            // The parent is not in the layer: nothing there hides the image's entry.
            Err(win::ERROR_PATH_NOT_FOUND) => return UpperLookup::Absent,
            Err(_) => {}
        }
        let (parent, name) = match rel.iter().rposition(|&b| b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&b""[..], rel),
        };
        let join = |n: &[u8]| {
            let mut v = parent.to_vec();
            if !v.is_empty() {
                v.push(b'/');
            }
            v.extend_from_slice(n);
            v
        };
        let here = |r: &[u8]| host_path(r, b"").is_ok_and(|p| exists(&p));
        if here(&join(&[&b".wh."[..], name].concat())) || here(&join(b".wh..wh..opq")) {
            UpperLookup::Hidden
        } else {
            UpperLookup::Absent
        }
    }
}

fn utf16_z(s: &[u8]) -> Vec<u16> {
    let mut v: Vec<u16> = core::str::from_utf8(s)
        .map_or_else(|_| s.iter().map(|&b| u16::from(b)).collect(), |t| t.encode_utf16().collect());
    v.push(0);
    v
}

/// Removes everything below the directory `dir` (a path without NUL) and the directory.
/// Best effort.
fn remove_tree(dir: &[u16]) {
    let mut pattern = dir.to_vec();
    pattern.extend(wide("\\*"));
    pattern.push(0);
    for (name, attrs) in find(&pattern).unwrap_or_default() {
        let mut p = dir.to_vec();
        p.push(u16::from(b'\\'));
        p.extend_from_slice(&name);
        if is_dir_attr(attrs) {
            remove_tree(&p);
        } else {
            p.push(0);
            let _ = delete(&p);
        }
    }
    let mut p = dir.to_vec();
    p.push(0);
    let _ = remove_dir(&p);
}

/// The temp directory as a `\\?\` path with a trailing backslash.
fn temp_dir() -> Option<Vec<u16>> {
    let mut buf = [0u16; 512];
    // SAFETY: buf is writable for its length.
    let n = unsafe { win::GetTempPathW(buf.len() as u32, buf.as_mut_ptr()) } as usize;
    if n == 0 || n >= buf.len() {
        return None;
    }
    let mut p: Vec<u16> = wide("\\\\?\\").collect();
    if buf[..n].starts_with(&p) {
        p.clear();
    }
    p.extend_from_slice(&buf[..n]);
    if p.last() != Some(&u16::from(b'\\')) {
        p.push(u16::from(b'\\'));
    }
    Some(p)
}

/// Removes the layers of earlier sandboxes that no live instance holds (their first instance
/// was killed before it could clean up).
fn collect_garbage(temp: &[u16]) {
    let prefix: Vec<u16> = wide(PREFIX).collect();
    let mut pattern = temp.to_vec();
    pattern.extend_from_slice(&prefix);
    pattern.push(u16::from(b'*'));
    pattern.push(0);
    for (name, attrs) in find(&pattern).unwrap_or_default() {
        if !is_dir_attr(attrs) || !name.starts_with(&prefix) {
            continue;
        }
        let mut dir = temp.to_vec();
        dir.extend_from_slice(&name);
        let mut lock = dir.clone();
        lock.extend(wide("\\_lock"));
        lock.push(0);
        // Deletable only when no instance holds it open.
        if delete(&lock).is_ok() {
            remove_tree(&dir);
        }
    }
}

/// Holds the layer's `_lock` open (read and write sharing only: nobody can delete it while
/// this process lives).
fn hold_lock() -> bool {
    let p = own_path("_lock");
    // SAFETY: NUL-terminated path; no security attributes or template.
    let h = unsafe {
        win::CreateFileW(p.as_ptr(), win::GENERIC_READ, win::FILE_SHARE_READ_WRITE, 0, win::OPEN_ALWAYS, 0, 0)
    };
    if h == win::INVALID_HANDLE_VALUE {
        return false;
    }
    LOCK.store(h, Ordering::Relaxed);
    true
}

/// Creates the directory `p` (NUL-terminated) with a Low mandatory label inherited by what is
/// made inside, so the app can still write there once its token is Low (confine.rs). Falls
/// back to default security.
fn create_layer_dir(p: &[u16]) -> bool {
    let sddl = utf16_z(b"S:(ML;OICI;NW;;;LW)");
    let mut sd = 0usize;
    // SAFETY: NUL-terminated string; writes one pointer, freed with LocalFree below.
    let have_sd = unsafe {
        win::ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl.as_ptr(), 1, &mut sd, core::ptr::null_mut())
    } != 0;
    // SECURITY_ATTRIBUTES: nLength, lpSecurityDescriptor, bInheritHandle.
    let sa: [usize; 3] = [24, sd, 0];
    let with = if have_sd { sa.as_ptr() as usize } else { 0 };
    // SAFETY: NUL-terminated path; `sa` lives across the calls.
    let ok = unsafe {
        win::CreateDirectoryW(p.as_ptr(), with) != 0 || (have_sd && win::CreateDirectoryW(p.as_ptr(), 0) != 0)
    };
    if have_sd {
        // SAFETY: allocated by the conversion above.
        unsafe { win::LocalFree(sd) };
    }
    ok
}

/// Sets up the shared layer: an exec'd instance (`exec_child`) joins its parent's
/// (`LITEBOX_LAYER`); the first instance removes abandoned layers, creates a fresh one with an
/// unguessable name and names it in its own environment for the instances it starts. Err: no
/// layer (the writable layer then stays in this instance's memory), with the reason.
pub fn attach(host_env: &[Vec<u8>], exec_child: bool) -> Result<&'static Layer, &'static str> {
    if exec_child {
        let path = litebox_rt::launch::host_var(host_env, LAYER_VAR).ok_or("no shared layer was passed on")?;
        let mut root = utf16_z(path);
        root.pop();
        *ROOT.lock() = root;
        if !hold_lock() {
            ROOT.lock().clear();
            return Err("the parent's shared layer cannot be opened");
        }
        return Ok(&LAYER);
    }
    let temp = temp_dir().ok_or("no temp directory")?;
    collect_garbage(&temp);
    let mut rnd = [0u8; 12];
    // SAFETY: rnd is writable for its length.
    unsafe { win::BCryptGenRandom(0, rnd.as_mut_ptr(), rnd.len() as u32, win::BCRYPT_USE_SYSTEM_PREFERRED_RNG) };
    // SAFETY: no preconditions.
    let pid = unsafe { win::GetCurrentProcessId() };
    let mut name = alloc::format!("{PREFIX}{pid}-");
    for b in rnd {
        name.push(hex(b >> 4) as u8 as char);
        name.push(hex(b) as u8 as char);
    }
    let mut root = temp;
    root.extend(wide(&name));
    let mut z = root.clone();
    z.push(0);
    if !create_layer_dir(&z) {
        return Err("cannot create the shared layer in the temp directory");
    }
    *ROOT.lock() = root.clone();
    OWNER.store(true, Ordering::Relaxed);
    let trash = own_path("_trash");
    // SAFETY: NUL-terminated path, default security.
    if !hold_lock() || unsafe { win::CreateDirectoryW(trash.as_ptr(), 0) } == 0 {
        at_exit();
        ROOT.lock().clear();
        return Err("cannot set up the shared layer");
    }
    let var = utf16_z(LAYER_VAR);
    root.push(0);
    // SAFETY: both NUL-terminated.
    unsafe { win::SetEnvironmentVariableW(var.as_ptr(), root.as_ptr()) };
    Ok(&LAYER)
}

/// `LITEBOX_LAYER=PATH` for a new instance started outside CreateProcess (wineexec.rs), or
/// None without a layer.
pub fn layer_var() -> Option<Vec<u8>> {
    let root = ROOT.lock().clone();
    if root.is_empty() {
        return None;
    }
    let mut v = LAYER_VAR.to_vec();
    v.push(b'=');
    v.extend(alloc::string::String::from_utf16_lossy(&root).bytes());
    Some(v)
}

/// When this process ends: the first instance removes the layer (its own open files closed
/// first); the others leave it.
pub fn at_exit() {
    if !OWNER.swap(false, Ordering::Relaxed) {
        return;
    }
    let open: Vec<OpenFile> = FILES.lock().iter_mut().filter_map(Option::take).collect();
    for f in open {
        close_handle(f.handle);
    }
    let lock = LOCK.swap(0, Ordering::Relaxed);
    if lock != 0 {
        close_handle(lock);
    }
    let root = ROOT.lock().clone();
    if !root.is_empty() {
        remove_tree(&root);
    }
}
