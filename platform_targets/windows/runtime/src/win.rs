//! The Win32 functions the runtime calls (kernel32, bcrypt, the synchronization API set), as
//! mingw-w64's import libraries name them, and the constants it uses.
#![allow(non_snake_case, clippy::upper_case_acronyms)]

pub type HANDLE = usize;
pub type BOOL = i32;

pub const STD_INPUT_HANDLE: u32 = -10i32 as u32;
pub const STD_OUTPUT_HANDLE: u32 = -11i32 as u32;
pub const STD_ERROR_HANDLE: u32 = -12i32 as u32;
pub const INVALID_HANDLE_VALUE: HANDLE = usize::MAX;

pub const MEM_COMMIT: u32 = 0x1000;
pub const MEM_RESERVE: u32 = 0x2000;
pub const MEM_DECOMMIT: u32 = 0x4000;
pub const MEM_FREE: u32 = 0x10000;

pub const PAGE_NOACCESS: u32 = 0x01;
pub const PAGE_READONLY: u32 = 0x02;
pub const PAGE_READWRITE: u32 = 0x04;
pub const PAGE_EXECUTE: u32 = 0x10;
pub const PAGE_EXECUTE_READ: u32 = 0x20;
pub const PAGE_EXECUTE_READWRITE: u32 = 0x40;

pub const FILE_TYPE_DISK: u32 = 1;
pub const FILE_TYPE_PIPE: u32 = 3;

pub const ERROR_BROKEN_PIPE: u32 = 109;
pub const ERROR_NO_DATA: u32 = 232;
pub const ERROR_HANDLE_EOF: u32 = 38;
pub const ERROR_FILE_NOT_FOUND: u32 = 2;
pub const ERROR_PATH_NOT_FOUND: u32 = 3;
pub const ERROR_ACCESS_DENIED: u32 = 5;
pub const ERROR_SHARING_VIOLATION: u32 = 32;
pub const ERROR_FILE_EXISTS: u32 = 80;
pub const ERROR_DISK_FULL: u32 = 112;
pub const ERROR_INVALID_NAME: u32 = 123;
pub const ERROR_DIR_NOT_EMPTY: u32 = 145;
pub const ERROR_ALREADY_EXISTS: u32 = 183;
pub const ERROR_FILENAME_EXCED_RANGE: u32 = 206;
pub const ERROR_DIRECTORY: u32 = 267;

pub const GENERIC_READ: u32 = 0x8000_0000;
pub const GENERIC_WRITE: u32 = 0x4000_0000;
pub const FILE_APPEND_DATA: u32 = 0x4;
pub const FILE_READ_ATTRIBUTES: u32 = 0x80;
pub const FILE_WRITE_ATTRIBUTES: u32 = 0x100;
pub const SYNCHRONIZE: u32 = 0x0010_0000;
pub const FILE_SHARE_ALL: u32 = 7;
pub const FILE_SHARE_READ_WRITE: u32 = 3;
pub const CREATE_NEW: u32 = 1;
pub const CREATE_ALWAYS: u32 = 2;
pub const OPEN_EXISTING: u32 = 3;
pub const OPEN_ALWAYS: u32 = 4;
pub const TRUNCATE_EXISTING: u32 = 5;
pub const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
pub const FILE_FLAG_OPEN_REPARSE_POINT: u32 = 0x0020_0000;
pub const FILE_ATTRIBUTE_DIRECTORY: u32 = 0x10;
pub const INFINITE: u32 = u32::MAX;

pub const JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: u32 = 0x2000;
pub const JOB_OBJECT_LIMIT_PROCESS_MEMORY: u32 = 0x100;
pub const JOB_OBJECT_LIMIT_ACTIVE_PROCESS: u32 = 0x8;
pub const JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION: u32 = 0x400;
pub const JOBOBJECT_EXTENDED_LIMIT_INFORMATION_CLASS: u32 = 9;

/// `MEMORY_BASIC_INFORMATION` (64-bit).
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct MemoryBasicInformation {
    pub base_address: usize,
    pub allocation_base: usize,
    pub allocation_protect: u32,
    pub partition_id: u16,
    pub _pad0: u16,
    pub region_size: usize,
    pub state: u32,
    pub protect: u32,
    pub kind: u32,
    pub _pad1: u32,
}

/// The head of `EXCEPTION_RECORD` (64-bit).
#[repr(C)]
pub struct ExceptionRecord {
    pub code: u32,
    pub flags: u32,
    pub next: usize,
    pub address: usize,
    pub num_params: u32,
    pub _pad: u32,
    /// ExceptionInformation: for an access violation, [0] read/write/execute, [1] the address.
    pub info: [usize; 15],
}

/// `EXCEPTION_POINTERS`.
#[repr(C)]
pub struct ExceptionPointers {
    pub record: *const ExceptionRecord,
    pub context: usize,
}

/// `JOBOBJECT_EXTENDED_LIMIT_INFORMATION` (64-bit).
#[repr(C)]
#[derive(Default)]
pub struct JobExtendedLimits {
    pub per_process_user_time_limit: i64,
    pub per_job_user_time_limit: i64,
    pub limit_flags: u32,
    pub _pad0: u32,
    pub minimum_working_set_size: usize,
    pub maximum_working_set_size: usize,
    pub active_process_limit: u32,
    pub _pad1: u32,
    pub affinity: usize,
    pub priority_class: u32,
    pub scheduling_class: u32,
    pub io_counters: [u64; 6],
    pub process_memory_limit: usize,
    pub job_memory_limit: usize,
    pub peak_process_memory_used: usize,
    pub peak_job_memory_used: usize,
}

#[link(name = "kernel32")]
extern "system" {
    pub fn GetStdHandle(which: u32) -> HANDLE;
    pub fn WriteFile(h: HANDLE, buf: *const u8, len: u32, written: *mut u32, overlapped: usize) -> BOOL;
    pub fn ReadFile(h: HANDLE, buf: *mut u8, len: u32, read: *mut u32, overlapped: usize) -> BOOL;
    pub fn GetFileType(h: HANDLE) -> u32;
    pub fn GetFileSizeEx(h: HANDLE, size: *mut i64) -> BOOL;
    pub fn SetFilePointerEx(h: HANDLE, dist: i64, new: *mut i64, method: u32) -> BOOL;
    pub fn CloseHandle(h: HANDLE) -> BOOL;
    pub fn GetLastError() -> u32;
    pub fn ExitProcess(code: u32) -> !;
    pub fn TerminateProcess(process: HANDLE, code: u32) -> BOOL;
    pub fn GetCurrentProcessId() -> u32;
    pub fn GetModuleHandleW(name: *const u16) -> usize;
    pub fn GetProcAddress(module: usize, name: *const u8) -> usize;
    pub fn GetCommandLineW() -> *const u16;
    pub fn GetEnvironmentStringsW() -> *const u16;
    pub fn VirtualAlloc(addr: usize, size: usize, kind: u32, protect: u32) -> usize;
    pub fn VirtualFree(addr: usize, size: usize, kind: u32) -> BOOL;
    pub fn VirtualProtect(addr: usize, size: usize, protect: u32, old: *mut u32) -> BOOL;
    pub fn VirtualQuery(addr: usize, info: *mut MemoryBasicInformation, len: usize) -> usize;
    pub fn FlushInstructionCache(process: HANDLE, addr: usize, size: usize) -> BOOL;
    pub fn GetCurrentProcess() -> HANDLE;
    pub fn QueryPerformanceCounter(count: *mut i64) -> BOOL;
    pub fn QueryPerformanceFrequency(freq: *mut i64) -> BOOL;
    pub fn GetSystemTimePreciseAsFileTime(ft: *mut u64);
    pub fn TlsAlloc() -> u32;
    pub fn TlsSetValue(index: u32, value: usize) -> BOOL;
    pub fn TlsGetValue(index: u32) -> usize;
    pub fn CreateThread(
        attrs: usize,
        stack: usize,
        start: extern "system" fn(usize) -> u32,
        arg: usize,
        flags: u32,
        id: *mut u32,
    ) -> HANDLE;
    pub fn ExitThread(code: u32) -> !;
    pub fn CreatePipe(read: *mut HANDLE, write: *mut HANDLE, attrs: usize, size: u32) -> BOOL;
    pub fn DuplicateHandle(
        from_process: HANDLE,
        h: HANDLE,
        to_process: HANDLE,
        out: *mut HANDLE,
        access: u32,
        inherit: BOOL,
        options: u32,
    ) -> BOOL;
    pub fn CreateProcessW(
        app: *const u16,
        cmdline: *mut u16,
        process_attrs: usize,
        thread_attrs: usize,
        inherit: BOOL,
        flags: u32,
        env: *const u8,
        cwd: *const u16,
        startup: *const u8,
        info: *mut u8,
    ) -> BOOL;
    pub fn WaitForSingleObject(h: HANDLE, ms: u32) -> u32;
    pub fn Sleep(ms: u32);
    pub fn GetExitCodeProcess(h: HANDLE, code: *mut u32) -> BOOL;
    pub fn GetModuleFileNameW(module: usize, name: *mut u16, len: u32) -> u32;
    pub fn AddVectoredExceptionHandler(
        first: u32,
        handler: extern "system" fn(*const ExceptionPointers) -> i32,
    ) -> usize;
    pub fn GetModuleHandleExW(flags: u32, name: *const u16, module: *mut usize) -> BOOL;
    pub fn SetConsoleOutputCP(cp: u32) -> BOOL;
    pub fn SetConsoleCP(cp: u32) -> BOOL;
    pub fn SetConsoleCtrlHandler(handler: extern "system" fn(u32) -> i32, add: BOOL) -> BOOL;
    pub fn CreateJobObjectW(attrs: usize, name: *const u16) -> HANDLE;
    pub fn SetInformationJobObject(job: HANDLE, class: u32, info: *const u8, len: u32) -> BOOL;
    pub fn AssignProcessToJobObject(job: HANDLE, process: HANDLE) -> BOOL;
    pub fn OpenProcess(access: u32, inherit: BOOL, pid: u32) -> HANDLE;
    pub fn CreateFileW(
        name: *const u16,
        access: u32,
        share: u32,
        attrs: usize,
        disposition: u32,
        flags: u32,
        template: HANDLE,
    ) -> HANDLE;
    pub fn CreateDirectoryW(name: *const u16, attrs: usize) -> BOOL;
    pub fn RemoveDirectoryW(name: *const u16) -> BOOL;
    pub fn DeleteFileW(name: *const u16) -> BOOL;
    pub fn MoveFileExW(from: *const u16, to: *const u16, flags: u32) -> BOOL;
    pub fn GetFileInformationByHandle(h: HANDLE, info: *mut u32) -> BOOL;
    pub fn FindFirstFileW(pattern: *const u16, data: *mut u8) -> HANDLE;
    pub fn FindNextFileW(find: HANDLE, data: *mut u8) -> BOOL;
    pub fn FindClose(find: HANDLE) -> BOOL;
    pub fn SetEndOfFile(h: HANDLE) -> BOOL;
    pub fn LocalFree(mem: usize) -> usize;
    pub fn GetFinalPathNameByHandleW(h: HANDLE, buf: *mut u16, len: u32, flags: u32) -> u32;
    pub fn GetProcessHeap() -> HANDLE;
    pub fn HeapFree(heap: HANDLE, flags: u32, mem: usize) -> BOOL;
    pub fn GetTempPathW(len: u32, buf: *mut u16) -> u32;
    pub fn SetEnvironmentVariableW(name: *const u16, value: *const u16) -> BOOL;
}

#[link(name = "advapi32")]
extern "system" {
    pub fn OpenProcessToken(process: HANDLE, access: u32, token: *mut HANDLE) -> BOOL;
    pub fn ConvertStringSecurityDescriptorToSecurityDescriptorW(
        sddl: *const u16,
        revision: u32,
        sd: *mut usize,
        len: *mut u32,
    ) -> BOOL;
    pub fn GetTokenInformation(token: HANDLE, class: u32, info: *mut u8, len: u32, ret: *mut u32) -> BOOL;
    pub fn SetTokenInformation(token: HANDLE, class: u32, info: *const u8, len: u32) -> BOOL;
    pub fn AdjustTokenPrivileges(
        token: HANDLE,
        disable_all: BOOL,
        new: *const u8,
        len: u32,
        prev: *mut u8,
        ret: *mut u32,
    ) -> BOOL;
}

#[link(name = "synchronization")]
extern "system" {
    pub fn WaitOnAddress(addr: *const u32, compare: *const u32, size: usize, ms: u32) -> BOOL;
    pub fn WakeByAddressAll(addr: *const u32);
}

#[link(name = "bcrypt")]
extern "system" {
    pub fn BCryptGenRandom(alg: usize, buf: *mut u8, len: u32, flags: u32) -> i32;
}

/// BCryptGenRandom's flag for the system's preferred generator (no algorithm handle).
pub const BCRYPT_USE_SYSTEM_PREFERRED_RNG: u32 = 2;

/// Ends this process with exit code `code`. It terminates itself rather than calling
/// ExitProcess alone: ExitProcess closes the process's handles while the process still runs,
/// and closing the last handle of its kill-on-close job object (confine.rs) then kills the
/// exiting process itself (under Wine: SIGKILL, exit status -9 instead of `code`, seen once in
/// a full test run).
pub fn end_process(code: u32) -> ! {
    // The first instance removes the sandbox's shared writable layer.
    crate::winfs::at_exit();
    // SAFETY: the pseudo-handle of this process; TerminateProcess of it does not return when it
    // succeeds, and ExitProcess ends the process if it did not.
    unsafe {
        TerminateProcess(GetCurrentProcess(), code);
        ExitProcess(code)
    }
}
