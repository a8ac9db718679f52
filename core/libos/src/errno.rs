//! Linux errno values (asm-generic/errno-base.h and errno.h), as the app expects them.
#![allow(missing_docs)]

/// A Linux error number (positive). Syscalls return it negated.
pub type Errno = i32;

pub const EPERM: Errno = 1;
pub const ENOENT: Errno = 2;
pub const ESRCH: Errno = 3;
pub const EINTR: Errno = 4;
pub const EIO: Errno = 5;
pub const ENXIO: Errno = 6;
pub const E2BIG: Errno = 7;
pub const ENOEXEC: Errno = 8;
pub const EBADF: Errno = 9;
pub const ECHILD: Errno = 10;
pub const EAGAIN: Errno = 11;
pub const ENOMEM: Errno = 12;
pub const EACCES: Errno = 13;
pub const EFAULT: Errno = 14;
pub const EBUSY: Errno = 16;
pub const EEXIST: Errno = 17;
pub const EXDEV: Errno = 18;
pub const ENODEV: Errno = 19;
pub const ENOTDIR: Errno = 20;
pub const EISDIR: Errno = 21;
pub const EINVAL: Errno = 22;
pub const ENFILE: Errno = 23;
pub const EMFILE: Errno = 24;
pub const ENOTTY: Errno = 25;
pub const EFBIG: Errno = 27;
pub const ENOSPC: Errno = 28;
pub const ESPIPE: Errno = 29;
pub const EROFS: Errno = 30;
pub const EMLINK: Errno = 31;
pub const EPIPE: Errno = 32;
pub const ERANGE: Errno = 34;
pub const ENAMETOOLONG: Errno = 36;
pub const ENOSYS: Errno = 38;
pub const ENOTEMPTY: Errno = 39;
pub const ELOOP: Errno = 40;
pub const ENOMSG: Errno = 42;
pub const EIDRM: Errno = 43;
pub const ENODATA: Errno = 61;
pub const EOVERFLOW: Errno = 75;
pub const ENOTSOCK: Errno = 88;
pub const EPROTOTYPE: Errno = 91;
pub const ESOCKTNOSUPPORT: Errno = 94;
pub const EOPNOTSUPP: Errno = 95;
pub const EPROTONOSUPPORT: Errno = 93;
pub const EAFNOSUPPORT: Errno = 97;
pub const EADDRINUSE: Errno = 98;
pub const EADDRNOTAVAIL: Errno = 99;
pub const ENETUNREACH: Errno = 101;
pub const ECONNRESET: Errno = 104;
pub const ENOBUFS: Errno = 105;
pub const EISCONN: Errno = 106;
pub const ENOTCONN: Errno = 107;
pub const ECONNREFUSED: Errno = 111;
pub const EINPROGRESS: Errno = 115;
pub const EDOM: Errno = 33;
pub const EMSGSIZE: Errno = 90;
pub const ENOPROTOOPT: Errno = 92;
pub const ENETDOWN: Errno = 100;
pub const ETIMEDOUT: Errno = 110;
pub const EALREADY: Errno = 114;
pub const ESTALE: Errno = 116;
/// Not an errno the app ever sees (Linux's own ERESTARTSYS): a call whose blocking host call
/// was cut short by a signal before it had any effect. The platform runs the app's handler at
/// the call's exit and then serves the call again, as the kernel restarts one. Code that made
/// progress before the cut returns that progress, as for [`EINTR`] ([`interrupted`]).
pub const ERESTARTSYS: Errno = 512;

/// Whether `e` says a signal handler interrupted the call ([`EINTR`], or [`ERESTARTSYS`]: a
/// call cut short before its host call had any effect).
pub fn interrupted(e: Errno) -> bool {
    e == EINTR || e == ERESTARTSYS
}

/// The symbolic name of an errno value ("" if it has no constant here).
pub fn name(e: Errno) -> &'static str {
    match e {
        EPERM => "EPERM",
        ENOENT => "ENOENT",
        ESRCH => "ESRCH",
        EINTR => "EINTR",
        EIO => "EIO",
        ENXIO => "ENXIO",
        E2BIG => "E2BIG",
        ENOEXEC => "ENOEXEC",
        EBADF => "EBADF",
        ECHILD => "ECHILD",
        EAGAIN => "EAGAIN",
        ENOMEM => "ENOMEM",
        EACCES => "EACCES",
        EFAULT => "EFAULT",
        EBUSY => "EBUSY",
        EEXIST => "EEXIST",
        EXDEV => "EXDEV",
        ENODEV => "ENODEV",
        ENOTDIR => "ENOTDIR",
        EISDIR => "EISDIR",
        EINVAL => "EINVAL",
        ENFILE => "ENFILE",
        EMFILE => "EMFILE",
        ENOTTY => "ENOTTY",
        EFBIG => "EFBIG",
        ENOSPC => "ENOSPC",
        ESPIPE => "ESPIPE",
        EROFS => "EROFS",
        EMLINK => "EMLINK",
        EPIPE => "EPIPE",
        ERANGE => "ERANGE",
        ENAMETOOLONG => "ENAMETOOLONG",
        ENOSYS => "ENOSYS",
        ENOTEMPTY => "ENOTEMPTY",
        ELOOP => "ELOOP",
        ENOMSG => "ENOMSG",
        EIDRM => "EIDRM",
        ENODATA => "ENODATA",
        EOVERFLOW => "EOVERFLOW",
        ENOTSOCK => "ENOTSOCK",
        EPROTOTYPE => "EPROTOTYPE",
        ESOCKTNOSUPPORT => "ESOCKTNOSUPPORT",
        EOPNOTSUPP => "EOPNOTSUPP",
        EPROTONOSUPPORT => "EPROTONOSUPPORT",
        EAFNOSUPPORT => "EAFNOSUPPORT",
        EADDRINUSE => "EADDRINUSE",
        EADDRNOTAVAIL => "EADDRNOTAVAIL",
        ENETUNREACH => "ENETUNREACH",
        ECONNRESET => "ECONNRESET",
        ENOBUFS => "ENOBUFS",
        EISCONN => "EISCONN",
        ENOTCONN => "ENOTCONN",
        ECONNREFUSED => "ECONNREFUSED",
        EINPROGRESS => "EINPROGRESS",
        EDOM => "EDOM",
        EMSGSIZE => "EMSGSIZE",
        ENOPROTOOPT => "ENOPROTOOPT",
        ENETDOWN => "ENETDOWN",
        ETIMEDOUT => "ETIMEDOUT",
        EALREADY => "EALREADY",
        ESTALE => "ESTALE",
        ERESTARTSYS => "ERESTARTSYS",
        _ => "",
    }
}
