//! Unix-domain path names for host sockets (linux-userland, where the app's Unix sockets are
//! the host's and its processes have a network namespace of their own).
//!
//! The host cannot bind a socket at the app's path: the app's file system is the library OS's
//! (the image, the writable layer), and the gate has no `bind`. So a path name becomes an
//! abstract name of the sandbox's own network namespace, which only the app's processes can
//! reach: `\0` + [`TAG`] + the path's canonical form (symlinks resolved, absolute). `bind`
//! makes the socket file at the path first (a host `S_IFSOCK` node in the writable layer or a
//! `rw` mount: `stat`, `ls`, `unlink` and a second `bind`'s `EADDRINUSE` see it as natively),
//! then binds the abstract name; `connect`, `sendto` and `sendmsg` resolve the path to that
//! file (`ENOENT` if missing, `ECONNREFUSED` if it is no socket) and use the same name. The
//! names the host gives back (`getsockname`, `getpeername`, `accept`, `recvfrom`, `recvmsg`)
//! are turned back into the path ([`name_out`]).
//!
//! Limits (docs/targets/linux-userland.md): the path's canonical form must fit the abstract
//! name (103 bytes; `ENAMETOOLONG`); a socket file renamed after `bind` is not reachable at
//! its new name, and a path whose socket file was removed cannot be bound again while the
//! first socket lives (`EADDRINUSE`; Linux binds a new file); a socket a host process bound in
//! a mounted directory is not reachable (`ECONNREFUSED`).
use alloc::vec::Vec;

use crate::errno::*;
use crate::fs::Node;
use crate::kernel::LibOs;
use crate::platform::Platform;

const AF_UNIX: u16 = 1;
/// The bytes after the abstract name's leading NUL that mark a translated path name (a byte
/// no path the app names with a printable tag can start with).
pub const TAG: &[u8] = b"\x7flbu";
/// Bytes before the path in a translated name: the family, the NUL, [`TAG`].
const HEAD: usize = 2 + 1 + TAG.len();
/// How much shorter a path name is than its stand-in (which has no final NUL).
pub const SHORTER: usize = HEAD - 3;
/// sizeof(struct sockaddr_un).
const SUN_LEN: usize = 110;
const S_IFMT: u32 = 0o170000;
const S_IFSOCK: u32 = 0o140000;

/// The path of Unix address `sa` (a `struct sockaddr_un` as the app gave it, not abstract and
/// not only the family): `sun_path` up to its first NUL.
fn path_of(sa: &[u8]) -> &[u8] {
    let rest = &sa[2..];
    &rest[..rest.iter().position(|&c| c == 0).unwrap_or(rest.len())]
}

/// The abstract address that stands for canonical path `path`.
fn tagged(path: &[u8]) -> Result<Vec<u8>, Errno> {
    if HEAD + path.len() > SUN_LEN {
        return Err(ENAMETOOLONG);
    }
    let mut out = Vec::with_capacity(HEAD + path.len());
    out.extend_from_slice(&AF_UNIX.to_le_bytes());
    out.push(0);
    out.extend_from_slice(TAG);
    out.extend_from_slice(path);
    Ok(out)
}

/// What `bind` of Unix address `sa` (a path name) needs: the abstract address to bind, after
/// the socket file was made at the path (mode 0777 less the umask, as Linux makes it), and the
/// file's canonical path, to remove again if the host's bind fails. EADDRINUSE when anything
/// is at the path already (a dangling symlink too); the path's errors as for mknod (ENOENT,
/// ENOTDIR, EACCES, EROFS in a read-only mount); EACCES where the path is not in a host
/// directory (the platform keeps no host files).
pub fn bind_name<P: Platform>(os: &LibOs<P>, sa: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Errno> {
    let path = path_of(sa);
    let base = os.dir_of(crate::abi::AT_FDCWD, path)?;
    let r = os.vfs.resolve(&base, path, false)?;
    if r.node.is_some() {
        return Err(EADDRINUSE);
    }
    let name = tagged(&r.path)?;
    let mode = 0o777 & !os.umask.load(core::sync::atomic::Ordering::Relaxed);
    if !os.vfs.host_mksock(&r.path, mode)? {
        return Err(EACCES);
    }
    if path != r.path.as_slice() {
        let mut names = os.unix_names.lock();
        // A bound on what the app can make this table hold.
        if names.len() >= 1024 {
            names.clear();
        }
        names.insert(r.path.clone(), path.to_vec());
    }
    Ok((name, r.path))
}

/// The path name `canonical` as this process bound it (a relative path stays relative).
pub fn as_bound<P: Platform>(os: &LibOs<P>, canonical: &[u8]) -> Option<Vec<u8>> {
    os.unix_names.lock().get(canonical).cloned()
}

/// The abstract address a `connect` or send to Unix address `sa` (a path name) reaches: the
/// socket file at the path, symlinks followed. ENOENT if nothing is there, ECONNREFUSED if it
/// is not a socket (as Linux answers both); the path's own errors (ENOTDIR, EACCES, ELOOP).
pub fn peer_name<P: Platform>(os: &LibOs<P>, sa: &[u8]) -> Result<Vec<u8>, Errno> {
    let path = path_of(sa);
    let base = os.dir_of(crate::abi::AT_FDCWD, path)?;
    let r = os.vfs.resolve(&base, path, true)?;
    let node = r.node.ok_or(ENOENT)?;
    if !matches!(node, Node::Host(_)) || os.vfs.stat(&node).st_mode & S_IFMT != S_IFSOCK {
        return Err(ECONNREFUSED);
    }
    tagged(&r.path)
}

/// Removes the socket file [`bind_name`] made, when the host's bind failed after it.
pub fn unbind<P: Platform>(os: &LibOs<P>, path: &[u8]) {
    let _ = os.vfs.host_remove(path, false);
}

/// Turns an address the host gave back, `name[..len]`, into the path it stands for, in place,
/// if it is a translated path name: `len` becomes the path name's length (with its NUL, as
/// Linux counts it). Anything else is left as it is. Returns whether it was one.
pub fn name_out(name: &mut [u8], len: &mut usize) -> bool {
    let n = (*len).min(name.len());
    if n < HEAD || name[0..2] != AF_UNIX.to_le_bytes() || name[2] != 0 || &name[3..HEAD] != TAG {
        return false;
    }
    let plen = n - HEAD;
    name.copy_within(HEAD..n, 2);
    name[2 + plen] = 0;
    *len = 2 + plen + 1;
    true
}

/// Whether `shown`, the first bytes of a name `got` bytes long that was cut short before the
/// tag's end, can be the start of a translated name.
pub fn may_be_tagged(shown: &[u8], got: usize) -> bool {
    let n = shown.len();
    got >= HEAD
        && (3..HEAD).contains(&n)
        && shown[0..2] == AF_UNIX.to_le_bytes()
        && shown[2] == 0
        && shown[3..] == TAG[..n - 3]
}

#[cfg(test)]
mod tests {
    use super::{may_be_tagged, name_out, tagged, ENAMETOOLONG};

    #[test]
    fn a_path_name_goes_out_as_the_app_gave_it() {
        let mut buf = [0u8; 110];
        let t = tagged(b"/tmp/s").unwrap();
        buf[..t.len()].copy_from_slice(&t);
        let mut len = t.len();
        assert!(name_out(&mut buf, &mut len));
        assert_eq!(len, 2 + 6 + 1);
        assert_eq!(&buf[..len], b"\x01\x00/tmp/s\x00");
    }

    #[test]
    fn other_names_are_left_alone() {
        let mut abs = *b"\x01\x00\x00app-name";
        let mut len = abs.len();
        assert!(!name_out(&mut abs, &mut len));
        assert_eq!(len, 11);
        let mut unnamed = [1u8, 0];
        let mut len = 2;
        assert!(!name_out(&mut unnamed, &mut len));
        let mut v4 = [2u8, 0, 0, 80, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut len = 16;
        assert!(!name_out(&mut v4, &mut len));
    }

    #[test]
    fn a_cut_name_is_recognised_by_its_start() {
        let t = tagged(b"/tmp/abcdefghij.sock").unwrap();
        assert!(may_be_tagged(&t[..6], t.len()));
        assert!(!may_be_tagged(b"\x01\x00\x00ab", 20));
        assert!(!may_be_tagged(&t[..6], 6));
    }

    #[test]
    fn a_path_too_long_for_the_abstract_name_is_refused() {
        assert!(tagged(&[b'a'; 103]).is_ok());
        assert_eq!(tagged(&[b'a'; 104]).unwrap_err(), ENAMETOOLONG);
    }
}
